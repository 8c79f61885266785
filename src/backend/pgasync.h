/*-------------------------------------------------------------------------
 *
 * pgasync.h
 *	  Settings and declarations shared by pgasync's backend layers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGASYNC_H
#define PGASYNC_H

#include "postgres.h"

#include "fmgr.h"

/* GUC variables (pgasync.*) */
extern int	pgasync_command_timeout;	/* milliseconds; 0 = none */
extern int	pgasync_connect_timeout;	/* milliseconds; 0 = none */
extern int	pgasync_statement_cache_size;
extern int	pgasync_max_cached_statement_lifetime;	/* seconds */
extern int	pgasync_max_cacheable_statement_size;	/* bytes */
extern char *pgasync_application_name;
extern int	pgasync_max_connections;	/* per backend */
extern bool pgasync_executemany_copy;	/* COPY path of executemany */

/* A text argument of an SQL function as a C string; NULL is an error. */
extern char *PgaArgText(FunctionCallInfo fcinfo, int i, const char *what);

#endif							/* PGASYNC_H */
