/*-------------------------------------------------------------------------
 *
 * pgw_dsn.c
 *	  Connection strings: parsing of libpq's URI and key=value forms,
 *	  validation of the settings, expansion of the host/hostaddr/port lists
 *	  into a list of hosts to try, and password-file lookup.
 *
 * The meanings follow libpq.  One rule is stricter: no error message ever
 * quotes a password or sslpassword value, nor any part of a URI that could
 * hold one (the user-info part of a URI may be misread as a host and port
 * when the password contains unencoded delimiters, so ports and bad escapes
 * of URIs are reported without quoting them).
 *
 *-------------------------------------------------------------------------
 */
#include "pgw_dsn.h"
#include "pgw_auth.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#define PGW_DEFAULT_SOCKET_DIR "/tmp"

static const char *const pgw_dsn_key_names[PGW_DSN_NKEYS] = {
	"host",
	"hostaddr",
	"port",
	"dbname",
	"user",
	"password",
	"passfile",
	"connect_timeout",
	"application_name",
	"fallback_application_name",
	"options",
	"sslmode",
	"sslrootcert",
	"sslcert",
	"sslkey",
	"sslpassword",
	"sslcrl",
	"sslcrldir",
	"sslsni",
	"ssl_min_protocol_version",
	"ssl_max_protocol_version",
	"target_session_attrs",
	"channel_binding"
};

static const char *const pgw_sslmode_names[] = {
	"disable",
	"allow",
	"prefer",
	"require",
	"verify-ca",
	"verify-full"
};

static const char *const pgw_tsa_names[] = {
	"any",
	"read-write",
	"read-only",
	"primary",
	"standby",
	"prefer-standby"
};

static const char *const pgw_cb_names[] = {
	"disable",
	"prefer",
	"require"
};

/* In order, so that the index compares versions. */
static const char *const pgw_tls_version_names[] = {
	"TLSv1",
	"TLSv1.1",
	"TLSv1.2",
	"TLSv1.3"
};

#define lengthof(array) (sizeof(array) / sizeof((array)[0]))

/* A growable string, used to join the hosts and ports of a URI. */
typedef struct pgw_strbuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} pgw_strbuf;

static bool strbuf_append(pgw_strbuf *sb, const char *s, size_t n);
static bool is_space(char c);
static bool is_digit(char c);
static int	hex_value(char c);
static bool dsn_store(pgw_dsn *dsn, int key, const char *value, size_t len,
					  char *errbuf);
static bool uri_decode(const char *s, size_t len, const char *what,
					   char **out, char *errbuf);
static bool parse_uri(pgw_dsn *dsn, const char *uri, size_t prefixlen,
					  char *errbuf);
static bool parse_uri_query(pgw_dsn *dsn, const char *p, char *errbuf);
static bool parse_kv(pgw_dsn *dsn, const char *str, char *errbuf);
static int	lookup_name(const char *const *names, int n, const char *value);
static bool parse_port(const char *s, size_t len, uint16_t *port);
static bool parse_ipv4(const char *s, const char *end);
static bool parse_ipv6(const char *s);
static bool valid_hostaddr(const char *s);
static int	list_count(const char *s);
static bool list_split(const char *s, char ***items, int *n);
static void list_free(char **items, int n);
static void free_hosts(pgw_dsn *dsn);
static bool expand_hosts(pgw_dsn *dsn, const char *default_socket_dir,
						 uint16_t default_port, char *errbuf);
static bool passfile_field_eq(const char *p, const char *end,
							  const char *want);
static int	passfile_field(const char **pp, const char *end,
						   const char *want, const char *alt);


/* ----------------------------------------------------------------
 * Small helpers
 * ----------------------------------------------------------------
 */

static bool
strbuf_append(pgw_strbuf *sb, const char *s, size_t n)
{
	if (sb->len + n + 1 > sb->cap)
	{
		size_t		newcap = sb->cap ? sb->cap : 64;
		char	   *newdata;

		while (newcap < sb->len + n + 1)
			newcap *= 2;
		newdata = pgw_realloc(sb->data, newcap);
		if (newdata == NULL)
			return false;
		sb->data = newdata;
		sb->cap = newcap;
	}
	memcpy(sb->data + sb->len, s, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
	return true;
}

/* Locale-independent character classes. */
static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\f' || c == '\v';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
lookup_name(const char *const *names, int n, const char *value)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		if (strcmp(names[i], value) == 0)
			return i;
	}
	return -1;
}


/* ----------------------------------------------------------------
 * Keys and values
 * ----------------------------------------------------------------
 */

int
pgw_dsn_key_lookup(const char *name)
{
	if (name == NULL)
		return -1;
	return lookup_name(pgw_dsn_key_names, PGW_DSN_NKEYS, name);
}

const char *
pgw_dsn_key_name(pgw_dsn_key key)
{
	if ((int) key < 0 || key >= PGW_DSN_NKEYS)
		return NULL;
	return pgw_dsn_key_names[key];
}

bool
pgw_dsn_key_is_secret(pgw_dsn_key key)
{
	return key == PGW_DSN_PASSWORD || key == PGW_DSN_SSLPASSWORD;
}

const char *
pgw_sslmode_name(pgw_sslmode mode)
{
	if ((int) mode < 0 || (size_t) mode >= lengthof(pgw_sslmode_names))
		return NULL;
	return pgw_sslmode_names[mode];
}

pgw_dsn *
pgw_dsn_new(void)
{
	pgw_dsn    *dsn = pgw_malloc(sizeof(pgw_dsn));

	if (dsn == NULL)
		return NULL;
	memset(dsn, 0, sizeof(pgw_dsn));
	dsn->hosts = NULL;
	dsn->nhosts = 0;
	dsn->sslmode = PGW_SSL_PREFER;
	dsn->target_session_attrs = PGW_TSA_ANY;
	dsn->channel_binding = PGW_CB_PREFER;
	dsn->connect_timeout = 0;
	return dsn;
}

static void
free_hosts(pgw_dsn *dsn)
{
	int			i;

	for (i = 0; i < dsn->nhosts; i++)
	{
		pgw_free(dsn->hosts[i].host);
		pgw_free(dsn->hosts[i].hostaddr);
	}
	pgw_free(dsn->hosts);
	dsn->hosts = NULL;
	dsn->nhosts = 0;
}

void
pgw_dsn_free(pgw_dsn *dsn)
{
	int			i;

	if (dsn == NULL)
		return;
	for (i = 0; i < PGW_DSN_NKEYS; i++)
	{
		if (dsn->values[i] != NULL && pgw_dsn_key_is_secret((pgw_dsn_key) i))
			memset(dsn->values[i], 0, strlen(dsn->values[i]));
		pgw_free(dsn->values[i]);
	}
	free_hosts(dsn);
	pgw_free(dsn);
}

/* Replace the value of a key by a copy of len bytes of value. */
static bool
dsn_store(pgw_dsn *dsn, int key, const char *value, size_t len, char *errbuf)
{
	char	   *copy = NULL;

	if (value != NULL)
	{
		copy = pgw_strndup(value, len);
		if (copy == NULL)
		{
			pgw_seterr(errbuf, "out of memory");
			return false;
		}
	}
	if (dsn->values[key] != NULL && pgw_dsn_key_is_secret((pgw_dsn_key) key))
		memset(dsn->values[key], 0, strlen(dsn->values[key]));
	pgw_free(dsn->values[key]);
	dsn->values[key] = copy;
	return true;
}

bool
pgw_dsn_set(pgw_dsn *dsn, const char *key, const char *value, char *errbuf)
{
	int			k = pgw_dsn_key_lookup(key);

	if (k < 0)
	{
		pgw_seterr(errbuf, "invalid connection option \"%s\"",
				   key ? key : "");
		return false;
	}
	return dsn_store(dsn, k, value, value ? strlen(value) : 0, errbuf);
}


/* ----------------------------------------------------------------
 * URI form
 * ----------------------------------------------------------------
 */

/*
 * Percent-decode len bytes of s into a new string.  "what" names the URI
 * component in error messages; the token itself is never quoted, since it
 * may be part of a password.
 */
static bool
uri_decode(const char *s, size_t len, const char *what, char **out,
		   char *errbuf)
{
	char	   *buf = pgw_malloc(len + 1);
	size_t		i;
	size_t		o = 0;

	*out = NULL;
	if (buf == NULL)
	{
		pgw_seterr(errbuf, "out of memory");
		return false;
	}
	for (i = 0; i < len; i++)
	{
		if (s[i] == '%')
		{
			int			hi = (i + 1 < len) ? hex_value(s[i + 1]) : -1;
			int			lo = (i + 2 < len) ? hex_value(s[i + 2]) : -1;

			if (hi < 0 || lo < 0)
			{
				pgw_seterr(errbuf, "invalid percent-encoded token in %s of connection URI",
						   what);
				memset(buf, 0, len + 1);
				pgw_free(buf);
				return false;
			}
			if (hi == 0 && lo == 0)
			{
				pgw_seterr(errbuf, "forbidden value %%00 in %s of connection URI",
						   what);
				memset(buf, 0, len + 1);
				pgw_free(buf);
				return false;
			}
			buf[o++] = (char) (hi * 16 + lo);
			i += 2;
		}
		else
			buf[o++] = s[i];
	}
	buf[o] = '\0';
	*out = buf;
	return true;
}

/*
 * Parse postgres[ql]://[user[:password]@][host[:port][,...]][/dbname][?k=v&...]
 */
static bool
parse_uri(pgw_dsn *dsn, const char *uri, size_t prefixlen, char *errbuf)
{
	const char *p = uri + prefixlen;
	const char *q;
	pgw_strbuf	hosts = {NULL, 0, 0};
	pgw_strbuf	ports = {NULL, 0, 0};
	bool		any_port = false;
	bool		first = true;
	bool		ok = false;
	char	   *tmp = NULL;

	/*
	 * User info: everything before an '@' that comes before the first '/'
	 * or '?'.  (libpq stops only at '/'; RFC 3986 allows '@' in the query
	 * but neither '/' nor '?' in the user info.)
	 */
	q = p;
	while (*q != '\0' && *q != '@' && *q != '/' && *q != '?')
		q++;
	if (*q == '@')
	{
		const char *colon = memchr(p, ':', q - p);
		const char *uend = colon ? colon : q;

		if (uend > p)
		{
			if (!uri_decode(p, uend - p, "user name", &tmp, errbuf))
				goto done;
			if (!dsn_store(dsn, PGW_DSN_USER, tmp, strlen(tmp), errbuf))
				goto done;
			pgw_free(tmp);
			tmp = NULL;
		}
		if (colon != NULL && q > colon + 1)
		{
			if (!uri_decode(colon + 1, q - colon - 1, "password", &tmp, errbuf))
				goto done;
			if (!dsn_store(dsn, PGW_DSN_PASSWORD, tmp, strlen(tmp), errbuf))
				goto done;
			memset(tmp, 0, strlen(tmp));
			pgw_free(tmp);
			tmp = NULL;
		}
		p = q + 1;
	}

	/* Host list: host[:port] entries separated by commas. */
	for (;;)
	{
		const char *hs;
		const char *he;

		if (*p == '[')
		{
			hs = ++p;
			while (*p != '\0' && *p != ']')
				p++;
			if (*p == '\0')
			{
				pgw_seterr(errbuf, "missing \"]\" after IPv6 host address in connection URI");
				goto done;
			}
			he = p++;
			if (he == hs)
			{
				pgw_seterr(errbuf, "IPv6 host address may not be empty in connection URI");
				goto done;
			}
		}
		else
		{
			hs = p;
			while (*p != '\0' && *p != ':' && *p != '/' && *p != '?' &&
				   *p != ',')
			{
				/*
				 * An unencoded '@' cannot be part of a host name; it most
				 * likely belongs to a password with unencoded delimiters.
				 */
				if (*p == '@')
				{
					pgw_seterr(errbuf, "unexpected \"@\" in host part of connection URI");
					goto done;
				}
				p++;
			}
			he = p;
		}

		if (!first && (!strbuf_append(&hosts, ",", 1) ||
					   !strbuf_append(&ports, ",", 1)))
			goto oom;
		first = false;

		if (!uri_decode(hs, he - hs, "host", &tmp, errbuf))
			goto done;
		if (!strbuf_append(&hosts, tmp, strlen(tmp)))
			goto oom;
		pgw_free(tmp);
		tmp = NULL;

		if (*p == ':')
		{
			const char *ps = ++p;
			uint16_t	port;

			while (*p != '\0' && *p != '/' && *p != '?' && *p != ',')
				p++;
			if (!uri_decode(ps, p - ps, "port", &tmp, errbuf))
				goto done;
			if (tmp[0] != '\0')
			{
				/* not quoted: see the comment at the top of the file */
				if (!parse_port(tmp, strlen(tmp), &port))
				{
					pgw_seterr(errbuf, "invalid port number in connection URI");
					goto done;
				}
				any_port = true;
			}
			if (!strbuf_append(&ports, tmp, strlen(tmp)))
				goto oom;
			pgw_free(tmp);
			tmp = NULL;
		}

		if (*p == ',')
		{
			p++;
			continue;
		}
		if (*p != '\0' && *p != '/' && *p != '?')
		{
			pgw_seterr(errbuf, "unexpected character \"%c\" after host in connection URI (expected \":\", \",\", \"/\" or \"?\")",
					   *p);
			goto done;
		}
		break;
	}

	/* An empty host list means the default host. */
	if (hosts.len > 0 &&
		!dsn_store(dsn, PGW_DSN_HOST, hosts.data, hosts.len, errbuf))
		goto done;
	if (any_port &&
		!dsn_store(dsn, PGW_DSN_PORT, ports.data, ports.len, errbuf))
		goto done;

	/* Database name. */
	if (*p == '/')
	{
		const char *ds = ++p;

		while (*p != '\0' && *p != '?')
			p++;
		if (p > ds)
		{
			if (!uri_decode(ds, p - ds, "database name", &tmp, errbuf))
				goto done;
			if (tmp[0] != '\0' &&
				!dsn_store(dsn, PGW_DSN_DBNAME, tmp, strlen(tmp), errbuf))
				goto done;
			pgw_free(tmp);
			tmp = NULL;
		}
	}

	/* Query parameters; later ones override the parts above. */
	if (*p == '?')
	{
		if (!parse_uri_query(dsn, p + 1, errbuf))
			goto done;
	}

	ok = true;
	goto done;

oom:
	pgw_seterr(errbuf, "out of memory");
done:
	pgw_free(tmp);
	pgw_free(hosts.data);
	pgw_free(ports.data);
	return ok;
}

/* Parse the key=value&key=value query part of a URI. */
static bool
parse_uri_query(pgw_dsn *dsn, const char *p, char *errbuf)
{
	while (*p != '\0')
	{
		const char *start = p;
		const char *eq = NULL;
		const char *end;
		char	   *key = NULL;
		char	   *value = NULL;
		bool		ok;

		while (*p != '\0' && *p != '&')
		{
			if (*p == '=' && eq == NULL)
				eq = p;
			p++;
		}
		end = p;
		if (*p == '&')
			p++;
		if (end == start)
			continue;			/* tolerate empty parameters ("&&") */

		if (eq == NULL)
		{
			pgw_seterr(errbuf, "missing key/value separator \"=\" in connection URI query parameter");
			return false;
		}
		if (!uri_decode(start, eq - start, "query parameter key", &key, errbuf))
			return false;
		if (memchr(eq + 1, '=', end - eq - 1) != NULL)
		{
			pgw_seterr(errbuf, "extra key/value separator \"=\" in connection URI query parameter \"%s\"",
					   key);
			pgw_free(key);
			return false;
		}
		if (!uri_decode(eq + 1, end - eq - 1, "query parameter value", &value,
						errbuf))
		{
			pgw_free(key);
			return false;
		}

		/* libpq's synonym from JDBC-style URIs */
		if (strcmp(key, "ssl") == 0 && strcmp(value, "true") == 0)
			ok = pgw_dsn_set(dsn, "sslmode", "require", errbuf);
		else
			ok = pgw_dsn_set(dsn, key, value, errbuf);
		memset(value, 0, strlen(value));
		pgw_free(key);
		pgw_free(value);
		if (!ok)
			return false;
	}
	return true;
}


/* ----------------------------------------------------------------
 * key=value form
 * ----------------------------------------------------------------
 */

static bool
parse_kv(pgw_dsn *dsn, const char *str, char *errbuf)
{
	size_t		cap = strlen(str) + 1;
	char	   *buf = pgw_malloc(cap);
	const char *p = str;
	const char *prev_secret = NULL;
	bool		ok = false;

	if (buf == NULL)
	{
		pgw_seterr(errbuf, "out of memory");
		return false;
	}

	for (;;)
	{
		const char *ks;
		size_t		klen;
		size_t		vlen = 0;
		char	   *key;
		int			k;
		bool		glued;

		glued = !is_space(*p);
		while (is_space(*p))
			p++;
		if (*p == '\0')
			break;

		/* key: up to whitespace or '=' */
		ks = p;
		while (*p != '\0' && *p != '=' && !is_space(*p))
			p++;
		klen = p - ks;
		while (is_space(*p))
			p++;
		if (*p != '=' || klen == 0)
		{
			/*
			 * A word without "=" right after a password is most likely the
			 * rest of an unquoted password: do not show it.
			 */
			if (prev_secret != NULL)
				pgw_seterr(errbuf, "missing \"=\" after the value of \"%s\" in connection info string",
						   prev_secret);
			else if (klen == 0)
				pgw_seterr(errbuf, "missing connection option name before \"=\" in connection info string");
			else
				pgw_seterr(errbuf, "missing \"=\" after \"%.*s\" in connection info string",
						   (int) klen, ks);
			goto done;
		}
		p++;
		while (is_space(*p))
			p++;

		/* value: quoted or bare, with backslash escapes */
		if (*p == '\'')
		{
			p++;
			for (;;)
			{
				if (*p == '\0')
				{
					pgw_seterr(errbuf, "unterminated quoted string in connection info string");
					goto done;
				}
				if (*p == '\'')
				{
					p++;
					break;
				}
				if (*p == '\\' && p[1] != '\0')
					p++;
				buf[vlen++] = *p++;
			}
		}
		else
		{
			while (*p != '\0' && !is_space(*p))
			{
				if (*p == '\\' && p[1] != '\0')
					p++;
				buf[vlen++] = *p++;
			}
		}
		buf[vlen] = '\0';

		key = pgw_strndup(ks, klen);
		if (key == NULL)
		{
			pgw_seterr(errbuf, "out of memory");
			goto done;
		}
		k = pgw_dsn_key_lookup(key);
		if (k < 0)
		{
			/* a key glued to a quoted password may be part of it */
			if (prev_secret != NULL && glued)
				pgw_seterr(errbuf, "invalid connection option after the value of \"%s\"",
						   prev_secret);
			else
				pgw_seterr(errbuf, "invalid connection option \"%s\"", key);
			pgw_free(key);
			goto done;
		}
		pgw_free(key);
		if (!dsn_store(dsn, k, buf, vlen, errbuf))
			goto done;
		prev_secret = pgw_dsn_key_is_secret((pgw_dsn_key) k) ?
			pgw_dsn_key_names[k] : NULL;
	}
	ok = true;

done:
	memset(buf, 0, cap);
	pgw_free(buf);
	return ok;
}

pgw_dsn *
pgw_dsn_parse(const char *conninfo, char *errbuf)
{
	pgw_dsn    *dsn;
	bool		ok;

	if (conninfo == NULL)
		conninfo = "";
	dsn = pgw_dsn_new();
	if (dsn == NULL)
	{
		pgw_seterr(errbuf, "out of memory");
		return NULL;
	}
	if (strncmp(conninfo, "postgresql://", 13) == 0)
		ok = parse_uri(dsn, conninfo, 13, errbuf);
	else if (strncmp(conninfo, "postgres://", 11) == 0)
		ok = parse_uri(dsn, conninfo, 11, errbuf);
	else
		ok = parse_kv(dsn, conninfo, errbuf);
	if (!ok)
	{
		pgw_dsn_free(dsn);
		return NULL;
	}
	return dsn;
}


/* ----------------------------------------------------------------
 * Validation and host list expansion
 * ----------------------------------------------------------------
 */

/* A decimal port number 1..65535, digits only. */
static bool
parse_port(const char *s, size_t len, uint16_t *port)
{
	size_t		i;
	long		v = 0;

	if (len == 0 || len > 5)
		return false;
	for (i = 0; i < len; i++)
	{
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return false;
	*port = (uint16_t) v;
	return true;
}

/* Dotted-quad IPv4 address in [s, end): four decimal parts 0..255. */
static bool
parse_ipv4(const char *s, const char *end)
{
	int			parts = 0;

	for (;;)
	{
		int			v = 0;
		int			ndigits = 0;

		while (s < end && is_digit(*s))
		{
			v = v * 10 + (*s - '0');
			ndigits++;
			s++;
			if (ndigits > 3)
				return false;
		}
		/* no empty parts, no leading zeros (they would read as octal) */
		if (ndigits == 0 || v > 255 || (ndigits > 1 && s[-ndigits] == '0'))
			return false;
		parts++;
		if (s == end)
			break;
		if (*s != '.' || parts == 4)
			return false;
		s++;
	}
	return parts == 4;
}

/*
 * IPv6 address: up to eight groups of one to four hex digits, at most one
 * "::", optionally an IPv4 address in place of the last two groups, and
 * optionally a "%zone" suffix.
 */
static bool
parse_ipv6(const char *s)
{
	const char *end = strchr(s, '%');
	const char *p = s;
	int			groups = 0;
	bool		compressed = false;

	if (end != NULL)
	{
		if (end[1] == '\0')
			return false;		/* empty zone */
	}
	else
		end = s + strlen(s);

	if (p == end)
		return false;
	if (*p == ':')
	{
		if (p + 1 >= end || p[1] != ':')
			return false;
		compressed = true;
		p += 2;
	}

	while (p < end)
	{
		const char *q = p;

		while (q < end && hex_value(*q) >= 0)
			q++;
		if (q < end && *q == '.')
		{
			/* embedded IPv4 address: must end the address */
			if (!parse_ipv4(p, end))
				return false;
			groups += 2;
			p = end;
			break;
		}
		if (q == p || q - p > 4)
			return false;
		groups++;
		p = q;
		if (p == end)
			break;
		if (*p != ':')
			return false;
		p++;
		if (p == end)
			return false;		/* a single trailing ':' */
		if (*p == ':')
		{
			if (compressed)
				return false;	/* a second "::" */
			compressed = true;
			p++;
		}
	}

	if (compressed)
		return groups <= 7;
	return groups == 8;
}

static bool
valid_hostaddr(const char *s)
{
	return parse_ipv4(s, s + strlen(s)) || parse_ipv6(s);
}

/* Number of entries of a comma-separated list; 0 for NULL or "". */
static int
list_count(const char *s)
{
	int			n = 1;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (; *s; s++)
	{
		if (*s == ',')
			n++;
	}
	return n;
}

/* Split a comma-separated list into newly allocated strings. */
static bool
list_split(const char *s, char ***items, int *n)
{
	int			count = list_count(s);
	int			i = 0;
	char	  **arr;

	*items = NULL;
	*n = 0;
	if (count == 0)
		return true;
	arr = pgw_malloc(sizeof(char *) * count);
	if (arr == NULL)
		return false;
	for (;;)
	{
		const char *e = strchr(s, ',');
		size_t		len = e ? (size_t) (e - s) : strlen(s);

		arr[i] = pgw_strndup(s, len);
		if (arr[i] == NULL)
		{
			list_free(arr, i);
			return false;
		}
		i++;
		if (e == NULL)
			break;
		s = e + 1;
	}
	*items = arr;
	*n = count;
	return true;
}

static void
list_free(char **items, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		pgw_free(items[i]);
	pgw_free(items);
}

static bool
expand_hosts(pgw_dsn *dsn, const char *default_socket_dir,
			 uint16_t default_port, char *errbuf)
{
	char	  **hostv = NULL;
	char	  **addrv = NULL;
	char	  **portv = NULL;
	int			nhost = 0;
	int			naddr = 0;
	int			nport = 0;
	int			n;
	int			i;
	bool		ok = false;

	if (!list_split(dsn->values[PGW_DSN_HOST], &hostv, &nhost) ||
		!list_split(dsn->values[PGW_DSN_HOSTADDR], &addrv, &naddr) ||
		!list_split(dsn->values[PGW_DSN_PORT], &portv, &nport))
	{
		pgw_seterr(errbuf, "out of memory");
		goto done;
	}

	if (nhost > 0 && naddr > 0 && nhost != naddr)
	{
		pgw_seterr(errbuf, "could not match %d host names to %d hostaddr values",
				   nhost, naddr);
		goto done;
	}
	n = nhost > naddr ? nhost : naddr;
	if (n == 0)
		n = 1;
	if (nport > 1 && nport != n)
	{
		pgw_seterr(errbuf, "could not match %d port numbers to %d hosts",
				   nport, n);
		goto done;
	}

	/* validate everything before building */
	for (i = 0; i < naddr; i++)
	{
		if (addrv[i][0] != '\0' && !valid_hostaddr(addrv[i]))
		{
			pgw_seterr(errbuf, "could not parse network address \"%s\"",
					   addrv[i]);
			goto done;
		}
	}
	for (i = 0; i < nport; i++)
	{
		uint16_t	port;

		if (portv[i][0] != '\0' &&
			!parse_port(portv[i], strlen(portv[i]), &port))
		{
			pgw_seterr(errbuf, "invalid port number: \"%s\"", portv[i]);
			goto done;
		}
	}

	free_hosts(dsn);
	dsn->hosts = pgw_malloc(sizeof(pgw_dsn_host) * n);
	if (dsn->hosts == NULL)
	{
		pgw_seterr(errbuf, "out of memory");
		goto done;
	}
	memset(dsn->hosts, 0, sizeof(pgw_dsn_host) * n);
	dsn->nhosts = n;

	for (i = 0; i < n; i++)
	{
		pgw_dsn_host *h = &dsn->hosts[i];
		const char *host = i < nhost ? hostv[i] : "";
		const char *addr = i < naddr ? addrv[i] : "";
		const char *port = nport == 0 ? "" : portv[nport == 1 ? 0 : i];

		if (host[0] == '\0' && addr[0] == '\0')
			host = default_socket_dir ? default_socket_dir :
				PGW_DEFAULT_SOCKET_DIR;
		if (host[0] != '\0' && (h->host = pgw_strdup(host)) == NULL)
			goto oom;
		if (addr[0] != '\0' && (h->hostaddr = pgw_strdup(addr)) == NULL)
			goto oom;
		if (port[0] == '\0')
			h->port = default_port;
		else
			(void) parse_port(port, strlen(port), &h->port);
		/* a numeric address is used in preference to the host name */
		h->is_unix = h->hostaddr == NULL &&
			(host[0] == '/' || host[0] == '@');
	}
	ok = true;
	goto done;

oom:
	pgw_seterr(errbuf, "out of memory");
	free_hosts(dsn);
done:
	list_free(hostv, nhost);
	list_free(addrv, naddr);
	list_free(portv, nport);
	return ok;
}

bool
pgw_dsn_finish(pgw_dsn *dsn, const char *default_socket_dir,
			   uint16_t default_port, char *errbuf)
{
	const char *v;
	int			i;
	int			minv = -1;
	int			maxv = -1;

	/* An empty value means the default, as for a missing one. */
	v = dsn->values[PGW_DSN_SSLMODE];
	if (v != NULL && v[0] != '\0')
	{
		i = lookup_name(pgw_sslmode_names, lengthof(pgw_sslmode_names), v);
		if (i < 0)
		{
			pgw_seterr(errbuf, "invalid sslmode value: \"%s\"", v);
			return false;
		}
		dsn->sslmode = (pgw_sslmode) i;
	}
	else
		dsn->sslmode = PGW_SSL_PREFER;

	v = dsn->values[PGW_DSN_CHANNEL_BINDING];
	if (v != NULL && v[0] != '\0')
	{
		i = lookup_name(pgw_cb_names, lengthof(pgw_cb_names), v);
		if (i < 0)
		{
			pgw_seterr(errbuf, "invalid channel_binding value: \"%s\"", v);
			return false;
		}
		dsn->channel_binding = i;
	}
	else
		dsn->channel_binding = PGW_CB_PREFER;

	v = dsn->values[PGW_DSN_TARGET_SESSION_ATTRS];
	if (v != NULL && v[0] != '\0')
	{
		i = lookup_name(pgw_tsa_names, lengthof(pgw_tsa_names), v);
		if (i < 0)
		{
			pgw_seterr(errbuf, "invalid target_session_attrs value: \"%s\"", v);
			return false;
		}
		dsn->target_session_attrs = (pgw_target_session_attrs) i;
	}
	else
		dsn->target_session_attrs = PGW_TSA_ANY;

	v = dsn->values[PGW_DSN_CONNECT_TIMEOUT];
	dsn->connect_timeout = 0;
	if (v != NULL && v[0] != '\0')
	{
		long		t = 0;
		const char *c;

		for (c = v; *c; c++)
		{
			if (!is_digit(*c) || t > (INT_MAX - 9) / 10)
			{
				pgw_seterr(errbuf, "invalid integer value \"%s\" for connection option \"connect_timeout\"",
						   v);
				return false;
			}
			t = t * 10 + (*c - '0');
		}
		dsn->connect_timeout = (int) t;
	}

	v = dsn->values[PGW_DSN_SSLSNI];
	if (v != NULL && v[0] != '\0' && strcmp(v, "0") != 0 &&
		strcmp(v, "1") != 0)
	{
		pgw_seterr(errbuf, "invalid sslsni value: \"%s\"", v);
		return false;
	}

	v = dsn->values[PGW_DSN_SSL_MIN_PROTOCOL_VERSION];
	if (v != NULL && v[0] != '\0')
	{
		minv = lookup_name(pgw_tls_version_names,
						   lengthof(pgw_tls_version_names), v);
		if (minv < 0)
		{
			pgw_seterr(errbuf, "invalid ssl_min_protocol_version value: \"%s\"", v);
			return false;
		}
	}
	v = dsn->values[PGW_DSN_SSL_MAX_PROTOCOL_VERSION];
	if (v != NULL && v[0] != '\0')
	{
		maxv = lookup_name(pgw_tls_version_names,
						   lengthof(pgw_tls_version_names), v);
		if (maxv < 0)
		{
			pgw_seterr(errbuf, "invalid ssl_max_protocol_version value: \"%s\"", v);
			return false;
		}
	}
	if (minv >= 0 && maxv >= 0 && minv > maxv)
	{
		pgw_seterr(errbuf, "invalid SSL protocol version range");
		return false;
	}

	return expand_hosts(dsn, default_socket_dir, default_port, errbuf);
}


/* ----------------------------------------------------------------
 * Password file
 * ----------------------------------------------------------------
 */

/* Does the field [p, end), with backslash escapes, equal want? */
static bool
passfile_field_eq(const char *p, const char *end, const char *want)
{
	while (p < end)
	{
		char		c = *p;

		if (c == '\\' && p + 1 < end)
			c = *++p;
		if (*want == '\0' || *want != c)
			return false;
		want++;
		p++;
	}
	return *want == '\0';
}

/*
 * Match the field at *pp (up to an unescaped ':') against want or alt
 * (which may be NULL), and step past the ':'.  Returns 1 on a match, 0 on
 * a mismatch, -1 when the line has no ':' left (too few fields).
 */
static int
passfile_field(const char **pp, const char *end, const char *want,
			   const char *alt)
{
	const char *p = *pp;
	const char *fs = p;
	const char *fe;

	while (p < end && *p != ':')
	{
		if (*p == '\\' && p + 1 < end)
			p++;
		p++;
	}
	if (p >= end)
		return -1;
	fe = p;
	*pp = p + 1;

	if (fe - fs == 1 && *fs == '*')
		return 1;
	if (passfile_field_eq(fs, fe, want))
		return 1;
	if (alt != NULL && passfile_field_eq(fs, fe, alt))
		return 1;
	return 0;
}

char *
pgw_passfile_lookup(const char *contents, size_t len, const char *host,
					uint16_t port, const char *dbname, const char *user)
{
	const char *p = contents;
	const char *cend = contents + len;
	const char *alt = NULL;
	char		portstr[8];

	if (contents == NULL)
		return NULL;
	if (host == NULL || host[0] == '\0')
		host = "localhost";
	else if (host[0] == '/' || host[0] == '@')
		alt = "localhost";
	snprintf(portstr, sizeof(portstr), "%u", (unsigned) port);
	if (dbname == NULL)
		dbname = "";
	if (user == NULL)
		user = "";

	while (p < cend)
	{
		const char *ls = p;
		const char *le;
		const char *f;
		char	   *pw;
		size_t		n;

		le = memchr(p, '\n', cend - p);
		if (le == NULL)
			le = cend;
		p = (le < cend) ? le + 1 : cend;
		if (le > ls && le[-1] == '\r')
			le--;

		if (le == ls || *ls == '#')
			continue;

		f = ls;
		if (passfile_field(&f, le, host, alt) != 1 ||
			passfile_field(&f, le, portstr, NULL) != 1 ||
			passfile_field(&f, le, dbname, NULL) != 1 ||
			passfile_field(&f, le, user, NULL) != 1)
			continue;

		/* the password: up to an unescaped ':' or the end of the line */
		pw = pgw_malloc(le - f + 1);
		if (pw == NULL)
			return NULL;
		n = 0;
		while (f < le && *f != ':')
		{
			if (*f == '\\' && f + 1 < le)
				f++;
			pw[n++] = *f++;
		}
		pw[n] = '\0';
		return pw;
	}
	return NULL;
}
