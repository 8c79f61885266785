/*-------------------------------------------------------------------------
 *
 * pgw_conn.c
 *	  The sans-I/O connection state machine of the protocol core: framing of
 *	  received bytes into backend messages, the SSL negotiation byte,
 *	  password authentication, startup, and the FIFO that maps pipelined
 *	  results to the requests that asked for them.
 *
 * The machine never performs I/O.  Received bytes land in a growable input
 * buffer that is compacted lazily, so the decoded message behind an event
 * keeps pointing into it until the owner feeds more input or asks for the
 * next event.  Frontend messages are encoded into an output buffer the
 * owner drains.
 *
 * Any violation of the protocol leaves the connection FAILED for good,
 * with a message saying why; from then on no event comes out and no
 * request goes in.
 *
 *-------------------------------------------------------------------------
 */
#include "pgw_conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Smallest input buffer allocated */
#define PGW_IN_MIN_CAP		8192
/* Most room made ahead for a message announced but not yet received */
#define PGW_IN_PRESIZE_MAX	((size_t) 256 * 1024)
/* An empty input buffer larger than this is given back */
#define PGW_IN_SHRINK_CAP	((size_t) 1024 * 1024)
/* First size of the FIFO of requests in flight */
#define PGW_FIFO_MIN_CAP	16

/* Progress of a SASL exchange */
typedef enum pgw_sasl_step
{
	PGW_SASL_NONE,				/* no SASL exchange started */
	PGW_SASL_SENT_FIRST,		/* client-first sent, awaiting SASLContinue */
	PGW_SASL_SENT_FINAL,		/* client-final sent, awaiting SASLFinal */
	PGW_SASL_VERIFIED			/* server signature verified */
} pgw_sasl_step;

struct pgw_conn
{
	pgw_conn_state state;
	char		errmsg[PGW_ERRMSG_LEN];

	/* configuration, copied */
	char	   *user;
	char	   *database;
	char	   *password;
	char	  **startup_params; /* NULL-terminated names and values */
	char	   *scram_nonce;
	int			protocol_minor; /* requested, then negotiated */
	bool		request_ssl;
	pgw_channel_binding channel_binding;
	bool		require_scram;
	pgw_limits	limits;

	/* input buffer: unread bytes are in[in_start .. in_end) */
	uint8_t    *in;
	size_t		in_cap;
	size_t		in_start;
	size_t		in_end;
	size_t		in_offered;		/* space offered by input_space() */
	size_t		in_need;		/* bytes of the incomplete message, or 0 */

	/* output and decoding */
	pgw_wbuf	out;
	pgw_decode_scratch scratch;

	/* SSL negotiation */
	bool		ssl_answered;	/* the one byte after SSLRequest arrived */
	bool		ssl_rejected;	/* ... and it was 'N' */
	bool		tls_on;
	uint8_t    *cb_data;		/* tls-server-end-point data, or NULL */
	size_t		cb_len;

	/* authentication */
	bool		password_sent;	/* a password exchange was started */
	bool		password_used;
	bool		channel_bound;
	bool		negotiated;		/* NegotiateProtocolVersion seen */
	bool		scram_plus;		/* SCRAM-SHA-256-PLUS chosen */
	pgw_sasl_step sasl_step;
	pgw_scram  *scram;

	/* what the server told us during startup */
	bool		have_key;
	int32_t		backend_pid;
	uint8_t    *cancel_key;
	uint32_t	cancel_key_len;
	char	  **param_names;
	char	  **param_values;
	int			nparams;
	int			param_cap;
	int			server_version_num;
	uint8_t		tx_status;

	/* requests in flight: ring buffer of ids, oldest at fifo_head */
	uint64_t   *fifo;
	uint32_t	fifo_cap;
	uint32_t	fifo_head;
	uint32_t	fifo_count;
	uint64_t	open_id;		/* request begun but not yet ended, or 0 */
	uint64_t	next_id;

	/* a Bind message being written */
	bool		in_bind;
	size_t		bind_mark;		/* where the Bind starts in the output */
	uint16_t	bind_nparams;
	uint16_t	bind_given;

	pgw_conn_stats stats;
};


static void
conn_fail(pgw_conn *c, const char *fmt,...)
#if defined(__GNUC__)
			__attribute__((format(printf, 2, 3)))
#endif
			;

/*
 * Put the connection into the sticky FAILED state.  The first failure's
 * message is kept.
 */
static void
conn_fail(pgw_conn *c, const char *fmt,...)
{
	va_list		ap;

	if (c->state == PGW_CONN_FAILED)
		return;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, PGW_ERRMSG_LEN, fmt, ap);
	va_end(ap);
	/* a failed connection always says why */
	if (c->errmsg[0] == '\0')
		snprintf(c->errmsg, PGW_ERRMSG_LEN, "connection failed");
	c->state = PGW_CONN_FAILED;
	c->in_need = 0;
	if (c->scram)
	{
		pgw_scram_free(c->scram);
		c->scram = NULL;
	}
}

/* Fail the connection if the output buffer ran out of memory. */
static bool
check_output(pgw_conn *c)
{
	if (c->out.failed)
	{
		conn_fail(c, "could not encode message: out of memory or message too long");
		return false;
	}
	return true;
}

static void
free_string_array(char **arr)
{
	char	  **p;

	if (arr == NULL)
		return;
	for (p = arr; *p != NULL; p++)
		pgw_free(*p);
	pgw_free(arr);
}

/* Overwrite and free a secret string. */
static void
free_secret(char *s)
{
	volatile char *p;

	if (s == NULL)
		return;
	for (p = s; *p != '\0'; p++)
		*p = '\0';
	pgw_free(s);
}

pgw_conn *
pgw_conn_create(const pgw_conn_config *cfg, char *errbuf)
{
	char		localerr[PGW_ERRMSG_LEN];
	pgw_conn   *c;
	size_t		n = 0;
	size_t		i;

	if (errbuf == NULL)
		errbuf = localerr;
	if (cfg == NULL || cfg->user == NULL)
	{
		pgw_seterr(errbuf, "no user name given");
		return NULL;
	}
	if (cfg->protocol_minor != 0 && cfg->protocol_minor != 2)
	{
		pgw_seterr(errbuf, "unsupported protocol version 3.%d",
				   cfg->protocol_minor);
		return NULL;
	}
	if (cfg->startup_params != NULL)
	{
		while (cfg->startup_params[n] != NULL)
			n++;
		if (n % 2 != 0)
		{
			pgw_seterr(errbuf, "startup parameter \"%s\" has no value",
					   cfg->startup_params[n - 1]);
			return NULL;
		}
	}

	c = pgw_malloc(sizeof(pgw_conn));
	if (c == NULL)
	{
		pgw_seterr(errbuf, "out of memory");
		return NULL;
	}
	memset(c, 0, sizeof(pgw_conn));
	c->state = PGW_CONN_NEW;
	pgw_wb_init(&c->out);
	c->protocol_minor = cfg->protocol_minor;
	c->request_ssl = cfg->request_ssl;
	c->channel_binding = cfg->channel_binding;
	c->require_scram = cfg->require_scram;
	c->limits = cfg->limits ? *cfg->limits : pgw_default_limits;
	c->next_id = 1;

	c->user = pgw_strdup(cfg->user);
	if (c->user == NULL)
		goto oom;
	if (cfg->database != NULL &&
		(c->database = pgw_strdup(cfg->database)) == NULL)
		goto oom;
	if (cfg->password != NULL &&
		(c->password = pgw_strdup(cfg->password)) == NULL)
		goto oom;
	if (cfg->scram_nonce != NULL &&
		(c->scram_nonce = pgw_strdup(cfg->scram_nonce)) == NULL)
		goto oom;
	c->startup_params = pgw_malloc((n + 1) * sizeof(char *));
	if (c->startup_params == NULL)
		goto oom;
	memset(c->startup_params, 0, (n + 1) * sizeof(char *));
	for (i = 0; i < n; i++)
	{
		c->startup_params[i] = pgw_strdup(cfg->startup_params[i]);
		if (c->startup_params[i] == NULL)
			goto oom;
	}
	return c;

oom:
	pgw_conn_free(c);
	pgw_seterr(errbuf, "out of memory");
	return NULL;
}

void
pgw_conn_free(pgw_conn *c)
{
	int			i;

	if (c == NULL)
		return;
	pgw_free(c->user);
	pgw_free(c->database);
	free_secret(c->password);
	pgw_free(c->scram_nonce);
	free_string_array(c->startup_params);
	pgw_free(c->in);
	pgw_wb_free(&c->out);
	pgw_scratch_free(&c->scratch);
	pgw_free(c->cb_data);
	if (c->scram)
		pgw_scram_free(c->scram);
	pgw_free(c->cancel_key);
	for (i = 0; i < c->nparams; i++)
	{
		pgw_free(c->param_names[i]);
		pgw_free(c->param_values[i]);
	}
	pgw_free(c->param_names);
	pgw_free(c->param_values);
	pgw_free(c->fifo);
	pgw_free(c);
}

/* ----------------------------------------------------------------
 * Startup
 * ----------------------------------------------------------------
 */

/* Queue the StartupMessage; the connection then authenticates. */
static bool
queue_startup(pgw_conn *c)
{
	const char **params;
	size_t		n = 0;
	size_t		k = 0;
	size_t		i;

	while (c->startup_params[n] != NULL)
		n++;
	params = pgw_malloc((n + 5) * sizeof(char *));
	if (params == NULL)
	{
		conn_fail(c, "out of memory");
		return false;
	}
	params[k++] = "user";
	params[k++] = c->user;
	if (c->database != NULL)
	{
		params[k++] = "database";
		params[k++] = c->database;
	}
	for (i = 0; i < n; i++)
		params[k++] = c->startup_params[i];
	params[k] = NULL;
	pgw_enc_startup(&c->out, PGW_PROTOCOL(3, c->protocol_minor), params);
	pgw_free(params);
	if (!check_output(c))
		return false;
	c->state = PGW_CONN_AUTH;
	return true;
}

bool
pgw_conn_start(pgw_conn *c)
{
	if (c->state != PGW_CONN_NEW)
		return false;
	if (c->request_ssl)
	{
		pgw_enc_ssl_request(&c->out);
		if (!check_output(c))
			return false;
		c->state = PGW_CONN_SSL_WAIT;
		return true;
	}
	return queue_startup(c);
}

bool
pgw_conn_tls_ready(pgw_conn *c, const uint8_t *cb_data, size_t cb_len)
{
	if (c->state != PGW_CONN_TLS_HANDSHAKE)
		return false;
	if (cb_data != NULL && cb_len > 0)
	{
		c->cb_data = pgw_malloc(cb_len);
		if (c->cb_data == NULL)
		{
			conn_fail(c, "out of memory");
			return false;
		}
		memcpy(c->cb_data, cb_data, cb_len);
		c->cb_len = cb_len;
	}
	c->tls_on = true;
	return queue_startup(c);
}

bool
pgw_conn_continue_plain(pgw_conn *c)
{
	if (c->state != PGW_CONN_SSL_WAIT || !c->ssl_rejected)
		return false;
	return queue_startup(c);
}

/* ----------------------------------------------------------------
 * Input
 * ----------------------------------------------------------------
 */

/*
 * Make room for at least want bytes after in_end, moving unread bytes to
 * the front only when that is needed (so that pointers handed out with the
 * last event stay valid as long as possible).
 */
static bool
ensure_input_space(pgw_conn *c, size_t want)
{
	size_t		unread;
	size_t		newcap;
	uint8_t    *p;

	if (c->in_start == c->in_end)
	{
		c->in_start = c->in_end = 0;
		if (c->in_cap > PGW_IN_SHRINK_CAP && want <= PGW_IN_SHRINK_CAP)
		{
			/* give back the memory of an earlier huge message */
			pgw_free(c->in);
			c->in = NULL;
			c->in_cap = 0;
		}
	}
	if (c->in_cap - c->in_end >= want && c->in != NULL)
		return true;
	unread = c->in_end - c->in_start;
	if (c->in_start > 0)
	{
		memmove(c->in, c->in + c->in_start, unread);
		c->in_start = 0;
		c->in_end = unread;
		if (c->in_cap - c->in_end >= want)
			return true;
	}
	if (want > SIZE_MAX / 2 - unread)
	{
		conn_fail(c, "out of memory for input buffer");
		return false;
	}
	newcap = c->in_cap < PGW_IN_MIN_CAP ? PGW_IN_MIN_CAP : c->in_cap;
	while (newcap < unread + want)
		newcap *= 2;
	p = pgw_realloc(c->in, newcap);
	if (p == NULL)
	{
		conn_fail(c, "out of memory for input buffer");
		return false;
	}
	c->in = p;
	c->in_cap = newcap;
	return true;
}

/*
 * While the answer to SSLRequest is awaited, and until TLS is on, the
 * server must not send anything but the single answer byte: bytes that
 * came in before the handshake would otherwise be taken as if they had
 * been sent over TLS (CVE-2021-23222).
 */
static bool
input_forbidden(pgw_conn *c, size_t len)
{
	switch (c->state)
	{
		case PGW_CONN_SSL_WAIT:
			if (!c->ssl_answered && c->in_end - c->in_start + len <= 1)
				return false;
			/* FALLTHROUGH */
		case PGW_CONN_TLS_HANDSHAKE:
			conn_fail(c, "received unencrypted data after SSL response");
			return true;
		case PGW_CONN_NEW:
			conn_fail(c, "received data before the startup message was sent");
			return true;
		case PGW_CONN_FAILED:
			return true;
		default:
			return false;
	}
}

bool
pgw_conn_feed(pgw_conn *c, const uint8_t *data, size_t len)
{
	c->in_offered = 0;
	if (len == 0)
		return c->state != PGW_CONN_FAILED;
	if (c->state == PGW_CONN_CLOSED)
	{
		/* nobody is listening any more */
		c->stats.bytes_in += len;
		return true;
	}
	if (input_forbidden(c, len))
		return false;
	if (!ensure_input_space(c, len))
		return false;
	memcpy(c->in + c->in_end, data, len);
	c->in_end += len;
	c->stats.bytes_in += len;
	return true;
}

size_t
pgw_conn_input_space(pgw_conn *c, size_t want, uint8_t **ptr)
{
	size_t		need;

	c->in_offered = 0;
	*ptr = NULL;
	if (c->state == PGW_CONN_FAILED || c->state == PGW_CONN_NEW ||
		c->state == PGW_CONN_TLS_HANDSHAKE)
		return 0;
	if (c->state == PGW_CONN_SSL_WAIT)
	{
		if (c->ssl_answered || c->in_end > c->in_start)
			return 0;
		want = 1;
	}
	else
	{
		if (want == 0)
			want = PGW_IN_MIN_CAP;
		/*
		 * Room for the rest of a message whose header was checked, but
		 * only up to a point: a server must send big messages before it
		 * gets big buffers (growth is geometric anyway).
		 */
		need = c->in_need > c->in_end - c->in_start ?
			c->in_need - (c->in_end - c->in_start) : 0;
		if (need > PGW_IN_PRESIZE_MAX)
			need = PGW_IN_PRESIZE_MAX;
		if (need > want)
			want = need;
	}
	if (!ensure_input_space(c, want))
		return 0;
	*ptr = c->in + c->in_end;
	c->in_offered = c->state == PGW_CONN_SSL_WAIT ? 1 : c->in_cap - c->in_end;
	return c->in_offered;
}

void
pgw_conn_input_commit(pgw_conn *c, size_t n)
{
	if (n == 0)
		return;
	if (n > c->in_offered)
	{
		conn_fail(c, "input commit of %zu bytes exceeds the %zu bytes offered",
				  n, c->in_offered);
		c->in_offered = 0;
		return;
	}
	c->in_offered = 0;
	c->stats.bytes_in += n;
	if (c->state == PGW_CONN_CLOSED)
		return;
	c->in_end += n;
}

/* ----------------------------------------------------------------
 * Requests in flight
 * ----------------------------------------------------------------
 */

static uint64_t
current_request(const pgw_conn *c)
{
	if (c->fifo_count > 0)
		return c->fifo[c->fifo_head];
	return c->open_id;
}

static uint64_t
fifo_pop(pgw_conn *c)
{
	uint64_t	id = c->fifo[c->fifo_head];

	c->fifo_head = (c->fifo_head + 1) % c->fifo_cap;
	c->fifo_count--;
	return id;
}

/* IDLE or BUSY, according to what is in flight */
static void
settle_state(pgw_conn *c)
{
	c->state = c->fifo_count > 0 ? PGW_CONN_BUSY : PGW_CONN_IDLE;
}

/* ----------------------------------------------------------------
 * Events
 * ----------------------------------------------------------------
 */

static bool
severity_is_fatal(const pgw_error_fields *e)
{
	const char *sev = e->severity_nonlocalized ? e->severity_nonlocalized :
		e->severity;

	return sev != NULL &&
		(strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0);
}

/*
 * Report a server error that ends the connection: the event goes out and
 * the connection is FAILED behind it.
 */
static pgw_event_type
fatal_server_error(pgw_conn *c, pgw_event *ev)
{
	const pgw_error_fields *e = &ev->msg.u.error;

	if (e->message != NULL && e->message[0] != '\0')
		conn_fail(c, "%s", e->message);
	else if (e->sqlstate != NULL && e->sqlstate[0] != '\0')
		conn_fail(c, "server sent an error with SQLSTATE %s but without a message",
				  e->sqlstate);
	else
		conn_fail(c, "server sent an error without a message");
	ev->fatal = true;
	return PGW_EV_ERROR;
}

/* The answer byte to SSLRequest */
static pgw_event_type
ssl_answer(pgw_conn *c, pgw_event *ev)
{
	uint8_t		b;

	if (c->ssl_answered || c->in_end == c->in_start)
		return PGW_EV_NONE;
	b = c->in[c->in_start++];
	c->ssl_answered = true;
	switch (b)
	{
		case 'S':
			c->state = PGW_CONN_TLS_HANDSHAKE;
			ev->type = PGW_EV_SSL_ACCEPTED;
			return PGW_EV_SSL_ACCEPTED;
		case 'N':
			c->ssl_rejected = true;
			ev->type = PGW_EV_SSL_REJECTED;
			return PGW_EV_SSL_REJECTED;
		case 'E':
			conn_fail(c, "server answered the SSL request with an error");
			return PGW_EV_NONE;
		default:
			conn_fail(c, "received invalid response to SSL request: 0x%02x",
					  (unsigned) b);
			return PGW_EV_NONE;
	}
}

/* Parse "15.20 (Debian ...)", "9.6.3", "16beta1" into 150020 etc. */
static int
parse_server_version(const char *s)
{
	int			part[3] = {0, 0, 0};
	int			n = 0;

	while (n < 3)
	{
		int			v = 0;
		int			digits = 0;

		while (*s >= '0' && *s <= '9' && digits < 6)
		{
			v = v * 10 + (*s - '0');
			s++;
			digits++;
		}
		if (digits == 0)
			break;
		part[n++] = v;
		if (*s != '.')
			break;
		s++;
	}
	/* nothing sensible to say about what does not look like a version */
	if (n == 0 || part[0] > 9999 || part[1] > 9999)
		return 0;
	if (part[0] >= 10)
		return part[0] * 10000 + part[1];
	if (part[1] > 99 || part[2] > 99)
		return 0;
	return part[0] * 10000 + part[1] * 100 + part[2];
}

/* Remember a ParameterStatus value. */
static bool
store_parameter(pgw_conn *c, const char *name, const char *value)
{
	char	   *v;
	int			i;

	v = pgw_strdup(value);
	if (v == NULL)
	{
		conn_fail(c, "out of memory");
		return false;
	}
	for (i = 0; i < c->nparams; i++)
	{
		if (strcmp(c->param_names[i], name) == 0)
			break;
	}
	if (i == c->nparams)
	{
		char	   *nm;

		if (c->nparams == c->param_cap)
		{
			int			newcap = c->param_cap ? c->param_cap * 2 : 16;
			char	  **pn;
			char	  **pv;

			pn = pgw_realloc(c->param_names, newcap * sizeof(char *));
			if (pn != NULL)
				c->param_names = pn;
			pv = pn ? pgw_realloc(c->param_values, newcap * sizeof(char *)) : NULL;
			if (pv != NULL)
				c->param_values = pv;
			if (pn == NULL || pv == NULL)
			{
				pgw_free(v);
				conn_fail(c, "out of memory");
				return false;
			}
			c->param_cap = newcap;
		}
		nm = pgw_strdup(name);
		if (nm == NULL)
		{
			pgw_free(v);
			conn_fail(c, "out of memory");
			return false;
		}
		c->param_names[i] = nm;
		c->param_values[i] = NULL;
		c->nparams++;
	}
	pgw_free(c->param_values[i]);
	c->param_values[i] = v;
	if (strcmp(name, "server_version") == 0)
		c->server_version_num = parse_server_version(value);
	return true;
}

static const char *
auth_method_name(int32_t code)
{
	switch (code)
	{
		case PGW_AUTH_KERBEROS_V5:
			return "Kerberos 5";
		case PGW_AUTH_CLEARTEXT:
			return "cleartext password";
		case PGW_AUTH_MD5:
			return "MD5 password";
		case PGW_AUTH_GSS:
		case PGW_AUTH_GSS_CONTINUE:
			return "GSSAPI";
		case PGW_AUTH_SSPI:
			return "SSPI";
		case PGW_AUTH_SASL:
		case PGW_AUTH_SASL_CONTINUE:
		case PGW_AUTH_SASL_FINAL:
			return "SASL";
		default:
			return NULL;
	}
}

/* Checks shared by the password methods weaker than SCRAM. */
static bool
weak_password_allowed(pgw_conn *c, int32_t code)
{
	if (c->password_sent)
	{
		conn_fail(c, "server requested %s authentication after a password was already sent",
				  auth_method_name(code));
		return false;
	}
	if (c->require_scram)
	{
		conn_fail(c, "server requested %s authentication, but SCRAM authentication is required",
				  auth_method_name(code));
		return false;
	}
	if (c->channel_binding == PGW_CB_REQUIRE)
	{
		conn_fail(c, "channel binding required, but server requested %s authentication",
				  auth_method_name(code));
		return false;
	}
	if (c->password == NULL)
	{
		conn_fail(c, "server requested a password but none was supplied");
		return false;
	}
	return true;
}

/* AuthenticationSASL: choose a mechanism and send client-first. */
static bool
start_sasl(pgw_conn *c, const pgw_backend_msg *m)
{
	bool		plus_offered = false;
	bool		scram_offered = false;
	bool		use_plus;
	bool		client_supports_cb;
	const char *mech;
	const char *first;
	size_t		first_len;
	char		err[PGW_ERRMSG_LEN];
	uint16_t	i;

	if (c->password_sent)
	{
		conn_fail(c, "server requested SASL authentication after a password was already sent");
		return false;
	}
	for (i = 0; i < m->u.auth.nmechanisms; i++)
	{
		if (strcmp(m->u.auth.mechanisms[i], PGW_SCRAM_PLUS_MECH) == 0)
			plus_offered = true;
		else if (strcmp(m->u.auth.mechanisms[i], PGW_SCRAM_MECH) == 0)
			scram_offered = true;
	}
	use_plus = plus_offered && c->cb_data != NULL &&
		c->channel_binding != PGW_CB_DISABLE;
	if (!use_plus && c->channel_binding == PGW_CB_REQUIRE)
	{
		if (c->cb_data == NULL)
			conn_fail(c, "channel binding required, but the connection does not use SSL");
		else
			conn_fail(c, "channel binding required, but server did not offer SCRAM-SHA-256-PLUS");
		return false;
	}
	if (!use_plus && !scram_offered)
	{
		conn_fail(c, "none of the server's SASL authentication mechanisms are supported");
		return false;
	}
	if (c->password == NULL)
	{
		conn_fail(c, "server requested a password but none was supplied");
		return false;
	}
	mech = use_plus ? PGW_SCRAM_PLUS_MECH : PGW_SCRAM_MECH;
	/* gs2 flag "y": we could bind, but the server seems not to support it */
	client_supports_cb = !use_plus && c->tls_on &&
		c->channel_binding != PGW_CB_DISABLE;
	c->scram = pgw_scram_begin("", c->password,
							   use_plus ? c->cb_data : NULL,
							   use_plus ? c->cb_len : 0,
							   client_supports_cb, c->scram_nonce, err);
	if (c->scram == NULL)
	{
		conn_fail(c, "%s", err);
		return false;
	}
	if (!pgw_scram_client_first(c->scram, &first, &first_len))
	{
		conn_fail(c, "%s", pgw_scram_errmsg(c->scram));
		return false;
	}
	pgw_enc_sasl_initial(&c->out, mech, (const uint8_t *) first,
						 (uint32_t) first_len);
	if (!check_output(c))
		return false;
	c->scram_plus = use_plus;
	c->password_sent = true;
	c->password_used = true;
	c->sasl_step = PGW_SASL_SENT_FIRST;
	return true;
}

/*
 * An Authentication message.  Returns the event to report, or PGW_EV_NONE
 * when the request was answered internally (or the connection failed).
 */
static pgw_event_type
handle_auth(pgw_conn *c, pgw_event *ev)
{
	const pgw_backend_msg *m = &ev->msg;
	int32_t		code = m->u.auth.code;

	switch (code)
	{
		case PGW_AUTH_OK:
			if (c->sasl_step != PGW_SASL_NONE &&
				c->sasl_step != PGW_SASL_VERIFIED)
			{
				conn_fail(c, "server accepted the connection before completing SCRAM authentication, so it did not prove it knows the password");
				return PGW_EV_NONE;
			}
			if (c->channel_binding == PGW_CB_REQUIRE && !c->channel_bound)
			{
				conn_fail(c, "channel binding required, but server authenticated client without channel binding");
				return PGW_EV_NONE;
			}
			if (c->require_scram && c->sasl_step != PGW_SASL_VERIFIED)
			{
				conn_fail(c, "SCRAM authentication required, but server authenticated client without it");
				return PGW_EV_NONE;
			}
			if (c->scram)
			{
				pgw_scram_free(c->scram);
				c->scram = NULL;
			}
			c->state = PGW_CONN_STARTUP;
			return PGW_EV_AUTHENTICATED;

		case PGW_AUTH_CLEARTEXT:
			if (!weak_password_allowed(c, code))
				return PGW_EV_NONE;
			pgw_enc_password(&c->out, c->password);
			if (!check_output(c))
				return PGW_EV_NONE;
			c->password_sent = true;
			c->password_used = true;
			return PGW_EV_NONE;

		case PGW_AUTH_MD5:
			{
				char		hashed[36];
				char		err[PGW_ERRMSG_LEN];

				if (!weak_password_allowed(c, code))
					return PGW_EV_NONE;
				if (m->u.auth.data_len != 4)
				{
					conn_fail(c, "invalid MD5 salt length %u",
							  (unsigned) m->u.auth.data_len);
					return PGW_EV_NONE;
				}
				if (!pgw_md5_password(c->user, c->password, m->u.auth.data,
									  hashed, err))
				{
					conn_fail(c, "%s", err);
					return PGW_EV_NONE;
				}
				pgw_enc_password(&c->out, hashed);
				memset(hashed, 0, sizeof(hashed));
				if (!check_output(c))
					return PGW_EV_NONE;
				c->password_sent = true;
				c->password_used = true;
				return PGW_EV_NONE;
			}

		case PGW_AUTH_SASL:
			start_sasl(c, m);
			return PGW_EV_NONE;

		case PGW_AUTH_SASL_CONTINUE:
			{
				const char *final;
				size_t		final_len;

				if (c->sasl_step != PGW_SASL_SENT_FIRST)
				{
					conn_fail(c, "unexpected SASL continue message");
					return PGW_EV_NONE;
				}
				if (!pgw_scram_client_final(c->scram, m->u.auth.data,
											m->u.auth.data_len,
											&final, &final_len))
				{
					conn_fail(c, "%s", pgw_scram_errmsg(c->scram));
					return PGW_EV_NONE;
				}
				pgw_enc_sasl_response(&c->out, (const uint8_t *) final,
									  (uint32_t) final_len);
				if (!check_output(c))
					return PGW_EV_NONE;
				c->sasl_step = PGW_SASL_SENT_FINAL;
				return PGW_EV_NONE;
			}

		case PGW_AUTH_SASL_FINAL:
			if (c->sasl_step != PGW_SASL_SENT_FINAL)
			{
				conn_fail(c, "unexpected SASL final message");
				return PGW_EV_NONE;
			}
			if (!pgw_scram_verify_server_final(c->scram, m->u.auth.data,
											   m->u.auth.data_len))
			{
				conn_fail(c, "%s", pgw_scram_errmsg(c->scram));
				return PGW_EV_NONE;
			}
			c->sasl_step = PGW_SASL_VERIFIED;
			if (c->scram_plus)
				c->channel_bound = true;
			return PGW_EV_NONE;

		case PGW_AUTH_KERBEROS_V5:
		case PGW_AUTH_GSS:
		case PGW_AUTH_GSS_CONTINUE:
		case PGW_AUTH_SSPI:
			conn_fail(c, "%s authentication is not supported",
					  auth_method_name(code));
			return PGW_EV_NONE;

		default:
			conn_fail(c, "authentication method %d is not supported",
					  (int) code);
			return PGW_EV_NONE;
	}
}

/* NegotiateProtocolVersion, before authentication */
static pgw_event_type
handle_negotiate(pgw_conn *c, pgw_event *ev)
{
	int32_t		v = ev->msg.u.negotiate.newest_minor;
	int			major;
	int			minor;

	if (c->negotiated)
	{
		conn_fail(c, "received NegotiateProtocolVersion twice");
		return PGW_EV_NONE;
	}
	c->negotiated = true;

	/*
	 * The field holds the newest version the server supports for the major
	 * version we asked for; servers send it as a whole version number
	 * (major << 16 | minor), but accept a bare minor too.
	 */
	if (v < 0)
	{
		conn_fail(c, "invalid protocol version %d in NegotiateProtocolVersion",
				  (int) v);
		return PGW_EV_NONE;
	}
	if (v > 0xFFFF)
	{
		major = v >> 16;
		minor = v & 0xFFFF;
	}
	else
	{
		major = 3;
		minor = v;
	}
	if (major != 3)
	{
		conn_fail(c, "server requested protocol version %d.%d, but only major version 3 is supported",
				  major, minor);
		return PGW_EV_NONE;
	}
	if (minor > c->protocol_minor)
	{
		conn_fail(c, "server requested protocol version 3.%d, higher than the requested 3.%d",
				  minor, c->protocol_minor);
		return PGW_EV_NONE;
	}
	c->protocol_minor = minor;
	return PGW_EV_NEGOTIATE_VERSION;
}

static pgw_event_type
handle_backend_key(pgw_conn *c, pgw_event *ev)
{
	const pgw_backend_msg *m = &ev->msg;
	uint8_t    *key;

	/* 4 bytes in protocol 3.0; 4 up to 256 bytes since 3.2 */
	if (c->protocol_minor < 2 ? m->u.backend_key.key_len != 4 :
		(m->u.backend_key.key_len < 4 ||
		 m->u.backend_key.key_len > PGW_MAX_CANCEL_KEY))
	{
		conn_fail(c, "invalid cancel key length %u for protocol 3.%d",
				  (unsigned) m->u.backend_key.key_len, c->protocol_minor);
		return PGW_EV_NONE;
	}
	key = pgw_malloc(m->u.backend_key.key_len);
	if (key == NULL)
	{
		conn_fail(c, "out of memory");
		return PGW_EV_NONE;
	}
	memcpy(key, m->u.backend_key.key, m->u.backend_key.key_len);
	pgw_free(c->cancel_key);
	c->cancel_key = key;
	c->cancel_key_len = m->u.backend_key.key_len;
	c->backend_pid = m->u.backend_key.pid;
	c->have_key = true;
	return PGW_EV_BACKEND_KEY;
}

static pgw_event_type
unexpected(pgw_conn *c, uint8_t type, const char *when)
{
	conn_fail(c, "unexpected %s message %s", pgw_backend_msg_name(type), when);
	return PGW_EV_NONE;
}

/* Messages before the first ReadyForQuery */
static pgw_event_type
dispatch_startup(pgw_conn *c, pgw_event *ev)
{
	uint8_t		type = ev->msg.type;

	switch (type)
	{
		case PGW_BE_AUTHENTICATION:
			if (c->state != PGW_CONN_AUTH)
				return unexpected(c, type, "after authentication completed");
			return handle_auth(c, ev);
		case PGW_BE_NEGOTIATE_VERSION:
			if (c->state != PGW_CONN_AUTH || c->password_sent)
				return unexpected(c, type, "after authentication started");
			return handle_negotiate(c, ev);
		case PGW_BE_ERROR_RESPONSE:
			return fatal_server_error(c, ev);
		case PGW_BE_NOTICE_RESPONSE:
			return PGW_EV_NOTICE;
		case PGW_BE_PARAMETER_STATUS:
			if (!store_parameter(c, ev->msg.u.parameter_status.name,
								 ev->msg.u.parameter_status.value))
				return PGW_EV_NONE;
			return PGW_EV_PARAMETER_STATUS;
		case PGW_BE_NOTIFICATION:
			return PGW_EV_NOTIFICATION;
		case PGW_BE_BACKEND_KEY_DATA:
			if (c->state != PGW_CONN_STARTUP)
				return unexpected(c, type, "before authentication completed");
			return handle_backend_key(c, ev);
		case PGW_BE_READY_FOR_QUERY:
			if (c->state != PGW_CONN_STARTUP)
				return unexpected(c, type, "before authentication completed");
			c->tx_status = ev->msg.u.ready.tx_status;
			c->stats.ready_for_query++;
			settle_state(c);
			return PGW_EV_CONNECTED;
		default:
			return unexpected(c, type, "during startup");
	}
}

/* Messages after startup */
static pgw_event_type
dispatch_ready(pgw_conn *c, pgw_event *ev)
{
	uint8_t		type = ev->msg.type;
	pgw_conn_state st = c->state;

	switch (type)
	{
		case PGW_BE_PARAMETER_STATUS:
			if (!store_parameter(c, ev->msg.u.parameter_status.name,
								 ev->msg.u.parameter_status.value))
				return PGW_EV_NONE;
			return PGW_EV_PARAMETER_STATUS;
		case PGW_BE_NOTICE_RESPONSE:
			return PGW_EV_NOTICE;
		case PGW_BE_NOTIFICATION:
			return PGW_EV_NOTIFICATION;
		case PGW_BE_ERROR_RESPONSE:
			if (severity_is_fatal(&ev->msg.u.error))
				return fatal_server_error(c, ev);
			if (ev->request_id == 0)
				return unexpected(c, type, "with no request in flight");
			if (st == PGW_CONN_COPY_IN || st == PGW_CONN_COPY_OUT ||
				st == PGW_CONN_COPY_BOTH)
				settle_state(c);
			return PGW_EV_ERROR;
		case PGW_BE_AUTHENTICATION:
		case PGW_BE_BACKEND_KEY_DATA:
		case PGW_BE_NEGOTIATE_VERSION:
			return unexpected(c, type, "after startup");
		default:
			break;
	}

	/* everything else answers a request */
	if (ev->request_id == 0)
		return unexpected(c, type, "with no request in flight");

	switch (type)
	{
		case PGW_BE_READY_FOR_QUERY:
			if (c->fifo_count == 0)
				return unexpected(c, type, "before the request was ended with Sync");
			if (st != PGW_CONN_BUSY)
				return unexpected(c, type, "during COPY");
			fifo_pop(c);
			c->tx_status = ev->msg.u.ready.tx_status;
			c->stats.ready_for_query++;
			settle_state(c);
			return PGW_EV_READY;
		case PGW_BE_COPY_DATA:
			if (st != PGW_CONN_COPY_OUT && st != PGW_CONN_COPY_BOTH)
				return unexpected(c, type, "outside COPY OUT");
			return PGW_EV_COPY_DATA;
		case PGW_BE_COPY_DONE:
			if (st == PGW_CONN_COPY_OUT)
				settle_state(c);
			else if (st == PGW_CONN_COPY_BOTH)
				c->state = PGW_CONN_COPY_IN;
			else
				return unexpected(c, type, "outside COPY OUT");
			return PGW_EV_COPY_DONE;
		default:
			break;
	}

	/* results of a statement: not while a COPY is running */
	if (st != PGW_CONN_BUSY && st != PGW_CONN_IDLE)
		return unexpected(c, type, "during COPY");

	switch (type)
	{
		case PGW_BE_COPY_IN_RESPONSE:
			c->state = PGW_CONN_COPY_IN;
			return PGW_EV_COPY_IN;
		case PGW_BE_COPY_OUT_RESPONSE:
			c->state = PGW_CONN_COPY_OUT;
			return PGW_EV_COPY_OUT;
		case PGW_BE_COPY_BOTH_RESPONSE:
			c->state = PGW_CONN_COPY_BOTH;
			return PGW_EV_COPY_BOTH;
		case PGW_BE_ROW_DESCRIPTION:
			return PGW_EV_ROW_DESCRIPTION;
		case PGW_BE_PARAMETER_DESC:
			return PGW_EV_PARAMETER_DESCRIPTION;
		case PGW_BE_NO_DATA:
			return PGW_EV_NO_DATA;
		case PGW_BE_DATA_ROW:
			return PGW_EV_DATA_ROW;
		case PGW_BE_COMMAND_COMPLETE:
			return PGW_EV_COMMAND_COMPLETE;
		case PGW_BE_EMPTY_QUERY:
			return PGW_EV_EMPTY_QUERY;
		case PGW_BE_PORTAL_SUSPENDED:
			return PGW_EV_PORTAL_SUSPENDED;
		case PGW_BE_PARSE_COMPLETE:
			return PGW_EV_PARSE_COMPLETE;
		case PGW_BE_BIND_COMPLETE:
			return PGW_EV_BIND_COMPLETE;
		case PGW_BE_CLOSE_COMPLETE:
			return PGW_EV_CLOSE_COMPLETE;
		case PGW_BE_FUNCTION_CALL_RESP:
			return PGW_EV_FUNCTION_CALL_RESULT;
		default:
			return unexpected(c, type, "after startup");
	}
}

/*
 * Find the next complete message in the input buffer.  Returns 1 with the
 * message's type and body, 0 when more input is needed, -1 on a framing
 * error (the connection has failed).  The type and length are checked as
 * soon as they arrive, before anything is read or allocated for the body.
 */
static int
next_frame(pgw_conn *c, uint8_t *type, const uint8_t **body, uint32_t *len)
{
	size_t		avail = c->in_end - c->in_start;
	const uint8_t *p;
	uint32_t	mlen;
	uint32_t	limit;

	if (avail < 1)
		return 0;
	p = c->in + c->in_start;
	limit = pgw_backend_msg_limit(p[0], &c->limits);
	if (limit == 0)
	{
		conn_fail(c, "unknown message type 0x%02x", (unsigned) p[0]);
		return -1;
	}
	if (avail < 5)
		return 0;
	mlen = pgw_get_u32(p + 1);
	if (mlen < 4)
	{
		conn_fail(c, "invalid length %u in %s message", (unsigned) mlen,
				  pgw_backend_msg_name(p[0]));
		return -1;
	}
	if (mlen - 4 > limit)
	{
		conn_fail(c, "%s message too large (%u bytes, limit %u)",
				  pgw_backend_msg_name(p[0]), (unsigned) (mlen - 4),
				  (unsigned) limit);
		return -1;
	}
	if (avail - 1 < (size_t) mlen)
	{
		c->in_need = (size_t) mlen + 1;
		return 0;
	}
	c->in_need = 0;
	*type = p[0];
	*body = p + 5;
	*len = mlen - 4;
	c->in_start += (size_t) mlen + 1;
	return 1;
}

pgw_event_type
pgw_conn_next_event(pgw_conn *c, pgw_event *ev)
{
	/*
	 * Nearly every message of a large result is a DataRow answering a
	 * request: take a complete one that decodes cleanly without clearing
	 * the whole event.  Anything else, and any DataRow the checks below
	 * would fail or hold back (incomplete, too large, malformed, no
	 * request in flight), goes the general way, which reports it.
	 */
	if (c->state == PGW_CONN_BUSY || c->state == PGW_CONN_IDLE)
	{
		size_t		avail = c->in_end - c->in_start;
		const uint8_t *p = c->in + c->in_start;

		if (avail >= 5 && p[0] == PGW_BE_DATA_ROW)
		{
			uint32_t	mlen = pgw_get_u32(p + 1);
			uint64_t	id = current_request(c);

			if (mlen >= 4 && avail - 1 >= (size_t) mlen && id != 0 &&
				pgw_decode_data_row(p + 5, mlen - 4, &c->limits, &c->scratch,
									&ev->msg))
			{
				c->in_need = 0;
				c->in_start += (size_t) mlen + 1;
				c->stats.messages_in++;
				ev->type = PGW_EV_DATA_ROW;
				ev->request_id = id;
				ev->fatal = false;
				return PGW_EV_DATA_ROW;
			}
		}
	}

	memset(ev, 0, sizeof(pgw_event));

	for (;;)
	{
		uint8_t		type;
		const uint8_t *body;
		uint32_t	len;
		char		err[PGW_ERRMSG_LEN];
		pgw_event_type t;

		switch (c->state)
		{
			case PGW_CONN_SSL_WAIT:
				return ssl_answer(c, ev);
			case PGW_CONN_NEW:
			case PGW_CONN_TLS_HANDSHAKE:
			case PGW_CONN_FAILED:
			case PGW_CONN_CLOSED:
				return PGW_EV_NONE;
			default:
				break;
		}

		if (next_frame(c, &type, &body, &len) <= 0)
			return PGW_EV_NONE;
		c->stats.messages_in++;
		if (!pgw_decode_backend(type, body, len, &c->limits, &c->scratch,
								&ev->msg, err))
		{
			conn_fail(c, "%s", err);
			memset(ev, 0, sizeof(pgw_event));
			return PGW_EV_NONE;
		}

		if (c->state == PGW_CONN_AUTH || c->state == PGW_CONN_STARTUP)
			t = dispatch_startup(c, ev);
		else
		{
			ev->request_id = current_request(c);
			t = dispatch_ready(c, ev);
		}
		if (t != PGW_EV_NONE)
		{
			ev->type = t;
			return t;
		}
		if (c->state == PGW_CONN_FAILED)
		{
			memset(ev, 0, sizeof(pgw_event));
			return PGW_EV_NONE;
		}
		/* answered internally (authentication): look at the next one */
		memset(ev, 0, sizeof(pgw_event));
	}
}

size_t
pgw_conn_copy_out_take(pgw_conn *c, pgw_copy_data_fn fn, void *arg, size_t max)
{
	uint32_t	limit = pgw_backend_msg_limit('d', &c->limits);
	size_t		taken = 0;

	if (c->state != PGW_CONN_COPY_OUT && c->state != PGW_CONN_COPY_BOTH)
		return 0;
	while (taken < max)
	{
		size_t		avail = c->in_end - c->in_start;
		const uint8_t *p = c->in + c->in_start;
		uint32_t	mlen;

		if (avail < 5 || p[0] != 'd')
			break;
		mlen = pgw_get_u32(p + 1);
		/* bad lengths and partial messages are next_frame's to handle */
		if (mlen < 4 || mlen - 4 > limit || avail - 1 < (size_t) mlen)
			break;
		c->in_start += (size_t) mlen + 1;
		c->stats.messages_in++;
		taken += mlen - 4;
		fn(arg, p + 5, mlen - 4);
	}
	return taken;
}

/* ----------------------------------------------------------------
 * Output
 * ----------------------------------------------------------------
 */

size_t
pgw_conn_output(pgw_conn *c, const uint8_t **data)
{
	size_t		n = c->out.len;

	*data = NULL;
	/* after an encoding failure the buffer holds nothing trustworthy */
	if (c->out.failed)
		return 0;
	/* a Bind still being written is not ready to go */
	if (c->out.msg_start != SIZE_MAX && c->out.msg_start < n)
		n = c->out.msg_start;
	*data = c->out.data;
	return n;
}

void
pgw_conn_output_done(pgw_conn *c, size_t n)
{
	size_t		avail;
	const uint8_t *dummy;

	avail = pgw_conn_output(c, &dummy);
	if (n > avail)
		n = avail;
	if (n == 0)
		return;
	pgw_wb_consume(&c->out, n);
	/* offsets into the output move with it */
	if (c->in_bind)
		c->bind_mark -= n;
	c->stats.bytes_out += n;
}

/* ----------------------------------------------------------------
 * State
 * ----------------------------------------------------------------
 */

pgw_conn_state
pgw_conn_get_state(const pgw_conn *c)
{
	return c->state;
}

const char *
pgw_conn_errmsg(const pgw_conn *c)
{
	return c->errmsg;
}

uint8_t
pgw_conn_tx_status(const pgw_conn *c)
{
	return c->tx_status;
}

uint32_t
pgw_conn_inflight(const pgw_conn *c)
{
	return c->fifo_count;
}

uint32_t
pgw_conn_buffered_ready(const pgw_conn *c)
{
	size_t		pos = c->in_start;
	uint32_t	n = 0;

	/* walk the headers of complete messages; nothing is decoded */
	while (c->in_end - pos >= 5)
	{
		uint32_t	len = pgw_get_u32(c->in + pos + 1);

		if (len < 4 || c->in_end - pos - 1 < len)
			break;
		if (c->in[pos] == PGW_BE_READY_FOR_QUERY)
			n++;
		pos += 1 + (size_t) len;
	}
	return n;
}

bool
pgw_conn_password_used(const pgw_conn *c)
{
	return c->password_used;
}

bool
pgw_conn_channel_bound(const pgw_conn *c)
{
	return c->channel_bound;
}

const char *
pgw_conn_parameter(const pgw_conn *c, const char *name)
{
	int			i;

	for (i = 0; i < c->nparams; i++)
	{
		if (strcmp(c->param_names[i], name) == 0)
			return c->param_values[i];
	}
	return NULL;
}

int
pgw_conn_server_version_num(const pgw_conn *c)
{
	return c->server_version_num;
}

int32_t
pgw_conn_backend_pid(const pgw_conn *c)
{
	return c->backend_pid;
}

bool
pgw_conn_cancel_key(const pgw_conn *c, int32_t *pid, const uint8_t **key,
					uint32_t *key_len)
{
	if (!c->have_key)
		return false;
	if (pid)
		*pid = c->backend_pid;
	if (key)
		*key = c->cancel_key;
	if (key_len)
		*key_len = c->cancel_key_len;
	return true;
}

int
pgw_conn_protocol_minor(const pgw_conn *c)
{
	return c->protocol_minor;
}

const pgw_conn_stats *
pgw_conn_get_stats(const pgw_conn *c)
{
	return &c->stats;
}

/* ----------------------------------------------------------------
 * Requests
 * ----------------------------------------------------------------
 */

/* Can a new message be queued? */
static bool
can_request(const pgw_conn *c)
{
	return (c->state == PGW_CONN_IDLE || c->state == PGW_CONN_BUSY) &&
		!c->in_bind;
}

/*
 * Make sure one more request can be put in flight: within max_inflight,
 * and with room in the FIFO allocated beforehand, so that a message once
 * written is always tracked.
 */
static bool
reserve_request(pgw_conn *c)
{
	if (c->fifo_count >= c->limits.max_inflight)
		return false;
	if (c->fifo_count == c->fifo_cap)
	{
		uint32_t	newcap;
		uint64_t   *p;
		uint32_t	i;

		newcap = c->fifo_cap < PGW_FIFO_MIN_CAP ? PGW_FIFO_MIN_CAP :
			c->fifo_cap * 2;
		if (newcap > c->limits.max_inflight)
			newcap = c->limits.max_inflight;
		p = pgw_malloc((size_t) newcap * sizeof(uint64_t));
		if (p == NULL)
			return false;
		for (i = 0; i < c->fifo_count; i++)
			p[i] = c->fifo[(c->fifo_head + i) % c->fifo_cap];
		pgw_free(c->fifo);
		c->fifo = p;
		c->fifo_cap = newcap;
		c->fifo_head = 0;
	}
	return true;
}

/*
 * After encoding a request message that started at offset mark of the
 * output buffer: if the encoder failed (out of memory, message too long),
 * take the partial message back out.  The request fails, the connection
 * stays usable.
 */
static bool
encoded(pgw_conn *c, size_t mark)
{
	if (!c->out.failed)
		return true;
	c->out.len = mark;
	c->out.msg_start = SIZE_MAX;
	c->out.failed = false;
	return false;
}

/*
 * A message that belongs to a request still to be ended by Sync: the
 * request gets its id now, so that answers that come back early (after a
 * Flush) already map to it.
 */
static bool
open_request(pgw_conn *c)
{
	if (!can_request(c))
		return false;
	if (c->open_id == 0)
	{
		if (!reserve_request(c))
			return false;
		c->open_id = c->next_id++;
	}
	return true;
}

/* Put the open request (or a new one) in flight: its last message is out */
static uint64_t
end_request(pgw_conn *c)
{
	uint64_t	id;

	id = c->open_id ? c->open_id : c->next_id++;
	c->fifo[(c->fifo_head + c->fifo_count) % c->fifo_cap] = id;
	c->fifo_count++;
	c->open_id = 0;
	c->stats.requests++;
	c->state = PGW_CONN_BUSY;
	return id;
}

uint64_t
pgw_conn_query(pgw_conn *c, const char *sql)
{
	size_t		mark = c->out.len;

	if (!can_request(c) || sql == NULL || !reserve_request(c))
		return 0;
	pgw_enc_query(&c->out, sql);
	if (!encoded(c, mark))
		return 0;
	return end_request(c);
}

uint64_t
pgw_conn_sync(pgw_conn *c)
{
	size_t		mark = c->out.len;

	if (!can_request(c) || !reserve_request(c))
		return 0;
	pgw_enc_sync(&c->out);
	if (!encoded(c, mark))
		return 0;
	return end_request(c);
}

bool
pgw_conn_parse(pgw_conn *c, const char *stmt, const char *sql,
			   uint16_t nparams, const uint32_t *param_oids)
{
	size_t		mark = c->out.len;

	/* param_oids NULL: every parameter type left to the server */
	if (sql == NULL)
		return false;
	if (!open_request(c))
		return false;
	pgw_enc_parse(&c->out, stmt ? stmt : "", sql, nparams, param_oids);
	return encoded(c, mark);
}

bool
pgw_conn_bind_begin(pgw_conn *c, const char *portal, const char *stmt,
					uint16_t nformats, const int16_t *formats,
					uint16_t nparams)
{
	size_t		mark = c->out.len;

	if (nformats > 0 && formats == NULL)
		return false;
	if (!open_request(c))
		return false;
	pgw_enc_bind_begin(&c->out, portal ? portal : "", stmt ? stmt : "",
					   nformats, formats, nparams);
	if (!encoded(c, mark))
		return false;
	c->in_bind = true;
	c->bind_mark = mark;
	c->bind_nparams = nparams;
	c->bind_given = 0;
	return true;
}

/* A Bind that could not be encoded is dropped whole */
static bool
bind_encoded(pgw_conn *c)
{
	if (!c->out.failed)
		return true;
	encoded(c, c->bind_mark);
	c->in_bind = false;
	return false;
}

bool
pgw_conn_bind_param(pgw_conn *c, const void *data, int32_t len)
{
	if (!c->in_bind || c->state == PGW_CONN_FAILED ||
		c->bind_given >= c->bind_nparams || len < -1 ||
		(len > 0 && data == NULL))
		return false;
	pgw_enc_bind_param(&c->out, data, len);
	if (!bind_encoded(c))
		return false;
	c->bind_given++;
	return true;
}

bool
pgw_conn_bind_end(pgw_conn *c, uint16_t nresult_formats,
				  const int16_t *result_formats)
{
	if (!c->in_bind || c->state == PGW_CONN_FAILED ||
		c->bind_given != c->bind_nparams ||
		(nresult_formats > 0 && result_formats == NULL))
		return false;
	pgw_enc_bind_end(&c->out, nresult_formats, result_formats);
	if (!bind_encoded(c))
		return false;
	c->in_bind = false;
	return true;
}

bool
pgw_conn_describe(pgw_conn *c, char kind, const char *name)
{
	size_t		mark = c->out.len;

	if (kind != 'S' && kind != 'P')
		return false;
	if (!open_request(c))
		return false;
	pgw_enc_describe(&c->out, kind, name ? name : "");
	return encoded(c, mark);
}

bool
pgw_conn_execute(pgw_conn *c, const char *portal, int32_t max_rows)
{
	size_t		mark = c->out.len;

	if (max_rows < 0)
		return false;
	if (!open_request(c))
		return false;
	pgw_enc_execute(&c->out, portal ? portal : "", max_rows);
	return encoded(c, mark);
}

bool
pgw_conn_close(pgw_conn *c, char kind, const char *name)
{
	size_t		mark = c->out.len;

	if (kind != 'S' && kind != 'P')
		return false;
	if (!open_request(c))
		return false;
	pgw_enc_close(&c->out, kind, name ? name : "");
	return encoded(c, mark);
}

bool
pgw_conn_flush(pgw_conn *c)
{
	size_t		mark = c->out.len;

	if (!can_request(c))
		return false;
	pgw_enc_flush(&c->out);
	return encoded(c, mark);
}

bool
pgw_conn_copy_data(pgw_conn *c, const void *data, uint32_t len)
{
	size_t		mark = c->out.len;

	if (c->state != PGW_CONN_COPY_IN && c->state != PGW_CONN_COPY_BOTH)
		return false;
	if (len > 0 && data == NULL)
		return false;
	pgw_enc_copy_data(&c->out, data, len);
	return encoded(c, mark);
}

bool
pgw_conn_copy_done(pgw_conn *c)
{
	size_t		mark = c->out.len;

	if (c->state != PGW_CONN_COPY_IN && c->state != PGW_CONN_COPY_BOTH)
		return false;
	pgw_enc_copy_done(&c->out);
	if (!encoded(c, mark))
		return false;
	if (c->state == PGW_CONN_COPY_BOTH)
		c->state = PGW_CONN_COPY_OUT;
	else
		settle_state(c);
	return true;
}

bool
pgw_conn_copy_fail(pgw_conn *c, const char *reason)
{
	size_t		mark = c->out.len;

	if (c->state != PGW_CONN_COPY_IN && c->state != PGW_CONN_COPY_BOTH)
		return false;
	pgw_enc_copy_fail(&c->out, reason ? reason : "");
	if (!encoded(c, mark))
		return false;
	settle_state(c);
	return true;
}

void
pgw_conn_terminate(pgw_conn *c)
{
	switch (c->state)
	{
		case PGW_CONN_FAILED:
		case PGW_CONN_CLOSED:
			return;
		case PGW_CONN_NEW:
		case PGW_CONN_SSL_WAIT:
		case PGW_CONN_TLS_HANDSHAKE:
			/* no session to end yet */
			break;
		default:
			if (c->in_bind)
			{
				/* drop the unfinished Bind */
				c->out.len = c->bind_mark;
				c->out.msg_start = SIZE_MAX;
				c->in_bind = false;
			}
			pgw_enc_terminate(&c->out);
			break;
	}
	c->state = PGW_CONN_CLOSED;
	c->in_start = c->in_end = 0;
	c->in_need = 0;
	if (c->scram)
	{
		pgw_scram_free(c->scram);
		c->scram = NULL;
	}
}

bool
pgw_conn_cancel_packet(const pgw_conn *c, pgw_wbuf *wb)
{
	if (!c->have_key)
		return false;
	pgw_enc_cancel_request(wb, c->backend_pid, c->cancel_key,
						   c->cancel_key_len);
	return !wb->failed;
}
