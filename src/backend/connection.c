/*-------------------------------------------------------------------------
 *
 * connection.c
 *	  The backend's connection cache, named connections, the prepared
 *	  statement cache of each connection, and the transaction callbacks.
 *
 * Sessions are found by a key: "n:<name>" for connections opened with
 * pgasync.connect(), "s:<server oid>:<user oid>" for pgasync_fdw servers
 * and "d:<user oid>:<hash>" for connection strings.  A cached connection is
 * only ever used by the local role it was opened for.  A connection that
 * broke is closed at the end of the transaction (or when next used) and
 * the next call reconnects.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "common/hashfn.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "connection.h"
#include "pgasync.h"
#include "pool.h"
#include "remote_error.h"
#include "xact.h"

typedef struct PgaStmtKey
{
	uint64		hash;
} PgaStmtKey;

typedef struct PgaStmtEntry
{
	PgaStmtKey	key;
	PgaStatement *stmt;
} PgaStmtEntry;

static HTAB *pga_sessions = NULL;

/* Abort handling must not take longer than this per transaction. */
#define PGA_CANCEL_TIMEOUT_MS 1000

PG_FUNCTION_INFO_V1(pgasync_connect);
PG_FUNCTION_INFO_V1(pgasync_disconnect);
PG_FUNCTION_INFO_V1(pgasync_disconnect_all);
PG_FUNCTION_INFO_V1(pgasync_connections);

static void session_clear_statements(PgaSession *s);

/* ----------------------------------------------------------------
 * Transaction callbacks
 * ----------------------------------------------------------------
 */

/* Close connections that broke; their next use reconnects. */
static void
close_broken_sessions(void)
{
	HASH_SEQ_STATUS scan;
	PgaSession *s;

	if (pga_sessions == NULL)
		return;
	hash_seq_init(&scan, pga_sessions);
	while ((s = hash_seq_search(&scan)) != NULL)
	{
		/* connections still connecting belong to enclosing work */
		if (s->conn != NULL && PgaConnGetPhase(s->conn) == PGA_PHASE_BROKEN)
			PgaSessionReset(s);
		/* an asynchronous query canceled by the abort is gone */
		if (s->async != NULL && (s->conn == NULL || !PgaConnIsBusy(s->conn)))
			PgaSessionForgetAsync(s);
	}
}

static void
pga_xact_callback(XactEvent event, void *arg)
{
	bool		is_abort = (event == XACT_EVENT_ABORT ||
							event == XACT_EVENT_PARALLEL_ABORT);

	/* no request in flight, then roll back remote transactions (xact.c) */
	if (is_abort)
		PgaDriverAbortAll(PGA_CANCEL_TIMEOUT_MS, 1);
	PgaXactCallback(event);
	if (is_abort)
		close_broken_sessions();
	/* then members still acquired go back to their pools */
	if (is_abort || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PREPARE)
		PgaPoolAtXactEnd();
	if (is_abort || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PREPARE)
		PgaDriverEndOfXact();
}

static void
pga_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	/* only the work of the aborting subtransaction is canceled */
	if (event == SUBXACT_EVENT_ABORT_SUB)
		PgaDriverAbortAll(PGA_CANCEL_TIMEOUT_MS, GetCurrentTransactionNestLevel());
	PgaXactSubCallback(event);
	if (event == SUBXACT_EVENT_ABORT_SUB)
		close_broken_sessions();
	if (event == SUBXACT_EVENT_ABORT_SUB || event == SUBXACT_EVENT_COMMIT_SUB)
		PgaPoolAtSubXactEnd(event == SUBXACT_EVENT_COMMIT_SUB, mySubid, parentSubid);
}

void
PgaConnectionInit(void)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(((PgaSession *) 0)->key);
	ctl.entrysize = sizeof(PgaSession);
	pga_sessions = hash_create("pgasync sessions", 16, &ctl,
							   HASH_ELEM | HASH_STRINGS);
	RegisterXactCallback(pga_xact_callback, NULL);
	RegisterSubXactCallback(pga_subxact_callback, NULL);
}

/* ----------------------------------------------------------------
 * Sessions
 * ----------------------------------------------------------------
 */

/*
 * Session keys: "n:<name>" for named connections, "s:<server>:<user>" for
 * pgasync_fdw servers, "d:<user>:<hash>" for connection strings.
 */
#define SESSION_KEY_LEN 256

static void
named_key(char *key, const char *name)
{
	snprintf(key, SESSION_KEY_LEN, "n:%s", name);
}

static void
server_key(char *key, Oid serverid)
{
	snprintf(key, SESSION_KEY_LEN, "s:%u:%u", serverid, GetUserId());
}

static void
dsn_key(char *key, const char *conninfo)
{
	uint64		h = hash_bytes_extended((const unsigned char *) conninfo,
										strlen(conninfo), 0);

	snprintf(key, SESSION_KEY_LEN, "d:%u:%016llx", GetUserId(), (unsigned long long) h);
}

static bool
looks_like_dsn(const char *s)
{
	return strchr(s, '=') != NULL ||
		strncmp(s, "postgres://", 11) == 0 ||
		strncmp(s, "postgresql://", 13) == 0;
}

static ForeignServer *
find_pgasync_server(const char *name)
{
	ForeignServer *server = GetForeignServerByName(name, true);
	ForeignDataWrapper *fdw;

	if (server == NULL)
		return NULL;
	fdw = GetForeignDataWrapper(server->fdwid);
	if (strcmp(fdw->fdwname, "pgasync_fdw") != 0)
		return NULL;
	return server;
}

static PgaSession *
session_create(const char *key, PgaTargetKind kind)
{
	PgaSession *s;
	bool		found;
	HASHCTL		ctl;

	s = hash_search(pga_sessions, key, HASH_ENTER, &found);
	Assert(!found);
	memset(((char *) s) + sizeof(s->key), 0, sizeof(PgaSession) - sizeof(s->key));
	s->kind = kind;
	s->userid = GetUserId();
	s->mcxt = AllocSetContextCreate(TopMemoryContext, "pgasync session",
									ALLOCSET_SMALL_SIZES);
	dlist_init(&s->stmt_lru);
	dlist_init(&s->notifications);
	ctl.keysize = sizeof(PgaStmtKey);
	ctl.entrysize = sizeof(PgaStmtEntry);
	ctl.hcxt = s->mcxt;
	s->stmts = hash_create("pgasync statements", 64, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	PgaSessionOptionsInit(&s->opts);
	return s;
}

/* The function that holds s for a batch or a COPY (batch_open) */
static const char *
batch_func_name(const PgaSession *s)
{
	return s->batch_func ? s->batch_func : "pgasync.executemany";
}

static void
session_destroy(PgaSession *s)
{
	if (s->batch_open)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("cannot close remote connection %s while %s is using it",
						s->label, batch_func_name(s))));
	if (s->stream_release != NULL)
		s->stream_release(s->stream_arg);
	if (s->conn)
		PgaConnClose(s->conn);
	s->conn = NULL;
	MemoryContextDelete(s->mcxt);
	hash_search(pga_sessions, s->key, HASH_REMOVE, NULL);
}

void
PgaSessionReset(PgaSession *s)
{
	/* a streaming scan finds its connection broken and lets it go */
	if (s->stream_release != NULL)
		s->stream_release(s->stream_arg);
	PgaSessionForgetAsync(s);
	if (s->conn)
		PgaConnClose(s->conn);
	s->conn = NULL;
	session_clear_statements(s);
}

/* Copy session options into the session's context. */
static void
session_set_options(PgaSession *s, const PgaSessionOptions *opts)
{
	MemoryContext old = MemoryContextSwitchTo(s->mcxt);
	ListCell   *lc;

	s->opts = *opts;
	s->opts.server_settings = NIL;
	foreach(lc, opts->server_settings)
		s->opts.server_settings = lappend(s->opts.server_settings, pstrdup(lfirst(lc)));
	MemoryContextSwitchTo(old);
}

/*
 * Take in what an idle connection received since its last use: relay
 * notices, and notice a server that closed the connection meanwhile (an
 * administrator's pg_terminate_backend, a restart) so that the caller
 * reconnects instead of failing on the dead connection once.
 */
static void
session_take_idle_input(PgaSession *s)
{
	pgw_event	ev;

	while (s->conn != NULL && PgaConnPollEvent(s->conn, &ev))
	{
		if (ev.type == PGW_EV_NOTICE)
			PgaRelayNotice(&ev.msg.u.error, s->label);
		else if (ev.type == PGW_EV_NOTIFICATION)
			PgaSessionQueueNotification(s, &ev.msg);
	}
}

/* Start connecting a session's connection (non-blocking). */
static void
session_open(PgaSession *s)
{
	PgaTarget	target;

	if (s->batch_open)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("remote connection %s is in use by %s",
						s->label, batch_func_name(s)),
				 s->batch_func == NULL ?
				 errdetail("The rows of pgasync.executemany cannot come from a query that uses the connection they go to.") :
				 errdetail("The connection is busy until %s returns.",
						   s->batch_func)));
	if (s->conn != NULL && PgaConnGetPhase(s->conn) == PGA_PHASE_READY &&
		!PgaConnIsBusy(s->conn))
		session_take_idle_input(s);
	if (s->conn != NULL)
	{
		if (PgaConnGetPhase(s->conn) != PGA_PHASE_BROKEN)
			return;
		PgaSessionReset(s);
	}
	/* a remote transaction cannot go on over a new connection */
	PgaXactBeforeReconnect(s);
	if (PgaDriverConnectionCount() >= pgasync_max_connections)
		ereport(ERROR,
				(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
				 errmsg("too many pgasync connections"),
				 errdetail("This backend already holds %d remote connections.",
						   PgaDriverConnectionCount()),
				 errhint("Close connections with pgasync.disconnect() or raise pgasync.max_connections.")));

	memset(&target, 0, sizeof(target));
	if (s->kind == PGA_TARGET_SERVER)
	{
		ForeignServer *server = GetForeignServer(s->serverid);

		PgaTargetFromServer(server, &target);
		if (s->key[0] == 'n' || s->pool != NULL)
			target.opts = s->opts;	/* the options of connect(), create_pool() */
		else
			session_set_options(s, &target.opts);	/* the server's, as now */
	}
	else
	{
		PgaTargetFromDsn(s->conninfo, &target);
		target.opts = s->opts;
	}
	s->conn = PgaConnOpen(&target, s->label);
	PgaTargetRelease(&target);
	PgaConnSetOwnerData(s->conn, s);
	s->opened_at = GetCurrentTimestamp();
	s->last_used = s->opened_at;
	session_clear_statements(s);
}

void
PgaSessionWaitConnected(PgaSession **sessions, int n)
{
	PgaConn   **conns = palloc(sizeof(PgaConn *) * n);
	int			pending = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (sessions[i]->conn != NULL &&
			PgaConnGetPhase(sessions[i]->conn) == PGA_PHASE_CONNECTING)
			conns[pending++] = sessions[i]->conn;
		else if (sessions[i]->conn != NULL &&
				 PgaConnGetPhase(sessions[i]->conn) == PGA_PHASE_BROKEN)
			PgaRaiseConnFailure(sessions[i]->conn);
	}
	while (pending > 0)
	{
		pgw_event	ev;
		PgaConn    *c = PgaDriverNextEvent(conns, pending, &ev, 0);

		if (c == NULL)
			break;
		switch (ev.type)
		{
			case PGW_EV_CONNECTED:
				for (i = 0; i < pending; i++)
					if (conns[i] == c)
						conns[i] = conns[--pending];
				break;
			case PGW_EV_NOTICE:
				PgaRelayNotice(&ev.msg.u.error, PgaConnLabel(c));
				break;
			case PGW_EV_ERROR:
				PgaRaiseRemoteError(ERROR, PgaRemoteErrorCopy(&ev.msg.u.error),
									PgaConnLabel(c), NULL);
				break;
			default:
				if (PgaConnGetPhase(c) == PGA_PHASE_BROKEN)
					PgaRaiseConnFailure(c);
				break;
		}
	}
	pfree(conns);
}

/*
 * Find the session for a target, creating it (and starting its connection)
 * when needed.
 */
PgaSession *
PgaSessionGetNoWait(const char *target)
{
	char		key[SESSION_KEY_LEN];
	PgaSession *s;
	ForeignServer *server;

	if (target == NULL || target[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pgasync target must not be empty")));

	/* 1. a named connection */
	if (strlen(target) < NAMEDATALEN)
	{
		named_key(key, target);
		s = hash_search(pga_sessions, key, HASH_FIND, NULL);
		if (s != NULL)
		{
			if (s->userid != GetUserId() && !superuser())
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("permission denied for pgasync connection \"%s\"", target),
						 errdetail("The connection was opened by another role.")));
			session_open(s);
			return s;
		}

		/* 1b. a pool (pool.c): acquire one of its connections */
		s = PgaPoolAcquire(target);
		if (s != NULL)
			return s;
	}

	/* 2. a pgasync_fdw foreign server */
	if (!looks_like_dsn(target) && (server = find_pgasync_server(target)) != NULL)
	{
		server_key(key, server->serverid);
		s = hash_search(pga_sessions, key, HASH_FIND, NULL);
		if (s == NULL)
		{
			MemoryContext old;

			s = session_create(key, PGA_TARGET_SERVER);
			s->serverid = server->serverid;
			old = MemoryContextSwitchTo(s->mcxt);
			s->name = pstrdup(server->servername);
			s->label = psprintf("\"%s\"", server->servername);
			MemoryContextSwitchTo(old);
		}
		else
		{
			/* USAGE may have been revoked since the connection was made */
			AclResult	aclresult = pg_foreign_server_aclcheck(server->serverid,
															   GetUserId(), ACL_USAGE);

			if (aclresult != ACLCHECK_OK)
				aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, server->servername);
		}
		session_open(s);
		return s;
	}

	/* 3. a connection string */
	if (looks_like_dsn(target))
	{
		dsn_key(key, target);
		s = hash_search(pga_sessions, key, HASH_FIND, NULL);
		if (s != NULL && strcmp(s->conninfo, target) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("pgasync connection cache key collision")));
		if (s == NULL)
		{
			PgaTarget	probe;
			MemoryContext old;

			/* validate (and apply the security rules) before caching */
			memset(&probe, 0, sizeof(probe));
			PgaTargetFromDsn(target, &probe);
			s = session_create(key, PGA_TARGET_DSN);
			old = MemoryContextSwitchTo(s->mcxt);
			s->conninfo = pstrdup(target);
			s->label = psprintf("\"%s\"", probe.display_name);
			MemoryContextSwitchTo(old);
			session_set_options(s, &probe.opts);
			PgaTargetRelease(&probe);
		}
		session_open(s);
		return s;
	}

	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("pgasync target \"%s\" does not exist", target),
			 errdetail("A target is a connection opened with pgasync.connect(), a pool, a pgasync_fdw foreign server, or a connection string.")));
	return NULL;				/* keep compiler quiet */
}

/*
 * How many new connections would serving these targets open?  A target
 * whose session already has a live connection needs none; anything else
 * (including a target that does not resolve, which fails later with its
 * own error) counts as one.
 */
int
PgaSessionsToOpen(char **targets, int n)
{
	int			needed = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		char		key[SESSION_KEY_LEN];
		PgaSession *s = NULL;
		ForeignServer *server;

		if (targets[i] == NULL)
			continue;
		if (strlen(targets[i]) < NAMEDATALEN)
		{
			named_key(key, targets[i]);
			s = hash_search(pga_sessions, key, HASH_FIND, NULL);
			/* a pool opens a connection only when none is free */
			if (s == NULL && PgaPoolExists(targets[i]))
			{
				if (PgaPoolWouldOpen(targets[i]))
					needed++;
				continue;
			}
		}
		if (s == NULL && !looks_like_dsn(targets[i]) &&
			(server = find_pgasync_server(targets[i])) != NULL)
		{
			server_key(key, server->serverid);
			s = hash_search(pga_sessions, key, HASH_FIND, NULL);
		}
		if (s == NULL && looks_like_dsn(targets[i]))
		{
			dsn_key(key, targets[i]);
			s = hash_search(pga_sessions, key, HASH_FIND, NULL);
		}
		if (s == NULL || s->conn == NULL || PgaConnGetPhase(s->conn) == PGA_PHASE_BROKEN)
			needed++;
	}
	return needed;
}

/*
 * Resolve a target into a connection target and a label for messages,
 * without opening or caching anything: for work that needs connections of
 * its own (COPY streams), opened with PgaConnOpen() and closed when the
 * work ends.  The same rules apply as for PgaSessionGet() (named
 * connections of other roles, USAGE on servers, passwords).
 */
void
PgaResolveTarget(const char *target, PgaTarget *out, char **label)
{
	char		key[SESSION_KEY_LEN];
	PgaSession *s = NULL;
	ForeignServer *server;

	if (target == NULL || target[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pgasync target must not be empty")));
	memset(out, 0, sizeof(*out));
	if (strlen(target) < NAMEDATALEN)
	{
		named_key(key, target);
		s = hash_search(pga_sessions, key, HASH_FIND, NULL);
	}
	if (s != NULL)
	{
		if (s->userid != GetUserId() && !superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for pgasync connection \"%s\"", target),
					 errdetail("The connection was opened by another role.")));
		if (OidIsValid(s->serverid))
			PgaTargetFromServer(GetForeignServer(s->serverid), out);
		else
			PgaTargetFromDsn(s->conninfo, out);
		out->opts = s->opts;
		*label = pstrdup(s->label);
		return;
	}
	if (strlen(target) < NAMEDATALEN)
	{
		Oid			serverid;
		const char *conninfo;
		PgaSessionOptions opts;

		/* a pool: its server or connection string, and its options */
		if (PgaPoolSettingsOf(target, &serverid, &conninfo, &opts))
		{
			if (OidIsValid(serverid))
				PgaTargetFromServer(GetForeignServer(serverid), out);
			else
				PgaTargetFromDsn(conninfo, out);
			out->opts = opts;
			*label = psprintf("\"%s\"", target);
			return;
		}
	}
	if (!looks_like_dsn(target) && (server = find_pgasync_server(target)) != NULL)
	{
		PgaTargetFromServer(server, out);
		*label = psprintf("\"%s\"", server->servername);
		return;
	}
	if (looks_like_dsn(target))
	{
		PgaTargetFromDsn(target, out);
		*label = psprintf("\"%s\"", out->display_name);
		return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("pgasync target \"%s\" does not exist", target),
			 errdetail("A target is a connection opened with pgasync.connect(), a pool, a pgasync_fdw foreign server, or a connection string.")));
}

PgaSession *
PgaSessionGet(const char *target)
{
	PgaSession *s = PgaSessionGetNoWait(target);

	PgaSessionWaitConnected(&s, 1);
	return s;
}

/* ----------------------------------------------------------------
 * Statement cache
 * ----------------------------------------------------------------
 */

static uint64
statement_hash(const char *sql, int nparams, const Oid *types)
{
	uint64		h = hash_bytes_extended((const unsigned char *) sql, strlen(sql), 0);

	if (nparams > 0)
		h ^= hash_bytes_extended((const unsigned char *) types,
								 nparams * sizeof(Oid), (uint64) nparams);
	return h;
}

/*
 * A statement's decoding plan lives in a memory context of its own (the
 * codec's); the statement itself in the session's context when cached, in
 * the caller's when not.
 */
static void
statement_free(PgaStatement *st)
{
	if (st->codec)
		MemoryContextDelete(st->codec->mcxt);
	st->codec = NULL;
	st->codec_desc = NULL;
}

static void
session_clear_statements(PgaSession *s)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &s->stmt_lru)
	{
		PgaStatement *st = dlist_container(PgaStatement, lru, iter.cur);
		PgaStmtKey	key;

		key.hash = st->hash;
		hash_search(s->stmts, &key, HASH_REMOVE, NULL);
		dlist_delete(&st->lru);
		statement_free(st);
	}
	s->nstatements = 0;
	list_free_deep(s->stmts_to_close);
	s->stmts_to_close = NIL;
	/* the session context keeps growing otherwise; start afresh */
}

PgaStatement *
PgaStatementLookup(PgaSession *s, const char *sql, int nparams, const Oid *types)
{
	PgaStmtKey	key;
	PgaStmtEntry *e;
	PgaStatement *st;

	key.hash = statement_hash(sql, nparams, types);
	e = hash_search(s->stmts, &key, HASH_FIND, NULL);
	if (e == NULL)
		return NULL;
	st = e->stmt;
	if (strcmp(st->sql, sql) != 0 || st->nparams != nparams ||
		(nparams > 0 && memcmp(st->param_types, types, nparams * sizeof(Oid)) != 0))
		return NULL;
	if (s->opts.max_cached_statement_lifetime > 0 &&
		TimestampDifferenceExceeds(st->prepared_at, GetCurrentTimestamp(),
								   s->opts.max_cached_statement_lifetime * 1000))
	{
		PgaStatementForget(s, st);
		return NULL;
	}
	dlist_move_head(&s->stmt_lru, &st->lru);
	st->uses++;
	return st;
}

/*
 * A new statement name, "pgasync_<token>_<n>": n counts the statements of
 * all this backend's connections and token is random per backend, so names
 * differ across connections, backends and servers.  Behind a pooler in
 * transaction mode, which moves a connection between server sessions, a
 * cached statement must then find no statement of its name on another
 * session (error 26000, with the pooler hint) rather than another client's
 * statement of the same name, which would run the wrong query.
 */
static void
statement_name(char *name, size_t size)
{
	static uint32 token = 0;
	static uint64 counter = 0;

	if (token == 0 && !pg_strong_random(&token, sizeof(token)))
		token = (uint32) MyProcPid ^ (uint32) MyStartTimestamp;
	snprintf(name, size, "pgasync_%08x_%llu", token, (unsigned long long) ++counter);
}

PgaStatement *
PgaStatementCreate(PgaSession *s, const char *sql, int nparams, const Oid *types,
				   bool cacheable)
{
	MemoryContext old;
	PgaStatement *st;
	uint64		hash = statement_hash(sql, nparams, types);
	PgaStmtKey	key;

	key.hash = hash;
	cacheable = cacheable && s->opts.statement_cache_size > 0 &&
		(int) strlen(sql) <= s->opts.max_cacheable_statement_size &&
		hash_search(s->stmts, &key, HASH_FIND, NULL) == NULL;

	if (cacheable)
	{
		while (s->nstatements >= s->opts.statement_cache_size &&
			   !dlist_is_empty(&s->stmt_lru))
			PgaStatementForget(s, dlist_container(PgaStatement, lru,
												  dlist_tail_node(&s->stmt_lru)));
	}

	old = MemoryContextSwitchTo(cacheable ? s->mcxt : CurrentMemoryContext);
	st = palloc0(sizeof(PgaStatement));
	st->sql = pstrdup(sql);
	st->hash = hash;
	st->nparams = nparams;
	if (nparams > 0)
	{
		st->param_types = palloc(nparams * sizeof(Oid));
		memcpy(st->param_types, types, nparams * sizeof(Oid));
	}
	st->nfields = -1;
	st->prepared_at = GetCurrentTimestamp();
	MemoryContextSwitchTo(old);

	if (cacheable)
	{
		PgaStmtEntry *e;
		bool		found;

		statement_name(st->name, sizeof(st->name));
		e = hash_search(s->stmts, &key, HASH_ENTER, &found);
		e->stmt = st;
		dlist_push_head(&s->stmt_lru, &st->lru);
		s->nstatements++;
	}
	return st;
}

void
PgaStatementForget(PgaSession *s, PgaStatement *st)
{
	PgaStmtKey	key;

	if (st->name[0] == '\0')
	{
		statement_free(st);
		return;
	}
	key.hash = st->hash;
	hash_search(s->stmts, &key, HASH_REMOVE, NULL);
	dlist_delete(&st->lru);
	s->nstatements--;
	{
		MemoryContext old = MemoryContextSwitchTo(s->mcxt);

		s->stmts_to_close = lappend(s->stmts_to_close, pstrdup(st->name));
		MemoryContextSwitchTo(old);
	}
	statement_free(st);
}

void
PgaSessionQueueCloses(PgaSession *s)
{
	ListCell   *lc;
	pgw_conn   *proto = PgaConnProto(s->conn);

	foreach(lc, s->stmts_to_close)
		(void) pgw_conn_close(proto, 'S', (char *) lfirst(lc));
	list_free_deep(s->stmts_to_close);
	s->stmts_to_close = NIL;
}

/* ----------------------------------------------------------------
 * Hooks around requests
 * ----------------------------------------------------------------
 */

void
PgaSessionBeforeRequest(PgaSession *s)
{
	PgaPoolBeforeRequest(s);	/* the reset goes first, outside transactions */
	PgaSessionQueueCloses(s);
	PgaXactBeforeRequest(s);
}

bool
PgaSessionInRemoteXact(PgaSession *s)
{
	return s->xact_depth > 0 || s->xact_begin != NULL;
}

void
PgaSessionQueueNotification(PgaSession *s, const pgw_backend_msg *msg)
{
	MemoryContext old = MemoryContextSwitchTo(s->mcxt);
	PgaNotification *n = palloc(sizeof(PgaNotification));

	n->channel = pstrdup(msg->u.notification.channel);
	n->payload = pstrdup(msg->u.notification.payload);
	n->sender_pid = msg->u.notification.pid;
	if (s->nnotifications >= PGA_MAX_QUEUED_NOTIFICATIONS)
	{
		PgaNotification *oldest = dlist_container(PgaNotification, node,
												  dlist_pop_head_node(&s->notifications));

		s->nnotifications--;
		pfree(oldest->channel);
		pfree(oldest->payload);
		pfree(oldest);
	}
	dlist_push_tail(&s->notifications, &n->node);
	s->nnotifications++;
	MemoryContextSwitchTo(old);
}

void
PgaSessionClaim(PgaSession *s)
{
	if (s->stream_release != NULL)
		s->stream_release(s->stream_arg);
	Assert(s->stream_release == NULL);
	if (s->async != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("connection %s has a query in progress", s->label),
				 errhint("Read its result with pgasync.result() or stop it with pgasync.cancel() first.")));
}

void
PgaSessionForgetAsync(PgaSession *s)
{
	if (s->async_cxt != NULL)
		MemoryContextDelete(s->async_cxt);
	s->async_cxt = NULL;
	s->async = NULL;
}

void
PgaSessionRelease(PgaSession *s)
{
	/* pool.c gives pooled connections back; others stay with their target */
	if (s->pool != NULL)
		PgaPoolRelease(s);
}

/*
 * A member of a pool (pool.c): a session under key for a pgasync_fdw
 * server (serverid) or a connection string, with the pool's options.  It
 * starts connecting in the background.
 */
PgaSession *
PgaSessionCreateMember(const char *key, Oid serverid, const char *conninfo,
					   const PgaSessionOptions *opts, const char *name,
					   struct PgaPool *pool)
{
	PgaSession *s;
	MemoryContext old;

	s = session_create(key, OidIsValid(serverid) ? PGA_TARGET_SERVER : PGA_TARGET_NAMED);
	old = MemoryContextSwitchTo(s->mcxt);
	s->name = pstrdup(name);
	s->label = psprintf("\"%s\"", name);
	s->serverid = serverid;
	s->conninfo = conninfo ? pstrdup(conninfo) : NULL;
	MemoryContextSwitchTo(old);
	session_set_options(s, opts);
	s->pool = pool;
	PG_TRY();
	{
		session_open(s);
	}
	PG_CATCH();
	{
		session_destroy(s);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return s;
}

void
PgaSessionDestroy(PgaSession *s)
{
	session_destroy(s);
}

bool
PgaSessionNamedExists(const char *name)
{
	char		key[SESSION_KEY_LEN];

	named_key(key, name);
	return hash_search(pga_sessions, key, HASH_FIND, NULL) != NULL;
}

/* ----------------------------------------------------------------
 * SQL functions
 * ----------------------------------------------------------------
 */

void
PgaCheckNewName(const char *name, bool pool)
{
	if (name[0] == '\0' || strlen(name) >= NAMEDATALEN)
	{
		if (pool)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid pgasync pool name \"%s\"", name),
					 errdetail("Names must be between 1 and %d bytes long.", NAMEDATALEN - 1)));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid pgasync connection name \"%s\"", name),
				 errdetail("Names must be between 1 and %d bytes long.", NAMEDATALEN - 1)));
	}
	if (PgaSessionNamedExists(name))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("pgasync connection \"%s\" already exists", name),
				 pool ? errdetail("Pools and named connections share one namespace.") : 0));
	if (PgaPoolExists(name))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("pgasync pool \"%s\" already exists", name),
				 pool ? 0 : errdetail("Pools and named connections share one namespace.")));
}

/*
 * pgasync.connect(name text, dsn text, options jsonb DEFAULT '{}')
 *
 * dsn may also name a pgasync_fdw foreign server.
 */
Datum
pgasync_connect(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *dsn;
	Jsonb	   *options;
	char		key[SESSION_KEY_LEN];
	PgaSession *s;
	PgaTarget	probe;
	ForeignServer *server = NULL;
	MemoryContext old;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("connection name and connection string must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	dsn = text_to_cstring(PG_GETARG_TEXT_PP(1));
	options = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);

	PgaCheckNewName(name, false);
	named_key(key, name);

	memset(&probe, 0, sizeof(probe));
	if (!looks_like_dsn(dsn))
		server = find_pgasync_server(dsn);
	if (server != NULL)
		PgaTargetFromServer(server, &probe);
	else
		PgaTargetFromDsn(dsn, &probe);
	if (options != NULL)
		PgaSessionOptionsFromJsonb(options, &probe.opts);

	s = session_create(key, server ? PGA_TARGET_SERVER : PGA_TARGET_NAMED);
	old = MemoryContextSwitchTo(s->mcxt);
	s->name = pstrdup(name);
	s->label = psprintf("\"%s\"", name);
	if (server)
		s->serverid = server->serverid;
	else
		s->conninfo = pstrdup(dsn);
	MemoryContextSwitchTo(old);
	session_set_options(s, &probe.opts);
	PgaTargetRelease(&probe);

	PG_TRY();
	{
		session_open(s);
		PgaSessionWaitConnected(&s, 1);
	}
	PG_CATCH();
	{
		/* a named connection that never connected is not kept */
		session_destroy(s);
		PG_RE_THROW();
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

/*
 * pgasync.disconnect(name text) closes a named connection, or this role's
 * cached connection to a server of that name.
 */
Datum
pgasync_disconnect(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char		key[SESSION_KEY_LEN];
	PgaSession *s;
	ForeignServer *server;

	named_key(key, name);
	s = hash_search(pga_sessions, key, HASH_FIND, NULL);
	if (s == NULL && (server = find_pgasync_server(name)) != NULL)
	{
		server_key(key, server->serverid);
		s = hash_search(pga_sessions, key, HASH_FIND, NULL);
	}
	if (s == NULL)
		PG_RETURN_BOOL(false);
	if (s->userid != GetUserId() && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for pgasync connection \"%s\"", name)));
	PgaXactCheckDisconnect(s);
	session_destroy(s);
	PG_RETURN_BOOL(true);
}

/* pgasync.disconnect_all() closes every connection this role may close. */
Datum
pgasync_disconnect_all(PG_FUNCTION_ARGS)
{
	HASH_SEQ_STATUS scan;
	PgaSession *s;
	List	   *victims = NIL;
	ListCell   *lc;
	int			n;

	n = PgaPoolCloseAll();		/* pools' connections go with their pools */
	hash_seq_init(&scan, pga_sessions);
	while ((s = hash_seq_search(&scan)) != NULL)
		if (s->pool == NULL && (s->userid == GetUserId() || superuser()))
			victims = lappend(victims, s);
	foreach(lc, victims)
		PgaXactCheckDisconnect(lfirst(lc));
	foreach(lc, victims)
	{
		s = lfirst(lc);
		if (s->conn != NULL)
			n++;
		session_destroy(s);
	}
	list_free(victims);
	PG_RETURN_INT32(n);
}

/* pgasync.connections(): one row per open connection.  Never a password. */
Datum
pgasync_connections(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS scan;
	PgaSession *s;

	InitMaterializedSRF(fcinfo, 0);
	hash_seq_init(&scan, pga_sessions);
	while ((s = hash_seq_search(&scan)) != NULL)
	{
		Datum		values[18];
		bool		nulls[18];
		pgw_conn   *proto;
		const pgw_conn_stats *stats;
		const char *v;

		if (s->conn == NULL || PgaConnGetPhase(s->conn) != PGA_PHASE_READY)
			continue;
		if (s->userid != GetUserId() && !superuser())
			continue;
		proto = PgaConnProto(s->conn);
		stats = pgw_conn_get_stats(proto);
		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(s->name ? s->name : PgaConnTarget(s->conn)->display_name);
		values[1] = CStringGetTextDatum(s->pool != NULL ? "pool" :
										s->kind == PGA_TARGET_SERVER ? "server" :
										s->kind == PGA_TARGET_NAMED ? "named" : "dsn");
		values[2] = CStringGetTextDatum(PgaConnHost(s->conn));
		values[3] = Int32GetDatum(PgaConnPort(s->conn));
		v = PgaConnTarget(s->conn)->dsn->values[PGW_DSN_DBNAME];
		if (v == NULL)
			v = PgaConnTarget(s->conn)->dsn->values[PGW_DSN_USER];
		values[4] = CStringGetTextDatum(v ? v : "");
		v = PgaConnTarget(s->conn)->dsn->values[PGW_DSN_USER];
		values[5] = CStringGetTextDatum(v ? v : "");
		values[6] = Int32GetDatum(pgw_conn_backend_pid(proto));
		v = pgw_conn_parameter(proto, "server_version");
		if (v)
			values[7] = CStringGetTextDatum(v);
		else
			nulls[7] = true;
		values[8] = BoolGetDatum(PgaConnUsesTls(s->conn));
		values[9] = BoolGetDatum(pgw_conn_tx_status(proto) != 'I');
		values[10] = BoolGetDatum(PgaConnIsBusy(s->conn));
		values[11] = Int64GetDatum((int64) s->queries);
		values[12] = Int32GetDatum(s->nstatements);
		values[13] = TimestampTzGetDatum(s->opened_at);
		values[14] = TimestampTzGetDatum(s->last_used);
		values[15] = Int64GetDatum((int64) stats->ready_for_query);
		values[16] = Int64GetDatum((int64) stats->bytes_in);
		values[17] = Int64GetDatum((int64) stats->bytes_out);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
