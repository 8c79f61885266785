/*-------------------------------------------------------------------------
 *
 * option.h
 *	  Connection options and targets: the options of pgasync.connect(),
 *	  the options of pgasync_fdw servers and user mappings (and their
 *	  validator), and the resolution of a target (DSN literal or foreign
 *	  server) into a connection string under pgasync's security rules;
 *	  and the readers of options given as jsonb objects.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGASYNC_OPTION_H
#define PGASYNC_OPTION_H

#include "postgres.h"

#include "foreign/foreign.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "protocol/pgw_dsn.h"

/* Per-connection settings (asyncpg's names); defaults from the GUCs. */
typedef struct PgaSessionOptions
{
	int			command_timeout_ms; /* 0: none */
	int			connect_timeout_ms; /* 0: none */
	int			statement_cache_size;
	int			max_cached_statement_lifetime;	/* seconds; 0: forever */
	int			max_cacheable_statement_size;	/* bytes */
	List	   *server_settings;	/* alternating names and values (char *) */
} PgaSessionOptions;

/*
 * A resolved connection target.  dsn is allocated by the protocol core
 * (pgw_dsn_free() releases it) and has been through pgw_dsn_finish(): the
 * host list is expanded, the password (if any) filled in.
 */
typedef struct PgaTarget
{
	char	   *display_name;	/* 'server "name"' style label for errors */
	pgw_dsn    *dsn;
	/* the remote must ask for the password (password_required rule) */
	bool		password_required;
	PgaSessionOptions opts;
	Oid			userid;			/* local user the target was resolved for */
	Oid			serverid;		/* foreign server, or InvalidOid */
} PgaTarget;

/*
 * Options given as a jsonb object.  whose names the options in messages
 * ("pgasync connection" gives 'pgasync connection option "key" must be
 * ...'); the readers raise errors for values of the wrong type or range.
 */
typedef void (*PgaJsonbOptionCallback) (const char *key, JsonbValue *value,
										void *arg);

/*
 * Call fn for each key of json with its value (a palloc'd key).  Nothing
 * when json is NULL; an error "<what> must be a JSON object" when json is
 * not an object.
 */
extern void PgaJsonbForEachOption(Jsonb *json, const char *what,
								  PgaJsonbOptionCallback fn, void *arg);

/* ERROR: <whose> option "<key>" must be <expected> */
extern void PgaJsonbOptionError(const char *key, const char *whose,
								const char *expected) pg_attribute_noreturn();

extern bool PgaJsonbOptionBool(const char *key, JsonbValue *value,
							   const char *whose);

/* A palloc'd string; NULL for JSON null when null_ok. */
extern char *PgaJsonbOptionString(const char *key, JsonbValue *value,
								  const char *whose, bool null_ok);

/*
 * A non-empty array of non-empty strings, as a List of palloc'd strings;
 * NIL for JSON null when null_ok.  expected describes the array in errors
 * ("an array of column names").
 */
extern List *PgaJsonbOptionStringList(const char *key, JsonbValue *value,
									  const char *whose, const char *expected,
									  bool null_ok);

/* An integer between min and max. */
extern int	PgaJsonbOptionInt(const char *key, JsonbValue *value,
							  const char *whose, int min, int max);

/*
 * A non-negative number of seconds, in milliseconds; a positive value under
 * a millisecond becomes one millisecond.  JSON null is 0 when null_ok.
 */
extern int	PgaJsonbOptionSeconds(const char *key, JsonbValue *value,
								  const char *whose, bool null_ok);

/* Defaults from the pgasync.* GUCs. */
extern void PgaSessionOptionsInit(PgaSessionOptions *opts);

/*
 * Apply a jsonb object of connect() options: command_timeout,
 * connect_timeout (seconds, numbers), server_settings (object of strings),
 * statement_cache_size, max_cached_statement_lifetime,
 * max_cacheable_statement_size (non-negative integers).  Unknown keys and
 * wrong value types are errors.
 */
extern void PgaSessionOptionsFromJsonb(Jsonb *json, PgaSessionOptions *opts);

/*
 * Resolve a connection string given by the user.  Applies the security
 * rules: libpq's environment variables and password file only for
 * superusers; non-superusers must give a password (and the remote must
 * ask for it); default user is the current role's name.  All in
 * CurrentMemoryContext except dsn.  Errors never show a password.
 */
extern void PgaTargetFromDsn(const char *conninfo, PgaTarget *target);

/*
 * Resolve a pgasync_fdw foreign server for the current user: server
 * options plus the user mapping's user and password; requires USAGE on the
 * server; password_required from the user mapping (only a superuser can
 * turn it off).
 */
extern void PgaTargetFromServer(ForeignServer *server, PgaTarget *target);

/* Free what PgaTargetFrom* allocated outside memory contexts. */
extern void PgaTargetRelease(PgaTarget *target);

#endif							/* PGASYNC_OPTION_H */
