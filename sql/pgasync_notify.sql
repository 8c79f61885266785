--
-- LISTEN/NOTIFY on remote connections: pgasync.listen, pgasync.unlisten and
-- pgasync.notifications, against loopback connections to this very server.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgasync;
RESET client_min_messages;

SELECT current_setting('pgasync_test.dsn') AS dsn \gset
SELECT pgasync.connect('ln', :'dsn');	-- the listener
SELECT pgasync.connect('nt', :'dsn');	-- a notifier: another remote session
SELECT server_pid AS nt_pid FROM pgasync.connections() WHERE name = 'nt' \gset
SELECT server_pid AS ln_pid FROM pgasync.connections() WHERE name = 'ln' \gset
SELECT set_config('pgasync_test.ln_pid', :'ln_pid', false) IS NOT NULL AS ok;

-- Take notifications of target until n have come or 10 seconds passed.
CREATE FUNCTION take_notifications(target text, n int)
RETURNS TABLE(channel text, payload text, sender_pid int)
LANGUAGE plpgsql AS $$
DECLARE
  got int := 0;
  r record;
BEGIN
  FOR i IN 1..100 LOOP
    FOR r IN SELECT * FROM pgasync.notifications(target, 0.1) LOOP
      channel := r.channel; payload := r.payload; sender_pid := r.sender_pid;
      got := got + 1;
      RETURN NEXT;
    END LOOP;
    EXIT WHEN got >= n;
  END LOOP;
END $$;

-- nothing queued, no wait
SELECT * FROM pgasync.notifications('ln');
SELECT pgasync.listen('ln', 'events');

-- a notification from another session, sent in the same remote
-- transaction as the next two: they arrive in order
SELECT pgasync.execute('nt', $$NOTIFY events, 'first'; NOTIFY events, 'second'; NOTIFY other, 'not listened to'; NOTIFY events$$);
SELECT channel, payload, sender_pid = :nt_pid AS from_nt FROM take_notifications('ln', 3);
-- taken: the queue is empty now
SELECT * FROM pgasync.notifications('ln');

-- waiting: the first notification ends the wait
SELECT pgasync.execute('nt', $$SELECT pg_notify('events', 'x' || g) FROM generate_series(1, 5) g$$);
SELECT count(*) >= 1 AS some, string_agg(payload, ',') AS payloads
  FROM pgasync.notifications('ln', 10);
SELECT string_agg(payload, ',') AS rest FROM take_notifications('ln', 0);

-- a short wait for nothing returns nothing
SELECT clock_timestamp() AS t0 \gset
SELECT * FROM pgasync.notifications('ln', 0.2);
SELECT clock_timestamp() - :'t0'::timestamptz >= interval '0.2 s' AS waited;

-- a local NOTIFY: the remote session is another backend of this database,
-- so it is told once the local transaction commits
NOTIFY events, 'from the local session';
SELECT channel, payload, sender_pid = pg_backend_pid() AS from_here FROM take_notifications('ln', 1);

-- a session notifying itself hears it while its own query runs: the query
-- runner queues it
SELECT pgasync.execute('ln', $$NOTIFY events, 'self'$$);
SELECT channel, payload, sender_pid = :ln_pid AS from_itself FROM pgasync.notifications('ln');

-- a notification that comes while the connection is idle is queued when
-- the connection is next used
SELECT pgasync.execute('nt', $$NOTIFY events, 'while idle'$$);
SELECT pg_sleep(1);
SELECT pgasync.fetchval('ln', 'SELECT 1');
SELECT channel, payload FROM pgasync.notifications('ln');

-- channel names that need quoting, and payloads of any text
SELECT pgasync.listen('ln', 'Mixed Case');
SELECT pgasync.listen('ln', 'select');
SELECT pgasync.listen('ln', 'with "quotes"');
SELECT pgasync.execute('nt', $$NOTIFY "Mixed Case", 'é ü'; NOTIFY "select", ''; NOTIFY "with ""quotes""", 'it''s'$$);
SELECT channel, payload FROM take_notifications('ln', 3);
SELECT pgasync.execute('nt', $$NOTIFY mixed, 'unheard: the channel is "mixed"'$$);
SELECT * FROM pgasync.notifications('ln', 0.2);

-- unlisten stops delivery on that channel; '*' on all of them
SELECT pgasync.unlisten('ln', 'events');
SELECT pgasync.execute('nt', $$NOTIFY events, 'unheard'; NOTIFY "Mixed Case", 'heard'$$);
SELECT channel, payload FROM take_notifications('ln', 1);
SELECT * FROM pgasync.notifications('ln', 0.2);
SELECT pgasync.unlisten('ln', '*');
SELECT pgasync.execute('nt', $$NOTIFY "Mixed Case", 'unheard'; NOTIFY "select", 'unheard'$$);
SELECT * FROM pgasync.notifications('ln', 0.3);
SELECT pgasync.fetchval('ln', 'SELECT count(*) FROM pg_listening_channels()');

-- a wait can be interrupted
SELECT pgasync.listen('ln', 'events');
SET statement_timeout = '200ms';
SELECT * FROM pgasync.notifications('ln', 'infinity');
RESET statement_timeout;
SELECT pgasync.fetchval('ln', 'SELECT 1');

-- a listening connection that is lost: pgasync reconnects, and says once
-- that the new connection does not listen
SELECT pg_terminate_backend(:ln_pid);
DO $$
BEGIN
  FOR i IN 1..1000 LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM pg_stat_activity
                          WHERE pid = current_setting('pgasync_test.ln_pid')::int);
    PERFORM pg_sleep(0.01);
  END LOOP;
END $$;
SELECT * FROM pgasync.notifications('ln', 5);
SELECT * FROM pgasync.notifications('ln', 0.1);
SELECT pgasync.fetchval('ln', 'SELECT count(*) FROM pg_listening_channels()');
-- ... also when lost while waiting
SELECT pgasync.listen('ln', 'events');
SELECT pgasync.execute('ln', $$SET idle_session_timeout = '1s'$$);
SELECT * FROM pgasync.notifications('ln', 10);
SELECT * FROM pgasync.notifications('ln', 0.1);
SELECT * FROM pgasync.notifications('ln', 0.1);

-- bad arguments
SELECT pgasync.listen('ln', '');
SELECT pgasync.listen('ln', NULL);
SELECT pgasync.listen(NULL, 'events');
SELECT * FROM pgasync.notifications('ln', 'NaN');
SELECT * FROM pgasync.notifications('ln', -1);
SELECT * FROM pgasync.notifications('ln', NULL);
SELECT * FROM pgasync.notifications('no_such_target');

DROP FUNCTION take_notifications(text, int);
SELECT pgasync.disconnect('ln');
SELECT pgasync.disconnect('nt');
