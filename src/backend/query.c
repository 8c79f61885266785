/*-------------------------------------------------------------------------
 *
 * query.c
 *	  The query functions: pgasync.fetch, fetchrow, fetchval, execute and
 *	  fetch_json.
 *
 * Every call with a result row type goes through the extended protocol
 * with a prepared statement from the connection's cache: a cache hit costs
 * one round trip (Bind, Execute, Sync); a miss first prepares the statement
 * (Parse, Describe, Sync) to learn the remote column types, so each column
 * can be requested in binary when the types match.  Rows are decoded into
 * the result tuplestore as they arrive; errors are collected until the
 * server is ready again, so the connection stays usable, and then raised
 * with the remote SQLSTATE, message, detail, hint and context.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/tupdesc.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "codec.h"
#include "connection.h"
#include "query.h"
#include "remote_error.h"

PG_FUNCTION_INFO_V1(pgasync_fetch);
PG_FUNCTION_INFO_V1(pgasync_fetchrow);
PG_FUNCTION_INFO_V1(pgasync_fetchval);
PG_FUNCTION_INFO_V1(pgasync_execute);
PG_FUNCTION_INFO_V1(pgasync_fetch_json);

/* Timeout for getting a connection back to idle after a command timeout */
#define PGA_CANCEL_TIMEOUT_MS 1000

static TimestampTz
command_deadline(PgaSession *s)
{
	if (s->opts.command_timeout_ms <= 0)
		return 0;
	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), s->opts.command_timeout_ms);
}

/*
 * Wait for the next event of one session's request, handling what every
 * caller handles the same way: notices, timeouts and broken connections.
 * Returns false when the request is over without a READY (never: raises).
 */
static void
next_event(PgaQueryRun *run, pgw_event *ev)
{
	for (;;)
	{
		PgaConn    *c = PgaDriverNextEvent(&run->session->conn, 1, ev, run->deadline);

		if (c == NULL)
		{
			PgaConn    *conn = run->session->conn;

			if (PgaConnGetPhase(conn) == PGA_PHASE_BROKEN)
			{
				if (run->error)
					PgaRaiseRemoteError(ERROR, run->error, run->session->label, run->sql);
				PgaRaiseConnFailure(conn);
			}
			/* command timeout: cancel the remote query, then report */
			PgaDriverCancelAndDrain(&conn, 1, PGA_CANCEL_TIMEOUT_MS);
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("canceling statement due to command timeout"),
					 errcontext("remote server %s", run->session->label)));
		}
		if (ev->type == PGW_EV_NOTICE)
		{
			PgaRelayNotice(&ev->msg.u.error, run->session->label);
			continue;
		}
		if (ev->type == PGA_EV_BROKEN)
		{
			if (run->error)
				PgaRaiseRemoteError(ERROR, run->error, run->session->label, run->sql);
			PgaRaiseConnFailure(c);
		}
		if (ev->type == PGW_EV_ERROR && run->error == NULL)
		{
			run->error = PgaRemoteErrorCopy(&ev->msg.u.error);
			if (ev->fatal)
				PgaRaiseRemoteError(ERROR, run->error, run->session->label, run->sql);
		}
		return;
	}
}

static pgw_field_desc *
copy_fields(const pgw_field_desc *src, int n)
{
	pgw_field_desc *dst = palloc(sizeof(pgw_field_desc) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
	{
		dst[i] = src[i];
		dst[i].name = pstrdup(src[i].name);
	}
	return dst;
}

/* Send what is queued; a connection that breaks meanwhile is raised. */
static void
send_request(PgaQueryRun *run)
{
	if (!PgaConnFlush(run->session->conn, run->deadline))
	{
		if (PgaConnGetPhase(run->session->conn) == PGA_PHASE_BROKEN)
			PgaRaiseConnFailure(run->session->conn);
	}
}

/*
 * Prepare st on the remote: Parse, Describe, Sync; remember the parameter
 * and row descriptions.  Raises the remote error (after the server is
 * ready again) if the statement does not parse.
 */
static void
prepare_statement(PgaQueryRun *run, PgaStatement *st)
{
	pgw_conn   *proto = PgaConnProto(run->session->conn);
	MemoryContext stcxt = GetMemoryChunkContext(st);
	pgw_event	ev;

	PgaSessionQueueCloses(run->session);
	if (!pgw_conn_parse(proto, st->name, run->sql, (uint16_t) st->nparams, st->param_types) ||
		!pgw_conn_describe(proto, 'S', st->name) ||
		pgw_conn_sync(proto) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_EXCEPTION),
				 errmsg("could not send query to remote server %s", run->session->label),
				 errdetail_internal("%s", pgw_conn_errmsg(proto))));
	send_request(run);
	for (;;)
	{
		next_event(run, &ev);
		if (ev.type == PGW_EV_ROW_DESCRIPTION && run->error == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(stcxt);

			st->nfields = ev.msg.u.row_description.nfields;
			st->fields = copy_fields(ev.msg.u.row_description.fields, st->nfields);
			MemoryContextSwitchTo(old);
		}
		else if (ev.type == PGW_EV_NO_DATA)
			st->nfields = -1;
		else if (ev.type == PGW_EV_READY)
			break;
	}
	run->round_trips++;
	if (run->error)
	{
		PgaRemoteError *err = run->error;

		PgaStatementForget(run->session, st);
		PgaRaiseRemoteError(ERROR, err, run->session->label, run->sql);
	}
}

/* The number of columns of tupdesc that are not dropped. */
static int
live_columns(TupleDesc tupdesc)
{
	int			n = 0;
	int			i;

	for (i = 0; i < tupdesc->natts; i++)
	{
		if (!TupleDescAttr(tupdesc, i)->attisdropped)
			n++;
	}
	return n;
}

/* The decoding plan for st and the local row type, cached on st. */
static PgaResultCodec *
statement_codec(PgaQueryRun *run, PgaStatement *st, TupleDesc tupdesc)
{
	MemoryContext cxt;
	MemoryContext old;

	if (st->codec != NULL && st->codec_desc != NULL &&
		equalTupleDescs(st->codec_desc, tupdesc) &&
		PgaResultCodecIsCurrent(st->codec))
		return st->codec;
	if (st->codec != NULL)
	{
		MemoryContextDelete(st->codec->mcxt);
		st->codec = NULL;
		st->codec_desc = NULL;
	}
	if (st->nfields < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("remote query does not return rows"),
				 errdetail("A column definition list was given for a command that returns no result."),
				 errcontext("remote server %s", run->session->label)));
	cxt = AllocSetContextCreate(GetMemoryChunkContext(st), "pgasync codec",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	st->codec = PgaResultCodecCreate(tupdesc, st->fields, st->nfields, false,
									 run->session->label, cxt);
	st->codec_desc = CreateTupleDescCopy(tupdesc);
	MemoryContextSwitchTo(old);
	return st->codec;
}

void
PgaQueryRunInit(PgaQueryRun *run, const char *target, const char *sql)
{
	memset(run, 0, sizeof(*run));
	run->session = PgaSessionGet(target);
	run->sql = sql;
	run->deadline = command_deadline(run->session);
	run->max_rows = 0;
}

/*
 * Run sql with params through the extended protocol.  Results go to
 * run->on_row (decoded through a codec when run->tupdesc is set, or given
 * raw otherwise).  Raises remote errors after the server is ready again.
 */
void
PgaQueryRunExtended(PgaQueryRun *run, PgaParams *params)
{
	PgaSession *s = run->session;
	pgw_conn   *proto;
	PgaStatement *st;
	PgaResultCodec *codec = NULL;
	pgw_event	ev;
	int			i;
	int16		text_format = 0;
	MemoryContext rowcxt;

	st = PgaStatementLookup(s, run->sql, params->nparams, params->types);

	/*
	 * A cached statement whose result no longer fits the column definition
	 * list may describe a result that has changed on the remote server since
	 * it was prepared (a column was added, say): prepare it anew rather than
	 * fail on the stale description for as long as it is cached.
	 */
	if (st != NULL && run->tupdesc != NULL &&
		st->nfields != live_columns(run->tupdesc))
	{
		PgaStatementForget(s, st);
		st = NULL;
	}
	if (st == NULL)
	{
		st = PgaStatementCreate(s, run->sql, params->nparams, params->types, true);
		prepare_statement(run, st);
	}
	run->statement = st;
	if (run->tupdesc != NULL)
		codec = statement_codec(run, st, run->tupdesc);

	proto = PgaConnProto(s->conn);
	PgaSessionQueueCloses(s);
	if (!pgw_conn_bind_begin(proto, "", st->name, (uint16_t) params->nparams,
							 params->formats, (uint16_t) params->nparams))
		goto send_failed;
	for (i = 0; i < params->nparams; i++)
	{
		if (!pgw_conn_bind_param(proto, params->values[i],
								 params->values[i] ? params->lengths[i] : -1))
			goto send_failed;
	}
	if (codec != NULL)
	{
		if (!pgw_conn_bind_end(proto, (uint16_t) codec->nremote, codec->formats))
			goto send_failed;
	}
	else if (!pgw_conn_bind_end(proto, 1, &text_format))
		goto send_failed;
	if (!pgw_conn_execute(proto, "", run->max_rows) || pgw_conn_sync(proto) == 0)
		goto send_failed;
	send_request(run);
	s->queries++;
	s->last_used = GetCurrentTimestamp();

	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pgasync row",
								   ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		next_event(run, &ev);
		switch (ev.type)
		{
			case PGW_EV_DATA_ROW:
				if (run->error == NULL && run->on_row != NULL)
				{
					MemoryContext old = MemoryContextSwitchTo(rowcxt);

					run->on_row(run, codec, st, ev.msg.u.data_row.columns,
								ev.msg.u.data_row.ncolumns);
					MemoryContextSwitchTo(old);
					/* rows are stored by now: free their scratch in batches */
					if ((run->rows & 255) == 255)
						MemoryContextReset(rowcxt);
				}
				run->rows++;
				break;
			case PGW_EV_COMMAND_COMPLETE:
				run->command_tag = pstrdup(ev.msg.u.command_complete.tag);
				break;
			case PGW_EV_EMPTY_QUERY:
				run->command_tag = pstrdup("");
				break;
			default:
				break;
		}
		if (ev.type == PGW_EV_READY)
			break;
	}
	MemoryContextDelete(rowcxt);
	run->round_trips++;

	if (run->error)
	{
		/* a statement the server no longer accepts is dropped from the cache */
		if (run->error->routine &&
			strcmp(run->error->routine, "RevalidateCachedQuery") == 0)
			PgaStatementForget(s, st);
		PgaRaiseRemoteError(ERROR, run->error, s->label, run->sql);
	}
	if (st->name[0] == '\0')
		PgaStatementForget(s, st);
	return;

send_failed:
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_EXCEPTION),
			 errmsg("could not send query to remote server %s", s->label),
			 errdetail_internal("%s", pgw_conn_errmsg(proto))));
}

/*
 * Run sql through the simple query protocol (several statements allowed,
 * text results).  Returns the last command tag.
 */
void
PgaQueryRunSimple(PgaQueryRun *run)
{
	pgw_conn   *proto = PgaConnProto(run->session->conn);
	pgw_event	ev;

	if (pgw_conn_query(proto, run->sql) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_EXCEPTION),
				 errmsg("could not send query to remote server %s", run->session->label),
				 errdetail_internal("%s", pgw_conn_errmsg(proto))));
	send_request(run);
	run->session->queries++;
	run->session->last_used = GetCurrentTimestamp();
	for (;;)
	{
		next_event(run, &ev);
		if (ev.type == PGW_EV_COMMAND_COMPLETE && run->error == NULL)
			run->command_tag = pstrdup(ev.msg.u.command_complete.tag);
		else if (ev.type == PGW_EV_EMPTY_QUERY && run->error == NULL)
			run->command_tag = pstrdup("");
		else if (ev.type == PGW_EV_COPY_IN)
			(void) pgw_conn_copy_fail(proto, "COPY FROM STDIN is not supported by pgasync.execute");
		else if (ev.type == PGW_EV_READY)
			break;
		if (PgaConnPendingOutput(run->session->conn) > 0)
			send_request(run);
	}
	run->round_trips++;
	if (run->error)
		PgaRaiseRemoteError(ERROR, run->error, run->session->label, run->sql);
}

/* ----------------------------------------------------------------
 * SQL functions
 * ----------------------------------------------------------------
 */

static char *
arg_text(FunctionCallInfo fcinfo, int i, const char *what)
{
	if (PG_ARGISNULL(i))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(i));
}

typedef struct FetchState
{
	Tuplestorestate *tupstore;
	TupleDesc	tupdesc;
	Datum	   *values;
	bool	   *nulls;
	HeapTuple	first;			/* fetchrow: the first row, in the caller's context */
	MemoryContext callcxt;
	char	   *first_text;		/* fetchval */
	bool		have_first;
} FetchState;

static void
row_to_tuplestore(PgaQueryRun *run, PgaResultCodec *codec, PgaStatement *st,
				  const pgw_value *cols, int ncols)
{
	FetchState *fs = (FetchState *) run->arg;

	PgaDecodeRow(codec, cols, ncols, fs->values, fs->nulls);
	tuplestore_putvalues(fs->tupstore, fs->tupdesc, fs->values, fs->nulls);
}

static void
row_to_jsonb_store(PgaQueryRun *run, PgaResultCodec *codec, PgaStatement *st,
			const pgw_value *cols, int ncols)
{
	FetchState *fs = (FetchState *) run->arg;
	Datum		value;
	bool		isnull = false;

	value = JsonbPGetDatum(PgaRowToJsonb(st->fields, ncols, cols));
	tuplestore_putvalues(fs->tupstore, fs->tupdesc, &value, &isnull);
}

static void
first_row(PgaQueryRun *run, PgaResultCodec *codec, PgaStatement *st,
		  const pgw_value *cols, int ncols)
{
	FetchState *fs = (FetchState *) run->arg;
	MemoryContext old;

	if (fs->have_first)
		return;
	PgaDecodeRow(codec, cols, ncols, fs->values, fs->nulls);
	old = MemoryContextSwitchTo(fs->callcxt);
	fs->first = heap_form_tuple(fs->tupdesc, fs->values, fs->nulls);
	MemoryContextSwitchTo(old);
	fs->have_first = true;
}

static void
first_value(PgaQueryRun *run, PgaResultCodec *codec, PgaStatement *st,
			const pgw_value *cols, int ncols)
{
	FetchState *fs = (FetchState *) run->arg;
	MemoryContext old;

	if (fs->have_first)
		return;
	fs->have_first = true;
	if (ncols < 1)
		return;
	old = MemoryContextSwitchTo(fs->callcxt);
	fs->first_text = PgaValueToCString(&cols[0]);
	MemoryContextSwitchTo(old);
}

/* pgasync.fetch(target, query [, VARIADIC args]) RETURNS SETOF record */
Datum
pgasync_fetch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *target = arg_text(fcinfo, 0, "target");
	char	   *sql = arg_text(fcinfo, 1, "query");
	PgaParams	params;
	PgaQueryRun run;
	FetchState fs;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	PgaParamsFromArgs(fcinfo, 2, &params);
	PgaQueryRunInit(&run, target, sql);

	memset(&fs, 0, sizeof(fs));
	fs.tupstore = rsinfo->setResult;
	fs.tupdesc = rsinfo->setDesc;
	fs.values = palloc(sizeof(Datum) * fs.tupdesc->natts);
	fs.nulls = palloc(sizeof(bool) * fs.tupdesc->natts);
	run.tupdesc = fs.tupdesc;
	run.on_row = row_to_tuplestore;
	run.arg = &fs;
	PgaQueryRunExtended(&run, &params);
	return (Datum) 0;
}

/* pgasync.fetchrow(target, query [, VARIADIC args]) RETURNS record */
Datum
pgasync_fetchrow(PG_FUNCTION_ARGS)
{
	char	   *target = arg_text(fcinfo, 0, "target");
	char	   *sql = arg_text(fcinfo, 1, "query");
	TupleDesc	tupdesc;
	PgaParams	params;
	PgaQueryRun run;
	FetchState fs;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record"),
				 errhint("Call pgasync.fetchrow in FROM with a column definition list.")));
	tupdesc = BlessTupleDesc(tupdesc);
	PgaParamsFromArgs(fcinfo, 2, &params);
	PgaQueryRunInit(&run, target, sql);

	memset(&fs, 0, sizeof(fs));
	fs.tupdesc = tupdesc;
	fs.values = palloc(sizeof(Datum) * tupdesc->natts);
	fs.nulls = palloc(sizeof(bool) * tupdesc->natts);
	fs.callcxt = CurrentMemoryContext;
	run.tupdesc = tupdesc;
	run.on_row = first_row;
	run.arg = &fs;
	run.max_rows = 1;
	PgaQueryRunExtended(&run, &params);
	if (!fs.have_first)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(HeapTupleGetDatum(fs.first));
}

/* pgasync.fetchval(target, query [, VARIADIC args]) RETURNS text */
Datum
pgasync_fetchval(PG_FUNCTION_ARGS)
{
	char	   *target = arg_text(fcinfo, 0, "target");
	char	   *sql = arg_text(fcinfo, 1, "query");
	PgaParams	params;
	PgaQueryRun run;
	FetchState fs;

	PgaParamsFromArgs(fcinfo, 2, &params);
	PgaQueryRunInit(&run, target, sql);
	memset(&fs, 0, sizeof(fs));
	fs.callcxt = CurrentMemoryContext;
	run.on_row = first_value;
	run.arg = &fs;
	run.max_rows = 1;
	PgaQueryRunExtended(&run, &params);
	if (fs.first_text == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(fs.first_text));
}

/*
 * pgasync.execute(target, command [, VARIADIC args]) RETURNS text
 *
 * Without arguments the command goes as a simple query and may hold
 * several statements; the status of the last one is returned.
 */
Datum
pgasync_execute(PG_FUNCTION_ARGS)
{
	char	   *target = arg_text(fcinfo, 0, "target");
	char	   *sql = arg_text(fcinfo, 1, "command");
	PgaQueryRun run;

	PgaQueryRunInit(&run, target, sql);
	if (PG_NARGS() <= 2)
		PgaQueryRunSimple(&run);
	else
	{
		PgaParams	params;

		PgaParamsFromArgs(fcinfo, 2, &params);
		PgaQueryRunExtended(&run, &params);
	}
	if (run.command_tag == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(run.command_tag));
}

/* Set up a materialized SRF returning SETOF jsonb. */
static void
init_jsonb_srf(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;
	TupleDesc	tupdesc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tupdesc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(tupdesc, (AttrNumber) 1, "fetch_json", JSONBOID, -1, 0);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = tupdesc;
	MemoryContextSwitchTo(old);
}

/* pgasync.fetch_json(target, query [, VARIADIC args]) RETURNS SETOF jsonb */
Datum
pgasync_fetch_json(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *target = arg_text(fcinfo, 0, "target");
	char	   *sql = arg_text(fcinfo, 1, "query");
	PgaParams	params;
	PgaQueryRun run;
	FetchState fs;

	init_jsonb_srf(fcinfo);
	PgaParamsFromArgs(fcinfo, 2, &params);
	PgaQueryRunInit(&run, target, sql);
	memset(&fs, 0, sizeof(fs));
	fs.tupstore = rsinfo->setResult;
	fs.tupdesc = rsinfo->setDesc;
	run.on_row = row_to_jsonb_store;
	run.arg = &fs;
	PgaQueryRunExtended(&run, &params);
	return (Datum) 0;
}
