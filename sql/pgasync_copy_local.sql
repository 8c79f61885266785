--
-- COPY between local tables and a remote server: pgasync.copy_to_remote,
-- pgasync.copy_from_remote, and the COPY path of pgasync.executemany,
-- against a loopback connection to this very server.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgasync;
RESET client_min_messages;

SELECT current_setting('pgasync_test.dsn') AS dsn \gset
SELECT pgasync.connect('cl', :'dsn');

-- the last command the remote session of 'cl' ran
CREATE FUNCTION cl_last() RETURNS text LANGUAGE sql
  AS $$ SELECT query FROM pg_stat_activity
        WHERE pid = (SELECT server_pid FROM pgasync.connections() WHERE name = 'cl') $$;
-- a digest of a table's rows, in id order
CREATE FUNCTION cl_digest(tab regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  d text;
BEGIN
  EXECUTE format('SELECT count(*) || '' '' || md5(coalesce(string_agg(t::text, E''\n'' ORDER BY id), '''')) FROM %s t', tab)
    INTO d;
  RETURN d;
END $$;

--
-- copy_to_remote: a round trip of many types, tricky strings and NULLs
--
CREATE TYPE cl_color AS ENUM ('red', 'green', 'blue');
CREATE DOMAIN cl_posint AS int CHECK (VALUE > 0);
CREATE TABLE cl_src (
  id int, b bigint, s smallint, t text, vc varchar(10), c char(3), n numeric, n2 numeric(12,2),
  f4 real, f8 float8, bo boolean, d date, ts timestamp, tz timestamptz, iv interval, tm time,
  u uuid, by bytea, ia int[], ta text[], j jsonb, js json, ip inet, pt point, r int4range, o oid,
  m money);
INSERT INTO cl_src
SELECT g, g * 1000000007::bigint, (g % 30000)::smallint, 'row ' || g || repeat('x', g % 17),
       left(md5(g::text), g % 11), chr(65 + g % 26), g / 7.0, g / 3.0, g / 9.0, g / 11.0, g % 2 = 0,
       date '2000-01-01' + g, timestamp '2000-01-01' + g * interval '1 hour 1 second',
       timestamptz '2000-01-01 00:00+00' + g * interval '1 minute 7 seconds', g * interval '1 day 3 min',
       time '00:00' + g * interval '1 second', md5(g::text)::uuid, decode(md5(g::text), 'hex'),
       ARRAY[g, NULL, -g], ARRAY['a' || g, NULL, 'b c'], jsonb_build_object('g', g, 'a', ARRAY[1, 2]),
       json_build_object('g', g), ('10.0.' || g % 256 || '.1')::inet, point(g, -g), int4range(g, g + 10),
       g::oid, g * 1.25
FROM generate_series(1, 3000) g;
INSERT INTO cl_src (id, t, vc, ta, j, by, f4, f8, n, d, tz) VALUES
  (-1, E'tab\there\nnewline\rcr\\backslash', E'\\N', ARRAY[E'\\N', E'x\ty', ''], '"\\N"', '\x5c4e', 'NaN', '-Infinity', 'NaN', 'infinity', '-infinity'),
  (-2, '\N', '', '{}', '{}', '\x', '-0', 1e-300, 0.000000000000000000001, '4713-01-01 BC', '294276-12-31 23:59:59+00'),
  (-3, 'ünïcödé ☃', NULL, NULL, 'null', NULL, NULL, NULL, NULL, NULL, NULL),
  (-4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE cl_dst (LIKE cl_src);
-- the same built-in types on both sides: binary COPY
SELECT pgasync.copy_to_remote('cl', 'cl_dst', 'SELECT * FROM cl_src');
SELECT cl_last();
SELECT cl_digest('cl_src') = cl_digest('cl_dst') AS same, (SELECT count(*) FROM cl_dst) AS n;
-- text COPY on request; truncate first; local settings do not matter
SET datestyle = 'SQL, DMY';
SET intervalstyle = 'sql_standard';
SET extra_float_digits = 0;
SET bytea_output = 'escape';
SELECT pgasync.copy_to_remote('cl', 'cl_dst', 'SELECT * FROM cl_src', '{"format": "text", "truncate": true}');
RESET datestyle;
RESET intervalstyle;
RESET extra_float_digits;
RESET bytea_output;
SELECT cl_last();
SELECT cl_digest('cl_src') = cl_digest('cl_dst') AS same, (SELECT count(*) FROM cl_dst) AS n;
-- no rows: nothing copied, but the table is still truncated
SELECT pgasync.copy_to_remote('cl', 'cl_dst', 'SELECT * FROM cl_src WHERE false', '{"truncate": true}');
SELECT count(*) FROM cl_dst;

--
-- Types that are not built-in, or that differ from the destination's, go
-- in text COPY: the destination's input functions read them
--
CREATE TABLE cl_ext (id int, color cl_color, p cl_posint, big bigint, colors cl_color[]);
SELECT pgasync.copy_to_remote('cl', 'cl_ext',
  $q$SELECT g, (ARRAY['red', 'green', 'blue'])[g % 3 + 1]::cl_color, g::cl_posint, g, ARRAY['red', 'blue']::cl_color[]
       FROM generate_series(1, 1500) g$q$);
SELECT cl_last();
SELECT count(*), count(DISTINCT color), sum(p), sum(big) FROM cl_ext;
-- int and text into bigint and cl_color: text too
SELECT pgasync.copy_to_remote('cl', 'cl_ext', $q$SELECT 0, 'green', 1, 42, '{}'$q$, '{"truncate": true}');
SELECT cl_last();
SELECT * FROM cl_ext;
-- binary on request is refused when the types do not allow it
SELECT pgasync.copy_to_remote('cl', 'cl_ext', $q$SELECT 0, 'green'::cl_color, 1, 42, '{}'::cl_color[]$q$, '{"format": "binary"}');
SELECT pgasync.copy_to_remote('cl', 'cl_ext', $q$SELECT 0::bigint, NULL::cl_color, 1, 42, NULL::cl_color[]$q$, '{"format": "binary"}');

--
-- The columns option: the other columns get their defaults; generated
-- columns are left out of the default column list; quoted names
--
CREATE TABLE "Cl Cols" ("Id" int, val text DEFAULT 'dflt', at timestamptz DEFAULT now(),
  twice int GENERATED ALWAYS AS ("Id" * 2) STORED);
SELECT pgasync.copy_to_remote('cl', '"Cl Cols"', 'SELECT g FROM generate_series(1, 3) g', '{"columns": ["Id"]}');
SELECT cl_last();
SELECT pgasync.copy_to_remote('cl', 'public."Cl Cols"', $q$SELECT 4, 'four', now()$q$);
SELECT "Id", val, at IS NOT NULL AS has_at, twice FROM "Cl Cols" ORDER BY 1;
-- a column count that does not match, unknown columns and tables
SELECT pgasync.copy_to_remote('cl', '"Cl Cols"', 'SELECT 1, 2');
SELECT pgasync.copy_to_remote('cl', '"Cl Cols"', 'SELECT 1', '{"columns": ["id"]}');
SELECT pgasync.copy_to_remote('cl', 'cl_no_such_table', 'SELECT 1');
SELECT pgasync.copy_to_remote('cl', 'not a name', 'SELECT 1');
-- bad options
SELECT pgasync.copy_to_remote('cl', 'cl_dst', 'SELECT 1', '{"colour": "red"}');
SELECT pgasync.copy_to_remote('cl', 'cl_dst', 'SELECT 1', '{"format": "csv"}');
SELECT pgasync.copy_to_remote('cl', 'cl_dst', 'SELECT 1', '{"columns": "id"}');
SELECT pgasync.copy_to_remote('cl', 'cl_dst', 'SELECT 1', '[]');
SELECT pgasync.copy_to_remote('cl', 'cl_dst', 'INSERT INTO cl_dst (id) VALUES (1)');

--
-- Atomicity: one remote transaction; a remote error at row 5000 leaves
-- nothing (not even the truncation), and names the line; so does a local
-- error half-way, which ends the COPY with CopyFail
--
CREATE TABLE cl_nn (id int NOT NULL, val text);
INSERT INTO cl_nn VALUES (0, 'before');
SELECT pgasync.copy_to_remote('cl', 'cl_nn',
  $q$SELECT CASE WHEN g = 5000 THEN NULL ELSE g END, 'v' || g FROM generate_series(1, 10000) g$q$,
  '{"truncate": true}');
SELECT count(*) FROM cl_nn;
SELECT pgasync.copy_to_remote('cl', 'cl_nn',
  $q$SELECT g + 0 / (g - 7000), 'v' || g FROM generate_series(1, 10000) g$q$, '{"truncate": true}');
SELECT count(*) FROM cl_nn;
SELECT busy, in_transaction FROM pgasync.connections() WHERE name = 'cl';
SELECT pgasync.fetchval('cl', 'SELECT count(*) FROM cl_nn');
-- a cancel, too
SET statement_timeout = '300ms';
SELECT pgasync.copy_to_remote('cl', 'cl_nn',
  'SELECT g, md5(g::text) FROM generate_series(1, 100000000) g', '{"truncate": true}');
RESET statement_timeout;
SELECT count(*) FROM cl_nn;
SELECT pgasync.fetchval('cl', 'SELECT count(*) FROM cl_nn');
-- the local query cannot use the connection the rows go to
SELECT pgasync.copy_to_remote('cl', 'cl_nn',
  $q$SELECT pgasync.fetchval('cl', 'SELECT ' || g)::int, 'x' FROM generate_series(1, 3) g$q$);
SELECT count(*) FROM cl_nn;
-- inside a remote transaction, the COPY is part of it
BEGIN;
SELECT pgasync.begin('cl');
SELECT pgasync.copy_to_remote('cl', 'cl_nn', 'SELECT g, ''tx'' FROM generate_series(1, 10) g');
ROLLBACK;
SELECT count(*) FROM cl_nn;
-- the rows come straight from the executor: functions of the local
-- query may run queries of their own
CREATE TABLE cl_spi (id bigint, val text);
CREATE FUNCTION cl_spi_val(i bigint) RETURNS text LANGUAGE plpgsql
  AS $$BEGIN RETURN (SELECT 'v' || count(*) || '.' || i FROM cl_spi); END$$;
SELECT pgasync.copy_to_remote('cl', 'cl_spi',
  'SELECT g::bigint, cl_spi_val(g) FROM generate_series(1, 3000) g');
SELECT count(*), count(DISTINCT val), min(val), max(val) FROM cl_spi;
SELECT pgasync.executemany('cl', 'INSERT INTO cl_spi VALUES ($1, $2)',
  'SELECT g::bigint, cl_spi_val(g) FROM generate_series(1, 3000) g');
SELECT count(*), count(DISTINCT val), min(val), max(val) FROM cl_spi;
DROP TABLE cl_spi;
DROP FUNCTION cl_spi_val(bigint);

--
-- copy_from_remote: into a partitioned table, through the local COPY
-- machinery: rows are routed, defaults and triggers apply, progress is
-- reported
--
CREATE TABLE cl_remote (id int, region int, val text);
INSERT INTO cl_remote SELECT g, g % 3, md5(g::text) FROM generate_series(1, 3000) g;
CREATE TABLE cl_part (id int, region int, val text, note text DEFAULT 'dflt',
  loaded_by text DEFAULT current_user, touched boolean, CHECK (id < 100000))
  PARTITION BY LIST (region);
CREATE TABLE cl_part_0 PARTITION OF cl_part FOR VALUES IN (0);
CREATE TABLE cl_part_1 PARTITION OF cl_part FOR VALUES IN (1);
CREATE TABLE cl_part_2 PARTITION OF cl_part FOR VALUES IN (2);
CREATE TABLE cl_progress (command text, type text, relid regclass, tuples bigint);
CREATE FUNCTION cl_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.touched := true;
  IF NEW.id = 1000 THEN
    INSERT INTO cl_progress
      SELECT command, type, relid::regclass, tuples_processed
      FROM pg_stat_progress_copy WHERE pid = pg_backend_pid();
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER cl_touch BEFORE INSERT ON cl_part FOR EACH ROW EXECUTE FUNCTION cl_touch();
SELECT pgasync.copy_from_remote('cl', 'SELECT id, region, val FROM cl_remote', 'cl_part',
  '{"columns": ["id", "region", "val"]}');
SELECT cl_last();
SELECT tableoid::regclass, count(*), min(region), max(region), bool_and(touched) AS touched,
       bool_and(note = 'dflt' AND loaded_by = current_user) AS defaults
  FROM cl_part GROUP BY 1 ORDER BY 1;
SELECT * FROM cl_progress;
SELECT (SELECT md5(string_agg(id || val, ',' ORDER BY id)) FROM cl_part) =
       (SELECT md5(string_agg(id || val, ',' ORDER BY id)) FROM cl_remote) AS same;
-- a table name as the source; types that differ go in text COPY
CREATE TABLE cl_plain (id bigint, region int, val varchar(40));
SELECT pgasync.copy_from_remote('cl', 'cl_remote', 'cl_plain');
SELECT cl_last();
SELECT count(*), sum(id) FROM cl_plain;
-- the many types again, binary then text
CREATE TABLE cl_back (LIKE cl_src);
SELECT pgasync.copy_from_remote('cl', 'cl_src', 'cl_back');
SELECT cl_last();
SELECT cl_digest('cl_src') = cl_digest('cl_back') AS same;
TRUNCATE cl_back;
SELECT pgasync.copy_from_remote('cl', 'SELECT * FROM cl_src;', 'cl_back', '{"format": "text"}');
SELECT cl_last();
SELECT cl_digest('cl_src') = cl_digest('cl_back') AS same;
CREATE TABLE cl_ext_back (LIKE cl_ext);
SELECT pgasync.copy_from_remote('cl', 'cl_ext', 'cl_ext_back');
SELECT cl_last();
SELECT * FROM cl_ext_back;

--
-- copy_from_remote errors: a local constraint or trigger error stops the
-- load (and cancels the remote COPY); remote errors are relayed; nothing
-- stays loaded
--
TRUNCATE cl_part;
SELECT pgasync.copy_from_remote('cl', 'SELECT id * CASE WHEN id = 2500 THEN 100 ELSE 1 END, region, val FROM cl_remote',
  'cl_part', '{"columns": ["id", "region", "val"]}');
SELECT count(*) FROM cl_part;
SELECT busy, in_transaction FROM pgasync.connections() WHERE name = 'cl';
SELECT pgasync.fetchval('cl', 'SELECT 1');
SELECT pgasync.copy_from_remote('cl', 'SELECT id, 7, val FROM cl_remote', 'cl_part',
  '{"columns": ["id", "region", "val"]}');
SELECT pgasync.copy_from_remote('cl', 'SELECT id, region, val || 1 / (id - 2000) FROM cl_remote ORDER BY id',
  'cl_part', '{"columns": ["id", "region", "val"]}');
SELECT count(*) FROM cl_part;
SELECT pgasync.copy_from_remote('cl', 'SELECT no_such_column FROM cl_remote', 'cl_part');
SELECT pgasync.copy_from_remote('cl', 'SELECT 1, 2', 'cl_part', '{"columns": ["id", "region", "val"]}');
SELECT pgasync.copy_from_remote('cl', 'cl_remote', 'cl_part', '{"columns": ["id", "no_such_column"]}');
SELECT pgasync.copy_from_remote('cl', 'INSERT INTO cl_remote VALUES (1)', 'cl_part');
SELECT pgasync.copy_from_remote('cl', 'SELECT 1::int, 2::int, 3::text', 'cl_part', '{"columns": ["id", "region", "val"], "format": "binary"}');
SELECT pgasync.copy_from_remote('cl', 'SELECT 1::bigint, 2::int, 3::text', 'cl_part', '{"columns": ["id", "region", "val"], "format": "binary"}');
SELECT count(*) FROM cl_part;
-- a trigger may not use the connection the rows come from
CREATE FUNCTION cl_peek() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pgasync.fetchval('cl', 'SELECT 1');
  RETURN NEW;
END $$;
CREATE TRIGGER cl_peek BEFORE INSERT ON cl_plain FOR EACH ROW EXECUTE FUNCTION cl_peek();
SELECT pgasync.copy_from_remote('cl', 'cl_remote', 'cl_plain');
DROP TRIGGER cl_peek ON cl_plain;
SELECT pgasync.fetchval('cl', 'SELECT 1');

--
-- copy_from_remote checks what COPY FROM checks, before connecting:
-- INSERT privilege on the columns, row-level security, read-only
-- transactions
--
CREATE ROLE regress_pgasync_copier;
GRANT USAGE ON SCHEMA pgasync, public TO regress_pgasync_copier;
GRANT INSERT (id, region) ON cl_plain TO regress_pgasync_copier;
SET ROLE regress_pgasync_copier;
SELECT pgasync.copy_from_remote(:'dsn', 'cl_remote', 'cl_plain');
SELECT pgasync.copy_from_remote(:'dsn', 'cl_remote', 'cl_part', '{"columns": ["id"]}');
-- allowed: then the connection is refused for want of a password
SELECT pgasync.copy_from_remote(:'dsn', 'SELECT id, region FROM cl_remote', 'cl_plain', '{"columns": ["id", "region"]}');
RESET ROLE;
ALTER TABLE cl_plain ENABLE ROW LEVEL SECURITY;
GRANT SELECT, INSERT ON cl_plain TO regress_pgasync_copier;
SET ROLE regress_pgasync_copier;
SELECT pgasync.copy_from_remote(:'dsn', 'cl_remote', 'cl_plain');
RESET ROLE;
ALTER TABLE cl_plain DISABLE ROW LEVEL SECURITY;
BEGIN READ ONLY;
SELECT pgasync.copy_from_remote('cl', 'cl_remote', 'cl_plain');
ROLLBACK;
REVOKE ALL ON cl_plain FROM regress_pgasync_copier;
REVOKE ALL ON SCHEMA pgasync, public FROM regress_pgasync_copier;
DROP ROLE regress_pgasync_copier;

--
-- executemany's COPY path: 1000 rows or more for a plain INSERT ...
-- VALUES ($1, ..., $n) go as one COPY when COPY has the same effect:
-- a catalog query, then the COPY (two round trips), no prepared statement
--
CREATE FUNCTION cl_trips() RETURNS bigint LANGUAGE sql
  AS $$ SELECT round_trips FROM pgasync.connections() WHERE name = 'cl' $$;
CREATE TABLE cl_many (id bigint PRIMARY KEY, val text DEFAULT 'dflt', amount numeric(12,2),
  color cl_color, seen boolean);
CREATE FUNCTION cl_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.seen := true;
  RETURN NEW;
END $$;
CREATE TRIGGER cl_seen BEFORE INSERT ON cl_many FOR EACH ROW EXECUTE FUNCTION cl_seen();
SELECT cl_trips() AS t0, (SELECT cached_statements FROM pgasync.connections() WHERE name = 'cl') AS c0 \gset
SELECT pgasync.executemany('cl', E'insert\n into "cl_many" (ID, "amount") values ($1,$2 );',
  'SELECT g::bigint, g / 100.0 FROM generate_series(1, 5000) g');
SELECT cl_trips() - :t0 AS round_trips;
SELECT cl_last();
SELECT cached_statements - :c0 AS new_statements FROM pgasync.connections() WHERE name = 'cl';
SELECT count(*), sum(amount), bool_and(val = 'dflt') AS defaults, bool_and(seen) AS triggers FROM cl_many;
-- an enum parameter makes it text COPY; an array of rows works too
TRUNCATE cl_many;
SELECT pgasync.executemany('cl', 'INSERT INTO public.cl_many (id, color) VALUES ($1, $2)',
  $q$SELECT g::bigint, 'blue'::cl_color FROM generate_series(1, 2000) g$q$);
SELECT cl_last();
SELECT pgasync.executemany('cl', 'INSERT INTO cl_many (id) VALUES ($1)',
  (SELECT array_agg(g::bigint) FROM generate_series(2001, 3000) g));
SELECT cl_last();
SELECT count(*), count(color) FROM cl_many;
-- the errors read as with Bind/Execute: the row's ordinal
SELECT pgasync.executemany('cl', 'INSERT INTO cl_many (id, val) VALUES ($1, $2)',
  $q$SELECT CASE WHEN g = 1234 THEN 1 ELSE g + 10000 END::bigint, 'x' FROM generate_series(1, 3000) g$q$);
SELECT pgasync.executemany('cl', 'INSERT INTO cl_many (id, amount) VALUES ($1, $2)',
  $q$SELECT g::bigint + 10000, CASE WHEN g = 2999 THEN 1e12 ELSE 1 END FROM generate_series(1, 3000) g$q$);
SELECT count(*) FROM cl_many;
-- pgasync.executemany_copy = off turns it off
SET pgasync.executemany_copy = off;
SELECT cl_trips() AS t0 \gset
SELECT pgasync.executemany('cl', 'INSERT INTO cl_many (id) VALUES ($1)',
  'SELECT g::bigint FROM generate_series(5001, 7000) g');
SELECT cl_trips() - :t0 AS round_trips;
RESET pgasync.executemany_copy;
-- what COPY would do differently goes the usual way (one round trip
-- more for the catalog query): other commands, fewer rows, expressions,
-- parameter types other than the column's, rules, statement triggers,
-- identity columns GENERATED ALWAYS, row-level security
CREATE FUNCTION cl_way(cmd text, args text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  PERFORM pgasync.execute('cl', 'SELECT 1');
  n := pgasync.executemany('cl', cmd, args);
  RETURN n || CASE WHEN cl_last() LIKE 'COPY %' THEN ' COPY' ELSE ' INSERT' END;
END $$;
TRUNCATE cl_many;
SELECT cl_way('INSERT INTO cl_many (id) VALUES ($1)', 'SELECT g::bigint FROM generate_series(1, 999) g');
SELECT cl_way('INSERT INTO cl_many (id) VALUES ($1) RETURNING id', 'SELECT g::bigint FROM generate_series(1001, 2000) g');
SELECT cl_way('INSERT INTO cl_many (id) VALUES ($1 + 0)', 'SELECT g::bigint FROM generate_series(2001, 3000) g');
SELECT cl_way('INSERT INTO cl_many (id) VALUES ($1) ON CONFLICT DO NOTHING', 'SELECT g::bigint FROM generate_series(3001, 4000) g');
SELECT cl_way('INSERT INTO cl_many (id) VALUES ($1) -- comment', 'SELECT g::bigint FROM generate_series(4001, 5000) g');
SELECT cl_way('INSERT INTO cl_many (id) VALUES ($1)', 'SELECT g FROM generate_series(5001, 6000) g');
SELECT cl_way('INSERT INTO cl_many (id, val) VALUES ($2, $1)', 'SELECT ''a'', g::bigint FROM generate_series(6001, 7000) g');
SELECT cl_way('INSERT INTO cl_many (id) VALUES ($1)', 'SELECT g::bigint FROM generate_series(7001, 8000) g');
CREATE RULE cl_rule AS ON INSERT TO cl_many WHERE NEW.id < 0 DO INSTEAD NOTHING;
SELECT cl_way('INSERT INTO cl_many (id) VALUES ($1)', 'SELECT g::bigint FROM generate_series(8001, 9000) g');
DROP RULE cl_rule ON cl_many;
CREATE TABLE cl_stmt_log (n int);
CREATE FUNCTION cl_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO cl_stmt_log VALUES (1);
  RETURN NULL;
END $$;
CREATE TRIGGER cl_stmt AFTER INSERT ON cl_many FOR EACH STATEMENT EXECUTE FUNCTION cl_stmt();
SELECT cl_way('INSERT INTO cl_many (id) VALUES ($1)', 'SELECT g::bigint FROM generate_series(9001, 10000) g');
SELECT count(*) FROM cl_stmt_log;
DROP TRIGGER cl_stmt ON cl_many;
CREATE TABLE cl_ident (id int GENERATED ALWAYS AS IDENTITY, val text);
SELECT cl_way('INSERT INTO cl_ident (id, val) VALUES ($1, $2)', 'SELECT g, ''x'' FROM generate_series(1, 1000) g');
SELECT cl_way('INSERT INTO cl_ident (val) VALUES ($1)', 'SELECT ''x'' FROM generate_series(1, 1000) g');
ALTER TABLE cl_many ENABLE ROW LEVEL SECURITY;
SELECT cl_way('INSERT INTO cl_many (id) VALUES ($1)', 'SELECT g::bigint FROM generate_series(10001, 11000) g');
ALTER TABLE cl_many DISABLE ROW LEVEL SECURITY;
SELECT count(*) FROM cl_many;

DROP FUNCTION cl_way(text, text);
DROP TABLE cl_src, cl_dst, cl_ext, "Cl Cols", cl_nn, cl_remote, cl_part, cl_progress, cl_plain,
  cl_back, cl_ext_back, cl_many, cl_stmt_log, cl_ident;
DROP FUNCTION cl_touch(), cl_peek(), cl_seen(), cl_stmt(), cl_last(), cl_digest(regclass), cl_trips();
DROP TYPE cl_color;
DROP DOMAIN cl_posint;
SELECT pgasync.disconnect('cl');
