/*-------------------------------------------------------------------------
 *
 * pgw_conn.h
 *	  The sans-I/O connection state machine of the protocol core.
 *
 * A pgw_conn never performs I/O.  Its owner:
 *	- moves bytes received from the server (already decrypted when TLS is
 *	  on) in with pgw_conn_feed(), or with pgw_conn_input_space() +
 *	  pgw_conn_input_commit() to receive straight into the input buffer;
 *	- takes events out with pgw_conn_next_event() until it returns
 *	  PGW_EV_NONE (more input needed);
 *	- sends whatever pgw_conn_output() shows, then pgw_conn_output_done();
 *	- queues requests with the pgw_conn_* request functions below.
 *
 * Startup:  pgw_conn_start() queues SSLRequest (when cfg.request_ssl) or
 * the StartupMessage.  After SSLRequest exactly one byte is accepted as
 * input (pgw_conn_input_space() offers one byte); the event is
 * PGW_EV_SSL_ACCEPTED (owner runs the TLS handshake, then calls
 * pgw_conn_tls_ready()) or PGW_EV_SSL_REJECTED (owner either calls
 * pgw_conn_continue_plain() or gives up, according to sslmode).  Any byte
 * after the 'S' before TLS starts is an error (CVE-2021-23222).  Password
 * exchanges run inside the machine; PGW_EV_CONNECTED comes with the first
 * ReadyForQuery.
 *
 * Requests:  every request ends with a Sync (extended protocol) or is a
 * simple Query; each gets an id, and exactly one PGW_EV_READY carries that
 * id when its ReadyForQuery arrives.  Any number may be in flight
 * (pipelining); events in between belong to the oldest request still in
 * flight (ev.request_id).  After an ErrorResponse inside a request the
 * server skips to the Sync; the event stream shows the error and then the
 * READY of that request.
 *
 * Events point into the input buffer and stay valid only until the next
 * call that feeds input or takes an event.  Of a PGW_EV_DATA_ROW event
 * only type, request_id, fatal, msg.type, msg.body, msg.body_len and
 * msg.u.data_row are set; the rest of the union is left as it was.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGW_CONN_H
#define PGW_CONN_H

#include "pgw.h"
#include "pgw_auth.h"
#include "pgw_msg.h"

typedef struct pgw_conn pgw_conn;

typedef struct pgw_conn_config
{
	const char *user;			/* required */
	const char *database;		/* NULL: same as user */
	const char *password;		/* NULL: none available */
	/*
	 * Further startup parameters: NULL-terminated alternating names and
	 * values (application_name, options, DateStyle, client_encoding, ...).
	 */
	const char *const *startup_params;
	int			protocol_minor; /* 0 (3.0, default) or 2 (3.2) */
	bool		request_ssl;	/* send SSLRequest first */
	pgw_channel_binding channel_binding;
	/* Refuse authentication methods weaker than SCRAM when set */
	bool		require_scram;
	const pgw_limits *limits;	/* NULL: pgw_default_limits */
	const char *scram_nonce;	/* tests only: fixed SCRAM client nonce */
} pgw_conn_config;

typedef enum pgw_conn_state
{
	PGW_CONN_NEW,				/* created, pgw_conn_start() not yet called */
	PGW_CONN_SSL_WAIT,			/* SSLRequest sent, awaiting one byte */
	PGW_CONN_TLS_HANDSHAKE,		/* owner is running TLS */
	PGW_CONN_AUTH,				/* startup sent, authenticating */
	PGW_CONN_STARTUP,			/* authenticated, awaiting ReadyForQuery */
	PGW_CONN_IDLE,				/* ready, nothing in flight */
	PGW_CONN_BUSY,				/* requests in flight */
	PGW_CONN_COPY_IN,			/* server awaits CopyData from us */
	PGW_CONN_COPY_OUT,			/* server sends CopyData */
	PGW_CONN_COPY_BOTH,
	PGW_CONN_FAILED,			/* sticky failure; see pgw_conn_errmsg() */
	PGW_CONN_CLOSED				/* Terminate queued */
} pgw_conn_state;

typedef enum pgw_event_type
{
	PGW_EV_NONE = 0,			/* need more input (or failed: check state) */
	PGW_EV_SSL_ACCEPTED,
	PGW_EV_SSL_REJECTED,
	PGW_EV_AUTHENTICATED,		/* AuthenticationOk received */
	PGW_EV_CONNECTED,			/* first ReadyForQuery */
	PGW_EV_PARAMETER_STATUS,
	PGW_EV_BACKEND_KEY,
	PGW_EV_NEGOTIATE_VERSION,	/* server downgraded the protocol */
	PGW_EV_NOTICE,
	PGW_EV_NOTIFICATION,
	PGW_EV_ROW_DESCRIPTION,
	PGW_EV_PARAMETER_DESCRIPTION,
	PGW_EV_NO_DATA,
	PGW_EV_DATA_ROW,
	PGW_EV_COMMAND_COMPLETE,
	PGW_EV_EMPTY_QUERY,
	PGW_EV_PORTAL_SUSPENDED,
	PGW_EV_PARSE_COMPLETE,
	PGW_EV_BIND_COMPLETE,
	PGW_EV_CLOSE_COMPLETE,
	PGW_EV_FUNCTION_CALL_RESULT,
	PGW_EV_COPY_IN,				/* CopyInResponse */
	PGW_EV_COPY_OUT,			/* CopyOutResponse */
	PGW_EV_COPY_BOTH,			/* CopyBothResponse */
	PGW_EV_COPY_DATA,
	PGW_EV_COPY_DONE,
	/*
	 * ErrorResponse.  During startup (ev.fatal) the connection is then
	 * FAILED; inside a request the request goes on to its READY.
	 */
	PGW_EV_ERROR,
	PGW_EV_READY				/* ReadyForQuery ending request ev.request_id */
} pgw_event_type;

typedef struct pgw_event
{
	pgw_event_type type;
	uint64_t	request_id;		/* oldest request in flight, or 0 */
	bool		fatal;			/* PGW_EV_ERROR during startup */
	pgw_backend_msg msg;		/* the decoded message behind the event */
} pgw_event;

/* Statistics kept for views and round-trip tests. */
typedef struct pgw_conn_stats
{
	uint64_t	bytes_in;
	uint64_t	bytes_out;
	uint64_t	messages_in;
	uint64_t	requests;		/* requests queued (Syncs + Queries) */
	uint64_t	ready_for_query;	/* ReadyForQuery messages received */
} pgw_conn_stats;

extern pgw_conn *pgw_conn_create(const pgw_conn_config *cfg, char *errbuf);
extern void pgw_conn_free(pgw_conn *c);

/* Queue SSLRequest or StartupMessage. */
extern bool pgw_conn_start(pgw_conn *c);

/* After PGW_EV_SSL_ACCEPTED and a finished handshake: queue Startup. */
extern bool pgw_conn_tls_ready(pgw_conn *c, const uint8_t *cb_data,
							   size_t cb_len);

/* After PGW_EV_SSL_REJECTED: continue unencrypted. */
extern bool pgw_conn_continue_plain(pgw_conn *c);

/* Input */
extern bool pgw_conn_feed(pgw_conn *c, const uint8_t *data, size_t len);
extern size_t pgw_conn_input_space(pgw_conn *c, size_t want, uint8_t **ptr);
extern void pgw_conn_input_commit(pgw_conn *c, size_t n);

/* Events */
extern pgw_event_type pgw_conn_next_event(pgw_conn *c, pgw_event *ev);

/* Output */
extern size_t pgw_conn_output(pgw_conn *c, const uint8_t **data);
extern void pgw_conn_output_done(pgw_conn *c, size_t n);

/* State */
extern pgw_conn_state pgw_conn_get_state(const pgw_conn *c);
extern const char *pgw_conn_errmsg(const pgw_conn *c);
extern uint8_t pgw_conn_tx_status(const pgw_conn *c);	/* 'I','T','E' */
extern uint32_t pgw_conn_inflight(const pgw_conn *c);
/*
 * ReadyForQuery messages received but not yet taken out as events (only
 * message headers are looked at): when it reaches pgw_conn_inflight(),
 * every request in flight has been answered in full.
 */
extern uint32_t pgw_conn_buffered_ready(const pgw_conn *c);
extern bool pgw_conn_password_used(const pgw_conn *c);
extern bool pgw_conn_channel_bound(const pgw_conn *c);
/* The last value the server reported for a parameter, or NULL. */
extern const char *pgw_conn_parameter(const pgw_conn *c, const char *name);
extern int	pgw_conn_server_version_num(const pgw_conn *c);	/* 150004 */
extern int32_t pgw_conn_backend_pid(const pgw_conn *c);
extern bool pgw_conn_cancel_key(const pgw_conn *c, int32_t *pid,
								const uint8_t **key, uint32_t *key_len);
extern int	pgw_conn_protocol_minor(const pgw_conn *c);
extern const pgw_conn_stats *pgw_conn_get_stats(const pgw_conn *c);

/*
 * Requests.  Functions that end a request return its id (> 0), or 0 when
 * the connection cannot take it (failed, wrong state, allocation).  The
 * message functions that do not end a request return false likewise.
 */
extern uint64_t pgw_conn_query(pgw_conn *c, const char *sql);
extern bool pgw_conn_parse(pgw_conn *c, const char *stmt, const char *sql,
						   uint16_t nparams, const uint32_t *param_oids);
extern bool pgw_conn_bind_begin(pgw_conn *c, const char *portal,
								const char *stmt, uint16_t nformats,
								const int16_t *formats, uint16_t nparams);
extern bool pgw_conn_bind_param(pgw_conn *c, const void *data, int32_t len);
extern bool pgw_conn_bind_end(pgw_conn *c, uint16_t nresult_formats,
							  const int16_t *result_formats);
extern bool pgw_conn_describe(pgw_conn *c, char kind, const char *name);
extern bool pgw_conn_execute(pgw_conn *c, const char *portal, int32_t max_rows);
extern bool pgw_conn_close(pgw_conn *c, char kind, const char *name);
extern bool pgw_conn_flush(pgw_conn *c);
extern uint64_t pgw_conn_sync(pgw_conn *c);

/* COPY IN (state PGW_CONN_COPY_IN) */
extern bool pgw_conn_copy_data(pgw_conn *c, const void *data, uint32_t len);
extern bool pgw_conn_copy_done(pgw_conn *c);
extern bool pgw_conn_copy_fail(pgw_conn *c, const char *reason);

/*
 * COPY OUT (state PGW_CONN_COPY_OUT or COPY_BOTH): hand the payloads of the
 * CopyData messages already received, in order, to fn, without making an
 * event of each, until about max bytes went or anything else comes next
 * (CopyDone, an error, an incomplete or invalid message: left for
 * pgw_conn_next_event).  Returns the number of payload bytes handed over.
 */
typedef void (*pgw_copy_data_fn) (void *arg, const uint8_t *data, uint32_t len);
extern size_t pgw_conn_copy_out_take(pgw_conn *c, pgw_copy_data_fn fn,
									 void *arg, size_t max);

/* Queue Terminate; the connection is CLOSED afterwards. */
extern void pgw_conn_terminate(pgw_conn *c);

/*
 * Encode the CancelRequest packet for this connection's key into wb; the
 * owner sends it over a new connection to the same server.
 */
extern bool pgw_conn_cancel_packet(const pgw_conn *c, pgw_wbuf *wb);

#endif							/* PGW_CONN_H */
