/*-------------------------------------------------------------------------
 *
 * connection.h
 *	  The backend's connection cache: named connections made with
 *	  pgasync.connect(), and connections opened for foreign servers and
 *	  connection strings, cached per local user and reused.  Also the
 *	  per-connection prepared-statement cache and the transaction callbacks
 *	  that cancel remote work when the local transaction aborts.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGASYNC_CONNECTION_H
#define PGASYNC_CONNECTION_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "lib/ilist.h"

#include "codec.h"
#include "driver.h"
#include "option.h"

typedef enum PgaTargetKind
{
	PGA_TARGET_NAMED,
	PGA_TARGET_SERVER,
	PGA_TARGET_DSN
} PgaTargetKind;

/* A prepared statement cached on one remote connection */
typedef struct PgaStatement
{
	char	   *sql;
	uint64		hash;			/* of sql and parameter types */
	char		name[32];		/* "" for the unnamed statement */
	int			nparams;
	Oid		   *param_types;	/* as sent in Parse */
	int			nfields;		/* -1: no row description (NoData) */
	pgw_field_desc *fields;		/* copies: names palloc'd */
	TimestampTz prepared_at;
	uint64		uses;
	dlist_node	lru;			/* most recently used first */
	/* decoding plan for the last local row type used with it */
	PgaResultCodec *codec;
	TupleDesc	codec_desc;
	bool		codec_tagged;
} PgaStatement;

typedef struct PgaSession
{
	char		key[256];		/* hash key */
	PgaTargetKind kind;
	char	   *name;			/* named connection or server name, or NULL */
	char	   *conninfo;		/* DSN as given, for reconnects; NULL for servers */
	Oid			serverid;
	Oid			userid;
	PgaSessionOptions opts;
	PgaConn    *conn;			/* NULL until connected, or after a failure */
	char	   *label;			/* quoted name used in messages */
	TimestampTz opened_at;
	TimestampTz last_used;
	uint64		queries;
	/* statement cache */
	dlist_head	stmt_lru;
	int			nstatements;
	struct HTAB *stmts;
	List	   *stmts_to_close; /* names to Close in the next batch */
	/* remote transaction tied to the local one (xact.c) */
	int			xact_depth;		/* 0: none; else local nest level covered */
	char	   *xact_begin;		/* BEGIN to send with the next request */
	/* pool membership (pool.c) */
	struct PgaPool *pool;
	bool		reset_pending;	/* session state to reset before reuse */
	/* asynchronous query sent with pgasync.send() (async.c) */
	struct PgaQueryRun *async;
	MemoryContext async_cxt;
	/* notifications received and not yet read (notify.c), oldest first */
	dlist_head	notifications;	/* of PgaNotification */
	int			nnotifications;
	TimestampTz listening_since;	/* opened_at of the connection that
									 * pgasync.listen() ran on, or 0 */
	/*
	 * A streaming scan (scan.c) is reading a result on this connection:
	 * before any other use, stream_release(stream_arg) makes it read the
	 * rest into a tuplestore and give the connection up.
	 */
	void		(*stream_release) (void *arg);
	void	   *stream_arg;
	/* a pgasync.executemany() batch is being sent: no other use */
	bool		batch_open;
	const char *batch_func;		/* ... by this function (NULL: executemany) */
	MemoryContext mcxt;
} PgaSession;

typedef struct PgaNotification
{
	dlist_node	node;			/* in the session's notifications */
	char	   *channel;
	char	   *payload;
	int32		sender_pid;
} PgaNotification;

/* Most notifications kept per connection; older ones are dropped. */
#define PGA_MAX_QUEUED_NOTIFICATIONS 100000

extern void PgaConnectionInit(void);

/*
 * Find or open the connection for a target (a named connection, then a
 * pgasync_fdw server, then a connection string) and wait until it is
 * connected.  Errors name the server.
 */
extern PgaSession *PgaSessionGet(const char *target);

/* Same, but do not wait for the connection to finish connecting. */
extern PgaSession *PgaSessionGetNoWait(const char *target);

/*
 * Resolve a target without opening anything, for private connections
 * (PgaConnOpen); *label names it in messages.
 */
extern void PgaResolveTarget(const char *target, PgaTarget *out, char **label);

/* How many new connections serving these targets would open. */
extern int	PgaSessionsToOpen(char **targets, int n);

/* Wait until a session's connection is connected (or raise). */
extern void PgaSessionWaitConnected(PgaSession **sessions, int n);

/* Close and forget a session's connection after a failure. */
extern void PgaSessionReset(PgaSession *s);

/*
 * Queue what must go out ahead of the next request, in the same round
 * trip: Close for evicted statements, BEGIN/SAVEPOINT of a remote
 * transaction tied to the local one, the reset of a pooled connection.
 * Their answers are read by the query runner as "preamble" requests.
 */
extern void PgaSessionBeforeRequest(PgaSession *s);

/* Is a remote transaction tied to the local one open on s? */
extern bool PgaSessionInRemoteXact(PgaSession *s);

/* Keep a NotificationResponse for pgasync.notifications(). */
extern void PgaSessionQueueNotification(PgaSession *s, const pgw_backend_msg *msg);

/*
 * Make a session's connection free for a new request.  A streaming scan
 * still reading a result on it reads the rest first (into its own
 * tuplestore); a query sent with pgasync.send() is an error, as its result
 * must be read or canceled first.
 */
extern void PgaSessionClaim(PgaSession *s);

/* Forget the asynchronous query of s (its connection is idle or gone). */
extern void PgaSessionForgetAsync(PgaSession *s);

/* Done with a session for this call (gives a pooled connection back). */
extern void PgaSessionRelease(PgaSession *s);

/* Pool members (pool.c): open one (connecting in the background), close one. */
extern PgaSession *PgaSessionCreateMember(const char *key, Oid serverid,
										  const char *conninfo,
										  const PgaSessionOptions *opts,
										  const char *name, struct PgaPool *pool);
extern void PgaSessionDestroy(PgaSession *s);

/* Is there a connection opened with pgasync.connect() under this name? */
extern bool PgaSessionNamedExists(const char *name);

/*
 * Check the name of a new named connection (pool false) or pool: 1 to
 * NAMEDATALEN - 1 bytes, used by neither, as the two share one namespace.
 */
extern void PgaCheckNewName(const char *name, bool pool);

/* Statement cache */
extern PgaStatement *PgaStatementLookup(PgaSession *s, const char *sql,
										int nparams, const Oid *types);
extern PgaStatement *PgaStatementCreate(PgaSession *s, const char *sql,
										int nparams, const Oid *types,
										bool cacheable);
extern void PgaStatementForget(PgaSession *s, PgaStatement *stmt);
/* Queue Close messages of evicted statements into the outgoing batch. */
extern void PgaSessionQueueCloses(PgaSession *s);

#endif							/* PGASYNC_CONNECTION_H */
