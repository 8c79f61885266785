-- The extension installs into its own schema and reports its version.
CREATE EXTENSION pgasync;
SELECT extnamespace::regnamespace AS schema, extversion
  FROM pg_extension WHERE extname = 'pgasync';
SELECT pgasync.version();
-- The schema is fixed: the extension is not relocatable.
CREATE SCHEMA other;
ALTER EXTENSION pgasync SET SCHEMA other;
DROP SCHEMA other;
