#-------------------------------------------------------------------------
#
# 020_pgbouncer.pl
#	  pgasync through a real pgbouncer in transaction mode, which hands a
#	  server connection to a client for one transaction at a time:
#	  - with statement_cache_size 0 (unnamed statements only), parameterised
#	    queries from two local sessions at once all succeed;
#	  - with the default statement cache, a cached statement used on another
#	    server connection than the one it was prepared on fails with SQLSTATE
#	    26000 and the hint to set statement_cache_size to 0 (provoked
#	    deterministically by holding server connections in transactions);
#	    the statement is dropped, so the next call works;
#	  - two connections' cached statements never run in place of each other
#	    (a name collision would silently return the other query's result);
#	  - under concurrent load with the default cache, no wrong results, and
#	    every failure carries the hint.
#
# Two clusters, "local" (CREATE EXTENSION pgasync) and "remote", and one
# pgbouncer (default_pool_size 2) in front of "remote", run as the test's
# OS user with its files in the test's temporary directory (its log in the
# log directory) and stopped through its pidfile at the end (END block).  Local sessions are
# superuser sessions, so pgbouncer may use auth_type trust.
#
# Environment: PGBOUNCER (default /usr/sbin/pgbouncer).
#
#-------------------------------------------------------------------------

use strict;
use warnings;

use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib $FindBin::RealBin;
use PgasyncTest;

my $pgbouncer = $ENV{PGBOUNCER} // '/usr/sbin/pgbouncer';

plan skip_all => "pgbouncer not found at $pgbouncer" unless -x $pgbouncer;

#
# The remote cluster and pgbouncer in front of it
#
my $remote = PostgreSQL::Test::Cluster->new('remote');
$remote->init;
$remote->start;
my $user = $remote->safe_psql('postgres', 'SELECT current_user');

my $pgb_dir  = PostgreSQL::Test::Utils::tempdir('pgbouncer');
my $pgb_sock = PostgreSQL::Test::Utils::tempdir_short();
my $pgb_port = PostgreSQL::Test::Cluster::get_free_port();
my $pgb_pidfile = "$pgb_dir/pgbouncer.pid";
# in the log directory, which test/run.sh shows when the test fails
my $pgb_log = "$PostgreSQL::Test::Utils::log_path/020_pgbouncer_pgbouncer.log";
my $pgb_pid;

# Stop pgbouncer however the test ends.
END
{
	my $pid = $pgb_pid;

	if (defined $pgb_pidfile && open my $fh, '<', $pgb_pidfile)
	{
		my $line = <$fh>;
		close $fh;
		$pid = $1 if defined $line && $line =~ /^(\d+)/;
	}
	if ($pid)
	{
		kill 'TERM', $pid;
		# wait briefly, so that the temporary directory can go
		for (1 .. 50)
		{
			last unless kill 0, $pid;
			sleep 0.1;
		}
		kill 'KILL', $pid if kill 0, $pid;
	}
}

open my $ul, '>', "$pgb_dir/userlist.txt" or die "could not write userlist.txt: $!";
print $ul qq{"$user" "password"\n};
close $ul;

# pgasync sends IntervalStyle, extra_float_digits and bytea_output in its
# startup packet; pgbouncer refuses startup parameters it does not know
# unless they are listed in ignore_startup_parameters.
my $rhost = $remote->host;
my $rport = $remote->port;
open my $ini, '>', "$pgb_dir/pgbouncer.ini" or die "could not write pgbouncer.ini: $!";
print $ini <<EOF;
[databases]
remote = host=$rhost port=$rport dbname=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgb_port
unix_socket_dir = $pgb_sock
auth_type = trust
auth_file = $pgb_dir/userlist.txt
admin_users = $user
pool_mode = transaction
max_client_conn = 100
default_pool_size = 2
ignore_startup_parameters = IntervalStyle, extra_float_digits, bytea_output
logfile = $pgb_log
pidfile = $pgb_pidfile
EOF
close $ini;

system_or_bail($pgbouncer, '-d', "$pgb_dir/pgbouncer.ini");
{
	my $t0 = time;
	my $up = 0;

	while (time - $t0 < $PostgreSQL::Test::Utils::timeout_default)
	{
		if (-s $pgb_pidfile
			&& IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $pgb_port))
		{
			$up = 1;
			last;
		}
		sleep 0.1;
	}
	BAIL_OUT('pgbouncer did not start: ' . slurp_file($pgb_log))
	  unless $up;
	$pgb_pid = (slurp_file($pgb_pidfile) =~ /^(\d+)/)[0];
	note "pgbouncer pid $pgb_pid on port $pgb_port";
}

my $dsn = "host=127.0.0.1 port=$pgb_port dbname=remote user=$user";

#
# The local cluster
#
my $local = PostgreSQL::Test::Cluster->new('local');
$local->init;
$local->start;
$local->safe_psql(
	'postgres', q{
CREATE EXTENSION pgasync;

-- n calls of "SELECT $1::int * k" on conn (k differs between sessions, so
-- that their statements differ); counts results right and wrong, errors,
-- and errors with SQLSTATE 26000 or 42P05 that carry the pooler hint.
CREATE FUNCTION pgb_loop(conn text, n int, k int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	ok int := 0;
	wrong int := 0;
	errors int := 0;
	hinted int := 0;
	v text;
	st text;
	h text;
BEGIN
	FOR i IN 1..n LOOP
		BEGIN
			v := pgasync.fetchval(conn, 'SELECT $1::int * ' || k, i);
			IF v = (i * k)::text THEN ok := ok + 1; ELSE wrong := wrong + 1; END IF;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, h = PG_EXCEPTION_HINT;
			errors := errors + 1;
			IF st IN ('26000', '42P05') AND h LIKE '%statement_cache_size to 0%' THEN
				hinted := hinted + 1;
			END IF;
		END;
	END LOOP;
	RETURN format('ok=%s wrong=%s errors=%s hinted=%s', ok, wrong, errors, hinted);
END
$$;
});

# Connect a named connection through pgbouncer, with options (jsonb text).
sub connect_conn
{
	my ($bg, $name, $options) = @_;
	my ($out, $err) =
	  run($bg, "SELECT pgasync.connect('$name', " . lit($dsn) . ", " . lit($options // '{}') . ")");
	is($err, '', "connect $name through pgbouncer");
	return;
}

# The pid of the server connection serving a statement of conn (which has
# statement_cache_size 0).
sub server_pid_of
{
	my ($bg, $conn) = @_;
	my ($out, $err) = run($bg, "SELECT pgasync.fetchval('$conn', 'SELECT pg_backend_pid()')");
	return $out . $err;
}

my ($out, $err);
my $bg1 = new_session($local);
my $bg2 = new_session($local);

###########################################################################
# statement_cache_size 0: two sessions at once
###########################################################################

connect_conn($bg1, 'nc', '{"statement_cache_size": 0}');
connect_conn($bg2, 'nc', '{"statement_cache_size": 0}');
($out, $err) = run($bg1,
	"SELECT * FROM pgasync.fetch('nc', 'SELECT \$1::int + 1, \$2::text, current_setting(''DateStyle'')', 41, 'x'::text) AS t(a int, b text, c text)"
);
is($out . $err, '42|x|ISO, MDY', 'a parameterised query through pgbouncer');

# 200 fetchval and 200 fetch calls in each session, both sessions at once
my $loop_sql = q{
SELECT pgb_loop('nc', 200, %d);
SELECT count(*) FROM generate_series(1, 200) i,
  LATERAL pgasync.fetch('nc', 'SELECT $1::int + 1, $2::text', i, 'v' || i) AS t(a int, b text)
  WHERE a = i + 1 AND b = 'v' || i;
SELECT cached_statements FROM pgasync.connections() WHERE name = 'nc';
};
start_async($bg1, sprintf($loop_sql, 3));
start_async($bg2, sprintf($loop_sql, 7));
my ($out1, $err1) = finish_async($bg1);
my ($out2, $err2) = finish_async($bg2);
is($out1 . $err1, "ok=200 wrong=0 errors=0 hinted=0\n200\n0",
	'statement_cache_size 0, session 1: 400 queries right, nothing cached');
is($out2 . $err2, "ok=200 wrong=0 errors=0 hinted=0\n200\n0",
	'statement_cache_size 0, session 2: 400 queries right, nothing cached');

# the two sessions' connections shared pgbouncer's two server connections
is( $remote->safe_psql(
		'postgres',
		"SELECT count(*) <= 2 FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
	),
	't',
	'the remote has at most default_pool_size server connections');

###########################################################################
# The default statement cache: a cached statement on another server
# connection.  Server connections are held in open transactions by
# "hold" and "hold2", so pgbouncer can hand out only the one we want.
###########################################################################

connect_conn($bg1, 'hold',  '{"statement_cache_size": 0}');
connect_conn($bg1, 'hold2', '{"statement_cache_size": 0}');
connect_conn($bg1, 'pc');

# hold takes one server connection (S1)
($out, $err) = run($bg1, "SELECT pgasync.execute('hold', 'BEGIN')");
is($out . $err, 'BEGIN', 'hold: BEGIN');
my $pid_s1 = server_pid_of($bg1, 'hold');
like($pid_s1, qr/^\d+$/, 'hold keeps server connection S1');

# pc prepares its statement on the other one (S2)
($out, $err) = run($bg1,
	"SELECT v || ' ' || pid FROM pgasync.fetch('pc', 'SELECT \$1::int + 1, pg_backend_pid()', 1) AS t(v int, pid int)"
);
like($out . $err, qr/^2 \d+$/, 'pc: first call (prepares the statement)');
my ($pid_s2) = $out =~ /^2 (\d+)$/;
$pid_s2 //= -1;
isnt($pid_s2, $pid_s1, 'pc was served by the other server connection, S2');
($out, $err) = run($bg1,
	"SELECT v FROM pgasync.fetch('pc', 'SELECT \$1::int + 1, pg_backend_pid()', 2) AS t(v int, pid int)"
);
is($out . $err, '3', 'pc: second call, same server connection (hit)');

# hold2 takes S2, hold gives S1 back: pc can only get S1 now
($out, $err) = run($bg1, "SELECT pgasync.execute('hold2', 'BEGIN')");
is(server_pid_of($bg1, 'hold2'), $pid_s2, 'hold2 keeps S2');
($out, $err) = run($bg1, "SELECT pgasync.execute('hold', 'ROLLBACK')");
is($out . $err, 'ROLLBACK', 'hold gives S1 back');

($out, $err) = run($bg1,
	"SELECT v FROM pgasync.fetch('pc', 'SELECT \$1::int + 1, pg_backend_pid()', 3) AS t(v int, pid int)"
);
is($out, '', 'pc on S1: no result');
like($err, qr/ERROR:  26000: prepared statement "pgasync_[0-9a-f]+_\d+" does not exist/,
	'pc on S1: the cached statement does not exist there (26000)');
like($err,
	qr/HINT:  If the remote server is reached through a connection pooler in transaction mode \(such as pgbouncer\), set statement_cache_size to 0 for this target\./,
	'pc on S1: the error says to set statement_cache_size to 0');
like($err, qr/CONTEXT:  remote server "pc"/, 'pc on S1: the error names the target');

# the statement was dropped from the cache: the next call prepares it again
($out, $err) = run($bg1,
	"SELECT v || ' ' || (pid = $pid_s1) FROM pgasync.fetch('pc', 'SELECT \$1::int + 1, pg_backend_pid()', 4) AS t(v int, pid int)"
);
is($out . $err, '5 true', 'pc on S1: the next call prepares the statement again and works');

# the same dance with statement_cache_size 0 just works
connect_conn($bg1, 'nc2', '{"statement_cache_size": 0}');
($out, $err) = run($bg1,
	"SELECT pgasync.fetchval('nc2', 'SELECT \$1::int + 1', 1) || ' ' || pgasync.fetchval('nc2', 'SELECT \$1::int + 1', 2)"
);
is($out . $err, '2 3', 'statement_cache_size 0 with S2 held: works');
($out, $err) = run($bg1, "SELECT pgasync.execute('hold2', 'ROLLBACK')");
is($out . $err, 'ROLLBACK', 'hold2 gives S2 back');

###########################################################################
# Two connections' cached statements must never run in place of each
# other: connection "a" (session 1) prepares "SELECT $1::int + 1" on S2,
# connection "b" (session 2) prepares "SELECT $1::int * 10" on S1, then "a"
# is sent to S1.  Had both statements the same name, "a" would silently
# get b's result (10 instead of 2).
###########################################################################

connect_conn($bg1, 'a');
connect_conn($bg2, 'b');
run($bg1, "SELECT pgasync.execute('hold', 'BEGIN')");
$pid_s1 = server_pid_of($bg1, 'hold');
($out, $err) = run($bg1,
	"SELECT v || ' ' || pid FROM pgasync.fetch('a', 'SELECT \$1::int + 1, pg_backend_pid()', 1) AS t(v int, pid int)"
);
($pid_s2) = $out =~ /^2 (\d+)$/;
ok(defined $pid_s2 && $pid_s2 != $pid_s1, 'a: prepared on S2')
  or diag("out: $out, err: $err");
run($bg1, "SELECT pgasync.execute('hold2', 'BEGIN')");
is(server_pid_of($bg1, 'hold2'), $pid_s2 // -1, 'hold2 keeps S2');
run($bg1, "SELECT pgasync.execute('hold', 'ROLLBACK')");
($out, $err) = run($bg2,
	"SELECT v || ' ' || pid FROM pgasync.fetch('b', 'SELECT \$1::int * 10, pg_backend_pid()', 1) AS t(v int, pid int)"
);
is($out . $err, "10 $pid_s1", 'b: prepared on S1');
($out, $err) = run($bg1,
	"SELECT v FROM pgasync.fetch('a', 'SELECT \$1::int + 1, pg_backend_pid()', 1) AS t(v int, pid int)"
);
isnt($out, '10', "a on S1: does not run b's statement");
like($err, qr/ERROR:  26000: .*\n(.*\n)*HINT:  .*statement_cache_size to 0/,
	"a on S1: its statement is missing there (26000, with the hint)");
run($bg1, "SELECT pgasync.execute('hold2', 'ROLLBACK')");

###########################################################################
# The default cache under concurrent load: two sessions, each with its own
# statement on a connection through pgbouncer.  Failures may or may not
# happen; wrong results never, and every failure carries the hint.
###########################################################################

connect_conn($bg1, 'dc');
connect_conn($bg2, 'dc');
start_async($bg1, "SELECT pgb_loop('dc', 200, 3)");
start_async($bg2, "SELECT pgb_loop('dc', 200, 7)");
($out1, $err1) = finish_async($bg1);
($out2, $err2) = finish_async($bg2);
note "default cache, concurrent: session 1: $out1 $err1; session 2: $out2 $err2";
foreach my $r ([ 1, $out1, $err1 ], [ 2, $out2, $err2 ])
{
	my ($n, $o, $e) = @$r;
	like($o . $e, qr/^ok=\d+ wrong=0 errors=(\d+) hinted=\1$/,
		"default cache, concurrent, session $n: no wrong results, every error with the hint");
}

# The connections still work, and pgbouncer is still up.
($out, $err) = run($bg1, "SELECT pgasync.fetchval('nc', 'SELECT \$1::int * 2', 21)");
is($out . $err, '42', 'session 1 still works through pgbouncer');
ok(kill(0, $pgb_pid), 'pgbouncer still runs');

$bg1->quit;
$bg2->quit;
$local->stop;
$remote->stop;
done_testing();
