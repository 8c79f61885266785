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
-- Queries (src/backend/query.c).  Each function comes in two forms,
-- without and with query parameters ($1 ... $n).
-- ------------------------------------------------------------------

CREATE FUNCTION @extschema@.fetch(target text, query text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgasync_fetch'
LANGUAGE C;

CREATE FUNCTION @extschema@.fetch(target text, query text, VARIADIC args "any")
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgasync_fetch'
LANGUAGE C;

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
