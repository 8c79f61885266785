/*-------------------------------------------------------------------------
 *
 * scan.c
 *	  pgasync.fetch() and pgasync.fanout() in FROM without the function
 *	  scan's tuplestore: a custom scan that hands each row to the plan as
 *	  soon as it is decoded.
 *
 * PostgreSQL runs a set-returning function in FROM to its end and keeps
 * every row in a tuplestore (a temporary file past work_mem) before the
 * first one goes up the plan.  For a large remote result that is a tuple
 * formed, written and read back per row, and no row before the last one
 * has arrived.  A planner hook therefore offers, for a FROM item that is
 * pgasync.fetch() or pgasync.fanout() alone (with its column definition
 * list, no ORDINALITY, no LATERAL reference, in a query that does not
 * refer to an enclosing one), a custom path.  Its scan evaluates the
 * arguments on the first call, starts the remote queries as the function
 * would, and returns each DataRow decoded straight into the scan slot
 * (with the whole row made of its columns, when the query refers to it).
 * Results, errors and the statement cache are the function's: the same
 * runner does the work.
 *
 * While the scan reads, its connections are busy.  Anything else that
 * needs one of them -- another pgasync call in the same query, or in a
 * function the query calls, a disconnect -- first makes the scan read the
 * rest of its result into a tuplestore (PgaSessionClaim calls the
 * session's stream_release), and the scan goes on from there.  A scan the
 * plan may rewind (the inner side of a nested loop, say) reads the whole
 * result into the tuplestore on its first call, as the function scan
 * does, and replays it.  A scan ended before the end of its result (under
 * a LIMIT) reads the rest without decoding it, so the connections are
 * ready for the next query and remote transactions stay intact.
 *
 * The setting pgasync.stream_fetch = off leaves both functions to the
 * function scan.  Both functions have pgasync.planner_support as their
 * planner support function, so that planning them loads this library and
 * with it the hook.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "codec.h"
#include "connection.h"
#include "driver.h"
#include "fanout.h"
#include "pgasync.h"
#include "query.h"
#include "scan.h"

#define FETCH_SCAN_NAME "pgasync Fetch"

PG_FUNCTION_INFO_V1(pgasync_planner_support);

/* What a scan runs */
typedef enum FetchScanKind
{
	SCAN_NONE,
	SCAN_FETCH,					/* pgasync.fetch() */
	SCAN_FANOUT					/* pgasync.fanout() */
} FetchScanKind;

bool		pgasync_stream_fetch = true;

typedef enum FetchScanPhase
{
	FETCH_IDLE,					/* not started */
	FETCH_STREAMING,			/* reading rows as the plan asks for them */
	FETCH_STORED,				/* every row left is in the tuplestore */
	FETCH_DONE,					/* the result ended */
	FETCH_FAILED				/* the rest of the result could not be read */
} FetchScanPhase;

typedef struct FetchScanState
{
	CustomScanState css;
	FetchScanKind kind;
	Oid			funcid;
	bool		funcvariadic;
	List	   *argexprs;		/* the argument expressions */
	List	   *args;			/* ... ready to evaluate */
	int			begin_level;	/* transaction nest level of the executor */
	bool		rewind;			/* the plan may rescan: keep every row */
	FetchScanPhase phase;
	MemoryContext runcxt;		/* state of the current run; reset per scan */
	PgaQueryRun *run;			/* fetch: the run, while it is not over */
	Fanout	   *fanout;			/* fanout: the fan-out, while at work */
	PgaRowSink	sink;			/* where the rows go */
	PgaSession **sessions;		/* sessions registered on (in the executor's
								 * memory: fetch_forget reads it after runcxt
								 * is gone) */
	int			nsessions;
	int			maxsessions;
	Tuplestorestate *store;		/* rows read ahead, or NULL */
	TupleTableSlot *store_slot; /* ... read through this slot */
	TupleDesc	rowdesc;		/* the column definition list's columns */
	int			wholerow;		/* scan column of the whole row (0: none) */
	Datum	   *values;			/* decoding buffers for the store */
	bool	   *nulls;
	MemoryContextCallback forget;	/* the executor's memory goes */
} FetchScanState;

static set_rel_pathlist_hook_type prev_set_rel_pathlist_hook = NULL;

static Plan *fetch_plan_path(PlannerInfo *root, RelOptInfo *rel,
							 CustomPath *best_path, List *tlist,
							 List *clauses, List *custom_plans);
static Node *fetch_create_state(CustomScan *cscan);
static void fetch_begin(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *fetch_exec(CustomScanState *node);
static void fetch_end(CustomScanState *node);
static void fetch_rescan(CustomScanState *node);
static void fetch_release(void *arg);

static const CustomPathMethods fetch_path_methods = {
	.CustomName = FETCH_SCAN_NAME,
	.PlanCustomPath = fetch_plan_path,
};

static const CustomScanMethods fetch_scan_methods = {
	.CustomName = FETCH_SCAN_NAME,
	.CreateCustomScanState = fetch_create_state,
};

static const CustomExecMethods fetch_exec_methods = {
	.CustomName = FETCH_SCAN_NAME,
	.BeginCustomScan = fetch_begin,
	.ExecCustomScan = fetch_exec,
	.EndCustomScan = fetch_end,
	.ReScanCustomScan = fetch_rescan,
};

/* ----------------------------------------------------------------
 * Planning
 * ----------------------------------------------------------------
 */

/* Is funcid pgasync.fetch() or pgasync.fanout() (in any of their forms)? */
static FetchScanKind
scan_kind(Oid funcid)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	FetchScanKind kind = SCAN_NONE;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tup))
		return SCAN_NONE;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->prolang == ClanguageId && proc->proretset)
	{
		bool		isnull;
		Datum		src = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_prosrc, &isnull);
		Datum		bin;
		char	   *name = isnull ? "" : TextDatumGetCString(src);

		if (strcmp(name, "pgasync_fetch") == 0)
			kind = SCAN_FETCH;
		else if (strcmp(name, "pgasync_fanout") == 0)
			kind = SCAN_FANOUT;

		/* ... of this library */
		bin = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_probin, &isnull);
		if (kind != SCAN_NONE && !isnull)
		{
			char	   *path = TextDatumGetCString(bin);
			char	   *base = strrchr(path, '/');

			base = base ? base + 1 : path;
			if (strcmp(base, "pgasync") != 0 && strcmp(base, "pgasync" DLSUFFIX) != 0)
				kind = SCAN_NONE;
		}
		else
			kind = SCAN_NONE;
	}
	ReleaseSysCache(tup);
	return kind;
}

/*
 * Does the query being planned refer to no enclosing query?  Then it runs
 * once, or is rescanned only unchanged (and the executor then asks the
 * scan to be able to rewind): the outermost query, or a CTE or subquery
 * (in FROM, IN, a scalar subquery, ...) without outer references.  While a
 * subquery is planned, each enclosing level's plan_params holds what the
 * subquery needs from that level.
 */
static bool
query_uncorrelated(PlannerInfo *root)
{
	PlannerInfo *outer;

	for (outer = root->parent_root; outer != NULL; outer = outer->parent_root)
	{
		if (outer->plan_params != NIL)
			return false;
	}
	return true;
}

static void
fetch_set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti,
					   RangeTblEntry *rte)
{
	RangeTblFunction *rtfunc;
	FuncExpr   *fexpr;
	FetchScanKind kind;
	bool		wholerow = false;
	Path	   *fpath = NULL;
	CustomPath *cpath;
	ListCell   *lc;

	if (prev_set_rel_pathlist_hook)
		prev_set_rel_pathlist_hook(root, rel, rti, rte);

	/*
	 * Only where the scan is not rescanned for each row of an enclosing
	 * query: correlated subqueries and LATERAL items keep the function
	 * scan, which tells a change of its arguments from a change of
	 * something else and otherwise replays what it read.
	 */
	if (!pgasync_stream_fetch || rte->rtekind != RTE_FUNCTION ||
		rel->reloptkind != RELOPT_BASEREL || !query_uncorrelated(root) ||
		rte->funcordinality || list_length(rte->functions) != 1 ||
		!bms_is_empty(rel->lateral_relids))
		return;
	rtfunc = linitial_node(RangeTblFunction, rte->functions);
	if (!IsA(rtfunc->funcexpr, FuncExpr) || rtfunc->funccolnames == NIL)
		return;
	fexpr = (FuncExpr *) rtfunc->funcexpr;
	kind = scan_kind(fexpr->funcid);
	if (kind == SCAN_NONE)
		return;

	/*
	 * The scan produces the columns and, when asked, the whole row; not
	 * for row marks (UPDATE ... FROM, FOR UPDATE), whose rechecks the
	 * function scan serves.
	 */
	foreach(lc, rel->reltarget->exprs)
	{
		Var		   *var = (Var *) lfirst(lc);

		if (!IsA(var, Var) || var->varno != rti || var->varattno < 0 ||
			(var->varattno == 0 && root->rowMarks != NIL))
			return;
		if (var->varattno == 0)
			wholerow = true;
	}
	/* ... or the quals the scan itself checks */
	foreach(lc, pull_var_clause((Node *) extract_actual_clauses(rel->baserestrictinfo, false),
								PVC_RECURSE_PLACEHOLDERS))
	{
		if (((Var *) lfirst(lc))->varattno == 0)
			wholerow = true;
	}
	foreach(lc, rel->pathlist)
	{
		Path	   *p = (Path *) lfirst(lc);

		if (p->pathtype == T_FunctionScan && p->param_info == NULL)
		{
			fpath = p;
			break;
		}
	}
	if (fpath == NULL)
		return;

	/*
	 * The same work without filling a tuplestore first: the first row
	 * comes without waiting for the last, so nothing is paid up front.
	 * Cheaper at start and no dearer in all, the path replaces the
	 * function scan.
	 */
	cpath = makeNode(CustomPath);
	cpath->path.pathtype = T_CustomScan;
	cpath->path.parent = rel;
	cpath->path.pathtarget = rel->reltarget;
	cpath->path.param_info = NULL;
	cpath->path.parallel_aware = false;
	cpath->path.parallel_safe = false;
	cpath->path.parallel_workers = 0;
	cpath->path.rows = fpath->rows;
	cpath->path.startup_cost = 0;
	cpath->path.total_cost = fpath->total_cost;
	cpath->path.pathkeys = NIL;
	cpath->flags = CUSTOMPATH_SUPPORT_PROJECTION;	/* ExecScan projects */
	cpath->custom_private = list_make2(makeInteger((int) kind),
									   makeBoolean(wholerow));
	cpath->methods = &fetch_path_methods;
	add_path(rel, &cpath->path);
}

static Plan *
fetch_plan_path(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
				List *tlist, List *clauses, List *custom_plans)
{
	RangeTblEntry *rte = planner_rt_fetch(rel->relid, root);
	RangeTblFunction *rtfunc = linitial_node(RangeTblFunction, rte->functions);
	FuncExpr   *fexpr = (FuncExpr *) rtfunc->funcexpr;
	CustomScan *cscan = makeNode(CustomScan);
	List	   *scan_tlist = NIL;
	ListCell   *lct;
	ListCell   *lcm;
	ListCell   *lcc;
	ListCell   *lcn;
	AttrNumber	attno = 1;

	/*
	 * The scan tuple: every column of the column definition list, named as
	 * there (errors about a column's value name it).
	 */
	forfour(lct, rtfunc->funccoltypes, lcm, rtfunc->funccoltypmods,
			lcc, rtfunc->funccolcollations, lcn, rtfunc->funccolnames)
	{
		Var		   *var = makeVar(rel->relid, attno, lfirst_oid(lct),
								  lfirst_int(lcm), lfirst_oid(lcc), 0);

		scan_tlist = lappend(scan_tlist,
							 makeTargetEntry((Expr *) var, attno,
											 pstrdup(strVal(lfirst(lcn))), false));
		attno++;
	}
	/*
	 * ... and the whole row after them, if the query refers to it (the path
	 * noted it: the scan projects, so the target list it will have is not
	 * known yet)
	 */
	if (boolVal(lsecond(best_path->custom_private)))
		scan_tlist = lappend(scan_tlist,
							 makeTargetEntry((Expr *) makeWholeRowVar(rte, rel->relid, 0, false),
											 attno, pstrdup(rte->eref->aliasname), false));

	cscan->scan.plan.targetlist = tlist;
	cscan->scan.plan.qual = extract_actual_clauses(clauses, false);
	cscan->scan.scanrelid = 0;
	cscan->flags = best_path->flags;
	cscan->custom_scan_tlist = scan_tlist;
	cscan->custom_exprs = copyObject(fexpr->args);
	cscan->custom_private = list_make3(makeInteger((int) fexpr->funcid),
									   makeInteger(fexpr->funcvariadic ? 1 : 0),
									   makeInteger(intVal(linitial(best_path->custom_private))));
	cscan->methods = &fetch_scan_methods;
	return &cscan->scan.plan;
}

/* ----------------------------------------------------------------
 * Execution
 * ----------------------------------------------------------------
 */

static Node *
fetch_create_state(CustomScan *cscan)
{
	FetchScanState *fss = (FetchScanState *) newNode(sizeof(FetchScanState),
													 T_CustomScanState);

	fss->css.methods = &fetch_exec_methods;
	fss->funcid = (Oid) intVal(linitial(cscan->custom_private));
	fss->funcvariadic = intVal(lsecond(cscan->custom_private)) != 0;
	fss->kind = (FetchScanKind) intVal(lthird(cscan->custom_private));
	return (Node *) fss;
}

/* Be the stream of the sessions of the scan: a claim calls fetch_release. */
static void
fetch_register(FetchScanState *fss)
{
	int			n = fss->kind == SCAN_FETCH ? 1 : PgaFanoutSessions(fss->fanout, NULL);
	int			i;

	if (n > fss->maxsessions)
	{
		fss->sessions = MemoryContextAlloc(GetMemoryChunkContext(fss),
										   sizeof(PgaSession *) * n);
		fss->maxsessions = n;
	}
	if (fss->kind == SCAN_FETCH)
		fss->sessions[0] = fss->run->session;
	else
		(void) PgaFanoutSessions(fss->fanout, fss->sessions);
	fss->nsessions = n;
	for (i = 0; i < fss->nsessions; i++)
	{
		fss->sessions[i]->stream_release = fetch_release;
		fss->sessions[i]->stream_arg = fss;
	}
}

/* Stop being the stream of the sessions. */
static void
fetch_unregister(FetchScanState *fss)
{
	int			i;

	for (i = 0; i < fss->nsessions; i++)
	{
		PgaSession *s = fss->sessions[i];

		if (s->stream_arg == fss)
		{
			s->stream_release = NULL;
			s->stream_arg = NULL;
		}
	}
	fss->nsessions = 0;
}

/* The executor's memory is going (also on abort): forget the sessions. */
static void
fetch_forget(void *arg)
{
	fetch_unregister((FetchScanState *) arg);
}

static void
fetch_begin(CustomScanState *node, EState *estate, int eflags)
{
	FetchScanState *fss = (FetchScanState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	TupleDesc	tupdesc = node->ss.ss_ScanTupleSlot->tts_tupleDescriptor;

	fss->argexprs = cscan->custom_exprs;
	fss->args = ExecInitExprList(cscan->custom_exprs, &node->ss.ps);
	fss->begin_level = GetCurrentTransactionNestLevel();
	fss->rewind = (eflags & (EXEC_FLAG_REWIND | EXEC_FLAG_BACKWARD |
							 EXEC_FLAG_MARK)) != 0;
	fss->phase = FETCH_IDLE;
	fss->store_slot = ExecInitExtraTupleSlot(estate, tupdesc, &TTSOpsMinimalTuple);

	/*
	 * The remote rows fill the columns of the column definition list; a
	 * whole-row column after them is made of those (a blessed record).
	 */
	fss->wholerow = 0;
	fss->rowdesc = tupdesc;
	if (cscan->custom_scan_tlist != NIL)
	{
		TargetEntry *last = llast_node(TargetEntry, cscan->custom_scan_tlist);

		if (IsA(last->expr, Var) && ((Var *) last->expr)->varattno == 0)
		{
			int			i;

			fss->wholerow = last->resno;
			fss->rowdesc = CreateTemplateTupleDesc(tupdesc->natts - 1);
			for (i = 1; i < tupdesc->natts; i++)
				TupleDescCopyEntry(fss->rowdesc, i, tupdesc, i);
			fss->rowdesc = BlessTupleDesc(fss->rowdesc);
		}
	}
	fss->values = palloc(sizeof(Datum) * tupdesc->natts);
	fss->nulls = palloc(sizeof(bool) * tupdesc->natts);
	fss->runcxt = AllocSetContextCreate(estate->es_query_cxt,
										"pgasync fetch scan",
										ALLOCSET_DEFAULT_SIZES);
	fss->forget.func = fetch_forget;
	fss->forget.arg = fss;
	MemoryContextRegisterResetCallback(estate->es_query_cxt, &fss->forget);
}

/* A decoded row: the scan's row, or one more row of the store. */
static void
fetch_emit(void *arg, Datum *values, bool *nulls)
{
	FetchScanState *fss = (FetchScanState *) arg;
	TupleTableSlot *slot = fss->css.ss.ss_ScanTupleSlot;

	/*
	 * The whole row, made of the columns: for the scan slot, in the
	 * per-tuple memory the columns were decoded into; for the store (which
	 * copies it), wherever the row is.
	 */
	if (fss->wholerow > 0)
	{
		MemoryContext old = NULL;

		if (fss->store == NULL && fss->sink.decode_cxt != NULL)
			old = MemoryContextSwitchTo(fss->sink.decode_cxt);
		values[fss->wholerow - 1] =
			HeapTupleGetDatum(heap_form_tuple(fss->rowdesc, values, nulls));
		nulls[fss->wholerow - 1] = false;
		if (old != NULL)
			MemoryContextSwitchTo(old);
	}
	if (fss->store != NULL)
		tuplestore_putvalues(fss->store, slot->tts_tupleDescriptor, values, nulls);
	else
		ExecStoreVirtualTuple(slot);	/* decoded into the slot itself */
}

/* A row of a fetch run. */
static void
fetch_on_row(PgaQueryRun *run, PgaResultCodec *codec, PgaStatement *st,
			 const pgw_value *cols, int ncols)
{
	FetchScanState *fss = (FetchScanState *) run->arg;
	PgaRowSink *sink = &fss->sink;

	if (PgaRowSinkDecode(sink, codec, cols, ncols))
		fetch_emit(fss, sink->values, sink->nulls);
}

/*
 * Decode the rows that follow into the scan slot, in the per-tuple memory
 * (ExecScan resets it before the next row), or -- reading ahead -- into
 * the store, in the runner's per-row memory.
 */
static void
fetch_set_sink(FetchScanState *fss, bool ahead, bool discard)
{
	PgaRowSink *sink = &fss->sink;
	TupleTableSlot *slot = fss->css.ss.ss_ScanTupleSlot;

	sink->discard = discard;
	if (ahead)
	{
		sink->values = fss->values;
		sink->nulls = fss->nulls;
		sink->decode_cxt = NULL;
	}
	else
	{
		sink->values = slot->tts_values;
		sink->nulls = slot->tts_isnull;
		sink->decode_cxt = fss->css.ss.ps.ps_ExprContext->ecxt_per_tuple_memory;
	}
	sink->emit = fetch_emit;
	sink->arg = fss;
}

/*
 * One step of the scan's remote work: read one event and act on it.
 * Returns false when the result is over (the sessions are free again).
 * raise_errors false (ending early): errors end the work quietly.
 */
static bool
fetch_step(FetchScanState *fss, bool raise_errors)
{
	MemoryContext old = MemoryContextSwitchTo(fss->runcxt);
	bool		more = true;

	if (fss->kind == SCAN_FETCH)
	{
		PgaQueryRun *run = fss->run;
		pgw_event	ev;

		PgaQueryRunNextEvent(run, &ev);
		if (PgaQueryRunOnEvent(run, &ev))
		{
			/* ReadyForQuery: the connection is free */
			fetch_unregister(fss);
			if (PgaQueryRunFinish(run, raise_errors))
			{
				/* sent again: its statement had gone stale */
				PgaConnSetNestLevel(run->session->conn, fss->begin_level);
				fetch_register(fss);
			}
			else
			{
				PgaSessionRelease(run->session);
				fss->run = NULL;
				more = false;
			}
		}
	}
	else
	{
		if (!raise_errors)
			PgaFanoutQuiet(fss->fanout);
		if (!PgaFanoutStep(fss->fanout))
		{
			fetch_unregister(fss);
			PgaFanoutEnd(fss->fanout);
			fss->fanout = NULL;
			more = false;
		}
	}
	MemoryContextSwitchTo(old);
	return more;
}

/* Read every row left into a tuplestore, from which the scan goes on. */
static void
fetch_read_ahead(FetchScanState *fss)
{
	MemoryContext old = MemoryContextSwitchTo(fss->runcxt);

	fss->store = tuplestore_begin_heap(false, false, work_mem);
	MemoryContextSwitchTo(old);

	fss->phase = FETCH_FAILED;	/* unless it gets to the end */
	fetch_unregister(fss);		/* nothing else uses the sessions meanwhile */
	fetch_set_sink(fss, true, false);
	while (fetch_step(fss, true))
		;
	fss->phase = FETCH_STORED;
}

/* Are the scan's connections still at its work? */
static bool
fetch_connections_busy(FetchScanState *fss)
{
	if (fss->kind == SCAN_FETCH)
	{
		PgaConn    *conn = fss->run->session->conn;

		return conn != NULL && PgaConnGetPhase(conn) == PGA_PHASE_READY &&
			PgaConnIsBusy(conn);
	}
	return PgaFanoutBusy(fss->fanout);
}

/*
 * A session of the scan is wanted for something else (PgaSessionClaim), or
 * is being closed: read the rest of the result ahead.  Not while the
 * transaction is aborting, nor when a connection broke or is no longer
 * busy with the scan's work (an abort canceled it): then the scan fails if
 * it is called again.
 */
static void
fetch_release(void *arg)
{
	FetchScanState *fss = (FetchScanState *) arg;

	if (fss->phase != FETCH_STREAMING)
	{
		fetch_unregister(fss);
		return;
	}
	if (!IsTransactionState() || !fetch_connections_busy(fss))
	{
		fetch_unregister(fss);
		fss->run = NULL;
		fss->fanout = NULL;
		fss->phase = FETCH_FAILED;
		return;
	}
	fetch_read_ahead(fss);
}

/* Evaluate the arguments and send the query. */
static void
fetch_start(FetchScanState *fss)
{
	ExprContext *econtext = fss->css.ss.ps.ps_ExprContext;
	TupleDesc	tupdesc = fss->rowdesc;
	int			nargs = list_length(fss->args);
	MemoryContext old = MemoryContextSwitchTo(fss->runcxt);
	FmgrInfo   *flinfo = palloc0(sizeof(FmgrInfo));
	FunctionCallInfo fcinfo = palloc0(SizeForFunctionCallInfo(nargs));
	FuncExpr   *fexpr;
	ListCell   *lc;
	int			i = 0;

	/* a call of the function as the argument code expects to see it */
	fexpr = makeFuncExpr(fss->funcid, RECORDOID, fss->argexprs,
						 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	fexpr->funcretset = true;
	fexpr->funcvariadic = fss->funcvariadic;
	flinfo->fn_oid = fss->funcid;
	flinfo->fn_nargs = nargs;
	flinfo->fn_mcxt = fss->runcxt;
	flinfo->fn_retset = true;
	fmgr_info_set_expr((Node *) fexpr, flinfo);
	InitFunctionCallInfoData(*fcinfo, flinfo, nargs, InvalidOid, NULL, NULL);
	foreach(lc, fss->args)
	{
		fcinfo->args[i].value = ExecEvalExpr((ExprState *) lfirst(lc), econtext,
											 &fcinfo->args[i].isnull);
		i++;
	}

	fetch_set_sink(fss, false, false);
	if (fss->kind == SCAN_FETCH)
	{
		PgaParams  *params = palloc0(sizeof(PgaParams));
		PgaQueryRun *run = palloc0(sizeof(PgaQueryRun));
		char	   *target = PgaArgText(fcinfo, 0, "target");
		char	   *sql = PgaArgText(fcinfo, 1, "query");

		PgaParamsFromArgs(fcinfo, 2, params);
		PgaQueryRunInit(run, target, sql);
		run->tupdesc = tupdesc;
		run->on_row = fetch_on_row;
		run->arg = fss;
		fss->run = run;
		PgaQueryRunStart(run, params);
		/* the run belongs to the executor's (sub)transaction */
		PgaConnSetNestLevel(run->session->conn, fss->begin_level);
	}
	else
		fss->fanout = PgaFanoutStart(fcinfo, tupdesc, &fss->sink, fss->begin_level);
	MemoryContextSwitchTo(old);

	fss->phase = FETCH_STREAMING;
	fetch_register(fss);
	if (fss->rewind)
		fetch_read_ahead(fss);
}

static TupleTableSlot *
fetch_next(ScanState *ss)
{
	FetchScanState *fss = (FetchScanState *) ss;
	TupleTableSlot *slot = ss->ss_ScanTupleSlot;

	ExecClearTuple(slot);
	if (fss->phase == FETCH_IDLE)
		fetch_start(fss);
	if (fss->phase == FETCH_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not read the rest of a remote result"),
				 errdetail("An earlier error or the loss of the connection interrupted the remote query.")));
	if (fss->phase == FETCH_STORED)
	{
		TupleTableSlot *stored = fss->store_slot;
		int			natts = slot->tts_tupleDescriptor->natts;

		/*
		 * The plan reads the scan slot as a virtual one: hand the stored row
		 * over as such (it stays in stored until the next call).
		 */
		if (tuplestore_gettupleslot(fss->store, true, false, stored))
		{
			slot_getallattrs(stored);
			memcpy(slot->tts_values, stored->tts_values, natts * sizeof(Datum));
			memcpy(slot->tts_isnull, stored->tts_isnull, natts * sizeof(bool));
			ExecStoreVirtualTuple(slot);
		}
		return slot;
	}

	while (fss->phase == FETCH_STREAMING)
	{
		if (!fetch_step(fss, true))
			fss->phase = FETCH_DONE;
		else if (!TTS_EMPTY(slot))
			break;
	}
	return slot;
}

static bool
fetch_recheck(ScanState *ss, TupleTableSlot *slot)
{
	return true;
}

static TupleTableSlot *
fetch_exec(CustomScanState *node)
{
	return ExecScan(&node->ss, fetch_next, fetch_recheck);
}

/* Stop the current work, reading the rest of its result undecoded. */
static void
fetch_stop(FetchScanState *fss)
{
	if (fss->phase == FETCH_STREAMING)
	{
		fetch_set_sink(fss, false, true);
		while (fetch_step(fss, false))
			;
	}
	fetch_unregister(fss);
	fss->run = NULL;
	fss->fanout = NULL;
	if (fss->store != NULL)
		tuplestore_end(fss->store);
	fss->store = NULL;
	fss->phase = FETCH_IDLE;
	MemoryContextReset(fss->runcxt);
}

static void
fetch_end(CustomScanState *node)
{
	fetch_stop((FetchScanState *) node);
}

static void
fetch_rescan(CustomScanState *node)
{
	FetchScanState *fss = (FetchScanState *) node;

	ExecScanReScan(&node->ss);

	/* the same arguments: replay what was read */
	if (node->ss.ps.chgParam == NULL && fss->phase == FETCH_STORED)
	{
		tuplestore_rescan(fss->store);
		return;
	}
	fetch_stop(fss);
}

/* ----------------------------------------------------------------
 * Set-up
 * ----------------------------------------------------------------
 */

/*
 * The planner support function of pgasync.fetch() and pgasync.fanout().
 * It answers no request.  Its part is to be called while a query using
 * them is planned: that loads this library, and so installs the planner
 * hook above, before the query's FROM items get their paths.  Without it
 * a session's first such query, planned before anything had loaded the
 * library, would keep the function scan.
 */
Datum
pgasync_planner_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(NULL);
}

void
PgaScanInit(void)
{
	RegisterCustomScanMethods(&fetch_scan_methods);
	prev_set_rel_pathlist_hook = set_rel_pathlist_hook;
	set_rel_pathlist_hook = fetch_set_rel_pathlist;
}
