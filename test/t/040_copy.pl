#-------------------------------------------------------------------------
#
# 040_copy.pl
#	  pgasync.copy(): server-to-server COPY.  Fidelity of every built-in
#	  type class in binary; the automatic fall-back to text when column
#	  types differ or are not built-in; truncate + FREEZE; parallel copies
#	  split by integer key and by CTID ranges, atomic (two-phase commit)
#	  or not, and the up-front error without max_prepared_transactions;
#	  atomicity when the destination fails mid-way, when the destination or
#	  the source backend is killed, and on statement_timeout (both sides
#	  stop, no connection or lock is left behind); the progress view;
#	  bounded memory for a copy larger than 200 MB.
#
# Three clusters: "local" (CREATE EXTENSION pgasync), "src" (the source;
# max_prepared_transactions 0, so it also serves as a destination that
# cannot take an atomic parallel copy) and "dst" (the destination,
# max_prepared_transactions 10).  All connections go over Unix sockets.
# Sequences that need a running copy use background psql sessions.
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

my $src = PostgreSQL::Test::Cluster->new('src');
$src->init;
$src->append_conf('postgresql.conf', "max_prepared_transactions = 0\n");
$src->start;

my $dst = PostgreSQL::Test::Cluster->new('dst');
$dst->init;
$dst->append_conf('postgresql.conf',
	"max_prepared_transactions = 10\nlog_statement = 'all'\n");
$dst->start;

my $local = PostgreSQL::Test::Cluster->new('local');
$local->init;
$local->start;
$local->safe_psql('postgres', 'CREATE EXTENSION pgasync');

sub dsn
{
	my ($node) = @_;
	return 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres';
}

my $S = lit(dsn($src));
my $D = lit(dsn($dst));

# The label pgasync gives a connection string in messages
my $dst_label = qr/"[^"]*:@{[ $dst->port ]}\/postgres"/;
my $src_label = qr/"[^"]*:@{[ $src->port ]}\/postgres"/;

# Run SQL on the local node; returns (stdout, stderr).
sub lsql
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	$local->psql(
		'postgres', $sql,
		stdout => \$out,
		stderr => \$err,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return ($out, $err);
}

# pgasync.copy(source, query, dest, table, options) as SQL
sub copy_sql
{
	my ($from, $query, $to, $table, $opts) = @_;
	return "SELECT pgasync.copy($from, " . lit($query) . ", $to, " . lit($table)
	  . (defined $opts ? ', ' . lit($opts) : '') . ')';
}

# A digest of a table's rows, in id order
sub digest
{
	my ($node, $table) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY id)), '') FROM $table t"
	);
}

# pgasync connections and locks left behind on a node
sub pgasync_backends
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgasync' AND pid <> pg_backend_pid()"
	);
}

sub table_locks
{
	my ($node, $table) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_locks WHERE relation = '$table'::regclass AND pid <> pg_backend_pid()"
	);
}

# Nothing of pgasync remains on either server (waits up to $limit s).
sub nothing_left
{
	my ($what, $table, $limit) = @_;
	my $t0 = time;
	my ($s, $d, $l, $p);

	$limit //= 5;
	while (1)
	{
		$s = pgasync_backends($src);
		$d = pgasync_backends($dst);
		$l = table_locks($dst, $table);
		$p = $dst->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts');
		last if ($s == 0 && $d == 0 && $l == 0 && $p == 0) || time - $t0 > $limit;
		sleep 0.05;
	}
	is("$s/$d/$l/$p", '0/0/0/0',
		"$what: no pgasync backend on source or destination, no lock on $table, no prepared transaction"
	);
	return time - $t0;
}

# pid of a pgasync backend on $node whose query contains $pattern
sub remote_pid
{
	my ($node, $pattern, $limit) = @_;
	my $t0 = time;
	$limit //= 30;
	while (time - $t0 < $limit)
	{
		my $pid = $node->safe_psql('postgres',
			"SELECT pid FROM pg_stat_activity WHERE application_name = 'pgasync' AND state = 'active' AND strpos(query, "
			  . lit($pattern) . ') > 0 LIMIT 1');
		return $pid if $pid ne '';
		sleep 0.05;
	}
	return undef;
}

###########################################################################
# Data
###########################################################################

my $types_ddl = q{
CREATE TABLE fid (
	id int PRIMARY KEY,
	c_bool bool, c_int2 int2, c_int4 int4, c_int8 int8,
	c_num numeric, c_num2 numeric(12,3), c_f4 float4, c_f8 float8, c_money money,
	c_text text, c_vc varchar(20), c_bpchar char(5), c_name name, c_char "char",
	c_bytea bytea,
	c_date date, c_time time, c_timetz timetz, c_ts timestamp, c_tstz timestamptz,
	c_iv interval,
	c_uuid uuid, c_json json, c_jsonb jsonb, c_xml xml,
	c_inet inet, c_cidr cidr, c_mac macaddr, c_mac8 macaddr8,
	c_point point, c_line line, c_lseg lseg, c_box box, c_path path,
	c_poly polygon, c_circle circle,
	c_bit bit(8), c_varbit varbit, c_tsv tsvector, c_tsq tsquery,
	c_i4r int4range, c_numr numrange, c_tstzr tstzrange, c_datemr datemultirange,
	c_ia int[], c_ta text[], c_2d int[], c_na numeric[],
	c_oid oid, c_lsn pg_lsn
);
};

$src->safe_psql('postgres', $types_ddl . q{
INSERT INTO fid (id) VALUES (0);
INSERT INTO fid VALUES (1,
	true, -32768, -2147483648, -9223372036854775808,
	'NaN', -123456789.125, 'NaN', '-Infinity', '-92233720368547758.08',
	E'tab\there\nnewline \\\\ backslash "quote" ''single'' é ü 日本 🐘', 'varchar', 'ab', 'name', 'x',
	'\x00ff10deadbeef',
	'-infinity', '24:00:00', '23:59:59.999999+14', 'infinity', '-infinity',
	'-178000000 years -3 mons -5 days 04:05:06.789',
	'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a" :  [1, 2.50, null], "b": "x"}',
	'{"a": [1, 2.50, null], "b": {"c": "é"}}', '<a x="1">b &amp; c</a>',
	'::ffff:1.2.3.4/120', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05',
	'(1.5,-2.25)', '{1,-1,0.5}', '[(0,0),(1,1)]', '(3,3),(1,1)', '[(0,0),(1,1),(2,0)]',
	'((0,0),(1,1),(2,0))', '<(1,1),5>',
	B'10100101', B'1011', 'a fat:2 cat:1A sat', 'fat & (rat | !cat)',
	'[1,10)', '(-1.5,2.25]', '[2024-01-01 00:00:00+00,infinity)',
	'{[2024-01-01,2024-02-01), [2024-03-01,2024-04-01)}',
	'{1,NULL,-3}', '{"a b",NULL,"c,d","e\"f"}', '{{1,2},{3,4}}', '{1.5,NaN,-0.001}',
	4294967295, 'FFFFFFFF/FFFFFFFF');
INSERT INTO fid VALUES (2,
	false, 32767, 2147483647, 9223372036854775807,
	'Infinity', 999999999.999, '-0', 1.0e-300, 0,
	'', '', '', '', '',
	'\x',
	'4713-01-01 BC', '00:00', '00:00:00-15:59', '294276-12-31 23:59:59.999999', '2000-02-29 12:00:00.000001+05:30',
	'0',
	'00000000-0000-0000-0000-000000000000', '[]', '{}', '',
	'::', '::/0', '00:00:00:00:00:00', '00:00:00:00:00:00:00:00',
	'(0,0)', '{0,1,0}', '[(0,0),(0,0)]', '(0,0),(0,0)', '((0,0))',
	'((0,0))', '<(0,0),0>',
	B'00000000', B'', '', 'a',
	'empty', 'empty', 'empty', '{}',
	'{}', '{}', '{}', '{}',
	0, '0/0');
INSERT INTO fid
SELECT g, g % 2 = 0, (g % 30000)::int2, g * 7, g::int8 * 1000003,
	g / 7.0, g / 3.0, g / 11.0, g * 1.1, g * 0.5,
	md5(g::text), left(md5(g::text), 20), left(md5(g::text), 5), 'n' || g, chr(65 + g % 26),
	decode(md5(g::text), 'hex'),
	date '2000-01-01' + g, time '00:00' + g * interval '1 second', timetz '12:00+02' + g * interval '1 minute',
	timestamp '2000-01-01' + g * interval '1 hour', timestamptz '2000-01-01 00:00+00' + g * interval '1 hour',
	g * interval '1 day 1 second',
	md5(g::text)::uuid, json_build_object('g', g), jsonb_build_object('g', g, 'a', ARRAY[g, g + 1]),
	xmlelement(name x, g),
	('10.' || g % 256 || '.0.1')::inet, ('10.' || g % 256 || '.0.0/16')::cidr,
	('08:00:2b:00:00:' || lpad(to_hex(g % 256), 2, '0'))::macaddr,
	('08:00:2b:00:00:00:00:' || lpad(to_hex(g % 256), 2, '0'))::macaddr8,
	point(g, -g), line(point(0, 0), point(g, g + 1)), lseg(point(0, 0), point(g, g)),
	box(point(0, 0), point(g, g)), path(polygon(box(point(0, 0), point(g, g)))),
	polygon(box(point(0, 0), point(g, g))), circle(point(g, g), g),
	(g % 256)::bit(8), (g % 1024)::bit(10)::varbit, to_tsvector('simple', 'word' || g || ' other'),
	to_tsquery('simple', 'word' || g),
	int4range(g, g + 10), numrange(g / 3.0, g), tstzrange(timestamptz '2020-01-01 00:00+00' + g * interval '1 hour', NULL),
	datemultirange(daterange(date '2020-01-01' + g, date '2020-01-10' + g)),
	ARRAY[g, NULL, -g], ARRAY[md5(g::text), NULL, 'x y'], ARRAY[ARRAY[g, g], ARRAY[-g, 0]], ARRAY[g / 7.0],
	g::oid, ('0/' || to_hex(g))::pg_lsn
FROM generate_series(3, 2000) g;
});
$dst->safe_psql('postgres', $types_ddl);

###########################################################################
# Fidelity in binary
###########################################################################

my ($out, $err) = lsql("SET client_min_messages = debug1;\n"
	  . copy_sql($S, 'fid', $D, 'fid'));
is($out, '2001', 'fidelity: copy returns the row count');
like($err, qr/pgasync.copy: 1 stream, format binary/, 'fidelity: binary format')
  or diag($err);
is(digest($dst, 'fid'), digest($src, 'fid'),
	'fidelity: every value of every type class arrives intact');
nothing_left('fidelity', 'fid');

# a query as the source, in text on request: the same values again
$dst->safe_psql('postgres', 'TRUNCATE fid');
($out, $err) = lsql("SET client_min_messages = debug1;\n"
	  . copy_sql($S, 'SELECT * FROM fid WHERE id >= 0;  ', $D, 'fid', '{"format": "text"}'));
is($out, '2001', 'fidelity, text: row count');
like($err, qr/format text/, 'fidelity, text: text format on request');
is(digest($dst, 'fid'), digest($src, 'fid'), 'fidelity, text: values intact');

###########################################################################
# Automatic text when types differ or are not built-in
###########################################################################

$src->safe_psql('postgres', q{
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE pair AS (a int, b text);
CREATE TABLE tf (id int4 PRIMARY KEY, v int4, m mood, p pair, d text, r regclass);
INSERT INTO tf SELECT g, g * 3, (ARRAY['sad', 'ok', 'happy'])[1 + g % 3]::mood,
	ROW(g, 'p' || g)::pair, 'd' || g, 'pg_class'::regclass FROM generate_series(1, 1000) g;
CREATE TABLE ti (id int4 PRIMARY KEY, v int4);
INSERT INTO ti SELECT g, g FROM generate_series(1, 1000) g;
});
$dst->safe_psql('postgres', q{
CREATE TYPE unrelated AS (x int);
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE pair AS (a int, b text);
CREATE TABLE tf (id int8 PRIMARY KEY, v numeric, m mood, p pair, d varchar(100), r regclass);
CREATE TABLE ti (id int8 PRIMARY KEY, v numeric(10,1));
});
($out, $err) = lsql("SET client_min_messages = debug1;\n"
	  . copy_sql($S, 'public.tf', $D, 'tf', '{"format": "binary"}'));
is($out, '1000', 'types differ: copy succeeds');
like($err, qr/format text/, 'types differ: text format chosen automatically');
is( $dst->safe_psql('postgres',
		"SELECT md5(string_agg(concat_ws('|', id, v, m, p, d, r), ',' ORDER BY id)) FROM tf"),
	$src->safe_psql('postgres',
		"SELECT md5(string_agg(concat_ws('|', id, v, m, p, d, r), ',' ORDER BY id)) FROM tf"),
	'types differ: values arrive');
($out, $err) = lsql("SET client_min_messages = debug1;\n" . copy_sql($S, 'ti', $D, 'ti'));
is($out, '1000', 'int4 into int8 and numeric: copy succeeds');
like($err, qr/format text/, 'int4 into int8 and numeric: text format');
is($dst->safe_psql('postgres', 'SELECT sum(id), sum(v) FROM ti'),
	'500500|500500.0', 'int4 into int8 and numeric: values');

###########################################################################
# Options: columns, where, quoted names, errors
###########################################################################

$src->safe_psql('postgres', q{
CREATE SCHEMA "My Schema";
CREATE TABLE "My Schema"."Mixed Table" ("Id" int PRIMARY KEY, "Val" text, gen int GENERATED ALWAYS AS ("Id" * 2) STORED);
INSERT INTO "My Schema"."Mixed Table" SELECT g, 'v' || g FROM generate_series(1, 100) g;
});
$dst->safe_psql('postgres', q{
CREATE TABLE named (other text DEFAULT 'dflt', "Val" text, "Id" int, gen int GENERATED ALWAYS AS ("Id" * 2) STORED);
});
($out, $err) = lsql(
	copy_sql($S, ' "My Schema" . "Mixed Table" ', $D, 'public.named',
		'{"columns": ["Id", "Val"], "where": "\"Id\" % 10 <> 0"}'));
is($out, '90', 'columns and where: rows that pass the filter');
is( $dst->safe_psql('postgres',
		'SELECT count(*), sum("Id"), min(other), sum(gen) FROM named'),
	'90|4500|dflt|9000',
	'columns and where: values, defaults and generated columns');

($out, $err) = lsql(copy_sql($S, 'fid', $D, 'fid', '{"bogus": 1}'));
like($err, qr/unrecognized pgasync.copy option "bogus"/, 'unknown option: error');
($out, $err) = lsql(copy_sql($S, 'fid', $D, 'fid', '{"parallel": "two"}'));
like($err, qr/option "parallel" must be an integer/, 'parallel of the wrong type: error');
($out, $err) = lsql(copy_sql($S, 'SELECT * FROM fid', $D, 'fid', '{"parallel": 2}'));
like($err, qr/parallel copy needs a source table, not a query/,
	'parallel with a query: error');
($out, $err) =
  lsql(copy_sql($S, 'fid', $D, 'fid', '{"parallel": 2, "truncate": true}'));
like($err, qr/"truncate" cannot be combined with "parallel"/,
	'parallel with truncate: error');
($out, $err) = lsql(copy_sql($S, 'ti', $D, 'ti', '{"columns": ["id", "nope"]}'));
like($err, qr/column "nope" of relation ti does not exist/, 'unknown column: error');
($out, $err) = lsql(copy_sql($S, 'SELECT 1', $D, 'ti'));
like($err, qr/different numbers of columns.*\n.*The source returns 1 columns, and the destination takes 2/,
	'column count mismatch: error up front');
($out, $err) = lsql(copy_sql($S, 'no_such_table', $D, 'ti'));
like($err, qr/relation "no_such_table" does not exist/, 'missing source table: error');
like($err, qr/remote server $src_label/, 'missing source table: names the source');
($out, $err) = lsql(copy_sql($S, 'SELEC 1', $D, 'ti'));
like($err, qr/syntax error/, 'bad source query: error');
nothing_left('option errors', 'ti');

###########################################################################
# Truncate and FREEZE
###########################################################################

$src->safe_psql('postgres', q{
CREATE TABLE tr (id int PRIMARY KEY, v text);
INSERT INTO tr SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
});
$dst->safe_psql('postgres', q{
CREATE TABLE tr (id int PRIMARY KEY, v text);
INSERT INTO tr SELECT g, 'old' FROM generate_series(1, 500) g;
});
($out, $err) = lsql("SET client_min_messages = debug1;\n"
	  . copy_sql($S, 'tr', $D, 'tr', '{"truncate": true}'));
is($out, '20000', 'truncate: row count');
like($err, qr/BEGIN; TRUNCATE tr; COPY tr FROM STDIN \(FORMAT binary, FREEZE\)/,
	'truncate: TRUNCATE and COPY FREEZE in one transaction');
is(digest($dst, 'tr'), digest($src, 'tr'), 'truncate: old rows gone, new rows there');
if ($dst->safe_psql('postgres',
		"SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_visibility'") == 1)
{
	$dst->safe_psql('postgres', 'CREATE EXTENSION pg_visibility');
	ok( $dst->safe_psql('postgres',
			'SELECT all_frozen > 0 FROM pg_visibility_map_summary(\'tr\')') eq 't',
		'truncate: pages frozen by COPY FREEZE');
}

###########################################################################
# Parallel copies
###########################################################################

$src->safe_psql('postgres', q{
CREATE TABLE pk (id int4 PRIMARY KEY, v text);
INSERT INTO pk SELECT g, md5(g::text) FROM generate_series(-30000, 30000) g;
INSERT INTO pk VALUES (2147483647, 'max'), (-2147483648, 'min');
CREATE TABLE nokey (id int, v text);
INSERT INTO nokey SELECT g, md5(g::text) FROM generate_series(1, 60000) g;
DELETE FROM nokey WHERE id % 7 = 0;
INSERT INTO nokey SELECT g, 'late' FROM generate_series(60001, 60500) g;
CREATE TABLE big8 (id int8 PRIMARY KEY, v text);
INSERT INTO big8 VALUES (-9223372036854775808, 'min'), (9223372036854775807, 'max'), (0, 'zero');
});
$dst->safe_psql('postgres', q{
CREATE TABLE pk (id int4 PRIMARY KEY, v text);
CREATE TABLE nokey (id int, v text);
CREATE TABLE big8 (id int8 PRIMARY KEY, v text);
});

($out, $err) = lsql("SET client_min_messages = debug1;\n"
	  . copy_sql($S, 'pk', $D, 'pk', '{"parallel": 4}'));
is($out, '60003', 'parallel by key: row count');
like($err, qr/4 streams, format binary, two-phase commit/,
	'parallel by key: four streams, two-phase commit');
like($err, qr/stream 1: source: BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '[^']+'; COPY \(SELECT id, v FROM ONLY pk WHERE id >= -?\d+ AND id < -?\d+\)/,
	'parallel by key: ranges of the key, one snapshot');
is(digest($dst, 'pk'), digest($src, 'pk'), 'parallel by key: every row exactly once');
nothing_left('parallel by key', 'pk');

($out, $err) = lsql("SET client_min_messages = debug1;\n"
	  . copy_sql($S, 'nokey', $D, 'nokey', '{"parallel": 4}'));
is($out, $src->safe_psql('postgres', 'SELECT count(*) FROM nokey'),
	'parallel by ctid: row count');
like($err, qr/WHERE ctid >= '\(\d+,0\)'::pg_catalog.tid AND ctid < '\(\d+,0\)'::pg_catalog.tid/,
	'parallel by ctid: ranges of pages');
{
	# the table's pages are shared out: every stream starts past the last
	my @starts = map { $_ + 0 } ($err =~ /ctid >= '\((\d+),0\)'/g);
	my $rising = @starts == 3 && $starts[0] > 0;
	$rising &&= $starts[$_] > $starts[$_ - 1] for 1 .. $#starts;
	ok($rising, 'parallel by ctid: four non-empty ranges of pages')
	  or diag("range starts: @starts");
}
is(digest($dst, 'nokey'), digest($src, 'nokey'), 'parallel by ctid: every row exactly once');

($out, $err) = lsql(copy_sql($S, 'big8', $D, 'big8', '{"parallel": 3}'));
is($out, '3', 'parallel by key over the whole int8 range: row count');
is(digest($dst, 'big8'), digest($src, 'big8'), 'parallel by key over the whole int8 range: rows');

$dst->safe_psql('postgres', 'TRUNCATE pk');
($out, $err) = lsql("SET client_min_messages = debug1;\n"
	  . copy_sql($S, 'pk', $D, 'pk', '{"parallel": 2, "atomic": false}'));
is($out, '60003', 'parallel, not atomic: row count');
unlike($err, qr/two-phase/, 'parallel, not atomic: no two-phase commit');
is(digest($dst, 'pk'), digest($src, 'pk'), 'parallel, not atomic: rows');
nothing_left('parallel, not atomic', 'pk');

# into a server without prepared transactions: refused up front
$src->safe_psql('postgres', 'CREATE TABLE pk_copy (LIKE pk)');
($out, $err) = lsql(copy_sql($S, 'pk', $S, 'pk_copy', '{"parallel": 2}'));
like($err, qr/atomic parallel copy needs prepared transactions on destination server/,
	'max_prepared_transactions = 0: error');
like($err, qr/HINT:  Set max_prepared_transactions on the destination server, or pass "atomic": false/,
	'max_prepared_transactions = 0: hint');
is($src->safe_psql('postgres', 'SELECT count(*) FROM pk_copy'), '0',
	'max_prepared_transactions = 0: nothing copied');
($out, $err) = lsql(copy_sql($S, 'pk', $S, 'pk_copy', '{"parallel": 2, "atomic": false}'));
is($out, '60003', 'max_prepared_transactions = 0, atomic false: copied');

# a stream that fails: nothing of any stream stays
$dst->safe_psql('postgres', 'TRUNCATE pk; ALTER TABLE pk ADD CHECK (id <> 20000)');
($out, $err) = lsql(copy_sql($S, 'pk', $D, 'pk', '{"parallel": 4}'));
like($err, qr/violates check constraint/, 'parallel, one stream fails: error');
is($dst->safe_psql('postgres', 'SELECT count(*) FROM pk'), '0',
	'parallel, one stream fails: no rows of any stream');
nothing_left('parallel, one stream fails', 'pk');

# PREPARE TRANSACTION fails on some streams (only two slots are free): the
# streams that got prepared are rolled back
$dst->safe_psql('postgres', 'ALTER TABLE pk DROP CONSTRAINT pk_id_check');
$dst->safe_psql('postgres', "BEGIN; PREPARE TRANSACTION 'dummy_$_'") for 1 .. 8;
($out, $err) = lsql(copy_sql($S, 'pk', $D, 'pk', '{"parallel": 4}'));
like($err, qr/maximum number of prepared transactions reached/,
	'PREPARE fails on some streams: error');
unlike($err, qr/WARNING/, 'PREPARE fails on some streams: no transaction left behind to warn about');
is($dst->safe_psql('postgres', 'SELECT count(*) FROM pk'), '0',
	'PREPARE fails on some streams: no rows');
is( $dst->safe_psql('postgres',
		"SELECT string_agg(gid, ',' ORDER BY gid) FROM pg_prepared_xacts"),
	join(',', map { "dummy_$_" } 1 .. 8),
	'PREPARE fails on some streams: the prepared streams were rolled back');
$dst->safe_psql('postgres', "ROLLBACK PREPARED 'dummy_$_'") for 1 .. 8;
nothing_left('PREPARE fails on some streams', 'pk');

###########################################################################
# Atomicity: the destination fails at row 500,000 of 1,000,000
###########################################################################

$src->safe_psql('postgres', q{
CREATE TABLE t (id bigint PRIMARY KEY, val text, amount numeric(12,2), ts timestamptz);
INSERT INTO t SELECT g, md5(g::text), ((g::bigint * 7919) % 10000000) / 100.0,
	timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
FROM generate_series(1, 1000000) g;
});
$dst->safe_psql('postgres', q{
CREATE TABLE t (id bigint PRIMARY KEY, val text, amount numeric(12,2), ts timestamptz,
	CHECK (id <> 500000));
CREATE TABLE t_ok (id bigint PRIMARY KEY, val text, amount numeric(12,2), ts timestamptz);
});

my $t0 = time;
($out, $err) = lsql(copy_sql($S, 't', $D, 't'));
like($err, qr/ERROR:  23514: new row for relation "t" violates check constraint "t_id_check"/,
	'destination fails mid-way: the remote error');
like($err, qr/DETAIL:  .*\nDestination server $dst_label reported the error after \d+ rows had been relayed; nothing was committed\./,
	'destination fails mid-way: detail names the destination and the rows relayed');
my ($relayed) = $err =~ /after (\d+) rows had been relayed/;
ok(defined $relayed && $relayed >= 499999 && $relayed < 1000000,
	'destination fails mid-way: stopped before the end of the source')
  or diag("relayed: " . ($relayed // 'none'));
is($dst->safe_psql('postgres', 'SELECT count(*) FROM t'), '0',
	'destination fails mid-way: zero rows visible');
nothing_left('destination fails mid-way', 't', 2);

# the source fails mid-way
($out, $err) = lsql(copy_sql($S, 'SELECT id, val, 1 / (id - 500000), ts FROM t ORDER BY id', $D, 't_ok'));
like($err, qr/ERROR:  22012: division by zero/, 'source fails mid-way: the remote error');
like($err, qr/Source server $src_label reported the error after \d+ rows had been relayed/,
	'source fails mid-way: detail names the source');
is($dst->safe_psql('postgres', 'SELECT count(*) FROM t_ok'), '0',
	'source fails mid-way: zero rows visible');
nothing_left('source fails mid-way', 't_ok', 2);

# the full table, for the record
($out, $err) = lsql(copy_sql($S, 't', $D, 't_ok'));
is($out, '1000000', '1M rows: copied');
is(digest($dst, 't_ok'), digest($src, 't'), '1M rows: identical');
$dst->safe_psql('postgres', 'TRUNCATE t_ok');

###########################################################################
# Killed backends, statement_timeout, progress
###########################################################################

# A source that takes a while: a pause every 2000 rows
my $slow = 'SELECT id, val, amount, ts FROM t, LATERAL (SELECT CASE WHEN id % 2000 = 0 THEN pg_sleep(0.02) END) s';

my $bg = new_session($local);
my $bg_pid = $bg->query_safe('SELECT pg_backend_pid()');

# the destination backend is terminated
start_async($bg, copy_sql($S, $slow, $D, 't_ok'));
my $dpid = remote_pid($dst, 'FROM STDIN');
ok(defined $dpid, 'destination killed: the COPY runs on the destination');
sleep 0.5;
my $progress = $local->safe_psql('postgres',
	"SELECT command, type, tuples_processed > 0, bytes_processed > 0 FROM pg_stat_progress_copy WHERE pid = $bg_pid"
);
is($progress, 'COPY FROM|PIPE|t|t', 'progress: pg_stat_progress_copy shows the copy');
$dst->safe_psql('postgres', "SELECT pg_terminate_backend($dpid)");
my ($o, $e, $t1) = finish_async($bg);
like($e, qr/terminating connection due to administrator command/,
	'destination killed: error');
like($e, qr/Destination server $dst_label reported the error after \d+ rows had been relayed/,
	'destination killed: says where and how far');
is($dst->safe_psql('postgres', 'SELECT count(*) FROM t_ok'), '0',
	'destination killed: zero rows visible');
nothing_left('destination killed', 't_ok', 3);
is($local->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_progress_copy WHERE pid = $bg_pid"), '0',
	'progress: the entry is gone after the error');

# the source backend is terminated
start_async($bg, copy_sql($S, $slow, $D, 't_ok'));
my $spid = remote_pid($src, 'TO STDOUT');
ok(defined $spid, 'source killed: the COPY runs on the source');
sleep 0.5;
$src->safe_psql('postgres', "SELECT pg_terminate_backend($spid)");
($o, $e, $t1) = finish_async($bg);
like($e, qr/terminating connection due to administrator command|lost connection to source server/,
	'source killed: error');
like($e, qr/(Source server|source server) $src_label/, 'source killed: names the source');
is($dst->safe_psql('postgres', 'SELECT count(*) FROM t_ok'), '0',
	'source killed: zero rows visible');
nothing_left('source killed', 't_ok', 3);

# statement_timeout: both sides stop within about a second
run($bg, 'SET statement_timeout = \'1s\'');
$t0 = time;
start_async($bg, copy_sql($S, $slow, $D, 't_ok'));
($o, $e, $t1) = finish_async($bg);
my $took = $t1 - $t0;
like($e, qr/canceling statement due to statement timeout/, 'statement_timeout: error');
like($e, qr/pgasync.copy from server $src_label to server $dst_label, \d+ rows relayed/,
	'statement_timeout: context says how far the copy got');
ok($took < 2.5, 'statement_timeout: error within about a second') or diag("took $took s");
my $gone = nothing_left('statement_timeout', 't_ok', 5);
ok($gone < 2, 'statement_timeout: both sides gone within ~2 s') or diag("after $gone s");
is($dst->safe_psql('postgres', 'SELECT count(*) FROM t_ok'), '0',
	'statement_timeout: zero rows visible');
run($bg, 'RESET statement_timeout');

# the session works on
my ($r, $re) = run($bg, copy_sql($S, 'SELECT * FROM t WHERE id <= 10', $D, 't_ok'));
is($r . $re, '10', 'after the failures the session copies again');

###########################################################################
# Memory stays bounded for a copy larger than 200 MB
###########################################################################

$src->safe_psql('postgres', q{
CREATE TABLE wide (id int8 PRIMARY KEY, pad text);
INSERT INTO wide SELECT g, repeat(md5(g::text), 7) FROM generate_series(1, 1000000) g;
});
$dst->safe_psql('postgres', 'CREATE TABLE wide (id int8, pad text)');
my $size = $src->safe_psql('postgres', "SELECT pg_table_size('wide') / 1048576");
ok($size > 200, "memory: source table is $size MB");
my $bg2 = new_session($local);
($r, $re) = run($bg2, copy_sql($S, 'wide', $D, 'wide'));
is($r . $re, '1000000', 'memory: the wide table is copied');
my $hwm = $bg2->query_safe(
	q{SELECT (regexp_match(pg_read_file('/proc/' || pg_backend_pid() || '/status'), 'VmHWM:\s+(\d+) kB'))[1]::int / 1024}
);
ok($hwm < 80, "memory: peak RSS of the local backend $hwm MB, far below the table's $size MB");
$bg2->quit;
$bg->quit;

done_testing();
