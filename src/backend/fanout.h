/*-------------------------------------------------------------------------
 *
 * fanout.h
 *	  One query on many servers (fanout.c), step by step for the streaming
 *	  scan (scan.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGASYNC_FANOUT_H
#define PGASYNC_FANOUT_H

#include "fmgr.h"
#include "access/tupdesc.h"

#include "connection.h"
#include "query.h"

typedef struct Fanout Fanout;

/*
 * Start pgasync.fanout() called as fcinfo describes (its arguments set),
 * rows of type tupdesc going to sink; the remote queries belong to the
 * local (sub)transaction nest_level.
 */
extern Fanout *PgaFanoutStart(FunctionCallInfo fcinfo, TupleDesc tupdesc,
							  PgaRowSink *sink, int nest_level);

/* Handle one event; false once every target is finished. */
extern bool PgaFanoutStep(Fanout *f);

/* From now on, errors end their target quietly instead of raising. */
extern void PgaFanoutQuiet(Fanout *f);

/* The sessions of the targets, into sessions unless NULL; their number. */
extern int	PgaFanoutSessions(Fanout *f, PgaSession **sessions);

/* Is every unfinished target's connection still at work (not lost)? */
extern bool PgaFanoutBusy(Fanout *f);

/* Give the sessions back (pools) after the last step. */
extern void PgaFanoutEnd(Fanout *f);

#endif							/* PGASYNC_FANOUT_H */
