--
-- Remote transactions tied to the local one: pgasync.begin(), commit and
-- rollback with the local transaction, savepoints, failures at commit,
-- against loopback connections to this very server.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgasync;
RESET client_min_messages;

SELECT current_setting('pgasync_test.dsn') AS dsn \gset

-- 'loop' carries the tied transactions; the connection string target (a
-- session of its own, autocommit) looks at the remote tables from outside.
SELECT pgasync.connect('loop', :'dsn');
CREATE TABLE xact_t (id int PRIMARY KEY);
CREATE TABLE xact_local (id int);
-- a remote table whose unique check waits for COMMIT
CREATE TABLE xact_deferred (id int UNIQUE DEFERRABLE INITIALLY DEFERRED);

CREATE FUNCTION remote_ids() RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(pgasync.fetchval(current_setting('pgasync_test.dsn'),
                  'SELECT string_agg(id::text, '','' ORDER BY id) FROM xact_t'), '-')
$$;

--
-- Outside pgasync.begin() each call autocommits, even when the local
-- transaction rolls back.
--
BEGIN;
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (1)');
ROLLBACK;
SELECT remote_ids();

--
-- begin() + local COMMIT: the remote work commits; before that, nobody
-- else sees it.
--
BEGIN;
SELECT pgasync.begin('loop');
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (2)');
SELECT remote_ids();
SELECT in_transaction FROM pgasync.connections() WHERE name = 'loop';
COMMIT;
SELECT remote_ids();
SELECT in_transaction FROM pgasync.connections() WHERE name = 'loop';

-- begin() + local ROLLBACK: the remote work is undone
BEGIN;
SELECT pgasync.begin('loop');
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (3)');
ROLLBACK;
SELECT remote_ids();
SELECT in_transaction FROM pgasync.connections() WHERE name = 'loop';

-- a local error rolls the remote transaction back too
BEGIN;
SELECT pgasync.begin('loop');
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (4)');
SELECT 1 / 0;
COMMIT;
SELECT remote_ids();

-- so does a remote one
BEGIN;
SELECT pgasync.begin('loop');
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (5)');
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (5)');
COMMIT;
SELECT remote_ids();

--
-- Local savepoints map to remote ones.
--
BEGIN;
SELECT pgasync.begin('loop');
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (10)');
SAVEPOINT a;
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (11)');
ROLLBACK TO a;
SELECT pgasync.fetchval('loop', 'SELECT string_agg(id::text, '','' ORDER BY id) FROM xact_t');
SAVEPOINT b;
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (12)');
RELEASE b;
SAVEPOINT c;
SAVEPOINT d;
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (13)');
RELEASE d;
SELECT pgasync.fetchval('loop', 'SELECT string_agg(id::text, '','' ORDER BY id) FROM xact_t');
ROLLBACK TO c;
SELECT pgasync.fetchval('loop', 'SELECT string_agg(id::text, '','' ORDER BY id) FROM xact_t');
-- a remote error inside a savepoint leaves the remote transaction usable
SAVEPOINT e;
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (10)');
ROLLBACK TO e;
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (14)');
-- a savepoint released locally is released remotely with the next request
SAVEPOINT f;
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (15)');
RELEASE f;
SAVEPOINT g;
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (16)');
ROLLBACK TO g;
RELEASE g;
COMMIT;
SELECT remote_ids();

-- PL/pgSQL exception blocks undo the remote work done inside them
BEGIN;
SELECT pgasync.begin('loop');
DO $$
BEGIN
  PERFORM pgasync.execute('loop', 'INSERT INTO xact_t VALUES (20)');
  BEGIN
    PERFORM pgasync.execute('loop', 'INSERT INTO xact_t VALUES (21)');
    RAISE EXCEPTION 'local failure';
  EXCEPTION WHEN raise_exception THEN
    RAISE NOTICE 'caught: %', SQLERRM;
  END;
  BEGIN
    PERFORM pgasync.execute('loop', 'INSERT INTO xact_t VALUES (22)');
    PERFORM pgasync.execute('loop', 'INSERT INTO xact_t VALUES (20)');
  EXCEPTION WHEN unique_violation THEN
    RAISE NOTICE 'caught: %', SQLERRM;
  END;
  PERFORM pgasync.execute('loop', 'INSERT INTO xact_t VALUES (23)');
END
$$;
COMMIT;
SELECT remote_ids();

-- begin() inside a subtransaction that aborts: the remote transaction goes
-- with it, and a new one can begin
BEGIN;
SAVEPOINT s;
SELECT pgasync.begin('loop');
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (30)');
ROLLBACK TO s;
SELECT in_transaction FROM pgasync.connections() WHERE name = 'loop';
SELECT pgasync.begin('loop');
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (31)');
-- ... and one begun in a subtransaction that commits lives on
SAVEPOINT t;
RELEASE t;
COMMIT;
SELECT remote_ids();

BEGIN;
SAVEPOINT s;
SELECT pgasync.begin('loop');
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (32)');
RELEASE s;
SAVEPOINT u;
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (33)');
ROLLBACK TO u;
COMMIT;
SELECT remote_ids();

--
-- A single statement is a local transaction too: begin() in it ends with
-- the statement.
--
DO $$
BEGIN
  PERFORM pgasync.begin('loop');
  PERFORM pgasync.execute('loop', 'INSERT INTO xact_t VALUES (40)');
  RAISE EXCEPTION 'statement fails';
END
$$;
DO $$
BEGIN
  PERFORM pgasync.begin('loop');
  PERFORM pgasync.execute('loop', 'INSERT INTO xact_t VALUES (41)');
END
$$;
SELECT remote_ids();
SELECT pgasync.begin('loop');
SELECT in_transaction FROM pgasync.connections() WHERE name = 'loop';

--
-- Failure at commit: the remote COMMIT's error is raised, naming the
-- server, and the local transaction rolls back.
--
BEGIN;
SELECT pgasync.begin('loop');
INSERT INTO xact_local VALUES (1);
SELECT pgasync.execute('loop', 'INSERT INTO xact_deferred VALUES (1), (1)');
COMMIT;
SELECT count(*) FROM xact_local;
SELECT pgasync.fetchval(:'dsn', 'SELECT count(*) FROM xact_deferred');
SELECT in_transaction FROM pgasync.connections() WHERE name = 'loop';

-- with two servers the commits are not atomic: one that committed stays
-- committed, and a warning says so
SELECT pgasync.connect('loop2', :'dsn');
BEGIN;
SELECT pgasync.begin('loop2');
SELECT pgasync.begin('loop');
SELECT pgasync.execute('loop2', 'INSERT INTO xact_t VALUES (50)');
SELECT pgasync.execute('loop', 'INSERT INTO xact_deferred VALUES (2), (2)');
INSERT INTO xact_local VALUES (2);
COMMIT;
SELECT remote_ids();
SELECT count(*) FROM xact_local;

-- both commit
BEGIN;
SELECT pgasync.begin('loop');
SELECT pgasync.begin('loop2');
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (51)');
SELECT pgasync.execute('loop2', 'INSERT INTO xact_deferred VALUES (3)');
INSERT INTO xact_local VALUES (3);
COMMIT;
SELECT remote_ids();
SELECT pgasync.fetchval(:'dsn', 'SELECT string_agg(id::text, '','') FROM xact_deferred');
SELECT * FROM xact_local;

--
-- Isolation level, read only, deferrable
--
BEGIN;
SELECT pgasync.begin('loop', 'repeatable read', readonly => true);
SELECT pgasync.fetchval('loop', 'SHOW transaction_isolation');
SELECT pgasync.fetchval('loop', 'SHOW transaction_read_only');
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (60)');
ROLLBACK;
BEGIN;
SELECT pgasync.begin('loop', 'SERIALIZABLE', true, true);
SELECT pgasync.fetchval('loop', 'SHOW transaction_isolation');
SELECT pgasync.fetchval('loop', 'SHOW transaction_deferrable');
COMMIT;
BEGIN;
SELECT pgasync.begin('loop', 'read_committed');
SELECT pgasync.fetchval('loop', 'SHOW transaction_isolation');
SELECT pgasync.fetchval('loop', 'SHOW transaction_read_only');
COMMIT;
-- repeatable read sees one snapshot for the whole local transaction
BEGIN;
SELECT pgasync.begin('loop', 'repeatable read');
SELECT pgasync.fetchval('loop', 'SELECT count(*) FROM xact_t');
SELECT pgasync.execute(:'dsn', 'INSERT INTO xact_t VALUES (61)');
SELECT pgasync.fetchval('loop', 'SELECT count(*) FROM xact_t');
COMMIT;
SELECT pgasync.fetchval('loop', 'SELECT count(*) FROM xact_t');

--
-- Misuse
--
SELECT pgasync.begin('loop', 'chaos');
SELECT pgasync.begin(NULL);
SELECT pgasync.begin('loop', NULL, NULL);
BEGIN;
SELECT pgasync.begin('loop');
SELECT pgasync.begin('loop');
ROLLBACK;
-- no disconnecting inside a remote transaction
BEGIN;
SELECT pgasync.begin('loop');
SELECT pgasync.disconnect('loop');
ROLLBACK;
BEGIN;
SELECT pgasync.begin('loop');
SELECT pgasync.disconnect_all();
ROLLBACK;
SELECT name FROM pgasync.connections() WHERE kind = 'named' ORDER BY name;
-- a remote transaction started by hand is not tied to the local one
BEGIN;
SELECT pgasync.execute('loop', 'BEGIN');
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (70)');
SELECT pgasync.begin('loop');
ROLLBACK;
SELECT in_transaction FROM pgasync.connections() WHERE name = 'loop';
SELECT pgasync.execute('loop', 'ROLLBACK');
-- ending the tied transaction by hand is detected
BEGIN;
SELECT pgasync.begin('loop');
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (71)');
SELECT pgasync.execute('loop', 'COMMIT');
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (72)');
ROLLBACK;
BEGIN;
SELECT pgasync.begin('loop');
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (73)');
SELECT pgasync.execute('loop', 'ROLLBACK');
COMMIT;
SELECT remote_ids();
-- no two-phase commit
BEGIN;
SELECT pgasync.begin('loop');
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (80)');
PREPARE TRANSACTION 'pgasync_xact';
SELECT remote_ids();

--
-- A lost connection is not replaced inside a remote transaction.
--
BEGIN;
SELECT pgasync.begin('loop');
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (90)');
SELECT pg_terminate_backend(server_pid, 10000) FROM pgasync.connections() WHERE name = 'loop';
SAVEPOINT s;
SELECT pgasync.fetchval('loop', 'SELECT 1');
ROLLBACK TO s;
COMMIT;
-- the next transaction reconnects
SELECT pgasync.fetchval('loop', 'SELECT 1');
SELECT remote_ids();
-- before anything was sent, a new connection is as good
BEGIN;
SELECT pgasync.begin('loop');
SELECT pg_terminate_backend(server_pid, 10000) FROM pgasync.connections() WHERE name = 'loop';
SELECT pgasync.execute('loop', 'INSERT INTO xact_t VALUES (91)');
COMMIT;
SELECT remote_ids();

--
-- The BEGIN costs no round trip of its own: it goes out with the first
-- request, in the same packet.  round_trips counts ReadyForQuery messages
-- (one per request), so it shows the BEGIN's request; the remote clock
-- shows that the transaction started with the query (now() is the
-- transaction's start, statement_timestamp() the query's), not a second
-- earlier, when begin() was called.
--
SELECT round_trips AS trips FROM pgasync.connections() WHERE name = 'loop' \gset
BEGIN;
SELECT pgasync.begin('loop');
SELECT round_trips - :trips AS after_begin FROM pgasync.connections() WHERE name = 'loop';
SELECT pg_sleep(1);
SELECT pgasync.fetchval('loop', 'SELECT statement_timestamp() - now() < interval ''0.5 s''');
SELECT round_trips - :trips AS after_query FROM pgasync.connections() WHERE name = 'loop';
SAVEPOINT a;
SELECT pgasync.fetchval('loop', 'SELECT 1');
SELECT round_trips - :trips AS after_savepoint FROM pgasync.connections() WHERE name = 'loop';
RELEASE a;
COMMIT;
SELECT round_trips - :trips AS after_commit FROM pgasync.connections() WHERE name = 'loop';
-- without begin(), a BEGIN sent by hand starts the transaction at once
SELECT pgasync.execute('loop', 'BEGIN');
SELECT pg_sleep(1);
SELECT pgasync.fetchval('loop', 'SELECT statement_timestamp() - now() < interval ''0.5 s''');
SELECT pgasync.execute('loop', 'ROLLBACK');

--
-- Queries sent with pgasync.send() run in the remote transaction; it cannot
-- commit while one is still running.
--
BEGIN;
SELECT pgasync.begin('loop');
SELECT pgasync.send('loop', 'INSERT INTO xact_t VALUES (100) RETURNING id');
SELECT * FROM pgasync.result('loop') AS r(id int);
COMMIT;
BEGIN;
SELECT pgasync.begin('loop');
SELECT pgasync.send('loop', 'INSERT INTO xact_t VALUES (101) RETURNING id');
COMMIT;
SELECT pgasync.is_busy('loop');
SELECT remote_ids();

-- clean up
SELECT pgasync.disconnect_all() > 0 AS closed;
DROP FUNCTION remote_ids();
DROP TABLE xact_t, xact_local, xact_deferred;
