#-------------------------------------------------------------------------
#
# 001_smoke.pl
#	  The protocol core against a real server: the smoke client
#	  (test/smoke/smoke_client.c) connects over a Unix socket and over TCP
#	  with TLS, authenticates with SCRAM-SHA-256 (with and without channel
#	  binding), MD5 and a cleartext password, and runs queries through the
#	  extended protocol.
#
# Environment (set by test/run.sh):
#	PGW_SMOKE_CLIENT	path of the smoke client binary
#	PGW_TEST_CERTS		directory written by test/certs/make-certs.sh
#
#-------------------------------------------------------------------------

use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use File::Copy;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib $FindBin::RealBin;
use PgasyncTest;

my $client = $ENV{PGW_SMOKE_CLIENT};
my $certs  = test_certs();

BAIL_OUT('PGW_SMOKE_CLIENT must name the smoke client binary')
  unless defined $client && -x $client;

# Run the smoke client; returns (exit status, stdout, stderr).
sub smoke
{
	my ($dsn, @queries) = @_;
	my ($out, $err) = ('', '');

	IPC::Run::run([ $client, $dsn, @queries ],
		'<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	my $status = $? >> 8;
	note("smoke_client '$dsn': status $status\nstdout: "
		  . substr($out, 0, 300)
		  . "\nstderr: $err");
	return ($status, $out, $err);
}

my $node = PostgreSQL::Test::Cluster->new('smoke');
$node->init;

my $pgdata = $node->data_dir;
foreach my $f (qw(server.crt server.key root.crt root.crl))
{
	copy("$certs/$f", "$pgdata/$f") or die "could not copy $f: $!";
}
chmod 0600, "$pgdata/server.key";

$node->append_conf(
	'postgresql.conf', qq{
listen_addresses = '127.0.0.1'
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
ssl_ca_file = 'root.crt'
password_encryption = 'scram-sha-256'
});

# The bootstrap superuser keeps trust over the socket for the set-up;
# everyone else authenticates.
open my $hba, '>', "$pgdata/pg_hba.conf" or die "could not write pg_hba.conf: $!";
print $hba <<'EOF';
# TYPE	DATABASE	USER		ADDRESS			METHOD
local	all		postgres				trust
local	all		all					scram-sha-256
host	all		md5_user	127.0.0.1/32		md5
host	all		pw_user		127.0.0.1/32		password
hostssl	all		all		127.0.0.1/32		scram-sha-256
EOF
close $hba;

$node->start;

$node->safe_psql(
	'postgres', q{
SET password_encryption = 'scram-sha-256';
CREATE ROLE scram_user LOGIN PASSWORD 'scram pass';
CREATE ROLE pw_user LOGIN PASSWORD 'pw_pass';
SET password_encryption = 'md5';
CREATE ROLE md5_user LOGIN PASSWORD 'md5_pass';
});

is( $node->safe_psql(
		'postgres',
		q{SELECT rolname, left(rolpassword, 3) FROM pg_authid
		  WHERE rolname LIKE '%\_user' ORDER BY 1}),
	"md5_user|md5\npw_user|SCR\nscram_user|SCR",
	'roles have the password kinds wanted');

my $port    = $node->port;
my $sockdir = $node->host;
my $rootcrt = "$certs/root.crt";
my ($rc, $out, $err);

# Unix socket, SCRAM-SHA-256, 1000 rows through the extended protocol.
my $expected = join('', map { "$_\t" . md5_hex($_) . "\n" } 1 .. 1000);
($rc, $out, $err) = smoke(
	"host=$sockdir port=$port user=scram_user password='scram pass' dbname=postgres",
	'SELECT g, md5(g::text) FROM generate_series(1, 1000) g');
is($rc, 0, 'Unix socket SCRAM: exit status 0');
is($out, $expected, 'Unix socket SCRAM: all 1000 rows as expected');
like($err, qr/^tls=off channel_binding=off$/m,
	'Unix socket SCRAM: no TLS, no channel binding');

# Several queries in one session, NULLs, an empty result.
($rc, $out, $err) = smoke(
	"host=$sockdir port=$port user=scram_user password='scram pass' dbname=postgres",
	"SELECT 'a b', NULL::text, 42",
	'SELECT 1 WHERE false',
	'SELECT current_user, current_database()');
is($rc,  0, 'several queries: exit status 0');
is($out, "a b\t\\N\t42\nscram_user\tpostgres\n", 'several queries: rows');

# TCP + TLS, verify-full against "localhost" (may try ::1 first).
($rc, $out, $err) = smoke(
	"host=localhost port=$port user=scram_user password='scram pass' dbname=postgres "
	  . "sslmode=verify-full sslrootcert=$rootcrt",
	'SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
is($rc, 0, 'TLS verify-full: exit status 0');
like($out, qr/^t\tTLSv1\.[23]$/, 'TLS verify-full: server sees TLS');
like($err, qr/^tls=on channel_binding=on$/m,
	'TLS verify-full: SCRAM-SHA-256-PLUS with channel binding');

# The same as a URI.
($rc, $out, $err) = smoke(
	"postgresql://scram_user:scram%20pass\@localhost:$port/postgres"
	  . "?sslmode=verify-full&sslrootcert=$rootcrt",
	'SELECT current_user');
is($rc,  0,              'URI form: exit status 0');
is($out, "scram_user\n", 'URI form: rows');

# channel_binding=require over TLS.
($rc, $out, $err) = smoke(
	"host=127.0.0.1 port=$port user=scram_user password='scram pass' dbname=postgres "
	  . "sslmode=require channel_binding=require",
	'SELECT 1');
is($rc,  0,     'channel_binding=require over TLS: exit status 0');
is($out, "1\n", 'channel_binding=require over TLS: rows');
like($err, qr/^tls=on channel_binding=on$/m,
	'channel_binding=require over TLS: channel bound');

# channel_binding=require cannot be met without TLS.
($rc, $out, $err) = smoke(
	"host=$sockdir port=$port user=scram_user password='scram pass' dbname=postgres "
	  . "channel_binding=require",
	'SELECT 1');
is($rc, 1, 'channel_binding=require over a Unix socket fails');
like($err, qr/channel binding/i,
	'channel_binding=require over a Unix socket: error says why');

# Wrong password, over TLS and over the socket.
($rc, $out, $err) = smoke(
	"host=127.0.0.1 port=$port user=scram_user password=wrong dbname=postgres sslmode=require",
	'SELECT 1');
is($rc, 1, 'wrong password over TLS fails');
like(
	$err,
	qr/password authentication failed/,
	'wrong password over TLS: clean error');
unlike($err, qr/wrong/, 'wrong password over TLS: password not shown');
($rc, $out, $err) = smoke(
	"host=$sockdir port=$port user=scram_user password=wrong dbname=postgres",
	'SELECT 1');
is($rc, 1, 'wrong password over the socket fails');
like(
	$err,
	qr/ERROR: 28P01: password authentication failed/,
	'wrong password over the socket: clean error with SQLSTATE');

# MD5 over plain TCP.
($rc, $out, $err) = smoke(
	"host=127.0.0.1 port=$port user=md5_user password=md5_pass dbname=postgres sslmode=disable",
	'SELECT current_user');
is($rc,  0,            'md5 user: exit status 0');
is($out, "md5_user\n", 'md5 user: rows');
like($err, qr/^tls=off channel_binding=off$/m, 'md5 user: no TLS');

# MD5 with a wrong password.
($rc, $out, $err) = smoke(
	"host=127.0.0.1 port=$port user=md5_user password=nope dbname=postgres sslmode=disable",
	'SELECT current_user');
is($rc, 1, 'md5 user, wrong password fails');
like($err, qr/password authentication failed/,
	'md5 user, wrong password: clean error');

# Cleartext password over TLS.
($rc, $out, $err) = smoke(
	"host=127.0.0.1 port=$port user=pw_user password=pw_pass dbname=postgres sslmode=require",
	'SELECT current_user');
is($rc,  0,           'password user: exit status 0');
is($out, "pw_user\n", 'password user: rows');
like($err, qr/^tls=on channel_binding=off$/m,
	'password user: TLS without channel binding');

# verify-full with a host name the certificate does not name.
($rc, $out, $err) = smoke(
	"host=wronghost.example hostaddr=127.0.0.1 port=$port user=scram_user "
	  . "password='scram pass' dbname=postgres sslmode=verify-full sslrootcert=$rootcrt",
	'SELECT 1');
is($rc,  1,  'verify-full, host name mismatch fails');
is($out, '', 'verify-full, host name mismatch: no rows');
like($err, qr/wronghost\.example|does not match|host ?name/i,
	'verify-full, host name mismatch: error says why');

# verify-ca with an unrelated root certificate.
($rc, $out, $err) = smoke(
	"host=localhost hostaddr=127.0.0.1 port=$port user=scram_user "
	  . "password='scram pass' dbname=postgres sslmode=verify-ca "
	  . "sslrootcert=$certs/other_root.crt",
	'SELECT 1');
is($rc, 1, 'verify-ca with an unrelated root fails');
like($err, qr/certificate|verify/i,
	'verify-ca with an unrelated root: error says why');

# A server error inside a query.
($rc, $out, $err) = smoke(
	"host=127.0.0.1 port=$port user=scram_user password='scram pass' dbname=postgres sslmode=require",
	'SELECT 1/0');
is($rc, 1, 'division by zero fails');
like($err, qr/^ERROR: 22012: division by zero$/m,
	'division by zero: SQLSTATE 22012');

# A host list whose first entry does not answer.
($rc, $out, $err) = smoke(
	"host=$sockdir/nonexistent,$sockdir port=$port user=scram_user "
	  . "password='scram pass' dbname=postgres",
	'SELECT 7');
is($rc,  0,     'host list: second host used');
is($out, "7\n", 'host list: rows');

$node->stop;
done_testing();
