/*-------------------------------------------------------------------------
 *
 * driver.h
 *	  The driver: the only code in pgasync that owns sockets.
 *
 * Each PgaConn joins a socket, a protocol-core connection (pgw_conn) and,
 * when the connection is encrypted, a TLS object (pgw_tls).  Every live
 * socket of the backend sits in one WaitEventSet together with MyLatch;
 * callers wait for the next protocol event of any connection in a set with
 * PgaDriverNextEvent(), which processes interrupts after each wait.
 * Connects are non-blocking and run inside the same loop, so many
 * connections come up in parallel.  On error, cancel or timeout, the
 * driver sends CancelRequest to every busy remote and drains it back to
 * idle (or closes it) within about a second.
 *
 * The driver never raises errors itself except through
 * CHECK_FOR_INTERRUPTS(): failures are reported as PGA_EV_BROKEN events and
 * PgaConnErrorMessage(); the backend layers turn them into ereports.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGASYNC_DRIVER_H
#define PGASYNC_DRIVER_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "option.h"
#include "protocol/pgw_conn.h"

typedef struct PgaConn PgaConn;

/* Pseudo event types beyond the protocol core's */
#define PGA_EV_BROKEN ((pgw_event_type) 1000)	/* connection lost or failed */

typedef enum PgaConnPhase
{
	PGA_PHASE_CONNECTING,		/* socket connect, TLS, authentication */
	PGA_PHASE_READY,			/* connected; see pgw_conn state for busy */
	PGA_PHASE_BROKEN			/* failed or lost; must be closed */
} PgaConnPhase;

/*
 * Start connecting to target.  The connection copies what it needs and
 * takes over target->dsn (set to NULL).  Never blocks except for host
 * name resolution.  label names the connection in errors ('server "s1"',
 * 'connection "c1"').  A connection that cannot even start comes back
 * BROKEN; its first event is PGA_EV_BROKEN.
 */
extern PgaConn *PgaConnOpen(PgaTarget *target, const char *label);

/* Send Terminate (best effort), close the socket, free everything. */
extern void PgaConnClose(PgaConn *conn);

extern PgaConnPhase PgaConnGetPhase(const PgaConn *conn);

/*
 * The connection's work belongs to this transaction nesting level (used
 * by abort handling); for connections opened inside a subtransaction that
 * was then released into its parent.
 */
extern void PgaConnSetNestLevel(PgaConn *conn, int nest_level);
extern pgw_conn *PgaConnProto(PgaConn *conn);
extern const char *PgaConnLabel(const PgaConn *conn);
extern const PgaTarget *PgaConnTarget(const PgaConn *conn);

/* Busy: requests in flight, or COPY under way. */
extern bool PgaConnIsBusy(const PgaConn *conn);

/* Why the connection broke (no password ever appears). */
extern const char *PgaConnErrorMessage(const PgaConn *conn);

typedef enum PgaFailure
{
	PGA_FAIL_NONE,
	PGA_FAIL_CONNECT,			/* could not connect (all hosts tried) */
	PGA_FAIL_PASSWORD_REQUIRED, /* remote did not ask for the password */
	PGA_FAIL_LOST,				/* connection lost after it was up */
	PGA_FAIL_PROTOCOL			/* protocol violation or TLS failure */
} PgaFailure;

extern PgaFailure PgaConnGetFailure(const PgaConn *conn);

/* The host and port actually connected to. */
extern const char *PgaConnHost(const PgaConn *conn);
extern int	PgaConnPort(const PgaConn *conn);
extern bool PgaConnUsesTls(const PgaConn *conn);

/* Arbitrary pointer for the layer that owns the connection. */
extern void PgaConnSetOwnerData(PgaConn *conn, void *data);
extern void *PgaConnGetOwnerData(const PgaConn *conn);

/*
 * Wait for and return the next event of any connection in conns[].
 * Returns the connection the event belongs to, with *ev filled; ev->type
 * is a pgw_event_type or PGA_EV_BROKEN.  PGW_EV_CONNECTED is returned once
 * when a connection finishes connecting (after the password_required and
 * target_session_attrs checks).  Returns NULL when deadline (0 = none)
 * passes, or when no connection in conns[] can produce an event (all
 * broken).  Events stay valid until the next call.  Interrupts are
 * processed after every wait.
 */
extern PgaConn *PgaDriverNextEvent(PgaConn **conns, int nconns,
								   pgw_event *ev, TimestampTz deadline);

/*
 * Without waiting: take in what the server sent to conn meanwhile and
 * return its next event, if any (false when there is none).  Used before
 * reusing an idle connection, to see notifications, notices, and a server
 * that closed the connection while it sat idle.
 */
extern bool PgaConnPollEvent(PgaConn *conn, pgw_event *ev);

/*
 * Without waiting: read what the socket has into the connection's input,
 * without taking events out (see pgw_conn_buffered_ready()).
 */
extern void PgaConnReceive(PgaConn *conn);

/* Send queued output of conn, waiting while the socket is full. */
extern bool PgaConnFlush(PgaConn *conn, TimestampTz deadline);

/*
 * Send as much queued output as the socket takes now, without waiting.
 * False only when the connection is broken.
 */
extern bool PgaConnSendNow(PgaConn *conn);

/* Bytes queued for conn but not yet sent. */
extern size_t PgaConnPendingOutput(PgaConn *conn);

/*
 * Send CancelRequest to every busy connection in conns[], then drain them
 * (reading and discarding input, failing a COPY IN) until idle; a
 * connection not idle within timeout_ms is closed and marked broken.
 * Never raises errors and ignores interrupts, so it is safe in abort
 * callbacks.
 */
extern void PgaDriverCancelAndDrain(PgaConn **conns, int nconns,
									int timeout_ms);

/*
 * Abort handling: cancel and drain every busy (or connecting) connection
 * whose work was sent by the current local transaction at nesting level
 * nest_level or deeper (1: the whole transaction).  Work of earlier
 * transactions (queries sent with pgasync.send()) is left alone.  Called
 * from the (sub)transaction abort callbacks.
 */
extern void PgaDriverAbortAll(int timeout_ms, int nest_level);

/*
 * Backpressure: while paused, the driver does not read conn's socket (the
 * server then waits once the socket buffers fill), and events already read
 * are still returned.  For relaying one connection's output into another
 * that cannot take it as fast.
 */
extern void PgaConnPauseReading(PgaConn *conn, bool paused);

/* The local transaction ended: later work belongs to the next one. */
extern void PgaDriverEndOfXact(void);

/* Number of live connections of this backend. */
extern int	PgaDriverConnectionCount(void);

#endif							/* PGASYNC_DRIVER_H */
