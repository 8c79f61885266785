--
-- Remote queries from SQL: connections, fetch, fetchrow, fetchval, execute
-- and fetch_json, against a loopback connection to this very server.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgasync;
RESET client_min_messages;

-- The harness describes this server in pgasync_test.dsn (Unix socket,
-- database contrib_regression, trust authentication).
SELECT current_setting('pgasync_test.dsn') AS dsn \gset
SELECT current_setting('pgasync_test.port') AS port \gset
SELECT substring(:'dsn' from 'host=(\S+)') AS sockdir \gset

--
-- Named connections
--
SELECT pgasync.connect('loop', :'dsn');
SELECT name, kind, port = :port AS port_ok, dbname, "user" = current_user AS user_ok,
       server_pid <> pg_backend_pid() AS other_backend,
       server_version = current_setting('server_version') AS version_ok,
       tls, in_transaction, busy, queries, cached_statements,
       opened_at <= clock_timestamp() AS opened_ok, last_used >= opened_at AS used_ok,
       round_trips > 0 AS trips_ok, bytes_in > 0 AS in_ok, bytes_out > 0 AS out_ok
  FROM pgasync.connections();
-- the remote session is a backend of this server, run by pgasync
SELECT application_name, datname, usename = current_user AS same_user
  FROM pg_stat_activity
  WHERE pid = (SELECT server_pid FROM pgasync.connections() WHERE name = 'loop');
-- names are unique, and between 1 and 63 bytes long
SELECT pgasync.connect('loop', :'dsn');
SELECT pgasync.connect('', :'dsn');
SELECT pgasync.connect(repeat('x', 64), :'dsn');
SELECT pgasync.connect(NULL, :'dsn');
SELECT pgasync.connect('loop2', :'dsn');
SELECT pgasync.connect(repeat('x', 63), :'dsn');
SELECT name, kind FROM pgasync.connections() ORDER BY name;
SELECT pgasync.disconnect(repeat('x', 63));
SELECT pgasync.disconnect('loop2');
SELECT pgasync.disconnect('loop2');
SELECT pgasync.disconnect('no_such_connection');
SELECT name FROM pgasync.connections() ORDER BY name;

-- options of connect()
SELECT pgasync.connect('opt', :'dsn', '{"bogus": 1}');
SELECT pgasync.connect('opt', :'dsn', '{"command_timeout": "soon"}');
SELECT pgasync.connect('opt', :'dsn', '{"command_timeout": -1}');
SELECT pgasync.connect('opt', :'dsn', '{"connect_timeout": true}');
SELECT pgasync.connect('opt', :'dsn', '{"statement_cache_size": -1}');
SELECT pgasync.connect('opt', :'dsn', '{"statement_cache_size": 1.5}');
SELECT pgasync.connect('opt', :'dsn', '{"statement_cache_size": "10"}');
SELECT pgasync.connect('opt', :'dsn', '{"max_cacheable_statement_size": 1e10}');
SELECT pgasync.connect('opt', :'dsn', '{"server_settings": ["work_mem"]}');
SELECT pgasync.connect('opt', :'dsn', '{"server_settings": {"user": "x"}}');
SELECT pgasync.connect('opt', :'dsn', '{"server_settings": {"client_encoding": "LATIN1"}}');
SELECT pgasync.connect('opt', :'dsn', '{"server_settings": {"work_mem": [1]}}');
SELECT pgasync.connect('opt', :'dsn', '[]');
-- none of them left a connection behind
SELECT name FROM pgasync.connections() ORDER BY name;
-- server_settings become settings of the remote session
SELECT pgasync.connect('opt', :'dsn',
  '{"server_settings": {"work_mem": "1234kB", "application_name": "pgasync_regress", "enable_seqscan": false},
    "command_timeout": null, "connect_timeout": 10}');
SELECT * FROM pgasync.fetch('opt',
  $$SELECT current_setting('work_mem'), current_setting('application_name'), current_setting('enable_seqscan')$$)
  AS t(work_mem text, application_name text, enable_seqscan text);
-- pgasync pins the formats it reads values in
SELECT * FROM pgasync.fetch('opt',
  $$SELECT current_setting('DateStyle'), current_setting('IntervalStyle'),
           current_setting('extra_float_digits'), current_setting('bytea_output'),
           current_setting('client_encoding') = current_setting('server_encoding')$$)
  AS t(datestyle text, intervalstyle text, extra_float_digits text, bytea_output text,
       same_encoding bool);
SELECT pgasync.disconnect('opt');

-- over TCP with TLS (verify-full) and SCRAM authentication
SELECT pgasync.connect('tls', current_setting('pgasync_test.tls_dsn'));
SELECT name, kind, tls, dbname FROM pgasync.connections() WHERE name = 'tls';
SELECT s.ssl, a.client_addr IS NOT NULL AS tcp
  FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
  WHERE pid = (SELECT server_pid FROM pgasync.connections() WHERE name = 'tls');
SELECT * FROM pgasync.fetch('tls', 'SELECT ssl, $1 FROM pg_stat_ssl WHERE pid = pg_backend_pid()', 'over TLS'::text)
  AS t(ssl bool, s text);
-- megabytes each way through TLS, so that sockets fill and writes come
-- back short: a local query's rows into a remote COPY, a COPY from one
-- TLS server to another, and the rows read back
CREATE TABLE tls_bulk (id int, v text);
SELECT pgasync.copy_to_remote('tls', 'tls_bulk',
  'SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 50000) g');
SELECT pgasync.copy(current_setting('pgasync_test.tls_dsn'),
  'SELECT id + 50000, v FROM tls_bulk',
  current_setting('pgasync_test.tls_dsn'), 'tls_bulk');
SELECT count(*), sum(id), sum(length(v)), md5(string_agg(v, ',' ORDER BY id))
  = (SELECT md5(string_agg(repeat(md5(g::text), 4), ',' ORDER BY g)) FROM generate_series(1, 50000) g) AS same_first_half
  FROM pgasync.fetch('tls', 'SELECT id, v FROM tls_bulk WHERE id <= 50000') AS t(id int, v text);
SELECT count(*), sum(id), sum(length(v))
  FROM pgasync.fetch('tls', 'SELECT id, v FROM tls_bulk') AS t(id int, v text);
DROP TABLE tls_bulk;
SELECT pgasync.disconnect('tls');

--
-- fetch
--
SELECT * FROM pgasync.fetch('loop', 'SELECT 1 AS a, ''one''::text AS b') AS t(a int, b text);
SELECT * FROM pgasync.fetch('loop',
  'SELECT g, g * 1.5, repeat(''x'', g) FROM generate_series(1, 5) g ORDER BY g')
  AS t(n int, half numeric, s text);
SELECT * FROM pgasync.fetch('loop', 'SELECT 1 WHERE false') AS t(a int);
SELECT count(*), sum(n), min(n), max(n)
  FROM pgasync.fetch('loop', 'SELECT generate_series(1, 100000)') AS t(n int);
-- fetch is a table function like any other
SELECT g, t.*
  FROM generate_series(1, 3) g,
       LATERAL pgasync.fetch('loop', 'SELECT $1 * 10, $1::text || ''!''', g) AS t(ten int, s text)
  ORDER BY g;
-- parameters of many types, and the types the remote server sees
SELECT * FROM pgasync.fetch('loop',
  'SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13',
  1::int2, 2::int4, 3::int8, 4.5::numeric, 5.5::float8, 'six'::text, true,
  '2000-01-07'::date, '2000-01-08 08:00:00+00'::timestamptz, '\x0900ff'::bytea,
  '{"n": 10}'::jsonb, '{11,NULL,11}'::int[], 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid)
  AS t(p1 int2, p2 int4, p3 int8, p4 numeric, p5 float8, p6 text, p7 bool,
       p8 date, p9 timestamptz, p10 bytea, p11 jsonb, p12 int[], p13 uuid);
SELECT * FROM pgasync.fetch('loop',
  'SELECT pg_typeof($1)::text, pg_typeof($2)::text, pg_typeof($3)::text, pg_typeof($4)::text,
          pg_typeof($5)::text, pg_typeof($6)::text, pg_typeof($7)::text',
  1::int2, 2::int8, 'x'::varchar(5), 'y'::name, '{1}'::int[], '[1,2)'::int4range,
  'z'::information_schema.sql_identifier)
  AS t(p1 text, p2 text, p3 text, p4 text, p5 text, p6 text, p7 text);
-- unknown-typed literals and records go as text of no particular type: the
-- remote query decides
SELECT * FROM pgasync.fetch('loop', 'SELECT $1::int + 1, $2::date + 1, $3::text', '41', '2000-01-01', ROW(1, 'a b'))
  AS t(a int, b date, c text);
SELECT * FROM pgasync.fetch('loop', 'SELECT pg_typeof($1)::text', 'unknown') AS t(a text);
-- NULL parameters
SELECT * FROM pgasync.fetch('loop',
  'SELECT $1 IS NULL, $2 IS NULL, $3::text IS NULL, coalesce($4, -1)',
  NULL::int, NULL::text, NULL, NULL::int8)
  AS t(a bool, b bool, c bool, d int8);
-- the VARIADIC array form: its elements are the parameters
SELECT * FROM pgasync.fetch('loop', 'SELECT $1 + $2 + $3', VARIADIC ARRAY[1, 2, 3]) AS t(s int);
SELECT * FROM pgasync.fetch('loop', 'SELECT $1 IS NULL, $2', VARIADIC ARRAY[NULL, 'b']) AS t(a bool, b text);
SELECT * FROM pgasync.fetch('loop', 'SELECT 1', VARIADIC '{}'::int[]) AS t(a int);
SELECT * FROM pgasync.fetch('loop', 'SELECT 1', VARIADIC NULL::int[]) AS t(a int);
-- fetch needs a column definition list, a target and a query
SELECT * FROM pgasync.fetch('loop', 'SELECT 1');
SELECT * FROM pgasync.fetch(NULL, 'SELECT 1') AS t(a int);
SELECT * FROM pgasync.fetch('loop', NULL) AS t(a int);
-- a command that returns no rows, and several statements, are no queries
SELECT * FROM pgasync.fetch('loop', 'SET work_mem = ''1MB''') AS t(a int);
SELECT * FROM pgasync.fetch('loop', 'SELECT 1; SELECT 2') AS t(a int);

--
-- fetchrow: the first row, or NULL
--
SELECT * FROM pgasync.fetchrow('loop', 'SELECT 1, ''a''::text') AS t(a int, b text);
SELECT * FROM pgasync.fetchrow('loop',
  'SELECT g, g::text FROM generate_series(5, 7) AS s(g) ORDER BY 1 DESC') AS t(a int, b text);
SELECT * FROM pgasync.fetchrow('loop', 'SELECT $1 * 2, $2', 21, 'p'::text) AS t(a int, b text);
SELECT r IS NULL AS no_row, r.*
  FROM pgasync.fetchrow('loop', 'SELECT 1, ''a''::text WHERE false') AS r(a int, b text);
SELECT pgasync.fetchrow('loop', 'SELECT 1');

--
-- fetchval: the first column of the first row, as text, or NULL
--
SELECT pgasync.fetchval('loop', 'SELECT 42, 43');
SELECT pgasync.fetchval('loop', 'SELECT g FROM generate_series(3, 1, -1) g');
SELECT pgasync.fetchval('loop', 'SELECT 1 WHERE false') IS NULL AS no_row;
SELECT pgasync.fetchval('loop', 'SELECT NULL::int') IS NULL AS null_value;
SELECT pgasync.fetchval('loop', $$SELECT '2000-01-02 03:04:05+00'::timestamptz AT TIME ZONE 'UTC'$$);
SELECT pgasync.fetchval('loop', $$SELECT ARRAY['a b', NULL], '\xff'::bytea$$);
SELECT pgasync.fetchval('loop', 'SELECT $1::int * $2', 6, 7);
SELECT pgasync.fetchval('loop', 'SELECT $1 || $2', VARIADIC ARRAY['con', 'cat']);
SELECT pgasync.fetchval('loop', 'SET work_mem = ''2MB''') IS NULL AS no_result;

--
-- execute: the status of the (last) command
--
SELECT pgasync.execute('loop', 'CREATE TABLE pgasync_q (id int PRIMARY KEY, v text)');
SELECT pgasync.execute('loop', 'INSERT INTO pgasync_q VALUES (1, ''one''), (2, ''two'')');
SELECT pgasync.execute('loop', 'INSERT INTO pgasync_q VALUES ($1, $2)', 3, 'three'::text);
SELECT pgasync.execute('loop', 'INSERT INTO pgasync_q SELECT g, $1 FROM generate_series(4, 10) g', 'many'::text);
SELECT pgasync.execute('loop', 'UPDATE pgasync_q SET v = upper(v) WHERE id > $1', 8);
SELECT pgasync.execute('loop', 'DELETE FROM pgasync_q WHERE v = ''many''');
SELECT pgasync.execute('loop', 'SELECT * FROM pgasync_q');
-- several statements (without parameters): the status of the last one
SELECT pgasync.execute('loop',
  'INSERT INTO pgasync_q VALUES (20, ''x''); UPDATE pgasync_q SET v = v || ''!'' WHERE id >= 9; CREATE INDEX ON pgasync_q (v)');
SELECT pgasync.execute('loop', 'SELECT 1; SELECT 2; SELECT 3 UNION ALL SELECT 4');
SELECT pgasync.execute('loop', 'SELECT $1; SELECT 2', 1);
SELECT pgasync.execute('loop', '');
SELECT pgasync.execute('loop', 'COPY (SELECT 1 UNION ALL SELECT 2) TO STDOUT');
SELECT pgasync.execute('loop', 'COPY pgasync_q FROM STDIN');
-- the remote commands committed: the rows are visible here
SELECT * FROM pgasync_q ORDER BY id;

--
-- fetch_json: rows as jsonb objects
--
SELECT key, value, jsonb_typeof(value)
  FROM pgasync.fetch_json('loop', $$
  SELECT 1 AS int, 2.50::numeric AS num, 1e20::float8 AS float, 'NaN'::float8 AS nan,
         '-Infinity'::numeric AS ninf, true AS t, false AS f,
         '{"x": [1, {"y": null}]}'::jsonb AS jsonb, '[1, "2"]'::json AS json,
         NULL::int AS "null", 'str "q"'::text AS text, '2000-01-01'::date AS date,
         ARRAY[1, 2] AS array, ROW(1, 'a') AS record$$) AS j,
       jsonb_each(j)
  ORDER BY key;
SELECT * FROM pgasync.fetch_json('loop', 'SELECT id, v FROM pgasync_q ORDER BY id');
SELECT * FROM pgasync.fetch_json('loop', 'SELECT $1::int AS a, $2 AS b', 1, 'two'::text);
SELECT count(*) FROM pgasync.fetch_json('loop', 'SELECT 1 WHERE false');

--
-- Statement cache: each distinct query (and parameter types) is prepared
-- once per connection
--
SELECT pgasync.connect('cache', :'dsn');
SELECT queries, cached_statements FROM pgasync.connections() WHERE name = 'cache';
SELECT pgasync.fetchval('cache', 'SELECT 1');
SELECT pgasync.fetchval('cache', 'SELECT 1');
SELECT pgasync.fetchval('cache', 'SELECT 1');
SELECT queries, cached_statements FROM pgasync.connections() WHERE name = 'cache';
SELECT pgasync.fetchval('cache', 'SELECT $1', 1);
SELECT pgasync.fetchval('cache', 'SELECT $1', 2);
SELECT pgasync.fetchval('cache', 'SELECT $1', 'x'::text);
SELECT queries, cached_statements FROM pgasync.connections() WHERE name = 'cache';
-- the remote server holds them as prepared statements
SELECT * FROM pgasync.fetch('cache',
  'SELECT statement FROM pg_prepared_statements ORDER BY prepare_time, name')
  AS t(statement text);
-- execute without parameters uses the simple protocol: nothing is cached
SELECT queries, cached_statements FROM pgasync.connections() WHERE name = 'cache';
SELECT pgasync.execute('cache', 'SELECT 2');
SELECT queries, cached_statements FROM pgasync.connections() WHERE name = 'cache';
-- a cached statement whose result changed on the remote server
SELECT pgasync.execute('cache', 'CREATE TABLE pgasync_q2 (a int)');
SELECT pgasync.execute('cache', 'INSERT INTO pgasync_q2 VALUES (1)');
SELECT * FROM pgasync.fetch('cache', 'SELECT * FROM pgasync_q2') AS t(a int);
SELECT * FROM pgasync.fetch('cache', 'SELECT * FROM pgasync_q2 WHERE a > $1', 0) AS t(a int);
SELECT pgasync.execute('cache', 'ALTER TABLE pgasync_q2 ADD COLUMN b int DEFAULT 2');
-- the server refuses to run it with the old result columns: pgasync drops
-- it from the cache and prepares it again at once, which shows the real
-- difference with the column definition list ...
SELECT * FROM pgasync.fetch('cache', 'SELECT * FROM pgasync_q2') AS t(a int);
-- ... and a list that fits the new result works
SELECT * FROM pgasync.fetch('cache', 'SELECT * FROM pgasync_q2') AS t(a int, b int);
-- a column definition list that fits the new result only prepares it anew
SELECT * FROM pgasync.fetch('cache', 'SELECT * FROM pgasync_q2 WHERE a > $1', 0) AS t(a int, b int);
SELECT * FROM pgasync.fetch('cache', 'SELECT * FROM pgasync_q2 WHERE a > $1', 0) AS t(a int, b int);
SELECT pgasync.execute('cache', 'DROP TABLE pgasync_q2');
SELECT pgasync.disconnect('cache');
-- statement_cache_size 0: unnamed statements only
SELECT pgasync.connect('nocache', :'dsn', '{"statement_cache_size": 0}');
SELECT pgasync.fetchval('nocache', 'SELECT 1');
SELECT pgasync.fetchval('nocache', 'SELECT 1');
SELECT pgasync.fetchval('nocache', 'SELECT $1', 2);
SELECT * FROM pgasync.fetch('nocache', 'SELECT count(*) FROM pg_prepared_statements') AS t(n int);
SELECT queries, cached_statements FROM pgasync.connections() WHERE name = 'nocache';
SELECT pgasync.disconnect('nocache');
-- a cache of two statements keeps the two most recently used
SELECT pgasync.connect('small', :'dsn', '{"statement_cache_size": 2}');
SELECT pgasync.fetchval('small', 'SELECT 1');
SELECT pgasync.fetchval('small', 'SELECT 2');
SELECT pgasync.fetchval('small', 'SELECT 1');
SELECT pgasync.fetchval('small', 'SELECT 3');
SELECT * FROM pgasync.fetch('small', 'SELECT statement FROM pg_prepared_statements ORDER BY statement')
  AS t(statement text);
SELECT cached_statements FROM pgasync.connections() WHERE name = 'small';
SELECT pgasync.disconnect('small');
-- queries longer than max_cacheable_statement_size are not cached
SELECT pgasync.connect('short', :'dsn', '{"max_cacheable_statement_size": 10}');
SELECT pgasync.fetchval('short', 'SELECT 1');
SELECT pgasync.fetchval('short', 'SELECT 1 + 1 + 1');
SELECT cached_statements FROM pgasync.connections() WHERE name = 'short';
SELECT pgasync.disconnect('short');

--
-- Notices of the remote session are relayed, with their context
--
\set SHOW_CONTEXT always
SELECT pgasync.execute('loop', $q$DO $$BEGIN RAISE NOTICE 'hello from %', 'remote'; END $$$q$);
SELECT pgasync.execute('loop', $q$DO $$BEGIN RAISE WARNING 'careful' USING DETAIL = 'a detail', HINT = 'a hint'; END $$$q$);
SELECT pgasync.execute('loop', $q$DO $$BEGIN RAISE INFO 'for your information'; END $$$q$);
CREATE FUNCTION pgasync_noisy(n int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'noisy %', n;
    RETURN n;
END $$;
SELECT * FROM pgasync.fetch('loop', 'SELECT pgasync_noisy(g) FROM generate_series(1, 2) g ORDER BY g')
  AS t(n int);
-- the local client_min_messages applies
SET client_min_messages = warning;
SELECT pgasync.execute('loop', $q$DO $$BEGIN RAISE NOTICE 'not shown'; END $$$q$);
RESET client_min_messages;
\set SHOW_CONTEXT errors
DROP FUNCTION pgasync_noisy(int);

--
-- Remote transactions are the remote session's own
--
SELECT pgasync.execute('loop', 'BEGIN');
SELECT in_transaction FROM pgasync.connections() WHERE name = 'loop';
SELECT pgasync.execute('loop', 'INSERT INTO pgasync_q VALUES (100, ''uncommitted'')');
-- not committed yet: not visible here
SELECT count(*) FROM pgasync_q WHERE id = 100;
SELECT pgasync.fetchval('loop', 'SELECT count(*) FROM pgasync_q WHERE id = 100');
SELECT pgasync.execute('loop', 'COMMIT');
SELECT in_transaction FROM pgasync.connections() WHERE name = 'loop';
SELECT count(*) FROM pgasync_q WHERE id = 100;
-- an error inside a remote transaction leaves it failed until ROLLBACK
SELECT pgasync.execute('loop', 'BEGIN');
SELECT pgasync.execute('loop', 'INSERT INTO pgasync_q VALUES (101, ''rolled back'')');
SELECT pgasync.fetchval('loop', 'SELECT 1 / 0');
SELECT in_transaction FROM pgasync.connections() WHERE name = 'loop';
SELECT pgasync.fetchval('loop', 'SELECT 1');
SELECT pgasync.execute('loop', 'ROLLBACK');
SELECT in_transaction FROM pgasync.connections() WHERE name = 'loop';
SELECT pgasync.fetchval('loop', 'SELECT count(*) FROM pgasync_q WHERE id = 101');
-- a local rollback does not roll back remote commands
BEGIN;
SELECT pgasync.execute('loop', 'INSERT INTO pgasync_q VALUES (102, ''autocommitted'')');
ROLLBACK;
SELECT id, v FROM pgasync_q WHERE id >= 100 ORDER BY id;

--
-- A pgasync_fdw foreign server as target
--
DO $$
BEGIN
    EXECUTE format('CREATE SERVER pgasync_loop_srv FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (host %L, port %L, dbname %L)',
                   substring(current_setting('pgasync_test.dsn') from 'host=(\S+)'),
                   current_setting('pgasync_test.port'), current_database());
END
$$;
-- a superuser's user mapping needs no password
CREATE USER MAPPING FOR CURRENT_USER SERVER pgasync_loop_srv;
SELECT * FROM pgasync.fetch('pgasync_loop_srv', 'SELECT current_database()::text, current_user = $1', current_user::text)
  AS t(db text, same_user bool);
SELECT pgasync.fetchval('pgasync_loop_srv', 'SELECT 2');
SELECT pgasync.execute('pgasync_loop_srv', 'SELECT 3');
SELECT name, kind, queries FROM pgasync.connections() WHERE kind = 'server';
-- a named connection to the server
SELECT pgasync.connect('via_server', 'pgasync_loop_srv', '{"statement_cache_size": 0}');
SELECT pgasync.fetchval('via_server', 'SELECT 4');
SELECT name, kind, cached_statements FROM pgasync.connections() WHERE kind = 'server' ORDER BY name;
SELECT pgasync.disconnect('via_server');
-- disconnect() also closes this role's connection to a server
SELECT pgasync.disconnect('pgasync_loop_srv');
SELECT pgasync.disconnect('pgasync_loop_srv');
-- a named connection of the same name as a server takes precedence
SELECT pgasync.connect('pgasync_loop_srv', :'dsn');
SELECT name, kind FROM pgasync.connections() WHERE name = 'pgasync_loop_srv';
SELECT pgasync.fetchval('pgasync_loop_srv', 'SELECT 5');
SELECT pgasync.disconnect('pgasync_loop_srv');
-- servers of other foreign-data wrappers are no targets
CREATE FOREIGN DATA WRAPPER pgasync_other_fdw;
CREATE SERVER pgasync_other_srv FOREIGN DATA WRAPPER pgasync_other_fdw;
SELECT pgasync.fetchval('pgasync_other_srv', 'SELECT 1');
SELECT pgasync.connect('other', 'pgasync_other_srv');
DROP FOREIGN DATA WRAPPER pgasync_other_fdw CASCADE;

--
-- A connection string as target: its connection is kept for reuse
--
SELECT pgasync.fetchval(:'dsn', 'SELECT 1');
SELECT pgasync.fetchval(:'dsn', 'SELECT $1', 2);
SELECT * FROM pgasync.fetch(:'dsn', 'SELECT 3') AS t(a int);
SELECT pgasync.execute(:'dsn', 'SELECT 4');
SELECT count(*), sum(queries) AS queries, min(name) LIKE '%/contrib_regression' AS name_ok
  FROM pgasync.connections() WHERE kind = 'dsn';
-- URIs are connection strings too
SELECT pgasync.fetchval(format('postgresql:///contrib_regression?host=%s&port=%s', :'sockdir', :'port'), 'SELECT 5');
SELECT count(*) FROM pgasync.connections() WHERE kind = 'dsn';

--
-- disconnect_all closes everything
--
SELECT name, kind FROM pgasync.connections() WHERE kind <> 'dsn' ORDER BY name;
SELECT pgasync.disconnect_all();
SELECT count(*) FROM pgasync.connections();
SELECT pgasync.disconnect_all();
-- servers and connection strings connect again when used; named
-- connections are gone
SELECT pgasync.fetchval('pgasync_loop_srv', 'SELECT 6');
SELECT pgasync.fetchval('loop', 'SELECT 7');
SELECT pgasync.disconnect_all();

-- Clean up.
DROP TABLE pgasync_q;
DROP USER MAPPING FOR CURRENT_USER SERVER pgasync_loop_srv;
DROP SERVER pgasync_loop_srv;
