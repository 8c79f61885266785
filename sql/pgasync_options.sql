-- Options of pgasync_fdw's servers, user mappings, foreign tables and
-- columns, as checked by its validator.  No remote server is needed.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgasync;
RESET client_min_messages;

-- The wrapper comes with the extension.
SELECT fdwname, fdwhandler::regproc, fdwvalidator::regproc, fdwoptions
  FROM pg_foreign_data_wrapper WHERE fdwname = 'pgasync_fdw';

-- The wrapper itself has no options.
ALTER FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (host 'localhost');

--
-- Foreign servers
--
CREATE SERVER opt_srv FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (
  host 'db1.example.com,db2.example.com', port '5432,5433', dbname 'app',
  sslmode 'verify-full', sslrootcert '/etc/ssl/certs/ca.pem',
  sslcrl '/etc/ssl/crl.pem', sslcrldir '/etc/ssl/crl', sslsni '1',
  ssl_min_protocol_version 'TLSv1.2', ssl_max_protocol_version 'TLSv1.3',
  target_session_attrs 'read-write', channel_binding 'require',
  application_name 'reports', options '-c search_path=app',
  connect_timeout '10', command_timeout '2.5', statement_cache_size '0',
  max_cached_statement_lifetime '300', max_cacheable_statement_size '16384',
  fetch_size '1000', batch_size '10');
SELECT unnest(srvoptions) AS option FROM pg_foreign_server WHERE srvname = 'opt_srv';
CREATE SERVER opt_srv_addr FOREIGN DATA WRAPPER pgasync_fdw
  OPTIONS (host 'db.example.com', hostaddr '192.0.2.10', port '6432');
CREATE SERVER opt_srv_v6 FOREIGN DATA WRAPPER pgasync_fdw
  OPTIONS (hostaddr '2001:db8::1,192.0.2.11');
CREATE SERVER opt_srv_socket FOREIGN DATA WRAPPER pgasync_fdw
  OPTIONS (host '/var/run/postgresql');
CREATE SERVER opt_srv_empty FOREIGN DATA WRAPPER pgasync_fdw;

-- Unknown options, and options that belong to user mappings.
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (hots 'localhost');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (user 'alice');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (password 'secret');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (sslkey '/tmp/key');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (passfile '/tmp/pgpass');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (replication 'database');

-- Bad values of connection options.
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (port 'abc');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (port '0');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (port '65536');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw
  OPTIONS (host 'a.example.com,b.example.com', port '5432,x');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (hostaddr 'db.example.com');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (sslmode 'sometimes');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (sslsni '2');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (ssl_min_protocol_version 'TLSv9');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (target_session_attrs 'whatever');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (channel_binding 'maybe');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (connect_timeout '-1');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (connect_timeout '1.5');

-- Connection options that do not fit together.
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw
  OPTIONS (host 'a.example.com,b.example.com', port '5432,5433,5434');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw
  OPTIONS (host 'a.example.com,b.example.com', hostaddr '192.0.2.1');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw
  OPTIONS (ssl_min_protocol_version 'TLSv1.3', ssl_max_protocol_version 'TLSv1.2');

-- Bad values of session options.
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (command_timeout 'soon');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (command_timeout '-0.5');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (command_timeout '1e10');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (statement_cache_size 'many');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (statement_cache_size '-1');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (max_cacheable_statement_size '99999999999');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (fetch_size '0');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER pgasync_fdw OPTIONS (batch_size '-5');

-- ALTER SERVER checks the options the server would end up with.
ALTER SERVER opt_srv OPTIONS (SET port 'x');
ALTER SERVER opt_srv OPTIONS (ADD hostaddr '192.0.2.1');
ALTER SERVER opt_srv OPTIONS (SET port '6432', DROP sslcrldir);
SELECT unnest(srvoptions) AS option FROM pg_foreign_server WHERE srvname = 'opt_srv';

--
-- User mappings
--
CREATE USER MAPPING FOR CURRENT_USER SERVER opt_srv OPTIONS (
  user 'remote', password 'secret', sslcert '/etc/ssl/client.crt',
  sslkey '/etc/ssl/client.key', sslpassword 'keysecret',
  password_required 'false');
CREATE USER MAPPING FOR PUBLIC SERVER opt_srv OPTIONS (user 'anyone');

-- Server options are not user mapping options, and vice versa.
CREATE USER MAPPING FOR PUBLIC SERVER opt_srv_addr OPTIONS (host 'localhost');
CREATE USER MAPPING FOR PUBLIC SERVER opt_srv_addr OPTIONS (dbname 'app');
CREATE USER MAPPING FOR PUBLIC SERVER opt_srv_addr OPTIONS (passfile '/tmp/pgpass');
CREATE USER MAPPING FOR PUBLIC SERVER opt_srv_addr OPTIONS (password_required 'perhaps');

--
-- Foreign tables and their columns
--
CREATE FOREIGN TABLE opt_ft (
  a int OPTIONS (column_name 'remote_a'),
  b text
) SERVER opt_srv OPTIONS (schema_name 'public', table_name 'remote_t', fetch_size '100');
CREATE FOREIGN TABLE opt_ft_bad (a int) SERVER opt_srv OPTIONS (host 'localhost');
CREATE FOREIGN TABLE opt_ft_bad (a int) SERVER opt_srv OPTIONS (fetch_size '0');
CREATE FOREIGN TABLE opt_ft_bad (a int OPTIONS (colname 'x')) SERVER opt_srv;

-- Scans are not implemented yet.
SELECT * FROM opt_ft;

--
-- Options only some roles may set
--
CREATE ROLE regress_pgasync_user;
GRANT USAGE ON FOREIGN DATA WRAPPER pgasync_fdw TO regress_pgasync_user;
SET ROLE regress_pgasync_user;
CREATE SERVER opt_user_srv FOREIGN DATA WRAPPER pgasync_fdw
  OPTIONS (host 'localhost', dbname 'app');
CREATE USER MAPPING FOR CURRENT_USER SERVER opt_user_srv
  OPTIONS (user 'remote', password 'secret');
-- password_required: only a superuser may turn it off
ALTER USER MAPPING FOR CURRENT_USER SERVER opt_user_srv
  OPTIONS (ADD password_required 'false');
ALTER USER MAPPING FOR CURRENT_USER SERVER opt_user_srv
  OPTIONS (ADD password_required 'true');
-- client certificates are files of the database server
ALTER USER MAPPING FOR CURRENT_USER SERVER opt_user_srv
  OPTIONS (ADD sslcert '/etc/ssl/private/server.crt');
ALTER USER MAPPING FOR CURRENT_USER SERVER opt_user_srv
  OPTIONS (ADD sslkey '/etc/ssl/private/server.key');
ALTER USER MAPPING FOR CURRENT_USER SERVER opt_user_srv
  OPTIONS (ADD sslpassword 'x');
RESET ROLE;

-- with the privileges of pg_read_server_files, they are allowed
GRANT pg_read_server_files TO regress_pgasync_user;
SET ROLE regress_pgasync_user;
ALTER USER MAPPING FOR CURRENT_USER SERVER opt_user_srv
  OPTIONS (ADD sslcert '/etc/ssl/client.crt', ADD sslkey '/etc/ssl/client.key');
RESET ROLE;
REVOKE pg_read_server_files FROM regress_pgasync_user;

-- a superuser may turn the password rule off for the role ...
ALTER USER MAPPING FOR regress_pgasync_user SERVER opt_user_srv
  OPTIONS (SET password_required 'false');
-- ... which the role can then no longer alter
SET ROLE regress_pgasync_user;
ALTER USER MAPPING FOR CURRENT_USER SERVER opt_user_srv
  OPTIONS (SET password 'other');
RESET ROLE;
SELECT unnest(umoptions) AS option FROM pg_user_mappings
  WHERE srvname = 'opt_user_srv' AND usename = 'regress_pgasync_user';

-- Clean up.
SET client_min_messages = warning;
DROP SERVER opt_user_srv CASCADE;
REVOKE USAGE ON FOREIGN DATA WRAPPER pgasync_fdw FROM regress_pgasync_user;
DROP ROLE regress_pgasync_user;
DROP SERVER opt_srv, opt_srv_addr, opt_srv_v6, opt_srv_socket, opt_srv_empty CASCADE;
RESET client_min_messages;
