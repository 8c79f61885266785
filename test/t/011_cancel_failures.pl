#-------------------------------------------------------------------------
#
# 011_cancel_failures.pl
#	  pgasync when things go wrong: remote queries canceled by the local
#	  statement_timeout, by pgasync's command_timeout and by
#	  pg_cancel_backend() of the local backend (the remote query must stop
#	  too, and the connection stay usable); the remote backend terminated
#	  mid-query; the remote server stopped and restarted; dead ports, a
#	  server that accepts connections but never answers (connect_timeout),
#	  and host lists.
#
# Two clusters: "local" (CREATE EXTENSION pgasync) and "remote" (TLS on,
# scram-sha-256 over TCP).  Sequences that need one local session use
# background psql sessions.  Durations are measured with Time::HiRes;
# the bounds are generous: this is about correctness, not speed.
#
# Environment (set by test/run.sh):
#	PGW_TEST_CERTS		directory written by test/certs/make-certs.sh
#
#-------------------------------------------------------------------------

use strict;
use warnings;

use File::Copy;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib $FindBin::RealBin;
use PgasyncTest;

my $certs = test_certs();

my $password = 'Remote-Pw-8842';

#
# The remote cluster
#
my $remote = PostgreSQL::Test::Cluster->new('remote');
$remote->init;
my $rdata = $remote->data_dir;
foreach my $f (qw(server.crt server.key root.crt))
{
	copy("$certs/$f", "$rdata/$f") or die "could not copy $f: $!";
}
chmod 0600, "$rdata/server.key";
$remote->append_conf(
	'postgresql.conf', q{
listen_addresses = '127.0.0.1'
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
ssl_ca_file = 'root.crt'
password_encryption = 'scram-sha-256'
});
open my $hba, '>', "$rdata/pg_hba.conf" or die "could not write pg_hba.conf: $!";
print $hba <<'EOF';
# TYPE	DATABASE	USER	ADDRESS		METHOD
local	all		all			trust
host	all		all	127.0.0.1/32	scram-sha-256
EOF
close $hba;
$remote->start;
$remote->safe_psql('postgres',
	"CREATE ROLE ruser LOGIN SUPERUSER PASSWORD '$password'");
my $rport = $remote->port;

#
# The local cluster
#
my $local = PostgreSQL::Test::Cluster->new('local');
$local->init;
$local->start;
$local->safe_psql('postgres', 'CREATE EXTENSION pgasync');

my $dsn_tls =
  "host=127.0.0.1 port=$rport dbname=postgres user=ruser password=$password "
  . "sslmode=verify-full sslrootcert=$certs/root.crt";
my $dsn_plain =
  "host=127.0.0.1 port=$rport dbname=postgres user=ruser password=$password "
  . "sslmode=disable";

#
# Background psql sessions on the local node
#

#
# The remote side
#

# Remote backends running a query whose text contains $tag.
sub remote_running
{
	my ($tag) = @_;
	return $remote->safe_psql(
		'postgres', qq{
SELECT count(*) FROM pg_stat_activity
WHERE state = 'active' AND pid <> pg_backend_pid()
  AND strpos(query, '$tag') > 0});
}

# Wait until a query tagged $tag runs on the remote (true) or not.
sub wait_remote
{
	my ($tag, $want_running, $limit) = @_;
	my $t0 = time;

	$limit //= $PostgreSQL::Test::Utils::timeout_default;
	while (time - $t0 < $limit)
	{
		my $n = remote_running($tag);
		return time - $t0 if ($want_running ? $n > 0 : $n == 0);
		sleep 0.05;
	}
	return undef;
}

# The remote pid of a pgasync connection of a session.
sub server_pid
{
	my ($bg, $name) = @_;
	my ($out) =
	  run($bg, "SELECT server_pid FROM pgasync.connections() WHERE name = '$name'");
	return $out;
}

# A remote query that sleeps, tagged so that it can be found
sub sleeper
{
	my ($tag, $secs) = @_;
	$secs //= 30;
	return "SELECT pg_sleep($secs) /* $tag */";
}

# The remote query is gone soon after the local error.
sub remote_query_stops
{
	my ($tag, $what) = @_;
	my $t = wait_remote($tag, 0, 10);

	ok(defined $t && $t < 3, "$what: remote query gone")
	  or diag(defined $t ? "after $t s" : 'still running after 10 s');
}

# A remote query runs in a session, is interrupted by $interrupt (code run
# once the query runs remotely) and fails with an error matching $re; then
# the same connection works again.
sub interrupted_query
{
	my (%a) = @_;
	my $bg = $a{session};
	my $name = $a{name};
	my $what = $a{what};
	my $pid_before = server_pid($bg, $name);

	start_async($bg,
		"SELECT pgasync.fetchval('$name', " . lit(sleeper($a{tag})) . ')');
	my $t_running = wait_remote($a{tag}, 1);
	ok(defined $t_running, "$what: remote query started");
	my $t0 = time;
	$a{interrupt}->();
	my ($out, $err, $t1) = finish_async($bg);
	my $elapsed = $t1 - $t0;

	is($out, '', "$what: no result");
	like($err, $a{error}, "$what: error");
	like($err, qr/remote server "$name"/, "$what: error names the target")
	  if $a{names_target};
	ok($elapsed < 5, "$what: error after a short while")
	  or diag("took $elapsed s");
	remote_query_stops($a{tag}, $what);

	my ($v, $err2) = run($bg, "SELECT pgasync.fetchval('$name', 'SELECT 42')");
	is($v . $err2, '42', "$what: the connection works afterwards");
	is(server_pid($bg, $name), $pid_before,
		"$what: still the same remote backend");
	return $err;
}

###########################################################################
# Cancellation and timeouts
###########################################################################

my $bg = new_session($local);
my ($out, $err, $secs);

($out, $err) = run($bg,
	"SELECT 'ok' FROM pgasync.connect('tls', " . lit($dsn_tls) . ");\n"
	  . "SELECT 'ok' FROM pgasync.connect('plain', " . lit($dsn_plain) . ");\n"
	  . "SELECT 'ok' FROM pgasync.connect('ct', " . lit($dsn_tls)
	  . ", '{\"command_timeout\": 1}');\n"
	  . "SELECT string_agg(name || ':' || tls, ',' ORDER BY name) FROM pgasync.connections();");
is($out . $err, "ok\nok\nok\nct:true,plain:false,tls:true",
	'named connections opened');

# statement_timeout of the local session, over TLS and without
foreach my $name ('tls', 'plain')
{
	my ($o, $e) = run($bg, "SET statement_timeout = '1s'");
	is($e, '', 'statement_timeout set');
	my $t0 = time;
	($o, $e) = run($bg,
		"SELECT pgasync.fetchval('$name', " . lit(sleeper("st_$name", 10)) . ')');
	my $elapsed = time - $t0;
	like($e, qr/ERROR:  57014: canceling statement due to statement timeout/,
		"statement_timeout ($name): error");
	ok($elapsed >= 0.9 && $elapsed < 5,
		"statement_timeout ($name): error after about 1 s")
	  or diag("took $elapsed s");
	remote_query_stops("st_$name", "statement_timeout ($name)");
	run($bg, 'RESET statement_timeout');
	my $pid = server_pid($bg, $name);
	($o, $e) = run($bg,
		"SELECT pgasync.fetchval('$name', 'SELECT 42');\n"
		  . "SELECT busy, in_transaction, server_pid = $pid FROM pgasync.connections() WHERE name = '$name'");
	is($o . $e, "42\nf|f|t",
		"statement_timeout ($name): same connection usable right after");
}

# The remote server canceled the query (it did not just lose the client).
like(
	slurp_file($remote->logfile),
	qr/ERROR:  canceling statement due to user request\n.*STATEMENT:  SELECT pg_sleep\(10\) \/\* st_tls \*\//,
	'remote log: the query was canceled');

# command_timeout of a named connection (set by connect() above)
{
	my $t0 = time;
	($out, $err) = run($bg,
		"SELECT pgasync.fetchval('ct', " . lit(sleeper('ct_named', 10)) . ')');
	my $elapsed = time - $t0;
	like($err, qr/ERROR:  57014: canceling statement due to command timeout/,
		'command_timeout option: error');
	like($err, qr/CONTEXT:  remote server "ct"/,
		'command_timeout option: names the target');
	ok($elapsed >= 0.9 && $elapsed < 5,
		'command_timeout option: error after about 1 s')
	  or diag("took $elapsed s");
	remote_query_stops('ct_named', 'command_timeout option');
	($out, $err) = run($bg, "SELECT pgasync.fetchval('ct', 'SELECT 43')");
	is($out . $err, '43', 'command_timeout option: connection usable right after');

	# the same with fetch(), which streams rows
	$t0 = time;
	($out, $err) = run($bg,
		"SELECT * FROM pgasync.fetch('ct', 'SELECT g FROM generate_series(1, 3) g "
		  . "UNION ALL SELECT 0 FROM pg_sleep(10) /* ct_fetch */') AS t(g int)");
	$elapsed = time - $t0;
	like($err, qr/canceling statement due to command timeout/,
		'command_timeout, fetch(): error');
	ok($elapsed < 5, 'command_timeout, fetch(): after about 1 s')
	  or diag("took $elapsed s");
	remote_query_stops('ct_fetch', 'command_timeout, fetch()');
	($out, $err) = run($bg, "SELECT pgasync.fetchval('ct', 'SELECT 44')");
	is($out . $err, '44', 'command_timeout, fetch(): connection usable right after');
}

# pgasync.command_timeout for a connection string
{
	run($bg, "SET pgasync.command_timeout = '1s'");
	my $t0 = time;
	($out, $err) = run($bg,
		'SELECT pgasync.fetchval(' . lit($dsn_plain) . ', '
		  . lit(sleeper('ct_guc', 10)) . ')');
	my $elapsed = time - $t0;
	like($err, qr/ERROR:  57014: canceling statement due to command timeout/,
		'pgasync.command_timeout: error');
	like($err, qr/CONTEXT:  remote server "127\.0\.0\.1:$rport\/postgres"/,
		'pgasync.command_timeout: names the target');
	ok($elapsed < 5, 'pgasync.command_timeout: after about 1 s')
	  or diag("took $elapsed s");
	remote_query_stops('ct_guc', 'pgasync.command_timeout');
	run($bg, 'RESET pgasync.command_timeout');
	($out, $err) = run($bg,
		'SELECT pgasync.fetchval(' . lit($dsn_plain) . ", 'SELECT 45')");
	is($out . $err, '45', 'pgasync.command_timeout: connection usable right after');
}

# command_timeout of a pgasync_fdw server
{
	$local->safe_psql(
		'postgres', qq{
CREATE SERVER ct_srv FOREIGN DATA WRAPPER pgasync_fdw
  OPTIONS (host '127.0.0.1', port '$rport', dbname 'postgres',
           sslmode 'require', command_timeout '1');
CREATE USER MAPPING FOR CURRENT_USER SERVER ct_srv
  OPTIONS (user 'ruser', password '$password');
});
	my $t0 = time;
	($out, $err) = run($bg,
		"SELECT pgasync.fetchval('ct_srv', " . lit(sleeper('ct_srv', 10)) . ')');
	my $elapsed = time - $t0;
	like($err, qr/canceling statement due to command timeout/,
		'server command_timeout: error');
	like($err, qr/remote server "ct_srv"/, 'server command_timeout: names the server');
	ok($elapsed < 5, 'server command_timeout: after about 1 s')
	  or diag("took $elapsed s");
	remote_query_stops('ct_srv', 'server command_timeout');
	($out, $err) = run($bg, "SELECT pgasync.fetchval('ct_srv', 'SELECT 46')");
	is($out . $err, '46', 'server command_timeout: connection usable right after');
}

# pg_cancel_backend() of the local backend from another session
{
	my ($lpid) = run($bg, 'SELECT pg_backend_pid()');
	interrupted_query(
		session   => $bg,
		name      => 'tls',
		tag       => 'cancel_me',
		what      => 'pg_cancel_backend of the local backend',
		error     => qr/ERROR:  57014: canceling statement due to user request/,
		interrupt => sub {
			is($local->safe_psql('postgres', "SELECT pg_cancel_backend($lpid)"),
				't', 'pg_cancel_backend sent');
		});
}

# The same while a transaction block is open locally: the remote query
# stops, the local transaction is aborted, and all is well after ROLLBACK.
{
	my ($lpid) = run($bg, 'SELECT pg_backend_pid()');
	run($bg, 'BEGIN');
	start_async($bg,
		"SELECT pgasync.fetchval('plain', " . lit(sleeper('cancel_xact')) . ')');
	ok(defined wait_remote('cancel_xact', 1), 'in a transaction: remote query started');
	$local->safe_psql('postgres', "SELECT pg_cancel_backend($lpid)");
	(undef, $err) = finish_async($bg);
	like($err, qr/canceling statement due to user request/,
		'in a transaction: canceled');
	remote_query_stops('cancel_xact', 'in a transaction');
	($out, $err) = run($bg, "SELECT pgasync.fetchval('plain', 'SELECT 1')");
	like($err, qr/current transaction is aborted/,
		'in a transaction: the local transaction is aborted');
	run($bg, 'ROLLBACK');
	($out, $err) = run($bg, "SELECT pgasync.fetchval('plain', 'SELECT 47')");
	is($out . $err, '47', 'in a transaction: connection usable after ROLLBACK');
}

# pg_terminate_backend() of the local backend: the remote query stops too
{
	my $bg2 = new_session($local);
	($out, $err) = run($bg2,
		"SELECT pgasync.fetchval(" . lit($dsn_tls) . ", 'SELECT 1');\n"
		  . 'SELECT pg_backend_pid()');
	my ($one, $lpid) = split /\n/, $out;
	is($one . $err, '1', 'terminate: connected');
	start_async($bg2,
		'SELECT pgasync.fetchval(' . lit($dsn_tls) . ', '
		  . lit(sleeper('terminate_local')) . ')');
	ok(defined wait_remote('terminate_local', 1), 'terminate: remote query started');
	$local->safe_psql('postgres', "SELECT pg_terminate_backend($lpid)");
	remote_query_stops('terminate_local', 'pg_terminate_backend of the local backend');
	$bg2->{run}->finish;
}

###########################################################################
# Failures
###########################################################################

# The remote backend terminated mid-query: the error names the target, and
# the next call reconnects.
{
	my $rpid = server_pid($bg, 'tls');
	start_async($bg,
		"SELECT pgasync.fetchval('tls', " . lit(sleeper('kill_remote')) . ')');
	ok(defined wait_remote('kill_remote', 1), 'remote backend killed: query started');
	$remote->safe_psql('postgres', "SELECT pg_terminate_backend($rpid)");
	(undef, $err) = finish_async($bg);
	like($err,
		qr/ERROR:  57P01: terminating connection due to administrator command/,
		'remote backend killed mid-query: 57P01 relayed');
	like($err, qr/CONTEXT:  remote server "tls"/,
		'remote backend killed mid-query: names the target');
	($out, $err) = run($bg, "SELECT pgasync.fetchval('tls', 'SELECT 48')");
	is($out . $err, '48', 'remote backend killed mid-query: next call reconnects');
	my $newpid = server_pid($bg, 'tls');
	ok($newpid ne '' && $newpid ne $rpid,
		'remote backend killed mid-query: a new remote backend');
}

# The same for a connection string and an idle connection: the next call
# fails naming the target or reconnects; the one after that works.
{
	($out, $err) = run($bg,
		'SELECT pgasync.fetchval(' . lit($dsn_tls) . ', ' . lit('SELECT pg_backend_pid()') . ')');
	my $rpid = $out;
	like($rpid, qr/^\d+$/, 'idle remote backend: connected');
	$remote->safe_psql('postgres',
		"SELECT pg_terminate_backend($rpid, 10000)");
	($out, $err) = run($bg,
		'SELECT pgasync.fetchval(' . lit($dsn_tls) . ", 'SELECT 49')");
	if ($err ne '')
	{
		like($err,
			qr/(terminating connection due to administrator command|lost connection to remote server)/,
			'idle remote backend killed: error says why');
		like($err, qr/remote server "127\.0\.0\.1:$rport\/postgres"/,
			'idle remote backend killed: error names the target');
	}
	else
	{
		is($out, '49', 'idle remote backend killed: reconnected at once');
	}
	($out, $err) = run($bg,
		'SELECT pgasync.fetchval(' . lit($dsn_tls) . ', ' . lit('SELECT pg_backend_pid()') . ')');
	ok($err eq '' && $out =~ /^\d+$/ && $out ne $rpid,
		'idle remote backend killed: works again with a new backend')
	  or diag("out: $out\nerr: $err");
}

# The remote server stopped (immediate) while a query runs
{
	start_async($bg,
		"SELECT pgasync.fetchval('plain', " . lit(sleeper('stop_remote')) . ')');
	ok(defined wait_remote('stop_remote', 1), 'remote stopped mid-query: query started');
	my $t0 = time;
	$remote->stop('immediate');
	(undef, $err, my $t1) = finish_async($bg);
	like($err,
		qr/(lost connection to remote server|terminating connection|server closed the connection)/,
		'remote stopped mid-query: error says the connection was lost');
	like($err, qr/remote server "plain"/, 'remote stopped mid-query: names the target');
	ok($t1 - $t0 < 10, 'remote stopped mid-query: error soon');

	# while it is down
	($out, $err) = run($bg, "SELECT pgasync.fetchval('plain', 'SELECT 1')");
	like($err, qr/ERROR:  08001: could not connect to remote server "plain"/,
		'remote down: could not connect');
	like($err, qr/connection to server at "127\.0\.0\.1", port $rport failed: Connection refused/,
		'remote down: says where and why');

	# an idle connection to the stopped server
	($out, $err) = run($bg, "SELECT pgasync.fetchval('tls', 'SELECT 1')");
	like($err,
		qr/(could not connect to|lost connection to) remote server "tls"|terminating connection.*\n(.*\n)*CONTEXT:  remote server "tls"/,
		'remote down: idle connection fails naming the target');
	($out, $err) = run($bg, "SELECT pgasync.fetchval('tls', 'SELECT 1')");
	like($err, qr/could not connect to remote server "tls"/,
		'remote down: idle connection then cannot reconnect');

	$remote->start;
	($out, $err) = run($bg,
		"SELECT pgasync.fetchval('plain', 'SELECT 50');\n"
		  . "SELECT pgasync.fetchval('tls', 'SELECT 51');");
	is($out . $err, "50\n51", 'remote restarted: failed connections reconnect');

	# "ct" sat idle through the restart: its first use finds the old
	# connection closed (an error naming it), unless pgasync notices
	# before sending; the next use works either way.
	($out, $err) = run($bg, "SELECT pgasync.fetchval('ct', 'SELECT 52')");
	ok( $out eq '52'
		  || $err =~ /ERROR:  08006: lost connection to remote server "ct"/,
		'remote restarted: idle connection fails cleanly or reconnects')
	  or diag("out: $out\nerr: $err");
	($out, $err) = run($bg, "SELECT pgasync.fetchval('ct', 'SELECT 53')");
	is($out . $err, '53', 'remote restarted: idle connection works again');
	($out, $err) = run($bg,
		"SELECT count(*) FROM pgasync.connections() WHERE name IN ('plain', 'tls', 'ct')");
	is($out, '3', 'remote restarted: connections listed again');
}

# A port nobody listens on
my $dead_port = PostgreSQL::Test::Cluster::get_free_port();
{
	my $dsn = "host=127.0.0.1 port=$dead_port dbname=postgres user=ruser password=$password";
	($out, $err) = run($bg,
		'SELECT pgasync.fetchval(' . lit($dsn) . ", 'SELECT 1')");
	like($err,
		qr/ERROR:  08001: could not connect to remote server "127\.0\.0\.1:$dead_port\/postgres"/,
		'dead port: could not connect, naming the target');
	like($err,
		qr/DETAIL:  connection to server at "127\.0\.0\.1", port $dead_port failed: Connection refused/,
		'dead port: host and port in the detail');

	($out, $err) = run($bg,
		"SELECT 'ok' FROM pgasync.connect('dead', " . lit($dsn) . ')');
	like($err, qr/could not connect to remote server "dead"/,
		'dead port, connect(): error names the connection');
	like($err, qr/port $dead_port failed/, 'dead port, connect(): says where');
	($out, $err) = run($bg, "SELECT count(*) FROM pgasync.connections() WHERE name = 'dead'");
	is($out, '0', 'dead port, connect(): no connection kept');

	# a Unix socket that does not exist
	($out, $err) = run($bg,
		"SELECT pgasync.fetchval('host=/nonexistent port=$dead_port dbname=postgres user=ruser password=x', 'SELECT 1')");
	like($err,
		qr/connection to server on socket "\/nonexistent\/\.s\.PGSQL\.$dead_port" failed: No such file or directory/,
		'missing Unix socket: says where');
}

# Host lists: the first dead, the second alive
{
	my $dsn =
	  "host=127.0.0.1,127.0.0.1 port=$dead_port,$rport dbname=postgres "
	  . "user=ruser password=$password sslmode=require";
	($out, $err) = run($bg,
		"SELECT 'ok' FROM pgasync.connect('hosts', " . lit($dsn) . ");\n"
		  . "SELECT port, tls FROM pgasync.connections() WHERE name = 'hosts';\n"
		  . "SELECT pgasync.fetchval('hosts', 'SELECT inet_server_port()');");
	is($out . $err, "ok\n$rport|t\n$rport", 'host list: connects to the second host');

	my $dead2 = PostgreSQL::Test::Cluster::get_free_port();
	($out, $err) = run($bg,
		'SELECT pgasync.fetchval('
		  . lit("host=127.0.0.1,127.0.0.1 port=$dead_port,$dead2 dbname=postgres user=ruser password=$password")
		  . ", 'SELECT 1')");
	like($err,
		qr/port $dead_port failed: Connection refused; connection to server at "127\.0\.0\.1", port $dead2 failed: Connection refused/,
		'host list, all dead: every attempt reported');
}

# A server that accepts connections but never answers
my $silent = IO::Socket::INET->new(
	Listen    => 128,
	LocalAddr => '127.0.0.1',
	LocalPort => 0,
	Proto     => 'tcp') or die "could not listen: $!";
my $silent_port = $silent->sockport;
{
	my $dsn =
	  "host=127.0.0.1 port=$silent_port dbname=postgres user=ruser password=$password";

	foreach my $case (
		[ "$dsn connect_timeout=1 sslmode=disable", undef, 'connect_timeout=1 (startup)' ],
		[ "$dsn connect_timeout=1 sslmode=require", undef, 'connect_timeout=1 (SSL request)' ],
		[ $dsn, "SET pgasync.connect_timeout = '1s'", 'pgasync.connect_timeout' ])
	{
		my ($d, $setup, $what) = @$case;

		run($bg, $setup) if defined $setup;
		my $t0 = time;
		($out, $err) = run($bg,
			'SELECT pgasync.fetchval(' . lit($d) . ", 'SELECT 1')");
		my $elapsed = time - $t0;
		like($err, qr/ERROR:  08001: could not connect to remote server "127\.0\.0\.1:$silent_port\/postgres"/,
			"$what: could not connect");
		like($err, qr/port $silent_port failed: timeout expired/, "$what: timeout expired");
		ok($elapsed >= 0.9 && $elapsed < 5, "$what: after about 1 s")
		  or diag("took $elapsed s");
		run($bg, 'RESET pgasync.connect_timeout') if defined $setup;
	}

	# the connect_timeout option of connect()
	my $t0 = time;
	($out, $err) = run($bg,
		"SELECT pgasync.connect('silent', " . lit($dsn) . ", '{\"connect_timeout\": 1}')");
	my $elapsed = time - $t0;
	like($err, qr/could not connect to remote server "silent"/,
		'connect_timeout option: could not connect');
	like($err, qr/timeout expired/, 'connect_timeout option: timeout expired');
	ok($elapsed >= 0.9 && $elapsed < 5, 'connect_timeout option: after about 1 s')
	  or diag("took $elapsed s");

	# the same for a named connection to a pgasync_fdw server, and the
	# server's own connect_timeout option
	$local->safe_psql(
		'postgres', qq{
CREATE SERVER silent_srv FOREIGN DATA WRAPPER pgasync_fdw
  OPTIONS (host '127.0.0.1', port '$silent_port', dbname 'postgres', sslmode 'disable');
CREATE USER MAPPING FOR CURRENT_USER SERVER silent_srv
  OPTIONS (user 'ruser', password '$password');
});
	$t0 = time;
	($out, $err) = run($bg,
		"SELECT pgasync.connect('silent_named', 'silent_srv', '{\"connect_timeout\": 1}')");
	$elapsed = time - $t0;
	like($err, qr/could not connect to remote server "silent_named"/,
		'connect_timeout option, server target: could not connect');
	like($err, qr/timeout expired/, 'connect_timeout option, server target: timeout expired');
	ok($elapsed >= 0.9 && $elapsed < 5,
		'connect_timeout option, server target: after about 1 s')
	  or diag("took $elapsed s");

	$local->safe_psql('postgres',
		"ALTER SERVER silent_srv OPTIONS (ADD connect_timeout '1')");
	$t0 = time;
	($out, $err) = run($bg, "SELECT pgasync.fetchval('silent_srv', 'SELECT 1')");
	$elapsed = time - $t0;
	like($err, qr/could not connect to remote server "silent_srv"/,
		'server connect_timeout: could not connect');
	like($err, qr/timeout expired/, 'server connect_timeout: timeout expired');
	ok($elapsed >= 0.9 && $elapsed < 5, 'server connect_timeout: after about 1 s')
	  or diag("took $elapsed s");

	# the local statement_timeout also interrupts a connection attempt
	run($bg, "SET statement_timeout = '1s'");
	$t0 = time;
	($out, $err) = run($bg,
		'SELECT pgasync.fetchval(' . lit("$dsn connect_timeout=0") . ", 'SELECT 1')");
	$elapsed = time - $t0;
	run($bg, 'RESET statement_timeout');
	like($err, qr/57014: canceling statement due to statement timeout/,
		'statement_timeout while connecting: canceled');
	ok($elapsed < 5, 'statement_timeout while connecting: after about 1 s')
	  or diag("took $elapsed s");

	# host list: the silent server first, then the real one
	$t0 = time;
	($out, $err) = run($bg,
		'SELECT pgasync.fetchval('
		  . lit("host=127.0.0.1,127.0.0.1 port=$silent_port,$rport connect_timeout=1 "
			  . "dbname=postgres user=ruser password=$password")
		  . ", 'SELECT inet_server_port()')");
	$elapsed = time - $t0;
	is($out . $err, $rport, 'host list, silent first: connects to the second host');
	ok($elapsed >= 0.9 && $elapsed < 5, 'host list, silent first: after the timeout')
	  or diag("took $elapsed s");
}
close $silent;

# After all this, the session is sane and holds the expected connections.
($out, $err) = run($bg,
	"SELECT string_agg(name, ',' ORDER BY name) FROM pgasync.connections() WHERE kind <> 'dsn';\n"
	  . 'SELECT pgasync.disconnect_all() > 0');
is($out . $err, "ct,ct_srv,hosts,plain,tls\nt", 'session state at the end');

$bg->quit;
$local->stop;
$remote->stop;
done_testing();
