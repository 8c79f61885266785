/*-------------------------------------------------------------------------
 *
 * notify.c
 *	  LISTEN/NOTIFY on remote servers: pgasync.listen, pgasync.unlisten and
 *	  pgasync.notifications.
 *
 * A remote server sends a NotificationResponse whenever a channel the
 * session listens on is notified, while the session is idle.  pgasync
 * keeps them in its session's queue (PgaSessionQueueNotification, at most
 * PGA_MAX_QUEUED_NOTIFICATIONS, the oldest dropped first) wherever they
 * come in: during a query, or when an idle connection is next used.
 * pgasync.notifications() hands out and removes what is queued, and can
 * wait on the connection for the next ones.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "connection.h"
#include "pgasync.h"
#include "query.h"
#include "remote_error.h"

PG_FUNCTION_INFO_V1(pgasync_listen);
PG_FUNCTION_INFO_V1(pgasync_unlisten);
PG_FUNCTION_INFO_V1(pgasync_notifications);

/* Longer waits than this (about 31 years) have no deadline at all. */
#define PGA_MAX_WAIT_SECONDS 1e9

static char *
channel_arg(FunctionCallInfo fcinfo)
{
	char	   *channel = PgaArgText(fcinfo, 1, "channel");

	if (channel[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("channel name cannot be empty")));
	return channel;
}

/* Run sql on target; returns the session (released already). */
static PgaSession *
run_command(const char *target, const char *sql)
{
	PgaQueryRun run;

	PgaQueryRunInit(&run, target, sql);
	PgaQueryRunSimple(&run);
	PgaSessionRelease(run.session);
	return run.session;
}

/* pgasync.listen(target text, channel text) RETURNS void */
Datum
pgasync_listen(PG_FUNCTION_ARGS)
{
	char	   *target = PgaArgText(fcinfo, 0, "target");
	char	   *channel = channel_arg(fcinfo);

	PgaSession *s;

	s = run_command(target, psprintf("LISTEN %s", quote_identifier(channel)));
	/* a new connection would not listen: see pgasync_notifications */
	s->listening_since = s->opened_at;
	PG_RETURN_VOID();
}

/*
 * pgasync.unlisten(target text, channel text) RETURNS void
 *
 * Channel '*' stops listening on every channel.
 */
Datum
pgasync_unlisten(PG_FUNCTION_ARGS)
{
	char	   *target = PgaArgText(fcinfo, 0, "target");
	char	   *channel = channel_arg(fcinfo);

	if (strcmp(channel, "*") == 0)
		run_command(target, "UNLISTEN *")->listening_since = 0;
	else
		run_command(target, psprintf("UNLISTEN %s", quote_identifier(channel)));
	PG_RETURN_VOID();
}

/*
 * Handle an event of an idle connection: keep notifications, relay
 * notices, raise a failure.
 */
static void
idle_event(PgaSession *s, PgaConn *conn, pgw_event *ev)
{
	switch ((int) ev->type)
	{
		case PGW_EV_NOTIFICATION:
			PgaSessionQueueNotification(s, &ev->msg);
			break;
		case PGW_EV_NOTICE:
			PgaRelayNotice(&ev->msg.u.error, s->label);
			break;
		case PGW_EV_ERROR:
			/* only a FATAL one can come while idle: the server is leaving */
			PgaRaiseRemoteError(ERROR, PgaRemoteErrorCopy(&ev->msg.u.error),
								s->label, NULL);
			break;
		case PGA_EV_BROKEN:
			PgaRaiseConnFailure(conn);
			break;
		default:
			break;
	}
}

/*
 * Wait up to timeout seconds (with no deadline when infinite) until at
 * least one notification has come, then take in whatever else has come
 * with it.  Interrupts are processed while waiting.
 */
static void
wait_for_notifications(PgaSession *s, double timeout)
{
	TimestampTz deadline = 0;
	pgw_event	ev;

	if (timeout < PGA_MAX_WAIT_SECONDS)
		deadline = GetCurrentTimestamp() + Max((int64) (timeout * USECS_PER_SEC), 1);

	while (dlist_is_empty(&s->notifications))
	{
		PgaConn    *c = PgaDriverNextEvent(&s->conn, 1, &ev, deadline);

		if (c == NULL)
		{
			if (PgaConnGetPhase(s->conn) == PGA_PHASE_BROKEN)
				PgaRaiseConnFailure(s->conn);
			return;				/* timed out */
		}
		idle_event(s, c, &ev);
	}
	while (PgaConnPollEvent(s->conn, &ev))
		idle_event(s, s->conn, &ev);
}

/*
 * pgasync.notifications(target text, wait_timeout float8 DEFAULT 0)
 *		RETURNS TABLE(channel text, payload text, sender_pid int)
 *
 * Returns the notifications queued for the target's connection, oldest
 * first, and removes them from the queue.  When none are queued and
 * wait_timeout is positive, waits up to that many seconds ('infinity':
 * without limit) for one to come.
 */
Datum
pgasync_notifications(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *target = PgaArgText(fcinfo, 0, "target");
	double		timeout = PG_ARGISNULL(1) ? 0 : PG_GETARG_FLOAT8(1);
	int			encoding = GetDatabaseEncoding();
	PgaSession *s;
	dlist_iter	iter;
	dlist_mutable_iter miter;

	if (isnan(timeout))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wait_timeout must not be NaN")));

	InitMaterializedSRF(fcinfo, 0);
	s = PgaSessionGet(target);
	PgaSessionClaim(s);

	/*
	 * A connection that was lost was replaced without its LISTENs: say so
	 * once, rather than wait for notifications that cannot come.
	 */
	if (s->listening_since != 0 && s->listening_since != s->opened_at)
	{
		s->listening_since = 0;
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("connection to remote server %s was lost after pgasync.listen()",
						s->label),
				 errdetail("pgasync reconnected, and the new connection listens on no channel."),
				 errhint("Call pgasync.listen() again.")));
	}
	if (dlist_is_empty(&s->notifications) && timeout > 0)
		wait_for_notifications(s, timeout);

	dlist_foreach(iter, &s->notifications)
	{
		PgaNotification *n = dlist_container(PgaNotification, node, iter.cur);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		/* the remote server talks in this database's encoding; check it */
		(void) pg_verify_mbstr(encoding, n->channel, strlen(n->channel), false);
		(void) pg_verify_mbstr(encoding, n->payload, strlen(n->payload), false);
		values[0] = CStringGetTextDatum(n->channel);
		values[1] = CStringGetTextDatum(n->payload);
		values[2] = Int32GetDatum(n->sender_pid);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	/* all of them are in the result: forget them */
	dlist_foreach_modify(miter, &s->notifications)
	{
		PgaNotification *n = dlist_container(PgaNotification, node, miter.cur);

		dlist_delete(&n->node);
		pfree(n->channel);
		pfree(n->payload);
		pfree(n);
	}
	s->nnotifications = 0;
	PgaSessionRelease(s);
	return (Datum) 0;
}
