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
#include "pool.h"
#include "pgasync.h"
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

static void
send_failed(PgaQueryRun *run)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_EXCEPTION),
			 errmsg("could not send query to remote server %s", run->session->label),
			 errdetail_internal("%s", pgw_conn_errmsg(PgaConnProto(run->session->conn)))));
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

/* Format codes asking for text in every column of tupdesc. */
static const int16 *
all_text(PgaQueryRun *run, TupleDesc tupdesc)
{
	return MemoryContextAllocZero(run->callcxt, sizeof(int16) * Max(tupdesc->natts, 1));
}

/*
 * The decoding plan for st and the local row type, cached on st.  With
 * requested (the formats of a request sent before the remote types were
 * known: a cache miss, or pgasync.send) the plan decodes what was asked
 * for and is not cached.
 */
static PgaResultCodec *
statement_codec(PgaQueryRun *run, PgaStatement *st, TupleDesc tupdesc,
				const int16 *requested)
{
	MemoryContext cxt;
	MemoryContext old;
	PgaResultCodec *codec;

	bool		text_only = (requested != NULL);

	if (!text_only && st->codec != NULL && st->codec_desc != NULL &&
		st->codec_tagged == run->allow_tag &&
		equalTupleDescs(st->codec_desc, tupdesc) &&
		PgaResultCodecIsCurrent(st->codec))
		return st->codec;
	if (!text_only && st->codec != NULL)
	{
		MemoryContextDelete(st->codec->mcxt);
		st->codec = NULL;
		st->codec_desc = NULL;
	}
	cxt = AllocSetContextCreate(text_only ? CurrentMemoryContext : GetMemoryChunkContext(st),
								"pgasync codec", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	codec = PgaResultCodecCreate(tupdesc, st->fields, st->nfields, run->allow_tag,
								 requested, run->session->label, cxt);
	if (!text_only)
	{
		st->codec = codec;
		st->codec_desc = CreateTupleDescCopy(tupdesc);
		st->codec_tagged = run->allow_tag;
	}
	MemoryContextSwitchTo(old);
	return codec;
}

/*
 * Does a result of st fit tupdesc?  If not, note why in run->local_error;
 * raise_local_error() reports it once the server is ready again.
 */
static bool
result_fits(PgaQueryRun *run, PgaStatement *st, TupleDesc tupdesc)
{
	if (st->nfields >= 0 &&
		(st->nfields == live_columns(tupdesc) ||
		 (run->allow_tag && st->nfields == live_columns(tupdesc) - 1)))
		return true;
	run->local_error = st->nfields < 0 ? "no rows" : "column count";
	run->local_nfields = st->nfields;
	run->local_ncolumns = live_columns(tupdesc);
	return false;
}

static void
raise_local_error(PgaQueryRun *run)
{
	if (run->local_nfields < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("remote query does not return rows"),
				 errdetail("A column definition list was given for a command that returns no result."),
				 errcontext("remote server %s", run->session->label)));
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("remote query result does not match the column definition list"),
			 errdetail_plural("The remote query returned %d column, but the column definition list has %d.",
							  "The remote query returned %d columns, but the column definition list has %d.",
							  run->local_nfields, run->local_nfields, run->local_ncolumns),
			 errcontext("remote server %s", run->session->label)));
}

/* Was the error the server's refusal to run a statement prepared before DDL? */
static bool
error_is_stale_statement(const PgaRemoteError *err)
{
	return err->routine != NULL && strcmp(err->routine, "RevalidateCachedQuery") == 0;
}

/* Does the error's message name the (named) statement st? */
static bool
error_names_statement(const PgaRemoteError *err, const PgaStatement *st)
{
	size_t		len = strlen(st->name);
	const char *p;

	if (len == 0 || err->message == NULL)
		return false;
	/* "pgasync_1" must not match "pgasync_12" */
	for (p = strstr(err->message, st->name); p != NULL; p = strstr(p + 1, st->name))
	{
		if (!isdigit((unsigned char) p[len]))
			return true;
	}
	return false;
}

/*
 * Was the error the server's answer to a Bind of cached statement st that
 * it no longer has?  DEALLOCATE ALL or DISCARD ALL run behind pgasync's
 * back leads to that, and so does a pooler that moved the session to
 * another server connection.
 */
static bool
error_is_missing_statement(const PgaRemoteError *err, const PgaStatement *st)
{
	return err->sqlstate != NULL && strcmp(err->sqlstate, "26000") == 0 &&
		error_names_statement(err, st);
}

/*
 * Did the server refuse the Bind of a cache miss because the result
 * formats guessed before the remote types were known do not fit the
 * result's column count?  Nothing ran: the run can be sent again, as a
 * cache hit whose row type check then reports the difference.
 */
static bool
error_is_bind_format_count(PgaQueryRun *run)
{
	const PgaRemoteError *err = run->error;

	return run->requested != NULL && run->parsed &&
		err->sqlstate != NULL && strcmp(err->sqlstate, "08P01") == 0 &&
		err->routine != NULL &&
		(strcmp(err->routine, "PortalSetResultFormat") == 0 ||
		 strcmp(err->routine, "exec_bind_message") == 0);
}

/*
 * Errors about prepared statements that pgasync made itself (the message
 * names the run's statement) point to a pooler in transaction mode, which
 * moves sessions between server connections: say what to do about it.
 */
static void
add_pooler_hint(PgaQueryRun *run)
{
	PgaRemoteError *err = run->error;

	if (err->hint != NULL || err->sqlstate == NULL || run->statement == NULL ||
		run->session->opts.statement_cache_size == 0)
		return;
	if ((strcmp(err->sqlstate, "26000") == 0 || strcmp(err->sqlstate, "42P05") == 0) &&
		error_names_statement(err, run->statement))
		err->hint = pstrdup("If the remote server is reached through a connection pooler in transaction mode (such as pgbouncer), set statement_cache_size to 0 for this target.");
}

void
PgaQueryRunInit(PgaQueryRun *run, const char *target, const char *sql)
{
	memset(run, 0, sizeof(*run));
	run->session = PgaSessionGet(target);
	PgaSessionClaim(run->session);
	run->sql = sql;
	run->deadline = command_deadline(run->session);
	run->max_rows = 0;
	run->callcxt = CurrentMemoryContext;
}

/*
 * Queue Parse (on a cache miss), Bind, Execute and Sync for st, after the
 * session's preamble (statement closes, savepoints).  On a miss the result
 * comes in text: the remote types are not known yet when the formats are
 * chosen.  Returns the codec for a hit (NULL for a miss or no row type).
 */
static PgaResultCodec *
queue_execute(PgaQueryRun *run, PgaStatement *st, bool miss, PgaParams *params)
{
	pgw_conn   *proto = PgaConnProto(run->session->conn);
	PgaResultCodec *codec = NULL;
	int16		text_format = 0;
	int			i;

	if (!miss && run->tupdesc != NULL)
	{
		if (!result_fits(run, st, run->tupdesc))
			return NULL;
		codec = statement_codec(run, st, run->tupdesc, NULL);
	}
	PgaSessionBeforeRequest(run->session);
	run->in_remote_xact = pgw_conn_tx_status(proto) != 'I' ||
		PgaSessionInRemoteXact(run->session);
	if (miss)
	{
		if (!pgw_conn_parse(proto, st->name, run->sql, (uint16_t) st->nparams, st->param_types) ||
			!pgw_conn_describe(proto, 'S', st->name))
			send_failed(run);
	}
	if (!pgw_conn_bind_begin(proto, "", st->name, (uint16_t) params->nparams,
							 params->formats, (uint16_t) params->nparams))
		send_failed(run);
	for (i = 0; i < params->nparams; i++)
	{
		if (!pgw_conn_bind_param(proto, params->values[i],
								 params->values[i] ? params->lengths[i] : -1))
			send_failed(run);
	}
	run->requested = NULL;
	if (codec != NULL)
	{
		if (!pgw_conn_bind_end(proto, (uint16_t) codec->nremote, codec->formats))
			send_failed(run);
	}
	else if (miss && run->tupdesc != NULL && !run->allow_tag && run->retries == 0)
	{
		int			n;

		/*
		 * The remote column types are not known yet: ask for binary where
		 * the local type makes that safe.  Should the column count differ,
		 * the server refuses the Bind before running anything, and the run
		 * is sent again as a cache hit (see PgaQueryRunFinish).
		 */
		run->requested = PgaResultFormatsGuess(run->tupdesc, &n);
		if (!pgw_conn_bind_end(proto, (uint16_t) n, run->requested))
			send_failed(run);
	}
	else if (!pgw_conn_bind_end(proto, 1, &text_format))
		send_failed(run);
	if (!pgw_conn_execute(proto, "", run->max_rows))
		send_failed(run);
	run->request_id = pgw_conn_sync(proto);
	if (run->request_id == 0)
		send_failed(run);
	send_request(run);
	run->session->queries++;
	run->session->last_used = GetCurrentTimestamp();
	return codec;
}

/*
 * Start running sql with params through the extended protocol: find or
 * create the statement, queue Parse (on a miss), Bind, Execute and Sync
 * after the session's preamble, and send.  One round trip whether or not
 * the statement is cached; on a miss the result comes in text, as the
 * remote types are not known yet when the formats are chosen.
 */
void
PgaQueryRunStart(PgaQueryRun *run, PgaParams *params)
{
	PgaSession *s = run->session;
	PgaStatement *st;

	run->params = params;
	run->error = NULL;
	run->error_in_preamble = false;
	run->command_tag = NULL;
	run->done = false;
	st = PgaStatementLookup(s, run->sql, params->nparams, params->types);

	/*
	 * A cached statement whose result no longer fits the column definition
	 * list may describe a result that has changed on the remote server since
	 * it was prepared (a column was added, say): prepare it anew rather than
	 * fail on the stale description for as long as it is cached.
	 */
	if (st != NULL && run->tupdesc != NULL && !result_fits(run, st, run->tupdesc))
	{
		run->local_error = NULL;
		PgaStatementForget(s, st);
		st = NULL;
	}
	run->miss = (st == NULL);
	if (run->miss)
		st = PgaStatementCreate(s, run->sql, params->nparams, params->types, true);
	run->statement = st;
	run->parsed = !run->miss;
	run->codec = queue_execute(run, st, run->miss, params);
	if (run->local_error != NULL)
		raise_local_error(run);
	if (run->rowcxt == NULL)
		run->rowcxt = AllocSetContextCreate(run->callcxt, "pgasync row",
											ALLOCSET_DEFAULT_SIZES);
}

/*
 * Take one event of the run's connection.  Handles what every caller
 * handles the same way (notices, notifications, answers to preamble
 * requests, the first error) and the run's own results.  Returns true when
 * the run's request is over (its ReadyForQuery arrived): call
 * PgaQueryRunFinish() then.
 */
bool
PgaQueryRunOnEvent(PgaQueryRun *run, pgw_event *ev)
{
	PgaStatement *st = run->statement;

	switch ((int) ev->type)
	{
		case PGW_EV_NOTICE:
			PgaRelayNotice(&ev->msg.u.error, run->session->label);
			return false;
		case PGW_EV_NOTIFICATION:
			PgaSessionQueueNotification(run->session, &ev->msg);
			return false;
		case PGW_EV_PARAMETER_STATUS:
			/* a setting changed: a pooled connection needs a reset */
			if (ev->request_id == run->request_id && run->session->pool != NULL)
				PgaPoolNoteEvent(run->session, ev, run->sql);
			return false;
		case PGA_EV_BROKEN:
			if (run->error)
				PgaRaiseRemoteError(ERROR, run->error, run->session->label, run->sql);
			PgaRaiseConnFailure(run->session->conn);
			return false;
		case PGW_EV_ERROR:
			if (run->error == NULL)
			{
				MemoryContext old = MemoryContextSwitchTo(run->callcxt);

				run->error = PgaRemoteErrorCopy(&ev->msg.u.error);
				run->error_in_preamble = ev->request_id != run->request_id;
				MemoryContextSwitchTo(old);
			}
			if (ev->fatal)
				PgaRaiseRemoteError(ERROR, run->error, run->session->label, run->sql);
			return false;
		default:
			break;
	}
	if (ev->request_id != run->request_id)
		return false;			/* answers to preamble requests */
	if (ev->type == PGW_EV_COPY_IN)
	{
		/* nothing to send: end the COPY with an error */
		(void) pgw_conn_copy_fail(PgaConnProto(run->session->conn),
								  "COPY FROM STDIN is not supported by pgasync.execute");
		send_request(run);
		return false;
	}

	switch (ev->type)
	{
		case PGW_EV_PARSE_COMPLETE:
			run->parsed = true;
			break;
		case PGW_EV_ROW_DESCRIPTION:
			if (run->miss)
			{
				MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(st));

				st->nfields = ev->msg.u.row_description.nfields;
				st->fields = PgaFieldDescsCopy(ev->msg.u.row_description.fields, st->nfields);
				MemoryContextSwitchTo(old);
				if (run->tupdesc != NULL && result_fits(run, st, run->tupdesc))
					run->codec = statement_codec(run, st, run->tupdesc,
												 run->requested ? run->requested :
												 all_text(run, run->tupdesc));
			}
			break;
		case PGW_EV_NO_DATA:
			if (run->miss)
			{
				st->nfields = -1;
				if (run->tupdesc != NULL)
					(void) result_fits(run, st, run->tupdesc);
			}
			break;
		case PGW_EV_DATA_ROW:
			if (run->error == NULL && run->local_error == NULL && run->on_row != NULL)
			{
				MemoryContext old = MemoryContextSwitchTo(run->rowcxt);

				run->on_row(run, run->codec, st, ev->msg.u.data_row.columns,
							ev->msg.u.data_row.ncolumns);
				MemoryContextSwitchTo(old);
				/* rows are stored by now: free their scratch in batches */
				if ((run->rows & 255) == 255)
					MemoryContextReset(run->rowcxt);
			}
			run->rows++;
			break;
		case PGW_EV_COMMAND_COMPLETE:
			{
				MemoryContext old = MemoryContextSwitchTo(run->callcxt);

				run->command_tag = pstrdup(ev->msg.u.command_complete.tag);
				MemoryContextSwitchTo(old);
			}
			if (run->session->pool != NULL)
				PgaPoolNoteEvent(run->session, ev, run->sql);
			break;
		case PGW_EV_EMPTY_QUERY:
			run->command_tag = "";
			break;
		case PGW_EV_READY:
			run->done = true;
			run->round_trips++;
			if (run->session->pool != NULL)
				PgaPoolNoteEvent(run->session, ev, run->sql);
			return true;
		default:
			break;
	}
	return false;
}

/*
 * The run's request is over.  Raise its remote error, if any, with the
 * hints pgasync adds.  A statement the server refused because a schema
 * change altered its result is prepared again and the request sent once
 * more, unless a remote transaction is open (its failure already aborted
 * that transaction): then true is returned and the caller goes on reading
 * events.  With raise_errors false the error stays in run->error.
 */
bool
PgaQueryRunFinish(PgaQueryRun *run, bool raise_errors)
{
	PgaSession *s = run->session;
	PgaStatement *st = run->statement;

	if (run->simple)
	{
		if (run->error && raise_errors)
			PgaRaiseRemoteError(ERROR, run->error, s->label, run->sql);
		return false;
	}
	if (run->error)
	{
		bool		stale = error_is_stale_statement(run->error);

		/*
		 * A statement that failed to parse, went stale, or is missing on the
		 * server is not kept: the next call prepares it again.
		 */
		if (!run->parsed || stale ||
			(!run->error_in_preamble && error_is_missing_statement(run->error, st)))
			PgaStatementForget(s, st);
		if ((stale || error_is_bind_format_count(run)) &&
			!run->in_remote_xact && !run->error_in_preamble &&
			run->retries == 0 && run->rows == 0)
		{
			run->retries++;
			PgaQueryRunStart(run, run->params);
			return true;
		}
		if (stale && run->in_remote_xact)
			run->error->hint = pstrdup("The remote statement was prepared before a schema change on the remote server; run the transaction again.");
		add_pooler_hint(run);
		if (raise_errors)
			PgaRaiseRemoteError(ERROR, run->error, s->label, run->sql);
	}
	else if (run->local_error != NULL)
	{
		if (run->miss)
			PgaStatementForget(s, st);
		if (raise_errors)
			raise_local_error(run);
	}
	else if (st->name[0] == '\0')
		PgaStatementForget(s, st);
	if (run->rowcxt != NULL)
	{
		MemoryContextDelete(run->rowcxt);
		run->rowcxt = NULL;
	}
	return false;
}

void
PgaQueryRunNextEvent(PgaQueryRun *run, pgw_event *ev)
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
		PgaDriverCancelAndDrain(&conn, 1, PGA_CANCEL_TIMEOUT_MS);
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("canceling statement due to command timeout"),
				 errcontext("remote server %s", run->session->label)));
	}
}

/* Read the events of a started run to its end, raising its errors. */
void
PgaQueryRunComplete(PgaQueryRun *run)
{
	pgw_event	ev;

	for (;;)
	{
		PgaQueryRunNextEvent(run, &ev);
		if (PgaQueryRunOnEvent(run, &ev) && !PgaQueryRunFinish(run, true))
			break;
	}
}

/* Run sql with params through the extended protocol, to the end. */
void
PgaQueryRunExtended(PgaQueryRun *run, PgaParams *params)
{
	PgaQueryRunStart(run, params);
	PgaQueryRunComplete(run);
}

/*
 * Give a run started without a row type (pgasync.send) the row type its
 * rows are to be decoded into.  The request asked for text results, so
 * the decoding plan is a text one.
 */
void
PgaQueryRunSetRowType(PgaQueryRun *run, TupleDesc tupdesc)
{
	run->tupdesc = tupdesc;
	if (run->simple || run->miss)
		return;					/* the row description is still to come */
	if (!result_fits(run, run->statement, tupdesc))
		return;					/* reported when the request is over */
	run->codec = statement_codec(run, run->statement, tupdesc, all_text(run, tupdesc));
}

/* Start a simple-protocol run: queue the preamble and the Query, send. */
void
PgaQueryRunStartSimple(PgaQueryRun *run)
{
	pgw_conn   *proto = PgaConnProto(run->session->conn);

	PgaSessionBeforeRequest(run->session);
	run->in_remote_xact = pgw_conn_tx_status(proto) != 'I' ||
		PgaSessionInRemoteXact(run->session);
	run->request_id = pgw_conn_query(proto, run->sql);
	if (run->request_id == 0)
		send_failed(run);
	run->simple = true;
	run->done = false;
	send_request(run);
	run->session->queries++;
	run->session->last_used = GetCurrentTimestamp();
}

/*
 * Run sql through the simple query protocol (several statements allowed,
 * text results).  run->command_tag is the last command's status.
 */
void
PgaQueryRunSimple(PgaQueryRun *run)
{
	pgw_event	ev;

	PgaQueryRunStartSimple(run);
	for (;;)
	{
		PgaQueryRunNextEvent(run, &ev);
		if (PgaQueryRunOnEvent(run, &ev))
			break;
	}
	if (run->error)
		PgaRaiseRemoteError(ERROR, run->error, run->session->label, run->sql);
}

bool
PgaRowSinkDecode(PgaRowSink *sink, PgaResultCodec *codec,
				 const pgw_value *columns, int ncolumns)
{
	MemoryContext old = NULL;

	if (sink->discard)
		return false;
	if (sink->decode_cxt != NULL)
		old = MemoryContextSwitchTo(sink->decode_cxt);
	PgaDecodeRow(codec, columns, ncolumns, sink->values, sink->nulls);
	if (old != NULL)
		MemoryContextSwitchTo(old);
	return true;
}

/*
 * The number of rows a command tag reports, as PQcmdTuples() reads it;
 * 0 for tags without one (and for NULL).
 */
uint64
PgaCommandTagRows(const char *tag)
{
	static const char *const prefixes[] = {
		"INSERT ", "UPDATE ", "DELETE ", "MERGE ", "SELECT ", "COPY ",
		"FETCH ", "MOVE "
	};
	const char *p = NULL;
	uint64		n = 0;
	int			i;

	if (tag == NULL)
		return 0;

	for (i = 0; i < lengthof(prefixes); i++)
	{
		size_t		len = strlen(prefixes[i]);

		if (strncmp(tag, prefixes[i], len) == 0)
		{
			p = tag + len;
			break;
		}
	}
	if (p == NULL)
		return 0;
	/* "INSERT oid rows" */
	if (i == 0)
	{
		p = strchr(p, ' ');
		if (p == NULL)
			return 0;
		p++;
	}
	if (*p < '0' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++)
		n = n * 10 + (*p - '0');
	return *p == '\0' ? n : 0;
}

/* ----------------------------------------------------------------
 * SQL functions
 * ----------------------------------------------------------------
 */

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
	char	   *target = PgaArgText(fcinfo, 0, "target");
	char	   *sql = PgaArgText(fcinfo, 1, "query");
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
	PgaSessionRelease(run.session);
	return (Datum) 0;
}

/* pgasync.fetchrow(target, query [, VARIADIC args]) RETURNS record */
Datum
pgasync_fetchrow(PG_FUNCTION_ARGS)
{
	char	   *target = PgaArgText(fcinfo, 0, "target");
	char	   *sql = PgaArgText(fcinfo, 1, "query");
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
	PgaSessionRelease(run.session);
	if (!fs.have_first)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(HeapTupleGetDatum(fs.first));
}

/* pgasync.fetchval(target, query [, VARIADIC args]) RETURNS text */
Datum
pgasync_fetchval(PG_FUNCTION_ARGS)
{
	char	   *target = PgaArgText(fcinfo, 0, "target");
	char	   *sql = PgaArgText(fcinfo, 1, "query");
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
	PgaSessionRelease(run.session);
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
	char	   *target = PgaArgText(fcinfo, 0, "target");
	char	   *sql = PgaArgText(fcinfo, 1, "command");
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
	PgaSessionRelease(run.session);
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
	char	   *target = PgaArgText(fcinfo, 0, "target");
	char	   *sql = PgaArgText(fcinfo, 1, "query");
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
	PgaSessionRelease(run.session);
	return (Datum) 0;
}
