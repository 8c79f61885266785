/*-------------------------------------------------------------------------
 *
 * pgw_crypto_openssl.c
 *	  The protocol core's crypto hooks implemented with OpenSSL 3's EVP
 *	  interfaces: SHA-256, HMAC-SHA-256, PBKDF2-HMAC-SHA-256, MD5 and
 *	  random bytes.
 *
 * Every function returns false on any failure (including arguments
 * OpenSSL cannot take) and never leaves a partial result claimed valid.
 *
 * src/tls/pgw_crypto_openssl.c
 *
 *-------------------------------------------------------------------------
 */
#include <limits.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "pgw_crypto_openssl.h"

/*
 * OpenSSL treats a NULL key or buffer specially in places even when its
 * length is zero, so empty inputs point here instead.
 */
static const uint8_t empty_input[1] = {0};

/* One-shot digest of data with the named algorithm. */
static bool
ossl_digest(const char *name, const uint8_t *data, size_t len,
			uint8_t *out, unsigned int outlen)
{
	EVP_MD	   *md;
	unsigned int got = 0;
	bool		ok;

	if (data == NULL)
	{
		if (len != 0)
			return false;
		data = empty_input;
	}
	md = EVP_MD_fetch(NULL, name, NULL);
	if (md == NULL)
		return false;
	ok = EVP_MD_get_size(md) == (int) outlen &&
		EVP_Digest(data, len, out, &got, md, NULL) == 1 &&
		got == outlen;
	EVP_MD_free(md);
	return ok;
}

static bool
ossl_sha256(const uint8_t *data, size_t len, uint8_t out[32])
{
	return ossl_digest("SHA256", data, len, out, 32);
}

static bool
ossl_md5(const uint8_t *data, size_t len, uint8_t out[16])
{
	return ossl_digest("MD5", data, len, out, 16);
}

static bool
ossl_hmac_sha256(const uint8_t *key, size_t keylen,
				 const uint8_t *data, size_t len, uint8_t out[32])
{
	EVP_MAC    *mac;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM	params[2];
	char		digest[] = "SHA256";
	size_t		got = 0;
	bool		ok = false;

	if ((key == NULL && keylen != 0) || (data == NULL && len != 0))
		return false;
	if (key == NULL)
		key = empty_input;
	if (data == NULL)
		data = empty_input;

	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (mac == NULL)
		return false;
	ctx = EVP_MAC_CTX_new(mac);
	if (ctx != NULL)
	{
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
													 digest, 0);
		params[1] = OSSL_PARAM_construct_end();
		ok = EVP_MAC_init(ctx, key, keylen, params) == 1 &&
			EVP_MAC_update(ctx, data, len) == 1 &&
			EVP_MAC_final(ctx, out, &got, 32) == 1 &&
			got == 32;
	}
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ok;
}

static bool
ossl_pbkdf2_sha256(const uint8_t *password, size_t passlen,
				   const uint8_t *salt, size_t saltlen,
				   int iterations, uint8_t out[32])
{
	EVP_KDF    *kdf;
	EVP_KDF_CTX *ctx = NULL;
	OSSL_PARAM	params[6];
	char		digest[] = "SHA256";
	uint64_t	iter;

	/* pkcs5 = 1 turns off SP 800-132's lower bounds on salt and count */
	int			pkcs5 = 1;
	bool		ok = false;

	if (iterations < 1 ||
		(password == NULL && passlen != 0) || (salt == NULL && saltlen != 0))
		return false;
	if (password == NULL)
		password = empty_input;
	if (salt == NULL)
		salt = empty_input;
	iter = (uint64_t) iterations;

	kdf = EVP_KDF_fetch(NULL, "PBKDF2", NULL);
	if (kdf == NULL)
		return false;
	ctx = EVP_KDF_CTX_new(kdf);
	if (ctx != NULL)
	{
		params[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
													  (void *) password,
													  passlen);
		params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
													  (void *) salt, saltlen);
		params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_ITER, &iter);
		params[3] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
													 digest, 0);
		params[4] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_PKCS5, &pkcs5);
		params[5] = OSSL_PARAM_construct_end();
		ok = EVP_KDF_derive(ctx, out, 32, params) == 1;
	}
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ok;
}

static bool
ossl_random_bytes(uint8_t *buf, size_t len)
{
	while (len > 0)
	{
		int			chunk = len > INT_MAX ? INT_MAX : (int) len;

		if (buf == NULL || RAND_bytes(buf, chunk) != 1)
			return false;
		buf += chunk;
		len -= (size_t) chunk;
	}
	return true;
}

const pgw_crypto pgw_crypto_openssl = {
	ossl_sha256,
	ossl_hmac_sha256,
	ossl_pbkdf2_sha256,
	ossl_md5,
	ossl_random_bytes
};

void
pgw_use_openssl_crypto(void)
{
	pgw_set_crypto(&pgw_crypto_openssl);
}
