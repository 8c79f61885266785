/*-------------------------------------------------------------------------
 *
 * remote_error.h
 *	  Relaying remote errors and notices as local ones, and raising
 *	  driver failures as errors that name the server.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGASYNC_REMOTE_ERROR_H
#define PGASYNC_REMOTE_ERROR_H

#include "postgres.h"

#include "driver.h"
#include "protocol/pgw_msg.h"

/* A remote error kept past the event it came in (palloc'd copies). */
typedef struct PgaRemoteError
{
	char	   *severity;
	char	   *sqlstate;
	char	   *message;
	char	   *detail;
	char	   *hint;
	char	   *context;
	char	   *position;
	char	   *schema_name;
	char	   *table_name;
	char	   *column_name;
	char	   *datatype_name;
	char	   *constraint_name;
	char	   *routine;
} PgaRemoteError;

extern PgaRemoteError *PgaRemoteErrorCopy(const pgw_error_fields *f);

/*
 * Raise a remote error locally: same SQLSTATE, message, detail and hint;
 * the remote context followed by 'remote server "..."'; the remote query
 * and error position as internal query and position when given.
 */
extern void PgaRaiseRemoteError(int elevel, const PgaRemoteError *err,
								const char *server, const char *query) pg_attribute_noreturn();

/* Relay a NoticeResponse at the level the server gave it. */
extern void PgaRelayNotice(const pgw_error_fields *f, const char *server);

/*
 * Raise the failure of a broken connection: could not connect, password
 * required, connection lost, protocol error.
 */
extern void PgaRaiseConnFailure(PgaConn *conn) pg_attribute_noreturn();

#endif							/* PGASYNC_REMOTE_ERROR_H */
