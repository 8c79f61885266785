/*-------------------------------------------------------------------------
 *
 * driver.c
 *	  The driver: sockets, non-blocking connects, TLS plumbing, the one
 *	  WaitEventSet of the backend, deadlines and cancellation.
 *
 * See driver.h for the contract.  Connections live in a backend-wide list;
 * the WaitEventSet holds MyLatch, postmaster death and every live socket,
 * and is rebuilt lazily whenever a socket opens or closes.  Every socket
 * always waits for readability, so input of connections nobody is waiting
 * on (notifications, a server closing an idle connection) is taken in and
 * never makes the wait spin.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "access/xact.h"
#include "lib/ilist.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "pgtime.h"

#include "compat.h"
#include "pgasync.h"
#include "driver.h"
#include "tls/pgw_tls.h"

#define PGA_READ_CHUNK		(128 * 1024)
#define PGA_CIPHER_CHUNK	(64 * 1024)
#define PGA_MAX_ADDRS		16
#define PGA_MAX_WAIT_EVENTS 64

/* Busy-poll for an answer this long before sleeping (small sets only) */
#define PGA_SPIN_USEC		40
#define PGA_SPIN_MAX_CONNS	4

typedef struct PgaAddr
{
	struct sockaddr_storage addr;
	socklen_t	len;
} PgaAddr;

struct PgaConn
{
	MemoryContext mcxt;
	char	   *label;
	PgaTarget	target;
	PgaConnPhase phase;
	PgaFailure	failure;
	bool		broken_reported;
	char		errmsg[1024];
	void	   *owner_data;
	dlist_node	node;
	int			nest_level;		/* transaction nesting level of the latest work */
	uint64		xact_gen;		/* ... and the local transaction it belongs to */
	bool		read_paused;	/* backpressure: do not read the socket */
	bool		send_full;		/* the socket took less than offered; the
								 * event loop sends again once it is
								 * writable */

	/* socket */
	pgsocket	sock;
	bool		fd_acquired;
	int			wes_pos;
	uint32		wes_events;
	bool		eof;

	/* connection attempts */
	int			host_index;
	PgaAddr		addrs[PGA_MAX_ADDRS];
	int			naddrs;
	int			addr_index;
	bool		socket_connecting;
	bool		ssl_attempt;
	bool		ssl_retry_done;
	bool		in_ssl_phase;	/* failure now is an SSL failure */
	int			tsa_pass;
	TimestampTz attempt_deadline;
	StringInfoData attempt_errors;
	const char **startup_params;
	char		host_shown[NI_MAXHOST];
	int			port;

	/* protocol and TLS */
	pgw_conn   *proto;
	pgw_tls    *tls;
	bool		tls_handshaking;
	uint8	   *cipher_out;
	size_t		cipher_out_len;
	size_t		cipher_out_cap;
};

static dlist_head pga_conns = DLIST_STATIC_INIT(pga_conns);
static int	pga_nconns = 0;
static WaitEventSet *pga_wes = NULL;
static bool pga_wes_stale = true;
static bool pga_in_cleanup = false;

/* Counts local transactions, so work can be tied to the one that sent it. */
static uint64 pga_xact_generation = 1;

static void conn_start_next_attempt(PgaConn *c);
static void conn_attempt_failed(PgaConn *c, const char *fmt,...) pg_attribute_printf(2, 3);
static void conn_mark_broken(PgaConn *c, PgaFailure failure, const char *fmt,...) pg_attribute_printf(3, 4);
static void conn_release_socket(PgaConn *c);
static void conn_service(PgaConn *c, bool readable, bool writable);
static bool conn_send_pending(PgaConn *c);

/* ----------------------------------------------------------------
 * Small helpers
 * ----------------------------------------------------------------
 */

static bool
conn_ssl_wanted_first(PgaConn *c, bool is_unix)
{
	pgw_sslmode mode = c->target.dsn->sslmode;

	/* Like libpq, never negotiate TLS over Unix-domain sockets. */
	if (is_unix)
		return false;
	return mode != PGW_SSL_DISABLE && mode != PGW_SSL_ALLOW;
}

static const char *
dsn_value(PgaConn *c, pgw_dsn_key key)
{
	return c->target.dsn->values[key];
}

static void
conn_set_wes_stale(void)
{
	pga_wes_stale = true;
}

/*
 * Build the startup parameters: connection settings first, then the
 * user's server_settings, then the settings pgasync pins so that the text
 * format of values is the one the local input functions expect (later
 * entries win on the server).
 */
static void
conn_build_startup_params(PgaConn *c)
{
	List	   *params = NIL;
	ListCell   *lc;
	const char *appname;
	int			n;
	int			i;

	appname = dsn_value(c, PGW_DSN_APPLICATION_NAME);
	if (appname == NULL)
		appname = dsn_value(c, PGW_DSN_FALLBACK_APPLICATION_NAME);
	if (appname == NULL && pgasync_application_name != NULL)
		appname = pgasync_application_name;
	if (appname != NULL && appname[0] != '\0')
		params = lappend(lappend(params, pstrdup("application_name")), pstrdup(appname));
	if (dsn_value(c, PGW_DSN_OPTIONS) != NULL)
		params = lappend(lappend(params, pstrdup("options")),
						 pstrdup(dsn_value(c, PGW_DSN_OPTIONS)));
	foreach(lc, c->target.opts.server_settings)
		params = lappend(params, pstrdup((char *) lfirst(lc)));
	params = lappend(lappend(params, pstrdup("DateStyle")), pstrdup("ISO"));
	params = lappend(lappend(params, pstrdup("IntervalStyle")), pstrdup("postgres"));
	params = lappend(lappend(params, pstrdup("extra_float_digits")), pstrdup("3"));
	params = lappend(lappend(params, pstrdup("bytea_output")), pstrdup("hex"));
	params = lappend(lappend(params, pstrdup("TimeZone")),
					 pstrdup(pg_get_timezone_name(session_timezone)));
	params = lappend(lappend(params, pstrdup("client_encoding")),
					 pstrdup(GetDatabaseEncodingName()));

	n = list_length(params);
	c->startup_params = palloc((n + 1) * sizeof(char *));
	i = 0;
	foreach(lc, params)
		c->startup_params[i++] = lfirst(lc);
	c->startup_params[i] = NULL;
}

/* ----------------------------------------------------------------
 * Opening and closing
 * ----------------------------------------------------------------
 */

PgaConn *
PgaConnOpen(PgaTarget *target, const char *label)
{
	MemoryContext mcxt;
	MemoryContext oldcxt;
	PgaConn    *c;
	ListCell   *lc;

	mcxt = AllocSetContextCreate(TopMemoryContext, "pgasync connection",
								 ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(mcxt);
	c = palloc0(sizeof(PgaConn));
	c->mcxt = mcxt;
	c->label = pstrdup(label);
	c->target = *target;
	c->target.display_name = pstrdup(target->display_name ? target->display_name : label);
	c->target.opts.server_settings = NIL;
	foreach(lc, target->opts.server_settings)
		c->target.opts.server_settings =
			lappend(c->target.opts.server_settings, pstrdup(lfirst(lc)));
	target->dsn = NULL;			/* taken over */
	c->sock = PGINVALID_SOCKET;
	c->wes_pos = -1;
	c->phase = PGA_PHASE_CONNECTING;
	c->nest_level = GetCurrentTransactionNestLevel();
	c->xact_gen = pga_xact_generation;
	initStringInfo(&c->attempt_errors);
	conn_build_startup_params(c);
	MemoryContextSwitchTo(oldcxt);

	dlist_push_tail(&pga_conns, &c->node);
	pga_nconns++;

	c->host_index = -1;
	conn_start_next_attempt(c);
	return c;
}

/* Free the protocol objects and socket of the current attempt. */
static void
conn_release_socket(PgaConn *c)
{
	if (c->tls)
	{
		pgw_tls_free(c->tls);
		c->tls = NULL;
	}
	c->tls_handshaking = false;
	c->cipher_out_len = 0;
	if (c->sock != PGINVALID_SOCKET)
	{
		closesocket(c->sock);
		c->sock = PGINVALID_SOCKET;
		conn_set_wes_stale();
	}
	if (c->fd_acquired)
	{
		ReleaseExternalFD();
		c->fd_acquired = false;
	}
	c->wes_pos = -1;
	c->socket_connecting = false;
	c->eof = false;
}

void
PgaConnClose(PgaConn *c)
{
	if (c == NULL)
		return;

	/* Say goodbye politely if the connection is healthy and idle. */
	if (c->phase == PGA_PHASE_READY && c->proto != NULL && c->sock != PGINVALID_SOCKET &&
		pgw_conn_get_state(c->proto) == PGW_CONN_IDLE)
	{
		pgw_conn_terminate(c->proto);
		(void) conn_send_pending(c);
	}
	conn_release_socket(c);
	if (c->proto)
	{
		pgw_conn_free(c->proto);
		c->proto = NULL;
	}
	if (c->cipher_out)
		pfree(c->cipher_out);
	if (c->target.dsn)
		pgw_dsn_free(c->target.dsn);
	dlist_delete(&c->node);
	pga_nconns--;
	MemoryContextDelete(c->mcxt);
}

static void
conn_mark_broken(PgaConn *c, PgaFailure failure, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
	c->phase = PGA_PHASE_BROKEN;
	c->failure = failure;
	conn_release_socket(c);
}

/* ----------------------------------------------------------------
 * Connection attempts: hosts, addresses, TLS fallbacks
 * ----------------------------------------------------------------
 */

/* Resolve the current host into c->addrs; false with an error noted. */
static bool
conn_resolve_host(PgaConn *c)
{
	pgw_dsn_host *h = &c->target.dsn->hosts[c->host_index];

	c->naddrs = 0;
	c->addr_index = 0;
	c->port = h->port;
	if (h->is_unix)
	{
		struct sockaddr_un *un = (struct sockaddr_un *) &c->addrs[0].addr;
		int			len;

		memset(un, 0, sizeof(*un));
		un->sun_family = AF_UNIX;
		len = snprintf(un->sun_path, sizeof(un->sun_path), "%s/.s.PGSQL.%d",
					   h->host, h->port);
		if (len >= (int) sizeof(un->sun_path))
		{
			appendStringInfo(&c->attempt_errors,
							 "%sUnix-domain socket path \"%s/.s.PGSQL.%d\" is too long",
							 c->attempt_errors.len ? "; " : "", h->host, h->port);
			return false;
		}
		if (h->host[0] == '@')
			un->sun_path[0] = '\0';	/* abstract namespace */
		c->addrs[0].len = offsetof(struct sockaddr_un, sun_path) + len + 1;
		c->naddrs = 1;
		strlcpy(c->host_shown, h->host, sizeof(c->host_shown));
	}
	else
	{
		struct addrinfo hints;
		struct addrinfo *res = NULL;
		struct addrinfo *ai;
		char		portstr[16];
		const char *node = h->hostaddr ? h->hostaddr : h->host;
		int			rc;

		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_family = AF_UNSPEC;
		if (h->hostaddr)
			hints.ai_flags = AI_NUMERICHOST;
		snprintf(portstr, sizeof(portstr), "%d", h->port);
		strlcpy(c->host_shown, h->host ? h->host : h->hostaddr, sizeof(c->host_shown));
		rc = getaddrinfo(node, portstr, &hints, &res);
		if (rc != 0)
		{
			appendStringInfo(&c->attempt_errors,
							 "%scould not translate host name \"%s\" to address: %s",
							 c->attempt_errors.len ? "; " : "", node, gai_strerror(rc));
			return false;
		}
		for (ai = res; ai != NULL && c->naddrs < PGA_MAX_ADDRS; ai = ai->ai_next)
		{
			if (ai->ai_addrlen > sizeof(struct sockaddr_storage))
				continue;
			memcpy(&c->addrs[c->naddrs].addr, ai->ai_addr, ai->ai_addrlen);
			c->addrs[c->naddrs].len = ai->ai_addrlen;
			c->naddrs++;
		}
		freeaddrinfo(res);
	}
	return c->naddrs > 0;
}

static bool
conn_is_unix(PgaConn *c)
{
	return c->target.dsn->hosts[c->host_index].is_unix;
}

/*
 * Open a socket to the current address and start a non-blocking connect.
 * False (error noted) when that fails at once.
 */
static bool
conn_start_socket(PgaConn *c)
{
	PgaAddr    *a = &c->addrs[c->addr_index];
	int			family = a->addr.ss_family;
	int			on = 1;

	if (!AcquireExternalFD())
	{
		appendStringInfo(&c->attempt_errors,
						 "%scould not open a socket: too many open files in this backend",
						 c->attempt_errors.len ? "; " : "");
		return false;
	}
	c->fd_acquired = true;
	c->send_full = false;
	c->sock = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->sock == PGINVALID_SOCKET)
	{
		appendStringInfo(&c->attempt_errors, "%scould not create socket: %m",
						 c->attempt_errors.len ? "; " : "");
		ReleaseExternalFD();
		c->fd_acquired = false;
		return false;
	}
	conn_set_wes_stale();
	if (!pg_set_noblock(c->sock))
	{
		appendStringInfo(&c->attempt_errors, "%scould not set socket to non-blocking mode: %m",
						 c->attempt_errors.len ? "; " : "");
		conn_release_socket(c);
		return false;
	}
	if (family != AF_UNIX)
	{
		(void) setsockopt(c->sock, IPPROTO_TCP, TCP_NODELAY, (char *) &on, sizeof(on));
		(void) setsockopt(c->sock, SOL_SOCKET, SO_KEEPALIVE, (char *) &on, sizeof(on));
	}
	if (connect(c->sock, (struct sockaddr *) &a->addr, a->len) < 0)
	{
		if (errno == EINPROGRESS || errno == EINTR || errno == EAGAIN)
		{
			c->socket_connecting = true;
			return true;
		}
		if (family == AF_UNIX)
			appendStringInfo(&c->attempt_errors,
							 "%sconnection to server on socket \"%s/.s.PGSQL.%d\" failed: %m",
							 c->attempt_errors.len ? "; " : "", c->host_shown, c->port);
		else
			appendStringInfo(&c->attempt_errors,
							 "%sconnection to server at \"%s\", port %d failed: %m",
							 c->attempt_errors.len ? "; " : "", c->host_shown, c->port);
		conn_release_socket(c);
		return false;
	}
	c->socket_connecting = false;
	return true;
}

/* The socket is connected: start the protocol. */
static void
conn_start_protocol(PgaConn *c)
{
	pgw_conn_config cfg;
	char		errbuf[PGW_ERRMSG_LEN];
	pgw_dsn    *dsn = c->target.dsn;

	if (c->proto)
	{
		pgw_conn_free(c->proto);
		c->proto = NULL;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.user = dsn->values[PGW_DSN_USER];
	cfg.database = dsn->values[PGW_DSN_DBNAME];
	cfg.password = dsn->values[PGW_DSN_PASSWORD];
	cfg.startup_params = c->startup_params;
	cfg.protocol_minor = 0;
	cfg.request_ssl = c->ssl_attempt;
	cfg.channel_binding = (pgw_channel_binding) dsn->channel_binding;
	c->proto = pgw_conn_create(&cfg, errbuf);
	if (c->proto == NULL || !pgw_conn_start(c->proto))
	{
		conn_attempt_failed(c, "%s", c->proto ? pgw_conn_errmsg(c->proto) : errbuf);
		return;
	}
	c->in_ssl_phase = c->ssl_attempt;
	(void) conn_send_pending(c);
}

/*
 * Move on to the next thing to try: the next address of this host, the
 * next host, the second pass of prefer-standby, or give up.
 */
static void
conn_start_next_attempt(PgaConn *c)
{
	pgw_dsn    *dsn = c->target.dsn;

	for (;;)
	{
		if (c->host_index >= 0 && c->addr_index < c->naddrs)
		{
			/* try c->addrs[c->addr_index] */
			if (c->target.opts.connect_timeout_ms > 0)
				c->attempt_deadline =
					TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												c->target.opts.connect_timeout_ms);
			else
				c->attempt_deadline = 0;
			if (conn_start_socket(c))
			{
				if (!c->socket_connecting)
					conn_start_protocol(c);
				return;
			}
			c->addr_index++;
			continue;
		}

		/* next host */
		c->host_index++;
		if (c->host_index >= dsn->nhosts)
		{
			if (dsn->target_session_attrs == PGW_TSA_PREFER_STANDBY && c->tsa_pass == 0)
			{
				c->tsa_pass = 1;
				c->host_index = -1;
				c->naddrs = 0;
				c->addr_index = 0;
				continue;
			}
			conn_mark_broken(c, PGA_FAIL_CONNECT, "%s",
							 c->attempt_errors.len ? c->attempt_errors.data
							 : "no host to connect to");
			return;
		}
		c->ssl_retry_done = false;
		if (!conn_resolve_host(c))
		{
			c->naddrs = 0;
			c->addr_index = 0;
			continue;
		}
		c->ssl_attempt = conn_ssl_wanted_first(c, conn_is_unix(c));
	}
}

/*
 * The current attempt failed: note why and go on.  sslmode prefer retries
 * the same address without TLS after a TLS failure, and allow retries with
 * TLS after a plain attempt failed, as libpq does.
 */
static void
conn_attempt_failed(PgaConn *c, const char *fmt,...)
{
	va_list		ap;
	char		msg[1024];
	pgw_sslmode mode = c->target.dsn->sslmode;
	bool		was_ssl_phase = c->in_ssl_phase;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (conn_is_unix(c))
		appendStringInfo(&c->attempt_errors,
						 "%sconnection to server on socket \"%s/.s.PGSQL.%d\" failed: %s",
						 c->attempt_errors.len ? "; " : "", c->host_shown, c->port, msg);
	else
		appendStringInfo(&c->attempt_errors,
						 "%sconnection to server at \"%s\", port %d failed: %s",
						 c->attempt_errors.len ? "; " : "", c->host_shown, c->port, msg);
	conn_release_socket(c);
	if (c->proto)
	{
		pgw_conn_free(c->proto);
		c->proto = NULL;
	}
	c->phase = PGA_PHASE_CONNECTING;

	if (!c->ssl_retry_done)
	{
		if (mode == PGW_SSL_PREFER && c->ssl_attempt && was_ssl_phase)
		{
			c->ssl_retry_done = true;
			c->ssl_attempt = false;
			conn_start_next_attempt(c);
			return;
		}
		if (mode == PGW_SSL_ALLOW && !c->ssl_attempt && !conn_is_unix(c))
		{
			c->ssl_retry_done = true;
			c->ssl_attempt = true;
			conn_start_next_attempt(c);
			return;
		}
	}
	c->addr_index++;
	c->ssl_retry_done = false;
	if (c->host_index >= 0 && c->host_index < c->target.dsn->nhosts)
		c->ssl_attempt = conn_ssl_wanted_first(c, conn_is_unix(c));
	conn_start_next_attempt(c);
}

/* Check target_session_attrs once connected; NULL when acceptable. */
static const char *
conn_session_attrs_problem(PgaConn *c)
{
	pgw_target_session_attrs tsa = c->target.dsn->target_session_attrs;
	const char *hot;
	const char *ro;
	bool		standby;
	bool		read_only;

	if (tsa == PGW_TSA_ANY || (tsa == PGW_TSA_PREFER_STANDBY && c->tsa_pass == 1))
		return NULL;
	hot = pgw_conn_parameter(c->proto, "in_hot_standby");
	ro = pgw_conn_parameter(c->proto, "default_transaction_read_only");
	if (hot == NULL || ro == NULL)
		return "server does not report in_hot_standby, which target_session_attrs needs (PostgreSQL 14 or later)";
	standby = strcmp(hot, "on") == 0;
	read_only = standby || strcmp(ro, "on") == 0;
	switch (tsa)
	{
		case PGW_TSA_READ_WRITE:
			return read_only ? "session is read-only" : NULL;
		case PGW_TSA_READ_ONLY:
			return read_only ? NULL : "session is not read-only";
		case PGW_TSA_PRIMARY:
			return standby ? "server is in hot standby mode" : NULL;
		case PGW_TSA_STANDBY:
		case PGW_TSA_PREFER_STANDBY:
			return standby ? NULL : "server is not in hot standby mode";
		default:
			return NULL;
	}
}

/* ----------------------------------------------------------------
 * Socket I/O
 * ----------------------------------------------------------------
 */

static bool
cipher_out_append(PgaConn *c)
{
	for (;;)
	{
		size_t		pending = pgw_tls_pending_ciphertext(c->tls);
		size_t		got;

		if (pending == 0)
			return true;
		if (c->cipher_out_cap - c->cipher_out_len < pending)
		{
			size_t		newcap = Max(c->cipher_out_cap * 2, c->cipher_out_len + pending + PGA_CIPHER_CHUNK);

			if (c->cipher_out == NULL)
				c->cipher_out = MemoryContextAlloc(c->mcxt, newcap);
			else
				c->cipher_out = repalloc(c->cipher_out, newcap);
			c->cipher_out_cap = newcap;
		}
		got = pgw_tls_get_ciphertext(c->tls, c->cipher_out + c->cipher_out_len,
									 c->cipher_out_cap - c->cipher_out_len);
		if (got == 0)
			return true;
		c->cipher_out_len += got;
	}
}

/*
 * Write as much queued output as the socket takes.  Returns false when the
 * connection broke (then it is marked).
 */
static bool
conn_send_pending(PgaConn *c)
{
	if (c->sock == PGINVALID_SOCKET || c->proto == NULL || c->socket_connecting)
		return c->phase != PGA_PHASE_BROKEN;

	c->send_full = false;
	for (;;)
	{
		const uint8_t *data;
		size_t		len;
		ssize_t		n;

		if (c->tls != NULL)
		{
			/* encrypt what the protocol wants to send, unless handshaking */
			if (!c->tls_handshaking)
			{
				while ((len = pgw_conn_output(c->proto, &data)) > 0)
				{
					long		w = pgw_tls_write(c->tls, data, len);

					if (w < 0)
					{
						conn_mark_broken(c, PGA_FAIL_PROTOCOL, "SSL error: %s", pgw_tls_errmsg(c->tls));
						return false;
					}
					if (w == 0)
						break;
					pgw_conn_output_done(c->proto, (size_t) w);
				}
			}
			if (!cipher_out_append(c))
				return false;
			if (c->cipher_out_len == 0)
				return true;
			data = c->cipher_out;
			len = c->cipher_out_len;
		}
		else
		{
			len = pgw_conn_output(c->proto, &data);
			if (len == 0)
				return true;
		}

		n = send(c->sock, data, len, MSG_NOSIGNAL);
		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
			{
				c->send_full = true;
				return true;
			}
			if (c->phase == PGA_PHASE_CONNECTING)
				conn_attempt_failed(c, "could not send data to server: %m");
			else
				conn_mark_broken(c, PGA_FAIL_LOST, "could not send data to server: %m");
			return c->phase != PGA_PHASE_BROKEN;
		}
		if (c->tls != NULL)
		{
			memmove(c->cipher_out, c->cipher_out + n, c->cipher_out_len - n);
			c->cipher_out_len -= n;
		}
		else
			pgw_conn_output_done(c->proto, (size_t) n);
		if ((size_t) n < len)
		{
			c->send_full = true;
			return true;
		}
	}
}

static size_t
conn_pending_bytes(PgaConn *c)
{
	const uint8_t *data;
	size_t		n = 0;

	if (c->proto)
		n = pgw_conn_output(c->proto, &data);
	return n + c->cipher_out_len + (c->tls ? pgw_tls_pending_ciphertext(c->tls) : 0);
}

/* Run a step of the TLS handshake. */
static void
conn_tls_step(PgaConn *c)
{
	pgw_tls_status st = pgw_tls_handshake(c->tls);

	if (st == PGW_TLS_ERROR)
	{
		conn_attempt_failed(c, "SSL error: %s", pgw_tls_errmsg(c->tls));
		return;
	}
	if (st == PGW_TLS_DONE)
	{
		uint8		cb[64];
		size_t		cblen;

		c->tls_handshaking = false;
		c->in_ssl_phase = false;
		cblen = pgw_tls_server_end_point(c->tls, cb, sizeof(cb));
		if (!pgw_conn_tls_ready(c->proto, cblen > 0 ? cb : NULL, cblen))
		{
			conn_attempt_failed(c, "%s", pgw_conn_errmsg(c->proto));
			return;
		}
	}
	(void) conn_send_pending(c);
}

/* Read what the socket has into the protocol (through TLS if on). */
static void
conn_read(PgaConn *c)
{
	if (c->tls == NULL)
	{
		uint8_t    *p;
		size_t		space = pgw_conn_input_space(c->proto, PGA_READ_CHUNK, &p);
		ssize_t		n;

		if (space == 0)
			return;
		n = recv(c->sock, p, space, 0);
		if (n > 0)
			pgw_conn_input_commit(c->proto, (size_t) n);
		else if (n == 0)
			c->eof = true;
		else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		{
			if (c->phase == PGA_PHASE_CONNECTING)
				conn_attempt_failed(c, "could not receive data from server: %m");
			else
				conn_mark_broken(c, PGA_FAIL_LOST, "could not receive data from server: %m");
		}
		return;
	}
	else
	{
		uint8		buf[PGA_CIPHER_CHUNK];
		ssize_t		n = recv(c->sock, buf, sizeof(buf), 0);

		if (n > 0)
			pgw_tls_put_ciphertext(c->tls, buf, (size_t) n);
		else if (n == 0)
			c->eof = true;
		else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		{
			if (c->phase == PGA_PHASE_CONNECTING)
				conn_attempt_failed(c, "could not receive data from server: %m");
			else
				conn_mark_broken(c, PGA_FAIL_LOST, "could not receive data from server: %m");
			return;
		}
		if (c->tls_handshaking)
		{
			conn_tls_step(c);
			return;
		}
		for (;;)
		{
			uint8_t    *p;
			size_t		space = pgw_conn_input_space(c->proto, PGA_READ_CHUNK, &p);
			long		r;

			if (space == 0)
				break;
			r = pgw_tls_read(c->tls, p, space);
			if (r > 0)
			{
				pgw_conn_input_commit(c->proto, (size_t) r);
				continue;
			}
			if (r == -2)
				c->eof = true;
			else if (r < 0)
				conn_mark_broken(c, PGA_FAIL_PROTOCOL, "SSL error: %s", pgw_tls_errmsg(c->tls));
			break;
		}
		/* reading may have produced ciphertext to send (key updates) */
		if (c->phase != PGA_PHASE_BROKEN)
			(void) conn_send_pending(c);
	}
}

/* Handle readiness reported for c's socket. */
static void
conn_service(PgaConn *c, bool readable, bool writable)
{
	if (c->sock == PGINVALID_SOCKET || c->phase == PGA_PHASE_BROKEN)
		return;

	if (c->socket_connecting)
	{
		int			err = 0;
		socklen_t	errlen = sizeof(err);

		if (!readable && !writable)
			return;
		if (getsockopt(c->sock, SOL_SOCKET, SO_ERROR, (char *) &err, &errlen) < 0)
			err = errno;
		if (err != 0)
		{
			errno = err;
			conn_attempt_failed(c, "%m");
			return;
		}
		c->socket_connecting = false;
		conn_start_protocol(c);
		return;
	}
	if (writable)
		(void) conn_send_pending(c);
	if (readable && !c->read_paused && c->sock != PGINVALID_SOCKET &&
		c->phase != PGA_PHASE_BROKEN)
		conn_read(c);
}

/* ----------------------------------------------------------------
 * Events
 * ----------------------------------------------------------------
 */

static void
conn_create_tls(PgaConn *c)
{
	pgw_tls_config cfg;
	char		errbuf[PGW_ERRMSG_LEN];
	pgw_dsn    *dsn = c->target.dsn;
	pgw_dsn_host *h = &dsn->hosts[c->host_index];
	const char *sni = dsn->values[PGW_DSN_SSLSNI];

	memset(&cfg, 0, sizeof(cfg));
	cfg.sslmode = dsn->sslmode;
	cfg.host = h->host ? h->host : h->hostaddr;
	cfg.rootcert = dsn->values[PGW_DSN_SSLROOTCERT];
	cfg.cert = dsn->values[PGW_DSN_SSLCERT];
	cfg.key = dsn->values[PGW_DSN_SSLKEY];
	cfg.key_password = dsn->values[PGW_DSN_SSLPASSWORD];
	cfg.crl = dsn->values[PGW_DSN_SSLCRL];
	cfg.crldir = dsn->values[PGW_DSN_SSLCRLDIR];
	cfg.sni = !(sni != NULL && strcmp(sni, "0") == 0);
	cfg.min_protocol = dsn->values[PGW_DSN_SSL_MIN_PROTOCOL_VERSION];
	cfg.max_protocol = dsn->values[PGW_DSN_SSL_MAX_PROTOCOL_VERSION];
	c->tls = pgw_tls_create(&cfg, errbuf);
	if (c->tls == NULL)
	{
		conn_attempt_failed(c, "%s", errbuf);
		return;
	}
	c->tls_handshaking = true;
	conn_tls_step(c);
}

/*
 * Take the next event of one connection out of what was read.  During
 * connection set-up, handles TLS negotiation and the connected checks
 * itself and returns only notices, fatal errors and PGW_EV_CONNECTED.
 */
static pgw_event_type
conn_poll_event(PgaConn *c, pgw_event *ev)
{
	for (;;)
	{
		pgw_event_type t;

		if (c->phase == PGA_PHASE_BROKEN)
		{
			if (c->broken_reported)
				return PGW_EV_NONE;
			c->broken_reported = true;
			memset(ev, 0, sizeof(*ev));
			ev->type = PGA_EV_BROKEN;
			return PGA_EV_BROKEN;
		}
		if (c->proto == NULL || c->socket_connecting || c->tls_handshaking)
			return PGW_EV_NONE;

		t = pgw_conn_next_event(c->proto, ev);
		if (t == PGW_EV_NONE)
		{
			if (pgw_conn_get_state(c->proto) == PGW_CONN_FAILED)
			{
				if (c->phase == PGA_PHASE_CONNECTING)
					conn_attempt_failed(c, "%s", pgw_conn_errmsg(c->proto));
				else
					conn_mark_broken(c, PGA_FAIL_PROTOCOL, "%s", pgw_conn_errmsg(c->proto));
				continue;
			}
			if (c->eof)
			{
				const char *msg = "server closed the connection unexpectedly";

				if (c->phase == PGA_PHASE_CONNECTING)
					conn_attempt_failed(c, "%s", msg);
				else
					conn_mark_broken(c, PGA_FAIL_LOST, "%s", msg);
				continue;
			}
			return PGW_EV_NONE;
		}

		if (c->phase != PGA_PHASE_CONNECTING)
		{
			if (t == PGW_EV_ERROR && ev->fatal)
			{
				/* the server is closing the connection: report, then break */
				snprintf(c->errmsg, sizeof(c->errmsg), "%s",
						 ev->msg.u.error.message ? ev->msg.u.error.message : "fatal error");
				c->phase = PGA_PHASE_BROKEN;
				c->failure = PGA_FAIL_LOST;
				c->broken_reported = true;
				/* keep proto (the event points into it); drop the socket */
				conn_release_socket(c);
			}
			return t;
		}

		switch (t)
		{
			case PGW_EV_SSL_ACCEPTED:
				conn_create_tls(c);
				continue;
			case PGW_EV_SSL_REJECTED:
				if (c->target.dsn->sslmode >= PGW_SSL_REQUIRE)
				{
					conn_attempt_failed(c, "server does not support SSL, but SSL was required");
					continue;
				}
				c->in_ssl_phase = false;
				if (!pgw_conn_continue_plain(c->proto))
					conn_attempt_failed(c, "%s", pgw_conn_errmsg(c->proto));
				else
					(void) conn_send_pending(c);
				continue;
			case PGW_EV_ERROR:
				{
					char		msg[512];
					bool		last;
					bool		retry_plain;

					snprintf(msg, sizeof(msg), "%s", ev->msg.u.error.message ?
							 ev->msg.u.error.message : "server reported an error");

					/*
					 * sslmode prefer: like libpq, an error from the server
					 * over TLS (say a hostnossl rule) is retried without.
					 */
					retry_plain = (c->target.dsn->sslmode == PGW_SSL_PREFER &&
								   c->tls != NULL && !c->ssl_retry_done);

					/*
					 * Try further hosts or TLS variants if there are any;
					 * the last failure goes to the caller with its fields.
					 */
					last = (c->host_index >= c->target.dsn->nhosts - 1 &&
							c->addr_index >= c->naddrs - 1 &&
							!retry_plain &&
							!(c->target.dsn->sslmode == PGW_SSL_ALLOW && !c->ssl_attempt &&
							  !c->ssl_retry_done) &&
							!(c->target.dsn->target_session_attrs == PGW_TSA_PREFER_STANDBY &&
							  c->tsa_pass == 0));
					if (!last)
					{
						/* makes conn_attempt_failed() retry without TLS */
						if (retry_plain)
							c->in_ssl_phase = true;
						conn_attempt_failed(c, "%s", msg);
						continue;
					}
					snprintf(c->errmsg, sizeof(c->errmsg), "%s", msg);
					c->phase = PGA_PHASE_BROKEN;
					c->failure = PGA_FAIL_CONNECT;
					c->broken_reported = true;
					conn_release_socket(c);
					return t;
				}
			case PGW_EV_CONNECTED:
				{
					const char *problem;

					if (c->target.password_required && !pgw_conn_password_used(c->proto))
					{
						conn_mark_broken(c, PGA_FAIL_PASSWORD_REQUIRED,
										 "the server did not ask for the password");
						continue;
					}
					problem = conn_session_attrs_problem(c);
					if (problem != NULL)
					{
						conn_attempt_failed(c, "%s", problem);
						continue;
					}
					c->phase = PGA_PHASE_READY;
					c->attempt_deadline = 0;
					resetStringInfo(&c->attempt_errors);
					return t;
				}
			case PGW_EV_NOTICE:
				return t;
			default:
				/* parameter status, backend key, auth progress: kept by proto */
				(void) conn_send_pending(c);
				continue;
		}
	}
}

/*
 * The socket events to wait for: readability always (so input of idle
 * connections is taken in and never makes the wait spin), except while
 * reading is paused for backpressure; writability while there is output.
 */
static uint32
conn_wanted_events(PgaConn *c)
{
	uint32		want = c->read_paused ? 0 : WL_SOCKET_READABLE;

	if (c->socket_connecting || conn_pending_bytes(c) > 0)
		want |= WL_SOCKET_WRITEABLE;
	return want;
}

/* Make sure the WaitEventSet matches the live sockets. */
static void
driver_rebuild_wes(void)
{
	dlist_iter	iter;

	if (!pga_wes_stale && pga_wes != NULL)
		return;
	if (pga_wes != NULL)
	{
		FreeWaitEventSet(pga_wes);
		pga_wes = NULL;
	}
	pga_wes = PgaCreateWaitEventSet(pga_nconns + 2);
	AddWaitEventToSet(pga_wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(pga_wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	dlist_foreach(iter, &pga_conns)
	{
		PgaConn    *c = dlist_container(PgaConn, node, iter.cur);

		c->wes_pos = -1;
		if (c->sock == PGINVALID_SOCKET)
			continue;
		c->wes_events = conn_wanted_events(c);
		c->wes_pos = AddWaitEventToSet(pga_wes, c->wes_events, c->sock, NULL, c);
	}
	pga_wes_stale = false;
}

/* Ask for writability only while there is something to write. */
static void
conn_update_wes(PgaConn *c)
{
	uint32		want;

	if (pga_wes_stale || c->wes_pos < 0 || c->sock == PGINVALID_SOCKET)
		return;
	want = conn_wanted_events(c);
	if (want != c->wes_events)
	{
		ModifyWaitEvent(pga_wes, c->wes_pos, want, NULL);
		c->wes_events = want;
	}
}

/*
 * Wait once for socket readiness or the latch, until deadline, and service
 * whatever became ready.  Processes interrupts unless cleaning up.
 */
static void
driver_wait(TimestampTz deadline)
{
	WaitEvent	events[PGA_MAX_WAIT_EVENTS];
	long		timeout = -1;
	int			nev;
	int			i;
	dlist_iter	iter;
	TimestampTz nearest = deadline;

	/* connection attempts have deadlines of their own */
	dlist_foreach(iter, &pga_conns)
	{
		PgaConn    *c = dlist_container(PgaConn, node, iter.cur);

		if (c->phase == PGA_PHASE_CONNECTING && c->attempt_deadline != 0 &&
			(nearest == 0 || c->attempt_deadline < nearest))
			nearest = c->attempt_deadline;
	}
	if (nearest != 0)
	{
		long		secs;
		int			usecs;

		TimestampDifference(GetCurrentTimestamp(), nearest, &secs, &usecs);
		timeout = secs * 1000 + (usecs + 999) / 1000;
	}

	driver_rebuild_wes();
	dlist_foreach(iter, &pga_conns)
		conn_update_wes(dlist_container(PgaConn, node, iter.cur));

	nev = WaitEventSetWait(pga_wes, timeout, events, PGA_MAX_WAIT_EVENTS,
						   PG_WAIT_EXTENSION);
	for (i = 0; i < nev; i++)
	{
		if (events[i].events & WL_LATCH_SET)
			ResetLatch(MyLatch);
		else if (events[i].user_data != NULL)
			conn_service((PgaConn *) events[i].user_data,
						 (events[i].events & WL_SOCKET_READABLE) != 0,
						 (events[i].events & WL_SOCKET_WRITEABLE) != 0);
	}

	/* expire connection attempts */
	if (nearest != 0)
	{
		TimestampTz now = GetCurrentTimestamp();
		dlist_mutable_iter miter;

		dlist_foreach_modify(miter, &pga_conns)
		{
			PgaConn    *c = dlist_container(PgaConn, node, miter.cur);

			if (c->phase == PGA_PHASE_CONNECTING && c->attempt_deadline != 0 &&
				now >= c->attempt_deadline)
				conn_attempt_failed(c, "timeout expired");
		}
	}

	if (!pga_in_cleanup)
		CHECK_FOR_INTERRUPTS();
}

/*
 * Whether to look for c's answer without sleeping: only while it is
 * expected soon.  A connection in a COPY is a stream, not an answer to
 * wait for: spinning on it would take the CPU from the very processes that
 * produce and consume it.
 */
static bool
conn_worth_spinning(PgaConn *c)
{
	pgw_conn_state state;

	if (c == NULL || c->phase != PGA_PHASE_READY || c->read_paused ||
		c->sock == PGINVALID_SOCKET || c->proto == NULL ||
		pgw_conn_inflight(c->proto) == 0)
		return false;
	state = pgw_conn_get_state(c->proto);
	return state != PGW_CONN_COPY_IN && state != PGW_CONN_COPY_OUT &&
		state != PGW_CONN_COPY_BOTH;
}

/*
 * Read without waiting from the connections of conns[] that expect an
 * answer soon, for up to PGA_SPIN_USEC.  True when something arrived (or a
 * connection broke); false at once when no connection is worth it.
 */
static bool
driver_spin(PgaConn **conns, int nconns)
{
	TimestampTz until = GetCurrentTimestamp() + PGA_SPIN_USEC;
	int			k;
	bool		any;

	do
	{
		any = false;
		for (k = 0; k < nconns; k++)
		{
			PgaConn    *c = conns[k];
			uint64		before;

			if (!conn_worth_spinning(c))
				continue;
			any = true;
			before = pgw_conn_get_stats(c->proto)->bytes_in;
			conn_read(c);
			if (c->phase != PGA_PHASE_READY || c->eof ||
				pgw_conn_get_stats(c->proto)->bytes_in != before)
				return true;
		}
	} while (any && GetCurrentTimestamp() < until);
	return false;
}

PgaConn *
PgaDriverNextEvent(PgaConn **conns, int nconns, pgw_event *ev,
				   TimestampTz deadline)
{
	static int	rr = 0;
	bool		spun = pga_in_cleanup;

	for (;;)
	{
		int			k;
		int			start = (rr < nconns) ? rr : 0;
		bool		alive = false;

		/* events already read, round robin across connections */
		for (k = 0; k < nconns; k++)
		{
			int			idx = start + k;
			PgaConn    *c;

			if (idx >= nconns)
				idx -= nconns;
			c = conns[idx];

			if (c == NULL)
				continue;
			if (conn_poll_event(c, ev) != PGW_EV_NONE)
			{
				rr = idx + 1;
				return c;
			}
			if (c->phase != PGA_PHASE_BROKEN)
				alive = true;
		}
		if (!alive)
			return NULL;

		/*
		 * Send what is queued.  A socket that was full says when it has
		 * room (the wait below asks): no system call to find out.
		 */
		for (k = 0; k < nconns; k++)
		{
			if (conns[k] != NULL && conns[k]->phase != PGA_PHASE_BROKEN &&
				!conns[k]->send_full)
				(void) conn_send_pending(conns[k]);
		}

		if (deadline != 0 && GetCurrentTimestamp() >= deadline)
		{
			memset(ev, 0, sizeof(*ev));
			return NULL;
		}
		if (!spun && nconns <= PGA_SPIN_MAX_CONNS)
		{
			/*
			 * Before sleeping, look for the answer for a few tens of
			 * microseconds: a nearby server usually answers a short
			 * request within that, and not going to sleep saves the two
			 * context switches that otherwise dominate a small query.
			 */
			spun = true;
			if (driver_spin(conns, nconns))
				continue;
		}
		driver_wait(deadline);
	}
}

bool
PgaConnPollEvent(PgaConn *c, pgw_event *ev)
{
	/* events already read first: no system call while there are any */
	if (conn_poll_event(c, ev) != PGW_EV_NONE)
		return true;
	PgaConnReceive(c);
	return conn_poll_event(c, ev) != PGW_EV_NONE;
}

void
PgaConnReceive(PgaConn *c)
{
	/* a non-blocking read says "nothing yet" as cheaply as poll() would */
	if (c->phase == PGA_PHASE_READY && c->sock != PGINVALID_SOCKET)
		conn_service(c, true, false);
}

bool
PgaConnFlush(PgaConn *c, TimestampTz deadline)
{
	c->nest_level = GetCurrentTransactionNestLevel();
	c->xact_gen = pga_xact_generation;
	for (;;)
	{
		if (c->phase == PGA_PHASE_BROKEN)
			return false;
		if (!conn_send_pending(c))
			return false;
		if (conn_pending_bytes(c) == 0)
			return true;
		if (deadline != 0 && GetCurrentTimestamp() >= deadline)
			return false;
		driver_wait(deadline);
	}
}

bool
PgaConnSendNow(PgaConn *c)
{
	c->nest_level = GetCurrentTransactionNestLevel();
	c->xact_gen = pga_xact_generation;
	if (c->phase == PGA_PHASE_BROKEN)
		return false;
	return conn_send_pending(c);
}

size_t
PgaConnPendingOutput(PgaConn *c)
{
	return c->phase == PGA_PHASE_BROKEN ? 0 : conn_pending_bytes(c);
}

/* ----------------------------------------------------------------
 * Cancellation
 * ----------------------------------------------------------------
 */

/* while draining, a still-busy connection is canceled again this often */
#define PGA_CANCEL_RESEND_MS 200

/*
 * Send a CancelRequest for c over a new connection to the same address.
 * Waits at most until deadline for the connect; never raises errors.
 */
static void
conn_send_cancel(PgaConn *c, TimestampTz deadline)
{
	pgw_wbuf	wb;
	PgaAddr    *a;
	pgsocket	s;
	size_t		off = 0;

	if (c->proto == NULL || c->naddrs == 0 || c->addr_index >= c->naddrs)
		return;
	a = &c->addrs[c->addr_index];
	pgw_wb_init(&wb);
	if (!pgw_conn_cancel_packet(c->proto, &wb) || wb.failed)
	{
		pgw_wb_free(&wb);
		return;
	}
	if (!AcquireExternalFD())
	{
		pgw_wb_free(&wb);
		return;
	}
	s = socket(a->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s == PGINVALID_SOCKET)
	{
		ReleaseExternalFD();
		pgw_wb_free(&wb);
		return;
	}
	(void) pg_set_noblock(s);
	if (connect(s, (struct sockaddr *) &a->addr, a->len) < 0 &&
		errno != EINPROGRESS && errno != EAGAIN && errno != EINTR)
		goto done;

	while (off < wb.len)
	{
		struct pollfd pfd;
		ssize_t		n;
		long		secs;
		int			usecs;

		n = send(s, wb.data + off, wb.len - off, MSG_NOSIGNAL);
		if (n > 0)
		{
			off += n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
			errno != EINTR && errno != ENOTCONN)
			break;
		TimestampDifference(GetCurrentTimestamp(), deadline, &secs, &usecs);
		if (secs == 0 && usecs == 0)
			break;
		pfd.fd = s;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, (int) (secs * 1000 + usecs / 1000 + 1)) <= 0)
			break;
	}

	/*
	 * Wait briefly for the server to close the cancel connection, so the
	 * cancel has been processed when we start draining.
	 */
	if (off == wb.len)
	{
		struct pollfd pfd;
		char		dummy;

		pfd.fd = s;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 100) > 0)
			(void) recv(s, &dummy, 1, 0);
	}
done:
	closesocket(s);
	ReleaseExternalFD();
	pgw_wb_free(&wb);
}

void
PgaDriverCancelAndDrain(PgaConn **conns, int nconns, int timeout_ms)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	PgaConn   **draining;
	int			ndraining = 0;
	int			i;
	bool		save_cleanup = pga_in_cleanup;

	draining = MemoryContextAlloc(TopMemoryContext, sizeof(PgaConn *) * Max(nconns, 1));
	for (i = 0; i < nconns; i++)
	{
		PgaConn    *c = conns[i];

		if (c == NULL || c->phase == PGA_PHASE_BROKEN)
			continue;
		if (c->phase == PGA_PHASE_CONNECTING)
		{
			conn_mark_broken(c, PGA_FAIL_CONNECT, "connection attempt canceled");
			continue;
		}
		if (!PgaConnIsBusy(c))
			continue;
		if (pgw_conn_get_state(c->proto) == PGW_CONN_COPY_IN)
			(void) pgw_conn_copy_fail(c->proto, "canceled by pgasync");
		else
			conn_send_cancel(c, deadline);
		draining[ndraining++] = c;
	}

	PG_TRY();
	{
		/*
		 * A CancelRequest that reaches the server before its backend has
		 * read the query is ignored (the backend is still "reading a
		 * command"), and the query then runs to its end.  So while a
		 * connection stays busy, cancel it again every
		 * PGA_CANCEL_RESEND_MS.
		 */
		TimestampTz resend = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														 PGA_CANCEL_RESEND_MS);

		pga_in_cleanup = true;
		while (ndraining > 0)
		{
			pgw_event	ev;
			PgaConn    *c = PgaDriverNextEvent(draining, ndraining, &ev,
											   Min(deadline, resend));

			if (c == NULL)
			{
				TimestampTz now = GetCurrentTimestamp();

				if (now >= deadline)
					break;
				for (i = 0; i < ndraining; i++)
				{
					PgaConn    *d = draining[i];

					if (d->phase == PGA_PHASE_BROKEN || !PgaConnIsBusy(d))
					{
						draining[i] = draining[--ndraining];
						i--;
					}
					else if (now >= resend &&
							 pgw_conn_get_state(d->proto) != PGW_CONN_COPY_IN)
						conn_send_cancel(d, deadline);
				}
				if (now >= resend)
					resend = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														 PGA_CANCEL_RESEND_MS);
				continue;
			}
			if (ev.type == PGW_EV_COPY_IN)
				(void) pgw_conn_copy_fail(c->proto, "canceled by pgasync");
			/* drop connections that are done (idle or broken) */
			for (i = 0; i < ndraining; i++)
			{
				PgaConn    *d = draining[i];

				if (d->phase == PGA_PHASE_BROKEN || !PgaConnIsBusy(d))
				{
					draining[i] = draining[--ndraining];
					i--;
				}
			}
		}
		for (i = 0; i < ndraining; i++)
			conn_mark_broken(draining[i], PGA_FAIL_LOST,
							 "connection closed: the remote query could not be canceled in time");
	}
	PG_FINALLY();
	{
		pga_in_cleanup = save_cleanup;
		pfree(draining);
	}
	PG_END_TRY();
}

void
PgaDriverAbortAll(int timeout_ms, int nest_level)
{
	PgaConn   **conns;
	int			n = 0;
	dlist_iter	iter;

	if (pga_nconns == 0)
		return;
	conns = MemoryContextAlloc(TopMemoryContext, sizeof(PgaConn *) * pga_nconns);
	dlist_foreach(iter, &pga_conns)
	{
		PgaConn    *c = dlist_container(PgaConn, node, iter.cur);

		if (c->xact_gen != pga_xact_generation || c->nest_level < nest_level)
			continue;			/* work of an enclosing (sub)transaction, or of an
								 * earlier transaction (pgasync.send) */
		if (c->phase == PGA_PHASE_CONNECTING ||
			(c->phase == PGA_PHASE_READY && PgaConnIsBusy(c)))
			conns[n++] = c;
	}
	if (n > 0)
		PgaDriverCancelAndDrain(conns, n, timeout_ms);
	pfree(conns);
}

/* ----------------------------------------------------------------
 * Accessors
 * ----------------------------------------------------------------
 */

void
PgaConnSetNestLevel(PgaConn *c, int nest_level)
{
	c->nest_level = nest_level;
}

void
PgaConnPauseReading(PgaConn *c, bool paused)
{
	c->read_paused = paused;
}

void
PgaDriverEndOfXact(void)
{
	pga_xact_generation++;
}

PgaConnPhase
PgaConnGetPhase(const PgaConn *c)
{
	return c->phase;
}

PgaFailure
PgaConnGetFailure(const PgaConn *c)
{
	return c->failure;
}

pgw_conn *
PgaConnProto(PgaConn *c)
{
	return c->proto;
}

const char *
PgaConnLabel(const PgaConn *c)
{
	return c->label;
}

const PgaTarget *
PgaConnTarget(const PgaConn *c)
{
	return &c->target;
}

bool
PgaConnIsBusy(const PgaConn *c)
{
	pgw_conn_state st;

	if (c->proto == NULL || c->phase != PGA_PHASE_READY)
		return false;
	st = pgw_conn_get_state(c->proto);
	return st == PGW_CONN_BUSY || st == PGW_CONN_COPY_IN ||
		st == PGW_CONN_COPY_OUT || st == PGW_CONN_COPY_BOTH;
}

const char *
PgaConnErrorMessage(const PgaConn *c)
{
	return c->errmsg;
}

const char *
PgaConnHost(const PgaConn *c)
{
	return c->host_shown;
}

int
PgaConnPort(const PgaConn *c)
{
	return c->port;
}

bool
PgaConnUsesTls(const PgaConn *c)
{
	return c->tls != NULL;
}

void
PgaConnSetOwnerData(PgaConn *c, void *data)
{
	c->owner_data = data;
}

void *
PgaConnGetOwnerData(const PgaConn *c)
{
	return c->owner_data;
}

int
PgaDriverConnectionCount(void)
{
	return pga_nconns;
}
