/*-------------------------------------------------------------------------
 *
 * copy.c
 *	  pgasync.copy(): a table or query copied from one remote server into a
 *	  table on another, by relaying COPY ... TO STDOUT into COPY ... FROM
 *	  STDIN.
 *
 * The copy runs on private connections (never the cached ones), all opened
 * at once: one source and one destination connection per stream, and with
 * parallel > 1 a coordinator on the source that exports the snapshot every
 * stream reads.  One round trip on each side learns what is needed before
 * the data moves: the column types of the source (Parse + Describe of the
 * query, or the catalog for a table) and of the destination table (its
 * catalog), max_prepared_transactions, the table's integer key or size.
 * Binary COPY is used when every column has the same built-in type on both
 * sides, text otherwise.
 *
 * The CopyData payloads of the source are never decoded: they are appended
 * to a 64 kB chunk sent to the destination as one CopyData message.  The
 * destination's unsent output is bounded: past COPY_HIGH_WATER bytes the
 * source's socket is no longer read (the source server then blocks) until
 * it is below COPY_LOW_WATER.  All connections of all streams share one
 * event loop (PgaDriverNextEvent), which processes interrupts.
 *
 * Every destination stream runs BEGIN; [TRUNCATE;] COPY FROM STDIN and
 * commits only when the source finished cleanly and both command tags
 * agree on the row count.  Parallel atomic copies commit with two-phase
 * commit: PREPARE TRANSACTION on every destination, then COMMIT PREPARED.
 * Any failure -- a remote error on either side, a lost connection, a
 * cancel or timeout -- ends in copy_abort(): prepared transactions are
 * rolled back, the destinations still in COPY get CopyFail, busy sources a
 * CancelRequest, and every connection is closed, so both servers roll back
 * and release their locks within about a second.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/progress.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/scansup.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/timestamp.h"

#include "codec.h"
#include "connection.h"
#include "driver.h"
#include "pgasync.h"
#include "query.h"
#include "remote_error.h"

PG_FUNCTION_INFO_V1(pgasync_copy);

/* CopyData messages sent to the destination carry about this much */
#define COPY_CHUNK_SIZE			(64 * 1024)
/* Backpressure: stop reading the source past this much unsent output ... */
#define COPY_HIGH_WATER			(4 * 1024 * 1024)
/* ... and read it again below this */
#define COPY_LOW_WATER			(1024 * 1024)
/* How often to look at the unsent output while a source is paused */
#define COPY_PAUSE_POLL_MS		2
/* Events of a source taken in a row before looking at the others */
#define COPY_SOURCE_BATCH		1024
/* Progress is reported every this many CopyData messages */
#define COPY_PROGRESS_EVERY		4096
/* Cancel and drain on failure */
#define COPY_CANCEL_TIMEOUT_MS	1000
/* Longest wait for PREPARE/COMMIT PREPARED/ROLLBACK PREPARED answers */
#define COPY_2PC_TIMEOUT_MS		10000
#define COPY_MAX_PARALLEL		64

/* Built-in types have OIDs below this (FirstGenbkiObjectId) */
#define COPY_BUILTIN_OID_LIMIT	10000

/*
 * Built-in types whose binary form is an OID of the server's own catalog
 * (regclass, regtype, ...) and their arrays: their text form (a name) is
 * what means the same thing on another server.
 */
static const Oid copy_oid_alias_types[] = {
	24, 2202, 2203, 2204, 2205, 2206, 3734, 3769, 4089, 4096, 4191,	/* reg* */
	1008, 2207, 2208, 2209, 2210, 2211, 3735, 3770, 4090, 4097, 4192	/* reg*[] */
};

typedef enum CopyRole
{
	ROLE_SOURCE,
	ROLE_DEST,
	ROLE_COORD					/* exports the snapshot (parallel > 1) */
} CopyRole;

/* The request a connection has in flight */
typedef enum CopyReq
{
	REQ_NONE,
	REQ_META,					/* column types and the like */
	REQ_RANGE,					/* min and max of the key (coordinator) */
	REQ_COPY,					/* the COPY (with BEGIN etc.) */
	REQ_COMMIT,					/* COMMIT (one stream, or not atomic) */
	REQ_PREPARE,				/* PREPARE TRANSACTION */
	REQ_COMMIT_PREPARED,
	REQ_ROLLBACK_PREPARED
} CopyReq;

struct CopyStream;

typedef struct CopyConn
{
	PgaConn    *conn;			/* NULL once closed */
	char	   *label;			/* quoted name for messages */
	CopyRole	role;
	struct CopyStream *stream;	/* NULL for the coordinator */
	bool		connected;
	CopyReq		req;
	int			ncomplete;		/* CommandCompletes of the request so far */
	char	   *tag;			/* last command tag of a finishing request */
	PgaRemoteError *error;		/* error of a finishing request */
	bool		lost;			/* connection lost during a finishing request */
} CopyConn;

/* Where a stream's destination transaction stands */
typedef enum CopyEnd
{
	END_OPEN,					/* copying, or transaction still open */
	END_COPIED,					/* COPY done and checked; awaiting 2PC */
	END_COMMITTED,
	END_PREPARING,				/* PREPARE TRANSACTION sent */
	END_PREPARED,
	END_COMMITTING,				/* COMMIT PREPARED sent */
	END_ROLLING_BACK,			/* ROLLBACK PREPARED sent */
	END_ROLLED_BACK
} CopyEnd;

typedef struct CopyStream
{
	int			index;
	CopyConn   *src;
	CopyConn   *dst;
	char	   *range;			/* WHERE condition of the source, or NULL */
	char	   *src_sql;
	char	   *dst_sql;
	bool		src_started;
	bool		src_copy_done;	/* CopyDone received */
	bool		src_done;		/* its ReadyForQuery received */
	int64		src_rows;		/* -1 until its command tag arrives */
	bool		dst_started;
	bool		dst_in_copy;	/* CopyInResponse received */
	bool		dst_copy_ended; /* CopyDone sent */
	bool		dst_done;		/* ReadyForQuery of the COPY received */
	int64		dst_rows;
	bool		wait_dest;		/* source paused until the destination is in COPY */
	bool		backpressure;	/* source paused: destination output full */
	CopyEnd		end;
	char		gid[64];
	StringInfoData chunk;		/* CopyData not yet sent to the destination */
	uint64		messages;		/* CopyData messages received from the source */
} CopyStream;

typedef struct CopyOptions
{
	List	   *columns;		/* destination column names (char *) */
	bool		text;			/* format 'text' requested */
	bool		truncate;
	char	   *where;
	int			parallel;
	bool		atomic;
} CopyOptions;

typedef enum CopyFinish
{
	FINISH_NONE,
	FINISH_PREPARING,			/* two-phase commit: PREPAREs under way */
	FINISH_COMMITTING,			/* all prepared: COMMIT PREPAREDs under way */
	FINISH_DONE
} CopyFinish;

typedef struct CopyState
{
	MemoryContext mcxt;
	CopyOptions opts;
	char	   *source_target;
	char	   *dest_target;
	char	   *source_query;	/* query, trailing semicolons removed */
	char	   *source_table;	/* quoted table name, or NULL for a query */
	char	   *dest_table;		/* quoted */
	char	   *src_label;
	char	   *dst_label;

	/* connections: sources, destinations, then the coordinator */
	PgaConn   **conns;
	CopyConn   *cc;
	int			nconns;
	CopyStream *streams;
	int			nstreams;
	CopyConn   *meta_src;		/* runs the source metadata request */
	CopyConn   *meta_dst;

	/* what the metadata requests found */
	bool		src_meta_sent;
	bool		src_meta_done;
	bool		dst_meta_sent;
	bool		dst_meta_done;
	bool		src_no_rows;	/* the source query returns no rows */
	List	   *src_types;		/* column type OIDs */
	List	   *src_colnames;	/* table source: its columns (char *) */
	char		src_relkind;
	uint64		src_pages;
	char	   *key;			/* integer key column, or NULL */
	char	   *snapshot;
	List	   *dst_types;		/* InvalidOid: named column not found */
	List	   *dst_colnames;
	int			dst_max_prepared;
	char		dst_relkind;
	bool		range_sent;
	bool		range_done;
	char	   *key_min;
	char	   *key_max;

	/* the plan */
	bool		planned;
	bool		binary;
	bool		two_phase;

	/* progress */
	int			ndone;			/* streams committed or copied (2PC) */
	int			npaused;		/* sources paused for backpressure */
	uint64		messages;
	uint64		bytes;
	uint64		trailers;		/* binary trailers among the messages */
	uint64		next_progress;
	bool		copy_started;	/* some COPY was sent */
	CopyFinish	finish;
	int			ncommitted;		/* streams committed */
	int64		committed_rows;
	int64		src_rows;
	int64		dst_rows;
} CopyState;

static void copy_kick(CopyState *cs);

/* ----------------------------------------------------------------
 * Arguments and options
 * ----------------------------------------------------------------
 */

/* One option of pgasync.copy(); arg is the CopyOptions to set. */
static void
copy_option(const char *key, JsonbValue *value, void *arg)
{
	CopyOptions *opts = (CopyOptions *) arg;
	const char *whose = "pgasync.copy";

	if (strcmp(key, "columns") == 0)
		opts->columns = PgaJsonbOptionStringList(key, value, whose,
												 "an array of column names",
												 false);
	else if (strcmp(key, "format") == 0)
	{
		char	   *f = PgaJsonbOptionString(key, value, whose, false);

		if (pg_strcasecmp(f, "text") == 0)
			opts->text = true;
		else if (pg_strcasecmp(f, "binary") == 0)
			opts->text = false;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("pgasync.copy format \"%s\" not recognized", f),
					 errhint("Valid formats are \"binary\" and \"text\".")));
	}
	else if (strcmp(key, "truncate") == 0)
		opts->truncate = PgaJsonbOptionBool(key, value, whose);
	else if (strcmp(key, "where") == 0)
		opts->where = PgaJsonbOptionString(key, value, whose, false);
	else if (strcmp(key, "parallel") == 0)
		opts->parallel = PgaJsonbOptionInt(key, value, whose,
										   1, COPY_MAX_PARALLEL);
	else if (strcmp(key, "atomic") == 0)
		opts->atomic = PgaJsonbOptionBool(key, value, whose);
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized pgasync.copy option \"%s\"", key),
				 errhint("Valid options are: atomic, columns, format, parallel, truncate, where.")));
}

static void
copy_parse_options(Jsonb *json, CopyOptions *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->parallel = 1;
	opts->atomic = true;
	PgaJsonbForEachOption(json, "pgasync.copy options", copy_option, opts);
}

static bool
ident_start_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		IS_HIGHBIT_SET(c);
}

static bool
ident_char(unsigned char c)
{
	return ident_start_char(c) || (c >= '0' && c <= '9') || c == '$';
}

/*
 * Is s a table name rather than a query?  One to three identifiers
 * separated by dots, each plain or double-quoted, with optional white space
 * around them.
 */
static bool
looks_like_table_name(const char *s)
{
	const char *p = s;
	int			parts = 0;

	for (;;)
	{
		while (scanner_isspace(*p))
			p++;
		if (*p == '"')
		{
			p++;
			for (;;)
			{
				if (*p == '\0')
					return false;
				if (*p == '"')
				{
					if (p[1] != '"')
						break;
					p++;
				}
				p++;
			}
			p++;
		}
		else if (ident_start_char((unsigned char) *p))
		{
			while (ident_char((unsigned char) *p))
				p++;
		}
		else
			return false;
		parts++;
		while (scanner_isspace(*p))
			p++;
		if (*p != '.')
			break;
		p++;
	}
	return *p == '\0' && parts <= 3;
}

/* A qualified name parsed like regclass input, quoted for SQL. */
static char *
quoted_table_name(const char *name)
{
	List	   *names = stringToQualifiedNameList(name);
	StringInfoData buf;
	ListCell   *lc;

	if (list_length(names) > 3)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("improper qualified name (too many dotted names): %s", name)));
	initStringInfo(&buf);
	foreach(lc, names)
	{
		if (buf.len > 0)
			appendStringInfoChar(&buf, '.');
		appendStringInfoString(&buf, quote_identifier(strVal(lfirst(lc))));
	}
	return buf.data;
}

/* The query without trailing white space and semicolons. */
static char *
trim_query(const char *q)
{
	char	   *s = pstrdup(q);
	int			len = strlen(s);

	while (len > 0 && (scanner_isspace(s[len - 1]) || s[len - 1] == ';'))
		s[--len] = '\0';
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source query must not be empty")));
	return s;
}

/* ----------------------------------------------------------------
 * Errors
 * ----------------------------------------------------------------
 */

static uint64
copy_rows_relayed(CopyState *cs)
{
	return cs->messages - cs->trailers;
}

/* What had happened when the copy failed, for the error's detail. */
static char *
copy_outcome(CopyState *cs, CopyConn *cc)
{
	StringInfoData buf;
	uint64		rows = copy_rows_relayed(cs);

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s server %s reported the error after " UINT64_FORMAT " %s had been relayed",
					 cc->role == ROLE_DEST ? "Destination" : "Source",
					 cc->label, rows, rows == 1 ? "row" : "rows");
	if (cs->ncommitted == 0)
		appendStringInfoString(&buf, "; nothing was committed.");
	else
		appendStringInfo(&buf, "; %d of %d streams had already committed " INT64_FORMAT " rows.",
						 cs->ncommitted, cs->nstreams, cs->committed_rows);
	return buf.data;
}

static int
sqlstate_code(const char *s, int fallback)
{
	if (s == NULL || strlen(s) != 5)
		return fallback;
	return MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
}

/*
 * Raise a remote error: the server's SQLSTATE, message, hint and context,
 * and once data moves, a detail saying which side failed and how far the
 * copy had come.
 */
static void
copy_raise_remote(CopyState *cs, CopyConn *cc, const PgaRemoteError *e) pg_attribute_noreturn();

static void
copy_raise_remote(CopyState *cs, CopyConn *cc, const PgaRemoteError *e)
{
	char	   *detail = NULL;

	if (cs->copy_started)
	{
		char	   *outcome = copy_outcome(cs, cc);

		detail = e->detail ? psprintf("%s\n%s", e->detail, outcome) : outcome;
	}
	else if (e->detail)
		detail = e->detail;

	ereport(ERROR,
			(errcode(sqlstate_code(e->sqlstate, ERRCODE_CONNECTION_FAILURE)),
			 errmsg_internal("%s", e->message ? e->message : "remote server reported an error"),
			 detail ? errdetail_internal("%s", detail) : 0,
			 e->hint ? errhint("%s", e->hint) : 0,
			 e->context ? errcontext("%s", e->context) : 0,
			 errcontext("remote server %s", cc->label),
			 e->schema_name ? err_generic_string(PG_DIAG_SCHEMA_NAME, e->schema_name) : 0,
			 e->table_name ? err_generic_string(PG_DIAG_TABLE_NAME, e->table_name) : 0,
			 e->column_name ? err_generic_string(PG_DIAG_COLUMN_NAME, e->column_name) : 0,
			 e->datatype_name ? err_generic_string(PG_DIAG_DATATYPE_NAME, e->datatype_name) : 0,
			 e->constraint_name ? err_generic_string(PG_DIAG_CONSTRAINT_NAME, e->constraint_name) : 0));
	pg_unreachable();
}

/* Raise the failure of a connection that broke. */
static void
copy_raise_broken(CopyState *cs, CopyConn *cc) pg_attribute_noreturn();

static void
copy_raise_broken(CopyState *cs, CopyConn *cc)
{
	if (!cc->connected || !cs->copy_started)
		PgaRaiseConnFailure(cc->conn);
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("lost connection to %s server %s",
					cc->role == ROLE_DEST ? "destination" : "source", cc->label),
			 errdetail_internal("%s\n%s", PgaConnErrorMessage(cc->conn),
								copy_outcome(cs, cc))));
	pg_unreachable();
}

static void
copy_send_failed(CopyConn *cc) pg_attribute_noreturn();

static void
copy_send_failed(CopyConn *cc)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_EXCEPTION),
			 errmsg("could not send data to remote server %s", cc->label),
			 errdetail_internal("%s", pgw_conn_errmsg(PgaConnProto(cc->conn)))));
	pg_unreachable();
}

static void
copy_error_context(void *arg)
{
	CopyState  *cs = (CopyState *) arg;

	if (cs->src_label == NULL || cs->dst_label == NULL)
		return;
	if (cs->copy_started)
		errcontext("pgasync.copy from server %s to server %s, " UINT64_FORMAT " rows relayed",
				   cs->src_label, cs->dst_label, copy_rows_relayed(cs));
	else
		errcontext("pgasync.copy from server %s to server %s",
				   cs->src_label, cs->dst_label);
}

/* ----------------------------------------------------------------
 * Connections
 * ----------------------------------------------------------------
 */

static void
copy_open(CopyState *cs, CopyConn *cc, CopyRole role, CopyStream *st)
{
	PgaTarget	target;
	char	   *label;

	PgaResolveTarget(role == ROLE_DEST ? cs->dest_target : cs->source_target,
					 &target, &label);
	cc->role = role;
	cc->stream = st;
	cc->label = label;
	cc->conn = PgaConnOpen(&target, label);
	PgaConnSetOwnerData(cc->conn, cc);
	if (role == ROLE_DEST)
		cs->dst_label = label;
	else
		cs->src_label = label;
}

static void
copy_close_all(CopyState *cs)
{
	int			i;

	for (i = 0; i < cs->nconns; i++)
	{
		if (cs->cc[i].conn != NULL)
		{
			PgaConn    *c = cs->cc[i].conn;

			cs->cc[i].conn = NULL;
			cs->conns[i] = NULL;
			PgaConnClose(c);
		}
	}
}

/* Memory context callback: nothing may stay open after an error. */
static void
copy_reset_callback(void *arg)
{
	copy_close_all((CopyState *) arg);
}

static void
copy_send_query(CopyConn *cc, CopyReq req, const char *sql)
{
	if (pgw_conn_query(PgaConnProto(cc->conn), sql) == 0)
		copy_send_failed(cc);
	cc->req = req;
	cc->ncomplete = 0;
	cc->tag = NULL;
	cc->error = NULL;
	cc->lost = false;
}

/* ----------------------------------------------------------------
 * Metadata
 * ----------------------------------------------------------------
 */

static const char *
columns_sql(const char *table)
{
	return psprintf("SELECT a.attname, a.atttypid FROM pg_catalog.pg_attribute a"
					" WHERE a.attrelid = %s::pg_catalog.regclass AND a.attnum > 0"
					" AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
					quote_literal_cstr(table));
}

/*
 * Source metadata.  A query: Parse and Describe (its column types).  A
 * table: its kind, its columns, and for a parallel copy its integer key or
 * size in pages, in the transaction whose snapshot is exported.
 */
static void
copy_send_src_meta(CopyState *cs)
{
	CopyConn   *cc = cs->meta_src;
	pgw_conn   *proto = PgaConnProto(cc->conn);
	StringInfoData sql;
	const char *lit;

	cs->src_meta_sent = true;
	if (cs->source_table == NULL)
	{
		uint64		id;

		if (!pgw_conn_parse(proto, "", cs->source_query, 0, NULL) ||
			!pgw_conn_describe(proto, 'S', ""))
			copy_send_failed(cc);
		id = pgw_conn_sync(proto);
		if (id == 0)
			copy_send_failed(cc);
		cc->req = REQ_META;
		cc->ncomplete = 0;
		return;
	}

	lit = quote_literal_cstr(cs->source_table);
	initStringInfo(&sql);
	if (cs->opts.parallel > 1)
		appendStringInfoString(&sql, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; ");
	appendStringInfo(&sql,
					 "SELECT c.relkind,"
					 " GREATEST(pg_catalog.pg_relation_size(c.oid),"
					 "  (SELECT pg_catalog.max(pg_catalog.pg_relation_size(p.relid))"
					 "   FROM pg_catalog.pg_partition_tree(c.oid) p))"
					 " / pg_catalog.current_setting('block_size')::pg_catalog.int8,"
					 " (SELECT a.attname FROM pg_catalog.pg_index i"
					 "  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
					 "  WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid"
					 "  AND i.indnkeyatts = 1 AND i.indpred IS NULL AND i.indexprs IS NULL"
					 "  AND a.attnotnull AND a.atttypid IN ('pg_catalog.int2'::pg_catalog.regtype,"
					 "  'pg_catalog.int4'::pg_catalog.regtype, 'pg_catalog.int8'::pg_catalog.regtype)"
					 "  ORDER BY i.indisprimary DESC, a.attnum LIMIT 1),"
					 " %s"
					 " FROM pg_catalog.pg_class c WHERE c.oid = %s::pg_catalog.regclass; %s",
					 cs->opts.parallel > 1 ? "pg_catalog.pg_export_snapshot()" : "NULL",
					 lit, columns_sql(cs->source_table));
	copy_send_query(cc, REQ_META, sql.data);
}

/*
 * Destination metadata: max_prepared_transactions, the table's kind, and
 * the types of the columns the COPY fills.
 */
static void
copy_send_dst_meta(CopyState *cs)
{
	CopyConn   *cc = cs->meta_dst;
	StringInfoData sql;
	const char *lit = quote_literal_cstr(cs->dest_table);

	cs->dst_meta_sent = true;
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT pg_catalog.current_setting('max_prepared_transactions'), c.relkind"
					 " FROM pg_catalog.pg_class c WHERE c.oid = %s::pg_catalog.regclass; ",
					 lit);
	if (cs->opts.columns == NIL)
		appendStringInfoString(&sql, columns_sql(cs->dest_table));
	else
	{
		ListCell   *lc;
		bool		first = true;

		appendStringInfoString(&sql, "SELECT n.name, a.atttypid FROM pg_catalog.unnest(ARRAY[");
		foreach(lc, cs->opts.columns)
		{
			appendStringInfo(&sql, "%s%s", first ? "" : ", ",
							 quote_literal_cstr((char *) lfirst(lc)));
			first = false;
		}
		appendStringInfo(&sql,
						 "]::pg_catalog.text[]) WITH ORDINALITY AS n(name, ord)"
						 " LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = %s::pg_catalog.regclass"
						 " AND a.attname = n.name AND a.attnum > 0 AND NOT a.attisdropped"
						 " ORDER BY n.ord",
						 lit);
	}
	copy_send_query(cc, REQ_META, sql.data);
}

static void
copy_send_range(CopyState *cs)
{
	CopyConn   *cc = cs->meta_src;

	cs->range_sent = true;
	copy_send_query(cc, REQ_RANGE,
					psprintf("SELECT pg_catalog.min(%s)::pg_catalog.text, pg_catalog.max(%s)::pg_catalog.text FROM %s%s",
							 quote_identifier(cs->key), quote_identifier(cs->key),
							 cs->src_relkind == 'r' ? "ONLY " : "", cs->source_table));
}

static char *
value_text(const pgw_value *cols, int ncols, int i)
{
	if (i >= ncols)
		return NULL;
	return PgaValueToCString(&cols[i]);
}

static Oid
text_to_oid(const char *s)
{
	if (s == NULL)
		return InvalidOid;
	return (Oid) strtoul(s, NULL, 10);
}

static void
copy_on_meta_event(CopyState *cs, CopyConn *cc, pgw_event *ev)
{
	const pgw_value *cols = ev->msg.u.data_row.columns;
	int			ncols = ev->msg.u.data_row.ncolumns;

	if (cc->role == ROLE_DEST)
	{
		switch (ev->type)
		{
			case PGW_EV_DATA_ROW:
				if (cc->ncomplete == 0)
				{
					char	   *mpt = value_text(cols, ncols, 0);
					char	   *kind = value_text(cols, ncols, 1);

					cs->dst_max_prepared = mpt ? atoi(mpt) : 0;
					cs->dst_relkind = kind ? kind[0] : 'r';
				}
				else
				{
					cs->dst_colnames = lappend(cs->dst_colnames, value_text(cols, ncols, 0));
					cs->dst_types = lappend_oid(cs->dst_types,
												text_to_oid(value_text(cols, ncols, 1)));
				}
				break;
			case PGW_EV_COMMAND_COMPLETE:
				cc->ncomplete++;
				break;
			case PGW_EV_READY:
				cc->req = REQ_NONE;
				cs->dst_meta_done = true;
				break;
			default:
				break;
		}
		return;
	}

	/* source */
	switch (ev->type)
	{
		case PGW_EV_ROW_DESCRIPTION:
			if (cs->source_table == NULL)
			{
				int			i;

				for (i = 0; i < ev->msg.u.row_description.nfields; i++)
					cs->src_types = lappend_oid(cs->src_types,
												ev->msg.u.row_description.fields[i].type_oid);
			}
			break;
		case PGW_EV_NO_DATA:
			cs->src_no_rows = true;
			break;
		case PGW_EV_DATA_ROW:
			{
				int			stmt = cc->ncomplete - (cs->opts.parallel > 1 ? 1 : 0);

				if (stmt == 0)
				{
					char	   *kind = value_text(cols, ncols, 0);
					char	   *pages = value_text(cols, ncols, 1);

					cs->src_relkind = kind ? kind[0] : 'r';
					cs->src_pages = pages ? strtou64(pages, NULL, 10) : 0;
					cs->key = value_text(cols, ncols, 2);
					cs->snapshot = value_text(cols, ncols, 3);
				}
				else if (stmt == 1)
				{
					cs->src_colnames = lappend(cs->src_colnames, value_text(cols, ncols, 0));
					cs->src_types = lappend_oid(cs->src_types,
												text_to_oid(value_text(cols, ncols, 1)));
				}
			}
			break;
		case PGW_EV_COMMAND_COMPLETE:
			cc->ncomplete++;
			break;
		case PGW_EV_READY:
			cc->req = REQ_NONE;
			cs->src_meta_done = true;
			break;
		default:
			break;
	}
}

static void
copy_on_range_event(CopyState *cs, CopyConn *cc, pgw_event *ev)
{
	if (ev->type == PGW_EV_DATA_ROW)
	{
		cs->key_min = value_text(ev->msg.u.data_row.columns, ev->msg.u.data_row.ncolumns, 0);
		cs->key_max = value_text(ev->msg.u.data_row.columns, ev->msg.u.data_row.ncolumns, 1);
	}
	else if (ev->type == PGW_EV_READY)
	{
		cc->req = REQ_NONE;
		cs->range_done = true;
	}
}

/* ----------------------------------------------------------------
 * The plan: format, ranges, statements
 * ----------------------------------------------------------------
 */

/* Boundary i of n ranges over [lo, hi], without overflow. */
static int64
key_boundary(int64 lo, int64 hi, int i, int n)
{
	uint64		span = (uint64) hi - (uint64) lo;
	uint64		off = (span / n) * i + ((span % n) * i) / n;

	return (int64) ((uint64) lo + off);
}

static char *
copy_range_condition(CopyState *cs, int i, int n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (cs->key != NULL)
	{
		int64		lo = 0;
		int64		hi = 0;
		const char *k = quote_identifier(cs->key);

		if (cs->key_min != NULL && cs->key_max != NULL)
		{
			lo = strtoi64(cs->key_min, NULL, 10);
			hi = strtoi64(cs->key_max, NULL, 10);
		}
		if (i > 0)
			appendStringInfo(&buf, "%s >= " INT64_FORMAT, k, key_boundary(lo, hi, i, n));
		if (i > 0 && i < n - 1)
			appendStringInfoString(&buf, " AND ");
		if (i < n - 1)
			appendStringInfo(&buf, "%s < " INT64_FORMAT, k, key_boundary(lo, hi, i + 1, n));
	}
	else
	{
		uint64		pages = cs->src_pages;

		if (i > 0)
			appendStringInfo(&buf, "ctid >= '(" UINT64_FORMAT ",0)'::pg_catalog.tid",
							 pages * i / n);
		if (i > 0 && i < n - 1)
			appendStringInfoString(&buf, " AND ");
		if (i < n - 1)
			appendStringInfo(&buf, "ctid < '(" UINT64_FORMAT ",0)'::pg_catalog.tid",
							 pages * (i + 1) / n);
	}
	return buf.data;
}

/* The source's columns, quoted and separated by commas. */
static char *
source_column_list(CopyState *cs)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, cs->src_colnames)
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "",
						 quote_identifier((char *) lfirst(lc)));
	return buf.data;
}

static void
copy_plan_checks(CopyState *cs)
{
	ListCell   *lc1;
	ListCell   *lc2;

	if (cs->src_no_rows)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source query does not return rows"),
				 errcontext("remote server %s", cs->src_label)));
	forboth(lc1, cs->dst_types, lc2, cs->dst_colnames)
	{
		if (lfirst_oid(lc1) == InvalidOid)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation %s does not exist",
							(char *) lfirst(lc2), cs->dest_table),
					 errcontext("remote server %s", cs->dst_label)));
	}
	if (list_length(cs->src_types) != list_length(cs->dst_types))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("source and destination of pgasync.copy have different numbers of columns"),
				 errdetail("The source returns %d columns, and the destination takes %d.",
						   list_length(cs->src_types), list_length(cs->dst_types)),
				 cs->opts.columns == NIL ?
				 errhint("Name the destination columns with the \"columns\" option.") : 0));

	if (cs->two_phase)
	{
		if (cs->dst_max_prepared == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("atomic parallel copy needs prepared transactions on destination server %s",
							cs->dst_label),
					 errdetail("Each of the %d streams writes in a transaction of its own; they commit together with two-phase commit, but max_prepared_transactions is 0 there.",
							   cs->nstreams),
					 errhint("Set max_prepared_transactions on the destination server, or pass \"atomic\": false to let each stream commit on its own.")));
		if (cs->dst_max_prepared < cs->nstreams)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("atomic parallel copy needs %d prepared transactions on destination server %s",
							cs->nstreams, cs->dst_label),
					 errdetail("max_prepared_transactions is %d there.", cs->dst_max_prepared),
					 errhint("Raise max_prepared_transactions on the destination server, lower \"parallel\", or pass \"atomic\": false.")));
	}
	if (cs->nstreams > 1 && cs->key == NULL &&
		cs->src_relkind != 'r' && cs->src_relkind != 'p' && cs->src_relkind != 'm')
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot split %s into ranges for a parallel copy", cs->source_table),
				 errdetail("It has no integer key and is not a table."),
				 errcontext("remote server %s", cs->src_label)));
}

/* Can a column of this type go in binary between two servers? */
static bool
copy_binary_type(Oid type)
{
	int			i;

	if (type >= COPY_BUILTIN_OID_LIMIT)
		return false;
	for (i = 0; i < lengthof(copy_oid_alias_types); i++)
	{
		if (copy_oid_alias_types[i] == type)
			return false;
	}
	return true;
}

/* Decide the format, build every stream's statements. */
static void
copy_plan(CopyState *cs)
{
	const char *fmt;
	ListCell   *lc1;
	ListCell   *lc2;
	int			i;

	copy_plan_checks(cs);

	/* binary only when every column has the same built-in type */
	cs->binary = !cs->opts.text;
	forboth(lc1, cs->src_types, lc2, cs->dst_types)
	{
		if (lfirst_oid(lc1) != lfirst_oid(lc2) || !copy_binary_type(lfirst_oid(lc1)))
			cs->binary = false;
	}
	fmt = cs->binary ? "binary" : "text";
	ereport(DEBUG1,
			(errmsg_internal("pgasync.copy: %d stream%s, format %s%s",
							 cs->nstreams, cs->nstreams > 1 ? "s" : "", fmt,
							 cs->two_phase ? ", two-phase commit" : "")));

	for (i = 0; i < cs->nstreams; i++)
	{
		CopyStream *st = &cs->streams[i];
		StringInfoData sql;

		/* source */
		initStringInfo(&sql);
		if (cs->nstreams > 1)
		{
			st->range = copy_range_condition(cs, i, cs->nstreams);
			appendStringInfo(&sql,
							 "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
							 "SET TRANSACTION SNAPSHOT %s; "
							 "COPY (SELECT %s FROM %s%s%s%s) TO STDOUT (FORMAT %s)",
							 quote_literal_cstr(cs->snapshot),
							 source_column_list(cs),
							 cs->src_relkind == 'r' ? "ONLY " : "",
							 cs->source_table,
							 st->range[0] ? " WHERE " : "", st->range, fmt);
		}
		else if (cs->source_table != NULL && cs->src_relkind == 'r')
			appendStringInfo(&sql, "COPY %s TO STDOUT (FORMAT %s)", cs->source_table, fmt);
		else if (cs->source_table != NULL)
			appendStringInfo(&sql, "COPY (SELECT %s FROM %s) TO STDOUT (FORMAT %s)",
							 source_column_list(cs), cs->source_table, fmt);
		else
			appendStringInfo(&sql, "COPY (\n%s\n) TO STDOUT (FORMAT %s)",
							 cs->source_query, fmt);
		st->src_sql = sql.data;

		/* destination */
		initStringInfo(&sql);
		appendStringInfoString(&sql, "BEGIN; ");
		if (cs->opts.truncate)
			appendStringInfo(&sql, "TRUNCATE %s; ", cs->dest_table);
		appendStringInfo(&sql, "COPY %s", cs->dest_table);
		if (cs->opts.columns != NIL)
		{
			ListCell   *lc;
			bool		first = true;

			appendStringInfoString(&sql, " (");
			foreach(lc, cs->opts.columns)
			{
				appendStringInfo(&sql, "%s%s", first ? "" : ", ",
								 quote_identifier((char *) lfirst(lc)));
				first = false;
			}
			appendStringInfoChar(&sql, ')');
		}
		appendStringInfo(&sql, " FROM STDIN (FORMAT %s%s)", fmt,
						 cs->opts.truncate && cs->dst_relkind == 'r' ? ", FREEZE" : "");
		if (cs->opts.where != NULL)
			appendStringInfo(&sql, " WHERE %s", cs->opts.where);
		st->dst_sql = sql.data;

		ereport(DEBUG1,
				(errmsg_internal("pgasync.copy stream %d: source: %s", i, st->src_sql)));
		ereport(DEBUG1,
				(errmsg_internal("pgasync.copy stream %d: destination: %s", i, st->dst_sql)));
		if (cs->two_phase)
			snprintf(st->gid, sizeof(st->gid), "pgasync_copy_%016llx_%d",
					 (unsigned long long) pg_prng_uint64(&pg_global_prng_state), i);
	}
	cs->planned = true;
}

/* ----------------------------------------------------------------
 * Relaying
 * ----------------------------------------------------------------
 */

static void
copy_pause(CopyStream *st)
{
	PgaConnPauseReading(st->src->conn, st->wait_dest || st->backpressure);
}

static void
copy_report_progress(CopyState *cs)
{
	const int	index[] = {PROGRESS_COPY_BYTES_PROCESSED, PROGRESS_COPY_TUPLES_PROCESSED};
	int64		val[2];

	val[0] = (int64) cs->bytes;
	val[1] = (int64) copy_rows_relayed(cs);
	pgstat_progress_update_multi_param(2, index, val);
	cs->next_progress = cs->messages + COPY_PROGRESS_EVERY;
}

/* Queue the chunk as one CopyData; pause the source if output piles up. */
static void
copy_send_chunk(CopyState *cs, CopyStream *st, const char *data, int len)
{
	if (!pgw_conn_copy_data(PgaConnProto(st->dst->conn), data, (uint32) len))
		copy_send_failed(st->dst);

	/* the destination should not wait for the source to pause */
	(void) PgaConnSendNow(st->dst->conn);
	if (!st->backpressure && PgaConnPendingOutput(st->dst->conn) > COPY_HIGH_WATER)
	{
		st->backpressure = true;
		cs->npaused++;
		copy_pause(st);
	}
}

static void
copy_flush_chunk(CopyState *cs, CopyStream *st)
{
	if (st->chunk.len > 0 && st->dst_in_copy)
	{
		copy_send_chunk(cs, st, st->chunk.data, st->chunk.len);
		resetStringInfo(&st->chunk);
	}
}

static void
copy_relay(CopyState *cs, CopyStream *st, const uint8_t *data, uint32_t len)
{
	st->messages++;
	cs->messages++;
	cs->bytes += len;
	if (st->chunk.len == 0 && len >= COPY_CHUNK_SIZE && st->dst_in_copy)
		copy_send_chunk(cs, st, (const char *) data, (int) len);
	else
	{
		appendBinaryStringInfo(&st->chunk, (const char *) data, (int) len);
		if (st->chunk.len >= COPY_CHUNK_SIZE)
			copy_flush_chunk(cs, st);
	}
	if (cs->messages >= cs->next_progress)
		copy_report_progress(cs);
}

/* Sources paused for backpressure whose destination caught up read again. */
static void
copy_check_backpressure(CopyState *cs)
{
	int			i;

	for (i = 0; i < cs->nstreams; i++)
	{
		CopyStream *st = &cs->streams[i];

		if (st->backpressure &&
			PgaConnPendingOutput(st->dst->conn) <= COPY_LOW_WATER)
		{
			st->backpressure = false;
			cs->npaused--;
			copy_pause(st);
		}
	}
}

static void
copy_end_dest_copy(CopyState *cs, CopyStream *st)
{
	copy_flush_chunk(cs, st);
	if (!pgw_conn_copy_done(PgaConnProto(st->dst->conn)))
		copy_send_failed(st->dst);
	st->dst_copy_ended = true;
}

/* Both ends of a stream finished their COPY: check, then commit or wait. */
static void
copy_stream_copied(CopyState *cs, CopyStream *st)
{
	if (st->src_rows < 0 || st->dst_rows < 0 ||
		(cs->opts.where == NULL && st->src_rows != st->dst_rows) ||
		st->dst_rows > st->src_rows)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("row counts of the source and the destination of pgasync.copy do not agree"),
				 errdetail("Source server %s sent " INT64_FORMAT " rows, destination server %s took " INT64_FORMAT "; nothing of this stream was committed.",
						   st->src->label, st->src_rows, st->dst->label, st->dst_rows)));
	cs->src_rows += st->src_rows;
	cs->dst_rows += st->dst_rows;
	if (cs->two_phase)
	{
		st->end = END_COPIED;
		cs->ndone++;
	}
	else
		copy_send_query(st->dst, REQ_COMMIT, "COMMIT");
}

/* A COPY's CommandComplete: the rows it reports. */
static void
copy_note_rows(const pgw_event *ev, int64 *rows)
{
	if (strncmp(ev->msg.u.command_complete.tag, "COPY ", 5) == 0)
		*rows = (int64) PgaCommandTagRows(ev->msg.u.command_complete.tag);
}

/*
 * One side of a stream is ready again after its COPY; once both are, the
 * stream is copied.
 */
static void
copy_side_ready(CopyState *cs, CopyConn *cc)
{
	CopyStream *st = cc->stream;

	cc->req = REQ_NONE;
	if (cc->role == ROLE_SOURCE)
	{
		st->src_done = true;
		if (!st->src_copy_done || st->src_rows < 0)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("source server %s ended without sending COPY data", cc->label)));
	}
	else
	{
		st->dst_done = true;
		if (!st->dst_copy_ended || st->dst_rows < 0)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("destination server %s ended the COPY unexpectedly", cc->label)));
	}
	if (st->src_done && st->dst_done)
		copy_stream_copied(cs, st);
}

static void
copy_on_source_event(CopyState *cs, CopyConn *cc, pgw_event *ev)
{
	CopyStream *st = cc->stream;

	switch (ev->type)
	{
		case PGW_EV_COPY_OUT:
			if ((ev->msg.u.copy_response.format == 1) != cs->binary)
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("source server %s sent COPY data in the wrong format", cc->label)));
			break;
		case PGW_EV_COPY_DONE:
			st->src_copy_done = true;
			if (cs->binary)
				cs->trailers++;
			if (st->dst_in_copy)
				copy_end_dest_copy(cs, st);
			break;
		case PGW_EV_COMMAND_COMPLETE:
			copy_note_rows(ev, &st->src_rows);
			break;
		case PGW_EV_READY:
			copy_side_ready(cs, cc);
			break;
		default:
			break;
	}
}

static void
copy_on_dest_event(CopyState *cs, CopyConn *cc, pgw_event *ev)
{
	CopyStream *st = cc->stream;

	switch (ev->type)
	{
		case PGW_EV_COPY_IN:
			if ((ev->msg.u.copy_response.format == 1) != cs->binary)
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("destination server %s asked for COPY data in the wrong format", cc->label)));
			st->dst_in_copy = true;
			st->wait_dest = false;
			copy_pause(st);
			copy_flush_chunk(cs, st);
			if (st->src_copy_done)
				copy_end_dest_copy(cs, st);
			break;
		case PGW_EV_COMMAND_COMPLETE:
			copy_note_rows(ev, &st->dst_rows);
			break;
		case PGW_EV_READY:
			copy_side_ready(cs, cc);
			break;
		default:
			break;
	}
}

static void
copy_on_commit_event(CopyState *cs, CopyConn *cc, pgw_event *ev)
{
	CopyStream *st = cc->stream;

	if (ev->type == PGW_EV_COMMAND_COMPLETE)
		cc->tag = pstrdup(ev->msg.u.command_complete.tag);
	else if (ev->type == PGW_EV_READY)
	{
		cc->req = REQ_NONE;
		if (cc->tag == NULL || strcmp(cc->tag, "COMMIT") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_TRANSACTION_ROLLBACK),
					 errmsg("the transaction on destination server %s was rolled back", cc->label),
					 errdetail("%s", copy_outcome(cs, cc))));
		st->end = END_COMMITTED;
		cs->ncommitted++;
		cs->committed_rows += st->dst_rows;
		cs->ndone++;
	}
}

/* CopyData of a source taken in bulk (pgw_conn_copy_out_take) */
typedef struct CopyTake
{
	CopyState  *cs;
	CopyStream *st;
} CopyTake;

static void
copy_relay_taken(void *arg, const uint8_t *data, uint32_t len)
{
	CopyTake   *take = (CopyTake *) arg;

	copy_relay(take->cs, take->st, data, len);
}

/* One event of the main loop. */
static void
copy_on_event(CopyState *cs, CopyConn *cc, pgw_event *ev)
{
	/*
	 * The hot path: a row of a source, and then every row it sent after it
	 * that is already read, without an event for each.
	 */
	if (ev->type == PGW_EV_COPY_DATA && cc->role == ROLE_SOURCE)
	{
		CopyTake	take;

		copy_relay(cs, cc->stream, ev->msg.u.copy_data.data, ev->msg.u.copy_data.len);
		take.cs = cs;
		take.st = cc->stream;
		(void) pgw_conn_copy_out_take(PgaConnProto(cc->conn), copy_relay_taken,
									  &take, COPY_CHUNK_SIZE);
		return;
	}

	switch ((int) ev->type)
	{
		case PGW_EV_NOTICE:
			PgaRelayNotice(&ev->msg.u.error, cc->label);
			return;
		case PGW_EV_PARAMETER_STATUS:
		case PGW_EV_NOTIFICATION:
			return;
		case PGA_EV_BROKEN:
			copy_raise_broken(cs, cc);
			break;
		case PGW_EV_ERROR:
			copy_raise_remote(cs, cc, PgaRemoteErrorCopy(&ev->msg.u.error));
			break;
		case PGW_EV_CONNECTED:
			cc->connected = true;
			copy_kick(cs);
			return;
		default:
			break;
	}

	switch (cc->req)
	{
		case REQ_META:
			copy_on_meta_event(cs, cc, ev);
			break;
		case REQ_RANGE:
			copy_on_range_event(cs, cc, ev);
			break;
		case REQ_COPY:
			if (cc->role == ROLE_SOURCE)
				copy_on_source_event(cs, cc, ev);
			else
				copy_on_dest_event(cs, cc, ev);
			break;
		case REQ_COMMIT:
			copy_on_commit_event(cs, cc, ev);
			break;
		default:
			break;
	}
	if (ev->type == PGW_EV_READY)
		copy_kick(cs);
}

/*
 * Send whatever can go now: metadata requests once their connections are
 * up, the key range once the metadata is in, the plan once both sides'
 * metadata are in, then each stream's COPY on each side as soon as its
 * connection is up.  A source is not read until its destination is ready
 * for the data.
 */
static void
copy_kick(CopyState *cs)
{
	int			i;

	if (!cs->src_meta_sent && cs->meta_src->connected)
		copy_send_src_meta(cs);
	if (!cs->dst_meta_sent && cs->meta_dst->connected)
		copy_send_dst_meta(cs);
	if (cs->src_meta_done && cs->nstreams > 1 && cs->key != NULL && !cs->range_sent)
		copy_send_range(cs);
	if (!cs->planned)
	{
		if (!cs->src_meta_done || !cs->dst_meta_done ||
			(cs->range_sent && !cs->range_done))
			return;
		if (cs->nstreams > 1 && cs->key != NULL && !cs->range_done)
			return;
		copy_plan(cs);
	}

	for (i = 0; i < cs->nstreams; i++)
	{
		CopyStream *st = &cs->streams[i];

		if (!st->dst_started && st->dst->connected && st->dst->req == REQ_NONE)
		{
			st->dst_started = true;
			cs->copy_started = true;
			copy_send_query(st->dst, REQ_COPY, st->dst_sql);
		}
		if (!st->src_started && st->src->connected && st->src->req == REQ_NONE)
		{
			st->src_started = true;
			cs->copy_started = true;
			st->wait_dest = !st->dst_in_copy;
			copy_pause(st);
			copy_send_query(st->src, REQ_COPY, st->src_sql);
		}
	}
}

/* ----------------------------------------------------------------
 * Two-phase commit
 * ----------------------------------------------------------------
 */

/*
 * Wait (never raising; interrupts are held by the caller) until no
 * destination has a finishing request in flight, or until deadline.  Each
 * answer sets the connection's tag or error; a connection that breaks is
 * marked lost: what became of its request is unknown.
 */
static void
copy_wait_finish(CopyState *cs, TimestampTz deadline)
{
	for (;;)
	{
		pgw_event	ev;
		PgaConn    *c;
		CopyConn   *cc;
		bool		pending = false;
		int			i;

		for (i = 0; i < cs->nstreams; i++)
		{
			CopyConn   *d = cs->streams[i].dst;

			if (d->conn != NULL && d->req != REQ_NONE)
			{
				if (PgaConnGetPhase(d->conn) == PGA_PHASE_BROKEN)
				{
					d->lost = true;
					d->req = REQ_NONE;
				}
				else
					pending = true;
			}
		}
		if (!pending)
			return;
		c = PgaDriverNextEvent(cs->conns, cs->nconns, &ev, deadline);
		if (c == NULL)
			return;
		cc = (CopyConn *) PgaConnGetOwnerData(c);
		if (cc->role != ROLE_DEST || cc->req == REQ_NONE)
			continue;
		switch ((int) ev.type)
		{
			case PGW_EV_COMMAND_COMPLETE:
				cc->tag = pstrdup(ev.msg.u.command_complete.tag);
				break;
			case PGW_EV_ERROR:
				if (cc->error == NULL)
					cc->error = PgaRemoteErrorCopy(&ev.msg.u.error);
				if (ev.fatal)
				{
					cc->lost = true;
					cc->req = REQ_NONE;
				}
				break;
			case PGA_EV_BROKEN:
				cc->lost = true;
				cc->req = REQ_NONE;
				break;
			case PGW_EV_READY:
				cc->req = REQ_NONE;
				break;
			default:
				break;
		}
	}
}

static bool
copy_tag_is(CopyConn *cc, const char *tag)
{
	return cc->tag != NULL && strcmp(cc->tag, tag) == 0;
}

/* Send one finishing statement with a gid to stream st's destination. */
static bool
copy_send_gid(CopyStream *st, CopyReq req, const char *verb)
{
	CopyConn   *cc = st->dst;

	if (cc->conn == NULL || PgaConnGetPhase(cc->conn) == PGA_PHASE_BROKEN)
		return false;
	if (pgw_conn_query(PgaConnProto(cc->conn),
					   psprintf("%s %s", verb, quote_literal_cstr(st->gid))) == 0)
		return false;
	cc->req = req;
	cc->tag = NULL;
	cc->error = NULL;
	cc->lost = false;
	return true;
}

/*
 * After a failure before every destination was prepared: wait for the
 * PREPAREs still in flight, roll back every transaction that got prepared,
 * and warn about any that may remain.  Never raises; interrupts are held by
 * the caller.
 */
static void
copy_rollback_prepared(CopyState *cs)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   COPY_2PC_TIMEOUT_MS);
	int			i;

	copy_wait_finish(cs, deadline);
	for (i = 0; i < cs->nstreams; i++)
	{
		CopyStream *st = &cs->streams[i];

		if (st->end != END_PREPARING || st->dst->req != REQ_NONE || st->dst->lost)
			continue;			/* no answer: unknown */
		if (st->dst->error == NULL && copy_tag_is(st->dst, "PREPARE TRANSACTION"))
			st->end = END_PREPARED;
		else
			st->end = END_ROLLED_BACK;	/* failed, or rolled back */
	}
	for (i = 0; i < cs->nstreams; i++)
	{
		CopyStream *st = &cs->streams[i];

		if (st->end == END_PREPARED &&
			copy_send_gid(st, REQ_ROLLBACK_PREPARED, "ROLLBACK PREPARED"))
			st->end = END_ROLLING_BACK;
	}
	copy_wait_finish(cs, deadline);
	for (i = 0; i < cs->nstreams; i++)
	{
		CopyStream *st = &cs->streams[i];

		if (st->end == END_ROLLING_BACK && st->dst->req == REQ_NONE &&
			!st->dst->lost && st->dst->error == NULL)
			st->end = END_ROLLED_BACK;
		else if (st->end == END_ROLLING_BACK || st->end == END_PREPARED ||
				 st->end == END_PREPARING)
			ereport(WARNING,
					(errmsg("prepared transaction \"%s\" may remain on destination server %s",
							st->gid, st->dst->label),
					 errhint("Check pg_prepared_xacts there and run ROLLBACK PREPARED '%s' if it is listed.",
							 st->gid)));
	}
	cs->finish = FINISH_DONE;
}

/*
 * Atomic parallel copy: every stream's data is in and checked.  PREPARE
 * TRANSACTION on every destination; once all are prepared, COMMIT PREPARED
 * each.  A failed PREPARE raises (copy_abort() rolls back the prepared
 * ones); a failed COMMIT PREPARED leaves that transaction prepared, which
 * is reported with a WARNING per transaction and an ERROR listing them.
 */
static void
copy_two_phase_commit(CopyState *cs)
{
	TimestampTz deadline;
	StringInfoData left;
	int			nleft = 0;
	int			i;
	CopyConn   *failed = NULL;

	cs->finish = FINISH_PREPARING;
	for (i = 0; i < cs->nstreams; i++)
	{
		CopyStream *st = &cs->streams[i];

		if (!copy_send_gid(st, REQ_PREPARE, "PREPARE TRANSACTION"))
			copy_send_failed(st->dst);
		st->end = END_PREPARING;
	}

	/* wait for every answer; the first failure raises */
	for (;;)
	{
		pgw_event	ev;
		PgaConn    *c;
		CopyConn   *cc;
		bool		pending = false;

		for (i = 0; i < cs->nstreams; i++)
			pending |= cs->streams[i].end == END_PREPARING;
		if (!pending)
			break;
		c = PgaDriverNextEvent(cs->conns, cs->nconns, &ev, 0);
		if (c == NULL)
			elog(ERROR, "pgasync.copy: no connection left to wait on");
		cc = (CopyConn *) PgaConnGetOwnerData(c);
		switch ((int) ev.type)
		{
			case PGW_EV_NOTICE:
				PgaRelayNotice(&ev.msg.u.error, cc->label);
				break;
			case PGA_EV_BROKEN:
				copy_raise_broken(cs, cc);
				break;
			case PGW_EV_ERROR:
				cc->error = PgaRemoteErrorCopy(&ev.msg.u.error);
				copy_raise_remote(cs, cc, cc->error);
				break;
			case PGW_EV_COMMAND_COMPLETE:
				if (cc->req == REQ_PREPARE)
					cc->tag = pstrdup(ev.msg.u.command_complete.tag);
				break;
			case PGW_EV_READY:
				if (cc->req == REQ_PREPARE)
				{
					cc->req = REQ_NONE;
					if (!copy_tag_is(cc, "PREPARE TRANSACTION"))
					{
						cc->stream->end = END_ROLLED_BACK;
						ereport(ERROR,
								(errcode(ERRCODE_TRANSACTION_ROLLBACK),
								 errmsg("the transaction on destination server %s was rolled back", cc->label),
								 errdetail("%s", copy_outcome(cs, cc))));
					}
					cc->stream->end = END_PREPARED;
				}
				break;
			default:
				break;
		}
	}

	/*
	 * All prepared: the copy is decided.  Commit everywhere without letting
	 * a cancel get in the way, but never wait forever.
	 */
	cs->finish = FINISH_COMMITTING;
	HOLD_INTERRUPTS();
	for (i = 0; i < cs->nstreams; i++)
	{
		CopyStream *st = &cs->streams[i];

		if (copy_send_gid(st, REQ_COMMIT_PREPARED, "COMMIT PREPARED"))
			st->end = END_COMMITTING;
	}
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), COPY_2PC_TIMEOUT_MS);
	copy_wait_finish(cs, deadline);
	RESUME_INTERRUPTS();
	cs->finish = FINISH_DONE;

	initStringInfo(&left);
	for (i = 0; i < cs->nstreams; i++)
	{
		CopyStream *st = &cs->streams[i];

		if (st->end == END_COMMITTING && st->dst->req == REQ_NONE &&
			!st->dst->lost && st->dst->error == NULL &&
			copy_tag_is(st->dst, "COMMIT PREPARED"))
		{
			st->end = END_COMMITTED;
			cs->ncommitted++;
			cs->committed_rows += st->dst_rows;
			continue;
		}
		ereport(WARNING,
				(errmsg("prepared transaction \"%s\" remains on destination server %s",
						st->gid, st->dst->label),
				 st->dst->error && st->dst->error->message ?
				 errdetail_internal("%s", st->dst->error->message) : 0,
				 errhint("Run COMMIT PREPARED '%s' there to complete the copy.", st->gid)));
		appendStringInfo(&left, "%s\"%s\"", nleft > 0 ? ", " : "", st->gid);
		nleft++;
		failed = st->dst;
	}
	if (nleft > 0)
		ereport(ERROR,
				(errcode(ERRCODE_TRANSACTION_RESOLUTION_UNKNOWN),
				 errmsg("pgasync.copy could not commit every prepared transaction on destination server %s",
						failed->label),
				 errdetail("%d of %d streams committed; the prepared transactions %s remain.",
						   cs->ncommitted, cs->nstreams, left.data),
				 errhint("Commit them with COMMIT PREPARED on the destination server to complete the copy.")));
}

/* ----------------------------------------------------------------
 * Running and aborting
 * ----------------------------------------------------------------
 */

static void
copy_run(CopyState *cs)
{
	int			i;
	int			n = cs->nstreams;

	/* open everything at once; connects run in parallel */
	for (i = 0; i < n; i++)
	{
		CopyStream *st = &cs->streams[i];

		st->index = i;
		st->src = &cs->cc[i];
		st->dst = &cs->cc[n + i];
		st->src_rows = -1;
		st->dst_rows = -1;
		initStringInfo(&st->chunk);
	}
	for (i = 0; i < n; i++)
	{
		copy_open(cs, &cs->cc[i], ROLE_SOURCE, &cs->streams[i]);
		cs->conns[i] = cs->cc[i].conn;
		copy_open(cs, &cs->cc[n + i], ROLE_DEST, &cs->streams[i]);
		cs->conns[n + i] = cs->cc[n + i].conn;
	}
	if (n > 1)
	{
		copy_open(cs, &cs->cc[2 * n], ROLE_COORD, NULL);
		cs->conns[2 * n] = cs->cc[2 * n].conn;
		cs->meta_src = &cs->cc[2 * n];
	}
	else
		cs->meta_src = &cs->cc[0];
	cs->meta_dst = &cs->cc[n];

	while (cs->ndone < n)
	{
		pgw_event	ev;
		PgaConn    *c;
		TimestampTz deadline = 0;

		if (cs->npaused > 0)
			deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), COPY_PAUSE_POLL_MS);
		c = PgaDriverNextEvent(cs->conns, cs->nconns, &ev, deadline);
		if (c != NULL)
		{
			CopyConn   *cc = (CopyConn *) PgaConnGetOwnerData(c);
			int			k;

			copy_on_event(cs, cc, &ev);

			/*
			 * A source sending data: take what it sent meanwhile straight
			 * away, a batch at a time, rather than looking at every
			 * connection for every row.
			 */
			for (k = 0; k < COPY_SOURCE_BATCH && cc->role == ROLE_SOURCE &&
				 cc->req == REQ_COPY && PgaConnPollEvent(c, &ev); k++)
				copy_on_event(cs, cc, &ev);
		}
		else if (cs->npaused == 0)
			elog(ERROR, "pgasync.copy: no connection left to wait on");
		if (cs->npaused > 0)
			copy_check_backpressure(cs);
	}

	if (cs->two_phase)
		copy_two_phase_commit(cs);
}

/*
 * After an error or cancel: roll back what was prepared, fail the COPYs
 * into the destinations, cancel the sources, close every connection.
 */
static void
copy_abort(CopyState *cs)
{
	int			i;

	HOLD_INTERRUPTS();
	for (i = 0; i < cs->nconns; i++)
	{
		if (cs->cc[i].conn != NULL)
			PgaConnPauseReading(cs->cc[i].conn, false);
	}
	if (cs->finish == FINISH_PREPARING)
		copy_rollback_prepared(cs);
	PgaDriverCancelAndDrain(cs->conns, cs->nconns, COPY_CANCEL_TIMEOUT_MS);
	copy_close_all(cs);
	RESUME_INTERRUPTS();
}

/*
 * pgasync.copy(source text, source_query text, dest text, dest_table text,
 *				options jsonb DEFAULT '{}') RETURNS bigint
 */
Datum
pgasync_copy(PG_FUNCTION_ARGS)
{
	MemoryContext cxt;
	MemoryContext old;
	MemoryContextCallback *cb;
	ErrorContextCallback errcallback;
	CopyState  *cs;
	char	   *source_query;
	char	   *dest_table;
	int64		result;
	int			n;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "pgasync copy",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	cs = palloc0(sizeof(CopyState));
	cs->mcxt = cxt;
	cs->source_target = PgaArgText(fcinfo, 0, "source");
	source_query = PgaArgText(fcinfo, 1, "source query");
	cs->dest_target = PgaArgText(fcinfo, 2, "destination");
	dest_table = PgaArgText(fcinfo, 3, "destination table");
	copy_parse_options(PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4), &cs->opts);

	cs->dest_table = quoted_table_name(dest_table);
	if (looks_like_table_name(source_query))
		cs->source_table = quoted_table_name(source_query);
	else
		cs->source_query = trim_query(source_query);
	n = cs->opts.parallel;
	if (n > 1 && cs->source_table == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("parallel copy needs a source table, not a query"),
				 errdetail("A parallel copy splits the source table into ranges of its integer key or of its pages."),
				 errhint("Pass the table name as source_query, or drop the \"parallel\" option.")));
	if (n > 1 && cs->opts.truncate)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pgasync.copy option \"truncate\" cannot be combined with \"parallel\""),
				 errdetail("TRUNCATE and COPY FREEZE must run in the transaction that writes all the rows, but each stream writes in a transaction of its own."),
				 errhint("TRUNCATE the destination table first, then run the parallel copy.")));
	cs->nstreams = n;
	cs->two_phase = n > 1 && cs->opts.atomic;
	cs->nconns = 2 * n + (n > 1 ? 1 : 0);
	if (PgaDriverConnectionCount() + cs->nconns > pgasync_max_connections)
		ereport(ERROR,
				(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
				 errmsg("pgasync.copy needs %d new connections, but pgasync.max_connections allows %d more",
						cs->nconns,
						Max(pgasync_max_connections - PgaDriverConnectionCount(), 0)),
				 errhint("Lower \"parallel\", raise pgasync.max_connections, or close connections with pgasync.disconnect().")));
	cs->conns = palloc0(sizeof(PgaConn *) * cs->nconns);
	cs->cc = palloc0(sizeof(CopyConn) * cs->nconns);
	cs->streams = palloc0(sizeof(CopyStream) * n);
	cs->next_progress = COPY_PROGRESS_EVERY;

	/* whatever happens, no connection outlives the call */
	cb = palloc0(sizeof(MemoryContextCallback));
	cb->func = copy_reset_callback;
	cb->arg = cs;
	MemoryContextRegisterResetCallback(cxt, cb);

	pgstat_progress_start_command(PROGRESS_COMMAND_COPY, InvalidOid);
	{
		const int	index[] = {PROGRESS_COPY_COMMAND, PROGRESS_COPY_TYPE};
		const int64 val[] = {PROGRESS_COPY_COMMAND_FROM, PROGRESS_COPY_TYPE_PIPE};

		pgstat_progress_update_multi_param(2, index, val);
	}

	PG_TRY();
	{
		errcallback.callback = copy_error_context;
		errcallback.arg = cs;
		errcallback.previous = error_context_stack;
		error_context_stack = &errcallback;

		copy_run(cs);

		error_context_stack = errcallback.previous;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		copy_abort(cs);
		pgstat_progress_end_command();
		PG_RE_THROW();
	}
	PG_END_TRY();

	copy_close_all(cs);
	{
		const int	index[] = {PROGRESS_COPY_BYTES_PROCESSED, PROGRESS_COPY_TUPLES_PROCESSED,
		PROGRESS_COPY_TUPLES_EXCLUDED};
		int64		val[3];

		val[0] = (int64) cs->bytes;
		val[1] = cs->dst_rows;
		val[2] = cs->src_rows - cs->dst_rows;
		pgstat_progress_update_multi_param(3, index, val);
	}
	pgstat_progress_end_command();
	result = cs->dst_rows;
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	PG_RETURN_INT64(result);
}
