/*-------------------------------------------------------------------------
 *
 * remote_error.c
 *	  Relaying remote errors and notices as local ones, and raising
 *	  driver failures as errors that name the server.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/elog.h"

#include "remote_error.h"

static char *
copy_or_null(const char *s)
{
	return s ? pstrdup(s) : NULL;
}

PgaRemoteError *
PgaRemoteErrorCopy(const pgw_error_fields *f)
{
	PgaRemoteError *e = palloc0(sizeof(PgaRemoteError));

	e->severity = copy_or_null(f->severity_nonlocalized ? f->severity_nonlocalized : f->severity);
	e->sqlstate = copy_or_null(f->sqlstate);
	e->message = copy_or_null(f->message);
	e->detail = copy_or_null(f->detail);
	e->hint = copy_or_null(f->hint);
	e->context = copy_or_null(f->context);
	e->position = copy_or_null(f->position);
	e->schema_name = copy_or_null(f->schema_name);
	e->table_name = copy_or_null(f->table_name);
	e->column_name = copy_or_null(f->column_name);
	e->datatype_name = copy_or_null(f->datatype_name);
	e->constraint_name = copy_or_null(f->constraint_name);
	e->routine = copy_or_null(f->source_function);
	return e;
}

static int
sqlstate_code(const char *s, int fallback)
{
	if (s == NULL || strlen(s) != 5)
		return fallback;
	return MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
}

static int
notice_level(const char *severity)
{
	if (severity == NULL)
		return NOTICE;
	if (strcmp(severity, "WARNING") == 0)
		return WARNING;
	if (strcmp(severity, "INFO") == 0)
		return INFO;
	if (strcmp(severity, "LOG") == 0)
		return LOG;
	if (strncmp(severity, "DEBUG", 5) == 0)
		return DEBUG1;
	return NOTICE;
}

void
PgaRaiseRemoteError(int elevel, const PgaRemoteError *e, const char *server,
					const char *query)
{
	int			pos = e->position ? atoi(e->position) : 0;

	ereport(elevel,
			(errcode(sqlstate_code(e->sqlstate, ERRCODE_CONNECTION_FAILURE)),
			 errmsg_internal("%s", e->message ? e->message : "remote server reported an error"),
			 e->detail ? errdetail_internal("%s", e->detail) : 0,
			 e->hint ? errhint("%s", e->hint) : 0,
			 e->context ? errcontext("%s", e->context) : 0,
			 errcontext("remote server %s", server),
			 (query && pos > 0) ? internalerrquery(query) : 0,
			 (query && pos > 0) ? internalerrposition(pos) : 0,
			 e->schema_name ? err_generic_string(PG_DIAG_SCHEMA_NAME, e->schema_name) : 0,
			 e->table_name ? err_generic_string(PG_DIAG_TABLE_NAME, e->table_name) : 0,
			 e->column_name ? err_generic_string(PG_DIAG_COLUMN_NAME, e->column_name) : 0,
			 e->datatype_name ? err_generic_string(PG_DIAG_DATATYPE_NAME, e->datatype_name) : 0,
			 e->constraint_name ? err_generic_string(PG_DIAG_CONSTRAINT_NAME, e->constraint_name) : 0));
	pg_unreachable();
}

void
PgaRelayNotice(const pgw_error_fields *f, const char *server)
{
	int			level = notice_level(f->severity_nonlocalized ? f->severity_nonlocalized : f->severity);

	ereport(level,
			(errcode(sqlstate_code(f->sqlstate, ERRCODE_SUCCESSFUL_COMPLETION)),
			 errmsg_internal("%s", f->message ? f->message : ""),
			 f->detail ? errdetail_internal("%s", f->detail) : 0,
			 f->hint ? errhint("%s", f->hint) : 0,
			 f->context ? errcontext("%s", f->context) : 0,
			 errcontext("remote server %s", server)));
}

void
PgaRaiseConnFailure(PgaConn *conn)
{
	const char *label = PgaConnLabel(conn);
	const char *why = PgaConnErrorMessage(conn);

	switch (PgaConnGetFailure(conn))
	{
		case PGA_FAIL_PASSWORD_REQUIRED:
			ereport(ERROR,
					(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
					 errmsg("password is required"),
					 errdetail("Non-superuser cannot connect if the server does not request a password."),
					 errhint("Target server's authentication method must be changed or password_required=false set in the user mapping attributes."),
					 errcontext("remote server %s", label)));
			break;
		case PGA_FAIL_CONNECT:
			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("could not connect to remote server %s", label),
					 errdetail_internal("%s", why)));
			break;
		case PGA_FAIL_PROTOCOL:
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("lost connection to remote server %s", label),
					 errdetail_internal("%s", why)));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("lost connection to remote server %s", label),
					 errdetail_internal("%s", why)));
	}
	pg_unreachable();
}
