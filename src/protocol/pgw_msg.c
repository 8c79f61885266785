/*-------------------------------------------------------------------------
 *
 * pgw_msg.c
 *	  Decoding of backend messages and encoding of frontend messages of the
 *	  PostgreSQL frontend/backend protocol (versions 3.0 and 3.2).
 *
 * The decoder trusts nothing in a message body: every count is checked
 * against the limits and against the bytes left in the body before any
 * array is grown, every length against the bytes left, every enumerated
 * value against its allowed set, and a message must be consumed exactly.
 * Decoded strings and values point into the body.
 *
 * The encoders append complete frames to a pgw_wbuf; their failures are
 * sticky in the buffer.
 *
 *-------------------------------------------------------------------------
 */
#include "pgw_msg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Largest message the protocol allows, length field included (1 GiB). */
#define PGW_MAX_FRAME			((size_t) 0x40000000)

/* Most SASL mechanisms accepted in AuthenticationSASL. */
#define PGW_MAX_SASL_MECHANISMS 32

/* Smallest wire size of one RowDescription field (empty name). */
#define PGW_ROWDESC_FIELD_MIN	19

/* State of one pgw_decode_backend() call. */
typedef struct pgw_dec
{
	pgw_reader	rd;
	uint8_t		type;
	const char *name;			/* message type name, for errors */
	const pgw_limits *limits;
	pgw_decode_scratch *scratch;
	pgw_backend_msg *out;
	char	   *errbuf;
	bool		allow_trailing; /* unknown Authentication codes */
} pgw_dec;

static bool pgw_scratch_reserve(pgw_decode_scratch *s, size_t need);
static bool pgw_dec_fail(pgw_dec *d, const char *fmt,...)
#if defined(__GNUC__)
			__attribute__((format(printf, 2, 3)))
#endif
			;


/*
 * Report a malformed message: "malformed <Type> message: <detail>".
 * Always returns false, for "return pgw_dec_fail(...)".
 */
static bool
pgw_dec_fail(pgw_dec *d, const char *fmt,...)
{
	char		detail[PGW_ERRMSG_LEN];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	pgw_seterr(d->errbuf, "malformed %s message: %s", d->name, detail);
	return false;
}

static bool
pgw_dec_truncated(pgw_dec *d)
{
	return pgw_dec_fail(d, "body of %zu bytes is truncated", d->rd.len);
}

/*
 * Make room for count elements of elem bytes in the scratch space.  The
 * caller has already bounded count by the limits and the remaining bytes.
 */
static bool
pgw_dec_array(pgw_dec *d, size_t count, size_t elem, void **ptr)
{
	pgw_decode_scratch *s = d->scratch;

	*ptr = NULL;
	if (count == 0)
		return true;
	if (s == NULL)
	{
		pgw_seterr(d->errbuf, "cannot decode %s message: no scratch space",
				   d->name);
		return false;
	}
	if (count > SIZE_MAX / elem)
		return pgw_dec_fail(d, "array of %zu elements is too large", count);
	if (!pgw_scratch_reserve(s, count * elem))
	{
		pgw_seterr(d->errbuf, "out of memory decoding %s message",
				   d->name);
		return false;
	}
	*ptr = s->buf;
	return true;
}

/*
 * Grow the scratch space to at least need bytes (doubling, from 256).
 * Returns false when out of memory; the space is then unchanged.
 */
static bool
pgw_scratch_reserve(pgw_decode_scratch *s, size_t need)
{
	size_t		newcap;
	void	   *p;

	if (need <= s->cap)
		return true;
	newcap = s->cap < 256 ? 256 : s->cap;
	while (newcap < need)
	{
		if (newcap > SIZE_MAX / 2)
		{
			newcap = need;
			break;
		}
		newcap *= 2;
	}
	p = pgw_realloc(s->buf, newcap);
	if (p == NULL)
		return false;
	s->buf = p;
	s->cap = newcap;
	return true;
}

/* Printable rendering of a code byte for error messages. */
static void
pgw_fmt_code(uint8_t c, char *buf, size_t len)
{
	if (c >= 0x20 && c < 0x7f)
		snprintf(buf, len, "'%c'", (char) c);
	else
		snprintf(buf, len, "0x%02x", (unsigned int) c);
}

/* Check a count read from the message against the limit on columns. */
static bool
pgw_dec_check_columns(pgw_dec *d, uint16_t n, const char *what,
					  size_t min_size)
{
	size_t		rem = pgw_rd_remaining(&d->rd);

	if (n > d->limits->max_columns)
		return pgw_dec_fail(d, "%u %s exceed the limit of %u",
							(unsigned int) n, what,
							(unsigned int) d->limits->max_columns);
	if ((size_t) n > rem / min_size)
		return pgw_dec_fail(d, "%u %s cannot fit in the remaining %zu bytes",
							(unsigned int) n, what, rem);
	return true;
}


static bool
pgw_dec_auth(pgw_dec *d)
{
	pgw_reader *rd = &d->rd;
	int32_t		code;
	size_t		rem;

	code = pgw_rd_i32(rd);
	if (!pgw_rd_ok(rd))
		return pgw_dec_truncated(d);
	d->out->u.auth.code = code;
	rem = pgw_rd_remaining(rd);

	switch (code)
	{
		case PGW_AUTH_OK:
		case PGW_AUTH_KERBEROS_V5:
		case PGW_AUTH_CLEARTEXT:
		case PGW_AUTH_GSS:
		case PGW_AUTH_SSPI:
			break;

		case PGW_AUTH_MD5:
			if (rem != 4)
				return pgw_dec_fail(d, "MD5 salt must be 4 bytes, not %zu",
									rem);
			d->out->u.auth.data = pgw_rd_bytes(rd, 4);
			d->out->u.auth.data_len = 4;
			break;

		case PGW_AUTH_GSS_CONTINUE:
		case PGW_AUTH_SASL_CONTINUE:
		case PGW_AUTH_SASL_FINAL:
			d->out->u.auth.data = pgw_rd_bytes(rd, rem);
			d->out->u.auth.data_len = (uint32_t) rem;
			break;

		case PGW_AUTH_SASL:
			{
				size_t		start = rd->pos;
				size_t		n = 0;
				size_t		slen;
				size_t		i;
				const char *name;
				const char **names;
				void	   *arr;

				/* First pass: count the names, allocating nothing. */
				for (;;)
				{
					name = pgw_rd_cstring(rd, &slen);
					if (name == NULL)
						return pgw_dec_fail(d, "SASL mechanism list is not terminated");
					if (slen == 0)
						break;
					if (++n > PGW_MAX_SASL_MECHANISMS)
						return pgw_dec_fail(d, "more than %d SASL mechanisms",
											PGW_MAX_SASL_MECHANISMS);
				}
				if (!pgw_dec_array(d, n, sizeof(const char *), &arr))
					return false;
				names = arr;

				/* Second pass: collect them. */
				rd->pos = start;
				for (i = 0; i < n; i++)
					names[i] = pgw_rd_cstring(rd, NULL);
				(void) pgw_rd_cstring(rd, NULL);	/* the terminator */
				d->out->u.auth.mechanisms = names;
				d->out->u.auth.nmechanisms = (uint16_t) n;
			}
			break;

		default:
			/* Unknown request: the state machine rejects it by code. */
			d->allow_trailing = true;
			break;
	}
	return true;
}

static bool
pgw_dec_backend_key(pgw_dec *d)
{
	pgw_reader *rd = &d->rd;
	size_t		rem;

	d->out->u.backend_key.pid = pgw_rd_i32(rd);
	if (!pgw_rd_ok(rd))
		return pgw_dec_truncated(d);
	rem = pgw_rd_remaining(rd);
	if (rem < 4 || rem > PGW_MAX_CANCEL_KEY)
		return pgw_dec_fail(d, "cancel key length %zu is outside 4..%d",
							rem, PGW_MAX_CANCEL_KEY);
	d->out->u.backend_key.key = pgw_rd_bytes(rd, rem);
	d->out->u.backend_key.key_len = (uint32_t) rem;
	return true;
}

static bool
pgw_dec_parameter_status(pgw_dec *d)
{
	pgw_reader *rd = &d->rd;

	d->out->u.parameter_status.name = pgw_rd_cstring(rd, NULL);
	d->out->u.parameter_status.value = pgw_rd_cstring(rd, NULL);
	if (!pgw_rd_ok(rd))
		return pgw_dec_fail(d, "string is not terminated");
	return true;
}

static bool
pgw_dec_row_description(pgw_dec *d)
{
	pgw_reader *rd = &d->rd;
	uint16_t	n;
	uint16_t	i;
	pgw_field_desc *fields;
	void	   *arr;

	n = (uint16_t) pgw_rd_i16(rd);
	if (!pgw_rd_ok(rd))
		return pgw_dec_truncated(d);
	if (!pgw_dec_check_columns(d, n, "fields", PGW_ROWDESC_FIELD_MIN))
		return false;
	if (!pgw_dec_array(d, n, sizeof(pgw_field_desc), &arr))
		return false;
	fields = arr;

	for (i = 0; i < n; i++)
	{
		pgw_field_desc *f = &fields[i];

		f->name = pgw_rd_cstring(rd, NULL);
		f->table_oid = pgw_rd_u32(rd);
		f->column = pgw_rd_i16(rd);
		f->type_oid = pgw_rd_u32(rd);
		f->type_len = pgw_rd_i16(rd);
		f->type_mod = pgw_rd_i32(rd);
		f->format = pgw_rd_i16(rd);
		if (!pgw_rd_ok(rd))
			return pgw_dec_fail(d, "field %u is truncated",
								(unsigned int) i + 1);
		if (f->format != 0 && f->format != 1)
			return pgw_dec_fail(d, "field %u has invalid format code %d",
								(unsigned int) i + 1, (int) f->format);
	}
	d->out->u.row_description.nfields = n;
	d->out->u.row_description.fields = fields;
	return true;
}

/*
 * A length-prefixed value (DataRow column, function result): -1 for NULL,
 * else 0..remaining bytes.  what names the value for errors.
 */
/* Name of a value for error messages: "column 3" or "function result". */
static const char *
pgw_value_label(char *label, size_t size, const char *what, unsigned int num)
{
	if (num > 0)
		snprintf(label, size, "%s %u", what, num);
	else
		snprintf(label, size, "%s", what);
	return label;
}

/*
 * A length-prefixed value (DataRow column, function result): -1 for NULL,
 * else 0..remaining bytes.  what and num name the value for errors; the
 * label is only formatted on failure, as this runs for every column.
 */
static bool
pgw_dec_value(pgw_dec *d, pgw_value *v, const char *what, unsigned int num)
{
	pgw_reader *rd = &d->rd;
	int32_t		len;
	size_t		rem;
	char		label[48];

	len = pgw_rd_i32(rd);
	if (!pgw_rd_ok(rd))
		return pgw_dec_fail(d, "%s is truncated",
							pgw_value_label(label, sizeof(label), what, num));
	if (len == -1)
	{
		v->data = NULL;
		v->len = -1;
		return true;
	}
	if (len < -1)
		return pgw_dec_fail(d, "%s has invalid length %d",
							pgw_value_label(label, sizeof(label), what, num),
							(int) len);
	rem = pgw_rd_remaining(rd);
	if ((size_t) len > rem)
		return pgw_dec_fail(d, "%s length %d exceeds the remaining %zu bytes",
							pgw_value_label(label, sizeof(label), what, num),
							(int) len, rem);
	v->data = pgw_rd_bytes(rd, (size_t) len);
	v->len = len;
	return true;
}

static bool
pgw_dec_data_row(pgw_dec *d)
{
	pgw_reader *rd = &d->rd;
	uint16_t	n;
	uint16_t	i;
	pgw_value  *cols;
	void	   *arr;

	n = (uint16_t) pgw_rd_i16(rd);
	if (!pgw_rd_ok(rd))
		return pgw_dec_truncated(d);
	if (!pgw_dec_check_columns(d, n, "columns", 4))
		return false;
	if (!pgw_dec_array(d, n, sizeof(pgw_value), &arr))
		return false;
	cols = arr;

	/*
	 * The common case in one tight pass over the body: every length -1 or
	 * within the bytes that remain.  Anything else is decoded again by the
	 * checked path below, which names the problem.
	 */
	{
		const uint8_t *p = rd->data + rd->pos;
		const uint8_t *end = rd->data + rd->len;

		for (i = 0; i < n; i++)
		{
			int32_t		len;

			if (end - p < 4)
				break;
			len = (int32_t) pgw_get_u32(p);
			p += 4;
			if (len == -1)
			{
				cols[i].data = NULL;
				cols[i].len = -1;
				continue;
			}
			if (len < 0 || (size_t) (end - p) < (size_t) len)
				break;
			cols[i].data = p;
			cols[i].len = len;
			p += len;
		}
		if (i == n)
		{
			rd->pos = (size_t) (p - rd->data);
			d->out->u.data_row.ncolumns = n;
			d->out->u.data_row.columns = cols;
			return true;
		}
	}

	for (i = 0; i < n; i++)
	{
		if (!pgw_dec_value(d, &cols[i], "column", (unsigned int) i + 1))
			return false;
	}
	d->out->u.data_row.ncolumns = n;
	d->out->u.data_row.columns = cols;
	return true;
}

static bool
pgw_dec_command_complete(pgw_dec *d)
{
	d->out->u.command_complete.tag = pgw_rd_cstring(&d->rd, NULL);
	if (!pgw_rd_ok(&d->rd))
		return pgw_dec_fail(d, "command tag is not terminated");
	return true;
}

static bool
pgw_dec_empty(pgw_dec *d)
{
	if (d->rd.len != 0)
		return pgw_dec_fail(d, "expected an empty body, got %zu bytes",
							d->rd.len);
	return true;
}

static bool
pgw_dec_error_fields(pgw_dec *d)
{
	pgw_reader *rd = &d->rd;
	pgw_error_fields *e = &d->out->u.error;

	for (;;)
	{
		uint8_t		code;
		const char *val;
		char		cbuf[8];

		code = pgw_rd_u8(rd);
		if (!pgw_rd_ok(rd))
			return pgw_dec_fail(d, "missing terminator");
		if (code == 0)
			break;
		val = pgw_rd_cstring(rd, NULL);
		if (val == NULL)
		{
			pgw_fmt_code(code, cbuf, sizeof(cbuf));
			return pgw_dec_fail(d, "field %s is not terminated", cbuf);
		}
		switch (code)
		{
			case 'S':
				e->severity = val;
				break;
			case 'V':
				e->severity_nonlocalized = val;
				break;
			case 'C':
				e->sqlstate = val;
				break;
			case 'M':
				e->message = val;
				break;
			case 'D':
				e->detail = val;
				break;
			case 'H':
				e->hint = val;
				break;
			case 'P':
				e->position = val;
				break;
			case 'p':
				e->internal_position = val;
				break;
			case 'q':
				e->internal_query = val;
				break;
			case 'W':
				e->context = val;
				break;
			case 's':
				e->schema_name = val;
				break;
			case 't':
				e->table_name = val;
				break;
			case 'c':
				e->column_name = val;
				break;
			case 'd':
				e->datatype_name = val;
				break;
			case 'n':
				e->constraint_name = val;
				break;
			case 'F':
				e->source_file = val;
				break;
			case 'L':
				e->source_line = val;
				break;
			case 'R':
				e->source_function = val;
				break;
			default:
				/* future field types are to be ignored */
				break;
		}
	}
	return true;
}

static bool
pgw_dec_parameter_desc(pgw_dec *d)
{
	pgw_reader *rd = &d->rd;
	uint16_t	n;
	uint16_t	i;
	uint32_t   *oids;
	void	   *arr;

	n = (uint16_t) pgw_rd_i16(rd);
	if (!pgw_rd_ok(rd))
		return pgw_dec_truncated(d);
	if (!pgw_dec_check_columns(d, n, "parameters", 4))
		return false;
	if (!pgw_dec_array(d, n, sizeof(uint32_t), &arr))
		return false;
	oids = arr;
	for (i = 0; i < n; i++)
		oids[i] = pgw_rd_u32(rd);
	d->out->u.parameter_desc.nparams = n;
	d->out->u.parameter_desc.type_oids = oids;
	return true;
}

static bool
pgw_dec_copy_response(pgw_dec *d)
{
	pgw_reader *rd = &d->rd;
	uint8_t		format;
	uint16_t	n;
	uint16_t	i;
	int16_t    *formats;
	void	   *arr;

	format = pgw_rd_u8(rd);
	n = (uint16_t) pgw_rd_i16(rd);
	if (!pgw_rd_ok(rd))
		return pgw_dec_truncated(d);
	if (format > 1)
		return pgw_dec_fail(d, "invalid overall format code %u",
							(unsigned int) format);
	if (!pgw_dec_check_columns(d, n, "columns", 2))
		return false;
	if (!pgw_dec_array(d, n, sizeof(int16_t), &arr))
		return false;
	formats = arr;
	for (i = 0; i < n; i++)
	{
		formats[i] = pgw_rd_i16(rd);
		if (formats[i] != 0 && formats[i] != 1)
			return pgw_dec_fail(d, "column %u has invalid format code %d",
								(unsigned int) i + 1, (int) formats[i]);
		if (format == 0 && formats[i] != 0)
			return pgw_dec_fail(d, "column %u is binary in a text-format COPY",
								(unsigned int) i + 1);
	}
	d->out->u.copy_response.format = format;
	d->out->u.copy_response.ncolumns = n;
	d->out->u.copy_response.formats = formats;
	return true;
}

static bool
pgw_dec_copy_data(pgw_dec *d)
{
	size_t		rem = pgw_rd_remaining(&d->rd);

	d->out->u.copy_data.data = pgw_rd_bytes(&d->rd, rem);
	d->out->u.copy_data.len = (uint32_t) rem;
	return true;
}

static bool
pgw_dec_notification(pgw_dec *d)
{
	pgw_reader *rd = &d->rd;

	d->out->u.notification.pid = pgw_rd_i32(rd);
	if (!pgw_rd_ok(rd))
		return pgw_dec_truncated(d);
	d->out->u.notification.channel = pgw_rd_cstring(rd, NULL);
	d->out->u.notification.payload = pgw_rd_cstring(rd, NULL);
	if (!pgw_rd_ok(rd))
		return pgw_dec_fail(d, "string is not terminated");
	return true;
}

static bool
pgw_dec_ready(pgw_dec *d)
{
	uint8_t		status;
	char		cbuf[8];

	status = pgw_rd_u8(&d->rd);
	if (!pgw_rd_ok(&d->rd))
		return pgw_dec_truncated(d);
	if (status != 'I' && status != 'T' && status != 'E')
	{
		pgw_fmt_code(status, cbuf, sizeof(cbuf));
		return pgw_dec_fail(d, "invalid transaction status %s", cbuf);
	}
	d->out->u.ready.tx_status = status;
	return true;
}

static bool
pgw_dec_negotiate(pgw_dec *d)
{
	pgw_reader *rd = &d->rd;
	int32_t		minor;
	int32_t		count;
	uint32_t	i;
	size_t		rem;
	const char **names;
	void	   *arr;

	minor = pgw_rd_i32(rd);
	count = pgw_rd_i32(rd);
	if (!pgw_rd_ok(rd))
		return pgw_dec_truncated(d);
	if (minor < 0)
		return pgw_dec_fail(d, "invalid minor version %d", (int) minor);
	if (count < 0)
		return pgw_dec_fail(d, "invalid option count %d", (int) count);
	/* each name takes at least its terminator */
	rem = pgw_rd_remaining(rd);
	if ((size_t) count > rem)
		return pgw_dec_fail(d, "%d options cannot fit in the remaining %zu bytes",
							(int) count, rem);
	if (!pgw_dec_array(d, (size_t) count, sizeof(const char *), &arr))
		return false;
	names = arr;
	for (i = 0; i < (uint32_t) count; i++)
	{
		names[i] = pgw_rd_cstring(rd, NULL);
		if (names[i] == NULL)
			return pgw_dec_fail(d, "option %u is not terminated",
								(unsigned int) i + 1);
	}
	d->out->u.negotiate.newest_minor = minor;
	d->out->u.negotiate.noptions = (uint32_t) count;
	d->out->u.negotiate.options = names;
	return true;
}

static bool
pgw_dec_function_call(pgw_dec *d)
{
	return pgw_dec_value(d, &d->out->u.function_call.result, "result", 0);
}

/* Name of a backend message type, or NULL if it is none. */
static const char *
pgw_type_name(uint8_t type)
{
	switch (type)
	{
		case PGW_BE_AUTHENTICATION:
			return "Authentication";
		case PGW_BE_BACKEND_KEY_DATA:
			return "BackendKeyData";
		case PGW_BE_PARAMETER_STATUS:
			return "ParameterStatus";
		case PGW_BE_ROW_DESCRIPTION:
			return "RowDescription";
		case PGW_BE_DATA_ROW:
			return "DataRow";
		case PGW_BE_COMMAND_COMPLETE:
			return "CommandComplete";
		case PGW_BE_EMPTY_QUERY:
			return "EmptyQueryResponse";
		case PGW_BE_ERROR_RESPONSE:
			return "ErrorResponse";
		case PGW_BE_NOTICE_RESPONSE:
			return "NoticeResponse";
		case PGW_BE_PARSE_COMPLETE:
			return "ParseComplete";
		case PGW_BE_BIND_COMPLETE:
			return "BindComplete";
		case PGW_BE_CLOSE_COMPLETE:
			return "CloseComplete";
		case PGW_BE_PARAMETER_DESC:
			return "ParameterDescription";
		case PGW_BE_NO_DATA:
			return "NoData";
		case PGW_BE_PORTAL_SUSPENDED:
			return "PortalSuspended";
		case PGW_BE_COPY_IN_RESPONSE:
			return "CopyInResponse";
		case PGW_BE_COPY_OUT_RESPONSE:
			return "CopyOutResponse";
		case PGW_BE_COPY_BOTH_RESPONSE:
			return "CopyBothResponse";
		case PGW_BE_COPY_DATA:
			return "CopyData";
		case PGW_BE_COPY_DONE:
			return "CopyDone";
		case PGW_BE_NOTIFICATION:
			return "NotificationResponse";
		case PGW_BE_READY_FOR_QUERY:
			return "ReadyForQuery";
		case PGW_BE_NEGOTIATE_VERSION:
			return "NegotiateProtocolVersion";
		case PGW_BE_FUNCTION_CALL_RESP:
			return "FunctionCallResponse";
		default:
			return NULL;
	}
}

const char *
pgw_backend_msg_name(uint8_t type)
{
	const char *name = pgw_type_name(type);

	return name != NULL ? name : "unknown";
}

uint32_t
pgw_backend_msg_limit(uint8_t type, const pgw_limits *limits)
{
	if (limits == NULL)
		limits = &pgw_default_limits;
	switch (type)
	{
		case PGW_BE_DATA_ROW:
		case PGW_BE_COPY_DATA:
		case PGW_BE_FUNCTION_CALL_RESP:
			return limits->max_data_message;
		default:
			if (pgw_type_name(type) == NULL)
				return 0;
			return limits->max_control_message;
	}
}

bool
pgw_decode_backend(uint8_t type, const uint8_t *body, uint32_t len,
				   const pgw_limits *limits, pgw_decode_scratch *scratch,
				   pgw_backend_msg *out, char *errbuf)
{
	pgw_dec		d;
	uint32_t	limit;
	bool		ok;

	memset(out, 0, sizeof(*out));
	if (limits == NULL)
		limits = &pgw_default_limits;

	limit = pgw_backend_msg_limit(type, limits);
	if (limit == 0)
	{
		pgw_seterr(errbuf, "unknown backend message type 0x%02x",
				   (unsigned int) type);
		return false;
	}
	if (len > limit)
	{
		pgw_seterr(errbuf, "%s message of %u bytes exceeds the limit of %u bytes",
				   pgw_backend_msg_name(type), (unsigned int) len,
				   (unsigned int) limit);
		return false;
	}
	if (body == NULL && len > 0)
	{
		pgw_seterr(errbuf, "%s message has no body",
				   pgw_backend_msg_name(type));
		return false;
	}

	out->type = type;
	out->body = body;
	out->body_len = len;

	pgw_rd_init(&d.rd, body, len);
	d.type = type;
	d.name = pgw_backend_msg_name(type);
	d.limits = limits;
	d.scratch = scratch;
	d.out = out;
	d.errbuf = errbuf;
	d.allow_trailing = false;

	switch (type)
	{
		case PGW_BE_AUTHENTICATION:
			ok = pgw_dec_auth(&d);
			break;
		case PGW_BE_BACKEND_KEY_DATA:
			ok = pgw_dec_backend_key(&d);
			break;
		case PGW_BE_PARAMETER_STATUS:
			ok = pgw_dec_parameter_status(&d);
			break;
		case PGW_BE_ROW_DESCRIPTION:
			ok = pgw_dec_row_description(&d);
			break;
		case PGW_BE_DATA_ROW:
			ok = pgw_dec_data_row(&d);
			break;
		case PGW_BE_COMMAND_COMPLETE:
			ok = pgw_dec_command_complete(&d);
			break;
		case PGW_BE_EMPTY_QUERY:
		case PGW_BE_PARSE_COMPLETE:
		case PGW_BE_BIND_COMPLETE:
		case PGW_BE_CLOSE_COMPLETE:
		case PGW_BE_NO_DATA:
		case PGW_BE_PORTAL_SUSPENDED:
		case PGW_BE_COPY_DONE:
			ok = pgw_dec_empty(&d);
			break;
		case PGW_BE_ERROR_RESPONSE:
		case PGW_BE_NOTICE_RESPONSE:
			ok = pgw_dec_error_fields(&d);
			break;
		case PGW_BE_PARAMETER_DESC:
			ok = pgw_dec_parameter_desc(&d);
			break;
		case PGW_BE_COPY_IN_RESPONSE:
		case PGW_BE_COPY_OUT_RESPONSE:
		case PGW_BE_COPY_BOTH_RESPONSE:
			ok = pgw_dec_copy_response(&d);
			break;
		case PGW_BE_COPY_DATA:
			ok = pgw_dec_copy_data(&d);
			break;
		case PGW_BE_NOTIFICATION:
			ok = pgw_dec_notification(&d);
			break;
		case PGW_BE_READY_FOR_QUERY:
			ok = pgw_dec_ready(&d);
			break;
		case PGW_BE_NEGOTIATE_VERSION:
			ok = pgw_dec_negotiate(&d);
			break;
		case PGW_BE_FUNCTION_CALL_RESP:
			ok = pgw_dec_function_call(&d);
			break;
		default:
			/* unreachable: pgw_backend_msg_limit() knows the same types */
			pgw_seterr(errbuf, "unknown backend message type 0x%02x",
					   (unsigned int) type);
			return false;
	}
	if (!ok)
		return false;
	if (!pgw_rd_ok(&d.rd))
		return pgw_dec_truncated(&d);
	if (!d.allow_trailing && pgw_rd_remaining(&d.rd) != 0)
		return pgw_dec_fail(&d, "%zu trailing bytes after the message",
							pgw_rd_remaining(&d.rd));
	return true;
}

bool
pgw_decode_data_row(const uint8_t *body, uint32_t len,
					const pgw_limits *limits, pgw_decode_scratch *scratch,
					pgw_backend_msg *out)
{
	const uint8_t *p;
	const uint8_t *end;
	pgw_value  *cols;
	uint16_t	n;
	uint16_t	i;

	if (limits == NULL)
		limits = &pgw_default_limits;
	if (body == NULL || len < 2 || len > limits->max_data_message)
		return false;
	n = pgw_get_u16(body);
	/* each column takes at least its 4-byte length */
	if (n > limits->max_columns || (size_t) n > (size_t) (len - 2) / 4)
		return false;
	cols = NULL;
	if (n > 0)
	{
		if (scratch == NULL ||
			!pgw_scratch_reserve(scratch, (size_t) n * sizeof(pgw_value)))
			return false;
		cols = scratch->buf;
	}

	p = body + 2;
	end = body + len;
	for (i = 0; i < n; i++)
	{
		int32_t		vlen;

		if (end - p < 4)
			return false;
		vlen = (int32_t) pgw_get_u32(p);
		p += 4;
		if (vlen == -1)
		{
			cols[i].data = NULL;
			cols[i].len = -1;
			continue;
		}
		if (vlen < 0 || (size_t) (end - p) < (size_t) vlen)
			return false;
		cols[i].data = p;
		cols[i].len = vlen;
		p += vlen;
	}
	if (p != end)
		return false;

	out->type = PGW_BE_DATA_ROW;
	out->body = body;
	out->body_len = len;
	out->u.data_row.ncolumns = n;
	out->u.data_row.columns = cols;
	return true;
}

void
pgw_scratch_free(pgw_decode_scratch *scratch)
{
	pgw_free(scratch->buf);
	scratch->buf = NULL;
	scratch->cap = 0;
}


/*
 * Frontend message encoders
 */

/* Fail the buffer early when a payload could never fit in one message. */
static bool
pgw_enc_payload_ok(pgw_wbuf *wb, size_t len)
{
	if (wb->failed)
		return false;
	if (len > PGW_MAX_FRAME)
	{
		wb->failed = true;
		return false;
	}
	return true;
}

/* Is the open message of wb a Bind? */
static bool
pgw_enc_in_bind(const pgw_wbuf *wb)
{
	return wb->msg_start != SIZE_MAX && wb->data[wb->msg_start] == 'B';
}

void
pgw_enc_startup(pgw_wbuf *wb, int32_t protocol, const char *const *params)
{
	int			i;

	pgw_wb_begin(wb, 0);
	pgw_wb_i32(wb, protocol);
	for (i = 0; params != NULL && params[i] != NULL; i += 2)
	{
		if (params[i + 1] == NULL)
		{
			/* a name without a value */
			wb->failed = true;
			return;
		}
		pgw_wb_cstring(wb, params[i]);
		pgw_wb_cstring(wb, params[i + 1]);
	}
	pgw_wb_u8(wb, 0);
	pgw_wb_end(wb);
}

void
pgw_enc_ssl_request(pgw_wbuf *wb)
{
	pgw_wb_begin(wb, 0);
	pgw_wb_i32(wb, PGW_SSL_REQUEST_CODE);
	pgw_wb_end(wb);
}

void
pgw_enc_cancel_request(pgw_wbuf *wb, int32_t pid, const uint8_t *key,
					   uint32_t key_len)
{
	if (wb->failed)
		return;
	if (key == NULL || key_len < 4 || key_len > PGW_MAX_CANCEL_KEY)
	{
		wb->failed = true;
		return;
	}
	pgw_wb_begin(wb, 0);
	pgw_wb_i32(wb, PGW_CANCEL_REQUEST_CODE);
	pgw_wb_i32(wb, pid);
	pgw_wb_bytes(wb, key, key_len);
	pgw_wb_end(wb);
}

void
pgw_enc_password(pgw_wbuf *wb, const char *password)
{
	pgw_wb_begin(wb, 'p');
	pgw_wb_cstring(wb, password);
	pgw_wb_end(wb);
}

void
pgw_enc_sasl_initial(pgw_wbuf *wb, const char *mechanism,
					 const uint8_t *data, uint32_t len)
{
	if (!pgw_enc_payload_ok(wb, len))
		return;
	pgw_wb_begin(wb, 'p');
	pgw_wb_cstring(wb, mechanism);
	if (data == NULL)
		pgw_wb_i32(wb, -1);
	else
	{
		pgw_wb_i32(wb, (int32_t) len);
		pgw_wb_bytes(wb, data, len);
	}
	pgw_wb_end(wb);
}

void
pgw_enc_sasl_response(pgw_wbuf *wb, const uint8_t *data, uint32_t len)
{
	if (!pgw_enc_payload_ok(wb, len))
		return;
	pgw_wb_begin(wb, 'p');
	pgw_wb_bytes(wb, data, len);
	pgw_wb_end(wb);
}

void
pgw_enc_query(pgw_wbuf *wb, const char *sql)
{
	pgw_wb_begin(wb, 'Q');
	pgw_wb_cstring(wb, sql);
	pgw_wb_end(wb);
}

void
pgw_enc_parse(pgw_wbuf *wb, const char *stmt, const char *sql,
			  uint16_t nparams, const uint32_t *param_oids)
{
	uint16_t	i;

	pgw_wb_begin(wb, 'P');
	pgw_wb_cstring(wb, stmt != NULL ? stmt : "");
	pgw_wb_cstring(wb, sql);
	pgw_wb_i16(wb, (int16_t) nparams);
	for (i = 0; i < nparams; i++)
		pgw_wb_i32(wb, (int32_t) (param_oids != NULL ? param_oids[i] : 0));
	pgw_wb_end(wb);
}

void
pgw_enc_bind_begin(pgw_wbuf *wb, const char *portal, const char *stmt,
				   uint16_t nformats, const int16_t *formats,
				   uint16_t nparams)
{
	uint16_t	i;

	if (wb->failed)
		return;
	if (nformats > 0 && formats == NULL)
	{
		wb->failed = true;
		return;
	}
	pgw_wb_begin(wb, 'B');
	pgw_wb_cstring(wb, portal != NULL ? portal : "");
	pgw_wb_cstring(wb, stmt != NULL ? stmt : "");
	pgw_wb_i16(wb, (int16_t) nformats);
	for (i = 0; i < nformats; i++)
		pgw_wb_i16(wb, formats[i]);
	pgw_wb_i16(wb, (int16_t) nparams);
}

void
pgw_enc_bind_param(pgw_wbuf *wb, const void *data, int32_t len)
{
	if (wb->failed)
		return;
	if (!pgw_enc_in_bind(wb) || len < -1 || (len > 0 && data == NULL))
	{
		wb->failed = true;
		return;
	}
	if (!pgw_enc_payload_ok(wb, len > 0 ? (size_t) len : 0))
		return;
	pgw_wb_i32(wb, len);
	if (len > 0)
		pgw_wb_bytes(wb, data, (size_t) len);
}

/*
 * Write the length of a parameter and return where its len bytes go; the
 * caller fills them in before the next write to wb.  For len -1 (NULL)
 * the pointer is to the (empty) end of the buffer.
 */
uint8_t *
pgw_enc_bind_param_reserve(pgw_wbuf *wb, int32_t len)
{
	uint8_t    *p;

	if (wb->failed)
		return NULL;
	if (!pgw_enc_in_bind(wb) || len < -1)
	{
		wb->failed = true;
		return NULL;
	}
	if (!pgw_enc_payload_ok(wb, len > 0 ? (size_t) len : 0))
		return NULL;
	pgw_wb_i32(wb, len);
	if (len <= 0)
		return wb->failed ? NULL : wb->data + wb->len;
	p = pgw_wb_reserve(wb, (size_t) len);
	if (p == NULL)
		return NULL;
	wb->len += (size_t) len;
	return p;
}

/*
 * Check that the open Bind message holds exactly the number of parameters
 * it announced, each with a sane length.
 */
static bool
pgw_enc_bind_check(const pgw_wbuf *wb)
{
	pgw_reader	rd;
	uint16_t	nformats;
	uint16_t	nparams;
	uint16_t	i;
	int32_t		len;

	/* skip the type byte and the length placeholder */
	pgw_rd_init(&rd, wb->data + wb->msg_start + 5,
				wb->len - wb->msg_start - 5);
	(void) pgw_rd_cstring(&rd, NULL);	/* portal */
	(void) pgw_rd_cstring(&rd, NULL);	/* statement */
	nformats = (uint16_t) pgw_rd_i16(&rd);
	(void) pgw_rd_bytes(&rd, (size_t) nformats * 2);
	nparams = (uint16_t) pgw_rd_i16(&rd);
	for (i = 0; i < nparams && pgw_rd_ok(&rd); i++)
	{
		len = pgw_rd_i32(&rd);
		if (len < -1)
			return false;
		if (len > 0)
			(void) pgw_rd_bytes(&rd, (size_t) len);
	}
	return pgw_rd_expect_end(&rd);
}

void
pgw_enc_bind_end(pgw_wbuf *wb, uint16_t nresult_formats,
				 const int16_t *result_formats)
{
	uint16_t	i;

	if (wb->failed)
		return;
	if (!pgw_enc_in_bind(wb) || !pgw_enc_bind_check(wb) ||
		(nresult_formats > 0 && result_formats == NULL))
	{
		wb->failed = true;
		return;
	}
	pgw_wb_i16(wb, (int16_t) nresult_formats);
	for (i = 0; i < nresult_formats; i++)
		pgw_wb_i16(wb, result_formats[i]);
	pgw_wb_end(wb);
}

static void
pgw_enc_kind_name(pgw_wbuf *wb, uint8_t type, char kind, const char *name)
{
	if (wb->failed)
		return;
	if (kind != 'S' && kind != 'P')
	{
		wb->failed = true;
		return;
	}
	pgw_wb_begin(wb, type);
	pgw_wb_u8(wb, (uint8_t) kind);
	pgw_wb_cstring(wb, name != NULL ? name : "");
	pgw_wb_end(wb);
}

void
pgw_enc_describe(pgw_wbuf *wb, char kind, const char *name)
{
	pgw_enc_kind_name(wb, 'D', kind, name);
}

void
pgw_enc_execute(pgw_wbuf *wb, const char *portal, int32_t max_rows)
{
	pgw_wb_begin(wb, 'E');
	pgw_wb_cstring(wb, portal != NULL ? portal : "");
	pgw_wb_i32(wb, max_rows);
	pgw_wb_end(wb);
}

void
pgw_enc_close(pgw_wbuf *wb, char kind, const char *name)
{
	pgw_enc_kind_name(wb, 'C', kind, name);
}

/* A message with an empty body. */
static void
pgw_enc_bare(pgw_wbuf *wb, uint8_t type)
{
	pgw_wb_begin(wb, type);
	pgw_wb_end(wb);
}

void
pgw_enc_sync(pgw_wbuf *wb)
{
	pgw_enc_bare(wb, 'S');
}

void
pgw_enc_flush(pgw_wbuf *wb)
{
	pgw_enc_bare(wb, 'H');
}

void
pgw_enc_copy_data(pgw_wbuf *wb, const void *data, uint32_t len)
{
	if (!pgw_enc_payload_ok(wb, len))
		return;
	pgw_wb_begin(wb, 'd');
	pgw_wb_bytes(wb, data, len);
	pgw_wb_end(wb);
}

void
pgw_enc_copy_done(pgw_wbuf *wb)
{
	pgw_enc_bare(wb, 'c');
}

void
pgw_enc_copy_fail(pgw_wbuf *wb, const char *reason)
{
	pgw_wb_begin(wb, 'f');
	pgw_wb_cstring(wb, reason != NULL ? reason : "");
	pgw_wb_end(wb);
}

void
pgw_enc_terminate(pgw_wbuf *wb)
{
	pgw_enc_bare(wb, 'X');
}
