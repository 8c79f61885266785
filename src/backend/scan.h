/*-------------------------------------------------------------------------
 *
 * scan.h
 *	  The custom scan that streams pgasync.fetch() rows into a query
 *	  (scan.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGASYNC_SCAN_H
#define PGASYNC_SCAN_H

/* pgasync.stream_fetch: offer the streaming scan to the planner */
extern bool pgasync_stream_fetch;

/* Install the planner hook and register the scan (from _PG_init). */
extern void PgaScanInit(void);

#endif							/* PGASYNC_SCAN_H */
