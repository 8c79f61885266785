/*-------------------------------------------------------------------------
 *
 * copy_local.h
 *	  COPY between local tables or queries and remote servers
 *	  (pgasync.copy_to_remote, pgasync.copy_from_remote), and the COPY path
 *	  of pgasync.executemany.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGASYNC_COPY_LOCAL_H
#define PGASYNC_COPY_LOCAL_H

#include "postgres.h"

#include "executor/spi.h"

#include "connection.h"

/*
 * Rows of local values, a batch at a time: fetch() makes the next batch
 * current and returns how many rows it has (0 at the end); get() deforms
 * one of them into nparams values.
 *
 * A source may also offer stream() (NULL if not): it hands every row not
 * yet fetched, in order, to row(), until the rows run out or row()
 * returns false.  No batch is kept: the values are valid during the call
 * only.  After stream(), fetch() is not called again.
 */
typedef struct PgaRowSource PgaRowSource;

typedef bool (*PgaRowStreamFn) (void *arg, Datum *values, bool *nulls);

struct PgaRowSource
{
	int			nparams;
	Oid		   *types;			/* local types of the values */
	uint64		(*fetch) (PgaRowSource *src);
	void		(*get) (PgaRowSource *src, uint64 row, Datum *values,
						bool *nulls);
	void		(*stream) (PgaRowSource *src, PgaRowStreamFn row, void *arg);
};

/*
 * Rows of a local query, through an SPI cursor: fetched a batch at a time
 * into SPI tuple tables, or streamed from the executor (stream()).
 */
typedef struct PgaQueryRowSource
{
	PgaRowSource src;
	Portal		portal;
	SPITupleTable *batch;
} PgaQueryRowSource;

/*
 * Open query through an SPI cursor (SPI must be connected); what names the
 * query in the error raised when it returns no rows ("the local query of
 * pgasync.copy_to_remote").  Close with PgaQueryRowSourceClose().
 */
extern void PgaQueryRowSourceOpen(PgaQueryRowSource *qs, const char *query,
								  const char *what);
extern void PgaQueryRowSourceClose(PgaQueryRowSource *qs);

/* pgasync.executemany sends this many rows or more with COPY, if it can */
#define PGA_MANY_COPY_MIN_ROWS 1000

/*
 * The COPY path of pgasync.executemany: when sql is a plain INSERT ...
 * VALUES ($1, ..., $n) that COPY can run with the same effect on the
 * remote table (see copy_local.c), stream the rows of src with
 * COPY ... FROM STDIN instead, store the rows inserted in *result and
 * return true.  src's current batch (nrows rows, already fetched) goes
 * first.  Returns false, having sent nothing but a catalog query, when the
 * command or the table does not qualify: the caller then runs the batch
 * as usual.  Remote errors are raised as executemany raises them.
 */
extern bool PgaExecutemanyCopy(PgaSession *s, const char *sql,
							   PgaRowSource *src, uint64 nrows,
							   int64 *result);

#endif							/* PGASYNC_COPY_LOCAL_H */
