/*-------------------------------------------------------------------------
 *
 * query.h
 *	  Running one remote query on one connection: the extended protocol
 *	  with the statement cache, the simple protocol, error collection and
 *	  command timeouts.  Shared by the query functions and later layers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGASYNC_QUERY_H
#define PGASYNC_QUERY_H

#include "postgres.h"

#include "codec.h"
#include "connection.h"
#include "remote_error.h"

typedef struct PgaQueryRun PgaQueryRun;

/*
 * Where rows go when they are handed on one at a time (the streaming scan,
 * scan.c): each is decoded into values/nulls, in decode_cxt (NULL: the
 * runner's per-row context), and then given to emit.
 */
typedef struct PgaRowSink
{
	Datum	   *values;
	bool	   *nulls;
	MemoryContext decode_cxt;
	bool		discard;		/* drop rows undecoded */
	void		(*emit) (void *arg, Datum *values, bool *nulls);
	void	   *arg;
} PgaRowSink;

/* Called for each DataRow, in a per-row memory context. */
typedef void (*PgaRowCallback) (PgaQueryRun *run, PgaResultCodec *codec,
								PgaStatement *st, const pgw_value *columns,
								int ncolumns);

struct PgaQueryRun
{
	PgaSession *session;
	const char *sql;
	TimestampTz deadline;		/* command timeout, or 0 */
	TupleDesc	tupdesc;		/* decode rows into this type, or NULL */
	int32		max_rows;		/* Execute row limit; 0 = all */
	bool		allow_tag;		/* tupdesc may have one leading extra column */
	PgaRowCallback on_row;
	void	   *arg;
	/* results */
	MemoryContext callcxt;		/* the calling function's context */
	/* results */
	uint64		request_id;		/* the request whose ReadyForQuery ends the run */
	bool		in_remote_xact; /* a remote transaction was open when sent */
	PgaStatement *statement;
	PgaRemoteError *error;		/* first remote error */
	bool		error_in_preamble;	/* ... came from a preamble request */
	const char *local_error;	/* result does not fit the row type */
	int			local_nfields;	/* ... remote columns (-1: no rows) */
	int			local_ncolumns; /* ... declared columns */
	char	   *command_tag;
	uint64		rows;
	int			round_trips;
	int			retries;
	/* state while running */
	PgaParams  *params;
	bool		miss;			/* statement was not cached */
	bool		parsed;			/* ... and ParseComplete arrived */
	PgaResultCodec *codec;
	int16	   *requested;		/* result formats guessed for a cache miss */
	MemoryContext rowcxt;
	bool		done;			/* ReadyForQuery of request_id arrived */
	bool		simple;			/* simple query protocol */
	void	   *owner;			/* for callers running several at once */
};

extern void PgaQueryRunInit(PgaQueryRun *run, const char *target, const char *sql);
extern void PgaQueryRunExtended(PgaQueryRun *run, PgaParams *params);
extern void PgaQueryRunSimple(PgaQueryRun *run);

/*
 * The steps of PgaQueryRunExtended, for callers that drive several runs
 * on several connections from one event loop: start (queue and send),
 * feed each event of the run's connection, and finish when OnEvent says
 * the request is over (Finish returns true if it sent the request again).
 */
extern void PgaQueryRunStart(PgaQueryRun *run, PgaParams *params);
extern void PgaQueryRunStartSimple(PgaQueryRun *run);
extern bool PgaQueryRunOnEvent(PgaQueryRun *run, pgw_event *ev);

/*
 * Wait for the next event of a run's connection (processing interrupts);
 * a lost connection or the command timeout (which cancels the remote
 * query) raises.
 */
extern void PgaQueryRunNextEvent(PgaQueryRun *run, pgw_event *ev);
extern bool PgaQueryRunFinish(PgaQueryRun *run, bool raise_errors);
extern void PgaQueryRunComplete(PgaQueryRun *run);

/* Decode a row into sink's arrays; false if the sink discards rows. */
extern bool PgaRowSinkDecode(PgaRowSink *sink, PgaResultCodec *codec,
							 const pgw_value *columns, int ncolumns);

/* Rows a command tag reports ("INSERT 0 5", "COPY 12"), as PQcmdTuples(). */
extern uint64 PgaCommandTagRows(const char *tag);
extern void PgaQueryRunSetRowType(PgaQueryRun *run, TupleDesc tupdesc);

#endif							/* PGASYNC_QUERY_H */
