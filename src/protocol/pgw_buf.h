/*-------------------------------------------------------------------------
 *
 * pgw_buf.h
 *	  Bounds-checked message readers and growable output buffers of the
 *	  protocol core.
 *
 * A pgw_reader walks one message body.  Every getter checks the remaining
 * length first; on a short read it marks the reader failed (sticky) and
 * returns a zero value, so a decoder may read a whole message and check
 * pgw_rd_ok() once at the end.  Integers are big-endian on the wire.
 *
 * A pgw_wbuf accumulates outgoing bytes.  pgw_wb_begin()/pgw_wb_end()
 * frame one message: the type byte, then a length patched in at the end.
 * An allocation failure marks the buffer failed (sticky).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGW_BUF_H
#define PGW_BUF_H

#include "pgw.h"

typedef struct pgw_reader
{
	const uint8_t *data;
	size_t		len;
	size_t		pos;
	bool		failed;
} pgw_reader;

static inline void
pgw_rd_init(pgw_reader *rd, const uint8_t *data, size_t len)
{
	rd->data = data;
	rd->len = len;
	rd->pos = 0;
	rd->failed = false;
}

static inline size_t
pgw_rd_remaining(const pgw_reader *rd)
{
	return rd->failed ? 0 : rd->len - rd->pos;
}

static inline bool
pgw_rd_ok(const pgw_reader *rd)
{
	return !rd->failed;
}

extern uint8_t pgw_rd_u8(pgw_reader *rd);
extern int16_t pgw_rd_i16(pgw_reader *rd);
extern int32_t pgw_rd_i32(pgw_reader *rd);
extern uint32_t pgw_rd_u32(pgw_reader *rd);

/* Pointer to the next n bytes (not copied), or NULL and failed. */
extern const uint8_t *pgw_rd_bytes(pgw_reader *rd, size_t n);

/*
 * A NUL-terminated string inside the message: returns a pointer into the
 * message (the terminator is inside the bounds), or NULL and failed if no
 * terminator is found before the end.
 */
extern const char *pgw_rd_cstring(pgw_reader *rd, size_t *lenp);

/* True (and failed marked if not) when the whole message was consumed. */
extern bool pgw_rd_expect_end(pgw_reader *rd);


typedef struct pgw_wbuf
{
	uint8_t    *data;
	size_t		len;			/* bytes written */
	size_t		cap;			/* bytes allocated */
	size_t		msg_start;		/* offset of the open message's first byte
								 * (type byte, if any), or SIZE_MAX */
	bool		failed;
	/*
	 * Start of the allocation.  pgw_wb_consume() advances data past the
	 * sent bytes instead of moving the rest down; cap counts from data.
	 */
	uint8_t    *alloc;
} pgw_wbuf;

extern void pgw_wb_init(pgw_wbuf *wb);
extern void pgw_wb_free(pgw_wbuf *wb);
extern void pgw_wb_reset(pgw_wbuf *wb);

/* Ensure room for n more bytes; returns a pointer to them or NULL. */
extern uint8_t *pgw_wb_reserve(pgw_wbuf *wb, size_t n);

/* Drop the first n bytes (already sent). */
extern void pgw_wb_consume(pgw_wbuf *wb, size_t n);

extern void pgw_wb_u8(pgw_wbuf *wb, uint8_t v);
extern void pgw_wb_i16(pgw_wbuf *wb, int16_t v);
extern void pgw_wb_i32(pgw_wbuf *wb, int32_t v);
extern void pgw_wb_bytes(pgw_wbuf *wb, const void *p, size_t n);
/* Writes s and its NUL terminator. */
extern void pgw_wb_cstring(pgw_wbuf *wb, const char *s);

/*
 * Start a message.  type is the message type byte, or 0 for the untyped
 * startup-phase packets (StartupMessage, SSLRequest, CancelRequest).
 */
extern void pgw_wb_begin(pgw_wbuf *wb, uint8_t type);
/* Patch the length of the open message; fails if it exceeds 1 GiB. */
extern void pgw_wb_end(pgw_wbuf *wb);

/* Big-endian helpers for code that fills reserved space itself. */
static inline void
pgw_put_i32(uint8_t *p, int32_t v)
{
	uint32_t	u = (uint32_t) v;

	p[0] = (uint8_t) (u >> 24);
	p[1] = (uint8_t) (u >> 16);
	p[2] = (uint8_t) (u >> 8);
	p[3] = (uint8_t) u;
}

static inline void
pgw_put_i16(uint8_t *p, int16_t v)
{
	uint16_t	u = (uint16_t) v;

	p[0] = (uint8_t) (u >> 8);
	p[1] = (uint8_t) u;
}

static inline uint32_t
pgw_get_u32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
		((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

static inline uint16_t
pgw_get_u16(const uint8_t *p)
{
	return (uint16_t) (((uint16_t) p[0] << 8) | (uint16_t) p[1]);
}

#endif							/* PGW_BUF_H */
