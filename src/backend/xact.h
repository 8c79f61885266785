/*-------------------------------------------------------------------------
 *
 * xact.h
 *	  Remote transactions tied to the local one: pgasync.begin(), commit and
 *	  rollback with the local transaction, local savepoints mapped to remote
 *	  ones.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGASYNC_XACT_H
#define PGASYNC_XACT_H

#include "postgres.h"

#include "access/xact.h"

#include "connection.h"

/*
 * Queue what s needs before its next request, as one simple Query ahead of
 * it in the same round trip: the BEGIN of pgasync.begin(), the RELEASE of a
 * committed local subtransaction's savepoint, SAVEPOINTs up to the current
 * local nesting level.  Raises if the remote transaction is no longer
 * usable (aborted, or ended by a command sent directly).
 */
extern void PgaXactBeforeRequest(PgaSession *s);

/*
 * Called by session_open() before it (re)connects s: raises if the
 * connection was lost inside a remote transaction, which a new connection
 * cannot continue.
 */
extern void PgaXactBeforeReconnect(PgaSession *s);

/* Raises if s may not be closed now (a remote transaction is open on it). */
extern void PgaXactCheckDisconnect(PgaSession *s);

/*
 * The transaction callbacks' part for remote transactions.  On abort the
 * caller runs PgaDriverAbortAll() first, so that no request is in flight,
 * and closes broken connections afterwards.
 */
extern void PgaXactCallback(XactEvent event);
extern void PgaXactSubCallback(SubXactEvent event);

#endif							/* PGASYNC_XACT_H */
