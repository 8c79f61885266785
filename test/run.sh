#!/usr/bin/env bash
#-------------------------------------------------------------------------
#
# run.sh
#	  Set up and run pgasync's demo or its whole test suite on a Debian 12
#	  machine, as root.
#
# Usage:
#	bash test/run.sh demo		install, build, start two clusters, run
#								test/demo.sql against the "local" one
#	bash test/run.sh test		the same set-up, then every suite; ends
#								with the line "N passed, M failed"
#
# Both modes install whatever Debian packages are missing (apt-get update
# runs only then), build and install the extension system-wide (make &&
# make install), write test certificates with test/certs/make-certs.sh and
# start two throwaway clusters as the postgres OS user, in a scratch
# directory under /tmp, on free ports:
#	"local"		the extension's home (the regression tests run here)
#	"remote"	the server the extension talks to
# Each listens on a Unix socket in the scratch directory (trust) and on
# 127.0.0.1 with TLS (server.crt, CN/SAN localhost and 127.0.0.1) and
# scram-sha-256 for the superuser "postgres" (password $PGASYNC_PASSWORD).
# The local cluster's postgresql.conf carries placeholder settings the
# regression tests read with current_setting():
#	pgasync_test.dsn		this server over its Unix socket, database
#							contrib_regression (trust, no password)
#	pgasync_test.tls_dsn	this server over TCP+TLS (verify-full, SCRAM)
#	pgasync_test.remote_dsn the remote cluster over TCP+TLS (verify-full,
#							SCRAM), database postgres
#	pgasync_test.port, pgasync_test.remote_port, pgasync_test.certs
# Settings in test/cluster.conf, when that file exists, are appended to
# both clusters' postgresql.conf (e.g. shared_preload_libraries).
#
# Demo mode: test/demo-remote.sql, when present, runs first on the remote
# cluster; then test/demo.sql runs on the local cluster with psql
# variables remote_dsn, remote_host, remote_port, remote_password,
# local_dsn and certs.  The clusters are stopped and the scratch directory
# removed at the end, unless PGASYNC_KEEP=1: then both are left running
# and a note says how to reach and stop them.
#
# Test mode suites, in order; each prints its output as it runs:
#	build		make && make install (one test)
#	clusters	the two clusters start (one test)
#	purity		make check-core-purity (one test)
#	unit		test/unit/test_*.c under ASan/UBSan, run by prove (every
#				TAP assertion; a program that crashes or breaks its plan
#				counts one more failure)
#	fuzz		make -C test/fuzz run FUZZ_SECONDS=${FUZZ_SECONDS:-60}
#				(one test; its work directory goes to the scratch
#				directory, not the tree)
#	regress		pg_regress over the Makefile's REGRESS list against the
#				local cluster (every test)
#	tap			prove over test/t/*.pl as postgres, one TESTDIR each
#				(every TAP assertion)
#	bench		the smoke client run repeatedly by hyperfine against the
#				remote cluster over TLS; no timing assertion (one test)
# A suite that cannot start (build failure, missing file) counts as
# failed.  The last line is "N passed, M failed"; the exit status is 0
# only when M is 0.
#
# Environment: FUZZ_SECONDS (default 60), PGASYNC_KEEP=1 (keep the
# scratch directory; in demo mode also the running clusters),
# PGASYNC_PASSWORD (default pgasync-test-pw).
#
#-------------------------------------------------------------------------

set -euo pipefail

MODE=${1:-}
case $MODE in
	demo | test) ;;
	*)
		echo "usage: bash test/run.sh demo|test" >&2
		exit 2
		;;
esac

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# install_missing, free_port
. "$REPO/test/common.sh"
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PG_CONFIG=$PGBIN/pg_config
PGXS_DIR=$(dirname "$PGBIN")/lib/pgxs
PG_REGRESS=$PGXS_DIR/src/test/regress/pg_regress
PERL_TESTLIB=$PGXS_DIR/src/test/perl
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
PASSWORD=${PGASYNC_PASSWORD:-pgasync-test-pw}
KEEP=${PGASYNC_KEEP:-0}
START_TIME=$SECONDS

PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-contrib
	libssl-dev clang libclang-rt-14-dev libipc-run-perl pgbouncer
	postgresql-15-plproxy pgcopydb python3-asyncpg hyperfine make gcc
	openssl perl)

if [ "$(id -u)" != 0 ]; then
	echo "test/run.sh must run as root" >&2
	exit 2
fi

export LC_ALL=C.UTF-8 LANG=C.UTF-8
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS \
	PGSSLMODE PGHOSTADDR PGPASSFILE || true

banner()
{
	echo
	echo "======================================================================"
	echo "== $*"
	echo "======================================================================"
}

die()
{
	echo "run.sh: $*" >&2
	exit 1
}

#
# Results: one row per suite
#
SUITE_NAMES=()
SUITE_PASS=()
SUITE_FAIL=()
SUITE_SECS=()
SUITE_NOTE=()

record()
{
	SUITE_NAMES+=("$1")
	SUITE_PASS+=("$2")
	SUITE_FAIL+=("$3")
	SUITE_SECS+=("$4")
	SUITE_NOTE+=("${5:-}")
}

# Run a command, showing its output and keeping a copy in a log file;
# returns the command's status.
run_logged()
{
	local log=$1
	local st=0

	shift
	"$@" 2>&1 | tee "$log" || st=$?
	return $st
}

# Count TAP results in prove -v output.  Prints "PASSED FAILED".  Subtest
# lines (indented) are not counted; "not ok ... # TODO" passes.  A file
# that prove lists as failed without a failed assertion (crash, bad plan,
# non-zero exit) counts one failure; so does a failed run with none.
count_tap()
{
	local log=$1
	local status=$2

	awk -v status="$status" '
		/^ok [0-9]+/ || /\.\. ok [0-9]+/ { pass++; next }
		/^not ok [0-9]+/ || /\.\. not ok [0-9]+/ {
			if ($0 ~ /# *TODO/) pass++; else fail++;
			next
		}
		/\(Wstat: .*Tests: [0-9]+ Failed: 0\)/ { extra++; next }
		END {
			fail += extra;
			if (status != 0 && fail == 0) fail = 1;
			printf "%d %d\n", pass, fail
		}' "$log"
}

#
# Packages
#
install_packages()
{
	install_missing "${PACKAGES[@]}"
}

#
# Scratch directory and clusters
#
SCRATCH=$(mktemp -d /tmp/pgasync-run.XXXXXX)
CERTS=$SCRATCH/certs
CLUSTERS_UP=()

cleanup()
{
	local name

	if [ "$MODE" = demo ] && [ "$KEEP" = 1 ]; then
		return 0
	fi
	for name in "${CLUSTERS_UP[@]}"; do
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$SCRATCH/$name/data" \
			-m immediate -s stop >/dev/null 2>&1 || true
	done
	CLUSTERS_UP=()
	if [ "$KEEP" != 1 ]; then
		rm -rf "$SCRATCH"
	fi
}
trap cleanup EXIT

declare -A PORT SOCK

# init_cluster NAME: initdb, configure and start a cluster as postgres.
init_cluster()
{
	local name=$1
	local dir=$SCRATCH/$name
	local data=$dir/data

	free_port || return 1
	PORT[$name]=$FREE_PORT
	SOCK[$name]=$dir/sock
	runuser -u postgres -- mkdir -p "$dir" "${SOCK[$name]}" || return 1
	runuser -u postgres -- "$PGBIN/initdb" -D "$data" -U postgres \
		--locale=C --encoding=UTF8 --auth-local=trust \
		--auth-host=scram-sha-256 --no-sync >"$dir/initdb.log" 2>&1 || {
		cat "$dir/initdb.log"
		return 1
	}

	runuser -u postgres -- tee -a "$data/postgresql.conf" >/dev/null <<EOF || return 1

# Added by test/run.sh
port = ${PORT[$name]}
listen_addresses = '127.0.0.1'
unix_socket_directories = '${SOCK[$name]}'
ssl = on
ssl_cert_file = '$CERTS/server.crt'
ssl_key_file = '$CERTS/server.key'
ssl_ca_file = '$CERTS/root.crt'
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
lc_messages = 'C'
log_line_prefix = '%m [%p] %q%a '
cluster_name = 'pgasync_$name'
EOF
	if [ -f "$REPO/test/cluster.conf" ]; then
		{
			echo "# From test/cluster.conf"
			cat "$REPO/test/cluster.conf"
		} | runuser -u postgres -- tee -a "$data/postgresql.conf" >/dev/null ||
			return 1
	fi
	runuser -u postgres -- tee "$data/pg_hba.conf" >/dev/null <<EOF || return 1
# TYPE	DATABASE	USER	ADDRESS			METHOD
local	all		all				trust
host	all		all	127.0.0.1/32		scram-sha-256
EOF
	if ! runuser -u postgres -- "$PGBIN/pg_ctl" -D "$data" -l "$dir/server.log" \
		-w -t 120 -s start; then
		cat "$dir/server.log"
		return 1
	fi
	CLUSTERS_UP+=("$name")
	run_psql "$name" postgres -c "ALTER ROLE postgres PASSWORD '$PASSWORD'" \
		>/dev/null || return 1
}

# run_psql CLUSTER DBNAME ARGS...: psql as postgres over the Unix socket.
run_psql()
{
	local name=$1
	local db=$2

	shift 2
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "${SOCK[$name]}" \
		-p "${PORT[$name]}" -U postgres -d "$db" "$@" </dev/null
}

tls_dsn()
{
	local name=$1
	local db=$2

	echo "host=127.0.0.1 port=${PORT[$name]} dbname=$db user=postgres password=$PASSWORD sslmode=verify-full sslrootcert=$CERTS/root.crt"
}

# Give the local cluster the settings the regression tests read.
set_test_gucs()
{
	runuser -u postgres -- tee -a "$SCRATCH/local/data/postgresql.conf" >/dev/null <<EOF || return 1
# Read by the regression tests with current_setting()
pgasync_test.dsn = 'host=${SOCK[local]} port=${PORT[local]} dbname=contrib_regression user=postgres'
pgasync_test.tls_dsn = '$(tls_dsn local contrib_regression)'
pgasync_test.remote_dsn = '$(tls_dsn remote postgres)'
pgasync_test.port = '${PORT[local]}'
pgasync_test.remote_port = '${PORT[remote]}'
pgasync_test.certs = '$CERTS'
EOF
	run_psql local postgres -c 'SELECT pg_reload_conf()' >/dev/null
}

setup_clusters()
{
	chmod 0755 "$SCRATCH" || return 1
	chown postgres: "$SCRATCH" || return 1
	if [ ! -f "$REPO/test/certs/make-certs.sh" ]; then
		echo "test/certs/make-certs.sh is missing"
		return 1
	fi
	sh "$REPO/test/certs/make-certs.sh" "$CERTS" postgres || return 1
	init_cluster local || return 1
	init_cluster remote || return 1
	set_test_gucs || return 1
	echo "local:  socket ${SOCK[local]} port ${PORT[local]}"
	echo "remote: socket ${SOCK[remote]} port ${PORT[remote]}"
}

build_extension()
{
	make -C "$REPO" PG_CONFIG="$PG_CONFIG" &&
		make -C "$REPO" PG_CONFIG="$PG_CONFIG" install
}

#
# Demo mode
#
run_demo()
{
	banner "packages"
	install_packages
	banner "build and install"
	build_extension || die "build failed"
	banner "clusters"
	setup_clusters || die "could not start the clusters"

	if [ -f "$REPO/test/demo-remote.sql" ]; then
		banner "test/demo-remote.sql on the remote cluster"
		run_psql remote postgres -e -f "$REPO/test/demo-remote.sql"
	fi
	if [ -f "$REPO/test/demo.sql" ]; then
		banner "test/demo.sql on the local cluster"
		"$PGBIN/psql" -X -v ON_ERROR_STOP=1 -h "${SOCK[local]}" \
			-p "${PORT[local]}" -U postgres -d postgres \
			-v remote_dsn="$(tls_dsn remote postgres)" \
			-v remote_host=127.0.0.1 \
			-v remote_port="${PORT[remote]}" \
			-v remote_password="$PASSWORD" \
			-v local_dsn="host=${SOCK[local]} port=${PORT[local]} dbname=postgres user=postgres" \
			-v certs="$CERTS" \
			-e -f "$REPO/test/demo.sql" </dev/null
	else
		echo "test/demo.sql does not exist yet: nothing to run"
	fi

	if [ "$KEEP" = 1 ]; then
		cat <<EOF

The clusters are left running (PGASYNC_KEEP=1):
  local:  psql -h ${SOCK[local]} -p ${PORT[local]} -U postgres postgres
  remote: psql -h ${SOCK[remote]} -p ${PORT[remote]} -U postgres postgres
          or '$(tls_dsn remote postgres)'
Stop them with:
  runuser -u postgres -- $PGBIN/pg_ctl -D $SCRATCH/local/data stop
  runuser -u postgres -- $PGBIN/pg_ctl -D $SCRATCH/remote/data stop
  rm -rf $SCRATCH
EOF
	fi
	echo "demo finished in $((SECONDS - START_TIME)) s"
}

#
# Test mode suites.  Each returns normally and records its own result.
#
LOGS=$SCRATCH/logs
BUILD_OK=0
CLUSTERS_OK=0

suite_build()
{
	local t0=$SECONDS

	banner "build: make && make install"
	if run_logged "$LOGS/build.log" build_extension; then
		BUILD_OK=1
		record build 1 0 $((SECONDS - t0))
	else
		record build 0 1 $((SECONDS - t0)) "build or install failed"
	fi
}

suite_clusters()
{
	local t0=$SECONDS

	banner "clusters: local and remote"
	# Not through run_logged: the function sets variables of this shell.
	if setup_clusters; then
		CLUSTERS_OK=1
		record clusters 1 0 $((SECONDS - t0))
	else
		record clusters 0 1 $((SECONDS - t0)) "could not start"
	fi
}

suite_purity()
{
	local t0=$SECONDS

	banner "purity: make check-core-purity"
	if run_logged "$LOGS/purity.log" make -C "$REPO" PG_CONFIG="$PG_CONFIG" \
		check-core-purity; then
		echo "core purity: ok"
		record purity 1 0 $((SECONDS - t0))
	else
		record purity 0 1 $((SECONDS - t0)) "check-core-purity failed"
	fi
}

suite_unit()
{
	local t0=$SECONDS
	local st=0
	local counts

	banner "unit: test/unit under ASan/UBSan"
	if ! ls "$REPO"/test/unit/test_*.c >/dev/null 2>&1; then
		echo "no test/unit/test_*.c"
		record unit 0 1 $((SECONDS - t0)) "no unit tests found"
		return 0
	fi
	run_logged "$LOGS/unit.log" timeout -k 10 900 \
		make -C "$REPO/test/unit" run PGW_TEST_CERTS="$CERTS" || st=$?
	read -r p f < <(count_tap "$LOGS/unit.log" "$st")
	counts=""
	[ "$st" = 0 ] || counts="make run exited $st"
	record unit "$p" "$f" $((SECONDS - t0)) "$counts"
}

suite_fuzz()
{
	local t0=$SECONDS

	banner "fuzz: make -C test/fuzz run FUZZ_SECONDS=$FUZZ_SECONDS"
	if [ ! -f "$REPO/test/fuzz/Makefile" ]; then
		echo "test/fuzz/Makefile is missing"
		record fuzz 0 1 $((SECONDS - t0)) "test/fuzz/Makefile missing"
		return 0
	fi
	if run_logged "$LOGS/fuzz.log" timeout -k 10 $((FUZZ_SECONDS + 900)) \
		make -C "$REPO/test/fuzz" run FUZZ_SECONDS="$FUZZ_SECONDS" \
		SCRATCH="$SCRATCH/fuzz"; then
		record fuzz 1 0 $((SECONDS - t0))
	else
		record fuzz 0 1 $((SECONDS - t0)) "fuzz run failed"
	fi
}

# Print a variable of the top Makefile (REGRESS, REGRESS_OPTS).
make_var()
{
	printf 'print-%%:\n\t@echo $($*)\n' >"$SCRATCH/print.mk"
	make -s --no-print-directory -C "$REPO" -f Makefile -f "$SCRATCH/print.mk" \
		PG_CONFIG="$PG_CONFIG" "print-$1"
}

suite_regress()
{
	local t0=$SECONDS
	local tests opts st=0 p f
	local outdir=$SCRATCH/regress
	local extra=()
	local o

	banner "regress: pg_regress against the local cluster"
	if [ $BUILD_OK != 1 ] || [ $CLUSTERS_OK != 1 ]; then
		echo "skipped: the build or the clusters failed"
		record regress 0 1 $((SECONDS - t0)) "cannot start: build or clusters failed"
		return 0
	fi
	tests=$(make_var REGRESS) || tests=""
	opts=$(make_var REGRESS_OPTS) || opts=""
	if [ -z "$tests" ]; then
		echo "the Makefile's REGRESS list is empty"
		record regress 0 1 $((SECONDS - t0)) "no REGRESS tests"
		return 0
	fi
	for o in $opts; do
		case $o in
			--inputdir=* | --outputdir=* | --dbname=*) ;;
			*) extra+=("$o") ;;
		esac
	done
	mkdir -p "$outdir"
	# shellcheck disable=SC2086
	run_logged "$LOGS/regress.log" timeout -k 10 900 "$PG_REGRESS" \
		--inputdir="$REPO" --outputdir="$outdir" --bindir="$PGBIN" \
		--host="${SOCK[local]}" --port="${PORT[local]}" --user=postgres \
		--dbname=contrib_regression ${extra[@]+"${extra[@]}"} $tests || st=$?
	if [ "$st" != 0 ]; then
		if [ -s "$outdir/regression.diffs" ]; then
			echo "---- regression.diffs (first 300 lines) ----"
			head -n 300 "$outdir/regression.diffs"
		fi
		for o in local remote; do
			echo "---- $o server log (last 60 lines) ----"
			tail -n 60 "$SCRATCH/$o/server.log"
		done
	fi
	read -r p f < <(awk -v status="$st" '
		/\.\.\. ok/ || /\.\.\. failed \(ignored\)/ { pass++; next }
		/\.\.\. FAILED/ || /\.\.\. failed/ { fail++; next }
		END {
			if (status != 0 && fail == 0) fail = 1;
			printf "%d %d\n", pass, fail
		}' "$LOGS/regress.log")
	record regress "$p" "$f" $((SECONDS - t0))
}

suite_tap()
{
	local t0=$SECONDS
	local tapdir=$SCRATCH/tap
	local total_p=0 total_f=0 p f st t name log note=""

	banner "tap: prove over test/t/*.pl as postgres"
	if ! ls "$REPO"/test/t/*.pl >/dev/null 2>&1; then
		echo "no test/t/*.pl"
		record tap 0 1 $((SECONDS - t0)) "no TAP tests found"
		return 0
	fi
	mkdir -p "$tapdir/bin"
	cp -r "$REPO/test/t" "$tapdir/t"
	if ! run_logged "$LOGS/smoke-build.log" make -C "$REPO/test/unit" smoke; then
		note="smoke client did not build"
		total_f=$((total_f + 1))
	else
		cp "$REPO/test/unit/build/smoke_client" "$tapdir/bin/"
	fi
	chown -R postgres: "$tapdir"

	for t in "$tapdir"/t/*.pl; do
		name=$(basename "$t" .pl)
		mkdir -p "$tapdir/$name"
		chown postgres: "$tapdir/$name"
		st=0
		(cd "$tapdir" && run_logged "$LOGS/tap-$name.log" timeout -k 10 900 \
			runuser -u postgres -- env \
			PATH="$PGBIN:/usr/local/bin:/usr/bin:/bin" \
			PERL5LIB="$PERL_TESTLIB" \
			TESTDIR="$tapdir/$name" \
			PG_REGRESS="$PG_REGRESS" \
			PGW_SMOKE_CLIENT="$tapdir/bin/smoke_client" \
			PGW_TEST_CERTS="$CERTS" \
			PGASYNC_REPO="$REPO" \
			PG_TEST_TIMEOUT_DEFAULT=120 \
			LC_ALL=C.UTF-8 \
			prove -v "t/$name.pl") || st=$?
		read -r p f < <(count_tap "$LOGS/tap-$name.log" "$st")
		total_p=$((total_p + p))
		total_f=$((total_f + f))
		if [ "$st" != 0 ]; then
			note="${note:+$note; }$name failed"
			# The test's own log, then the logs of its servers
			for log in "$tapdir/$name"/tmp_check/log/regress_log_* \
				"$tapdir/$name"/tmp_check/log/*.log; do
				[ -f "$log" ] || continue
				echo "---- $log (last 80 lines) ----"
				tail -n 80 "$log"
			done
		fi
	done
	record tap "$total_p" "$total_f" $((SECONDS - t0)) "$note"
}

suite_bench()
{
	local t0=$SECONDS
	local client=$SCRATCH/tap/bin/smoke_client

	banner "bench: smoke client under hyperfine against the remote cluster"
	if [ $CLUSTERS_OK != 1 ] || [ ! -x "$client" ]; then
		echo "skipped: no clusters or no smoke client"
		record bench 0 1 $((SECONDS - t0)) "cannot start: clusters or smoke client missing"
		return 0
	fi
	if run_logged "$LOGS/bench.log" timeout -k 10 300 \
		runuser -u postgres -- hyperfine --style basic --warmup 1 --runs 5 \
		"$client '$(tls_dsn remote postgres)' 'SELECT count(*) FROM generate_series(1, 10000)'"; then
		record bench 1 0 $((SECONDS - t0))
	else
		record bench 0 1 $((SECONDS - t0)) "hyperfine run failed"
	fi
}

run_tests()
{
	local i total_p=0 total_f=0

	mkdir -p "$LOGS"
	banner "packages"
	if ! install_packages; then
		# Counted only when it fails; the suites that need them fail too.
		record packages 0 1 $((SECONDS - START_TIME)) "apt-get failed"
	fi

	suite_build
	suite_clusters
	suite_purity
	suite_unit
	suite_fuzz
	suite_regress
	suite_tap
	suite_bench

	cleanup >/dev/null 2>&1 || true

	banner "summary ($((SECONDS - START_TIME)) s)"
	printf '%-10s %7s %7s %6s  %s\n' suite passed failed secs note
	for i in "${!SUITE_NAMES[@]}"; do
		printf '%-10s %7d %7d %6d  %s\n' "${SUITE_NAMES[$i]}" \
			"${SUITE_PASS[$i]}" "${SUITE_FAIL[$i]}" "${SUITE_SECS[$i]}" \
			"${SUITE_NOTE[$i]}"
		total_p=$((total_p + SUITE_PASS[i]))
		total_f=$((total_f + SUITE_FAIL[i]))
	done
	echo "$total_p passed, $total_f failed"
	[ "$total_f" = 0 ]
}

case $MODE in
	demo) run_demo ;;
	test) run_tests ;;
esac
