/*-------------------------------------------------------------------------
 *
 * pgw_buf.c
 *	  Bounds-checked message readers and growable, message-framing output
 *	  buffers of the protocol core.
 *
 * Reader: every getter checks the remaining length before touching the
 * data; a short read marks the reader failed, and a failed reader returns
 * zero values from then on.
 *
 * Write buffer: data[0 .. len) are the bytes not yet sent, data[0 .. cap)
 * is allocated.  Consuming sent bytes only advances data; the live bytes
 * are moved back to the start of the allocation when room runs out and at
 * least as many bytes were consumed as are still live, which keeps every
 * operation O(1) amortised.  msg_start is the offset (from data) of the
 * first byte of the open message: its type byte, or for the untyped
 * startup-phase packets its length field.  The length placeholder stays
 * zero until pgw_wb_end() patches it and a type byte is never zero, which
 * tells the two apart.
 *
 *-------------------------------------------------------------------------
 */
#include "pgw_buf.h"

#include <string.h>

/* Largest message length the protocol allows (1 GiB). */
#define PGW_MAX_MESSAGE_LEN		((size_t) 0x40000000)

/* Smallest allocation of a write buffer. */
#define PGW_WB_MIN_ALLOC		256

/* An empty, valid location for zero-length reads of a NULL buffer. */
static const uint8_t pgw_rd_empty[1] = {0};


/*
 * Check that n more bytes can be read; mark the reader failed if not.
 */
static bool
pgw_rd_need(pgw_reader *rd, size_t n)
{
	if (rd->failed)
		return false;
	if (rd->len - rd->pos < n)
	{
		rd->failed = true;
		return false;
	}
	return true;
}

uint8_t
pgw_rd_u8(pgw_reader *rd)
{
	uint8_t		v;

	if (!pgw_rd_need(rd, 1))
		return 0;
	v = rd->data[rd->pos];
	rd->pos += 1;
	return v;
}

int16_t
pgw_rd_i16(pgw_reader *rd)
{
	uint16_t	v;

	if (!pgw_rd_need(rd, 2))
		return 0;
	v = pgw_get_u16(rd->data + rd->pos);
	rd->pos += 2;
	return (int16_t) v;
}

int32_t
pgw_rd_i32(pgw_reader *rd)
{
	return (int32_t) pgw_rd_u32(rd);
}

uint32_t
pgw_rd_u32(pgw_reader *rd)
{
	uint32_t	v;

	if (!pgw_rd_need(rd, 4))
		return 0;
	v = pgw_get_u32(rd->data + rd->pos);
	rd->pos += 4;
	return v;
}

const uint8_t *
pgw_rd_bytes(pgw_reader *rd, size_t n)
{
	const uint8_t *p;

	if (!pgw_rd_need(rd, n))
		return NULL;
	if (rd->data == NULL)
		return pgw_rd_empty;	/* n is 0 here */
	p = rd->data + rd->pos;
	rd->pos += n;
	return p;
}

const char *
pgw_rd_cstring(pgw_reader *rd, size_t *lenp)
{
	const uint8_t *start;
	const uint8_t *nul;
	size_t		avail;

	if (lenp != NULL)
		*lenp = 0;
	if (rd->failed)
		return NULL;
	avail = rd->len - rd->pos;
	if (avail == 0)
	{
		rd->failed = true;
		return NULL;
	}
	start = rd->data + rd->pos;
	nul = memchr(start, '\0', avail);
	if (nul == NULL)
	{
		rd->failed = true;
		return NULL;
	}
	if (lenp != NULL)
		*lenp = (size_t) (nul - start);
	rd->pos += (size_t) (nul - start) + 1;
	return (const char *) start;
}

bool
pgw_rd_expect_end(pgw_reader *rd)
{
	if (rd->failed)
		return false;
	if (rd->pos != rd->len)
	{
		rd->failed = true;
		return false;
	}
	return true;
}


void
pgw_wb_init(pgw_wbuf *wb)
{
	wb->data = NULL;
	wb->len = 0;
	wb->cap = 0;
	wb->msg_start = SIZE_MAX;
	wb->failed = false;
	wb->alloc = NULL;
}

void
pgw_wb_free(pgw_wbuf *wb)
{
	pgw_free(wb->alloc);
	pgw_wb_init(wb);
}

/* Empty the buffer and clear a failure; the memory is kept. */
void
pgw_wb_reset(pgw_wbuf *wb)
{
	if (wb->alloc != NULL)
	{
		wb->cap += (size_t) (wb->data - wb->alloc);
		wb->data = wb->alloc;
	}
	wb->len = 0;
	wb->msg_start = SIZE_MAX;
	wb->failed = false;
}

uint8_t *
pgw_wb_reserve(pgw_wbuf *wb, size_t n)
{
	size_t		off;
	size_t		total;
	size_t		need;
	size_t		newtotal;
	uint8_t    *p;

	if (wb->failed)
		return NULL;
	if (wb->data != NULL && n <= wb->cap - wb->len)
		return wb->data + wb->len;

	if (n > SIZE_MAX - wb->len)
	{
		wb->failed = true;
		return NULL;
	}
	need = wb->len + n;
	off = wb->alloc != NULL ? (size_t) (wb->data - wb->alloc) : 0;
	total = off + wb->cap;

	/* Reuse the consumed space when that pays for the move. */
	if (off > 0 && off >= wb->len && need <= total)
	{
		memmove(wb->alloc, wb->data, wb->len);
		wb->data = wb->alloc;
		wb->cap = total;
		return wb->data + wb->len;
	}

	/* Grow geometrically. */
	if (total > SIZE_MAX / 2)
		newtotal = SIZE_MAX;
	else
		newtotal = total * 2;
	if (newtotal < PGW_WB_MIN_ALLOC)
		newtotal = PGW_WB_MIN_ALLOC;
	while (newtotal < need)
	{
		if (newtotal > SIZE_MAX / 2)
		{
			newtotal = need;
			break;
		}
		newtotal *= 2;
	}

	p = pgw_realloc(wb->alloc, newtotal);
	if (p == NULL)
	{
		wb->failed = true;
		return NULL;
	}
	if (off > 0 && wb->len > 0)
		memmove(p, p + off, wb->len);
	wb->alloc = p;
	wb->data = p;
	wb->cap = newtotal;
	return wb->data + wb->len;
}

void
pgw_wb_consume(pgw_wbuf *wb, size_t n)
{
	if (n == 0 || wb->failed)
		return;
	if (n > wb->len)
	{
		wb->failed = true;
		return;
	}
	if (wb->msg_start != SIZE_MAX)
	{
		/* The open message cannot be sent before its length is known. */
		if (n > wb->msg_start)
		{
			wb->failed = true;
			return;
		}
		wb->msg_start -= n;
	}
	wb->data += n;
	wb->len -= n;
	wb->cap -= n;
	if (wb->len == 0)
	{
		/* Nothing live: start over at the beginning, for free. */
		wb->cap += (size_t) (wb->data - wb->alloc);
		wb->data = wb->alloc;
	}
}

void
pgw_wb_u8(pgw_wbuf *wb, uint8_t v)
{
	uint8_t    *p = pgw_wb_reserve(wb, 1);

	if (p == NULL)
		return;
	p[0] = v;
	wb->len += 1;
}

void
pgw_wb_i16(pgw_wbuf *wb, int16_t v)
{
	uint8_t    *p = pgw_wb_reserve(wb, 2);

	if (p == NULL)
		return;
	pgw_put_i16(p, v);
	wb->len += 2;
}

void
pgw_wb_i32(pgw_wbuf *wb, int32_t v)
{
	uint8_t    *p = pgw_wb_reserve(wb, 4);

	if (p == NULL)
		return;
	pgw_put_i32(p, v);
	wb->len += 4;
}

void
pgw_wb_bytes(pgw_wbuf *wb, const void *src, size_t n)
{
	uint8_t    *p;

	if (wb->failed || n == 0)
		return;
	if (src == NULL)
	{
		wb->failed = true;
		return;
	}
	p = pgw_wb_reserve(wb, n);
	if (p == NULL)
		return;
	memcpy(p, src, n);
	wb->len += n;
}

void
pgw_wb_cstring(pgw_wbuf *wb, const char *s)
{
	if (wb->failed)
		return;
	if (s == NULL)
	{
		wb->failed = true;
		return;
	}
	pgw_wb_bytes(wb, s, strlen(s) + 1);
}

void
pgw_wb_begin(pgw_wbuf *wb, uint8_t type)
{
	uint8_t    *p;
	size_t		hdr = type != 0 ? 5 : 4;

	if (wb->failed)
		return;
	if (wb->msg_start != SIZE_MAX)
	{
		/* nested messages are a caller bug */
		wb->failed = true;
		return;
	}
	p = pgw_wb_reserve(wb, hdr);
	if (p == NULL)
		return;
	if (type != 0)
		*p++ = type;
	memset(p, 0, 4);
	wb->msg_start = wb->len;
	wb->len += hdr;
}

void
pgw_wb_end(pgw_wbuf *wb)
{
	size_t		lenpos;
	size_t		msglen;

	if (wb->failed)
		return;
	if (wb->msg_start == SIZE_MAX)
	{
		wb->failed = true;
		return;
	}
	/* skip the type byte, if any: see the file header */
	lenpos = wb->msg_start;
	if (wb->data[lenpos] != 0)
		lenpos++;
	msglen = wb->len - lenpos;
	if (msglen > PGW_MAX_MESSAGE_LEN)
	{
		wb->failed = true;
		wb->msg_start = SIZE_MAX;
		return;
	}
	pgw_put_i32(wb->data + lenpos, (int32_t) msglen);
	wb->msg_start = SIZE_MAX;
}
