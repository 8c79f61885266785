/*-------------------------------------------------------------------------
 *
 * pgw_dsn.h
 *	  Parsing of connection strings in both of libpq's forms: URIs
 *	  (postgres[ql]://user:pass@host:port,host2:port2/db?k=v) and key=value
 *	  lists with quoting; expansion of the host/hostaddr/port lists; and the
 *	  matching of password-file lines.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGW_DSN_H
#define PGW_DSN_H

#include "pgw.h"

/* Every key pgasync accepts.  Unknown keys are errors naming the key. */
typedef enum pgw_dsn_key
{
	PGW_DSN_HOST,
	PGW_DSN_HOSTADDR,
	PGW_DSN_PORT,
	PGW_DSN_DBNAME,
	PGW_DSN_USER,
	PGW_DSN_PASSWORD,
	PGW_DSN_PASSFILE,
	PGW_DSN_CONNECT_TIMEOUT,
	PGW_DSN_APPLICATION_NAME,
	PGW_DSN_FALLBACK_APPLICATION_NAME,
	PGW_DSN_OPTIONS,
	PGW_DSN_SSLMODE,
	PGW_DSN_SSLROOTCERT,
	PGW_DSN_SSLCERT,
	PGW_DSN_SSLKEY,
	PGW_DSN_SSLPASSWORD,
	PGW_DSN_SSLCRL,
	PGW_DSN_SSLCRLDIR,
	PGW_DSN_SSLSNI,
	PGW_DSN_SSL_MIN_PROTOCOL_VERSION,
	PGW_DSN_SSL_MAX_PROTOCOL_VERSION,
	PGW_DSN_TARGET_SESSION_ATTRS,
	PGW_DSN_CHANNEL_BINDING,
	PGW_DSN_NKEYS
} pgw_dsn_key;

typedef enum pgw_sslmode
{
	PGW_SSL_DISABLE,
	PGW_SSL_ALLOW,
	PGW_SSL_PREFER,
	PGW_SSL_REQUIRE,
	PGW_SSL_VERIFY_CA,
	PGW_SSL_VERIFY_FULL
} pgw_sslmode;

typedef enum pgw_target_session_attrs
{
	PGW_TSA_ANY,
	PGW_TSA_READ_WRITE,
	PGW_TSA_READ_ONLY,
	PGW_TSA_PRIMARY,
	PGW_TSA_STANDBY,
	PGW_TSA_PREFER_STANDBY
} pgw_target_session_attrs;

/* One entry of the expanded host list. */
typedef struct pgw_dsn_host
{
	char	   *host;			/* name, IP or socket dir; NULL if only hostaddr */
	char	   *hostaddr;		/* numeric address, or NULL */
	uint16_t	port;
	bool		is_unix;		/* host starts with '/' (or '@' abstract) */
} pgw_dsn_host;

typedef struct pgw_dsn
{
	char	   *values[PGW_DSN_NKEYS];	/* NULL when not given */
	/* derived, validated settings */
	pgw_dsn_host *hosts;
	int			nhosts;
	pgw_sslmode sslmode;		/* default prefer */
	pgw_target_session_attrs target_session_attrs;	/* default any */
	int			channel_binding;	/* pgw_channel_binding; default prefer */
	int			connect_timeout;	/* seconds; 0 = none */
} pgw_dsn;

/*
 * Parse a connection string.  An empty string is valid (all defaults).
 * The host list is not expanded here (defaults may be merged first): call
 * pgw_dsn_finish() after setting defaults.  Returns NULL and writes a
 * message (never containing a password) into errbuf on failure.
 */
extern pgw_dsn *pgw_dsn_parse(const char *conninfo, char *errbuf);

/*
 * Validate values (sslmode, port, connect_timeout, channel_binding,
 * target_session_attrs, ...) and expand host/hostaddr/port into hosts[].
 * Missing host means default_socket_dir (a Unix socket); missing port means
 * default_port.  Returns false with errbuf set on a bad value.
 */
extern bool pgw_dsn_finish(pgw_dsn *dsn, const char *default_socket_dir,
						   uint16_t default_port, char *errbuf);

/* Set a value (copying it); false with errbuf set if the key is unknown. */
extern bool pgw_dsn_set(pgw_dsn *dsn, const char *key, const char *value,
						char *errbuf);

extern pgw_dsn *pgw_dsn_new(void);
extern void pgw_dsn_free(pgw_dsn *dsn);

/* Key names; -1 when unknown. */
extern int	pgw_dsn_key_lookup(const char *name);
extern const char *pgw_dsn_key_name(pgw_dsn_key key);

/* Values that must never be shown (password, sslpassword). */
extern bool pgw_dsn_key_is_secret(pgw_dsn_key key);

extern const char *pgw_sslmode_name(pgw_sslmode mode);

/*
 * Find the password for a connection in the contents of a password file
 * (libpq's format: hostname:port:database:username:password, '*' matches
 * anything, '\' escapes ':' and '\', '#' starts a comment line).  A Unix
 * socket host matches "localhost" as libpq does.  Returns a newly
 * allocated password, or NULL when no line matches.
 */
extern char *pgw_passfile_lookup(const char *contents, size_t len,
								 const char *host, uint16_t port,
								 const char *dbname, const char *user);

#endif							/* PGW_DSN_H */
