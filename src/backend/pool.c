/*-------------------------------------------------------------------------
 *
 * pool.c
 *	  Connection pools: pgasync.create_pool(), close_pool() and pools(),
 *	  acquiring and giving back members, and the reset of members whose
 *	  remote session state changed.
 *
 * A pool belongs to one backend and to the role that created it, like a
 * named connection, and shares their namespace.  Its members are sessions
 * of the session cache keyed "p:<pool>:<serial>", each with the pool's
 * connection options.  Members are in one of three states:
 *
 *	idle	in the pool, ready to be acquired (most recently used first)
 *	busy	acquired by a call
 *	held	given back by a call while a remote transaction tied to the local
 *			one is open on it: it stays with the local transaction (later calls
 *			on the pool get it again) and goes back to the pool when the local
 *			transaction ends
 *
 * min_size members are opened by create_pool(), all at once.  Later ones
 * are opened when a call finds no idle member, up to max_size.  A member
 * is closed instead of going back to the pool when it is broken or busy,
 * when it has run max_queries queries, and when it sat idle for longer
 * than max_inactive_connection_lifetime (checked whenever the pool is
 * used; the pool may then hold fewer than min_size members).
 *
 * Resets: the query runner reports each command tag, ParameterStatus and
 * query text of a member's own requests (PgaPoolNoteEvent); commands that
 * change the remote session's state mark the member "dirty", and its next
 * request is preceded by a reset query sent in the same round trip
 * (PgaPoolBeforeRequest).  Members that stayed clean are never reset.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "connection.h"
#include "pgasync.h"
#include "pool.h"
#include "remote_error.h"

PG_FUNCTION_INFO_V1(pgasync_create_pool);
PG_FUNCTION_INFO_V1(pgasync_close_pool);
PG_FUNCTION_INFO_V1(pgasync_pools);

/* What a member did that its reset must undo */
#define PGA_DIRTY_STATE		0x01	/* settings, LISTEN, cursors, locks, ... */
#define PGA_DIRTY_TEMP		0x02	/* temporary objects: DISCARD TEMP */
#define PGA_DIRTY_PREPARED	0x04	/* SQL prepared statements: DEALLOCATE ALL */

typedef enum PgaMemberState
{
	PGA_MEMBER_IDLE,
	PGA_MEMBER_BUSY,
	PGA_MEMBER_HELD
} PgaMemberState;

typedef struct PgaPoolMember
{
	PgaSession *session;
	PgaMemberState state;
	SubTransactionId subid;		/* where a busy member was acquired */
	TimestampTz idle_since;
	int			dirty;			/* PGA_DIRTY_* flags */
} PgaPoolMember;

struct PgaPool
{
	char		name[NAMEDATALEN];	/* hash key */
	Oid			userid;			/* the role that created the pool */
	Oid			serverid;		/* pgasync_fdw server, or InvalidOid */
	char	   *conninfo;		/* connection string, or NULL */
	PgaSessionOptions opts;		/* of every member */
	int			min_size;
	int			max_size;
	int			max_queries;
	int			max_inactive_ms;	/* 0: never closed for inactivity */
	List	   *members;		/* of PgaPoolMember */
	uint64		serial;			/* of the last member opened */
	uint64		acquired;
	uint64		created;
	uint64		closed;
	uint64		resets;
	MemoryContext mcxt;
};

/* Pool settings from create_pool()'s options, with asyncpg's defaults. */
typedef struct PgaPoolSettings
{
	int			min_size;
	int			max_size;
	int			max_queries;
	int			max_inactive_ms;
} PgaPoolSettings;

static HTAB *pga_pools = NULL;

/* ----------------------------------------------------------------
 * Pools and members
 * ----------------------------------------------------------------
 */

static PgaPool *
pool_lookup(const char *name)
{
	char		key[NAMEDATALEN];

	if (pga_pools == NULL || strlen(name) >= NAMEDATALEN)
		return NULL;
	memset(key, 0, sizeof(key));
	strlcpy(key, name, sizeof(key));
	return hash_search(pga_pools, key, HASH_FIND, NULL);
}

bool
PgaPoolExists(const char *name)
{
	return pool_lookup(name) != NULL;
}

static void
pool_check_owner(PgaPool *pool)
{
	if (pool->userid != GetUserId() && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for pgasync pool \"%s\"", pool->name),
				 errdetail("The pool was created by another role.")));
}

bool
PgaPoolSettingsOf(const char *name, Oid *serverid, const char **conninfo,
				  PgaSessionOptions *opts)
{
	PgaPool    *pool = pool_lookup(name);

	if (pool == NULL)
		return false;
	pool_check_owner(pool);
	*serverid = pool->serverid;
	*conninfo = pool->conninfo;
	*opts = pool->opts;
	return true;
}

bool
PgaPoolWouldOpen(const char *name)
{
	PgaPool    *pool = pool_lookup(name);
	ListCell   *lc;

	if (pool == NULL)
		return false;
	foreach(lc, pool->members)
	{
		PgaPoolMember *m = lfirst(lc);

		if (m->state == PGA_MEMBER_IDLE || m->state == PGA_MEMBER_HELD)
			return false;
	}
	return true;
}

static PgaPoolMember *
pool_find_member(PgaPool *pool, PgaSession *s)
{
	ListCell   *lc;

	foreach(lc, pool->members)
	{
		PgaPoolMember *m = lfirst(lc);

		if (m->session == s)
			return m;
	}
	return NULL;
}

/*
 * Open a new member; it starts connecting and comes back idle.  Raises
 * (with nothing added) when the connection cannot even start.
 */
static PgaPoolMember *
pool_add_member(PgaPool *pool)
{
	char		key[256];
	PgaSession *s;
	PgaPoolMember *m;
	MemoryContext old;

	snprintf(key, sizeof(key), "p:%s:" UINT64_FORMAT, pool->name, pool->serial + 1);
	s = PgaSessionCreateMember(key, pool->serverid, pool->conninfo,
							   &pool->opts, pool->name, pool);
	s->userid = pool->userid;	/* shown to the pool's owner */
	pool->serial++;
	pool->created++;
	old = MemoryContextSwitchTo(pool->mcxt);
	m = palloc0(sizeof(PgaPoolMember));
	m->session = s;
	m->state = PGA_MEMBER_IDLE;
	m->idle_since = GetCurrentTimestamp();
	pool->members = lappend(pool->members, m);
	MemoryContextSwitchTo(old);
	return m;
}

/* Close a member and forget it.  Never raises. */
static void
member_drop(PgaPool *pool, PgaPoolMember *m)
{
	PgaSessionDestroy(m->session);
	pool->members = list_delete_ptr(pool->members, m);
	pfree(m);
	pool->closed++;
}

static void
pool_destroy(PgaPool *pool)
{
	ListCell   *lc;

	foreach(lc, pool->members)
		PgaSessionDestroy(((PgaPoolMember *) lfirst(lc))->session);
	MemoryContextDelete(pool->mcxt);
	hash_search(pga_pools, pool->name, HASH_REMOVE, NULL);
}

/*
 * Is an idle member's connection still good?  Takes in what the server
 * sent while it was idle (notices, notifications, or the end of a
 * connection the server closed).
 */
static bool
member_alive(PgaPoolMember *m)
{
	PgaSession *s = m->session;
	pgw_event	ev;

	if (s->conn == NULL || PgaConnGetPhase(s->conn) != PGA_PHASE_READY)
		return false;
	while (PgaConnPollEvent(s->conn, &ev))
	{
		if (ev.type == PGW_EV_NOTICE)
			PgaRelayNotice(&ev.msg.u.error, s->label);
		else if (ev.type == PGW_EV_NOTIFICATION)
			PgaSessionQueueNotification(s, &ev.msg);
	}
	return PgaConnGetPhase(s->conn) == PGA_PHASE_READY && !PgaConnIsBusy(s->conn);
}

/*
 * Will the member's next request be preceded by its reset?  Not inside a
 * remote transaction tied to the local one: the reset waits for its end.
 */
static bool
member_reset_due(PgaSession *s)
{
	return s->reset_pending && s->conn != NULL &&
		(pgw_conn_tx_status(PgaConnProto(s->conn)) == 'I' ||
		 !PgaSessionInRemoteXact(s));
}

/*
 * The reset will drop every prepared statement of the remote session,
 * pgasync's own included: empty the statement cache before the caller
 * looks its statement up.  The Close messages are not needed any more.
 */
static void
member_forget_statements(PgaSession *s)
{
	while (!dlist_is_empty(&s->stmt_lru))
		PgaStatementForget(s, dlist_container(PgaStatement, lru,
											  dlist_head_node(&s->stmt_lru)));
	list_free_deep(s->stmts_to_close);
	s->stmts_to_close = NIL;
}

/* Close idle members that sat unused for longer than allowed. */
static void
pool_expire_idle(PgaPool *pool)
{
	TimestampTz now;
	int			i;

	if (pool->max_inactive_ms <= 0)
		return;
	now = GetCurrentTimestamp();
	for (i = list_length(pool->members) - 1; i >= 0; i--)
	{
		PgaPoolMember *m = list_nth(pool->members, i);

		if (m->state == PGA_MEMBER_IDLE &&
			TimestampDifferenceExceeds(m->idle_since, now, pool->max_inactive_ms))
			member_drop(pool, m);
	}
}

/* The most recently used idle member that still works, or NULL. */
static PgaPoolMember *
pool_take_idle(PgaPool *pool)
{
	for (;;)
	{
		PgaPoolMember *best = NULL;
		ListCell   *lc;

		foreach(lc, pool->members)
		{
			PgaPoolMember *m = lfirst(lc);

			if (m->state == PGA_MEMBER_IDLE &&
				(best == NULL || m->idle_since > best->idle_since))
				best = m;
		}
		if (best == NULL)
			return NULL;
		if (member_alive(best))
			return best;
		member_drop(pool, best);	/* broken: never reused */
	}
}

PgaSession *
PgaPoolAcquire(const char *name)
{
	PgaPool    *pool = pool_lookup(name);
	PgaPoolMember *m = NULL;
	ListCell   *lc;

	if (pool == NULL)
		return NULL;
	pool_check_owner(pool);
	pool_expire_idle(pool);

	/* the member of a remote transaction stays with the local one */
	foreach(lc, pool->members)
	{
		PgaPoolMember *held = lfirst(lc);

		if (held->state == PGA_MEMBER_HELD)
		{
			m = held;
			break;
		}
	}
	if (m == NULL)
		m = pool_take_idle(pool);
	if (m == NULL)
	{
		if (list_length(pool->members) >= pool->max_size)
			ereport(ERROR,
					(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
					 errmsg("pgasync pool \"%s\" is exhausted", pool->name),
					 errdetail_plural("Its only connection is in use (max_size is %d).",
									  "All of its %d connections are in use (max_size).",
									  pool->max_size, pool->max_size),
					 errhint("Raise the pool's max_size, or wait for other calls on the pool to finish.")));
		m = pool_add_member(pool);
	}
	if ((m->dirty & PGA_DIRTY_PREPARED) && member_reset_due(m->session))
		member_forget_statements(m->session);
	m->state = PGA_MEMBER_BUSY;
	m->subid = GetCurrentSubTransactionId();
	pool->acquired++;
	return m->session;
}

/*
 * Take back a busy or held member: it becomes idle, or stays held while a
 * remote transaction is open on it, or is closed when it must not be
 * reused.  xact_over: the local transaction has ended, so a remote
 * transaction still open was not ended properly.  Never raises.
 */
static void
member_give_back(PgaPool *pool, PgaPoolMember *m, bool xact_over)
{
	PgaSession *s = m->session;

	if (!xact_over && PgaSessionInRemoteXact(s))
	{
		m->state = PGA_MEMBER_HELD;
		return;
	}
	if (s->conn == NULL ||
		PgaConnGetPhase(s->conn) != PGA_PHASE_READY ||
		PgaConnIsBusy(s->conn) ||
		PgaSessionInRemoteXact(s) ||
		(pool->max_queries > 0 && s->queries >= (uint64) pool->max_queries))
	{
		member_drop(pool, m);
		return;
	}
	/* an explicit BEGIN sent through the pool: the reset rolls it back */
	if (pgw_conn_tx_status(PgaConnProto(s->conn)) != 'I')
	{
		m->dirty |= PGA_DIRTY_STATE;
		s->reset_pending = true;
	}
	m->state = PGA_MEMBER_IDLE;
	m->idle_since = GetCurrentTimestamp();
}

void
PgaPoolRelease(PgaSession *s)
{
	PgaPoolMember *m = pool_find_member(s->pool, s);

	if (m != NULL && m->state == PGA_MEMBER_BUSY)
		member_give_back(s->pool, m, false);
}

void
PgaPoolAtXactEnd(void)
{
	HASH_SEQ_STATUS scan;
	PgaPool    *pool;

	if (pga_pools == NULL)
		return;
	hash_seq_init(&scan, pga_pools);
	while ((pool = hash_seq_search(&scan)) != NULL)
	{
		int			i;

		for (i = list_length(pool->members) - 1; i >= 0; i--)
		{
			PgaPoolMember *m = list_nth(pool->members, i);

			if (m->state != PGA_MEMBER_IDLE)
				member_give_back(pool, m, true);
		}
	}
}

void
PgaPoolAtSubXactEnd(bool isCommit, SubTransactionId mySubid,
					SubTransactionId parentSubid)
{
	HASH_SEQ_STATUS scan;
	PgaPool    *pool;

	if (pga_pools == NULL)
		return;
	hash_seq_init(&scan, pga_pools);
	while ((pool = hash_seq_search(&scan)) != NULL)
	{
		int			i;

		for (i = list_length(pool->members) - 1; i >= 0; i--)
		{
			PgaPoolMember *m = list_nth(pool->members, i);

			if (m->state != PGA_MEMBER_BUSY || m->subid != mySubid)
				continue;
			if (isCommit)
				m->subid = parentSubid;
			else
				member_give_back(pool, m, false);	/* its call failed */
		}
	}
}

/* ----------------------------------------------------------------
 * Resets
 * ----------------------------------------------------------------
 */

static bool
is_word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9');
}

/*
 * Does text contain word, case-insensitively, between characters that are
 * not letters or digits?  "_" separates words here, so "pg_temp" and
 * "pg_advisory_lock" contain "temp" and "advisory".
 */
static bool
contains_word(const char *text, const char *word)
{
	size_t		len = strlen(word);
	const char *p;

	for (p = text; *p != '\0'; p++)
	{
		if ((p == text || !is_word_char(p[-1])) &&
			pg_strncasecmp(p, word, len) == 0 &&
			!is_word_char(p[len]))
			return true;
	}
	return false;
}

/* Dirty flags for a command tag. */
static int
tag_dirt(const char *tag)
{
	if (strcmp(tag, "SET") == 0 || strcmp(tag, "RESET") == 0 ||
		strcmp(tag, "LISTEN") == 0 || strcmp(tag, "UNLISTEN") == 0 ||
		strcmp(tag, "DECLARE CURSOR") == 0)
		return PGA_DIRTY_STATE;
	if (strcmp(tag, "PREPARE") == 0 || strncmp(tag, "DEALLOCATE", 10) == 0)
		return PGA_DIRTY_PREPARED;
	/* DISCARD ALL dropped pgasync's own prepared statements too */
	if (strcmp(tag, "DISCARD ALL") == 0)
		return PGA_DIRTY_STATE | PGA_DIRTY_PREPARED;
	if (strncmp(tag, "DISCARD", 7) == 0)
		return PGA_DIRTY_STATE;
	return 0;
}

/* Dirty flags for a query text. */
static int
text_dirt(const char *sql)
{
	int			dirty = 0;

	if (contains_word(sql, "advisory") || contains_word(sql, "set_config"))
		dirty |= PGA_DIRTY_STATE;
	if (contains_word(sql, "temp") || contains_word(sql, "temporary"))
		dirty |= PGA_DIRTY_TEMP;
	return dirty;
}

void
PgaPoolNoteEvent(PgaSession *s, const pgw_event *ev, const char *sql)
{
	int			dirty = 0;
	PgaPoolMember *m;

	if (s->pool == NULL)
		return;
	switch ((int) ev->type)
	{
		case PGW_EV_COMMAND_COMPLETE:
			dirty = tag_dirt(ev->msg.u.command_complete.tag);
			break;
		case PGW_EV_PARAMETER_STATUS:
			/* the server reports a setting only when it changed */
			dirty = PGA_DIRTY_STATE;
			break;
		case PGW_EV_READY:
			if (sql != NULL)
				dirty = text_dirt(sql);
			break;
		default:
			break;
	}
	if (dirty == 0 || (m = pool_find_member(s->pool, s)) == NULL)
		return;
	m->dirty |= dirty;
	s->reset_pending = true;
}

void
PgaPoolBeforeRequest(PgaSession *s)
{
	PgaPoolMember *m;
	pgw_conn   *proto;
	StringInfoData sql;

	if (s->pool == NULL || !member_reset_due(s))
		return;
	m = pool_find_member(s->pool, s);
	if (m == NULL)
		return;
	proto = PgaConnProto(s->conn);

	/*
	 * What DISCARD ALL does, which cannot run in the implicit transaction
	 * of a multi-statement query, except for DISCARD PLANS and SEQUENCES
	 * (harmless), and DISCARD TEMP and DEALLOCATE ALL only when needed.
	 */
	initStringInfo(&sql);
	if (pgw_conn_tx_status(proto) != 'I')
		appendStringInfoString(&sql, "ROLLBACK; ");
	appendStringInfoString(&sql, "SELECT pg_catalog.pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; ");
	if (m->dirty & PGA_DIRTY_TEMP)
		appendStringInfoString(&sql, "DISCARD TEMP; ");
	if (m->dirty & PGA_DIRTY_PREPARED)
		appendStringInfoString(&sql, "DEALLOCATE ALL; ");
	appendStringInfoString(&sql, "SET SESSION AUTHORIZATION DEFAULT; RESET ALL");
	if (pgw_conn_query(proto, sql.data) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_EXCEPTION),
				 errmsg("could not send query to remote server %s", s->label),
				 errdetail_internal("%s", pgw_conn_errmsg(proto))));
	pfree(sql.data);
	s->reset_pending = false;
	m->dirty = 0;
	s->pool->resets++;
}

/* ----------------------------------------------------------------
 * Options
 * ----------------------------------------------------------------
 */

static const char *const pool_option_names[] = {
	"min_size", "max_size", "max_queries", "max_inactive_connection_lifetime", NULL
};

static bool
is_pool_option(const char *key)
{
	int			i;

	for (i = 0; pool_option_names[i] != NULL; i++)
		if (strcmp(key, pool_option_names[i]) == 0)
			return true;
	return false;
}

static void
pool_options_context(void *arg)
{
	errcontext("options of pgasync pool \"%s\"", (const char *) arg);
}

/* What parse_pool_options() passes to pool_option() */
typedef struct PoolOptionsState
{
	PgaPoolSettings *settings;
	Jsonb	   *rest;			/* the options that are not the pool's */
} PoolOptionsState;

/* One option of create_pool(): the pool's own are taken out of rest. */
static void
pool_option(const char *key, JsonbValue *value, void *arg)
{
	PoolOptionsState *state = (PoolOptionsState *) arg;
	PgaPoolSettings *settings = state->settings;
	const char *whose = "pgasync pool";

	if (!is_pool_option(key))
		return;
	if (strcmp(key, "min_size") == 0)
		settings->min_size = PgaJsonbOptionInt(key, value, whose, 0, INT_MAX);
	else if (strcmp(key, "max_size") == 0)
		settings->max_size = PgaJsonbOptionInt(key, value, whose, 1, INT_MAX);
	else if (strcmp(key, "max_queries") == 0)
		settings->max_queries = PgaJsonbOptionInt(key, value, whose,
												  1, INT_MAX);
	else
		settings->max_inactive_ms = PgaJsonbOptionSeconds(key, value, whose,
														  false);
	state->rest = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete,
													 JsonbPGetDatum(state->rest),
													 CStringGetTextDatum(key)));
}

/*
 * Split create_pool()'s options: the pool's own go to settings, the rest
 * are pgasync.connect()'s and go to opts.
 */
static void
parse_pool_options(const char *name, Jsonb *json, PgaPoolSettings *settings,
				   PgaSessionOptions *opts)
{
	PoolOptionsState state;
	ErrorContextCallback errcallback;

	settings->min_size = 1;
	settings->max_size = 10;
	settings->max_queries = 50000;
	settings->max_inactive_ms = 300 * 1000;
	if (json == NULL)
		return;
	state.settings = settings;
	state.rest = json;
	PgaJsonbForEachOption(json, "pgasync pool options", pool_option, &state);
	if (settings->min_size > settings->max_size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pgasync pool option \"min_size\" must not be greater than \"max_size\""),
				 errdetail("min_size is %d and max_size is %d.",
						   settings->min_size, settings->max_size)));

	errcallback.callback = pool_options_context;
	errcallback.arg = unconstify(char *, name);
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	PgaSessionOptionsFromJsonb(state.rest, opts);
	error_context_stack = errcallback.previous;
}

/* ----------------------------------------------------------------
 * SQL functions
 * ----------------------------------------------------------------
 */

static ForeignServer *
find_pgasync_server(const char *name)
{
	ForeignServer *server;

	if (strchr(name, '=') != NULL || strncmp(name, "postgres://", 11) == 0 ||
		strncmp(name, "postgresql://", 13) == 0)
		return NULL;
	server = GetForeignServerByName(name, true);
	if (server == NULL ||
		strcmp(GetForeignDataWrapper(server->fdwid)->fdwname, "pgasync_fdw") != 0)
		return NULL;
	return server;
}

/*
 * pgasync.create_pool(name text, dsn text, options jsonb DEFAULT '{}')
 *
 * dsn is a connection string or a pgasync_fdw server, as for connect().
 * Opens min_size connections at once and waits for all of them.
 */
Datum
pgasync_create_pool(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *dsn;
	Jsonb	   *options;
	ForeignServer *server;
	PgaTarget	probe;
	PgaPoolSettings settings;
	PgaPool    *pool;
	bool		found;
	char		key[NAMEDATALEN];
	int			held;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("pool name and connection string must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	dsn = text_to_cstring(PG_GETARG_TEXT_PP(1));
	options = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);

	PgaCheckNewName(name, true);

	memset(&probe, 0, sizeof(probe));
	server = find_pgasync_server(dsn);
	if (server != NULL)
		PgaTargetFromServer(server, &probe);
	else
		PgaTargetFromDsn(dsn, &probe);
	parse_pool_options(name, options, &settings, &probe.opts);

	held = PgaDriverConnectionCount();
	if (held + settings.min_size > pgasync_max_connections)
		ereport(ERROR,
				(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
				 errmsg("too many pgasync connections"),
				 errdetail("Pool \"%s\" needs %d connections (min_size), but this backend already holds %d of the %d allowed.",
						   name, settings.min_size, held, pgasync_max_connections),
				 errhint("Lower min_size, close connections or pools, or raise pgasync.max_connections.")));

	if (pga_pools == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(PgaPool);
		pga_pools = hash_create("pgasync pools", 8, &ctl, HASH_ELEM | HASH_STRINGS);
	}
	memset(key, 0, sizeof(key));
	strlcpy(key, name, sizeof(key));
	pool = hash_search(pga_pools, key, HASH_ENTER, &found);
	Assert(!found);
	memset(((char *) pool) + NAMEDATALEN, 0, sizeof(PgaPool) - NAMEDATALEN);
	pool->mcxt = AllocSetContextCreate(TopMemoryContext, "pgasync pool",
									   ALLOCSET_SMALL_SIZES);
	pool->userid = GetUserId();
	pool->min_size = settings.min_size;
	pool->max_size = settings.max_size;
	pool->max_queries = settings.max_queries;
	pool->max_inactive_ms = settings.max_inactive_ms;
	{
		MemoryContext old = MemoryContextSwitchTo(pool->mcxt);
		ListCell   *lc;

		if (server != NULL)
			pool->serverid = server->serverid;
		else
			pool->conninfo = pstrdup(dsn);
		pool->opts = probe.opts;
		pool->opts.server_settings = NIL;
		foreach(lc, probe.opts.server_settings)
			pool->opts.server_settings = lappend(pool->opts.server_settings,
												 pstrdup(lfirst(lc)));
		MemoryContextSwitchTo(old);
	}
	PgaTargetRelease(&probe);

	PG_TRY();
	{
		PgaSession **sessions = palloc(sizeof(PgaSession *) * Max(settings.min_size, 1));
		int			i;

		for (i = 0; i < settings.min_size; i++)
			sessions[i] = pool_add_member(pool)->session;
		if (settings.min_size > 0)
			PgaSessionWaitConnected(sessions, settings.min_size);
	}
	PG_CATCH();
	{
		/* a pool that could not open min_size connections is not kept */
		pool_destroy(pool);
		PG_RE_THROW();
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

/* Error out if a member of pool is in use by the current transaction. */
static void
pool_check_unused(PgaPool *pool)
{
	ListCell   *lc;
	int			n = 0;

	foreach(lc, pool->members)
	{
		if (((PgaPoolMember *) lfirst(lc))->state != PGA_MEMBER_IDLE)
			n++;
	}
	if (n > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("pgasync pool \"%s\" is in use", pool->name),
				 errdetail_plural("%d of its connections is in use by the current transaction.",
								  "%d of its connections are in use by the current transaction.",
								  n, n),
				 errhint("Close the pool after the end of the transaction.")));
}

/* pgasync.close_pool(name text): close a pool and all its connections. */
Datum
pgasync_close_pool(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	PgaPool    *pool = pool_lookup(name);

	if (pool == NULL)
		PG_RETURN_BOOL(false);
	pool_check_owner(pool);
	pool_check_unused(pool);
	pool_destroy(pool);
	PG_RETURN_BOOL(true);
}

int
PgaPoolCloseAll(void)
{
	HASH_SEQ_STATUS scan;
	PgaPool    *pool;
	List	   *victims = NIL;
	ListCell   *lc;
	int			n = 0;

	if (pga_pools == NULL)
		return 0;
	hash_seq_init(&scan, pga_pools);
	while ((pool = hash_seq_search(&scan)) != NULL)
	{
		if (pool->userid == GetUserId() || superuser())
			victims = lappend(victims, pool);
	}
	/* close nothing if anything is in use */
	foreach(lc, victims)
		pool_check_unused(lfirst(lc));
	foreach(lc, victims)
	{
		ListCell   *mc;

		pool = lfirst(lc);
		foreach(mc, pool->members)
		{
			if (((PgaPoolMember *) lfirst(mc))->session->conn != NULL)
				n++;
		}
		pool_destroy(pool);
	}
	list_free(victims);
	return n;
}

/* pgasync.pools(): one row per pool of this backend. */
Datum
pgasync_pools(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS scan;
	PgaPool    *pool;

	InitMaterializedSRF(fcinfo, 0);
	if (pga_pools == NULL)
		return (Datum) 0;
	hash_seq_init(&scan, pga_pools);
	while ((pool = hash_seq_search(&scan)) != NULL)
	{
		Datum		values[12];
		bool		nulls[12];
		ListCell   *lc;
		int			idle = 0;
		int			busy = 0;

		if (pool->userid != GetUserId() && !superuser())
			continue;
		foreach(lc, pool->members)
		{
			if (((PgaPoolMember *) lfirst(lc))->state == PGA_MEMBER_IDLE)
				idle++;
			else
				busy++;
		}
		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(pool->name);
		values[1] = Int32GetDatum(list_length(pool->members));
		values[2] = Int32GetDatum(idle);
		values[3] = Int32GetDatum(busy);
		values[4] = Int32GetDatum(pool->min_size);
		values[5] = Int32GetDatum(pool->max_size);
		values[6] = Int32GetDatum(pool->max_queries);
		values[7] = Float8GetDatum(pool->max_inactive_ms / 1000.0);
		values[8] = Int64GetDatum((int64) pool->acquired);
		values[9] = Int64GetDatum((int64) pool->created);
		values[10] = Int64GetDatum((int64) pool->closed);
		values[11] = Int64GetDatum((int64) pool->resets);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
