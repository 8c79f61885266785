/*-------------------------------------------------------------------------
 *
 * test_buf.c
 *	  Unit tests of the protocol core's common hooks (pgw.c), of the
 *	  bounds-checked reader and of the framing write buffer (pgw_buf.c).
 *
 *-------------------------------------------------------------------------
 */
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "protocol/pgw.h"
#include "protocol/pgw_buf.h"

/* An allocator that counts successful calls and can be told to fail. */
static int	n_malloc;
static int	n_realloc;
static int	n_free;
static bool fail_alloc;

static void *
count_malloc(size_t size, void *ctx)
{
	(void) ctx;
	if (fail_alloc || size > ((size_t) 1 << 40))
		return NULL;
	n_malloc++;
	return malloc(size);
}

static void *
count_realloc(void *ptr, size_t size, void *ctx)
{
	(void) ctx;
	if (fail_alloc || size > ((size_t) 1 << 40))
		return NULL;
	n_realloc++;
	return realloc(ptr, size);
}

static void
count_free(void *ptr, void *ctx)
{
	(void) ctx;
	n_free++;
	free(ptr);
}

static const pgw_allocator counting_allocator = {
	count_malloc, count_realloc, count_free, NULL
};

static void
reset_counts(void)
{
	n_malloc = n_realloc = n_free = 0;
	fail_alloc = false;
}

/*
 * An allocator over untouched anonymous mappings, so that a buffer of more
 * than 1 GiB costs nothing as long as its pages are not written.  A
 * 16-byte header keeps the size.
 */
static void *
map_malloc(size_t size, void *ctx)
{
	uint8_t    *p;

	(void) ctx;
	p = mmap(NULL, size + 16, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	memcpy(p, &size, sizeof(size));
	return p + 16;
}

static void
map_free(void *ptr, void *ctx)
{
	uint8_t    *p = (uint8_t *) ptr - 16;
	size_t		size;

	(void) ctx;
	memcpy(&size, p, sizeof(size));
	munmap(p, size + 16);
}

static void *
map_realloc(void *ptr, size_t size, void *ctx)
{
	uint8_t    *np;
	size_t		old;

	memcpy(&old, (uint8_t *) ptr - 16, sizeof(old));
	np = map_malloc(size, ctx);
	if (np == NULL)
		return NULL;
	/* only the first page or so is live in these tests */
	memcpy(np, ptr, old < size ? (old < 65536 ? old : 65536) : size);
	map_free(ptr, ctx);
	return np;
}

static const pgw_allocator map_allocator = {
	map_malloc, map_realloc, map_free, NULL
};

static bool
dummy_sha256(const uint8_t *data, size_t len, uint8_t out[32])
{
	(void) data;
	(void) len;
	memset(out, 0xab, 32);
	return true;
}

static bool
wb_equals(const pgw_wbuf *wb, const void *want, size_t n)
{
	return wb->len == n && (n == 0 || memcmp(wb->data, want, n) == 0);
}


static void
test_common(void)
{
	char		errbuf[PGW_ERRMSG_LEN];
	char		longfmt[600];
	char	   *s;
	void	   *p;
	pgw_crypto	crypto;
	uint8_t		h[32];

	tap_diag("pgw.c: limits, errors, allocator and crypto hooks");

	tap_is_int(pgw_default_limits.max_data_message, 0x40000000u + 65536,
			   "default max_data_message");
	tap_is_int(pgw_default_limits.max_control_message, 1024 * 1024,
			   "default max_control_message");
	tap_is_int(pgw_default_limits.max_columns, 4096, "default max_columns");
	tap_is_int(pgw_default_limits.max_inflight, 65536, "default max_inflight");

	pgw_seterr(errbuf, "value %d of %s", 42, "x");
	tap_is_str(errbuf, "value 42 of x", "pgw_seterr formats");
	memset(longfmt, 'a', sizeof(longfmt) - 1);
	longfmt[sizeof(longfmt) - 1] = '\0';
	memset(errbuf, 'z', sizeof(errbuf));
	pgw_seterr(errbuf, "%s", longfmt);
	tap_is_int(strlen(errbuf), PGW_ERRMSG_LEN - 1,
			   "pgw_seterr truncates to the buffer size");
	pgw_seterr(NULL, "ignored %d", 1);
	tap_ok(1, "pgw_seterr accepts a NULL buffer");

	/* default allocator */
	p = pgw_malloc(0);
	tap_ok(p != NULL, "pgw_malloc(0) returns a pointer");
	p = pgw_realloc(p, 100);
	tap_ok(p != NULL, "pgw_realloc grows");
	pgw_free(p);
	pgw_free(NULL);
	p = pgw_realloc(NULL, 10);
	tap_ok(p != NULL, "pgw_realloc(NULL) allocates");
	pgw_free(p);

	s = pgw_strdup("hello");
	tap_is_str(s, "hello", "pgw_strdup copies");
	pgw_free(s);
	tap_ok(pgw_strdup(NULL) == NULL, "pgw_strdup(NULL) is NULL");
	s = pgw_strndup("hello world", 5);
	tap_is_str(s, "hello", "pgw_strndup stops at len");
	pgw_free(s);
	s = pgw_strndup("ab\0cd", 5);
	tap_is_str(s, "ab", "pgw_strndup stops at a NUL");
	pgw_free(s);
	s = pgw_strndup("abc", 0);
	tap_is_str(s, "", "pgw_strndup of 0 bytes is empty");
	pgw_free(s);
	{
		/* an unterminated source must not be read past len */
		char	   *raw = malloc(3);

		memcpy(raw, "xyz", 3);
		s = pgw_strndup(raw, 3);
		tap_is_str(s, "xyz", "pgw_strndup of an unterminated buffer");
		pgw_free(s);
		free(raw);
	}

	/* counting allocator */
	reset_counts();
	pgw_set_allocator(&counting_allocator);
	p = pgw_malloc(8);
	p = pgw_realloc(p, 16);
	pgw_free(p);
	tap_is_int(n_malloc, 1, "hooked malloc called");
	tap_is_int(n_realloc, 1, "hooked realloc called");
	tap_is_int(n_free, 1, "hooked free called");
	p = pgw_realloc(NULL, 4);
	tap_is_int(n_malloc, 2, "pgw_realloc(NULL) goes to malloc_fn");
	pgw_free(p);
	fail_alloc = true;
	tap_ok(pgw_malloc(10) == NULL, "failing malloc gives NULL");
	tap_ok(pgw_strdup("abc") == NULL, "pgw_strdup fails cleanly");
	tap_ok(pgw_strndup("abc", 2) == NULL, "pgw_strndup fails cleanly");
	fail_alloc = false;
	pgw_set_allocator(NULL);
	reset_counts();
	p = pgw_malloc(8);
	pgw_free(p);
	tap_is_int(n_malloc + n_free, 0, "pgw_set_allocator(NULL) restores libc");

	/* crypto hooks */
	tap_ok(pgw_get_crypto() == NULL, "no crypto by default");
	memset(&crypto, 0, sizeof(crypto));
	crypto.sha256 = dummy_sha256;
	pgw_set_crypto(&crypto);
	crypto.sha256 = NULL;		/* the core keeps its own copy */
	tap_ok(pgw_get_crypto() != NULL && pgw_get_crypto()->sha256 != NULL,
		   "crypto hooks installed (copied)");
	memset(h, 0, sizeof(h));
	tap_ok(pgw_get_crypto()->sha256((const uint8_t *) "x", 1, h) &&
		   h[0] == 0xab, "installed hook is called");
	pgw_set_crypto(NULL);
	tap_ok(pgw_get_crypto() == NULL, "pgw_set_crypto(NULL) removes hooks");
}

static void
test_reader(void)
{
	static const uint8_t data[] = {
		0x01,
		0x80, 0x02,
		0xff, 0xff, 0xff, 0xfe,
		0xde, 0xad, 0xbe, 0xef,
		'a', 'b', 0,
		0,
		'x', 'y'
	};
	pgw_reader	rd;
	size_t		slen;
	const char *str;
	const uint8_t *b;
	uint8_t    *heap;
	size_t		n;

	tap_diag("reader");

	pgw_rd_init(&rd, data, sizeof(data));
	tap_is_int(pgw_rd_remaining(&rd), sizeof(data), "remaining at start");
	tap_is_int(pgw_rd_u8(&rd), 1, "u8");
	tap_is_int(pgw_rd_i16(&rd), -32766, "i16 big-endian, negative");
	tap_is_int(pgw_rd_i32(&rd), -2, "i32 big-endian, negative");
	tap_is_int(pgw_rd_u32(&rd), 0xdeadbeefu, "u32 big-endian");
	str = pgw_rd_cstring(&rd, &slen);
	tap_is_str(str, "ab", "cstring");
	tap_is_int(slen, 2, "cstring length");
	tap_ok(str == (const char *) data + 11, "cstring points into the data");
	str = pgw_rd_cstring(&rd, &slen);
	tap_is_str(str, "", "empty cstring");
	tap_is_int(slen, 0, "empty cstring length");
	tap_is_int(pgw_rd_remaining(&rd), 2, "two bytes left");
	tap_ok(!pgw_rd_expect_end(&rd), "expect_end fails with bytes left");
	tap_ok(!pgw_rd_ok(&rd), "and marks the reader failed");
	tap_is_int(pgw_rd_remaining(&rd), 0, "failed reader has nothing left");
	tap_is_int(pgw_rd_u8(&rd), 0, "failed reader reads zero");

	/* cstring without terminator */
	pgw_rd_init(&rd, data, sizeof(data));
	rd.pos = 15;
	slen = 99;
	tap_ok(pgw_rd_cstring(&rd, &slen) == NULL, "unterminated cstring");
	tap_ok(!pgw_rd_ok(&rd), "unterminated cstring fails the reader");
	tap_is_int(slen, 0, "lenp zeroed on failure");

	/* every getter at and past its bound, on exact-size heap copies */
	for (n = 0; n <= 4; n++)
	{
		heap = malloc(n ? n : 1);
		memset(heap, 0x7f, n);

		pgw_rd_init(&rd, heap, n);
		pgw_rd_u8(&rd);
		tap_ok(pgw_rd_ok(&rd) == (n >= 1), "u8 on %zu bytes", n);

		pgw_rd_init(&rd, heap, n);
		tap_is_int(pgw_rd_i16(&rd), n >= 2 ? 0x7f7f : 0, "i16 value on %zu bytes", n);
		tap_ok(pgw_rd_ok(&rd) == (n >= 2), "i16 on %zu bytes", n);

		pgw_rd_init(&rd, heap, n);
		tap_is_int(pgw_rd_i32(&rd), n >= 4 ? 0x7f7f7f7f : 0, "i32 value on %zu bytes", n);
		tap_ok(pgw_rd_ok(&rd) == (n >= 4), "i32 on %zu bytes", n);

		pgw_rd_init(&rd, heap, n);
		pgw_rd_u32(&rd);
		tap_ok(pgw_rd_ok(&rd) == (n >= 4), "u32 on %zu bytes", n);

		pgw_rd_init(&rd, heap, n);
		b = pgw_rd_bytes(&rd, 3);
		tap_ok((b != NULL) == (n >= 3) && pgw_rd_ok(&rd) == (n >= 3),
			   "bytes(3) on %zu bytes", n);

		pgw_rd_init(&rd, heap, n);
		tap_ok(pgw_rd_cstring(&rd, NULL) == NULL && !pgw_rd_ok(&rd),
			   "cstring without NUL on %zu bytes", n);

		pgw_rd_init(&rd, heap, n);
		(void) pgw_rd_bytes(&rd, n);
		tap_ok(pgw_rd_expect_end(&rd), "expect_end after reading all %zu", n);
		free(heap);
	}

	/* sticky failure: a failed read poisons later, satisfiable reads */
	pgw_rd_init(&rd, data, 3);
	tap_is_int(pgw_rd_i32(&rd), 0, "i32 past end gives 0");
	tap_is_int(pgw_rd_u8(&rd), 0, "later u8 gives 0 though a byte is there");
	tap_ok(pgw_rd_bytes(&rd, 0) == NULL, "later bytes(0) gives NULL");
	tap_ok(!pgw_rd_expect_end(&rd), "expect_end false after failure");

	/* bytes() boundaries */
	pgw_rd_init(&rd, data, sizeof(data));
	b = pgw_rd_bytes(&rd, sizeof(data));
	tap_ok(b == data && pgw_rd_remaining(&rd) == 0, "bytes(all)");
	b = pgw_rd_bytes(&rd, 0);
	tap_ok(b != NULL && pgw_rd_ok(&rd), "bytes(0) at end succeeds");
	b = pgw_rd_bytes(&rd, 1);
	tap_ok(b == NULL && !pgw_rd_ok(&rd), "bytes(1) at end fails");
	pgw_rd_init(&rd, data, 4);
	b = pgw_rd_bytes(&rd, SIZE_MAX);
	tap_ok(b == NULL && !pgw_rd_ok(&rd), "bytes(SIZE_MAX) fails");

	/* empty and NULL messages */
	pgw_rd_init(&rd, NULL, 0);
	tap_ok(pgw_rd_bytes(&rd, 0) != NULL && pgw_rd_ok(&rd),
		   "bytes(0) of a NULL body");
	tap_ok(pgw_rd_expect_end(&rd), "NULL body is at its end");
	tap_ok(pgw_rd_cstring(&rd, NULL) == NULL && !pgw_rd_ok(&rd),
		   "cstring of a NULL body fails");
}

static void
test_wbuf(void)
{
	pgw_wbuf	wb;
	uint8_t    *p;
	size_t		i;
	static const uint8_t bytes_want[] = {
		0x7f, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x01,
		'h', 'i', 0, 1, 2, 3
	};

	tap_diag("write buffer");

	pgw_wb_init(&wb);
	tap_ok(wb.data == NULL && wb.len == 0 && wb.cap == 0 &&
		   wb.msg_start == SIZE_MAX && !wb.failed, "init state");

	pgw_wb_u8(&wb, 0x7f);
	pgw_wb_i16(&wb, -2);
	pgw_wb_i32(&wb, (int32_t) 0x80000001u);
	pgw_wb_cstring(&wb, "hi");
	pgw_wb_bytes(&wb, "\x01\x02\x03", 3);
	pgw_wb_bytes(&wb, NULL, 0);
	tap_ok(wb_equals(&wb, bytes_want, sizeof(bytes_want)),
		   "u8/i16/i32/cstring/bytes big-endian");
	tap_ok(!wb.failed, "not failed");
	tap_ok(wb.cap >= wb.len, "cap covers len");

	pgw_wb_reset(&wb);
	tap_ok(wb.len == 0 && !wb.failed && wb.data != NULL, "reset empties, keeps memory");

	/* typed framing */
	pgw_wb_begin(&wb, 'Q');
	tap_is_int(wb.msg_start, 0, "msg_start is the type byte");
	pgw_wb_cstring(&wb, "ab");
	pgw_wb_end(&wb);
	tap_ok(wb_equals(&wb, "Q\0\0\0\x07" "ab\0", 8), "typed message framed");
	tap_is_int(wb.msg_start, SIZE_MAX, "no open message after end");

	/* untyped framing after it */
	pgw_wb_begin(&wb, 0);
	pgw_wb_i32(&wb, 80877103);
	pgw_wb_end(&wb);
	tap_ok(wb_equals(&wb, "Q\0\0\0\x07" "ab\0" "\0\0\0\x08\x04\xd2\x16\x2f", 16),
		   "untyped message framed");

	/* empty body */
	pgw_wb_reset(&wb);
	pgw_wb_begin(&wb, 'S');
	pgw_wb_end(&wb);
	tap_ok(wb_equals(&wb, "S\0\0\0\x04", 5), "empty message has length 4");

	/* nested begin */
	pgw_wb_reset(&wb);
	pgw_wb_begin(&wb, 'P');
	pgw_wb_begin(&wb, 'B');
	tap_ok(wb.failed, "nested begin fails");
	pgw_wb_u8(&wb, 1);
	tap_is_int(wb.len, 5, "writes are ignored once failed");
	tap_ok(pgw_wb_reserve(&wb, 1) == NULL, "reserve fails once failed");
	pgw_wb_reset(&wb);
	tap_ok(!wb.failed && wb.len == 0, "reset clears the failure");

	/* end without begin */
	pgw_wb_end(&wb);
	tap_ok(wb.failed, "end without begin fails");
	pgw_wb_reset(&wb);

	/* NULL string */
	pgw_wb_cstring(&wb, NULL);
	tap_ok(wb.failed, "NULL cstring fails");
	pgw_wb_reset(&wb);
	pgw_wb_bytes(&wb, NULL, 3);
	tap_ok(wb.failed, "NULL bytes with a length fails");
	pgw_wb_free(&wb);

	/* size_t overflow in reserve; the hooks refuse absurd sizes */
	pgw_set_allocator(&counting_allocator);
	pgw_wb_u8(&wb, 1);
	tap_ok(pgw_wb_reserve(&wb, SIZE_MAX) == NULL && wb.failed,
		   "reserve(SIZE_MAX) fails without overflow");
	pgw_wb_reset(&wb);
	pgw_wb_u8(&wb, 1);
	tap_ok(pgw_wb_reserve(&wb, SIZE_MAX - 1) == NULL && wb.failed,
		   "reserve(SIZE_MAX - len) fails");
	pgw_wb_free(&wb);
	pgw_set_allocator(NULL);

	/* growth keeps contents */
	for (i = 0; i < 10000; i++)
		pgw_wb_u8(&wb, (uint8_t) (i * 7));
	{
		bool		same = wb.len == 10000;

		for (i = 0; same && i < 10000; i++)
			same = wb.data[i] == (uint8_t) (i * 7);
		tap_ok(same && !wb.failed, "10000 bytes survive growth");
	}

	/* reserve then commit by hand */
	pgw_wb_reset(&wb);
	p = pgw_wb_reserve(&wb, 3);
	tap_ok(p != NULL && wb.len == 0, "reserve does not advance len");
	memcpy(p, "xyz", 3);
	wb.len += 3;
	tap_ok(wb_equals(&wb, "xyz", 3), "reserved bytes committed");
	pgw_wb_free(&wb);
	tap_ok(wb.data == NULL && wb.cap == 0 && wb.len == 0, "free resets");
	pgw_wb_free(&wb);
	tap_ok(1, "double free is harmless");

	/* allocation failure */
	reset_counts();
	pgw_set_allocator(&counting_allocator);
	fail_alloc = true;
	pgw_wb_init(&wb);
	pgw_wb_i32(&wb, 1);
	tap_ok(wb.failed && wb.len == 0, "allocation failure fails the buffer");
	fail_alloc = false;
	pgw_wb_i32(&wb, 1);
	tap_ok(wb.failed && wb.len == 0, "and stays failed");
	pgw_wb_free(&wb);
	pgw_wb_init(&wb);
	for (i = 0; i < 200; i++)
		pgw_wb_u8(&wb, 1);
	fail_alloc = true;
	for (i = 0; i < 200; i++)
		pgw_wb_u8(&wb, 2);
	tap_ok(wb.failed && wb.data != NULL, "failure during growth keeps old memory");
	fail_alloc = false;
	pgw_wb_free(&wb);
	tap_is_int(n_malloc + 0, n_free, "no leak through the hooks");
	pgw_set_allocator(NULL);
}

static void
test_consume(void)
{
	pgw_wbuf	wb;
	uint8_t    *ref;
	size_t		ref_head = 0,
				ref_tail = 0;
	size_t		i;
	unsigned int seed = 12345;
	bool		same = true;
	size_t		max_total = 0;
	int			reallocs_before;

	tap_diag("consume");

	pgw_wb_init(&wb);
	pgw_wb_bytes(&wb, "abcdef", 6);
	pgw_wb_consume(&wb, 0);
	tap_ok(wb_equals(&wb, "abcdef", 6), "consume(0) is a no-op");
	pgw_wb_consume(&wb, 2);
	tap_ok(wb_equals(&wb, "cdef", 4), "consume drops the head");
	pgw_wb_bytes(&wb, "gh", 2);
	tap_ok(wb_equals(&wb, "cdefgh", 6), "append after consume");
	pgw_wb_consume(&wb, 6);
	tap_ok(wb.len == 0 && wb.data == wb.alloc, "consuming all rewinds");
	pgw_wb_bytes(&wb, "ab", 2);
	pgw_wb_consume(&wb, 3);
	tap_ok(wb.failed, "consuming more than written fails");
	pgw_wb_reset(&wb);

	/* consume around an open message */
	pgw_wb_begin(&wb, 'S');
	pgw_wb_end(&wb);
	pgw_wb_begin(&wb, 'd');
	pgw_wb_bytes(&wb, "xy", 2);
	pgw_wb_consume(&wb, 3);
	tap_ok(!wb.failed && wb.msg_start == 2, "consume before open message shifts msg_start");
	pgw_wb_consume(&wb, 2);
	tap_ok(!wb.failed && wb.msg_start == 0, "consume up to the open message");
	pgw_wb_bytes(&wb, "z", 1);
	pgw_wb_end(&wb);
	tap_ok(wb_equals(&wb, "d\0\0\0\x07xyz", 8), "message completed after consume");
	pgw_wb_begin(&wb, 'd');
	tap_is_int(wb.msg_start, 8, "second message starts at 8");
	pgw_wb_consume(&wb, 9);
	tap_ok(wb.failed, "consuming into the open message fails");
	pgw_wb_reset(&wb);

	/* an untyped message after others, and dropping an open message */
	pgw_wb_begin(&wb, 'S');
	pgw_wb_end(&wb);
	pgw_wb_begin(&wb, 0);
	tap_is_int(wb.msg_start, 5, "untyped msg_start is its length field");
	pgw_wb_i32(&wb, 80877103);
	pgw_wb_end(&wb);
	tap_ok(wb_equals(&wb, "S\0\0\0\x04\0\0\0\x08\x04\xd2\x16\x2f", 13),
		   "untyped message after a typed one");
	pgw_wb_begin(&wb, 'B');
	pgw_wb_cstring(&wb, "partial");
	wb.len = wb.msg_start;		/* how pgw_conn drops an unfinished Bind */
	wb.msg_start = SIZE_MAX;
	pgw_wb_begin(&wb, 'X');
	pgw_wb_end(&wb);
	tap_ok(wb_equals(&wb, "S\0\0\0\x04\0\0\0\x08\x04\xd2\x16\x2fX\0\0\0\x04", 18),
		   "truncating to msg_start drops the whole open message");
	pgw_wb_free(&wb);

	/* a FIFO of random writes and consumes against a reference copy */
	ref = malloc(4 * 1024 * 1024);
	pgw_wb_init(&wb);
	for (i = 0; i < 20000 && same; i++)
	{
		size_t		w,
					c,
					j;

		seed = seed * 1103515245 + 12345;
		w = (seed >> 16) % 300;
		seed = seed * 1103515245 + 12345;
		c = (seed >> 16) % 310;
		for (j = 0; j < w; j++)
		{
			uint8_t		v = (uint8_t) (ref_tail * 31 + 7);

			pgw_wb_u8(&wb, v);
			ref[ref_tail++] = v;
		}
		if (c > ref_tail - ref_head)
			c = ref_tail - ref_head;
		pgw_wb_consume(&wb, c);
		ref_head += c;
		same = !wb.failed && wb.len == ref_tail - ref_head &&
			(wb.len == 0 || memcmp(wb.data, ref + ref_head, wb.len) == 0);
		if (ref_tail > 3 * 1024 * 1024)
			break;
	}
	tap_ok(same, "random write/consume FIFO matches a reference (%zu rounds)", i);
	pgw_wb_free(&wb);

	/*
	 * Many small consumes with a large live tail: must neither copy the
	 * tail on every consume (that would take minutes here) nor grow
	 * without bound.
	 */
	reset_counts();
	pgw_set_allocator(&counting_allocator);
	pgw_wb_init(&wb);
	for (i = 0; i < 1024 * 1024; i++)
		ref[i] = (uint8_t) (i * 13);
	pgw_wb_bytes(&wb, ref, 1024 * 1024);
	reallocs_before = n_malloc + n_realloc;
	ref_head = 0;
	ref_tail = 1024 * 1024;
	for (i = 0; i < 3 * 1024 * 1024; i++)
	{
		size_t		total;

		pgw_wb_consume(&wb, 1);
		ref_head++;
		ref[ref_tail % (4 * 1024 * 1024)] = (uint8_t) (ref_tail * 13);
		pgw_wb_u8(&wb, (uint8_t) (ref_tail * 13));
		ref_tail++;
		total = wb.cap + (size_t) (wb.data - wb.alloc);
		if (total > max_total)
			max_total = total;
	}
	tap_ok(!wb.failed && wb.len == 1024 * 1024, "live size stays 1 MiB");
	tap_ok(wb.data[0] == (uint8_t) (ref_head * 13) &&
		   wb.data[wb.len - 1] == (uint8_t) ((ref_tail - 1) * 13),
		   "head and tail bytes right after 3M consumes");
	tap_ok(max_total <= 3 * 1024 * 1024, "allocation stays bounded (%zu)", max_total);
	tap_ok(n_malloc + n_realloc - reallocs_before <= 1,
		   "consumed space is reused: at most one reallocation (%d)",
		   n_malloc + n_realloc - reallocs_before);
	pgw_wb_free(&wb);
	pgw_set_allocator(NULL);
	free(ref);
}

static void
test_huge(void)
{
	pgw_wbuf	wb;
	uint8_t    *p;
	size_t		body = 0x40000000 - 4;

	tap_diag("1 GiB message limit");

	pgw_set_allocator(&map_allocator);

	pgw_wb_init(&wb);
	pgw_wb_begin(&wb, 'd');
	p = pgw_wb_reserve(&wb, body);
	tap_ok(p != NULL, "reserve of 1 GiB - 4");
	wb.len += body;
	pgw_wb_end(&wb);
	tap_ok(!wb.failed, "message of exactly 1 GiB is accepted");
	tap_ok(wb.len == body + 5 && memcmp(wb.data, "d\x40\0\0\0", 5) == 0,
		   "its length field says 0x40000000");
	pgw_wb_free(&wb);

	pgw_wb_init(&wb);
	pgw_wb_begin(&wb, 'd');
	p = pgw_wb_reserve(&wb, body + 1);
	tap_ok(p != NULL, "reserve of 1 GiB - 3");
	wb.len += body + 1;
	pgw_wb_end(&wb);
	tap_ok(wb.failed, "message of 1 GiB + 1 fails");
	pgw_wb_free(&wb);

	pgw_set_allocator(NULL);
}

int
main(void)
{
	test_common();
	test_reader();
	test_wbuf();
	test_consume();
	test_huge();
	return tap_done();
}
