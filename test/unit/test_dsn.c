/*-------------------------------------------------------------------------
 *
 * test_dsn.c
 *	  Unit tests of connection-string parsing (URI and key=value forms),
 *	  validation, host list expansion and password-file lookup.
 *
 *-------------------------------------------------------------------------
 */
#include "protocol/pgw_dsn.h"
#include "protocol/pgw_auth.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"

#define SOCKDIR "/var/run/postgresql"

static pgw_dsn *parse_finish(const char *conninfo, char *errbuf);
static void expect_parse_error(const char *conninfo, const char *want);
static void expect_finish_error(const char *conninfo, const char *want);
static void expect_no_secret(const char *conninfo);
static void test_keys(void);
static void test_empty(void);
static void test_kv(void);
static void test_kv_errors(void);
static void test_uri(void);
static void test_uri_errors(void);
static void test_hosts(void);
static void test_values(void);
static void test_secrets(void);
static void test_set(void);
static void test_passfile(void);
static void test_passfile_lookup(const char *file, const char *host,
								 int port, const char *db, const char *user,
								 const char *want, const char *what);

/* Parse and finish; NULL (with errbuf set) on failure of either. */
static pgw_dsn *
parse_finish(const char *conninfo, char *errbuf)
{
	pgw_dsn    *dsn = pgw_dsn_parse(conninfo, errbuf);

	if (dsn == NULL)
		return NULL;
	if (!pgw_dsn_finish(dsn, SOCKDIR, 5432, errbuf))
	{
		pgw_dsn_free(dsn);
		return NULL;
	}
	return dsn;
}

static void
expect_parse_error(const char *conninfo, const char *want)
{
	char		errbuf[PGW_ERRMSG_LEN] = "";
	pgw_dsn    *dsn = pgw_dsn_parse(conninfo, errbuf);

	tap_ok(dsn == NULL, "parse fails: %s", conninfo);
	tap_is_str(errbuf, want, "error message for: %s", conninfo);
	pgw_dsn_free(dsn);
}

static void
expect_finish_error(const char *conninfo, const char *want)
{
	char		errbuf[PGW_ERRMSG_LEN] = "";
	pgw_dsn    *dsn = pgw_dsn_parse(conninfo, errbuf);

	if (!tap_ok(dsn != NULL, "parses: %s", conninfo))
	{
		tap_diag("error: %s", errbuf);
		return;
	}
	tap_ok(!pgw_dsn_finish(dsn, SOCKDIR, 5432, errbuf),
		   "finish fails: %s", conninfo);
	tap_is_str(errbuf, want, "error message for: %s", conninfo);
	pgw_dsn_free(dsn);
}

/* The connection string must fail, and the error must not show secret123. */
static void
expect_no_secret(const char *conninfo)
{
	char		errbuf[PGW_ERRMSG_LEN] = "";
	pgw_dsn    *dsn = parse_finish(conninfo, errbuf);

	tap_ok(dsn == NULL, "fails: %s", conninfo);
	tap_ok(errbuf[0] != '\0', "an error message is set (%s)", errbuf);
	tap_ok(strstr(errbuf, "secret123") == NULL &&
		   strstr(errbuf, "cret1") == NULL,
		   "error does not show the password: %s", errbuf);
	pgw_dsn_free(dsn);
}

static void
test_keys(void)
{
	int			i;

	tap_is_int(pgw_dsn_key_lookup("host"), PGW_DSN_HOST, "lookup host");
	tap_is_int(pgw_dsn_key_lookup("channel_binding"), PGW_DSN_CHANNEL_BINDING,
			   "lookup channel_binding");
	tap_is_int(pgw_dsn_key_lookup("ssl_min_protocol_version"),
			   PGW_DSN_SSL_MIN_PROTOCOL_VERSION, "lookup ssl_min_protocol_version");
	tap_is_int(pgw_dsn_key_lookup("Host"), -1, "keys are case-sensitive");
	tap_is_int(pgw_dsn_key_lookup("foo"), -1, "unknown key");
	tap_is_int(pgw_dsn_key_lookup(""), -1, "empty key");
	tap_is_int(pgw_dsn_key_lookup(NULL), -1, "NULL key");
	for (i = 0; i < PGW_DSN_NKEYS; i++)
	{
		const char *name = pgw_dsn_key_name((pgw_dsn_key) i);

		if (!tap_ok(name != NULL && pgw_dsn_key_lookup(name) == i,
					"key %d round-trips (%s)", i, name ? name : "(null)"))
			break;
	}
	tap_ok(pgw_dsn_key_name(PGW_DSN_NKEYS) == NULL, "no name past the end");
	tap_ok(pgw_dsn_key_is_secret(PGW_DSN_PASSWORD), "password is secret");
	tap_ok(pgw_dsn_key_is_secret(PGW_DSN_SSLPASSWORD), "sslpassword is secret");
	tap_ok(!pgw_dsn_key_is_secret(PGW_DSN_USER), "user is not secret");
	tap_ok(!pgw_dsn_key_is_secret(PGW_DSN_PASSFILE), "passfile is not secret");
	tap_is_str(pgw_sslmode_name(PGW_SSL_VERIFY_FULL), "verify-full",
			   "sslmode name");
	tap_is_str(pgw_sslmode_name(PGW_SSL_PREFER), "prefer", "sslmode name");
}

static void
test_empty(void)
{
	char		errbuf[PGW_ERRMSG_LEN] = "";
	pgw_dsn    *dsn;
	int			i;
	bool		allnull = true;

	dsn = parse_finish("", errbuf);
	if (!tap_ok(dsn != NULL, "empty string parses (%s)", errbuf))
		return;
	for (i = 0; i < PGW_DSN_NKEYS; i++)
		allnull = allnull && dsn->values[i] == NULL;
	tap_ok(allnull, "no values set");
	tap_is_int(dsn->sslmode, PGW_SSL_PREFER, "default sslmode prefer");
	tap_is_int(dsn->channel_binding, PGW_CB_PREFER, "default channel_binding");
	tap_is_int(dsn->target_session_attrs, PGW_TSA_ANY, "default tsa any");
	tap_is_int(dsn->connect_timeout, 0, "default connect_timeout");
	tap_is_int(dsn->nhosts, 1, "one default host");
	tap_is_str(dsn->hosts[0].host, SOCKDIR, "default host is socket dir");
	tap_ok(dsn->hosts[0].hostaddr == NULL, "no hostaddr");
	tap_is_int(dsn->hosts[0].port, 5432, "default port");
	tap_ok(dsn->hosts[0].is_unix, "default is a Unix socket");
	pgw_dsn_free(dsn);

	dsn = parse_finish("   \t\n ", errbuf);
	tap_ok(dsn != NULL && dsn->nhosts == 1, "whitespace-only string parses");
	pgw_dsn_free(dsn);

	dsn = pgw_dsn_parse(NULL, errbuf);
	tap_ok(dsn != NULL, "NULL string parses as empty");
	pgw_dsn_free(dsn);

	dsn = parse_finish("postgresql://", errbuf);
	if (tap_ok(dsn != NULL, "bare postgresql:// parses"))
	{
		tap_ok(dsn->values[PGW_DSN_HOST] == NULL, "no host set");
		tap_ok(dsn->nhosts == 1 && dsn->hosts[0].is_unix &&
			   strcmp(dsn->hosts[0].host, SOCKDIR) == 0,
			   "defaults to the socket dir");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("postgres://", errbuf);
	tap_ok(dsn != NULL, "bare postgres:// parses");
	pgw_dsn_free(dsn);
}

static void
test_kv(void)
{
	char		errbuf[PGW_ERRMSG_LEN] = "";
	pgw_dsn    *dsn;

	dsn = pgw_dsn_parse("host=db.example.com port=6543 dbname=app user=alice "
						"password=pw application_name=myapp", errbuf);
	if (tap_ok(dsn != NULL, "simple key=value parses (%s)", errbuf))
	{
		tap_is_str(dsn->values[PGW_DSN_HOST], "db.example.com", "host");
		tap_is_str(dsn->values[PGW_DSN_PORT], "6543", "port");
		tap_is_str(dsn->values[PGW_DSN_DBNAME], "app", "dbname");
		tap_is_str(dsn->values[PGW_DSN_USER], "alice", "user");
		tap_is_str(dsn->values[PGW_DSN_PASSWORD], "pw", "password");
		tap_is_str(dsn->values[PGW_DSN_APPLICATION_NAME], "myapp",
				   "application_name");
		tap_ok(dsn->values[PGW_DSN_SSLMODE] == NULL, "sslmode unset");
		tap_ok(pgw_dsn_finish(dsn, SOCKDIR, 5432, errbuf), "finishes");
		tap_is_int(dsn->nhosts, 1, "one host");
		tap_is_str(dsn->hosts[0].host, "db.example.com", "expanded host");
		tap_is_int(dsn->hosts[0].port, 6543, "expanded port");
		tap_ok(!dsn->hosts[0].is_unix, "TCP host");
	}
	pgw_dsn_free(dsn);

	dsn = pgw_dsn_parse("  host = h1\tport =5433 dbname= d\n user  =  u  ", errbuf);
	if (tap_ok(dsn != NULL, "spaces around = allowed (%s)", errbuf))
	{
		tap_is_str(dsn->values[PGW_DSN_HOST], "h1", "host with spaces");
		tap_is_str(dsn->values[PGW_DSN_PORT], "5433", "port with spaces");
		tap_is_str(dsn->values[PGW_DSN_DBNAME], "d", "dbname with spaces");
		tap_is_str(dsn->values[PGW_DSN_USER], "u", "user with spaces");
	}
	pgw_dsn_free(dsn);

	dsn = pgw_dsn_parse("user='a b' dbname='x\\'y\\\\z' "
						"options='-c search_path=s' password='' sslmode=require",
						errbuf);
	if (tap_ok(dsn != NULL, "quoted values parse (%s)", errbuf))
	{
		tap_is_str(dsn->values[PGW_DSN_USER], "a b", "quoted space");
		tap_is_str(dsn->values[PGW_DSN_DBNAME], "x'y\\z",
				   "escaped quote and backslash");
		tap_is_str(dsn->values[PGW_DSN_OPTIONS], "-c search_path=s",
				   "quoted value with '='");
		tap_is_str(dsn->values[PGW_DSN_PASSWORD], "", "empty quoted value");
		tap_is_str(dsn->values[PGW_DSN_SSLMODE], "require", "after quoted");
	}
	pgw_dsn_free(dsn);

	dsn = pgw_dsn_parse("dbname=a\\ b user=x\\\\y", errbuf);
	if (tap_ok(dsn != NULL, "backslash escapes in unquoted values (%s)", errbuf))
	{
		tap_is_str(dsn->values[PGW_DSN_DBNAME], "a b", "escaped space");
		tap_is_str(dsn->values[PGW_DSN_USER], "x\\y", "escaped backslash");
	}
	pgw_dsn_free(dsn);

	dsn = pgw_dsn_parse("host=a host=b port=1 port=2", errbuf);
	if (tap_ok(dsn != NULL, "duplicate keys parse"))
	{
		tap_is_str(dsn->values[PGW_DSN_HOST], "b", "last host wins");
		tap_is_str(dsn->values[PGW_DSN_PORT], "2", "last port wins");
	}
	pgw_dsn_free(dsn);

	dsn = pgw_dsn_parse("dbname=", errbuf);
	if (tap_ok(dsn != NULL, "empty value at end parses"))
		tap_is_str(dsn->values[PGW_DSN_DBNAME], "", "empty value");
	pgw_dsn_free(dsn);

	/* libpq skips whitespace after '=', so the next word is the value */
	dsn = pgw_dsn_parse("host= port=5", errbuf);
	if (tap_ok(dsn != NULL, "value after whitespace parses"))
	{
		tap_is_str(dsn->values[PGW_DSN_HOST], "port=5", "host= port=5");
		tap_ok(dsn->values[PGW_DSN_PORT] == NULL, "port not set");
	}
	pgw_dsn_free(dsn);

	dsn = pgw_dsn_parse("host='/tmp/my sock'", errbuf);
	if (tap_ok(dsn != NULL && pgw_dsn_finish(dsn, SOCKDIR, 5432, errbuf),
			   "quoted socket dir"))
	{
		tap_is_str(dsn->hosts[0].host, "/tmp/my sock", "socket dir value");
		tap_ok(dsn->hosts[0].is_unix, "socket dir is unix");
	}
	pgw_dsn_free(dsn);

	dsn = pgw_dsn_parse("host=@abstract", errbuf);
	if (tap_ok(dsn != NULL && pgw_dsn_finish(dsn, SOCKDIR, 5432, errbuf),
			   "abstract socket"))
		tap_ok(dsn->hosts[0].is_unix, "@ host is unix");
	pgw_dsn_free(dsn);

	/* a string not starting with the URI prefix is key=value */
	expect_parse_error("postgresq://host", "missing \"=\" after \"postgresq://host\" in connection info string");
}

static void
test_kv_errors(void)
{
	expect_parse_error("foo=bar", "invalid connection option \"foo\"");
	expect_parse_error("host=h foo = 'x y' port=1",
					   "invalid connection option \"foo\"");
	expect_parse_error("HOST=h", "invalid connection option \"HOST\"");
	expect_parse_error("host=h foo",
					   "missing \"=\" after \"foo\" in connection info string");
	expect_parse_error("foo bar=1",
					   "missing \"=\" after \"foo\" in connection info string");
	expect_parse_error("host", "missing \"=\" after \"host\" in connection info string");
	expect_parse_error("=x", "missing connection option name before \"=\" in connection info string");
	expect_parse_error("dbname='abc", "unterminated quoted string in connection info string");
	expect_parse_error("dbname='abc\\'", "unterminated quoted string in connection info string");
	expect_parse_error("dbname='a' user='", "unterminated quoted string in connection info string");
	/* a quoted value glued to the next word: that word is a key */
	expect_parse_error("dbname='a'b", "missing \"=\" after \"b\" in connection info string");
}

static void
test_uri(void)
{
	char		errbuf[PGW_ERRMSG_LEN] = "";
	pgw_dsn    *dsn;

	dsn = parse_finish("postgresql://alice:pw@db.example.com:6543/app"
					   "?sslmode=require&application_name=x", errbuf);
	if (tap_ok(dsn != NULL, "full URI (%s)", errbuf))
	{
		tap_is_str(dsn->values[PGW_DSN_USER], "alice", "URI user");
		tap_is_str(dsn->values[PGW_DSN_PASSWORD], "pw", "URI password");
		tap_is_str(dsn->values[PGW_DSN_HOST], "db.example.com", "URI host");
		tap_is_str(dsn->values[PGW_DSN_PORT], "6543", "URI port");
		tap_is_str(dsn->values[PGW_DSN_DBNAME], "app", "URI dbname");
		tap_is_str(dsn->values[PGW_DSN_APPLICATION_NAME], "x", "query param");
		tap_is_int(dsn->sslmode, PGW_SSL_REQUIRE, "sslmode from query");
		tap_is_int(dsn->hosts[0].port, 6543, "port expanded");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("postgres://u@h/d", errbuf);
	if (tap_ok(dsn != NULL, "postgres:// prefix (%s)", errbuf))
	{
		tap_is_str(dsn->values[PGW_DSN_USER], "u", "user without password");
		tap_ok(dsn->values[PGW_DSN_PASSWORD] == NULL, "no password");
		tap_ok(dsn->values[PGW_DSN_PORT] == NULL, "no port");
		tap_is_int(dsn->hosts[0].port, 5432, "default port");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("postgresql://a%20b:p%40ss%3Aw%2Fd@h%2Dx/d%2Fb%3F"
					   "?application_name=%41pp%26x&options=-c%20a%3Db", errbuf);
	if (tap_ok(dsn != NULL, "percent-decoding (%s)", errbuf))
	{
		tap_is_str(dsn->values[PGW_DSN_USER], "a b", "decoded user");
		tap_is_str(dsn->values[PGW_DSN_PASSWORD], "p@ss:w/d", "decoded password");
		tap_is_str(dsn->values[PGW_DSN_HOST], "h-x", "decoded host");
		tap_is_str(dsn->values[PGW_DSN_DBNAME], "d/b?", "decoded dbname");
		tap_is_str(dsn->values[PGW_DSN_APPLICATION_NAME], "App&x",
				   "decoded query value");
		tap_is_str(dsn->values[PGW_DSN_OPTIONS], "-c a=b", "decoded '='");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("postgresql://%2Fvar%2Frun%2Fpg/db", errbuf);
	if (tap_ok(dsn != NULL, "percent-encoded socket dir (%s)", errbuf))
	{
		tap_is_str(dsn->hosts[0].host, "/var/run/pg", "socket dir host");
		tap_ok(dsn->hosts[0].is_unix, "is unix");
		tap_is_str(dsn->values[PGW_DSN_DBNAME], "db", "dbname");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("postgresql:///db?host=/sock/dir&port=7777", errbuf);
	if (tap_ok(dsn != NULL, "?host=/dir (%s)", errbuf))
	{
		tap_is_str(dsn->values[PGW_DSN_DBNAME], "db", "dbname");
		tap_is_int(dsn->nhosts, 1, "one host");
		tap_is_str(dsn->hosts[0].host, "/sock/dir", "host from query");
		tap_ok(dsn->hosts[0].is_unix, "unix socket from query");
		tap_is_int(dsn->hosts[0].port, 7777, "port from query");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("postgresql://h1:1111/db?host=h2&dbname=other", errbuf);
	if (tap_ok(dsn != NULL, "query overrides authority (%s)", errbuf))
	{
		tap_is_str(dsn->values[PGW_DSN_HOST], "h2", "query host wins");
		tap_is_str(dsn->values[PGW_DSN_DBNAME], "other", "query dbname wins");
		tap_is_int(dsn->hosts[0].port, 1111, "authority port kept");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("postgresql://[::1]:5433/db", errbuf);
	if (tap_ok(dsn != NULL, "IPv6 literal (%s)", errbuf))
	{
		tap_is_str(dsn->values[PGW_DSN_HOST], "::1", "IPv6 host");
		tap_is_int(dsn->hosts[0].port, 5433, "IPv6 port");
		tap_ok(!dsn->hosts[0].is_unix, "IPv6 is TCP");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("postgresql://[fe80::1%25eth0]/db", errbuf);
	if (tap_ok(dsn != NULL, "IPv6 with zone (%s)", errbuf))
	{
		tap_is_str(dsn->values[PGW_DSN_HOST], "fe80::1%eth0", "zone decoded");
		tap_ok(dsn->values[PGW_DSN_PORT] == NULL, "no port");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("postgresql://[2001:db8::1],h2:6000,[::2]:6001/db", errbuf);
	if (tap_ok(dsn != NULL, "mixed host list (%s)", errbuf))
	{
		tap_is_str(dsn->values[PGW_DSN_HOST], "2001:db8::1,h2,::2", "host list");
		tap_is_str(dsn->values[PGW_DSN_PORT], ",6000,6001", "port list");
		tap_is_int(dsn->nhosts, 3, "three hosts");
		tap_is_str(dsn->hosts[0].host, "2001:db8::1", "host 0");
		tap_is_int(dsn->hosts[0].port, 5432, "host 0 default port");
		tap_is_str(dsn->hosts[1].host, "h2", "host 1");
		tap_is_int(dsn->hosts[1].port, 6000, "host 1 port");
		tap_is_str(dsn->hosts[2].host, "::2", "host 2");
		tap_is_int(dsn->hosts[2].port, 6001, "host 2 port");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("postgresql://:7000/db", errbuf);
	if (tap_ok(dsn != NULL, "port without host (%s)", errbuf))
	{
		tap_ok(dsn->values[PGW_DSN_HOST] == NULL, "host unset");
		tap_ok(dsn->hosts[0].is_unix, "default socket");
		tap_is_int(dsn->hosts[0].port, 7000, "given port");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("postgresql://,h2/db", errbuf);
	if (tap_ok(dsn != NULL, "empty first host (%s)", errbuf))
	{
		tap_is_int(dsn->nhosts, 2, "two hosts");
		tap_is_str(dsn->hosts[0].host, SOCKDIR, "empty entry is default");
		tap_ok(dsn->hosts[0].is_unix, "default entry is unix");
		tap_is_str(dsn->hosts[1].host, "h2", "second host");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("postgresql://:pw@h", errbuf);
	if (tap_ok(dsn != NULL, "password without user (%s)", errbuf))
	{
		tap_ok(dsn->values[PGW_DSN_USER] == NULL, "no user");
		tap_is_str(dsn->values[PGW_DSN_PASSWORD], "pw", "password");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("postgresql://u:@h?", errbuf);
	if (tap_ok(dsn != NULL, "empty password, empty query (%s)", errbuf))
	{
		tap_is_str(dsn->values[PGW_DSN_USER], "u", "user");
		tap_ok(dsn->values[PGW_DSN_PASSWORD] == NULL, "empty password unset");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("postgresql://h?ssl=true&&application_name=a@b&", errbuf);
	if (tap_ok(dsn != NULL, "ssl=true, '@' in the query (%s)", errbuf))
	{
		tap_is_int(dsn->sslmode, PGW_SSL_REQUIRE, "ssl=true means require");
		tap_is_str(dsn->values[PGW_DSN_HOST], "h", "host");
		tap_is_str(dsn->values[PGW_DSN_APPLICATION_NAME], "a@b", "'@' in value");
		tap_ok(dsn->values[PGW_DSN_USER] == NULL, "no user");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("postgresql://h/?dbname=x&user=y&password=z", errbuf);
	if (tap_ok(dsn != NULL, "empty path, query values (%s)", errbuf))
	{
		tap_is_str(dsn->values[PGW_DSN_DBNAME], "x", "dbname from query");
		tap_is_str(dsn->values[PGW_DSN_USER], "y", "user from query");
		tap_is_str(dsn->values[PGW_DSN_PASSWORD], "z", "password from query");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("postgresql://h?hostaddr=10.0.0.1", errbuf);
	if (tap_ok(dsn != NULL, "hostaddr in query (%s)", errbuf))
	{
		tap_is_str(dsn->hosts[0].host, "h", "host kept");
		tap_is_str(dsn->hosts[0].hostaddr, "10.0.0.1", "hostaddr");
	}
	pgw_dsn_free(dsn);
}

static void
test_uri_errors(void)
{
	expect_parse_error("postgresql://h/db?foo=1", "invalid connection option \"foo\"");
	expect_parse_error("postgresql://h/db?sslmode=require&bogus_key=1",
					   "invalid connection option \"bogus_key\"");
	expect_parse_error("postgresql://h/db?ssl=false", "invalid connection option \"ssl\"");
	expect_parse_error("postgresql://h/db%zz",
					   "invalid percent-encoded token in database name of connection URI");
	expect_parse_error("postgresql://h/db%2",
					   "invalid percent-encoded token in database name of connection URI");
	expect_parse_error("postgresql://h/db%",
					   "invalid percent-encoded token in database name of connection URI");
	expect_parse_error("postgresql://h/db%00x",
					   "forbidden value %00 in database name of connection URI");
	expect_parse_error("postgresql://us%zzer@h/db",
					   "invalid percent-encoded token in user name of connection URI");
	expect_parse_error("postgresql://u:p%zz@h/db",
					   "invalid percent-encoded token in password of connection URI");
	expect_parse_error("postgresql://u:p%00@h/db",
					   "forbidden value %00 in password of connection URI");
	expect_parse_error("postgresql://h%g1/db",
					   "invalid percent-encoded token in host of connection URI");
	expect_parse_error("postgresql://h/db?application_name=%zz",
					   "invalid percent-encoded token in query parameter value of connection URI");
	expect_parse_error("postgresql://h/db?%zz=1",
					   "invalid percent-encoded token in query parameter key of connection URI");
	expect_parse_error("postgresql://[::1/db",
					   "missing \"]\" after IPv6 host address in connection URI");
	expect_parse_error("postgresql://[]/db",
					   "IPv6 host address may not be empty in connection URI");
	expect_parse_error("postgresql://[::1]x/db",
					   "unexpected character \"x\" after host in connection URI (expected \":\", \",\", \"/\" or \"?\")");
	expect_parse_error("postgresql://h:abc/db", "invalid port number in connection URI");
	expect_parse_error("postgresql://h:0/db", "invalid port number in connection URI");
	expect_parse_error("postgresql://h:65536/db", "invalid port number in connection URI");
	expect_parse_error("postgresql://h/db?sslmode",
					   "missing key/value separator \"=\" in connection URI query parameter");
	expect_parse_error("postgresql://h/db?sslmode=a=b",
					   "extra key/value separator \"=\" in connection URI query parameter \"sslmode\"");
	expect_finish_error("postgresql://h/db?sslmode=bogus", "invalid sslmode value: \"bogus\"");
	expect_finish_error("postgresql://h/db?port=x", "invalid port number: \"x\"");
}

static void
test_hosts(void)
{
	char		errbuf[PGW_ERRMSG_LEN] = "";
	pgw_dsn    *dsn;

	dsn = parse_finish("host=a,b,c port=1,2,3", errbuf);
	if (tap_ok(dsn != NULL, "three hosts, three ports (%s)", errbuf))
	{
		tap_is_int(dsn->nhosts, 3, "three hosts");
		tap_is_str(dsn->hosts[2].host, "c", "third host");
		tap_is_int(dsn->hosts[0].port, 1, "port 1");
		tap_is_int(dsn->hosts[1].port, 2, "port 2");
		tap_is_int(dsn->hosts[2].port, 3, "port 3");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("host=a,b port=6000", errbuf);
	if (tap_ok(dsn != NULL, "one port for all (%s)", errbuf))
	{
		tap_is_int(dsn->nhosts, 2, "two hosts");
		tap_is_int(dsn->hosts[0].port, 6000, "shared port 0");
		tap_is_int(dsn->hosts[1].port, 6000, "shared port 1");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("host=a,,/s port=,7,", errbuf);
	if (tap_ok(dsn != NULL, "empty list entries (%s)", errbuf))
	{
		tap_is_int(dsn->nhosts, 3, "three hosts");
		tap_is_str(dsn->hosts[0].host, "a", "host a");
		tap_is_int(dsn->hosts[0].port, 5432, "empty port default");
		tap_is_str(dsn->hosts[1].host, SOCKDIR, "empty host default");
		tap_ok(dsn->hosts[1].is_unix, "empty host unix");
		tap_is_int(dsn->hosts[1].port, 7, "port 7");
		tap_is_str(dsn->hosts[2].host, "/s", "socket host");
		tap_ok(dsn->hosts[2].is_unix, "socket host unix");
		tap_ok(!dsn->hosts[0].is_unix, "host a is TCP");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("hostaddr=127.0.0.1,::1", errbuf);
	if (tap_ok(dsn != NULL, "hostaddr only (%s)", errbuf))
	{
		tap_is_int(dsn->nhosts, 2, "two hosts from hostaddr");
		tap_ok(dsn->hosts[0].host == NULL, "no host name");
		tap_is_str(dsn->hosts[0].hostaddr, "127.0.0.1", "hostaddr 0");
		tap_is_str(dsn->hosts[1].hostaddr, "::1", "hostaddr 1");
		tap_ok(!dsn->hosts[0].is_unix && !dsn->hosts[1].is_unix, "TCP");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("host=x.example,y.example hostaddr=10.1.1.1,", errbuf);
	if (tap_ok(dsn != NULL, "host and hostaddr lists (%s)", errbuf))
	{
		tap_is_int(dsn->nhosts, 2, "two hosts");
		tap_is_str(dsn->hosts[0].host, "x.example", "host name kept");
		tap_is_str(dsn->hosts[0].hostaddr, "10.1.1.1", "address");
		tap_ok(dsn->hosts[1].hostaddr == NULL, "empty hostaddr entry");
		tap_is_str(dsn->hosts[1].host, "y.example", "second host");
	}
	pgw_dsn_free(dsn);

	dsn = parse_finish("host=/sock hostaddr=10.0.0.2", errbuf);
	if (tap_ok(dsn != NULL, "socket host with hostaddr (%s)", errbuf))
		tap_ok(!dsn->hosts[0].is_unix, "hostaddr wins over socket dir");
	pgw_dsn_free(dsn);

	/* finishing twice rebuilds the list */
	dsn = pgw_dsn_parse("host=a,b", errbuf);
	if (tap_ok(dsn != NULL && pgw_dsn_finish(dsn, SOCKDIR, 1, errbuf),
			   "first finish"))
	{
		tap_ok(pgw_dsn_set(dsn, "host", "c", errbuf), "set host");
		tap_ok(pgw_dsn_finish(dsn, "/other", 2, errbuf), "second finish");
		tap_is_int(dsn->nhosts, 1, "rebuilt list");
		tap_is_str(dsn->hosts[0].host, "c", "new host");
		tap_is_int(dsn->hosts[0].port, 2, "new default port");
	}
	pgw_dsn_free(dsn);

	/* NULL default socket dir still gives a Unix socket */
	dsn = pgw_dsn_parse("", errbuf);
	if (tap_ok(dsn != NULL && pgw_dsn_finish(dsn, NULL, 5432, errbuf),
			   "NULL socket dir"))
		tap_ok(dsn->hosts[0].is_unix && dsn->hosts[0].host != NULL &&
			   dsn->hosts[0].host[0] == '/', "falls back to a directory");
	pgw_dsn_free(dsn);

	expect_finish_error("host=a,b port=1,2,3", "could not match 3 port numbers to 2 hosts");
	expect_finish_error("port=1,2", "could not match 2 port numbers to 1 hosts");
	expect_finish_error("host=a,b hostaddr=1.2.3.4",
						"could not match 2 host names to 1 hostaddr values");
	expect_finish_error("host=a,b port=1,x", "invalid port number: \"x\"");
	expect_finish_error("port=0", "invalid port number: \"0\"");
	expect_finish_error("port=65536", "invalid port number: \"65536\"");
	expect_finish_error("port=-1", "invalid port number: \"-1\"");
	expect_finish_error("port=' 5432'", "invalid port number: \" 5432\"");
	expect_finish_error("port=99999999999", "invalid port number: \"99999999999\"");

	dsn = parse_finish("port=65535", errbuf);
	tap_ok(dsn != NULL && dsn->hosts[0].port == 65535, "port 65535 allowed");
	pgw_dsn_free(dsn);
}

static void
test_values(void)
{
	static const char *const good_addrs[] = {
		"0.0.0.0", "255.255.255.255", "192.168.1.10", "::", "::1",
		"1::", "2001:db8::8a2e:370:7334", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6::",
		"::ffff:192.0.2.1", "1:2:3:4:5:6:1.2.3.4", "fe80::1%eth0",
		"FE80::ABCD", "1::2:3", "1:2:3:4:5:6:7::"
	};
	static const char *const bad_addrs[] = {
		"localhost", "256.1.1.1", "1.2.3", "1.2.3.4.5", "1..2.3", "01.2.3.4",
		"1.2.3.4 ", "1.2.3.", "::1::", ":1", "1:", "1:::2", "12345::",
		"1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "::g", "fe80::1%", "1.2.3.4%e",
		"::1.2.3", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3.4:5",
		"1:2:3:4::5:6:7:8", "1:2:3:4:5:6::1.2.3.4"
	};
	static const struct
	{
		const char *s;
		int			mode;
	}			modes[] = {
		{"disable", PGW_SSL_DISABLE}, {"allow", PGW_SSL_ALLOW},
		{"prefer", PGW_SSL_PREFER}, {"require", PGW_SSL_REQUIRE},
		{"verify-ca", PGW_SSL_VERIFY_CA}, {"verify-full", PGW_SSL_VERIFY_FULL}
	};
	static const struct
	{
		const char *s;
		int			tsa;
	}			tsas[] = {
		{"any", PGW_TSA_ANY}, {"read-write", PGW_TSA_READ_WRITE},
		{"read-only", PGW_TSA_READ_ONLY}, {"primary", PGW_TSA_PRIMARY},
		{"standby", PGW_TSA_STANDBY}, {"prefer-standby", PGW_TSA_PREFER_STANDBY}
	};
	char		errbuf[PGW_ERRMSG_LEN] = "";
	char		conn[256];
	char		want[PGW_ERRMSG_LEN];
	pgw_dsn    *dsn;
	size_t		i;

	for (i = 0; i < sizeof(good_addrs) / sizeof(good_addrs[0]); i++)
	{
		snprintf(conn, sizeof(conn), "hostaddr='%s'", good_addrs[i]);
		dsn = parse_finish(conn, errbuf);
		tap_ok(dsn != NULL && strcmp(dsn->hosts[0].hostaddr, good_addrs[i]) == 0,
			   "valid hostaddr %s", good_addrs[i]);
		pgw_dsn_free(dsn);
	}
	for (i = 0; i < sizeof(bad_addrs) / sizeof(bad_addrs[0]); i++)
	{
		snprintf(conn, sizeof(conn), "hostaddr='%s'", bad_addrs[i]);
		snprintf(want, sizeof(want), "could not parse network address \"%s\"",
				 bad_addrs[i]);
		expect_finish_error(conn, want);
	}

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
	{
		snprintf(conn, sizeof(conn), "sslmode=%s", modes[i].s);
		dsn = parse_finish(conn, errbuf);
		tap_ok(dsn != NULL && (int) dsn->sslmode == modes[i].mode,
			   "sslmode %s", modes[i].s);
		pgw_dsn_free(dsn);
	}
	expect_finish_error("sslmode=Require", "invalid sslmode value: \"Require\"");
	expect_finish_error("sslmode=verify_full", "invalid sslmode value: \"verify_full\"");

	for (i = 0; i < sizeof(tsas) / sizeof(tsas[0]); i++)
	{
		snprintf(conn, sizeof(conn), "target_session_attrs=%s", tsas[i].s);
		dsn = parse_finish(conn, errbuf);
		tap_ok(dsn != NULL && (int) dsn->target_session_attrs == tsas[i].tsa,
			   "target_session_attrs %s", tsas[i].s);
		pgw_dsn_free(dsn);
	}
	expect_finish_error("target_session_attrs=master",
						"invalid target_session_attrs value: \"master\"");

	dsn = parse_finish("channel_binding=disable", errbuf);
	tap_ok(dsn != NULL && dsn->channel_binding == PGW_CB_DISABLE, "cb disable");
	pgw_dsn_free(dsn);
	dsn = parse_finish("channel_binding=require", errbuf);
	tap_ok(dsn != NULL && dsn->channel_binding == PGW_CB_REQUIRE, "cb require");
	pgw_dsn_free(dsn);
	dsn = parse_finish("channel_binding=prefer", errbuf);
	tap_ok(dsn != NULL && dsn->channel_binding == PGW_CB_PREFER, "cb prefer");
	pgw_dsn_free(dsn);
	expect_finish_error("channel_binding=yes", "invalid channel_binding value: \"yes\"");

	dsn = parse_finish("connect_timeout=10", errbuf);
	tap_ok(dsn != NULL && dsn->connect_timeout == 10, "connect_timeout 10");
	pgw_dsn_free(dsn);
	dsn = parse_finish("connect_timeout=0", errbuf);
	tap_ok(dsn != NULL && dsn->connect_timeout == 0, "connect_timeout 0");
	pgw_dsn_free(dsn);
	expect_finish_error("connect_timeout=-1",
						"invalid integer value \"-1\" for connection option \"connect_timeout\"");
	expect_finish_error("connect_timeout=10s",
						"invalid integer value \"10s\" for connection option \"connect_timeout\"");
	expect_finish_error("connect_timeout=99999999999",
						"invalid integer value \"99999999999\" for connection option \"connect_timeout\"");

	dsn = parse_finish("sslsni=0", errbuf);
	tap_ok(dsn != NULL, "sslsni 0");
	pgw_dsn_free(dsn);
	dsn = parse_finish("sslsni=1", errbuf);
	tap_ok(dsn != NULL, "sslsni 1");
	pgw_dsn_free(dsn);
	expect_finish_error("sslsni=yes", "invalid sslsni value: \"yes\"");

	dsn = parse_finish("ssl_min_protocol_version=TLSv1.2 "
					   "ssl_max_protocol_version=TLSv1.3", errbuf);
	tap_ok(dsn != NULL, "TLS version range (%s)", errbuf);
	pgw_dsn_free(dsn);
	dsn = parse_finish("ssl_min_protocol_version=TLSv1", errbuf);
	tap_ok(dsn != NULL, "TLSv1 is a valid name");
	pgw_dsn_free(dsn);
	expect_finish_error("ssl_min_protocol_version=TLSv1.4",
						"invalid ssl_min_protocol_version value: \"TLSv1.4\"");
	expect_finish_error("ssl_max_protocol_version=tlsv1.3",
						"invalid ssl_max_protocol_version value: \"tlsv1.3\"");
	expect_finish_error("ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2",
						"invalid SSL protocol version range");

	/* empty values mean the defaults */
	dsn = parse_finish("sslmode='' port='' host='' connect_timeout=''", errbuf);
	if (tap_ok(dsn != NULL, "empty values are defaults (%s)", errbuf))
	{
		tap_is_int(dsn->sslmode, PGW_SSL_PREFER, "empty sslmode");
		tap_is_int(dsn->hosts[0].port, 5432, "empty port");
		tap_ok(dsn->hosts[0].is_unix, "empty host");
	}
	pgw_dsn_free(dsn);
}

static void
test_secrets(void)
{
	expect_no_secret("password=secret123 foo=bar");
	expect_no_secret("password=secret123 foo");
	expect_no_secret("password='secret123");
	expect_no_secret("password=secret123 sslpassword=secret123 sslmode=bad");
	expect_no_secret("sslpassword=secret123 port=x");
	expect_no_secret("password=my secret123");
	expect_no_secret("password='my' secret123");
	expect_no_secret("password='it''secret123'");
	expect_no_secret("sslpassword='x'secret123=1");
	expect_no_secret("password='x'secret123 = 1");
	expect_parse_error("password=my secret123",
					   "missing \"=\" after the value of \"password\" in connection info string");
	expect_parse_error("sslpassword='x'secret123=1",
					   "invalid connection option after the value of \"sslpassword\"");
	expect_parse_error("password=secret123 foo=bar",
					   "invalid connection option \"foo\"");
	expect_parse_error("password=secret123 dbname=x foo",
					   "missing \"=\" after \"foo\" in connection info string");
	expect_no_secret("postgresql://u:secret123@h/db?foo=1");
	expect_no_secret("postgresql://u:secret123@h/db%zz");
	expect_no_secret("postgresql://u:secret123%zz@h/db");
	expect_no_secret("postgresql://u:secret123%00@h/db");
	expect_no_secret("postgresql://u:secret123@h:bad/db");
	expect_no_secret("postgresql://h/db?password=secret123&bogus=1");
	expect_no_secret("postgresql://h/db?password=secret123%zz");
	expect_no_secret("postgresql://h/db?password=secret123=x");
	expect_no_secret("postgresql://h/db?sslpassword=secret123&sslmode=x");
	/* unencoded delimiters in a password must not leak either */
	expect_no_secret("postgresql://u:se/cret123@h/db");
	expect_no_secret("postgresql://u:sec?ret123@h/db");
	expect_no_secret("postgresql://u:se@cret123@h/db");
	expect_no_secret("postgresql://u:secret123]@[h/db");
}

static void
test_set(void)
{
	char		errbuf[PGW_ERRMSG_LEN] = "";
	pgw_dsn    *dsn = pgw_dsn_new();
	char		value[16];

	if (!tap_ok(dsn != NULL, "pgw_dsn_new"))
		return;
	tap_is_int(dsn->sslmode, PGW_SSL_PREFER, "new: sslmode prefer");
	tap_is_int(dsn->channel_binding, PGW_CB_PREFER, "new: cb prefer");
	strcpy(value, "h1");
	tap_ok(pgw_dsn_set(dsn, "host", value, errbuf), "set host");
	strcpy(value, "XX");
	tap_is_str(dsn->values[PGW_DSN_HOST], "h1", "set copies the value");
	tap_ok(pgw_dsn_set(dsn, "host", "h2", errbuf), "set again");
	tap_is_str(dsn->values[PGW_DSN_HOST], "h2", "replaced");
	tap_ok(pgw_dsn_set(dsn, "host", NULL, errbuf), "unset");
	tap_ok(dsn->values[PGW_DSN_HOST] == NULL, "NULL unsets");
	tap_ok(!pgw_dsn_set(dsn, "nosuch", "x", errbuf), "unknown key fails");
	tap_is_str(errbuf, "invalid connection option \"nosuch\"", "names the key");
	tap_ok(pgw_dsn_set(dsn, "password", "pw", errbuf), "set password");
	tap_ok(pgw_dsn_finish(dsn, SOCKDIR, 5432, errbuf), "finish after set");
	pgw_dsn_free(dsn);
	pgw_dsn_free(NULL);
	tap_ok(1, "free(NULL) is harmless");
}

static void
test_passfile_lookup(const char *file, const char *host, int port,
					 const char *db, const char *user, const char *want,
					 const char *what)
{
	char	   *got = pgw_passfile_lookup(file, strlen(file), host,
										  (uint16_t) port, db, user);

	tap_is_str(got, want, "passfile: %s", what);
	pgw_free(got);
}

static void
test_passfile(void)
{
	const char *f1 =
		"# comment line: h:5432:d:u:commented\n"
		"\n"
		"db1:5432:app:alice:pw1\n"
		"db1:*:*:bob:pw2\n"
		"*:5433:*:*:pw3\n"
		"we\\:ird:5432:d\\\\b:u\\:x:p\\:a\\\\ss\n"
		"short:5432:app\n"
		"localhost:5432:app:carol:pw4\n"
		"/var/run/x:5432:app:dave:pw5\n"
		"db1:5432:app:alice:second\n"
		"db9:5432:app:eve:pw6:extra:fields\n"
		"*:*:*:*:fallback";
	const char *crlf = "h:5432:d:u:pwcr\r\nh2:5432:d:u:pwlast\r\n";
	const char *noeol = "a:1:b:c:x\nh:5432:d:u:tail";
	char		nul[] = "h:5432:d:u:before\0x\nh2:5432:d:u:after";

	test_passfile_lookup(f1, "db1", 5432, "app", "alice", "pw1", "exact match");
	test_passfile_lookup(f1, "db1", 9999, "other", "bob", "pw2", "wildcards");
	test_passfile_lookup(f1, "db1", 5432, "app", "bob", "pw2",
						 "first matching line wins");
	test_passfile_lookup(f1, "anything", 5433, "x", "y", "pw3", "wildcard host");
	test_passfile_lookup(f1, "we:ird", 5432, "d\\b", "u:x", "p:a\\ss",
						 "escaped ':' and '\\'");
	test_passfile_lookup(f1, "we\\:ird", 5432, "d\\b", "u:x", "fallback",
						 "escape is not literal");
	test_passfile_lookup(f1, "short", 5432, "app", "zed", "fallback",
						 "short line skipped");
	test_passfile_lookup(f1, "h", 5432, "d", "u", "fallback",
						 "comment line ignored");
	test_passfile_lookup(f1, NULL, 5432, "app", "carol", "pw4",
						 "NULL host is localhost");
	test_passfile_lookup(f1, "", 5432, "app", "carol", "pw4",
						 "empty host is localhost");
	test_passfile_lookup(f1, "/tmp", 5432, "app", "carol", "pw4",
						 "socket dir matches localhost");
	test_passfile_lookup(f1, "/var/run/x", 5432, "app", "dave", "pw5",
						 "socket dir matches literally");
	test_passfile_lookup(f1, "/var/run/x", 5432, "app", "carol", "pw4",
						 "socket dir also matches localhost");
	test_passfile_lookup(f1, "localhost", 5432, "app", "dave", "fallback",
						 "localhost does not match a socket dir line");
	test_passfile_lookup(f1, "db9", 5432, "app", "eve", "pw6",
						 "password ends at an unescaped ':'");
	test_passfile_lookup(f1, "db1", 5432, "ap", "alice", "fallback",
						 "prefix does not match");
	test_passfile_lookup(f1, "db1", 5432, "appx", "alice", "fallback",
						 "longer value does not match");

	test_passfile_lookup("x:5432:d:u:pw\n", "y", 5432, "d", "u", NULL,
						 "no match returns NULL");
	test_passfile_lookup("", "y", 5432, "d", "u", NULL, "empty file");
	test_passfile_lookup("#*:*:*:*:c\n", "y", 5432, "d", "u", NULL,
						 "only a comment");
	test_passfile_lookup("h:5432:d:u\n", "h", 5432, "d", "u", NULL,
						 "four fields is too few");
	test_passfile_lookup("h:5432:d:u:\n", "h", 5432, "d", "u", "",
						 "empty password");
	test_passfile_lookup("**:5432:d:u:p\n*:5432:d:u:q\n", "h", 5432, "d", "u",
						 "q", "only a lone '*' is a wildcard");
	test_passfile_lookup("\\*:5432:d:u:p\n", "*", 5432, "d", "u", "p",
						 "escaped '*' is literal");
	test_passfile_lookup("\\*:5432:d:u:p\n", "h", 5432, "d", "u", NULL,
						 "escaped '*' is not a wildcard");
	test_passfile_lookup("h:05432:d:u:p\n", "h", 5432, "d", "u", NULL,
						 "port compared as text");
	test_passfile_lookup("h:5432:d:u:p\\", "h", 5432, "d", "u", "p\\",
						 "trailing backslash kept");
	test_passfile_lookup(crlf, "h", 5432, "d", "u", "pwcr", "CRLF line end");
	test_passfile_lookup(crlf, "h2", 5432, "d", "u", "pwlast", "CRLF last line");
	test_passfile_lookup(noeol, "h", 5432, "d", "u", "tail",
						 "missing final newline");
	test_passfile_lookup("h:5432:d:u:p\r", "h", 5432, "d", "u", "p",
						 "lone CR at end of file");

	{
		char	   *got = pgw_passfile_lookup(nul, sizeof(nul) - 1, "h2", 5432,
											  "d", "u");

		tap_is_str(got, "after", "passfile: length-bounded, NUL inside");
		pgw_free(got);
		got = pgw_passfile_lookup(noeol, 10, "h", 5432, "d", "u");
		tap_ok(got == NULL, "passfile: len limits the contents");
		pgw_free(got);
	}
}

int
main(void)
{
	test_keys();
	test_empty();
	test_kv();
	test_kv_errors();
	test_uri();
	test_uri_errors();
	test_hosts();
	test_values();
	test_secrets();
	test_set();
	test_passfile();
	return tap_done();
}
