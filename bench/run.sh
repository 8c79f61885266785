#!/usr/bin/env bash
#-------------------------------------------------------------------------
#
# run.sh
#	  pgasync's benchmark: pgasync against dblink, postgres_fdw and the
#	  binary COPY floor, side by side on one machine in one run.
#
# Usage (as root on Debian 12):
#	bash bench/run.sh				every default group (fetch, tiny,
#									prepared, executemany, copy_local,
#									fanout_sleep, fanout_rows,
#									fanout_lookup; stream on request)
#	bash bench/run.sh fetch tiny	only those groups
#	bash bench/run.sh fetch_pgasync tiny_dblink
#									single cases (names: bench/run.sh list)
#	bash bench/run.sh profile		perf profiles (bench/results/profile-*.txt)
#									of BENCH_PROFILE_CASES; not part of the
#									default run; combine: "fetch profile"
#	bash bench/run.sh list			list groups and cases, then exit
#
# What it does: installs missing Debian packages, builds and installs
# pgasync (make && make install), starts two throwaway clusters as the
# postgres OS user in a scratch directory under /tmp -- "local" (where
# pgasync, dblink and postgres_fdw run) and "remote" (which holds the
# data) -- on free ports, reachable over Unix sockets (trust), with
# identical settings.  The remote gets table t (anchors.md's table, 1M
# rows) and an empty t2 like it; the local gets the three extensions, a
# postgres_fdw server, user mapping and three foreign tables (ft: default
# fetch_size, ft_fs10k: fetch_size 10000, ft2: t2 with batch_size 1000),
# and, for the copy_local group, a local copy lt of t and an empty lt2.
# The fan-out groups (fanout_sleep, fanout_rows, fanout_lookup) need
# three more remote clusters, f1, f2 and f3, started only for them (a
# per-group requirement: GROUP_FAN, GROUP_FAN_T; see setup_fan).
# Then every selected case is timed; the report goes
# to stdout and to bench/results/latest.txt (and a dated copy beside it).
# See bench/README.md.
#
# Timing: in-session.  Each measurement is one psql session that runs the
# case's set-up, a small warm-up, then the measured statement bracketed by
# clock_timestamp() queries; connection set-up is never in the figure.
# BENCH_REPS rounds (default 5); in each round every case runs once, the
# order rotated from round to round so background load spreads evenly.
# Just before the clock starts, both clusters run CHECKPOINT and the OS
# writes its dirty pages out (sync), so that the writes of earlier cases
# (a 1M-row COPY leaves some 200 MB of heap and WAL behind) are not flushed
# in the middle of a measurement.
# The report gives the median (the figure used for ratios), the best and
# the worst of the rounds, and -- read from /proc/PID/schedstat around the
# statement -- the CPU time of the session's backend and of the remote
# backend serving it, and how long the session's backend waited for a CPU
# (a measure of how much other load disturbed the figure).
#
# Exit status: 0 when every case ran and returned the right result,
# whether or not the targets were met; 1 when something errored; 2 on a
# usage error.
#
# Environment:
#	BENCH_REPS=5			rounds
#	BENCH_ROWS=1000000		rows in t
#	BENCH_TINY=20000		iterations of the tiny-query and prepared loops
#	BENCH_STREAM_ROWS=5000000	rows of the stream group's query
#	BENCH_MANY=100000		rows the executemany group inserts
#	BENCH_CASE_TIMEOUT=300	seconds before one measurement is killed
#	BENCH_CONF="k = v; ..."	extra postgresql.conf lines for both clusters
#							(';'-separated)
#	BENCH_NO_BUILD=1		skip make && make install
#	BENCH_KEEP=1			keep the clusters running and the scratch dir
#	BENCH_PROFILE_CASES="fetch_pgasync tiny_pgasync_fetchval"
#							cases the profile group records
#
# Adding a case: write a function case_<name> that sets the CASE_*
# variables (see "Cases" below), add "<group> <name>" to CASES (a new
# group name makes a new group; add it to DEFAULT_GROUPS to run it by
# default), and, if it is compared against something, a line to TARGETS.
# Data a new group needs goes into setup_data.
#
#-------------------------------------------------------------------------

set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# install_missing, free_port
. "$REPO/test/common.sh"
BENCH=$REPO/bench
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PG_CONFIG=$PGBIN/pg_config
REPS=${BENCH_REPS:-5}
ROWS=${BENCH_ROWS:-1000000}
TINY=${BENCH_TINY:-20000}
STREAM_ROWS=${BENCH_STREAM_ROWS:-5000000}
CASE_TIMEOUT=${BENCH_CASE_TIMEOUT:-300}
KEEP=${BENCH_KEEP:-0}
if [ "$ROWS" = 1000000 ]; then ROWS_LABEL=1M; else ROWS_LABEL=$ROWS; fi
if [ "$STREAM_ROWS" = 5000000 ]; then STREAM_LABEL=5M; else STREAM_LABEL=$STREAM_ROWS; fi
MANY=${BENCH_MANY:-100000}
if [ "$MANY" = 100000 ]; then MANY_LABEL=100k; else MANY_LABEL=$MANY; fi
RESULTS_DIR=$BENCH/results
START_TIME=$SECONDS

PACKAGES=(postgresql-15 postgresql-contrib postgresql-server-dev-15
	postgresql-client-15 libssl-dev make gcc perl coreutils python3-asyncpg)

export LC_ALL=C.UTF-8 LANG=C.UTF-8
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS \
	PGSSLMODE PGHOSTADDR PGPASSFILE || true

banner()
{
	echo
	echo "== $*"
}

die()
{
	echo "bench/run.sh: $*" >&2
	exit 1
}

#-------------------------------------------------------------------------
# Cases
#
# A case function sets:
#	CASE_LABEL		what the report calls it
#	CASE_CLUSTER	local or remote: where the psql session runs
#	CASE_SETUP		SQL run first in the session (not timed)
#	CASE_WARM		SQL run once before the measurement (not timed)
#	CASE_BODY		the measured SQL; it may end in "\gset bench_" to
#					capture columns for the check
#	CASE_CHECK		psql line(s) run after the measurement whose output
#					must equal CASE_EXPECT (empty: no check)
#	CASE_EXPECT
#	CASE_OPS		operations in one measurement (per-op figure), or ""
#	CASE_ANCHOR		the figure anchors.md gives for it, or ""
#	CASE_REMOTE_CPU	yes (default) or no: whether a remote backend serving
#					the session exists before the measurement (for the
#					"cpu rem" column; no for one-connection-per-call)
#	CASE_METRIC		psql line(s) run at the end of the session that print
#					"BENCH_METRIC <number>" (e.g. the backend's peak RSS),
#					or ""; reported per case with CASE_METRIC_LABEL
#	CASE_METRIC_LABEL
# (load_case clears them all first.)
# Variables available: $ROWS, $TINY, $SUM (sum(amount) of t), $DSN (the
# remote as a connection string; also psql variable :'dsn').
#-------------------------------------------------------------------------

# group case -- the order is the report's order
CASES=(
	"fetch fetch_pgasync"
	"fetch fetch_dblink"
	"fetch fetch_fdw_default"
	"fetch fetch_fdw_10000"
	"fetch fetch_copy_floor"
	"fetch fetch_remote_scan"
	"fetch fetch_pgasync_amount"
	"fetch fetch_pgasync_nostream"
	"fetch fetch_fdw_default_all"
	"fetch fetch_fdw_10000_all"
	"tiny tiny_pgasync_fetchval"
	"tiny tiny_pgasync_fetch"
	"tiny tiny_dblink"
	"tiny tiny_fdw_lookup"
	"prepared prepared_pgasync_fetchval"
	"prepared prepared_pgasync_fetch"
	"prepared prepared_pgasync_nocache"
	"prepared prepared_dblink"
	"prepared prepared_fdw_lookup"
	"stream stream_pgasync"
	"stream stream_dblink"
	"fanout_sleep fanout_sleep_pgasync"
	"fanout_sleep fanout_sleep_fdw"
	"fanout_sleep fanout_sleep_dblink"
	"fanout_sleep fanout_sleep_plproxy"
	"fanout_sleep fanout_sleep_floor"
	"fanout_rows fanout_rows_pgasync"
	"fanout_rows fanout_rows_pgasync_amount"
	"fanout_rows fanout_rows_fdw"
	"fanout_rows fanout_rows_fdw_all"
	"fanout_lookup fanout_lookup_pgasync_cold"
	"fanout_lookup fanout_lookup_fdw_cold"
	"fanout_lookup fanout_lookup_pgasync_warm"
	"fanout_lookup fanout_lookup_fdw_warm"
	"executemany executemany_pgasync"
	"executemany executemany_pgasync_bind"
	"executemany executemany_fdw"
	"executemany executemany_asyncpg"
	"executemany executemany_pgasync_table"
	"executemany executemany_fdw_table"
	"copy_local copy_local_to_pgasync"
	"copy_local copy_local_to_fdw"
	"copy_local copy_local_from_pgasync"
	"copy_local copy_local_from_fetch"
	"copy_local copy_local_from_dblink"
	"copy_local copy_local_from_fdw"
	"copy_local copy_local_from_fdw_10000"
	"copy copy_pgasync"
	"copy copy_pgasync_parallel2"
	"copy copy_psql_pipe"
	"copy copy_pgcopydb"
	"copy copy_fdw"
	"copy copy_floor"
	"copy copy_free_relay"
)
DEFAULT_GROUPS="fetch tiny prepared executemany copy_local copy fanout_sleep fanout_rows fanout_lookup"

# numerator denominator limit description -- ratios of medians; limit "-"
# means informational.
#
# Targets sit on like-for-like comparisons.  The anchors' query
# (sum(amount) ... WHERE random() >= 0) lets postgres_fdw ship amount
# alone, while pgasync.fetch() ships the columns it is asked for: the fetch
# and fan-out targets are checked twice, against postgres_fdw moving all
# four columns and with pgasync moving amount alone, and both must hold;
# the mixed comparison is shown for information.  asyncpg's executemany is
# timed with its rows already built, so the executemany target is on rows
# read from a local table; rows generated by the query are shown too.
TARGETS=(
	"fetch_pgasync fetch_fdw_default_all 0.5 ${ROWS_LABEL}-row fetch, all 4 columns: pgasync vs postgres_fdw (fetch_size 100)"
	"fetch_pgasync_amount fetch_fdw_default 0.5 ${ROWS_LABEL}-row fetch, amount only: pgasync vs postgres_fdw (fetch_size 100)"
	"fetch_pgasync fetch_copy_floor 1.4 ${ROWS_LABEL}-row fetch vs binary COPY floor"
	"fetch_pgasync fetch_fdw_default - not like for like: pgasync 4 columns vs postgres_fdw amount only (100)"
	"fetch_pgasync_amount fetch_fdw_10000 - amount only: pgasync vs postgres_fdw (fetch_size 10000)"
	"fetch_pgasync fetch_fdw_10000_all - all 4 columns: pgasync vs postgres_fdw (fetch_size 10000)"
	"fetch_pgasync fetch_dblink - ${ROWS_LABEL}-row fetch vs dblink()"
	"fetch_pgasync_nostream fetch_pgasync - function scan (stream_fetch off) vs streaming scan"
	"tiny_pgasync_fetchval tiny_dblink 0.7 tiny query per call: fetchval vs dblink"
	"tiny_pgasync_fetch tiny_dblink 0.7 tiny query per call: fetch vs dblink"
	"tiny_pgasync_fetchval tiny_fdw_lookup - tiny query per call: fetchval vs postgres_fdw lookup"
	"prepared_pgasync_fetchval prepared_dblink 0.7 point lookup per call: cached fetchval vs dblink"
	"prepared_pgasync_fetch prepared_dblink 0.7 point lookup per call: cached fetch vs dblink"
	"prepared_pgasync_fetchval prepared_fdw_lookup - point lookup per call: cached fetchval vs postgres_fdw"
	"prepared_pgasync_nocache prepared_pgasync_fetchval - point lookup per call: statement_cache_size 0 vs cached"
	"stream_pgasync stream_dblink - ${STREAM_LABEL}-row stream into count(*): pgasync vs dblink"
	"fanout_sleep_pgasync fanout_sleep_floor 1.1 3 x pg_sleep: fanout vs the slowest server's sleep"
	"fanout_sleep_pgasync fanout_sleep_fdw - 3 x pg_sleep: fanout vs postgres_fdw async Append"
	"fanout_sleep_pgasync fanout_sleep_dblink - 3 x pg_sleep: fanout vs dblink (sequential)"
	"fanout_sleep_pgasync fanout_sleep_plproxy - 3 x pg_sleep: fanout vs PL/Proxy RUN ON ALL"
	"fanout_rows_pgasync fanout_rows_fdw_all 0.6 3 x ${ROWS_LABEL} rows, all 4 columns: fanout vs postgres_fdw async Append"
	"fanout_rows_pgasync_amount fanout_rows_fdw 0.6 3 x ${ROWS_LABEL} rows, amount only: fanout vs postgres_fdw async Append"
	"fanout_rows_pgasync fanout_rows_fdw - not like for like: fanout 4 columns vs postgres_fdw amount only"
	"fanout_lookup_pgasync_cold fanout_lookup_fdw_cold - 4-server lookup, fresh session: fanout vs postgres_fdw"
	"fanout_lookup_pgasync_warm fanout_lookup_fdw_warm - 4-server lookup per call, warm: fanout vs postgres_fdw"
	"executemany_pgasync_table executemany_fdw_table 0.2 ${MANY_LABEL} rows of a local table: executemany vs postgres_fdw (batch_size 1000)"
	"executemany_pgasync executemany_fdw - ${MANY_LABEL} rows generated by the query: executemany vs postgres_fdw (batch_size 1000)"
	"executemany_pgasync executemany_asyncpg - ${MANY_LABEL}-row insert: executemany vs asyncpg executemany"
	"executemany_pgasync executemany_pgasync_bind - ${MANY_LABEL}-row insert: executemany, COPY path vs Bind/Execute per row"
	"copy_local_to_pgasync copy_local_to_fdw 0.2 ${ROWS_LABEL} rows local->remote: copy_to_remote vs postgres_fdw (batch_size 1000)"
	"copy_local_from_pgasync copy_local_from_dblink - ${ROWS_LABEL} rows remote->local: copy_from_remote vs INSERT ... dblink()"
	"copy_local_from_fetch copy_local_from_dblink - ${ROWS_LABEL} rows remote->local: INSERT ... pgasync.fetch() vs INSERT ... dblink()"
	"copy_local_from_fetch copy_local_from_pgasync - ${ROWS_LABEL} rows remote->local: INSERT ... pgasync.fetch() vs copy_from_remote"
	"copy_local_from_pgasync copy_local_from_fdw - ${ROWS_LABEL} rows remote->local: copy_from_remote vs INSERT ... postgres_fdw (100)"
	"copy_local_from_pgasync copy_local_from_fdw_10000 - ${ROWS_LABEL} rows remote->local: copy_from_remote vs INSERT ... postgres_fdw (10000)"
	"copy_pgasync copy_psql_pipe 0.85 ${ROWS_LABEL}-row server-to-server copy: pgasync.copy vs psql binary COPY pipe"
	"copy_pgasync copy_floor 1.25 ${ROWS_LABEL}-row server-to-server copy vs the destination's COPY FROM a binary file"
	"copy_pgasync copy_pgcopydb - ${ROWS_LABEL}-row server-to-server copy: pgasync.copy vs pgcopydb copy table-data"
	"copy_pgasync copy_fdw - ${ROWS_LABEL}-row server-to-server copy: pgasync.copy vs postgres_fdw INSERT ... SELECT"
	"copy_pgasync_parallel2 copy_pgasync - ${ROWS_LABEL}-row server-to-server copy: parallel 2 vs one stream"
	"copy_pgasync copy_free_relay - ${ROWS_LABEL}-row server-to-server copy: pgasync.copy vs a relay that costs nothing"
	"copy_psql_pipe copy_free_relay - ${ROWS_LABEL}-row server-to-server copy: psql binary pipe vs a relay that costs nothing"
)

FETCH_COLS="id bigint, val text, amount numeric, ts timestamptz"
FETCH_CHECK='\echo :bench_n :bench_s'

case_fetch_pgasync()
{
	CASE_LABEL="pgasync.fetch(dsn), $ROWS_LABEL rows"
	CASE_CLUSTER=local
	CASE_SETUP=""
	# the warm-up prepares the measured statement (LIMIT NULL is no limit),
	# so the measurement is a statement-cache hit with binary columns
	CASE_WARM="SELECT count(*), sum(amount) FROM pgasync.fetch(:'dsn', 'SELECT id, val, amount, ts FROM t LIMIT \$1', 1000::bigint) AS t($FETCH_COLS);"
	CASE_BODY="SELECT count(*) AS n, sum(amount) AS s FROM pgasync.fetch(:'dsn', 'SELECT id, val, amount, ts FROM t LIMIT \$1', NULL::bigint) AS t($FETCH_COLS) \\gset bench_"
	CASE_CHECK=$FETCH_CHECK
	CASE_EXPECT="$ROWS $SUM"
	CASE_OPS=""
	CASE_ANCHOR=""
}

case_fetch_dblink()
{
	CASE_LABEL="dblink(dsn), $ROWS_LABEL rows"
	CASE_CLUSTER=local
	CASE_SETUP=""
	CASE_WARM="SELECT count(*), sum(amount) FROM dblink(:'dsn', 'SELECT id, val, amount, ts FROM t LIMIT 1000') AS t($FETCH_COLS);"
	CASE_BODY="SELECT count(*) AS n, sum(amount) AS s FROM dblink(:'dsn', 'SELECT id, val, amount, ts FROM t') AS t($FETCH_COLS) \\gset bench_"
	CASE_CHECK=$FETCH_CHECK
	CASE_EXPECT="$ROWS $SUM"
	CASE_OPS=""
	CASE_ANCHOR="2.24 s"
	CASE_REMOTE_CPU=no	# a new connection per call: nothing to watch
}

# postgres_fdw: "WHERE random() >= 0" keeps the aggregate local, so every
# row crosses the wire.
fdw_case()
{
	local table=$1

	CASE_CLUSTER=local
	CASE_SETUP=""
	CASE_WARM="SELECT count(*), sum(amount) FROM (SELECT * FROM $table WHERE random() >= 0 LIMIT 1000) s;"
	CASE_BODY="SELECT count(*) AS n, sum(amount) AS s FROM $table WHERE random() >= 0 \\gset bench_"
	CASE_CHECK=$FETCH_CHECK
	CASE_EXPECT="$ROWS $SUM"
	CASE_OPS=""
}

# Note: postgres_fdw sends the remote only the columns the query needs,
# so the two cases above move "SELECT amount FROM t"; the *_all variants
# below reference the whole row (count(ft.*)) and move all four columns.
case_fetch_fdw_default()
{
	fdw_case ft
	CASE_LABEL="postgres_fdw, fetch_size 100 (pulls amount)"
	CASE_ANCHOR="1.36 s"
}

case_fetch_fdw_10000()
{
	fdw_case ft_fs10k
	CASE_LABEL="postgres_fdw, fetch_size 10000 (pulls amount)"
	CASE_ANCHOR="0.9-1.1 s"
}

case_fetch_fdw_default_all()
{
	fdw_case ft
	CASE_BODY="SELECT count(ft.*) AS n, sum(amount) AS s FROM ft WHERE random() >= 0 \\gset bench_"
	CASE_LABEL="postgres_fdw, fetch_size 100, all columns"
	CASE_ANCHOR=""
}

case_fetch_fdw_10000_all()
{
	fdw_case ft_fs10k
	CASE_BODY="SELECT count(ft_fs10k.*) AS n, sum(amount) AS s FROM ft_fs10k WHERE random() >= 0 \\gset bench_"
	CASE_LABEL="postgres_fdw, fetch_size 10000, all columns"
	CASE_ANCHOR=""
}

# pgasync moving what the postgres_fdw cases above move: one column.
case_fetch_pgasync_amount()
{
	CASE_LABEL="pgasync.fetch(dsn), amount only"
	CASE_CLUSTER=local
	CASE_SETUP=""
	CASE_WARM="SELECT count(*), sum(amount) FROM pgasync.fetch(:'dsn', 'SELECT amount FROM t LIMIT \$1', 1000::bigint) AS t(amount numeric);"
	CASE_BODY="SELECT count(*) AS n, sum(amount) AS s FROM pgasync.fetch(:'dsn', 'SELECT amount FROM t LIMIT \$1', NULL::bigint) AS t(amount numeric) \\gset bench_"
	CASE_CHECK=$FETCH_CHECK
	CASE_EXPECT="$ROWS $SUM"
	CASE_OPS=""
	CASE_ANCHOR=""
}

# pgasync.fetch() left to the function scan, which stores every row in a
# tuplestore (past work_mem, a temporary file) before the first goes up.
case_fetch_pgasync_nostream()
{
	case_fetch_pgasync
	CASE_LABEL="pgasync.fetch(dsn), function scan (stream_fetch off)"
	CASE_SETUP="SET pgasync.stream_fetch = off;"
}

# The producer's floor: the remote's binary COPY read by psql, written to
# /dev/null (psql sends COPY TO STDOUT data to its \o target).
case_fetch_copy_floor()
{
	CASE_LABEL="floor: remote COPY binary > /dev/null"
	CASE_CLUSTER=remote
	CASE_SETUP=""
	CASE_WARM="COPY (SELECT * FROM t LIMIT 1000) TO STDOUT (FORMAT binary);"
	CASE_BODY="COPY t TO STDOUT (FORMAT binary);"
	CASE_CHECK=""
	CASE_EXPECT=""
	CASE_OPS=""
	CASE_ANCHOR="0.55 s"
}

# For reference: the remote computing the aggregate itself (no transfer).
case_fetch_remote_scan()
{
	CASE_LABEL="ref: count/sum on the remote itself"
	CASE_CLUSTER=remote
	CASE_SETUP="SET max_parallel_workers_per_gather = 0;"
	CASE_WARM="SELECT count(*), sum(amount) FROM (SELECT * FROM t LIMIT 1000) s;"
	CASE_BODY="SELECT count(*) AS n, sum(amount) AS s FROM t \\gset bench_"
	CASE_CHECK=$FETCH_CHECK
	CASE_EXPECT="$ROWS $SUM"
	CASE_OPS=""
	CASE_ANCHOR="(local scan 0.26 s)"
}

# tiny_loop N STATEMENT EXPECT: a DO block running STATEMENT (which assigns
# v) for i in 1..n, then checking that v equals EXPECT (which may use n).
tiny_loop()
{
	local n=$1
	local stmt=$2
	local expect=$3

	cat <<EOF
DO \$bench\$
DECLARE
	v text;
	n int := $n;
BEGIN
	FOR i IN 1..n LOOP
		$stmt
	END LOOP;
	IF v IS DISTINCT FROM $expect THEN
		RAISE EXCEPTION 'wrong result: %', v;
	END IF;
END
\$bench\$;
EOF
}

tiny_case()
{
	local stmt=$1
	local expect=$2

	CASE_CLUSTER=local
	CASE_WARM=$(tiny_loop 200 "$stmt" "$expect")
	CASE_BODY=$(tiny_loop "$TINY" "$stmt" "$expect")
	CASE_CHECK=""
	CASE_EXPECT=""
	CASE_OPS=$TINY
}

case_tiny_pgasync_fetchval()
{
	tiny_case "v := pgasync.fetchval('b', 'SELECT \$1::int + 1', i);" "(n + 1)::text"
	CASE_LABEL="pgasync.fetchval(conn, \$1::int + 1)"
	CASE_SETUP="SELECT pgasync.connect('b', :'dsn');"
	CASE_ANCHOR=""
}

case_tiny_pgasync_fetch()
{
	tiny_case "SELECT x INTO v FROM pgasync.fetch('b', 'SELECT \$1::int + 1', i) AS r(x int);" "(n + 1)::text"
	CASE_LABEL="pgasync.fetch(conn, \$1::int + 1)"
	CASE_SETUP="SELECT pgasync.connect('b', :'dsn');"
	CASE_ANCHOR=""
}

case_tiny_dblink()
{
	tiny_case "SELECT x INTO v FROM dblink('c', 'SELECT ' || i || ' + 1') AS r(x int);" "(n + 1)::text"
	CASE_LABEL="dblink('c', 'SELECT ' || i || ' + 1')"
	CASE_SETUP="SELECT dblink_connect('c', :'dsn');"
	CASE_ANCHOR="0.67 s (34 us)"
}

case_tiny_fdw_lookup()
{
	tiny_case "SELECT val INTO v FROM ft WHERE id = i;" "md5(n::text)"
	CASE_LABEL="postgres_fdw: SELECT val FROM ft WHERE id = i"
	CASE_SETUP=""
	CASE_ANCHOR="1.85 s (93 us)"
}

# Group "prepared": point lookups by primary key, $TINY of them from one
# plpgsql loop.  pgasync's statement is prepared once (in the warm-up) and
# then costs one Bind/Execute/Sync round trip per call; dblink sends the id
# concatenated into the query text; postgres_fdw as in tiny_fdw_lookup.
PREPARED_SQL='SELECT val FROM t WHERE id = $1'

case_prepared_pgasync_fetchval()
{
	tiny_case "v := pgasync.fetchval('b', '$PREPARED_SQL', i);" "md5(n::text)"
	CASE_LABEL="pgasync.fetchval(conn, val WHERE id = \$1)"
	CASE_SETUP="SELECT pgasync.connect('b', :'dsn');"
}

case_prepared_pgasync_fetch()
{
	tiny_case "SELECT val INTO v FROM pgasync.fetch('b', '$PREPARED_SQL', i) AS r(val text);" "md5(n::text)"
	CASE_LABEL="pgasync.fetch(conn, val WHERE id = \$1)"
	CASE_SETUP="SELECT pgasync.connect('b', :'dsn');"
}

case_prepared_pgasync_nocache()
{
	case_prepared_pgasync_fetchval
	CASE_LABEL="pgasync.fetchval, statement_cache_size 0"
	CASE_SETUP="SELECT pgasync.connect('b', :'dsn', '{\"statement_cache_size\": 0}');"
}

case_prepared_dblink()
{
	tiny_case "SELECT val INTO v FROM dblink('c', 'SELECT val FROM t WHERE id = ' || i) AS r(val text);" "md5(n::text)"
	CASE_LABEL="dblink('c', '... WHERE id = ' || i)"
	CASE_SETUP="SELECT dblink_connect('c', :'dsn');"
}

case_prepared_fdw_lookup()
{
	tiny_case "SELECT val INTO v FROM ft WHERE id = i;" "md5(n::text)"
	CASE_LABEL="postgres_fdw: SELECT val FROM ft WHERE id = i"
}

# Group "stream": a long result generated on the remote, counted locally.
# Besides the time, the peak RSS of the session's backend (VmHWM of
# /proc/PID/status at the end of the session, set-up and warm-up included)
# shows whether rows stream through (the tuplestore spills to a temporary
# file past work_mem) or pile up in memory.
STREAM_COLS="g int, m text"
HWM_METRIC="SELECT round((regexp_match(pg_read_file('/proc/' || pg_backend_pid() || '/status'), 'VmHWM:\s+(\d+) kB'))[1]::numeric / 1024, 1) AS hwm \\gset bench_
\\echo BENCH_METRIC :bench_hwm"

stream_case()
{
	CASE_CLUSTER=local
	CASE_CHECK='\echo :bench_n'
	CASE_EXPECT=$STREAM_ROWS
	CASE_METRIC=$HWM_METRIC
	CASE_METRIC_LABEL="MB peak RSS (VmHWM) of the session's backend"
}

case_stream_pgasync()
{
	stream_case
	CASE_LABEL="pgasync.fetch(dsn), $STREAM_LABEL generated rows"
	CASE_WARM="SELECT count(*) FROM pgasync.fetch(:'dsn', 'SELECT g, md5(g::text) FROM generate_series(1, 1000) g') AS t($STREAM_COLS);"
	CASE_BODY="SELECT count(*) AS n FROM pgasync.fetch(:'dsn', 'SELECT g, md5(g::text) FROM generate_series(1, $STREAM_ROWS) g') AS t($STREAM_COLS) \\gset bench_"
}

case_stream_dblink()
{
	stream_case
	CASE_LABEL="dblink(dsn), $STREAM_LABEL generated rows"
	CASE_WARM="SELECT count(*) FROM dblink(:'dsn', 'SELECT g, md5(g::text) FROM generate_series(1, 1000) g') AS t($STREAM_COLS);"
	CASE_BODY="SELECT count(*) AS n FROM dblink(:'dsn', 'SELECT g, md5(g::text) FROM generate_series(1, $STREAM_ROWS) g') AS t($STREAM_COLS) \\gset bench_"
	CASE_REMOTE_CPU=no	# a new connection per call: nothing to watch
}

# Fan-out groups: one query on several servers at once.  They need the
# remote clusters f1, f2, f3 beside "remote" (GROUP_FAN; started only when
# one of these groups is selected, see setup_fan); fanout_rows and
# fanout_lookup also need a copy of t on each (GROUP_FAN_T).  No remote
# CPU column: several remote backends serve each case.
FAN_SLEEP=0.3
FAN_LOOKUPS=${BENCH_FAN_LOOKUPS:-2000}
FAN_LOOKUP_ID=4242

# fan_dsn N: connection string of server N (0: remote, 1..3: f1..f3)
fan_dsn()
{
	if [ -z "${FAN_UP:-}" ]; then
		echo "?"
	elif [ "$1" = 0 ]; then
		echo "$DSN"
	else
		echo "host=${SOCK[f$1]} port=${PORT[f$1]} dbname=postgres user=postgres"
	fi
}

# fan_array N...: ARRAY['dsn', ...] of those servers
fan_array()
{
	local i sep="" out="ARRAY["

	for i in "$@"; do
		out="$out$sep'$(fan_dsn "$i")'"
		sep=", "
	done
	echo "$out]"
}

# fan_union FORMAT N...: FORMAT (with %s for the server number) for each
# server, joined with UNION ALL
fan_union()
{
	local fmt=$1 i sep=""

	shift
	for i in "$@"; do
		printf "%s$fmt" "$sep" "$i"
		sep=" UNION ALL "
	done
}

fan_case()
{
	CASE_CLUSTER=local
	CASE_REMOTE_CPU=no
}

# Group "fanout_sleep": each of 3 servers sleeps $FAN_SLEEP s.
fan_sleep_case()
{
	fan_case
	CASE_WARM="$1;"
	CASE_BODY="$1 \\gset bench_"
	CASE_CHECK='\echo :bench_n'
	CASE_EXPECT=3
}

case_fanout_sleep_pgasync()
{
	fan_sleep_case "SELECT count(*) AS n FROM pgasync.fanout($(fan_array 1 2 3), 'SELECT pg_sleep($FAN_SLEEP)') AS t(x text)"
	CASE_LABEL="pgasync.fanout, 3 x pg_sleep($FAN_SLEEP)"
}

case_fanout_sleep_fdw()
{
	fan_sleep_case "SELECT count(s) AS n FROM ($(fan_union 'SELECT s FROM fo_slow%s' 1 2 3)) u"
	CASE_LABEL="postgres_fdw async Append, 3 servers"
	CASE_ANCHOR="0.31 s"
}

case_fanout_sleep_dblink()
{
	fan_sleep_case "SELECT count(s) AS n FROM ($(fan_union "SELECT s FROM dblink('f%s', 'SELECT pg_sleep($FAN_SLEEP)::text') AS r(s text)" 1 2 3)) u"
	CASE_LABEL="dblink, 3 calls in one query (sequential)"
	CASE_SETUP="SELECT dblink_connect('f1', '$(fan_dsn 1)'), dblink_connect('f2', '$(fan_dsn 2)'), dblink_connect('f3', '$(fan_dsn 3)');"
	CASE_ANCHOR="0.91 s"
}

case_fanout_sleep_plproxy()
{
	fan_sleep_case "SELECT count(*) AS n FROM fo_px_sleep()"
	CASE_LABEL="PL/Proxy RUN ON ALL, 3 partitions"
}

case_fanout_sleep_floor()
{
	fan_case
	CASE_LABEL="ref: one pg_sleep($FAN_SLEEP) (the slowest server)"
	CASE_WARM="SELECT pg_sleep(0.01);"
	CASE_BODY="SELECT pg_sleep($FAN_SLEEP);"
}

# Group "fanout_rows": t ($ROWS rows) on each of 3 servers, counted and
# summed locally.  As in group fetch, postgres_fdw pulls only amount
# unless the whole row is referenced (the _all case); WHERE random() >= 0
# keeps the aggregate local.  pgasync's query is "... LIMIT $1": its
# warm-up (LIMIT 1000) prepares the very statement measured (LIMIT $ROWS,
# every row), so the measured run is a statement-cache hit with binary
# results, as any repeated query is.
FAN_ROWS_COLS="id bigint, val text, amount numeric, ts timestamptz"

fan_rows_case()
{
	fan_case
	CASE_WARM="$1 LIMIT 1000;"
	CASE_BODY="$1 \\gset bench_"
	CASE_CHECK=$FETCH_CHECK
	CASE_EXPECT="$((3 * ROWS)) ${FAN_SUM3:-?}"
}

case_fanout_rows_pgasync()
{
	fan_rows_case "SELECT count(*) AS n, sum(amount) AS s FROM pgasync.fanout($(fan_array 1 2 3), 'SELECT id, val, amount, ts FROM t LIMIT \$1', $ROWS) AS t($FAN_ROWS_COLS)"
	CASE_WARM="SELECT count(*) FROM pgasync.fanout($(fan_array 1 2 3), 'SELECT id, val, amount, ts FROM t LIMIT \$1', 1000) AS t($FAN_ROWS_COLS);"
	CASE_LABEL="pgasync.fanout, 3 x $ROWS_LABEL rows"
}

case_fanout_rows_pgasync_amount()
{
	fan_rows_case "SELECT count(*) AS n, sum(amount) AS s FROM pgasync.fanout($(fan_array 1 2 3), 'SELECT amount FROM t LIMIT \$1', $ROWS) AS t(amount numeric)"
	CASE_WARM="SELECT count(*) FROM pgasync.fanout($(fan_array 1 2 3), 'SELECT amount FROM t LIMIT \$1', 1000) AS t(amount numeric);"
	CASE_LABEL="pgasync.fanout, 3 x $ROWS_LABEL, amount only"
}

case_fanout_rows_fdw()
{
	fan_rows_case "SELECT count(*) AS n, sum(amount) AS s FROM ($(fan_union 'SELECT amount FROM fo_t%s WHERE random() >= 0' 1 2 3)) u"
	CASE_WARM="SELECT count(*) FROM (SELECT * FROM ($(fan_union 'SELECT amount FROM fo_t%s WHERE random() >= 0' 1 2 3)) u LIMIT 1000) l;"
	CASE_LABEL="postgres_fdw async Append (pulls amount)"
	CASE_ANCHOR="1.6-1.8 s"
}

case_fanout_rows_fdw_all()
{
	fan_rows_case "SELECT count(u.*) AS n, sum(amount) AS s FROM ($(fan_union 'SELECT * FROM fo_t%s WHERE random() >= 0' 1 2 3)) u"
	CASE_WARM="SELECT count(*) FROM (SELECT * FROM ($(fan_union 'SELECT * FROM fo_t%s WHERE random() >= 0' 1 2 3)) u LIMIT 1000) l;"
	CASE_LABEL="postgres_fdw async Append, all columns"
}

# Group "fanout_lookup": one primary-key lookup on 4 servers (remote, f1,
# f2, f3), each holding the row.  Cold: the only statement of a fresh
# session, connections included (pgasync connects to all 4 at once,
# postgres_fdw one after the other).  Warm: $FAN_LOOKUPS lookups from one
# plpgsql loop after a warm-up.
FAN_LOOKUP_SQL='SELECT val FROM t WHERE id = $1'
FAN_LOOKUP_EXPECT="4:$(printf '%s' "$FAN_LOOKUP_ID" | md5sum | cut -d' ' -f1)"

fan_lookup_cold()
{
	fan_case
	CASE_BODY="SELECT count(*) || ':' || min(val) AS v FROM $1 \\gset bench_"
	CASE_CHECK='\echo :bench_v'
	CASE_EXPECT=$FAN_LOOKUP_EXPECT
}

fan_lookup_warm()
{
	fan_case
	CASE_WARM=$(tiny_loop 100 "SELECT count(*) || ':' || min(val) INTO v FROM $1;" "'4:' || md5(n::text)")
	CASE_BODY=$(tiny_loop "$FAN_LOOKUPS" "SELECT count(*) || ':' || min(val) INTO v FROM $1;" "'4:' || md5(n::text)")
	CASE_OPS=$FAN_LOOKUPS
}

case_fanout_lookup_pgasync_cold()
{
	fan_lookup_cold "pgasync.fanout($(fan_array 0 1 2 3), '$FAN_LOOKUP_SQL', $FAN_LOOKUP_ID) AS r(val text)"
	CASE_LABEL="pgasync.fanout lookup, fresh session"
}

case_fanout_lookup_fdw_cold()
{
	fan_lookup_cold "($(fan_union "SELECT val FROM fo_t%s WHERE id = $FAN_LOOKUP_ID" 0 1 2 3)) u"
	CASE_LABEL="postgres_fdw async lookup, fresh session"
	CASE_ANCHOR="79 ms (1.2 ms RTT)"
}

case_fanout_lookup_pgasync_warm()
{
	fan_lookup_warm "pgasync.fanout($(fan_array 0 1 2 3), '$FAN_LOOKUP_SQL', i) AS r(val text)"
	CASE_LABEL="pgasync.fanout lookup, warm (loop)"
}

case_fanout_lookup_fdw_warm()
{
	fan_lookup_warm "($(fan_union 'SELECT val FROM fo_t%s WHERE id = i' 0 1 2 3)) u"
	CASE_LABEL="postgres_fdw async lookup, warm (loop)"
	CASE_ANCHOR="19 ms (1.2 ms RTT)"
}

# Group "executemany": $MANY rows like t's inserted into the remote's
# table t2, which is truncated (untimed) before each measurement and after
# its warm-up.  pgasync takes its COPY path (a catalog query, then one
# binary COPY); with pgasync.executemany_copy off it sends one
# Bind/Execute per row, all under one Sync; postgres_fdw sends 1000 rows
# per INSERT (ft2 has batch_size 1000);
# asyncpg's executemany pipelines like pgasync, and is timed inside Python
# around the executemany() call alone (bench/executemany_asyncpg.py; the
# rows are built in Python first), whereas the SQL cases' figures include
# generating the rows locally.
many_rows()
{
	echo "SELECT g::bigint, md5(g::text), ((g::bigint * 7919) % 10000000) / 100.0, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' FROM generate_series(1, $1) g"
}
MANY_INSERT='INSERT INTO t2 VALUES ($1, $2, $3, $4)'
MANY_TRUNCATE="SELECT dblink_exec(:'dsn', 'TRUNCATE t2');"

many_case()
{
	CASE_CLUSTER=local
	CASE_SETUP=$MANY_TRUNCATE
	CASE_CHECK="SELECT n AS bench_n, s AS bench_s FROM dblink(:'dsn', 'SELECT count(*), sum(id) FROM t2') AS r(n bigint, s numeric) \\gset
\\echo :bench_n :bench_s"
	CASE_EXPECT="$MANY $((MANY * (MANY + 1) / 2))"
	CASE_OPS=$MANY
}

case_executemany_pgasync()
{
	many_case
	CASE_LABEL="pgasync.executemany(conn), $MANY_LABEL rows"
	CASE_SETUP="SELECT pgasync.connect('b', :'dsn'); $MANY_TRUNCATE"
	CASE_WARM="SELECT pgasync.executemany('b', '$MANY_INSERT', \$q\$$(many_rows 1000)\$q\$); $MANY_TRUNCATE"
	CASE_BODY="SELECT pgasync.executemany('b', '$MANY_INSERT', \$q\$$(many_rows "$MANY")\$q\$);"
}

# The same without the COPY path: one Bind/Execute per row.
case_executemany_pgasync_bind()
{
	case_executemany_pgasync
	CASE_LABEL="pgasync.executemany, executemany_copy off"
	CASE_SETUP="SET pgasync.executemany_copy = off; $CASE_SETUP"
}

case_executemany_fdw()
{
	many_case
	CASE_LABEL="postgres_fdw INSERT, batch_size 1000"
	CASE_WARM="INSERT INTO ft2 $(many_rows 1000); $MANY_TRUNCATE"
	CASE_BODY="INSERT INTO ft2 $(many_rows "$MANY");"
}

case_executemany_asyncpg()
{
	many_case
	CASE_LABEL="asyncpg executemany (timed in Python)"
	CASE_BODY="\\! /usr/bin/python3 $BENCH/executemany_asyncpg.py '$DSN' $MANY"
	CASE_REMOTE_CPU=no	# its connection does not exist yet
}

# The rows read from a local table (lm, the same $MANY rows) instead of
# generated: what is left is the cost of moving them.
case_executemany_pgasync_table()
{
	case_executemany_pgasync
	CASE_LABEL="pgasync.executemany, rows of a local table"
	CASE_WARM="SELECT pgasync.executemany('b', '$MANY_INSERT', 'SELECT * FROM lm LIMIT 1000'); $MANY_TRUNCATE"
	CASE_BODY="SELECT pgasync.executemany('b', '$MANY_INSERT', 'SELECT * FROM lm');"
}

case_executemany_fdw_table()
{
	case_executemany_fdw
	CASE_LABEL="postgres_fdw INSERT, rows of a local table"
	CASE_WARM="INSERT INTO ft2 SELECT * FROM lm LIMIT 1000; $MANY_TRUNCATE"
	CASE_BODY="INSERT INTO ft2 SELECT * FROM lm;"
}

# Group "copy_local": $ROWS rows between a local table and a remote one.
# Local to remote: the local table lt (t's rows) into the remote's t2,
# which is truncated (untimed) before each measurement and after its
# warm-up; pgasync.copy_to_remote sends one binary COPY, postgres_fdw
# INSERTs 1000 rows per statement (ft2 has batch_size 1000).  Remote to
# local: the remote's t into the local table lt2 (truncated likewise);
# pgasync.copy_from_remote feeds a remote binary COPY into the local COPY
# machinery, the others INSERT ... SELECT from dblink() or a foreign table.
COPY_LOCAL_CHECK_REMOTE="SELECT n AS bench_n, s AS bench_s FROM dblink(:'dsn', 'SELECT count(*), sum(amount) FROM t2') AS r(n bigint, s numeric) \\gset
\\echo :bench_n :bench_s"
COPY_LOCAL_CHECK_LOCAL="SELECT count(*) AS bench_n, sum(amount) AS bench_s FROM lt2 \\gset
\\echo :bench_n :bench_s"
COPY_LOCAL_COLS="id bigint, val text, amount numeric(12,2), ts timestamptz"

case_copy_local_to_pgasync()
{
	CASE_LABEL="pgasync.copy_to_remote(conn), $ROWS_LABEL rows"
	CASE_SETUP="SELECT pgasync.connect('b', :'dsn'); $MANY_TRUNCATE"
	CASE_WARM="SELECT pgasync.copy_to_remote('b', 't2', 'SELECT * FROM lt LIMIT 1000'); $MANY_TRUNCATE"
	CASE_BODY="SELECT pgasync.copy_to_remote('b', 't2', 'SELECT * FROM lt');"
	CASE_CHECK=$COPY_LOCAL_CHECK_REMOTE
	CASE_EXPECT="$ROWS $SUM"
}

case_copy_local_to_fdw()
{
	CASE_LABEL="postgres_fdw INSERT SELECT, batch_size 1000"
	CASE_SETUP=$MANY_TRUNCATE
	CASE_WARM="INSERT INTO ft2 SELECT * FROM lt LIMIT 1000; $MANY_TRUNCATE"
	CASE_BODY="INSERT INTO ft2 SELECT * FROM lt;"
	CASE_CHECK=$COPY_LOCAL_CHECK_REMOTE
	CASE_EXPECT="$ROWS $SUM"
	CASE_ANCHOR="5.7-7.3 s (server to server)"
}

# copy_local_from_case STATEMENT: STATEMENT (an INSERT ... SELECT into lt2)
# measured; its warm-up is the same with LIMIT 1000
copy_local_from_case()
{
	CASE_SETUP="TRUNCATE lt2;"
	CASE_WARM="$1 LIMIT 1000; TRUNCATE lt2;"
	CASE_BODY="$1;"
	CASE_CHECK=$COPY_LOCAL_CHECK_LOCAL
	CASE_EXPECT="$ROWS $SUM"
}

case_copy_local_from_pgasync()
{
	CASE_LABEL="pgasync.copy_from_remote(conn), $ROWS_LABEL rows"
	CASE_SETUP="SELECT pgasync.connect('b', :'dsn'); TRUNCATE lt2;"
	CASE_WARM="SELECT pgasync.copy_from_remote('b', 'SELECT * FROM t LIMIT 1000', 'lt2'); TRUNCATE lt2;"
	CASE_BODY="SELECT pgasync.copy_from_remote('b', 't', 'lt2');"
	CASE_CHECK=$COPY_LOCAL_CHECK_LOCAL
	CASE_EXPECT="$ROWS $SUM"
}

# The same through pgasync.fetch() and its streaming scan, on the
# session's cached connection to the remote
case_copy_local_from_fetch()
{
	copy_local_from_case "INSERT INTO lt2 SELECT * FROM pgasync.fetch('b', 'SELECT * FROM t') AS r($COPY_LOCAL_COLS)"
	CASE_SETUP="SELECT pgasync.connect('b', :'dsn'); TRUNCATE lt2;"
	CASE_WARM="INSERT INTO lt2 SELECT * FROM pgasync.fetch('b', 'SELECT * FROM t LIMIT 1000') AS r($COPY_LOCAL_COLS); TRUNCATE lt2;"
	CASE_LABEL="INSERT INTO local SELECT * FROM pgasync.fetch()"
}

case_copy_local_from_dblink()
{
	copy_local_from_case "INSERT INTO lt2 SELECT * FROM dblink(:'dsn', 'SELECT * FROM t') AS r($COPY_LOCAL_COLS)"
	CASE_WARM="INSERT INTO lt2 SELECT * FROM dblink(:'dsn', 'SELECT * FROM t LIMIT 1000') AS r($COPY_LOCAL_COLS); TRUNCATE lt2;"
	CASE_LABEL="INSERT INTO local SELECT * FROM dblink()"
	CASE_REMOTE_CPU=no	# a new connection per call: nothing to watch
}

case_copy_local_from_fdw()
{
	copy_local_from_case "INSERT INTO lt2 SELECT * FROM ft"
	CASE_LABEL="INSERT INTO local SELECT * FROM ft (fetch 100)"
}

case_copy_local_from_fdw_10000()
{
	copy_local_from_case "INSERT INTO lt2 SELECT * FROM ft_fs10k"
	CASE_LABEL="INSERT INTO local SELECT * FROM ft (fetch 10000)"
}

# Group "copy": server to server, t into t2, both on "remote" (as source
# and destination they are different backends, as with two servers).
# The destination table is truncated (untimed) before each measurement
# and after its warm-up.  pgasync.copy relays the source's binary COPY
# into the destination's; the psql pipe does the same through two psql
# processes; pgcopydb copies t into an empty t of a second database,
# copydst (it truncates nothing itself: the set-up does); postgres_fdw
# INSERTs into ft2 (t2, batch_size 1000) what it fetches from ft_fs10k.
# The floor is the destination alone: COPY t2 FROM a binary file of t,
# written once by setup_data.  The copy_* globals are set in setup_data.
COPY_PSQL="?"			# psql on "remote", as postgres
COPY_SRC_URI="?"		# libpq URIs of the source and of copydst
COPY_DST_URI="?"
COPY_DST_DSN="?"		# copydst as a connection string
COPY_CHECK_T2="SELECT n AS bench_n, s AS bench_s FROM dblink(:'dsn', 'SELECT count(*), sum(amount) FROM t2') AS r(n bigint, s numeric) \\gset
\\echo :bench_n :bench_s"
COPY_TRUNCATE="SELECT dblink_exec(:'dsn', 'TRUNCATE t2');"

case_copy_pgasync()
{
	CASE_LABEL="pgasync.copy(dsn, t, dsn, t2), binary"
	CASE_SETUP=$COPY_TRUNCATE
	CASE_WARM="SELECT pgasync.copy(:'dsn', 'SELECT * FROM t LIMIT 1000', :'dsn', 't2'); $COPY_TRUNCATE"
	CASE_BODY="SELECT pgasync.copy(:'dsn', 't', :'dsn', 't2');"
	CASE_CHECK=$COPY_CHECK_T2
	CASE_EXPECT="$ROWS $SUM"
	CASE_REMOTE_CPU=no	# private connections, opened by the call
}

case_copy_pgasync_parallel2()
{
	case_copy_pgasync
	CASE_LABEL="pgasync.copy, parallel 2 (atomic false)"
	CASE_BODY="SELECT pgasync.copy(:'dsn', 't', :'dsn', 't2', '{\"parallel\": 2, \"atomic\": false}');"
}

case_copy_psql_pipe()
{
	CASE_LABEL="psql COPY TO STDOUT binary | psql COPY FROM STDIN"
	CASE_SETUP=$COPY_TRUNCATE
	CASE_BODY="\\! $COPY_PSQL -c 'COPY t TO STDOUT (FORMAT binary)' | $COPY_PSQL -c 'COPY t2 FROM STDIN (FORMAT binary)' >/dev/null"
	CASE_CHECK=$COPY_CHECK_T2
	CASE_EXPECT="$ROWS $SUM"
	CASE_ANCHOR="1.24 s"
	CASE_REMOTE_CPU=no
}

case_copy_pgcopydb()
{
	CASE_LABEL="pgcopydb copy table-data (whole command)"
	CASE_SETUP="SELECT dblink_exec('$COPY_DST_DSN', 'TRUNCATE t');"
	CASE_BODY="\\! pgcopydb copy table-data --source '$COPY_SRC_URI' --target '$COPY_DST_URI' --dir '${SCRATCH:-}/pgcopydb' --filters '${SCRATCH:-}/pgcopydb-filters.ini' --table-jobs 1 --restart >'${SCRATCH:-}/pgcopydb.log' 2>&1"
	CASE_CHECK="SELECT n AS bench_n, s AS bench_s FROM dblink('$COPY_DST_DSN', 'SELECT count(*), sum(amount) FROM t') AS r(n bigint, s numeric) \\gset
\\echo :bench_n :bench_s"
	CASE_EXPECT="$ROWS $SUM"
	CASE_ANCHOR="1.44 s (COPY step)"
	CASE_REMOTE_CPU=no
	CASE_METRIC="\\! sh '${SCRATCH:-}/pgcopydb-metric.sh' '${SCRATCH:-}/pgcopydb.log'"
	CASE_METRIC_LABEL="s of COPY alone, as pgcopydb reports it"
}

case_copy_fdw()
{
	CASE_LABEL="postgres_fdw INSERT INTO ft2 SELECT * FROM ft_fs10k"
	CASE_SETUP=$COPY_TRUNCATE
	CASE_WARM="INSERT INTO ft2 SELECT * FROM ft_fs10k LIMIT 1000; $COPY_TRUNCATE"
	CASE_BODY="INSERT INTO ft2 SELECT * FROM ft_fs10k;"
	CASE_CHECK=$COPY_CHECK_T2
	CASE_EXPECT="$ROWS $SUM"
	CASE_ANCHOR="5.7-7.3 s"
}

case_copy_floor()
{
	CASE_LABEL="floor: destination's COPY t2 FROM binary file"
	CASE_CLUSTER=remote
	CASE_SETUP="TRUNCATE t2;"
	CASE_BODY="COPY t2 FROM '${SCRATCH:-}/t.bin' (FORMAT binary);"
	CASE_CHECK="SELECT count(*) AS bench_n, sum(amount) AS bench_s FROM t2 \\gset
\\echo :bench_n :bench_s"
	CASE_EXPECT="$ROWS $SUM"
	CASE_ANCHOR="0.7-0.9 s"
}

# What no relay can beat on this machine: the source's COPY t TO a file
# (/dev/null) and the destination's COPY t2 FROM a file at once, both
# servers working as in a copy, with nothing between them.  If the pipe is
# already close to it, a target relative to the pipe may lie below it.
case_copy_free_relay()
{
	case_copy_floor
	CASE_LABEL="free relay: source COPY TO /dev/null || destination COPY FROM file"
	CASE_BODY="\\! $COPY_PSQL -c \"COPY t TO '/dev/null' (FORMAT binary)\" & $COPY_PSQL -c \"COPY t2 FROM '${SCRATCH:-}/t.bin' (FORMAT binary)\"; wait"
	CASE_ANCHOR=""
	CASE_REMOTE_CPU=no
}

# load_case CASE: clear the CASE_* variables, then set them from case_CASE
load_case()
{
	CASE_LABEL=$1
	CASE_CLUSTER=local
	CASE_SETUP=""
	CASE_WARM=""
	CASE_BODY=""
	CASE_CHECK=""
	CASE_EXPECT=""
	CASE_OPS=""
	CASE_ANCHOR=""
	CASE_REMOTE_CPU=yes
	CASE_METRIC=""
	CASE_METRIC_LABEL=""
	"case_$1"
}

#-------------------------------------------------------------------------
# Arguments
#-------------------------------------------------------------------------

case_group()
{
	local entry

	for entry in "${CASES[@]}"; do
		if [ "${entry#* }" = "$1" ]; then
			echo "${entry%% *}"
			return 0
		fi
	done
	return 1
}

list_cases()
{
	local entry

	echo "groups: $DEFAULT_GROUPS (default), profile (perf, on request)"
	for entry in "${CASES[@]}"; do
		load_case "${entry#* }"
		printf '  %-8s %-26s %s\n' "${entry%% *}" "${entry#* }" "$CASE_LABEL"
	done
}

SELECTED=()
PROFILE=0
# Case functions need ROWS/SUM only for the check; list works without.
SUM="?"
DSN="?"

select_args()
{
	local arg entry found

	[ $# -eq 0 ] && set -- $DEFAULT_GROUPS
	for arg in "$@"; do
		found=0
		if [ "$arg" = profile ]; then
			PROFILE=1
			continue
		fi
		for entry in "${CASES[@]}"; do
			if [ "${entry%% *}" = "$arg" ] || [ "${entry#* }" = "$arg" ]; then
				case " ${SELECTED[*]-} " in
					*" ${entry#* } "*) ;;
					*) SELECTED+=("${entry#* }") ;;
				esac
				found=1
			fi
		done
		if [ $found = 0 ]; then
			echo "bench/run.sh: unknown group or case \"$arg\"" >&2
			list_cases >&2
			exit 2
		fi
	done
}

if [ "${1:-}" = list ]; then
	list_cases
	exit 0
fi
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
	sed -n '2,/^#---*$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 0
fi
select_args "$@"

if [ "$(id -u)" != 0 ]; then
	echo "bench/run.sh must run as root" >&2
	exit 2
fi

#-------------------------------------------------------------------------
# Packages and build
#-------------------------------------------------------------------------

install_packages()
{
	[ $PROFILE = 1 ] && PACKAGES+=(linux-perf)
	[ "$FAN_N" -gt 0 ] && PACKAGES+=(postgresql-15-plproxy)
	case " ${SELECTED[*]} " in *" copy_pgcopydb "*) PACKAGES+=(pgcopydb) ;; esac
	install_missing "${PACKAGES[@]}"
}

build_extension()
{
	if [ "${BENCH_NO_BUILD:-0}" = 1 ]; then
		echo "BENCH_NO_BUILD=1: using the installed pgasync"
		return 0
	fi
	make -s -C "$REPO" PG_CONFIG="$PG_CONFIG" >"$SCRATCH/build.log" 2>&1 &&
		make -s -C "$REPO" PG_CONFIG="$PG_CONFIG" install >>"$SCRATCH/build.log" 2>&1 || {
		cat "$SCRATCH/build.log"
		return 1
	}
	echo "built and installed pgasync"
}

#-------------------------------------------------------------------------
# Scratch directory and clusters
#-------------------------------------------------------------------------

SCRATCH=$(mktemp -d /tmp/pgasync-bench.XXXXXX)
CLUSTERS_UP=()
CHILD_PIDS=()

cleanup()
{
	local name pid

	for pid in "${CHILD_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	if [ "$KEEP" = 1 ]; then
		echo "BENCH_KEEP=1: clusters left running, scratch directory $SCRATCH"
		for name in "${CLUSTERS_UP[@]}"; do
			echo "  $name: psql -h ${SOCK[$name]} -p ${PORT[$name]} -U postgres postgres"
			echo "  stop: runuser -u postgres -- $PGBIN/pg_ctl -D $SCRATCH/$name/data stop"
		done
		return 0
	fi
	for name in "${CLUSTERS_UP[@]}"; do
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$SCRATCH/$name/data" \
			-m immediate -s stop >/dev/null 2>&1 || true
	done
	CLUSTERS_UP=()
	rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

declare -A PORT SOCK

init_cluster()
{
	local name=$1
	local dir=$SCRATCH/$name
	local data=$dir/data
	local extra

	free_port || return 1
	PORT[$name]=$FREE_PORT
	SOCK[$name]=$dir/sock
	runuser -u postgres -- mkdir -p "$dir" "${SOCK[$name]}" || return 1
	runuser -u postgres -- "$PGBIN/initdb" -D "$data" -U postgres \
		--locale=C --encoding=UTF8 --auth-local=trust --auth-host=reject \
		--no-sync >"$dir/initdb.log" 2>&1 || {
		cat "$dir/initdb.log"
		return 1
	}
	extra=$(echo "${BENCH_CONF:-}" | tr ';' '\n')
	runuser -u postgres -- tee -a "$data/postgresql.conf" >/dev/null <<EOF || return 1

# Added by bench/run.sh -- identical for both clusters except port/socket
port = ${PORT[$name]}
listen_addresses = ''
unix_socket_directories = '${SOCK[$name]}'
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 4GB
checkpoint_timeout = 30min
autovacuum = off
jit = off
max_connections = 50
lc_messages = 'C'
log_line_prefix = '%m [%p] %q%a '
cluster_name = 'pgasync_bench_$name'
$extra
EOF
	if ! runuser -u postgres -- "$PGBIN/pg_ctl" -D "$data" -l "$dir/server.log" \
		-w -t 120 -s start; then
		cat "$dir/server.log"
		return 1
	fi
	CLUSTERS_UP+=("$name")
}

# bench_psql CLUSTER ARGS...: psql as postgres over the Unix socket.
bench_psql()
{
	local name=$1

	shift
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "${SOCK[$name]}" \
		-p "${PORT[$name]}" -U postgres -d postgres -v dsn="$DSN" "$@"
}

setup_clusters()
{
	chmod 0755 "$SCRATCH" && chown postgres: "$SCRATCH" || return 1
	init_cluster local || return 1
	init_cluster remote || return 1
	DSN="host=${SOCK[remote]} port=${PORT[remote]} dbname=postgres user=postgres"
	echo "local:  socket ${SOCK[local]} port ${PORT[local]}"
	echo "remote: socket ${SOCK[remote]} port ${PORT[remote]}"
}

setup_data()
{
	local t0=$SECONDS

	bench_psql remote <<EOF || return 1
CREATE TABLE t (id bigint, val text, amount numeric(12,2), ts timestamptz);
INSERT INTO t
SELECT g, md5(g::text), ((g::bigint * 7919) % 10000000) / 100.0,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
FROM generate_series(1, $ROWS) g;
ALTER TABLE t ADD PRIMARY KEY (id);
VACUUM ANALYZE t;
CREATE TABLE t2 (id bigint, val text, amount numeric(12,2), ts timestamptz);
EOF
	SUM=$(bench_psql remote -At -c "SELECT sum(amount) FROM t") || return 1
	echo "remote: t has $ROWS rows ($(bench_psql remote -At -c \
		"SELECT pg_size_pretty(pg_table_size('t'))")), sum(amount) = $SUM" \
		"($((SECONDS - t0)) s)"

	bench_psql local <<EOF || return 1
CREATE EXTENSION pgasync;
CREATE EXTENSION dblink;
CREATE EXTENSION postgres_fdw;
CREATE SERVER remote FOREIGN DATA WRAPPER postgres_fdw
	OPTIONS (host '${SOCK[remote]}', port '${PORT[remote]}', dbname 'postgres');
CREATE USER MAPPING FOR postgres SERVER remote OPTIONS (user 'postgres');
CREATE FOREIGN TABLE ft (id bigint, val text, amount numeric(12,2), ts timestamptz)
	SERVER remote OPTIONS (table_name 't');
CREATE FOREIGN TABLE ft_fs10k (id bigint, val text, amount numeric(12,2), ts timestamptz)
	SERVER remote OPTIONS (table_name 't', fetch_size '10000');
CREATE FOREIGN TABLE ft2 (id bigint, val text, amount numeric(12,2), ts timestamptz)
	SERVER remote OPTIONS (table_name 't2', batch_size '1000');
EOF
	echo "local: pgasync $(bench_psql local -At -c 'SELECT pgasync.version()'), dblink, postgres_fdw (ft, ft_fs10k)"

	# group executemany: its rows in a local table
	case " ${SELECTED[*]} " in
		*" executemany_"*"_table "*)
			bench_psql local \
				-c "CREATE TABLE lm (id bigint, val text, amount numeric, ts timestamptz)" \
				-c "INSERT INTO lm $(many_rows "$MANY")" -c "VACUUM ANALYZE lm" || return 1
			;;
	esac

	# group copy_local: t's rows in a local table, and an empty one
	case " ${SELECTED[*]} " in
		*" copy_local_"*)
			bench_psql local <<EOF || return 1
CREATE TABLE lt (id bigint, val text, amount numeric(12,2), ts timestamptz);
INSERT INTO lt
SELECT g, md5(g::text), ((g::bigint * 7919) % 10000000) / 100.0,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE lt;
CREATE TABLE lt2 (LIKE lt);
EOF
			echo "local: lt has $ROWS rows, lt2 is empty"
			;;
	esac

	# group copy: psql and URIs for the pipe and pgcopydb, a second
	# database with an empty t for pgcopydb, the binary file for the floor
	COPY_PSQL="$PGBIN/psql -X -q -h ${SOCK[remote]} -p ${PORT[remote]} -U postgres -d postgres"
	COPY_SRC_URI="postgres://postgres@/postgres?host=${SOCK[remote]}&port=${PORT[remote]}"
	COPY_DST_URI="postgres://postgres@/copydst?host=${SOCK[remote]}&port=${PORT[remote]}"
	COPY_DST_DSN="host=${SOCK[remote]} port=${PORT[remote]} dbname=copydst user=postgres"
	case " ${SELECTED[*]} " in
		*" copy_pgcopydb "* | *" copy_floor "* | *" copy_free_relay "*)
			bench_psql remote <<EOF || return 1
CREATE DATABASE copydst;
\\c copydst
CREATE TABLE t (id bigint, val text, amount numeric(12,2), ts timestamptz);
\\c postgres
COPY t TO '$SCRATCH/t.bin' (FORMAT binary);
EOF
			printf '[include-only-table]\npublic.t\n' >"$SCRATCH/pgcopydb-filters.ini"
			# the "COPY (cumulative)" duration of pgcopydb's summary, in s
			cat >"$SCRATCH/pgcopydb-metric.sh" <<'EOF'
awk '/COPY \(cumulative\)/ {
	v = $(NF - 1)
	if (v ~ /ms$/) { sub(/ms$/, "", v); v = v / 1000 }
	else { split(v, a, "s"); v = a[1] + a[2] / 1000 }
	print "BENCH_METRIC " v
}' "$1"
EOF
			echo "remote: database copydst with an empty t, t in $SCRATCH/t.bin"
			;;
	esac
}

# Remote clusters besides "remote" that a group needs (f1, f2, ...), and
# whether they need a copy of t: a per-group requirement, so that other
# groups run on "local" and "remote" alone.
declare -A GROUP_FAN=([fanout_sleep]=3 [fanout_rows]=3 [fanout_lookup]=3)
declare -A GROUP_FAN_T=([fanout_rows]=1 [fanout_lookup]=1)
FAN_N=0
FAN_T=0
FAN_UP=""

# fan_requirements: FAN_N and FAN_T for the selected (and profiled) cases
fan_requirements()
{
	local c g

	for c in "${SELECTED[@]}" $([ $PROFILE = 1 ] && echo "${PROFILE_CASES[@]}"); do
		g=$(case_group "$c") || continue
		if [ "${GROUP_FAN[$g]:-0}" -gt "$FAN_N" ]; then
			FAN_N=${GROUP_FAN[$g]}
		fi
		if [ "${GROUP_FAN_T[$g]:-0}" = 1 ]; then
			FAN_T=1
		fi
	done
}

# setup_fan: start f1..f$FAN_N with what the fan-out groups query there,
# and the local objects that reach them (postgres_fdw servers with
# async_capable, foreign tables, a PL/Proxy cluster, dblink is already
# there).  t is copied from "remote" with binary COPY, all at once.
setup_fan()
{
	local i t0=$SECONDS pids=() p px_parts=""

	[ "$FAN_N" -gt 0 ] || return 0
	for i in $(seq 1 "$FAN_N"); do
		init_cluster "f$i" || return 1
		echo "f$i:     socket ${SOCK[f$i]} port ${PORT[f$i]}"
	done
	FAN_UP=1
	for i in $(seq 1 "$FAN_N"); do
		bench_psql "f$i" <<EOF2 || return 1
CREATE VIEW slow AS SELECT pg_sleep($FAN_SLEEP)::text AS s;
CREATE FUNCTION fo_px_sleep() RETURNS SETOF text LANGUAGE sql
	AS \$\$SELECT pg_sleep($FAN_SLEEP)::text\$\$;
CREATE TABLE t (id bigint, val text, amount numeric(12,2), ts timestamptz);
EOF2
		if [ "$FAN_T" = 1 ]; then
			(bench_psql remote -c "COPY t TO STDOUT (FORMAT binary)" |
				bench_psql "f$i" -c "COPY t FROM STDIN (FORMAT binary)" &&
				bench_psql "f$i" -c "ALTER TABLE t ADD PRIMARY KEY (id)" \
					-c "VACUUM ANALYZE t") &
			pids+=($!)
		fi
	done
	for p in "${pids[@]}"; do
		wait "$p" || return 1
	done
	FAN_SUM3=$(bench_psql remote -At -c "SELECT 3 * sum(amount) FROM t") || return 1

	{
		echo "CREATE EXTENSION plproxy;"
		for i in $(seq 0 "$FAN_N"); do
			if [ "$i" = 0 ]; then p=remote; else p=f$i; fi
			cat <<EOF2
CREATE SERVER fs$i FOREIGN DATA WRAPPER postgres_fdw
	OPTIONS (host '${SOCK[$p]}', port '${PORT[$p]}', dbname 'postgres', async_capable 'true');
CREATE USER MAPPING FOR postgres SERVER fs$i OPTIONS (user 'postgres');
CREATE FOREIGN TABLE fo_t$i (id bigint, val text, amount numeric(12,2), ts timestamptz)
	SERVER fs$i OPTIONS (table_name 't');
EOF2
			if [ "$i" != 0 ]; then
				echo "CREATE FOREIGN TABLE fo_slow$i (s text) SERVER fs$i OPTIONS (table_name 'slow');"
				px_parts="$px_parts, p$((i - 1)) '$(fan_dsn "$i")'"
			fi
		done
		# modular_mapping: any number of partitions, not only powers of 2
		cat <<EOF2
CREATE SERVER fo_px FOREIGN DATA WRAPPER plproxy OPTIONS (modular_mapping '1'$px_parts);
CREATE USER MAPPING FOR postgres SERVER fo_px;
CREATE FUNCTION fo_px_sleep() RETURNS SETOF text LANGUAGE plproxy
	AS \$\$CLUSTER 'fo_px'; RUN ON ALL;\$\$;
EOF2
	} | bench_psql local || return 1
	echo "f1..f$FAN_N: view slow, fo_px_sleep()$([ "$FAN_T" = 1 ] && echo ", a copy of t");" \
		"local: postgres_fdw servers fs0..fs$FAN_N (async_capable), PL/Proxy cluster fo_px" \
		"($((SECONDS - t0)) s)"
}

#-------------------------------------------------------------------------
# Measuring
#-------------------------------------------------------------------------

declare -A TIMES ERR CPU_L CPU_R RUNQ
declare -A METRIC

# settle_command: a shell command that checkpoints both clusters and then
# flushes the OS's dirty pages, so no earlier write lands in the timing
settle_command()
{
	local name
	local cmd=""

	for name in local remote; do
		cmd+="$PGBIN/psql -X -q -h ${SOCK[$name]} -p ${PORT[$name]} -U postgres -d postgres -c CHECKPOINT; "
	done
	echo "${cmd}sync"
}

# case_script CASE CPU: the psql script of one measurement, on stdout.
# Just before and after the measured statement it writes the scheduler
# statistics (/proc/PID/schedstat: ns on a CPU, ns waiting for one) of its
# backend and of the remote backend serving it to CPU.0 and CPU.1.  The
# remote backend is found through dblink: the newest other client of the
# remote, which serves nothing but this benchmark.
case_script()
{
	local cpu=$2
	local rpid_sql='\set bench_rpid 0'

	load_case "$1"
	if [ "$CASE_CLUSTER" = local ] && [ "$CASE_REMOTE_CPU" = yes ]; then
		rpid_sql="SELECT coalesce((SELECT pid FROM dblink(:'dsn', 'SELECT pid FROM pg_stat_activity WHERE backend_type = ''client backend'' AND pid <> pg_backend_pid() ORDER BY backend_start DESC LIMIT 1') AS r(pid int)), 0) AS bench_rpid \\gset"
	fi
	cat <<EOF
\\set ON_ERROR_STOP 1
\\o /dev/null
SET statement_timeout = '${CASE_TIMEOUT}s';
$CASE_SETUP
$CASE_WARM
SELECT pg_backend_pid() AS bench_pid \\gset
$rpid_sql
\\setenv BENCH_PID :bench_pid
\\setenv BENCH_RPID :bench_rpid
\\! $(settle_command)
${BENCH_HOOK_BEFORE:-}
\\! (cat /proc/\$BENCH_PID/schedstat; cat /proc/\$BENCH_RPID/schedstat 2>/dev/null || echo - - -) >$cpu.0
SELECT clock_timestamp() AS bench_t0 \\gset
$CASE_BODY
SELECT extract(epoch FROM clock_timestamp() - :'bench_t0'::timestamptz) AS bench_el \\gset
\\! (cat /proc/\$BENCH_PID/schedstat; cat /proc/\$BENCH_RPID/schedstat 2>/dev/null || echo - - -) >$cpu.1
${BENCH_HOOK_AFTER:-}
\\echo BENCH_TIME :bench_el
$CASE_METRIC
EOF
	if [ -n "$CASE_CHECK" ]; then
		echo "\\echo -n 'BENCH_CHECK '"
		echo "$CASE_CHECK"
	fi
}

# cpu_deltas PREFIX: "session_cpu remote_cpu session_runqueue_wait" in
# seconds, from PREFIX.0 and PREFIX.1 ("-" where unknown)
cpu_deltas()
{
	paste -d ' ' "$1.0" "$1.1" 2>/dev/null | awk '
		function d(row, col,   a, b) {
			a = f[row, col]; b = f[row, col + 3];
			if (a == "" || a == "-" || b == "" || b == "-") printf "- ";
			else printf "%.4f ", (b - a) / 1e9
		}
		{ for (i = 1; i <= 6; i++) f[NR, i] = $i }
		END { d(1, 1); d(2, 1); d(1, 2); printf "\n" }'
}

# measure CASE ROUND: one measurement; appends to TIMES or sets ERR.
measure()
{
	local c=$1
	local round=$2
	local log=$SCRATCH/log/$c.$round
	local st=0 secs check cl cr cw

	mkdir -p "$SCRATCH/log"
	case_script "$c" "$log.cpu" >"$log.sql"
	timeout -k 5 "$((CASE_TIMEOUT + 30))" "$PGBIN/psql" -X -q \
		-h "${SOCK[$CASE_CLUSTER]}" -p "${PORT[$CASE_CLUSTER]}" -U postgres \
		-d postgres -v dsn="$DSN" -f "$log.sql" </dev/null >"$log.out" 2>&1 || st=$?
	secs=$(sed -n 's/^BENCH_TIME //p' "$log.out")
	# a case timed by its own client (asyncpg) reports its figure itself
	if grep -q '^BENCH_INNER_TIME ' "$log.out"; then
		secs=$(sed -n 's/^BENCH_INNER_TIME //p' "$log.out")
	fi
	if [ $st != 0 ] || [ -z "$secs" ]; then
		ERR[$c]="psql exit $st: $(grep -v '^BENCH_' "$log.out" | head -3 | tr '\n' ' ')"
		return 1
	fi
	if [ -n "$CASE_EXPECT" ]; then
		check=$(sed -n 's/^BENCH_CHECK //p' "$log.out")
		if [ "$check" != "$CASE_EXPECT" ]; then
			ERR[$c]="wrong result: got \"$check\", expected \"$CASE_EXPECT\""
			return 1
		fi
	fi
	TIMES[$c]="${TIMES[$c]:-} $secs"
	METRIC[$c]="${METRIC[$c]:-} $(sed -n 's/^BENCH_METRIC //p' "$log.out")"
	read -r cl cr cw <<<"$(cpu_deltas "$log.cpu")"
	CPU_L[$c]="${CPU_L[$c]:-} ${cl:--}"
	CPU_R[$c]="${CPU_R[$c]:-} ${cr:--}"
	RUNQ[$c]="${RUNQ[$c]:-} ${cw:--}"
	return 0
}

run_rounds()
{
	local n=${#SELECTED[@]}
	local round k idx c

	for round in $(seq 1 "$REPS"); do
		printf 'round %d/%d:' "$round" "$REPS"
		for k in $(seq 0 $((n - 1))); do
			idx=$(((k + round - 1) % n))
			c=${SELECTED[$idx]}
			[ -n "${ERR[$c]:-}" ] && continue
			if measure "$c" "$round"; then
				printf ' %s %.3f' "$c" "$(echo "${TIMES[$c]}" | awk '{print $NF}')"
			else
				printf ' %s ERROR' "$c"
			fi
		done
		echo
	done
}

# stats CASE: "median best worst" of the case's times
# stats LIST: "median best worst" of the numbers in LIST ("-" ignored;
# nothing when there are none)
stats()
{
	echo "${1:-}" | tr ' ' '\n' | grep -v '^-*$' | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) exit;
			med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
			printf "%.4f %.4f %.4f\n", med, v[1], v[NR]
		}'
}

median()
{
	local m

	m=$(stats "$1" | cut -d' ' -f1)
	echo "${m:--}"
}

#-------------------------------------------------------------------------
# Profiling (group "profile"): perf record on the session's backend and on
# the remote backend serving it during one measurement of each case in
# BENCH_PROFILE_CASES (default: pgasync's full fetch and fetchval loop).
#-------------------------------------------------------------------------

read -r -a PROFILE_CASES <<<"${BENCH_PROFILE_CASES:-fetch_pgasync tiny_pgasync_fetchval}"

perf_top()
{
	local data=$1
	local limit=$2
	shift 2

	perf report -i "$data" --stdio -g none --percent-limit "$limit" "$@" \
		2>/dev/null | grep -v '^#' | grep . | sed 's/[ -]*$//'
}

profile_case()
{
	local c=$1
	local dir=$SCRATCH/profile/$c
	local out=$RESULTS_DIR/profile-$c.txt
	local psql_pid lpid rpid perf_l perf_r secs cl cr cw

	mkdir -p "$dir"
	# After the warm-up the session writes its pids and waits for perf to
	# attach; after the measurement it waits again until perf has stopped.
	BENCH_HOOK_BEFORE="\\o $dir/pids
SELECT :bench_pid, :bench_rpid;
\\o /dev/null
\\! while [ ! -e $dir/ready ]; do sleep 0.05; done"
	BENCH_HOOK_AFTER="\\o $dir/measured
SELECT 1;
\\o /dev/null
\\! while [ ! -e $dir/release ]; do sleep 0.05; done"
	case_script "$c" "$dir/cpu" >"$dir/script.sql"
	unset BENCH_HOOK_BEFORE BENCH_HOOK_AFTER
	"$PGBIN/psql" -X -q -A -t -F ' ' -h "${SOCK[$CASE_CLUSTER]}" \
		-p "${PORT[$CASE_CLUSTER]}" -U postgres -d postgres -v dsn="$DSN" \
		-f "$dir/script.sql" </dev/null >"$dir/out" 2>&1 &
	psql_pid=$!
	CHILD_PIDS+=("$psql_pid")
	while [ ! -s "$dir/pids" ] && kill -0 "$psql_pid" 2>/dev/null; do
		sleep 0.05
	done
	if [ ! -s "$dir/pids" ]; then
		echo "profile $c: the session ended early:"
		cat "$dir/out"
		return 1
	fi
	read -r lpid rpid <"$dir/pids"
	perf record -q -g -F 1999 -p "$lpid" -o "$dir/local.data" >"$dir/perf-l.log" 2>&1 &
	perf_l=$!
	perf_r=""
	if [ "${rpid:-0}" != 0 ]; then
		perf record -q -g -F 1999 -p "$rpid" -o "$dir/remote.data" >"$dir/perf-r.log" 2>&1 &
		perf_r=$!
	fi
	CHILD_PIDS+=("$perf_l" $perf_r)
	sleep 1
	touch "$dir/ready"
	while [ ! -s "$dir/measured" ] && kill -0 "$psql_pid" 2>/dev/null; do
		sleep 0.02
	done
	kill -INT "$perf_l" $perf_r 2>/dev/null
	wait "$perf_l" $perf_r 2>/dev/null
	touch "$dir/release"
	wait "$psql_pid" || { cat "$dir/out"; return 1; }
	secs=$(sed -n 's/^BENCH_TIME //p' "$dir/out")
	read -r cl cr cw <<<"$(cpu_deltas "$dir/cpu")"
	{
		echo "profile of $c ($CASE_LABEL)"
		echo "wall ${secs:-?} s under perf; CPU: session backend $cl s," \
			"remote backend $cr s; session backend waited $cw s for a CPU"
		echo
		echo "--- session backend (pid $lpid), self time by symbol"
		perf_top "$dir/local.data" 0.7 --no-children --sort dso,symbol
		echo
		echo "--- session backend, inclusive time (frame-pointer call chains: approximate)"
		perf_top "$dir/local.data" 4 --children --sort symbol | head -40
		if [ -n "$perf_r" ]; then
			echo
			echo "--- remote backend (pid $rpid), self time by symbol"
			perf_top "$dir/remote.data" 1.5 --no-children --sort dso,symbol
		fi
	} >"$out"
	cat "$out"
}

#-------------------------------------------------------------------------
# Report
#-------------------------------------------------------------------------

report()
{
	local c med best worst per label anchor line num den limit desc ratio verdict
	local cl cr cw f

	echo "pgasync benchmark -- $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')" \
		"$(git -C "$REPO" status --porcelain -- src 2>/dev/null | grep -q . && echo '(src/ has uncommitted changes)')"
	echo "$(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end;" \
		"PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}'); t: $ROWS rows; tiny loops: $TINY"
	echo "wall: median of $REPS rounds (one psql session each: set-up and warm-up untimed," \
		"then clock_timestamp() around the statement), best and worst beside it"
	echo "cpu sess / cpu rem: CPU seconds (median) of the session's backend and of the remote" \
		"backend serving it; runq: time the session's backend waited for a CPU"
	echo
	f='%-8s %-45s %7s %7s %7s %8s %8s %8s %6s  %s\n'
	printf "$f" group case wall best worst "per op" "cpu sess" "cpu rem" runq "anchors.md"
	printf "$f" ----- ---- ---- ---- ----- ------ -------- ------- ---- ----------
	for c in "${SELECTED[@]}"; do
		load_case "$c"
		label=$CASE_LABEL
		anchor=${CASE_ANCHOR:-}
		if [ -n "${ERR[$c]:-}" ]; then
			printf '%-8s %-45s %7s  %s\n' "$(case_group "$c")" "$label" ERROR "${ERR[$c]}"
			continue
		fi
		read -r med best worst <<<"$(stats "${TIMES[$c]:-}")"
		per="-"
		if [ -n "$CASE_OPS" ]; then
			per=$(awk -v t="$med" -v n="$CASE_OPS" 'BEGIN{printf "%.1fus", t / n * 1e6}')
		fi
		cl=$(median "${CPU_L[$c]:-}")
		cr=$(median "${CPU_R[$c]:-}")
		cw=$(median "${RUNQ[$c]:-}")
		printf "$f" "$(case_group "$c")" "$label" "$(fmt3 "$med")" "$(fmt3 "$best")" \
			"$(fmt3 "$worst")" "$per" "$(fmt3 "$cl")" "$(fmt3 "$cr")" "$(fmt3 "$cw")" "$anchor"
	done

	echo
	printf '%-62s %8s %8s  %s\n' "ratio of median wall times" measured target verdict
	printf '%-62s %8s %8s  %s\n' -------------------------- -------- ------ -------
	for line in "${TARGETS[@]}"; do
		read -r num den limit desc <<<"$line"
		[ -n "${TIMES[$num]:-}" ] && [ -n "${TIMES[$den]:-}" ] || continue
		[ -z "${ERR[$num]:-}" ] && [ -z "${ERR[$den]:-}" ] || continue
		ratio=$(awk -v a="$(median "${TIMES[$num]}")" -v b="$(median "${TIMES[$den]}")" \
			'BEGIN{printf "%.2f", a / b}')
		if [ "$limit" = - ]; then
			verdict="(info)"
		elif awk -v r="$ratio" -v l="$limit" 'BEGIN{exit !(r <= l)}'; then
			verdict="met"
			limit="<= ${limit}x"
		else
			verdict="NOT MET"
			limit="<= ${limit}x"
		fi
		printf '%-62s %7sx %8s  %s\n' "$desc" "$ratio" "$limit" "$verdict"
	done

	# figures other than time (CASE_METRIC): median, lowest, highest
	local printed=0
	for c in "${SELECTED[@]}"; do
		[ -n "${METRIC[$c]:-}" ] && [ -n "${METRIC[$c]// /}" ] &&
			[ -z "${ERR[$c]:-}" ] || continue
		load_case "$c"
		if [ $printed = 0 ]; then
			echo
			printf '%-45s %8s %8s %8s  %s\n' "other figures (median of rounds)" median lowest highest ""
			printf '%-45s %8s %8s %8s  %s\n' -------------------------------- ------ ------ ------- ""
			printed=1
		fi
		read -r med best worst <<<"$(stats "${METRIC[$c]}")"
		printf '%-45s %8.1f %8.1f %8.1f  %s\n' "$CASE_LABEL" "$med" "$best" "$worst" "$CASE_METRIC_LABEL"
	done
}

fmt3()
{
	case $1 in
		- | "") echo - ;;
		*) printf '%.3f' "$1" ;;
	esac
}

#-------------------------------------------------------------------------
# Main
#-------------------------------------------------------------------------

fan_requirements
banner "packages"
install_packages || die "could not install packages"
banner "build and install"
build_extension || die "build failed"
banner "clusters and data"
setup_clusters || die "could not start the clusters"
setup_data || die "could not set up the data"
setup_fan || die "could not set up the fan-out clusters"

STATUS=0
if [ ${#SELECTED[@]} -gt 0 ]; then
	banner "measuring: ${SELECTED[*]}"
	run_rounds
	mkdir -p "$RESULTS_DIR"
	banner "results"
	report | tee "$RESULTS_DIR/latest.txt"
	cp "$RESULTS_DIR/latest.txt" "$RESULTS_DIR/run-$(date -u +%Y%m%d-%H%M%S).txt"
	for c in "${SELECTED[@]}"; do
		if [ -n "${ERR[$c]:-}" ]; then
			STATUS=1
			echo "--- $c failed; its last session's output:"
			cat "$(ls -t "$SCRATCH"/log/"$c".*.out | head -1)"
		fi
	done
fi

if [ $PROFILE = 1 ]; then
	mkdir -p "$RESULTS_DIR"
	command -v perf >/dev/null || die "perf is not installed (apt-get install linux-perf)"
	for c in "${PROFILE_CASES[@]}"; do
		banner "profile: $c"
		profile_case "$c" || STATUS=1
	done
fi

echo
echo "total $((SECONDS - START_TIME)) s; results in ${RESULTS_DIR#"$REPO"/}/latest.txt"
exit $STATUS
