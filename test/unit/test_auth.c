/*-------------------------------------------------------------------------
 *
 * test_auth.c
 *	  Unit tests of the protocol core's password authentication
 *	  (pgw_auth.c) and of the OpenSSL crypto hooks (pgw_crypto_openssl.c):
 *	  base64, MD5 passwords, and SCRAM-SHA-256 against the RFC 7677 test
 *	  vector and hostile server messages.
 *
 * Expected values not taken from an RFC were computed independently with
 * Python's hashlib/hmac/base64 when the tests were written.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pgw_auth.h"
#include "tls/pgw_crypto_openssl.h"
#include "tap.h"

/* RFC 7677 section 3 */
#define RFC_NONCE		"rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE		"rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_SERVER_FIRST "r=" RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_CLIENT_FINAL "c=biws,r=" RFC_SNONCE \
	",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static void
hex(const uint8_t *p, size_t len, char *out)
{
	size_t		i;

	for (i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static bool
str_has(const char *haystack, const char *needle)
{
	return haystack != NULL && strstr(haystack, needle) != NULL;
}

/* ---------------------------------------------------------------- */

static void
test_crypto_hooks(void)
{
	const pgw_crypto *c = &pgw_crypto_openssl;
	uint8_t		out[32];
	uint8_t		r1[32];
	uint8_t		r2[32];
	uint8_t		key[20];
	char		h[65];

	tap_ok(c->sha256((const uint8_t *) "abc", 3, out), "sha256(abc) succeeds");
	hex(out, 32, h);
	tap_is_str(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
			   "sha256(abc) matches FIPS 180-2 vector");
	tap_ok(c->sha256((const uint8_t *) "", 0, out), "sha256 of empty input succeeds");
	hex(out, 32, h);
	tap_is_str(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			   "sha256 of empty input");

	memset(key, 0x0b, sizeof(key));
	tap_ok(c->hmac_sha256(key, 20, (const uint8_t *) "Hi There", 8, out),
		   "hmac-sha256 RFC 4231 case 1 succeeds");
	hex(out, 32, h);
	tap_is_str(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
			   "hmac-sha256 RFC 4231 case 1");
	tap_ok(c->hmac_sha256((const uint8_t *) "Jefe", 4,
						  (const uint8_t *) "what do ya want for nothing?", 28,
						  out), "hmac-sha256 RFC 4231 case 2 succeeds");
	hex(out, 32, h);
	tap_is_str(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
			   "hmac-sha256 RFC 4231 case 2");

	tap_ok(c->pbkdf2_sha256((const uint8_t *) "password", 8,
							(const uint8_t *) "salt", 4, 1, out),
		   "pbkdf2-sha256 c=1 succeeds");
	hex(out, 32, h);
	tap_is_str(h, "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b",
			   "pbkdf2-sha256 password/salt c=1");
	tap_ok(c->pbkdf2_sha256((const uint8_t *) "password", 8,
							(const uint8_t *) "salt", 4, 4096, out),
		   "pbkdf2-sha256 c=4096 succeeds");
	hex(out, 32, h);
	tap_is_str(h, "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a",
			   "pbkdf2-sha256 password/salt c=4096");
	tap_ok(!c->pbkdf2_sha256((const uint8_t *) "password", 8,
							 (const uint8_t *) "salt", 4, 0, out),
		   "pbkdf2-sha256 rejects an iteration count of 0");

	tap_ok(c->md5((const uint8_t *) "", 0, out), "md5 of empty input succeeds");
	hex(out, 16, h);
	tap_is_str(h, "d41d8cd98f00b204e9800998ecf8427e", "md5 of empty input");
	tap_ok(c->md5((const uint8_t *) "abc", 3, out), "md5(abc) succeeds");
	hex(out, 16, h);
	tap_is_str(h, "900150983cd24fb0d6963f7d28e17f72", "md5(abc) matches RFC 1321");

	tap_ok(c->random_bytes(r1, sizeof(r1)) && c->random_bytes(r2, sizeof(r2)),
		   "random_bytes succeeds");
	tap_ok(memcmp(r1, r2, sizeof(r1)) != 0, "two random draws differ");
	tap_ok(c->random_bytes(r1, 0), "random_bytes of zero length succeeds");

	pgw_use_openssl_crypto();
	tap_ok(pgw_get_crypto() != NULL &&
		   pgw_get_crypto()->sha256 == pgw_crypto_openssl.sha256 &&
		   pgw_get_crypto()->random_bytes == pgw_crypto_openssl.random_bytes,
		   "pgw_use_openssl_crypto installs the OpenSSL hooks");
}

/* ---------------------------------------------------------------- */

static void
test_base64(void)
{
	static const char *const vec[][2] = {
		{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
		{"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}
	};
	static const char *const bad[] = {
		"Zg=", "Zg", "Z===", "====", "Zg=a", "=Zg=", "Zh==", "Zm9=",
		"Zm9v!A==", "Zg==Zg==", "Zm 9", "Zm-_"
	};
	char		enc[64];
	uint8_t		dec[64];
	uint8_t		all[256];
	char		big[PGW_BASE64_ENC_LEN(256) + 1];
	uint8_t		back[256];
	int			n;
	size_t		i;
	bool		ok;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++)
	{
		n = pgw_base64_encode((const uint8_t *) vec[i][0], strlen(vec[i][0]),
							  enc, sizeof(enc));
		tap_is_int(n, strlen(vec[i][1]), "base64 encode length of \"%s\"", vec[i][0]);
		tap_is_str(n >= 0 ? enc : NULL, vec[i][1], "base64 encode \"%s\"", vec[i][0]);
		memset(dec, 0, sizeof(dec));
		n = pgw_base64_decode(vec[i][1], strlen(vec[i][1]), dec, sizeof(dec));
		tap_is_int(n, strlen(vec[i][0]), "base64 decode length of \"%s\"", vec[i][1]);
		tap_is_str((char *) dec, vec[i][0], "base64 decode \"%s\"", vec[i][1]);
	}

	/* every byte value, at every length up to 256 */
	for (i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t) (255 - i);
	ok = true;
	for (i = 0; i <= sizeof(all) && ok; i++)
	{
		int			e = pgw_base64_encode(all, i, big, sizeof(big));

		n = pgw_base64_decode(big, (size_t) e, back, sizeof(back));
		ok = (e == (int) PGW_BASE64_ENC_LEN(i) && n == (int) i &&
			  memcmp(all, back, i) == 0);
	}
	tap_ok(ok, "base64 round trips of 0..256 bytes of every value");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		tap_is_int(pgw_base64_decode(bad[i], strlen(bad[i]), dec, sizeof(dec)),
				   -1, "base64 decode rejects \"%s\"", bad[i]);
	tap_is_int(pgw_base64_decode("Zm\0v", 4, dec, sizeof(dec)), -1,
			   "base64 decode rejects a NUL byte");
	tap_is_int(pgw_base64_decode("Zm9v\nmFy", 8, dec, sizeof(dec)), -1,
			   "base64 decode rejects a line break");
	tap_is_int(pgw_base64_decode("Zm9vYmFy", 8, dec, 5), -1,
			   "base64 decode rejects a too small output buffer");
	tap_is_int(pgw_base64_decode("Zm9vYg==", 8, dec, 4), 4,
			   "base64 decode output buffer may be exactly the decoded size");
	tap_is_int(pgw_base64_encode((const uint8_t *) "foo", 3, enc, 3), -1,
			   "base64 encode rejects a too small output buffer");
	enc[4] = 'X';
	tap_is_int(pgw_base64_encode((const uint8_t *) "foo", 3, enc, 4), 4,
			   "base64 encode fits an exactly sized buffer");
	tap_ok(enc[4] == 'X', "base64 encode writes no NUL past an exact buffer");
}

/* ---------------------------------------------------------------- */

static void
test_md5(void)
{
	static const uint8_t salt1[4] = {1, 2, 3, 4};
	static const uint8_t salt2[4] = {0xde, 0xad, 0xbe, 0xef};
	char		out[36];
	char		err[PGW_ERRMSG_LEN] = "";

	/* expectations computed with Python's hashlib */
	tap_ok(pgw_md5_password("postgres", "secret", salt1, out, err),
		   "md5 password succeeds");
	tap_is_str(out, "md5bb41a296aab6baccb36ff243a562abff",
			   "md5 password of postgres/secret with salt 01020304");
	tap_ok(pgw_md5_password("alice", "", salt2, out, err),
		   "md5 password with an empty password succeeds");
	tap_is_str(out, "md5a8df9297b3ce31607af1a09aa05c13c9",
			   "md5 password of alice/\"\" with salt deadbeef");
}

/* ---------------------------------------------------------------- */

static bool
fake_random(uint8_t *buf, size_t len)
{
	memset(buf, 0x5a, len);
	return true;
}

static void
test_no_crypto(void)
{
	pgw_crypto	norandom = pgw_crypto_openssl;
	char		err[PGW_ERRMSG_LEN];
	char		out[36];
	pgw_scram  *s;
	static const uint8_t salt[4] = {1, 2, 3, 4};
	const char *msg;
	size_t		len;

	pgw_set_crypto(NULL);
	strcpy(err, "");
	s = pgw_scram_begin("", "pencil", NULL, 0, false, RFC_NONCE, err);
	tap_ok(s == NULL, "scram begin fails without crypto hooks");
	tap_ok(str_has(err, "no crypto hooks are installed"),
		   "scram begin without hooks says why: %s", err);
	strcpy(err, "");
	tap_ok(!pgw_md5_password("u", "p", salt, out, err),
		   "md5 password fails without crypto hooks");
	tap_ok(str_has(err, "no crypto hooks are installed"),
		   "md5 password without hooks says why: %s", err);
	tap_ok(!pgw_md5_password("u", "p", salt, out, NULL),
		   "md5 password without hooks tolerates a NULL error buffer");

	/* hooks without a random source: only a fixed nonce works */
	norandom.random_bytes = NULL;
	pgw_set_crypto(&norandom);
	strcpy(err, "");
	s = pgw_scram_begin("", "pencil", NULL, 0, false, NULL, err);
	tap_ok(s == NULL && str_has(err, "no crypto hooks"),
		   "scram begin needing a random nonce fails without random_bytes");
	s = pgw_scram_begin("", "pencil", NULL, 0, false, RFC_NONCE, err);
	tap_ok(s != NULL, "scram begin with a fixed nonce needs no random_bytes");
	pgw_scram_free(s);

	/* hooks removed in the middle of an exchange */
	pgw_use_openssl_crypto();
	s = pgw_scram_begin("user", "pencil", NULL, 0, false, RFC_NONCE, err);
	pgw_scram_client_first(s, &msg, &len);
	pgw_set_crypto(NULL);
	tap_ok(!pgw_scram_client_final(s, (const uint8_t *) RFC_SERVER_FIRST,
								   strlen(RFC_SERVER_FIRST), &msg, &len),
		   "scram client-final fails when the hooks went away");
	tap_ok(str_has(pgw_scram_errmsg(s), "no crypto hooks"),
		   "and says why: %s", pgw_scram_errmsg(s));
	pgw_scram_free(s);

	/* a deterministic random source shows the nonce is drawn from it */
	norandom.random_bytes = fake_random;
	pgw_set_crypto(&norandom);
	s = pgw_scram_begin("", "pencil", NULL, 0, false, NULL, err);
	tap_ok(s != NULL && pgw_scram_client_first(s, &msg, &len),
		   "scram begin with the random hook succeeds");
	tap_is_str(s ? msg : NULL, "n,,n=,r=WlpaWlpaWlpaWlpaWlpaWlpa",
			   "client nonce is the base64 of %d hook bytes",
			   PGW_SCRAM_NONCE_LEN);
	pgw_scram_free(s);

	pgw_use_openssl_crypto();
}

/* ---------------------------------------------------------------- */

/* Begin an exchange with the RFC nonce and produce client-first. */
static pgw_scram *
rfc_start(const char *user)
{
	char		err[PGW_ERRMSG_LEN] = "";
	pgw_scram  *s;
	const char *msg;
	size_t		len;

	s = pgw_scram_begin(user, "pencil", NULL, 0, false, RFC_NONCE, err);
	if (s == NULL)
	{
		tap_diag("pgw_scram_begin failed: %s", err);
		return NULL;
	}
	if (!pgw_scram_client_first(s, &msg, &len))
		tap_diag("client_first failed: %s", pgw_scram_errmsg(s));
	return s;
}

static bool
feed_first(pgw_scram *s, const char *server_first)
{
	const char *msg;
	size_t		len;

	return pgw_scram_client_final(s, (const uint8_t *) server_first,
								  strlen(server_first), &msg, &len);
}

static void
test_scram_rfc7677(void)
{
	char		err[PGW_ERRMSG_LEN] = "";
	pgw_scram  *s;
	const char *msg = NULL;
	size_t		len = 0;
	char		tampered[] = RFC_SERVER_FINAL;

	s = pgw_scram_begin("user", "pencil", NULL, 0, false, RFC_NONCE, err);
	tap_ok(s != NULL, "scram begin with the RFC 7677 inputs");
	if (s == NULL)
		return;
	tap_ok(pgw_scram_client_first(s, &msg, &len), "client-first produced");
	tap_is_str(msg, "n,,n=user,r=" RFC_NONCE, "RFC 7677 client-first-message");
	tap_is_int(len, strlen("n,,n=user,r=" RFC_NONCE), "client-first length");
	tap_ok(pgw_scram_client_final(s, (const uint8_t *) RFC_SERVER_FIRST,
								  strlen(RFC_SERVER_FIRST), &msg, &len),
		   "RFC 7677 server-first accepted");
	tap_is_str(msg, RFC_CLIENT_FINAL, "RFC 7677 client-final-message");
	tap_is_int(len, strlen(RFC_CLIENT_FINAL), "client-final length");
	tap_ok(pgw_scram_verify_server_final(s, (const uint8_t *) RFC_SERVER_FINAL,
										 strlen(RFC_SERVER_FINAL)),
		   "RFC 7677 server-final accepted");
	tap_is_str(pgw_scram_errmsg(s), "", "no error after a good exchange");
	tap_ok(!pgw_scram_verify_server_final(s, (const uint8_t *) RFC_SERVER_FINAL,
										  strlen(RFC_SERVER_FINAL)),
		   "a second server-final is refused");
	pgw_scram_free(s);

	/* tampered server signature: change one character of the base64 */
	tampered[5] = (tampered[5] == 'A') ? 'B' : 'A';
	s = rfc_start("user");
	tap_ok(s && feed_first(s, RFC_SERVER_FIRST), "server-first accepted");
	tap_ok(s && !pgw_scram_verify_server_final(s, (const uint8_t *) tampered,
											   strlen(tampered)),
		   "tampered server signature rejected");
	tap_is_str(pgw_scram_errmsg(s),
			   "invalid SCRAM server signature: the server did not prove it knows the password",
			   "tampered signature error message");
	tap_ok(s && !pgw_scram_verify_server_final(s, (const uint8_t *) RFC_SERVER_FINAL,
											   strlen(RFC_SERVER_FINAL)),
		   "error is sticky: the right signature is refused afterwards");
	tap_ok(str_has(pgw_scram_errmsg(s), "did not prove"),
		   "sticky error keeps the first message");
	pgw_scram_free(s);

	/* a different password gives a different proof and signature */
	s = pgw_scram_begin("user", "pencil2", NULL, 0, false, RFC_NONCE, err);
	pgw_scram_client_first(s, &msg, &len);
	tap_ok(pgw_scram_client_final(s, (const uint8_t *) RFC_SERVER_FIRST,
								  strlen(RFC_SERVER_FIRST), &msg, &len) &&
		   strcmp(msg, RFC_CLIENT_FINAL) != 0,
		   "wrong password gives a different proof");
	tap_ok(!pgw_scram_verify_server_final(s, (const uint8_t *) RFC_SERVER_FINAL,
										  strlen(RFC_SERVER_FINAL)),
		   "server signature for another password rejected");
	pgw_scram_free(s);
}

static void
test_scram_bad_server_first(void)
{
	static const struct
	{
		const char *msg;
		const char *err;
		const char *what;
	}			cases[] = {
		{"r=rOprNGfwEbeRWgbNEkqX%hvYD,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"does not extend the client nonce", "nonce not starting with ours"},
		{"r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"does not extend the client nonce", "nonce adding nothing"},
		{"r=rOprNGfwEbe,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"does not extend the client nonce", "truncated nonce"},
		{"r=" RFC_NONCE "ab\x01,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"invalid character in server nonce", "control character in nonce"},
		{"m=ext,r=" RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"mandatory extension", "mandatory extension"},
		{"r=" RFC_SNONCE ",s=W22ZaJ0SNY7so!sUEjb6gQ==,i=4096",
		"invalid salt", "bad salt character"},
		{"r=" RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",
		"invalid salt", "bad salt length"},
		{"r=" RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ=A,i=4096",
		"invalid salt", "bad salt padding"},
		{"r=" RFC_SNONCE ",s=,i=4096", "empty salt", "empty salt"},
		{"r=" RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
		"iteration count", "iteration count 0"},
		{"r=" RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1",
		"iteration count", "negative iteration count"},
		{"r=" RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=10000001",
		"must be between 1 and 10000000", "iteration count above the limit"},
		{"r=" RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999999",
		"iteration count", "overflowing iteration count"},
		{"r=" RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=",
		"iteration count", "empty iteration count"},
		{"r=" RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=40x",
		"iteration count", "iteration count with garbage"},
		{"r=" RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=+4096",
		"iteration count", "iteration count with a sign"},
		{"r=" RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==",
		"iteration count expected", "missing iteration count"},
		{"r=" RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,x=y",
		"garbage at end", "trailing extension"},
		{"r=" RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,",
		"garbage at end", "trailing comma"},
		{"s=W22ZaJ0SNY7soEsUEjb6gQ==,r=" RFC_SNONCE ",i=4096",
		"nonce expected", "attributes out of order"},
		{"r=" RFC_SNONCE ",i=4096,s=W22ZaJ0SNY7soEsUEjb6gQ==",
		"salt expected", "salt and count swapped"},
		{"hello", "nonce expected", "garbage"},
		{"e=other-error", "nonce expected", "error attribute in server-first"},
	};
	size_t		i;
	pgw_scram  *s;
	const char *msg;
	size_t		len;
	char		withnul[] = "r=" RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		s = rfc_start("");
		tap_ok(s && !feed_first(s, cases[i].msg), "rejected: %s", cases[i].what);
		if (!tap_ok(str_has(pgw_scram_errmsg(s), cases[i].err),
					"error for %s mentions \"%s\"", cases[i].what, cases[i].err))
			tap_diag("got: %s", pgw_scram_errmsg(s));
		tap_ok(s && !pgw_scram_verify_server_final(s, (const uint8_t *) RFC_SERVER_FINAL,
												   strlen(RFC_SERVER_FINAL)),
			   "nothing works after the failure (%s)", cases[i].what);
		pgw_scram_free(s);
	}

	s = rfc_start("user");
	tap_ok(s && !pgw_scram_client_final(s, (const uint8_t *) "", 0, &msg, &len),
		   "empty server-first rejected");
	pgw_scram_free(s);

	/* the valid message with a NUL in the middle of the nonce */
	withnul[10] = '\0';
	s = rfc_start("user");
	tap_ok(s && !pgw_scram_client_final(s, (const uint8_t *) withnul,
										sizeof(withnul) - 1, &msg, &len),
		   "server-first with an embedded NUL rejected");
	pgw_scram_free(s);

	/* the smallest valid iteration count is accepted */
	s = rfc_start("user");
	tap_ok(s && feed_first(s, "r=" RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1"),
		   "iteration count 1 accepted");
	pgw_scram_free(s);
}

static void
test_scram_server_final(void)
{
	static const struct
	{
		const char *msg;
		const char *err;
		const char *what;
	}			cases[] = {
		{"e=invalid-proof", "server reported SCRAM error: \"invalid-proof\"",
		"e= error"},
		{"e=other-error,x=1", "server reported SCRAM error: \"other-error\"",
		"e= error with an extension"},
		{"e=bad\x01thing", "server reported SCRAM error: \"bad?thing\"",
		"e= error with a control character"},
		{"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4", "signature length",
		"short signature"},
		{"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,x=y", "garbage at end",
		"signature followed by an extension"},
		{"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G!=", "signature encoding",
		"signature with a bad character"},
		{"x=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		"server signature expected", "unknown attribute"},
		{"", "empty server-final", "empty message"},
	};
	size_t		i;
	pgw_scram  *s;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		s = rfc_start("user");
		tap_ok(s && feed_first(s, RFC_SERVER_FIRST), "server-first accepted (%s)",
			   cases[i].what);
		tap_ok(s && !pgw_scram_verify_server_final(s, (const uint8_t *) cases[i].msg,
												   strlen(cases[i].msg)),
			   "server-final rejected: %s", cases[i].what);
		if (!tap_ok(str_has(pgw_scram_errmsg(s), cases[i].err),
					"error for %s mentions '%s'", cases[i].what, cases[i].err))
			tap_diag("got: %s", pgw_scram_errmsg(s));
		pgw_scram_free(s);
	}
}

static void
test_scram_channel_binding(void)
{
	uint8_t		cb[32];
	char		err[PGW_ERRMSG_LEN] = "";
	pgw_scram  *s;
	const char *msg = NULL;
	size_t		len;
	size_t		i;
	const char *sfirst = "r=abcdefghijklmnopQRSTUV,s=c2FsdHNhbHRzYWx0,i=1000";
	const char *sfinal = "v=75YWIfeorBq57gsYq1J4q+IwyGZUHiKuArfaeuGohno=";

	for (i = 0; i < sizeof(cb); i++)
		cb[i] = (uint8_t) i;

	/* "p": computed end to end with Python's hashlib and hmac */
	s = pgw_scram_begin("", "pencil", cb, sizeof(cb), true, "abcdefghijklmnop", err);
	tap_ok(s != NULL, "scram begin with channel binding data");
	if (s == NULL)
		return;
	pgw_scram_client_first(s, &msg, &len);
	tap_is_str(msg, "p=tls-server-end-point,,n=,r=abcdefghijklmnop",
			   "client-first with gs2 flag p");
	tap_ok(pgw_scram_client_final(s, (const uint8_t *) sfirst, strlen(sfirst),
								  &msg, &len), "server-first accepted with flag p");
	tap_is_str(msg,
			   "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwsAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
			   ",r=abcdefghijklmnopQRSTUV,p=SDV7dbo+PCwg7NbdNBmV4kuKZ3NxySeQsYwTP5YW5mQ=",
			   "client-final carries the gs2 header and channel binding data");
	tap_ok(pgw_scram_verify_server_final(s, (const uint8_t *) sfinal, strlen(sfinal)),
		   "server-final accepted with flag p");
	pgw_scram_free(s);

	/* "y": client supports it, server did not offer -PLUS */
	s = pgw_scram_begin("", "pencil", NULL, 0, true, "abcdefghijklmnop", err);
	pgw_scram_client_first(s, &msg, &len);
	tap_is_str(msg, "y,,n=,r=abcdefghijklmnop", "client-first with gs2 flag y");
	pgw_scram_client_final(s, (const uint8_t *) sfirst, strlen(sfirst), &msg, &len);
	tap_ok(s != NULL && strncmp(msg, "c=eSws,r=abcdefghijklmnopQRSTUV,p=", 34) == 0,
		   "client-final with flag y has c=eSws: %s", msg);
	pgw_scram_free(s);

	/* "n" */
	s = pgw_scram_begin("", "pencil", NULL, 0, false, "abcdefghijklmnop", err);
	pgw_scram_client_first(s, &msg, &len);
	pgw_scram_client_final(s, (const uint8_t *) sfirst, strlen(sfirst), &msg, &len);
	tap_ok(strncmp(msg, "c=biws,r=", 9) == 0,
		   "client-final with flag n has c=biws: %s", msg);
	pgw_scram_free(s);

	s = pgw_scram_begin("", "pencil", cb, 0, false, NULL, err);
	tap_ok(s == NULL && str_has(err, "channel binding"),
		   "empty channel binding data rejected: %s", err);
	s = pgw_scram_begin("", "pencil", NULL, 5, false, NULL, err);
	tap_ok(s == NULL, "NULL channel binding data with a length rejected");
}

static void
test_scram_misc(void)
{
	char		err[PGW_ERRMSG_LEN] = "";
	pgw_scram  *s;
	pgw_scram  *s2;
	const char *msg = NULL;
	const char *msg2 = NULL;
	size_t		len;
	size_t		i;
	bool		ok;

	/* saslname escaping */
	s = pgw_scram_begin("a,b=c,,==", "pencil", NULL, 0, false, "xyz", err);
	tap_ok(s && pgw_scram_client_first(s, &msg, &len), "begin with an odd user name");
	tap_is_str(msg, "n,,n=a=2Cb=3Dc=2C=2C=3D=3D,r=xyz",
			   "',' and '=' in the user name are escaped");
	pgw_scram_free(s);

	s = pgw_scram_begin("", "pencil", NULL, 0, false, "xyz", err);
	pgw_scram_client_first(s, &msg, &len);
	tap_is_str(msg, "n,,n=,r=xyz", "empty user name as PostgreSQL clients send");
	pgw_scram_free(s);

	/* bad fixed nonces */
	tap_ok(pgw_scram_begin("", "p", NULL, 0, false, "a,b", err) == NULL,
		   "nonce with a comma rejected");
	tap_ok(pgw_scram_begin("", "p", NULL, 0, false, "a b", err) == NULL,
		   "nonce with a space rejected");
	tap_ok(pgw_scram_begin("", "p", NULL, 0, false, "", err) == NULL,
		   "empty nonce rejected");
	tap_ok(pgw_scram_begin("", NULL, NULL, 0, false, "abc", err) == NULL,
		   "missing password rejected");

	/* random nonces */
	s = pgw_scram_begin("", "pencil", NULL, 0, false, NULL, err);
	s2 = pgw_scram_begin("", "pencil", NULL, 0, false, NULL, err);
	tap_ok(s && s2 && pgw_scram_client_first(s, &msg, &len) &&
		   pgw_scram_client_first(s2, &msg2, &len),
		   "begin with random nonces");
	tap_is_int(s ? strlen(msg) : 0,
			   strlen("n,,n=,r=") + PGW_BASE64_ENC_LEN(PGW_SCRAM_NONCE_LEN),
			   "random nonce has the expected length");
	ok = s != NULL;
	for (i = strlen("n,,n=,r="); ok && msg[i]; i++)
		ok = msg[i] > 0x20 && msg[i] < 0x7f && msg[i] != ',';
	tap_ok(ok, "random nonce is printable without commas");
	tap_ok(s && s2 && strcmp(msg, msg2) != 0, "two random nonces differ");
	pgw_scram_free(s);
	pgw_scram_free(s2);

	/* out of order calls, then stickiness */
	s = pgw_scram_begin("", "pencil", NULL, 0, false, RFC_NONCE, err);
	tap_ok(!feed_first(s, RFC_SERVER_FIRST),
		   "client-final before client-first refused");
	tap_ok(str_has(pgw_scram_errmsg(s), "out of order"),
		   "out of order error: %s", pgw_scram_errmsg(s));
	tap_ok(!pgw_scram_client_first(s, &msg, &len),
		   "client-first refused after a failure");
	pgw_scram_free(s);

	s = rfc_start("user");
	tap_ok(!pgw_scram_client_first(s, &msg, &len),
		   "a second client-first refused");
	pgw_scram_free(s);

	s = rfc_start("user");
	tap_ok(!pgw_scram_verify_server_final(s, (const uint8_t *) RFC_SERVER_FINAL,
										  strlen(RFC_SERVER_FINAL)),
		   "server-final before client-final refused");
	pgw_scram_free(s);

	tap_ok(!pgw_scram_client_first(NULL, &msg, &len), "NULL state refused");
	tap_ok(pgw_scram_errmsg(NULL) != NULL, "errmsg of NULL state is a string");
	pgw_scram_free(NULL);

	/* non-ASCII password is used as given (UTF-8 bytes) */
	s = pgw_scram_begin("", "p\xc3\xa4ss", NULL, 0, false, RFC_NONCE, err);
	tap_ok(s && pgw_scram_client_first(s, &msg, &len) &&
		   feed_first(s, RFC_SERVER_FIRST),
		   "non-ASCII password accepted");
	pgw_scram_free(s);
}

/* An allocator that fails every request after the first "budget" ones. */
static int	alloc_budget;
static int	alloc_live;

static void *
budget_malloc(size_t size, void *ctx)
{
	void	   *p;

	(void) ctx;
	if (alloc_budget-- <= 0)
		return NULL;
	p = malloc(size);
	if (p != NULL)
		alloc_live++;
	return p;
}

static void *
budget_realloc(void *ptr, size_t size, void *ctx)
{
	(void) ctx;
	if (alloc_budget-- <= 0)
		return NULL;
	if (ptr == NULL)
		alloc_live++;
	return realloc(ptr, size);
}

static void
budget_free(void *ptr, void *ctx)
{
	(void) ctx;
	if (ptr != NULL)
		alloc_live--;
	free(ptr);
}

static void
test_alloc_failures(void)
{
	static const pgw_allocator budget = {budget_malloc, budget_realloc,
	budget_free, NULL};
	static const uint8_t salt[4] = {1, 2, 3, 4};
	char		err[PGW_ERRMSG_LEN];
	char		out[36];
	int			n;
	int			completed_at = -1;
	bool		clean = true;

	pgw_set_allocator(&budget);
	for (n = 0; n < 100 && completed_at < 0; n++)
	{
		pgw_scram  *s;
		const char *msg;
		size_t		len;
		bool		ok;

		alloc_budget = n;
		alloc_live = 0;
		strcpy(err, "");
		s = pgw_scram_begin("user", "pencil", NULL, 0, false, RFC_NONCE, err);
		if (s == NULL)
		{
			if (strcmp(err, "out of memory") != 0)
				clean = false;
			if (alloc_live != 0)
				clean = false;
			continue;
		}
		ok = pgw_scram_client_first(s, &msg, &len) &&
			pgw_scram_client_final(s, (const uint8_t *) RFC_SERVER_FIRST,
								   strlen(RFC_SERVER_FIRST), &msg, &len) &&
			strcmp(msg, RFC_CLIENT_FINAL) == 0 &&
			pgw_scram_verify_server_final(s, (const uint8_t *) RFC_SERVER_FINAL,
										  strlen(RFC_SERVER_FINAL));
		if (ok)
			completed_at = n;
		else if (strcmp(pgw_scram_errmsg(s), "out of memory") != 0)
		{
			tap_diag("budget %d: %s", n, pgw_scram_errmsg(s));
			clean = false;
		}
		pgw_scram_free(s);
		if (alloc_live != 0)
			clean = false;
	}
	tap_ok(completed_at > 0, "exchange completes once enough memory is allowed (%d allocations)",
		   completed_at);
	tap_ok(clean, "every allocation failure before that fails cleanly with \"out of memory\" and frees everything");

	alloc_budget = 0;
	strcpy(err, "");
	tap_ok(!pgw_md5_password("u", "p", salt, out, err) &&
		   strcmp(err, "out of memory") == 0,
		   "md5 password reports an allocation failure");
	pgw_set_allocator(NULL);
}

int
main(void)
{
	test_crypto_hooks();
	pgw_use_openssl_crypto();
	test_base64();
	test_md5();
	test_no_crypto();
	test_scram_rfc7677();
	test_scram_bad_server_first();
	test_scram_server_final();
	test_scram_channel_binding();
	test_scram_misc();
	test_alloc_failures();
	return tap_done();
}
