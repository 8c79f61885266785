/*-------------------------------------------------------------------------
 *
 * pgw_auth.h
 *	  Client side of password authentication: MD5 and SCRAM-SHA-256
 *	  (RFC 5802, RFC 7677), with SCRAM-SHA-256-PLUS channel binding of type
 *	  tls-server-end-point (RFC 5929).  All hashing goes through the crypto
 *	  hooks of pgw.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGW_AUTH_H
#define PGW_AUTH_H

#include "pgw.h"

#define PGW_SCRAM_MECH			"SCRAM-SHA-256"
#define PGW_SCRAM_PLUS_MECH		"SCRAM-SHA-256-PLUS"
#define PGW_SCRAM_NONCE_LEN		18	/* raw bytes, base64-encoded on the wire */
#define PGW_SCRAM_MAX_ITERATIONS 10000000

/*
 * out receives "md5" followed by 32 hex digits and a NUL (36 bytes):
 * md5(md5(password || user) || salt).
 */
extern bool pgw_md5_password(const char *user, const char *password,
							 const uint8_t salt[4], char out[36],
							 char *errbuf);

/* Base64 (RFC 4648, with padding).  Return the output length or -1. */
extern int	pgw_base64_encode(const uint8_t *src, size_t len, char *dst,
							  size_t dstlen);
extern int	pgw_base64_decode(const char *src, size_t len, uint8_t *dst,
							  size_t dstlen);
#define PGW_BASE64_ENC_LEN(n)	((((n) + 2) / 3) * 4)
#define PGW_BASE64_DEC_LEN(n)	((((n) + 3) / 4) * 3)

/* Channel binding choice, as libpq's channel_binding setting. */
typedef enum pgw_channel_binding
{
	PGW_CB_DISABLE,
	PGW_CB_PREFER,
	PGW_CB_REQUIRE
} pgw_channel_binding;

typedef struct pgw_scram pgw_scram;

/*
 * Begin a SCRAM exchange.
 *	user: the name sent in client-first ("" as PostgreSQL clients do; the
 *		  server uses the startup packet's user);
 *	password: prepared with SASLprep where that is the identity (ASCII
 *		  without control characters); other passwords are used as given,
 *		  which is right for passwords already in NFKC form;
 *	cb_data/cb_len: the tls-server-end-point hash when channel binding is
 *		  used (mechanism SCRAM-SHA-256-PLUS), else NULL/0;
 *	client_supports_cb: true when TLS is on but the server did not offer
 *		  the -PLUS mechanism (gs2 flag "y"), false for flag "n";
 *	nonce: NULL to draw PGW_SCRAM_NONCE_LEN random bytes, or a fixed
 *		  printable nonce (tests).
 * Returns NULL with errbuf set on failure.
 */
extern pgw_scram *pgw_scram_begin(const char *user, const char *password,
								  const uint8_t *cb_data, size_t cb_len,
								  bool client_supports_cb,
								  const char *nonce, char *errbuf);

/* client-first-message; the pointer stays valid until pgw_scram_free. */
extern bool pgw_scram_client_first(pgw_scram *s, const char **msg,
								   size_t *len);

/*
 * Take server-first-message, produce client-final-message.  Checks that
 * the server nonce extends ours, the salt decodes and the iteration count
 * is sane.
 */
extern bool pgw_scram_client_final(pgw_scram *s, const uint8_t *server_first,
								   size_t len, const char **msg,
								   size_t *outlen);

/*
 * Check server-final-message ("v=" signature, or "e=" error).  False with
 * the error set when the server signature does not match: the server did
 * not prove it knows the password.
 */
extern bool pgw_scram_verify_server_final(pgw_scram *s,
										  const uint8_t *server_final,
										  size_t len);

extern const char *pgw_scram_errmsg(const pgw_scram *s);

/* Wipes the password-derived keys before freeing. */
extern void pgw_scram_free(pgw_scram *s);

#endif							/* PGW_AUTH_H */
