/*-------------------------------------------------------------------------
 *
 * pgasync.c
 *	  Module entry point of the pgasync extension: library initialisation,
 *	  the pgasync.* settings, the hooks that connect the protocol core to
 *	  the server (memory and crypto), and the version function.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "connection.h"
#include "pgasync.h"
#include "protocol/pgw.h"
#include "scan.h"
#include "tls/pgw_crypto_openssl.h"

PG_MODULE_MAGIC;

#define PGASYNC_VERSION "0.1"

int			pgasync_command_timeout = 0;
int			pgasync_connect_timeout = 60 * 1000;
int			pgasync_statement_cache_size = 100;
int			pgasync_max_cached_statement_lifetime = 300;
int			pgasync_max_cacheable_statement_size = 15 * 1024;
char	   *pgasync_application_name = NULL;
int			pgasync_max_connections = 64;
bool		pgasync_executemany_copy = true;

void		_PG_init(void);

PG_FUNCTION_INFO_V1(pgasync_version);

static void
define_settings(void)
{
	DefineCustomIntVariable("pgasync.command_timeout",
							"Default time limit of a remote command.",
							"Zero means no limit.  On expiry the remote query is canceled.",
							&pgasync_command_timeout,
							0, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pgasync.connect_timeout",
							"Default time limit for connecting to one remote host.",
							"Zero means no limit.",
							&pgasync_connect_timeout,
							60 * 1000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pgasync.statement_cache_size",
							"Default number of prepared statements cached per remote connection.",
							"Zero uses unnamed statements only, as needed behind pgbouncer in transaction mode.",
							&pgasync_statement_cache_size,
							100, 0, 100000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pgasync.max_cached_statement_lifetime",
							"Default lifetime of a cached prepared statement.",
							"Zero means no limit.",
							&pgasync_max_cached_statement_lifetime,
							300, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pgasync.max_cacheable_statement_size",
							"Default size of the largest query text that is cached as a prepared statement.",
							NULL,
							&pgasync_max_cacheable_statement_size,
							15 * 1024, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomStringVariable("pgasync.application_name",
							   "application_name sent to remote servers.",
							   "Used when the connection string sets none.",
							   &pgasync_application_name,
							   "pgasync",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("pgasync.max_connections",
							"Most remote connections one backend may hold open.",
							NULL,
							&pgasync_max_connections,
							64, 1, 10000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("pgasync.executemany_copy",
							 "Lets pgasync.executemany send the rows of a plain INSERT with COPY.",
							 "Only for 1000 rows or more, and only when COPY has the same effect as the INSERT.",
							 &pgasync_executemany_copy,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("pgasync.stream_fetch",
							 "Lets pgasync.fetch() in FROM hand rows to the query as they arrive.",
							 "Off, a function scan stores the whole result before the first row.",
							 &pgasync_stream_fetch,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("pgasync");
}

/*
 * The protocol core allocates with plain malloc: its objects (connections,
 * buffers) live as long as the remote connections they belong to, across
 * transactions, and it checks every allocation for failure itself.
 */
void
_PG_init(void)
{
	pgw_set_allocator(NULL);
	pgw_use_openssl_crypto();
	define_settings();
	PgaConnectionInit();
	PgaScanInit();
}

/*
 * pgasync.version() returns the extension's version string.
 */
Datum
pgasync_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(PGASYNC_VERSION));
}

char *
PgaArgText(FunctionCallInfo fcinfo, int i, const char *what)
{
	if (PG_ARGISNULL(i))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(i));
}
