/*-------------------------------------------------------------------------
 *
 * async.c
 *	  Asynchronous queries on named connections: pgasync.send(),
 *	  pgasync.is_busy(), pgasync.result() and pgasync.cancel().
 *
 * send() queues the query and returns at once; the rows wait, undecoded,
 * in the connection's input (and, once that fills, in the server, which
 * then simply waits: the socket gives backpressure) until result() is
 * called with a column definition list.  is_busy() looks at what arrived
 * without taking anything out, and reads at most PGA_ASYNC_PEEK_MAX of it
 * from the socket: past that the query counts as busy (the server waits
 * for us to read).  cancel() sends a CancelRequest and drains
 * the connection back to idle, so a canceled or abandoned query never
 * leaves the connection unusable.  A query whose transaction aborts is
 * canceled by the abort handling like any other remote work.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "connection.h"
#include "query.h"
#include "remote_error.h"

PG_FUNCTION_INFO_V1(pgasync_send);
PG_FUNCTION_INFO_V1(pgasync_is_busy);
PG_FUNCTION_INFO_V1(pgasync_result);
PG_FUNCTION_INFO_V1(pgasync_cancel);

#define PGA_CANCEL_TIMEOUT_MS 1000

/*
 * is_busy() reads what the server sent, so that it can see the end of the
 * result, but only up to this much: the rest of a big result waits in the
 * socket (and the server) until result(), instead of piling up in memory
 * with every call.
 */
#define PGA_ASYNC_PEEK_MAX (1024 * 1024)

/* Kept with an asynchronous query (in run->owner) */
typedef struct AsyncState
{
	uint64		bytes_in_at_send;	/* connection's bytes_in after sending */
} AsyncState;

/* A named connection (the only kind asynchronous queries run on). */
static PgaSession *
named_session(FunctionCallInfo fcinfo)
{
	char	   *name;
	PgaSession *s;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("connection name must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	s = PgaSessionGet(name);
	if (s->key[0] != 'n')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("pgasync connection \"%s\" does not exist", name),
				 errdetail("Asynchronous queries run on connections opened with pgasync.connect().")));
	return s;
}

/* pgasync.send(name, query [, VARIADIC args]) */
Datum
pgasync_send(PG_FUNCTION_ARGS)
{
	PgaSession *s = named_session(fcinfo);
	MemoryContext cxt;
	MemoryContext old;
	PgaQueryRun *run;
	PgaParams  *params;

	PgaSessionClaim(s);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("query must not be null")));

	/* the run outlives this call: keep it and its parameters with the session */
	cxt = AllocSetContextCreate(s->mcxt, "pgasync async query", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	run = palloc0(sizeof(PgaQueryRun));
	params = palloc0(sizeof(PgaParams));
	PgaParamsFromArgs(fcinfo, 2, params);
	run->session = s;
	run->sql = text_to_cstring(PG_GETARG_TEXT_PP(1));
	run->callcxt = cxt;
	MemoryContextSwitchTo(old);

	s->async_cxt = cxt;
	s->async = run;
	PG_TRY();
	{
		AsyncState *st = MemoryContextAllocZero(cxt, sizeof(AsyncState));

		PgaQueryRunStart(run, params);
		if (s->conn != NULL && PgaConnProto(s->conn) != NULL)
			st->bytes_in_at_send = pgw_conn_get_stats(PgaConnProto(s->conn))->bytes_in;
		run->owner = st;
	}
	PG_CATCH();
	{
		PgaSessionForgetAsync(s);
		PG_RE_THROW();
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

/* pgasync.is_busy(name): is a query sent with send() still running? */
Datum
pgasync_is_busy(PG_FUNCTION_ARGS)
{
	PgaSession *s = named_session(fcinfo);
	AsyncState *st;
	pgw_conn   *proto;

	if (s->async == NULL || s->conn == NULL)
		PG_RETURN_BOOL(false);
	st = (AsyncState *) s->async->owner;
	proto = PgaConnProto(s->conn);
	/* all read since send() is the answer, still unread: past the cap, wait */
	if (st == NULL || proto == NULL ||
		pgw_conn_get_stats(proto)->bytes_in - st->bytes_in_at_send < PGA_ASYNC_PEEK_MAX)
		PgaConnReceive(s->conn);
	if (PgaConnGetPhase(s->conn) != PGA_PHASE_READY)
		PG_RETURN_BOOL(false);	/* result() will report what happened */
	proto = PgaConnProto(s->conn);
	PG_RETURN_BOOL(pgw_conn_buffered_ready(proto) < pgw_conn_inflight(proto));
}

typedef struct AsyncResult
{
	Tuplestorestate *tupstore;
	TupleDesc	tupdesc;
	Datum	   *values;
	bool	   *nulls;
} AsyncResult;

static void
result_row(PgaQueryRun *run, PgaResultCodec *codec, PgaStatement *st,
		   const pgw_value *cols, int ncols)
{
	AsyncResult *rs = (AsyncResult *) run->arg;

	PgaDecodeRow(codec, cols, ncols, rs->values, rs->nulls);
	tuplestore_putvalues(rs->tupstore, rs->tupdesc, rs->values, rs->nulls);
}

/*
 * pgasync.result(name) RETURNS SETOF record: waits for the query sent with
 * send() and returns its rows (with a column definition list).
 */
Datum
pgasync_result(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PgaSession *s = named_session(fcinfo);
	PgaQueryRun *run = s->async;
	AsyncResult rs;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (run == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("connection %s has no query in progress", s->label),
				 errhint("Send one with pgasync.send().")));

	rs.tupstore = rsinfo->setResult;
	rs.tupdesc = rsinfo->setDesc;
	rs.values = palloc(sizeof(Datum) * rs.tupdesc->natts);
	rs.nulls = palloc(sizeof(bool) * rs.tupdesc->natts);
	run->arg = &rs;
	run->on_row = result_row;
	PgaQueryRunSetRowType(run, rs.tupdesc);
	PG_TRY();
	{
		PgaQueryRunComplete(run);
	}
	PG_FINALLY();
	{
		/* read to the end or failed: either way the query is over */
		if (s->conn == NULL || !PgaConnIsBusy(s->conn) || run->done)
			PgaSessionForgetAsync(s);
	}
	PG_END_TRY();
	return (Datum) 0;
}

/* pgasync.cancel(name): stop the query sent with send(), if any. */
Datum
pgasync_cancel(PG_FUNCTION_ARGS)
{
	PgaSession *s = named_session(fcinfo);
	bool		was_running;

	if (s->async == NULL)
		PG_RETURN_BOOL(false);
	was_running = s->conn != NULL && PgaConnIsBusy(s->conn);
	if (was_running)
		PgaDriverCancelAndDrain(&s->conn, 1, PGA_CANCEL_TIMEOUT_MS);
	PgaSessionForgetAsync(s);
	if (s->conn != NULL && PgaConnGetPhase(s->conn) == PGA_PHASE_BROKEN)
		PgaSessionReset(s);
	PG_RETURN_BOOL(was_running);
}
