/*-------------------------------------------------------------------------
 *
 * test_conn.c
 *	  Unit tests of the connection state machine (pgw_conn.c).
 *
 * Each scenario is a scripted server byte stream.  It is replayed into a
 * fresh connection whole, one byte at a time, through input_space() in
 * small pieces, and split into two feeds at every possible point; the
 * transcript of events (types, request ids, key fields), the bytes the
 * client sent, and the final state must be the same every time, and the
 * transcript must match what the scenario expects.
 *
 * The SCRAM scenarios run against a test-side SCRAM server computed with
 * the OpenSSL crypto hooks.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "protocol/pgw.h"
#include "protocol/pgw_conn.h"
#include "tls/pgw_crypto_openssl.h"
#include "tap.h"

/* ----------------------------------------------------------------
 * Byte buffers: server streams and collected client output
 * ----------------------------------------------------------------
 */
typedef struct sbuf
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
	size_t		mstart;
} sbuf;

static void
sb_put(sbuf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 256;

		while (cap < b->len + n)
			cap *= 2;
		b->data = realloc(b->data, cap);
		if (b->data == NULL)
			abort();
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void
sb_u8(sbuf *b, uint8_t v)
{
	sb_put(b, &v, 1);
}

static void
sb_i16(sbuf *b, int v)
{
	uint8_t		x[2];

	x[0] = (uint8_t) ((unsigned) v >> 8);
	x[1] = (uint8_t) v;
	sb_put(b, x, 2);
}

static void
sb_i32(sbuf *b, int32_t v)
{
	uint8_t		x[4];
	uint32_t	u = (uint32_t) v;

	x[0] = (uint8_t) (u >> 24);
	x[1] = (uint8_t) (u >> 16);
	x[2] = (uint8_t) (u >> 8);
	x[3] = (uint8_t) u;
	sb_put(b, x, 4);
}

static void
sb_str(sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s) + 1);
}

static void
sb_begin(sbuf *b, char type)
{
	sb_u8(b, (uint8_t) type);
	b->mstart = b->len;
	sb_i32(b, 0);
}

static void
sb_end(sbuf *b)
{
	uint32_t	n = (uint32_t) (b->len - b->mstart);

	b->data[b->mstart] = (uint8_t) (n >> 24);
	b->data[b->mstart + 1] = (uint8_t) (n >> 16);
	b->data[b->mstart + 2] = (uint8_t) (n >> 8);
	b->data[b->mstart + 3] = (uint8_t) n;
}

static void
sb_free(sbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(sbuf));
}

/* ----------------------------------------------------------------
 * Backend message builders
 * ----------------------------------------------------------------
 */
static void
m_auth(sbuf *b, int code, const void *data, size_t len)
{
	sb_begin(b, 'R');
	sb_i32(b, code);
	sb_put(b, data, len);
	sb_end(b);
}

/* AuthenticationSASL with up to two mechanisms (NULL ends) */
static void
m_auth_sasl(sbuf *b, const char *mech1, const char *mech2)
{
	sb_begin(b, 'R');
	sb_i32(b, 10);
	if (mech1)
		sb_str(b, mech1);
	if (mech2)
		sb_str(b, mech2);
	sb_u8(b, 0);
	sb_end(b);
}

static void
m_param(sbuf *b, const char *name, const char *value)
{
	sb_begin(b, 'S');
	sb_str(b, name);
	sb_str(b, value);
	sb_end(b);
}

static void
m_key(sbuf *b, int32_t pid, const uint8_t *key, size_t len)
{
	sb_begin(b, 'K');
	sb_i32(b, pid);
	sb_put(b, key, len);
	sb_end(b);
}

static void
m_rfq(sbuf *b, char tx)
{
	sb_begin(b, 'Z');
	sb_u8(b, (uint8_t) tx);
	sb_end(b);
}

static void
m_empty(sbuf *b, char type)
{
	sb_begin(b, type);
	sb_end(b);
}

/* RowDescription of n int4/text columns */
static void
m_rowdesc(sbuf *b, int n, const char *const *names)
{
	int			i;

	sb_begin(b, 'T');
	sb_i16(b, n);
	for (i = 0; i < n; i++)
	{
		sb_str(b, names[i]);
		sb_i32(b, 0);
		sb_i16(b, 0);
		sb_i32(b, i == 0 ? 23 : 25);
		sb_i16(b, i == 0 ? 4 : -1);
		sb_i32(b, -1);
		sb_i16(b, 0);
	}
	sb_end(b);
}

static void
m_datarow(sbuf *b, int n, const char *const *vals)
{
	int			i;

	sb_begin(b, 'D');
	sb_i16(b, n);
	for (i = 0; i < n; i++)
	{
		if (vals[i] == NULL)
			sb_i32(b, -1);
		else
		{
			sb_i32(b, (int32_t) strlen(vals[i]));
			sb_put(b, vals[i], strlen(vals[i]));
		}
	}
	sb_end(b);
}

static void
m_complete(sbuf *b, const char *tag)
{
	sb_begin(b, 'C');
	sb_str(b, tag);
	sb_end(b);
}

/* ErrorResponse/NoticeResponse: pairs of field code and value, 0 ends */
static void
m_fields(sbuf *b, int type,...)
{
	va_list		ap;
	int			code;

	sb_begin(b, type);
	va_start(ap, type);
	while ((code = va_arg(ap, int)) != 0)
	{
		sb_u8(b, (uint8_t) code);
		sb_str(b, va_arg(ap, const char *));
	}
	va_end(ap);
	sb_u8(b, 0);
	sb_end(b);
}

static void
m_error(sbuf *b, const char *sev, const char *code, const char *msg)
{
	m_fields(b, 'E', 'S', sev, 'V', sev, 'C', code, 'M', msg, 0);
}

static void
m_notify(sbuf *b, int32_t pid, const char *channel, const char *payload)
{
	sb_begin(b, 'A');
	sb_i32(b, pid);
	sb_str(b, channel);
	sb_str(b, payload);
	sb_end(b);
}

static void
m_copy_response(sbuf *b, char type, int ncols)
{
	int			i;

	sb_begin(b, type);
	sb_u8(b, 0);
	sb_i16(b, ncols);
	for (i = 0; i < ncols; i++)
		sb_i16(b, 0);
	sb_end(b);
}

static void
m_copy_data(sbuf *b, const char *data)
{
	sb_begin(b, 'd');
	sb_put(b, data, strlen(data));
	sb_end(b);
}

static void
m_negotiate(sbuf *b, int32_t version, const char *opt)
{
	sb_begin(b, 'v');
	sb_i32(b, version);
	sb_i32(b, opt ? 1 : 0);
	if (opt)
		sb_str(b, opt);
	sb_end(b);
}

/* The usual tail of a startup: parameters, key data, ReadyForQuery */
static void
m_startup_tail(sbuf *b)
{
	static const uint8_t key[4] = {0xde, 0xad, 0xbe, 0xef};

	m_param(b, "server_version", "15.20 (Debian 15.20-1.pgdg120+1)");
	m_param(b, "client_encoding", "UTF8");
	m_key(b, 4242, key, 4);
	m_rfq(b, 'I');
}

/* ----------------------------------------------------------------
 * Replaying a stream
 * ----------------------------------------------------------------
 */
typedef struct run_result
{
	sbuf		transcript;
	sbuf		out;			/* everything the client sent */
	pgw_conn_state state;
	char		errmsg[PGW_ERRMSG_LEN];
	bool		feed_failed;
	pgw_conn   *conn;			/* kept alive when asked */
} run_result;

typedef void (*run_hook) (pgw_conn *c, const pgw_event *ev, run_result *r,
						  void *arg);

static void r_printf(run_result *r, const char *fmt,...)
#if defined(__GNUC__)
			__attribute__((format(printf, 2, 3)))
#endif
			;

static void
r_printf(run_result *r, const char *fmt,...)
{
	char		line[1024];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	sb_put(&r->transcript, line, strlen(line));
}

static const char *
nz(const char *s)
{
	return s ? s : "-";
}

/* One transcript line per event */
static void
describe_event(const pgw_event *ev, run_result *r)
{
	const pgw_backend_msg *m = &ev->msg;
	int			i;

	r_printf(r, "#%llu ", (unsigned long long) ev->request_id);
	switch (ev->type)
	{
		case PGW_EV_SSL_ACCEPTED:
			r_printf(r, "ssl-accepted");
			break;
		case PGW_EV_SSL_REJECTED:
			r_printf(r, "ssl-rejected");
			break;
		case PGW_EV_AUTHENTICATED:
			r_printf(r, "authenticated");
			break;
		case PGW_EV_CONNECTED:
			r_printf(r, "connected %c", m->u.ready.tx_status);
			break;
		case PGW_EV_PARAMETER_STATUS:
			r_printf(r, "param %s=%s", m->u.parameter_status.name,
					 m->u.parameter_status.value);
			break;
		case PGW_EV_BACKEND_KEY:
			r_printf(r, "key pid=%d len=%u", (int) m->u.backend_key.pid,
					 (unsigned) m->u.backend_key.key_len);
			break;
		case PGW_EV_NEGOTIATE_VERSION:
			r_printf(r, "negotiate %d opts=%u",
					 (int) m->u.negotiate.newest_minor,
					 (unsigned) m->u.negotiate.noptions);
			break;
		case PGW_EV_NOTICE:
			r_printf(r, "notice %s %s", nz(m->u.error.sqlstate),
					 nz(m->u.error.message));
			break;
		case PGW_EV_ERROR:
			r_printf(r, "error%s %s %s %s", ev->fatal ? "!" : "",
					 nz(m->u.error.severity_nonlocalized),
					 nz(m->u.error.sqlstate), nz(m->u.error.message));
			break;
		case PGW_EV_NOTIFICATION:
			r_printf(r, "notify %d %s %s", (int) m->u.notification.pid,
					 m->u.notification.channel, m->u.notification.payload);
			break;
		case PGW_EV_ROW_DESCRIPTION:
			r_printf(r, "rowdesc");
			for (i = 0; i < m->u.row_description.nfields; i++)
				r_printf(r, " %s/%u", m->u.row_description.fields[i].name,
						 (unsigned) m->u.row_description.fields[i].type_oid);
			break;
		case PGW_EV_DATA_ROW:
			r_printf(r, "row");
			for (i = 0; i < m->u.data_row.ncolumns; i++)
			{
				const pgw_value *v = &m->u.data_row.columns[i];

				if (v->len < 0)
					r_printf(r, " NULL");
				else
					r_printf(r, " '%.*s'", (int) v->len, (const char *) v->data);
			}
			break;
		case PGW_EV_COMMAND_COMPLETE:
			r_printf(r, "complete %s", m->u.command_complete.tag);
			break;
		case PGW_EV_EMPTY_QUERY:
			r_printf(r, "empty");
			break;
		case PGW_EV_PARSE_COMPLETE:
			r_printf(r, "parsed");
			break;
		case PGW_EV_BIND_COMPLETE:
			r_printf(r, "bound");
			break;
		case PGW_EV_CLOSE_COMPLETE:
			r_printf(r, "closed");
			break;
		case PGW_EV_NO_DATA:
			r_printf(r, "nodata");
			break;
		case PGW_EV_PORTAL_SUSPENDED:
			r_printf(r, "suspended");
			break;
		case PGW_EV_PARAMETER_DESCRIPTION:
			r_printf(r, "paramdesc %u", (unsigned) m->u.parameter_desc.nparams);
			break;
		case PGW_EV_COPY_IN:
			r_printf(r, "copy-in %u", (unsigned) m->u.copy_response.ncolumns);
			break;
		case PGW_EV_COPY_OUT:
			r_printf(r, "copy-out %u", (unsigned) m->u.copy_response.ncolumns);
			break;
		case PGW_EV_COPY_BOTH:
			r_printf(r, "copy-both");
			break;
		case PGW_EV_COPY_DATA:
			r_printf(r, "copy-data '%.*s'", (int) m->u.copy_data.len,
					 (const char *) m->u.copy_data.data);
			break;
		case PGW_EV_COPY_DONE:
			r_printf(r, "copy-done");
			break;
		case PGW_EV_FUNCTION_CALL_RESULT:
			r_printf(r, "fcall");
			break;
		case PGW_EV_READY:
			r_printf(r, "ready %c", m->u.ready.tx_status);
			break;
		case PGW_EV_NONE:
			r_printf(r, "none?");
			break;
	}
	r_printf(r, "\n");
}

static void
drain_output(pgw_conn *c, run_result *r)
{
	const uint8_t *data;
	size_t		n;

	while ((n = pgw_conn_output(c, &data)) > 0)
	{
		/* take it in two steps to exercise partial sends */
		size_t		first = n > 1 ? n / 2 : n;

		sb_put(&r->out, data, first);
		pgw_conn_output_done(c, first);
	}
}

static void
drain_events(pgw_conn *c, run_result *r, run_hook hook, void *arg)
{
	pgw_event	ev;
	int			guard = 0;

	while (pgw_conn_next_event(c, &ev) != PGW_EV_NONE)
	{
		describe_event(&ev, r);
		if (hook)
			hook(c, &ev, r, arg);
		drain_output(c, r);
		if (++guard > 100000)
			abort();
	}
	drain_output(c, r);
}

enum
{
	MODE_WHOLE,
	MODE_BYTES,
	MODE_SPACE,					/* through input_space() in pieces of 3 */
	MODE_SPLIT					/* two feeds, split at 'split' */
};

static void
feed_chunk(pgw_conn *c, run_result *r, const uint8_t *p, size_t n,
		   run_hook hook, void *arg)
{
	if (!pgw_conn_feed(c, p, n))
		r->feed_failed = true;
	drain_events(c, r, hook, arg);
}

static void
run_script(const pgw_conn_config *cfg, const uint8_t *stream, size_t len,
		   int mode, size_t split, run_hook hook, void *arg, bool keep,
		   run_result *r)
{
	char		err[PGW_ERRMSG_LEN];
	pgw_conn   *c;
	size_t		i;

	memset(r, 0, sizeof(run_result));
	c = pgw_conn_create(cfg, err);
	if (c == NULL)
	{
		r_printf(r, "create failed: %s\n", err);
		return;
	}
	if (!pgw_conn_start(c))
		r_printf(r, "start failed\n");
	drain_output(c, r);

	/*
	 * After SSLRequest an owner reads just the one answer byte, then runs
	 * TLS: the rest arrives separately.
	 */
	if (cfg->request_ssl && len > 0)
	{
		feed_chunk(c, r, stream, 1, hook, arg);
		stream++;
		len--;
		if (split > 0)
			split--;
	}

	switch (mode)
	{
		case MODE_WHOLE:
			feed_chunk(c, r, stream, len, hook, arg);
			break;
		case MODE_BYTES:
			for (i = 0; i < len; i++)
				feed_chunk(c, r, stream + i, 1, hook, arg);
			break;
		case MODE_SPACE:
			i = 0;
			while (i < len)
			{
				uint8_t    *space;
				size_t		n = pgw_conn_input_space(c, 3, &space);

				if (n == 0)
				{
					/* input not wanted now: hand it over anyway */
					feed_chunk(c, r, stream + i, len - i, hook, arg);
					break;
				}
				if (n > 3)
					n = 3;
				if (n > len - i)
					n = len - i;
				memcpy(space, stream + i, n);
				pgw_conn_input_commit(c, n);
				i += n;
				drain_events(c, r, hook, arg);
			}
			break;
		case MODE_SPLIT:
			feed_chunk(c, r, stream, split, hook, arg);
			feed_chunk(c, r, stream + split, len - split, hook, arg);
			break;
	}
	r->state = pgw_conn_get_state(c);
	snprintf(r->errmsg, sizeof(r->errmsg), "%s",
			 r->state == PGW_CONN_FAILED ? pgw_conn_errmsg(c) : "");
	sb_u8(&r->transcript, 0);
	if (keep)
		r->conn = c;
	else
		pgw_conn_free(c);
}

static void
free_result(run_result *r)
{
	sb_free(&r->transcript);
	sb_free(&r->out);
	if (r->conn)
		pgw_conn_free(r->conn);
	r->conn = NULL;
}

static bool
same_result(const run_result *a, const run_result *b, char *why, size_t whylen)
{
	if (strcmp((const char *) a->transcript.data,
			   (const char *) b->transcript.data) != 0)
	{
		snprintf(why, whylen, "transcript differs:\n%s---\n%s",
				 (const char *) a->transcript.data,
				 (const char *) b->transcript.data);
		return false;
	}
	if (a->out.len != b->out.len ||
		(a->out.len > 0 && memcmp(a->out.data, b->out.data, a->out.len) != 0))
	{
		snprintf(why, whylen, "client output differs (%zu vs %zu bytes)",
				 a->out.len, b->out.len);
		return false;
	}
	if (a->state != b->state || strcmp(a->errmsg, b->errmsg) != 0)
	{
		snprintf(why, whylen, "final state differs: %d '%s' vs %d '%s'",
				 (int) a->state, a->errmsg, (int) b->state, b->errmsg);
		return false;
	}
	return true;
}

/*
 * Replay a script in every mode.  The whole-stream run's result is left
 * in *whole (with its connection kept) for further checks.  Returns true
 * when every mode agreed.
 */
static bool
replay(const char *name, const pgw_conn_config *cfg, const sbuf *stream,
	   run_hook hook, void *arg, run_result *whole)
{
	run_result	other;
	char		why[8192];
	bool		ok = true;
	size_t		k;
	int			mode;

	run_script(cfg, stream->data, stream->len, MODE_WHOLE, 0, hook, arg,
			   true, whole);
	for (mode = MODE_BYTES; mode <= MODE_SPLIT && ok; mode++)
	{
		size_t		nsplits = mode == MODE_SPLIT ? stream->len + 1 : 1;

		for (k = 0; k < nsplits && ok; k++)
		{
			run_script(cfg, stream->data, stream->len, mode, k, hook, arg,
					   false, &other);
			if (!same_result(whole, &other, why, sizeof(why)))
			{
				ok = false;
				tap_diag("%s: mode %d split %zu: %s", name, mode, k, why);
			}
			free_result(&other);
		}
	}
	tap_ok(ok, "%s: same events in every feed split (%zu bytes)", name,
		   stream->len);
	return ok;
}

/* Compare a transcript, printing it on failure */
static void
check_transcript(const run_result *r, const char *want, const char *name)
{
	tap_is_str((const char *) r->transcript.data, want, "%s: events", name);
}

/* ----------------------------------------------------------------
 * Reading the client's output
 * ----------------------------------------------------------------
 */
typedef struct fe_msg
{
	char		type;			/* 0 for startup-phase packets */
	const uint8_t *body;
	uint32_t	len;
} fe_msg;

/*
 * Split client output into messages.  untyped: how many untyped packets
 * come first (SSLRequest, StartupMessage).
 */
static int
split_output(const sbuf *out, int untyped, fe_msg *msgs, int max)
{
	size_t		pos = 0;
	int			n = 0;

	while (pos < out->len && n < max)
	{
		uint32_t	len;
		char		type = 0;

		if (n >= untyped)
			type = (char) out->data[pos++];
		if (pos + 4 > out->len)
			return -1;
		len = pgw_get_u32(out->data + pos);
		if (len < 4 || pos + len > out->len)
			return -1;
		msgs[n].type = type;
		msgs[n].body = out->data + pos + 4;
		msgs[n].len = len - 4;
		pos += len;
		n++;
	}
	return n;
}

/* ----------------------------------------------------------------
 * Hooks
 * ----------------------------------------------------------------
 */

/* On CONNECTED, send one simple query */
static void
hook_query(pgw_conn *c, const pgw_event *ev, run_result *r, void *arg)
{
	if (ev->type == PGW_EV_CONNECTED)
		r_printf(r, "queued %llu\n",
				 (unsigned long long) pgw_conn_query(c, (const char *) arg));
}

/* On SSL_ACCEPTED, finish "TLS" with the cb data in arg (may be NULL) */
static void
hook_tls(pgw_conn *c, const pgw_event *ev, run_result *r, void *arg)
{
	static const uint8_t cb[32] = {
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
		17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32
	};

	if (ev->type == PGW_EV_SSL_ACCEPTED)
		r_printf(r, "tls-ready %d\n",
				 pgw_conn_tls_ready(c, arg ? cb : NULL, arg ? sizeof(cb) : 0));
	if (ev->type == PGW_EV_SSL_REJECTED)
		r_printf(r, "plain %d\n", pgw_conn_continue_plain(c));
}

/* ----------------------------------------------------------------
 * Test-side SCRAM server
 * ----------------------------------------------------------------
 */
#define CLIENT_NONCE "rOprNGfwEbeRWgbNEkqO"
#define SERVER_NONCE "hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
/* kept low: every scenario is replayed a few hundred times */
#define SCRAM_ITER 1024
#define SCRAM_ITER_STR "1024"

static const uint8_t scram_salt[16] = {
	0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
	0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81
};

static void
b64(const uint8_t *in, size_t len, char *out)
{
	EVP_EncodeBlock((unsigned char *) out, in, (int) len);
}

typedef struct scram_server
{
	char		server_first[256];
	char		client_final[512];	/* what the client must send */
	char		server_final[128];
	char		cbind_b64[256];
} scram_server;

/*
 * Compute the exchange a PostgreSQL server would run with a client using
 * CLIENT_NONCE, the given password, and gs2 header (+ cb data).
 */
static void
scram_server_compute(scram_server *s, const char *password, const char *gs2,
					 const uint8_t *cb, size_t cblen, bool bad_signature)
{
	const pgw_crypto *cr = &pgw_crypto_openssl;
	char		salt64[64];
	uint8_t		cbind[256];
	size_t		cbind_len;
	char		wo_proof[512];
	char		authmsg[1024];
	uint8_t		salted[32];
	uint8_t		client_key[32];
	uint8_t		stored_key[32];
	uint8_t		server_key[32];
	uint8_t		client_sig[32];
	uint8_t		proof[32];
	uint8_t		server_sig[32];
	char		proof64[64];
	char		sig64[64];
	int			i;

	b64(scram_salt, sizeof(scram_salt), salt64);
	snprintf(s->server_first, sizeof(s->server_first),
			 "r=" CLIENT_NONCE SERVER_NONCE ",s=%s,i=" SCRAM_ITER_STR, salt64);
	cbind_len = strlen(gs2);
	memcpy(cbind, gs2, cbind_len);
	if (cb)
	{
		memcpy(cbind + cbind_len, cb, cblen);
		cbind_len += cblen;
	}
	b64(cbind, cbind_len, s->cbind_b64);
	snprintf(wo_proof, sizeof(wo_proof), "c=%s,r=" CLIENT_NONCE SERVER_NONCE,
			 s->cbind_b64);
	snprintf(authmsg, sizeof(authmsg), "n=,r=" CLIENT_NONCE ",%s,%s",
			 s->server_first, wo_proof);

	cr->pbkdf2_sha256((const uint8_t *) password, strlen(password),
					  scram_salt, sizeof(scram_salt), SCRAM_ITER, salted);
	cr->hmac_sha256(salted, 32, (const uint8_t *) "Client Key", 10, client_key);
	cr->sha256(client_key, 32, stored_key);
	cr->hmac_sha256(salted, 32, (const uint8_t *) "Server Key", 10, server_key);
	cr->hmac_sha256(stored_key, 32, (const uint8_t *) authmsg, strlen(authmsg),
					client_sig);
	for (i = 0; i < 32; i++)
		proof[i] = client_key[i] ^ client_sig[i];
	cr->hmac_sha256(server_key, 32, (const uint8_t *) authmsg, strlen(authmsg),
					server_sig);
	if (bad_signature)
		server_sig[7] ^= 0x40;
	b64(proof, 32, proof64);
	b64(server_sig, 32, sig64);
	snprintf(s->client_final, sizeof(s->client_final), "%s,p=%s", wo_proof,
			 proof64);
	snprintf(s->server_final, sizeof(s->server_final), "v=%s", sig64);
}

/*
 * Check that the client sent SASLInitialResponse with the mechanism and
 * client-first, then SASLResponse with exactly the expected client-final.
 */
static void
check_scram_output(const run_result *r, int untyped, const char *mech,
				   const char *gs2, const scram_server *s, const char *name)
{
	fe_msg		msgs[16];
	int			n = split_output(&r->out, untyped, msgs, 16);
	char		first[256];
	const fe_msg *init;
	const fe_msg *resp;
	size_t		mlen;

	if (!tap_ok(n >= untyped + 2, "%s: client sent SASL messages", name))
		return;
	init = &msgs[untyped];
	resp = &msgs[untyped + 1];
	snprintf(first, sizeof(first), "%sn=,r=" CLIENT_NONCE, gs2);
	mlen = strlen(mech) + 1;
	tap_ok(init->type == 'p' && init->len == mlen + 4 + strlen(first) &&
		   memcmp(init->body, mech, mlen) == 0 &&
		   pgw_get_u32(init->body + mlen) == strlen(first) &&
		   memcmp(init->body + mlen + 4, first, strlen(first)) == 0,
		   "%s: SASLInitialResponse %s '%s'", name, mech, first);
	tap_ok(resp->type == 'p' && resp->len == strlen(s->client_final) &&
		   memcmp(resp->body, s->client_final, resp->len) == 0,
		   "%s: client-final with proof is '%s'", name, s->client_final);
}

/* ----------------------------------------------------------------
 * Allocation counting
 * ----------------------------------------------------------------
 */
typedef struct alloc_count
{
	size_t		largest;
	size_t		calls;
} alloc_count;

static void *
count_malloc(size_t size, void *ctx)
{
	alloc_count *a = ctx;

	a->calls++;
	if (size > a->largest)
		a->largest = size;
	return malloc(size);
}

static void *
count_realloc(void *ptr, size_t size, void *ctx)
{
	alloc_count *a = ctx;

	a->calls++;
	if (size > a->largest)
		a->largest = size;
	return realloc(ptr, size);
}

static void
count_free(void *ptr, void *ctx)
{
	free(ptr);
}

/* ----------------------------------------------------------------
 * The scenarios
 * ----------------------------------------------------------------
 */
static pgw_conn_config
base_config(void)
{
	pgw_conn_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.user = "bob";
	cfg.database = "db";
	cfg.channel_binding = PGW_CB_PREFER;
	cfg.scram_nonce = CLIENT_NONCE;
	return cfg;
}

static void
test_trust_startup(void)
{
	static const char *const params[] = {"application_name", "t", NULL};
	pgw_conn_config cfg = base_config();
	sbuf		s = {0};
	run_result	r;
	fe_msg		msgs[4];
	int32_t		pid;
	const uint8_t *key;
	uint32_t	key_len;
	static const char startup_body[] =
	"\0\3\0\0user\0bob\0database\0db\0application_name\0t\0";

	cfg.startup_params = params;
	m_auth(&s, 0, NULL, 0);
	m_fields(&s, 'N', 'S', "WARNING", 'C', "01000", 'M', "hello", 0);
	m_startup_tail(&s);
	replay("trust", &cfg, &s, NULL, NULL, &r);
	check_transcript(&r,
					 "#0 authenticated\n"
					 "#0 notice 01000 hello\n"
					 "#0 param server_version=15.20 (Debian 15.20-1.pgdg120+1)\n"
					 "#0 param client_encoding=UTF8\n"
					 "#0 key pid=4242 len=4\n"
					 "#0 connected I\n", "trust");
	tap_is_int(r.state, PGW_CONN_IDLE, "trust: state IDLE");
	tap_is_int(pgw_conn_server_version_num(r.conn), 150020,
			   "trust: server_version_num from '15.20 (Debian ...)'");
	tap_is_str(pgw_conn_parameter(r.conn, "client_encoding"), "UTF8",
			   "trust: client_encoding stored");
	tap_ok(pgw_conn_parameter(r.conn, "nonexistent") == NULL,
		   "trust: unknown parameter is NULL");
	tap_ok(!pgw_conn_password_used(r.conn), "trust: no password used");
	tap_ok(pgw_conn_cancel_key(r.conn, &pid, &key, &key_len) &&
		   pid == 4242 && key_len == 4 && key[0] == 0xde && key[3] == 0xef,
		   "trust: cancel key stored");
	tap_is_int(pgw_conn_backend_pid(r.conn), 4242, "trust: backend pid");
	tap_is_int(pgw_conn_tx_status(r.conn), 'I', "trust: tx status I");
	tap_is_int(pgw_conn_get_stats(r.conn)->messages_in, 6,
			   "trust: 6 messages counted");
	tap_is_int(pgw_conn_get_stats(r.conn)->bytes_in, s.len,
			   "trust: bytes_in counted");
	tap_is_int(pgw_conn_get_stats(r.conn)->bytes_out, r.out.len,
			   "trust: bytes_out counted");
	tap_is_int(pgw_conn_get_stats(r.conn)->ready_for_query, 1,
			   "trust: one ReadyForQuery counted");
	tap_ok(split_output(&r.out, 1, msgs, 4) == 1 &&
		   msgs[0].len == sizeof(startup_body) &&
		   memcmp(msgs[0].body, startup_body, sizeof(startup_body)) == 0,
		   "trust: StartupMessage bytes are protocol 3.0 + user, database, application_name");
	free_result(&r);
	sb_free(&s);
}

static void
test_cleartext(void)
{
	pgw_conn_config cfg = base_config();
	sbuf		s = {0};
	run_result	r;
	fe_msg		msgs[4];

	cfg.password = "sekrit";
	m_auth(&s, 3, NULL, 0);
	m_auth(&s, 0, NULL, 0);
	m_startup_tail(&s);
	replay("cleartext", &cfg, &s, NULL, NULL, &r);
	check_transcript(&r,
					 "#0 authenticated\n"
					 "#0 param server_version=15.20 (Debian 15.20-1.pgdg120+1)\n"
					 "#0 param client_encoding=UTF8\n"
					 "#0 key pid=4242 len=4\n"
					 "#0 connected I\n", "cleartext");
	tap_ok(split_output(&r.out, 1, msgs, 4) == 2 && msgs[1].type == 'p' &&
		   msgs[1].len == 7 && memcmp(msgs[1].body, "sekrit", 7) == 0,
		   "cleartext: PasswordMessage 'sekrit' sent");
	tap_ok(pgw_conn_password_used(r.conn), "cleartext: password used");
	free_result(&r);

	/* without a password */
	cfg.password = NULL;
	replay("cleartext-nopw", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "cleartext-nopw: failed");
	tap_is_str(r.errmsg, "server requested a password but none was supplied",
			   "cleartext-nopw: message");
	tap_is_str((const char *) r.transcript.data, "", "cleartext-nopw: no events");
	free_result(&r);

	/* refused when SCRAM is required */
	cfg.password = "sekrit";
	cfg.require_scram = true;
	replay("cleartext-require-scram", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "cleartext-require-scram: failed");
	tap_ok(strstr(r.errmsg, "SCRAM") != NULL,
		   "cleartext-require-scram: message names SCRAM: %s", r.errmsg);
	tap_ok(split_output(&r.out, 1, msgs, 4) == 1,
		   "cleartext-require-scram: no password sent");
	tap_ok(!pgw_conn_password_used(r.conn),
		   "cleartext-require-scram: password not used");
	free_result(&r);
	sb_free(&s);

	/* trust is weaker than SCRAM as well */
	m_auth(&s, 0, NULL, 0);
	replay("trust-require-scram", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "trust-require-scram: failed");
	free_result(&r);
	sb_free(&s);
}

/* md5(md5(password || user) || salt), independently of pgw_auth.c */
static void
md5_expected(const char *user, const char *password, const uint8_t salt[4],
			 char out[36])
{
	uint8_t		buf[256];
	uint8_t		digest[16];
	char		hex[33];
	int			i;
	size_t		n;

	n = strlen(password);
	memcpy(buf, password, n);
	memcpy(buf + n, user, strlen(user));
	n += strlen(user);
	EVP_Digest(buf, n, digest, NULL, EVP_md5(), NULL);
	for (i = 0; i < 16; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
	memcpy(buf, hex, 32);
	memcpy(buf + 32, salt, 4);
	EVP_Digest(buf, 36, digest, NULL, EVP_md5(), NULL);
	strcpy(out, "md5");
	for (i = 0; i < 16; i++)
		sprintf(out + 3 + 2 * i, "%02x", digest[i]);
}

static void
test_md5(void)
{
	static const uint8_t salt[4] = {0x93, 0x1b, 0x00, 0x7f};
	pgw_conn_config cfg = base_config();
	sbuf		s = {0};
	run_result	r;
	fe_msg		msgs[4];
	char		want[36];

	cfg.password = "pa55word";
	m_auth(&s, 5, salt, 4);
	m_auth(&s, 0, NULL, 0);
	m_startup_tail(&s);
	replay("md5", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_IDLE, "md5: connected");
	md5_expected("bob", "pa55word", salt, want);
	tap_ok(split_output(&r.out, 1, msgs, 4) == 2 && msgs[1].type == 'p' &&
		   msgs[1].len == 36 && memcmp(msgs[1].body, want, 36) == 0,
		   "md5: PasswordMessage is exactly '%s'", want);
	tap_ok(pgw_conn_password_used(r.conn), "md5: password used");
	free_result(&r);

	cfg.channel_binding = PGW_CB_REQUIRE;
	replay("md5-cb-require", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "md5-cb-require: failed");
	tap_ok(split_output(&r.out, 1, msgs, 4) == 1,
		   "md5-cb-require: no password sent");
	free_result(&r);
	sb_free(&s);
}

static void
build_scram_stream(sbuf *s, const scram_server *srv, const char *mech1,
				   const char *mech2, bool with_ok)
{
	m_auth_sasl(s, mech1, mech2);
	m_auth(s, 11, srv->server_first, strlen(srv->server_first));
	m_auth(s, 12, srv->server_final, strlen(srv->server_final));
	if (with_ok)
	{
		m_auth(s, 0, NULL, 0);
		m_startup_tail(s);
	}
}

static void
test_scram(void)
{
	static const uint8_t cb[32] = {
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
		17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32
	};
	pgw_conn_config cfg = base_config();
	scram_server srv;
	sbuf		s = {0};
	run_result	r;

	cfg.password = "pencil";

	/* plain SCRAM-SHA-256 without TLS: gs2 flag n */
	scram_server_compute(&srv, "pencil", "n,,", NULL, 0, false);
	build_scram_stream(&s, &srv, "SCRAM-SHA-256", NULL, true);
	replay("scram", &cfg, &s, NULL, NULL, &r);
	check_transcript(&r,
					 "#0 authenticated\n"
					 "#0 param server_version=15.20 (Debian 15.20-1.pgdg120+1)\n"
					 "#0 param client_encoding=UTF8\n"
					 "#0 key pid=4242 len=4\n"
					 "#0 connected I\n", "scram");
	check_scram_output(&r, 1, "SCRAM-SHA-256", "n,,", &srv, "scram");
	tap_ok(pgw_conn_password_used(r.conn), "scram: password used");
	tap_ok(!pgw_conn_channel_bound(r.conn), "scram: not channel bound");
	free_result(&r);

	/* a wrong password gives a different proof */
	cfg.password = "pencil2";
	replay("scram-wrongpw", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED,
			   "scram-wrongpw: server signature check fails");
	free_result(&r);
	cfg.password = "pencil";
	sb_free(&s);

	/* bad server signature */
	scram_server_compute(&srv, "pencil", "n,,", NULL, 0, true);
	build_scram_stream(&s, &srv, "SCRAM-SHA-256", NULL, true);
	replay("scram-badsig", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "scram-badsig: failed");
	tap_is_str((const char *) r.transcript.data, "",
			   "scram-badsig: not authenticated");
	tap_ok(r.errmsg[0] != '\0', "scram-badsig: message: %s", r.errmsg);
	free_result(&r);
	sb_free(&s);

	/* AuthenticationOk without SASLFinal */
	scram_server_compute(&srv, "pencil", "n,,", NULL, 0, false);
	m_auth_sasl(&s, "SCRAM-SHA-256", NULL);
	m_auth(&s, 11, srv.server_first, strlen(srv.server_first));
	m_auth(&s, 0, NULL, 0);
	m_startup_tail(&s);
	replay("scram-skip-final", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "scram-skip-final: failed");
	tap_ok(strstr(r.errmsg, "prove") != NULL,
		   "scram-skip-final: message: %s", r.errmsg);
	free_result(&r);
	sb_free(&s);

	/* SCRAM-SHA-256-PLUS over "TLS" */
	cfg.request_ssl = true;
	scram_server_compute(&srv, "pencil", "p=tls-server-end-point,,", cb, 32,
						 false);
	sb_u8(&s, 'S');
	build_scram_stream(&s, &srv, "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", true);
	replay("scram-plus", &cfg, &s, hook_tls, (void *) cb, &r);
	check_transcript(&r,
					 "#0 ssl-accepted\n"
					 "tls-ready 1\n"
					 "#0 authenticated\n"
					 "#0 param server_version=15.20 (Debian 15.20-1.pgdg120+1)\n"
					 "#0 param client_encoding=UTF8\n"
					 "#0 key pid=4242 len=4\n"
					 "#0 connected I\n", "scram-plus");
	check_scram_output(&r, 2, "SCRAM-SHA-256-PLUS", "p=tls-server-end-point,,",
					   &srv, "scram-plus");
	{
		fe_msg		msgs[8];
		char		want[256];

		snprintf(want, sizeof(want), "c=%s,", srv.cbind_b64);
		tap_ok(split_output(&r.out, 2, msgs, 8) >= 4 &&
			   msgs[3].len > strlen(want) &&
			   memcmp(msgs[3].body, want, strlen(want)) == 0,
			   "scram-plus: client sent binding %s (gs2 header + cb data)",
			   want);
		tap_ok(msgs[0].type == 0 && msgs[0].len == 4 &&
			   pgw_get_u32(msgs[0].body) == 80877103,
			   "scram-plus: SSLRequest sent first");
	}
	tap_ok(pgw_conn_channel_bound(r.conn), "scram-plus: channel bound");
	free_result(&r);

	/* same with channel_binding=require */
	cfg.channel_binding = PGW_CB_REQUIRE;
	replay("scram-plus-require", &cfg, &s, hook_tls, (void *) cb, &r);
	tap_is_int(r.state, PGW_CONN_IDLE, "scram-plus-require: connected");
	free_result(&r);
	sb_free(&s);

	/* TLS, server offers only SCRAM-SHA-256: gs2 flag y */
	cfg.channel_binding = PGW_CB_PREFER;
	scram_server_compute(&srv, "pencil", "y,,", NULL, 0, false);
	sb_u8(&s, 'S');
	build_scram_stream(&s, &srv, "SCRAM-SHA-256", NULL, true);
	replay("scram-y", &cfg, &s, hook_tls, (void *) cb, &r);
	tap_is_int(r.state, PGW_CONN_IDLE, "scram-y: connected");
	check_scram_output(&r, 2, "SCRAM-SHA-256", "y,,", &srv, "scram-y");
	tap_ok(!pgw_conn_channel_bound(r.conn), "scram-y: not channel bound");
	free_result(&r);

	/* ... and that with channel_binding=require is refused */
	cfg.channel_binding = PGW_CB_REQUIRE;
	replay("scram-y-require", &cfg, &s, hook_tls, (void *) cb, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "scram-y-require: failed");
	tap_is_str(r.errmsg,
			   "channel binding required, but server did not offer SCRAM-SHA-256-PLUS",
			   "scram-y-require: message");
	free_result(&r);
	sb_free(&s);

	/* channel_binding=disable with PLUS offered: plain SCRAM, flag n */
	cfg.channel_binding = PGW_CB_DISABLE;
	scram_server_compute(&srv, "pencil", "n,,", NULL, 0, false);
	sb_u8(&s, 'S');
	build_scram_stream(&s, &srv, "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", true);
	replay("scram-cb-disable", &cfg, &s, hook_tls, (void *) cb, &r);
	tap_is_int(r.state, PGW_CONN_IDLE, "scram-cb-disable: connected");
	check_scram_output(&r, 2, "SCRAM-SHA-256", "n,,", &srv, "scram-cb-disable");
	free_result(&r);
	sb_free(&s);

	/* channel_binding=require against plain SCRAM without TLS */
	cfg.request_ssl = false;
	cfg.channel_binding = PGW_CB_REQUIRE;
	scram_server_compute(&srv, "pencil", "n,,", NULL, 0, false);
	build_scram_stream(&s, &srv, "SCRAM-SHA-256", NULL, true);
	replay("scram-require-nossl", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "scram-require-nossl: failed");
	tap_ok(strstr(r.errmsg, "channel binding required") != NULL,
		   "scram-require-nossl: message: %s", r.errmsg);
	tap_ok(!pgw_conn_password_used(r.conn),
		   "scram-require-nossl: nothing sent");
	free_result(&r);
	sb_free(&s);

	/* channel_binding=require against trust */
	m_auth(&s, 0, NULL, 0);
	m_startup_tail(&s);
	replay("trust-cb-require", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "trust-cb-require: failed");
	tap_is_str(r.errmsg,
			   "channel binding required, but server authenticated client without channel binding",
			   "trust-cb-require: message");
	free_result(&r);
	sb_free(&s);

	/* out of order SASL messages */
	cfg.channel_binding = PGW_CB_PREFER;
	m_auth(&s, 11, srv.server_first, strlen(srv.server_first));
	replay("sasl-continue-first", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "sasl-continue-first: failed");
	free_result(&r);
	sb_free(&s);
	m_auth_sasl(&s, "SCRAM-SHA-256", NULL);
	m_auth(&s, 12, srv.server_final, strlen(srv.server_final));
	replay("sasl-final-early", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "sasl-final-early: failed");
	free_result(&r);
	sb_free(&s);

	/* no supported mechanism */
	m_auth_sasl(&s, "SCRAM-SHA-1", NULL);
	replay("sasl-unknown-mech", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "sasl-unknown-mech: failed");
	free_result(&r);
	sb_free(&s);
}

static void
test_unsupported_auth(void)
{
	static const struct
	{
		int			code;
		const char *word;
	}			cases[] = {
		{2, "Kerberos"}, {7, "GSSAPI"}, {9, "SSPI"}, {99, "99"}
	};
	pgw_conn_config cfg = base_config();
	int			i;

	cfg.password = "x";
	for (i = 0; i < 4; i++)
	{
		sbuf		s = {0};
		run_result	r;
		char		name[64];

		snprintf(name, sizeof(name), "auth-%d", cases[i].code);
		m_auth(&s, cases[i].code, NULL, 0);
		replay(name, &cfg, &s, NULL, NULL, &r);
		tap_ok(r.state == PGW_CONN_FAILED &&
			   strstr(r.errmsg, cases[i].word) != NULL,
			   "%s: refused naming the method: %s", name, r.errmsg);
		free_result(&r);
		sb_free(&s);
	}
}

static void
test_ssl(void)
{
	pgw_conn_config cfg = base_config();
	sbuf		s = {0};
	run_result	r;
	pgw_conn   *c;
	pgw_event	ev;
	uint8_t    *space;
	static const uint8_t two[2] = {'S', 'x'};
	fe_msg		msgs[4];

	cfg.request_ssl = true;

	/* rejected: go on in plain text */
	sb_u8(&s, 'N');
	m_auth(&s, 0, NULL, 0);
	m_startup_tail(&s);
	replay("ssl-N", &cfg, &s, hook_tls, NULL, &r);
	check_transcript(&r,
					 "#0 ssl-rejected\n"
					 "plain 1\n"
					 "#0 authenticated\n"
					 "#0 param server_version=15.20 (Debian 15.20-1.pgdg120+1)\n"
					 "#0 param client_encoding=UTF8\n"
					 "#0 key pid=4242 len=4\n"
					 "#0 connected I\n", "ssl-N");
	tap_ok(split_output(&r.out, 2, msgs, 4) == 2 && msgs[0].len == 4 &&
		   msgs[1].len > 8 && pgw_get_u32(msgs[1].body) == 196608,
		   "ssl-N: SSLRequest then StartupMessage");
	free_result(&r);
	sb_free(&s);

	/* 'E' from an old server, and garbage */
	sb_u8(&s, 'E');
	replay("ssl-E", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "ssl-E: failed");
	free_result(&r);
	sb_free(&s);
	sb_u8(&s, 'Q');
	replay("ssl-garbage", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "ssl-garbage: failed");
	free_result(&r);
	sb_free(&s);

	/* CVE-2021-23222: bytes after 'S' in the same read */
	c = pgw_conn_create(&cfg, NULL);
	pgw_conn_start(c);
	tap_is_int(pgw_conn_input_space(c, 4096, &space), 1,
			   "ssl: input_space offers one byte in SSL_WAIT");
	tap_ok(!pgw_conn_feed(c, two, 2), "ssl-extra: feed of 'S' + 1 byte fails");
	tap_is_str(pgw_conn_errmsg(c), "received unencrypted data after SSL response",
			   "ssl-extra: message");
	tap_is_int(pgw_conn_next_event(c, &ev), PGW_EV_NONE, "ssl-extra: no event");
	tap_is_int(pgw_conn_get_state(c), PGW_CONN_FAILED, "ssl-extra: FAILED");
	pgw_conn_free(c);

	/* ... or in a later read, before TLS is ready */
	c = pgw_conn_create(&cfg, NULL);
	pgw_conn_start(c);
	tap_ok(pgw_conn_feed(c, two, 1), "ssl-later: 'S' accepted");
	tap_is_int(pgw_conn_next_event(c, &ev), PGW_EV_SSL_ACCEPTED,
			   "ssl-later: SSL_ACCEPTED");
	tap_is_int(pgw_conn_get_state(c), PGW_CONN_TLS_HANDSHAKE,
			   "ssl-later: TLS_HANDSHAKE");
	tap_is_int(pgw_conn_input_space(c, 4096, &space), 0,
			   "ssl-later: no input space during the handshake");
	tap_ok(!pgw_conn_feed(c, two + 1, 1), "ssl-later: extra byte refused");
	tap_is_int(pgw_conn_get_state(c), PGW_CONN_FAILED, "ssl-later: FAILED");
	tap_ok(!pgw_conn_tls_ready(c, NULL, 0), "ssl-later: tls_ready refused");
	pgw_conn_free(c);

	/* ... and through input_space: a second byte while one is pending */
	c = pgw_conn_create(&cfg, NULL);
	pgw_conn_start(c);
	pgw_conn_input_space(c, 10, &space);
	space[0] = 'S';
	pgw_conn_input_commit(c, 1);
	tap_is_int(pgw_conn_input_space(c, 10, &space), 0,
			   "ssl-space: no more space once the byte arrived");
	tap_ok(!pgw_conn_feed(c, two + 1, 1), "ssl-space: extra byte refused");
	pgw_conn_free(c);

	/* after 'N' too */
	c = pgw_conn_create(&cfg, NULL);
	pgw_conn_start(c);
	pgw_conn_feed(c, (const uint8_t *) "N", 1);
	tap_is_int(pgw_conn_next_event(c, &ev), PGW_EV_SSL_REJECTED,
			   "ssl-N-extra: SSL_REJECTED");
	tap_ok(!pgw_conn_feed(c, two, 1), "ssl-N-extra: byte before startup refused");
	pgw_conn_free(c);
}

static void
test_startup_fatal(void)
{
	pgw_conn_config cfg = base_config();
	sbuf		s = {0};
	run_result	r;
	pgw_conn   *c;
	pgw_event	ev;

	cfg.password = "wrong";
	m_auth(&s, 3, NULL, 0);
	m_fields(&s, 'E', 'S', "FATAL", 'V', "FATAL", 'C', "28P01",
			 'M', "password authentication failed for user \"bob\"",
			 'D', "some detail", 'H', "some hint",
			 'F', "auth.c", 'L', "330", 'R', "auth_failed", 0);
	replay("startup-fatal", &cfg, &s, NULL, NULL, &r);
	check_transcript(&r,
					 "#0 error! FATAL 28P01 password authentication failed for user \"bob\"\n",
					 "startup-fatal");
	tap_is_int(r.state, PGW_CONN_FAILED, "startup-fatal: FAILED");
	tap_is_str(r.errmsg, "password authentication failed for user \"bob\"",
			   "startup-fatal: errmsg from the server");
	free_result(&r);

	/* all fields exposed in the event */
	c = pgw_conn_create(&cfg, NULL);
	pgw_conn_start(c);
	pgw_conn_feed(c, s.data, s.len);
	tap_is_int(pgw_conn_next_event(c, &ev), PGW_EV_ERROR, "startup-fatal: ERROR");
	tap_ok(ev.fatal, "startup-fatal: fatal");
	tap_is_str(ev.msg.u.error.severity, "FATAL", "startup-fatal: S");
	tap_is_str(ev.msg.u.error.severity_nonlocalized, "FATAL", "startup-fatal: V");
	tap_is_str(ev.msg.u.error.sqlstate, "28P01", "startup-fatal: C");
	tap_is_str(ev.msg.u.error.detail, "some detail", "startup-fatal: D");
	tap_is_str(ev.msg.u.error.hint, "some hint", "startup-fatal: H");
	tap_is_str(ev.msg.u.error.source_file, "auth.c", "startup-fatal: F");
	tap_is_str(ev.msg.u.error.source_line, "330", "startup-fatal: L");
	tap_is_str(ev.msg.u.error.source_function, "auth_failed", "startup-fatal: R");
	tap_ok(ev.msg.u.error.schema_name == NULL, "startup-fatal: absent field NULL");
	tap_is_int(pgw_conn_next_event(c, &ev), PGW_EV_NONE,
			   "startup-fatal: nothing after");
	tap_is_int(pgw_conn_query(c, "select 1"), 0, "startup-fatal: query refused");
	pgw_conn_free(c);
	sb_free(&s);
}

static void
test_simple_query(void)
{
	static const char *const n1[] = {"a"};
	static const char *const v1[] = {"1"};
	static const char *const n2[] = {"a", "b"};
	static const char *const v2[] = {"x", NULL};
	static const char *const v3[] = {"y", ""};
	pgw_conn_config cfg = base_config();
	sbuf		s = {0};
	run_result	r;
	fe_msg		msgs[4];

	m_auth(&s, 0, NULL, 0);
	m_startup_tail(&s);
	m_rowdesc(&s, 1, n1);
	m_datarow(&s, 1, v1);
	m_complete(&s, "SELECT 1");
	m_rowdesc(&s, 2, n2);
	m_datarow(&s, 2, v2);
	m_datarow(&s, 2, v3);
	m_complete(&s, "SELECT 2");
	m_empty(&s, 'I');
	m_rfq(&s, 'I');
	replay("simple-query", &cfg, &s, hook_query,
		   "select 1; select 'x', null", &r);
	check_transcript(&r,
					 "#0 authenticated\n"
					 "#0 param server_version=15.20 (Debian 15.20-1.pgdg120+1)\n"
					 "#0 param client_encoding=UTF8\n"
					 "#0 key pid=4242 len=4\n"
					 "#0 connected I\n"
					 "queued 1\n"
					 "#1 rowdesc a/23\n"
					 "#1 row '1'\n"
					 "#1 complete SELECT 1\n"
					 "#1 rowdesc a/23 b/25\n"
					 "#1 row 'x' NULL\n"
					 "#1 row 'y' ''\n"
					 "#1 complete SELECT 2\n"
					 "#1 empty\n"
					 "#1 ready I\n", "simple-query");
	tap_is_int(r.state, PGW_CONN_IDLE, "simple-query: IDLE again");
	tap_is_int(pgw_conn_inflight(r.conn), 0, "simple-query: nothing in flight");
	tap_is_int(pgw_conn_get_stats(r.conn)->requests, 1,
			   "simple-query: one request counted");
	tap_ok(split_output(&r.out, 1, msgs, 4) == 2 && msgs[1].type == 'Q' &&
		   strcmp((const char *) msgs[1].body, "select 1; select 'x', null") == 0,
		   "simple-query: Query sent");

	/* terminate */
	pgw_conn_terminate(r.conn);
	tap_is_int(pgw_conn_get_state(r.conn), PGW_CONN_CLOSED, "terminate: CLOSED");
	{
		const uint8_t *data;
		size_t		n = pgw_conn_output(r.conn, &data);

		tap_ok(n == 5 && data[0] == 'X' && pgw_get_u32(data + 1) == 4,
			   "terminate: Terminate queued");
	}
	tap_is_int(pgw_conn_query(r.conn, "x"), 0, "terminate: no more queries");
	free_result(&r);
	sb_free(&s);
}

/* Three pipelined Parse/Bind/Execute/Sync requests */
static void
hook_pipeline(pgw_conn *c, const pgw_event *ev, run_result *r, void *arg)
{
	static const int16_t fmt[1] = {1};
	int			i;

	if (ev->type != PGW_EV_CONNECTED)
	{
		r_printf(r, "inflight %u state %d\n", pgw_conn_inflight(c),
				 (int) pgw_conn_get_state(c));
		return;
	}
	for (i = 0; i < 3; i++)
	{
		bool		ok;
		uint64_t	id;

		ok = pgw_conn_parse(c, "", "select $1::int", 1, NULL) &&
			pgw_conn_bind_begin(c, "", "", 1, fmt, 1) &&
			pgw_conn_bind_param(c, "\0\0\0\1", 4) &&
			!pgw_conn_bind_param(c, "\0\0\0\1", 4) &&
			pgw_conn_bind_end(c, 0, NULL) &&
			pgw_conn_execute(c, "", 0);
		id = pgw_conn_sync(c);
		r_printf(r, "queued %d %llu state %d\n", ok, (unsigned long long) id,
				 (int) pgw_conn_get_state(c));
	}
}

static void
test_pipeline(void)
{
	static const char *const v1[] = {"1"};
	pgw_conn_config cfg = base_config();
	sbuf		s = {0};
	run_result	r;
	fe_msg		msgs[32];
	int			n;

	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_empty(&s, '1');
	m_empty(&s, '2');
	m_datarow(&s, 1, v1);
	m_complete(&s, "SELECT 1");
	m_rfq(&s, 'I');
	m_empty(&s, '1');
	m_error(&s, "ERROR", "22012", "division by zero");
	m_rfq(&s, 'I');
	m_empty(&s, '1');
	m_empty(&s, '2');
	m_datarow(&s, 1, v1);
	m_complete(&s, "SELECT 1");
	m_rfq(&s, 'I');
	replay("pipeline", &cfg, &s, hook_pipeline, NULL, &r);
	check_transcript(&r,
					 "#0 authenticated\n"
					 "inflight 0 state 4\n"
					 "#0 connected I\n"
					 "queued 1 1 state 6\n"
					 "queued 1 2 state 6\n"
					 "queued 1 3 state 6\n"
					 "#1 parsed\ninflight 3 state 6\n"
					 "#1 bound\ninflight 3 state 6\n"
					 "#1 row '1'\ninflight 3 state 6\n"
					 "#1 complete SELECT 1\ninflight 3 state 6\n"
					 "#1 ready I\ninflight 2 state 6\n"
					 "#2 parsed\ninflight 2 state 6\n"
					 "#2 error ERROR 22012 division by zero\ninflight 2 state 6\n"
					 "#2 ready I\ninflight 1 state 6\n"
					 "#3 parsed\ninflight 1 state 6\n"
					 "#3 bound\ninflight 1 state 6\n"
					 "#3 row '1'\ninflight 1 state 6\n"
					 "#3 complete SELECT 1\ninflight 1 state 6\n"
					 "#3 ready I\ninflight 0 state 5\n", "pipeline");
	n = split_output(&r.out, 1, msgs, 32);
	tap_ok(n == 13 && msgs[1].type == 'P' && msgs[2].type == 'B' &&
		   msgs[3].type == 'E' && msgs[4].type == 'S' && msgs[12].type == 'S',
		   "pipeline: Parse/Bind/Execute/Sync x3 sent (%d messages)", n);
	tap_is_int(pgw_conn_get_stats(r.conn)->requests, 3,
			   "pipeline: three requests counted");
	free_result(&r);
	sb_free(&s);
}

/* A connection through trust authentication, idle and ready for requests */
static pgw_conn *
ready_conn(const pgw_conn_config *cfg)
{
	sbuf		s = {0};
	pgw_conn   *c = pgw_conn_create(cfg, NULL);
	pgw_event	ev;

	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	pgw_conn_start(c);
	pgw_conn_feed(c, s.data, s.len);
	while (pgw_conn_next_event(c, &ev) != PGW_EV_NONE)
		;
	sb_free(&s);
	return c;
}

/* Parse + Flush: answers arrive before the Sync */
static void
test_flush(void)
{
	pgw_conn_config cfg = base_config();
	sbuf		s = {0};
	pgw_conn   *c;
	pgw_event	ev;
	uint64_t	id;

	c = ready_conn(&cfg);
	tap_ok(pgw_conn_parse(c, "s1", "select 1", 0, NULL) && pgw_conn_flush(c),
		   "flush: Parse + Flush queued");
	tap_is_int(pgw_conn_get_state(c), PGW_CONN_IDLE, "flush: still IDLE before Sync");
	m_empty(&s, '1');
	pgw_conn_feed(c, s.data, s.len);
	tap_is_int(pgw_conn_next_event(c, &ev), PGW_EV_PARSE_COMPLETE,
			   "flush: ParseComplete before the Sync");
	tap_is_int(ev.request_id, 1, "flush: maps to the open request");
	id = pgw_conn_sync(c);
	tap_is_int(id, 1, "flush: the Sync ends request 1");
	sb_free(&s);
	m_rfq(&s, 'T');
	pgw_conn_feed(c, s.data, s.len);
	tap_is_int(pgw_conn_next_event(c, &ev), PGW_EV_READY, "flush: READY");
	tap_is_int(ev.request_id, 1, "flush: READY of request 1");
	tap_is_int(pgw_conn_tx_status(c), 'T', "flush: tx status T");
	tap_is_int(pgw_conn_sync(c), 2, "flush: a bare Sync is request 2");
	pgw_conn_free(c);
	sb_free(&s);
}

/* pgw_conn_copy_out_take: collects the payloads it is given */
static void
take_collect(void *arg, const uint8_t *data, uint32_t len)
{
	sbuf	   *out = (sbuf *) arg;

	sb_put(out, data, len);
	sb_put(out, "|", 1);
}

static void
test_copy_out_take(void)
{
	pgw_conn_config cfg = base_config();
	sbuf		s = {0};
	sbuf		got = {0};
	pgw_conn   *c;
	pgw_event	ev;

	c = ready_conn(&cfg);
	tap_ok(pgw_conn_copy_out_take(c, take_collect, &got, 1000) == 0,
		   "copy-take: nothing outside COPY OUT");
	pgw_conn_query(c, "copy t to stdout");
	m_copy_response(&s, 'H', 1);
	m_copy_data(&s, "aa");
	m_copy_data(&s, "bbb");
	m_copy_data(&s, "c");
	m_copy_data(&s, "dddd");
	m_empty(&s, 'c');
	m_complete(&s, "COPY 4");
	m_rfq(&s, 'I');
	/* everything but the last 3 bytes: ReadyForQuery is incomplete */
	pgw_conn_feed(c, s.data, s.len - 3);
	tap_is_int(pgw_conn_next_event(c, &ev), PGW_EV_COPY_OUT, "copy-take: COPY OUT");
	tap_ok(pgw_conn_copy_out_take(c, take_collect, &got, 4) == 5 &&
		   got.len == 7 && memcmp(got.data, "aa|bbb|", 7) == 0,
		   "copy-take: payloads in order, stopping past max bytes");
	tap_ok(pgw_conn_copy_out_take(c, take_collect, &got, 1000) == 5 &&
		   got.len == 14 && memcmp(got.data, "aa|bbb|c|dddd|", 14) == 0,
		   "copy-take: the rest, up to CopyDone");
	tap_ok(pgw_conn_copy_out_take(c, take_collect, &got, 1000) == 0,
		   "copy-take: stops at CopyDone");
	tap_is_int(pgw_conn_next_event(c, &ev), PGW_EV_COPY_DONE, "copy-take: CopyDone is an event");
	tap_is_int(pgw_conn_next_event(c, &ev), PGW_EV_COMMAND_COMPLETE, "copy-take: then the tag");
	tap_is_int(pgw_conn_next_event(c, &ev), PGW_EV_NONE, "copy-take: ReadyForQuery not complete");
	pgw_conn_feed(c, s.data + s.len - 3, 3);
	tap_is_int(pgw_conn_next_event(c, &ev), PGW_EV_READY, "copy-take: READY");
	pgw_conn_free(c);
	sb_free(&s);
	sb_free(&got);
}

static void
hook_copy(pgw_conn *c, const pgw_event *ev, run_result *r, void *arg)
{
	if (ev->type == PGW_EV_CONNECTED)
	{
		r_printf(r, "queued %llu\n",
				 (unsigned long long) pgw_conn_query(c, (const char *) arg));
		r_printf(r, "copy_data before COPY_IN %d\n",
				 pgw_conn_copy_data(c, "x", 1));
	}
	if (ev->type == PGW_EV_COPY_IN)
	{
		r_printf(r, "query during copy %llu\n",
				 (unsigned long long) pgw_conn_query(c, "x"));
		r_printf(r, "sent %d %d %d state %d\n",
				 pgw_conn_copy_data(c, "1\n", 2),
				 pgw_conn_copy_data(c, "2\n", 2),
				 pgw_conn_copy_done(c), (int) pgw_conn_get_state(c));
	}
	if (ev->type == PGW_EV_COPY_OUT || ev->type == PGW_EV_COPY_DONE ||
		ev->type == PGW_EV_ERROR)
		r_printf(r, "state %d\n", (int) pgw_conn_get_state(c));
}

static void
test_copy(void)
{
	pgw_conn_config cfg = base_config();
	sbuf		s = {0};
	run_result	r;
	fe_msg		msgs[8];

	/* COPY OUT */
	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_copy_response(&s, 'H', 2);
	m_copy_data(&s, "1\ta\n");
	m_copy_data(&s, "2\tb\n");
	m_empty(&s, 'c');
	m_complete(&s, "COPY 2");
	m_rfq(&s, 'I');
	replay("copy-out", &cfg, &s, hook_copy, "copy t to stdout", &r);
	check_transcript(&r,
					 "#0 authenticated\n"
					 "#0 connected I\n"
					 "queued 1\n"
					 "copy_data before COPY_IN 0\n"
					 "#1 copy-out 2\nstate 8\n"
					 "#1 copy-data '1\ta\n'\n"
					 "#1 copy-data '2\tb\n'\n"
					 "#1 copy-done\nstate 6\n"
					 "#1 complete COPY 2\n"
					 "#1 ready I\n", "copy-out");
	free_result(&r);
	sb_free(&s);

	/* COPY IN */
	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_copy_response(&s, 'G', 1);
	m_complete(&s, "COPY 2");
	m_rfq(&s, 'I');
	replay("copy-in", &cfg, &s, hook_copy, "copy t from stdin", &r);
	check_transcript(&r,
					 "#0 authenticated\n"
					 "#0 connected I\n"
					 "queued 1\n"
					 "copy_data before COPY_IN 0\n"
					 "#1 copy-in 1\n"
					 "query during copy 0\n"
					 "sent 1 1 1 state 6\n"
					 "#1 complete COPY 2\n"
					 "#1 ready I\n", "copy-in");
	tap_ok(split_output(&r.out, 1, msgs, 8) == 5 && msgs[2].type == 'd' &&
		   msgs[2].len == 2 && memcmp(msgs[2].body, "1\n", 2) == 0 &&
		   msgs[3].type == 'd' && msgs[4].type == 'c' && msgs[4].len == 0,
		   "copy-in: CopyData x2 and CopyDone sent");
	free_result(&r);
	sb_free(&s);

	/* the server aborts a COPY OUT */
	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_copy_response(&s, 'H', 1);
	m_copy_data(&s, "1\n");
	m_error(&s, "ERROR", "57014", "canceling statement due to user request");
	m_rfq(&s, 'I');
	replay("copy-out-error", &cfg, &s, hook_copy, "copy t to stdout", &r);
	check_transcript(&r,
					 "#0 authenticated\n"
					 "#0 connected I\n"
					 "queued 1\n"
					 "copy_data before COPY_IN 0\n"
					 "#1 copy-out 1\nstate 8\n"
					 "#1 copy-data '1\n'\n"
					 "#1 error ERROR 57014 canceling statement due to user request\nstate 6\n"
					 "#1 ready I\n", "copy-out-error");
	free_result(&r);
	sb_free(&s);

	/* CopyData outside COPY is a protocol violation */
	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_copy_data(&s, "1\n");
	replay("copy-data-stray", &cfg, &s, hook_query, "select 1", &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "copy-data-stray: failed");
	free_result(&r);
	sb_free(&s);
}

static void
test_async_mid_request(void)
{
	static const char *const n1[] = {"a"};
	static const char *const v1[] = {"1"};
	pgw_conn_config cfg = base_config();
	sbuf		s = {0};
	run_result	r;

	m_auth(&s, 0, NULL, 0);
	m_startup_tail(&s);
	m_rowdesc(&s, 1, n1);
	m_fields(&s, 'N', 'S', "NOTICE", 'V', "NOTICE", 'C', "00000",
			 'M', "just so you know", 0);
	m_datarow(&s, 1, v1);
	m_notify(&s, 777, "chan", "payload");
	m_param(&s, "TimeZone", "UTC");
	m_complete(&s, "SELECT 1");
	m_rfq(&s, 'I');
	/* asynchronous while idle */
	m_notify(&s, 778, "chan", "later");
	m_param(&s, "server_version", "9.6.3");
	replay("async", &cfg, &s, hook_query, "select 1", &r);
	check_transcript(&r,
					 "#0 authenticated\n"
					 "#0 param server_version=15.20 (Debian 15.20-1.pgdg120+1)\n"
					 "#0 param client_encoding=UTF8\n"
					 "#0 key pid=4242 len=4\n"
					 "#0 connected I\n"
					 "queued 1\n"
					 "#1 rowdesc a/23\n"
					 "#1 notice 00000 just so you know\n"
					 "#1 row '1'\n"
					 "#1 notify 777 chan payload\n"
					 "#1 param TimeZone=UTC\n"
					 "#1 complete SELECT 1\n"
					 "#1 ready I\n"
					 "#0 notify 778 chan later\n"
					 "#0 param server_version=9.6.3\n", "async");
	tap_is_str(pgw_conn_parameter(r.conn, "TimeZone"), "UTC",
			   "async: new parameter stored");
	tap_is_int(pgw_conn_server_version_num(r.conn), 90603,
			   "async: server_version_num from '9.6.3'");
	tap_is_int(r.state, PGW_CONN_IDLE, "async: IDLE");
	free_result(&r);
	sb_free(&s);

	/* an administrator shuts the backend down while idle */
	m_auth(&s, 0, NULL, 0);
	m_param(&s, "server_version", "16beta1");
	m_rfq(&s, 'I');
	m_error(&s, "FATAL", "57P01",
			"terminating connection due to administrator command");
	replay("idle-fatal", &cfg, &s, NULL, NULL, &r);
	check_transcript(&r,
					 "#0 authenticated\n"
					 "#0 param server_version=16beta1\n"
					 "#0 connected I\n"
					 "#0 error! FATAL 57P01 terminating connection due to administrator command\n",
					 "idle-fatal");
	tap_is_int(r.state, PGW_CONN_FAILED, "idle-fatal: FAILED");
	tap_is_int(pgw_conn_server_version_num(r.conn), 160000,
			   "idle-fatal: server_version_num from '16beta1'");
	free_result(&r);
	sb_free(&s);

	/* a FATAL error inside a request */
	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_error(&s, "FATAL", "57P01",
			"terminating connection due to administrator command");
	replay("request-fatal", &cfg, &s, hook_query, "select pg_sleep(10)", &r);
	check_transcript(&r,
					 "#0 authenticated\n"
					 "#0 connected I\n"
					 "queued 1\n"
					 "#1 error! FATAL 57P01 terminating connection due to administrator command\n",
					 "request-fatal");
	tap_is_int(r.state, PGW_CONN_FAILED, "request-fatal: FAILED");
	tap_is_int(pgw_conn_query(r.conn, "select 1"), 0,
			   "request-fatal: query refused");
	free_result(&r);
	sb_free(&s);
}

static void
test_protocol_32(void)
{
	pgw_conn_config cfg = base_config();
	sbuf		s = {0};
	run_result	r;
	uint8_t		key[32];
	pgw_wbuf	wb;
	fe_msg		msgs[4];
	int			i;

	for (i = 0; i < 32; i++)
		key[i] = (uint8_t) (0xa0 + i);

	/* downgrade 3.2 -> 3.0 */
	cfg.protocol_minor = 2;
	m_negotiate(&s, 196608, "_pq_.unknown");
	m_auth(&s, 0, NULL, 0);
	m_key(&s, 99, key, 4);
	m_rfq(&s, 'I');
	replay("negotiate", &cfg, &s, NULL, NULL, &r);
	check_transcript(&r,
					 "#0 negotiate 196608 opts=1\n"
					 "#0 authenticated\n"
					 "#0 key pid=99 len=4\n"
					 "#0 connected I\n", "negotiate");
	tap_is_int(pgw_conn_protocol_minor(r.conn), 0, "negotiate: now 3.0");
	tap_ok(split_output(&r.out, 1, msgs, 4) == 1 &&
		   pgw_get_u32(msgs[0].body) == 196610,
		   "negotiate: 3.2 was requested");
	free_result(&r);
	sb_free(&s);

	/* after the downgrade a 32-byte key is invalid */
	m_negotiate(&s, 196608, NULL);
	m_auth(&s, 0, NULL, 0);
	m_key(&s, 99, key, 32);
	replay("negotiate-longkey", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "negotiate-longkey: failed");
	free_result(&r);
	sb_free(&s);

	/* an "upgrade" or another major version is refused */
	cfg.protocol_minor = 0;
	m_negotiate(&s, 196610, NULL);
	replay("negotiate-up", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "negotiate-up: failed");
	free_result(&r);
	sb_free(&s);
	m_negotiate(&s, PGW_PROTOCOL(2, 0), NULL);
	replay("negotiate-major", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "negotiate-major: failed");
	free_result(&r);
	sb_free(&s);

	/* 3.2 accepted with a 32-byte key */
	cfg.protocol_minor = 2;
	m_auth(&s, 0, NULL, 0);
	m_key(&s, 1234, key, 32);
	m_rfq(&s, 'I');
	replay("proto32", &cfg, &s, NULL, NULL, &r);
	check_transcript(&r,
					 "#0 authenticated\n"
					 "#0 key pid=1234 len=32\n"
					 "#0 connected I\n", "proto32");
	tap_is_int(pgw_conn_protocol_minor(r.conn), 2, "proto32: still 3.2");
	pgw_wb_init(&wb);
	tap_ok(pgw_conn_cancel_packet(r.conn, &wb), "proto32: cancel packet");
	tap_ok(wb.len == 44 && pgw_get_u32(wb.data) == 44 &&
		   pgw_get_u32(wb.data + 4) == 80877102 &&
		   pgw_get_u32(wb.data + 8) == 1234 &&
		   memcmp(wb.data + 12, key, 32) == 0,
		   "proto32: CancelRequest carries pid and the 32-byte key");
	pgw_wb_free(&wb);
	free_result(&r);
	sb_free(&s);

	/* no cancel packet before BackendKeyData */
	{
		pgw_conn   *c = pgw_conn_create(&cfg, NULL);

		pgw_wb_init(&wb);
		tap_ok(!pgw_conn_cancel_packet(c, &wb), "cancel: refused without a key");
		tap_ok(!pgw_conn_cancel_key(c, NULL, NULL, NULL),
			   "cancel: no key yet");
		pgw_wb_free(&wb);
		pgw_conn_free(c);
	}
}

static void
test_limits(void)
{
	pgw_conn_config cfg = base_config();
	pgw_limits	lim = pgw_default_limits;
	pgw_allocator counter;
	alloc_count counts = {0, 0};
	sbuf		s = {0};
	run_result	r;

	lim.max_data_message = 1024;
	cfg.limits = &lim;

	/* a DataRow header announcing 1 MB: fails before the body arrives */
	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	sb_u8(&s, 'D');
	sb_i32(&s, 1024 * 1024 + 4);
	sb_i16(&s, 1);

	counter.malloc_fn = count_malloc;
	counter.realloc_fn = count_realloc;
	counter.free_fn = count_free;
	counter.ctx = &counts;
	pgw_set_allocator(&counter);
	replay("limit-datarow", &cfg, &s, hook_query, "select repeat('x', 1e6)", &r);
	pgw_set_allocator(NULL);
	check_transcript(&r,
					 "#0 authenticated\n"
					 "#0 connected I\n"
					 "queued 1\n", "limit-datarow");
	tap_is_int(r.state, PGW_CONN_FAILED, "limit-datarow: FAILED");
	tap_is_str(r.errmsg, "DataRow message too large (1048576 bytes, limit 1024)",
			   "limit-datarow: message");
	tap_ok(counts.calls > 0 && counts.largest < 64 * 1024,
		   "limit-datarow: no large allocation (largest %zu bytes in %zu calls)",
		   counts.largest, counts.calls);
	tap_is_int(pgw_conn_query(r.conn, "select 1"), 0,
			   "after failure: query returns 0");
	tap_is_int(pgw_conn_sync(r.conn), 0, "after failure: sync returns 0");
	tap_ok(!pgw_conn_parse(r.conn, "", "x", 0, NULL),
		   "after failure: parse returns false");
	tap_ok(!pgw_conn_execute(r.conn, "", 0),
		   "after failure: execute returns false");
	tap_ok(!pgw_conn_copy_done(r.conn), "after failure: copy_done false");
	tap_ok(!pgw_conn_feed(r.conn, (const uint8_t *) "Z", 1),
		   "after failure: feed false");
	free_result(&r);
	sb_free(&s);

	/*
	 * Within the limits, a DataRow announcing 512 MB gets no 512 MB buffer
	 * before its bytes arrive.
	 */
	{
		pgw_conn   *c;
		pgw_event	ev;
		uint8_t    *space;
		size_t		n;
		static const uint8_t hdr[7] = {'D', 0x20, 0, 0, 4, 0, 1};

		m_auth(&s, 0, NULL, 0);
		m_rfq(&s, 'I');
		lim.max_data_message = pgw_default_limits.max_data_message;
		c = pgw_conn_create(&cfg, NULL);
		pgw_conn_start(c);
		pgw_conn_feed(c, s.data, s.len);
		while (pgw_conn_next_event(c, &ev) != PGW_EV_NONE)
			;
		pgw_conn_query(c, "select");
		pgw_conn_feed(c, hdr, sizeof(hdr));
		tap_is_int(pgw_conn_next_event(c, &ev), PGW_EV_NONE,
				   "presize: header alone gives no event");
		counts.largest = counts.calls = 0;
		pgw_set_allocator(&counter);
		n = pgw_conn_input_space(c, 8192, &space);
		pgw_set_allocator(NULL);
		tap_ok(n >= 8192 && counts.largest <= 512 * 1024,
			   "presize: input_space makes bounded room (%zu offered, largest allocation %zu)",
			   n, counts.largest);
		tap_is_int(pgw_conn_get_state(c), PGW_CONN_BUSY, "presize: still BUSY");
		pgw_conn_free(c);
		sb_free(&s);
		lim.max_data_message = 1024;
	}

	/* a body larger than max_control_message */
	lim.max_control_message = 100;
	m_auth(&s, 0, NULL, 0);
	m_param(&s, "x", "0123456789012345678901234567890123456789"
			"0123456789012345678901234567890123456789"
			"0123456789012345678901234567890123456789");
	replay("limit-control", &cfg, &s, NULL, NULL, &r);
	tap_is_str(r.errmsg, "ParameterStatus message too large (123 bytes, limit 100)",
			   "limit-control: message");
	free_result(&r);
	sb_free(&s);
	lim.max_control_message = pgw_default_limits.max_control_message;

	/* a length field below 4 */
	m_auth(&s, 0, NULL, 0);
	sb_u8(&s, 'S');
	sb_i32(&s, 3);
	replay("limit-short", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "limit-short: FAILED");
	free_result(&r);
	sb_free(&s);

	/* unknown message type: fails on the type byte alone */
	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	sb_u8(&s, 0x01);
	replay("unknown-type", &cfg, &s, NULL, NULL, &r);
	tap_is_str(r.errmsg, "unknown message type 0x01", "unknown-type: message");
	free_result(&r);
	sb_free(&s);

	/* RFQ with nothing in flight */
	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_rfq(&s, 'I');
	replay("stray-rfq", &cfg, &s, NULL, NULL, &r);
	check_transcript(&r, "#0 authenticated\n#0 connected I\n", "stray-rfq");
	tap_is_int(r.state, PGW_CONN_FAILED, "stray-rfq: FAILED");
	tap_is_str(r.errmsg, "unexpected ReadyForQuery message with no request in flight",
			   "stray-rfq: message");
	free_result(&r);
	sb_free(&s);

	/* a result with nothing in flight */
	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_complete(&s, "SELECT 1");
	replay("stray-complete", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "stray-complete: FAILED");
	free_result(&r);
	sb_free(&s);

	/* authentication and key data after startup */
	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_auth(&s, 0, NULL, 0);
	replay("late-auth", &cfg, &s, hook_query, "select 1", &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "late-auth: FAILED");
	free_result(&r);
	sb_free(&s);

	/* ReadyForQuery before authentication */
	m_rfq(&s, 'I');
	replay("early-rfq", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "early-rfq: FAILED");
	free_result(&r);
	sb_free(&s);

	/* a decode error (bad transaction status) */
	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'X');
	replay("bad-rfq", &cfg, &s, NULL, NULL, &r);
	tap_is_int(r.state, PGW_CONN_FAILED, "bad-rfq: FAILED");
	free_result(&r);
	sb_free(&s);

	/* max_inflight */
	lim.max_inflight = 2;
	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	{
		pgw_conn   *c = pgw_conn_create(&cfg, NULL);
		pgw_event	ev;

		pgw_conn_start(c);
		pgw_conn_feed(c, s.data, s.len);
		while (pgw_conn_next_event(c, &ev) != PGW_EV_NONE)
			;
		tap_is_int(pgw_conn_query(c, "a"), 1, "inflight: request 1");
		tap_is_int(pgw_conn_sync(c), 2, "inflight: request 2");
		tap_is_int(pgw_conn_query(c, "c"), 0, "inflight: third refused");
		tap_ok(!pgw_conn_parse(c, "", "x", 0, NULL),
			   "inflight: parse of a third refused");
		tap_is_int(pgw_conn_get_state(c), PGW_CONN_BUSY,
				   "inflight: connection still usable");
		pgw_conn_free(c);
	}
	sb_free(&s);
}


/* Run a script that must fail; the message must contain want */
static void
expect_fail(const char *name, const pgw_conn_config *cfg, const sbuf *s,
			run_hook hook, void *arg, const char *want)
{
	run_result	r;

	replay(name, cfg, s, hook, arg, &r);
	tap_ok(r.state == PGW_CONN_FAILED && strstr(r.errmsg, want) != NULL,
		   "%s: fails with '%s': %s", name, want, r.errmsg);
	free_result(&r);
}

/* Describe, Close, portal suspension, parameter descriptions */
static void
hook_extended(pgw_conn *c, const pgw_event *ev, run_result *r, void *arg)
{
	bool		ok;

	if (ev->type != PGW_EV_CONNECTED)
		return;
	ok = pgw_conn_parse(c, "s1", "select $1", 0, NULL) &&
		pgw_conn_describe(c, 'S', "s1") &&
		!pgw_conn_describe(c, 'X', "s1") &&
		pgw_conn_bind_begin(c, "p1", "s1", 0, NULL, 1) &&
		!pgw_conn_query(c, "select 1") &&
		!pgw_conn_bind_end(c, 0, NULL) &&
		pgw_conn_bind_param(c, NULL, -1) &&
		!pgw_conn_bind_param(c, NULL, -2) &&
		pgw_conn_bind_end(c, 0, NULL) &&
		!pgw_conn_bind_param(c, "x", 1) &&
		pgw_conn_describe(c, 'P', "p1") &&
		!pgw_conn_execute(c, "p1", -1) &&
		pgw_conn_execute(c, "p1", 1) &&
		!pgw_conn_close(c, 'Q', "s1") &&
		pgw_conn_close(c, 'S', "s1") &&
		pgw_conn_close(c, 'P', "p1");
	r_printf(r, "queued %d %llu\n", ok,
			 (unsigned long long) pgw_conn_sync(c));
}

static void
test_extended(void)
{
	static const char *const n1[] = {"a"};
	static const char *const v1[] = {"1"};
	pgw_conn_config cfg = base_config();
	sbuf		s = {0};
	run_result	r;
	fe_msg		msgs[16];
	int			n;

	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_empty(&s, '1');
	sb_begin(&s, 't');
	sb_i16(&s, 1);
	sb_i32(&s, 25);
	sb_end(&s);
	m_rowdesc(&s, 1, n1);
	m_empty(&s, '2');
	m_empty(&s, 'n');
	m_datarow(&s, 1, v1);
	m_empty(&s, 's');
	m_empty(&s, '3');
	m_empty(&s, '3');
	m_rfq(&s, 'T');
	replay("extended", &cfg, &s, hook_extended, NULL, &r);
	check_transcript(&r,
					 "#0 authenticated\n"
					 "#0 connected I\n"
					 "queued 1 1\n"
					 "#1 parsed\n"
					 "#1 paramdesc 1\n"
					 "#1 rowdesc a/23\n"
					 "#1 bound\n"
					 "#1 nodata\n"
					 "#1 row '1'\n"
					 "#1 suspended\n"
					 "#1 closed\n"
					 "#1 closed\n"
					 "#1 ready T\n", "extended");
	n = split_output(&r.out, 1, msgs, 16);
	tap_ok(n == 9 && msgs[1].type == 'P' && msgs[2].type == 'D' &&
		   msgs[3].type == 'B' && msgs[4].type == 'D' && msgs[5].type == 'E' &&
		   msgs[6].type == 'C' && msgs[7].type == 'C' && msgs[8].type == 'S',
		   "extended: P D B D E C C S sent (%d messages)", n);
	tap_is_int(pgw_conn_tx_status(r.conn), 'T', "extended: tx status T");
	free_result(&r);
	sb_free(&s);

	/* FunctionCallResponse maps to the request like any result */
	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	sb_begin(&s, 'V');
	sb_i32(&s, 2);
	sb_put(&s, "ok", 2);
	sb_end(&s);
	m_rfq(&s, 'I');
	replay("fcall", &cfg, &s, hook_query, "x", &r);
	check_transcript(&r,
					 "#0 authenticated\n"
					 "#0 connected I\n"
					 "queued 1\n"
					 "#1 fcall\n"
					 "#1 ready I\n", "fcall");
	free_result(&r);
	sb_free(&s);
}

static void
hook_copy_both(pgw_conn *c, const pgw_event *ev, run_result *r, void *arg)
{
	bool		client_first = arg != NULL;

	if (ev->type == PGW_EV_CONNECTED)
		r_printf(r, "queued %llu\n",
				 (unsigned long long) pgw_conn_query(c, "START_REPLICATION"));
	if (ev->type == PGW_EV_COPY_BOTH)
	{
		r_printf(r, "sent %d\n", pgw_conn_copy_data(c, "standby", 7));
		if (client_first)
			r_printf(r, "done %d\n", pgw_conn_copy_done(c));
	}
	if (ev->type == PGW_EV_COPY_DONE && !client_first)
		r_printf(r, "data %d done %d\n", pgw_conn_copy_data(c, "x", 1),
				 pgw_conn_copy_done(c));
	if (ev->type == PGW_EV_COPY_IN)
		r_printf(r, "fail %d\n", pgw_conn_copy_fail(c, "changed my mind"));
	r_printf(r, "state %d\n", (int) pgw_conn_get_state(c));
}

static void
test_copy_both(void)
{
	pgw_conn_config cfg = base_config();
	sbuf		s = {0};
	run_result	r;

	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_copy_response(&s, 'W', 0);
	m_copy_data(&s, "wal");
	m_empty(&s, 'c');
	m_complete(&s, "START_REPLICATION");
	m_rfq(&s, 'I');

	/* server ends its side first */
	replay("copy-both", &cfg, &s, hook_copy_both, NULL, &r);
	check_transcript(&r,
					 "#0 authenticated\nstate 4\n"
					 "#0 connected I\n"
					 "queued 1\nstate 6\n"
					 "#1 copy-both\nsent 1\nstate 9\n"
					 "#1 copy-data 'wal'\nstate 9\n"
					 "#1 copy-done\ndata 1 done 1\nstate 6\n"
					 "#1 complete START_REPLICATION\nstate 6\n"
					 "#1 ready I\nstate 5\n", "copy-both");
	free_result(&r);

	/* client ends its side first */
	replay("copy-both-client", &cfg, &s, hook_copy_both, "", &r);
	check_transcript(&r,
					 "#0 authenticated\nstate 4\n"
					 "#0 connected I\n"
					 "queued 1\nstate 6\n"
					 "#1 copy-both\nsent 1\ndone 1\nstate 8\n"
					 "#1 copy-data 'wal'\nstate 8\n"
					 "#1 copy-done\nstate 6\n"
					 "#1 complete START_REPLICATION\nstate 6\n"
					 "#1 ready I\nstate 5\n", "copy-both-client");
	free_result(&r);
	sb_free(&s);

	/* CopyFail */
	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_copy_response(&s, 'G', 1);
	m_error(&s, "ERROR", "57014", "COPY from stdin failed: changed my mind");
	m_rfq(&s, 'I');
	replay("copy-fail", &cfg, &s, hook_copy_both, NULL, &r);
	check_transcript(&r,
					 "#0 authenticated\nstate 4\n"
					 "#0 connected I\n"
					 "queued 1\nstate 6\n"
					 "#1 copy-in 1\nfail 1\nstate 6\n"
					 "#1 error ERROR 57014 COPY from stdin failed: changed my mind\nstate 6\n"
					 "#1 ready I\nstate 5\n", "copy-fail");
	free_result(&r);
	sb_free(&s);

	/* the server aborts a COPY IN before the client is done */
	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_copy_response(&s, 'G', 1);
	{
		pgw_conn   *c = pgw_conn_create(&cfg, NULL);
		pgw_event	ev;

		pgw_conn_start(c);
		pgw_conn_feed(c, s.data, s.len);
		while (pgw_conn_next_event(c, &ev) != PGW_EV_NONE)
			if (ev.type == PGW_EV_CONNECTED)
				pgw_conn_query(c, "copy t from stdin");
		tap_is_int(pgw_conn_get_state(c), PGW_CONN_COPY_IN, "copy-in-abort: COPY_IN");
		tap_ok(pgw_conn_copy_data(c, "1\n", 2), "copy-in-abort: data sent");
		sb_free(&s);
		m_error(&s, "ERROR", "22P02", "invalid input syntax");
		m_rfq(&s, 'I');
		pgw_conn_feed(c, s.data, s.len);
		tap_is_int(pgw_conn_next_event(c, &ev), PGW_EV_ERROR, "copy-in-abort: ERROR");
		tap_ok(!ev.fatal, "copy-in-abort: not fatal");
		tap_is_int(pgw_conn_get_state(c), PGW_CONN_BUSY, "copy-in-abort: BUSY");
		tap_ok(!pgw_conn_copy_data(c, "2\n", 2), "copy-in-abort: no more data");
		tap_is_int(pgw_conn_next_event(c, &ev), PGW_EV_READY, "copy-in-abort: READY");
		tap_is_int(pgw_conn_get_state(c), PGW_CONN_IDLE, "copy-in-abort: IDLE");
		pgw_conn_free(c);
	}
	sb_free(&s);
}

/* Messages big enough to make the input buffer grow, compact and shrink */
static void
test_large(void)
{
	pgw_conn_config cfg = base_config();
	sbuf		s = {0};
	run_result	r;
	char	   *big;
	const char *vals[1];
	int			i;
	pgw_conn   *c;
	pgw_event	ev;

	big = malloc(2 * 1024 * 1024 + 1);
	for (i = 0; i < 2 * 1024 * 1024; i++)
		big[i] = (char) ('a' + i % 26);
	big[6000] = '\0';
	vals[0] = big;

	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	for (i = 0; i < 4; i++)
		m_datarow(&s, 1, vals);
	m_complete(&s, "SELECT 4");
	m_rfq(&s, 'I');
	replay("large", &cfg, &s, hook_query, "select", &r);
	tap_is_int(r.state, PGW_CONN_IDLE, "large: done");
	{
		const char *t = (const char *) r.transcript.data;
		int			rows = 0;

		while ((t = strstr(t, "#1 row 'abcdefghijklmnopqrstuvwxyz")) != NULL)
		{
			rows++;
			t++;
		}
		tap_ok(rows == 4 &&
			   strstr((const char *) r.transcript.data, "#1 ready I\n") != NULL,
			   "large: every row and READY seen (%d rows)", rows);
	}
	free_result(&r);
	sb_free(&s);

	/* a 2 MB row, then small ones: memory given back, data intact */
	big[6000] = 'x';
	big[2 * 1024 * 1024] = '\0';
	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	c = pgw_conn_create(&cfg, NULL);
	pgw_conn_start(c);
	pgw_conn_feed(c, s.data, s.len);
	while (pgw_conn_next_event(c, &ev) != PGW_EV_NONE)
		;
	tap_is_int(pgw_conn_query(c, "select"), 1, "huge: query");
	sb_free(&s);
	m_datarow(&s, 1, vals);
	for (i = 0; i < (int) s.len; i += 65536)
	{
		uint8_t    *space;
		size_t		n = pgw_conn_input_space(c, 65536, &space);
		size_t		take = s.len - i < 65536 ? s.len - i : 65536;

		if (n < take)
			break;
		memcpy(space, s.data + i, take);
		pgw_conn_input_commit(c, take);
		if (pgw_conn_next_event(c, &ev) != PGW_EV_NONE)
			break;
	}
	tap_is_int(ev.type, PGW_EV_DATA_ROW, "huge: DataRow arrives whole");
	tap_ok(ev.msg.u.data_row.ncolumns == 1 &&
		   ev.msg.u.data_row.columns[0].len == 2 * 1024 * 1024 &&
		   memcmp(ev.msg.u.data_row.columns[0].data, big, 2 * 1024 * 1024) == 0,
		   "huge: value intact");
	sb_free(&s);
	m_complete(&s, "SELECT 1");
	m_rfq(&s, 'I');
	pgw_conn_feed(c, s.data, s.len);
	tap_is_int(pgw_conn_next_event(c, &ev), PGW_EV_COMMAND_COMPLETE,
			   "huge: next message after the buffer shrank");
	tap_is_int(pgw_conn_next_event(c, &ev), PGW_EV_READY, "huge: READY");
	pgw_conn_free(c);
	sb_free(&s);
	free(big);
}

/* Protocol violations not covered elsewhere */
static void
test_violations(void)
{
	static const char *const v1[] = {"1"};
	pgw_conn_config cfg = base_config();
	sbuf		s = {0};

	m_negotiate(&s, 0, NULL);
	m_negotiate(&s, 0, NULL);
	expect_fail("negotiate-twice", &cfg, &s, NULL, NULL, "twice");
	sb_free(&s);

	cfg.password = "pw";
	m_auth(&s, 3, NULL, 0);
	m_negotiate(&s, 196608, NULL);
	expect_fail("negotiate-late", &cfg, &s, NULL, NULL,
				"unexpected NegotiateProtocolVersion");
	sb_free(&s);

	m_auth(&s, 3, NULL, 0);
	m_auth(&s, 3, NULL, 0);
	expect_fail("password-twice", &cfg, &s, NULL, NULL, "already sent");
	sb_free(&s);

	m_auth(&s, 3, NULL, 0);
	m_auth_sasl(&s, "SCRAM-SHA-256", NULL);
	expect_fail("sasl-after-password", &cfg, &s, NULL, NULL, "already sent");
	sb_free(&s);
	cfg.password = NULL;

	m_auth_sasl(&s, "SCRAM-SHA-256", NULL);
	expect_fail("sasl-nopw", &cfg, &s, NULL, NULL,
				"server requested a password but none was supplied");
	sb_free(&s);

	m_auth(&s, 0, NULL, 0);
	m_auth(&s, 0, NULL, 0);
	expect_fail("auth-ok-twice", &cfg, &s, NULL, NULL,
				"unexpected Authentication");
	sb_free(&s);

	m_key(&s, 1, (const uint8_t *) "abcd", 4);
	expect_fail("key-before-auth", &cfg, &s, NULL, NULL, "BackendKeyData");
	sb_free(&s);

	m_auth(&s, 0, NULL, 0);
	m_datarow(&s, 1, v1);
	expect_fail("row-in-startup", &cfg, &s, NULL, NULL, "DataRow");
	sb_free(&s);

	m_auth(&s, 0, NULL, 0);
	m_key(&s, 1, (const uint8_t *) "abcdef", 6);
	expect_fail("key-length-30", &cfg, &s, NULL, NULL, "cancel key length");
	sb_free(&s);

	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_error(&s, "ERROR", "XX000", "out of the blue");
	expect_fail("error-idle", &cfg, &s, NULL, NULL, "no request in flight");
	sb_free(&s);

	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_key(&s, 1, (const uint8_t *) "abcd", 4);
	expect_fail("key-after-startup", &cfg, &s, hook_query, "x",
				"after startup");
	sb_free(&s);

	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_copy_response(&s, 'H', 0);
	m_rfq(&s, 'I');
	expect_fail("rfq-in-copy", &cfg, &s, hook_query, "x", "during COPY");
	sb_free(&s);

	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_copy_response(&s, 'H', 0);
	m_complete(&s, "COPY 0");
	expect_fail("complete-in-copy", &cfg, &s, hook_query, "x", "during COPY");
	sb_free(&s);

	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_empty(&s, 'c');
	expect_fail("copydone-stray", &cfg, &s, hook_query, "x", "outside COPY");
	sb_free(&s);

	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_fields(&s, 'E', 'S', "FATAL", 0);
	expect_fail("fatal-no-message", &cfg, &s, NULL, NULL, "without a message");
	sb_free(&s);

	m_auth(&s, 0, NULL, 0);
	m_fields(&s, 'E', 'S', "FATAL", 'C', "53300", 'M', "", 0);
	expect_fail("fatal-empty-message", &cfg, &s, NULL, NULL,
				"SQLSTATE 53300");
	sb_free(&s);

	/* server_version values that do not look like versions */
	{
		static const struct
		{
			const char *version;
			int			num;
		}			versions[] = {
			{"6666666666666", 0}, {"99999.1", 0}, {"9.100.1", 0},
			{"devel", 0}, {"10.1", 100001}, {"9.6beta1", 90600},
			{"17.0", 170000}, {"8.4.22", 80422}
		};
		int			i;

		for (i = 0; i < 8; i++)
		{
			run_result	r;

			m_auth(&s, 0, NULL, 0);
			m_param(&s, "server_version", versions[i].version);
			m_rfq(&s, 'I');
			run_script(&cfg, s.data, s.len, MODE_WHOLE, 0, NULL, NULL, true, &r);
			tap_is_int(pgw_conn_server_version_num(r.conn), versions[i].num,
					   "server_version '%s'", versions[i].version);
			free_result(&r);
			sb_free(&s);
		}
	}

	/* notices and notifications are fine during startup */
	m_notify(&s, 5, "c", "p");
	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	{
		run_result	r;

		replay("notify-startup", &cfg, &s, NULL, NULL, &r);
		check_transcript(&r, "#0 notify 5 c p\n#0 authenticated\n#0 connected I\n",
						 "notify-startup");
		free_result(&r);
	}
	sb_free(&s);
}

/* Parse + Sync, then ReadyForQuery without a Sync */
static void
hook_parse_only(pgw_conn *c, const pgw_event *ev, run_result *r, void *arg)
{
	if (ev->type == PGW_EV_CONNECTED)
		r_printf(r, "parse %d\n", pgw_conn_parse(c, "", "x", 0, NULL));
}

static void
test_unsynced(void)
{
	pgw_conn_config cfg = base_config();
	sbuf		s = {0};

	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	m_empty(&s, '1');
	m_rfq(&s, 'I');
	expect_fail("rfq-unsynced", &cfg, &s, hook_parse_only, NULL,
				"before the request was ended with Sync");
	sb_free(&s);
}

static void
test_terminate(void)
{
	pgw_conn_config cfg = base_config();
	sbuf		s = {0};
	pgw_conn   *c;
	pgw_event	ev;
	const uint8_t *data;
	size_t		n;

	/* before startup: nothing to send */
	c = pgw_conn_create(&cfg, NULL);
	pgw_conn_terminate(c);
	tap_is_int(pgw_conn_get_state(c), PGW_CONN_CLOSED, "terminate-new: CLOSED");
	tap_is_int(pgw_conn_output(c, &data), 0, "terminate-new: nothing queued");
	pgw_conn_free(c);

	/* in the middle of a Bind: the unfinished Bind is not sent */
	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	c = pgw_conn_create(&cfg, NULL);
	pgw_conn_start(c);
	n = pgw_conn_output(c, &data);
	pgw_conn_output_done(c, n);
	pgw_conn_feed(c, s.data, s.len);
	while (pgw_conn_next_event(c, &ev) != PGW_EV_NONE)
		;
	pgw_conn_parse(c, "", "select $1", 0, NULL);
	pgw_conn_bind_begin(c, "", "", 0, NULL, 1);
	n = pgw_conn_output(c, &data);
	tap_ok(n > 0 && data[0] == 'P' && n == 1 + pgw_get_u32(data + 1),
		   "bind-open: only the Parse is ready to send");
	pgw_conn_output_done(c, n + 100);
	pgw_conn_terminate(c);
	n = pgw_conn_output(c, &data);
	tap_ok(n == 5 && data[0] == 'X', "bind-open: terminate drops the Bind");
	pgw_conn_terminate(c);
	tap_ok(pgw_conn_feed(c, s.data, s.len), "closed: input ignored");
	tap_is_int(pgw_conn_next_event(c, &ev), PGW_EV_NONE, "closed: no events");
	pgw_conn_free(c);
	sb_free(&s);
}

/* An allocator that fails after a number of successful allocations */
typedef struct fail_alloc
{
	long		left;
	long		failures;
} fail_alloc;

static void *
fail_malloc(size_t size, void *ctx)
{
	fail_alloc *f = ctx;

	if (f->left-- <= 0)
	{
		f->failures++;
		return NULL;
	}
	return malloc(size);
}

static void *
fail_realloc(void *ptr, size_t size, void *ctx)
{
	fail_alloc *f = ctx;

	if (f->left-- <= 0)
	{
		f->failures++;
		return NULL;
	}
	return realloc(ptr, size);
}

static void
hook_oom(pgw_conn *c, const pgw_event *ev, run_result *r, void *arg)
{
	int			i;

	if (ev->type != PGW_EV_CONNECTED)
		return;
	for (i = 0; i < 20; i++)
	{
		pgw_conn_parse(c, "", "select $1", 0, NULL);
		pgw_conn_bind_begin(c, "", "", 0, NULL, 1);
		pgw_conn_bind_param(c, "1", 1);
		pgw_conn_bind_end(c, 0, NULL);
		pgw_conn_execute(c, "", 0);
		pgw_conn_sync(c);
	}
	pgw_conn_query(c, "select 1");
}

/*
 * Every allocation failing in turn, through a SCRAM startup and a
 * pipeline: each run must end cleanly (no crash, no leak, FAILED with a
 * message), and with enough memory the run succeeds.
 */
static void
test_oom(void)
{
	static const char *const v1[] = {"1"};
	pgw_conn_config cfg = base_config();
	scram_server srv;
	sbuf		s = {0};
	pgw_allocator fa;
	fail_alloc	f;
	long		n;
	int			bad = 0;
	bool		succeeded = false;
	int			i;

	cfg.password = "pencil";
	scram_server_compute(&srv, "pencil", "n,,", NULL, 0, false);
	build_scram_stream(&s, &srv, "SCRAM-SHA-256", NULL, true);
	for (i = 0; i < 20; i++)
	{
		m_empty(&s, '1');
		m_empty(&s, '2');
		m_datarow(&s, 1, v1);
		m_complete(&s, "SELECT 1");
		m_rfq(&s, 'I');
	}
	m_complete(&s, "SELECT 1");
	m_rfq(&s, 'I');

	fa.malloc_fn = fail_malloc;
	fa.realloc_fn = fail_realloc;
	fa.free_fn = count_free;
	fa.ctx = &f;
	for (n = 0; n < 400 && !succeeded; n++)
	{
		run_result	r;
		int			mode;

		for (mode = MODE_WHOLE; mode <= MODE_BYTES; mode++)
		{
			f.left = n;
			f.failures = 0;
			pgw_set_allocator(&fa);
			run_script(&cfg, s.data, s.len, mode, 0, hook_oom, NULL, false, &r);
			pgw_set_allocator(NULL);
			if (f.failures == 0)
			{
				if (r.state == PGW_CONN_IDLE)
					succeeded = true;
				else
					bad++;
			}
			else if (r.state != PGW_CONN_FAILED &&
					 strncmp((const char *) r.transcript.data, "create failed", 13) != 0 &&
					 r.state != PGW_CONN_IDLE)
			{
				bad++;
				tap_diag("oom after %ld: state %d", n, (int) r.state);
			}
			free_result(&r);
		}
	}
	tap_ok(bad == 0, "oom: every allocation failure handled cleanly");
	tap_ok(succeeded, "oom: succeeds once enough allocations work (%ld)", n);
	sb_free(&s);
}


/*
 * A request message that cannot be encoded (here: no memory for it) is
 * taken back out; the connection stays usable.
 */
static void
test_request_rollback(void)
{
	pgw_conn_config cfg = base_config();
	sbuf		s = {0};
	pgw_conn   *c;
	pgw_event	ev;
	pgw_allocator fa;
	fail_alloc	f = {0, 0};
	const uint8_t *data;
	size_t		n;
	char	   *big;
	fe_msg		msgs[8];
	sbuf		out = {0};

	big = malloc(1024 * 1024);
	memset(big, 'x', 1024 * 1024 - 1);
	big[1024 * 1024 - 1] = '\0';
	fa.malloc_fn = fail_malloc;
	fa.realloc_fn = fail_realloc;
	fa.free_fn = count_free;
	fa.ctx = &f;

	m_auth(&s, 0, NULL, 0);
	m_rfq(&s, 'I');
	c = pgw_conn_create(&cfg, NULL);
	pgw_conn_start(c);
	n = pgw_conn_output(c, &data);
	pgw_conn_output_done(c, n);
	pgw_conn_feed(c, s.data, s.len);
	while (pgw_conn_next_event(c, &ev) != PGW_EV_NONE)
		;

	tap_ok(pgw_conn_parse(c, "", "select $1", 1, NULL), "rollback: Parse queued");
	tap_ok(pgw_conn_bind_begin(c, "", "", 0, NULL, 1), "rollback: Bind begun");
	/* half of the Parse goes out while the Bind is open */
	n = pgw_conn_output(c, &data);
	sb_put(&out, data, n / 2);
	pgw_conn_output_done(c, n / 2);
	pgw_set_allocator(&fa);
	tap_ok(!pgw_conn_bind_param(c, big, 1024 * 1024),
		   "rollback: 1 MB parameter without memory fails");
	pgw_set_allocator(NULL);
	tap_ok(f.failures > 0, "rollback: an allocation did fail");
	tap_is_int(pgw_conn_get_state(c), PGW_CONN_IDLE, "rollback: still IDLE");
	tap_ok(!pgw_conn_bind_end(c, 0, NULL), "rollback: the Bind is gone");
	tap_ok(pgw_conn_bind_begin(c, "", "", 0, NULL, 1) &&
		   pgw_conn_bind_param(c, "7", 1) && pgw_conn_bind_end(c, 0, NULL) &&
		   pgw_conn_execute(c, "", 0),
		   "rollback: a new Bind works");
	tap_is_int(pgw_conn_sync(c), 1, "rollback: request 1 ends with Sync");
	f.left = 0;
	pgw_set_allocator(&fa);
	tap_is_int(pgw_conn_query(c, big), 0, "rollback: Query without memory fails");
	pgw_set_allocator(NULL);
	tap_is_int(pgw_conn_query(c, "select 2"), 2, "rollback: next Query is request 2");
	tap_is_int(pgw_conn_inflight(c), 2, "rollback: two requests in flight");
	while ((n = pgw_conn_output(c, &data)) > 0)
	{
		sb_put(&out, data, n);
		pgw_conn_output_done(c, n);
	}
	n = (size_t) split_output(&out, 0, msgs, 8);
	tap_ok(n == 5 && msgs[0].type == 'P' && msgs[1].type == 'B' &&
		   msgs[1].len == 1 + 1 + 2 + 2 + 4 + 1 + 2 &&
		   msgs[1].body[10] == '7' &&
		   msgs[2].type == 'E' && msgs[3].type == 'S' &&
		   msgs[4].type == 'Q' &&
		   strcmp((const char *) msgs[4].body, "select 2") == 0,
		   "rollback: the client sent P B E S Q, well framed (%d messages)",
		   (int) n);
	pgw_conn_free(c);
	sb_free(&s);
	sb_free(&out);
	free(big);
}

static void
test_misc(void)
{
	pgw_conn_config cfg = base_config();
	char		err[PGW_ERRMSG_LEN];
	pgw_conn   *c;
	pgw_event	ev;
	uint8_t    *space;

	cfg.protocol_minor = 1;
	tap_ok(pgw_conn_create(&cfg, err) == NULL, "create: protocol 3.1 refused: %s",
		   err);
	cfg = base_config();
	cfg.user = NULL;
	tap_ok(pgw_conn_create(&cfg, err) == NULL, "create: user required");

	cfg = base_config();
	c = pgw_conn_create(&cfg, err);
	tap_is_int(pgw_conn_get_state(c), PGW_CONN_NEW, "create: state NEW");
	tap_is_int(pgw_conn_next_event(c, &ev), PGW_EV_NONE, "create: no event");
	tap_is_int(pgw_conn_query(c, "x"), 0, "create: no query before start");
	tap_ok(pgw_conn_start(c), "start");
	tap_ok(!pgw_conn_start(c), "start twice refused");
	tap_is_int(pgw_conn_get_state(c), PGW_CONN_AUTH, "start: AUTH");
	tap_is_int(pgw_conn_query(c, "x"), 0, "start: no query before CONNECTED");
	tap_ok(!pgw_conn_continue_plain(c), "continue_plain refused without SSL");
	tap_ok(pgw_conn_input_space(c, 100, &space) >= 100,
		   "input_space offers what was asked");
	pgw_conn_input_commit(c, 1000000);
	tap_is_int(pgw_conn_get_state(c), PGW_CONN_FAILED,
			   "input_commit beyond the offer fails");
	pgw_conn_free(c);
}

int
main(void)
{
	pgw_use_openssl_crypto();

	test_trust_startup();
	test_cleartext();
	test_md5();
	test_scram();
	test_unsupported_auth();
	test_ssl();
	test_startup_fatal();
	test_simple_query();
	test_pipeline();
	test_flush();
	test_copy();
	test_copy_out_take();
	test_async_mid_request();
	test_protocol_32();
	test_limits();
	test_extended();
	test_copy_both();
	test_large();
	test_violations();
	test_unsynced();
	test_terminate();
	test_oom();
	test_request_rollback();
	test_misc();
	return tap_done();
}
