/*-------------------------------------------------------------------------
 *
 * pgw_tls.h
 *	  TLS for the protocol core: OpenSSL driven through memory BIOs, so that
 *	  this layer, like the core, never touches a socket.
 *
 * The owner moves ciphertext between the socket and this object:
 *	- bytes read from the socket go in with pgw_tls_put_ciphertext();
 *	- bytes to write to the socket come out of pgw_tls_get_ciphertext();
 * and plaintext between this object and the pgw_conn:
 *	- pgw_tls_read() yields decrypted bytes for pgw_conn_feed();
 *	- pgw_tls_write() takes pgw_conn_output() bytes to encrypt.
 * pgw_tls_handshake() is called until it returns PGW_TLS_DONE, moving
 * ciphertext both ways in between.
 *
 * Verification follows libpq's sslmode meanings: require encrypts but
 * verifies nothing (unless a root certificate is given, then it acts as
 * verify-ca, as libpq does when root.crt exists); verify-ca checks the
 * chain; verify-full also checks the host name (SAN DNS/IP entries, else
 * CN).  TLS 1.2 is the minimum.  SNI is sent for host names (not IP
 * addresses) unless sslsni is off.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGW_TLS_H
#define PGW_TLS_H

#include "../protocol/pgw.h"
#include "../protocol/pgw_dsn.h"

typedef struct pgw_tls pgw_tls;

typedef struct pgw_tls_config
{
	pgw_sslmode sslmode;		/* require or stricter, or allow/prefer */
	const char *host;			/* name checked by verify-full; SNI */
	const char *rootcert;		/* file, "system", or NULL */
	const char *cert;			/* client certificate file, or NULL */
	const char *key;			/* client key file, or NULL */
	const char *key_password;	/* passphrase of key, or NULL */
	const char *crl;			/* CRL file, or NULL */
	const char *crldir;			/* CRL directory, or NULL */
	bool		sni;			/* send SNI (default true) */
	const char *min_protocol;	/* "TLSv1.2" (default) or "TLSv1.3" */
	const char *max_protocol;	/* NULL: no maximum */
} pgw_tls_config;

typedef enum pgw_tls_status
{
	PGW_TLS_DONE,				/* handshake complete */
	PGW_TLS_WANT_IO,			/* move ciphertext, then call again */
	PGW_TLS_ERROR				/* see pgw_tls_errmsg() */
} pgw_tls_status;

/* Returns NULL with errbuf set (bad files, bad key, ...). */
extern pgw_tls *pgw_tls_create(const pgw_tls_config *cfg, char *errbuf);
extern void pgw_tls_free(pgw_tls *t);

extern pgw_tls_status pgw_tls_handshake(pgw_tls *t);

/* Ciphertext from the socket; returns bytes taken (all, unless failed). */
extern size_t pgw_tls_put_ciphertext(pgw_tls *t, const uint8_t *data,
									 size_t len);
/* Pending ciphertext for the socket, copied into buf; returns bytes. */
extern size_t pgw_tls_get_ciphertext(pgw_tls *t, uint8_t *buf, size_t cap);
extern size_t pgw_tls_pending_ciphertext(pgw_tls *t);

/*
 * Plaintext.  pgw_tls_read returns bytes read (> 0), 0 when more
 * ciphertext is needed, -1 on error, -2 when the peer closed the TLS
 * session.  pgw_tls_write returns bytes taken (>= 0) or -1 on error.
 */
extern long pgw_tls_read(pgw_tls *t, uint8_t *buf, size_t cap);
extern long pgw_tls_write(pgw_tls *t, const uint8_t *buf, size_t len);

extern const char *pgw_tls_errmsg(const pgw_tls *t);

/* Negotiated protocol ("TLSv1.3") and cipher, after the handshake. */
extern const char *pgw_tls_version(const pgw_tls *t);
extern const char *pgw_tls_cipher(const pgw_tls *t);

/*
 * tls-server-end-point channel binding data (RFC 5929): the hash of the
 * server certificate with its signature's hash (SHA-256 for MD5/SHA-1).
 * Returns bytes written into out (up to 64), or 0 on failure.
 */
extern size_t pgw_tls_server_end_point(pgw_tls *t, uint8_t *out, size_t cap);

#endif							/* PGW_TLS_H */
