/*-------------------------------------------------------------------------
 *
 * option.c
 *	  Connection options and targets.
 *
 * A target is what pgasync connects to: either a connection string given
 * by the user or a pgasync_fdw foreign server together with the current
 * user's user mapping.  Both are resolved here into a finished pgw_dsn
 * plus per-connection settings, under one set of security rules:
 *
 *	- Only superusers get libpq's conveniences that read the server's
 *	  environment or files: the PG* environment variables and the password
 *	  file.  A non-superuser may not name a password file at all, and may
 *	  use client certificates (which are files of the server) only with
 *	  the privileges of pg_read_server_files.
 *	- A non-superuser must supply a password, and the driver must later
 *	  check that the remote server actually asked for it; otherwise the
 *	  connection could borrow the server's own identity (trust or peer
 *	  authentication, a certificate, a password file).  A superuser may
 *	  lift the rule for a user mapping with password_required 'false'.
 *
 * The values of foreign server and user mapping options are validated by
 * pgasync_fdw_validator (fdw.c) when they are stored; here they are only
 * read.  Error messages never show a password.
 *
 * The readers of options given as jsonb objects (PgaJsonbForEachOption()
 * and PgaJsonbOption*()) live here too, for connect(), create_pool() and
 * the copy functions alike.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>
#include <sys/stat.h>

#include "catalog/pg_authid.h"
#include "commands/defrem.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

#include "backend/option.h"
#include "backend/pgasync.h"

/* Keys of the jsonb options of pgasync.connect(). */
static const char *const session_option_names[] = {
	"command_timeout",
	"connect_timeout",
	"server_settings",
	"statement_cache_size",
	"max_cached_statement_lifetime",
	"max_cacheable_statement_size",
	NULL
};

/*
 * libpq's environment variables and the connection-string keys they
 * provide defaults for; consulted for superusers only.
 */
static const struct
{
	pgw_dsn_key key;
	const char *envvar;
}			env_defaults[] =
{
	{PGW_DSN_HOST, "PGHOST"},
	{PGW_DSN_HOSTADDR, "PGHOSTADDR"},
	{PGW_DSN_PORT, "PGPORT"},
	{PGW_DSN_DBNAME, "PGDATABASE"},
	{PGW_DSN_USER, "PGUSER"},
	{PGW_DSN_PASSWORD, "PGPASSWORD"},
	{PGW_DSN_PASSFILE, "PGPASSFILE"},
	{PGW_DSN_CONNECT_TIMEOUT, "PGCONNECT_TIMEOUT"},
	{PGW_DSN_APPLICATION_NAME, "PGAPPNAME"},
	{PGW_DSN_OPTIONS, "PGOPTIONS"},
	{PGW_DSN_SSLMODE, "PGSSLMODE"},
	{PGW_DSN_SSLROOTCERT, "PGSSLROOTCERT"},
	{PGW_DSN_SSLCERT, "PGSSLCERT"},
	{PGW_DSN_SSLKEY, "PGSSLKEY"},
	{PGW_DSN_SSLCRL, "PGSSLCRL"},
	{PGW_DSN_SSLCRLDIR, "PGSSLCRLDIR"},
	{PGW_DSN_SSLSNI, "PGSSLSNI"},
	{PGW_DSN_SSL_MIN_PROTOCOL_VERSION, "PGSSLMINPROTOCOLVERSION"},
	{PGW_DSN_SSL_MAX_PROTOCOL_VERSION, "PGSSLMAXPROTOCOLVERSION"},
	{PGW_DSN_TARGET_SESSION_ATTRS, "PGTARGETSESSIONATTRS"},
	{PGW_DSN_CHANNEL_BINDING, "PGCHANNELBINDING"}
};

/*
 * The handler of pgasync_fdw (fdw.c), which identifies the foreign-data
 * wrapper of a server whatever the wrapper is called.
 */
extern PGDLLEXPORT Datum pgasync_fdw_handler(PG_FUNCTION_ARGS);

/* Where a target comes from, for the wording of errors. */
typedef enum PgaTargetSource
{
	PGA_SOURCE_DSN,
	PGA_SOURCE_SERVER
} PgaTargetSource;

/* Largest timeout in seconds that fits in an int of milliseconds. */
#define PGA_MAX_TIMEOUT_SECONDS (INT_MAX / 1000)

static int	seconds_to_ms(double seconds, const char *name);
static List *json_server_settings(JsonbValue *v);
static void check_server_setting(const char *name);
static bool valid_setting_name(const char *name);
static char *session_option_list(void);
static void session_option(const char *key, JsonbValue *value, void *arg);
static void dsn_set_or_error(pgw_dsn *dsn, pgw_dsn_key key,
							 const char *value);
static bool dsn_has_value(pgw_dsn *dsn, pgw_dsn_key key);
static void complete_target(PgaTarget *target, PgaTargetSource source,
							bool password_required);
static void check_file_option_privileges(pgw_dsn *dsn);
static void apply_environment(pgw_dsn *dsn);
static void apply_password_file(pgw_dsn *dsn);
static char *read_password_file(const char *path, size_t *len);
static char *target_display_name(pgw_dsn *dsn);
static void check_server_uses_pgasync_fdw(ForeignServer *server);
static void apply_server_session_option(PgaSessionOptions *opts,
										DefElem *def);


/* ----------------------------------------------------------------
 * Session options
 * ----------------------------------------------------------------
 */

void
PgaSessionOptionsInit(PgaSessionOptions *opts)
{
	opts->command_timeout_ms = pgasync_command_timeout;
	opts->connect_timeout_ms = pgasync_connect_timeout;
	opts->statement_cache_size = pgasync_statement_cache_size;
	opts->max_cached_statement_lifetime = pgasync_max_cached_statement_lifetime;
	opts->max_cacheable_statement_size = pgasync_max_cacheable_statement_size;
	opts->server_settings = NIL;
}

/*
 * Convert a timeout in seconds to milliseconds.  A positive timeout
 * shorter than a millisecond becomes one millisecond rather than zero,
 * which would mean no timeout at all.
 */
static int
seconds_to_ms(double seconds, const char *name)
{
	double		ms;

	if (isnan(seconds) || seconds < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" must be a non-negative number of seconds",
						name)));
	if (seconds > PGA_MAX_TIMEOUT_SECONDS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is out of range", name),
				 errdetail("Timeouts must be between 0 and %d seconds.",
						   PGA_MAX_TIMEOUT_SECONDS)));

	ms = rint(seconds * 1000.0);
	if (ms == 0 && seconds > 0)
		ms = 1;
	return (int) ms;
}

/* ----------------------------------------------------------------
 * Options in jsonb objects
 * ----------------------------------------------------------------
 */

void
PgaJsonbForEachOption(Jsonb *json, const char *what,
					  PgaJsonbOptionCallback fn, void *arg)
{
	JsonbIterator *it;
	JsonbIteratorToken r;
	JsonbValue	v;

	if (json == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(json))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object", what)));

	it = JsonbIteratorInit(&json->root);
	while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;

		if (r != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);

		r = JsonbIteratorNext(&it, &v, true);
		Assert(r == WJB_VALUE);
		fn(key, &v, arg);
	}
}

void
PgaJsonbOptionError(const char *key, const char *whose, const char *expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s option \"%s\" must be %s", whose, key, expected)));
}

bool
PgaJsonbOptionBool(const char *key, JsonbValue *v, const char *whose)
{
	if (v->type != jbvBool)
		PgaJsonbOptionError(key, whose, "a boolean");
	return v->val.boolean;
}

char *
PgaJsonbOptionString(const char *key, JsonbValue *v, const char *whose,
					 bool null_ok)
{
	if (v->type == jbvNull && null_ok)
		return NULL;
	if (v->type != jbvString)
		PgaJsonbOptionError(key, whose, "a string");
	return pnstrdup(v->val.string.val, v->val.string.len);
}

List *
PgaJsonbOptionStringList(const char *key, JsonbValue *v, const char *whose,
						 const char *expected, bool null_ok)
{
	JsonbIterator *it;
	JsonbIteratorToken r;
	JsonbValue	elem;
	List	   *result = NIL;

	if (v->type == jbvNull && null_ok)
		return NIL;
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		PgaJsonbOptionError(key, whose, expected);

	it = JsonbIteratorInit(v->val.binary.data);
	while ((r = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (r != WJB_ELEM)
			continue;
		if (elem.type != jbvString || elem.val.string.len == 0 ||
			memchr(elem.val.string.val, '\0', elem.val.string.len) != NULL)
			PgaJsonbOptionError(key, whose, expected);
		result = lappend(result,
						 pnstrdup(elem.val.string.val, elem.val.string.len));
	}
	if (result == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s option \"%s\" must not be empty", whose, key)));
	return result;
}

int
PgaJsonbOptionInt(const char *key, JsonbValue *v, const char *whose,
				  int min, int max)
{
	/* "at least 0" and "at least 1" have names; other ranges are spelt out */
	bool		bounded = !(max == INT_MAX && (min == 0 || min == 1));
	const char *expected;
	double		d;

	if (bounded)
		expected = "an integer";
	else if (min == 0)
		expected = "a non-negative integer";
	else
		expected = "a positive integer";

	if (v->type != jbvNumeric)
		PgaJsonbOptionError(key, whose, expected);

	/* every int is exact in a double; anything else fails a check below */
	d = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
										   NumericGetDatum(v->val.numeric)));
	if (isnan(d) || d != floor(d))
		PgaJsonbOptionError(key, whose, expected);
	if (bounded)
	{
		if (d < min || d > max)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s option \"%s\" must be between %d and %d",
							whose, key, min, max)));
	}
	else
	{
		if (d < min)
			PgaJsonbOptionError(key, whose, expected);
		if (d > max)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("%s option \"%s\" is out of range", whose, key),
					 errdetail("The maximum is %d.", max)));
	}
	return (int) d;
}

int
PgaJsonbOptionSeconds(const char *key, JsonbValue *v, const char *whose,
					  bool null_ok)
{
	double		seconds;

	if (v->type == jbvNull && null_ok)
		return 0;
	if (v->type != jbvNumeric)
		PgaJsonbOptionError(key, whose,
							null_ok ? "a number of seconds or null" :
							"a non-negative number of seconds");

	seconds = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
												 NumericGetDatum(v->val.numeric)));
	return seconds_to_ms(seconds, key);
}

/*
 * Is name acceptable as the name of a run-time parameter?  GUC names are
 * identifiers, optionally qualified with dots (custom settings); nothing
 * else can go into the startup packet.
 */
static bool
valid_setting_name(const char *name)
{
	const char *p;
	bool		part_start = true;

	if (name[0] == '\0')
		return false;
	for (p = name; *p; p++)
	{
		char		c = *p;

		if (c == '.')
		{
			if (part_start)
				return false;
			part_start = true;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  c == '_' ||
			  (!part_start && ((c >= '0' && c <= '9') || c == '$'))))
			return false;
		part_start = false;
	}
	return !part_start;
}

/*
 * Reject settings that are not run-time parameters of the remote session
 * but would change what the startup packet means (the identity, the
 * database, replication mode, protocol extensions), and those the driver
 * relies on.
 */
static void
check_server_setting(const char *name)
{
	if (!valid_setting_name(name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid server setting name \"%s\"", name)));

	if (pg_strcasecmp(name, "user") == 0 ||
		pg_strcasecmp(name, "database") == 0 ||
		pg_strcasecmp(name, "options") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" cannot be set in server_settings", name),
				 errhint("Set it in the connection string instead.")));
	if (pg_strcasecmp(name, "replication") == 0 ||
		pg_strncasecmp(name, "_pq_.", 5) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("\"%s\" cannot be set in server_settings", name)));
	if (pg_strcasecmp(name, "client_encoding") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" cannot be set in server_settings", name),
				 errdetail("The client encoding of remote connections is set by pgasync.")));
}

/* The server_settings option of connect(): an object of scalars. */
static List *
json_server_settings(JsonbValue *v)
{
	List	   *result = NIL;
	JsonbIterator *it;
	JsonbIteratorToken r;
	JsonbValue	item;

	if (v->type == jbvNull)
		return NIL;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pgasync connection option \"%s\" must be a JSON object",
						"server_settings")));

	it = JsonbIteratorInit(v->val.binary.data);
	while ((r = JsonbIteratorNext(&it, &item, true)) != WJB_DONE)
	{
		char	   *name;
		char	   *value;

		if (r != WJB_KEY)
			continue;
		if (memchr(item.val.string.val, '\0', item.val.string.len) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid server setting name")));
		name = pnstrdup(item.val.string.val, item.val.string.len);
		check_server_setting(name);

		r = JsonbIteratorNext(&it, &item, true);
		Assert(r == WJB_VALUE);
		switch (item.type)
		{
			case jbvString:
				if (memchr(item.val.string.val, '\0',
						   item.val.string.len) != NULL)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("value of server setting \"%s\" contains a zero byte",
									name)));
				value = pnstrdup(item.val.string.val, item.val.string.len);
				break;
			case jbvNumeric:
				value = DatumGetCString(DirectFunctionCall1(numeric_out,
															NumericGetDatum(item.val.numeric)));
				break;
			case jbvBool:
				value = pstrdup(item.val.boolean ? "true" : "false");
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("value of server setting \"%s\" must be a string, a number or a boolean",
								name)));
				value = NULL;	/* keep compiler quiet */
				break;
		}

		result = lappend(result, name);
		result = lappend(result, value);
	}
	return result;
}

/* "a, b, c": the keys of connect()'s options, for hints. */
static char *
session_option_list(void)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; session_option_names[i] != NULL; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, session_option_names[i]);
	}
	return buf.data;
}

/* One option of connect(); arg is the PgaSessionOptions to set. */
static void
session_option(const char *key, JsonbValue *value, void *arg)
{
	PgaSessionOptions *opts = (PgaSessionOptions *) arg;
	const char *whose = "pgasync connection";

	if (strcmp(key, "command_timeout") == 0)
		opts->command_timeout_ms = PgaJsonbOptionSeconds(key, value, whose,
														 true);
	else if (strcmp(key, "connect_timeout") == 0)
		opts->connect_timeout_ms = PgaJsonbOptionSeconds(key, value, whose,
														 true);
	else if (strcmp(key, "server_settings") == 0)
		opts->server_settings = json_server_settings(value);
	else if (strcmp(key, "statement_cache_size") == 0)
		opts->statement_cache_size =
			PgaJsonbOptionInt(key, value, whose, 0, INT_MAX);
	else if (strcmp(key, "max_cached_statement_lifetime") == 0)
		opts->max_cached_statement_lifetime =
			PgaJsonbOptionInt(key, value, whose, 0, INT_MAX);
	else if (strcmp(key, "max_cacheable_statement_size") == 0)
		opts->max_cacheable_statement_size =
			PgaJsonbOptionInt(key, value, whose, 0, INT_MAX);
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized pgasync connection option \"%s\"",
						key),
				 errhint("Valid options are: %s.",
						 session_option_list())));
}

void
PgaSessionOptionsFromJsonb(Jsonb *json, PgaSessionOptions *opts)
{
	PgaJsonbForEachOption(json, "pgasync connection options",
						  session_option, opts);
}


/* ----------------------------------------------------------------
 * Targets
 * ----------------------------------------------------------------
 */

/* Set a key of a DSN the core is known to accept. */
static void
dsn_set_or_error(pgw_dsn *dsn, pgw_dsn_key key, const char *value)
{
	char		errbuf[PGW_ERRMSG_LEN];

	if (!pgw_dsn_set(dsn, pgw_dsn_key_name(key), value, errbuf))
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not set connection option \"%s\": %s",
						pgw_dsn_key_name(key), errbuf)));
}

/* Was a non-empty value given?  libpq treats empty values as missing. */
static bool
dsn_has_value(pgw_dsn *dsn, pgw_dsn_key key)
{
	return dsn->values[key] != NULL && dsn->values[key][0] != '\0';
}

/*
 * Client certificates and their keys are files of the database server:
 * a non-superuser may name them only with the privileges of
 * pg_read_server_files.
 */
static void
check_file_option_privileges(pgw_dsn *dsn)
{
	static const pgw_dsn_key file_keys[] = {
		PGW_DSN_SSLCERT, PGW_DSN_SSLKEY, PGW_DSN_SSLPASSWORD
	};
	int			i;

	for (i = 0; i < lengthof(file_keys); i++)
	{
		if (dsn->values[file_keys[i]] == NULL)
			continue;
		if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only superusers and roles with privileges of pg_read_server_files may use the \"%s\" connection option",
							pgw_dsn_key_name(file_keys[i]))));
	}
}

/* Fill keys that were not given from libpq's environment variables. */
static void
apply_environment(pgw_dsn *dsn)
{
	int			i;

	for (i = 0; i < lengthof(env_defaults); i++)
	{
		const char *value;

		if (dsn->values[env_defaults[i].key] != NULL)
			continue;
		value = getenv(env_defaults[i].envvar);
		if (value != NULL)
			dsn_set_or_error(dsn, env_defaults[i].key, value);
	}
}

/*
 * Read a password file into a palloc'd buffer, or return NULL when it is
 * missing or unusable.  As libpq does, a file that is not a plain file or
 * that the group or others can access is ignored with a warning.
 */
static char *
read_password_file(const char *path, size_t *len)
{
	FILE	   *file;
	struct stat st;
	StringInfoData buf;
	char		chunk[4096];
	size_t		n;

	file = AllocateFile(path, "r");
	if (file == NULL)
		return NULL;

	if (fstat(fileno(file), &st) != 0)
	{
		FreeFile(file);
		return NULL;
	}
	if (!S_ISREG(st.st_mode))
	{
		FreeFile(file);
		ereport(WARNING,
				(errmsg("password file \"%s\" is not a plain file", path)));
		return NULL;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		FreeFile(file);
		ereport(WARNING,
				(errmsg("password file \"%s\" has group or world access; permissions should be u=rw (0600) or less",
						path)));
		return NULL;
	}

	initStringInfo(&buf);
	while ((n = fread(chunk, 1, sizeof(chunk), file)) > 0)
		appendBinaryStringInfo(&buf, chunk, n);
	explicit_bzero(chunk, sizeof(chunk));
	if (ferror(file))
	{
		int			save_errno = errno;

		FreeFile(file);
		explicit_bzero(buf.data, buf.len);
		pfree(buf.data);
		errno = save_errno;
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not read password file \"%s\": %m", path)));
		return NULL;
	}
	FreeFile(file);

	*len = buf.len;
	return buf.data;
}

/*
 * Look up the password in the password file: the passfile key (which the
 * PGPASSFILE environment variable may have filled), else ~/.pgpass of the
 * server's operating system user.
 *
 * libpq keeps one password per host; a pgw_dsn has one password for all
 * of its hosts.  The hosts are tried in order and the first one with a
 * matching line provides the password, so with several hosts that password
 * is offered to whichever host the connection reaches.  Like libpq, the
 * host name used is the host, or the hostaddr when no host was given, and
 * the database defaults to the user name.
 */
static void
apply_password_file(pgw_dsn *dsn)
{
	char		pathbuf[MAXPGPATH];
	const char *path;
	char	   *contents;
	size_t		len = 0;
	const char *user = dsn->values[PGW_DSN_USER];
	const char *dbname = dsn->values[PGW_DSN_DBNAME];
	int			i;

	if (dsn_has_value(dsn, PGW_DSN_PASSFILE))
		path = dsn->values[PGW_DSN_PASSFILE];
	else
	{
		if (!get_home_path(pathbuf))
			return;
		strlcat(pathbuf, "/.pgpass", sizeof(pathbuf));
		path = pathbuf;
	}

	contents = read_password_file(path, &len);
	if (contents == NULL)
		return;

	if (dbname == NULL || dbname[0] == '\0')
		dbname = user;

	for (i = 0; i < dsn->nhosts; i++)
	{
		pgw_dsn_host *h = &dsn->hosts[i];
		const char *host = h->host != NULL ? h->host : h->hostaddr;
		char	   *password;

		password = pgw_passfile_lookup(contents, len, host, h->port,
									   dbname, user);
		if (password != NULL)
		{
			char		errbuf[PGW_ERRMSG_LEN];
			bool		ok;

			ok = pgw_dsn_set(dsn, "password", password, errbuf);
			explicit_bzero(password, strlen(password));
			pgw_free(password);
			if (!ok)
			{
				explicit_bzero(contents, len);
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("out of memory")));
			}
			break;
		}
	}

	explicit_bzero(contents, len);
	pfree(contents);
}

/* "host:port,host2:port2/dbname"; never anything secret. */
static char *
target_display_name(pgw_dsn *dsn)
{
	StringInfoData buf;
	const char *dbname = dsn->values[PGW_DSN_DBNAME];
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < dsn->nhosts; i++)
	{
		pgw_dsn_host *h = &dsn->hosts[i];
		const char *host = h->host != NULL ? h->host : h->hostaddr;

		if (i > 0)
			appendStringInfoChar(&buf, ',');
		if (host == NULL)
			host = "";
		if (strchr(host, ':') != NULL && !h->is_unix)
			appendStringInfo(&buf, "[%s]", host);
		else
			appendStringInfoString(&buf, host);
		appendStringInfo(&buf, ":%u", (unsigned) h->port);
	}
	if (dbname == NULL || dbname[0] == '\0')
		dbname = dsn->values[PGW_DSN_USER];
	appendStringInfo(&buf, "/%s", dbname != NULL ? dbname : "");
	return buf.data;
}

/*
 * The common part of PgaTargetFrom*: apply the security rules and the
 * defaults to target->dsn, finish it and derive the rest of the target.
 * password_required is false only when a superuser turned the rule off for
 * a user mapping.  The caller frees target->dsn on error.
 */
static void
complete_target(PgaTarget *target, PgaTargetSource source,
				bool password_required)
{
	pgw_dsn    *dsn = target->dsn;
	bool		is_superuser = superuser();
	char		errbuf[PGW_ERRMSG_LEN];

	if (!is_superuser)
	{
		if (dsn->values[PGW_DSN_PASSFILE] != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only superusers may use the \"%s\" connection option",
							"passfile")));

		/*
		 * The client certificate options of a user mapping were checked by
		 * the validator against the role that set them.
		 */
		if (source == PGA_SOURCE_DSN)
			check_file_option_privileges(dsn);
	}
	else
		apply_environment(dsn);

	if (!dsn_has_value(dsn, PGW_DSN_USER))
	{
		char	   *user = GetUserNameFromId(GetUserId(), false);

		dsn_set_or_error(dsn, PGW_DSN_USER, user);
	}

	if (!pgw_dsn_finish(dsn, DEFAULT_PGSOCKET_DIR, DEF_PGPORT, errbuf))
	{
		if (source == PGA_SOURCE_DSN)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid connection string: %s", errbuf)));
		else
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid connection options for %s: %s",
							target->display_name, errbuf)));
	}

	if (!dsn_has_value(dsn, PGW_DSN_PASSWORD))
	{
		if (is_superuser)
			apply_password_file(dsn);
		else if (password_required)
			ereport(ERROR,
					(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
					 errmsg("password is required"),
					 source == PGA_SOURCE_DSN ?
					 errdetail("Non-superusers must provide a password in the connection string.") :
					 errdetail("Non-superusers must provide a password in the user mapping.")));
	}
	target->password_required = !is_superuser && password_required;

	if (dsn_has_value(dsn, PGW_DSN_CONNECT_TIMEOUT))
	{
		if (dsn->connect_timeout > PGA_MAX_TIMEOUT_SECONDS)
			target->opts.connect_timeout_ms = INT_MAX;
		else
			target->opts.connect_timeout_ms = dsn->connect_timeout * 1000;
	}

	target->userid = GetUserId();
}

void
PgaTargetFromDsn(const char *conninfo, PgaTarget *target)
{
	char		errbuf[PGW_ERRMSG_LEN];
	pgw_dsn    *dsn;

	memset(target, 0, sizeof(PgaTarget));

	dsn = pgw_dsn_parse(conninfo, errbuf);
	if (dsn == NULL)
	{
		if (strcmp(errbuf, "out of memory") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("invalid connection string: %s", errbuf)));
	}

	target->dsn = dsn;
	target->serverid = InvalidOid;
	PgaSessionOptionsInit(&target->opts);

	PG_TRY();
	{
		complete_target(target, PGA_SOURCE_DSN, true);
		target->display_name = target_display_name(dsn);
	}
	PG_CATCH();
	{
		pgw_dsn_free(dsn);
		target->dsn = NULL;
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * A server named by the user must belong to pgasync_fdw: another wrapper's
 * options mean something else (and were checked by another validator).
 */
static void
check_server_uses_pgasync_fdw(ForeignServer *server)
{
	ForeignDataWrapper *fdw = GetForeignDataWrapper(server->fdwid);
	FmgrInfo	flinfo;

	if (OidIsValid(fdw->fdwhandler))
	{
		fmgr_info(fdw->fdwhandler, &flinfo);
		if (flinfo.fn_addr == pgasync_fdw_handler)
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("foreign server \"%s\" does not use the pgasync_fdw foreign-data wrapper",
					server->servername)));
}

/*
 * A pgasync option of a foreign server that configures the session.  The
 * validator has checked the value; the checks here only guard against
 * options stored while the validator was not in effect.
 */
static void
apply_server_session_option(PgaSessionOptions *opts, DefElem *def)
{
	const char *name = def->defname;
	const char *value = defGetString(def);
	int		   *target;
	int			ival;
	double		dval;

	if (strcmp(name, "command_timeout") == 0)
	{
		if (!parse_real(value, &dval, 0, NULL))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for floating point option \"%s\": %s",
							name, value)));
		opts->command_timeout_ms = seconds_to_ms(dval, name);
		return;
	}

	if (strcmp(name, "statement_cache_size") == 0)
		target = &opts->statement_cache_size;
	else if (strcmp(name, "max_cached_statement_lifetime") == 0)
		target = &opts->max_cached_statement_lifetime;
	else if (strcmp(name, "max_cacheable_statement_size") == 0)
		target = &opts->max_cacheable_statement_size;
	else
		return;					/* an option of the foreign-data wrapper */

	if (!parse_int(value, &ival, 0, NULL) || ival < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for integer option \"%s\": %s",
						name, value)));
	*target = ival;
}

void
PgaTargetFromServer(ForeignServer *server, PgaTarget *target)
{
	AclResult	aclresult;
	UserMapping *user;
	pgw_dsn    *dsn;
	bool		password_required = true;
	ListCell   *lc;

	memset(target, 0, sizeof(PgaTarget));

	aclresult = pg_foreign_server_aclcheck(server->serverid, GetUserId(),
										   ACL_USAGE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, server->servername);

	check_server_uses_pgasync_fdw(server);

	/* errors out naming the user when there is no mapping */
	user = GetUserMapping(GetUserId(), server->serverid);

	target->display_name = psprintf("server \"%s\"", server->servername);
	target->serverid = server->serverid;
	PgaSessionOptionsInit(&target->opts);

	dsn = pgw_dsn_new();
	if (dsn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	target->dsn = dsn;

	PG_TRY();
	{
		foreach(lc, server->options)
		{
			DefElem    *def = (DefElem *) lfirst(lc);
			int			key = pgw_dsn_key_lookup(def->defname);

			if (key >= 0)
				dsn_set_or_error(dsn, (pgw_dsn_key) key, defGetString(def));
			else
				apply_server_session_option(&target->opts, def);
		}

		foreach(lc, user->options)
		{
			DefElem    *def = (DefElem *) lfirst(lc);
			int			key = pgw_dsn_key_lookup(def->defname);

			if (key >= 0)
				dsn_set_or_error(dsn, (pgw_dsn_key) key, defGetString(def));
			else if (strcmp(def->defname, "password_required") == 0)
				password_required = defGetBoolean(def);
		}

		complete_target(target, PGA_SOURCE_SERVER, password_required);
	}
	PG_CATCH();
	{
		pgw_dsn_free(dsn);
		target->dsn = NULL;
		PG_RE_THROW();
	}
	PG_END_TRY();
}

void
PgaTargetRelease(PgaTarget *target)
{
	if (target->dsn != NULL)
	{
		pgw_dsn_free(target->dsn);
		target->dsn = NULL;
	}
}
