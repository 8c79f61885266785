/*-------------------------------------------------------------------------
 *
 * tap.h
 *	  A minimal TAP producer for the protocol core's unit tests, read by
 *	  prove.  Each test program includes it once.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGW_TAP_H
#define PGW_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int	tap_count;
static int	tap_failed;

static inline int tap_ok(int cond, const char *fmt,...)
#if defined(__GNUC__)
			__attribute__((format(printf, 2, 3)))
#endif
			;

static inline int
tap_ok(int cond, const char *fmt,...)
{
	va_list		ap;

	tap_count++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

/* Compare two strings (either may be NULL), reporting both on failure. */
#define tap_is_str(got, want, ...) \
	do { \
		const char *tap_g_ = (got); \
		const char *tap_w_ = (want); \
		int tap_c_ = (tap_g_ == NULL && tap_w_ == NULL) || \
			(tap_g_ != NULL && tap_w_ != NULL && strcmp(tap_g_, tap_w_) == 0); \
		if (!tap_ok(tap_c_, __VA_ARGS__)) \
			printf("#   got: '%s'\n#  want: '%s'\n", \
				   tap_g_ ? tap_g_ : "(null)", tap_w_ ? tap_w_ : "(null)"); \
	} while (0)

#define tap_is_int(got, want, ...) \
	do { \
		long long tap_g_ = (long long) (got); \
		long long tap_w_ = (long long) (want); \
		if (!tap_ok(tap_g_ == tap_w_, __VA_ARGS__)) \
			printf("#   got: %lld\n#  want: %lld\n", tap_g_, tap_w_); \
	} while (0)

static inline void tap_diag(const char *fmt,...)
#if defined(__GNUC__)
			__attribute__((format(printf, 1, 2)))
#endif
			;

static inline void
tap_diag(const char *fmt,...)
{
	va_list		ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Print the plan and return the exit status. */
static inline int
tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed == 0 ? 0 : 1;
}

#endif							/* PGW_TAP_H */
