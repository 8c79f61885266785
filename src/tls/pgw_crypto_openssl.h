/*-------------------------------------------------------------------------
 *
 * pgw_crypto_openssl.h
 *	  OpenSSL's implementation of the protocol core's crypto hooks.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGW_CRYPTO_OPENSSL_H
#define PGW_CRYPTO_OPENSSL_H

#include "../protocol/pgw.h"

extern const pgw_crypto pgw_crypto_openssl;

/* Installs pgw_crypto_openssl with pgw_set_crypto(). */
extern void pgw_use_openssl_crypto(void);

#endif							/* PGW_CRYPTO_OPENSSL_H */
