/*-------------------------------------------------------------------------
 *
 * test_msg.c
 *	  Unit tests of the backend message decoder and the frontend message
 *	  encoders of the protocol core (pgw_msg.c).
 *
 * Messages are built by hand with a small builder independent of the code
 * under test.  Every decode works on an exact-size heap copy of the body,
 * so that AddressSanitizer catches any read past its end.
 *
 *-------------------------------------------------------------------------
 */
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#include "protocol/pgw.h"
#include "protocol/pgw_buf.h"
#include "protocol/pgw_msg.h"

/* Test-local message builder */
typedef struct tb
{
	uint8_t		b[16384];
	size_t		n;
} tb;

static void
tb_u8(tb *t, int v)
{
	t->b[t->n++] = (uint8_t) v;
}

static void
tb_i16(tb *t, int v)
{
	t->b[t->n++] = (uint8_t) ((unsigned int) v >> 8);
	t->b[t->n++] = (uint8_t) v;
}

static void
tb_i32(tb *t, int64_t v)
{
	uint32_t	u = (uint32_t) v;

	t->b[t->n++] = (uint8_t) (u >> 24);
	t->b[t->n++] = (uint8_t) (u >> 16);
	t->b[t->n++] = (uint8_t) (u >> 8);
	t->b[t->n++] = (uint8_t) u;
}

static void
tb_raw(tb *t, const void *p, size_t n)
{
	memcpy(t->b + t->n, p, n);
	t->n += n;
}

static void
tb_str(tb *t, const char *s)
{
	tb_raw(t, s, strlen(s) + 1);
}

/* Counting allocator */
static int	n_alloc;
static bool fail_alloc;

static void *
count_malloc(size_t size, void *ctx)
{
	(void) ctx;
	if (fail_alloc)
		return NULL;
	n_alloc++;
	return malloc(size);
}

static void *
count_realloc(void *ptr, size_t size, void *ctx)
{
	(void) ctx;
	if (fail_alloc)
		return NULL;
	n_alloc++;
	return realloc(ptr, size);
}

static void
count_free(void *ptr, void *ctx)
{
	(void) ctx;
	free(ptr);
}

static const pgw_allocator counting_allocator = {
	count_malloc, count_realloc, count_free, NULL
};

/* Decoding helpers */
static pgw_decode_scratch scratch;
static char errbuf[PGW_ERRMSG_LEN];
static uint8_t *heap_body;

static bool
decode_raw(uint8_t type, const uint8_t *body, size_t len,
		   const pgw_limits *lim, pgw_decode_scratch *scr,
		   pgw_backend_msg *m)
{
	free(heap_body);
	heap_body = malloc(len ? len : 1);
	if (len)
		memcpy(heap_body, body, len);
	errbuf[0] = '\0';
	return pgw_decode_backend(type, len ? heap_body : NULL, (uint32_t) len,
							  lim, scr, m, errbuf);
}

static bool
dec(uint8_t type, const tb *t, pgw_backend_msg *m)
{
	return decode_raw(type, t->b, t->n, NULL, &scratch, m);
}

static bool
dec_lim(uint8_t type, const tb *t, const pgw_limits *lim, pgw_backend_msg *m)
{
	return decode_raw(type, t->b, t->n, lim, &scratch, m);
}

static bool
err_has(const char *s)
{
	return strstr(errbuf, s) != NULL;
}

/* Expect a decode failure whose message contains want. */
static void
expect_fail(uint8_t type, const tb *t, const char *want, const char *what)
{
	pgw_backend_msg m;
	bool		ok = dec(type, t, &m);

	tap_ok(!ok && err_has(want), "%s fails", what);
	if (ok || !err_has(want))
		tap_diag("error was '%s', wanted '%s'", errbuf, want);
}

/* Every strict prefix of a valid message must be rejected. */
static void
check_truncations(uint8_t type, const tb *t, const char *what)
{
	pgw_backend_msg m;
	size_t		n;
	size_t		bad = SIZE_MAX;
	bool		named = true;
	char		prefix[64];

	snprintf(prefix, sizeof(prefix), "%s message", pgw_backend_msg_name(type));
	for (n = 0; n < t->n; n++)
	{
		if (decode_raw(type, t->b, n, NULL, &scratch, &m))
		{
			bad = n;
			break;
		}
		if (strstr(errbuf, prefix) == NULL)
			named = false;
	}
	tap_ok(bad == SIZE_MAX, "%s: all %zu truncations rejected", what, t->n);
	if (bad != SIZE_MAX)
		tap_diag("prefix of %zu bytes was accepted", bad);
	tap_ok(named, "%s: truncation errors name the message type", what);
}

/* A byte after a complete message must be rejected. */
static void
check_trailing(uint8_t type, const tb *t, const char *what)
{
	tb			t2;
	pgw_backend_msg m;

	t2 = *t;
	tb_u8(&t2, 0);
	tap_ok(!dec(type, &t2, &m) && err_has("trailing"),
		   "%s: trailing NUL byte rejected", what);
	t2 = *t;
	tb_raw(&t2, "junk", 4);
	tap_ok(!dec(type, &t2, &m) && err_has("trailing"),
		   "%s: trailing garbage rejected", what);
}

static bool
bytes_eq(const uint8_t *p, const char *s, size_t n)
{
	return p != NULL && memcmp(p, s, n) == 0;
}


static void
test_names_limits(void)
{
	pgw_limits	lim = {100, 10, 5, 7};
	static const uint8_t known[] = "RKSTDCIEN123tnsGHWdcAZvV";
	size_t		i;
	int			unknown = 0;

	tap_diag("names and limits");

	tap_is_str(pgw_backend_msg_name('D'), "DataRow", "name D");
	tap_is_str(pgw_backend_msg_name('R'), "Authentication", "name R");
	tap_is_str(pgw_backend_msg_name('K'), "BackendKeyData", "name K");
	tap_is_str(pgw_backend_msg_name('S'), "ParameterStatus", "name S");
	tap_is_str(pgw_backend_msg_name('T'), "RowDescription", "name T");
	tap_is_str(pgw_backend_msg_name('C'), "CommandComplete", "name C");
	tap_is_str(pgw_backend_msg_name('I'), "EmptyQueryResponse", "name I");
	tap_is_str(pgw_backend_msg_name('E'), "ErrorResponse", "name E");
	tap_is_str(pgw_backend_msg_name('N'), "NoticeResponse", "name N");
	tap_is_str(pgw_backend_msg_name('1'), "ParseComplete", "name 1");
	tap_is_str(pgw_backend_msg_name('2'), "BindComplete", "name 2");
	tap_is_str(pgw_backend_msg_name('3'), "CloseComplete", "name 3");
	tap_is_str(pgw_backend_msg_name('t'), "ParameterDescription", "name t");
	tap_is_str(pgw_backend_msg_name('n'), "NoData", "name n");
	tap_is_str(pgw_backend_msg_name('s'), "PortalSuspended", "name s");
	tap_is_str(pgw_backend_msg_name('G'), "CopyInResponse", "name G");
	tap_is_str(pgw_backend_msg_name('H'), "CopyOutResponse", "name H");
	tap_is_str(pgw_backend_msg_name('W'), "CopyBothResponse", "name W");
	tap_is_str(pgw_backend_msg_name('d'), "CopyData", "name d");
	tap_is_str(pgw_backend_msg_name('c'), "CopyDone", "name c");
	tap_is_str(pgw_backend_msg_name('A'), "NotificationResponse", "name A");
	tap_is_str(pgw_backend_msg_name('Z'), "ReadyForQuery", "name Z");
	tap_is_str(pgw_backend_msg_name('v'), "NegotiateProtocolVersion", "name v");
	tap_is_str(pgw_backend_msg_name('V'), "FunctionCallResponse", "name V");
	tap_is_str(pgw_backend_msg_name('z'), "unknown", "name of an unknown type");

	tap_is_int(pgw_backend_msg_limit('D', &lim), 100, "DataRow limit is data");
	tap_is_int(pgw_backend_msg_limit('d', &lim), 100, "CopyData limit is data");
	tap_is_int(pgw_backend_msg_limit('V', &lim), 100, "FunctionCallResponse limit is data");
	tap_is_int(pgw_backend_msg_limit('T', &lim), 10, "RowDescription limit is control");
	tap_is_int(pgw_backend_msg_limit('E', &lim), 10, "ErrorResponse limit is control");
	tap_is_int(pgw_backend_msg_limit('z', &lim), 0, "unknown type limit is 0");
	tap_is_int(pgw_backend_msg_limit('Q', &lim), 0, "frontend type limit is 0");
	tap_is_int(pgw_backend_msg_limit('D', NULL), PGW_DEFAULT_MAX_DATA_MESSAGE,
			   "NULL limits are the defaults");
	tap_is_int(pgw_backend_msg_limit('Z', &pgw_default_limits),
			   PGW_DEFAULT_MAX_CONTROL_MESSAGE, "default control limit");
	for (i = 0; i < sizeof(known) - 1; i++)
	{
		if (pgw_backend_msg_limit(known[i], &lim) == 0)
			unknown++;
	}
	tap_is_int(unknown, 0, "all 24 backend types have a limit");
	unknown = 0;
	for (i = 0; i < 256; i++)
	{
		if (pgw_backend_msg_limit((uint8_t) i, &lim) == 0)
			unknown++;
	}
	tap_is_int(unknown, 256 - 24, "exactly 24 known backend types");
}

static void
test_unknown_and_oversize(void)
{
	tb			t = {{0}, 0};
	pgw_backend_msg m;
	pgw_limits	lim = {20, 8, 5, 7};

	tap_diag("unknown types and oversized bodies");

	tap_ok(!dec('z', &t, &m), "type 'z' rejected");
	tap_is_str(errbuf, "unknown backend message type 0x7a", "unknown type message");
	tap_ok(!dec(0, &t, &m) && err_has("0x00"), "type 0 rejected");
	tap_ok(!dec(0xff, &t, &m) && err_has("0xff"), "type 0xff rejected");
	tap_ok(!dec('Q', &t, &m), "frontend type 'Q' rejected");
	tap_ok(!dec('P', &t, &m), "frontend type 'P' rejected");

	tb_str(&t, "SELECT 12");
	tap_ok(!dec_lim('C', &t, &lim, &m) && err_has("CommandComplete") &&
		   err_has("limit"), "control message over the limit rejected: %s", errbuf);
	tap_ok(dec_lim('C', &t, &pgw_default_limits, &m), "same message under default limits");
	t.n = 0;
	tb_str(&t, "SELECT");
	tb_u8(&t, 0);
	tap_ok(!dec_lim('C', &t, &lim, &m) && err_has("trailing"),
		   "control message at exactly the limit is decoded (then judged)");

	t.n = 0;
	tb_i16(&t, 1);
	tb_i32(&t, 15);
	tb_raw(&t, "123456789012345", 15);
	tap_ok(!dec_lim('D', &t, &lim, &m) && err_has("DataRow") && err_has("limit"),
		   "DataRow over max_data_message rejected");
	lim.max_data_message = 21;
	tap_ok(dec_lim('D', &t, &lim, &m), "DataRow at max_data_message accepted");

	/* a body pointer of NULL with a length */
	tap_ok(!pgw_decode_backend('C', NULL, 3, NULL, &scratch, &m, errbuf),
		   "NULL body with a length rejected");
}

static void
test_auth(void)
{
	tb			t;
	pgw_backend_msg m;
	static const int simple[] = {0, 2, 3, 7, 9};
	size_t		i;
	char		name[16];

	tap_diag("Authentication");

	for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
	{
		t.n = 0;
		tb_i32(&t, simple[i]);
		tap_ok(dec('R', &t, &m) && m.type == 'R' && m.u.auth.code == simple[i] &&
			   m.u.auth.data == NULL && m.u.auth.data_len == 0,
			   "auth code %d decoded", simple[i]);
		tap_ok(m.body == heap_body && m.body_len == 4, "body and body_len set");
		snprintf(name, sizeof(name), "auth %d", simple[i]);
		check_trailing('R', &t, name);
		check_truncations('R', &t, name);
	}

	/* MD5 */
	t.n = 0;
	tb_i32(&t, 5);
	tb_raw(&t, "\x01\x02\xff\x00", 4);
	tap_ok(dec('R', &t, &m) && m.u.auth.code == PGW_AUTH_MD5 &&
		   m.u.auth.data_len == 4 && m.u.auth.data == heap_body + 4 &&
		   bytes_eq(m.u.auth.data, "\x01\x02\xff\x00", 4), "MD5 salt decoded");
	check_truncations('R', &t, "MD5");
	t.n = 7;
	expect_fail('R', &t, "MD5 salt must be 4 bytes", "MD5 with a 3-byte salt");
	t.n = 9;
	expect_fail('R', &t, "MD5 salt must be 4 bytes", "MD5 with a 5-byte salt");
	t.n = 4;
	expect_fail('R', &t, "MD5 salt must be 4 bytes, not 0", "MD5 without salt");

	/* SASL */
	t.n = 0;
	tb_i32(&t, 10);
	tb_str(&t, "SCRAM-SHA-256-PLUS");
	tb_str(&t, "SCRAM-SHA-256");
	tb_u8(&t, 0);
	tap_ok(dec('R', &t, &m) && m.u.auth.code == PGW_AUTH_SASL &&
		   m.u.auth.nmechanisms == 2, "SASL: two mechanisms");
	tap_is_str(m.u.auth.mechanisms[0], "SCRAM-SHA-256-PLUS", "SASL mechanism 1");
	tap_is_str(m.u.auth.mechanisms[1], "SCRAM-SHA-256", "SASL mechanism 2");
	tap_ok(m.u.auth.mechanisms[1] == (const char *) heap_body + 23,
		   "mechanism points into the body");
	check_truncations('R', &t, "SASL");
	check_trailing('R', &t, "SASL");
	t.n--;
	expect_fail('R', &t, "not terminated", "SASL list without the empty terminator");

	t.n = 0;
	tb_i32(&t, 10);
	tb_u8(&t, 0);
	tap_ok(dec('R', &t, &m) && m.u.auth.nmechanisms == 0,
		   "SASL: empty list decodes (the state machine refuses it)");

	t.n = 0;
	tb_i32(&t, 10);
	for (i = 0; i < 32; i++)
		tb_str(&t, "M");
	tb_u8(&t, 0);
	tap_ok(dec('R', &t, &m) && m.u.auth.nmechanisms == 32 &&
		   strcmp(m.u.auth.mechanisms[31], "M") == 0, "SASL: 32 mechanisms accepted");
	t.n = 0;
	tb_i32(&t, 10);
	for (i = 0; i < 33; i++)
		tb_str(&t, "M");
	tb_u8(&t, 0);
	expect_fail('R', &t, "more than 32 SASL mechanisms", "SASL: 33 mechanisms");

	/* SASLContinue, SASLFinal, GSSContinue: data is the rest */
	{
		static const int codes[] = {11, 12, 8};

		for (i = 0; i < 3; i++)
		{
			t.n = 0;
			tb_i32(&t, codes[i]);
			tb_raw(&t, "r=abc,s=\0xyz", 12);
			tap_ok(dec('R', &t, &m) && m.u.auth.code == codes[i] &&
				   m.u.auth.data_len == 12 && m.u.auth.data == heap_body + 4 &&
				   bytes_eq(m.u.auth.data, "r=abc,s=\0xyz", 12),
				   "auth %d data is the rest of the body", codes[i]);
			t.n = 4;
			tap_ok(dec('R', &t, &m) && m.u.auth.data_len == 0,
				   "auth %d with empty data", codes[i]);
		}
	}

	/* unknown codes are decoded with just the code */
	t.n = 0;
	tb_i32(&t, 99);
	tb_raw(&t, "whatever", 8);
	tap_ok(dec('R', &t, &m) && m.u.auth.code == 99 && m.u.auth.data == NULL &&
		   m.u.auth.data_len == 0, "unknown auth code 99 decoded with just the code");
	t.n = 0;
	tb_i32(&t, -1);
	tap_ok(dec('R', &t, &m) && m.u.auth.code == -1, "auth code -1 decoded");
	t.n = 0;
	tb_i32(&t, 6);
	tap_ok(dec('R', &t, &m) && m.u.auth.code == 6, "obsolete auth code 6 decoded");
}

static void
test_backend_key(void)
{
	tb			t;
	pgw_backend_msg m;
	uint8_t		key[300];
	size_t		i;

	tap_diag("BackendKeyData");

	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t) (i * 3 + 1);

	t.n = 0;
	tb_i32(&t, 12345);
	tb_raw(&t, "\xde\xad\xbe\xef", 4);
	tap_ok(dec('K', &t, &m) && m.u.backend_key.pid == 12345 &&
		   m.u.backend_key.key_len == 4 &&
		   bytes_eq(m.u.backend_key.key, "\xde\xad\xbe\xef", 4),
		   "3.0 key of 4 bytes");
	check_truncations('K', &t, "BackendKeyData");

	t.n = 0;
	tb_i32(&t, -7);
	tb_raw(&t, key, 32);
	tap_ok(dec('K', &t, &m) && m.u.backend_key.pid == -7 &&
		   m.u.backend_key.key_len == 32 &&
		   memcmp(m.u.backend_key.key, key, 32) == 0, "3.2 key of 32 bytes");

	t.n = 0;
	tb_i32(&t, 1);
	tb_raw(&t, key, 256);
	tap_ok(dec('K', &t, &m) && m.u.backend_key.key_len == 256 &&
		   memcmp(m.u.backend_key.key, key, 256) == 0, "key of 256 bytes");
	tb_u8(&t, 0);
	expect_fail('K', &t, "cancel key length 257", "key of 257 bytes");
	t.n = 7;
	expect_fail('K', &t, "cancel key length 3", "key of 3 bytes");
	t.n = 4;
	expect_fail('K', &t, "cancel key length 0", "no key");
}

static void
test_parameter_status(void)
{
	tb			t;
	pgw_backend_msg m;

	tap_diag("ParameterStatus");

	t.n = 0;
	tb_str(&t, "server_version");
	tb_str(&t, "15.4");
	tap_ok(dec('S', &t, &m), "ParameterStatus decoded");
	tap_is_str(m.u.parameter_status.name, "server_version", "name");
	tap_is_str(m.u.parameter_status.value, "15.4", "value");
	tap_ok(m.u.parameter_status.name == (const char *) heap_body, "zero-copy");
	check_truncations('S', &t, "ParameterStatus");
	check_trailing('S', &t, "ParameterStatus");

	t.n = 0;
	tb_str(&t, "");
	tb_str(&t, "");
	tap_ok(dec('S', &t, &m) && strcmp(m.u.parameter_status.name, "") == 0 &&
		   strcmp(m.u.parameter_status.value, "") == 0, "empty name and value");
	t.n = 0;
	tb_str(&t, "a");
	expect_fail('S', &t, "ParameterStatus", "ParameterStatus without a value");
}

static void
add_field(tb *t, const char *name, uint32_t table, int col, uint32_t type,
		  int typlen, int32_t typmod, int format)
{
	tb_str(t, name);
	tb_i32(t, table);
	tb_i16(t, col);
	tb_i32(t, type);
	tb_i16(t, typlen);
	tb_i32(t, typmod);
	tb_i16(t, format);
}

static void
test_row_description(void)
{
	tb			t;
	pgw_backend_msg m;
	pgw_limits	lim = pgw_default_limits;
	pgw_field_desc *f;
	int			i;

	tap_diag("RowDescription");

	t.n = 0;
	tb_i16(&t, 3);
	add_field(&t, "id", 16384, 1, 23, 4, -1, 0);
	add_field(&t, "payload", 0xfffffffeu, -3, 17, -1, 0x7fffffff, 1);
	add_field(&t, "", 0, 0, 25, -2, 104, 0);
	tap_ok(dec('T', &t, &m) && m.u.row_description.nfields == 3,
		   "RowDescription with 3 fields");
	f = m.u.row_description.fields;
	tap_is_str(f[0].name, "id", "field 1 name");
	tap_is_int(f[0].table_oid, 16384, "field 1 table oid");
	tap_is_int(f[0].column, 1, "field 1 column");
	tap_is_int(f[0].type_oid, 23, "field 1 type oid");
	tap_is_int(f[0].type_len, 4, "field 1 type len");
	tap_is_int(f[0].type_mod, -1, "field 1 type mod");
	tap_is_int(f[0].format, 0, "field 1 format");
	tap_is_str(f[1].name, "payload", "field 2 name");
	tap_is_int(f[1].table_oid, 0xfffffffeu, "field 2 table oid (unsigned)");
	tap_is_int(f[1].column, -3, "field 2 column");
	tap_is_int(f[1].type_oid, 17, "field 2 type oid");
	tap_is_int(f[1].type_len, -1, "field 2 type len");
	tap_is_int(f[1].type_mod, 0x7fffffff, "field 2 type mod");
	tap_is_int(f[1].format, 1, "field 2 format");
	tap_is_str(f[2].name, "", "field 3 empty name");
	tap_is_int(f[2].type_len, -2, "field 3 type len");
	tap_is_int(f[2].type_mod, 104, "field 3 type mod");
	tap_ok(f[0].name == (const char *) heap_body + 2, "names point into the body");
	check_truncations('T', &t, "RowDescription");
	check_trailing('T', &t, "RowDescription");

	t.n = 0;
	tb_i16(&t, 0);
	tap_ok(dec('T', &t, &m) && m.u.row_description.nfields == 0,
		   "RowDescription with no fields");

	/* bad format codes */
	for (i = 0; i < 3; i++)
	{
		static const int badfmt[] = {2, -1, 256};

		t.n = 0;
		tb_i16(&t, 2);
		add_field(&t, "a", 0, 0, 23, 4, -1, 0);
		add_field(&t, "b", 0, 0, 23, 4, -1, badfmt[i]);
		expect_fail('T', &t, "field 2 has invalid format code", "RowDescription format code");
	}

	/* counts */
	t.n = 0;
	tb_i16(&t, 2);
	add_field(&t, "a", 0, 0, 23, 4, -1, 0);
	add_field(&t, "b", 0, 0, 23, 4, -1, 0);
	lim.max_columns = 1;
	tap_ok(!dec_lim('T', &t, &lim, &m) && err_has("2 fields exceed the limit of 1"),
		   "RowDescription over max_columns: %s", errbuf);
	lim.max_columns = 2;
	tap_ok(dec_lim('T', &t, &lim, &m), "RowDescription at max_columns");

	t.b[0] = 0xff;
	t.b[1] = 0xff;
	expect_fail('T', &t, "exceed the limit", "RowDescription with count -1");
	t.b[0] = 0;
	t.b[1] = 3;
	expect_fail('T', &t, "3 fields cannot fit", "RowDescription with one field too many");
	t.b[0] = 0x03;
	t.b[1] = 0xe8;
	expect_fail('T', &t, "1000 fields cannot fit", "RowDescription claiming 1000 fields");
	t.b[0] = 0;
	t.b[1] = 1;
	expect_fail('T', &t, "trailing", "RowDescription with a field too few");
}

static void
test_data_row(void)
{
	tb			t;
	pgw_backend_msg m;
	pgw_limits	lim = pgw_default_limits;
	pgw_value  *c;

	tap_diag("DataRow");

	t.n = 0;
	tb_i16(&t, 4);
	tb_i32(&t, 3);
	tb_raw(&t, "abc", 3);
	tb_i32(&t, -1);
	tb_i32(&t, 0);
	tb_i32(&t, 2);
	tb_raw(&t, "\0\xff", 2);
	tap_ok(dec('D', &t, &m) && m.u.data_row.ncolumns == 4, "DataRow with 4 columns");
	c = m.u.data_row.columns;
	tap_ok(c[0].len == 3 && c[0].data == heap_body + 6 && bytes_eq(c[0].data, "abc", 3),
		   "column 1 value");
	tap_ok(c[1].len == -1 && c[1].data == NULL, "column 2 NULL");
	tap_ok(c[2].len == 0 && c[2].data != NULL, "column 3 empty, not NULL");
	tap_ok(c[3].len == 2 && bytes_eq(c[3].data, "\0\xff", 2), "column 4 binary value");
	check_truncations('D', &t, "DataRow");
	check_trailing('D', &t, "DataRow");

	t.n = 0;
	tb_i16(&t, 0);
	tap_ok(dec('D', &t, &m) && m.u.data_row.ncolumns == 0, "DataRow with no columns");

	/* bad lengths */
	t.n = 0;
	tb_i16(&t, 2);
	tb_i32(&t, 1);
	tb_u8(&t, 'x');
	tb_i32(&t, -2);
	expect_fail('D', &t, "column 2 has invalid length -2", "DataRow length -2");
	t.n = 0;
	tb_i16(&t, 1);
	tb_i32(&t, INT32_MIN);
	expect_fail('D', &t, "column 1 has invalid length -2147483648", "DataRow length INT32_MIN");
	t.n = 0;
	tb_i16(&t, 3);
	tb_i32(&t, 0);
	tb_i32(&t, 0);
	tb_i32(&t, 70000);
	tb_raw(&t, "abcdefghijkl", 12);
	tap_ok(!dec('D', &t, &m), "DataRow column longer than the body");
	tap_is_str(errbuf, "malformed DataRow message: column 3 length 70000 exceeds the remaining 12 bytes",
			   "DataRow overlong column message");
	t.n = 0;
	tb_i16(&t, 1);
	tb_i32(&t, 0x7fffffff);
	tb_raw(&t, "ab", 2);
	expect_fail('D', &t, "exceeds the remaining 2 bytes", "DataRow length INT32_MAX");
	t.n = 0;
	tb_i16(&t, 1);
	tb_i32(&t, 3);
	tb_raw(&t, "ab", 2);
	expect_fail('D', &t, "column 1 length 3 exceeds the remaining 2", "DataRow length off by one");

	/* counts */
	t.n = 0;
	tb_i16(&t, 3);
	tb_i32(&t, -1);
	tb_i32(&t, -1);
	tb_i32(&t, -1);
	lim.max_columns = 2;
	tap_ok(!dec_lim('D', &t, &lim, &m) && err_has("3 columns exceed the limit of 2"),
		   "DataRow over max_columns");
	lim.max_columns = 3;
	tap_ok(dec_lim('D', &t, &lim, &m) && m.u.data_row.ncolumns == 3,
		   "DataRow at max_columns");
	t.b[0] = 0x80;
	t.b[1] = 0x00;
	expect_fail('D', &t, "32768 columns exceed the limit", "DataRow with a negative count");
	t.b[0] = 0;
	t.b[1] = 4;
	expect_fail('D', &t, "4 columns cannot fit in the remaining 12 bytes", "DataRow one column short");
	t.b[1] = 2;
	expect_fail('D', &t, "trailing", "DataRow with an extra column");
}

/*
 * pgw_decode_data_row() on a heap copy of body: does it agree with
 * pgw_decode_backend() -- the same verdict and, when both accept, the same
 * columns -- and does it leave the rest of the message alone?
 */
static bool
data_row_agrees(const uint8_t *body, size_t len, const pgw_limits *lim)
{
	pgw_backend_msg slow;
	pgw_backend_msg fast;
	pgw_decode_scratch scr = {NULL, 0};
	uint8_t    *copy = malloc(len ? len : 1);
	bool		slow_ok;
	bool		fast_ok;
	bool		same;
	uint16_t	i;

	if (len)
		memcpy(copy, body, len);
	slow_ok = pgw_decode_backend('D', len ? copy : NULL, (uint32_t) len, lim,
								 &scratch, &slow, errbuf);
	memset(&fast, 0xa5, sizeof(fast));
	fast_ok = pgw_decode_data_row(len ? copy : NULL, (uint32_t) len, lim,
								  &scr, &fast);
	same = (slow_ok == fast_ok);
	if (same && fast_ok)
	{
		same = fast.type == 'D' && fast.body == slow.body &&
			fast.body_len == slow.body_len &&
			fast.u.data_row.ncolumns == slow.u.data_row.ncolumns &&
			(fast.u.data_row.columns == NULL) ==
			(slow.u.data_row.columns == NULL) &&
			fast.u.error.hint == (const char *) (uintptr_t) 0xa5a5a5a5a5a5a5a5ULL;
		for (i = 0; same && i < fast.u.data_row.ncolumns; i++)
			same = fast.u.data_row.columns[i].data ==
				slow.u.data_row.columns[i].data &&
				fast.u.data_row.columns[i].len ==
				slow.u.data_row.columns[i].len;
	}
	if (!same)
		tap_diag("fast %d, slow %d (%s) on %zu bytes", fast_ok, slow_ok,
				 errbuf, len);
	pgw_scratch_free(&scr);
	free(copy);
	return same;
}

static void
test_data_row_fast(void)
{
	tb			t;
	tb			u;
	pgw_limits	lim = pgw_default_limits;
	pgw_backend_msg m;
	pgw_decode_scratch scr = {NULL, 0};
	uint32_t	rnd = 12345;
	size_t		n;
	int			i;
	int			bad;

	tap_diag("DataRow, fast decoder");

	t.n = 0;
	tb_i16(&t, 4);
	tb_i32(&t, 3);
	tb_raw(&t, "abc", 3);
	tb_i32(&t, -1);
	tb_i32(&t, 0);
	tb_i32(&t, 2);
	tb_raw(&t, "\0\xff", 2);
	tap_ok(data_row_agrees(t.b, t.n, NULL), "4 columns as the general decoder");
	bad = 0;
	for (n = 0; n < t.n; n++)
		bad += !data_row_agrees(t.b, n, NULL);
	tap_is_int(bad, 0, "every truncation as the general decoder");
	u = t;
	tb_u8(&u, 0);
	tap_ok(data_row_agrees(u.b, u.n, NULL), "trailing byte as the general decoder");
	u = t;
	u.b[1] = 5;
	tap_ok(data_row_agrees(u.b, u.n, NULL), "count one too many as the general decoder");
	u = t;
	u.b[1] = 3;
	tap_ok(data_row_agrees(u.b, u.n, NULL), "count one too few as the general decoder");

	t.n = 0;
	tb_i16(&t, 0);
	tap_ok(data_row_agrees(t.b, t.n, NULL), "no columns as the general decoder");

	/* bad lengths */
	t.n = 0;
	tb_i16(&t, 2);
	tb_i32(&t, 1);
	tb_u8(&t, 'x');
	tb_i32(&t, -2);
	tap_ok(data_row_agrees(t.b, t.n, NULL), "length -2 as the general decoder");
	t.n = 0;
	tb_i16(&t, 1);
	tb_i32(&t, INT32_MIN);
	tap_ok(data_row_agrees(t.b, t.n, NULL), "length INT32_MIN as the general decoder");
	t.n = 0;
	tb_i16(&t, 1);
	tb_i32(&t, 0x7fffffff);
	tb_raw(&t, "ab", 2);
	tap_ok(data_row_agrees(t.b, t.n, NULL), "length INT32_MAX as the general decoder");

	/* limits */
	t.n = 0;
	tb_i16(&t, 3);
	tb_i32(&t, -1);
	tb_i32(&t, -1);
	tb_i32(&t, -1);
	lim.max_columns = 2;
	tap_ok(data_row_agrees(t.b, t.n, &lim), "over max_columns as the general decoder");
	lim.max_columns = 3;
	tap_ok(data_row_agrees(t.b, t.n, &lim), "at max_columns as the general decoder");
	lim.max_data_message = (uint32_t) t.n - 1;
	tap_ok(data_row_agrees(t.b, t.n, &lim), "over max_data_message as the general decoder");
	lim.max_data_message = (uint32_t) t.n;
	tap_ok(data_row_agrees(t.b, t.n, &lim), "at max_data_message as the general decoder");
	lim = pgw_default_limits;

	/* random rows and random damage to them */
	bad = 0;
	for (i = 0; i < 20000; i++)
	{
		int			ncols;
		int			k;

		rnd ^= rnd << 13;
		rnd ^= rnd >> 17;
		rnd ^= rnd << 5;
		ncols = (int) (rnd % 6);
		t.n = 0;
		tb_i16(&t, ncols);
		for (k = 0; k < ncols; k++)
		{
			int			vlen = (int) ((rnd >> (3 * k + 3)) % 9) - 1;

			tb_i32(&t, vlen);
			if (vlen > 0)
				tb_raw(&t, "abcdefgh", (size_t) vlen);
		}
		if (i % 2 == 1 && t.n > 0)
		{
			/* flip one byte, or cut the body short */
			if (i % 4 == 1)
				t.b[(rnd >> 8) % t.n] ^= (uint8_t) (1 + (rnd >> 16) % 255);
			else
				t.n = (rnd >> 8) % t.n;
		}
		bad += !data_row_agrees(t.b, t.n, (i % 3 == 0) ? NULL : &lim);
	}
	tap_is_int(bad, 0, "20000 random and damaged rows as the general decoder");

	/* scratch: reused, grown, and allocation failure or no scratch */
	pgw_set_allocator(&counting_allocator);
	n_alloc = 0;
	t.n = 0;
	tb_i16(&t, 2);
	tb_i32(&t, -1);
	tb_i32(&t, -1);
	tap_ok(pgw_decode_data_row(t.b, (uint32_t) t.n, NULL, &scr, &m) &&
		   n_alloc == 1 && m.u.data_row.columns == scr.buf,
		   "columns live in the scratch");
	tap_ok(pgw_decode_data_row(t.b, (uint32_t) t.n, NULL, &scr, &m) &&
		   n_alloc == 1, "scratch reused without allocating");
	pgw_scratch_free(&scr);
	fail_alloc = true;
	tap_ok(!pgw_decode_data_row(t.b, (uint32_t) t.n, NULL, &scr, &m),
		   "allocation failure refused");
	fail_alloc = false;
	tap_ok(!pgw_decode_data_row(t.b, (uint32_t) t.n, NULL, NULL, &m),
		   "NULL scratch with columns refused");
	t.n = 0;
	tb_i16(&t, 0);
	tap_ok(pgw_decode_data_row(t.b, (uint32_t) t.n, NULL, NULL, &m) &&
		   m.u.data_row.ncolumns == 0 && m.u.data_row.columns == NULL,
		   "NULL scratch without columns works");
	pgw_scratch_free(&scr);
	pgw_set_allocator(NULL);
}

static void
test_command_complete(void)
{
	tb			t;
	pgw_backend_msg m;

	tap_diag("CommandComplete");

	t.n = 0;
	tb_str(&t, "INSERT 0 1");
	tap_ok(dec('C', &t, &m), "CommandComplete decoded");
	tap_is_str(m.u.command_complete.tag, "INSERT 0 1", "tag");
	check_truncations('C', &t, "CommandComplete");
	check_trailing('C', &t, "CommandComplete");
	t.n = 0;
	tb_str(&t, "");
	tap_ok(dec('C', &t, &m) && strcmp(m.u.command_complete.tag, "") == 0, "empty tag");
	t.n = 0;
	expect_fail('C', &t, "CommandComplete", "CommandComplete without body");
}

static void
test_empty_messages(void)
{
	static const uint8_t types[] = {'I', '1', '2', '3', 'n', 's', 'c'};
	tb			t;
	pgw_backend_msg m;
	size_t		i;

	tap_diag("messages with empty bodies");

	for (i = 0; i < sizeof(types); i++)
	{
		t.n = 0;
		tap_ok(dec(types[i], &t, &m) && m.type == types[i] && m.body_len == 0,
			   "%s with an empty body", pgw_backend_msg_name(types[i]));
		tb_u8(&t, 0);
		tap_ok(!dec(types[i], &t, &m) && err_has(pgw_backend_msg_name(types[i])) &&
			   err_has("expected an empty body, got 1 bytes"),
			   "%s with a body rejected: %s", pgw_backend_msg_name(types[i]), errbuf);
	}
}

static void
test_error_response(void)
{
	tb			t;
	pgw_backend_msg m;
	pgw_error_fields *e;
	static const char codes[] = "SVCMDHPpqWstcdnFLR";
	size_t		i;
	int			mism = 0;

	tap_diag("ErrorResponse / NoticeResponse");

	t.n = 0;
	for (i = 0; i < strlen(codes); i++)
	{
		char		val[8];

		snprintf(val, sizeof(val), "v_%c", codes[i]);
		tb_u8(&t, codes[i]);
		tb_str(&t, val);
	}
	tb_u8(&t, 'Z');				/* unknown: ignored */
	tb_str(&t, "future");
	tb_u8(&t, 0);
	tap_ok(dec('E', &t, &m), "ErrorResponse with all fields decoded");
	e = &m.u.error;
	tap_is_str(e->severity, "v_S", "severity");
	tap_is_str(e->severity_nonlocalized, "v_V", "severity_nonlocalized");
	tap_is_str(e->sqlstate, "v_C", "sqlstate");
	tap_is_str(e->message, "v_M", "message");
	tap_is_str(e->detail, "v_D", "detail");
	tap_is_str(e->hint, "v_H", "hint");
	tap_is_str(e->position, "v_P", "position");
	tap_is_str(e->internal_position, "v_p", "internal_position");
	tap_is_str(e->internal_query, "v_q", "internal_query");
	tap_is_str(e->context, "v_W", "context");
	tap_is_str(e->schema_name, "v_s", "schema_name");
	tap_is_str(e->table_name, "v_t", "table_name");
	tap_is_str(e->column_name, "v_c", "column_name");
	tap_is_str(e->datatype_name, "v_d", "datatype_name");
	tap_is_str(e->constraint_name, "v_n", "constraint_name");
	tap_is_str(e->source_file, "v_F", "source_file");
	tap_is_str(e->source_line, "v_L", "source_line");
	tap_is_str(e->source_function, "v_R", "source_function");
	tap_ok(e->severity == (const char *) heap_body + 1, "fields point into the body");
	check_truncations('E', &t, "ErrorResponse");
	check_trailing('E', &t, "ErrorResponse");

	tap_ok(dec('N', &t, &m) && m.type == 'N', "NoticeResponse decoded the same way");
	tap_is_str(m.u.error.message, "v_M", "notice message");
	check_truncations('N', &t, "NoticeResponse");

	/* a minimal, typical error */
	t.n = 0;
	tb_u8(&t, 'S');
	tb_str(&t, "ERROR");
	tb_u8(&t, 'C');
	tb_str(&t, "42P01");
	tb_u8(&t, 'M');
	tb_str(&t, "relation \"x\" does not exist");
	tb_u8(&t, 'M');
	tb_str(&t, "second message wins");
	tb_u8(&t, 0);
	tap_ok(dec('E', &t, &m), "typical ErrorResponse");
	tap_is_str(m.u.error.sqlstate, "42P01", "sqlstate");
	tap_is_str(m.u.error.message, "second message wins", "a repeated field: last wins");
	tap_ok(m.u.error.detail == NULL && m.u.error.hint == NULL &&
		   m.u.error.source_function == NULL, "absent fields are NULL");

	t.n = 0;
	tb_u8(&t, 0);
	tap_ok(dec('E', &t, &m), "ErrorResponse with no fields");
	e = &m.u.error;
	for (i = 0; i < sizeof(*e) / sizeof(const char *); i++)
	{
		if (((const char *const *) e)[i] != NULL)
			mism++;
	}
	tap_is_int(mism, 0, "all fields NULL");

	t.n = 0;
	expect_fail('E', &t, "missing terminator", "ErrorResponse with an empty body");
	t.n = 0;
	tb_u8(&t, 'M');
	tb_str(&t, "boom");
	expect_fail('E', &t, "missing terminator", "ErrorResponse without terminator");
	t.n = 0;
	tb_u8(&t, 'M');
	tb_raw(&t, "boom", 4);
	expect_fail('E', &t, "field 'M' is not terminated", "ErrorResponse with an unterminated value");
	t.n = 0;
	tb_u8(&t, 0x01);
	tb_raw(&t, "x", 1);
	expect_fail('N', &t, "field 0x01 is not terminated", "NoticeResponse with an unprintable code");
}

static void
test_parameter_desc(void)
{
	tb			t;
	pgw_backend_msg m;
	pgw_limits	lim = pgw_default_limits;

	tap_diag("ParameterDescription");

	t.n = 0;
	tb_i16(&t, 3);
	tb_i32(&t, 23);
	tb_i32(&t, 25);
	tb_i32(&t, 0xffffffffu);
	tap_ok(dec('t', &t, &m) && m.u.parameter_desc.nparams == 3, "3 parameters");
	tap_ok(m.u.parameter_desc.type_oids[0] == 23 &&
		   m.u.parameter_desc.type_oids[1] == 25 &&
		   m.u.parameter_desc.type_oids[2] == 0xffffffffu, "parameter oids");
	check_truncations('t', &t, "ParameterDescription");
	check_trailing('t', &t, "ParameterDescription");
	lim.max_columns = 2;
	tap_ok(!dec_lim('t', &t, &lim, &m) && err_has("3 parameters exceed the limit of 2"),
		   "ParameterDescription over max_columns");
	t.b[1] = 4;
	expect_fail('t', &t, "4 parameters cannot fit in the remaining 12 bytes",
				"ParameterDescription with a count too large");
	t.b[0] = 0xff;
	expect_fail('t', &t, "exceed the limit", "ParameterDescription with a negative count");
	t.n = 0;
	tb_i16(&t, 0);
	tap_ok(dec('t', &t, &m) && m.u.parameter_desc.nparams == 0, "no parameters");
}

static void
test_copy_responses(void)
{
	static const uint8_t types[] = {'G', 'H', 'W'};
	tb			t;
	pgw_backend_msg m;
	pgw_limits	lim = pgw_default_limits;
	size_t		i;
	char		name[40];

	tap_diag("CopyIn/CopyOut/CopyBothResponse");

	for (i = 0; i < 3; i++)
	{
		uint8_t		ty = types[i];

		snprintf(name, sizeof(name), "%s", pgw_backend_msg_name(ty));

		t.n = 0;
		tb_u8(&t, 0);
		tb_i16(&t, 2);
		tb_i16(&t, 0);
		tb_i16(&t, 0);
		tap_ok(dec(ty, &t, &m) && m.type == ty && m.u.copy_response.format == 0 &&
			   m.u.copy_response.ncolumns == 2 &&
			   m.u.copy_response.formats[0] == 0 &&
			   m.u.copy_response.formats[1] == 0, "%s text", name);
		check_truncations(ty, &t, name);
		check_trailing(ty, &t, name);

		t.n = 0;
		tb_u8(&t, 1);
		tb_i16(&t, 3);
		tb_i16(&t, 1);
		tb_i16(&t, 0);
		tb_i16(&t, 1);
		tap_ok(dec(ty, &t, &m) && m.u.copy_response.format == 1 &&
			   m.u.copy_response.ncolumns == 3 &&
			   m.u.copy_response.formats[0] == 1 &&
			   m.u.copy_response.formats[1] == 0 &&
			   m.u.copy_response.formats[2] == 1, "%s binary", name);
		lim.max_columns = 2;
		tap_ok(!dec_lim(ty, &t, &lim, &m) && err_has("3 columns exceed the limit of 2"),
			   "%s over max_columns", name);

		t.b[0] = 2;
		expect_fail(ty, &t, "invalid overall format code 2", "overall format 2");
		t.b[0] = 0;
		expect_fail(ty, &t, "column 1 is binary in a text-format COPY", "binary column in text COPY");
		t.b[0] = 1;
		t.b[8] = 2;
		expect_fail(ty, &t, "column 3 has invalid format code 2", "column format 2");
		t.b[7] = 0xff;
		t.b[8] = 0xff;
		expect_fail(ty, &t, "column 3 has invalid format code -1", "column format -1");
		t.b[2] = 4;
		expect_fail(ty, &t, "4 columns cannot fit", "column count too large");
		t.b[1] = 0x80;
		expect_fail(ty, &t, "exceed the limit", "negative column count");

		t.n = 0;
		tb_u8(&t, 1);
		tb_i16(&t, 0);
		tap_ok(dec(ty, &t, &m) && m.u.copy_response.ncolumns == 0, "%s with no columns", name);
	}
}

static void
test_copy_data(void)
{
	tb			t;
	pgw_backend_msg m;

	tap_diag("CopyData");

	t.n = 0;
	tb_raw(&t, "1\tfoo\0bar\n", 10);
	tap_ok(dec('d', &t, &m) && m.u.copy_data.len == 10 &&
		   m.u.copy_data.data == heap_body && bytes_eq(m.u.copy_data.data, "1\tfoo\0bar\n", 10),
		   "CopyData with binary content");
	t.n = 0;
	tap_ok(dec('d', &t, &m) && m.u.copy_data.len == 0, "empty CopyData");
}

static void
test_notification(void)
{
	tb			t;
	pgw_backend_msg m;

	tap_diag("NotificationResponse");

	t.n = 0;
	tb_i32(&t, 4242);
	tb_str(&t, "chan");
	tb_str(&t, "hello");
	tap_ok(dec('A', &t, &m) && m.u.notification.pid == 4242, "notification pid");
	tap_is_str(m.u.notification.channel, "chan", "channel");
	tap_is_str(m.u.notification.payload, "hello", "payload");
	check_truncations('A', &t, "NotificationResponse");
	check_trailing('A', &t, "NotificationResponse");
	t.n = 0;
	tb_i32(&t, 1);
	tb_str(&t, "c");
	tb_str(&t, "");
	tap_ok(dec('A', &t, &m) && strcmp(m.u.notification.payload, "") == 0, "empty payload");
}

static void
test_ready(void)
{
	tb			t;
	pgw_backend_msg m;
	static const char ok_status[] = "ITE";
	size_t		i;
	int			bad_accepted = 0;

	tap_diag("ReadyForQuery");

	for (i = 0; i < 3; i++)
	{
		t.n = 0;
		tb_u8(&t, ok_status[i]);
		tap_ok(dec('Z', &t, &m) && m.u.ready.tx_status == (uint8_t) ok_status[i],
			   "status '%c'", ok_status[i]);
		check_trailing('Z', &t, "ReadyForQuery");
	}
	t.n = 0;
	tb_u8(&t, 'X');
	tap_ok(!dec('Z', &t, &m), "status 'X' rejected");
	tap_is_str(errbuf, "malformed ReadyForQuery message: invalid transaction status 'X'",
			   "status 'X' message");
	t.b[0] = 0;
	expect_fail('Z', &t, "invalid transaction status 0x00", "status 0");
	for (i = 0; i < 256; i++)
	{
		t.b[0] = (uint8_t) i;
		if (dec('Z', &t, &m) && i != 'I' && i != 'T' && i != 'E')
			bad_accepted++;
	}
	tap_is_int(bad_accepted, 0, "only I, T and E accepted");
	t.n = 0;
	expect_fail('Z', &t, "truncated", "empty ReadyForQuery");
}

static void
test_negotiate(void)
{
	tb			t;
	pgw_backend_msg m;

	tap_diag("NegotiateProtocolVersion");

	t.n = 0;
	tb_i32(&t, 0);
	tb_i32(&t, 2);
	tb_str(&t, "_pq_.foo");
	tb_str(&t, "_pq_.bar");
	tap_ok(dec('v', &t, &m) && m.u.negotiate.newest_minor == 0 &&
		   m.u.negotiate.noptions == 2, "two unrecognized options");
	tap_is_str(m.u.negotiate.options[0], "_pq_.foo", "option 1");
	tap_is_str(m.u.negotiate.options[1], "_pq_.bar", "option 2");
	check_truncations('v', &t, "NegotiateProtocolVersion");
	check_trailing('v', &t, "NegotiateProtocolVersion");

	t.n = 0;
	tb_i32(&t, 1);
	tb_i32(&t, 0);
	tap_ok(dec('v', &t, &m) && m.u.negotiate.newest_minor == 1 &&
		   m.u.negotiate.noptions == 0, "minor 1, no options");
	check_truncations('v', &t, "NegotiateProtocolVersion, no options");

	t.n = 0;
	tb_i32(&t, 0);
	tb_i32(&t, -1);
	expect_fail('v', &t, "invalid option count -1", "negative option count");
	t.n = 0;
	tb_i32(&t, -2);
	tb_i32(&t, 0);
	expect_fail('v', &t, "invalid minor version -2", "negative minor version");
	t.n = 0;
	tb_i32(&t, 0);
	tb_i32(&t, 5);
	tb_str(&t, "a");
	tb_str(&t, "b");
	expect_fail('v', &t, "5 options cannot fit in the remaining 4 bytes",
				"option count above the remaining bytes");
	t.n = 0;
	tb_i32(&t, 0);
	tb_i32(&t, 3);
	tb_str(&t, "ab");
	tb_str(&t, "c");
	expect_fail('v', &t, "option 3 is not terminated", "option count above the names");
}

static void
test_function_call(void)
{
	tb			t;
	pgw_backend_msg m;

	tap_diag("FunctionCallResponse");

	t.n = 0;
	tb_i32(&t, 3);
	tb_raw(&t, "xyz", 3);
	tap_ok(dec('V', &t, &m) && m.u.function_call.result.len == 3 &&
		   m.u.function_call.result.data == heap_body + 4 &&
		   bytes_eq(m.u.function_call.result.data, "xyz", 3), "result value");
	check_truncations('V', &t, "FunctionCallResponse");
	check_trailing('V', &t, "FunctionCallResponse");
	t.n = 0;
	tb_i32(&t, -1);
	tap_ok(dec('V', &t, &m) && m.u.function_call.result.len == -1 &&
		   m.u.function_call.result.data == NULL, "NULL result");
	check_trailing('V', &t, "FunctionCallResponse NULL");
	t.n = 0;
	tb_i32(&t, 0);
	tap_ok(dec('V', &t, &m) && m.u.function_call.result.len == 0 &&
		   m.u.function_call.result.data != NULL, "empty result");
	t.n = 0;
	tb_i32(&t, -5);
	expect_fail('V', &t, "result has invalid length -5", "result length -5");
	t.n = 0;
	tb_i32(&t, 9);
	tb_raw(&t, "abc", 3);
	expect_fail('V', &t, "result length 9 exceeds the remaining 3 bytes", "result too long");
}

static void
test_allocation(void)
{
	tb			t;
	pgw_backend_msg m;
	pgw_decode_scratch scr = {NULL, 0};
	pgw_limits	big = pgw_default_limits;
	size_t		i;

	tap_diag("allocation discipline");

	big.max_columns = 65535;
	n_alloc = 0;
	fail_alloc = false;
	pgw_set_allocator(&counting_allocator);

	/* a DataRow claiming 30000 columns in a 10-byte body */
	t.n = 0;
	tb_i16(&t, 30000);
	tb_i32(&t, 1);
	tb_raw(&t, "abcd", 4);
	tap_ok(!decode_raw('D', t.b, t.n, &big, &scr, &m) &&
		   err_has("30000 columns cannot fit in the remaining 8 bytes"),
		   "DataRow with 30000 columns in 10 bytes rejected: %s", errbuf);
	tap_ok(!decode_raw('D', t.b, t.n, NULL, &scr, &m) && err_has("exceed the limit of 4096"),
		   "and over the default limit: %s", errbuf);
	tap_is_int(n_alloc, 0, "DataRow: nothing allocated");

	t.n = 0;
	tb_i16(&t, 30000);
	add_field(&t, "a", 0, 0, 23, 4, -1, 0);
	tap_ok(!decode_raw('T', t.b, t.n, &big, &scr, &m), "RowDescription with 30000 fields rejected");
	t.n = 0;
	tb_i16(&t, 65535);
	tb_i32(&t, 23);
	tap_ok(!decode_raw('t', t.b, t.n, &big, &scr, &m), "ParameterDescription with 65535 rejected");
	t.n = 0;
	tb_u8(&t, 0);
	tb_i16(&t, 30000);
	tb_i16(&t, 0);
	tap_ok(!decode_raw('G', t.b, t.n, &big, &scr, &m), "CopyInResponse with 30000 rejected");
	t.n = 0;
	tb_i32(&t, 0);
	tb_i32(&t, 1000000000);
	tb_str(&t, "x");
	tap_ok(!decode_raw('v', t.b, t.n, &big, &scr, &m), "NegotiateProtocolVersion with 1e9 rejected");
	t.n = 0;
	tb_i32(&t, 10);
	for (i = 0; i < 40; i++)
		tb_str(&t, "X");
	tb_u8(&t, 0);
	tap_ok(!decode_raw('R', t.b, t.n, &big, &scr, &m), "SASL with 40 mechanisms rejected");
	tap_is_int(n_alloc, 0, "no allocation for any rejected count");
	tap_ok(scr.buf == NULL && scr.cap == 0, "scratch untouched");

	/* a valid message does allocate, through the hooks */
	t.n = 0;
	tb_i16(&t, 2);
	tb_i32(&t, -1);
	tb_i32(&t, -1);
	tap_ok(decode_raw('D', t.b, t.n, NULL, &scr, &m) && n_alloc == 1 && scr.buf != NULL &&
		   scr.cap >= 2 * sizeof(pgw_value) && m.u.data_row.columns == scr.buf,
		   "DataRow columns live in the scratch");
	tap_ok(decode_raw('D', t.b, t.n, NULL, &scr, &m) && n_alloc == 1,
		   "scratch reused without allocating");

	/* growth for a bigger array */
	t.n = 0;
	tb_i16(&t, 300);
	for (i = 0; i < 300; i++)
		tb_i32(&t, -1);
	tap_ok(decode_raw('D', t.b, t.n, NULL, &scr, &m) && m.u.data_row.ncolumns == 300 &&
		   m.u.data_row.columns[299].len == -1 && scr.cap >= 300 * sizeof(pgw_value),
		   "scratch grows for 300 columns");

	/* allocation failure */
	pgw_scratch_free(&scr);
	tap_ok(scr.buf == NULL && scr.cap == 0, "pgw_scratch_free resets");
	fail_alloc = true;
	tap_ok(!decode_raw('D', t.b, t.n, NULL, &scr, &m) && err_has("out of memory") &&
		   err_has("DataRow"), "allocation failure reported: %s", errbuf);
	fail_alloc = false;

	/* no scratch at all */
	tap_ok(!decode_raw('D', t.b, t.n, NULL, NULL, &m) && err_has("scratch"),
		   "NULL scratch with columns rejected");
	t.n = 0;
	tb_i16(&t, 0);
	tap_ok(decode_raw('D', t.b, t.n, NULL, NULL, &m), "NULL scratch without columns works");

	pgw_scratch_free(&scr);
	pgw_set_allocator(NULL);
}


/* Encoder helpers */
static void
check_enc(pgw_wbuf *wb, const tb *want, const char *what)
{
	bool		same = !wb->failed && wb->len == want->n &&
		memcmp(wb->data, want->b, want->n) == 0;

	tap_ok(same, "%s encoded", what);
	if (!same)
	{
		size_t		i;
		char		hex[512];
		size_t		off = 0;

		for (i = 0; i < wb->len && off + 4 < sizeof(hex); i++)
			off += snprintf(hex + off, sizeof(hex) - off, "%02x ", wb->data[i]);
		tap_diag("failed=%d len=%zu want %zu: %s", wb->failed, wb->len, want->n, hex);
	}
	pgw_wb_reset(wb);
}

static void
test_encoders(void)
{
	pgw_wbuf	wb;
	tb			w;
	uint8_t		key[256];
	size_t		i;
	uint8_t    *p;
	static const char *const params[] = {"user", "bob", "database", "db", NULL};
	static const char *const odd[] = {"user", NULL};
	static const int16_t fmt1[] = {1};
	static const int16_t fmt2[] = {0, 1};
	static const uint32_t oids[] = {23, 0xfffffffeu};

	tap_diag("frontend encoders");

	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t) (255 - i);
	pgw_wb_init(&wb);

	/* StartupMessage */
	w.n = 0;
	tb_i32(&w, 30);
	tb_i32(&w, 196608);
	tb_str(&w, "user");
	tb_str(&w, "bob");
	tb_str(&w, "database");
	tb_str(&w, "db");
	tb_u8(&w, 0);
	pgw_enc_startup(&wb, PGW_PROTOCOL(3, 0), params);
	check_enc(&wb, &w, "StartupMessage 3.0");
	w.n = 0;
	tb_i32(&w, 9);
	tb_i32(&w, 0x00030002);
	tb_u8(&w, 0);
	pgw_enc_startup(&wb, PGW_PROTOCOL(3, 2), NULL);
	check_enc(&wb, &w, "StartupMessage 3.2 without parameters");
	pgw_enc_startup(&wb, PGW_PROTOCOL(3, 0), odd);
	tap_ok(wb.failed, "StartupMessage with a name but no value fails");
	pgw_wb_reset(&wb);

	/* SSLRequest */
	w.n = 0;
	tb_raw(&w, "\x00\x00\x00\x08\x04\xd2\x16\x2f", 8);
	pgw_enc_ssl_request(&wb);
	check_enc(&wb, &w, "SSLRequest");

	/* CancelRequest */
	w.n = 0;
	tb_i32(&w, 16);
	tb_i32(&w, 80877102);
	tb_i32(&w, 4321);
	tb_raw(&w, key, 4);
	pgw_enc_cancel_request(&wb, 4321, key, 4);
	check_enc(&wb, &w, "CancelRequest with a 4-byte key");
	w.n = 0;
	tb_i32(&w, 12 + 256);
	tb_i32(&w, 80877102);
	tb_i32(&w, -1);
	tb_raw(&w, key, 256);
	pgw_enc_cancel_request(&wb, -1, key, 256);
	check_enc(&wb, &w, "CancelRequest with a 256-byte key");
	pgw_enc_cancel_request(&wb, 1, key, 257);
	tap_ok(wb.failed && wb.len == 0, "CancelRequest with a 257-byte key fails");
	pgw_wb_reset(&wb);
	pgw_enc_cancel_request(&wb, 1, key, 3);
	tap_ok(wb.failed, "CancelRequest with a 3-byte key fails");
	pgw_wb_reset(&wb);
	pgw_enc_cancel_request(&wb, 1, NULL, 4);
	tap_ok(wb.failed, "CancelRequest without key fails");
	pgw_wb_reset(&wb);

	/* PasswordMessage */
	w.n = 0;
	tb_u8(&w, 'p');
	tb_i32(&w, 11);
	tb_str(&w, "secret");
	pgw_enc_password(&wb, "secret");
	check_enc(&wb, &w, "PasswordMessage");

	/* SASLInitialResponse */
	w.n = 0;
	tb_u8(&w, 'p');
	tb_i32(&w, 4 + 14 + 4 + 11);
	tb_str(&w, "SCRAM-SHA-256");
	tb_i32(&w, 11);
	tb_raw(&w, "n,,n=,r=abc", 11);
	pgw_enc_sasl_initial(&wb, "SCRAM-SHA-256", (const uint8_t *) "n,,n=,r=abc", 11);
	check_enc(&wb, &w, "SASLInitialResponse");
	w.n = 0;
	tb_u8(&w, 'p');
	tb_i32(&w, 4 + 14 + 4);
	tb_str(&w, "SCRAM-SHA-256");
	tb_i32(&w, -1);
	pgw_enc_sasl_initial(&wb, "SCRAM-SHA-256", NULL, 0);
	check_enc(&wb, &w, "SASLInitialResponse without data");
	w.n = 0;
	tb_u8(&w, 'p');
	tb_i32(&w, 4 + 2 + 4);
	tb_str(&w, "M");
	tb_i32(&w, 0);
	pgw_enc_sasl_initial(&wb, "M", (const uint8_t *) "", 0);
	check_enc(&wb, &w, "SASLInitialResponse with empty data");

	/* SASLResponse */
	w.n = 0;
	tb_u8(&w, 'p');
	tb_i32(&w, 4 + 5);
	tb_raw(&w, "c=biw", 5);
	pgw_enc_sasl_response(&wb, (const uint8_t *) "c=biw", 5);
	check_enc(&wb, &w, "SASLResponse");

	/* Query */
	w.n = 0;
	tb_u8(&w, 'Q');
	tb_i32(&w, 13);
	tb_str(&w, "SELECT 1");
	pgw_enc_query(&wb, "SELECT 1");
	check_enc(&wb, &w, "Query");
	pgw_enc_query(&wb, NULL);
	tap_ok(wb.failed, "Query with NULL SQL fails");
	pgw_wb_reset(&wb);

	/* Parse */
	w.n = 0;
	tb_u8(&w, 'P');
	tb_i32(&w, 4 + 3 + 10 + 2 + 8);
	tb_str(&w, "s1");
	tb_str(&w, "SELECT $1");
	tb_i16(&w, 2);
	tb_i32(&w, 23);
	tb_i32(&w, 0xfffffffeu);
	pgw_enc_parse(&wb, "s1", "SELECT $1", 2, oids);
	check_enc(&wb, &w, "Parse with parameter types");
	w.n = 0;
	tb_u8(&w, 'P');
	tb_i32(&w, 4 + 1 + 2 + 2 + 4);
	tb_str(&w, "");
	tb_str(&w, "x");
	tb_i16(&w, 1);
	tb_i32(&w, 0);
	pgw_enc_parse(&wb, NULL, "x", 1, NULL);
	check_enc(&wb, &w, "unnamed Parse with unspecified types");

	/* Bind */
	w.n = 0;
	tb_u8(&w, 'B');
	tb_i32(&w, 4 + 3 + 3 + 2 + 2 + 2 + 4 + 3 + 4 + 4 + 4 + 2 + 2);
	tb_str(&w, "p1");
	tb_str(&w, "s1");
	tb_i16(&w, 1);
	tb_i16(&w, 1);
	tb_i16(&w, 3);
	tb_i32(&w, 3);
	tb_raw(&w, "abc", 3);
	tb_i32(&w, -1);
	tb_i32(&w, 4);
	tb_raw(&w, "wxyz", 4);
	tb_i16(&w, 1);
	tb_i16(&w, 1);
	pgw_enc_bind_begin(&wb, "p1", "s1", 1, fmt1, 3);
	pgw_enc_bind_param(&wb, "abc", 3);
	pgw_enc_bind_param(&wb, NULL, -1);
	p = pgw_enc_bind_param_reserve(&wb, 4);
	tap_ok(p != NULL, "bind_param_reserve returns room");
	if (p)
		memcpy(p, "wxyz", 4);
	pgw_enc_bind_end(&wb, 1, fmt1);
	check_enc(&wb, &w, "Bind with a value, a NULL and a reserved value");

	w.n = 0;
	tb_u8(&w, 'B');
	tb_i32(&w, 12);
	tb_raw(&w, "\0\0\0\0\0\0\0\0", 8);
	pgw_enc_bind_begin(&wb, NULL, NULL, 0, NULL, 0);
	pgw_enc_bind_end(&wb, 0, NULL);
	check_enc(&wb, &w, "unnamed Bind without parameters");

	w.n = 0;
	tb_u8(&w, 'B');
	tb_i32(&w, 4 + 1 + 1 + 2 + 4 + 2 + 4 + 4 + 2 + 4);
	tb_str(&w, "");
	tb_str(&w, "");
	tb_i16(&w, 2);
	tb_i16(&w, 0);
	tb_i16(&w, 1);
	tb_i16(&w, 2);
	tb_i32(&w, 0);
	tb_i32(&w, -1);
	tb_i16(&w, 2);
	tb_i16(&w, 0);
	tb_i16(&w, 1);
	pgw_enc_bind_begin(&wb, "", "", 2, fmt2, 2);
	pgw_enc_bind_param(&wb, "", 0);
	p = pgw_enc_bind_param_reserve(&wb, -1);
	tap_ok(p != NULL, "bind_param_reserve(-1) succeeds");
	pgw_enc_bind_end(&wb, 2, fmt2);
	check_enc(&wb, &w, "Bind with an empty value, a reserved NULL and two formats");

	pgw_enc_bind_begin(&wb, "", "s", 0, NULL, 2);
	pgw_enc_bind_param(&wb, "a", 1);
	pgw_enc_bind_end(&wb, 0, NULL);
	tap_ok(wb.failed, "Bind with fewer parameters than announced fails");
	pgw_wb_reset(&wb);
	pgw_enc_bind_begin(&wb, "", "s", 0, NULL, 1);
	pgw_enc_bind_param(&wb, "a", 1);
	pgw_enc_bind_param(&wb, "b", 1);
	pgw_enc_bind_end(&wb, 0, NULL);
	tap_ok(wb.failed, "Bind with more parameters than announced fails");
	pgw_wb_reset(&wb);
	pgw_enc_bind_begin(&wb, "", "s", 0, NULL, 1);
	pgw_enc_bind_param(&wb, "a", -2);
	tap_ok(wb.failed, "Bind parameter length -2 fails");
	pgw_wb_reset(&wb);
	pgw_enc_bind_begin(&wb, "", "s", 0, NULL, 1);
	pgw_enc_bind_param(&wb, NULL, 3);
	tap_ok(wb.failed, "Bind parameter without data fails");
	pgw_wb_reset(&wb);
	pgw_enc_bind_begin(&wb, "", "s", 0, NULL, 1);
	tap_ok(pgw_enc_bind_param_reserve(&wb, -3) == NULL && wb.failed,
		   "bind_param_reserve(-3) fails");
	pgw_wb_reset(&wb);
	pgw_enc_bind_param(&wb, "a", 1);
	tap_ok(wb.failed, "Bind parameter outside a Bind fails");
	pgw_wb_reset(&wb);
	tap_ok(pgw_enc_bind_param_reserve(&wb, 1) == NULL && wb.failed,
		   "bind_param_reserve outside a Bind fails");
	pgw_wb_reset(&wb);
	pgw_enc_bind_end(&wb, 0, NULL);
	tap_ok(wb.failed, "bind_end without a Bind fails");
	pgw_wb_reset(&wb);
	pgw_wb_begin(&wb, 'Q');
	pgw_enc_bind_end(&wb, 0, NULL);
	tap_ok(wb.failed, "bind_end inside another message fails");
	pgw_wb_reset(&wb);
	pgw_enc_bind_begin(&wb, "", "s", 0, NULL, 0);
	pgw_enc_query(&wb, "x");
	tap_ok(wb.failed, "a message inside an open Bind fails");
	pgw_wb_reset(&wb);
	pgw_enc_bind_begin(&wb, "", "s", 2, NULL, 0);
	tap_ok(wb.failed, "Bind with formats count but no formats fails");
	pgw_wb_reset(&wb);

	/* Describe, Execute, Close */
	w.n = 0;
	tb_u8(&w, 'D');
	tb_i32(&w, 8);
	tb_u8(&w, 'S');
	tb_str(&w, "s1");
	pgw_enc_describe(&wb, 'S', "s1");
	check_enc(&wb, &w, "Describe statement");
	w.n = 0;
	tb_u8(&w, 'D');
	tb_i32(&w, 6);
	tb_u8(&w, 'P');
	tb_u8(&w, 0);
	pgw_enc_describe(&wb, 'P', NULL);
	check_enc(&wb, &w, "Describe unnamed portal");
	pgw_enc_describe(&wb, 'X', "a");
	tap_ok(wb.failed, "Describe of kind 'X' fails");
	pgw_wb_reset(&wb);

	w.n = 0;
	tb_u8(&w, 'E');
	tb_i32(&w, 9);
	tb_u8(&w, 0);
	tb_i32(&w, 0);
	pgw_enc_execute(&wb, NULL, 0);
	check_enc(&wb, &w, "Execute unnamed portal");
	w.n = 0;
	tb_u8(&w, 'E');
	tb_i32(&w, 11);
	tb_str(&w, "p1");
	tb_i32(&w, 100);
	pgw_enc_execute(&wb, "p1", 100);
	check_enc(&wb, &w, "Execute with max_rows");

	w.n = 0;
	tb_u8(&w, 'C');
	tb_i32(&w, 8);
	tb_u8(&w, 'P');
	tb_str(&w, "p1");
	pgw_enc_close(&wb, 'P', "p1");
	check_enc(&wb, &w, "Close portal");
	w.n = 0;
	tb_u8(&w, 'C');
	tb_i32(&w, 6);
	tb_u8(&w, 'S');
	tb_u8(&w, 0);
	pgw_enc_close(&wb, 'S', "");
	check_enc(&wb, &w, "Close unnamed statement");
	pgw_enc_close(&wb, 0, "a");
	tap_ok(wb.failed, "Close of kind 0 fails");
	pgw_wb_reset(&wb);

	/* bare messages */
	{
		static const struct
		{
			void		(*fn) (pgw_wbuf *);
			char		type;
			const char *name;
		}			bare[] = {
			{pgw_enc_sync, 'S', "Sync"},
			{pgw_enc_flush, 'H', "Flush"},
			{pgw_enc_copy_done, 'c', "CopyDone"},
			{pgw_enc_terminate, 'X', "Terminate"},
		};

		for (i = 0; i < 4; i++)
		{
			w.n = 0;
			tb_u8(&w, bare[i].type);
			tb_i32(&w, 4);
			bare[i].fn(&wb);
			check_enc(&wb, &w, bare[i].name);
		}
	}

	/* COPY */
	w.n = 0;
	tb_u8(&w, 'd');
	tb_i32(&w, 4 + 6);
	tb_raw(&w, "1\t\0a\n\xff", 6);
	pgw_enc_copy_data(&wb, "1\t\0a\n\xff", 6);
	check_enc(&wb, &w, "CopyData");
	w.n = 0;
	tb_u8(&w, 'd');
	tb_i32(&w, 4);
	pgw_enc_copy_data(&wb, NULL, 0);
	check_enc(&wb, &w, "empty CopyData");
	w.n = 0;
	tb_u8(&w, 'f');
	tb_i32(&w, 4 + 5);
	tb_str(&w, "oops");
	pgw_enc_copy_fail(&wb, "oops");
	check_enc(&wb, &w, "CopyFail");

	/* a pipeline in one buffer */
	w.n = 0;
	tb_u8(&w, 'P');
	tb_i32(&w, 4 + 1 + 2 + 2);
	tb_str(&w, "");
	tb_str(&w, "x");
	tb_i16(&w, 0);
	tb_u8(&w, 'B');
	tb_i32(&w, 12);
	tb_raw(&w, "\0\0\0\0\0\0\0\0", 8);
	tb_u8(&w, 'E');
	tb_i32(&w, 9);
	tb_u8(&w, 0);
	tb_i32(&w, 0);
	tb_u8(&w, 'S');
	tb_i32(&w, 4);
	pgw_enc_parse(&wb, "", "x", 0, NULL);
	pgw_enc_bind_begin(&wb, "", "", 0, NULL, 0);
	pgw_enc_bind_end(&wb, 0, NULL);
	pgw_enc_execute(&wb, "", 0);
	pgw_enc_sync(&wb);
	check_enc(&wb, &w, "Parse/Bind/Execute/Sync pipeline");

	/* failure is sticky across encoders */
	pgw_enc_describe(&wb, '?', "");
	pgw_enc_sync(&wb);
	pgw_enc_query(&wb, "SELECT 1");
	tap_ok(wb.failed && wb.len == 0, "encoders do nothing on a failed buffer");
	pgw_wb_free(&wb);

	/* absurd lengths fail before allocating or reading */
	n_alloc = 0;
	pgw_set_allocator(&counting_allocator);
	pgw_wb_init(&wb);
	pgw_enc_copy_data(&wb, "x", 0x40000001u);
	tap_ok(wb.failed && n_alloc == 0, "CopyData over 1 GiB fails without allocating");
	pgw_wb_reset(&wb);
	pgw_enc_sasl_response(&wb, (const uint8_t *) "x", 0xffffffffu);
	tap_ok(wb.failed && n_alloc == 0, "SASLResponse of 4 GiB fails without allocating");
	pgw_wb_reset(&wb);
	pgw_enc_sasl_initial(&wb, "M", (const uint8_t *) "x", 0x80000000u);
	tap_ok(wb.failed && n_alloc == 0, "SASLInitialResponse of 2 GiB fails without allocating");
	pgw_wb_reset(&wb);
	pgw_enc_bind_begin(&wb, "", "", 0, NULL, 1);
	pgw_enc_bind_param(&wb, "x", 0x7fffffff);
	tap_ok(wb.failed, "Bind parameter of 2 GiB fails");
	pgw_wb_free(&wb);
	pgw_set_allocator(NULL);
}

int
main(void)
{
	test_names_limits();
	test_unknown_and_oversize();
	test_auth();
	test_backend_key();
	test_parameter_status();
	test_row_description();
	test_data_row();
	test_data_row_fast();
	test_command_complete();
	test_empty_messages();
	test_error_response();
	test_parameter_desc();
	test_copy_responses();
	test_copy_data();
	test_notification();
	test_ready();
	test_negotiate();
	test_function_call();
	test_allocation();
	test_encoders();
	pgw_scratch_free(&scratch);
	free(heap_body);
	return tap_done();
}
