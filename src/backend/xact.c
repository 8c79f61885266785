/*-------------------------------------------------------------------------
 *
 * xact.c
 *	  Remote transactions tied to the local one.
 *
 * pgasync.begin(target) opens a remote transaction on the target's
 * connection that ends with the local transaction: it commits in the local
 * transaction's PRE_COMMIT phase and rolls back when the local transaction
 * aborts.  As in postgres_fdw, local subtransactions (SAVEPOINT, PL/pgSQL
 * exception blocks) are mirrored by remote savepoints, named pgasync_s<n>
 * after the local nesting level n.
 *
 * Nothing goes to the server when begin() is called.  The BEGIN, and the
 * SAVEPOINTs of the subtransactions the local side has entered since the
 * last request, go as one simple Query ahead of the next request on that
 * connection (PgaXactBeforeRequest), in the same round trip; the query
 * runner reads its answers as a preamble.  When a local subtransaction
 * commits, the RELEASE of its savepoint waits for the next request too, or
 * is never sent: COMMIT and ROLLBACK TO release it anyway.  Only abort
 * handling and COMMIT wait for the servers: abort handling about a second
 * at most, COMMIT up to each connection's command_timeout (the local
 * statement_timeout is off by then).
 *
 * Each remote transaction has an entry in a small array, in the order of
 * the begin() calls:
 *	base			the local nesting level begin() ran at.  The remote
 *					transaction belongs to that subtransaction (whose abort
 *					rolls it back) until it commits into its parent.
 *	s->xact_depth	the deepest local level the remote side covers: levels
 *					base+1 .. xact_depth have savepoints pgasync_s<level>.
 *	s->xact_begin	the BEGIN, until it is sent.
 *	release_level	a savepoint to release with the next request, or 0.
 *	conn			the connection the BEGIN went out on.
 *	lost			the connection was closed after a failure: the remote
 *					transaction is gone and the local one cannot commit.
 *
 * Sessions with an entry cannot be closed (pgasync.disconnect) and are not
 * reconnected behind the caller's back (PgaXactBeforeReconnect).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "remote_error.h"
#include "xact.h"

/* Abort handling waits at most this long for the servers' answers. */
#define PGA_XACT_ABORT_TIMEOUT_MS 1000

typedef struct PgaXactEntry
{
	PgaSession *session;
	int			base;
	int			release_level;
	PgaConn    *conn;
	bool		lost;
	bool		ended;			/* abort handling: forget the entry */
} PgaXactEntry;

static PgaXactEntry *xact_entries = NULL;
static int	xact_nentries = 0;
static int	xact_maxentries = 0;

/* A command sent to several servers at once, and how it went on each */
typedef struct PgaXactCmd
{
	PgaXactEntry *entry;
	const char *sql;			/* NULL: nothing to send */
	char		expect_status;	/* abort paths: transaction status after it */
	uint64		request_id;
	bool		done;			/* its ReadyForQuery came */
	bool		failed;			/* error, lost connection or no answer */
	TimestampTz deadline;		/* give up then; 0: never */
	bool		timed_out;		/* ... and did */
	PgaRemoteError *error;		/* the first error (not in abort paths) */
	char		tag[16];		/* command tag of the last command */
} PgaXactCmd;

PG_FUNCTION_INFO_V1(pgasync_begin);

/* ----------------------------------------------------------------
 * Entries
 * ----------------------------------------------------------------
 */

static PgaXactEntry *
entry_find(PgaSession *s)
{
	int			i;

	for (i = 0; i < xact_nentries; i++)
	{
		if (xact_entries[i].session == s)
			return &xact_entries[i];
	}
	return NULL;
}

static PgaXactEntry *
entry_add(PgaSession *s, int base)
{
	PgaXactEntry *e;

	if (xact_nentries == xact_maxentries)
	{
		int			newmax = Max(8, xact_maxentries * 2);

		if (xact_entries == NULL)
			xact_entries = MemoryContextAlloc(TopMemoryContext,
											  sizeof(PgaXactEntry) * newmax);
		else
			xact_entries = repalloc(xact_entries, sizeof(PgaXactEntry) * newmax);
		xact_maxentries = newmax;
	}
	e = &xact_entries[xact_nentries++];
	memset(e, 0, sizeof(*e));
	e->session = s;
	e->base = base;
	return e;
}

/* Forget the entries marked ended; the sessions stay, out of transaction. */
static void
entries_remove_ended(void)
{
	int			i;
	int			kept = 0;

	for (i = 0; i < xact_nentries; i++)
	{
		PgaXactEntry *e = &xact_entries[i];

		if (e->ended)
		{
			e->session->xact_depth = 0;
			if (e->session->xact_begin != NULL)
				pfree(e->session->xact_begin);
			e->session->xact_begin = NULL;
		}
		else
			xact_entries[kept++] = *e;
	}
	xact_nentries = kept;
}

static void
entries_remove_all(void)
{
	int			i;

	for (i = 0; i < xact_nentries; i++)
		xact_entries[i].ended = true;
	entries_remove_ended();
}

/* Has the BEGIN gone out? */
static bool
entry_started(const PgaXactEntry *e)
{
	return e->session->xact_begin == NULL;
}

/* Is the connection the remote transaction runs on still usable? */
static bool
entry_alive(const PgaXactEntry *e)
{
	PgaSession *s = e->session;

	return !e->lost && s->conn != NULL && s->conn == e->conn &&
		PgaConnGetPhase(s->conn) == PGA_PHASE_READY;
}

/* Close the connection of a remote transaction that could not be ended. */
static void
entry_close(PgaXactEntry *e)
{
	PgaSessionReset(e->session);
	e->lost = true;
}

static void
raise_lost(PgaSession *s)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("connection to %s was lost inside a remote transaction", s->label),
			 errdetail("The work done in the remote transaction is lost."),
			 errhint("Roll back the local transaction; the next transaction reconnects.")));
}

/* Raise unless the remote transaction of e, not busy, can go on. */
static void
check_remote_status(PgaXactEntry *e)
{
	PgaSession *s = e->session;

	if (!entry_alive(e))
		raise_lost(s);
	if (PgaConnIsBusy(s->conn))
		return;
	switch (pgw_conn_tx_status(PgaConnProto(s->conn)))
	{
		case 'E':
			ereport(ERROR,
					(errcode(ERRCODE_IN_FAILED_SQL_TRANSACTION),
					 errmsg("remote transaction on %s is aborted", s->label),
					 errdetail("An error on the remote server aborted it."),
					 errhint("Roll back the local transaction, or the subtransaction in which the error happened.")));
			break;
		case 'I':
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
					 errmsg("remote transaction on %s ended before the local transaction", s->label),
					 errdetail("A COMMIT or ROLLBACK was sent to the remote server directly."),
					 errhint("A remote transaction started with pgasync.begin() ends when the local transaction ends.")));
			break;
		default:
			break;
	}
}

/* ----------------------------------------------------------------
 * Commands to several servers
 * ----------------------------------------------------------------
 */

/*
 * Send each cmds[i].sql (when not NULL) as a simple Query to its session's
 * connection, all at once, then read the answers until every connection is
 * ready again, or until the command's deadline (0: none) passes; such a
 * command is marked failed and timed_out, and its connection stays busy.
 * Outside abort paths notices are relayed and the first error of each
 * command is kept; abort paths (in_abort) relay and raise nothing.
 */
static void
run_commands(PgaXactCmd *cmds, int n, bool in_abort)
{
	PgaConn   **conns = palloc(sizeof(PgaConn *) * Max(n, 1));
	PgaXactCmd **waiting = palloc(sizeof(PgaXactCmd *) * Max(n, 1));
	int			nwaiting = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		PgaXactCmd *cmd = &cmds[i];
		PgaConn    *conn = cmd->entry->session->conn;

		if (cmd->sql == NULL)
			continue;
		cmd->request_id = pgw_conn_query(PgaConnProto(conn), cmd->sql);
		if (cmd->request_id == 0)
		{
			cmd->failed = true;
			continue;
		}
		conns[nwaiting] = conn;
		waiting[nwaiting++] = cmd;
	}

	while (nwaiting > 0)
	{
		pgw_event	ev;
		TimestampTz deadline = 0;
		PgaConn    *c;
		PgaXactCmd *cmd = NULL;
		int			k;

		for (k = 0; k < nwaiting; k++)
		{
			if (waiting[k]->deadline != 0 &&
				(deadline == 0 || waiting[k]->deadline < deadline))
				deadline = waiting[k]->deadline;
		}
		c = PgaDriverNextEvent(conns, nwaiting, &ev, deadline);
		if (c == NULL)
		{
			TimestampTz now = GetCurrentTimestamp();
			bool		expired = false;

			/* give up on the commands whose time is over */
			for (k = 0; k < nwaiting; k++)
			{
				if (waiting[k]->deadline != 0 && waiting[k]->deadline <= now)
				{
					waiting[k]->failed = true;
					waiting[k]->timed_out = true;
					conns[k] = conns[nwaiting - 1];
					waiting[k] = waiting[nwaiting - 1];
					nwaiting--;
					k--;
					expired = true;
				}
			}
			if (expired)
				continue;
			break;				/* every connection broken */
		}
		for (k = 0; k < nwaiting; k++)
		{
			if (conns[k] == c)
			{
				cmd = waiting[k];
				break;
			}
		}
		Assert(cmd != NULL);

		switch ((int) ev.type)
		{
			case PGW_EV_NOTICE:
				if (!in_abort)
					PgaRelayNotice(&ev.msg.u.error, cmd->entry->session->label);
				continue;
			case PGW_EV_NOTIFICATION:
				PgaSessionQueueNotification(cmd->entry->session, &ev.msg);
				continue;
			case PGW_EV_ERROR:
				if (ev.request_id == cmd->request_id)
				{
					if (!cmd->failed && !in_abort)
						cmd->error = PgaRemoteErrorCopy(&ev.msg.u.error);
					cmd->failed = true;
				}
				continue;
			case PGW_EV_COMMAND_COMPLETE:
				if (ev.request_id == cmd->request_id)
					strlcpy(cmd->tag, ev.msg.u.command_complete.tag, sizeof(cmd->tag));
				continue;
			case PGW_EV_READY:
				if (ev.request_id != cmd->request_id)
					continue;	/* a request queued earlier */
				cmd->done = true;
				break;
			case PGA_EV_BROKEN:
				cmd->failed = true;
				break;
			default:
				continue;
		}
		/* this connection is done */
		conns[k] = conns[nwaiting - 1];
		waiting[k] = waiting[nwaiting - 1];
		nwaiting--;
	}

	/* connections that broke without a word */
	for (i = 0; i < nwaiting; i++)
		waiting[i]->failed = true;
	pfree(conns);
	pfree(waiting);
}

/* ----------------------------------------------------------------
 * Hooks of connection.c
 * ----------------------------------------------------------------
 */

void
PgaXactBeforeRequest(PgaSession *s)
{
	PgaXactEntry *e = entry_find(s);
	int			level;
	StringInfoData sql;

	if (e == NULL)
		return;
	if (entry_started(e))
		check_remote_status(e);

	level = GetCurrentTransactionNestLevel();
	initStringInfo(&sql);
	if (!entry_started(e))
	{
		appendStringInfoString(&sql, s->xact_begin);
		pfree(s->xact_begin);
		s->xact_begin = NULL;
		e->conn = s->conn;
	}
	if (e->release_level > 0)
	{
		appendStringInfo(&sql, "%sRELEASE SAVEPOINT pgasync_s%d",
						 sql.len > 0 ? "; " : "", e->release_level);
		e->release_level = 0;
	}
	while (s->xact_depth < level)
	{
		s->xact_depth++;
		appendStringInfo(&sql, "%sSAVEPOINT pgasync_s%d",
						 sql.len > 0 ? "; " : "", s->xact_depth);
	}
	if (sql.len > 0 && pgw_conn_query(PgaConnProto(s->conn), sql.data) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_EXCEPTION),
				 errmsg("could not send query to remote server %s", s->label),
				 errdetail_internal("%s", pgw_conn_errmsg(PgaConnProto(s->conn)))));
	pfree(sql.data);
}

void
PgaXactBeforeReconnect(PgaSession *s)
{
	PgaXactEntry *e = entry_find(s);

	/* before the BEGIN went out, a new connection is as good */
	if (e != NULL && entry_started(e))
		raise_lost(s);
}

void
PgaXactCheckDisconnect(PgaSession *s)
{
	if (PgaSessionInRemoteXact(s))
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("cannot close connection %s inside its remote transaction", s->label),
				 errhint("Commit or roll back the local transaction first.")));
}

/* ----------------------------------------------------------------
 * Transaction callbacks
 * ----------------------------------------------------------------
 */

/*
 * Commit every remote transaction: COMMIT goes to all servers at once, then
 * the answers are collected.  A failure is raised, which aborts the local
 * transaction; remote transactions that committed meanwhile stay committed
 * (this is not two-phase commit), and a warning names them.
 */
static void
xact_pre_commit(void)
{
	PgaXactCmd *cmds;
	PgaXactCmd *failed = NULL;
	int			n = xact_nentries;
	int			i;

	if (n == 0)
		return;

	/* send nothing unless every remote transaction can commit */
	for (i = 0; i < n; i++)
	{
		PgaXactEntry *e = &xact_entries[i];

		if (!entry_started(e))
			continue;
		check_remote_status(e);
		/* a query sent with pgasync.send() belongs to the transaction */
		if (PgaConnIsBusy(e->session->conn))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
					 errmsg("connection %s has a query in progress", e->session->label),
					 errdetail("Its remote transaction cannot commit before the query ends."),
					 errhint("Read its result with pgasync.result() before the local transaction commits.")));
	}

	cmds = palloc0(sizeof(PgaXactCmd) * n);
	for (i = 0; i < n; i++)
	{
		PgaSession *s = xact_entries[i].session;

		cmds[i].entry = &xact_entries[i];
		if (!entry_started(&xact_entries[i]))
			continue;
		cmds[i].sql = "COMMIT";
		/* statement_timeout is off by now; command_timeout still applies */
		if (s->opts.command_timeout_ms > 0)
			cmds[i].deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														   s->opts.command_timeout_ms);
	}
	run_commands(cmds, n, false);

	for (i = 0; i < n; i++)
	{
		PgaXactCmd *cmd = &cmds[i];

		if (cmd->sql != NULL && failed == NULL &&
			(cmd->failed || !cmd->done || strcmp(cmd->tag, "COMMIT") != 0))
			failed = cmd;
	}
	if (failed != NULL)
	{
		for (i = 0; i < n; i++)
		{
			PgaXactCmd *cmd = &cmds[i];

			if (cmd->sql != NULL && cmd != failed && cmd->done &&
				!cmd->failed && strcmp(cmd->tag, "COMMIT") == 0)
				ereport(WARNING,
						(errmsg("remote transaction on %s was committed, but the local transaction will roll back",
								cmd->entry->session->label),
						 errdetail("Committing the remote transaction on %s failed.",
								   failed->entry->session->label)));
		}
	}

	/* the remote transactions are over, however they ended */
	{
		const char *label = failed ? failed->entry->session->label : NULL;

		entries_remove_all();
		if (failed == NULL)
			return;
		if (failed->error != NULL)
		{
			PgaRemoteError *err = failed->error;

			err->context = err->context ?
				psprintf("%s\ncommitting the remote transaction", err->context) :
				pstrdup("committing the remote transaction");
			PgaRaiseRemoteError(ERROR, err, label, "COMMIT");
		}
		if (failed->timed_out)
			ereport(ERROR,
					(errcode(ERRCODE_TRANSACTION_RESOLUTION_UNKNOWN),
					 errmsg("remote COMMIT on %s did not finish within command_timeout", label),
					 errdetail("Whether the remote transaction committed is unknown.")));
		if (failed->done)
			ereport(ERROR,
					(errcode(ERRCODE_TRANSACTION_ROLLBACK),
					 errmsg("remote transaction on %s was rolled back instead of committed", label),
					 errdetail("The remote server answered COMMIT with \"%s\".", failed->tag)));
		ereport(ERROR,
				(errcode(ERRCODE_TRANSACTION_RESOLUTION_UNKNOWN),
				 errmsg("connection to %s was lost while committing its remote transaction", label),
				 errdetail("Whether the remote transaction committed is unknown.")));
	}
}

/*
 * Send cmds (set up by the caller), wait a bounded time, and close the
 * connections that did not end up in the expected transaction status.
 * Never raises.
 */
static void
abort_commands(PgaXactCmd *cmds, int n)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   PGA_XACT_ABORT_TIMEOUT_MS);
	int			i;

	for (i = 0; i < n; i++)
		cmds[i].deadline = deadline;
	run_commands(cmds, n, true);
	for (i = 0; i < n; i++)
	{
		PgaXactCmd *cmd = &cmds[i];

		if (cmd->sql == NULL)
			continue;
		if (cmd->failed || !cmd->done ||
			!entry_alive(cmd->entry) ||
			pgw_conn_tx_status(PgaConnProto(cmd->entry->session->conn)) != cmd->expect_status)
			entry_close(cmd->entry);
	}
}

/* Should the remote transaction of e be rolled back (and can it be)? */
static bool
needs_rollback(PgaXactEntry *e)
{
	PgaSession *s = e->session;

	if (!entry_started(e) || !entry_alive(e))
		return false;
	if (PgaConnIsBusy(s->conn))
	{
		/* the driver's abort handling should have drained it */
		entry_close(e);
		return false;
	}
	return pgw_conn_tx_status(PgaConnProto(s->conn)) != 'I';
}

/* Roll back every remote transaction; close connections that do not answer. */
static void
xact_abort(void)
{
	PgaXactCmd *cmds;
	int			n = xact_nentries;
	int			i;

	if (n == 0)
		return;
	cmds = palloc0(sizeof(PgaXactCmd) * n);
	for (i = 0; i < n; i++)
	{
		cmds[i].entry = &xact_entries[i];
		if (needs_rollback(&xact_entries[i]))
		{
			cmds[i].sql = "ROLLBACK";
			cmds[i].expect_status = 'I';
		}
	}
	abort_commands(cmds, n);
	pfree(cmds);
	entries_remove_all();
}

void
PgaXactCallback(XactEvent event)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			xact_pre_commit();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (xact_nentries > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that has open pgasync remote transactions"),
						 errdetail("pgasync does not take part in two-phase commit.")));
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			xact_abort();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			entries_remove_all();
			break;
		default:
			break;
	}
}

/*
 * A local subtransaction commits: its savepoints are released with the next
 * request, and a remote transaction begun inside it now belongs to the
 * parent.
 */
static void
subxact_pre_commit(int level)
{
	int			i;

	for (i = 0; i < xact_nentries; i++)
	{
		PgaXactEntry *e = &xact_entries[i];
		PgaSession *s = e->session;

		if (e->base >= level)
		{
			e->base = level - 1;
			s->xact_depth = level - 1;
		}
		else if (s->xact_depth >= level)
		{
			s->xact_depth = level - 1;
			e->release_level = level;
		}
	}
}

/*
 * A local subtransaction aborts: roll back to its savepoints, and roll back
 * remote transactions begun inside it.  A connection that fails at that is
 * closed; its remote transaction is lost, and the local one cannot commit.
 */
static void
subxact_abort(int level)
{
	PgaXactCmd *cmds;
	int			n = xact_nentries;
	int			i;

	if (n == 0)
		return;
	cmds = palloc0(sizeof(PgaXactCmd) * n);
	for (i = 0; i < n; i++)
	{
		PgaXactEntry *e = &xact_entries[i];
		PgaSession *s = e->session;

		cmds[i].entry = e;
		if (e->base >= level)
		{
			e->ended = true;
			if (needs_rollback(e))
			{
				cmds[i].sql = "ROLLBACK";
				cmds[i].expect_status = 'I';
			}
		}
		else if (s->xact_depth >= level)
		{
			s->xact_depth = level - 1;
			e->release_level = 0;
			if (entry_started(e) && entry_alive(e) && !PgaConnIsBusy(s->conn))
			{
				cmds[i].sql = psprintf("ROLLBACK TO SAVEPOINT pgasync_s%d; RELEASE SAVEPOINT pgasync_s%d",
									   level, level);
				cmds[i].expect_status = 'T';
			}
			else if (entry_started(e) && entry_alive(e))
				entry_close(e);
		}
	}

	abort_commands(cmds, n);
	pfree(cmds);
	entries_remove_ended();
}

void
PgaXactSubCallback(SubXactEvent event)
{
	if (xact_nentries == 0)
		return;
	if (event == SUBXACT_EVENT_PRE_COMMIT_SUB)
		subxact_pre_commit(GetCurrentTransactionNestLevel());
	else if (event == SUBXACT_EVENT_ABORT_SUB)
		subxact_abort(GetCurrentTransactionNestLevel());
}

/* ----------------------------------------------------------------
 * pgasync.begin()
 * ----------------------------------------------------------------
 */

/* The SQL spelling of an isolation level given as text, or an error. */
static const char *
isolation_keyword(const char *name)
{
	static const char *const levels[] = {
		"READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"
	};
	char	   *norm = pstrdup(name);
	char	   *p;
	int			i;

	/* asyncpg spells them with underscores */
	for (p = norm; *p; p++)
	{
		if (*p == '_')
			*p = ' ';
	}
	for (i = 0; i < lengthof(levels); i++)
	{
		if (pg_strcasecmp(norm, levels[i]) == 0)
			return levels[i];
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid transaction isolation level \"%s\"", name),
			 errhint("Use \"read committed\", \"repeatable read\", \"serializable\" or \"read uncommitted\", or NULL for the remote server's default.")));
	return NULL;				/* keep compiler quiet */
}

/*
 * pgasync.begin(target text, isolation text DEFAULT NULL,
 *				 readonly boolean DEFAULT false,
 *				 deferrable boolean DEFAULT false) RETURNS void
 *
 * Start a remote transaction on target that commits and rolls back with
 * the local transaction.  The BEGIN goes out with the next request.
 */
Datum
pgasync_begin(PG_FUNCTION_ARGS)
{
	const char *isolation = NULL;
	char	   *target;
	PgaSession *s;
	StringInfoData sql;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be null")));
	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("readonly and deferrable must not be null")));
	target = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!PG_ARGISNULL(1))
		isolation = isolation_keyword(text_to_cstring(PG_GETARG_TEXT_PP(1)));

	s = PgaSessionGet(target);
	if (PgaSessionInRemoteXact(s))
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("remote transaction already started on %s", s->label)));
	PgaSessionClaim(s);
	if (PgaConnIsBusy(s->conn) || pgw_conn_tx_status(PgaConnProto(s->conn)) != 'I')
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("connection %s is inside a transaction that pgasync.begin() did not start", s->label),
				 errhint("End it with pgasync.execute(target, 'COMMIT') or pgasync.execute(target, 'ROLLBACK') first.")));

	initStringInfo(&sql);
	appendStringInfoString(&sql, "BEGIN");
	if (isolation != NULL)
		appendStringInfo(&sql, " ISOLATION LEVEL %s", isolation);
	if (PG_GETARG_BOOL(2))
		appendStringInfoString(&sql, " READ ONLY");
	if (PG_GETARG_BOOL(3))
		appendStringInfoString(&sql, " DEFERRABLE");

	s->xact_begin = MemoryContextStrdup(s->mcxt, sql.data);
	s->xact_depth = GetCurrentTransactionNestLevel();
	(void) entry_add(s, s->xact_depth);
	pfree(sql.data);
	PgaSessionRelease(s);
	PG_RETURN_VOID();
}
