/*-------------------------------------------------------------------------
 *
 * test_tls.c
 *	  Unit tests of the memory-BIO TLS client (src/tls/pgw_tls.c).
 *
 * Each case runs a complete handshake in process: a pgw_tls client talks
 * to an OpenSSL server that also sits on memory BIOs, and the test moves
 * ciphertext between the two.  The certificates come from
 * test/certs/make-certs.sh, in the directory named by PGW_TEST_CERTS.
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls/pgw_tls.h"
#include "tap.h"

/* Size of the error buffers of connect_with (room for a "create: " prefix) */
#define TEST_ERRLEN (PGW_ERRMSG_LEN + 16)

/* An OpenSSL server on memory BIOs. */
typedef struct test_server
{
	SSL_CTX    *ctx;
	SSL		   *ssl;
	BIO		   *rbio;			/* ciphertext from the client */
	BIO		   *wbio;			/* ciphertext for the client */
	bool		done;
	bool		failed;
	bool		sni_called;
	char		sni[256];		/* server name seen, "" if none */
} test_server;

static const char *certdir;

static char *cert_path(const char *name);
static int	servername_cb(SSL *ssl, int *al, void *arg);
static int	accept_any_cb(int ok, X509_STORE_CTX *ctx);
static test_server *server_new(const char *crt, const char *key,
							   bool want_client_cert, int max_version);
static void server_free(test_server *s);
static void shuttle(pgw_tls *c, test_server *s, size_t chunk);
static pgw_tls_status run_handshake(pgw_tls *c, test_server *s);
static void init_config(pgw_tls_config *cfg, pgw_sslmode mode,
						const char *host);
static pgw_tls_status connect_with(const pgw_tls_config *cfg,
								   const char *crt, const char *key,
								   char *errmsg);
static char *write_encrypted_key(const char *src, const char *password);
static void test_modes(void);
static void test_crl(void);
static void test_client_cert(void);
static void test_sni(void);
static void test_versions(void);
static void test_data(void);
static void test_end_point(void);
static void test_create_errors(void);


/* Path of a file in certdir; the same name always yields the same string. */
static char *
cert_path(const char *name)
{
	static char names[32][64];
	static char paths[32][1024];
	static int	npaths;
	int			i;

	for (i = 0; i < npaths; i++)
		if (strcmp(names[i], name) == 0)
			return paths[i];
	if (npaths == 32)
		abort();
	snprintf(names[npaths], sizeof(names[npaths]), "%s", name);
	snprintf(paths[npaths], sizeof(paths[npaths]), "%s/%s", certdir, name);
	return paths[npaths++];
}

static int
servername_cb(SSL *ssl, int *al, void *arg)
{
	test_server *s = (test_server *) arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void) al;
	s->sni_called = true;
	snprintf(s->sni, sizeof(s->sni), "%s", name ? name : "");
	return SSL_TLSEXT_ERR_OK;
}

/* Request a client certificate but do not insist on its validity. */
static int
accept_any_cb(int ok, X509_STORE_CTX *ctx)
{
	(void) ok;
	(void) ctx;
	return 1;
}

static test_server *
server_new(const char *crt, const char *key, bool want_client_cert,
		   int max_version)
{
	test_server *s = calloc(1, sizeof(test_server));

	s->ctx = SSL_CTX_new(TLS_server_method());
	if (SSL_CTX_use_certificate_chain_file(s->ctx, cert_path(crt)) != 1 ||
		SSL_CTX_use_PrivateKey_file(s->ctx, cert_path(key),
									SSL_FILETYPE_PEM) != 1)
	{
		fprintf(stderr, "server could not load %s/%s\n", crt, key);
		ERR_print_errors_fp(stderr);
		exit(2);
	}
	if (max_version != 0)
		SSL_CTX_set_max_proto_version(s->ctx, max_version);
	if (want_client_cert)
	{
		SSL_CTX_load_verify_locations(s->ctx, cert_path("root.crt"), NULL);
		SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, accept_any_cb);
	}
	SSL_CTX_set_tlsext_servername_callback(s->ctx, servername_cb);
	SSL_CTX_set_tlsext_servername_arg(s->ctx, s);

	s->ssl = SSL_new(s->ctx);
	s->rbio = BIO_new(BIO_s_mem());
	s->wbio = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(s->rbio, -1);
	BIO_set_mem_eof_return(s->wbio, -1);
	SSL_set_bio(s->ssl, s->rbio, s->wbio);
	SSL_set_accept_state(s->ssl);
	return s;
}

static void
server_free(test_server *s)
{
	if (s == NULL)
		return;
	SSL_free(s->ssl);
	SSL_CTX_free(s->ctx);
	free(s);
}

/*
 * Move all pending ciphertext both ways, in pieces of at most chunk bytes
 * (to exercise partial records).
 */
static void
shuttle(pgw_tls *c, test_server *s, size_t chunk)
{
	uint8_t		buf[16384];
	bool		moved = true;

	if (chunk > sizeof(buf))
		chunk = sizeof(buf);
	while (moved)
	{
		size_t		n;
		int			r;

		moved = false;
		n = pgw_tls_get_ciphertext(c, buf, chunk);
		if (n > 0)
		{
			if (BIO_write(s->rbio, buf, (int) n) != (int) n)
				abort();
			moved = true;
		}
		r = BIO_read(s->wbio, buf, (int) chunk);
		if (r > 0)
		{
			if (pgw_tls_put_ciphertext(c, buf, (size_t) r) != (size_t) r)
				abort();
			moved = true;
		}
	}
}

/* Run both sides of the handshake; returns the client's final status. */
static pgw_tls_status
run_handshake(pgw_tls *c, test_server *s)
{
	pgw_tls_status st = PGW_TLS_WANT_IO;
	int			i;

	for (i = 0; i < 100; i++)
	{
		st = pgw_tls_handshake(c);
		if (!s->done && !s->failed)
		{
			int			r = SSL_do_handshake(s->ssl);

			if (r == 1)
				s->done = true;
			else
			{
				int			e = SSL_get_error(s->ssl, r);

				if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
					s->failed = true;
			}
			ERR_clear_error();
		}
		shuttle(c, s, 16384);
		if (st == PGW_TLS_ERROR)
			break;
		if (st == PGW_TLS_DONE && (s->done || s->failed))
			break;
	}
	return st;
}

static void
init_config(pgw_tls_config *cfg, pgw_sslmode mode, const char *host)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->sslmode = mode;
	cfg->host = host;
	cfg->sni = true;
}

/*
 * Handshake against a server using crt/key.  Copies the client's error
 * (or "" on success) into errmsg.
 */
static pgw_tls_status
connect_with(const pgw_tls_config *cfg, const char *crt, const char *key,
			 char *errmsg)
{
	char		errbuf[PGW_ERRMSG_LEN];
	pgw_tls    *c;
	test_server *s;
	pgw_tls_status st;

	errmsg[0] = '\0';
	c = pgw_tls_create(cfg, errbuf);
	if (c == NULL)
	{
		snprintf(errmsg, TEST_ERRLEN, "create: %s", errbuf);
		return PGW_TLS_ERROR;
	}
	s = server_new(crt, key, false, 0);
	st = run_handshake(c, s);
	if (st == PGW_TLS_ERROR)
		snprintf(errmsg, TEST_ERRLEN, "%s", pgw_tls_errmsg(c));
	pgw_tls_free(c);
	server_free(s);
	return st;
}

/* Write src's key to a temporary file encrypted with password. */
static char *
write_encrypted_key(const char *src, const char *password)
{
	static char path[] = "/tmp/pgw_test_tls_keyXXXXXX";
	FILE	   *f;
	EVP_PKEY   *pkey;
	int			fd;

	f = fopen(cert_path(src), "r");
	if (f == NULL)
		return NULL;
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (pkey == NULL)
		return NULL;
	fd = mkstemp(path);
	if (fd < 0)
	{
		EVP_PKEY_free(pkey);
		return NULL;
	}
	f = fdopen(fd, "w");
	if (f == NULL ||
		!PEM_write_PrivateKey(f, pkey, EVP_aes_256_cbc(),
							  (unsigned char *) password,
							  (int) strlen(password), NULL, NULL))
	{
		EVP_PKEY_free(pkey);
		return NULL;
	}
	fclose(f);
	EVP_PKEY_free(pkey);
	return path;
}

static void
test_modes(void)
{
	pgw_tls_config cfg;
	char		err[TEST_ERRLEN];

	init_config(&cfg, PGW_SSL_REQUIRE, "localhost");
	tap_is_int(connect_with(&cfg, "server.crt", "server.key", err),
			   PGW_TLS_DONE, "require without root certificate succeeds");
	tap_is_int(connect_with(&cfg, "wronghost.crt", "wronghost.key", err),
			   PGW_TLS_DONE, "require does not check the host name");

	init_config(&cfg, PGW_SSL_REQUIRE, "localhost");
	cfg.rootcert = cert_path("other_root.crt");
	tap_is_int(connect_with(&cfg, "server.crt", "server.key", err),
			   PGW_TLS_ERROR, "require with a root certificate verifies the chain");
	tap_is_str(err, "certificate verify failed: unable to get local issuer certificate",
			   "require with wrong root: verify error");

	init_config(&cfg, PGW_SSL_VERIFY_CA, "localhost");
	cfg.rootcert = cert_path("root.crt");
	tap_is_int(connect_with(&cfg, "server.crt", "server.key", err),
			   PGW_TLS_DONE, "verify-ca with root.crt succeeds");
	tap_is_int(connect_with(&cfg, "wronghost.crt", "wronghost.key", err),
			   PGW_TLS_DONE, "verify-ca does not check the host name");

	cfg.rootcert = cert_path("other_root.crt");
	tap_is_int(connect_with(&cfg, "server.crt", "server.key", err),
			   PGW_TLS_ERROR, "verify-ca with other_root.crt fails");
	tap_is_str(err, "certificate verify failed: unable to get local issuer certificate",
			   "verify-ca with other_root.crt: verify error message");

	init_config(&cfg, PGW_SSL_VERIFY_FULL, "localhost");
	cfg.rootcert = cert_path("root.crt");
	tap_is_int(connect_with(&cfg, "server.crt", "server.key", err),
			   PGW_TLS_DONE, "verify-full with host localhost succeeds");
	tap_is_str(err, "", "verify-full localhost: no error");

	cfg.host = "LOCALHOST";
	tap_is_int(connect_with(&cfg, "server.crt", "server.key", err),
			   PGW_TLS_DONE, "verify-full host name match ignores case");

	cfg.host = "127.0.0.1";
	tap_is_int(connect_with(&cfg, "server.crt", "server.key", err),
			   PGW_TLS_DONE, "verify-full with 127.0.0.1 succeeds (SAN IP)");

	cfg.host = "::1";
	tap_is_int(connect_with(&cfg, "server.crt", "server.key", err),
			   PGW_TLS_DONE, "verify-full with ::1 succeeds (SAN IPv6)");

	cfg.host = "127.0.0.2";
	tap_is_int(connect_with(&cfg, "server.crt", "server.key", err),
			   PGW_TLS_ERROR, "verify-full with 127.0.0.2 fails");
	tap_is_str(err,
			   "server certificate for \"localhost\" (and 2 other names) does not match host name \"127.0.0.2\"",
			   "verify-full 127.0.0.2: message names the host");

	cfg.host = "badhost";
	tap_is_int(connect_with(&cfg, "server.crt", "server.key", err),
			   PGW_TLS_ERROR, "verify-full with host badhost fails");
	tap_is_str(err,
			   "server certificate for \"localhost\" (and 2 other names) does not match host name \"badhost\"",
			   "verify-full badhost: message names the host");

	cfg.host = "localhost";
	tap_is_int(connect_with(&cfg, "wronghost.crt", "wronghost.key", err),
			   PGW_TLS_ERROR, "verify-full with the wronghost certificate fails");
	tap_is_str(err,
			   "server certificate for \"otherhost.example\" does not match host name \"localhost\"",
			   "verify-full wronghost: message");

	cfg.host = "otherhost.example";
	tap_is_int(connect_with(&cfg, "wronghost.crt", "wronghost.key", err),
			   PGW_TLS_DONE, "verify-full wronghost certificate matches its own name");

	cfg.rootcert = cert_path("other_root.crt");
	cfg.host = "localhost";
	tap_is_int(connect_with(&cfg, "server.crt", "server.key", err),
			   PGW_TLS_ERROR, "verify-full with other_root.crt fails");
	tap_is_str(err, "certificate verify failed: unable to get local issuer certificate",
			   "verify-full with wrong root: chain error comes first");
}

static void
test_crl(void)
{
	pgw_tls_config cfg;
	char		err[TEST_ERRLEN];

	init_config(&cfg, PGW_SSL_VERIFY_CA, "localhost");
	cfg.rootcert = cert_path("root.crt");
	tap_is_int(connect_with(&cfg, "revoked.crt", "revoked.key", err),
			   PGW_TLS_DONE, "revoked certificate without CRL succeeds under verify-ca");

	cfg.crl = cert_path("root.crl");
	tap_is_int(connect_with(&cfg, "revoked.crt", "revoked.key", err),
			   PGW_TLS_ERROR, "revoked certificate with CRL fails");
	tap_is_str(err, "certificate verify failed: certificate revoked",
			   "revoked certificate: message");
	tap_is_int(connect_with(&cfg, "server.crt", "server.key", err),
			   PGW_TLS_DONE, "unrevoked certificate with CRL succeeds");

	cfg.crl = cert_path("no_such.crl");
	tap_is_int(connect_with(&cfg, "server.crt", "server.key", err),
			   PGW_TLS_ERROR, "missing CRL file fails");
	tap_ok(strncmp(err, "create: could not load SSL certificate revocation list \"", 56) == 0 &&
		   strstr(err, "no_such.crl\": ") != NULL,
		   "missing CRL file: message (%s)", err);
}

static void
test_client_cert(void)
{
	pgw_tls_config cfg;
	char		errbuf[PGW_ERRMSG_LEN];
	pgw_tls    *c;
	test_server *s;
	X509	   *peer;
	char		cn[256] = "";
	char	   *enckey;

	init_config(&cfg, PGW_SSL_VERIFY_FULL, "localhost");
	cfg.rootcert = cert_path("root.crt");
	cfg.cert = cert_path("client.crt");
	cfg.key = cert_path("client.key");
	c = pgw_tls_create(&cfg, errbuf);
	tap_ok(c != NULL, "create with client certificate (%s)", c ? "" : errbuf);
	if (c == NULL)
		return;
	s = server_new("server.crt", "server.key", true, 0);
	tap_is_int(run_handshake(c, s), PGW_TLS_DONE,
			   "handshake with client certificate");
	tap_ok(s->done, "server completed the handshake");
	peer = SSL_get1_peer_certificate(s->ssl);
	tap_ok(peer != NULL, "server received a client certificate");
	if (peer != NULL)
	{
		X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
								  NID_commonName, cn, sizeof(cn));
		X509_free(peer);
	}
	tap_is_str(cn, "pgasync_cert", "client certificate CN");
	tap_is_int(SSL_get_verify_result(s->ssl), X509_V_OK,
			   "client certificate verifies against the CA");
	pgw_tls_free(c);
	server_free(s);

	/* Without a client certificate the server gets none. */
	cfg.cert = NULL;
	cfg.key = NULL;
	c = pgw_tls_create(&cfg, errbuf);
	s = server_new("server.crt", "server.key", true, 0);
	tap_is_int(run_handshake(c, s), PGW_TLS_DONE,
			   "handshake without client certificate");
	peer = SSL_get1_peer_certificate(s->ssl);
	tap_ok(peer == NULL, "server received no client certificate");
	X509_free(peer);
	pgw_tls_free(c);
	server_free(s);

	/* Certificate and key that do not match. */
	cfg.cert = cert_path("client.crt");
	cfg.key = cert_path("server.key");
	c = pgw_tls_create(&cfg, errbuf);
	tap_ok(c == NULL, "mismatched client key is rejected at create");
	tap_ok(strstr(errbuf, "server.key\": key values mismatch") != NULL,
		   "mismatched key message (%s)", errbuf);
	pgw_tls_free(c);

	/* Encrypted key. */
	enckey = write_encrypted_key("client.key", "s3cret");
	tap_ok(enckey != NULL, "wrote encrypted client key");
	if (enckey == NULL)
		return;
	cfg.key = enckey;
	cfg.key_password = "s3cret";
	c = pgw_tls_create(&cfg, errbuf);
	tap_ok(c != NULL, "encrypted key with the right passphrase (%s)",
		   c ? "" : errbuf);
	if (c != NULL)
	{
		s = server_new("server.crt", "server.key", true, 0);
		tap_is_int(run_handshake(c, s), PGW_TLS_DONE,
				   "handshake with encrypted client key");
		peer = SSL_get1_peer_certificate(s->ssl);
		tap_ok(peer != NULL, "server received the client certificate");
		X509_free(peer);
		pgw_tls_free(c);
		server_free(s);
	}

	cfg.key_password = "wrong";
	c = pgw_tls_create(&cfg, errbuf);
	tap_ok(c == NULL && strncmp(errbuf, "could not load private key file", 31) == 0,
		   "wrong passphrase is rejected (%s)", errbuf);
	pgw_tls_free(c);

	cfg.key_password = NULL;
	c = pgw_tls_create(&cfg, errbuf);
	tap_ok(c == NULL && strncmp(errbuf, "could not load private key file", 31) == 0,
		   "missing passphrase is rejected without prompting (%s)", errbuf);
	pgw_tls_free(c);
	unlink(enckey);
}

static void
test_sni(void)
{
	static const struct
	{
		const char *host;
		bool		sni;
		const char *want;
	}			cases[] = {
		{"localhost", true, "localhost"},
		{"127.0.0.1", true, ""},
		{"::1", true, ""},
		{"localhost", false, ""},
	};
	int			i;

	for (i = 0; i < (int) (sizeof(cases) / sizeof(cases[0])); i++)
	{
		pgw_tls_config cfg;
		char		errbuf[PGW_ERRMSG_LEN];
		pgw_tls    *c;
		test_server *s;

		init_config(&cfg, PGW_SSL_REQUIRE, cases[i].host);
		cfg.sni = cases[i].sni;
		c = pgw_tls_create(&cfg, errbuf);
		s = server_new("server.crt", "server.key", false, 0);
		tap_is_int(run_handshake(c, s), PGW_TLS_DONE,
				   "handshake for SNI case %s sni=%d", cases[i].host,
				   cases[i].sni);
		tap_ok(s->sni_called, "server name callback ran");
		tap_is_str(s->sni, cases[i].want, "SNI seen for host %s sni=%d",
				   cases[i].host, cases[i].sni);
		pgw_tls_free(c);
		server_free(s);
	}
}

static void
test_versions(void)
{
	pgw_tls_config cfg;
	char		errbuf[PGW_ERRMSG_LEN];
	pgw_tls    *c;
	test_server *s;

	init_config(&cfg, PGW_SSL_REQUIRE, "localhost");
	cfg.min_protocol = "TLSv1.1";
	c = pgw_tls_create(&cfg, errbuf);
	tap_ok(c == NULL, "minimum TLSv1.1 is rejected at create");
	tap_is_str(errbuf,
			   "minimum TLS protocol version \"TLSv1.1\" is not supported: TLSv1.2 is the lowest allowed",
			   "TLSv1.1 message");
	pgw_tls_free(c);

	cfg.min_protocol = "TLSv1";
	c = pgw_tls_create(&cfg, errbuf);
	tap_ok(c == NULL, "minimum TLSv1 is rejected at create");
	pgw_tls_free(c);

	cfg.min_protocol = NULL;
	cfg.max_protocol = "TLSv1.1";
	c = pgw_tls_create(&cfg, errbuf);
	tap_ok(c == NULL, "maximum TLSv1.1 is rejected at create");
	pgw_tls_free(c);

	cfg.max_protocol = "TLSv9";
	c = pgw_tls_create(&cfg, errbuf);
	tap_ok(c == NULL, "unknown version is rejected");
	tap_is_str(errbuf, "invalid maximum TLS protocol version \"TLSv9\"",
			   "unknown version message");
	pgw_tls_free(c);

	cfg.min_protocol = "TLSv1.3";
	cfg.max_protocol = "TLSv1.2";
	c = pgw_tls_create(&cfg, errbuf);
	tap_ok(c == NULL, "maximum below minimum is rejected");
	pgw_tls_free(c);

	/* Default: TLS 1.3 with a current server. */
	cfg.min_protocol = NULL;
	cfg.max_protocol = NULL;
	c = pgw_tls_create(&cfg, errbuf);
	s = server_new("server.crt", "server.key", false, 0);
	tap_ok(pgw_tls_version(c) == NULL, "no version before the handshake");
	tap_is_int(run_handshake(c, s), PGW_TLS_DONE, "default handshake");
	tap_is_str(pgw_tls_version(c), "TLSv1.3", "default negotiates TLSv1.3");
	tap_is_str(pgw_tls_cipher(c), SSL_CIPHER_get_name(SSL_get_current_cipher(s->ssl)),
			   "cipher matches the server's");
	pgw_tls_free(c);
	server_free(s);

	/* A TLS 1.2 server is accepted by default. */
	c = pgw_tls_create(&cfg, errbuf);
	s = server_new("server.crt", "server.key", false, TLS1_2_VERSION);
	tap_is_int(run_handshake(c, s), PGW_TLS_DONE, "handshake with a TLS 1.2 server");
	tap_is_str(pgw_tls_version(c), "TLSv1.2", "negotiated TLSv1.2");
	pgw_tls_free(c);
	server_free(s);

	/* ... but not with a TLS 1.3 minimum. */
	cfg.min_protocol = "TLSv1.3";
	c = pgw_tls_create(&cfg, errbuf);
	s = server_new("server.crt", "server.key", false, TLS1_2_VERSION);
	tap_is_int(run_handshake(c, s), PGW_TLS_ERROR,
			   "TLSv1.3 minimum fails against a TLS 1.2 server");
	tap_ok(strncmp(pgw_tls_errmsg(c), "SSL error during handshake: ", 28) == 0,
		   "version failure message (%s)", pgw_tls_errmsg(c));
	tap_is_int(pgw_tls_handshake(c), PGW_TLS_ERROR, "handshake error is sticky");
	pgw_tls_free(c);
	server_free(s);

	/* A client maximum of TLS 1.2. */
	cfg.min_protocol = NULL;
	cfg.max_protocol = "TLSv1.2";
	c = pgw_tls_create(&cfg, errbuf);
	s = server_new("server.crt", "server.key", false, 0);
	tap_is_int(run_handshake(c, s), PGW_TLS_DONE, "handshake with maximum TLSv1.2");
	tap_is_str(pgw_tls_version(c), "TLSv1.2", "maximum TLSv1.2 honoured");
	pgw_tls_free(c);
	server_free(s);
}

static void
test_data(void)
{
	pgw_tls_config cfg;
	char		errbuf[PGW_ERRMSG_LEN];
	pgw_tls    *c;
	test_server *s;
	uint8_t		buf[4096];
	long		n;
	int			r;
	size_t		big = 1024 * 1024;
	uint8_t    *src;
	uint8_t    *dst;
	size_t		sent,
				got;
	size_t		i;
	int			rounds;

	init_config(&cfg, PGW_SSL_REQUIRE, "localhost");
	c = pgw_tls_create(&cfg, errbuf);
	s = server_new("server.crt", "server.key", false, 0);
	tap_is_int(run_handshake(c, s), PGW_TLS_DONE, "handshake for data tests");

	tap_is_int(pgw_tls_read(c, buf, sizeof(buf)), 0,
			   "read with nothing pending returns 0");

	/* Small message client -> server. */
	tap_is_int(pgw_tls_write(c, (const uint8_t *) "hello server", 12), 12,
			   "client write takes all bytes");
	tap_ok(pgw_tls_pending_ciphertext(c) > 12, "ciphertext is pending");
	shuttle(c, s, 16384);
	tap_is_int(pgw_tls_pending_ciphertext(c), 0, "ciphertext drained");
	r = SSL_read(s->ssl, buf, sizeof(buf));
	tap_ok(r == 12 && memcmp(buf, "hello server", 12) == 0,
		   "server reads the client's plaintext");

	/* Small message server -> client. */
	r = SSL_write(s->ssl, "hello client", 12);
	tap_is_int(r, 12, "server write");
	shuttle(c, s, 16384);
	n = pgw_tls_read(c, buf, sizeof(buf));
	tap_ok(n == 12 && memcmp(buf, "hello client", 12) == 0,
		   "client reads the server's plaintext (got %ld)", n);

	src = malloc(big);
	dst = malloc(big);
	for (i = 0; i < big; i++)
		src[i] = (uint8_t) ((i * 7919) >> 3);

	/* 1 MiB client -> server: small writes, small ciphertext pieces. */
	sent = got = 0;
	rounds = 0;
	while (got < big && rounds++ < 100000)
	{
		if (sent < big)
		{
			size_t		want = big - sent < 50000 ? big - sent : 50000;

			n = pgw_tls_write(c, src + sent, want);
			if (n < 0)
				break;
			sent += (size_t) n;
		}
		shuttle(c, s, 1000);
		while (got < big)
		{
			r = SSL_read(s->ssl, dst + got,
						 (int) (big - got < 7000 ? big - got : 7000));
			if (r <= 0)
				break;
			got += (size_t) r;
		}
	}
	tap_is_int(got, big, "server received 1 MiB");
	tap_ok(memcmp(src, dst, big) == 0, "1 MiB client -> server intact");

	/* 1 MiB server -> client: client reads with a small buffer. */
	memset(dst, 0, big);
	sent = got = 0;
	rounds = 0;
	while (got < big && rounds++ < 100000)
	{
		if (sent < big)
		{
			r = SSL_write(s->ssl, src + sent,
						  (int) (big - sent < 30000 ? big - sent : 30000));
			if (r <= 0)
				break;
			sent += (size_t) r;
		}
		shuttle(c, s, 1500);
		while (got < big)
		{
			size_t		cap = big - got < 3000 ? big - got : 3000;

			n = pgw_tls_read(c, dst + got, cap);
			if (n <= 0)
				break;
			got += (size_t) n;
		}
	}
	tap_is_int(got, big, "client received 1 MiB");
	tap_ok(memcmp(src, dst, big) == 0, "1 MiB server -> client intact");
	free(src);
	free(dst);

	/* close_notify from the server. */
	SSL_shutdown(s->ssl);
	shuttle(c, s, 16384);
	tap_is_int(pgw_tls_read(c, buf, sizeof(buf)), -2,
			   "read after close_notify returns -2");
	tap_is_int(pgw_tls_read(c, buf, sizeof(buf)), -2,
			   "read after close_notify still returns -2");
	pgw_tls_free(c);
	server_free(s);

	/* Garbage from the "server" makes a sticky read error. */
	c = pgw_tls_create(&cfg, errbuf);
	s = server_new("server.crt", "server.key", false, 0);
	run_handshake(c, s);
	memset(buf, 0x17, 64);
	pgw_tls_put_ciphertext(c, buf, 64);
	tap_is_int(pgw_tls_read(c, buf, sizeof(buf)), -1,
			   "corrupt record makes read fail");
	tap_ok(strncmp(pgw_tls_errmsg(c), "SSL error during read: ", 23) == 0,
		   "corrupt record message (%s)", pgw_tls_errmsg(c));
	tap_is_int(pgw_tls_write(c, (const uint8_t *) "x", 1), -1,
			   "write after an error fails");
	pgw_tls_free(c);
	server_free(s);

	/* I/O before the handshake is refused. */
	c = pgw_tls_create(&cfg, errbuf);
	tap_is_int(pgw_tls_write(c, (const uint8_t *) "x", 1), -1,
			   "write before the handshake fails");
	pgw_tls_free(c);
}

static void
test_end_point(void)
{
	pgw_tls_config cfg;
	char		errbuf[PGW_ERRMSG_LEN];
	pgw_tls    *c;
	test_server *s;
	uint8_t		out[64];
	uint8_t		want[EVP_MAX_MD_SIZE];
	unsigned int wantlen = 0;
	size_t		n;
	X509	   *cert;
	FILE	   *f;

	f = fopen(cert_path("server.crt"), "r");
	cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	tap_ok(cert != NULL && X509_digest(cert, EVP_sha256(), want, &wantlen),
		   "hashed server.crt independently");
	X509_free(cert);

	init_config(&cfg, PGW_SSL_REQUIRE, "localhost");
	c = pgw_tls_create(&cfg, errbuf);
	s = server_new("server.crt", "server.key", false, 0);
	tap_is_int(pgw_tls_server_end_point(c, out, sizeof(out)), 0,
			   "no end point before the handshake");
	tap_is_int(run_handshake(c, s), PGW_TLS_DONE, "handshake for end point");
	n = pgw_tls_server_end_point(c, out, sizeof(out));
	tap_is_int(n, 32, "server end point is 32 bytes (SHA-256)");
	tap_ok(n == wantlen && memcmp(out, want, n) == 0,
		   "server end point equals SHA-256 of the certificate DER");
	tap_is_int(pgw_tls_server_end_point(c, out, 16), 0,
			   "too small buffer fails");
	pgw_tls_free(c);
	server_free(s);
}

static void
test_create_errors(void)
{
	pgw_tls_config cfg;
	char		errbuf[PGW_ERRMSG_LEN];
	pgw_tls    *c;

	init_config(&cfg, PGW_SSL_VERIFY_CA, "localhost");
	c = pgw_tls_create(&cfg, errbuf);
	tap_ok(c == NULL, "verify-ca without root certificate fails");
	tap_is_str(errbuf, "root certificate file is required for sslmode \"verify-ca\"",
			   "verify-ca without root: message");

	init_config(&cfg, PGW_SSL_VERIFY_FULL, "localhost");
	c = pgw_tls_create(&cfg, errbuf);
	tap_is_str(errbuf, "root certificate file is required for sslmode \"verify-full\"",
			   "verify-full without root: message");

	init_config(&cfg, PGW_SSL_VERIFY_FULL, NULL);
	cfg.rootcert = cert_path("root.crt");
	c = pgw_tls_create(&cfg, errbuf);
	tap_ok(c == NULL, "verify-full without host fails");

	init_config(&cfg, PGW_SSL_DISABLE, "localhost");
	c = pgw_tls_create(&cfg, errbuf);
	tap_ok(c == NULL, "sslmode disable cannot create TLS");

	init_config(&cfg, PGW_SSL_REQUIRE, "localhost");
	cfg.cert = cert_path("missing.crt");
	cfg.key = cert_path("client.key");
	c = pgw_tls_create(&cfg, errbuf);
	tap_ok(c == NULL, "missing certificate file fails at create");
	tap_ok(strncmp(errbuf, "could not read certificate file \"", 33) == 0 &&
		   strstr(errbuf, "missing.crt\": ") != NULL &&
		   strlen(strstr(errbuf, "missing.crt\": ")) > 14,
		   "missing certificate message with reason (%s)", errbuf);

	cfg.cert = cert_path("client.crt");
	cfg.key = cert_path("missing.key");
	c = pgw_tls_create(&cfg, errbuf);
	tap_ok(c == NULL && strncmp(errbuf, "could not load private key file \"", 33) == 0,
		   "missing key file fails at create (%s)", errbuf);

	init_config(&cfg, PGW_SSL_VERIFY_CA, "localhost");
	cfg.rootcert = cert_path("missing_root.crt");
	c = pgw_tls_create(&cfg, errbuf);
	tap_ok(c == NULL && strncmp(errbuf, "could not read root certificate file \"", 38) == 0,
		   "missing root certificate fails at create (%s)", errbuf);

	/* Not a certificate at all. */
	cfg.rootcert = cert_path("root.key");
	c = pgw_tls_create(&cfg, errbuf);
	tap_ok(c == NULL && strncmp(errbuf, "could not read root certificate file \"", 38) == 0,
		   "key as root certificate fails at create (%s)", errbuf);

	/* "system" loads the default trust store (which lacks our CA). */
	init_config(&cfg, PGW_SSL_VERIFY_CA, "localhost");
	cfg.rootcert = "system";
	c = pgw_tls_create(&cfg, errbuf);
	tap_ok(c != NULL, "rootcert system accepted (%s)", c ? "" : errbuf);
	pgw_tls_free(c);
	{
		char		err[TEST_ERRLEN];

		tap_is_int(connect_with(&cfg, "server.crt", "server.key", err),
				   PGW_TLS_ERROR, "system roots do not trust the test CA");
		tap_ok(strncmp(err, "certificate verify failed: ", 27) == 0,
			   "system roots: verify error (%s)", err);
	}
}

int
main(void)
{
	certdir = getenv("PGW_TEST_CERTS");
	if (certdir == NULL || certdir[0] == '\0')
	{
		printf("1..0 # SKIP PGW_TEST_CERTS is not set\n");
		return 0;
	}

	test_modes();
	test_crl();
	test_client_cert();
	test_sni();
	test_versions();
	test_data();
	test_end_point();
	test_create_errors();
	return tap_done();
}
