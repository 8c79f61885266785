/*-------------------------------------------------------------------------
 *
 * fdw.c
 *	  The pgasync_fdw foreign-data wrapper: its handler and the validator
 *	  of the options of its servers, user mappings, foreign tables and
 *	  columns.
 *
 * Foreign servers of pgasync_fdw name remote servers for pgasync.connect()
 * and friends; option.c turns a server and the current user's user mapping
 * into a connection target.  Scanning foreign tables is not implemented
 * yet: the planner callbacks exist, as the executor requires, but raise an
 * error.
 *
 * The validator checks every value when it is stored, so that a bad port
 * or sslmode is reported by CREATE SERVER rather than at connection time.
 * Connection-string values are checked by the protocol core itself, with
 * a scratch pgw_dsn.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/reloptions.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/fdwapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "protocol/pgw_dsn.h"

PG_FUNCTION_INFO_V1(pgasync_fdw_handler);
PG_FUNCTION_INFO_V1(pgasync_fdw_validator);

/* What the value of an option must be. */
typedef enum PgaFdwOptionKind
{
	PGA_FDW_OPT_DSN,			/* connection-string key, checked by the core */
	PGA_FDW_OPT_SECONDS,		/* non-negative number of seconds */
	PGA_FDW_OPT_NONNEGATIVE_INT,
	PGA_FDW_OPT_POSITIVE_INT,
	PGA_FDW_OPT_BOOL,
	PGA_FDW_OPT_STRING			/* anything */
} PgaFdwOptionKind;

typedef struct PgaFdwOption
{
	const char *name;
	Oid			context;		/* catalog of the objects it applies to */
	PgaFdwOptionKind kind;
} PgaFdwOption;

/*
 * The options of each kind of object.  Where and how to connect belongs to
 * the server; who connects, and with which secrets, to the user mapping.
 */
static const PgaFdwOption pgasync_fdw_options[] = {
	/* foreign servers: connection-string keys */
	{"host", ForeignServerRelationId, PGA_FDW_OPT_DSN},
	{"hostaddr", ForeignServerRelationId, PGA_FDW_OPT_DSN},
	{"port", ForeignServerRelationId, PGA_FDW_OPT_DSN},
	{"dbname", ForeignServerRelationId, PGA_FDW_OPT_DSN},
	{"connect_timeout", ForeignServerRelationId, PGA_FDW_OPT_DSN},
	{"application_name", ForeignServerRelationId, PGA_FDW_OPT_DSN},
	{"options", ForeignServerRelationId, PGA_FDW_OPT_DSN},
	{"sslmode", ForeignServerRelationId, PGA_FDW_OPT_DSN},
	{"sslrootcert", ForeignServerRelationId, PGA_FDW_OPT_DSN},
	{"sslcrl", ForeignServerRelationId, PGA_FDW_OPT_DSN},
	{"sslcrldir", ForeignServerRelationId, PGA_FDW_OPT_DSN},
	{"sslsni", ForeignServerRelationId, PGA_FDW_OPT_DSN},
	{"ssl_min_protocol_version", ForeignServerRelationId, PGA_FDW_OPT_DSN},
	{"ssl_max_protocol_version", ForeignServerRelationId, PGA_FDW_OPT_DSN},
	{"target_session_attrs", ForeignServerRelationId, PGA_FDW_OPT_DSN},
	{"channel_binding", ForeignServerRelationId, PGA_FDW_OPT_DSN},
	/* foreign servers: session settings */
	{"command_timeout", ForeignServerRelationId, PGA_FDW_OPT_SECONDS},
	{"statement_cache_size", ForeignServerRelationId,
	PGA_FDW_OPT_NONNEGATIVE_INT},
	{"max_cached_statement_lifetime", ForeignServerRelationId,
	PGA_FDW_OPT_NONNEGATIVE_INT},
	{"max_cacheable_statement_size", ForeignServerRelationId,
	PGA_FDW_OPT_NONNEGATIVE_INT},
	/* foreign servers: foreign table defaults */
	{"fetch_size", ForeignServerRelationId, PGA_FDW_OPT_POSITIVE_INT},
	{"batch_size", ForeignServerRelationId, PGA_FDW_OPT_POSITIVE_INT},
	/* user mappings */
	{"user", UserMappingRelationId, PGA_FDW_OPT_DSN},
	{"password", UserMappingRelationId, PGA_FDW_OPT_DSN},
	{"sslcert", UserMappingRelationId, PGA_FDW_OPT_DSN},
	{"sslkey", UserMappingRelationId, PGA_FDW_OPT_DSN},
	{"sslpassword", UserMappingRelationId, PGA_FDW_OPT_DSN},
	{"password_required", UserMappingRelationId, PGA_FDW_OPT_BOOL},
	/* foreign tables */
	{"schema_name", ForeignTableRelationId, PGA_FDW_OPT_STRING},
	{"table_name", ForeignTableRelationId, PGA_FDW_OPT_STRING},
	{"fetch_size", ForeignTableRelationId, PGA_FDW_OPT_POSITIVE_INT},
	/* columns of foreign tables */
	{"column_name", AttributeRelationId, PGA_FDW_OPT_STRING},
	{NULL, InvalidOid, PGA_FDW_OPT_STRING}
};

static const PgaFdwOption *find_option(const char *name, Oid context);
static char *valid_option_list(Oid context);
static void check_option_value(const PgaFdwOption *opt, DefElem *def);
static void check_dsn_value(const char *name, const char *value);
static void check_dsn_combination(List *options, Oid context);
static void check_option_privileges(const PgaFdwOption *opt, DefElem *def);

static void pgasyncGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
									 Oid foreigntableid);
static void pgasyncGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
								   Oid foreigntableid);
static ForeignScan *pgasyncGetForeignPlan(PlannerInfo *root,
										  RelOptInfo *baserel,
										  Oid foreigntableid,
										  ForeignPath *best_path,
										  List *tlist,
										  List *scan_clauses,
										  Plan *outer_plan);
static void pgasyncBeginForeignScan(ForeignScanState *node, int eflags);
static TupleTableSlot *pgasyncIterateForeignScan(ForeignScanState *node);
static void pgasyncReScanForeignScan(ForeignScanState *node);
static void pgasyncEndForeignScan(ForeignScanState *node);
static void scans_not_supported(void) pg_attribute_noreturn();


/* ----------------------------------------------------------------
 * Handler
 * ----------------------------------------------------------------
 */

Datum
pgasync_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	routine->GetForeignRelSize = pgasyncGetForeignRelSize;
	routine->GetForeignPaths = pgasyncGetForeignPaths;
	routine->GetForeignPlan = pgasyncGetForeignPlan;
	routine->BeginForeignScan = pgasyncBeginForeignScan;
	routine->IterateForeignScan = pgasyncIterateForeignScan;
	routine->ReScanForeignScan = pgasyncReScanForeignScan;
	routine->EndForeignScan = pgasyncEndForeignScan;

	PG_RETURN_POINTER(routine);
}

static void
scans_not_supported(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("foreign table scans through pgasync_fdw are not supported yet")));
	pg_unreachable();
}

static void
pgasyncGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
						 Oid foreigntableid)
{
	scans_not_supported();
}

static void
pgasyncGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
					   Oid foreigntableid)
{
	scans_not_supported();
}

static ForeignScan *
pgasyncGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
					  Oid foreigntableid, ForeignPath *best_path,
					  List *tlist, List *scan_clauses, Plan *outer_plan)
{
	scans_not_supported();
	return NULL;				/* keep compiler quiet */
}

static void
pgasyncBeginForeignScan(ForeignScanState *node, int eflags)
{
	scans_not_supported();
}

static TupleTableSlot *
pgasyncIterateForeignScan(ForeignScanState *node)
{
	scans_not_supported();
	return NULL;				/* keep compiler quiet */
}

static void
pgasyncReScanForeignScan(ForeignScanState *node)
{
	scans_not_supported();
}

static void
pgasyncEndForeignScan(ForeignScanState *node)
{
	scans_not_supported();
}


/* ----------------------------------------------------------------
 * Validator
 * ----------------------------------------------------------------
 */

static const PgaFdwOption *
find_option(const char *name, Oid context)
{
	const PgaFdwOption *opt;

	for (opt = pgasync_fdw_options; opt->name != NULL; opt++)
	{
		if (opt->context == context && strcmp(opt->name, name) == 0)
			return opt;
	}
	return NULL;
}

/* "a, b, c": the options valid for one kind of object, or NULL if none. */
static char *
valid_option_list(Oid context)
{
	StringInfoData buf;
	const PgaFdwOption *opt;

	initStringInfo(&buf);
	for (opt = pgasync_fdw_options; opt->name != NULL; opt++)
	{
		if (opt->context != context)
			continue;
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, opt->name);
	}
	return buf.len > 0 ? buf.data : NULL;
}

/*
 * Check one connection-string value alone with the protocol core, so that
 * the error names the option.  The elements of the host, hostaddr and port
 * lists are checked one by one: whether the lists match is a question for
 * check_dsn_combination().  Secret values are never checked (nor quoted).
 */
static void
check_dsn_value(const char *name, const char *value)
{
	char		errbuf[PGW_ERRMSG_LEN];
	int			key = pgw_dsn_key_lookup(name);
	bool		is_list;
	const char *start = value;
	bool		ok = true;

	Assert(key >= 0);
	if (pgw_dsn_key_is_secret((pgw_dsn_key) key))
		return;
	is_list = (key == PGW_DSN_HOST || key == PGW_DSN_HOSTADDR ||
			   key == PGW_DSN_PORT);

	for (;;)
	{
		const char *end = is_list ? strchr(start, ',') : NULL;
		char	   *element;
		pgw_dsn    *dsn;

		element = end != NULL ? pnstrdup(start, end - start) : pstrdup(start);

		dsn = pgw_dsn_new();
		if (dsn == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		ok = pgw_dsn_set(dsn, name, element, errbuf) &&
			pgw_dsn_finish(dsn, NULL, DEF_PGPORT, errbuf);
		pgw_dsn_free(dsn);
		pfree(element);

		if (!ok || end == NULL)
			break;
		start = end + 1;
	}

	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for option \"%s\"", name),
				 errdetail_internal("%s", errbuf)));
}

/*
 * Check the connection-string options of one object together: the lists
 * of hosts, addresses and ports must match, the SSL protocol range must
 * not be empty.
 */
static void
check_dsn_combination(List *options, Oid context)
{
	char		errbuf[PGW_ERRMSG_LEN];
	pgw_dsn    *dsn;
	bool		ok = true;
	ListCell   *lc;

	dsn = pgw_dsn_new();
	if (dsn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);
		const PgaFdwOption *opt = find_option(def->defname, context);

		if (opt == NULL || opt->kind != PGA_FDW_OPT_DSN)
			continue;
		if (!pgw_dsn_set(dsn, def->defname, defGetString(def), errbuf))
		{
			ok = false;
			break;
		}
	}
	if (ok)
		ok = pgw_dsn_finish(dsn, NULL, DEF_PGPORT, errbuf);
	pgw_dsn_free(dsn);

	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid combination of connection options"),
				 errdetail_internal("%s", errbuf)));
}

static void
check_option_value(const PgaFdwOption *opt, DefElem *def)
{
	const char *value = defGetString(def);
	int			ival;
	double		dval;
	bool		bval;

	switch (opt->kind)
	{
		case PGA_FDW_OPT_DSN:
			check_dsn_value(opt->name, value);
			break;

		case PGA_FDW_OPT_SECONDS:
			if (!parse_real(value, &dval, 0, NULL))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid value for floating point option \"%s\": %s",
								opt->name, value)));
			if (dval < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("\"%s\" must be a non-negative number of seconds",
								opt->name)));
			if (dval > INT_MAX / 1000)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("\"%s\" is out of range", opt->name),
						 errdetail("Timeouts must be between 0 and %d seconds.",
								   INT_MAX / 1000)));
			break;

		case PGA_FDW_OPT_NONNEGATIVE_INT:
		case PGA_FDW_OPT_POSITIVE_INT:
			if (!parse_int(value, &ival, 0, NULL))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid value for integer option \"%s\": %s",
								opt->name, value)));
			if (opt->kind == PGA_FDW_OPT_POSITIVE_INT && ival <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("\"%s\" must be an integer value greater than zero",
								opt->name)));
			if (ival < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("\"%s\" must be a non-negative integer value",
								opt->name)));
			break;

		case PGA_FDW_OPT_BOOL:
			if (!parse_bool(value, &bval))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s requires a Boolean value", opt->name)));
			break;

		case PGA_FDW_OPT_STRING:
			break;
	}
}

/*
 * Options that only some roles may set.  The checks apply to the role that
 * creates or alters the object, as with postgres_fdw's password_required.
 */
static void
check_option_privileges(const PgaFdwOption *opt, DefElem *def)
{
	if (opt->context != UserMappingRelationId)
		return;

	/*
	 * Without the password rule, a non-superuser could connect as the
	 * server's operating system user (trust or peer authentication,
	 * certificates, password files).
	 */
	if (strcmp(opt->name, "password_required") == 0)
	{
		bool		required = true;

		(void) parse_bool(defGetString(def), &required);
		if (!required && !superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("password_required=false is superuser-only"),
					 errhint("User mappings with the password_required option set to false may only be created or modified by the superuser.")));
	}

	/* client certificates and keys are files of the database server */
	if ((strcmp(opt->name, "sslcert") == 0 ||
		 strcmp(opt->name, "sslkey") == 0 ||
		 strcmp(opt->name, "sslpassword") == 0) &&
		!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers and roles with privileges of pg_read_server_files may use the \"%s\" connection option",
						opt->name)));
}

/*
 * pgasync_fdw_validator(options text[], catalog oid)
 *
 * Called by CREATE and ALTER of the objects of pgasync_fdw with the full
 * list of options the object would have.
 */
Datum
pgasync_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	bool		any_dsn = false;
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);
		const PgaFdwOption *opt = find_option(def->defname, catalog);

		if (opt == NULL)
		{
			char	   *valid = valid_option_list(catalog);

			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\"", def->defname),
					 valid != NULL ?
					 errhint("Valid options in this context are: %s.", valid) :
					 errhint("There are no valid options in this context.")));
		}

		check_option_value(opt, def);
		check_option_privileges(opt, def);
		if (opt->kind == PGA_FDW_OPT_DSN)
			any_dsn = true;
	}

	if (any_dsn)
		check_dsn_combination(options, catalog);

	PG_RETURN_VOID();
}
