/*-------------------------------------------------------------------------
 *
 * fanout.c
 *	  One query, many servers, in parallel: pgasync.fanout() and
 *	  pgasync.fanout_execute().
 *
 * All targets are connected at once (non-blocking connects, all in flight
 * together on the driver's one WaitEventSet); each gets its query as soon
 * as it is connected, and rows are decoded from whichever server has data,
 * straight into the result tuplestore.  fanout() fails fast: the first
 * error raises, naming the target, and the abort path cancels the queries
 * still running elsewhere.  fanout_execute() reports every target's
 * outcome and never fails as a whole for one target.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "connection.h"
#include "fanout.h"
#include "pgasync.h"
#include "query.h"
#include "remote_error.h"

PG_FUNCTION_INFO_V1(pgasync_fanout);
PG_FUNCTION_INFO_V1(pgasync_fanout_execute);

#define PGA_CANCEL_TIMEOUT_MS 1000

/* One target of a fan-out */
typedef struct FanoutTarget
{
	char	   *name;			/* as given */
	PgaSession *session;
	PgaQueryRun run;
	bool		started;
	bool		finished;
	/* fanout_execute outcome */
	char	   *status;
	char	   *sqlstate;
	char	   *error;
	Datum		tag;			/* name as the tag column's type */
	bool		tag_set;
} FanoutTarget;

struct Fanout
{
	FanoutTarget *targets;
	int			ntargets;
	PgaConn   **conns;			/* connections still at work */
	int			nconns;
	const char *sql;
	PgaParams	params;
	bool		simple;			/* no parameters: simple protocol */
	bool		collect_errors; /* fanout_execute: report, do not raise */
	TimestampTz deadline;
	int			nest_level;		/* runs belong to this level, or 0: current */
	/* fanout(): rows, into tupstore or handed to sink */
	Tuplestorestate *tupstore;
	PgaRowSink *sink;
	TupleDesc	tupdesc;
	Datum	   *values;
	bool	   *nulls;
	/* the target-name column, typed by the column definition list */
	bool		tag_ready;
	FmgrInfo	tag_in;
	Oid			tag_ioparam;
	int32		tag_typmod;
};

/* Targets from a text[]; NULL elements and duplicates are errors. */
static void
fanout_targets(Fanout *f, ArrayType *arr)
{
	Datum	   *elems;
	bool	   *elemnulls;
	int			n;
	int			i;
	int			j;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("targets must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elemnulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("targets must not be empty")));
	f->targets = palloc0(sizeof(FanoutTarget) * n);
	f->ntargets = n;
	for (i = 0; i < n; i++)
	{
		if (elemnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("targets must not contain nulls")));
		f->targets[i].name = TextDatumGetCString(elems[i]);
		for (j = 0; j < i; j++)
		{
			if (strcmp(f->targets[i].name, f->targets[j].name) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("target \"%s\" is listed more than once",
								strchr(f->targets[i].name, '=') ? "(connection string)" : f->targets[i].name),
						 errdetail("Each target runs the query once, on a connection of its own.")));
		}
	}
}

/*
 * fanout_execute: resolve a target (and start its connection) in a
 * subtransaction, so that a target that cannot even be resolved (a bad
 * connection string, a missing password, no such server) is reported in
 * its row instead of failing the whole call.  Returns false then.
 */
static bool
resolve_target_reporting(FanoutTarget *t)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		t->session = PgaSessionGetNoWait(t->name);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		/* the connection now belongs to the enclosing level */
		PgaConnSetNestLevel(t->session->conn, GetCurrentTransactionNestLevel());
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		t->sqlstate = pstrdup(unpack_sql_state(edata->sqlerrcode));
		t->error = pstrdup(edata->message);
		t->finished = true;
		t->session = NULL;
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

static void start_target(Fanout *f, FanoutTarget *t);

/*
 * Resolve every target and start every connection that is not open yet;
 * all connects are in flight together.  The pgasync.max_connections
 * budget is checked up front.
 */
static void
fanout_open(Fanout *f)
{
	char	  **names = palloc(sizeof(char *) * f->ntargets);
	int			needed;
	int			i;

	for (i = 0; i < f->ntargets; i++)
		names[i] = f->targets[i].name;
	needed = PgaSessionsToOpen(names, f->ntargets);
	if (PgaDriverConnectionCount() + needed > pgasync_max_connections)
		ereport(ERROR,
				(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
				 errmsg("fan-out to %d targets needs %d new connections, but pgasync.max_connections allows %d more",
						f->ntargets, needed,
						Max(pgasync_max_connections - PgaDriverConnectionCount(), 0)),
				 errhint("Raise pgasync.max_connections or close connections with pgasync.disconnect().")));

	f->conns = palloc(sizeof(PgaConn *) * f->ntargets);
	f->nconns = 0;
	for (i = 0; i < f->ntargets; i++)
	{
		FanoutTarget *t = &f->targets[i];

		if (f->collect_errors)
		{
			if (!resolve_target_reporting(t))
				continue;
		}
		else
			t->session = PgaSessionGetNoWait(t->name);
		PgaSessionClaim(t->session);
		f->conns[f->nconns++] = t->session->conn;
		/* a connection already up gets its query at once */
		if (PgaConnGetPhase(t->session->conn) == PGA_PHASE_READY)
			start_target(f, t);
		if (t->session->opts.command_timeout_ms > 0)
		{
			TimestampTz d = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														t->session->opts.command_timeout_ms);

			if (f->deadline == 0 || d < f->deadline)
				f->deadline = d;
		}
	}
}

static FanoutTarget *
target_of(Fanout *f, PgaConn *conn)
{
	int			i;

	for (i = 0; i < f->ntargets; i++)
	{
		if (f->targets[i].session != NULL && f->targets[i].session->conn == conn)
			return &f->targets[i];
	}
	elog(ERROR, "connection not part of the fan-out");
	return NULL;
}

static void
drop_conn(Fanout *f, PgaConn *conn)
{
	int			i;

	for (i = 0; i < f->nconns; i++)
	{
		if (f->conns[i] == conn)
		{
			f->conns[i] = f->conns[--f->nconns];
			return;
		}
	}
}

/*
 * How a target is shown in results: its name, or for a connection string
 * the connection's display name (host:port/dbname), which never holds a
 * password.
 */
static char *
target_display(FanoutTarget *t, int index)
{
	if (strchr(t->name, '=') == NULL && strncmp(t->name, "postgres://", 11) != 0 &&
		strncmp(t->name, "postgresql://", 13) != 0)
		return t->name;
	if (t->session != NULL && t->session->conn != NULL)
		return pstrdup(PgaConnTarget(t->session->conn)->display_name);
	return psprintf("connection string %d", index + 1);
}

/* Rows of fanout(): tag with the target's name when asked to. */
static void
fanout_row(PgaQueryRun *run, PgaResultCodec *codec, PgaStatement *st,
		   const pgw_value *cols, int ncols)
{
	Fanout	   *f = (Fanout *) run->arg;
	FanoutTarget *t = (FanoutTarget *) run->owner;
	PgaRowSink *sink = f->sink;
	Datum	   *values = f->values;
	bool	   *nulls = f->nulls;

	if (sink == NULL)
		PgaDecodeRow(codec, cols, ncols, values, nulls);
	else if (PgaRowSinkDecode(sink, codec, cols, ncols))
	{
		values = sink->values;
		nulls = sink->nulls;
	}
	else
		return;
	if (codec->first_remote == 1)
	{
		if (!t->tag_set)
		{
			/*
			 * This runs in the per-row context, which is reset every few
			 * rows: the tag and the input function's cache must live as long
			 * as the call.
			 */
			MemoryContext old = MemoryContextSwitchTo(run->callcxt);

			if (!f->tag_ready)
			{
				Form_pg_attribute attr = TupleDescAttr(f->tupdesc, 0);
				Oid			infunc;

				getTypeInputInfo(attr->atttypid, &infunc, &f->tag_ioparam);
				fmgr_info(infunc, &f->tag_in);
				f->tag_typmod = attr->atttypmod;
				f->tag_ready = true;
			}
			t->tag = InputFunctionCall(&f->tag_in, target_display(t, (int) (t - f->targets)),
									   f->tag_ioparam, f->tag_typmod);
			t->tag_set = true;
			MemoryContextSwitchTo(old);
		}
		values[0] = t->tag;
		nulls[0] = false;
	}
	if (sink != NULL)
		sink->emit(sink->arg, values, nulls);
	else
		tuplestore_putvalues(f->tupstore, f->tupdesc, f->values, f->nulls);
}

static void
start_target(Fanout *f, FanoutTarget *t)
{
	PgaQueryRun *run = &t->run;

	memset(run, 0, sizeof(*run));
	run->session = t->session;
	run->sql = f->sql;
	run->callcxt = CurrentMemoryContext;
	run->owner = t;
	run->arg = f;
	if (f->tupdesc != NULL)
	{
		run->tupdesc = f->tupdesc;
		run->allow_tag = true;
		run->on_row = fanout_row;
	}
	if (f->simple)
		PgaQueryRunStartSimple(run);
	else
		PgaQueryRunStart(run, &f->params);
	if (f->nest_level > 0)
		PgaConnSetNestLevel(t->session->conn, f->nest_level);
	t->started = true;
}

/* Record a target's failure (fanout_execute), or raise it (fanout). */
static void
target_failed(Fanout *f, FanoutTarget *t, PgaConn *conn, const pgw_event *ev)
{
	if (!f->collect_errors)
	{
		if (ev != NULL && ev->type == PGW_EV_ERROR)
			PgaRaiseRemoteError(ERROR, PgaRemoteErrorCopy(&ev->msg.u.error),
								t->session->label, f->sql);
		PgaRaiseConnFailure(conn);
	}
	if (ev != NULL && ev->type == PGW_EV_ERROR)
	{
		t->sqlstate = ev->msg.u.error.sqlstate ? pstrdup(ev->msg.u.error.sqlstate) : NULL;
		t->error = pstrdup(ev->msg.u.error.message ? ev->msg.u.error.message : "remote error");
	}
	else
	{
		PgaFailure why = PgaConnGetFailure(conn);

		t->sqlstate = pstrdup(why == PGA_FAIL_CONNECT ? "08001" :
							  why == PGA_FAIL_PASSWORD_REQUIRED ? "2F003" : "08006");
		t->error = psprintf("%s: %s",
							why == PGA_FAIL_CONNECT ? "could not connect" :
							why == PGA_FAIL_PASSWORD_REQUIRED ? "password is required" :
							"connection lost",
							PgaConnErrorMessage(conn));
	}
	t->finished = true;
	drop_conn(f, conn);
}

/*
 * One turn of the event loop: connects finishing, queries starting on each
 * connection as soon as it is up, results from all of them as they
 * arrive.  Returns false once every target is finished.
 */
bool
PgaFanoutStep(Fanout *f)
{
	if (f->nconns > 0)
	{
		pgw_event	ev;
		PgaConn    *conn = PgaDriverNextEvent(f->conns, f->nconns, &ev, f->deadline);
		FanoutTarget *t;

		if (conn == NULL)
		{
			/* a command timeout, or every remaining connection broke */
			int			i;

			for (i = 0; i < f->nconns; i++)
			{
				if (PgaConnGetPhase(f->conns[i]) == PGA_PHASE_BROKEN)
				{
					t = target_of(f, f->conns[i]);
					target_failed(f, t, f->conns[i], NULL);
					i = -1;		/* the array changed */
				}
			}
			if (f->nconns == 0)
				return false;
			t = target_of(f, f->conns[0]);
			PgaDriverCancelAndDrain(f->conns, f->nconns, PGA_CANCEL_TIMEOUT_MS);
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("canceling statement due to command timeout"),
					 errcontext("remote server %s", t->session->label)));
		}
		t = target_of(f, conn);

		if (!t->started)
		{
			/* still connecting */
			if (ev.type == PGW_EV_CONNECTED)
				start_target(f, t);
			else if (ev.type == PGW_EV_NOTICE)
				PgaRelayNotice(&ev.msg.u.error, t->session->label);
			else if (ev.type == PGW_EV_ERROR || ev.type == PGA_EV_BROKEN)
				target_failed(f, t, conn, &ev);
			return true;
		}
		if (f->collect_errors &&
			(ev.type == PGA_EV_BROKEN || (ev.type == PGW_EV_ERROR && ev.fatal)))
		{
			target_failed(f, t, conn, &ev);
			return true;
		}
		if (!PgaQueryRunOnEvent(&t->run, &ev))
			return true;
		if (PgaQueryRunFinish(&t->run, !f->collect_errors))
			return true;		/* sent again after a stale statement */
		t->finished = true;
		drop_conn(f, conn);
		if (t->run.error != NULL)
		{
			t->sqlstate = t->run.error->sqlstate;
			t->error = t->run.error->message;
		}
		else
			t->status = t->run.command_tag ? pstrdup(t->run.command_tag) : NULL;
	}
	return f->nconns > 0;
}

static void
fanout_run(Fanout *f)
{
	while (PgaFanoutStep(f))
		;
}

static void
fanout_init(Fanout *f, FunctionCallInfo fcinfo, bool collect_errors)
{
	memset(f, 0, sizeof(*f));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("targets and query must not be null")));
	fanout_targets(f, PG_GETARG_ARRAYTYPE_P(0));
	f->sql = text_to_cstring(PG_GETARG_TEXT_PP(1));
	f->collect_errors = collect_errors;
	PgaParamsFromArgs(fcinfo, 2, &f->params);
	f->simple = (PG_NARGS() <= 2 && collect_errors);
}

/*
 * pgasync.fanout(targets text[], query text [, VARIADIC args]) RETURNS
 * SETOF record
 */
Datum
pgasync_fanout(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Fanout		f;
	int			i;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	fanout_init(&f, fcinfo, false);
	f.tupstore = rsinfo->setResult;
	f.tupdesc = rsinfo->setDesc;
	f.values = palloc(sizeof(Datum) * f.tupdesc->natts);
	f.nulls = palloc(sizeof(bool) * f.tupdesc->natts);
	fanout_open(&f);
	fanout_run(&f);
	for (i = 0; i < f.ntargets; i++)
		PgaSessionRelease(f.targets[i].session);
	return (Datum) 0;
}

Fanout *
PgaFanoutStart(FunctionCallInfo fcinfo, TupleDesc tupdesc, PgaRowSink *sink,
			   int nest_level)
{
	Fanout	   *f = palloc(sizeof(Fanout));

	fanout_init(f, fcinfo, false);
	f->tupdesc = tupdesc;
	f->sink = sink;
	f->nest_level = nest_level;
	fanout_open(f);
	return f;
}

void
PgaFanoutQuiet(Fanout *f)
{
	f->collect_errors = true;
}

int
PgaFanoutSessions(Fanout *f, PgaSession **sessions)
{
	int			n = 0;
	int			i;

	for (i = 0; i < f->ntargets; i++)
	{
		if (f->targets[i].session == NULL)
			continue;
		if (sessions != NULL)
			sessions[n] = f->targets[i].session;
		n++;
	}
	return n;
}

bool
PgaFanoutBusy(Fanout *f)
{
	int			i;

	for (i = 0; i < f->nconns; i++)
	{
		if (PgaConnGetPhase(f->conns[i]) == PGA_PHASE_BROKEN ||
			(PgaConnGetPhase(f->conns[i]) == PGA_PHASE_READY &&
			 !PgaConnIsBusy(f->conns[i])))
			return false;
	}
	return true;
}

void
PgaFanoutEnd(Fanout *f)
{
	int			i;

	for (i = 0; i < f->ntargets; i++)
	{
		if (f->targets[i].session != NULL)
			PgaSessionRelease(f->targets[i].session);
	}
}

/*
 * pgasync.fanout_execute(targets text[], command text [, VARIADIC args])
 * RETURNS TABLE(target text, status text, sqlstate text, error text)
 */
Datum
pgasync_fanout_execute(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Fanout		f;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	fanout_init(&f, fcinfo, true);
	fanout_open(&f);
	fanout_run(&f);
	for (i = 0; i < f.ntargets; i++)
	{
		FanoutTarget *t = &f.targets[i];
		Datum		values[4];
		bool		nulls[4];

		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(target_display(t, i));
		if (t->status)
			values[1] = CStringGetTextDatum(t->status);
		else
			nulls[1] = true;
		if (t->sqlstate)
			values[2] = CStringGetTextDatum(t->sqlstate);
		else
			nulls[2] = true;
		if (t->error)
			values[3] = CStringGetTextDatum(t->error);
		else
			nulls[3] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		if (t->session != NULL)
			PgaSessionRelease(t->session);
	}
	return (Datum) 0;
}
