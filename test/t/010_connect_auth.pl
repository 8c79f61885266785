#-------------------------------------------------------------------------
#
# 010_connect_auth.pl
#	  pgasync against real servers: TLS modes and certificate checks,
#	  authentication methods (SCRAM-SHA-256 with and without channel
#	  binding, MD5, cleartext password), wrong passwords, and the security
#	  rules for non-superusers (password_required, pgasync_fdw servers and
#	  user mappings).
#
# Two clusters:
#	local		CREATE EXTENSION pgasync; runs every query.  It also
#				listens on 127.0.0.1 without TLS, as a server that
#				refuses SSL.  Statements are not logged, so that its log
#				holds only what pgasync itself reports: the test checks
#				that no password ever shows up there.
#	remote		ssl = on with the test CA's server certificate; one role
#				per authentication method, each with its own pg_hba.conf
#				line.
#
# Environment (set by test/run.sh):
#	PGW_TEST_CERTS		directory written by test/certs/make-certs.sh
#
#-------------------------------------------------------------------------

use strict;
use warnings;

use File::Copy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib $FindBin::RealBin;
use PgasyncTest;

my $certs = test_certs();

my $rootcrt  = "$certs/root.crt";
my $otherca  = "$certs/other_root.crt";

# Passwords, each distinctive so that a leak can be searched for.
my %pw = (
	scram_user => 'Scram-Pw-7731',
	nossl_user => 'NoSsl-Pw-6604',
	md5_user   => 'Md5-Pw-4412',
	pw_user    => 'Clear-Pw-9023',
	trust_user => 'Trust-Pw-3187',
	local_user => 'Local-Pw-2291',
);
my $wrong_pw = 'Wrong-Pw-5519';
my @all_pws  = (values %pw, $wrong_pw);

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
	'postgresql.conf', qq{
listen_addresses = '127.0.0.1'
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
ssl_ca_file = 'root.crt'
password_encryption = 'scram-sha-256'
log_connections = on
});
open my $hba, '>', "$rdata/pg_hba.conf" or die "could not write pg_hba.conf: $!";
print $hba <<'EOF';
# TYPE		DATABASE	USER		ADDRESS		METHOD
local		all		all				trust
hostssl		all		scram_user	127.0.0.1/32	scram-sha-256
hostnossl	all		nossl_user	127.0.0.1/32	scram-sha-256
host		all		md5_user	127.0.0.1/32	md5
host		all		pw_user		127.0.0.1/32	password
host		all		trust_user	127.0.0.1/32	trust
EOF
close $hba;
$remote->start;

$remote->safe_psql(
	'postgres', qq{
SET password_encryption = 'scram-sha-256';
CREATE ROLE scram_user LOGIN PASSWORD '$pw{scram_user}';
CREATE ROLE nossl_user LOGIN PASSWORD '$pw{nossl_user}';
CREATE ROLE pw_user LOGIN PASSWORD '$pw{pw_user}';
CREATE ROLE trust_user LOGIN PASSWORD '$pw{trust_user}';
SET password_encryption = 'md5';
CREATE ROLE md5_user LOGIN PASSWORD '$pw{md5_user}';
});
is( $remote->safe_psql(
		'postgres',
		q{SELECT rolname || ' ' || left(rolpassword, 3) FROM pg_authid
		  WHERE rolname LIKE '%\_user' ORDER BY 1}),
	"md5_user md5\nnossl_user SCR\npw_user SCR\nscram_user SCR\ntrust_user SCR",
	'remote roles have the password kinds wanted');

my $rport = $remote->port;

#
# The local cluster
#
my $local = PostgreSQL::Test::Cluster->new('local');
$local->init;
$local->append_conf(
	'postgresql.conf', q{
listen_addresses = '127.0.0.1'
ssl = off
password_encryption = 'scram-sha-256'
# Only what the server and pgasync report goes to the log, never the text
# of statements (which would hold the connection strings of the tests).
log_statement = 'none'
log_min_error_statement = 'panic'
log_min_messages = 'debug1'
});
open $hba, '>', $local->data_dir . '/pg_hba.conf'
  or die "could not write pg_hba.conf: $!";
print $hba <<'EOF';
# TYPE	DATABASE	USER		ADDRESS		METHOD
local	all		all				trust
host	all		local_user	127.0.0.1/32	scram-sha-256
EOF
close $hba;
$local->start;
my $lport = $local->port;

$local->safe_psql(
	'postgres', qq{
CREATE EXTENSION pgasync;
CREATE ROLE local_user LOGIN PASSWORD '$pw{local_user}';
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
GRANT USAGE ON SCHEMA pgasync TO alice, bob;
});

# Run SQL on the local node (as the superuser, or as user => ROLE) with
# verbose error reports; returns (exit status, stdout, stderr).
sub lsql
{
	my ($sql, %opt) = @_;
	my ($out, $err) = ('', '');
	my @extra = ('-v', 'VERBOSITY=verbose');

	push @extra, '-U', $opt{user} if defined $opt{user};
	my $rc = $local->psql(
		'postgres', $sql,
		stdout        => \$out,
		stderr        => \$err,
		on_error_stop => 1,
		extra_params  => \@extra);
	return ($rc, $out, $err);
}

# No password of the test may appear in a string.
sub no_password
{
	my ($text, $what) = @_;
	my @leaked = grep { index($text, $_) >= 0 } @all_pws;

	ok(!@leaked, "$what: no password shown")
	  or diag("leaked: @leaked");
}

# SQL must succeed and print $expected (a string, or a regexp to match).
sub query_is
{
	my ($sql, $expected, $what, %opt) = @_;
	my ($rc, $out, $err) = lsql($sql, %opt);

	is($rc, 0, "$what: succeeds") or diag($err);
	if (ref $expected eq 'Regexp')
	{
		like($out, $expected, "$what: result");
	}
	else
	{
		is($out, $expected, "$what: result");
	}
	no_password($out, $what);
	return ($out, $err);
}

# SQL must fail with stderr matching every pattern of @$patterns, and
# without showing any password.
sub query_fails
{
	my ($sql, $patterns, $what, %opt) = @_;
	my ($rc, $out, $err) = lsql($sql, %opt);

	note("$what: stderr: $err");
	isnt($rc, 0, "$what: fails");
	foreach my $p (@$patterns)
	{
		like($err, $p, "$what: error matches $p");
	}
	no_password($err, $what);
	return $err;
}

# A connection string for the remote cluster.
sub rdsn
{
	my ($user, %kv) = @_;
	my %all = (
		host     => '127.0.0.1',
		port     => $rport,
		dbname   => 'postgres',
		user     => $user,
		password => $pw{$user},
		%kv);
	return join(' ',
		map { "$_=$all{$_}" } grep { defined $all{$_} } sort keys %all);
}

# fetchval through a connection string
sub fetchval_sql
{
	my ($dsn, $query) = @_;
	return 'SELECT pgasync.fetchval(' . lit($dsn) . ', ' . lit($query) . ');';
}

# "t scram_user": whether the remote session uses TLS, and its user
my $ssl_query = q{SELECT CASE WHEN ssl THEN 't' ELSE 'f' END || ' ' || current_user
  FROM pg_stat_ssl WHERE pid = pg_backend_pid()};

# A DSN target's errors name it as host:port/dbname.
sub label_re
{
	my ($host, $port) = @_;
	$port //= $rport;
	return qr/remote server "\Q$host\E:$port\/postgres"/;
}

###########################################################################
# TLS
###########################################################################

# verify-full against the name the certificate carries; connections()
# reports TLS and never the password.
{
	my $dsn = rdsn('scram_user', host => 'localhost',
		sslmode => 'verify-full', sslrootcert => $rootcrt);
	query_is(
		"SELECT 'connected' FROM pgasync.connect('tls_full', " . lit($dsn) . ");\n"
		  . "SELECT tls, host, port, kind, \"user\", dbname FROM pgasync.connections() WHERE name = 'tls_full';\n"
		  . "SELECT pgasync.fetchval('tls_full', " . lit($ssl_query) . ");\n"
		  . "SELECT c::text FROM pgasync.connections() c;",
		qr/\Aconnected\nt\|localhost\|$rport\|named\|scram_user\|postgres\nt scram_user\n\(tls_full,named,localhost,$rport,postgres,scram_user,\d+,[^,]+,t,f,f,1,/,
		'verify-full, right host name');
}

# The certificate's IP address entry matches a numeric host.
query_is(
	fetchval_sql(
		rdsn('scram_user', sslmode => 'verify-full', sslrootcert => $rootcrt),
		$ssl_query),
	't scram_user',
	'verify-full, host 127.0.0.1 (IP SAN)');

# verify-full with a host name the certificate does not carry
{
	my $dsn = rdsn('scram_user', host => 'otherhost.example',
		hostaddr => '127.0.0.1',
		sslmode  => 'verify-full', sslrootcert => $rootcrt);
	query_fails(
		fetchval_sql($dsn, 'SELECT 1'),
		[
			qr/ERROR:  08001: could not connect to ${\ label_re('otherhost.example')}/,
			qr/does not match host name "otherhost\.example"/
		],
		'verify-full, host name mismatch (connection string)');
	query_fails(
		"SELECT pgasync.connect('mismatch', " . lit($dsn) . ');',
		[
			qr/could not connect to remote server "mismatch"/,
			qr/does not match host name "otherhost\.example"/
		],
		'verify-full, host name mismatch (named connection)');

	# verify-ca does not check the name
	query_is(fetchval_sql($dsn =~ s/verify-full/verify-ca/r, $ssl_query),
		't scram_user', 'verify-ca, host name mismatch is accepted');
}

# A root certificate that did not sign the server's
query_fails(
	fetchval_sql(
		rdsn('scram_user', host => 'localhost',
			sslmode => 'verify-ca', sslrootcert => $otherca),
		'SELECT 1'),
	[ label_re('localhost'), qr/certificate verify failed/ ],
	'verify-ca with an unrelated root certificate');

# As in libpq, sslmode=require verifies the chain when given a root
query_fails(
	fetchval_sql(
		rdsn('scram_user', sslmode => 'require', sslrootcert => $otherca),
		'SELECT 1'),
	[ label_re('127.0.0.1'), qr/certificate verify failed/ ],
	'require with an unrelated root certificate');

# verify-ca needs a root certificate (there is no ~/.postgresql/root.crt)
query_fails(
	fetchval_sql(
		rdsn('scram_user', sslmode => 'verify-ca',
			sslrootcert => "$certs/no-such-root.crt"),
		'SELECT 1'),
	[ label_re('127.0.0.1'), qr/root certificate file/ ],
	'verify-ca with a missing root certificate file');

# sslmode=require without a root certificate: encrypted, not verified
query_is(
	"SELECT 'connected' FROM pgasync.connect('req', "
	  . lit(rdsn('scram_user', sslmode => 'require')) . ");\n"
	  . "SELECT tls FROM pgasync.connections() WHERE name = 'req';\n"
	  . "SELECT pgasync.fetchval('req', " . lit($ssl_query) . ');',
	"connected\nt\nt scram_user",
	'require without a root certificate');

# sslmode=disable against a hostssl-only rule: the server's pg_hba error,
# relayed with its SQLSTATE and naming the target
query_fails(
	fetchval_sql(rdsn('scram_user', sslmode => 'disable'), 'SELECT 1'),
	[
		qr/ERROR:  28000: no pg_hba.conf entry for host "127\.0\.0\.1", user "scram_user", database "postgres", no encryption/,
		qr/CONTEXT:  ${\ label_re('127.0.0.1')}/
	],
	'disable against hostssl only');

# sslmode=prefer: TLS when the server has it ...
query_is(
	"SELECT 'connected' FROM pgasync.connect('prefer_tls', "
	  . lit(rdsn('scram_user', sslmode => 'prefer')) . ");\n"
	  . "SELECT tls FROM pgasync.connections() WHERE name = 'prefer_tls';\n"
	  . "SELECT pgasync.fetchval('prefer_tls', " . lit($ssl_query) . ');',
	"connected\nt\nt scram_user",
	'prefer against a TLS server');

# ... plain when the server refuses SSL (the local node has ssl = off) ...
{
	my $dsn =
	  "host=127.0.0.1 port=$lport dbname=postgres user=local_user "
	  . "password=$pw{local_user} sslmode=prefer";
	query_is(
		"SELECT 'connected' FROM pgasync.connect('prefer_plain', " . lit($dsn) . ");\n"
		  . "SELECT tls FROM pgasync.connections() WHERE name = 'prefer_plain';\n"
		  . "SELECT pgasync.fetchval('prefer_plain', 'SELECT current_user');",
		"connected\nf\nlocal_user",
		'prefer against a server without TLS');

	# sslmode=require does not fall back
	query_fails(
		fetchval_sql($dsn =~ s/prefer/require/r, 'SELECT 1'),
		[
			label_re('127.0.0.1', $lport),
			qr/server does not support SSL, but SSL was required/
		],
		'require against a server without TLS');
}

# ... and plain again when pg_hba.conf rejects the TLS connection
# (hostnossl); libpq retries without TLS in that case.
query_is(
	"SELECT 'connected' FROM pgasync.connect('prefer_nossl', "
	  . lit(rdsn('nossl_user', sslmode => 'prefer')) . ");\n"
	  . "SELECT tls FROM pgasync.connections() WHERE name = 'prefer_nossl';\n"
	  . "SELECT pgasync.fetchval('prefer_nossl', " . lit($ssl_query) . ');',
	"connected\nf\nf nossl_user",
	'prefer against a hostnossl rule retries without TLS');

# sslmode=allow: plain first, TLS when the plain attempt is rejected
query_is(
	"SELECT 'connected' FROM pgasync.connect('allow_tls', "
	  . lit(rdsn('scram_user', sslmode => 'allow')) . ");\n"
	  . "SELECT tls FROM pgasync.connections() WHERE name = 'allow_tls';\n"
	  . "SELECT pgasync.fetchval('allow_tls', " . lit($ssl_query) . ');',
	"connected\nt\nt scram_user",
	'allow against hostssl only retries with TLS');

# Channel binding: SCRAM-SHA-256-PLUS over TLS ...
query_is(
	fetchval_sql(
		rdsn('scram_user', sslmode => 'verify-full', sslrootcert => $rootcrt,
			channel_binding => 'require'),
		$ssl_query),
	't scram_user',
	'channel_binding=require over TLS with SCRAM');

# ... cannot be had with MD5 or a cleartext password, nor without TLS
query_fails(
	fetchval_sql(
		rdsn('md5_user', sslmode => 'require', channel_binding => 'require'),
		'SELECT 1'),
	[
		label_re('127.0.0.1'),
		qr/channel binding required, but server requested MD5 password authentication/
	],
	'channel_binding=require against md5');
query_fails(
	fetchval_sql(
		rdsn('pw_user', sslmode => 'require', channel_binding => 'require'),
		'SELECT 1'),
	[ label_re('127.0.0.1'), qr/channel binding required/ ],
	'channel_binding=require against password');
query_fails(
	fetchval_sql(
		rdsn('nossl_user', sslmode => 'disable', channel_binding => 'require'),
		'SELECT 1'),
	[ label_re('127.0.0.1'), qr/channel binding required/ ],
	'channel_binding=require without TLS');

###########################################################################
# Authentication methods
###########################################################################

query_is(
	fetchval_sql(rdsn('scram_user', sslmode => 'require'), 'SELECT current_user'),
	'scram_user', 'SCRAM-SHA-256');
query_is(
	fetchval_sql(rdsn('nossl_user', sslmode => 'disable'), $ssl_query),
	'f nossl_user', 'SCRAM-SHA-256 without TLS');
query_is(
	fetchval_sql(rdsn('md5_user', sslmode => 'disable'), $ssl_query),
	'f md5_user', 'MD5 without TLS');
query_is(
	fetchval_sql(rdsn('md5_user', sslmode => 'require'), $ssl_query),
	't md5_user', 'MD5 over TLS');
query_is(
	fetchval_sql(rdsn('pw_user', sslmode => 'require'), $ssl_query),
	't pw_user', 'cleartext password over TLS');

# The remote server saw the methods wanted.
{
	my $log = slurp_file($remote->logfile);
	foreach my $m (
		[ 'scram_user', 'scram-sha-256' ],
		[ 'nossl_user', 'scram-sha-256' ],
		[ 'md5_user',   'md5' ],
		[ 'pw_user',    'password' ])
	{
		like(
			$log,
			qr/connection authenticated: identity="$m->[0]" method=$m->[1]/,
			"remote log: $m->[0] authenticated with $m->[1]");
	}
}

# Wrong passwords: 28P01 relayed, the target named, the password not shown
foreach my $case (
	[ 'scram_user', 'require' ],
	[ 'nossl_user', 'disable' ],
	[ 'md5_user',   'disable' ],
	[ 'pw_user',    'require' ])
{
	my ($user, $sslmode) = @$case;
	my $dsn = rdsn($user, sslmode => $sslmode, password => $wrong_pw);

	query_fails(
		fetchval_sql($dsn, 'SELECT 1'),
		[
			qr/ERROR:  28P01: password authentication failed for user "$user"/,
			qr/CONTEXT:  ${\ label_re('127.0.0.1')}/
		],
		"wrong password for $user (connection string)");
	query_fails(
		"SELECT pgasync.connect('wrong_$user', " . lit($dsn) . ');',
		[
			qr/ERROR:  28P01: password authentication failed for user "$user"/,
			qr/CONTEXT:  remote server "wrong_$user"/
		],
		"wrong password for $user (named connection)");
}

# With the default sslmode (prefer), a failure over TLS is retried without
# TLS, as libpq does; against a hostssl-only rule that attempt fails too.
# The error is still clean, names the target and shows no password.
query_fails(
	fetchval_sql(rdsn('scram_user', password => $wrong_pw), 'SELECT 1'),
	[ qr/ERROR:  28(P01|000): /, qr/CONTEXT:  ${\ label_re('127.0.0.1')}/ ],
	'wrong password, sslmode prefer, hostssl only');

# A failed named connection is not kept.
query_is(
	"SELECT count(*) FROM pgasync.connections() WHERE name LIKE 'wrong%';",
	'0', 'failed named connections are not listed');

###########################################################################
# Non-superusers: password_required and pgasync_fdw
###########################################################################

# Without a password: refused before connecting
query_fails(
	fetchval_sql(rdsn('trust_user', password => undef), 'SELECT 1'),
	[ qr/ERROR:  2F003: password is required/,
	  qr/Non-superusers must provide a password in the connection string/ ],
	'non-superuser, no password',
	user => 'alice');

# With a password the remote does not ask for (trust): refused after
# connecting
query_fails(
	fetchval_sql(rdsn('trust_user', sslmode => 'require'), 'SELECT 1'),
	[ qr/ERROR:  2F003: password is required/,
	  qr/does not request a password/,
	  qr/CONTEXT:  ${\ label_re('127.0.0.1')}/ ],
	'non-superuser, trust remote, password given',
	user => 'alice');
query_fails(
	"SELECT pgasync.connect('alice_trust', "
	  . lit(rdsn('trust_user', sslmode => 'require')) . ');',
	[ qr/password is required/, qr/remote server "alice_trust"/ ],
	'non-superuser, trust remote, named connection',
	user => 'alice');

# The superuser may use trust.
query_is(
	fetchval_sql(rdsn('trust_user', password => undef, sslmode => 'require'),
		'SELECT current_user'),
	'trust_user', 'superuser, trust remote, no password');

# With a password the remote asks for: fine
query_is(
	fetchval_sql(
		rdsn('scram_user', sslmode => 'verify-full', sslrootcert => $rootcrt),
		$ssl_query),
	't scram_user', 'non-superuser, SCRAM remote',
	user => 'alice');
query_is(
	fetchval_sql(rdsn('md5_user', sslmode => 'disable'), 'SELECT current_user'),
	'md5_user', 'non-superuser, MD5 remote',
	user => 'alice');

# Files of the server and the environment are the superuser's.
query_fails(
	fetchval_sql(rdsn('scram_user', passfile => '/dev/null'), 'SELECT 1'),
	[ qr/only superusers may use the "passfile" connection option/ ],
	'non-superuser, passfile', user => 'alice');
query_fails(
	fetchval_sql(
		rdsn('scram_user', sslcert => "$certs/client.crt",
			sslkey => "$certs/client.key"),
		'SELECT 1'),
	[ qr/pg_read_server_files may use the "ssl(cert|key)" connection option/ ],
	'non-superuser, sslcert', user => 'alice');

# pgasync_fdw servers and user mappings
$local->safe_psql(
	'postgres', qq{
CREATE SERVER rsrv FOREIGN DATA WRAPPER pgasync_fdw
  OPTIONS (host '127.0.0.1', port '$rport', dbname 'postgres',
           sslmode 'verify-full', sslrootcert '$rootcrt');
CREATE USER MAPPING FOR alice SERVER rsrv
  OPTIONS (user 'scram_user', password '$pw{scram_user}');
CREATE USER MAPPING FOR bob SERVER rsrv
  OPTIONS (user 'scram_user', password '$wrong_pw');
CREATE SERVER tsrv FOREIGN DATA WRAPPER pgasync_fdw
  OPTIONS (host '127.0.0.1', port '$rport', dbname 'postgres', sslmode 'require');
CREATE USER MAPPING FOR alice SERVER tsrv
  OPTIONS (user 'trust_user', password_required 'false');
CREATE USER MAPPING FOR bob SERVER tsrv
  OPTIONS (user 'trust_user', password '$pw{trust_user}');
GRANT USAGE ON FOREIGN SERVER tsrv TO alice, bob;
});

query_fails(
	q{SELECT pgasync.fetchval('rsrv', 'SELECT 1');},
	[ qr/ERROR:  42501: permission denied for foreign server rsrv/ ],
	'server without USAGE', user => 'alice');
query_fails(
	q{SELECT pgasync.connect('c', 'rsrv');},
	[ qr/permission denied for foreign server rsrv/ ],
	'server without USAGE, connect()', user => 'alice');

$local->safe_psql('postgres', 'GRANT USAGE ON FOREIGN SERVER rsrv TO alice, bob');

query_is(
	"SELECT pgasync.fetchval('rsrv', " . lit($ssl_query) . ");\n"
	  . "SELECT name, kind, tls FROM pgasync.connections();\n"
	  . "SELECT 'connected' FROM pgasync.connect('named_rsrv', 'rsrv');\n"
	  . "SELECT pgasync.fetchval('named_rsrv', 'SELECT current_user');\n"
	  . "SELECT c::text FROM pgasync.connections() c ORDER BY name;",
	qr/\At scram_user\nrsrv\|server\|t\nconnected\nscram_user\n\(named_rsrv,server,127\.0\.0\.1,$rport,postgres,scram_user,.*\n\(rsrv,server,/,
	'server with USAGE and a user mapping with the password',
	user => 'alice');

# A wrong password in the user mapping names the server.
query_fails(
	q{SELECT pgasync.fetchval('rsrv', 'SELECT 1');},
	[
		qr/ERROR:  28P01: password authentication failed for user "scram_user"/,
		qr/CONTEXT:  remote server "rsrv"/
	],
	'user mapping with a wrong password', user => 'bob');

# USAGE revoked: even a cached connection may no longer be used
{
	my $bg = $local->background_psql(
		'postgres',
		on_error_stop => 0,
		extra_params  => [ '-U', 'alice', '-v', 'VERBOSITY=verbose' ]);

	$bg->{stderr} = '';
	my $out = $bg->query(q{SELECT pgasync.fetchval('rsrv', 'SELECT 1')});
	is($out . $bg->{stderr}, '1', 'cached server connection works');
	$local->safe_psql('postgres', 'REVOKE USAGE ON FOREIGN SERVER rsrv FROM alice');
	$bg->{stderr} = '';
	$out = $bg->query(q{SELECT pgasync.fetchval('rsrv', 'SELECT 2')});
	is($out, '', 'USAGE revoked while connected: no result');
	like(
		$bg->{stderr},
		qr/ERROR:  42501: permission denied for foreign server rsrv/,
		'USAGE revoked while connected: permission denied');
	$local->safe_psql('postgres', 'GRANT USAGE ON FOREIGN SERVER rsrv TO alice');
	$bg->{stderr} = '';
	$out = $bg->query(q{SELECT pgasync.fetchval('rsrv', 'SELECT 3')});
	is($out . $bg->{stderr}, '3', 'USAGE granted again: works');
	$bg->quit;
}

# password_required 'false', set by the superuser, lets alice use trust
query_is(
	q{SELECT pgasync.fetchval('tsrv', 'SELECT current_user');},
	'trust_user', 'password_required=false in a user mapping',
	user => 'alice');

# bob's mapping has a password, which the trust remote never asks for
query_fails(
	q{SELECT pgasync.fetchval('tsrv', 'SELECT 1');},
	[ qr/password is required/, qr/CONTEXT:  remote server "tsrv"/ ],
	'user mapping with a password, trust remote', user => 'bob');

# A user mapping without a password
$local->safe_psql('postgres',
	q{ALTER USER MAPPING FOR bob SERVER tsrv OPTIONS (DROP password)});
query_fails(
	q{SELECT pgasync.fetchval('tsrv', 'SELECT 1');},
	[ qr/password is required/,
	  qr/Non-superusers must provide a password in the user mapping/ ],
	'user mapping without a password', user => 'bob');

# Only a superuser may set password_required 'false'.
query_fails(
	q{ALTER USER MAPPING FOR bob SERVER tsrv OPTIONS (ADD password_required 'false');},
	[ qr/password_required=false is superuser-only/ ],
	'non-superuser cannot set password_required=false', user => 'bob');
query_fails(
	q{DROP USER MAPPING FOR bob SERVER tsrv;
	  CREATE USER MAPPING FOR bob SERVER tsrv OPTIONS (user 'trust_user', password_required 'off');},
	[ qr/password_required=false is superuser-only/ ],
	'non-superuser cannot create a mapping with password_required=false',
	user => 'bob');
query_is(
	q{SELECT count(*) FROM pg_user_mappings WHERE srvname = 'tsrv' AND usename = 'bob'
	    AND 'password_required=off' = ANY (umoptions);},
	'0', 'no such mapping was stored');

###########################################################################
# No password anywhere in the local server's log
###########################################################################

{
	my $log = slurp_file($local->logfile);

	# make sure the log is the right one and holds pgasync's errors
	like($log, qr/password authentication failed for user "md5_user"/,
		'local log holds the relayed errors');
	like($log, qr/could not connect to remote server/,
		'local log holds the connection failures');
	no_password($log, 'local server log');
}

$local->stop;
$remote->stop;
done_testing();
