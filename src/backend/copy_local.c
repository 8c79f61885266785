/*-------------------------------------------------------------------------
 *
 * copy_local.c
 *	  COPY between the local server and a remote one:
 *	  pgasync.copy_to_remote (rows of a local query into a remote table),
 *	  pgasync.copy_from_remote (rows of a remote query into a local table)
 *	  and the COPY path of pgasync.executemany.
 *
 * copy_to_remote reads its local query through an SPI cursor, a batch at a
 * time, and writes the rows with a PgaCopyWriter (codec.c) as the data of
 * one COPY ... FROM STDIN on the target's cached connection: in binary
 * COPY when every column's local type is the built-in type of its
 * destination column, in text COPY otherwise.  One catalog query first
 * tells the destination's columns and types.  The data goes out in
 * CopyData messages of about PGA_COPY_CHUNK bytes, sent while the next
 * rows are encoded; the answers that come meanwhile (notices, an early
 * error) are taken in without waiting.  The COPY (after a TRUNCATE, when
 * asked, in the same simple query) is one remote transaction, or part of
 * the remote transaction pgasync.begin() opened: a remote error, or a
 * local one that ends the COPY with CopyFail, leaves nothing behind.
 *
 * The cached connection rather than a private one: the COPY then goes to
 * the same session as the caller's other calls (named connections, pools,
 * remote transactions) and costs no connection set-up; the abort handling
 * that cancels and drains busy connections also fails an unfinished COPY.
 * While the COPY is under way the session is marked (batch_open) so that
 * the local query cannot use it.
 *
 * copy_from_remote runs COPY (query) TO STDOUT on the source and feeds the
 * CopyData payloads into the local COPY machinery (BeginCopyFrom with a
 * data source callback, CopyFrom, EndCopyFrom), so the local table's
 * defaults, constraints, triggers and partition routing all apply, and
 * pg_stat_progress_copy shows the load.  The remote query is described
 * first (Parse, Describe) to choose binary COPY when its column types are
 * the local columns' built-in types.  A local error ends the call with the
 * remote COPY still running: the transaction abort cancels and drains it.
 *
 * pgasync.executemany takes the COPY path for a plain INSERT INTO t
 * [(columns)] VALUES ($1, ..., $n) of many rows when COPY gives the same
 * result (see PgaExecutemanyCopy): one COPY is much cheaper for the remote
 * than one executor start per row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/copy.h"
#include "common/keywords.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "parser/scansup.h"
#include "tcop/pquery.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "codec.h"
#include "connection.h"
#include "copy_local.h"
#include "pgasync.h"
#include "query.h"
#include "remote_error.h"

PG_FUNCTION_INFO_V1(pgasync_copy_to_remote);
PG_FUNCTION_INFO_V1(pgasync_copy_from_remote);

/* Rows read from a local query at a time */
#define PGA_COPY_FETCH_ROWS 1000

/* COPY data is sent in CopyData messages of about this size */
#define PGA_COPY_CHUNK (64 * 1024)

/*
 * Every PGA_COPY_SEND_BYTES of new output, send what the socket takes
 * without waiting; past PGA_COPY_FLUSH_BYTES of unsent output, wait until
 * it is all sent (reading meanwhile).
 */
#define PGA_COPY_SEND_BYTES (64 * 1024)
#define PGA_COPY_FLUSH_BYTES (1024 * 1024)

/* Timeout for getting a connection back to idle after a command timeout */
#define PGA_CANCEL_TIMEOUT_MS 1000

typedef enum CopyFormat
{
	COPY_FORMAT_AUTO,
	COPY_FORMAT_BINARY,
	COPY_FORMAT_TEXT
} CopyFormat;

/* The options argument */
typedef struct CopyOptions
{
	List	   *columns;		/* column names (char *), or NIL */
	CopyFormat	format;
	bool		truncate;
} CopyOptions;

/*
 * One request of ours on a session's connection, with what came back for
 * it.  Requests queued ahead of it (the session's preamble) are answered
 * first; only their errors matter.
 */
typedef struct CopyRun
{
	PgaSession *session;
	const char *sql;			/* shown as the internal query of errors */
	TimestampTz deadline;		/* command timeout, or 0 */
	MemoryContext cxt;			/* for what is kept past an event */
	uint64		request_id;
	PgaRemoteError *error;		/* first remote error */
	bool		error_in_preamble;
	bool		done;			/* our ReadyForQuery came */
	/* answers */
	char	   *tag;			/* last CommandComplete */
	List	   *rows;			/* DataRows: char ** of text, NULL for NULL */
	int			nfields;		/* RowDescription; -1 for NoData */
	pgw_field_desc *fields;
	bool		copy_started;	/* CopyInResponse or CopyOutResponse */
	bool		copy_binary;	/* ... announcing binary format */
} CopyRun;

/* A remote table's columns, as the catalog query tells them */
typedef struct RemoteColumn
{
	char	   *name;
	Oid			type;			/* the base type of a domain (one level) */
	bool		generated;
	bool		identity_always;
} RemoteColumn;

typedef struct RemoteTable
{
	bool		found;
	char		relkind;
	bool		row_security;
	bool		insert_rules;
	bool		statement_triggers; /* statement-level INSERT triggers */
	int			ncols;
	RemoteColumn *cols;			/* non-dropped, in attnum order */
} RemoteTable;

/* A COPY ... FROM STDIN being fed with rows of a PgaRowSource */
typedef struct CopyIn
{
	CopyRun		run;
	PgaRowSource *src;
	PgaCopyWriter *writer;
	const char *func;			/* holding the session (batch_func) */
	bool		fetch_first;	/* the source's first batch is still to fetch */
	/* executemany: its command, for errors as executemany reports them */
	const char *many_sql;
	bool		done_sent;		/* CopyDone queued */
	size_t		send_at;		/* send when this much output is queued */
} CopyIn;

/* The remote COPY ... TO STDOUT read by the local COPY FROM */
typedef struct CopySource
{
	CopyRun		run;
	StringInfoData leftover;	/* CopyData bytes not yet handed over */
	bool		eof;			/* CopyDone came */
} CopySource;

/*
 * The copy_from_remote call under way, for the data source callback (a
 * trigger of the table being loaded may start another one: each call puts
 * back the one it found)
 */
static CopySource *copy_source = NULL;

/* ----------------------------------------------------------------
 * Requests and their events
 * ----------------------------------------------------------------
 */

static void
run_init(CopyRun *r, PgaSession *s, const char *sql)
{
	memset(r, 0, sizeof(*r));
	r->session = s;
	r->sql = sql;
	r->cxt = CurrentMemoryContext;
	if (s->opts.command_timeout_ms > 0)
		r->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												  s->opts.command_timeout_ms);
}

/* Forget the answers of the previous request, to send another one. */
static void
run_reset(CopyRun *r, const char *sql)
{
	r->sql = sql;
	r->request_id = 0;
	r->done = false;
	r->tag = NULL;
	r->rows = NIL;
	r->nfields = 0;
	r->fields = NULL;
	r->copy_started = false;
	r->copy_binary = false;
}

static void
run_raise(CopyRun *r)
{
	PgaRaiseRemoteError(ERROR, r->error, r->session->label, r->sql);
}

static void
run_send_failed(CopyRun *r)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_EXCEPTION),
			 errmsg("could not send query to remote server %s", r->session->label),
			 errdetail_internal("%s", pgw_conn_errmsg(PgaConnProto(r->session->conn)))));
}

static void
run_raise_timeout(CopyRun *r)
{
	ereport(ERROR,
			(errcode(ERRCODE_QUERY_CANCELED),
			 errmsg("canceling statement due to command timeout"),
			 errcontext("remote server %s", r->session->label)));
}

/* Send what is queued, waiting while the socket is full. */
static void
run_send(CopyRun *r)
{
	PgaConn    *conn = r->session->conn;

	if (PgaConnFlush(conn, r->deadline))
		return;
	if (PgaConnGetPhase(conn) == PGA_PHASE_BROKEN)
		PgaRaiseConnFailure(conn);
	/* the transaction abort cancels and drains the connection */
	run_raise_timeout(r);
}

/* Queue sql as a simple query after the session's preamble, and send. */
static void
run_start_simple(CopyRun *r)
{
	PgaSession *s = r->session;

	PgaSessionBeforeRequest(s);
	r->request_id = pgw_conn_query(PgaConnProto(s->conn), r->sql);
	if (r->request_id == 0)
		run_send_failed(r);
	s->queries++;
	s->last_used = GetCurrentTimestamp();
	run_send(r);
}

/* Queue Parse and Describe of the unnamed statement, and Sync; send. */
static void
run_start_describe(CopyRun *r)
{
	PgaSession *s = r->session;
	pgw_conn   *proto = PgaConnProto(s->conn);

	PgaSessionBeforeRequest(s);
	if (!pgw_conn_parse(proto, "", r->sql, 0, NULL) ||
		!pgw_conn_describe(proto, 'S', ""))
		run_send_failed(r);
	r->request_id = pgw_conn_sync(proto);
	if (r->request_id == 0)
		run_send_failed(r);
	s->queries++;
	s->last_used = GetCurrentTimestamp();
	run_send(r);
}

/*
 * Handle one event of the run's connection.  Returns true for CopyData and
 * CopyDone of our request, which the caller takes; everything else is
 * dealt with here.
 */
static bool
run_event(CopyRun *r, pgw_event *ev)
{
	MemoryContext old;

	switch ((int) ev->type)
	{
		case PGW_EV_NOTICE:
			PgaRelayNotice(&ev->msg.u.error, r->session->label);
			return false;
		case PGW_EV_NOTIFICATION:
			PgaSessionQueueNotification(r->session, &ev->msg);
			return false;
		case PGW_EV_PARAMETER_STATUS:
			return false;
		case PGA_EV_BROKEN:
			if (r->error)
				run_raise(r);
			PgaRaiseConnFailure(r->session->conn);
			return false;
		case PGW_EV_ERROR:
			if (r->error == NULL)
			{
				old = MemoryContextSwitchTo(r->cxt);
				r->error = PgaRemoteErrorCopy(&ev->msg.u.error);
				r->error_in_preamble = ev->request_id != r->request_id;
				MemoryContextSwitchTo(old);
			}
			if (ev->fatal)
				run_raise(r);
			return false;
		default:
			break;
	}
	if (ev->request_id != r->request_id)
		return false;			/* answers to the preamble */

	switch (ev->type)
	{
		case PGW_EV_READY:
			r->done = true;
			break;
		case PGW_EV_ROW_DESCRIPTION:
			{
				int			n = ev->msg.u.row_description.nfields;
				int			i;

				old = MemoryContextSwitchTo(r->cxt);
				r->nfields = n;
				r->fields = palloc(sizeof(pgw_field_desc) * Max(n, 1));
				for (i = 0; i < n; i++)
				{
					r->fields[i] = ev->msg.u.row_description.fields[i];
					r->fields[i].name = pstrdup(ev->msg.u.row_description.fields[i].name);
				}
				MemoryContextSwitchTo(old);
			}
			break;
		case PGW_EV_NO_DATA:
			r->nfields = -1;
			break;
		case PGW_EV_DATA_ROW:
			{
				int			n = ev->msg.u.data_row.ncolumns;
				char	  **row;
				int			i;

				old = MemoryContextSwitchTo(r->cxt);
				row = palloc(sizeof(char *) * Max(n, 1));
				for (i = 0; i < n; i++)
					row[i] = PgaValueToCString(&ev->msg.u.data_row.columns[i]);
				r->rows = lappend(r->rows, row);
				MemoryContextSwitchTo(old);
			}
			break;
		case PGW_EV_COMMAND_COMPLETE:
			old = MemoryContextSwitchTo(r->cxt);
			r->tag = pstrdup(ev->msg.u.command_complete.tag);
			MemoryContextSwitchTo(old);
			break;
		case PGW_EV_COPY_IN:
		case PGW_EV_COPY_OUT:
			r->copy_started = true;
			r->copy_binary = ev->msg.u.copy_response.format == 1;
			break;
		case PGW_EV_COPY_BOTH:
			/* not from a COPY command; end it, and the server reports */
			(void) pgw_conn_copy_fail(PgaConnProto(r->session->conn),
									  "unexpected COPY BOTH");
			break;
		case PGW_EV_COPY_DATA:
		case PGW_EV_COPY_DONE:
			return true;
		default:
			break;
	}
	return false;
}

/* Wait for the next event; a broken connection or the timeout raise. */
static void
run_wait(CopyRun *r, pgw_event *ev)
{
	PgaConn    *c = PgaDriverNextEvent(&r->session->conn, 1, ev, r->deadline);

	if (c == NULL)
	{
		PgaConn    *conn = r->session->conn;

		if (PgaConnGetPhase(conn) == PGA_PHASE_BROKEN)
		{
			if (r->error)
				run_raise(r);
			PgaRaiseConnFailure(conn);
		}
		/* command timeout: cancel the remote work (failing a COPY IN) */
		PgaDriverCancelAndDrain(&conn, 1, PGA_CANCEL_TIMEOUT_MS);
		run_raise_timeout(r);
	}
}

/* Take in the answers that have come, without waiting. */
static void
run_take_events(CopyRun *r)
{
	pgw_event	ev;

	while (!r->done && PgaConnPollEvent(r->session->conn, &ev))
		(void) run_event(r, &ev);
}

/* Read to the end of our request (no COPY data expected). */
static void
run_finish(CopyRun *r)
{
	pgw_event	ev;

	while (!r->done)
	{
		run_wait(r, &ev);
		(void) run_event(r, &ev);
	}
}

/* The row count of a "COPY n" command tag */

/* ----------------------------------------------------------------
 * Names, options
 * ----------------------------------------------------------------
 */

/* Append ident in double quotes, whatever it is. */
static void
append_quoted_ident(StringInfo buf, const char *ident)
{
	const char *p;

	appendStringInfoChar(buf, '"');
	for (p = ident; *p; p++)
	{
		if (*p == '"')
			appendStringInfoChar(buf, '"');
		appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, '"');
}

/*
 * A table name written as in SQL ("table", "schema.table", with double
 * quotes where needed; unquoted names are folded to lower case), with
 * every part quoted; NULL if name is not one.
 */
static char *
quoted_table_name(const char *name)
{
	char	   *raw = pstrdup(name);
	List	   *parts;
	ListCell   *lc;
	StringInfoData buf;

	if (!SplitIdentifierString(raw, '.', &parts) || parts == NIL ||
		list_length(parts) > 3)
		return NULL;
	initStringInfo(&buf);
	foreach(lc, parts)
	{
		if (buf.len > 0)
			appendStringInfoChar(&buf, '.');
		append_quoted_ident(&buf, (char *) lfirst(lc));
	}
	return buf.data;
}

/* A query text without trailing semicolons and white space */
static char *
trim_query(const char *query)
{
	char	   *q = pstrdup(query);
	int			len = strlen(q);

	while (len > 0 && (q[len - 1] == ';' || scanner_isspace(q[len - 1])))
		q[--len] = '\0';
	return q;
}

/* What parse_options() passes to local_copy_option() */
typedef struct LocalCopyOptionsState
{
	const char *func;
	bool		allow_truncate;
	CopyOptions *opts;
} LocalCopyOptionsState;

/* One option of func */
static void
local_copy_option(const char *key, JsonbValue *value, void *arg)
{
	LocalCopyOptionsState *state = (LocalCopyOptionsState *) arg;
	CopyOptions *opts = state->opts;
	const char *whose = state->func;

	if (strcmp(key, "columns") == 0)
		opts->columns = PgaJsonbOptionStringList(key, value, whose,
												 "an array of column names",
												 true);
	else if (strcmp(key, "format") == 0)
	{
		char	   *s;

		if (value->type != jbvString && value->type != jbvNull)
			PgaJsonbOptionError(key, whose, "\"binary\" or \"text\"");
		s = PgaJsonbOptionString(key, value, whose, true);
		if (s == NULL)
			return;
		if (pg_strcasecmp(s, "binary") == 0)
			opts->format = COPY_FORMAT_BINARY;
		else if (pg_strcasecmp(s, "text") == 0)
			opts->format = COPY_FORMAT_TEXT;
		else
			PgaJsonbOptionError(key, whose, "\"binary\" or \"text\"");
	}
	else if (strcmp(key, "truncate") == 0 && state->allow_truncate)
		opts->truncate = PgaJsonbOptionBool(key, value, whose);
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized option \"%s\" of %s", key, state->func),
				 errhint("Valid options are: %s.",
						 state->allow_truncate ? "columns, format, truncate" :
						 "columns, format")));
}

/*
 * The options argument: columns (array of column names), format ("binary"
 * or "text"; default: chosen from the column types), truncate (boolean;
 * only when allow_truncate).  Unknown keys are errors.
 */
static void
parse_options(FunctionCallInfo fcinfo, int argno, const char *func,
			  bool allow_truncate, CopyOptions *opts)
{
	LocalCopyOptionsState state;

	memset(opts, 0, sizeof(*opts));
	opts->format = COPY_FORMAT_AUTO;
	if (PG_ARGISNULL(argno))
		return;
	state.func = func;
	state.allow_truncate = allow_truncate;
	state.opts = opts;
	PgaJsonbForEachOption(PG_GETARG_JSONB_P(argno),
						  psprintf("the options of %s", func),
						  local_copy_option, &state);
}

/* ----------------------------------------------------------------
 * The destination table on the remote server
 * ----------------------------------------------------------------
 */

static bool
text_bool(const char *s)
{
	return s != NULL && s[0] == 't';
}

/*
 * Learn qname's columns (non-dropped, in order) and what makes COPY differ
 * from INSERT, with one catalog query.  A table that does not exist (or
 * that the remote user cannot see) has t->found false.
 */
static void
describe_remote_table(CopyRun *r, const char *qname, RemoteTable *t)
{
	int			version = pgw_conn_server_version_num(PgaConnProto(r->session->conn));
	StringInfoData sql;
	ListCell   *lc;
	int			n = 0;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT c.relkind, c.relrowsecurity,"
					 " EXISTS (SELECT FROM pg_catalog.pg_rewrite w"
					 " WHERE w.ev_class = c.oid AND w.ev_type = '3'),"
					 " EXISTS (SELECT FROM pg_catalog.pg_trigger g"
					 " WHERE g.tgrelid = c.oid"
					 " AND (g.tgtype::pg_catalog.int4 & 5) = 4),"
					 " a.attname,"
					 " CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END,"
					 " %s, a.attidentity = 'a'"
					 " FROM pg_catalog.pg_class c"
					 " LEFT JOIN pg_catalog.pg_attribute a"
					 " ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
					 " LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
					 " WHERE c.oid = pg_catalog.to_regclass(%s)"
					 " ORDER BY a.attnum",
					 version >= 120000 ? "a.attgenerated <> ''" : "false",
					 quote_literal_cstr(qname));
	run_reset(r, sql.data);
	run_start_simple(r);
	run_finish(r);
	if (r->error)
		run_raise(r);

	memset(t, 0, sizeof(*t));
	t->found = r->rows != NIL;
	if (!t->found)
		return;
	t->cols = palloc0(sizeof(RemoteColumn) * list_length(r->rows));
	foreach(lc, r->rows)
	{
		char	  **row = (char **) lfirst(lc);

		if (lc == list_head(r->rows))
		{
			t->relkind = row[0] ? row[0][0] : '\0';
			t->row_security = text_bool(row[1]);
			t->insert_rules = text_bool(row[2]);
			t->statement_triggers = text_bool(row[3]);
		}
		if (row[4] == NULL)
			continue;			/* a table without columns */
		t->cols[n].name = row[4];
		t->cols[n].type = row[5] ? (Oid) strtoul(row[5], NULL, 10) : InvalidOid;
		t->cols[n].generated = text_bool(row[6]);
		t->cols[n].identity_always = text_bool(row[7]);
		n++;
	}
	t->ncols = n;
}

static RemoteColumn *
find_remote_column(RemoteTable *t, const char *name)
{
	int			i;

	for (i = 0; i < t->ncols; i++)
	{
		if (strcmp(t->cols[i].name, name) == 0)
			return &t->cols[i];
	}
	return NULL;
}

/* ----------------------------------------------------------------
 * COPY ... FROM STDIN fed with local rows
 * ----------------------------------------------------------------
 */

/* Take in the answers that came; true if the COPY has failed. */
static bool
copy_in_failed(CopyIn *ci)
{
	run_take_events(&ci->run);
	return ci->run.error != NULL || ci->run.done;
}

/*
 * Move the encoded rows into a CopyData message; send every
 * PGA_COPY_SEND_BYTES without waiting, and wait past PGA_COPY_FLUSH_BYTES.
 * Returns false when the server has ended the COPY with an error.
 */
static bool
copy_in_send(CopyIn *ci)
{
	PgaConn    *conn = ci->run.session->conn;
	StringInfo	buf = &ci->writer->buf;

	if (buf->len > 0)
	{
		if (!pgw_conn_copy_data(PgaConnProto(conn), buf->data, buf->len))
		{
			/* the COPY is over: the server must have said why */
			if (copy_in_failed(ci))
				return false;
			run_send_failed(&ci->run);
		}
		resetStringInfo(buf);
	}
	if (PgaConnPendingOutput(conn) >= ci->send_at)
	{
		bool		wait = PgaConnPendingOutput(conn) >= PGA_COPY_FLUSH_BYTES;

		if (!PgaConnFlush(conn, wait ? ci->run.deadline : 1))
		{
			if (PgaConnGetPhase(conn) == PGA_PHASE_BROKEN)
			{
				run_take_events(&ci->run);	/* a FATAL error says more */
				if (ci->run.error)
					run_raise(&ci->run);
				PgaRaiseConnFailure(conn);
			}
			if (wait)
				run_raise_timeout(&ci->run);
		}
		if (copy_in_failed(ci))
			return false;
		ci->send_at = PgaConnPendingOutput(conn) + PGA_COPY_SEND_BYTES;
	}
	return true;
}

/* The rows of a COPY being encoded */
typedef struct CopyInRows
{
	CopyIn	   *ci;
	MemoryContext rowcxt;		/* reset after every row */
	uint64		n;				/* rows written */
	bool		ok;				/* false once the server ended the COPY */
} CopyInRows;

/*
 * Write one row, fetched or streamed; send a chunk when one is full.  Every
 * PGA_COPY_FETCH_ROWS rows, take in the answers, process interrupts and
 * check the command timeout.  Returns false when the server has ended the
 * COPY with an error.
 */
static bool
copy_in_row(void *arg, Datum *values, bool *nulls)
{
	CopyInRows *rows = (CopyInRows *) arg;
	CopyIn	   *ci = rows->ci;
	PgaCopyWriter *w = ci->writer;
	MemoryContext old = MemoryContextSwitchTo(rows->rowcxt);

	PgaCopyWriterRow(w, values, nulls);
	MemoryContextSwitchTo(old);
	MemoryContextReset(rows->rowcxt);
	if (w->buf.len >= PGA_COPY_CHUNK && !copy_in_send(ci))
		return rows->ok = false;
	if (++rows->n % PGA_COPY_FETCH_ROWS == 0)
	{
		if (copy_in_failed(ci))
			return rows->ok = false;
		CHECK_FOR_INTERRUPTS();
		/* command_timeout covers the whole call, slow local rows too */
		if (ci->run.deadline != 0 && GetCurrentTimestamp() >= ci->run.deadline)
			run_raise_timeout(&ci->run);
	}
	return true;
}

/*
 * Stream the rows of ci->src (its current batch of nrows first) into the
 * COPY the server has started.  Stops early when the server reports an
 * error.
 *
 * A source that can stream hands its rows straight from the executor,
 * unless a column goes as text: its encoding needs settings pinned that
 * the executor must not see.
 */
static void
copy_in_stream(CopyIn *ci, uint64 nrows)
{
	PgaRowSource *src = ci->src;
	PgaCopyWriter *w = ci->writer;
	CopyInRows	rows;
	bool		stream = src->stream != NULL && !w->plan->any_text;
	Datum	   *values;
	bool	   *nulls;

	values = palloc(sizeof(Datum) * Max(src->nparams, 1));
	nulls = palloc(sizeof(bool) * Max(src->nparams, 1));
	memset(&rows, 0, sizeof(rows));
	rows.ci = ci;
	rows.ok = true;
	rows.rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pgasync COPY row",
										ALLOCSET_DEFAULT_SIZES);
	ci->send_at = PgaConnPendingOutput(ci->run.session->conn) + PGA_COPY_SEND_BYTES;

	if (ci->fetch_first && !stream)
		nrows = src->fetch(src);
	while (nrows > 0 && rows.ok)
	{
		int			nestlevel = PgaCopyWriterBeginText(w);
		uint64		i;

		for (i = 0; i < nrows && rows.ok; i++)
		{
			src->get(src, i, values, nulls);
			rows.ok = copy_in_row(&rows, values, nulls);
		}
		PgaParamPlanEndText(nestlevel);
		if (stream)
			break;
		if (rows.ok)
			nrows = src->fetch(src);
	}
	if (stream && rows.ok)
		src->stream(src, copy_in_row, &rows);
	MemoryContextDelete(rows.rowcxt);
	if (!rows.ok || copy_in_failed(ci))
		return;
	PgaCopyWriterFinish(w);
	if (!copy_in_send(ci))
		return;
	if (!pgw_conn_copy_done(PgaConnProto(ci->run.session->conn)))
	{
		if (copy_in_failed(ci))
			return;
		run_send_failed(&ci->run);
	}
	ci->done_sent = true;
	run_send(&ci->run);
}

/*
 * Run copy_sql (a simple query ending in COPY ... FROM STDIN) and stream
 * the rows into it.  Returns the rows the COPY reports; remote errors are
 * left in ci->run.error.  After a local error the COPY is ended with
 * CopyFail, so the server rolls it back; the transaction abort drains the
 * connection.
 */
static int64
copy_in_run(CopyIn *ci, uint64 nrows)
{
	PgaSession *s = ci->run.session;

	run_start_simple(&ci->run);
	s->batch_open = true;
	s->batch_func = ci->func;
	PG_TRY();
	{
		pgw_event	ev;

		/* CopyInResponse, or an error */
		while (!ci->run.copy_started && !ci->run.done)
		{
			run_wait(&ci->run, &ev);
			(void) run_event(&ci->run, &ev);
		}
		if (ci->run.copy_started && !ci->run.done)
			copy_in_stream(ci, nrows);
	}
	PG_CATCH();
	{
		s->batch_open = false;
		s->batch_func = NULL;
		if (s->conn != NULL && PgaConnGetPhase(s->conn) == PGA_PHASE_READY &&
			pgw_conn_get_state(PgaConnProto(s->conn)) == PGW_CONN_COPY_IN)
		{
			if (pgw_conn_copy_fail(PgaConnProto(s->conn),
								   "canceled by a local error in pgasync"))
				(void) PgaConnSendNow(s->conn);
			else
				PgaSessionReset(s);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
	s->batch_open = false;
	s->batch_func = NULL;
	run_finish(&ci->run);
	return PgaCommandTagRows(ci->run.tag);
}

static uint64
query_source_fetch(PgaRowSource *src)
{
	PgaQueryRowSource *qs = (PgaQueryRowSource *) src;

	if (qs->batch != NULL)
		SPI_freetuptable(qs->batch);
	qs->batch = NULL;
	SPI_cursor_fetch(qs->portal, true, PGA_COPY_FETCH_ROWS);
	qs->batch = SPI_tuptable;
	return SPI_processed;
}

static void
query_source_get(PgaRowSource *src, uint64 row, Datum *values, bool *nulls)
{
	PgaQueryRowSource *qs = (PgaQueryRowSource *) src;

	heap_deform_tuple(qs->batch->vals[row], qs->batch->tupdesc, values, nulls);
}

/* A DestReceiver handing each row of a portal to a PgaRowStreamFn */
typedef struct RowStreamReceiver
{
	DestReceiver pub;
	PgaRowStreamFn row;
	void	   *arg;
} RowStreamReceiver;

static bool
row_stream_receive(TupleTableSlot *slot, DestReceiver *self)
{
	RowStreamReceiver *r = (RowStreamReceiver *) self;

	slot_getallattrs(slot);
	return r->row(r->arg, slot->tts_values, slot->tts_isnull);
}

static void
row_stream_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
row_stream_shutdown(DestReceiver *self)
{
}

static void
row_stream_destroy(DestReceiver *self)
{
}

/*
 * The rest of the cursor's rows, run straight into row() (as
 * SPI_cursor_fetch runs them into a tuple table): no copy of each row, no
 * batch to deform.
 */
static void
query_source_stream(PgaRowSource *src, PgaRowStreamFn row, void *arg)
{
	PgaQueryRowSource *qs = (PgaQueryRowSource *) src;
	RowStreamReceiver r;

	if (qs->batch != NULL)
		SPI_freetuptable(qs->batch);
	qs->batch = NULL;
	memset(&r, 0, sizeof(r));
	r.pub.receiveSlot = row_stream_receive;
	r.pub.rStartup = row_stream_startup;
	r.pub.rShutdown = row_stream_shutdown;
	r.pub.rDestroy = row_stream_destroy;
	r.pub.mydest = DestNone;
	r.row = row;
	r.arg = arg;
	(void) PortalRunFetch(qs->portal, FETCH_FORWARD, FETCH_ALL, &r.pub);
}

/* Dropped columns cannot occur in a query result. */
void
PgaQueryRowSourceOpen(PgaQueryRowSource *qs, const char *query, const char *what)
{
	SPIPlanPtr	plan;
	TupleDesc	tupdesc;
	int			i;

	memset(qs, 0, sizeof(*qs));
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	qs->portal = SPI_cursor_open(NULL, plan, NULL, NULL, false);
	tupdesc = qs->portal->tupDesc;
	if (tupdesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s must return rows", what)));
	qs->src.nparams = tupdesc->natts;
	qs->src.types = palloc(sizeof(Oid) * Max(tupdesc->natts, 1));
	for (i = 0; i < tupdesc->natts; i++)
		qs->src.types[i] = TupleDescAttr(tupdesc, i)->atttypid;
	qs->src.fetch = query_source_fetch;
	qs->src.get = query_source_get;
	qs->src.stream = query_source_stream;
}

void
PgaQueryRowSourceClose(PgaQueryRowSource *qs)
{
	if (qs->batch != NULL)
		SPI_freetuptable(qs->batch);
	qs->batch = NULL;
	SPI_cursor_close(qs->portal);
}

/*
 * Can the values of local type column i (planned in plan) go in binary
 * into a remote column of type remote_type?  Only as the very same
 * built-in type.
 */
static bool
column_binary_ok(const PgaParamPlan *plan, int i, Oid remote_type)
{
	return plan->formats[i] == 1 && OidIsValid(plan->types[i]) &&
		plan->types[i] == remote_type;
}

/* ----------------------------------------------------------------
 * pgasync.copy_to_remote
 * ----------------------------------------------------------------
 */

/*
 * pgasync.copy_to_remote(dest text, dest_table text, local_query text,
 *						  options jsonb DEFAULT '{}') RETURNS bigint
 *
 * Copies the rows of local_query into dest_table on dest with one COPY;
 * returns the rows copied.
 */
Datum
pgasync_copy_to_remote(PG_FUNCTION_ARGS)
{
	const char *func = "pgasync.copy_to_remote";
	char	   *target = PgaArgText(fcinfo, 0, "dest");
	char	   *dest_table = PgaArgText(fcinfo, 1, "dest_table");
	char	   *local_query = PgaArgText(fcinfo, 2, "local_query");
	CopyOptions opts;
	char	   *qname;
	PgaQueryRowSource qs;
	PgaParamPlan *plan;
	PgaSession *s;
	CopyIn		ci;
	RemoteTable rt;
	Oid		   *dest_types;
	int			ndest;
	bool		binary;
	StringInfoData sql;
	int64		result;
	int			i;

	parse_options(fcinfo, 3, func, true, &opts);
	qname = quoted_table_name(dest_table);
	if (qname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid table name \"%s\"", dest_table)));

	SPI_connect();
	{
		char	   *what = psprintf("the local query of %s", func);

		PgaQueryRowSourceOpen(&qs, local_query, what);
	}
	plan = PgaParamPlanCreate(qs.src.nparams, qs.src.types, CurrentMemoryContext);

	s = PgaSessionGet(target);
	PgaSessionClaim(s);
	memset(&ci, 0, sizeof(ci));
	run_init(&ci.run, s, NULL);

	/* the destination columns and their types */
	describe_remote_table(&ci.run, qname, &rt);
	if (!rt.found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation %s does not exist", qname),
				 errcontext("remote server %s", s->label)));
	if (opts.columns != NIL)
	{
		ListCell   *lc;

		ndest = list_length(opts.columns);
		dest_types = palloc(sizeof(Oid) * ndest);
		i = 0;
		foreach(lc, opts.columns)
		{
			RemoteColumn *col = find_remote_column(&rt, (char *) lfirst(lc));

			/* unknown columns: the COPY reports them */
			dest_types[i++] = col ? col->type : InvalidOid;
		}
	}
	else
	{
		/* COPY's default column list: the columns that are not generated */
		dest_types = palloc(sizeof(Oid) * Max(rt.ncols, 1));
		ndest = 0;
		for (i = 0; i < rt.ncols; i++)
		{
			if (!rt.cols[i].generated)
				dest_types[ndest++] = rt.cols[i].type;
		}
	}
	if (ndest != qs.src.nparams)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the local query returns %d columns, but %d columns of %s are to be copied",
						qs.src.nparams, ndest, qname),
				 errcontext("remote server %s", s->label)));

	/* binary when every column has the same built-in type on both sides */
	binary = opts.format != COPY_FORMAT_TEXT;
	for (i = 0; i < ndest; i++)
	{
		if (column_binary_ok(plan, i, dest_types[i]))
			continue;
		if (opts.format == COPY_FORMAT_BINARY)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column %d of the local query cannot be copied in binary format", i + 1),
					 errdetail("Its type is %s; binary format needs the same built-in type on both sides.",
							   format_type_be(qs.src.types[i])),
					 errcontext("remote server %s", s->label)));
		binary = false;
	}

	/* [TRUNCATE "t";] COPY "t" [("c", ...)] FROM STDIN (FORMAT f) */
	initStringInfo(&sql);
	if (opts.truncate)
		appendStringInfo(&sql, "TRUNCATE %s; ", qname);
	appendStringInfo(&sql, "COPY %s", qname);
	if (opts.columns != NIL)
	{
		ListCell   *lc;

		appendStringInfoString(&sql, " (");
		foreach(lc, opts.columns)
		{
			if (lc != list_head(opts.columns))
				appendStringInfoString(&sql, ", ");
			append_quoted_ident(&sql, (char *) lfirst(lc));
		}
		appendStringInfoChar(&sql, ')');
	}
	appendStringInfo(&sql, " FROM STDIN (FORMAT %s)", binary ? "binary" : "text");

	ci.src = &qs.src;
	ci.func = func;
	ci.writer = PgaCopyWriterCreate(qs.src.nparams, qs.src.types, binary,
									CurrentMemoryContext);
	run_reset(&ci.run, sql.data);
	/* the first rows too are read while the session is held */
	ci.fetch_first = true;
	result = copy_in_run(&ci, 0);
	if (ci.run.error)
		run_raise(&ci.run);

	PgaQueryRowSourceClose(&qs);
	SPI_finish();
	PgaSessionRelease(s);
	PG_RETURN_INT64(result);
}

/* ----------------------------------------------------------------
 * The COPY path of pgasync.executemany
 * ----------------------------------------------------------------
 */

/* A plain INSERT ... VALUES ($1, ..., $n) */
typedef struct PlainInsert
{
	List	   *table;			/* name parts (char *) */
	List	   *columns;		/* column names (char *), or NIL */
	int			nparams;
} PlainInsert;

static const char *
skip_space(const char *p)
{
	while (scanner_isspace(*p))
		p++;
	return p;
}

/* Is p at keyword kw (lower case), not followed by an identifier character? */
static bool
at_keyword(const char *p, const char *kw)
{
	size_t		len = strlen(kw);

	return pg_strncasecmp(p, kw, len) == 0 &&
		!(isalnum((unsigned char) p[len]) || p[len] == '_' || p[len] == '$' ||
		  IS_HIGHBIT_SET(p[len]));
}

/*
 * Read an identifier at *pp (unquoted: folded to lower case, and not a
 * reserved keyword; or double-quoted); NULL if there is none.
 */
static char *
read_ident(const char **pp)
{
	const char *p = *pp;
	char	   *ident;

	if (*p == '"')
	{
		StringInfoData buf;

		initStringInfo(&buf);
		for (p++;; p++)
		{
			if (*p == '\0')
				return NULL;
			if (*p == '"')
			{
				if (p[1] != '"')
					break;
				p++;
			}
			appendStringInfoChar(&buf, *p);
		}
		if (buf.len == 0)
			return NULL;
		truncate_identifier(buf.data, buf.len, false);
		*pp = p + 1;
		return buf.data;
	}
	if (!(isalpha((unsigned char) *p) || *p == '_' || IS_HIGHBIT_SET(*p)))
		return NULL;
	for (p++; isalnum((unsigned char) *p) || *p == '_' || *p == '$' ||
		 IS_HIGHBIT_SET(*p); p++)
		;
	ident = downcase_truncate_identifier(*pp, p - *pp, false);
	{
		int			kw = ScanKeywordLookup(ident, &ScanKeywords);

		if (kw >= 0 && ScanKeywordCategories[kw] != UNRESERVED_KEYWORD &&
			ScanKeywordCategories[kw] != COL_NAME_KEYWORD)
			return NULL;
	}
	*pp = p;
	return ident;
}

/*
 * Is sql exactly INSERT INTO table [(col, ...)] VALUES ($1, ..., $n) [;]
 * (any case and white space, no comments)?  Conservative: anything else
 * (RETURNING, ON CONFLICT, an alias, expressions, casts, several rows,
 * DEFAULT VALUES, WITH, ...) is not.
 */
static bool
parse_plain_insert(const char *sql, PlainInsert *ins)
{
	const char *p = skip_space(sql);
	char	   *ident;

	memset(ins, 0, sizeof(*ins));
	if (strstr(sql, "--") != NULL || strstr(sql, "/*") != NULL)
		return false;
	if (!at_keyword(p, "insert"))
		return false;
	p = skip_space(p + 6);
	if (!at_keyword(p, "into"))
		return false;
	p = skip_space(p + 4);
	for (;;)
	{
		if ((ident = read_ident(&p)) == NULL)
			return false;
		ins->table = lappend(ins->table, ident);
		p = skip_space(p);
		if (*p != '.')
			break;
		if (list_length(ins->table) == 2)
			return false;
		p = skip_space(p + 1);
	}
	if (*p == '(')
	{
		p = skip_space(p + 1);
		for (;;)
		{
			if ((ident = read_ident(&p)) == NULL)
				return false;
			ins->columns = lappend(ins->columns, ident);
			p = skip_space(p);
			if (*p == ')')
				break;
			if (*p != ',')
				return false;
			p = skip_space(p + 1);
		}
		p = skip_space(p + 1);
	}
	if (!at_keyword(p, "values"))
		return false;
	p = skip_space(p + 6);
	if (*p != '(')
		return false;
	p = skip_space(p + 1);
	for (;;)
	{
		long		n;
		char	   *end;

		if (*p != '$' || !isdigit((unsigned char) p[1]))
			return false;
		errno = 0;
		n = strtol(p + 1, &end, 10);
		if (errno != 0 || n != ins->nparams + 1)
			return false;
		ins->nparams++;
		p = skip_space(end);
		if (*p == ')')
			break;
		if (*p != ',')
			return false;
		p = skip_space(p + 1);
	}
	p = skip_space(p + 1);
	if (*p == ';')
		p = skip_space(p + 1);
	if (*p != '\0')
		return false;
	return ins->columns == NIL || list_length(ins->columns) == ins->nparams;
}

/*
 * Error context of the COPY path: the row as executemany numbers it (the
 * COPY's line), or the end of the batch.
 */
typedef struct ManyCopyError
{
	int64		row;			/* 0: not known */
	bool		at_end;
	int64		sent;
} ManyCopyError;

static void
many_copy_error_callback(void *arg)
{
	ManyCopyError *e = (ManyCopyError *) arg;

	if (e->row > 0)
		errcontext("executemany row %lld", (long long) e->row);
	else if (e->at_end)
		errcontext("executemany, at the end of the batch of %lld rows",
				   (long long) e->sent);
}

/*
 * Raise the COPY's remote error as executemany reports errors: the line
 * of the COPY context ("COPY t, line 5000[, column c: ...]") becomes
 * "executemany row 5000" and leaves the remote context; an error without
 * one after the data was all sent (a deferred constraint) is at the end
 * of the batch; the internal query is the command.
 */
static void
raise_many_copy_error(CopyIn *ci)
{
	PgaRemoteError *err = ci->run.error;
	ManyCopyError state;
	ErrorContextCallback errcallback;
	char	   *ctx = err->context;

	memset(&state, 0, sizeof(state));
	state.sent = ci->writer ? (int64) ci->writer->rows : 0;
	if (ctx != NULL && !ci->run.error_in_preamble)
	{
		char	   *line = ctx;

		while (line != NULL && *line != '\0')
		{
			char	   *next = strchr(line, '\n');
			char	   *at;

			if (strncmp(line, "COPY ", 5) == 0 &&
				(at = strstr(line, ", line ")) != NULL &&
				(next == NULL || at < next) &&
				isdigit((unsigned char) at[7]))
			{
				state.row = strtoll(at + 7, NULL, 10);
				/* drop the line (and the newline before or after it) */
				if (next != NULL)
					memmove(line, next + 1, strlen(next + 1) + 1);
				else if (line > ctx)
					line[-1] = '\0';
				else
					*line = '\0';
				break;
			}
			line = next ? next + 1 : NULL;
		}
		if (err->context[0] == '\0')
			err->context = NULL;
	}
	state.at_end = state.row == 0 && ci->done_sent && !ci->run.error_in_preamble;
	errcallback.callback = many_copy_error_callback;
	errcallback.arg = &state;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	PgaRaiseRemoteError(ERROR, err, ci->run.session->label, ci->many_sql);
}

bool
PgaExecutemanyCopy(PgaSession *s, const char *sql, PgaRowSource *src,
				   uint64 nrows, int64 *result)
{
	PlainInsert ins;
	PgaParamPlan *plan;
	RemoteTable rt;
	RemoteColumn **cols;
	CopyIn		ci;
	StringInfoData name;
	StringInfoData copy;
	ListCell   *lc;
	bool		binary = true;
	int			i;

	if (!parse_plain_insert(sql, &ins) || ins.nparams != src->nparams ||
		pgw_conn_server_version_num(PgaConnProto(s->conn)) < 100000)
		return false;

	initStringInfo(&name);
	foreach(lc, ins.table)
	{
		if (name.len > 0)
			appendStringInfoChar(&name, '.');
		append_quoted_ident(&name, (char *) lfirst(lc));
	}

	/*
	 * What COPY would do differently from INSERT: rules (COPY ignores
	 * them), statement-level triggers (fired once instead of per row), row
	 * security (COPY refuses it), identity columns GENERATED ALWAYS (COPY
	 * fills them), generated columns, views and foreign tables.  Any of it,
	 * and the rows go the usual way.
	 */
	memset(&ci, 0, sizeof(ci));
	run_init(&ci.run, s, NULL);
	describe_remote_table(&ci.run, name.data, &rt);
	if (!rt.found || (rt.relkind != 'r' && rt.relkind != 'p') ||
		rt.row_security || rt.insert_rules || rt.statement_triggers)
		return false;

	/* the target columns: those named, or the first n, as INSERT has it */
	cols = palloc(sizeof(RemoteColumn *) * ins.nparams);
	if (ins.columns != NIL)
	{
		i = 0;
		foreach(lc, ins.columns)
		{
			int			j;

			cols[i] = find_remote_column(&rt, (char *) lfirst(lc));
			if (cols[i] == NULL)
				return false;
			for (j = 0; j < i; j++)
			{
				if (cols[j] == cols[i])
					return false;
			}
			i++;
		}
	}
	else
	{
		if (rt.ncols < ins.nparams)
			return false;
		for (i = 0; i < ins.nparams; i++)
			cols[i] = &rt.cols[i];
	}

	/*
	 * Each value must reach its column the same way: in binary as the
	 * column's very type, or as text of unspecified type, which INSERT
	 * reads with the column's input function as text COPY does.  Any text
	 * value makes the whole COPY text; money's text form depends on
	 * lc_monetary, so it only goes in binary.
	 */
	plan = PgaParamPlanCreate(src->nparams, src->types, CurrentMemoryContext);
	for (i = 0; i < ins.nparams; i++)
	{
		if (cols[i]->generated || cols[i]->identity_always)
			return false;
		if (column_binary_ok(plan, i, cols[i]->type))
			continue;
		if (plan->formats[i] == 0 &&
			(plan->types[i] == InvalidOid || plan->types[i] == cols[i]->type))
			binary = false;
		else
			return false;
	}
	for (i = 0; !binary && i < ins.nparams; i++)
	{
		if (plan->types[i] == CASHOID)
			return false;
	}

	initStringInfo(&copy);
	appendStringInfo(&copy, "COPY %s (", name.data);
	for (i = 0; i < ins.nparams; i++)
	{
		if (i > 0)
			appendStringInfoString(&copy, ", ");
		append_quoted_ident(&copy, cols[i]->name);
	}
	appendStringInfo(&copy, ") FROM STDIN (FORMAT %s)", binary ? "binary" : "text");

	ci.src = src;
	ci.func = NULL;				/* executemany */
	ci.many_sql = sql;
	ci.writer = PgaCopyWriterCreate(src->nparams, src->types, binary,
									CurrentMemoryContext);
	run_reset(&ci.run, copy.data);
	*result = copy_in_run(&ci, nrows);
	if (ci.run.error)
		raise_many_copy_error(&ci);
	return true;
}

/* ----------------------------------------------------------------
 * pgasync.copy_from_remote
 * ----------------------------------------------------------------
 */

/*
 * The data source of the local COPY FROM: the payloads of the remote
 * COPY's CopyData messages, at least minread bytes (unless the COPY has
 * ended) and at most maxread.  Returns 0 at the end (CopyDone).  A remote
 * error is raised once the server is ready again.
 */
static int
copy_source_read(void *outbuf, int minread, int maxread)
{
	CopySource *cs = copy_source;
	char	   *out = (char *) outbuf;
	int			n = 0;

	if (cs == NULL)
		elog(ERROR, "no remote COPY is under way");
	while (n < maxread)
	{
		pgw_event	ev;
		int			avail = cs->leftover.len - cs->leftover.cursor;

		if (avail > 0)
		{
			int			take = Min(avail, maxread - n);

			memcpy(out + n, cs->leftover.data + cs->leftover.cursor, take);
			cs->leftover.cursor += take;
			n += take;
			if (cs->leftover.cursor == cs->leftover.len)
				resetStringInfo(&cs->leftover);
			continue;
		}
		if (cs->eof || cs->run.done || cs->run.error)
			break;
		/* wait only until minread bytes are there */
		if (n >= minread)
		{
			if (!PgaConnPollEvent(cs->run.session->conn, &ev))
				break;
		}
		else
			run_wait(&cs->run, &ev);
		if (!run_event(&cs->run, &ev))
			continue;
		if (ev.type == PGW_EV_COPY_DONE)
			cs->eof = true;
		else
		{
			int			len = (int) ev.msg.u.copy_data.len;
			int			take = Min(len, maxread - n);

			memcpy(out + n, ev.msg.u.copy_data.data, take);
			n += take;
			if (take < len)
				appendBinaryStringInfo(&cs->leftover,
									   (const char *) ev.msg.u.copy_data.data + take,
									   len - take);
		}
	}
	if (cs->run.error)
	{
		run_finish(&cs->run);
		run_raise(&cs->run);
	}
	if (n == 0 && !cs->eof)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("remote COPY ended without CopyDone"),
				 errcontext("remote server %s", cs->run.session->label)));
	return n;
}

/*
 * Check what COPY FROM checks before it starts: INSERT privilege on the
 * columns, no row-level security, a writable transaction.  Returns the
 * parse state whose range table CopyFrom needs.
 */
static ParseState *
check_local_table(Relation rel, List *attnamelist, List **attnums)
{
	ParseState *pstate = make_parsestate(NULL);
	ParseNamespaceItem *nsitem;
	RangeTblEntry *rte;
	ListCell   *lc;

	nsitem = addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock,
										   NULL, false, false);
	rte = nsitem->p_rte;
	rte->requiredPerms = ACL_INSERT;
	*attnums = CopyGetAttnums(RelationGetDescr(rel), rel, attnamelist);
	foreach(lc, *attnums)
	{
		int			attno = lfirst_int(lc) - FirstLowInvalidHeapAttributeNumber;

		rte->insertedCols = bms_add_member(rte->insertedCols, attno);
	}
	ExecCheckRTPerms(pstate->p_rtable, true);
	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pgasync.copy_from_remote is not supported for tables with row-level security"),
				 errhint("Use INSERT ... SELECT with pgasync.fetch() instead.")));
	if (XactReadOnly && !rel->rd_islocaltemp)
		PreventCommandIfReadOnly("pgasync.copy_from_remote()");
	return pstate;
}

/*
 * pgasync.copy_from_remote(source text, source_query text,
 *							local_table regclass,
 *							options jsonb DEFAULT '{}') RETURNS bigint
 *
 * Loads the rows of source_query (a query, or a table name) run on source
 * into local_table with the local COPY machinery; returns the rows loaded.
 */
Datum
pgasync_copy_from_remote(PG_FUNCTION_ARGS)
{
	const char *func = "pgasync.copy_from_remote";
	char	   *target = PgaArgText(fcinfo, 0, "source");
	char	   *source_query = PgaArgText(fcinfo, 1, "source_query");
	Oid			relid;
	CopyOptions opts;
	Relation	rel;
	ParseState *pstate;
	List	   *attnamelist = NIL;
	List	   *attnums;
	List	   *copy_options;
	char	   *qname;
	char	   *query;
	PgaSession *s;
	CopySource	cs;
	CopySource *save_source = copy_source;
	CopyFromState cstate;
	TupleDesc	tupdesc;
	ListCell   *lc;
	bool		binary;
	uint64		processed = 0;
	int			i;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("local_table must not be null")));
	relid = PG_GETARG_OID(2);
	parse_options(fcinfo, 3, func, false, &opts);
	foreach(lc, opts.columns)
		attnamelist = lappend(attnamelist, makeString((char *) lfirst(lc)));

	rel = table_open(relid, RowExclusiveLock);
	pstate = check_local_table(rel, attnamelist, &attnums);
	tupdesc = RelationGetDescr(rel);

	/* a table name stands for all its columns */
	qname = quoted_table_name(source_query);
	if (qname != NULL)
		query = psprintf("SELECT * FROM %s", qname);
	else
		query = trim_query(source_query);

	s = PgaSessionGet(target);
	PgaSessionClaim(s);
	memset(&cs, 0, sizeof(cs));
	run_init(&cs.run, s, query);
	initStringInfo(&cs.leftover);

	/* the remote result's columns */
	run_start_describe(&cs.run);
	run_finish(&cs.run);
	if (cs.run.error)
		run_raise(&cs.run);
	if (cs.run.nfields < 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("the source query of %s must return rows", func),
				 errcontext("remote server %s", s->label)));
	if (cs.run.nfields != list_length(attnums))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the source query returns %d columns, but %d columns of \"%s\" are to be loaded",
						cs.run.nfields, list_length(attnums),
						RelationGetRelationName(rel)),
				 errcontext("remote server %s", s->label)));

	/*
	 * Binary when each remote column has the local column's (base) type,
	 * built-in; the receive functions of string types must not convert.
	 */
	binary = opts.format != COPY_FORMAT_TEXT;
	i = 0;
	foreach(lc, attnums)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, lfirst_int(lc) - 1);
		Oid			local_type = getBaseType(attr->atttypid);
		Oid			remote_type = cs.run.fields[i].type_oid;
		bool		same = PgaTypeIsBuiltin(local_type) && local_type == remote_type;

		if (!same && opts.format == COPY_FORMAT_BINARY &&
			(PgaTypeIsBuiltin(local_type) || PgaTypeIsBuiltin(remote_type)))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" cannot be loaded in binary format",
							NameStr(attr->attname)),
					 errdetail("Its type is %s; the remote column's type has OID %u.",
							   format_type_be(attr->atttypid), remote_type),
					 errcontext("remote server %s", s->label)));
		if (!same)
			binary = binary && opts.format == COPY_FORMAT_BINARY;
		i++;
	}
	if (binary && !PgaBinaryStringsOk())
	{
		if (opts.format == COPY_FORMAT_BINARY)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s cannot load in binary format while client_encoding differs from the server encoding",
							func)));
		binary = false;
	}

	copy_options = list_make1(makeDefElem("format",
										  (Node *) makeString(binary ? "binary" : "text"),
										  -1));
	if (!binary)
		copy_options = lappend(copy_options,
							   makeDefElem("encoding",
										   (Node *) makeString(pstrdup(GetDatabaseEncodingName())),
										   -1));

	/* COPY (query) TO STDOUT, and wait for its CopyOutResponse */
	run_reset(&cs.run, psprintf("COPY (%s) TO STDOUT (FORMAT %s)", query,
								binary ? "binary" : "text"));
	run_start_simple(&cs.run);
	s->batch_open = true;
	s->batch_func = func;
	PG_TRY();
	{
		pgw_event	ev;

		while (!cs.run.copy_started && !cs.run.done)
		{
			run_wait(&cs.run, &ev);
			(void) run_event(&cs.run, &ev);
		}
		if (cs.run.error)
		{
			run_finish(&cs.run);
			run_raise(&cs.run);
		}
		copy_source = &cs;
		cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false,
							   copy_source_read, attnamelist, copy_options);
		processed = CopyFrom(cstate);
		EndCopyFrom(cstate);
		copy_source = save_source;
	}
	PG_CATCH();
	{
		/* the transaction abort cancels the remote COPY and drains */
		copy_source = save_source;
		s->batch_open = false;
		s->batch_func = NULL;
		PG_RE_THROW();
	}
	PG_END_TRY();
	s->batch_open = false;
	s->batch_func = NULL;

	/* CommandComplete and ReadyForQuery */
	run_finish(&cs.run);
	if (cs.run.error)
		run_raise(&cs.run);

	table_close(rel, NoLock);
	PgaSessionRelease(s);
	PG_RETURN_INT64((int64) processed);
}
