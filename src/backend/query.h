/*-------------------------------------------------------------------------
 *
 * query.h
 *	  Running one remote query on one connection: the extended protocol
 *	  with the statement cache, the simple protocol, error collection and
 *	  command timeouts.  Shared by the query functions and later layers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGASYNC_QUERY_H
#define PGASYNC_QUERY_H

#include "postgres.h"

#include "codec.h"
#include "connection.h"
#include "remote_error.h"

typedef struct PgaQueryRun PgaQueryRun;

/* Called for each DataRow, in a per-row memory context. */
typedef void (*PgaRowCallback) (PgaQueryRun *run, PgaResultCodec *codec,
								PgaStatement *st, const pgw_value *columns,
								int ncolumns);

struct PgaQueryRun
{
	PgaSession *session;
	const char *sql;
	TimestampTz deadline;		/* command timeout, or 0 */
	TupleDesc	tupdesc;		/* decode rows into this type, or NULL */
	int32		max_rows;		/* Execute row limit; 0 = all */
	PgaRowCallback on_row;
	void	   *arg;
	/* results */
	PgaStatement *statement;
	PgaRemoteError *error;
	char	   *command_tag;
	uint64		rows;
	int			round_trips;
};

extern void PgaQueryRunInit(PgaQueryRun *run, const char *target, const char *sql);
extern void PgaQueryRunExtended(PgaQueryRun *run, PgaParams *params);
extern void PgaQueryRunSimple(PgaQueryRun *run);

#endif							/* PGASYNC_QUERY_H */
