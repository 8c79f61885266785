/*-------------------------------------------------------------------------
 *
 * pgw_tls.c
 *	  TLS client for the protocol core, built on OpenSSL with a pair of
 *	  memory BIOs: one holding ciphertext received from the server, one
 *	  collecting ciphertext to be written to it.  The owner moves those
 *	  bytes to and from the socket; nothing here does any I/O.
 *
 * Certificate checks follow libpq's sslmode meanings (see pgw_tls.h).  The
 * chain is verified by OpenSSL during the handshake; the host name is
 * checked afterwards, so that the error can name both the certificate and
 * the host.
 *
 *-------------------------------------------------------------------------
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls/pgw_tls.h"

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#define SSL_get1_peer_certificate(s) SSL_get_peer_certificate(s)
#endif

struct pgw_tls
{
	SSL_CTX    *ctx;
	SSL		   *ssl;
	BIO		   *rbio;			/* ciphertext from the server (owned by ssl) */
	BIO		   *wbio;			/* ciphertext for the server (owned by ssl) */
	pgw_sslmode sslmode;
	bool		verify_chain;	/* peer certificate chain is checked */
	bool		verify_host;	/* host name is checked (verify-full) */
	bool		host_is_ip;
	char	   *host;
	char	   *key_password;	/* for the passwd callback while loading */
	bool		handshake_done;
	bool		closed;			/* close_notify received */
	bool		failed;
	char		errmsg[PGW_ERRMSG_LEN];
};

static const char *pgw_tls_mode_name(pgw_sslmode mode);
static void pgw_tls_seterr_ssl(char *errbuf, unsigned long ecode,
							   const char *fmt,...)
#if defined(__GNUC__)
			__attribute__((format(printf, 3, 4)))
#endif
			;
static int	pgw_tls_passwd_cb(char *buf, int size, int rwflag, void *userdata);
static bool pgw_tls_parse_version(const char *name, bool is_min, int *version,
								  char *errbuf);
static bool pgw_tls_setup(pgw_tls *t, const pgw_tls_config *cfg, char *errbuf);
static void pgw_tls_fail_ssl(pgw_tls *t, int ret, const char *what);
static void pgw_tls_format_ip(const unsigned char *ip, int len, char *out,
							  size_t outlen);
static bool pgw_tls_check_host(pgw_tls *t);


static const char *
pgw_tls_mode_name(pgw_sslmode mode)
{
	switch (mode)
	{
		case PGW_SSL_DISABLE:
			return "disable";
		case PGW_SSL_ALLOW:
			return "allow";
		case PGW_SSL_PREFER:
			return "prefer";
		case PGW_SSL_REQUIRE:
			return "require";
		case PGW_SSL_VERIFY_CA:
			return "verify-ca";
		case PGW_SSL_VERIFY_FULL:
			return "verify-full";
	}
	return "unknown";
}

/*
 * Like pgw_seterr, appending ": " and the reason of OpenSSL's first queued
 * error (or of ecode, when not zero).  The error queue is cleared, so that
 * a later failure is not described with a stale reason.
 */
static void
pgw_tls_seterr_ssl(char *errbuf, unsigned long ecode, const char *fmt,...)
{
	char		msg[PGW_ERRMSG_LEN];
	char		codebuf[64];
	const char *reason;
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (ecode == 0)
		ecode = ERR_get_error();
	ERR_clear_error();
	if (ecode == 0)
		reason = "no SSL error reported";
#ifdef ERR_SYSTEM_ERROR
	else if (ERR_SYSTEM_ERROR(ecode))
		reason = strerror(ERR_GET_REASON(ecode));
#endif
	else
	{
		reason = ERR_reason_error_string(ecode);
		if (reason == NULL)
		{
			snprintf(codebuf, sizeof(codebuf), "SSL error code %lu", ecode);
			reason = codebuf;
		}
	}
	pgw_seterr(errbuf, "%s: %s", msg, reason);
}

/*
 * Passphrase callback used while loading the client key.  Without a
 * passphrase it supplies an empty one, so that OpenSSL never prompts on a
 * terminal.
 */
static int
pgw_tls_passwd_cb(char *buf, int size, int rwflag, void *userdata)
{
	const char *pw = (const char *) userdata;
	size_t		len;

	(void) rwflag;
	if (pw == NULL || size <= 0)
	{
		if (size > 0)
			buf[0] = '\0';
		return 0;
	}
	len = strlen(pw);
	if (len >= (size_t) size)
		len = (size_t) size - 1;
	memcpy(buf, pw, len);
	buf[len] = '\0';
	return (int) len;
}

/* Map a protocol version name to OpenSSL's constant; 1.2 is the minimum. */
static bool
pgw_tls_parse_version(const char *name, bool is_min, int *version,
					  char *errbuf)
{
	const char *which = is_min ? "minimum" : "maximum";

	if (name == NULL || name[0] == '\0')
	{
		*version = is_min ? TLS1_2_VERSION : 0;
		return true;
	}
	if (strcasecmp(name, "TLSv1.2") == 0)
		*version = TLS1_2_VERSION;
	else if (strcasecmp(name, "TLSv1.3") == 0)
		*version = TLS1_3_VERSION;
	else if (strcasecmp(name, "TLSv1") == 0 ||
			 strcasecmp(name, "TLSv1.0") == 0 ||
			 strcasecmp(name, "TLSv1.1") == 0 ||
			 strcasecmp(name, "SSLv3") == 0)
	{
		pgw_seterr(errbuf,
				   "%s TLS protocol version \"%s\" is not supported: TLSv1.2 is the lowest allowed",
				   which, name);
		return false;
	}
	else
	{
		pgw_seterr(errbuf, "invalid %s TLS protocol version \"%s\"",
				   which, name);
		return false;
	}
	return true;
}

/* Build the context and connection; false with errbuf set on failure. */
static bool
pgw_tls_setup(pgw_tls *t, const pgw_tls_config *cfg, char *errbuf)
{
	int			min_version;
	int			max_version;
	bool		have_root;

	if (!pgw_tls_parse_version(cfg->min_protocol, true, &min_version, errbuf) ||
		!pgw_tls_parse_version(cfg->max_protocol, false, &max_version, errbuf))
		return false;
	if (max_version != 0 && max_version < min_version)
	{
		pgw_seterr(errbuf,
				   "invalid TLS protocol version range: maximum \"%s\" is below minimum \"%s\"",
				   cfg->max_protocol,
				   cfg->min_protocol ? cfg->min_protocol : "TLSv1.2");
		return false;
	}

	t->ctx = SSL_CTX_new(TLS_client_method());
	if (t->ctx == NULL)
	{
		pgw_tls_seterr_ssl(errbuf, 0, "could not create SSL context");
		return false;
	}
	if (!SSL_CTX_set_min_proto_version(t->ctx, min_version) ||
		!SSL_CTX_set_max_proto_version(t->ctx, max_version))
	{
		pgw_tls_seterr_ssl(errbuf, 0, "could not set TLS protocol versions");
		return false;
	}
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(t->ctx,
					 SSL_MODE_ENABLE_PARTIAL_WRITE |
					 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

	/* Trusted roots. */
	have_root = (cfg->rootcert != NULL && cfg->rootcert[0] != '\0');
	if (have_root)
	{
		if (strcmp(cfg->rootcert, "system") == 0)
		{
			if (SSL_CTX_set_default_verify_paths(t->ctx) != 1)
			{
				pgw_tls_seterr_ssl(errbuf, 0,
								   "could not load system root certificates");
				return false;
			}
		}
		else if (SSL_CTX_load_verify_locations(t->ctx, cfg->rootcert,
											   NULL) != 1)
		{
			pgw_tls_seterr_ssl(errbuf, 0,
							   "could not read root certificate file \"%s\"",
							   cfg->rootcert);
			return false;
		}
	}
	else if (cfg->sslmode == PGW_SSL_VERIFY_CA ||
			 cfg->sslmode == PGW_SSL_VERIFY_FULL)
	{
		pgw_seterr(errbuf,
				   "root certificate file is required for sslmode \"%s\"",
				   pgw_tls_mode_name(cfg->sslmode));
		return false;
	}

	/* A root certificate makes every mode verify the chain, as libpq. */
	t->verify_chain = have_root;
	t->verify_host = (cfg->sslmode == PGW_SSL_VERIFY_FULL);

	if (t->verify_chain)
	{
		bool		have_crl = (cfg->crl != NULL && cfg->crl[0] != '\0');
		bool		have_crldir = (cfg->crldir != NULL && cfg->crldir[0] != '\0');

		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);

		if (have_crl || have_crldir)
		{
			X509_STORE *store = SSL_CTX_get_cert_store(t->ctx);

			if (store == NULL ||
				X509_STORE_load_locations(store,
										  have_crl ? cfg->crl : NULL,
										  have_crldir ? cfg->crldir : NULL) != 1)
			{
				pgw_tls_seterr_ssl(errbuf, 0,
								   "could not load SSL certificate revocation list \"%s\"",
								   have_crl ? cfg->crl : cfg->crldir);
				return false;
			}
			X509_STORE_set_flags(store,
								 X509_V_FLAG_CRL_CHECK |
								 X509_V_FLAG_CRL_CHECK_ALL);
		}
	}
	else
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);

	/* Client certificate and key. */
	if (cfg->cert != NULL && cfg->cert[0] != '\0')
	{
		const char *keyfile = (cfg->key != NULL && cfg->key[0] != '\0') ?
			cfg->key : cfg->cert;

		if (SSL_CTX_use_certificate_chain_file(t->ctx, cfg->cert) != 1)
		{
			pgw_tls_seterr_ssl(errbuf, 0,
							   "could not read certificate file \"%s\"",
							   cfg->cert);
			return false;
		}
		SSL_CTX_set_default_passwd_cb(t->ctx, pgw_tls_passwd_cb);
		SSL_CTX_set_default_passwd_cb_userdata(t->ctx, t->key_password);
		if (SSL_CTX_use_PrivateKey_file(t->ctx, keyfile,
										SSL_FILETYPE_PEM) != 1)
		{
			pgw_tls_seterr_ssl(errbuf, 0,
							   "could not load private key file \"%s\"",
							   keyfile);
			return false;
		}
		if (SSL_CTX_check_private_key(t->ctx) != 1)
		{
			pgw_tls_seterr_ssl(errbuf, 0,
							   "certificate does not match private key file \"%s\"",
							   keyfile);
			return false;
		}
	}
	/* The passphrase is not needed after loading: do not keep it around. */
	SSL_CTX_set_default_passwd_cb_userdata(t->ctx, NULL);

	/* The connection, with its memory BIOs. */
	t->ssl = SSL_new(t->ctx);
	if (t->ssl == NULL)
	{
		pgw_tls_seterr_ssl(errbuf, 0, "could not create SSL object");
		return false;
	}
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (t->rbio == NULL || t->wbio == NULL)
	{
		pgw_tls_seterr_ssl(errbuf, 0, "could not create memory BIO");
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		t->rbio = t->wbio = NULL;
		return false;
	}
	/* An empty read BIO means "try again", not end of file. */
	BIO_set_mem_eof_return(t->rbio, -1);
	BIO_set_mem_eof_return(t->wbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_connect_state(t->ssl);

	if (t->host != NULL && !t->host_is_ip && cfg->sni)
	{
		if (SSL_set_tlsext_host_name(t->ssl, t->host) != 1)
		{
			pgw_tls_seterr_ssl(errbuf, 0,
							   "could not set SSL server name \"%s\"",
							   t->host);
			return false;
		}
	}
	return true;
}

pgw_tls *
pgw_tls_create(const pgw_tls_config *cfg, char *errbuf)
{
	char		localerr[PGW_ERRMSG_LEN];
	pgw_tls    *t;

	if (errbuf == NULL)
		errbuf = localerr;
	if (cfg == NULL)
	{
		pgw_seterr(errbuf, "no TLS configuration given");
		return NULL;
	}
	if (cfg->sslmode == PGW_SSL_DISABLE)
	{
		pgw_seterr(errbuf, "TLS cannot be used with sslmode \"disable\"");
		return NULL;
	}
	if (cfg->sslmode == PGW_SSL_VERIFY_FULL &&
		(cfg->host == NULL || cfg->host[0] == '\0'))
	{
		pgw_seterr(errbuf,
				   "host name must be specified for sslmode \"verify-full\"");
		return NULL;
	}

	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS |
					 OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
	ERR_clear_error();

	t = pgw_malloc(sizeof(pgw_tls));
	if (t == NULL)
	{
		pgw_seterr(errbuf, "out of memory");
		return NULL;
	}
	memset(t, 0, sizeof(pgw_tls));
	t->sslmode = cfg->sslmode;

	if (cfg->host != NULL && cfg->host[0] != '\0')
	{
		ASN1_OCTET_STRING *ip;

		t->host = pgw_strdup(cfg->host);
		if (t->host == NULL)
		{
			pgw_seterr(errbuf, "out of memory");
			pgw_tls_free(t);
			return NULL;
		}
		ip = a2i_IPADDRESS(t->host);
		if (ip != NULL)
		{
			t->host_is_ip = true;
			ASN1_OCTET_STRING_free(ip);
		}
		ERR_clear_error();
	}
	if (cfg->key_password != NULL)
	{
		t->key_password = pgw_strdup(cfg->key_password);
		if (t->key_password == NULL)
		{
			pgw_seterr(errbuf, "out of memory");
			pgw_tls_free(t);
			return NULL;
		}
	}

	if (!pgw_tls_setup(t, cfg, errbuf))
	{
		pgw_tls_free(t);
		return NULL;
	}

	/* Wipe the passphrase now that the key is loaded. */
	if (t->key_password != NULL)
	{
		OPENSSL_cleanse(t->key_password, strlen(t->key_password));
		pgw_free(t->key_password);
		t->key_password = NULL;
	}
	return t;
}

void
pgw_tls_free(pgw_tls *t)
{
	if (t == NULL)
		return;
	if (t->ssl != NULL)
		SSL_free(t->ssl);		/* frees both BIOs too */
	else
	{
		BIO_free(t->rbio);
		BIO_free(t->wbio);
	}
	if (t->ctx != NULL)
		SSL_CTX_free(t->ctx);
	if (t->key_password != NULL)
	{
		OPENSSL_cleanse(t->key_password, strlen(t->key_password));
		pgw_free(t->key_password);
	}
	pgw_free(t->host);
	pgw_free(t);
}

/* Record the failure of an SSL call that returned ret. */
static void
pgw_tls_fail_ssl(pgw_tls *t, int ret, const char *what)
{
	int			err = SSL_get_error(t->ssl, ret);
	unsigned long ecode = ERR_peek_error();
	long		vr = SSL_get_verify_result(t->ssl);

	t->failed = true;
	if (err == SSL_ERROR_SSL && t->verify_chain && !t->handshake_done &&
		vr != X509_V_OK)
	{
		ERR_clear_error();
		pgw_seterr(t->errmsg, "certificate verify failed: %s",
				   X509_verify_cert_error_string(vr));
		return;
	}
	switch (err)
	{
		case SSL_ERROR_SSL:
			pgw_tls_seterr_ssl(t->errmsg, 0, "SSL error during %s", what);
			break;
		case SSL_ERROR_SYSCALL:
			if (ecode != 0)
				pgw_tls_seterr_ssl(t->errmsg, ecode,
								   "SSL SYSCALL error during %s", what);
			else
				pgw_seterr(t->errmsg,
						   "SSL SYSCALL error during %s: EOF detected", what);
			break;
		case SSL_ERROR_ZERO_RETURN:
			pgw_seterr(t->errmsg, "SSL connection has been closed unexpectedly");
			break;
		default:
			pgw_seterr(t->errmsg, "unrecognized SSL error code %d during %s",
					   err, what);
			break;
	}
	ERR_clear_error();
}

/* Text form of a certificate's IP address entry (4 or 16 bytes). */
static void
pgw_tls_format_ip(const unsigned char *ip, int len, char *out, size_t outlen)
{
	if (len == 4)
		snprintf(out, outlen, "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
	else if (len == 16)
	{
		unsigned int groups[8];
		int			best = -1,
					bestlen = 0;
		int			i;
		size_t		pos = 0;

		for (i = 0; i < 8; i++)
			groups[i] = ((unsigned int) ip[2 * i] << 8) | ip[2 * i + 1];
		/* Find the longest run of two or more zero groups, for "::". */
		for (i = 0; i < 8;)
		{
			int			j = i;

			while (j < 8 && groups[j] == 0)
				j++;
			if (j - i > bestlen && j - i >= 2)
			{
				best = i;
				bestlen = j - i;
			}
			i = (j > i) ? j : i + 1;
		}
		out[0] = '\0';
		for (i = 0; i < 8 && pos < outlen; i++)
		{
			if (i == best)
			{
				pos += snprintf(out + pos, outlen - pos, "::");
				i += bestlen - 1;
				continue;
			}
			pos += snprintf(out + pos, outlen - pos, "%s%x",
							(i == 0 || i == best + bestlen) ? "" : ":",
							groups[i]);
		}
	}
	else
		snprintf(out, outlen, "(invalid address)");
}

/*
 * Check the server certificate against the host name, as libpq does:
 * subjectAltName entries of the matching kind (dNSName for host names,
 * iPAddress for IP literals); the Common Name only when there are no
 * dNSName entries (and, for an IP literal, no iPAddress entries either).
 */
static bool
pgw_tls_check_host(pgw_tls *t)
{
	X509	   *cert;
	GENERAL_NAMES *sans;
	int			nsans;
	int			i;
	int			nnames = 0;
	bool		has_dns = false;
	bool		has_ip = false;
	bool		match = false;
	char		first[256];
	X509_NAME  *subject;
	int			cn_len = -1;
	char		cn[256];

	cert = SSL_get1_peer_certificate(t->ssl);
	if (cert == NULL)
	{
		t->failed = true;
		pgw_seterr(t->errmsg, "server did not present a certificate");
		return false;
	}

	first[0] = '\0';
	sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	nsans = sans ? sk_GENERAL_NAME_num(sans) : 0;
	for (i = 0; i < nsans; i++)
	{
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);

		if (gn->type == GEN_DNS)
		{
			has_dns = true;
			if (nnames++ == 0)
				snprintf(first, sizeof(first), "%.*s",
						 ASN1_STRING_length(gn->d.dNSName),
						 (const char *) ASN1_STRING_get0_data(gn->d.dNSName));
		}
		else if (gn->type == GEN_IPADD)
		{
			has_ip = true;
			if (nnames++ == 0)
				pgw_tls_format_ip(ASN1_STRING_get0_data(gn->d.iPAddress),
								  ASN1_STRING_length(gn->d.iPAddress),
								  first, sizeof(first));
		}
	}
	GENERAL_NAMES_free(sans);

	subject = X509_get_subject_name(cert);
	if (subject != NULL)
		cn_len = X509_NAME_get_text_by_NID(subject, NID_commonName,
										   cn, sizeof(cn));

	if (t->host_is_ip)
	{
		match = (X509_check_ip_asc(cert, t->host, 0) == 1);
		if (!match && !has_dns && !has_ip && cn_len > 0 &&
			strcasecmp(cn, t->host) == 0)
			match = true;
	}
	else
		match = (X509_check_host(cert, t->host, 0,
								 X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
								 NULL) == 1);
	X509_free(cert);
	ERR_clear_error();

	if (match)
		return true;

	t->failed = true;
	if (nnames == 0 && !has_dns && cn_len > 0)
	{
		snprintf(first, sizeof(first), "%s", cn);
		nnames = 1;
	}
	if (nnames == 0)
		pgw_seterr(t->errmsg,
				   "could not get server's host name from server certificate");
	else if (nnames == 1)
		pgw_seterr(t->errmsg,
				   "server certificate for \"%s\" does not match host name \"%s\"",
				   first, t->host);
	else
		pgw_seterr(t->errmsg,
				   "server certificate for \"%s\" (and %d other name%s) does not match host name \"%s\"",
				   first, nnames - 1, nnames == 2 ? "" : "s", t->host);
	return false;
}

pgw_tls_status
pgw_tls_handshake(pgw_tls *t)
{
	int			ret;

	if (t->failed)
		return PGW_TLS_ERROR;
	if (t->handshake_done)
		return PGW_TLS_DONE;

	ERR_clear_error();
	ret = SSL_do_handshake(t->ssl);
	if (ret != 1)
	{
		int			err = SSL_get_error(t->ssl, ret);

		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
			return PGW_TLS_WANT_IO;
		pgw_tls_fail_ssl(t, ret, "handshake");
		return PGW_TLS_ERROR;
	}

	if (t->verify_chain && SSL_get_verify_result(t->ssl) != X509_V_OK)
	{
		t->failed = true;
		pgw_seterr(t->errmsg, "certificate verify failed: %s",
				   X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
		return PGW_TLS_ERROR;
	}
	if (t->verify_host && !pgw_tls_check_host(t))
		return PGW_TLS_ERROR;

	t->handshake_done = true;
	return PGW_TLS_DONE;
}

size_t
pgw_tls_put_ciphertext(pgw_tls *t, const uint8_t *data, size_t len)
{
	size_t		done = 0;

	while (done < len)
	{
		size_t		chunk = len - done;
		int			n;

		if (chunk > INT_MAX)
			chunk = INT_MAX;
		n = BIO_write(t->rbio, data + done, (int) chunk);
		if (n <= 0)
		{
			if (!t->failed)
			{
				t->failed = true;
				pgw_tls_seterr_ssl(t->errmsg, 0,
								   "could not buffer received TLS data");
			}
			break;
		}
		done += (size_t) n;
	}
	return done;
}

size_t
pgw_tls_get_ciphertext(pgw_tls *t, uint8_t *buf, size_t cap)
{
	int			n;

	if (cap == 0)
		return 0;
	if (cap > INT_MAX)
		cap = INT_MAX;
	n = BIO_read(t->wbio, buf, (int) cap);
	return n > 0 ? (size_t) n : 0;
}

size_t
pgw_tls_pending_ciphertext(pgw_tls *t)
{
	return BIO_ctrl_pending(t->wbio);
}

long
pgw_tls_read(pgw_tls *t, uint8_t *buf, size_t cap)
{
	size_t		nread = 0;
	int			ret;
	int			err;

	if (t->failed)
		return -1;
	if (t->closed)
		return -2;
	if (!t->handshake_done)
	{
		t->failed = true;
		pgw_seterr(t->errmsg, "TLS read attempted before the handshake completed");
		return -1;
	}
	if (cap == 0)
		return 0;
	if (cap > LONG_MAX)
		cap = LONG_MAX;

	ERR_clear_error();
	ret = SSL_read_ex(t->ssl, buf, cap, &nread);
	if (ret == 1)
		return (long) nread;

	err = SSL_get_error(t->ssl, ret);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
		return 0;
	if (err == SSL_ERROR_ZERO_RETURN)
	{
		t->closed = true;
		return -2;
	}
	pgw_tls_fail_ssl(t, ret, "read");
	return -1;
}

long
pgw_tls_write(pgw_tls *t, const uint8_t *buf, size_t len)
{
	size_t		written = 0;
	int			ret;
	int			err;

	if (t->failed)
		return -1;
	if (!t->handshake_done)
	{
		t->failed = true;
		pgw_seterr(t->errmsg, "TLS write attempted before the handshake completed");
		return -1;
	}
	if (len == 0)
		return 0;
	if (len > LONG_MAX)
		len = LONG_MAX;

	ERR_clear_error();
	ret = SSL_write_ex(t->ssl, buf, len, &written);
	if (ret == 1)
		return (long) written;

	err = SSL_get_error(t->ssl, ret);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
		return 0;
	pgw_tls_fail_ssl(t, ret, "write");
	return -1;
}

const char *
pgw_tls_errmsg(const pgw_tls *t)
{
	if (t == NULL)
		return "no TLS object";
	return t->errmsg;
}

const char *
pgw_tls_version(const pgw_tls *t)
{
	if (t == NULL || !t->handshake_done)
		return NULL;
	return SSL_get_version(t->ssl);
}

const char *
pgw_tls_cipher(const pgw_tls *t)
{
	const SSL_CIPHER *cipher;

	if (t == NULL || !t->handshake_done)
		return NULL;
	cipher = SSL_get_current_cipher(t->ssl);
	return cipher ? SSL_CIPHER_get_name(cipher) : NULL;
}

size_t
pgw_tls_server_end_point(pgw_tls *t, uint8_t *out, size_t cap)
{
	X509	   *cert;
	int			algo_nid;
	const EVP_MD *md;
	unsigned char hash[EVP_MAX_MD_SIZE];
	unsigned int hashlen = 0;
	size_t		result = 0;

	if (t == NULL || !t->handshake_done)
		return 0;
	cert = SSL_get1_peer_certificate(t->ssl);
	if (cert == NULL)
	{
		pgw_seterr(t->errmsg, "server did not present a certificate");
		return 0;
	}

	/* RFC 5929: the signature's hash, but SHA-256 instead of MD5/SHA-1. */
	if (!OBJ_find_sigid_algs(X509_get_signature_nid(cert), &algo_nid, NULL) ||
		algo_nid == NID_undef)
	{
		pgw_seterr(t->errmsg,
				   "could not determine server certificate signature algorithm");
		goto done;
	}
	if (algo_nid == NID_md5 || algo_nid == NID_sha1)
		md = EVP_sha256();
	else
	{
		md = EVP_get_digestbynid(algo_nid);
		if (md == NULL)
		{
			pgw_seterr(t->errmsg,
					   "could not find digest for NID %s",
					   OBJ_nid2sn(algo_nid));
			goto done;
		}
	}
	if (!X509_digest(cert, md, hash, &hashlen))
	{
		pgw_tls_seterr_ssl(t->errmsg, 0, "could not hash server certificate");
		goto done;
	}
	if (hashlen > cap)
	{
		pgw_seterr(t->errmsg,
				   "buffer too small for server certificate hash");
		goto done;
	}
	memcpy(out, hash, hashlen);
	result = hashlen;

done:
	X509_free(cert);
	ERR_clear_error();
	return result;
}
