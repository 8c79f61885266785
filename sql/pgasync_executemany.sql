--
-- pgasync.executemany: one remote command for every row of a local query
-- (or of an array), pipelined as one batch in one remote transaction,
-- against a loopback connection to this very server.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgasync;
RESET client_min_messages;

SELECT current_setting('pgasync_test.dsn') AS dsn \gset
SELECT pgasync.connect('em', :'dsn');

-- round trips of connection 'em' so far
CREATE FUNCTION em_trips() RETURNS bigint LANGUAGE sql
  AS $$ SELECT round_trips FROM pgasync.connections() WHERE name = 'em' $$;

CREATE TABLE em_t (id bigint PRIMARY KEY, val text, amount numeric(12,2), ts timestamptz);

--
-- 10,000 rows: the count returned and the rows on the remote side agree.
-- Bind/Execute per row here: the COPY path, which such an INSERT of many
-- rows takes otherwise, is tested in pgasync_copy_local.
--
SET pgasync.executemany_copy = off;
SELECT em_trips() AS t0 \gset
SELECT pgasync.executemany('em', 'INSERT INTO em_t VALUES ($1, $2, $3, $4)',
  $q$SELECT g::bigint, md5(g::text), g / 100.0, timestamptz '2024-01-01 00:00+00' + g * interval '1 minute'
       FROM generate_series(1, 10000) g$q$);
-- a cache miss (Parse and Describe at the head of the batch) is one round trip
SELECT em_trips() - :t0 AS round_trips;
SELECT count(*), sum(id), sum(amount), max(ts), count(DISTINCT val) FROM em_t;
SELECT cached_statements FROM pgasync.connections() WHERE name = 'em';
-- the same command again: a cache hit, one round trip
TRUNCATE em_t;
SELECT em_trips() AS t0 \gset
SELECT pgasync.executemany('em', 'INSERT INTO em_t VALUES ($1, $2, $3, $4)',
  $q$SELECT g::bigint, md5(g::text), g / 100.0, timestamptz '2024-01-01 00:00+00' + g * interval '1 minute'
       FROM generate_series(1, 10000) g$q$);
SELECT em_trips() - :t0 AS round_trips;
SELECT count(*) FROM em_t;
RESET pgasync.executemany_copy;

--
-- UPDATE, DELETE and INSERT ... ON CONFLICT report their rows; rows that
-- match nothing count 0
--
SELECT pgasync.executemany('em', 'UPDATE em_t SET val = $2 WHERE id = $1',
  'SELECT g::bigint, ''even'' FROM generate_series(2, 10010, 2) g');
SELECT count(*) FROM em_t WHERE val = 'even';
SELECT pgasync.executemany('em', 'DELETE FROM em_t WHERE id % $1 = 0 AND id > $2',
  'SELECT 3, 9000 UNION ALL SELECT 5, 9000');
SELECT count(*) FROM em_t;
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id) VALUES ($1) ON CONFLICT DO NOTHING',
  'SELECT g::bigint FROM generate_series(9995, 10005) g');
SELECT pgasync.executemany('em', 'MERGE INTO em_t USING (SELECT $1::bigint AS id) s ON em_t.id = s.id
                                  WHEN MATCHED THEN UPDATE SET val = ''merged''',
  'SELECT g::bigint FROM generate_series(1, 7) g');
-- RETURNING rows are not returned, but the rows count
SELECT pgasync.executemany('em', 'DELETE FROM em_t WHERE id = $1 RETURNING *',
  'SELECT g::bigint FROM generate_series(10001, 10010) g');
-- a command without parameters, once per (empty) row
CREATE TABLE em_serial (id serial, at timestamptz DEFAULT now());
SELECT pgasync.executemany('em', 'INSERT INTO em_serial DEFAULT VALUES',
  'SELECT FROM generate_series(1, 5)');
SELECT count(*), max(id) FROM em_serial;

--
-- No rows: 0, and no remote work at all (not even a round trip)
--
SELECT em_trips() AS t0 \gset
SELECT pgasync.executemany('em', 'INSERT INTO em_t VALUES ($1)', 'SELECT 1::bigint WHERE false');
SELECT pgasync.executemany('no_such_target', 'INSERT INTO em_t VALUES ($1)', 'SELECT 1::bigint WHERE false');
SELECT em_trips() - :t0 AS round_trips;

--
-- Parameter types: built-in types in binary, others as text; NULLs,
-- arrays, jsonb, domains, enums and composites
--
CREATE TYPE em_color AS ENUM ('red', 'green');
CREATE TYPE em_pair AS (a int, b text);
CREATE DOMAIN em_posint AS int CHECK (VALUE > 0);
CREATE TABLE em_types (
  i int, b bigint, s smallint, t text, vc varchar(10), n numeric, f4 real, f8 float8,
  bo boolean, d date, ts timestamp, tz timestamptz, iv interval, u uuid, by bytea,
  ia int[], ta text[], j jsonb, c em_color, p em_pair, dom em_posint);
SET datestyle = 'SQL, DMY';
SET intervalstyle = 'sql_standard';
SET extra_float_digits = 0;
SELECT pgasync.executemany('em', 'INSERT INTO em_types VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)',
  $q$SELECT 1, 9000000000::bigint, 7::smallint, 'tëxt', 'vc'::varchar(10), 12345.678901234567890::numeric,
            1.5::real, 0.1::float8, true, date '2024-02-29', timestamp '2024-02-29 13:14:15.123456',
            timestamptz '2024-02-29 13:14:15.5+03', interval '1 year 2 months 3 days 04:05:06',
            'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '\x00ff'::bytea,
            ARRAY[1, NULL, 3], ARRAY['a', 'b c', NULL], '{"k": [1, 2, {"x": null}]}'::jsonb,
            'green'::em_color, ROW(1, 'x y')::em_pair, 5::em_posint
     UNION ALL
     SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
            NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
     UNION ALL
     SELECT -2, -1, -1::smallint, '', '', 'NaN', '-Infinity', 'Infinity', false, 'infinity', '-infinity',
            'infinity', interval '-1 day', '00000000-0000-0000-0000-000000000000', '\x', '{}', '{}',
            'null', 'red', ROW(NULL, NULL)::em_pair, NULL$q$);
RESET datestyle;
RESET intervalstyle;
RESET extra_float_digits;
SELECT * FROM em_types ORDER BY i NULLS LAST;
-- values that do not fit fail on the remote side, with the row's ordinal
SELECT pgasync.executemany('em', 'INSERT INTO em_types (dom) VALUES ($1)', 'SELECT g FROM generate_series(1, -1, -1) g');
SELECT pgasync.executemany('em', 'INSERT INTO em_types (vc) VALUES ($1)', $q$SELECT 'short' UNION ALL SELECT 'much too long'$q$);
SELECT count(*) FROM em_types;

--
-- Atomicity: a row that fails undoes the whole batch.  The error names the
-- row and carries the remote server's error.  (10,000 rows: these go
-- through the COPY path, whose errors read the same.)
--
TRUNCATE em_t;
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id, val) VALUES ($1, $2)',
  $q$SELECT CASE WHEN g = 5000 THEN 1 ELSE g END::bigint, 'v' || g FROM generate_series(1, 10000) g$q$);
SELECT count(*) FROM em_t;
-- the connection is ready for more
SELECT pgasync.fetchval('em', 'SELECT 1');
-- an error at the first and at the last row
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id) VALUES ($1)', 'SELECT NULL::bigint');
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id) VALUES ($1)', 'SELECT g::bigint FROM generate_series(1, 3) g UNION ALL SELECT 2');
SELECT count(*) FROM em_t;
-- an error that only shows at commit (a deferred constraint)
CREATE TABLE em_def (id int, CONSTRAINT em_def_u UNIQUE (id) DEFERRABLE INITIALLY DEFERRED);
SELECT pgasync.executemany('em', 'INSERT INTO em_def VALUES ($1)', 'SELECT g % 3 FROM generate_series(1, 4) g');
SELECT count(*) FROM em_def;
-- a command that does not parse: no row ordinal
SELECT pgasync.executemany('em', 'INSERT INTO em_t VALUES ($1', 'SELECT 1');
SELECT pgasync.executemany('em', 'INSERT INTO no_such_table VALUES ($1)', 'SELECT 1');
-- and a local error half-way (here in the argument query) also undoes the
-- rows already sent
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id) VALUES ($1)',
  'SELECT (g + 0 / (g - 7000))::bigint FROM generate_series(1, 10000) g');
SELECT count(*) FROM em_t;
SELECT pgasync.fetchval('em', 'SELECT count(*) FROM em_t');
SELECT busy, in_transaction FROM pgasync.connections() WHERE name = 'em';
-- so does a cancel
SET statement_timeout = '300ms';
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id, val) VALUES ($1, $2)',
  'SELECT g::bigint, md5(g::text) FROM generate_series(1, 100000000) g');
RESET statement_timeout;
SELECT count(*) FROM em_t;
SELECT pgasync.fetchval('em', 'SELECT count(*) FROM em_t');
-- the same when the error is caught in PL/pgSQL
DO $$
BEGIN
  PERFORM pgasync.executemany('em', 'INSERT INTO em_t (id) VALUES ($1)',
    'SELECT (g + 0 / (g - 7000))::bigint FROM generate_series(1, 10000) g');
EXCEPTION WHEN division_by_zero THEN
  RAISE NOTICE 'caught: %', SQLERRM;
END $$;
SELECT count(*) FROM em_t;
SELECT pgasync.fetchval('em', 'SELECT count(*) FROM em_t');

--
-- The argument query may not use the connection the rows go to
--
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id) VALUES ($1)',
  $q$SELECT pgasync.fetchval('em', 'SELECT ' || g)::bigint FROM generate_series(1, 3000) g$q$);
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id) VALUES ($1)',
  $q$SELECT g::bigint FROM generate_series(1, 3000) g WHERE g < 2000 OR pgasync.disconnect('em')$q$);
SELECT count(*) FROM em_t;
SELECT pgasync.fetchval('em', 'SELECT 1');
-- a different connection is fine
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id) VALUES ($1)',
  $q$SELECT pgasync.fetchval(current_setting('pgasync_test.dsn'), 'SELECT ' || g)::bigint FROM generate_series(1, 3) g$q$);
SELECT count(*) FROM em_t;

--
-- Arguments that are not a query that returns rows
--
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id) VALUES ($1)', 'SELEC 1');
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id) VALUES ($1)', 'INSERT INTO em_t VALUES (1)');
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id) VALUES ($1)', NULL::text);
SELECT pgasync.executemany('em', NULL, 'SELECT 1');
SELECT pgasync.executemany(NULL, 'SELECT 1', 'SELECT 1');

--
-- The array form: an array of rows, or a two-dimensional array of values
-- (one row per first subscript), or a one-dimensional array of values
-- (one parameter per row)
--
TRUNCATE em_t;
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id, val) VALUES ($1, $2)',
  ARRAY[ROW(1, 'one'), ROW(2, 'two')]);
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id, val) VALUES ($1, $2)',
  ARRAY[(3, 'three')::em_pair, (4, NULL)::em_pair]);
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id, amount) VALUES ($1, $2)',
  '{{5, 5.5}, {6, 6.25}, {7, NULL}}'::numeric[]);
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id) VALUES ($1)', ARRAY[8, 9, 10]);
SELECT * FROM em_t ORDER BY id;
-- rows of a table type with a dropped column
CREATE TABLE em_src (id bigint, junk int, val text);
ALTER TABLE em_src DROP COLUMN junk;
INSERT INTO em_src VALUES (11, 'eleven'), (12, 'twelve');
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id, val) VALUES ($1, $2)',
  (SELECT array_agg(s ORDER BY id) FROM em_src s));
SELECT id, val FROM em_t WHERE id > 10 ORDER BY id;
-- empty arrays do nothing; NULL rows and arrays are errors
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id) VALUES ($1)', '{}'::int[]);
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id, val) VALUES ($1, $2)',
  ARRAY[(13, 'x')::em_pair, NULL]);
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id) VALUES ($1)', NULL::int[]);
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id) VALUES ($1)', '{{{1}}}'::int[]);
-- the same atomicity as the query form
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id) VALUES ($1)', ARRAY[100, 101, 1]);
SELECT count(*) FROM em_t WHERE id >= 100;

--
-- Unnamed statements when the statement cache is off
--
SELECT pgasync.connect('em_nocache', :'dsn', '{"statement_cache_size": 0}');
SELECT pgasync.executemany('em_nocache', 'UPDATE em_t SET val = $2 WHERE id = $1', 'SELECT 1, ''uno'' UNION ALL SELECT 2, ''dos''');
SELECT pgasync.executemany('em_nocache', 'UPDATE em_t SET val = $2 WHERE id = $1', 'SELECT 1, ''uno'' UNION ALL SELECT 2, ''dos''');
SELECT cached_statements FROM pgasync.connections() WHERE name = 'em_nocache';
SELECT pgasync.disconnect('em_nocache');

--
-- Large values: more than the 1 MB that is sent at a time, in one row
--
TRUNCATE em_t;
SELECT pgasync.executemany('em', 'INSERT INTO em_t (id, val) VALUES ($1, $2)',
  'SELECT g::bigint, repeat(md5(g::text), 100000) FROM generate_series(1, 3) g');
SELECT id, length(val) FROM em_t ORDER BY id;

--
-- Command timeout
--
SELECT pgasync.connect('em_slow', :'dsn', '{"command_timeout": 0.5}');
SELECT pgasync.executemany('em_slow', 'SELECT pg_sleep($1)', 'SELECT 0.2::float8 FROM generate_series(1, 10)');
SELECT pgasync.fetchval('em_slow', 'SELECT 1');
SELECT pgasync.disconnect('em_slow');

DROP TABLE em_t, em_serial, em_types, em_def, em_src;
DROP TYPE em_pair;
DROP TYPE em_color;
DROP DOMAIN em_posint;
DROP FUNCTION em_trips();
SELECT pgasync.disconnect('em');
