#-------------------------------------------------------------------------
#
# 030_fanout.pl
#	  Fan-out and asynchronous queries against several real clusters:
#	  - pgasync.fanout() returns exactly the union of the remotes' rows,
#	    tagged with the target's name when the column definition list has
#	    one extra leading column (named connections, pgasync_fdw servers,
#	    pools and connection strings, never a password), with parameters;
#	  - fail fast: one target fails at once while the others sleep, the
#	    call errors within seconds naming the failing target, and the other
#	    remotes' queries really stop, even on a remote backend too slow to
#	    read its query before the first cancel arrives (SIGSTOP);
#	  - a local statement_timeout cancels every remote, and the same
#	    targets work right after on the same remote backends;
#	  - pgasync.fanout_execute() reports one row per target (a constraint
#	    violation, a dead port, a bad connection string, a success) and
#	    does not fail as a whole;
#	  - pgasync.send/is_busy/result/cancel on named connections to
#	    different clusters, a big result that waits in the socket while
#	    is_busy() is polled, an abandoned query blocking its connection, a
#	    query outliving an unrelated error, and one canceled by the abort
#	    of the transaction that sent it;
#	  - 64 targets in one call; a fan-out wider than
#	    pgasync.max_connections fails up front without connecting;
#	  - 3 x pg_sleep(0.5) take about 0.5 s, cold and warm (parallelism).
#
# Four clusters: "local" (CREATE EXTENSION pgasync) and "r1", "r2", "r3",
# which listen on 127.0.0.1 (trust) with log_connections on.  Sequences
# that need one local session use background psql sessions.  Durations are
# measured with Time::HiRes; the bounds are generous: this is about
# correctness, not speed.
#
#-------------------------------------------------------------------------

use strict;
use warnings;

use Time::HiRes qw(time sleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib $FindBin::RealBin;
use PgasyncTest;

#
# The clusters
#
my @remotes;
foreach my $i (1 .. 3)
{
	my $node = PostgreSQL::Test::Cluster->new("r$i");
	$node->init;
	$node->append_conf(
		'postgresql.conf', q{
listen_addresses = '127.0.0.1'
max_connections = 100
log_connections = on
});
	$node->start;
	push @remotes, $node;
}
my ($r1, $r2, $r3) = @remotes;
my @ports = map { $_->port } @remotes;
my $user = $r1->safe_psql('postgres', 'SELECT current_user');

my $local = PostgreSQL::Test::Cluster->new('local');
$local->init;
$local->start;
$local->safe_psql('postgres', 'CREATE EXTENSION pgasync');

# Connection strings of the remotes, and how fanout() shows them
sub dsn
{
	my ($i, $extra) = @_;
	return "host=127.0.0.1 port=$ports[$i - 1] dbname=postgres user=$user"
	  . (defined $extra ? " $extra" : '');
}
sub shown { my ($i) = @_; return "127.0.0.1:$ports[$i - 1]/postgres"; }

# An ARRAY[...] of quoted strings
sub arr { return 'ARRAY[' . join(', ', map { lit($_) } @_) . ']'; }

#
# Remote data: rows that differ from remote to remote; u(id) with a row 1
# on r1 only (for a constraint violation); fo_probe() fails at once on r2
# and sleeps 30 s elsewhere.
#
foreach my $i (1 .. 3)
{
	my $node = $remotes[ $i - 1 ];
	my $probe =
	  $i == 2
	  ? q{LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'r2 fails' USING ERRCODE = '22012'; END$$}
	  : q{LANGUAGE sql AS $$SELECT pg_sleep(30)::text$$};
	$node->safe_psql(
		'postgres', qq{
CREATE TABLE items (id int PRIMARY KEY, v text);
INSERT INTO items SELECT g, 'r$i-' || g FROM generate_series($i * 10000 + 1, $i * 10000 + 2000) g;
CREATE TABLE u (id int PRIMARY KEY);
CREATE FUNCTION fo_probe() RETURNS text $probe;
});
}
$r1->safe_psql('postgres', 'INSERT INTO u VALUES (1)');

# The non-empty lines of psql's output (void results print empty lines)
sub nonempty { return join("\n", grep { $_ ne '' } split(/\n/, shift)); }

#
# The remote side
#

# Backends of a remote running a query whose text contains $tag.
sub remote_running
{
	my ($node, $tag) = @_;
	return $node->safe_psql(
		'postgres', qq{
SELECT count(*) FROM pg_stat_activity
WHERE state = 'active' AND pid <> pg_backend_pid()
  AND strpos(query, '$tag') > 0});
}

# Wait until no remote in @$nodes runs a query tagged $tag; returns the
# seconds it took, or undef after $limit seconds.
sub wait_remotes_idle
{
	my ($nodes, $tag, $limit) = @_;
	my $t0 = time;

	while (time - $t0 < $limit)
	{
		my $n = 0;
		$n += remote_running($_, $tag) foreach @$nodes;
		return time - $t0 if $n == 0;
		sleep 0.05;
	}
	return undef;
}

# Wait until a remote runs a query tagged $tag (true) or give up (false).
sub wait_remote_running
{
	my ($node, $tag) = @_;
	my $t0 = time;

	while (time - $t0 < $PostgreSQL::Test::Utils::timeout_default)
	{
		return 1 if remote_running($node, $tag) > 0;
		sleep 0.05;
	}
	return 0;
}

sub remotes_stop
{
	my ($nodes, $tag, $what) = @_;
	my $t = wait_remotes_idle($nodes, $tag, 10);

	ok(defined $t && $t < 3, "$what: remote queries gone")
	  or diag(defined $t ? "after $t s" : 'still running after 10 s');
}

my $bg = new_session($local);
my ($out, $err, $secs);

($out, $err) = run($bg,
	    "SELECT 'ok' FROM pgasync.connect('r1', " . lit(dsn(1)) . ");\n"
	  . "SELECT 'ok' FROM pgasync.connect('r2', " . lit(dsn(2)) . ");\n"
	  . "SELECT 'ok' FROM pgasync.connect('r3', " . lit(dsn(3)) . ')');
is($out . $err, "ok\nok\nok", 'named connections r1, r2, r3');

foreach my $i (1 .. 3)
{
	$local->safe_psql(
		'postgres', qq{
CREATE SERVER s$i FOREIGN DATA WRAPPER pgasync_fdw
  OPTIONS (host '127.0.0.1', port '$ports[$i - 1]', dbname 'postgres');
CREATE USER MAPPING FOR CURRENT_USER SERVER s$i OPTIONS (user '$user');
});
}

###########################################################################
# The union, tags, parameters
###########################################################################

# What the remotes hold, sorted
my @expected;
foreach my $node (@remotes)
{
	push @expected,
	  split(/\n/, $node->safe_psql('postgres', 'SELECT id, v FROM items'));
}
@expected = sort @expected;
is(scalar(@expected), 6000, 'the remotes hold 6000 rows');

{
	my $targets = arr(dsn(1), dsn(2), dsn(3));
	($out, $err) = run($bg,
		"SELECT id, v FROM pgasync.fanout($targets, 'SELECT id, v FROM items') AS t(id int, v text)"
	);
	is($err, '', 'union: no error');
	my @got = sort split(/\n/, $out);
	is(scalar(@got), 6000, 'union: 6000 rows');
	is_deeply(\@got, \@expected, 'union: exactly the rows of the three remotes');

	# the same again, warm (cached statements, binary results)
	($out, $err) = run($bg,
		"SELECT id, v FROM pgasync.fanout($targets, 'SELECT id, v FROM items') AS t(id int, v text)"
	);
	@got = sort split(/\n/, $out);
	is_deeply(\@got, \@expected, 'union, warm: exactly the rows of the three remotes');
}

# Tags: the extra leading column receives the target's name
foreach my $case (
	[ 'named connections', [ 'r1', 'r2', 'r3' ], [ 'r1', 'r2', 'r3' ] ],
	[ 'pgasync_fdw servers', [ 's1', 's2', 's3' ], [ 's1', 's2', 's3' ] ],
	[
		'connection strings', [ dsn(1), dsn(2), dsn(3) ],
		[ shown(1), shown(2), shown(3) ]
	])
{
	my ($what, $targets, $names) = @$case;
	($out, $err) = run($bg,
		    'SELECT tag, count(*), min(id), max(id), bool_and(v LIKE \'r\' || (id / 10000) || \'-%\') FROM pgasync.fanout('
		  . arr(@$targets)
		  . ", 'SELECT id, v FROM items') AS t(tag text, id int, v text) GROUP BY tag ORDER BY min(id)"
	);
	is( $out . $err,
		join("\n",
			map { "$names->[$_ - 1]|2000|" . ($_ * 10000 + 1) . '|' . ($_ * 10000 + 2000) . '|t' }
			  (1 .. 3)),
		"tags, $what: each row tagged with its target");
}

# The tag column may be of another type that accepts text (name, varchar)
($out, $err) = run($bg,
	"SELECT pg_typeof(tag), tag FROM pgasync.fanout(ARRAY['r2'], 'SELECT 1') AS t(tag name, x int)");
is($out . $err, 'name|r2', 'tags: a name column');

# A connection string with a password: the tag shows host:port/dbname only
($out, $err) = run($bg,
	'SELECT tag FROM pgasync.fanout('
	  . arr(dsn(1, 'password=Very-Secret-77'))
	  . ", 'SELECT 1') AS t(tag text, x int)");
is($out . $err, shown(1), 'tags: no password in the tag of a connection string');

# Pools as targets
($out, $err) = run($bg,
	    "SELECT 'ok' FROM pgasync.create_pool('p1', " . lit(dsn(1)) . ");\n"
	  . "SELECT 'ok' FROM pgasync.create_pool('p2', 's2');\n"
	  . "SELECT tag, port FROM pgasync.fanout(ARRAY['p1', 'p2'], 'SELECT inet_server_port()') AS t(tag text, port int) ORDER BY tag"
);
is($out . $err, "ok\nok\np1|$ports[0]\np2|$ports[1]", 'tags: pools');

# No tag column: the rows only
($out, $err) = run($bg,
	"SELECT count(*), sum(id) FROM pgasync.fanout(ARRAY['r1', 'r2', 'r3'], 'SELECT id FROM items') AS t(id int)"
);
is($out . $err, '6000|' . (2000 * 60000 + 3 * 2001000), 'no tag column: the union');

# A column definition list that fits neither way
($out, $err) = run($bg,
	"SELECT * FROM pgasync.fanout(ARRAY['r1', 'r2'], 'SELECT id, v FROM items') AS t(a int, b text, c text, d text)"
);
like($err, qr/42804: remote query result does not match the column definition list/,
	'column definition list with two extra columns: error');

# Parameters
{
	my @want = sort grep {
		my ($id) = split /\|/;
		$id % 7 == 3 && $id < 30500
	} @expected;
	($out, $err) = run($bg,
		"SELECT id, v FROM pgasync.fanout(ARRAY['r1', 'r2', 'r3'], 'SELECT id, v FROM items WHERE id % \$1 = \$2 AND id < \$3', 7, 3, 30500::bigint) AS t(id int, v text)"
	);
	is($err, '', 'parameters: no error');
	is_deeply([ sort split(/\n/, $out) ], \@want, 'parameters: the matching rows of every remote');

	($out, $err) = run($bg,
		"SELECT tag, v FROM pgasync.fanout(ARRAY['r1', 'r2', 'r3'], 'SELECT v FROM items WHERE v = ANY(\$1)', ARRAY['r1-10001', 'r3-30002', 'r9-1']) AS t(tag text, v text) ORDER BY v"
	);
	is($out . $err, "r1|r1-10001\nr3|r3-30002", 'parameters: an array parameter');
}

###########################################################################
# Fail fast
###########################################################################

foreach my $case ([ 'named', [ 'r1', 'r2', 'r3' ], 'r2' ],
	[ 'connection strings', [ dsn(1), dsn(2), dsn(3) ], shown(2) ])
{
	my ($what, $targets, $failing) = @$case;
	my $tag = 'ff_' . ($what =~ s/\W/_/gr);

	my $t0 = time;
	($out, $err) = run($bg,
		'SELECT * FROM pgasync.fanout('
		  . arr(@$targets)
		  . ", 'SELECT fo_probe() /* $tag */') AS t(x text)");
	my $elapsed = time - $t0;
	like($err, qr/ERROR:  22012: r2 fails/, "fail fast ($what): the remote error");
	like($err, qr/CONTEXT:  (.*\n)*?.*remote server "\Q$failing\E"/,
		"fail fast ($what): the error names the failing target");
	ok($elapsed < 10, "fail fast ($what): error within seconds")
	  or diag("took $elapsed s");
	note("fail fast ($what): error after $elapsed s");
	remotes_stop([ $r1, $r3 ], $tag, "fail fast ($what)");

	# the others were canceled, not left to finish
	foreach my $node ($r1, $r3)
	{
		like(
			slurp_file($node->logfile),
			qr/ERROR:  canceling statement due to user request\n(.*\n)*?.*STATEMENT:  SELECT fo_probe\(\) \/\* $tag \*\//,
			"fail fast ($what): " . $node->name . ' canceled the query');
	}

	# and the same targets work right away
	($out, $err) = run($bg,
		    'SELECT count(*) FROM pgasync.fanout('
		  . arr(@$targets)
		  . ", 'SELECT 1') AS t(x int)");
	is($out . $err, '3', "fail fast ($what): the targets work right after");
}

# A remote backend slow to read its query: a CancelRequest that arrives
# before the backend has read the query is ignored by the server, so
# pgasync must cancel again.  r1's backend is stopped (SIGSTOP) while the
# query and the first cancel reach it, and continued 0.3 s later.
{
	my ($pid) = run($bg, "SELECT server_pid FROM pgasync.connections() WHERE name = 'r1'");
	like($pid, qr/^\d+$/, 'slow remote: the backend of r1');
	kill 'STOP', $pid;
	my $t0 = time;
	$bg->{stderr} = '';
	$bg->{stdin} .= "SELECT * FROM pgasync.fanout(ARRAY['r1', 'r2'], 'SELECT fo_probe() /* ff_slow */') AS t(x text);\n"
	  . "\\echo SLOW_DONE\n\\warn SLOW_DONE\n";
	$bg->{timeout}->start;
	$bg->{run}->pump_nb;
	sleep 0.3;
	kill 'CONT', $pid;
	$bg->{run}->pump
	  until ($bg->{stdout} =~ /SLOW_DONE/ && $bg->{stderr} =~ /SLOW_DONE/)
	  || $bg->{timeout}->is_expired;
	my $elapsed = time - $t0;
	$err = $bg->{stderr};
	$bg->{stdout} = $bg->{stderr} = '';
	like($err, qr/ERROR:  22012: r2 fails/, 'slow remote: the error of r2');
	ok($elapsed < 5, 'slow remote: error within seconds') or diag("took $elapsed s");
	remotes_stop([$r1], 'ff_slow', 'slow remote');
	($out, $err) = run($bg,
		"SELECT pgasync.fetchval('r1', 'SELECT 1');\n"
		  . "SELECT server_pid FROM pgasync.connections() WHERE name = 'r1'");
	is($out . $err, "1\n$pid", 'slow remote: the connection was drained and kept');
}

# A target that cannot connect fails the call too, naming it
{
	my $dead = PostgreSQL::Test::Cluster::get_free_port();
	my $t0 = time;
	($out, $err) = run($bg,
		'SELECT * FROM pgasync.fanout('
		  . arr(dsn(1), "host=127.0.0.1 port=$dead dbname=postgres user=$user", dsn(3))
		  . ", 'SELECT pg_sleep(30) /* ff_dead */') AS t(x text)");
	my $elapsed = time - $t0;
	like($err,
		qr/ERROR:  08001: could not connect to remote server "127\.0\.0\.1:$dead\/postgres"/,
		'fail fast, dead port: could not connect, naming the target');
	ok($elapsed < 10, 'fail fast, dead port: error within seconds')
	  or diag("took $elapsed s");
	remotes_stop([ $r1, $r3 ], 'ff_dead', 'fail fast, dead port');
}

###########################################################################
# statement_timeout
###########################################################################

foreach my $case ([ 'named', [ 'r1', 'r2', 'r3' ] ],
	[ 'pools', [ 'p1', 'p2', 's3' ] ])
{
	my ($what, $targets) = @$case;
	my $tag = 'st_' . $what;
	my $list = arr(@$targets);
	my $pids_sql =
	  "SELECT string_agg(tag || ':' || pid, ',' ORDER BY tag) FROM pgasync.fanout($list, 'SELECT pg_backend_pid()') AS t(tag text, pid int)";
	my ($pids) = run($bg, $pids_sql);

	run($bg, "SET statement_timeout = '1s'");
	my $t0 = time;
	($out, $err) = run($bg,
		"SELECT * FROM pgasync.fanout($list, 'SELECT pg_sleep(30) /* $tag */') AS t(x text)");
	my $elapsed = time - $t0;
	run($bg, 'RESET statement_timeout');
	like($err, qr/ERROR:  57014: canceling statement due to statement timeout/,
		"statement_timeout ($what): canceled");
	ok($elapsed >= 0.9 && $elapsed < 5, "statement_timeout ($what): after about 1 s")
	  or diag("took $elapsed s");
	remotes_stop(\@remotes, $tag, "statement_timeout ($what)");

	($out, $err) = run($bg,
		"SELECT tag, x FROM pgasync.fanout($list, 'SELECT 42') AS t(tag text, x int) ORDER BY tag");
	is($out . $err, join("\n", map { "$_|42" } sort @$targets),
		"statement_timeout ($what): the same targets work right after");
	is((run($bg, $pids_sql))[0], $pids,
		"statement_timeout ($what): on the same remote backends");
}
($out, $err) = run($bg,
	"SELECT name, size, busy FROM pgasync.pools() ORDER BY name");
is($out . $err, "p1|1|0\np2|1|0", 'statement_timeout: the pools are healthy');

###########################################################################
# fanout_execute: every target's outcome
###########################################################################

{
	my $dead = PostgreSQL::Test::Cluster::get_free_port();
	my $dead_dsn = "host=127.0.0.1 port=$dead dbname=postgres user=$user";
	my $bad_dsn = "host=127.0.0.1 port=$ports[1] bogus_key=1 password=Very-Secret-77";
	my $list = arr(dsn(1), $dead_dsn, $bad_dsn, dsn(3));

	my $t0 = time;
	($out, $err) = run($bg,
		"BEGIN;\n"
		  . "SELECT target, coalesce(status, '-'), coalesce(sqlstate, '-'), coalesce(error, '-') FROM pgasync.fanout_execute($list, 'INSERT INTO u VALUES (\$1)', 1);\n"
		  . "SELECT 'still fine';\n"
		  . 'COMMIT');
	my $elapsed = time - $t0;
	is($err, '', 'fanout_execute: the call itself succeeds');
	my @rows = split /\n/, $out;
	is(scalar(@rows), 5, 'fanout_execute: one row per target (and the next statement)');
	like($rows[0], qr/^\Q${\shown(1)}\E\|-\|23505\|duplicate key value violates unique constraint "u_pkey"$/,
		'fanout_execute: constraint violation');
	like($rows[1],
		qr/^127\.0\.0\.1:$dead\/postgres\|-\|08001\|could not connect: .*port $dead failed: Connection refused$/,
		'fanout_execute: dead port');
	like($rows[2], qr/^connection string 3\|-\|42601\|invalid connection string: invalid connection option "bogus_key"$/,
		'fanout_execute: bad connection string');
	is($rows[3], shown(3) . '|INSERT 0 1|-|-', 'fanout_execute: success');
	is($rows[4], 'still fine', 'fanout_execute: the local transaction is not aborted');
	unlike($out . $err, qr/Very-Secret-77/, 'fanout_execute: no password shown');
	ok($elapsed < 10, 'fanout_execute: quick') or diag("took $elapsed s");

	is($r3->safe_psql('postgres', 'SELECT array_agg(id) FROM u'), '{1}',
		'fanout_execute: the successful insert is committed');

	# without parameters (simple protocol): several commands
	($out, $err) = run($bg,
		"SELECT target, status, sqlstate FROM pgasync.fanout_execute(ARRAY['r1', 'r2', 'r3'], 'DELETE FROM u WHERE id = 1; SELECT 1')"
	);
	is($out . $err, "r1|SELECT 1|\nr2|SELECT 1|\nr3|SELECT 1|",
		'fanout_execute without parameters: the last command status');
	is($r1->safe_psql('postgres', 'SELECT count(*) FROM u')
		  . $r3->safe_psql('postgres', 'SELECT count(*) FROM u'),
		'00', 'fanout_execute without parameters: the commands ran');
}

###########################################################################
# Asynchronous queries
###########################################################################

{
	# two clusters at once
	my $t0 = time;
	($out, $err) = run($bg,
		"SELECT pgasync.send('r1', 'WITH s AS MATERIALIZED (SELECT pg_sleep(1)) SELECT id, v FROM s, items WHERE id <= \$1', 10005);\n"
		  . "SELECT pgasync.send('r2', 'WITH s AS MATERIALIZED (SELECT pg_sleep(1)) SELECT id, v FROM s, items WHERE id <= 20003');\n"
		  . "SELECT pgasync.is_busy('r1'), pgasync.is_busy('r2')");
	my $sent = time - $t0;
	is($out . $err, "\n\nt|t", 'send: both queries busy at first');
	ok($sent < 0.5, 'send: returns at once') or diag("took $sent s");

	my $busy = 1;
	while (time - $t0 < 10)
	{
		($out) = run($bg, "SELECT pgasync.is_busy('r1') OR pgasync.is_busy('r2')");
		if ($out eq 'f') { $busy = 0; last; }
		sleep 0.05;
	}
	my $done = time - $t0;
	ok(!$busy && $done >= 0.9 && $done < 1.8,
		'is_busy: false once both are done, after about 1 s (in parallel)')
	  or diag("busy=$busy after $done s");

	($out, $err) = run($bg,
		    "SELECT * FROM pgasync.result('r1') AS t(id int, v text) ORDER BY id;\n"
		  . "SELECT * FROM pgasync.result('r2') AS t(id int, v text) ORDER BY id");
	is( $out . $err,
		join("\n", (map { "$_|r1-$_" } 10001 .. 10005), (map { "$_|r2-$_" } 20001 .. 20003)),
		'result: the rows of each');
	($out, $err) = run($bg, "SELECT pgasync.is_busy('r1')");
	is($out . $err, 'f', 'is_busy: false after result()');
	($out, $err) = run($bg, "SELECT * FROM pgasync.result('r1') AS t(x int)");
	like($err, qr/55000: connection "r1" has no query in progress/,
		'result: nothing sent, an error');
}

# cancel() of a long query
{
	my ($pid) = run($bg, "SELECT pgasync.fetchval('r3', 'SELECT pg_backend_pid()')");
	run($bg, "SELECT pgasync.send('r3', 'SELECT pg_sleep(30) /* async_cancel */')");
	ok(wait_remote_running($r3, 'async_cancel'), 'cancel: the query runs');
	my $t0 = time;
	($out, $err) = run($bg, "SELECT pgasync.cancel('r3')");
	my $elapsed = time - $t0;
	is($out . $err, 't', 'cancel: true for a running query');
	ok($elapsed < 3, 'cancel: quick') or diag("took $elapsed s");
	is(remote_running($r3, 'async_cancel'), '0', 'cancel: the remote query is gone');
	($out, $err) = run($bg,
		"SELECT pgasync.fetchval('r3', 'SELECT pg_backend_pid()');\n"
		  . "SELECT pgasync.cancel('r3')");
	is($out . $err, "$pid\nf", 'cancel: the same connection works right after; nothing left to cancel');
}

# A big result waits in the socket: polling is_busy() does not pull it
# into memory; cancel() drains it
{
	my $rss = q{(regexp_match(pg_read_file('/proc/' || pg_backend_pid() || '/status'), 'VmRSS:\s+(\d+) kB'))[1]::int / 1024};
	($out, $err) = run($bg,
		"SELECT $rss;\n"
		  . "SELECT pgasync.send('r1', 'SELECT g, repeat(''x'', 1000) FROM generate_series(1, 100000) g');\n"
		  . "DO \$\$ BEGIN FOR i IN 1..300 LOOP PERFORM pgasync.is_busy('r1'); PERFORM pg_sleep(0.001); END LOOP; END \$\$;\n"
		  . "SELECT pgasync.is_busy('r1');\n"
		  . "SELECT $rss");
	my ($before, undef, $busy, $after) = split /\n/, $out;
	is($err, '', 'big result: no error');
	is($busy, 't', 'big result: busy while its rows wait');
	ok($after - $before < 20, 'big result: polling is_busy() keeps memory bounded')
	  or diag("RSS from $before MB to $after MB");
	my $t0 = time;
	($out, $err) = run($bg,
		"SELECT pgasync.cancel('r1');\n" . "SELECT pgasync.fetchval('r1', 'SELECT 15')");
	my $elapsed = time - $t0;
	is($out . $err, "t\n15", 'big result: cancel() drains it, the connection works');
	ok($elapsed < 3, 'big result: cancel() quick') or diag("took $elapsed s");

	($out, $err) = run($bg,
		"SELECT pgasync.send('r1', 'SELECT g, repeat(''x'', 1000) FROM generate_series(1, 20000) g');\n"
		  . "SELECT count(*), sum(g), sum(length(x)) FROM pgasync.result('r1') AS t(g int, x text)");
	is(nonempty($out) . $err, '20000|200010000|20000000', 'big result: result() reads it all');
}

# An abandoned query blocks its connection until result() or cancel()
{
	($out, $err) = run($bg, "SELECT pgasync.send('r1', 'SELECT 11')");
	is($out . $err, '', 'abandoned: sent');
	foreach my $use (
		[ 'fetchval', "SELECT pgasync.fetchval('r1', 'SELECT 1')" ],
		[ 'send',     "SELECT pgasync.send('r1', 'SELECT 1')" ],
		[ 'execute',  "SELECT pgasync.execute('r1', 'SELECT 1')" ],
		[ 'fanout',   "SELECT * FROM pgasync.fanout(ARRAY['r2', 'r1'], 'SELECT 1') AS t(x int)" ])
	{
		my ($what, $sql) = @$use;
		($out, $err) = run($bg, $sql);
		like($err,
			qr/ERROR:  55006: connection "r1" has a query in progress\n(.*\n)*HINT:  Read its result with pgasync\.result\(\) or stop it with pgasync\.cancel\(\) first\./,
			"abandoned: $what refused with a clear error");
	}
	($out, $err) = run($bg,
		"SELECT * FROM pgasync.result('r1') AS t(x int);\n"
		  . "SELECT pgasync.fetchval('r1', 'SELECT 12')");
	is($out . $err, "11\n12", 'abandoned: result() reads it, then the connection is free');

	run($bg, "SELECT pgasync.send('r1', 'SELECT 13')");
	($out, $err) = run($bg,
		"SELECT pgasync.cancel('r1');\n" . "SELECT pgasync.fetchval('r1', 'SELECT 14')");
	like($out . $err, qr/^[tf]\n14$/, 'abandoned: cancel() frees the connection too');
}

# A query sent by a committed transaction survives unrelated errors
{
	($out, $err) = run($bg,
		"SELECT pgasync.send('r2', 'SELECT 21 FROM pg_sleep(0.3)');\n"
		  . "SELECT 1/0;\n"
		  . "BEGIN;\nSELECT pgasync.fetchval('r1', 'SELECT 1/0');\nROLLBACK;\n"
		  . "SELECT * FROM pgasync.result('r2') AS t(x int)");
	like($err, qr/division by zero(.*\n)*.*division by zero/, 'survives: the errors happened');
	is(nonempty($out), '21', 'survives: result() after unrelated errors');

	($out, $err) = run($bg,
		"BEGIN;\nSELECT pgasync.send('r2', 'SELECT 22 FROM pg_sleep(0.3)');\nCOMMIT;\n"
		  . "BEGIN;\nSELECT pgasync.send('r1', 'SELECT 23');\nSELECT 1/0;\nROLLBACK;\n"
		  . "SELECT * FROM pgasync.result('r2') AS t(x int)");
	is(nonempty($out), '22', 'survives: sent in an explicit transaction, read after another one aborted');
}

# A query whose own transaction aborts is canceled
{
	run($bg, 'BEGIN');
	run($bg, "SELECT pgasync.send('r3', 'SELECT pg_sleep(30) /* async_abort */')");
	ok(wait_remote_running($r3, 'async_abort'), 'aborted transaction: the query runs');
	my $t0 = time;
	($out, $err) = run($bg, 'SELECT 1/0');
	my $elapsed = time - $t0;
	run($bg, 'ROLLBACK');
	like($err, qr/22012: division by zero/, 'aborted transaction: an unrelated error');
	ok($elapsed < 3, 'aborted transaction: quick') or diag("took $elapsed s");
	remotes_stop([$r3], 'async_abort', 'aborted transaction');
	($out, $err) = run($bg,
		"SELECT pgasync.is_busy('r3');\n"
		  . "SELECT pgasync.fetchval('r3', 'SELECT 31')");
	is($out . $err, "f\n31", 'aborted transaction: the query is forgotten, the connection works');
	($out, $err) = run($bg, "SELECT * FROM pgasync.result('r3') AS t(x text)");
	like($err, qr/has no query in progress/, 'aborted transaction: no result to read');
}

# Only named connections
($out, $err) = run($bg, "SELECT pgasync.send('s1', 'SELECT 1')");
like($err, qr/connection "s1" does not exist/, 'send: only on named connections');

###########################################################################
# Many targets, and pgasync.max_connections
###########################################################################

{
	my @targets = map { dsn(($_ % 3) + 1, "application_name=fo64_$_") } (1 .. 64);
	($out, $err) = run($bg,
		"SELECT pgasync.disconnect_all() > 0;\n"
		  . "SET pgasync.max_connections = 100;\n"
		  . "SELECT count(*), count(DISTINCT app), count(DISTINCT port), count(DISTINCT tag) FROM pgasync.fanout("
		  . arr(@targets)
		  . ", 'SELECT current_setting(''application_name''), inet_server_port()') AS t(tag text, app text, port int);\n"
		  . "SELECT count(*) FROM pgasync.connections() WHERE kind = 'dsn'");
	is($out . $err, "t\n64|64|3|3\n64", '64 targets: 64 rows from 64 connections');
	my $n = 0;
	$n += $_->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'fo64\\_%'")
	  foreach @remotes;
	is($n, 64, '64 targets: 64 remote sessions');
	run($bg, 'SELECT pgasync.disconnect_all()');
	($out, $err) = run($bg,
		"SELECT pgasync.connect('r1', " . lit(dsn(1)) . ");\n"
		  . "SELECT pgasync.connect('r2', " . lit(dsn(2)) . ");\n"
		  . "SELECT pgasync.connect('r3', " . lit(dsn(3)) . ')');
	is($err, '', 'named connections again');
}

{
	my @targets = map { dsn(($_ % 3) + 1, "application_name=fo_mc_$_") } (1 .. 6);
	my $t0 = time;
	($out, $err) = run($bg,
		"SET pgasync.max_connections = 4;\n"
		  . 'SELECT * FROM pgasync.fanout('
		  . arr(@targets)
		  . ", 'SELECT 1') AS t(x int)");
	my $elapsed = time - $t0;
	like($err,
		qr/ERROR:  53300: fan-out to 6 targets needs 6 new connections, but pgasync\.max_connections allows 1 more/,
		'wider than max_connections: error up front');
	ok($elapsed < 2, 'wider than max_connections: quickly') or diag("took $elapsed s");

	($out, $err) = run($bg,
		'SELECT * FROM pgasync.fanout_execute(' . arr(@targets) . ", 'SELECT 1')");
	like($err, qr/ERROR:  53300: fan-out to 6 targets/,
		'wider than max_connections: fanout_execute fails up front too');

	# the named connections count as open already: 3 of them plus 1 new fit
	($out, $err) = run($bg,
		'SELECT count(*) FROM pgasync.fanout('
		  . arr('r1', 'r2', 'r3', $targets[0])
		  . ", 'SELECT 1') AS t(x int);\n"
		  . 'RESET pgasync.max_connections');
	is($out . $err, '4', 'open connections need no budget');

	sleep 0.2;
	my $log = join('', map { slurp_file($_->logfile) } @remotes);
	my @seen = ($log =~ /application_name=(fo_mc_\d+)/g);
	is_deeply(\@seen, [ 'fo_mc_1' ],
		'wider than max_connections: no connection was opened');
}

###########################################################################
# Latency: the targets run in parallel, cold and warm
###########################################################################

{
	my $bg2 = new_session($local);
	my $list = arr(map { dsn($_, 'application_name=fo_lat') } (1 .. 3));
	my $sql = "SELECT count(*) FROM pgasync.fanout($list, 'SELECT pg_sleep(0.5)') AS t(x text)";

	foreach my $what ('cold', 'warm')
	{
		my $t0 = time;
		($out, $err) = run($bg2, $sql);
		my $elapsed = time - $t0;
		is($out . $err, '3', "latency ($what): 3 rows");
		ok($elapsed >= 0.5 && $elapsed < 1.5, "latency ($what): 3 x pg_sleep(0.5) in < 1.5 s")
		  or diag("took $elapsed s");
		note("latency ($what): $elapsed s");
	}
	$bg2->quit;
}

($out, $err) = run($bg, 'SELECT count(*) FROM pgasync.connections() WHERE busy');
is($out . $err, '0', 'no connection left busy');

$bg->quit;
$local->stop;
$_->stop foreach @remotes;
done_testing();
