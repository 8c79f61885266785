--
-- Connection pools: create_pool, pools(), calls through a pool's name,
-- resets of connections whose session state changed, max_queries,
-- inactivity, broken connections, exhaustion, remote transactions,
-- close_pool and option errors, against loopback connections to this very
-- server.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgasync;
RESET client_min_messages;

SELECT current_setting('pgasync_test.dsn') AS dsn \gset

--
-- min_size connections open at once; server_settings apply to each
--
SELECT pgasync.create_pool('p', :'dsn',
       '{"min_size": 2, "max_size": 3, "server_settings": {"work_mem": "2MB"}}');
SELECT name, size, idle, busy, min_size, max_size, max_queries,
       max_inactive_connection_lifetime, acquired, created, closed, resets
  FROM pgasync.pools();
-- members show in connections() under the pool's name
SELECT name, kind, busy, queries FROM pgasync.connections() ORDER BY server_pid;
SELECT count(*) AS pool_backends FROM pg_stat_activity
 WHERE pid IN (SELECT server_pid FROM pgasync.connections());

--
-- Every query function takes the pool's name as its target
--
SELECT pgasync.fetchval('p', 'SELECT 1 + 1');
SELECT * FROM pgasync.fetch('p', 'SELECT g FROM generate_series(1, 3) g') AS t(g int);
SELECT * FROM pgasync.fetchrow('p', 'SELECT $1::int, $2::text', 7, 'x') AS t(a int, b text);
SELECT pgasync.execute('p', 'SELECT 1');
SELECT pgasync.execute('p', 'SELECT $1::int', 1);
SELECT * FROM pgasync.fetch_json('p', 'SELECT 1 AS a');
-- each call gives its connection back: the most recently used one serves
-- them all, and the other stays idle
SELECT count(DISTINCT pgasync.fetchval('p', 'SELECT pg_backend_pid()')) AS pids
  FROM generate_series(1, 5);
SELECT size, idle, busy, acquired, created FROM pgasync.pools();

--
-- A clean call is not reset: one ReadyForQuery per call
--
SELECT pgasync.fetchval('p', 'SELECT pg_backend_pid()') AS pid \gset
SELECT round_trips AS rt FROM pgasync.connections() WHERE server_pid = :pid \gset
SELECT pgasync.fetchval('p', 'SELECT 42');
SELECT round_trips - :rt AS ready_for_query FROM pgasync.connections() WHERE server_pid = :pid;
-- words that merely look like "temp" do not count
SELECT round_trips AS rt FROM pgasync.connections() WHERE server_pid = :pid \gset
SELECT pgasync.fetchval('p', 'SELECT 43 AS temperature, $1::text AS template', 'attempt');
SELECT round_trips - :rt AS ready_for_query FROM pgasync.connections() WHERE server_pid = :pid;
SELECT resets FROM pgasync.pools();

--
-- SET makes the connection dirty: its next request is preceded by the reset
-- (RESET ALL goes back to the startup packet's settings, server_settings
-- and pgasync's pinned formats included), in the same round trip
--
SELECT pgasync.fetchval('p', 'SHOW work_mem');
SELECT pgasync.execute('p', 'SET work_mem = ''64MB''; SET DateStyle = ''German''');
SELECT round_trips AS rt FROM pgasync.connections() WHERE server_pid = :pid \gset
SELECT pgasync.fetchval('p', 'SHOW work_mem');
-- two ReadyForQuery (the reset's and the call's) in one round trip
SELECT round_trips - :rt AS ready_for_query FROM pgasync.connections() WHERE server_pid = :pid;
SELECT pgasync.fetchval('p', 'SHOW DateStyle') AS datestyle,
       pgasync.fetchval('p', 'SELECT date ''2024-01-02''::text') AS day;
SELECT resets FROM pgasync.pools();
-- clean again: no more resets
SELECT pgasync.fetchval('p', 'SHOW work_mem');
SELECT resets FROM pgasync.pools();
-- set_config() is seen in the query text
SELECT pgasync.fetchval('p', 'SELECT set_config(''work_mem'', ''5MB'', false)');
SELECT pgasync.fetchval('p', 'SHOW work_mem');
-- SET ROLE, which RESET ALL leaves alone
SELECT pgasync.execute('p', 'SET ROLE pg_monitor');
SELECT pgasync.fetchval('p', 'SELECT current_user = session_user');
-- advisory locks (seen in the query text)
SELECT pgasync.fetchval('p', 'SELECT pg_advisory_lock(424242)');
SELECT count(*) AS locks FROM pg_locks WHERE locktype = 'advisory' AND objid = 424242;
SELECT pgasync.fetchval('p', 'SELECT 1');
SELECT count(*) AS locks FROM pg_locks WHERE locktype = 'advisory' AND objid = 424242;
-- LISTEN and cursors WITH HOLD
SELECT pgasync.execute('p', 'LISTEN pool_channel; DECLARE pool_cur CURSOR WITH HOLD FOR SELECT 1');
SELECT pgasync.fetchval('p', 'SELECT (SELECT count(*) FROM pg_listening_channels()) + (SELECT count(*) FROM pg_cursors WHERE name <> '''')');
-- temporary tables
SELECT pgasync.execute('p', 'CREATE TEMP TABLE pool_tt (a int)');
SELECT pgasync.fetchval('p', 'SELECT count(*) FROM pg_class WHERE relname = ''pool_tt''');
-- SQL prepared statements: DEALLOCATE ALL, and pgasync's own statement
-- cache starts afresh (cached statements still work)
SELECT pgasync.execute('p', 'PREPARE pool_ps AS SELECT 1');
SELECT pgasync.fetchval('p', 'SELECT count(*) FROM pg_prepared_statements WHERE from_sql');
SELECT pgasync.fetchval('p', 'SELECT 1 + 1');
SELECT pgasync.fetchval('p', 'SELECT 42');
-- an explicit BEGIN sent through the pool is rolled back
SELECT pgasync.execute('p', 'BEGIN');
SELECT in_transaction FROM pgasync.connections() WHERE server_pid = :pid;
SELECT pgasync.fetchval('p', 'SELECT 1');
SELECT in_transaction FROM pgasync.connections() WHERE server_pid = :pid;
SELECT resets, size, created, closed FROM pgasync.pools();

--
-- Remote transactions: the connection stays with the local transaction,
-- which gets it back on every call; a reset waits for the end
--
BEGIN;
SELECT pgasync.begin('p');
SELECT pgasync.execute('p', 'SET work_mem = ''9MB''');
SELECT pgasync.fetchval('p', 'SELECT pg_backend_pid()') = :'pid' AS same_connection;
SELECT pgasync.fetchval('p', 'SHOW work_mem');
SELECT size, idle, busy FROM pgasync.pools();
COMMIT;
SELECT size, idle, busy FROM pgasync.pools();
SELECT pgasync.fetchval('p', 'SHOW work_mem');
-- a pool cannot be closed while the transaction holds a connection
BEGIN;
SELECT pgasync.begin('p');
SELECT pgasync.fetchval('p', 'SELECT 1');
SELECT pgasync.close_pool('p');
ROLLBACK;
SELECT size, idle, busy FROM pgasync.pools();

--
-- Errors give the connection back
--
SELECT pgasync.fetchval('p', 'SELECT 1/0');
SELECT * FROM pgasync.fetch('p', 'SELECT 1, 2') AS t(a int);
DO $$
BEGIN
  PERFORM pgasync.fetchval('p', 'SELECT 1/0');
EXCEPTION WHEN division_by_zero THEN
  RAISE NOTICE 'caught';
END $$;
SELECT size, idle, busy FROM pgasync.pools();

--
-- Exhaustion: a call that needs the pool while all its connections are in
-- use (here a domain check run while the row is decoded)
--
SELECT pgasync.create_pool('one', :'dsn', '{"min_size": 1, "max_size": 1}');
CREATE FUNCTION pool_check(v int) RETURNS boolean LANGUAGE sql
  AS $$ SELECT pgasync.fetchval('one', 'SELECT true')::boolean $$;
CREATE DOMAIN pool_checked AS int CHECK (pool_check(VALUE));
SELECT * FROM pgasync.fetch('one', 'SELECT 5') AS t(x pool_checked);
SELECT name, size, idle, busy FROM pgasync.pools() WHERE name = 'one';
-- with room for a second connection it works
SELECT pgasync.close_pool('one');
SELECT pgasync.create_pool('one', :'dsn', '{"min_size": 0, "max_size": 2}');
SELECT name, size FROM pgasync.pools() WHERE name = 'one';
SELECT * FROM pgasync.fetch('one', 'SELECT 5') AS t(x pool_checked);
SELECT name, size, idle, busy, created FROM pgasync.pools() WHERE name = 'one';
SELECT pgasync.close_pool('one');

--
-- max_queries: a connection is replaced after that many queries
--
SELECT pgasync.create_pool('q', :'dsn', '{"min_size": 1, "max_size": 1, "max_queries": 3}');
SELECT pgasync.fetchval('q', 'SELECT pg_backend_pid()') AS qpid \gset
SELECT pgasync.fetchval('q', 'SELECT pg_backend_pid()') = :'qpid' AS same;
SELECT pgasync.fetchval('q', 'SELECT pg_backend_pid()') = :'qpid' AS same;
SELECT pgasync.fetchval('q', 'SELECT pg_backend_pid()') = :'qpid' AS same;
SELECT size, created, closed FROM pgasync.pools() WHERE name = 'q';

--
-- A broken connection is dropped, never reused
--
SELECT pgasync.fetchval('q', 'SELECT pg_backend_pid()') AS qpid \gset
SELECT pg_terminate_backend(:qpid, 10000);
SELECT pgasync.fetchval('q', 'SELECT pg_backend_pid()') = :'qpid' AS same;
SELECT size, created, closed FROM pgasync.pools() WHERE name = 'q';

--
-- max_inactive_connection_lifetime: idle connections are closed when the
-- pool is next used (even below min_size), and opened again on demand
--
SELECT pgasync.create_pool('i', :'dsn', '{"max_inactive_connection_lifetime": 0.2}');
SELECT pgasync.fetchval('i', 'SELECT pg_backend_pid()') AS ipid \gset
SELECT pg_sleep(0.3);
SELECT pgasync.fetchval('i', 'SELECT pg_backend_pid()') = :'ipid' AS same;
SELECT size, created, closed FROM pgasync.pools() WHERE name = 'i';

--
-- Connection options apply to each member
--
SELECT pgasync.create_pool('t', :'dsn',
       '{"min_size": 1, "command_timeout": 0.2, "statement_cache_size": 0}');
SELECT pgasync.fetchval('t', 'SELECT pg_sleep(5)');
SELECT pgasync.fetchval('t', 'SELECT 1');
SELECT cached_statements FROM pgasync.connections() WHERE name = 't';
SELECT size, idle, busy, created FROM pgasync.pools() WHERE name = 't';

--
-- Names, options and limits
--
SELECT pgasync.create_pool('p', :'dsn');
SELECT pgasync.connect('p', :'dsn');
SELECT pgasync.connect('c', :'dsn');
SELECT pgasync.create_pool('c', :'dsn');
SELECT pgasync.disconnect('c');
SELECT pgasync.create_pool('', :'dsn');
SELECT pgasync.create_pool(repeat('x', 64), :'dsn');
SELECT pgasync.create_pool(NULL, :'dsn');
SELECT pgasync.create_pool('bad', NULL);
SELECT pgasync.create_pool('bad', :'dsn', '[1]');
SELECT pgasync.create_pool('bad', :'dsn', '{"min_size": -1}');
SELECT pgasync.create_pool('bad', :'dsn', '{"max_size": 0}');
SELECT pgasync.create_pool('bad', :'dsn', '{"min_size": 5, "max_size": 2}');
SELECT pgasync.create_pool('bad', :'dsn', '{"max_queries": 1.5}');
SELECT pgasync.create_pool('bad', :'dsn', '{"max_queries": 1e20}');
SELECT pgasync.create_pool('bad', :'dsn', '{"max_inactive_connection_lifetime": "x"}');
SELECT pgasync.create_pool('bad', :'dsn', '{"max_inactive_connection_lifetime": -1}');
SELECT pgasync.create_pool('bad', :'dsn', '{"command_timeout": "x"}');
SELECT pgasync.create_pool('bad', :'dsn', '{"nonsense": 1}');
SELECT pgasync.create_pool('bad', 'host=/nonexistent port=1', '{"min_size": 2}');
SELECT pgasync.create_pool('bad', 'nonsense');
SELECT count(*) FROM pgasync.pools() WHERE name = 'bad';
-- pgasync.max_connections bounds min_size up front
SELECT count(*) + 1 AS budget FROM pgasync.connections() \gset
SET pgasync.max_connections = :budget;
SELECT pgasync.create_pool('big', :'dsn', '{"min_size": 2, "max_size": 3}');
SELECT pgasync.create_pool('big', :'dsn', '{"min_size": 1, "max_size": 3}');
SELECT pgasync.fetchval('big', 'SELECT 1');
-- with the budget used up, a fan-out through the pool takes its idle
-- connection: no new one is needed
SELECT count(*) AS budget FROM pgasync.connections() \gset
SET pgasync.max_connections = :budget;
SELECT * FROM pgasync.fanout(ARRAY['big'], 'SELECT 42') AS t(a int);
RESET pgasync.max_connections;
-- pgasync.copy takes a pool's settings and opens connections of its own
CREATE TABLE pool_copy_src AS SELECT g FROM generate_series(1, 100) g;
CREATE TABLE pool_copy_dst (g int);
SELECT pgasync.copy('big', 'pool_copy_src', 'big', 'pool_copy_dst');
SELECT count(*), sum(g) FROM pool_copy_dst;
DROP TABLE pool_copy_src, pool_copy_dst;
-- another role may not use the pool
CREATE ROLE regress_pgasync_pool_other;
GRANT USAGE ON SCHEMA pgasync TO regress_pgasync_pool_other;
SET ROLE regress_pgasync_pool_other;
SELECT pgasync.fetchval('p', 'SELECT 1');
SELECT pgasync.copy('p', 'SELECT 1', 'p', 'nowhere');
SELECT pgasync.close_pool('p');
SELECT count(*) FROM pgasync.pools();
RESET ROLE;

--
-- close_pool, and disconnect_all() closes pools too
--
SELECT pgasync.close_pool('p');
SELECT pgasync.close_pool('p');
SELECT pgasync.fetchval('p', 'SELECT 1');
SELECT name, size FROM pgasync.pools() ORDER BY name;
SELECT pgasync.disconnect_all();
SELECT count(*) FROM pgasync.pools();
SELECT count(*) FROM pgasync.connections();

-- Clean up.
DROP DOMAIN pool_checked;
DROP FUNCTION pool_check(int);
REVOKE USAGE ON SCHEMA pgasync FROM regress_pgasync_pool_other;
DROP ROLE regress_pgasync_pool_other;
