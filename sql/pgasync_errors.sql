--
-- Errors: remote errors relayed with all their fields, connection
-- failures, timeouts and cancellation, and the rules for non-superusers.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgasync;
RESET client_min_messages;

SELECT current_setting('pgasync_test.dsn') AS dsn \gset
SELECT pgasync.connect('loop', :'dsn');

-- pga_error_fields(target, query) runs query through pgasync.execute and
-- shows the fields of the error it raises, as plpgsql sees them.
CREATE FUNCTION pga_error_fields(target text, query text)
RETURNS TABLE (field text, value text)
LANGUAGE plpgsql AS $f$
DECLARE
    f_sqlstate text; f_message text; f_detail text; f_hint text;
    f_context text; f_schema text; f_table text; f_column text;
    f_datatype text; f_constraint text;
BEGIN
    PERFORM pgasync.execute(target, query);
    RAISE EXCEPTION 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS
        f_sqlstate = RETURNED_SQLSTATE, f_message = MESSAGE_TEXT,
        f_detail = PG_EXCEPTION_DETAIL, f_hint = PG_EXCEPTION_HINT,
        f_context = PG_EXCEPTION_CONTEXT, f_schema = SCHEMA_NAME,
        f_table = TABLE_NAME, f_column = COLUMN_NAME,
        f_datatype = PG_DATATYPE_NAME, f_constraint = CONSTRAINT_NAME;
    RETURN QUERY VALUES
        ('sqlstate', f_sqlstate), ('message', f_message),
        ('detail', f_detail), ('hint', f_hint), ('context', f_context),
        ('schema_name', f_schema), ('table_name', f_table),
        ('column_name', f_column), ('datatype_name', f_datatype),
        ('constraint_name', f_constraint);
END
$f$;

--
-- Remote errors keep their SQLSTATE, message, detail, hint and context
--
SELECT pgasync.fetchval('loop', 'SELECT 1 / 0');
SELECT pgasync.fetchval('loop', 'SELECT 1');
-- the position of a syntax error points into the remote query
SELECT pgasync.fetchval('loop', 'SELEC 1');
SELECT pgasync.fetchval('loop', E'SELECT 1,\n       no_such_column\n  FROM pg_class');
SELECT pgasync.execute('loop', 'CREATE TABLE (');
SELECT pgasync.fetchval('loop', 'SELECT 2');
-- errors raised by remote code, with a SQLSTATE of their own
SELECT pgasync.execute('loop', $q$DO $$
BEGIN
    RAISE EXCEPTION 'custom failure %', 42
        USING ERRCODE = 'P1234', DETAIL = 'some detail', HINT = 'some hint';
END $$$q$);
SELECT pgasync.fetchval('loop', 'SELECT 3');
-- The SQLSTATE in verbose messages.  (LOCATION is where pgasync raised the
-- error: PgaRaiseRemoteError in src/backend/remote_error.c.  Update the
-- line number here when it moves.)
\set VERBOSITY verbose
SELECT pgasync.fetchval('loop', 'SELECT 1 / 0');
SELECT pgasync.execute('loop', $q$DO $$
BEGIN
    RAISE EXCEPTION 'custom failure %', 42
        USING ERRCODE = 'P1234', DETAIL = 'some detail', HINT = 'some hint';
END $$$q$);
\set VERBOSITY default
SELECT * FROM pga_error_fields('loop', $q$DO $$
BEGIN
    RAISE EXCEPTION 'custom failure %', 42
        USING ERRCODE = 'P1234', DETAIL = 'some detail', HINT = 'some hint';
END $$$q$);
SELECT * FROM pga_error_fields('loop', 'SELECT 1 / 0');
-- constraint violations name the schema, table, column and constraint
SELECT pgasync.execute('loop',
  'CREATE TABLE pgasync_e (id int CONSTRAINT pgasync_e_pkey PRIMARY KEY,
                           v int NOT NULL CONSTRAINT pgasync_e_v_check CHECK (v > 0))');
SELECT pgasync.execute('loop', 'INSERT INTO pgasync_e VALUES (1, 1)');
SELECT pgasync.execute('loop', 'INSERT INTO pgasync_e VALUES ($1, $2)', 1, 2);
SELECT * FROM pga_error_fields('loop', 'INSERT INTO pgasync_e VALUES (1, 1)');
SELECT * FROM pga_error_fields('loop', 'INSERT INTO pgasync_e VALUES (2, NULL)');
SELECT * FROM pga_error_fields('loop', 'INSERT INTO pgasync_e VALUES (2, -1)');
CREATE DOMAIN pgasync_e_posint AS int CHECK (VALUE > 0);
SELECT * FROM pga_error_fields('loop', 'SELECT (-1)::pgasync_e_posint');
DROP DOMAIN pgasync_e_posint;
-- the errors of every query function are relayed the same way
SELECT * FROM pgasync.fetch('loop', 'INSERT INTO pgasync_e VALUES (1, 1) RETURNING id') AS t(id int);
SELECT * FROM pgasync.fetchrow('loop', 'SELECT 1 / 0') AS t(a int);
SELECT * FROM pgasync.fetch_json('loop', 'SELECT 1 / 0');
SELECT pgasync.execute('loop', 'SELECT 1 / $1', 0);
SELECT pgasync.execute('loop', 'SELECT 1; SELECT 1 / 0; SELECT 2');
-- parameters must match the query (unnamed statements, whose name is "")
SELECT pgasync.connect('nocache', :'dsn', '{"statement_cache_size": 0}');
SELECT pgasync.fetchval('nocache', 'SELECT $1::int', 'abc');
SELECT pgasync.fetchval('nocache', 'SELECT $1 + $2', 1);
SELECT pgasync.fetchval('nocache', 'SELECT $1 + $2', VARIADIC ARRAY[1]);
SELECT pgasync.fetchval('nocache', 'SELECT $1::int + $2', 'x', 1);
SELECT pgasync.fetchval('nocache', 'SELECT 1');
SELECT pgasync.disconnect('nocache');
-- a local error while reading the rows still leaves the connection ready
SELECT * FROM pgasync.fetch('loop', $$SELECT x FROM (VALUES ('1'), ('x'), ('3')) v(x)$$) AS t(a int);
SELECT name, busy, in_transaction FROM pgasync.connections();
SELECT pgasync.fetchval('loop', 'SELECT 4');
SELECT pgasync.execute('loop', 'DROP TABLE pgasync_e');

--
-- Connection failures
--
-- connection strings that do not parse
SELECT pgasync.connect('bad', 'host=/tmp port');
SELECT pgasync.connect('bad', $$host='/tmp$$);
SELECT pgasync.connect('bad', 'host=/tmp bogus_key=1');
SELECT pgasync.connect('bad', 'postgresql://localhost:notaport/db');
SELECT pgasync.connect('bad', 'host=/tmp sslmode=sometimes');
SELECT pgasync.fetchval('host=/tmp bogus_key=1', 'SELECT 1');
-- no error shows a password
SELECT pgasync.connect('bad', 'password=s3cr3t-pw bogus_key=1');
SELECT pgasync.connect('bad', 'host=/tmp password=s3cr3t-pw port=notaport');
SELECT pgasync.connect('bad', $$password='s3cr3t-pw$$);
SELECT pgasync.connect('bad', 'postgresql://u:s3cr3t-pw@localhost:notaport/db');
DO $$
DECLARE
    dsn text;
    msg text; det text; hnt text; ctx text;
BEGIN
    FOREACH dsn IN ARRAY ARRAY['password=s3cr3t-pw bogus_key=1',
                               'host=/tmp password=s3cr3t-pw port=notaport',
                               'password=''s3cr3t-pw',
                               'postgresql://u:s3cr3t-pw@localhost:notaport/db',
                               'host=127.0.0.1 port=1 password=s3cr3t-pw']
    LOOP
        BEGIN
            PERFORM pgasync.fetchval(dsn, 'SELECT 1');
            RAISE NOTICE 'no error';
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                hnt = PG_EXCEPTION_HINT, ctx = PG_EXCEPTION_CONTEXT;
            RAISE NOTICE 'password shown: %',
                concat_ws(' ', msg, det, hnt, ctx) LIKE '%s3cr3t%';
        END;
    END LOOP;
END
$$;
-- nothing listens there: the error names the target
SELECT pgasync.connect('refused', 'host=127.0.0.1 port=1 dbname=x');
SELECT pgasync.fetchval('host=127.0.0.1 port=1 dbname=x', 'SELECT 1');
SELECT pgasync.connect('refused', 'host=/nonexistent port=1 dbname=x');
-- several hosts are tried in turn; the error lists every attempt
SELECT pgasync.connect('refused', 'host=/nonexistent,127.0.0.1 port=1,1 dbname=x');
-- the server refuses the connection
SELECT pgasync.connect('nodb', regexp_replace(:'dsn', 'dbname=\S+', 'dbname=pgasync_no_such_db'));
SELECT pgasync.connect('nouser', regexp_replace(:'dsn', 'user=\S+', 'user=pgasync_no_such_role'));
-- a failed connect() leaves no connection behind, so the name is free
SELECT name FROM pgasync.connections() ORDER BY name;
SELECT pgasync.connect('refused', :'dsn');
SELECT pgasync.fetchval('refused', 'SELECT 5');
SELECT pgasync.disconnect('refused');
-- targets that do not exist
SELECT pgasync.fetchval('x', 'SELECT 1');
SELECT pgasync.fetchval('', 'SELECT 1');
SELECT pgasync.disconnect('x');
-- the connection in use is still fine
SELECT pgasync.fetchval('loop', 'SELECT 6');

--
-- command_timeout cancels the remote query
--
SELECT pgasync.connect('slow', :'dsn', '{"command_timeout": 0.5}');
SELECT pgasync.fetchval('slow', 'SELECT pg_sleep(5)');
SELECT pgasync.fetchval('slow', 'SELECT 7');
SELECT * FROM pgasync.fetch('slow', 'SELECT 1 FROM pg_sleep(5)') AS t(a int);
SELECT pgasync.execute('slow', 'SELECT pg_sleep(5)');
SELECT pgasync.execute('slow', 'SELECT pg_sleep($1)', 5);
SELECT pgasync.fetchval('slow', 'SELECT 8');
SELECT name, busy, in_transaction FROM pgasync.connections() WHERE name = 'slow';
-- nothing of it still runs on the remote server
SELECT count(*) FROM pg_stat_activity
  WHERE state = 'active' AND query LIKE 'SELECT %pg_sleep(%' AND pid <> pg_backend_pid();
-- inside a remote transaction, the transaction is left failed
SELECT pgasync.execute('slow', 'BEGIN');
SELECT pgasync.fetchval('slow', 'SELECT pg_sleep(5)');
SELECT pgasync.fetchval('slow', 'SELECT 9');
SELECT pgasync.execute('slow', 'ROLLBACK');
SELECT pgasync.disconnect('slow');
-- pgasync.command_timeout is the default for new connections
SET pgasync.command_timeout = '500ms';
SELECT pgasync.connect('slow2', :'dsn');
SELECT pgasync.fetchval('slow2', 'SELECT pg_sleep(5)');
RESET pgasync.command_timeout;
SELECT pgasync.fetchval('slow2', 'SELECT 10');
SELECT pgasync.disconnect('slow2');

--
-- Canceling the local statement cancels the remote one
--
SET statement_timeout = '300ms';
SELECT pgasync.fetchval('loop', 'SELECT pg_sleep(5)');
SELECT * FROM pgasync.fetch('loop', 'SELECT 1 FROM pg_sleep(5)') AS t(a int);
SELECT pgasync.execute('loop', 'SELECT pg_sleep(5)');
RESET statement_timeout;
SELECT count(*) FROM pg_stat_activity
  WHERE state = 'active' AND query LIKE 'SELECT %pg_sleep(%' AND pid <> pg_backend_pid();
SELECT name, busy, in_transaction FROM pgasync.connections() WHERE name = 'loop';
SELECT pgasync.fetchval('loop', 'SELECT 11');

--
-- Non-superusers
--
CREATE ROLE regress_pgasync_nosu LOGIN PASSWORD 'nosu-pw';
GRANT USAGE ON SCHEMA pgasync TO regress_pgasync_nosu;
GRANT USAGE ON FOREIGN DATA WRAPPER pgasync_fdw TO regress_pgasync_nosu;
DO $$
BEGIN
    EXECUTE format('CREATE SERVER pgasync_e_srv FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (host %L, port %L, dbname %L)',
                   substring(current_setting('pgasync_test.dsn') from 'host=(\S+)'),
                   current_setting('pgasync_test.port'), current_database());
END
$$;
CREATE SERVER pgasync_e_srv2 FOREIGN DATA WRAPPER pgasync_fdw;
SELECT pgasync.fetchval(:'dsn', 'SELECT 1');
SET ROLE regress_pgasync_nosu;
-- a server needs USAGE and a user mapping
SELECT pgasync.fetchval('pgasync_e_srv', 'SELECT 1');
RESET ROLE;
GRANT USAGE ON FOREIGN SERVER pgasync_e_srv, pgasync_e_srv2 TO regress_pgasync_nosu;
CREATE USER MAPPING FOR regress_pgasync_nosu SERVER pgasync_e_srv
  OPTIONS (user 'regress_pgasync_nosu');
SET ROLE regress_pgasync_nosu;
SELECT pgasync.fetchval('pgasync_e_srv2', 'SELECT 1');
-- a connection string without a password (the superuser's connection for
-- the same string is not shared)
SELECT pgasync.connect('nosu', :'dsn');
SELECT pgasync.fetchval(:'dsn', 'SELECT 1');
-- with a password, but the server (trust authentication on the Unix
-- socket) does not ask for it
SELECT pgasync.connect('nosu', :'dsn' || ' password=nosu-pw');
SELECT pgasync.connect('nosu',
  regexp_replace(:'dsn', 'user=\S+', 'user=regress_pgasync_nosu') || ' password=nosu-pw');
-- files of the server are off limits
SELECT pgasync.connect('nosu', :'dsn' || ' password=nosu-pw passfile=/dev/null');
SELECT pgasync.connect('nosu', :'dsn' || ' password=nosu-pw sslcert=/dev/null');
-- a user mapping without a password
SELECT pgasync.fetchval('pgasync_e_srv', 'SELECT 1');
-- over TCP the server asks for the password (SCRAM): that works
SELECT pgasync.connect('nosu_tcp',
  format('host=127.0.0.1 port=%s dbname=contrib_regression user=regress_pgasync_nosu password=nosu-pw sslmode=require',
         current_setting('pgasync_test.port')));
SELECT pgasync.fetchval('nosu_tcp', 'SELECT current_user');
SELECT name, kind, tls FROM pgasync.connections();
-- a wrong password is the server's error
SELECT pgasync.connect('nosu_bad',
  format('host=127.0.0.1 port=%s dbname=contrib_regression user=regress_pgasync_nosu password=wrong-pw sslmode=require',
         current_setting('pgasync_test.port')));
-- connections of other roles are neither listed nor usable
SELECT pgasync.fetchval('loop', 'SELECT 1');
SELECT pgasync.disconnect('loop');
SELECT pgasync.disconnect_all();
RESET ROLE;
-- a superuser may lift the password rule for a user mapping
ALTER USER MAPPING FOR regress_pgasync_nosu SERVER pgasync_e_srv
  OPTIONS (ADD password_required 'false');
SET ROLE regress_pgasync_nosu;
SELECT pgasync.fetchval('pgasync_e_srv', 'SELECT current_user');
SELECT pgasync.disconnect('pgasync_e_srv');
RESET ROLE;
SELECT name, kind FROM pgasync.connections() WHERE kind <> 'dsn' ORDER BY name;

-- Clean up.
SELECT pgasync.disconnect_all();
DROP USER MAPPING FOR regress_pgasync_nosu SERVER pgasync_e_srv;
DROP SERVER pgasync_e_srv, pgasync_e_srv2;
REVOKE USAGE ON FOREIGN DATA WRAPPER pgasync_fdw FROM regress_pgasync_nosu;
REVOKE USAGE ON SCHEMA pgasync FROM regress_pgasync_nosu;
DROP ROLE regress_pgasync_nosu;
DROP FUNCTION pga_error_fields(text, text);
