/*-------------------------------------------------------------------------
 *
 * pgw_msg.h
 *	  Decoding of backend messages and encoding of frontend messages of the
 *	  PostgreSQL frontend/backend protocol, version 3.0 and 3.2.
 *
 * Decoding is zero-copy: strings and values point into the message body
 * handed to pgw_decode_backend(), which must outlive the decoded struct.
 * Arrays (fields of a RowDescription or DataRow, OIDs of a
 * ParameterDescription, ...) live in a pgw_decode_scratch that the caller
 * keeps between messages; it grows only after the count was checked
 * against the limits.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGW_MSG_H
#define PGW_MSG_H

#include "pgw.h"
#include "pgw_buf.h"

/* Backend message type bytes */
#define PGW_BE_AUTHENTICATION		'R'
#define PGW_BE_BACKEND_KEY_DATA		'K'
#define PGW_BE_PARAMETER_STATUS		'S'
#define PGW_BE_ROW_DESCRIPTION		'T'
#define PGW_BE_DATA_ROW				'D'
#define PGW_BE_COMMAND_COMPLETE		'C'
#define PGW_BE_EMPTY_QUERY			'I'
#define PGW_BE_ERROR_RESPONSE		'E'
#define PGW_BE_NOTICE_RESPONSE		'N'
#define PGW_BE_PARSE_COMPLETE		'1'
#define PGW_BE_BIND_COMPLETE		'2'
#define PGW_BE_CLOSE_COMPLETE		'3'
#define PGW_BE_PARAMETER_DESC		't'
#define PGW_BE_NO_DATA				'n'
#define PGW_BE_PORTAL_SUSPENDED		's'
#define PGW_BE_COPY_IN_RESPONSE		'G'
#define PGW_BE_COPY_OUT_RESPONSE	'H'
#define PGW_BE_COPY_BOTH_RESPONSE	'W'
#define PGW_BE_COPY_DATA			'd'
#define PGW_BE_COPY_DONE			'c'
#define PGW_BE_NOTIFICATION			'A'
#define PGW_BE_READY_FOR_QUERY		'Z'
#define PGW_BE_NEGOTIATE_VERSION	'v'
#define PGW_BE_FUNCTION_CALL_RESP	'V'

/* Authentication request codes */
#define PGW_AUTH_OK					0
#define PGW_AUTH_KERBEROS_V5		2
#define PGW_AUTH_CLEARTEXT			3
#define PGW_AUTH_MD5				5
#define PGW_AUTH_GSS				7
#define PGW_AUTH_GSS_CONTINUE		8
#define PGW_AUTH_SSPI				9
#define PGW_AUTH_SASL				10
#define PGW_AUTH_SASL_CONTINUE		11
#define PGW_AUTH_SASL_FINAL			12

/* Protocol versions */
#define PGW_PROTOCOL(major, minor)	(((major) << 16) | (minor))
#define PGW_SSL_REQUEST_CODE		PGW_PROTOCOL(1234, 5679)
#define PGW_CANCEL_REQUEST_CODE		PGW_PROTOCOL(1234, 5678)
#define PGW_GSSENC_REQUEST_CODE		PGW_PROTOCOL(1234, 5680)
#define PGW_MAX_CANCEL_KEY			256

/* A value in a DataRow or a parameter: len -1 means NULL */
typedef struct pgw_value
{
	const uint8_t *data;
	int32_t		len;
} pgw_value;

typedef struct pgw_field_desc
{
	const char *name;
	uint32_t	table_oid;
	int16_t		column;
	uint32_t	type_oid;
	int16_t		type_len;
	int32_t		type_mod;
	int16_t		format;			/* 0 text, 1 binary */
} pgw_field_desc;

/*
 * Fields of an ErrorResponse or NoticeResponse.  Pointers into the message;
 * NULL when the server did not send the field.
 */
typedef struct pgw_error_fields
{
	const char *severity;		/* 'S' localized */
	const char *severity_nonlocalized;	/* 'V' */
	const char *sqlstate;		/* 'C' */
	const char *message;		/* 'M' */
	const char *detail;			/* 'D' */
	const char *hint;			/* 'H' */
	const char *position;		/* 'P' */
	const char *internal_position;	/* 'p' */
	const char *internal_query; /* 'q' */
	const char *context;		/* 'W' */
	const char *schema_name;	/* 's' */
	const char *table_name;		/* 't' */
	const char *column_name;	/* 'c' */
	const char *datatype_name;	/* 'd' */
	const char *constraint_name;	/* 'n' */
	const char *source_file;	/* 'F' */
	const char *source_line;	/* 'L' */
	const char *source_function;	/* 'R' */
} pgw_error_fields;

typedef struct pgw_backend_msg
{
	uint8_t		type;			/* PGW_BE_* */
	const uint8_t *body;		/* the whole body, for callers that want it */
	uint32_t	body_len;
	union
	{
		struct
		{
			int32_t		code;	/* PGW_AUTH_* */
			const uint8_t *data;	/* MD5 salt (4 bytes), SASL data */
			uint32_t	data_len;
			/* PGW_AUTH_SASL: mechanism names, in scratch */
			const char **mechanisms;
			uint16_t	nmechanisms;
		}			auth;
		struct
		{
			int32_t		pid;
			const uint8_t *key;
			uint32_t	key_len;	/* 4 in 3.0; up to 256 in 3.2 */
		}			backend_key;
		struct
		{
			const char *name;
			const char *value;
		}			parameter_status;
		struct
		{
			uint16_t	nfields;
			pgw_field_desc *fields; /* in scratch */
		}			row_description;
		struct
		{
			uint16_t	ncolumns;
			pgw_value  *columns;	/* in scratch */
		}			data_row;
		struct
		{
			const char *tag;
		}			command_complete;
		pgw_error_fields error; /* ErrorResponse and NoticeResponse */
		struct
		{
			uint16_t	nparams;
			uint32_t   *type_oids;	/* in scratch */
		}			parameter_desc;
		struct
		{
			uint8_t		format; /* overall: 0 text, 1 binary */
			uint16_t	ncolumns;
			int16_t    *formats;	/* in scratch */
		}			copy_response;	/* CopyIn/CopyOut/CopyBoth */
		struct
		{
			const uint8_t *data;
			uint32_t	len;
		}			copy_data;
		struct
		{
			int32_t		pid;
			const char *channel;
			const char *payload;
		}			notification;
		struct
		{
			uint8_t		tx_status;	/* 'I', 'T' or 'E' */
		}			ready;
		struct
		{
			int32_t		newest_minor;
			uint32_t	noptions;
			const char **options;	/* unrecognized options, in scratch */
		}			negotiate;
		struct
		{
			pgw_value	result;
		}			function_call;
	}			u;
} pgw_backend_msg;

/* Reusable arrays for decoded messages; zero-initialize before first use. */
typedef struct pgw_decode_scratch
{
	void	   *buf;
	size_t		cap;
} pgw_decode_scratch;

extern void pgw_scratch_free(pgw_decode_scratch *scratch);

/*
 * Decode one backend message body.  Returns true on success.  On failure,
 * writes a message into errbuf (PGW_ERRMSG_LEN bytes): unknown message
 * type, truncated or overlong body, counts above limits, bad values (a
 * negative length other than -1, an unknown transaction status, ...).
 */
extern bool pgw_decode_backend(uint8_t type, const uint8_t *body, uint32_t len,
							   const pgw_limits *limits,
							   pgw_decode_scratch *scratch,
							   pgw_backend_msg *out, char *errbuf);

/*
 * Decode a DataRow body -- what pgw_decode_backend() does for type 'D',
 * with the same checks -- but set only out->type, body, body_len and
 * u.data_row, leaving the rest of *out as it was.  Returns false, with no
 * message, for a body pgw_decode_backend() would reject (or when out of
 * memory); the caller then calls that to learn why.
 */
extern bool pgw_decode_data_row(const uint8_t *body, uint32_t len,
								const pgw_limits *limits,
								pgw_decode_scratch *scratch,
								pgw_backend_msg *out);

/*
 * Largest body length accepted for a backend message type under the given
 * limits (max_data_message for DataRow, CopyData and FunctionCallResponse,
 * max_control_message for the others), or 0 if the type byte is not a
 * backend message type at all.  Framing checks this on the 5-byte header,
 * before reading or allocating anything for the body.
 */
extern uint32_t pgw_backend_msg_limit(uint8_t type, const pgw_limits *limits);

/* Name of a backend message type for error messages ("DataRow"). */
extern const char *pgw_backend_msg_name(uint8_t type);

/*
 * Frontend message encoders.  All append one complete message to wb; a
 * failure (allocation, overlong message) is sticky in wb->failed.
 */

/* params: NULL-terminated array of alternating names and values */
extern void pgw_enc_startup(pgw_wbuf *wb, int32_t protocol,
							const char *const *params);
extern void pgw_enc_ssl_request(pgw_wbuf *wb);
extern void pgw_enc_cancel_request(pgw_wbuf *wb, int32_t pid,
								   const uint8_t *key, uint32_t key_len);
extern void pgw_enc_password(pgw_wbuf *wb, const char *password);
extern void pgw_enc_sasl_initial(pgw_wbuf *wb, const char *mechanism,
								 const uint8_t *data, uint32_t len);
extern void pgw_enc_sasl_response(pgw_wbuf *wb, const uint8_t *data,
								  uint32_t len);
extern void pgw_enc_query(pgw_wbuf *wb, const char *sql);
extern void pgw_enc_parse(pgw_wbuf *wb, const char *stmt, const char *sql,
						  uint16_t nparams, const uint32_t *param_oids);

/*
 * Bind is written in three steps so large parameter values can be encoded
 * straight into the buffer: begin, one pgw_enc_bind_param() per parameter
 * (or pgw_enc_bind_param_reserve() to fill the bytes in place), end.
 */
extern void pgw_enc_bind_begin(pgw_wbuf *wb, const char *portal,
							   const char *stmt, uint16_t nformats,
							   const int16_t *formats, uint16_t nparams);
extern void pgw_enc_bind_param(pgw_wbuf *wb, const void *data, int32_t len);
extern uint8_t *pgw_enc_bind_param_reserve(pgw_wbuf *wb, int32_t len);
extern void pgw_enc_bind_end(pgw_wbuf *wb, uint16_t nresult_formats,
							 const int16_t *result_formats);

extern void pgw_enc_describe(pgw_wbuf *wb, char kind, const char *name);
extern void pgw_enc_execute(pgw_wbuf *wb, const char *portal, int32_t max_rows);
extern void pgw_enc_close(pgw_wbuf *wb, char kind, const char *name);
extern void pgw_enc_sync(pgw_wbuf *wb);
extern void pgw_enc_flush(pgw_wbuf *wb);
extern void pgw_enc_copy_data(pgw_wbuf *wb, const void *data, uint32_t len);
extern void pgw_enc_copy_done(pgw_wbuf *wb);
extern void pgw_enc_copy_fail(pgw_wbuf *wb, const char *reason);
extern void pgw_enc_terminate(pgw_wbuf *wb);

#endif							/* PGW_MSG_H */
