/* pgasync--0.1.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pgasync" to load this file. \quit

CREATE FUNCTION @extschema@.version()
RETURNS text
AS 'MODULE_PATHNAME', 'pgasync_version'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.version() IS 'version of the pgasync extension';

-- ------------------------------------------------------------------
-- Connections (src/backend/connection.c)
-- ------------------------------------------------------------------

CREATE FUNCTION @extschema@.connect(name text, dsn text, options jsonb DEFAULT '{}')
RETURNS void
AS 'MODULE_PATHNAME', 'pgasync_connect'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.connect(text, text, jsonb) IS
  'open a named connection to a remote server (connection string or pgasync_fdw server)';

CREATE FUNCTION @extschema@.disconnect(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgasync_disconnect'
LANGUAGE C STRICT;

CREATE FUNCTION @extschema@.disconnect_all()
RETURNS integer
AS 'MODULE_PATHNAME', 'pgasync_disconnect_all'
LANGUAGE C;

CREATE FUNCTION @extschema@.connections(
    OUT name text, OUT kind text, OUT host text, OUT port integer,
    OUT dbname text, OUT "user" text, OUT server_pid integer,
    OUT server_version text, OUT tls boolean, OUT in_transaction boolean,
    OUT busy boolean, OUT queries bigint, OUT cached_statements integer,
    OUT opened_at timestamptz, OUT last_used timestamptz,
    OUT round_trips bigint, OUT bytes_in bigint, OUT bytes_out bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgasync_connections'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.connections() IS 'open remote connections of this session';

-- ------------------------------------------------------------------
-- Pools (src/backend/pool.c).  A pool's name is a target.
-- ------------------------------------------------------------------

CREATE FUNCTION @extschema@.create_pool(name text, dsn text, options jsonb DEFAULT '{}')
RETURNS void
AS 'MODULE_PATHNAME', 'pgasync_create_pool'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.create_pool(text, text, jsonb) IS
  'create a pool of connections to a remote server (connection string or pgasync_fdw server)';

CREATE FUNCTION @extschema@.close_pool(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgasync_close_pool'
LANGUAGE C STRICT;

COMMENT ON FUNCTION @extschema@.close_pool(text) IS 'close a pool and its connections';

CREATE FUNCTION @extschema@.pools(
    OUT name text, OUT size integer, OUT idle integer, OUT busy integer,
    OUT min_size integer, OUT max_size integer, OUT max_queries integer,
    OUT max_inactive_connection_lifetime double precision,
    OUT acquired bigint, OUT created bigint, OUT closed bigint,
    OUT resets bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgasync_pools'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.pools() IS 'connection pools of this session';

-- ------------------------------------------------------------------
-- Queries (src/backend/query.c).  Each function comes in two forms,
-- without and with query parameters ($1 ... $n).
-- ------------------------------------------------------------------

-- Planning pgasync.fetch() or pgasync.fanout() calls this, which loads
-- the library and with it the planner hook of the streaming scan
-- (src/backend/scan.c) before the query's paths are made.
CREATE FUNCTION @extschema@.planner_support(internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'pgasync_planner_support'
LANGUAGE C STRICT;

COMMENT ON FUNCTION @extschema@.planner_support(internal) IS 'planner support of fetch() and fanout(): loads the streaming scan';

CREATE FUNCTION @extschema@.fetch(target text, query text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgasync_fetch'
LANGUAGE C
SUPPORT @extschema@.planner_support;

CREATE FUNCTION @extschema@.fetch(target text, query text, VARIADIC args "any")
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgasync_fetch'
LANGUAGE C
SUPPORT @extschema@.planner_support;

CREATE FUNCTION @extschema@.fetchrow(target text, query text)
RETURNS record
AS 'MODULE_PATHNAME', 'pgasync_fetchrow'
LANGUAGE C;

CREATE FUNCTION @extschema@.fetchrow(target text, query text, VARIADIC args "any")
RETURNS record
AS 'MODULE_PATHNAME', 'pgasync_fetchrow'
LANGUAGE C;

CREATE FUNCTION @extschema@.fetchval(target text, query text)
RETURNS text
AS 'MODULE_PATHNAME', 'pgasync_fetchval'
LANGUAGE C;

CREATE FUNCTION @extschema@.fetchval(target text, query text, VARIADIC args "any")
RETURNS text
AS 'MODULE_PATHNAME', 'pgasync_fetchval'
LANGUAGE C;

CREATE FUNCTION @extschema@.execute(target text, command text)
RETURNS text
AS 'MODULE_PATHNAME', 'pgasync_execute'
LANGUAGE C;

CREATE FUNCTION @extschema@.execute(target text, command text, VARIADIC args "any")
RETURNS text
AS 'MODULE_PATHNAME', 'pgasync_execute'
LANGUAGE C;

CREATE FUNCTION @extschema@.fetch_json(target text, query text)
RETURNS SETOF jsonb
AS 'MODULE_PATHNAME', 'pgasync_fetch_json'
LANGUAGE C;

CREATE FUNCTION @extschema@.fetch_json(target text, query text, VARIADIC args "any")
RETURNS SETOF jsonb
AS 'MODULE_PATHNAME', 'pgasync_fetch_json'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.fetch(text, text) IS 'rows of a remote query; needs a column definition list';
COMMENT ON FUNCTION @extschema@.fetchrow(text, text) IS 'first row of a remote query, or NULL';
COMMENT ON FUNCTION @extschema@.fetchval(text, text) IS 'first column of the first row of a remote query, as text';
COMMENT ON FUNCTION @extschema@.execute(text, text) IS 'run remote commands; returns the last command status';
COMMENT ON FUNCTION @extschema@.fetch_json(text, text) IS 'rows of a remote query as jsonb objects';

-- ------------------------------------------------------------------
-- One command for many rows of parameters (src/backend/executemany.c)
-- ------------------------------------------------------------------

CREATE FUNCTION @extschema@.executemany(target text, command text, args_query text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgasync_executemany'
LANGUAGE C;

CREATE FUNCTION @extschema@.executemany(target text, command text, args anyarray)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgasync_executemany'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.executemany(text, text, text) IS
  'run a remote command once per row of a local query, as one pipelined batch in one transaction; returns the rows affected';
COMMENT ON FUNCTION @extschema@.executemany(text, text, anyarray) IS
  'run a remote command once per row of an array (of rows, or two-dimensional), as one batch in one transaction; returns the rows affected';

-- ------------------------------------------------------------------
-- LISTEN/NOTIFY (src/backend/notify.c)
-- ------------------------------------------------------------------

CREATE FUNCTION @extschema@.listen(target text, channel text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgasync_listen'
LANGUAGE C;

CREATE FUNCTION @extschema@.unlisten(target text, channel text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgasync_unlisten'
LANGUAGE C;

CREATE FUNCTION @extschema@.notifications(target text, wait_timeout float8 DEFAULT 0,
    OUT channel text, OUT payload text, OUT sender_pid integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgasync_notifications'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.listen(text, text) IS 'LISTEN on a channel of the remote connection';
COMMENT ON FUNCTION @extschema@.unlisten(text, text) IS 'UNLISTEN a channel (''*'': all) of the remote connection';
COMMENT ON FUNCTION @extschema@.notifications(text, float8) IS
  'take the notifications received on the remote connection, waiting up to wait_timeout seconds for one when none are queued';

-- ------------------------------------------------------------------
-- Remote transactions tied to the local one (src/backend/xact.c)
-- ------------------------------------------------------------------

CREATE FUNCTION @extschema@.begin(target text, isolation text DEFAULT NULL,
                                  readonly boolean DEFAULT false,
                                  "deferrable" boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'pgasync_begin'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.begin(text, text, boolean, boolean) IS
  'start a remote transaction that commits or rolls back with the local transaction';

-- ------------------------------------------------------------------
-- Fan-out (src/backend/fanout.c): one query on many servers at once.
-- ------------------------------------------------------------------

CREATE FUNCTION @extschema@.fanout(targets text[], query text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgasync_fanout'
LANGUAGE C
SUPPORT @extschema@.planner_support;

CREATE FUNCTION @extschema@.fanout(targets text[], query text, VARIADIC args "any")
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgasync_fanout'
LANGUAGE C
SUPPORT @extschema@.planner_support;

CREATE FUNCTION @extschema@.fanout_execute(targets text[], command text,
    OUT target text, OUT status text, OUT sqlstate text, OUT error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgasync_fanout_execute'
LANGUAGE C;

CREATE FUNCTION @extschema@.fanout_execute(targets text[], command text, VARIADIC args "any",
    OUT target text, OUT status text, OUT sqlstate text, OUT error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgasync_fanout_execute'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.fanout(text[], text) IS
  'rows of one query run on every target in parallel; an extra leading column receives the target name';
COMMENT ON FUNCTION @extschema@.fanout_execute(text[], text) IS
  'run a command on every target in parallel and report each outcome';

-- ------------------------------------------------------------------
-- Asynchronous queries on named connections (src/backend/async.c)
-- ------------------------------------------------------------------

CREATE FUNCTION @extschema@.send(name text, query text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgasync_send'
LANGUAGE C;

CREATE FUNCTION @extschema@.send(name text, query text, VARIADIC args "any")
RETURNS void
AS 'MODULE_PATHNAME', 'pgasync_send'
LANGUAGE C;

CREATE FUNCTION @extschema@.is_busy(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgasync_is_busy'
LANGUAGE C STRICT;

CREATE FUNCTION @extschema@.result(name text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgasync_result'
LANGUAGE C STRICT;

CREATE FUNCTION @extschema@.cancel(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgasync_cancel'
LANGUAGE C STRICT;

COMMENT ON FUNCTION @extschema@.send(text, text) IS 'start a query on a named connection without waiting for it';
COMMENT ON FUNCTION @extschema@.is_busy(text) IS 'is the query sent with pgasync.send() still running?';
COMMENT ON FUNCTION @extschema@.result(text) IS 'wait for the query sent with pgasync.send() and return its rows';
COMMENT ON FUNCTION @extschema@.cancel(text) IS 'cancel the query sent with pgasync.send(); the connection stays usable';

-- ------------------------------------------------------------------
-- COPY between two remote servers (src/backend/copy.c)
-- ------------------------------------------------------------------

CREATE FUNCTION @extschema@.copy(source text, source_query text, dest text,
                                 dest_table text, options jsonb DEFAULT '{}')
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgasync_copy'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.copy(text, text, text, text, jsonb) IS
  'copy a table or query result from one remote server into a table on another, streaming COPY data; returns the rows copied';

-- ------------------------------------------------------------------
-- COPY between local tables and remote servers (src/backend/copy_local.c)
-- ------------------------------------------------------------------

CREATE FUNCTION @extschema@.copy_to_remote(dest text, dest_table text, local_query text,
                                           options jsonb DEFAULT '{}')
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgasync_copy_to_remote'
LANGUAGE C;

CREATE FUNCTION @extschema@.copy_from_remote(source text, source_query text, local_table regclass,
                                             options jsonb DEFAULT '{}')
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgasync_copy_from_remote'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.copy_to_remote(text, text, text, jsonb) IS
  'copy the rows of a local query into a remote table with one COPY; returns the rows copied';
COMMENT ON FUNCTION @extschema@.copy_from_remote(text, text, regclass, jsonb) IS
  'load the rows of a remote query or table into a local table through the local COPY machinery; returns the rows loaded';

-- ------------------------------------------------------------------
-- Foreign-data wrapper pgasync_fdw (src/backend/fdw.c)
--
-- Its servers and user mappings name remote servers for pgasync's
-- functions; scanning foreign tables is not implemented yet.
-- ------------------------------------------------------------------

CREATE FUNCTION @extschema@.pgasync_fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME', 'pgasync_fdw_handler'
LANGUAGE C STRICT;

CREATE FUNCTION @extschema@.pgasync_fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME', 'pgasync_fdw_validator'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER pgasync_fdw
  HANDLER @extschema@.pgasync_fdw_handler
  VALIDATOR @extschema@.pgasync_fdw_validator;

COMMENT ON FOREIGN DATA WRAPPER pgasync_fdw IS 'remote PostgreSQL servers for pgasync';

-- ------------------------------------------------------------------
-- End of pgasync_fdw
-- ------------------------------------------------------------------
