/*-------------------------------------------------------------------------
 *
 * pgw.c
 *	  Allocation and crypto hooks, default limits and error reporting of
 *	  the pgwire protocol core.
 *
 * The embedding code may install its own allocator (the extension routes
 * everything through a memory context) and must install crypto hooks
 * before anything needs hashing.  Without an allocator the core uses the
 * C library; without crypto hooks every operation that needs them fails.
 *
 *-------------------------------------------------------------------------
 */
#include "pgw.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *pgw_libc_malloc(size_t size, void *ctx);
static void *pgw_libc_realloc(void *ptr, size_t size, void *ctx);
static void pgw_libc_free(void *ptr, void *ctx);

static const pgw_allocator pgw_libc_allocator = {
	pgw_libc_malloc,
	pgw_libc_realloc,
	pgw_libc_free,
	NULL
};

/* The installed hooks: a private copy, so callers need not keep theirs. */
static pgw_allocator pgw_cur_allocator = {
	pgw_libc_malloc,
	pgw_libc_realloc,
	pgw_libc_free,
	NULL
};
static pgw_crypto pgw_cur_crypto;
static bool pgw_have_crypto = false;

const pgw_limits pgw_default_limits = {
	PGW_DEFAULT_MAX_DATA_MESSAGE,
	PGW_DEFAULT_MAX_CONTROL_MESSAGE,
	PGW_DEFAULT_MAX_COLUMNS,
	PGW_DEFAULT_MAX_INFLIGHT
};

static void *
pgw_libc_malloc(size_t size, void *ctx)
{
	(void) ctx;
	return malloc(size);
}

static void *
pgw_libc_realloc(void *ptr, size_t size, void *ctx)
{
	(void) ctx;
	return realloc(ptr, size);
}

static void
pgw_libc_free(void *ptr, void *ctx)
{
	(void) ctx;
	free(ptr);
}

void
pgw_set_allocator(const pgw_allocator *alloc)
{
	if (alloc == NULL || alloc->malloc_fn == NULL ||
		alloc->realloc_fn == NULL || alloc->free_fn == NULL)
		pgw_cur_allocator = pgw_libc_allocator;
	else
		pgw_cur_allocator = *alloc;
}

void
pgw_set_crypto(const pgw_crypto *crypto)
{
	if (crypto == NULL)
	{
		memset(&pgw_cur_crypto, 0, sizeof(pgw_cur_crypto));
		pgw_have_crypto = false;
	}
	else
	{
		pgw_cur_crypto = *crypto;
		pgw_have_crypto = true;
	}
}

const pgw_crypto *
pgw_get_crypto(void)
{
	return pgw_have_crypto ? &pgw_cur_crypto : NULL;
}

/*
 * A zero-byte request is rounded up to one byte, so that NULL always
 * means failure whatever the hooks do with zero sizes.
 */
void *
pgw_malloc(size_t size)
{
	if (size == 0)
		size = 1;
	return pgw_cur_allocator.malloc_fn(size, pgw_cur_allocator.ctx);
}

void *
pgw_realloc(void *ptr, size_t size)
{
	if (ptr == NULL)
		return pgw_malloc(size);
	if (size == 0)
		size = 1;
	return pgw_cur_allocator.realloc_fn(ptr, size, pgw_cur_allocator.ctx);
}

void
pgw_free(void *ptr)
{
	if (ptr != NULL)
		pgw_cur_allocator.free_fn(ptr, pgw_cur_allocator.ctx);
}

char *
pgw_strdup(const char *s)
{
	if (s == NULL)
		return NULL;
	return pgw_strndup(s, strlen(s));
}

/* Copy at most len bytes of s, stopping early at a NUL; always terminated. */
char *
pgw_strndup(const char *s, size_t len)
{
	size_t		n;
	char	   *copy;

	if (s == NULL)
		return NULL;
	/* s need not be terminated within len bytes, so scan by hand */
	for (n = 0; n < len && s[n] != '\0'; n++)
		;
	if (n == SIZE_MAX)
		return NULL;
	copy = pgw_malloc(n + 1);
	if (copy == NULL)
		return NULL;
	memcpy(copy, s, n);
	copy[n] = '\0';
	return copy;
}

void
pgw_seterr(char *errbuf, const char *fmt,...)
{
	va_list		ap;

	if (errbuf == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, PGW_ERRMSG_LEN, fmt, ap);
	va_end(ap);
}
