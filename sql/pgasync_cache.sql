--
-- The prepared-statement cache, against a loopback connection to this very
-- server: one round trip per call whether the statement is cached or not;
-- eviction (the Close of an evicted statement rides in the next batch sent,
-- at no extra round trip), lifetime and size limits, statements gone stale
-- after a schema change, and statements that vanished behind pgasync's back
-- (the pooler hint).
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgasync;
RESET client_min_messages;

SELECT current_setting('pgasync_test.dsn') AS dsn \gset

-- Round trips (ReadyForQuery messages) of connection conn since the last
-- call for it, and the statements in its cache.
CREATE FUNCTION cache_trips(conn text, OUT round_trips bigint, OUT cached_statements int)
LANGUAGE plpgsql AS $$
DECLARE
	key text := 'cache_test.' || conn;
	total bigint;
BEGIN
	SELECT c.round_trips, c.cached_statements INTO total, cached_statements
	  FROM pgasync.connections() c WHERE c.name = conn;
	round_trips := total - coalesce(nullif(current_setting(key, true), ''), '0')::bigint;
	PERFORM set_config(key, total::text, false);
END
$$;

-- Statement names are "pgasync_<random>_<n>", n counting the statements
-- of all of this backend's connections: show them as "pgasync_<n>".
CREATE FUNCTION mask_names(s text) RETURNS text
LANGUAGE sql AS $$ SELECT regexp_replace(s, 'pgasync_[0-9a-f]{8}_', 'pgasync_', 'g') $$;

-- The prepared statements of conn's remote session, by name.  The query is
-- longer than any max_cacheable_statement_size used here, so it goes as the
-- unnamed statement and leaves the cache alone; its round trip is not
-- counted by cache_trips().
CREATE FUNCTION remote_statements(conn text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	key text := 'cache_test.' || conn;
	names text;
BEGIN
	names := pgasync.fetchval(conn,
		'SELECT coalesce(string_agg(name, '' '' ORDER BY length(name), name), ''(none)'') FROM pg_prepared_statements'
		|| repeat(' ', 16000));
	PERFORM set_config(key, (current_setting(key)::bigint + 1)::text, false);
	RETURN mask_names(names);
END
$$;

-- Run a query returning one value; show its error, if any, with SQLSTATE
-- and hint, statement names masked.
CREATE FUNCTION try(query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	result text;
	state text;
	msg text;
	hint text;
BEGIN
	EXECUTE query INTO result;
	RETURN result;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
		hint = PG_EXCEPTION_HINT;
	RETURN mask_names('ERROR ' || state || ': ' || msg || coalesce(E'\nHINT: ' || nullif(hint, ''), ''));
END
$$;

--
-- Misses and hits: one round trip each
--
SELECT pgasync.connect('cache', :'dsn', '{"statement_cache_size": 2, "max_cacheable_statement_size": 100}');
SELECT * FROM cache_trips('cache');
SELECT remote_statements('cache');
-- a miss: Parse, Describe, Bind, Execute and Sync in one batch
SELECT pgasync.fetchval('cache', 'SELECT $1::int * 2', 21);
SELECT * FROM cache_trips('cache');
SELECT remote_statements('cache');
-- a hit: Bind, Execute and Sync
SELECT pgasync.fetchval('cache', 'SELECT $1::int * 2', 50);
SELECT * FROM cache_trips('cache');
-- the cache key is the text and the parameter types
SELECT pgasync.fetchval('cache', 'SELECT $1::int * 2', 50::bigint);
SELECT * FROM cache_trips('cache');
SELECT remote_statements('cache');
-- fetch, fetchrow and execute share the cache
SELECT * FROM pgasync.fetch('cache', 'SELECT $1::int * 2', 7) AS t(x int);
SELECT * FROM pgasync.fetchrow('cache', 'SELECT $1::int * 2', 8) AS t(x int);
SELECT pgasync.execute('cache', 'SELECT $1::int * 2', 9);
SELECT * FROM cache_trips('cache');
SELECT queries FROM pgasync.connections() WHERE name = 'cache';

--
-- Eviction: with statement_cache_size 2, a third statement evicts the least
-- recently used one.  Its Close goes ahead of the new statement's Parse in
-- the same batch, so the new statement already sees it gone.
--
SELECT pgasync.fetchval('cache', 'SELECT $1::int * 2', 1);	-- the most recent now
SELECT n, mask_names(names) FROM pgasync.fetch('cache',
  'SELECT $1::int AS n, string_agg(name, '' '' ORDER BY length(name), name) FROM pg_prepared_statements', 3)
  AS t(n int, names text);
SELECT * FROM cache_trips('cache');
SELECT remote_statements('cache');
-- "SELECT $1::int * 2" was used last: the statement just made goes next
SELECT pgasync.fetchval('cache', 'SELECT $1::int * 2', 2);
SELECT pgasync.fetchval('cache', 'SELECT $1::int + 100', 1);
SELECT * FROM cache_trips('cache');
SELECT remote_statements('cache');

--
-- max_cacheable_statement_size: longer queries go as the unnamed statement,
-- still in one round trip, and are not cached
--
SELECT pgasync.fetchval('cache', 'SELECT $1::int + 1 /* this query is longer than the connection''s max_cacheable_statement_size of 100 bytes */', 1);
SELECT pgasync.fetchval('cache', 'SELECT $1::int + 1 /* this query is longer than the connection''s max_cacheable_statement_size of 100 bytes */', 2);
SELECT * FROM cache_trips('cache');
SELECT remote_statements('cache');
SELECT pgasync.disconnect('cache');

-- statement_cache_size 0: the unnamed statement only
SELECT pgasync.connect('nocache', :'dsn', '{"statement_cache_size": 0}');
SELECT * FROM cache_trips('nocache');
SELECT pgasync.fetchval('nocache', 'SELECT $1::int * 2', 4);
SELECT pgasync.fetchval('nocache', 'SELECT $1::int * 2', 5);
SELECT * FROM cache_trips('nocache');
SELECT remote_statements('nocache');
SELECT pgasync.disconnect('nocache');

--
-- max_cached_statement_lifetime: an expired statement is prepared again,
-- under a new name, in the same single round trip
--
SELECT pgasync.connect('life', :'dsn', '{"max_cached_statement_lifetime": 2}');
SELECT * FROM cache_trips('life');
SELECT pgasync.fetchval('life', 'SELECT $1::int * 3', 1);
SELECT pgasync.fetchval('life', 'SELECT $1::int * 3', 2);
SELECT * FROM cache_trips('life');
SELECT remote_statements('life');
SELECT pg_sleep(2.1);
SELECT pgasync.fetchval('life', 'SELECT $1::int * 3', 3);
SELECT * FROM cache_trips('life');
SELECT remote_statements('life');
SELECT pgasync.disconnect('life');

--
-- Statements gone stale: the remote table changes under a cached
-- "SELECT * FROM cache_tab" (this server is the remote)
--
CREATE TABLE cache_tab (a int);
INSERT INTO cache_tab VALUES (1);
SELECT pgasync.connect('stale', :'dsn');
SELECT * FROM cache_trips('stale');
SELECT * FROM pgasync.fetch('stale', 'SELECT * FROM cache_tab') AS t(a int);
SELECT * FROM cache_trips('stale');
SELECT remote_statements('stale');
-- a column more: the column definition list no longer fits the cached
-- description, so pgasync prepares the statement again right away
ALTER TABLE cache_tab ADD COLUMN b text DEFAULT 'two';
SELECT * FROM pgasync.fetch('stale', 'SELECT * FROM cache_tab') AS t(a int, b text);
SELECT * FROM cache_trips('stale');
SELECT remote_statements('stale');
-- a column of another type: the server refuses the cached statement
-- ("cached plan must not change result type"); outside a remote
-- transaction pgasync prepares it again and runs it once more
ALTER TABLE cache_tab ALTER COLUMN a TYPE bigint;
SELECT * FROM pgasync.fetch('stale', 'SELECT * FROM cache_tab') AS t(a bigint, b text);
SELECT * FROM cache_trips('stale');
SELECT remote_statements('stale');
-- the same for fetchval, which has no column definition list
ALTER TABLE cache_tab ADD COLUMN c int DEFAULT 3;
SELECT pgasync.fetchval('stale', 'SELECT * FROM cache_tab');
SELECT * FROM cache_trips('stale');
SELECT pgasync.fetchval('stale', 'SELECT * FROM cache_tab');
SELECT * FROM cache_trips('stale');
-- inside a remote transaction the failure has aborted it: the error is
-- raised, with a hint, and the statement is dropped
SELECT * FROM pgasync.fetch('stale', 'SELECT * FROM cache_tab') AS t(a bigint, b text, c int);
ALTER TABLE cache_tab ALTER COLUMN b TYPE varchar(10);
SELECT pgasync.execute('stale', 'BEGIN');
SELECT in_transaction FROM pgasync.connections() WHERE name = 'stale';
SELECT * FROM cache_trips('stale');
SELECT * FROM pgasync.fetch('stale', 'SELECT * FROM cache_tab') AS t(a bigint, b text, c int);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM cache_trips('stale');
SELECT pgasync.execute('stale', 'ROLLBACK');
SELECT in_transaction FROM pgasync.connections() WHERE name = 'stale';
SELECT * FROM pgasync.fetch('stale', 'SELECT * FROM cache_tab') AS t(a bigint, b text, c int);
SELECT * FROM cache_trips('stale');
SELECT pgasync.disconnect('stale');
DROP TABLE cache_tab;

--
-- Statements that vanished behind pgasync's back (DEALLOCATE ALL here; a
-- pooler in transaction mode does the same): the error says to set
-- statement_cache_size to 0, and the statement is dropped from the cache,
-- so the next call prepares it again
--
SELECT pgasync.connect('gone', :'dsn');
SELECT pgasync.fetchval('gone', 'SELECT $1::int - 1', 10);
SELECT pgasync.fetchval('gone', 'SELECT $1::int - 2', 10);
SELECT * FROM cache_trips('gone');
SELECT remote_statements('gone');
SELECT pgasync.execute('gone', 'DEALLOCATE ALL');
SELECT remote_statements('gone');
SELECT try($$SELECT pgasync.fetchval('gone', 'SELECT $1::int - 1', 20)$$);
SELECT * FROM cache_trips('gone');
SELECT pgasync.fetchval('gone', 'SELECT $1::int - 1', 20);
SELECT pgasync.fetchval('gone', 'SELECT $1::int - 1', 30);
SELECT * FROM cache_trips('gone');
SELECT try($$SELECT pgasync.fetchval('gone', 'SELECT $1::int - 2', 20)$$);
SELECT pgasync.fetchval('gone', 'SELECT $1::int - 2', 20);
SELECT * FROM cache_trips('gone');
SELECT remote_statements('gone');
-- an error about a prepared statement of the query's own gets no hint and
-- drops nothing (the query itself parsed, so it is cached like any other)
SELECT try($$SELECT pgasync.execute('gone', 'EXECUTE no_such_statement')$$);
SELECT try($$SELECT pgasync.fetchval('gone', 'EXECUTE no_such_statement')$$);
SELECT * FROM cache_trips('gone');
SELECT pgasync.fetchval('gone', 'SELECT $1::int - 1', 40);
SELECT * FROM cache_trips('gone');
SELECT remote_statements('gone');
-- the unmasked names: one random part per local backend, so that
-- connections through a pooler never run each other's statements
SELECT pgasync.fetchval('gone',
  'SELECT count(DISTINCT substr(name, 1, 17)) || '' '' || bool_and(name ~ ''^pgasync_[0-9a-f]{8}_[0-9]+$'') FROM pg_prepared_statements'
  || repeat(' ', 16000));
SELECT pgasync.disconnect('gone');

DROP FUNCTION cache_trips(text);
DROP FUNCTION remote_statements(text);
DROP FUNCTION try(text);
DROP FUNCTION mask_names(text);
