/*-------------------------------------------------------------------------
 *
 * pgw.h
 *	  Common definitions of the pgwire protocol core: allocation and crypto
 *	  hooks, hard limits, error reporting.
 *
 * The protocol core is plain C99.  It never includes postgres.h, never
 * touches a socket, and never calls ereport or palloc: the embedding code
 * provides memory and cryptography through the hooks declared here, feeds
 * received bytes in and pulls bytes to send out.
 *
 * Every object of the core keeps a sticky error: once a call fails, the
 * object stays failed and pgw_*_errmsg() says why.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGW_H
#define PGW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Size of the error message buffers kept by core objects. */
#define PGW_ERRMSG_LEN 256

/*
 * Allocation hooks.  malloc_fn and realloc_fn return NULL on failure; the
 * core then fails the operation cleanly (it never assumes success).
 */
typedef struct pgw_allocator
{
	void	   *(*malloc_fn) (size_t size, void *ctx);
	void	   *(*realloc_fn) (void *ptr, size_t size, void *ctx);
	void		(*free_fn) (void *ptr, void *ctx);
	void	   *ctx;
} pgw_allocator;

/*
 * Crypto hooks.  Each returns true on success.  The core has no crypto of
 * its own; src/tls/pgw_crypto_openssl.c provides OpenSSL's.
 */
typedef struct pgw_crypto
{
	bool		(*sha256) (const uint8_t *data, size_t len, uint8_t out[32]);
	bool		(*hmac_sha256) (const uint8_t *key, size_t keylen,
								const uint8_t *data, size_t len,
								uint8_t out[32]);
	bool		(*pbkdf2_sha256) (const uint8_t *password, size_t passlen,
								  const uint8_t *salt, size_t saltlen,
								  int iterations, uint8_t out[32]);
	bool		(*md5) (const uint8_t *data, size_t len, uint8_t out[16]);
	bool		(*random_bytes) (uint8_t *buf, size_t len);
} pgw_crypto;

/* Install hooks; NULL restores the default (libc malloc / no crypto). */
extern void pgw_set_allocator(const pgw_allocator *alloc);
extern void pgw_set_crypto(const pgw_crypto *crypto);
extern const pgw_crypto *pgw_get_crypto(void);

/* Allocation through the installed hooks. */
extern void *pgw_malloc(size_t size);
extern void *pgw_realloc(void *ptr, size_t size);
extern void pgw_free(void *ptr);
extern char *pgw_strdup(const char *s);
extern char *pgw_strndup(const char *s, size_t len);

/*
 * Hard limits, checked before any allocation.  A connection copies these
 * from pgw_default_limits unless its configuration overrides them.
 */
typedef struct pgw_limits
{
	/* largest DataRow, CopyData or FunctionCallResponse message body */
	uint32_t	max_data_message;
	/* largest body of any other backend message */
	uint32_t	max_control_message;
	/* most fields in a RowDescription or DataRow, or parameters */
	uint16_t	max_columns;
	/* most requests (Syncs or Queries) in flight at once */
	uint32_t	max_inflight;
} pgw_limits;

#define PGW_DEFAULT_MAX_DATA_MESSAGE	((uint32_t) 0x40000000 + 65536)	/* 1 GiB + slack */
#define PGW_DEFAULT_MAX_CONTROL_MESSAGE ((uint32_t) 1024 * 1024)
#define PGW_DEFAULT_MAX_COLUMNS			4096
#define PGW_DEFAULT_MAX_INFLIGHT		65536

extern const pgw_limits pgw_default_limits;

/* Copy a formatted message into an error buffer of PGW_ERRMSG_LEN bytes. */
extern void pgw_seterr(char *errbuf, const char *fmt,...)
#if defined(__GNUC__)
			__attribute__((format(printf, 2, 3)))
#endif
			;

#endif							/* PGW_H */
