/*-------------------------------------------------------------------------
 *
 * pool.h
 *	  Connection pools: per-backend sets of connections to one target,
 *	  made with pgasync.create_pool() and used through the pool's name
 *	  like any other target, with asyncpg's pool options.
 *
 * A pool's connections ("members") are ordinary sessions of the session
 * cache with s->pool set.  PgaSessionGet() on a pool's name acquires a
 * member, PgaSessionRelease() gives it back.  A member that changed its
 * remote session's state is reset ahead of its next request, in the same
 * round trip.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGASYNC_POOL_H
#define PGASYNC_POOL_H

#include "postgres.h"

#include "connection.h"
#include "protocol/pgw_conn.h"

typedef struct PgaPool PgaPool;

/* Does a pool of this name exist? */
extern bool PgaPoolExists(const char *name);

/*
 * The connection settings of the pool called name (its server or
 * connection string, and its members' options), for work that opens
 * connections of its own, such as pgasync.copy(); false when no pool has
 * that name.  Raises an error when the pool is another role's.
 */
extern bool PgaPoolSettingsOf(const char *name, Oid *serverid,
							  const char **conninfo, PgaSessionOptions *opts);

/*
 * Would taking a connection from the pool called name open a new one (it
 * has no idle member and none held for this transaction)?  False when no
 * pool has that name.
 */
extern bool PgaPoolWouldOpen(const char *name);

/*
 * Acquire a member of the pool called name for one call: a member the
 * local transaction holds, else the most recently used idle one, else a
 * new one (connecting in the background).  NULL when no pool has that
 * name; an error when all max_size members are in use.
 */
extern PgaSession *PgaPoolAcquire(const char *name);

/* Give a member back (kept until transaction end inside a remote one). */
extern void PgaPoolRelease(PgaSession *s);

/* Queue the reset of a member whose session state changed. */
extern void PgaPoolBeforeRequest(PgaSession *s);

/*
 * Look at an event of a member's own request (CommandComplete,
 * ParameterStatus, ReadyForQuery) for changes to the session state; sql is
 * the request's text.
 */
extern void PgaPoolNoteEvent(PgaSession *s, const pgw_event *ev, const char *sql);

/*
 * Transaction ends: give back members still acquired.  Call after remote
 * transactions have been committed or rolled back.
 */
extern void PgaPoolAtXactEnd(void);
extern void PgaPoolAtSubXactEnd(bool isCommit, SubTransactionId mySubid,
								SubTransactionId parentSubid);

/* Close every pool the current role may close; returns connections closed. */
extern int	PgaPoolCloseAll(void);

#endif							/* PGASYNC_POOL_H */
