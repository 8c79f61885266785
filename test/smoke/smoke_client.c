/*-------------------------------------------------------------------------
 *
 * smoke_client.c
 *	  A tiny blocking test driver for the protocol core.
 *
 * It parses a connection string with pgw_dsn, connects to each host in
 * turn (Unix socket "<dir>/.s.PGSQL.<port>", or TCP through getaddrinfo),
 * runs the pgw_conn state machine, does TLS through pgw_tls when sslmode
 * asks for it (SSLRequest, exactly one byte of answer, handshake over
 * memory BIOs, then pgw_conn_tls_ready() with the tls-server-end-point
 * data), runs every query given through the extended protocol
 * (Parse/Bind/Describe/Execute/Sync, text results) and prints the rows
 * tab-separated, NULL as \N.
 *
 * Usage: smoke_client DSN QUERY...
 *
 * After connecting it writes "tls=on|off channel_binding=on|off" to
 * stderr.  On failure it writes the error to stderr and exits with status
 * 1; errors reported by the server read "ERROR: <sqlstate>: <message>".
 *
 * This is test code: the extension itself never blocks like this.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "protocol/pgw.h"
#include "protocol/pgw_conn.h"
#include "protocol/pgw_dsn.h"
#include "tls/pgw_crypto_openssl.h"
#include "tls/pgw_tls.h"

#define DEFAULT_SOCKET_DIR	"/var/run/postgresql"
#define DEFAULT_PORT		5432
#define IOBUF_SIZE			65536
#define DEFAULT_TIMEOUT_MS	180000	/* whole run, unless connect_timeout */

typedef struct client
{
	int			fd;
	pgw_conn   *conn;
	pgw_tls    *tls;
	int64_t		deadline_ms;	/* monotonic; 0 means none */
	char		err[2048];
	uint8_t		inbuf[IOBUF_SIZE];
	uint8_t		outbuf[IOBUF_SIZE];
	uint8_t		plainbuf[IOBUF_SIZE];
} client;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
fail(client *cl, const char *fmt,...)
#if defined(__GNUC__)
			__attribute__((format(printf, 2, 3)))
#endif
			;

static bool
fail(client *cl, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(cl->err, sizeof(cl->err), fmt, ap);
	va_end(ap);
	return false;
}

/* Wait until the socket is ready for events, or the deadline passes. */
static bool
wait_fd(client *cl, short events)
{
	for (;;)
	{
		struct pollfd pfd;
		int			timeout = -1;
		int			rc;

		if (cl->deadline_ms != 0)
		{
			int64_t		left = cl->deadline_ms - now_ms();

			if (left <= 0)
				return fail(cl, "timeout expired");
			timeout = (int) left;
		}
		pfd.fd = cl->fd;
		pfd.events = events;
		pfd.revents = 0;
		rc = poll(&pfd, 1, timeout);
		if (rc < 0)
		{
			if (errno == EINTR)
				continue;
			return fail(cl, "poll failed: %s", strerror(errno));
		}
		if (rc == 0)
			continue;			/* the deadline check above ends this */
		return true;
	}
}

static bool
send_all(client *cl, const uint8_t *data, size_t len)
{
	while (len > 0)
	{
		ssize_t		n = send(cl->fd, data, len, MSG_NOSIGNAL);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
			{
				if (!wait_fd(cl, POLLOUT))
					return false;
				continue;
			}
			return fail(cl, "could not send data to server: %s",
						strerror(errno));
		}
		data += n;
		len -= (size_t) n;
	}
	return true;
}

/* Receive at least one byte into buf. */
static bool
recv_some(client *cl, uint8_t *buf, size_t cap, size_t *got)
{
	for (;;)
	{
		ssize_t		n = recv(cl->fd, buf, cap, 0);

		if (n > 0)
		{
			*got = (size_t) n;
			return true;
		}
		if (n == 0)
			return fail(cl, "server closed the connection unexpectedly");
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
		{
			if (!wait_fd(cl, POLLIN))
				return false;
			continue;
		}
		return fail(cl, "could not receive data from server: %s",
					strerror(errno));
	}
}

/* Send all ciphertext the TLS layer has pending. */
static bool
flush_tls(client *cl)
{
	size_t		n;

	while ((n = pgw_tls_get_ciphertext(cl->tls, cl->outbuf,
									   sizeof(cl->outbuf))) > 0)
	{
		if (!send_all(cl, cl->outbuf, n))
			return false;
	}
	return true;
}

/* Send everything the connection has queued. */
static bool
flush_output(client *cl)
{
	const uint8_t *data;
	size_t		n;

	while ((n = pgw_conn_output(cl->conn, &data)) > 0)
	{
		if (cl->tls != NULL)
		{
			long		w = pgw_tls_write(cl->tls, data, n);

			if (w < 0)
				return fail(cl, "SSL error: %s", pgw_tls_errmsg(cl->tls));
			if (w == 0)
				return fail(cl, "SSL layer took no bytes to encrypt");
			pgw_conn_output_done(cl->conn, (size_t) w);
			if (!flush_tls(cl))
				return false;
		}
		else
		{
			if (!send_all(cl, data, n))
				return false;
			pgw_conn_output_done(cl->conn, n);
		}
	}
	if (cl->tls != NULL)
		return flush_tls(cl);
	return true;
}

/* Block until some input was handed to the connection. */
static bool
read_input(client *cl)
{
	if (cl->tls == NULL)
	{
		uint8_t    *ptr;
		size_t		space;
		size_t		got;

		/* In SSL_WAIT this offers exactly one byte. */
		space = pgw_conn_input_space(cl->conn, IOBUF_SIZE, &ptr);
		if (space == 0)
			return fail(cl, "connection takes no input: %s",
						pgw_conn_errmsg(cl->conn));
		if (!recv_some(cl, ptr, space, &got))
			return false;
		pgw_conn_input_commit(cl->conn, got);
		return true;
	}

	for (;;)
	{
		bool		fed = false;
		size_t		got;

		/* First hand over whatever plaintext is already decrypted. */
		for (;;)
		{
			long		r = pgw_tls_read(cl->tls, cl->plainbuf,
										 sizeof(cl->plainbuf));

			if (r > 0)
			{
				if (!pgw_conn_feed(cl->conn, cl->plainbuf, (size_t) r))
					return fail(cl, "%s", pgw_conn_errmsg(cl->conn));
				fed = true;
				continue;
			}
			if (r == 0)
				break;
			if (r == -2)
			{
				/* Let the owner see what came before the close first. */
				if (fed)
					return true;
				return fail(cl, "server closed the SSL connection unexpectedly");
			}
			return fail(cl, "SSL error: %s", pgw_tls_errmsg(cl->tls));
		}
		/* Reading may have produced ciphertext to send (alerts, ...). */
		if (!flush_tls(cl))
			return false;
		if (fed)
			return true;
		if (!recv_some(cl, cl->inbuf, sizeof(cl->inbuf), &got))
			return false;
		if (pgw_tls_put_ciphertext(cl->tls, cl->inbuf, got) != got)
			return fail(cl, "SSL error: %s", pgw_tls_errmsg(cl->tls));
	}
}

static void
server_error(client *cl, const pgw_event *ev)
{
	const pgw_error_fields *e = &ev->msg.u.error;

	fail(cl, "ERROR: %s: %s",
		 e->sqlstate ? e->sqlstate : "?????",
		 e->message ? e->message : "(no message)");
}

static void
print_notice(const pgw_event *ev)
{
	const pgw_error_fields *e = &ev->msg.u.error;

	fprintf(stderr, "%s: %s\n",
			e->severity ? e->severity : "NOTICE",
			e->message ? e->message : "");
}

/* Open a socket to one entry of the host list. */
static bool
open_socket(client *cl, const pgw_dsn_host *h)
{
	char		portstr[16];
	struct addrinfo hints;
	struct addrinfo *res;
	struct addrinfo *ai;
	const char *node;
	char		lasterr[512] = "no addresses";
	int			rc;

	if (h->is_unix)
	{
		struct sockaddr_un sun;
		socklen_t	sunlen;
		int			plen;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (h->host[0] == '@')
		{
			/* Linux abstract namespace: leading NUL, no terminator */
			plen = snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
							"%s/.s.PGSQL.%u", h->host + 1,
							(unsigned) h->port);
			if (plen < 0 || (size_t) plen >= sizeof(sun.sun_path) - 1)
				return fail(cl, "Unix-domain socket path too long");
			sunlen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) +
								  1 + (size_t) plen);
		}
		else
		{
			plen = snprintf(sun.sun_path, sizeof(sun.sun_path),
							"%s/.s.PGSQL.%u", h->host, (unsigned) h->port);
			if (plen < 0 || (size_t) plen >= sizeof(sun.sun_path))
				return fail(cl, "Unix-domain socket path too long");
			sunlen = (socklen_t) sizeof(sun);
		}
		cl->fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (cl->fd < 0)
			return fail(cl, "could not create socket: %s", strerror(errno));
		if (connect(cl->fd, (struct sockaddr *) &sun, sunlen) < 0)
		{
			fail(cl, "could not connect to socket \"%s/.s.PGSQL.%u\": %s",
				 h->host, (unsigned) h->port, strerror(errno));
			close(cl->fd);
			cl->fd = -1;
			return false;
		}
		fcntl(cl->fd, F_SETFL, fcntl(cl->fd, F_GETFL) | O_NONBLOCK);
		return true;
	}

	node = h->hostaddr ? h->hostaddr : h->host;
	snprintf(portstr, sizeof(portstr), "%u", (unsigned) h->port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (h->hostaddr)
		hints.ai_flags = AI_NUMERICHOST;
	rc = getaddrinfo(node, portstr, &hints, &res);
	if (rc != 0)
		return fail(cl, "could not translate host name \"%s\" to address: %s",
					node, gai_strerror(rc));

	for (ai = res; ai != NULL; ai = ai->ai_next)
	{
		int			one = 1;
		char		addr[NI_MAXHOST] = "?";

		getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr),
					NULL, 0, NI_NUMERICHOST);
		cl->fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (cl->fd < 0)
		{
			snprintf(lasterr, sizeof(lasterr), "could not create socket: %s",
					 strerror(errno));
			continue;
		}
		fcntl(cl->fd, F_SETFL, fcntl(cl->fd, F_GETFL) | O_NONBLOCK);
		setsockopt(cl->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(cl->fd, ai->ai_addr, ai->ai_addrlen) < 0)
		{
			int			soerr = errno;

			if (errno == EINPROGRESS)
			{
				socklen_t	sl = sizeof(soerr);

				if (!wait_fd(cl, POLLOUT))
				{
					snprintf(lasterr, sizeof(lasterr), "%s", cl->err);
					close(cl->fd);
					cl->fd = -1;
					continue;
				}
				if (getsockopt(cl->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
					soerr = errno;
			}
			if (soerr != 0)
			{
				snprintf(lasterr, sizeof(lasterr),
						 "could not connect to %s port %s: %s",
						 addr, portstr, strerror(soerr));
				close(cl->fd);
				cl->fd = -1;
				continue;
			}
		}
		freeaddrinfo(res);
		return true;
	}
	freeaddrinfo(res);
	return fail(cl, "%s", lasterr);
}

/* Run the TLS handshake after the server accepted SSLRequest. */
static bool
tls_handshake(client *cl, const pgw_dsn *dsn, const pgw_dsn_host *h)
{
	pgw_tls_config tc;
	char		errbuf[PGW_ERRMSG_LEN];
	uint8_t		cb[64];
	size_t		cblen;
	const char *sni = dsn->values[PGW_DSN_SSLSNI];

	memset(&tc, 0, sizeof(tc));
	tc.sslmode = dsn->sslmode;
	tc.host = h->host ? h->host : h->hostaddr;
	tc.rootcert = dsn->values[PGW_DSN_SSLROOTCERT];
	tc.cert = dsn->values[PGW_DSN_SSLCERT];
	tc.key = dsn->values[PGW_DSN_SSLKEY];
	tc.key_password = dsn->values[PGW_DSN_SSLPASSWORD];
	tc.crl = dsn->values[PGW_DSN_SSLCRL];
	tc.crldir = dsn->values[PGW_DSN_SSLCRLDIR];
	tc.sni = !(sni != NULL && strcmp(sni, "0") == 0);
	tc.min_protocol = dsn->values[PGW_DSN_SSL_MIN_PROTOCOL_VERSION];
	tc.max_protocol = dsn->values[PGW_DSN_SSL_MAX_PROTOCOL_VERSION];

	cl->tls = pgw_tls_create(&tc, errbuf);
	if (cl->tls == NULL)
		return fail(cl, "SSL setup failed: %s", errbuf);

	for (;;)
	{
		pgw_tls_status st = pgw_tls_handshake(cl->tls);
		size_t		got;

		if (!flush_tls(cl))
			return false;
		if (st == PGW_TLS_DONE)
			break;
		if (st == PGW_TLS_ERROR)
			return fail(cl, "SSL error: %s", pgw_tls_errmsg(cl->tls));
		if (!recv_some(cl, cl->inbuf, sizeof(cl->inbuf), &got))
			return false;
		if (pgw_tls_put_ciphertext(cl->tls, cl->inbuf, got) != got)
			return fail(cl, "SSL error: %s", pgw_tls_errmsg(cl->tls));
	}

	cblen = pgw_tls_server_end_point(cl->tls, cb, sizeof(cb));
	if (!pgw_conn_tls_ready(cl->conn, cblen > 0 ? cb : NULL, cblen))
		return fail(cl, "%s", pgw_conn_errmsg(cl->conn));
	return true;
}

/* Start the session on an open socket; true once connected. */
static bool
start_session(client *cl, const pgw_dsn *dsn, const pgw_dsn_host *h,
			  const char *user, const char *password)
{
	pgw_conn_config cfg;
	char		errbuf[PGW_ERRMSG_LEN];
	const char *params[8];
	int			np = 0;
	const char *appname = dsn->values[PGW_DSN_APPLICATION_NAME];

	if (appname == NULL)
		appname = dsn->values[PGW_DSN_FALLBACK_APPLICATION_NAME];
	if (appname == NULL)
		appname = "smoke_client";
	params[np++] = "application_name";
	params[np++] = appname;
	if (dsn->values[PGW_DSN_OPTIONS] != NULL)
	{
		params[np++] = "options";
		params[np++] = dsn->values[PGW_DSN_OPTIONS];
	}
	params[np] = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.user = user;
	cfg.database = dsn->values[PGW_DSN_DBNAME];
	cfg.password = password;
	cfg.startup_params = params;
	cfg.protocol_minor = 0;
	/* libpq never uses TLS over Unix sockets; "allow" starts plain here. */
	cfg.request_ssl = !h->is_unix && dsn->sslmode >= PGW_SSL_PREFER;
	cfg.channel_binding = (pgw_channel_binding) dsn->channel_binding;
	cfg.require_scram = false;
	cfg.limits = NULL;

	cl->conn = pgw_conn_create(&cfg, errbuf);
	if (cl->conn == NULL)
		return fail(cl, "%s", errbuf);
	if (!pgw_conn_start(cl->conn))
		return fail(cl, "%s", pgw_conn_errmsg(cl->conn));

	for (;;)
	{
		pgw_event	ev;
		pgw_event_type t;

		while ((t = pgw_conn_next_event(cl->conn, &ev)) != PGW_EV_NONE)
		{
			switch (t)
			{
				case PGW_EV_SSL_ACCEPTED:
					if (!tls_handshake(cl, dsn, h))
						return false;
					break;
				case PGW_EV_SSL_REJECTED:
					if (dsn->sslmode >= PGW_SSL_REQUIRE)
						return fail(cl, "server does not support SSL, but SSL was required");
					if (!pgw_conn_continue_plain(cl->conn))
						return fail(cl, "%s", pgw_conn_errmsg(cl->conn));
					break;
				case PGW_EV_ERROR:
					server_error(cl, &ev);
					return false;
				case PGW_EV_NOTICE:
					print_notice(&ev);
					break;
				case PGW_EV_CONNECTED:
					return true;
				default:
					break;
			}
		}
		if (pgw_conn_get_state(cl->conn) == PGW_CONN_FAILED)
			return fail(cl, "%s", pgw_conn_errmsg(cl->conn));
		if (!flush_output(cl))
			return false;
		if (!read_input(cl))
			return false;
	}
}

/* Run one query through the extended protocol; print its rows. */
static bool
run_query(client *cl, const char *sql)
{
	uint64_t	id = 0;
	bool		ok = true;

	if (!pgw_conn_parse(cl->conn, "", sql, 0, NULL) ||
		!pgw_conn_bind_begin(cl->conn, "", "", 0, NULL, 0) ||
		!pgw_conn_bind_end(cl->conn, 0, NULL) ||
		!pgw_conn_describe(cl->conn, 'P', "") ||
		!pgw_conn_execute(cl->conn, "", 0) ||
		(id = pgw_conn_sync(cl->conn)) == 0)
		return fail(cl, "could not queue the query: %s",
					pgw_conn_errmsg(cl->conn));

	for (;;)
	{
		pgw_event	ev;
		pgw_event_type t;

		while ((t = pgw_conn_next_event(cl->conn, &ev)) != PGW_EV_NONE)
		{
			switch (t)
			{
				case PGW_EV_DATA_ROW:
					{
						uint16_t	i;

						for (i = 0; i < ev.msg.u.data_row.ncolumns; i++)
						{
							const pgw_value *v = &ev.msg.u.data_row.columns[i];

							if (i > 0)
								fputc('\t', stdout);
							if (v->len < 0)
								fputs("\\N", stdout);
							else
								fwrite(v->data, 1, (size_t) v->len, stdout);
						}
						fputc('\n', stdout);
					}
					break;
				case PGW_EV_ERROR:
					if (ok)
						server_error(cl, &ev);
					ok = false;
					break;
				case PGW_EV_NOTICE:
					print_notice(&ev);
					break;
				case PGW_EV_READY:
					if (ev.request_id == id)
						return ok;
					break;
				default:
					break;
			}
		}
		if (pgw_conn_get_state(cl->conn) == PGW_CONN_FAILED)
			return fail(cl, "%s", pgw_conn_errmsg(cl->conn));
		if (!flush_output(cl))
			return false;
		if (!read_input(cl))
			return false;
	}
}

static void
close_client(client *cl)
{
	if (cl->conn != NULL)
	{
		if (cl->fd >= 0 && pgw_conn_get_state(cl->conn) != PGW_CONN_FAILED)
		{
			pgw_conn_terminate(cl->conn);
			(void) flush_output(cl);
		}
		pgw_conn_free(cl->conn);
		cl->conn = NULL;
	}
	if (cl->tls != NULL)
	{
		pgw_tls_free(cl->tls);
		cl->tls = NULL;
	}
	if (cl->fd >= 0)
	{
		close(cl->fd);
		cl->fd = -1;
	}
}

/* The password from a passfile given in the DSN, or NULL. */
static char *
passfile_password(const pgw_dsn *dsn, const pgw_dsn_host *h,
				  const char *user)
{
	const char *path = dsn->values[PGW_DSN_PASSFILE];
	FILE	   *f;
	char	   *contents;
	struct stat st;
	size_t		n;
	char	   *pw;
	const char *dbname = dsn->values[PGW_DSN_DBNAME];

	if (path == NULL)
		return NULL;
	f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	if (fstat(fileno(f), &st) != 0 || st.st_size < 0)
	{
		fclose(f);
		return NULL;
	}
	contents = malloc((size_t) st.st_size + 1);
	if (contents == NULL)
	{
		fclose(f);
		return NULL;
	}
	n = fread(contents, 1, (size_t) st.st_size, f);
	fclose(f);
	contents[n] = '\0';
	pw = pgw_passfile_lookup(contents, n,
							 h->host ? h->host : h->hostaddr, h->port,
							 dbname ? dbname : user, user);
	free(contents);
	return pw;
}

int
main(int argc, char **argv)
{
	static client cl;
	char		errbuf[PGW_ERRMSG_LEN];
	pgw_dsn    *dsn;
	const char *user;
	int			i;
	int			status = 0;
	bool		connected = false;
	char		allerr[8192] = "";
	size_t		allerrlen = 0;

	if (argc < 3)
	{
		fprintf(stderr, "usage: %s DSN QUERY...\n", argv[0]);
		return 2;
	}

	pgw_use_openssl_crypto();

	dsn = pgw_dsn_parse(argv[1], errbuf);
	if (dsn == NULL)
	{
		fprintf(stderr, "invalid connection string: %s\n", errbuf);
		return 1;
	}
	if (!pgw_dsn_finish(dsn, DEFAULT_SOCKET_DIR, DEFAULT_PORT, errbuf))
	{
		fprintf(stderr, "invalid connection string: %s\n", errbuf);
		pgw_dsn_free(dsn);
		return 1;
	}

	user = dsn->values[PGW_DSN_USER];
	if (user == NULL)
	{
		struct passwd *pw = getpwuid(geteuid());

		if (pw == NULL)
		{
			fprintf(stderr, "could not look up the current user\n");
			pgw_dsn_free(dsn);
			return 1;
		}
		user = pw->pw_name;
	}

	cl.fd = -1;
	for (i = 0; i < dsn->nhosts && !connected; i++)
	{
		const pgw_dsn_host *h = &dsn->hosts[i];
		char	   *filepw = NULL;
		const char *password = dsn->values[PGW_DSN_PASSWORD];
		int			n;

		if (password == NULL)
			password = filepw = passfile_password(dsn, h, user);

		cl.deadline_ms = now_ms() + (dsn->connect_timeout > 0 ?
									 (int64_t) dsn->connect_timeout * 1000 :
									 DEFAULT_TIMEOUT_MS);
		cl.err[0] = '\0';
		if (open_socket(&cl, h) &&
			start_session(&cl, dsn, h, user, password))
			connected = true;
		else
		{
			n = snprintf(allerr + allerrlen, sizeof(allerr) - allerrlen,
						 "connection to server %s%s%s port %u failed: %s\n",
						 h->host ? h->host : "",
						 h->host && h->hostaddr ? "/" : "",
						 h->hostaddr ? h->hostaddr : "",
						 (unsigned) h->port, cl.err);
			if (n > 0 && (size_t) n < sizeof(allerr) - allerrlen)
				allerrlen += (size_t) n;
			close_client(&cl);
		}
		free(filepw);
	}

	if (!connected)
	{
		fputs(allerr, stderr);
		pgw_dsn_free(dsn);
		return 1;
	}

	fprintf(stderr, "tls=%s channel_binding=%s\n",
			cl.tls != NULL ? "on" : "off",
			pgw_conn_channel_bound(cl.conn) ? "on" : "off");

	cl.deadline_ms = now_ms() + DEFAULT_TIMEOUT_MS;
	for (i = 2; i < argc; i++)
	{
		if (!run_query(&cl, argv[i]))
		{
			fprintf(stderr, "%s\n", cl.err);
			status = 1;
			break;
		}
	}
	fflush(stdout);

	close_client(&cl);
	pgw_dsn_free(dsn);
	return status;
}
