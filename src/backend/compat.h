/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Differences between the PostgreSQL major versions pgasync supports
 *	  (15 and later), kept in one place.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGASYNC_COMPAT_H
#define PGASYNC_COMPAT_H

#include "postgres.h"

#include "storage/latch.h"
#include "utils/memutils.h"

/*
 * PostgreSQL 17 ties a WaitEventSet to a resource owner instead of a
 * memory context; pgasync's set lives as long as the backend.
 */
#if PG_VERSION_NUM >= 170000
#define PgaCreateWaitEventSet(nevents) CreateWaitEventSet(NULL, (nevents))
#else
#define PgaCreateWaitEventSet(nevents) \
	CreateWaitEventSet(TopMemoryContext, (nevents))
#endif

#endif							/* PGASYNC_COMPAT_H */
