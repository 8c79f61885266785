-- demo.sql: pgasync's main job, run on the "local" cluster against the
-- "remote" one.  psql variables: remote_dsn (TCP, TLS verify-full,
-- SCRAM), remote_port, certs.
\pset footer off
CREATE EXTENSION IF NOT EXISTS pgasync;

-- A named connection over TLS (verify-full) with SCRAM-SHA-256-PLUS.
SELECT pgasync.connect('sales', :'remote_dsn');
SELECT name, host, port, dbname, "user", tls, server_version IS NOT NULL AS has_version
  FROM pgasync.connections();

-- Rows come back in binary where the declared types match the remote ones.
SELECT customer, count(*) AS orders, sum(amount) AS total
  FROM pgasync.fetch('sales',
         'SELECT customer, amount FROM orders WHERE placed >= $1',
         timestamptz '2026-02-01')
       AS o(customer text, amount numeric)
 GROUP BY customer ORDER BY total DESC LIMIT 5;

-- One row, one value, a command status, rows as JSON.
SELECT * FROM pgasync.fetchrow('sales', 'SELECT id, tags FROM orders WHERE id = $1', 42)
       AS r(id bigint, tags text[]);
SELECT pgasync.fetchval('sales', 'SELECT count(*) FROM orders');
SELECT pgasync.execute('sales', 'CREATE TEMP TABLE scratch (x int); INSERT INTO scratch SELECT generate_series(1, 3)');
SELECT * FROM pgasync.fetch_json('sales', 'SELECT id, customer, amount, tags FROM orders ORDER BY id LIMIT 2');

-- Remote errors keep their SQLSTATE, detail, hint and context.
\set VERBOSITY verbose
\set ON_ERROR_STOP 0
SELECT pgasync.execute('sales', 'INSERT INTO orders VALUES (1, ''x'', 0, now(), NULL)');

-- A local statement_timeout cancels the remote query too.
SET statement_timeout = '500ms';
SELECT pgasync.execute('sales', 'SELECT pg_sleep(30)');
RESET statement_timeout;
\set ON_ERROR_STOP 1
\set VERBOSITY default
SELECT pgasync.fetchval('sales', 'SELECT count(*) FROM pg_stat_activity WHERE query LIKE ''SELECT pg_sleep%''') AS sleeping_after_cancel;

SELECT pgasync.disconnect('sales');
