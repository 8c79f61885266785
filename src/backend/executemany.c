/*-------------------------------------------------------------------------
 *
 * executemany.c
 *	  pgasync.executemany: one remote command run once for every row of
 *	  parameters, all rows pipelined in a single request.
 *
 * The rows come from a local query, read through an SPI cursor a batch at
 * a time so that memory stays bounded, or from an array.  Each row becomes
 * one Bind and one Execute of the command's prepared statement, encoded
 * straight into the outgoing buffer with a parameter plan made once from
 * the row type (codec.c).  One Sync ends the whole batch, so the remote
 * server runs it as one implicit transaction (or inside the remote
 * transaction already open): a row that fails undoes them all.  On a
 * statement cache miss Parse and Describe head the same request, so a call
 * costs one round trip either way.
 *
 * Neither side's buffers grow without bound: past PGA_MANY_FLUSH_BYTES of
 * queued output the batch is sent (waiting while the socket is full, and
 * reading meanwhile), and the answers that came back (BindComplete,
 * CommandComplete, errors) are taken in without waiting, after each flush
 * and each batch of rows.  That also notices a remote error early: no more
 * rows are sent, the request is ended, and the error is raised with the
 * ordinal of the row that failed.
 *
 * While the batch is open (before its Sync), the connection looks idle to
 * the rest of pgasync, so the session is marked (batch_open) and refuses
 * other use, e.g. from the argument query itself.  If a local error stops
 * the batch half-way, the request is completed with an Execute of a portal
 * that does not exist: the remote server then rolls the rows back, and the
 * transaction abort callbacks drain the connection back to idle as for any
 * other interrupted request.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "codec.h"
#include "connection.h"
#include "copy_local.h"
#include "pgasync.h"
#include "query.h"
#include "remote_error.h"

PG_FUNCTION_INFO_V1(pgasync_executemany);

/*
 * Every PGA_MANY_SEND_BYTES of new output, send what the socket takes
 * without waiting, so that the remote server works while rows are being
 * encoded; past PGA_MANY_FLUSH_BYTES of unsent output, wait until it is
 * all sent.
 */
#define PGA_MANY_SEND_BYTES (64 * 1024)
#define PGA_MANY_FLUSH_BYTES (1024 * 1024)

/* A portal no one opens: executing it fails, and so the whole batch */
#define PGA_MANY_ABORT_PORTAL "pgasync_executemany_abort"

/* Timeout for getting a connection back to idle after a command timeout */
#define PGA_CANCEL_TIMEOUT_MS 1000

/*
 * Where the rows come from.  fetch() makes the next batch of rows current
 * and returns how many it has (0 at the end); get() deforms one of them.
 */
typedef PgaRowSource ManySource;


/*
 * Rows of an array: of a composite type (one row per element, one
 * parameter per live attribute), or of a scalar type (two dimensions: one
 * row per first subscript; one dimension: one parameter per row).
 */
typedef struct ManyArray
{
	ManySource	src;
	Datum	   *elems;
	bool	   *elemnulls;
	uint64		nrows;
	bool		fetched;
	/* composite elements */
	TupleDesc	rowdesc;		/* NULL for scalar elements */
	Oid			rowtype;
	int32		rowtypmod;
	int		   *attnums;		/* rowdesc index of each parameter */
	Datum	   *rowvalues;
	bool	   *rownulls;
} ManyArray;

/* The state of one call */
typedef struct ManyRun
{
	PgaSession *session;
	const char *sql;
	TimestampTz deadline;		/* command timeout, or 0 */
	PgaStatement *statement;
	bool		miss;			/* Parse and Describe head the request */
	bool		parsed;			/* ParseComplete came (or was not needed) */
	int			preamble;		/* requests queued ahead of ours, not done */
	bool		synced;			/* our request was ended with Sync */
	bool		done;			/* ... and its ReadyForQuery came */
	bool		in_bind;		/* a Bind message is half written */
	int			bind_given;		/* ... with this many parameters */
	int			nparams;
	PgaRemoteError *error;		/* first remote error */
	bool		error_in_preamble;	/* ... came before our request */
	int64		sent;			/* Executes queued */
	int64		completed;		/* Executes that completed */
	int64		affected;		/* rows the commands reported */
	size_t		send_at;		/* send when this much output is queued */
} ManyRun;


/* Was the error the server's refusal to run a statement prepared before DDL? */
static bool
error_is_stale_statement(const PgaRemoteError *err)
{
	return err->routine != NULL && strcmp(err->routine, "RevalidateCachedQuery") == 0;
}

static void
send_failed(ManyRun *r)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_EXCEPTION),
			 errmsg("could not send query to remote server %s", r->session->label),
			 errdetail_internal("%s", pgw_conn_errmsg(PgaConnProto(r->session->conn)))));
}

static void
many_error_callback(void *arg)
{
	ManyRun    *r = (ManyRun *) arg;

	if (r->completed < r->sent)
		errcontext("executemany row %lld", (long long) (r->completed + 1));
	else
		errcontext("executemany, at the end of the batch of %lld rows",
				   (long long) r->sent);
}

/*
 * Raise the first remote error.  The ordinal of the row that failed is
 * given unless the error came before the rows: from a request queued ahead
 * of ours, or from preparing the command.
 */
static void
raise_remote_error(ManyRun *r)
{
	ErrorContextCallback errcallback;

	if (r->error_in_preamble || !r->parsed)
		PgaRaiseRemoteError(ERROR, r->error, r->session->label, r->sql);
	errcallback.callback = many_error_callback;
	errcallback.arg = r;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	PgaRaiseRemoteError(ERROR, r->error, r->session->label, r->sql);
}

/*
 * Handle one event of the connection: notices, notifications, a broken
 * connection, errors; the answers to requests queued ahead of ours (of
 * which only errors matter) and to ours.
 */
static void
many_event(ManyRun *r, PgaConn *conn, pgw_event *ev)
{
	PgaStatement *st = r->statement;

	switch ((int) ev->type)
	{
		case PGW_EV_NOTICE:
			PgaRelayNotice(&ev->msg.u.error, r->session->label);
			return;
		case PGW_EV_NOTIFICATION:
			PgaSessionQueueNotification(r->session, &ev->msg);
			return;
		case PGW_EV_PARAMETER_STATUS:
			return;
		case PGA_EV_BROKEN:
			if (r->error)
				raise_remote_error(r);
			PgaRaiseConnFailure(conn);
			return;
		case PGW_EV_ERROR:
			if (r->error == NULL)
			{
				r->error = PgaRemoteErrorCopy(&ev->msg.u.error);
				r->error_in_preamble = r->preamble > 0;
			}
			if (ev->fatal)
				raise_remote_error(r);
			return;
		case PGW_EV_READY:
			if (r->preamble > 0)
				r->preamble--;
			else
				r->done = true;
			return;
		default:
			break;
	}
	if (r->preamble > 0)
		return;
	switch (ev->type)
	{
		case PGW_EV_PARSE_COMPLETE:
			r->parsed = true;
			break;
		case PGW_EV_ROW_DESCRIPTION:
			if (r->miss)
			{
				MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(st));

				st->nfields = ev->msg.u.row_description.nfields;
				st->fields = PgaFieldDescsCopy(ev->msg.u.row_description.fields,
										 st->nfields);
				MemoryContextSwitchTo(old);
			}
			break;
		case PGW_EV_NO_DATA:
			if (r->miss)
				st->nfields = -1;
			break;
		case PGW_EV_COMMAND_COMPLETE:
			r->completed++;
			r->affected += (int64) PgaCommandTagRows(ev->msg.u.command_complete.tag);
			break;
		case PGW_EV_EMPTY_QUERY:
			r->completed++;
			break;
		case PGW_EV_COPY_IN:
			/* the server then skips to the Sync */
			(void) pgw_conn_copy_fail(PgaConnProto(conn),
									  "COPY FROM STDIN is not supported by pgasync.executemany");
			break;
		default:
			break;
	}
}

/* Take in the answers that have come, without waiting. */
static void
take_events(ManyRun *r)
{
	PgaConn    *conn = r->session->conn;
	pgw_event	ev;

	while (!r->done && PgaConnPollEvent(conn, &ev))
		many_event(r, conn, &ev);
}

/* Wait for the next event; a broken connection or the timeout raise. */
static void
wait_event(ManyRun *r)
{
	pgw_event	ev;
	PgaConn    *c = PgaDriverNextEvent(&r->session->conn, 1, &ev, r->deadline);

	if (c == NULL)
	{
		PgaConn    *conn = r->session->conn;

		if (PgaConnGetPhase(conn) == PGA_PHASE_BROKEN)
		{
			if (r->error)
				raise_remote_error(r);
			PgaRaiseConnFailure(conn);
		}
		/* command timeout: cancel the remote work, then report */
		PgaDriverCancelAndDrain(&conn, 1, PGA_CANCEL_TIMEOUT_MS);
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("canceling statement due to command timeout"),
				 errcontext("remote server %s", r->session->label)));
	}
	many_event(r, c, &ev);
}

/*
 * Send what is queued, reading meanwhile.  With wait false, send only what
 * the socket takes now: a deadline that has passed already makes
 * PgaConnFlush return instead of waiting.
 */
static void
flush_batch(ManyRun *r, bool wait)
{
	PgaConn    *conn = r->session->conn;

	if (PgaConnFlush(conn, wait ? r->deadline : 1))
		return;
	if (!wait && PgaConnGetPhase(conn) != PGA_PHASE_BROKEN)
		return;
	if (PgaConnGetPhase(conn) == PGA_PHASE_BROKEN)
	{
		take_events(r);			/* a FATAL error says more */
		if (r->error)
			raise_remote_error(r);
		PgaRaiseConnFailure(conn);
	}
	/* the transaction abort cancels and drains the connection */
	ereport(ERROR,
			(errcode(ERRCODE_QUERY_CANCELED),
			 errmsg("canceling statement due to command timeout"),
			 errcontext("remote server %s", r->session->label)));
}

/* Queue Bind and Execute of one row. */
static void
queue_row(ManyRun *r, pgw_conn *proto, PgaParamPlan *plan,
		  Datum *values, bool *nulls)
{
	int			i;

	if (!pgw_conn_bind_begin(proto, "", r->statement->name,
							 (uint16) plan->nparams, plan->formats,
							 (uint16) plan->nparams))
		send_failed(r);
	r->in_bind = true;
	r->bind_given = 0;
	for (i = 0; i < plan->nparams; i++)
	{
		const char *data;
		int32		len;

		PgaParamEncode(plan, i, values[i], nulls[i], &data, &len);
		if (!pgw_conn_bind_param(proto, data, len))
		{
			r->in_bind = false; /* the core dropped the message */
			send_failed(r);
		}
		r->bind_given++;
	}
	/* no result formats: any rows (RETURNING) come as text, and are ignored */
	if (!pgw_conn_bind_end(proto, 0, NULL))
	{
		r->in_bind = false;
		send_failed(r);
	}
	r->in_bind = false;
	if (!pgw_conn_execute(proto, "", 0))
		send_failed(r);
	r->sent++;
}

/*
 * After a local error while the batch was open: finish the request so
 * that the remote server rolls back what it ran of the batch, and leave
 * the draining to the abort callbacks.  A connection that cannot take
 * that is closed.
 */
static void
abandon_batch(ManyRun *r)
{
	PgaSession *s = r->session;
	pgw_conn   *proto;
	bool		ok = true;

	s->batch_open = false;
	if (r->miss && !r->parsed)
		PgaStatementForget(s, r->statement);
	if (r->synced || s->conn == NULL ||
		PgaConnGetPhase(s->conn) != PGA_PHASE_READY)
		return;
	proto = PgaConnProto(s->conn);
	if (r->in_bind)
	{
		/* complete the message; its portal is never executed */
		for (; ok && r->bind_given < r->nparams; r->bind_given++)
			ok = pgw_conn_bind_param(proto, NULL, -1);
		ok = ok && pgw_conn_bind_end(proto, 0, NULL);
		r->in_bind = false;
	}
	ok = ok && pgw_conn_execute(proto, PGA_MANY_ABORT_PORTAL, 0) &&
		pgw_conn_sync(proto) != 0;
	r->synced = true;
	if (!ok)
		PgaSessionReset(s);
	else
		(void) PgaConnSendNow(s->conn);
}

/*
 * Run sql on target for every row of src; returns the rows the commands
 * affected.
 */
static int64
executemany_run(const char *target, const char *sql, ManySource *src)
{
	ManyRun    *r;
	PgaSession *s;
	PgaParamPlan *plan;
	pgw_conn   *proto;
	PgaConn    *conn;
	MemoryContext rowcxt;
	Datum	   *values;
	bool	   *nulls;
	uint64		nrows;

	if (src->nparams > PG_UINT16_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many parameters for a remote query"),
				 errdetail("The rows have %d columns; at most %d are allowed.",
						   src->nparams, PG_UINT16_MAX)));

	/* no rows: no remote work at all */
	nrows = src->fetch(src);
	if (nrows == 0)
		return 0;

	r = palloc0(sizeof(ManyRun));
	r->session = s = PgaSessionGet(target);
	PgaSessionClaim(s);

	/* many rows for a plain INSERT: one COPY, if it does the same */
	if (pgasync_executemany_copy && nrows >= PGA_MANY_COPY_MIN_ROWS)
	{
		int64		copied;

		if (PgaExecutemanyCopy(s, sql, src, nrows, &copied))
		{
			PgaSessionRelease(s);
			return copied;
		}
	}
	r->sql = sql;
	r->nparams = src->nparams;
	if (s->opts.command_timeout_ms > 0)
		r->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												  s->opts.command_timeout_ms);
	conn = s->conn;
	proto = PgaConnProto(conn);

	plan = PgaParamPlanCreate(src->nparams, src->types, CurrentMemoryContext);
	values = palloc(sizeof(Datum) * Max(src->nparams, 1));
	nulls = palloc(sizeof(bool) * Max(src->nparams, 1));
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pgasync executemany row",
								   ALLOCSET_DEFAULT_SIZES);

	r->statement = PgaStatementLookup(s, sql, plan->nparams, plan->types);
	r->miss = (r->statement == NULL);
	if (r->miss)
		r->statement = PgaStatementCreate(s, sql, plan->nparams, plan->types, true);
	r->parsed = !r->miss;

	PgaSessionBeforeRequest(s);
	r->preamble = (int) pgw_conn_inflight(proto);
	r->send_at = PGA_MANY_SEND_BYTES;
	s->batch_open = true;
	s->queries++;
	s->last_used = GetCurrentTimestamp();

	PG_TRY();
	{
		if (r->miss)
		{
			if (!pgw_conn_parse(proto, r->statement->name, sql,
								(uint16) plan->nparams, plan->types) ||
				!pgw_conn_describe(proto, 'S', r->statement->name))
				send_failed(r);
		}
		for (;;)
		{
			int			nestlevel = PgaParamPlanBeginText(plan);
			uint64		i;

			for (i = 0; i < nrows && r->error == NULL; i++)
			{
				MemoryContext old = MemoryContextSwitchTo(rowcxt);

				src->get(src, i, values, nulls);
				queue_row(r, proto, plan, values, nulls);
				MemoryContextSwitchTo(old);
				MemoryContextReset(rowcxt);
				if (PgaConnPendingOutput(conn) >= r->send_at)
				{
					flush_batch(r, PgaConnPendingOutput(conn) >= PGA_MANY_FLUSH_BYTES);
					take_events(r);
					r->send_at = PgaConnPendingOutput(conn) + PGA_MANY_SEND_BYTES;
				}
			}
			PgaParamPlanEndText(nestlevel);
			if (r->error == NULL)
			{
				flush_batch(r, false);
				take_events(r);
				r->send_at = PgaConnPendingOutput(conn) + PGA_MANY_SEND_BYTES;
			}
			if (r->error != NULL)
			{
				/*
				 * Stop early.  An error of our request already made the
				 * server skip to the Sync; one from a request ahead of ours
				 * did not, and the rows sent must not commit.
				 */
				if (!pgw_conn_execute(proto, PGA_MANY_ABORT_PORTAL, 0))
					send_failed(r);
				break;
			}
			CHECK_FOR_INTERRUPTS();
			nrows = src->fetch(src);
			if (nrows == 0)
				break;
		}
		if (pgw_conn_sync(proto) == 0)
			send_failed(r);
		r->synced = true;
		s->batch_open = false;
	}
	PG_CATCH();
	{
		abandon_batch(r);
		PG_RE_THROW();
	}
	PG_END_TRY();

	while (!r->done)
		wait_event(r);
	MemoryContextDelete(rowcxt);

	if (r->error)
	{
		bool		stale = error_is_stale_statement(r->error);

		/* a statement that failed to parse, or went stale, is not kept */
		if (!r->parsed || stale)
			PgaStatementForget(s, r->statement);
		if (stale && r->error->hint == NULL)
			r->error->hint = pstrdup("The remote statement was prepared before a schema change on the remote server; run pgasync.executemany again.");
		raise_remote_error(r);
	}
	if (r->statement->name[0] == '\0')
		PgaStatementForget(s, r->statement);
	PgaSessionRelease(s);
	return r->affected;
}

/* ----------------------------------------------------------------
 * Row sources
 * ----------------------------------------------------------------
 */

static uint64
array_fetch(ManySource *src)
{
	ManyArray *as = (ManyArray *) src;

	if (as->fetched)
		return 0;
	as->fetched = true;
	return as->nrows;
}

static void
array_get(ManySource *src, uint64 row, Datum *values, bool *nulls)
{
	ManyArray *as = (ManyArray *) src;
	HeapTupleHeader td;
	HeapTupleData tuple;
	int			i;

	if (as->rowdesc == NULL)
	{
		uint64		first = row * (uint64) src->nparams;

		for (i = 0; i < src->nparams; i++)
		{
			values[i] = as->elems[first + i];
			nulls[i] = as->elemnulls[first + i];
		}
		return;
	}

	if (as->elemnulls[row])
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("row %llu of the arguments of pgasync.executemany is null",
						(unsigned long long) row + 1)));
	td = DatumGetHeapTupleHeader(as->elems[row]);
	if (HeapTupleHeaderGetTypeId(td) != as->rowtype ||
		HeapTupleHeaderGetTypMod(td) != as->rowtypmod)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the rows of the arguments of pgasync.executemany must all have the same row type"),
				 errdetail("Row %llu has type %s, row 1 has type %s.",
						   (unsigned long long) row + 1,
						   format_type_with_typemod(HeapTupleHeaderGetTypeId(td),
													HeapTupleHeaderGetTypMod(td)),
						   format_type_with_typemod(as->rowtype, as->rowtypmod))));
	tuple.t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = td;
	heap_deform_tuple(&tuple, as->rowdesc, as->rowvalues, as->rownulls);
	for (i = 0; i < src->nparams; i++)
	{
		values[i] = as->rowvalues[as->attnums[i]];
		nulls[i] = as->rownulls[as->attnums[i]];
	}
}

/* Set up the rows of an array (see ManyArray). */
static void
array_source_init(ManyArray *as, ArrayType *arr)
{
	Oid			elemtype = ARR_ELEMTYPE(arr);
	int			ndim = ARR_NDIM(arr);
	int16		elemlen;
	bool		elembyval;
	char		elemalign;
	int			nelems;
	int			i;

	memset(as, 0, sizeof(*as));
	as->src.fetch = array_fetch;
	as->src.get = array_get;
	get_typlenbyvalalign(elemtype, &elemlen, &elembyval, &elemalign);
	deconstruct_array(arr, elemtype, elemlen, elembyval, elemalign,
					  &as->elems, &as->elemnulls, &nelems);
	if (nelems == 0)
		return;

	if (type_is_rowtype(elemtype))
	{
		TupleDesc	desc;
		int			first;

		if (ndim != 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("an array of rows for pgasync.executemany must have one dimension")));
		/* the row type is that of the first row: record[] has no other */
		for (first = 0; first < nelems && as->elemnulls[first]; first++)
			;
		if (first == nelems)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("row 1 of the arguments of pgasync.executemany is null")));
		{
			HeapTupleHeader td = DatumGetHeapTupleHeader(as->elems[first]);

			as->rowtype = HeapTupleHeaderGetTypeId(td);
			as->rowtypmod = HeapTupleHeaderGetTypMod(td);
		}
		desc = lookup_rowtype_tupdesc_domain(as->rowtype, as->rowtypmod, false);
		as->rowdesc = CreateTupleDescCopy(desc);
		ReleaseTupleDesc(desc);

		as->src.types = palloc(sizeof(Oid) * Max(as->rowdesc->natts, 1));
		as->attnums = palloc(sizeof(int) * Max(as->rowdesc->natts, 1));
		for (i = 0; i < as->rowdesc->natts; i++)
		{
			Form_pg_attribute attr = TupleDescAttr(as->rowdesc, i);

			if (attr->attisdropped)
				continue;
			as->src.types[as->src.nparams] = attr->atttypid;
			as->attnums[as->src.nparams] = i;
			as->src.nparams++;
		}
		as->rowvalues = palloc(sizeof(Datum) * Max(as->rowdesc->natts, 1));
		as->rownulls = palloc(sizeof(bool) * Max(as->rowdesc->natts, 1));
		as->nrows = nelems;
		return;
	}

	if (ndim > 2)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("an array of parameters for pgasync.executemany must have one or two dimensions"),
				 errhint("Each row of a two-dimensional array is one row of parameters.")));
	as->src.nparams = (ndim == 2) ? ARR_DIMS(arr)[1] : 1;
	as->src.types = palloc(sizeof(Oid) * as->src.nparams);
	for (i = 0; i < as->src.nparams; i++)
		as->src.types[i] = elemtype;
	as->nrows = (uint64) nelems / (uint64) as->src.nparams;
}

/*
 * pgasync.executemany(target text, command text, args_query text)
 * pgasync.executemany(target text, command text, args anyarray)
 *		RETURNS bigint
 *
 * Runs command on target once for every row of args_query (run locally) or
 * of args, with the row's columns as parameters $1, $2, ..., as one batch
 * in one transaction.  Returns the number of rows the commands affected.
 */
Datum
pgasync_executemany(PG_FUNCTION_ARGS)
{
	char	   *target = PgaArgText(fcinfo, 0, "target");
	char	   *sql = PgaArgText(fcinfo, 1, "command");
	Oid			argtype = get_fn_expr_argtype(fcinfo->flinfo, 2);
	int64		result;

	if (argtype == TEXTOID)
	{
		char	   *query = PgaArgText(fcinfo, 2, "args_query");
		PgaQueryRowSource qs;

		SPI_connect();
		PgaQueryRowSourceOpen(&qs, query, "the argument query of pgasync.executemany");
		result = executemany_run(target, sql, &qs.src);

		PgaQueryRowSourceClose(&qs);
		SPI_finish();
	}
	else
	{
		ManyArray as;

		if (PG_ARGISNULL(2))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("args must not be null")));
		array_source_init(&as, PG_GETARG_ARRAYTYPE_P(2));
		result = executemany_run(target, sql, &as.src);
	}
	PG_RETURN_INT64(result);
}
