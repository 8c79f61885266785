--
-- Values of every type class, fetched through pgasync from a loopback
-- connection to this very server: what arrives must equal the same
-- expression computed locally.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgasync;
RESET client_min_messages;

-- Times show in UTC: the output of old times in other zones depends on the
-- time zone database (local mean time).  The remote session takes the
-- local time zone when it connects.
SET TimeZone = 'UTC';
SELECT current_setting('pgasync_test.dsn') AS dsn \gset
SELECT pgasync.connect('loop', :'dsn');
SELECT pgasync.fetchval('loop', 'SHOW TimeZone');

-- Types of this test; the remote side is the same database, so they exist
-- there too.
CREATE TYPE pgasync_complex AS (r float8, i float8);
CREATE TYPE pgasync_rec AS (id int, label text, tags text[], at timestamptz,
                            c pgasync_complex);
CREATE TYPE pgasync_pair AS (a int, b text);
CREATE TYPE pgasync_mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN pgasync_posint AS int CHECK (VALUE > 0);
CREATE DOMAIN pgasync_nn AS text NOT NULL;

--
-- pga_check(mode, typ, expr) runs expr cast to typ remotely and locally:
--   native  the remote value is fetched into a column of type typ (binary
--           transfer for built-in types: the remote type is the local one)
--   text    the remote value is fetched into a text column (text transfer)
--           and compared with the local value's output
--   param   the local value is sent as query parameter $1, echoed back by
--           the remote server and fetched into a column of type typ
-- ok is true when both the outputs (of the type's output function) and,
-- where the type has an equality operator, the values themselves are equal
-- (the output tells -0 from 0 and boxes of equal area apart).  value is
-- the output of the value that arrived.
--
CREATE FUNCTION pga_out(anyelement) RETURNS text
LANGUAGE sql IMMUTABLE AS
$$SELECT CASE WHEN num_nulls($1) = 0 THEN format('%s', $1) END$$;

CREATE FUNCTION pga_check(mode text, typ text, expr text,
                          OUT ok boolean, OUT value text)
LANGUAGE plpgsql AS $f$
DECLARE
    remote_sql text := format('SELECT (%s)::%s', expr, typ);
    q text;
    local_out text;
    same boolean;
BEGIN
    EXECUTE format('SELECT pga_out((%s)::%s)', expr, typ) INTO local_out;
    IF mode = 'text' THEN
        EXECUTE format('SELECT x FROM pgasync.fetch(%L, %L) AS t(x text)',
                       'loop', remote_sql) INTO value;
        ok := value IS NOT DISTINCT FROM local_out;
        RETURN;
    ELSIF mode = 'native' THEN
        q := format('SELECT x FROM pgasync.fetch(%L, %L) AS t(x %s)',
                    'loop', remote_sql, typ);
    ELSIF mode = 'param' THEN
        q := format('SELECT x FROM pgasync.fetch(%L, %L, (%s)::%s) AS t(x %s)',
                    'loop', 'SELECT $1', expr, typ, typ);
    ELSE
        RAISE EXCEPTION 'unknown mode %', mode;
    END IF;
    EXECUTE format('SELECT pga_out(x) FROM (%s) s', q) INTO value;
    ok := value IS NOT DISTINCT FROM local_out;
    BEGIN
        EXECUTE format('SELECT (%s) IS NOT DISTINCT FROM (%s)::%s', q, expr, typ)
            INTO same;
        ok := ok AND same;
    EXCEPTION WHEN undefined_function THEN
        NULL;                   -- no equality operator: the output decides
    END;
END
$f$;

CREATE TABLE type_cases (id serial PRIMARY KEY, typ text, expr text);
INSERT INTO type_cases (typ, expr) VALUES
    -- integers
    ('int2', '32767'), ('int2', '-32768'), ('int2', 'NULL'),
    ('int4', '2147483647'), ('int4', '-2147483648'), ('int4', '0'),
    ('int8', '9223372036854775807'), ('int8', '-9223372036854775808'),
    -- floating point
    ('float4', $$'NaN'$$), ('float4', $$'Infinity'$$), ('float4', $$'-Infinity'$$),
    ('float4', $$'-0'$$), ('float4', '0.1'), ('float4', $$'3.4028235e+38'$$),
    ('float4', $$'1.17549435e-38'$$), ('float4', $$'1e-45'$$),
    ('float8', $$'NaN'$$), ('float8', $$'Infinity'$$), ('float8', $$'-Infinity'$$),
    ('float8', $$'-0'$$), ('float8', '0.1'), ('float8', $$'1e-308'$$),
    ('float8', $$'4.9e-324'$$), ('float8', $$'1.7976931348623157e+308'$$),
    ('float8', $$'3.141592653589793'$$),
    -- numeric
    ('numeric', $$'NaN'$$), ('numeric', $$'Infinity'$$), ('numeric', $$'-Infinity'$$),
    ('numeric', '0'), ('numeric', '-0.000'), ('numeric', '1e-100'),
    ('numeric', '123456789012345678901234567890.123456789012345678901234567890'),
    ('numeric', $$'-9.99e131071'$$),
    ('numeric(5,2)', '123.456'), ('numeric(5,2)', '-0.005'),
    -- money
    ('money', '12.34'), ('money', $$'-92233720368547758.08'$$),
    ('money', $$'92233720368547758.07'$$),
    -- boolean
    ('bool', 'true'), ('bool', 'false'), ('bool', 'NULL'),
    -- character types
    ('char(5)', $$'ab'$$), ('varchar(10)', $$'abc  '$$), ('varchar', $$''$$),
    ('text', $$'plain'$$), ('text', $$''$$), ('text', $$'héllo wörld ☃ 𝄞'$$),
    ('text', $$E'tab\there\nnewline \\ backslash ''quote'' "dq"'$$),
    ('text', $$repeat('x', 100000)$$),
    ('name', $$'pg_class'$$), ('name', $$repeat('n', 70)$$),
    ('"char"', $$'a'$$), ('"char"', $$''$$),
    -- bytea
    ('bytea', $$'\x00ff00'$$), ('bytea', $$'\x'$$), ('bytea', $$'\x000000'$$),
    ('bytea', $$decode(repeat('00ff', 500), 'hex')$$),
    -- date and time
    ('date', $$'2000-02-29'$$), ('date', $$'infinity'$$), ('date', $$'-infinity'$$),
    ('date', $$'4713-01-01 BC'$$), ('date', $$'0001-01-01 BC'$$), ('date', $$'5874897-12-31'$$),
    ('time', $$'00:00:00'$$), ('time', $$'24:00:00'$$), ('time', $$'12:34:56.789012'$$),
    ('time(2)', $$'12:34:56.789012'$$),
    ('timetz', $$'12:34:56+05:30'$$), ('timetz', $$'00:00:00-15:59'$$),
    ('timestamp', $$'2000-01-01 12:00:00.5'$$), ('timestamp', $$'infinity'$$),
    ('timestamp', $$'-infinity'$$), ('timestamp', $$'4713-01-01 00:00:00 BC'$$),
    ('timestamp', $$'294276-12-31 23:59:59.999999'$$),
    ('timestamptz', $$'2000-01-01 00:00:00+00'$$), ('timestamptz', $$'1999-12-31 23:59:59.999999-12'$$),
    ('timestamptz', $$'infinity'$$), ('timestamptz', $$'-infinity'$$),
    ('timestamptz', $$'0044-03-15 12:00:00+00 BC'$$),
    ('interval', $$'1 year 2 months 3 days 04:05:06.789'$$), ('interval', $$'0'$$),
    ('interval', $$'1 day -1 second'$$), ('interval', $$'-178000000 years'$$),
    ('interval', $$'-1 mon 2 days -03:04:05'$$),
    -- uuid
    ('uuid', $$'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'$$),
    ('uuid', $$'00000000-0000-0000-0000-000000000000'$$),
    -- network addresses
    ('inet', $$'192.168.1.5/24'$$), ('inet', $$'10.0.0.1'$$), ('inet', $$'::1'$$),
    ('inet', $$'2001:db8::ff/64'$$), ('cidr', $$'10.0.0.0/8'$$), ('cidr', $$'2001:db8::/32'$$),
    ('macaddr', $$'08:00:2b:01:02:03'$$), ('macaddr8', $$'08:00:2b:01:02:03:04:05'$$),
    -- geometry
    ('point', $$'(1.5,-2)'$$), ('point', $$'(NaN,Infinity)'$$),
    ('line', $$'{1,-1,0}'$$), ('lseg', $$'[(0,0),(1,1)]'$$),
    ('box', $$'(1,1),(0,0)'$$), ('box', $$'(2,0.5),(0,0)'$$),
    ('path', $$'[(0,0),(1,1),(2,0)]'$$), ('path', $$'((0,0),(1,1),(2,0))'$$),
    ('polygon', $$'((0,0),(1,1),(1,0))'$$), ('circle', $$'<(0,0),5>'$$),
    -- bit strings
    ('bit(4)', $$B'1010'$$), ('bit(1)', $$B'1'$$), ('varbit', $$B'10101010101'$$),
    ('varbit', $$B''$$), ('bit varying(70)', $$repeat('1', 70)::varbit$$),
    -- json and xml
    ('json', $$'{"b": [1, 2.50, null],  "a": "x", "a": 1}'$$),
    ('json', $$'"\u00e9 \ud83d\ude00"'$$),
    ('jsonb', $$'{"b": [1, 2.50, null, true], "a": {"x": "y"}}'$$),
    ('jsonb', $$'1e300'$$), ('jsonb', $$'"text"'$$), ('jsonb', $$'null'$$),
    ('jsonpath', $$'$.a[*] ? (@ > 1 && @ like_regex "x.*" flag "i")'$$),
    ('jsonpath', $$'strict $.b.type()'$$),
    ('xml', $$'<a b="c">text &amp; more</a>'$$), ('xml', $$'plain content'$$),
    -- text search
    ('tsvector', $$'a fat cat:1A,2B sat:3 on:4 mat:5C'$$),
    ('tsvector', $$''$$),
    ('tsquery', $$'fat & (rat | !cat) <-> mat:*'$$),
    -- system types
    ('pg_lsn', $$'16/B374D848'$$), ('pg_lsn', $$'FFFFFFFF/FFFFFFFF'$$),
    ('tid', $$'(42,7)'$$), ('xid', $$'4294967295'$$), ('xid8', $$'18446744073709551615'$$),
    ('cid', $$'42'$$),
    ('oid', '4294967295'), ('oid', '0'),
    ('regclass', $$'pg_class'$$), ('regtype', $$'integer[]'$$), ('regproc', $$'now'$$),
    ('regprocedure', $$'abs(integer)'$$), ('regoper', $$'||/'$$),
    ('regoperator', $$'+(integer,integer)'$$), ('regnamespace', $$'pg_catalog'$$),
    ('regrole', $$'pg_monitor'$$), ('regconfig', $$'english'$$),
    ('regdictionary', $$'simple'$$), ('regcollation', $$'"POSIX"'$$),
    -- ranges
    ('int4range', $$'[1,10)'$$), ('int4range', $$'empty'$$), ('int4range', $$'(,5]'$$),
    ('int4range', $$'(,)'$$), ('int8range', $$'[-9223372036854775808,0]'$$),
    ('numrange', $$'[1.5,2.5]'$$), ('numrange', $$'(NaN,)'$$),
    ('daterange', $$'[2000-01-01,)'$$), ('daterange', $$'[2000-01-01,2000-01-01)'$$),
    ('tsrange', $$'[2000-01-01 00:00,2000-01-02 00:00)'$$),
    ('tstzrange', $$'[2000-01-01 00:00+00,infinity)'$$),
    -- multiranges
    ('int4multirange', $$'{[1,3), [5,7)}'$$), ('int4multirange', $$'{}'$$),
    ('nummultirange', $$'{(,0], [1.5,2]}'$$),
    ('datemultirange', $$'{[2000-01-01,2000-02-01), [2001-01-01,)}'$$),
    ('tstzmultirange', $$'{[2000-01-01 00:00+00,2000-01-02 00:00+00)}'$$),
    -- arrays
    ('int4[]', $$'{1,2,3}'$$), ('int4[]', $$'{{1,2},{3,4}}'$$),
    ('int4[]', $$'{{{1},{2}},{{3},{4}}}'$$), ('int4[]', $$'{1,NULL,3}'$$),
    ('int4[]', $$'{NULL}'$$), ('int4[]', $$'[0:1]={5,6}'$$),
    ('int4[]', $$'[-2:-1][3:4]={{1,2},{3,4}}'$$), ('int4[]', $$'{}'$$),
    ('int8[]', $$'{9223372036854775807,-1}'$$),
    ('float8[]', $$'{NaN,-Infinity,-0,1e-308}'$$),
    ('numeric[]', $$'{1.5,NaN,Infinity,NULL}'$$),
    ('text[]', $$'{"a,b","c\"d","",NULL,"NULL","{x}"," sp "}'$$),
    ('text[]', $$ARRAY[E'back\\slash', 'quote''s', 'ü']$$),
    ('varchar(3)[]', $$'{abc,de}'$$), ('char(2)[]', $$'{a,b}'$$),
    ('bool[]', $$'{t,f,NULL}'$$), ('bytea[]', $$'{"\\x00ff",NULL}'$$),
    ('date[]', $$'{2000-01-01,infinity}'$$),
    ('timestamptz[]', $$'{"2000-01-01 00:00:00+00","-infinity"}'$$),
    ('interval[]', $$'{"1 day","-1 mon"}'$$), ('uuid[]', $$'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'$$),
    ('inet[]', $$'{10.0.0.1,::1}'$$), ('point[]', $$'{"(1,2)","(3,4)"}'$$),
    ('jsonb[]', $$ARRAY['{"a": 1}'::jsonb, '[]']$$), ('xml[]', $$ARRAY['<x/>'::xml]$$),
    ('int4range[]', $$'{"[1,2)",empty}'$$), ('oid[]', $$'{1,4294967295}'$$),
    -- composite types, enums and domains (user-defined: text transfer)
    ('pgasync_complex', $$ROW(1.5, -2)$$), ('pgasync_complex', $$ROW(NULL, 'NaN')$$),
    ('pgasync_complex', 'NULL'),
    ('pgasync_rec', $$ROW(1, 'a "quoted", (text)', ARRAY['x', 'y,z', NULL], '2000-01-01 00:00+00', ROW(1.5, -2))$$),
    ('pgasync_rec', $$ROW(NULL, NULL, NULL, NULL, NULL)$$),
    ('pgasync_rec', $$ROW(2, '', '{}', 'infinity', ROW(NULL, NULL))$$),
    ('pgasync_complex[]', $$ARRAY[ROW(1, 2), ROW(3, 4), NULL]::pgasync_complex[]$$),
    ('pgasync_mood', $$'happy'$$), ('pgasync_mood[]', $$'{sad,ok,NULL}'$$),
    ('pgasync_posint', '5'), ('pgasync_posint[]', $$'{1,2}'$$),
    ('pgasync_nn', $$'not null'$$);

-- Through the binary transfer (built-in types) or the text transfer
-- (user-defined types): every value arrives unchanged.
SELECT id, typ,
       CASE WHEN length(value) > 60
            THEN left(value, 40) || format('... (%s characters)', length(value))
            ELSE value END AS value,
       ok
  FROM type_cases, LATERAL pga_check('native', typ, expr)
  ORDER BY id;

-- Local types declared as text: every value arrives as the remote text
-- form, which equals the local output under the same settings.
SET DateStyle = 'ISO, MDY';
SET IntervalStyle = 'postgres';
SELECT count(*) AS checked, count(*) FILTER (WHERE ok) AS ok
  FROM type_cases, LATERAL pga_check('text', typ, expr);
SELECT id, typ, expr, value
  FROM type_cases, LATERAL pga_check('text', typ, expr)
  WHERE NOT ok ORDER BY id;
RESET DateStyle;
RESET IntervalStyle;

-- Values sent as query parameters and echoed back: built-in types go in
-- binary with their type, the others as text of unspecified type.
SELECT count(*) AS checked, count(*) FILTER (WHERE ok) AS ok
  FROM type_cases, LATERAL pga_check('param', typ, expr);
SELECT id, typ, expr, value
  FROM type_cases, LATERAL pga_check('param', typ, expr)
  WHERE NOT ok ORDER BY id;

-- When the local client_encoding differs from the database encoding, the
-- binary string formats would be converted: every value goes as text.
SET client_encoding = 'LATIN1';
SELECT count(*) AS checked, count(*) FILTER (WHERE ok) AS ok
  FROM type_cases, LATERAL pga_check('native', typ, expr);
SELECT count(*) AS checked, count(*) FILTER (WHERE ok) AS ok
  FROM type_cases, LATERAL pga_check('param', typ, expr);
SELECT id, typ FROM type_cases, LATERAL pga_check('native', typ, expr)
  WHERE NOT ok ORDER BY id;
RESET client_encoding;
-- the formats are chosen anew when client_encoding changes, also for
-- statements that stay cached
SELECT x = chr(252) AS same, length(x) FROM pgasync.fetch('loop', 'SELECT chr(252)') AS t(x text);
SET client_encoding = 'LATIN1';
SELECT x = chr(252) AS same, length(x) FROM pgasync.fetch('loop', 'SELECT chr(252)') AS t(x text);
RESET client_encoding;
SELECT x = chr(252) AS same, length(x) FROM pgasync.fetch('loop', 'SELECT chr(252)') AS t(x text);

-- Values sent in text form are written the way the remote session reads
-- them, whatever the local DateStyle, IntervalStyle and extra_float_digits
-- (it reads dates as month first and intervals in the postgres style).
CREATE TYPE pgasync_when AS (d date, i interval, f float8);
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = -3;
SELECT x = ROW('2000-02-01', '-1 day -02:03:04', 0.1::float8 + 0.2)::pgasync_when AS same, x
  FROM pgasync.fetch('loop', 'SELECT $1::pgasync_when',
                     ROW('2000-02-01', '-1 day -02:03:04', 0.1::float8 + 0.2)::pgasync_when)
  AS t(x pgasync_when);
SELECT count(*) AS checked, count(*) FILTER (WHERE ok) AS ok
  FROM type_cases, LATERAL pga_check('param', typ, expr);
SET client_encoding = 'LATIN1';
SELECT count(*) AS checked, count(*) FILTER (WHERE ok) AS ok
  FROM type_cases, LATERAL pga_check('param', typ, expr);
SELECT x = '-1 day -02:03:04' AS same, x
  FROM pgasync.fetch('loop', 'SELECT $1', '-1 day -02:03:04'::interval) AS t(x interval);
RESET client_encoding;
-- the settings are the local session's again
SELECT current_setting('DateStyle') AS datestyle, current_setting('IntervalStyle') AS intervalstyle,
       current_setting('extra_float_digits') AS extra_float_digits;
RESET DateStyle;
RESET IntervalStyle;
RESET extra_float_digits;
DROP TYPE pgasync_when;

--
-- Anonymous records declared as a composite type, several columns at once
--
SELECT * FROM pgasync.fetch('loop', $$SELECT ROW(1, 'one'), ROW(2, NULL)$$)
  AS t(x pgasync_pair, y pgasync_pair);
SELECT (x).a, (x).b FROM pgasync.fetch('loop',
  $$SELECT ROW(g, 'v' || g) FROM generate_series(1, 3) g ORDER BY g$$)
  AS t(x pgasync_pair);
SELECT * FROM pgasync.fetch('loop', $$SELECT ARRAY[ROW(1, 'a'), ROW(2, 'b,c')]$$)
  AS t(x pgasync_pair[]);

--
-- Conversions through the text form when the types differ
--
-- remote int4 into local int8, text and numeric
SELECT a, pg_typeof(a), b, pg_typeof(b), c, pg_typeof(c)
  FROM pgasync.fetch('loop', 'SELECT 42::int4, 42::int4, 42::int4')
  AS t(a int8, b text, c numeric);
-- remote text into local int4, date and an enum
SELECT * FROM pgasync.fetch('loop', $$SELECT '17'::text, '2000-01-01'::text, 'ok'::text$$)
  AS t(a int4, b date, c pgasync_mood);
-- typmods of the local column apply: rounding and blank-padding ...
SELECT * FROM pgasync.fetch('loop', $$SELECT 1.235::numeric, 'ab'::text, 'xyz  '::text$$)
  AS t(a numeric(5,2), b char(4), c varchar(3));
-- ... and length checks, as for an assignment
SELECT * FROM pgasync.fetch('loop', $$SELECT 'abcdef'::text$$) AS t(a varchar(3));
SELECT * FROM pgasync.fetch('loop', $$SELECT 'abcdef'::varchar$$) AS t(a varchar(3));
SELECT * FROM pgasync.fetch('loop', 'SELECT 12345.6::numeric') AS t(a numeric(5,2));
-- a value the local type does not accept: the error names the column
SELECT * FROM pgasync.fetch('loop', $$SELECT 1, 'abc'::text$$) AS t(ok int, bad int);
SELECT * FROM pgasync.fetch('loop', 'SELECT 1.5::numeric') AS t(a int4);
SELECT * FROM pgasync.fetch('loop', 'SELECT 3000000000::int8') AS t(a int4);
SELECT * FROM pgasync.fetch('loop', $$SELECT 'meh'::text$$) AS t(a pgasync_mood);
-- domain constraints are checked locally
SELECT * FROM pgasync.fetch('loop', 'SELECT 7') AS t(a pgasync_posint);
SELECT * FROM pgasync.fetch('loop', 'SELECT -1') AS t(a pgasync_posint);
SELECT * FROM pgasync.fetch('loop', 'SELECT NULL::text') AS t(a pgasync_nn);
SELECT * FROM pgasync.fetch('loop', 'SELECT 1, -1') AS t(a pgasync_posint, b pgasync_posint);
-- the number of columns must match
SELECT * FROM pgasync.fetch('loop', 'SELECT 1, 2') AS t(a int);
SELECT * FROM pgasync.fetch('loop', 'SELECT 1') AS t(a int, b int);
SELECT * FROM pgasync.fetch('loop', 'SELECT') AS t(a int);
-- the connection is fine after all of that
SELECT pgasync.fetchval('loop', 'SELECT 1');

-- Clean up.
SELECT pgasync.disconnect('loop');
DROP TABLE type_cases;
DROP FUNCTION pga_check(text, text, text), pga_out(anyelement);
DROP TYPE pgasync_rec, pgasync_complex, pgasync_pair, pgasync_mood;
DROP DOMAIN pgasync_posint, pgasync_nn;
RESET TimeZone;
