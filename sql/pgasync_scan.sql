--
-- pgasync.fetch() and pgasync.fanout() in FROM as a streaming custom scan:
-- rows reach the query as they are decoded, the connection is handed over
-- when something else needs it, and a scan ended early leaves the
-- connection (and its remote transaction) ready.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgasync;
RESET client_min_messages;
SELECT current_setting('pgasync_test.dsn') AS dsn \gset
SELECT pgasync.connect('s', :'dsn');
SELECT pgasync.connect('s2', :'dsn');

-- the plan: a custom scan, or the function scan when turned off
EXPLAIN (COSTS OFF, VERBOSE)
SELECT a FROM pgasync.fetch('s', 'SELECT g, g * 2 FROM generate_series(1, 5) g') AS t(a int, b int)
  WHERE b > 4;
SET pgasync.stream_fetch = off;
EXPLAIN (COSTS OFF)
SELECT a FROM pgasync.fetch('s', 'SELECT 1') AS t(a int);
RESET pgasync.stream_fetch;
-- only where it can stream: not with ORDINALITY, not for a LATERAL call
EXPLAIN (COSTS OFF)
SELECT * FROM ROWS FROM (pgasync.fetch('s', 'SELECT 1') AS (a int)) WITH ORDINALITY AS t(a, n);
EXPLAIN (COSTS OFF)
SELECT * FROM generate_series(1, 2) x,
  LATERAL pgasync.fetch('s', 'SELECT $1::int', x) AS t(a int);
SELECT * FROM generate_series(1, 2) x,
  LATERAL pgasync.fetch('s', 'SELECT $1::int * 10', x) AS t(a int);

-- the same rows either way, with parameters, quals and projections
SELECT a, b FROM pgasync.fetch('s', 'SELECT g, g * 2 FROM generate_series(1, 5) g') AS t(a int, b int)
  WHERE b > 4;
SELECT * FROM pgasync.fetch('s', 'SELECT $1::int + $2', 1, 2) AS t(a int);
SELECT * FROM pgasync.fetch('s', 'SELECT $1::int + $2', VARIADIC ARRAY[3, 4]) AS t(a int);
SELECT t FROM pgasync.fetch('s', 'SELECT 1, ''x''') AS t(a int, b text);
-- the whole row, as a column or inside expressions and quals
EXPLAIN (COSTS OFF, VERBOSE)
SELECT t FROM pgasync.fetch('s', 'SELECT 1, ''x''') AS t(a int, b text);
SELECT row_to_json(t), t.a FROM pgasync.fetch('s', 'SELECT g, md5(g::text) FROM generate_series(1, 3) g')
  AS t(a int, b text) WHERE t IS NOT NULL AND (t).a <> 2;
EXPLAIN (COSTS OFF, VERBOSE)
SELECT a + 1 FROM pgasync.fetch('s', 'SELECT 1, ''x''') AS t(a int, b text) WHERE t IS NOT NULL;
SELECT a + 1 FROM pgasync.fetch('s', 'SELECT g, ''x'' FROM generate_series(1, 2) g') AS t(a int, b text)
  WHERE t IS NOT NULL;
SELECT count(*), count(DISTINCT t), min((t).b) FROM pgasync.fetch('s',
  'SELECT g, md5(g::text) FROM generate_series(1, 100000) g') AS t(a int, b text);
SELECT t FROM pgasync.fanout(ARRAY['s'], 'SELECT 7') AS t(tag text, a int);
-- row marks (UPDATE ... FROM, FOR UPDATE) keep the function scan
CREATE TEMP TABLE scan_upd (a int, b text);
INSERT INTO scan_upd VALUES (1, 'old'), (2, 'kept');
EXPLAIN (COSTS OFF)
UPDATE scan_upd SET b = t.b FROM pgasync.fetch('s', 'SELECT 1, ''new''') AS t(a int, b text)
  WHERE scan_upd.a = t.a;
UPDATE scan_upd SET b = t.b FROM pgasync.fetch('s', 'SELECT 1, ''new''') AS t(a int, b text)
  WHERE scan_upd.a = t.a;
SELECT * FROM scan_upd ORDER BY a;
SELECT count(*), sum(a) FROM pgasync.fetch('s', 'SELECT g FROM generate_series(1, 100000) g') AS t(a int);
SET pgasync.stream_fetch = off;
SELECT count(*), sum(a) FROM pgasync.fetch('s', 'SELECT g FROM generate_series(1, 100000) g') AS t(a int);
RESET pgasync.stream_fetch;

-- errors are those of pgasync.fetch()
SELECT * FROM pgasync.fetch(NULL, 'SELECT 1') AS t(a int);
SELECT * FROM pgasync.fetch('s', 'SELECT 1, 2') AS t(a int);
SELECT * FROM pgasync.fetch('s', 'SELECT g, 1 / (g - 3) FROM generate_series(1, 5) g') AS t(a int, b int);
SELECT pgasync.fetchval('s', 'SELECT ''usable''');

-- a LIMIT ends the scan early: the rest is read, the connection is ready
SELECT * FROM pgasync.fetch('s', 'SELECT g FROM generate_series(1, 100000) g') AS t(a int) LIMIT 3;
SELECT busy FROM pgasync.connections() WHERE name = 's';
SELECT pgasync.fetchval('s', 'SELECT ''ready''');
-- a local error mid-scan: the abort stops the remote query
SELECT a / (a - 3) FROM pgasync.fetch('s', 'SELECT g FROM generate_series(1, 100000) g') AS t(a int);
SELECT pgasync.fetchval('s', 'SELECT ''ready again''');

-- the same connection wanted while the scan reads: the scan reads ahead
SELECT a, pgasync.fetchval('s', 'SELECT $1::int * 10', a)
  FROM pgasync.fetch('s', 'SELECT g FROM generate_series(1, 4) g') AS t(a int);
SELECT a, CASE WHEN a = 2 THEN pgasync.disconnect('s')::text END AS closed
  FROM pgasync.fetch('s', 'SELECT g FROM generate_series(1, 4) g') AS t(a int);
SELECT pgasync.connect('s', :'dsn');

-- a rewindable scan (inner side of a nested loop) reads once and replays
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SET enable_material = off;
EXPLAIN (COSTS OFF)
SELECT x, a FROM generate_series(1, 3) x
  JOIN pgasync.fetch('s', 'SELECT g FROM generate_series(1, 3) g') AS t(a int) ON x = a;
SELECT x, a FROM generate_series(1, 3) x
  JOIN pgasync.fetch('s', 'SELECT g FROM generate_series(1, 3) g') AS t(a int) ON x = a;
SELECT x, t FROM generate_series(1, 3) x
  JOIN pgasync.fetch('s', 'SELECT g, g * 10 FROM generate_series(1, 3) g') AS t(a int, b int) ON x = a;
SELECT queries AS q0 FROM pgasync.connections() WHERE name = 's' \gset
SELECT count(*) FROM generate_series(1, 50) x
  JOIN pgasync.fetch('s', 'SELECT g FROM generate_series(1, 10) g') AS t(a int) ON x = a;
-- one remote query, not one per outer row
SELECT queries - :q0 AS remote_queries FROM pgasync.connections() WHERE name = 's';
RESET enable_hashjoin;
RESET enable_mergejoin;
RESET enable_material;

-- in a query that refers to no enclosing one: an INSERT's SELECT, a CTE,
-- a subquery in FROM or in IN (run once, or rewound unchanged)
CREATE TEMP TABLE scan_into (a int, b text);
EXPLAIN (COSTS OFF)
INSERT INTO scan_into
  SELECT * FROM pgasync.fetch('s', 'SELECT 1, ''x''') AS t(a int, b text);
INSERT INTO scan_into
  SELECT * FROM pgasync.fetch('s', 'SELECT g, md5(g::text) FROM generate_series(1, 1000) g')
  AS t(a int, b text);
SELECT count(*), sum(a), min(b) FROM scan_into;
EXPLAIN (COSTS OFF)
WITH c AS (SELECT * FROM pgasync.fetch('s', 'SELECT 1') AS t(a int))
SELECT c.a FROM c, c AS c2;
WITH c AS (SELECT * FROM pgasync.fetch('s', 'SELECT g FROM generate_series(1, 3) g') AS t(a int))
SELECT c.a, c2.a FROM c, c AS c2 ORDER BY 1, 2 LIMIT 4;
SELECT queries AS q0 FROM pgasync.connections() WHERE name = 's' \gset
SELECT x FROM generate_series(1, 6) x
  WHERE x NOT IN (SELECT a FROM pgasync.fetch('s', 'SELECT g * 2 FROM generate_series(1, 3) g') AS t(a int));
SELECT x, (SELECT max(a) FROM pgasync.fetch('s', 'SELECT g FROM generate_series(1, 4) g') AS t(a int))
  FROM generate_series(1, 3) x;
SELECT x FROM generate_series(1, 6) x
  WHERE x > ALL (SELECT a FROM pgasync.fetch('s', 'SELECT g FROM generate_series(1, 4) g') AS t(a int));
-- each subquery read its remote result once
SELECT queries - :q0 AS remote_queries FROM pgasync.connections() WHERE name = 's';
-- correlated: the function scan, which runs the remote query again only
-- when its arguments change
EXPLAIN (COSTS OFF)
SELECT x, (SELECT a FROM pgasync.fetch('s', 'SELECT $1::int * 10', x) AS t(a int))
  FROM generate_series(1, 3) x;
SELECT x, (SELECT a FROM pgasync.fetch('s', 'SELECT $1::int * 10', x) AS t(a int))
  FROM generate_series(1, 3) x;
SELECT queries AS q0 FROM pgasync.connections() WHERE name = 's' \gset
SELECT x, (SELECT count(*) FROM pgasync.fetch('s', 'SELECT g FROM generate_series(1, 10) g') AS t(a int)
           WHERE a <= x)
  FROM generate_series(1, 5) x;
SELECT queries - :q0 AS remote_queries FROM pgasync.connections() WHERE name = 's';

-- in a remote transaction: a LIMIT leaves it intact
BEGIN;
SELECT pgasync.begin('s');
SELECT pgasync.execute('s', 'CREATE TEMP TABLE scan_t AS SELECT g FROM generate_series(1, 1000) g');
SELECT * FROM pgasync.fetch('s', 'SELECT g FROM scan_t ORDER BY g') AS t(a int) LIMIT 2;
SELECT in_transaction FROM pgasync.connections() WHERE name = 's';
SELECT pgasync.fetchval('s', 'SELECT count(*) FROM scan_t');
COMMIT;

-- a cursor read in steps, with other work on the connection between
BEGIN;
DECLARE cur CURSOR FOR
  SELECT a FROM pgasync.fetch('s', 'SELECT g FROM generate_series(1, 10) g') AS t(a int);
FETCH 3 FROM cur;
SELECT pgasync.fetchval('s', 'SELECT ''between''');
FETCH 3 FROM cur;
CLOSE cur;
COMMIT;

-- PL/pgSQL: a loop over the scan, and an exception block using the
-- connection inside it
DO $$
DECLARE
	r record;
	n int := 0;
BEGIN
	FOR r IN SELECT a FROM pgasync.fetch('s', 'SELECT g FROM generate_series(1, 5) g') AS t(a int)
	LOOP
		BEGIN
			PERFORM pgasync.fetchval('s', 'SELECT 1 / ($1::int - 3)', r.a);
			n := n + 1;
		EXCEPTION WHEN division_by_zero THEN
			RAISE NOTICE 'row % failed remotely', r.a;
		END;
	END LOOP;
	RAISE NOTICE '% rows went through', n;
END
$$;

-- fanout: streamed the same way, with the target tag
EXPLAIN (COSTS OFF)
SELECT * FROM pgasync.fanout(ARRAY['s', 's2'], 'SELECT 1') AS t(tag text, a int);
SELECT * FROM pgasync.fanout(ARRAY['s', 's2'], 'SELECT g FROM generate_series(1, 3) g') AS t(tag text, a int)
  ORDER BY 1, 2;
SELECT count(*) FROM (SELECT * FROM pgasync.fanout(ARRAY['s', 's2'],
  'SELECT g FROM generate_series(1, 100000) g') AS t(a int) LIMIT 5) l;
SELECT a, pgasync.fetchval('s2', 'SELECT $1::int * 100', a)
  FROM pgasync.fanout(ARRAY['s', 's2'], 'SELECT 1') AS t(a int);
\set VERBOSITY terse
SELECT * FROM pgasync.fanout(ARRAY['s', 's2'], 'SELECT 1 / 0') AS t(a int);
\set VERBOSITY default
SELECT pgasync.fetchval('s', 'SELECT 1') AS s, pgasync.fetchval('s2', 'SELECT 2') AS s2;
SELECT count(*) FROM pgasync.connections() WHERE busy;

SELECT pgasync.disconnect_all() >= 2 AS closed;

-- a new session's first query: planning it loads the library, so it gets
-- the custom scan too
\c
EXPLAIN (COSTS OFF)
SELECT * FROM pgasync.fetch('s', 'SELECT 1') AS t(a int);
