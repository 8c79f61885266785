/*-------------------------------------------------------------------------
 *
 * pgw_auth.c
 *	  Client side of password authentication for the protocol core: the
 *	  MD5 password hash, strict base64, and a SCRAM-SHA-256 client
 *	  (RFC 5802, RFC 7677) with optional tls-server-end-point channel
 *	  binding (SCRAM-SHA-256-PLUS).
 *
 * The exchange follows what a PostgreSQL server expects:
 *
 *	client-first	gs2-header client-first-bare
 *					where gs2-header is "n,,", "y,," or
 *					"p=tls-server-end-point,," and client-first-bare is
 *					"n=<user>,r=<client nonce>"
 *	server-first	"r=<nonce>,s=<salt>,i=<iterations>"
 *	client-final	"c=<base64(gs2-header [cb-data])>,r=<nonce>,p=<proof>"
 *	server-final	"v=<server signature>" or "e=<error>"
 *
 * All hashing goes through the crypto hooks of pgw.h; nothing here is
 * hand-rolled.  Password-derived material is wiped before it is freed or
 * goes out of scope.
 *
 * src/protocol/pgw_auth.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "pgw_auth.h"

#define SCRAM_KEY_LEN			32
#define SCRAM_CB_NAME			"tls-server-end-point"

/* longest part of a server "e=" message quoted in our error message */
#define SCRAM_MAX_QUOTED_ERROR	160

typedef enum scram_state
{
	SCRAM_INIT,					/* client-first not produced yet */
	SCRAM_FIRST_SENT,			/* waiting for server-first */
	SCRAM_FINAL_SENT,			/* waiting for server-final */
	SCRAM_DONE,					/* server signature verified */
	SCRAM_FAILED				/* sticky error, see errmsg */
} scram_state;

struct pgw_scram
{
	scram_state state;
	char		cbflag;			/* gs2 channel binding flag: 'n', 'y' or 'p' */
	char	   *password;		/* wiped and freed once no longer needed */
	size_t		passlen;
	uint8_t    *cb_data;		/* tls-server-end-point hash, when 'p' */
	size_t		cb_len;
	char	   *client_nonce;
	size_t		client_nonce_len;
	char	   *client_first;	/* gs2 header followed by client-first-bare */
	size_t		client_first_len;
	size_t		gs2_len;		/* length of the gs2 header in client_first */
	char	   *client_final;
	size_t		client_final_len;
	uint8_t		server_signature[SCRAM_KEY_LEN];
	char		errmsg[PGW_ERRMSG_LEN];
};

/* A small growable string, NUL-terminated, with a sticky failure flag. */
typedef struct auth_str
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		failed;
} auth_str;

static const char base64_chars[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * Overwrite memory so that the compiler cannot drop the stores as dead,
 * even when the memory is freed right afterwards.
 */
static void
auth_wipe(void *ptr, size_t len)
{
	volatile uint8_t *p = (volatile uint8_t *) ptr;

	while (len-- > 0)
		*p++ = 0;
}

/* Constant-time comparison of two buffers of the same length. */
static bool
auth_equal_ct(const uint8_t *a, const uint8_t *b, size_t len)
{
	volatile uint8_t diff = 0;
	size_t		i;

	for (i = 0; i < len; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

/* Set an optional caller-supplied error buffer. */
static void
auth_seterr(char *errbuf, const char *msg)
{
	if (errbuf != NULL)
		pgw_seterr(errbuf, "%s", msg);
}

static void
str_append(auth_str *b, const char *p, size_t n)
{
	if (b->failed)
		return;
	if (n >= SIZE_MAX / 2 - b->len)
	{
		b->failed = true;
		return;
	}
	if (b->len + n + 1 > b->cap)
	{
		size_t		newcap = b->cap ? b->cap : 64;
		char	   *newdata;

		while (newcap < b->len + n + 1)
			newcap *= 2;
		newdata = pgw_malloc(newcap);
		if (newdata == NULL)
		{
			b->failed = true;
			return;
		}
		if (b->len > 0)
			memcpy(newdata, b->data, b->len);
		if (b->data != NULL)
		{
			/* the contents may be secret: wipe the old copy */
			auth_wipe(b->data, b->cap);
			pgw_free(b->data);
		}
		b->data = newdata;
		b->cap = newcap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
str_append_cstr(auth_str *b, const char *s)
{
	str_append(b, s, strlen(s));
}

/* Append the base64 encoding of src. */
static void
str_append_base64(auth_str *b, const uint8_t *src, size_t len)
{
	size_t		enclen = PGW_BASE64_ENC_LEN(len);
	char	   *tmp;
	int			n;

	if (b->failed)
		return;
	tmp = pgw_malloc(enclen + 1);
	if (tmp == NULL)
	{
		b->failed = true;
		return;
	}
	n = pgw_base64_encode(src, len, tmp, enclen + 1);
	if (n < 0)
		b->failed = true;
	else
		str_append(b, tmp, (size_t) n);
	pgw_free(tmp);
}

static void
str_free(auth_str *b)
{
	if (b->data != NULL)
	{
		auth_wipe(b->data, b->cap);
		pgw_free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
}

/* ----------------------------------------------------------------
 * Base64
 * ----------------------------------------------------------------
 */

/*
 * Encode len bytes of src into dst, which must have room for
 * PGW_BASE64_ENC_LEN(len) characters; a terminating NUL is added when
 * dstlen leaves room for it.  Returns the encoded length, or -1 when dst
 * is too small or the result would not fit in an int.
 */
int
pgw_base64_encode(const uint8_t *src, size_t len, char *dst, size_t dstlen)
{
	size_t		outlen;
	size_t		i;
	char	   *p = dst;

	if (len > ((size_t) INT32_MAX / 4) * 3 - 3)
		return -1;
	outlen = PGW_BASE64_ENC_LEN(len);
	if (dst == NULL || dstlen < outlen || (src == NULL && len > 0))
		return -1;

	for (i = 0; i + 3 <= len; i += 3)
	{
		uint32_t	v = ((uint32_t) src[i] << 16) |
			((uint32_t) src[i + 1] << 8) | src[i + 2];

		*p++ = base64_chars[(v >> 18) & 0x3f];
		*p++ = base64_chars[(v >> 12) & 0x3f];
		*p++ = base64_chars[(v >> 6) & 0x3f];
		*p++ = base64_chars[v & 0x3f];
	}
	if (len - i == 1)
	{
		uint32_t	v = (uint32_t) src[i] << 16;

		*p++ = base64_chars[(v >> 18) & 0x3f];
		*p++ = base64_chars[(v >> 12) & 0x3f];
		*p++ = '=';
		*p++ = '=';
	}
	else if (len - i == 2)
	{
		uint32_t	v = ((uint32_t) src[i] << 16) | ((uint32_t) src[i + 1] << 8);

		*p++ = base64_chars[(v >> 18) & 0x3f];
		*p++ = base64_chars[(v >> 12) & 0x3f];
		*p++ = base64_chars[(v >> 6) & 0x3f];
		*p++ = '=';
	}
	if (dstlen > outlen)
		*p = '\0';
	return (int) outlen;
}

/* Value of one base64 character, or -1 for anything else (including '='). */
static int
base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decode strictly: the input length must be a multiple of four, only the
 * base64 alphabet is allowed, '=' may only pad the final group (one or
 * two of them), and the bits the padding leaves over must be zero.
 * Returns the decoded length, or -1 on invalid input or when dst (dstlen
 * bytes) is too small.
 */
int
pgw_base64_decode(const char *src, size_t len, uint8_t *dst, size_t dstlen)
{
	size_t		pad = 0;
	size_t		outlen;
	size_t		i;
	size_t		o = 0;

	if (len % 4 != 0 || len > (size_t) INT32_MAX)
		return -1;
	if (len == 0)
		return 0;
	if (src == NULL)
		return -1;
	if (src[len - 1] == '=')
	{
		pad++;
		if (src[len - 2] == '=')
			pad++;
	}
	outlen = (len / 4) * 3 - pad;
	if (dst == NULL || dstlen < outlen)
		return -1;

	for (i = 0; i < len; i += 4)
	{
		bool		last = (i + 4 == len);
		int			v0 = base64_value(src[i]);
		int			v1 = base64_value(src[i + 1]);
		int			v2;
		int			v3;

		if (v0 < 0 || v1 < 0)
			return -1;

		if (last && pad == 2)
		{
			/* "xx==": one byte, the low four bits of v1 must be unused */
			if ((v1 & 0x0f) != 0)
				return -1;
			dst[o++] = (uint8_t) ((v0 << 2) | (v1 >> 4));
			break;
		}

		v2 = base64_value(src[i + 2]);
		if (v2 < 0)
			return -1;

		if (last && pad == 1)
		{
			/* "xxx=": two bytes, the low two bits of v2 must be unused */
			if ((v2 & 0x03) != 0)
				return -1;
			dst[o++] = (uint8_t) ((v0 << 2) | (v1 >> 4));
			dst[o++] = (uint8_t) (((v1 & 0x0f) << 4) | (v2 >> 2));
			break;
		}

		v3 = base64_value(src[i + 3]);
		if (v3 < 0)
			return -1;
		dst[o++] = (uint8_t) ((v0 << 2) | (v1 >> 4));
		dst[o++] = (uint8_t) (((v1 & 0x0f) << 4) | (v2 >> 2));
		dst[o++] = (uint8_t) (((v2 & 0x03) << 6) | v3);
	}
	return (int) o;
}

/* ----------------------------------------------------------------
 * MD5
 * ----------------------------------------------------------------
 */

static void
hex_encode(const uint8_t *src, size_t len, char *dst)
{
	static const char hexdigits[] = "0123456789abcdef";
	size_t		i;

	for (i = 0; i < len; i++)
	{
		dst[2 * i] = hexdigits[src[i] >> 4];
		dst[2 * i + 1] = hexdigits[src[i] & 0x0f];
	}
}

/*
 * The answer to AuthenticationMD5Password:
 * "md5" || hex(md5(hex(md5(password || user)) || salt)).
 */
bool
pgw_md5_password(const char *user, const char *password,
				 const uint8_t salt[4], char out[36], char *errbuf)
{
	const pgw_crypto *crypto = pgw_get_crypto();
	size_t		userlen;
	size_t		passlen;
	uint8_t    *buf;
	uint8_t		digest[16];
	uint8_t		inner[32 + 4];	/* hex of the first digest, then the salt */
	bool		ok;

	if (crypto == NULL || crypto->md5 == NULL)
	{
		auth_seterr(errbuf, "cannot compute MD5 password hash: no crypto hooks are installed");
		return false;
	}
	if (user == NULL || password == NULL || salt == NULL || out == NULL)
	{
		auth_seterr(errbuf, "invalid argument to MD5 password hash");
		return false;
	}

	userlen = strlen(user);
	passlen = strlen(password);
	if (passlen > SIZE_MAX / 2 || userlen > SIZE_MAX / 2)
	{
		auth_seterr(errbuf, "MD5 password input is too long");
		return false;
	}
	buf = pgw_malloc(passlen + userlen + 1);
	if (buf == NULL)
	{
		auth_seterr(errbuf, "out of memory");
		return false;
	}
	memcpy(buf, password, passlen);
	memcpy(buf + passlen, user, userlen);

	ok = crypto->md5(buf, passlen + userlen, digest);
	auth_wipe(buf, passlen + userlen);
	pgw_free(buf);
	if (ok)
	{
		hex_encode(digest, 16, (char *) inner);
		memcpy(inner + 32, salt, 4);
		ok = crypto->md5(inner, sizeof(inner), digest);
	}
	if (ok)
	{
		memcpy(out, "md5", 3);
		hex_encode(digest, 16, out + 3);
		out[35] = '\0';
	}
	else
		auth_seterr(errbuf, "could not compute MD5 password hash");

	auth_wipe(digest, sizeof(digest));
	auth_wipe(inner, sizeof(inner));
	return ok;
}

/* ----------------------------------------------------------------
 * SCRAM-SHA-256
 * ----------------------------------------------------------------
 */

/* Are the crypto hooks SCRAM needs installed? */
static bool
scram_crypto_ok(const pgw_crypto *crypto, bool need_random)
{
	if (crypto == NULL || crypto->sha256 == NULL ||
		crypto->hmac_sha256 == NULL || crypto->pbkdf2_sha256 == NULL)
		return false;
	if (need_random && crypto->random_bytes == NULL)
		return false;
	return true;
}

/* A printable SCRAM nonce character: %x21-7E except ','. */
static bool
scram_nonce_char(char c)
{
	return c >= 0x21 && c <= 0x7e && c != ',';
}

/* Enter the sticky failed state with a message. */
static bool
scram_fail(pgw_scram *s, const char *msg)
{
	s->state = SCRAM_FAILED;
	pgw_seterr(s->errmsg, "%s", msg);
	if (s->password != NULL)
	{
		auth_wipe(s->password, s->passlen);
		pgw_free(s->password);
		s->password = NULL;
	}
	return false;
}

/* Release the dependent pieces of s and s itself, wiping secrets. */
static void
scram_release(pgw_scram *s)
{
	if (s->password != NULL)
	{
		auth_wipe(s->password, s->passlen);
		pgw_free(s->password);
	}
	if (s->cb_data != NULL)
		pgw_free(s->cb_data);
	if (s->client_nonce != NULL)
		pgw_free(s->client_nonce);
	if (s->client_first != NULL)
		pgw_free(s->client_first);
	if (s->client_final != NULL)
		pgw_free(s->client_final);
	auth_wipe(s, sizeof(*s));
	pgw_free(s);
}

/*
 * Password preparation.  RFC 5802 asks for SASLprep (RFC 4013), which
 * needs Unicode normalisation tables the core does not carry.  For a
 * password of printable ASCII (no control characters) SASLprep is the
 * identity, so the password is exactly right as it is.  Any other password
 * is used as given, which is what PostgreSQL's own client does when the
 * password cannot be prepared, and is also right for passwords already in
 * NFKC form without prohibited characters.  Either way the bytes sent to
 * PBKDF2 are the password's own, so this only copies it.
 */
static char *
scram_prepare_password(const char *password, size_t *len)
{
	char	   *copy;

	*len = strlen(password);
	copy = pgw_malloc(*len + 1);
	if (copy != NULL)
		memcpy(copy, password, *len + 1);
	return copy;
}

pgw_scram *
pgw_scram_begin(const char *user, const char *password,
				const uint8_t *cb_data, size_t cb_len,
				bool client_supports_cb,
				const char *nonce, char *errbuf)
{
	const pgw_crypto *crypto = pgw_get_crypto();
	pgw_scram  *s;
	auth_str	msg = {0};
	const char *p;

	if (!scram_crypto_ok(crypto, nonce == NULL))
	{
		auth_seterr(errbuf, "cannot perform SCRAM authentication: no crypto hooks are installed");
		return NULL;
	}
	if (password == NULL)
	{
		auth_seterr(errbuf, "no password supplied for SCRAM authentication");
		return NULL;
	}
	if ((cb_data == NULL) != (cb_len == 0))
	{
		auth_seterr(errbuf, "invalid channel binding data for SCRAM authentication");
		return NULL;
	}
	if (nonce != NULL)
	{
		if (*nonce == '\0')
		{
			auth_seterr(errbuf, "SCRAM client nonce must not be empty");
			return NULL;
		}
		for (p = nonce; *p; p++)
		{
			if (!scram_nonce_char(*p))
			{
				auth_seterr(errbuf, "SCRAM client nonce contains an invalid character");
				return NULL;
			}
		}
	}
	if (user == NULL)
		user = "";

	s = pgw_malloc(sizeof(pgw_scram));
	if (s == NULL)
	{
		auth_seterr(errbuf, "out of memory");
		return NULL;
	}
	memset(s, 0, sizeof(pgw_scram));
	s->state = SCRAM_INIT;

	/* channel binding flag */
	if (cb_data != NULL)
	{
		s->cbflag = 'p';
		s->cb_data = pgw_malloc(cb_len);
		if (s->cb_data == NULL)
			goto oom;
		memcpy(s->cb_data, cb_data, cb_len);
		s->cb_len = cb_len;
	}
	else
		s->cbflag = client_supports_cb ? 'y' : 'n';

	s->password = scram_prepare_password(password, &s->passlen);
	if (s->password == NULL)
		goto oom;

	/* client nonce */
	if (nonce != NULL)
	{
		s->client_nonce_len = strlen(nonce);
		s->client_nonce = pgw_strndup(nonce, s->client_nonce_len);
		if (s->client_nonce == NULL)
			goto oom;
	}
	else
	{
		uint8_t		raw[PGW_SCRAM_NONCE_LEN];
		size_t		enclen = PGW_BASE64_ENC_LEN(PGW_SCRAM_NONCE_LEN);
		int			n;

		if (!crypto->random_bytes(raw, sizeof(raw)))
		{
			auth_seterr(errbuf, "could not generate SCRAM client nonce");
			scram_release(s);
			return NULL;
		}
		s->client_nonce = pgw_malloc(enclen + 1);
		if (s->client_nonce == NULL)
			goto oom;
		n = pgw_base64_encode(raw, sizeof(raw), s->client_nonce, enclen + 1);
		auth_wipe(raw, sizeof(raw));
		if (n < 0)
			goto oom;
		s->client_nonce_len = (size_t) n;
	}

	/* gs2 header, then client-first-bare */
	if (s->cbflag == 'p')
		str_append_cstr(&msg, "p=" SCRAM_CB_NAME ",,");
	else if (s->cbflag == 'y')
		str_append_cstr(&msg, "y,,");
	else
		str_append_cstr(&msg, "n,,");
	s->gs2_len = msg.len;

	str_append_cstr(&msg, "n=");
	for (p = user; *p; p++)
	{
		/* saslname escaping (RFC 5802 section 5.1) */
		if (*p == ',')
			str_append_cstr(&msg, "=2C");
		else if (*p == '=')
			str_append_cstr(&msg, "=3D");
		else
			str_append(&msg, p, 1);
	}
	str_append_cstr(&msg, ",r=");
	str_append(&msg, s->client_nonce, s->client_nonce_len);
	if (msg.failed)
	{
		str_free(&msg);
		goto oom;
	}
	s->client_first = msg.data;
	s->client_first_len = msg.len;
	return s;

oom:
	auth_seterr(errbuf, "out of memory");
	scram_release(s);
	return NULL;
}

bool
pgw_scram_client_first(pgw_scram *s, const char **msg, size_t *len)
{
	if (s == NULL)
		return false;
	if (s->state == SCRAM_FAILED)
		return false;
	if (s->state != SCRAM_INIT)
		return scram_fail(s, "SCRAM client-first-message requested out of order");
	*msg = s->client_first;
	*len = s->client_first_len;
	s->state = SCRAM_FIRST_SENT;
	return true;
}

/*
 * Read one "<attr>=<value>" field of a SCRAM message starting at *pos; the
 * value runs to the next ',' or the end.  *pos is left on that ',' or at
 * the end.
 */
static bool
scram_read_attr(const char *m, size_t len, size_t *pos, char attr,
				const char **val, size_t *vlen)
{
	size_t		start;

	if (*pos + 2 > len || m[*pos] != attr || m[*pos + 1] != '=')
		return false;
	start = *pos + 2;
	*pos = start;
	while (*pos < len && m[*pos] != ',')
		(*pos)++;
	*val = m + start;
	*vlen = *pos - start;
	return true;
}

/* Compute ClientKey, proof and ServerSignature; see RFC 5802 section 3. */
static bool
scram_compute(pgw_scram *s, const pgw_crypto *crypto,
			  const uint8_t *salt, size_t saltlen, int iterations,
			  const auth_str *authmsg, uint8_t proof[SCRAM_KEY_LEN])
{
	uint8_t		salted[SCRAM_KEY_LEN];
	uint8_t		client_key[SCRAM_KEY_LEN];
	uint8_t		stored_key[SCRAM_KEY_LEN];
	uint8_t		client_sig[SCRAM_KEY_LEN];
	uint8_t		server_key[SCRAM_KEY_LEN];
	bool		ok;
	int			i;

	ok = crypto->pbkdf2_sha256((const uint8_t *) s->password, s->passlen,
							   salt, saltlen, iterations, salted) &&
		crypto->hmac_sha256(salted, SCRAM_KEY_LEN,
							(const uint8_t *) "Client Key", 10, client_key) &&
		crypto->sha256(client_key, SCRAM_KEY_LEN, stored_key) &&
		crypto->hmac_sha256(stored_key, SCRAM_KEY_LEN,
							(const uint8_t *) authmsg->data, authmsg->len,
							client_sig) &&
		crypto->hmac_sha256(salted, SCRAM_KEY_LEN,
							(const uint8_t *) "Server Key", 10, server_key) &&
		crypto->hmac_sha256(server_key, SCRAM_KEY_LEN,
							(const uint8_t *) authmsg->data, authmsg->len,
							s->server_signature);
	if (ok)
	{
		for (i = 0; i < SCRAM_KEY_LEN; i++)
			proof[i] = client_key[i] ^ client_sig[i];
	}

	auth_wipe(salted, sizeof(salted));
	auth_wipe(client_key, sizeof(client_key));
	auth_wipe(stored_key, sizeof(stored_key));
	auth_wipe(client_sig, sizeof(client_sig));
	auth_wipe(server_key, sizeof(server_key));
	return ok;
}

bool
pgw_scram_client_final(pgw_scram *s, const uint8_t *server_first,
					   size_t len, const char **msg, size_t *outlen)
{
	const pgw_crypto *crypto = pgw_get_crypto();
	const char *m = (const char *) server_first;
	size_t		pos = 0;
	const char *nonce;
	size_t		noncelen;
	const char *saltstr;
	size_t		saltstrlen;
	const char *iterstr;
	size_t		iterstrlen;
	uint8_t    *salt;
	int			saltlen;
	long		iterations = 0;
	size_t		i;
	auth_str	final = {0};
	auth_str	authmsg = {0};
	uint8_t		proof[SCRAM_KEY_LEN];
	bool		ok;

	if (s == NULL)
		return false;
	if (s->state == SCRAM_FAILED)
		return false;
	if (s->state != SCRAM_FIRST_SENT)
		return scram_fail(s, "SCRAM client-final-message requested out of order");
	if (!scram_crypto_ok(crypto, false))
		return scram_fail(s, "cannot perform SCRAM authentication: no crypto hooks are installed");
	if (m == NULL || len == 0)
		return scram_fail(s, "malformed SCRAM message (empty server-first-message)");
	if (memchr(m, '\0', len) != NULL)
		return scram_fail(s, "malformed SCRAM message (server-first-message contains a NUL byte)");
	if (len >= 2 && m[0] == 'm' && m[1] == '=')
		return scram_fail(s, "malformed SCRAM message (unsupported mandatory extension in server-first-message)");

	/* r=<nonce>: must extend the client nonce by at least one character */
	if (!scram_read_attr(m, len, &pos, 'r', &nonce, &noncelen))
		return scram_fail(s, "malformed SCRAM message (nonce expected in server-first-message)");
	for (i = 0; i < noncelen; i++)
	{
		if (!scram_nonce_char(nonce[i]))
			return scram_fail(s, "malformed SCRAM message (invalid character in server nonce)");
	}
	if (noncelen <= s->client_nonce_len ||
		memcmp(nonce, s->client_nonce, s->client_nonce_len) != 0)
		return scram_fail(s, "invalid SCRAM server nonce: it does not extend the client nonce");

	/* s=<base64 salt> */
	if (pos >= len || m[pos] != ',')
		return scram_fail(s, "malformed SCRAM message (salt expected in server-first-message)");
	pos++;
	if (!scram_read_attr(m, len, &pos, 's', &saltstr, &saltstrlen))
		return scram_fail(s, "malformed SCRAM message (salt expected in server-first-message)");
	if (saltstrlen == 0)
		return scram_fail(s, "malformed SCRAM message (empty salt in server-first-message)");

	/* i=<iteration count> */
	if (pos >= len || m[pos] != ',')
		return scram_fail(s, "malformed SCRAM message (iteration count expected in server-first-message)");
	pos++;
	if (!scram_read_attr(m, len, &pos, 'i', &iterstr, &iterstrlen) ||
		iterstrlen == 0)
		return scram_fail(s, "malformed SCRAM message (iteration count expected in server-first-message)");
	for (i = 0; i < iterstrlen; i++)
	{
		if (iterstr[i] < '0' || iterstr[i] > '9')
			return scram_fail(s, "malformed SCRAM message (invalid iteration count in server-first-message)");
		iterations = iterations * 10 + (iterstr[i] - '0');
		if (iterations > PGW_SCRAM_MAX_ITERATIONS)
			break;
	}
	if (iterations < 1 || iterations > PGW_SCRAM_MAX_ITERATIONS)
	{
		char		msgbuf[PGW_ERRMSG_LEN];

		pgw_seterr(msgbuf, "invalid SCRAM iteration count in server-first-message (must be between 1 and %d)",
				   PGW_SCRAM_MAX_ITERATIONS);
		return scram_fail(s, msgbuf);
	}
	if (pos != len)
		return scram_fail(s, "malformed SCRAM message (garbage at end of server-first-message)");

	/* decode the salt only now that the whole message is known to be sane */
	salt = pgw_malloc(PGW_BASE64_DEC_LEN(saltstrlen));
	if (salt == NULL)
		return scram_fail(s, "out of memory");
	saltlen = pgw_base64_decode(saltstr, saltstrlen, salt,
								PGW_BASE64_DEC_LEN(saltstrlen));
	if (saltlen <= 0)
	{
		pgw_free(salt);
		return scram_fail(s, "malformed SCRAM message (invalid salt in server-first-message)");
	}

	/* client-final-message-without-proof */
	str_append_cstr(&final, "c=");
	if (s->cbflag == 'p')
	{
		auth_str	cbind = {0};

		str_append(&cbind, s->client_first, s->gs2_len);
		str_append(&cbind, (const char *) s->cb_data, s->cb_len);
		if (cbind.failed)
			final.failed = true;
		else
			str_append_base64(&final, (const uint8_t *) cbind.data, cbind.len);
		str_free(&cbind);
	}
	else
		str_append_base64(&final, (const uint8_t *) s->client_first,
						  s->gs2_len);
	str_append_cstr(&final, ",r=");
	str_append(&final, nonce, noncelen);

	/* AuthMessage */
	str_append(&authmsg, s->client_first + s->gs2_len,
			   s->client_first_len - s->gs2_len);
	str_append_cstr(&authmsg, ",");
	str_append(&authmsg, m, len);
	str_append_cstr(&authmsg, ",");
	str_append(&authmsg, final.data, final.len);

	if (final.failed || authmsg.failed)
	{
		pgw_free(salt);
		str_free(&final);
		str_free(&authmsg);
		return scram_fail(s, "out of memory");
	}

	ok = scram_compute(s, crypto, salt, (size_t) saltlen, (int) iterations,
					   &authmsg, proof);
	pgw_free(salt);
	str_free(&authmsg);
	if (!ok)
	{
		auth_wipe(proof, sizeof(proof));
		str_free(&final);
		return scram_fail(s, "could not compute SCRAM client proof");
	}

	str_append_cstr(&final, ",p=");
	str_append_base64(&final, proof, sizeof(proof));
	auth_wipe(proof, sizeof(proof));
	if (final.failed)
	{
		str_free(&final);
		return scram_fail(s, "out of memory");
	}

	/* the password is not needed any more */
	auth_wipe(s->password, s->passlen);
	pgw_free(s->password);
	s->password = NULL;

	s->client_final = final.data;
	s->client_final_len = final.len;
	s->state = SCRAM_FINAL_SENT;
	*msg = s->client_final;
	*outlen = s->client_final_len;
	return true;
}

bool
pgw_scram_verify_server_final(pgw_scram *s, const uint8_t *server_final,
							  size_t len)
{
	const char *m = (const char *) server_final;
	size_t		pos = 0;
	const char *val;
	size_t		vlen;
	uint8_t		sig[SCRAM_KEY_LEN + 1];
	int			n;
	bool		match;

	if (s == NULL)
		return false;
	if (s->state == SCRAM_FAILED)
		return false;
	if (s->state != SCRAM_FINAL_SENT)
		return scram_fail(s, "SCRAM server-final-message received out of order");
	if (m == NULL || len == 0)
		return scram_fail(s, "malformed SCRAM message (empty server-final-message)");

	if (scram_read_attr(m, len, &pos, 'e', &val, &vlen))
	{
		char		quoted[SCRAM_MAX_QUOTED_ERROR + 1];
		char		msgbuf[PGW_ERRMSG_LEN];
		size_t		qlen = vlen < SCRAM_MAX_QUOTED_ERROR ? vlen : SCRAM_MAX_QUOTED_ERROR;
		size_t		i;

		/* quote the server's words, but keep control bytes out of them */
		for (i = 0; i < qlen; i++)
			quoted[i] = (val[i] >= 0x20 && val[i] < 0x7f) ? val[i] : '?';
		quoted[qlen] = '\0';
		pgw_seterr(msgbuf, "server reported SCRAM error: \"%s\"", quoted);
		return scram_fail(s, msgbuf);
	}

	if (!scram_read_attr(m, len, &pos, 'v', &val, &vlen))
		return scram_fail(s, "malformed SCRAM message (server signature expected in server-final-message)");
	if (pos != len)
		return scram_fail(s, "malformed SCRAM message (garbage at end of server-final-message)");
	if (vlen != PGW_BASE64_ENC_LEN(SCRAM_KEY_LEN))
		return scram_fail(s, "malformed SCRAM message (invalid server signature length)");
	n = pgw_base64_decode(val, vlen, sig, sizeof(sig));
	if (n != SCRAM_KEY_LEN)
		return scram_fail(s, "malformed SCRAM message (invalid server signature encoding)");

	match = auth_equal_ct(sig, s->server_signature, SCRAM_KEY_LEN);
	auth_wipe(s->server_signature, sizeof(s->server_signature));
	if (!match)
		return scram_fail(s, "invalid SCRAM server signature: the server did not prove it knows the password");
	s->state = SCRAM_DONE;
	return true;
}

const char *
pgw_scram_errmsg(const pgw_scram *s)
{
	if (s == NULL)
		return "no SCRAM exchange";
	if (s->state != SCRAM_FAILED)
		return "";
	return s->errmsg;
}

void
pgw_scram_free(pgw_scram *s)
{
	if (s == NULL)
		return;
	scram_release(s);
}
