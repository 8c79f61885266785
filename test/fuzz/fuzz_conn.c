/*-------------------------------------------------------------------------
 *
 * fuzz_conn.c
 *	  libFuzzer target for the connection state machine (pgw_conn.c) and,
 *	  through it, the backend message decoder and the password
 *	  authentication code.
 *
 * Input layout:
 *	byte 0	configuration flags (see below)
 *	byte 1	seed of the chunk sizes the rest is fed in
 *	rest	bytes "from the server"
 *
 * The connection has a password, so the cleartext, MD5 and SCRAM paths
 * run.  Requests are queued before the connection is ready (they must be
 * refused) and again once it is (Parse/Bind/Describe/Execute/Sync twice
 * and a Query), and COPY is answered.  Every event's data is read in full
 * so that the sanitizers check the pointers handed out.
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pgw.h"
#include "protocol/pgw_conn.h"
#include "tls/pgw_crypto_openssl.h"

#ifdef FUZZ_VERBOSE
#include <stdio.h>
#endif

/* configuration flags in byte 0 */
#define FZ_SSL			0x01	/* request SSL */
#define FZ_PROTO32		0x02	/* ask for protocol 3.2 */
#define FZ_CB_SHIFT		2		/* 2 bits: channel_binding (3 = prefer) */
#define FZ_REQUIRE_SCRAM 0x10
#define FZ_RANDOM_NONCE 0x20	/* else the fixed test nonce */
#define FZ_SMALL_LIMITS 0x40
#define FZ_NO_CB_DATA	0x80	/* TLS without channel binding data */

/* The fixed SCRAM client nonce (test/fuzz/make_corpus.py uses it too) */
#define FZ_NONCE		"fuzzclientnonce0123"

/* Most SCRAM iterations actually computed; keeps each run fast */
#define FZ_MAX_ITERATIONS 16

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static pgw_crypto fuzz_crypto;

/* PBKDF2 with the iteration count capped */
static bool
capped_pbkdf2(const uint8_t *password, size_t passlen, const uint8_t *salt,
			  size_t saltlen, int iterations, uint8_t out[32])
{
	if (iterations > FZ_MAX_ITERATIONS)
		iterations = FZ_MAX_ITERATIONS;
	return pgw_crypto_openssl.pbkdf2_sha256(password, passlen, salt, saltlen,
											iterations, out);
}

/* xorshift: chunk sizes */
static uint32_t
next_rand(uint32_t *state)
{
	uint32_t	x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

static volatile size_t sink;

static void
touch(const void *p, size_t len)
{
	const volatile uint8_t *b = p;
	size_t		i;
	size_t		sum = 0;

	for (i = 0; i < len; i++)
		sum += b[i];
	sink += sum;
}

static void
touch_str(const char *s)
{
	if (s != NULL)
		touch(s, strlen(s) + 1);
}

/* Read everything an event points to */
static void
touch_event(const pgw_event *ev)
{
	const pgw_backend_msg *m = &ev->msg;
	const pgw_error_fields *e = &m->u.error;
	uint32_t	i;

	if (m->body_len > 0)
		touch(m->body, m->body_len);
	switch (ev->type)
	{
		case PGW_EV_PARAMETER_STATUS:
			touch_str(m->u.parameter_status.name);
			touch_str(m->u.parameter_status.value);
			break;
		case PGW_EV_BACKEND_KEY:
			touch(m->u.backend_key.key, m->u.backend_key.key_len);
			break;
		case PGW_EV_NEGOTIATE_VERSION:
			for (i = 0; i < m->u.negotiate.noptions; i++)
				touch_str(m->u.negotiate.options[i]);
			break;
		case PGW_EV_NOTICE:
		case PGW_EV_ERROR:
			touch_str(e->severity);
			touch_str(e->severity_nonlocalized);
			touch_str(e->sqlstate);
			touch_str(e->message);
			touch_str(e->detail);
			touch_str(e->hint);
			touch_str(e->position);
			touch_str(e->internal_position);
			touch_str(e->internal_query);
			touch_str(e->context);
			touch_str(e->schema_name);
			touch_str(e->table_name);
			touch_str(e->column_name);
			touch_str(e->datatype_name);
			touch_str(e->constraint_name);
			touch_str(e->source_file);
			touch_str(e->source_line);
			touch_str(e->source_function);
			break;
		case PGW_EV_NOTIFICATION:
			touch_str(m->u.notification.channel);
			touch_str(m->u.notification.payload);
			break;
		case PGW_EV_ROW_DESCRIPTION:
			for (i = 0; i < m->u.row_description.nfields; i++)
			{
				touch_str(m->u.row_description.fields[i].name);
				sink += m->u.row_description.fields[i].type_oid;
			}
			break;
		case PGW_EV_DATA_ROW:
			for (i = 0; i < m->u.data_row.ncolumns; i++)
			{
				const pgw_value *v = &m->u.data_row.columns[i];

				if (v->len > 0)
					touch(v->data, (size_t) v->len);
			}
			break;
		case PGW_EV_COMMAND_COMPLETE:
			touch_str(m->u.command_complete.tag);
			break;
		case PGW_EV_PARAMETER_DESCRIPTION:
			for (i = 0; i < m->u.parameter_desc.nparams; i++)
				sink += m->u.parameter_desc.type_oids[i];
			break;
		case PGW_EV_COPY_IN:
		case PGW_EV_COPY_OUT:
		case PGW_EV_COPY_BOTH:
			for (i = 0; i < m->u.copy_response.ncolumns; i++)
				sink += (size_t) m->u.copy_response.formats[i];
			break;
		case PGW_EV_COPY_DATA:
			touch(m->u.copy_data.data, m->u.copy_data.len);
			break;
		case PGW_EV_FUNCTION_CALL_RESULT:
			if (m->u.function_call.result.len > 0)
				touch(m->u.function_call.result.data,
					  (size_t) m->u.function_call.result.len);
			break;
		default:
			break;
	}
}

/* The pipelined requests an application would send */
static void
queue_requests(pgw_conn *c)
{
	static const uint32_t oids[1] = {23};
	static const int16_t fmts[1] = {1};

	pgw_conn_parse(c, "s1", "select $1::int", 1, oids);
	pgw_conn_bind_begin(c, "p1", "s1", 1, fmts, 1);
	pgw_conn_bind_param(c, "\0\0\0\x2a", 4);
	pgw_conn_bind_end(c, 1, fmts);
	pgw_conn_describe(c, 'P', "p1");
	pgw_conn_execute(c, "p1", 0);
	pgw_conn_sync(c);
	pgw_conn_parse(c, "", "select 2", 0, NULL);
	pgw_conn_bind_begin(c, "", "", 0, NULL, 0);
	pgw_conn_bind_end(c, 0, NULL);
	pgw_conn_execute(c, "", 0);
	pgw_conn_sync(c);
	pgw_conn_query(c, "select 3");
}

static void
drain_output(pgw_conn *c)
{
	const uint8_t *out;
	size_t		n;
	int			guard = 0;

	while ((n = pgw_conn_output(c, &out)) > 0 && guard++ < 1000)
	{
		touch(out, n);
		/* as if the socket took only part of it */
		pgw_conn_output_done(c, n > 7 ? n - 7 : n);
	}
}

/* pgw_conn_copy_out_take's callback: read every byte it is handed */
static void
take_touch(void *arg, const uint8_t *data, uint32_t len)
{
	touch(data, len);
}

static void
drain_events(pgw_conn *c, bool use_cb_data, int *rounds)
{
	static const uint8_t cb[32] = {
		0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
		0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
		0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27,
		0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f
	};
	pgw_event	ev;

	while (pgw_conn_next_event(c, &ev) != PGW_EV_NONE)
	{
#ifdef FUZZ_VERBOSE
		fprintf(stderr, "event %d request %llu\n", (int) ev.type,
				(unsigned long long) ev.request_id);
#endif
		touch_event(&ev);
		switch (ev.type)
		{
			case PGW_EV_SSL_ACCEPTED:
				pgw_conn_tls_ready(c, use_cb_data ? cb : NULL,
								   use_cb_data ? sizeof(cb) : 0);
				break;
			case PGW_EV_SSL_REJECTED:
				pgw_conn_continue_plain(c);
				break;
			case PGW_EV_CONNECTED:
				queue_requests(c);
				break;
			case PGW_EV_READY:
				/* keep a little traffic going */
				if (*rounds < 4 && pgw_conn_inflight(c) == 0)
				{
					(*rounds)++;
					queue_requests(c);
				}
				break;
			case PGW_EV_COPY_IN:
				pgw_conn_copy_data(c, "1\t2\n", 4);
				if (ev.msg.u.copy_response.ncolumns % 2)
					pgw_conn_copy_fail(c, "fuzz");
				else
					pgw_conn_copy_done(c);
				break;
			case PGW_EV_COPY_BOTH:
				pgw_conn_copy_data(c, "r", 1);
				break;
			case PGW_EV_COPY_DATA:
				/* the bulk path, a few messages at a time */
				(void) pgw_conn_copy_out_take(c, take_touch, NULL, 16);
				break;
			case PGW_EV_COPY_DONE:
				if (pgw_conn_get_state(c) == PGW_CONN_COPY_IN)
					pgw_conn_copy_done(c);
				break;
			default:
				break;
		}
		drain_output(c);
	}
	drain_output(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool initialized = false;
	pgw_conn_config cfg;
	pgw_limits	limits;
	pgw_conn   *c;
	char		err[PGW_ERRMSG_LEN];
	uint8_t		flags;
	uint32_t	rng;
	size_t		pos = 0;
	int			rounds = 0;
	int			cb;
	pgw_wbuf	wb;

	if (!initialized)
	{
		pgw_use_openssl_crypto();
		fuzz_crypto = *pgw_get_crypto();
		fuzz_crypto.pbkdf2_sha256 = capped_pbkdf2;
		pgw_set_crypto(&fuzz_crypto);
		initialized = true;
	}
	if (size < 2)
		return 0;
	flags = data[0];
	rng = 0x9e3779b9u ^ ((uint32_t) data[1] << 8) ^ data[1];
	data += 2;
	size -= 2;

	memset(&cfg, 0, sizeof(cfg));
	cfg.user = "fuzz";
	cfg.database = (flags & FZ_SMALL_LIMITS) ? NULL : "db";
	cfg.password = "pw";
	cfg.request_ssl = (flags & FZ_SSL) != 0;
	cfg.protocol_minor = (flags & FZ_PROTO32) ? 2 : 0;
	cb = (flags >> FZ_CB_SHIFT) & 3;
	cfg.channel_binding = cb == 0 ? PGW_CB_DISABLE :
		cb == 2 ? PGW_CB_REQUIRE : PGW_CB_PREFER;
	cfg.require_scram = (flags & FZ_REQUIRE_SCRAM) != 0;
	cfg.scram_nonce = (flags & FZ_RANDOM_NONCE) ? NULL : FZ_NONCE;
	limits = pgw_default_limits;
	if (flags & FZ_SMALL_LIMITS)
	{
		limits.max_data_message = 4096;
		limits.max_control_message = 512;
		limits.max_columns = 8;
		limits.max_inflight = 3;
	}
	else
	{
		/* keep single runs cheap: no gigabyte buffers */
		limits.max_data_message = 1024 * 1024;
	}
	cfg.limits = &limits;

	c = pgw_conn_create(&cfg, err);
	if (c == NULL)
		abort();

	/* refused before the connection is ready */
	if (pgw_conn_query(c, "early") != 0 || pgw_conn_sync(c) != 0)
		abort();
	queue_requests(c);
	if (!pgw_conn_start(c))
		abort();
	queue_requests(c);
	drain_output(c);

	while (pos < size)
	{
		uint32_t	r = next_rand(&rng);
		size_t		chunk;

		/* mostly small pieces, sometimes the whole rest */
		if ((r & 7) == 0)
			chunk = size - pos;
		else
			chunk = 1 + ((r >> 3) % 64);
		if (chunk > size - pos)
			chunk = size - pos;

		/*
		 * Through input_space() half of the time, and nearly always while
		 * the answer to SSLRequest is awaited (as a careful owner reads
		 * just that byte); feed() then tests that more is refused.
		 */
		if ((r & 0x10000) ||
			(pgw_conn_get_state(c) == PGW_CONN_SSL_WAIT && (r & 0x300000)))
		{
			uint8_t    *space;
			size_t		n = pgw_conn_input_space(c, chunk, &space);

			if (n == 0)
			{
				/* nothing wanted now: this is what feed() then says */
				pgw_conn_feed(c, data + pos, chunk);
			}
			else
			{
				if (n > chunk)
					n = chunk;
				memcpy(space, data + pos, n);
				pgw_conn_input_commit(c, n);
				chunk = n;
			}
		}
		else
			pgw_conn_feed(c, data + pos, chunk);
		pos += chunk;

		drain_events(c, !(flags & FZ_NO_CB_DATA), &rounds);
		if (pgw_conn_get_state(c) == PGW_CONN_FAILED)
		{
			/* failure is sticky */
			if (pgw_conn_query(c, "x") != 0 || pgw_conn_errmsg(c)[0] == '\0')
				abort();
			break;
		}
	}

#ifdef FUZZ_VERBOSE
	fprintf(stderr, "final state %d: %s\n", (int) pgw_conn_get_state(c),
			pgw_conn_errmsg(c));
#endif

	/* the getters, on whatever state we reached */
	touch_str(pgw_conn_parameter(c, "server_version"));
	sink += (size_t) pgw_conn_server_version_num(c);
	sink += pgw_conn_tx_status(c) + pgw_conn_password_used(c) +
		pgw_conn_channel_bound(c) + (size_t) pgw_conn_protocol_minor(c);
	sink += (size_t) pgw_conn_get_stats(c)->bytes_in;
	pgw_wb_init(&wb);
	if (pgw_conn_cancel_packet(c, &wb))
		touch(wb.data, wb.len);
	pgw_wb_free(&wb);

	if (size > 0 && (data[size - 1] & 1))
	{
		pgw_conn_terminate(c);
		drain_output(c);
	}
	pgw_conn_free(c);
	return 0;
}
