/*-------------------------------------------------------------------------
 *
 * codec.c
 *	  Conversion between remote values and local Datums.
 *
 * Result columns are requested in binary and decoded with the local type's
 * receive function when the remote column has the very same built-in type
 * (built-in OIDs are identical on every server, and so is the binary format
 * of a built-in type across the supported versions); every other column is
 * requested in text and decoded with the local type's input function, which
 * gives the same result as an assignment of the remote value's text to the
 * local column.  The declared typmod is passed to both, so that varchar(n)
 * lengths are checked and numeric(p,s) values rounded as they would be
 * locally.  The common fixed-size types, text, bytea, uuid and numeric are
 * decoded straight from the wire bytes with the receive function's checks
 * (numeric falls back to numeric_recv for anything unusual).
 *
 * Query parameters go the other way: values of built-in types are sent in
 * binary with the type's OID, everything else (unknown-typed literals,
 * records, composite, enum and other extension types) as text with an
 * unspecified type, so that the remote server infers it.  The same choice,
 * made once per column, is kept in a PgaParamPlan for rows of parameters
 * (pgasync.executemany), which writes the common fixed-size types, text,
 * bytea, uuid and numeric in their binary format without calling their
 * send functions.
 *
 * Binary receive and send functions of string types convert between the
 * local session's client_encoding and the database encoding, because they
 * normally talk to the local client.  The remote connection, however,
 * exchanges text in the local database encoding, so the binary format is
 * only used while the local client_encoding needs no conversion; otherwise
 * every value travels as text.
 *
 * Decoding a row allocates nothing beyond what the type functions do and
 * performs no catalog lookup: all of that is done once per result in
 * PgaResultCodecCreate.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "codec.h"

/* State of the error context callback of PgaDecodeRow */
typedef struct DecodeErrorState
{
	const PgaResultCodec *codec;
	int			attnum;			/* local column being decoded, or -1 */
} DecodeErrorState;

/* State of the error context callback of PgaRowToJsonb */
typedef struct JsonbErrorState
{
	const char *colname;		/* remote column being converted, or NULL */
} JsonbErrorState;

/*
 * Can values of string types travel in binary?  The send and receive
 * functions of text, varchar, name, json, tsvector and the like convert
 * between the local client_encoding and the database encoding; that is a
 * no-op only when the two agree or the client encoding is SQL_ASCII.
 */
static bool
binary_strings_ok(void)
{
	int			client_encoding = pg_get_client_encoding();

	return client_encoding == GetDatabaseEncoding() ||
		client_encoding == PG_SQL_ASCII;
}

/*
 * Error context for PgaDecodeRow: the column and the server.
 */
static void
decode_error_callback(void *arg)
{
	DecodeErrorState *state = (DecodeErrorState *) arg;
	const PgaResultCodec *codec = state->codec;
	Form_pg_attribute attr;

	if (state->attnum < 0)
		return;

	attr = TupleDescAttr(codec->tupdesc, state->attnum);
	errcontext("column \"%s\" of the remote result from server %s",
			   NameStr(attr->attname),
			   codec->server ? codec->server : "");
}

/*
 * Which binary values can be decoded without calling typreceive.  Types
 * with a typmod to apply keep their receive function.
 */
static PgaFastDecode
fast_decode_kind(Oid typid, int32 typmod)
{
	switch (typid)
	{
		case BOOLOID:
			return PGA_FAST_BOOL;
		case INT2OID:
			return PGA_FAST_INT2;
		case INT4OID:
		case OIDOID:
			return PGA_FAST_INT4;
		case INT8OID:
			return PGA_FAST_INT8;
		case FLOAT4OID:
			return PGA_FAST_FLOAT4;
		case FLOAT8OID:
			return PGA_FAST_FLOAT8;
		case DATEOID:
			return PGA_FAST_DATE;
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return typmod < 0 ? PGA_FAST_TIMESTAMP : PGA_FAST_NONE;
		case TEXTOID:
		case VARCHAROID:
			return typmod < 0 ? PGA_FAST_TEXT : PGA_FAST_NONE;
		case BYTEAOID:
			return PGA_FAST_BYTEA;
		case UUIDOID:
			return PGA_FAST_UUID;
		case NUMERICOID:
			return PGA_FAST_NUMERIC;
		default:
			return PGA_FAST_NONE;
	}
}

static uint64
read_be64(const uint8 *p)
{
	return ((uint64) pgw_get_u32(p) << 32) | (uint64) pgw_get_u32(p + 4);
}

/* ----------------------------------------------------------------
 * numeric without numeric_recv and numeric_send
 *
 * The binary format of numeric on the wire is a sequence of int16s:
 * ndigits, weight, sign, dscale, then ndigits base-10000 digits.  The
 * stored form (a varlena) is private to numeric.c but, being an on-disk
 * format, fixed: after the varlena header, either a 2-byte "short" header
 * (sign, dscale and weight packed in one uint16) when dscale and weight
 * are small enough, or a 2-byte sign-and-dscale word and an int16 weight;
 * then the digits, without leading or trailing zero digits.  The special
 * values NaN, +Infinity and -Infinity are the header word alone.
 *
 * numeric_wire_decode() builds exactly the value numeric_recv() builds
 * from the same bytes (digits hidden by dscale truncated away, leading and
 * trailing zero digits stripped, a zero made positive with weight 0, the
 * column's typmod checked) and returns false for everything else --
 * invalid input, a typmod that needs rounding or is exceeded, a weight
 * that does not fit -- so that numeric_recv() is called and raises its own
 * error.  numeric_wire_size() and numeric_wire_write() write what
 * numeric_send() writes.
 * ----------------------------------------------------------------
 */
#define PGA_NBASE					10000
#define PGA_DEC_DIGITS				4

/* the stored header words */
#define PGA_NUMERIC_SIGN_MASK		0xC000
#define PGA_NUMERIC_POS				0x0000
#define PGA_NUMERIC_NEG				0x4000
#define PGA_NUMERIC_SHORT			0x8000
#define PGA_NUMERIC_SPECIAL			0xC000
#define PGA_NUMERIC_EXT_SIGN_MASK	0xF000
#define PGA_NUMERIC_NAN				0xC000
#define PGA_NUMERIC_PINF			0xD000
#define PGA_NUMERIC_NINF			0xF000
#define PGA_NUMERIC_DSCALE_MASK		0x3FFF
#define PGA_NUMERIC_SHORT_SIGN_MASK 0x2000
#define PGA_NUMERIC_SHORT_DSCALE_MASK 0x1F80
#define PGA_NUMERIC_SHORT_DSCALE_SHIFT 7
#define PGA_NUMERIC_SHORT_DSCALE_MAX \
	(PGA_NUMERIC_SHORT_DSCALE_MASK >> PGA_NUMERIC_SHORT_DSCALE_SHIFT)
#define PGA_NUMERIC_SHORT_WEIGHT_SIGN_MASK 0x0040
#define PGA_NUMERIC_SHORT_WEIGHT_MASK 0x003F
#define PGA_NUMERIC_SHORT_WEIGHT_MAX PGA_NUMERIC_SHORT_WEIGHT_MASK
#define PGA_NUMERIC_SHORT_WEIGHT_MIN (-(PGA_NUMERIC_SHORT_WEIGHT_MASK + 1))

/* bytes of the header word(s) after the varlena header */
#define PGA_NUMERIC_HDR_SHORT		sizeof(uint16)
#define PGA_NUMERIC_HDR_LONG		(sizeof(uint16) + sizeof(int16))

/* Most digits a wire value is decoded here with; longer ones go the slow way */
#define PGA_NUMERIC_FAST_DIGITS		64

/* Decimal digits of a base-10000 digit (1..9999) below its top 4 places */
static inline int
numeric_digit_leading_zeros(int d)
{
	if (d < 10)
		return 3;
	if (d < 100)
		return 2;
	if (d < 1000)
		return 1;
	return 0;
}

/*
 * Decode a binary numeric of len bytes at p for a column of typmod into
 * *result, as numeric_recv() would; false when numeric_recv() must do it.
 */
static bool
numeric_wire_decode(const uint8 *p, int32 len, int32 typmod, Datum *result)
{
	int16		digits[PGA_NUMERIC_FAST_DIGITS];
	int			ndigits;
	int			weight;
	int			sign;
	int			dscale;
	int			first;
	int			n;
	int			i;
	Size		size;
	char	   *v;
	char	   *hdr;

	if (len < 8)
		return false;
	ndigits = pgw_get_u16(p);
	if (ndigits > PGA_NUMERIC_FAST_DIGITS || len != 8 + 2 * ndigits)
		return false;
	weight = (int16) pgw_get_u16(p + 2);
	sign = pgw_get_u16(p + 4);
	dscale = pgw_get_u16(p + 6);
	if ((dscale & PGA_NUMERIC_DSCALE_MASK) != dscale)
		return false;
	for (i = 0; i < ndigits; i++)
	{
		int			d = pgw_get_u16(p + 8 + 2 * i);

		/* as int16, 0 .. 9999: larger uint16s are negative or too big */
		if (d >= PGA_NBASE)
			return false;
		digits[i] = (int16) d;
	}

	if (sign == PGA_NUMERIC_NAN || sign == PGA_NUMERIC_PINF ||
		sign == PGA_NUMERIC_NINF)
	{
		/* a typmod admits NaN but not the infinities */
		if (sign != PGA_NUMERIC_NAN && typmod >= (int32) VARHDRSZ)
			return false;
		v = palloc(VARHDRSZ + PGA_NUMERIC_HDR_SHORT);
		SET_VARSIZE(v, VARHDRSZ + PGA_NUMERIC_HDR_SHORT);
		*(uint16 *) (v + VARHDRSZ) = (uint16) sign;
		*result = PointerGetDatum(v);
		return true;
	}
	if (sign != PGA_NUMERIC_POS && sign != PGA_NUMERIC_NEG)
		return false;

	/*
	 * Drop the digits that dscale hides, and the decimal places of the last
	 * digit kept that it hides: keep (weight + 1) * 4 + dscale decimal
	 * digits.
	 */
	n = ndigits;
	{
		int			di = (weight + 1) * PGA_DEC_DIGITS + dscale;

		if (di <= 0)
			n = 0;
		else
		{
			int			keep = (di + PGA_DEC_DIGITS - 1) / PGA_DEC_DIGITS;

			if (keep <= n)
			{
				n = keep;
				/* constant divisors: no division instruction */
				switch (di % PGA_DEC_DIGITS)
				{
					case 1:
						digits[n - 1] -= digits[n - 1] % 1000;
						break;
					case 2:
						digits[n - 1] -= digits[n - 1] % 100;
						break;
					case 3:
						digits[n - 1] -= digits[n - 1] % 10;
						break;
				}
			}
		}
	}

	/* strip leading and trailing zero digits */
	first = 0;
	while (first < n && digits[first] == 0)
	{
		first++;
		weight--;
	}
	while (n > first && digits[n - 1] == 0)
		n--;
	n -= first;
	if (n == 0)
	{
		weight = 0;
		sign = PGA_NUMERIC_POS;
	}

	/*
	 * The typmod: rounding to its scale changes nothing when the scale is
	 * no smaller than dscale (the digits beyond dscale are gone); the
	 * value then takes the typmod's scale.  More integer digits than the
	 * precision leaves is an error (left to numeric_recv).
	 */
	if (typmod >= (int32) VARHDRSZ)
	{
		int			precision = ((typmod - VARHDRSZ) >> 16) & 0xffff;
		int			scale = (((typmod - VARHDRSZ) & 0x7ff) ^ 1024) - 1024;
		int			ddigits;

		if (scale < dscale)
			return false;
		dscale = scale;
		ddigits = (weight + 1) * PGA_DEC_DIGITS;
		if (n > 0 && ddigits > precision - scale)
		{
			ddigits -= numeric_digit_leading_zeros(digits[first]);
			if (ddigits > precision - scale)
				return false;
		}
	}

	/* the stored weight is an int16 */
	if (weight < PG_INT16_MIN)
		return false;

	if (dscale <= PGA_NUMERIC_SHORT_DSCALE_MAX &&
		weight <= PGA_NUMERIC_SHORT_WEIGHT_MAX &&
		weight >= PGA_NUMERIC_SHORT_WEIGHT_MIN)
	{
		size = VARHDRSZ + PGA_NUMERIC_HDR_SHORT + n * sizeof(int16);
		v = palloc(size);
		hdr = v + VARHDRSZ;
		*(uint16 *) hdr = (uint16)
			((sign == PGA_NUMERIC_NEG ?
			  (PGA_NUMERIC_SHORT | PGA_NUMERIC_SHORT_SIGN_MASK) :
			  PGA_NUMERIC_SHORT) |
			 (dscale << PGA_NUMERIC_SHORT_DSCALE_SHIFT) |
			 (weight < 0 ? PGA_NUMERIC_SHORT_WEIGHT_SIGN_MASK : 0) |
			 (weight & PGA_NUMERIC_SHORT_WEIGHT_MASK));
		hdr += PGA_NUMERIC_HDR_SHORT;
	}
	else
	{
		size = VARHDRSZ + PGA_NUMERIC_HDR_LONG + n * sizeof(int16);
		v = palloc(size);
		hdr = v + VARHDRSZ;
		*(uint16 *) hdr = (uint16) (sign | (dscale & PGA_NUMERIC_DSCALE_MASK));
		*(int16 *) (hdr + sizeof(uint16)) = (int16) weight;
		hdr += PGA_NUMERIC_HDR_LONG;
	}
	SET_VARSIZE(v, size);
	if (n > 0)
		memcpy(hdr, digits + first, n * sizeof(int16));
	*result = PointerGetDatum(v);
	return true;
}

/*
 * The fields numeric_send() sends for a stored numeric (the varlena's data
 * after its header, of size bytes, not necessarily aligned): what
 * numeric.c's header macros read.  *digits points to the digits.
 */
static void
numeric_stored_fields(const char *data, Size size, int *ndigits, int *weight,
					  int *sign, int *dscale, const char **digits)
{
	uint16		h;
	Size		hdrsize;

	memcpy(&h, data, sizeof(h));
	if (h & 0x8000)
	{
		/* short or special: one header word */
		hdrsize = PGA_NUMERIC_HDR_SHORT;
		*weight = ((h & PGA_NUMERIC_SHORT_WEIGHT_SIGN_MASK) ?
				   ~PGA_NUMERIC_SHORT_WEIGHT_MASK : 0) |
			(h & PGA_NUMERIC_SHORT_WEIGHT_MASK);
		*dscale = (h & PGA_NUMERIC_SHORT_DSCALE_MASK) >>
			PGA_NUMERIC_SHORT_DSCALE_SHIFT;
		if ((h & PGA_NUMERIC_SIGN_MASK) == PGA_NUMERIC_SHORT)
			*sign = (h & PGA_NUMERIC_SHORT_SIGN_MASK) ?
				PGA_NUMERIC_NEG : PGA_NUMERIC_POS;
		else
			*sign = h & PGA_NUMERIC_EXT_SIGN_MASK;
	}
	else
	{
		int16		w;

		hdrsize = PGA_NUMERIC_HDR_LONG;
		memcpy(&w, data + sizeof(uint16), sizeof(w));
		*weight = w;
		*dscale = h & PGA_NUMERIC_DSCALE_MASK;
		*sign = h & PGA_NUMERIC_SIGN_MASK;
	}
	*ndigits = (int) ((size - hdrsize) / sizeof(int16));
	*digits = data + hdrsize;
}

/* Bytes numeric_send() writes for a stored numeric */
static int32
numeric_wire_size(const struct varlena *num)
{
	Size		size = VARSIZE_ANY_EXHDR(num);
	uint16		h;

	memcpy(&h, VARDATA_ANY(num), sizeof(h));
	if (h & 0x8000)
		return 8 + 2 * (int32) ((size - PGA_NUMERIC_HDR_SHORT) / 2);
	return 8 + 2 * (int32) ((size - PGA_NUMERIC_HDR_LONG) / 2);
}

/* Write what numeric_send() writes for a stored numeric to dst */
static void
numeric_wire_write(const struct varlena *num, char *dst)
{
	int			ndigits;
	int			weight;
	int			sign;
	int			dscale;
	const char *digits;
	uint16		w[4];
	int			i;

	numeric_stored_fields(VARDATA_ANY(num), VARSIZE_ANY_EXHDR(num),
						  &ndigits, &weight, &sign, &dscale, &digits);
	w[0] = pg_hton16((uint16) ndigits);
	w[1] = pg_hton16((uint16) weight);
	w[2] = pg_hton16((uint16) sign);
	w[3] = pg_hton16((uint16) dscale);
	memcpy(dst, w, sizeof(w));
	dst += sizeof(w);
	for (i = 0; i < ndigits; i++)
	{
		uint16		d;

		memcpy(&d, digits + 2 * i, sizeof(d));
		d = pg_hton16(d);
		memcpy(dst + 2 * i, &d, sizeof(d));
	}
}

static void
fast_decode_bad_length(int column)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("incorrect binary data format in remote column %d", column)));
}

/*
 * Decode a binary value of a PgaFastDecode kind.  The checks are those of
 * the type's receive function: exact lengths, date and timestamp ranges,
 * text in the database encoding.
 */
static Datum
fast_decode(PgaFastDecode kind, const uint8 *p, int32 len, int column)
{
	switch (kind)
	{
		case PGA_FAST_BOOL:
			if (len != 1)
				fast_decode_bad_length(column);
			return BoolGetDatum(p[0] != 0);
		case PGA_FAST_INT2:
			if (len != 2)
				fast_decode_bad_length(column);
			return Int16GetDatum((int16) pgw_get_u16(p));
		case PGA_FAST_INT4:
			if (len != 4)
				fast_decode_bad_length(column);
			return Int32GetDatum((int32) pgw_get_u32(p));
		case PGA_FAST_INT8:
			if (len != 8)
				fast_decode_bad_length(column);
			return Int64GetDatum((int64) read_be64(p));
		case PGA_FAST_FLOAT4:
			{
				union
				{
					float4		f;
					uint32		i;
				}			u;

				if (len != 4)
					fast_decode_bad_length(column);
				u.i = pgw_get_u32(p);
				return Float4GetDatum(u.f);
			}
		case PGA_FAST_FLOAT8:
			{
				union
				{
					float8		f;
					uint64		i;
				}			u;

				if (len != 8)
					fast_decode_bad_length(column);
				u.i = read_be64(p);
				return Float8GetDatum(u.f);
			}
		case PGA_FAST_DATE:
			{
				DateADT		d;

				if (len != 4)
					fast_decode_bad_length(column);
				d = (DateADT) pgw_get_u32(p);
				if (!DATE_NOT_FINITE(d) && !IS_VALID_DATE(d))
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("date out of range")));
				return DateADTGetDatum(d);
			}
		case PGA_FAST_TIMESTAMP:
			{
				Timestamp	ts;

				if (len != 8)
					fast_decode_bad_length(column);
				ts = (Timestamp) read_be64(p);
				if (!TIMESTAMP_NOT_FINITE(ts) && !IS_VALID_TIMESTAMP(ts))
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("timestamp out of range")));
				return TimestampGetDatum(ts);
			}
		case PGA_FAST_TEXT:
			(void) pg_verify_mbstr(GetDatabaseEncoding(), (const char *) p, len, false);
			return PointerGetDatum(cstring_to_text_with_len((const char *) p, len));
		case PGA_FAST_BYTEA:
			{
				bytea	   *b = (bytea *) palloc(VARHDRSZ + len);

				SET_VARSIZE(b, VARHDRSZ + len);
				memcpy(VARDATA(b), p, len);
				return PointerGetDatum(b);
			}
		case PGA_FAST_UUID:
			{
				pg_uuid_t  *u;

				if (len != UUID_LEN)
					fast_decode_bad_length(column);
				u = (pg_uuid_t *) palloc(sizeof(pg_uuid_t));
				memcpy(u->data, p, UUID_LEN);
				return UUIDPGetDatum(u);
			}
		case PGA_FAST_NUMERIC:	/* numeric_wire_decode(), by the caller */
		case PGA_FAST_NONE:
			break;
	}
	elog(ERROR, "unexpected fast decoding kind %d", (int) kind);
	return (Datum) 0;
}

PgaResultCodec *
PgaResultCodecCreate(TupleDesc tupdesc, const pgw_field_desc *fields,
					 int nfields, bool allow_tag, const int16 *requested,
					 const char *server,
					 MemoryContext mcxt)
{
	PgaResultCodec *codec;
	MemoryContext oldcxt;
	bool		strings_ok = binary_strings_ok();
	int			nlive = 0;
	int			first_remote;
	int			attnum;
	int			i;

	for (attnum = 0; attnum < tupdesc->natts; attnum++)
	{
		if (!TupleDescAttr(tupdesc, attnum)->attisdropped)
			nlive++;
	}

	/*
	 * The remote result must fill every live local column, except that a
	 * fan-out may reserve the first local column for the target tag.
	 */
	if (nfields == nlive)
		first_remote = 0;
	else if (allow_tag && nfields == nlive - 1 &&
			 !TupleDescAttr(tupdesc, 0)->attisdropped)
		first_remote = 1;
	else
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("remote query result does not match the column definition list"),
				 errdetail_plural("The remote query returned %d column, but the column definition list has %d.",
								  "The remote query returned %d columns, but the column definition list has %d.",
								  nfields, nfields, nlive),
				 errcontext("remote server %s", server ? server : "")));

	oldcxt = MemoryContextSwitchTo(mcxt);

	codec = palloc0(sizeof(PgaResultCodec));
	codec->tupdesc = CreateTupleDescCopy(tupdesc);
	codec->first_remote = first_remote;
	codec->nremote = nfields;
	codec->any_dropped = (nlive != tupdesc->natts);
	codec->cols = palloc0(sizeof(PgaColumnCodec) * Max(nfields, 1));
	codec->formats = palloc0(sizeof(int16) * Max(nfields, 1));
	initStringInfo(&codec->buf);
	codec->server = server ? pstrdup(server) : NULL;
	codec->binary_strings = strings_ok;
	codec->mcxt = mcxt;

	MemoryContextSwitchTo(oldcxt);

	attnum = first_remote;
	for (i = 0; i < nfields; i++)
	{
		PgaColumnCodec *col = &codec->cols[i];
		Form_pg_attribute attr;
		HeapTuple	typtup;
		Form_pg_type typform;
		Oid			funcid;
		Oid			typinput;

		/* skip dropped local columns: they are NULL in every row */
		while (TupleDescAttr(tupdesc, attnum)->attisdropped)
			attnum++;
		attr = TupleDescAttr(tupdesc, attnum);
		col->attnum = attnum;
		attnum++;

		col->local_type = attr->atttypid;
		col->local_typmod = attr->atttypmod;
		col->remote_type = (Oid) fields[i].type_oid;

		typtup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(attr->atttypid));
		if (!HeapTupleIsValid(typtup))
			elog(ERROR, "cache lookup failed for type %u", attr->atttypid);
		typform = (Form_pg_type) GETSTRUCT(typtup);

		if (requested != NULL)
			col->binary = (requested[i] == 1);
		else
			col->binary = (col->remote_type == col->local_type &&
						   PgaTypeIsBuiltin(col->local_type) &&
						   OidIsValid(typform->typreceive) &&
						   strings_ok);
		funcid = col->binary ? typform->typreceive : typform->typinput;
		if (!OidIsValid(funcid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("no input function available for type %s",
							format_type_be(attr->atttypid))));
		col->ioparam = getTypeIOParam(typtup);
		typinput = typform->typinput;
		ReleaseSysCache(typtup);

		fmgr_info_cxt(funcid, &col->func, mcxt);
		if (col->binary && col->remote_type != col->local_type &&
			PgaTypeIsBuiltin(col->remote_type))
		{
			Oid			recvfn;
			Oid			outfn;
			bool		isvarlena;

			/* binary of another built-in type: receive it, convert via text */
			col->convert = true;
			fmgr_info_cxt(typinput, &col->local_in, mcxt);
			col->local_ioparam = col->ioparam;
			getTypeBinaryInputInfo(col->remote_type, &recvfn, &col->ioparam);
			fmgr_info_cxt(recvfn, &col->func, mcxt);
			getTypeOutputInfo(col->remote_type, &outfn, &isvarlena);
			fmgr_info_cxt(outfn, &col->remote_out, mcxt);
		}
		col->fast = (col->binary && !col->convert) ?
			fast_decode_kind(col->local_type, col->local_typmod) : PGA_FAST_NONE;
		codec->formats[i] = col->binary ? 1 : 0;
	}

	return codec;
}

/* Can binary of this local type be requested before the remote type is known? */
static bool
type_safe_for_guess(Oid typid)
{
	char		category;
	bool		preferred;
	Oid			elem;

	if (!PgaTypeIsBuiltin(typid))
		return false;
	if (typid == UUIDOID || typid == BYTEAOID)
		return true;
	get_type_category_preferred(typid, &category, &preferred);
	switch (category)
	{
		case TYPCATEGORY_NUMERIC:
		case TYPCATEGORY_BOOLEAN:
		case TYPCATEGORY_DATETIME:
		case TYPCATEGORY_TIMESPAN:
		case TYPCATEGORY_NETWORK:
		case TYPCATEGORY_BITSTRING:
			return !(typid == REGPROCOID || typid == REGPROCEDUREOID ||
					 typid == REGOPEROID || typid == REGOPERATOROID ||
					 typid == REGCLASSOID || typid == REGTYPEOID ||
					 typid == REGCONFIGOID || typid == REGDICTIONARYOID ||
					 typid == REGNAMESPACEOID || typid == REGROLEOID ||
					 typid == REGCOLLATIONOID || typid == OIDOID);
		case TYPCATEGORY_ARRAY:
			elem = get_element_type(typid);
			return OidIsValid(elem) && elem != typid && type_safe_for_guess(elem);
		default:
			return false;
	}
}

int16 *
PgaResultFormatsGuess(TupleDesc tupdesc, int *n)
{
	int16	   *formats = palloc0(sizeof(int16) * Max(tupdesc->natts, 1));
	bool		strings_ok = binary_strings_ok();
	int			i;

	*n = 0;
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i);
		Oid			recvfn;
		Oid			ioparam;

		if (attr->attisdropped)
			continue;
		formats[*n] = 0;
		if (strings_ok && type_safe_for_guess(attr->atttypid))
		{
			getTypeBinaryInputInfo(attr->atttypid, &recvfn, &ioparam);
			if (OidIsValid(recvfn))
				formats[*n] = 1;
		}
		(*n)++;
	}
	return formats;
}

pgw_field_desc *
PgaFieldDescsCopy(const pgw_field_desc *src, int n)
{
	pgw_field_desc *dst = palloc(sizeof(pgw_field_desc) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
	{
		dst[i] = src[i];
		dst[i].name = pstrdup(src[i].name);
	}
	return dst;
}

bool
PgaResultCodecIsCurrent(const PgaResultCodec *codec)
{
	return codec->binary_strings == binary_strings_ok();
}

void
PgaDecodeRow(PgaResultCodec *codec, const pgw_value *columns, int ncolumns,
			 Datum *values, bool *nulls)
{
	TupleDesc	tupdesc = codec->tupdesc;
	StringInfo	buf = &codec->buf;
	DecodeErrorState errstate;
	ErrorContextCallback errcallback;
	int			attnum;
	int			i;

	if (ncolumns != codec->nremote)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("unexpected number of columns in a row from remote server %s",
						codec->server ? codec->server : ""),
				 errdetail_plural("The row has %d column, but the result was described with %d.",
								  "The row has %d columns, but the result was described with %d.",
								  ncolumns, ncolumns, codec->nremote)));

	errstate.codec = codec;
	errstate.attnum = -1;
	errcallback.callback = decode_error_callback;
	errcallback.arg = &errstate;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	/* dropped local columns are NULL in every row */
	if (codec->any_dropped)
	{
		for (attnum = codec->first_remote; attnum < tupdesc->natts; attnum++)
		{
			if (TupleDescAttr(tupdesc, attnum)->attisdropped)
			{
				values[attnum] = (Datum) 0;
				nulls[attnum] = true;
			}
		}
	}

	for (i = 0; i < ncolumns; i++)
	{
		PgaColumnCodec *col = &codec->cols[i];
		const pgw_value *value = &columns[i];

		attnum = col->attnum;
		errstate.attnum = attnum;

		if (value->len < 0)
		{
			/*
			 * Let the type see the NULL like COPY does: a strict function
			 * (nearly all) is not called, domain_in checks NOT NULL.
			 */
			if (col->binary)
				values[attnum] = ReceiveFunctionCall(&col->func, NULL,
													 col->ioparam,
													 col->local_typmod);
			else
				values[attnum] = InputFunctionCall(&col->func, NULL,
												   col->ioparam,
												   col->local_typmod);
			nulls[attnum] = true;
		}
		else if (col->fast == PGA_FAST_NUMERIC &&
				 numeric_wire_decode(value->data, value->len,
									 col->local_typmod, &values[attnum]))
			nulls[attnum] = false;
		else if (col->fast != PGA_FAST_NONE && col->fast != PGA_FAST_NUMERIC)
		{
			values[attnum] = fast_decode(col->fast, value->data, value->len, i + 1);
			nulls[attnum] = false;
		}
		else if (col->binary)
		{
			/* appendBinaryStringInfo keeps a trailing NUL, as Bind does */
			resetStringInfo(buf);
			appendBinaryStringInfo(buf, (const char *) value->data,
								   value->len);
			if (col->convert)
			{
				Datum		remote = ReceiveFunctionCall(&col->func, buf,
														 col->ioparam, -1);

				values[attnum] = InputFunctionCall(&col->local_in,
												   OutputFunctionCall(&col->remote_out, remote),
												   col->local_ioparam,
												   col->local_typmod);
			}
			else
				values[attnum] = ReceiveFunctionCall(&col->func, buf,
													 col->ioparam,
													 col->local_typmod);
			if (buf->cursor != buf->len)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
						 errmsg("incorrect binary data format in remote column %d",
								i + 1)));
			nulls[attnum] = false;
		}
		else
		{
			/*
			 * Input functions trust their argument to be a valid string in
			 * the database encoding, without NUL bytes; do not trust the
			 * remote server that far.
			 */
			(void) pg_verify_mbstr(GetDatabaseEncoding(),
								   (const char *) value->data, value->len,
								   false);
			resetStringInfo(buf);
			appendBinaryStringInfo(buf, (const char *) value->data,
								   value->len);
			values[attnum] = InputFunctionCall(&col->func, buf->data,
											   col->ioparam,
											   col->local_typmod);
			nulls[attnum] = false;
		}
	}

	error_context_stack = errcallback.previous;
}

/*
 * Parameters in text form are read by the remote server under the settings
 * pgasync pins for its sessions (DateStyle ISO, IntervalStyle postgres), not
 * under the local ones: with DateStyle DMY or IntervalStyle sql_standard,
 * or with extra_float_digits below 1, the local text forms of dates,
 * intervals and floats (also inside records and arrays) would be read
 * differently or lose precision.  Produce them under the same settings, as
 * postgres_fdw does.  Returns the GUC nest level to pass to AtEOXact_GUC.
 */
static int
set_transmission_modes(void)
{
	int			nestlevel = NewGUCNestLevel();

	if (DateStyle != USE_ISO_DATES)
		(void) set_config_option("datestyle", "ISO",
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	if (IntervalStyle != INTSTYLE_POSTGRES)
		(void) set_config_option("intervalstyle", "postgres",
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	if (extra_float_digits < 3)
		(void) set_config_option("extra_float_digits", "3",
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/*
 * Choose how values of type typid travel as parameters: the type OID to
 * send in Parse (returned), the format, and the send or output function,
 * looked up in mcxt.  The rules are those of PgaParamsFromArgs.
 */
static Oid
param_column_init(PgaParamColumn *col, Oid typid, bool strings_ok,
				  MemoryContext mcxt)
{
	Oid			basetype = getBaseType(typid);
	HeapTuple	typtup;
	Form_pg_type typform;
	bool		named_type;
	bool		binary;
	Oid			funcid;

	typtup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(basetype));
	if (!HeapTupleIsValid(typtup))
		elog(ERROR, "cache lookup failed for type %u", basetype);
	typform = (Form_pg_type) GETSTRUCT(typtup);

	/*
	 * The remote server knows a built-in type by its OID, except that
	 * records and composite types (and arrays of them) carry the OIDs of
	 * their columns in binary and need a matching row type on the remote
	 * side, and pseudo-types (unknown-typed literals, cstring, record) are
	 * no types to declare: those go as text of unspecified type.  A domain
	 * goes as its base type.
	 */
	named_type = PgaTypeIsBuiltin(basetype) &&
		typform->typtype != TYPTYPE_PSEUDO &&
		typform->typtype != TYPTYPE_COMPOSITE &&
		!(OidIsValid(typform->typelem) && typform->typlen == -1 &&
		  type_is_rowtype(typform->typelem));
	binary = named_type && OidIsValid(typform->typsend) && strings_ok;
	funcid = binary ? typform->typsend : typform->typoutput;
	ReleaseSysCache(typtup);

	col->format = binary ? 1 : 0;
	col->fast = binary ? fast_decode_kind(basetype, -1) : PGA_FAST_NONE;
	fmgr_info_cxt(funcid, &col->func, mcxt);
	return named_type ? basetype : InvalidOid;
}

/*
 * Encode one value as col says.  Values of the fast kinds are written in
 * their send functions' format without calling them: fixed-size ones into
 * col->scratch, strings and bytea as their own bytes (their send functions
 * would convert text to the client encoding, which binary_strings_ok()
 * ensured is a no-op).
 */
static void
param_column_encode(PgaParamColumn *col, Datum value, bool isnull,
					const char **data, int32 *len)
{
	if (isnull)
	{
		*data = NULL;
		*len = -1;
		return;
	}
	if (col->format == 0)
	{
		char	   *s = OutputFunctionCall(&col->func, value);

		*data = s;
		*len = (int32) strlen(s);
		return;
	}
	switch (col->fast)
	{
		case PGA_FAST_BOOL:
			col->scratch[0] = DatumGetBool(value) ? 1 : 0;
			*data = col->scratch;
			*len = 1;
			return;
		case PGA_FAST_INT2:
			{
				uint16		v = pg_hton16((uint16) DatumGetInt16(value));

				memcpy(col->scratch, &v, sizeof(v));
				*data = col->scratch;
				*len = sizeof(v);
				return;
			}
		case PGA_FAST_INT4:
		case PGA_FAST_DATE:
			{
				uint32		v = pg_hton32((uint32) DatumGetInt32(value));

				memcpy(col->scratch, &v, sizeof(v));
				*data = col->scratch;
				*len = sizeof(v);
				return;
			}
		case PGA_FAST_INT8:
		case PGA_FAST_TIMESTAMP:
			{
				uint64		v = pg_hton64((uint64) DatumGetInt64(value));

				memcpy(col->scratch, &v, sizeof(v));
				*data = col->scratch;
				*len = sizeof(v);
				return;
			}
		case PGA_FAST_FLOAT4:
			{
				float4		f = DatumGetFloat4(value);
				uint32		v;

				memcpy(&v, &f, sizeof(v));
				v = pg_hton32(v);
				memcpy(col->scratch, &v, sizeof(v));
				*data = col->scratch;
				*len = sizeof(v);
				return;
			}
		case PGA_FAST_FLOAT8:
			{
				float8		f = DatumGetFloat8(value);
				uint64		v;

				memcpy(&v, &f, sizeof(v));
				v = pg_hton64(v);
				memcpy(col->scratch, &v, sizeof(v));
				*data = col->scratch;
				*len = sizeof(v);
				return;
			}
		case PGA_FAST_TEXT:
		case PGA_FAST_BYTEA:
			{
				struct varlena *v = PG_DETOAST_DATUM_PACKED(value);

				*data = VARDATA_ANY(v);
				*len = (int32) VARSIZE_ANY_EXHDR(v);
				return;
			}
		case PGA_FAST_UUID:
			memcpy(col->scratch, DatumGetUUIDP(value)->data, UUID_LEN);
			*data = col->scratch;
			*len = UUID_LEN;
			return;
		case PGA_FAST_NUMERIC:
			{
				struct varlena *v = PG_DETOAST_DATUM_PACKED(value);
				int32		n = numeric_wire_size(v);
				char	   *b = n <= sizeof(col->scratch) ? col->scratch : palloc(n);

				numeric_wire_write(v, b);
				*data = b;
				*len = n;
				return;
			}
		case PGA_FAST_NONE:
			break;
	}
	{
		bytea	   *b = SendFunctionCall(&col->func, value);

		*data = VARDATA(b);
		*len = VARSIZE(b) - VARHDRSZ;
	}
}

/*
 * Add one argument value to params at index n.  typid is the value's type
 * as the function call sees it.  *nestlevel is -1 until a value is output
 * in text form; then it holds the nest level of set_transmission_modes.
 */
static void
encode_param(PgaParams *params, int n, Datum value, bool isnull, Oid typid,
			 bool strings_ok, int *nestlevel)
{
	PgaParamColumn col;
	const char *data;

	params->types[n] = param_column_init(&col, typid, strings_ok,
										 CurrentMemoryContext);
	params->formats[n] = col.format;
	/* the value must outlive col and its scratch */
	col.fast = PGA_FAST_NONE;
	if (!isnull && col.format == 0 && *nestlevel < 0)
		*nestlevel = set_transmission_modes();
	param_column_encode(&col, value, isnull, &data, &params->lengths[n]);
	params->values[n] = unconstify(char *, data);
}

/*
 * Make a parameter plan; with all_text, every column goes as text (with
 * the output function), whatever its type.
 */
static PgaParamPlan *
param_plan_create(int nparams, const Oid *types, bool all_text,
				  MemoryContext mcxt)
{
	MemoryContext old = MemoryContextSwitchTo(mcxt);
	PgaParamPlan *plan = palloc0(sizeof(PgaParamPlan));
	bool		strings_ok = binary_strings_ok();
	int			i;

	plan->nparams = nparams;
	plan->types = palloc(sizeof(Oid) * Max(nparams, 1));
	plan->formats = palloc(sizeof(int16) * Max(nparams, 1));
	plan->cols = palloc0(sizeof(PgaParamColumn) * Max(nparams, 1));
	for (i = 0; i < nparams; i++)
	{
		PgaParamColumn *col = &plan->cols[i];

		plan->types[i] = param_column_init(col, types[i], strings_ok, mcxt);
		if (all_text && col->format == 1)
		{
			Oid			outfunc;
			bool		isvarlena;

			getTypeOutputInfo(types[i], &outfunc, &isvarlena);
			fmgr_info_cxt(outfunc, &col->func, mcxt);
			col->format = 0;
			col->fast = PGA_FAST_NONE;
		}
		plan->formats[i] = col->format;
		if (plan->formats[i] == 0)
			plan->any_text = true;
	}
	MemoryContextSwitchTo(old);
	return plan;
}

PgaParamPlan *
PgaParamPlanCreate(int nparams, const Oid *types, MemoryContext mcxt)
{
	return param_plan_create(nparams, types, false, mcxt);
}

int
PgaParamPlanBeginText(const PgaParamPlan *plan)
{
	return plan->any_text ? set_transmission_modes() : -1;
}

void
PgaParamPlanEndText(int nestlevel)
{
	if (nestlevel >= 0)
		AtEOXact_GUC(true, nestlevel);
}

void
PgaParamEncode(PgaParamPlan *plan, int i, Datum value, bool isnull,
			   const char **data, int32 *len)
{
	Assert(i >= 0 && i < plan->nparams);
	param_column_encode(&plan->cols[i], value, isnull, data, len);
}

void
PgaParamsFromArgs(FunctionCallInfo fcinfo, int first_arg, PgaParams *params)
{
	int			nargs = PG_NARGS();
	int			last_plain = nargs;
	ArrayType  *variadic = NULL;
	Oid			elemtype = InvalidOid;
	Datum	   *elems = NULL;
	bool	   *elemnulls = NULL;
	int			nelems = 0;
	int			nparams;
	bool		strings_ok = binary_strings_ok();
	int			nestlevel = -1;
	int			n = 0;
	int			i;

	/*
	 * With VARIADIC "any", f(x, VARIADIC arr) passes the array itself as the
	 * last argument: its elements are the parameters.  A NULL array means no
	 * parameters, as for format().
	 */
	if (nargs > first_arg && get_fn_expr_variadic(fcinfo->flinfo))
	{
		last_plain = nargs - 1;
		if (!PG_ARGISNULL(nargs - 1))
		{
			Oid			arraytype = get_fn_expr_argtype(fcinfo->flinfo,
														nargs - 1);
			int16		elemlen;
			bool		elembyval;
			char		elemalign;

			if (!OidIsValid(arraytype) ||
				!OidIsValid(get_base_element_type(arraytype)))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("VARIADIC argument must be an array")));

			variadic = PG_GETARG_ARRAYTYPE_P(nargs - 1);
			elemtype = ARR_ELEMTYPE(variadic);
			get_typlenbyvalalign(elemtype, &elemlen, &elembyval, &elemalign);
			deconstruct_array(variadic, elemtype, elemlen, elembyval,
							  elemalign, &elems, &elemnulls, &nelems);
		}
	}

	nparams = Max(last_plain - first_arg, 0) + nelems;
	if (nparams > PG_UINT16_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many parameters for a remote query"),
				 errdetail("The remote query has %d parameters; at most %d are allowed.",
						   nparams, PG_UINT16_MAX)));

	params->nparams = nparams;
	params->types = palloc(sizeof(Oid) * Max(nparams, 1));
	params->formats = palloc(sizeof(int16) * Max(nparams, 1));
	params->values = palloc(sizeof(char *) * Max(nparams, 1));
	params->lengths = palloc(sizeof(int32) * Max(nparams, 1));

	for (i = first_arg; i < last_plain; i++)
	{
		Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, i);

		if (!OidIsValid(typid))
			elog(ERROR, "could not determine data type of argument %d",
				 i + 1);
		encode_param(params, n++, PG_GETARG_DATUM(i), PG_ARGISNULL(i),
					 typid, strings_ok, &nestlevel);
	}

	for (i = 0; i < nelems; i++)
		encode_param(params, n++, elems[i], elemnulls[i], elemtype,
					 strings_ok, &nestlevel);

	if (nestlevel >= 0)
		AtEOXact_GUC(true, nestlevel);

	Assert(n == nparams);
}

/*
 * Error context for PgaRowToJsonb.
 */
static void
jsonb_error_callback(void *arg)
{
	JsonbErrorState *state = (JsonbErrorState *) arg;

	if (state->colname)
		errcontext("column \"%s\" of the remote result", state->colname);
}

Jsonb *
PgaRowToJsonb(const pgw_field_desc *fields, int nfields,
			  const pgw_value *columns)
{
	int			encoding = GetDatabaseEncoding();
	JsonbParseState *state = NULL;
	JsonbValue *result;
	JsonbErrorState errstate;
	ErrorContextCallback errcallback;
	int			i;

	errstate.colname = NULL;
	errcallback.callback = jsonb_error_callback;
	errcallback.arg = &errstate;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);

	for (i = 0; i < nfields; i++)
	{
		const pgw_value *value = &columns[i];
		const char *data = (const char *) value->data;
		JsonbValue	key;
		JsonbValue	v;

		errstate.colname = fields[i].name;

		key.type = jbvString;
		key.val.string.len = (int) strlen(fields[i].name);
		key.val.string.val = unconstify(char *, fields[i].name);
		(void) pg_verify_mbstr(encoding, key.val.string.val,
							   key.val.string.len, false);
		pushJsonbValue(&state, WJB_KEY, &key);

		if (value->len < 0)
		{
			v.type = jbvNull;
			pushJsonbValue(&state, WJB_VALUE, &v);
			continue;
		}

		(void) pg_verify_mbstr(encoding, data, value->len, false);

		switch (fields[i].type_oid)
		{
			case INT2OID:
			case INT4OID:
			case INT8OID:
			case FLOAT4OID:
			case FLOAT8OID:
			case NUMERICOID:
				{
					char	   *str = pnstrdup(data, value->len);
					Numeric		num;

					num = DatumGetNumeric(DirectFunctionCall3(numeric_in,
															  CStringGetDatum(str),
															  ObjectIdGetDatum(InvalidOid),
															  Int32GetDatum(-1)));
					if (numeric_is_nan(num) || numeric_is_inf(num))
					{
						/* JSON has no NaN or infinity */
						v.type = jbvString;
						v.val.string.len = value->len;
						v.val.string.val = str;
					}
					else
					{
						v.type = jbvNumeric;
						v.val.numeric = num;
					}
					pushJsonbValue(&state, WJB_VALUE, &v);
				}
				break;

			case BOOLOID:
				if (value->len == 1 && (data[0] == 't' || data[0] == 'f'))
				{
					v.type = jbvBool;
					v.val.boolean = (data[0] == 't');
				}
				else
				{
					v.type = jbvString;
					v.val.string.len = value->len;
					v.val.string.val = unconstify(char *, data);
				}
				pushJsonbValue(&state, WJB_VALUE, &v);
				break;

			case JSONOID:
			case JSONBOID:
				{
					char	   *str = pnstrdup(data, value->len);
					Jsonb	   *jb;

					jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
															CStringGetDatum(str)));
					v.type = jbvBinary;
					v.val.binary.data = &jb->root;
					v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
					pushJsonbValue(&state, WJB_VALUE, &v);
				}
				break;

			default:
				v.type = jbvString;
				v.val.string.len = value->len;
				v.val.string.val = unconstify(char *, data);
				pushJsonbValue(&state, WJB_VALUE, &v);
				break;
		}
	}

	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);

	error_context_stack = errcallback.previous;

	return JsonbValueToJsonb(result);
}

char *
PgaValueToCString(const pgw_value *value)
{
	if (value->len < 0)
		return NULL;
	return pnstrdup((const char *) value->data, value->len);
}

/* ----------------------------------------------------------------
 * COPY data
 *
 * Rows of local values written as the data of COPY ... FROM STDIN, in
 * binary (the send functions, as binary parameters) or in text (the output
 * functions under the pinned settings, with COPY's escapes), with the same
 * per-column choices as a PgaParamPlan.  The caller takes the encoded
 * bytes out of buf whenever it likes: COPY data may be cut anywhere.
 * ----------------------------------------------------------------
 */

/* Signature of the binary COPY format: "PGCOPY\n\377\r\n\0" */
static const char copy_binary_signature[11] = "PGCOPY\n\377\r\n";

bool
PgaBinaryStringsOk(void)
{
	return binary_strings_ok();
}

PgaCopyWriter *
PgaCopyWriterCreate(int ncols, const Oid *types, bool binary,
					MemoryContext mcxt)
{
	MemoryContext old;
	PgaCopyWriter *w;
	int			i;

	w = MemoryContextAllocZero(mcxt, sizeof(PgaCopyWriter));
	w->plan = param_plan_create(ncols, types, !binary, mcxt);
	w->binary = binary;
	for (i = 0; binary && i < ncols; i++)
	{
		if (w->plan->formats[i] != 1)
			elog(ERROR, "type %s cannot be written in binary COPY format",
				 format_type_be(types[i]));
	}
	old = MemoryContextSwitchTo(mcxt);
	initStringInfo(&w->buf);
	w->data = palloc(sizeof(char *) * Max(ncols, 1));
	w->lens = palloc(sizeof(int32) * Max(ncols, 1));
	MemoryContextSwitchTo(old);
	if (binary)
	{
		/* signature, flags (no OIDs), header extension length */
		appendBinaryStringInfo(&w->buf, copy_binary_signature,
							   sizeof(copy_binary_signature));
		pq_sendint32(&w->buf, 0);
		pq_sendint32(&w->buf, 0);
	}
	return w;
}

int
PgaCopyWriterBeginText(const PgaCopyWriter *w)
{
	return PgaParamPlanBeginText(w->plan);
}

/*
 * Append s[0..len) escaped for COPY's text format: backslash, tab, newline
 * and carriage return get a backslash escape; everything else is copied.
 * The database encoding is server-safe: no byte of a multibyte character
 * is mistaken for one of these.
 */
static void
copy_text_escape(StringInfo buf, const char *s, int len)
{
	const char *end = s + len;
	const char *start = s;

	enlargeStringInfo(buf, len);
	for (; s < end; s++)
	{
		char		c = *s;
		char		esc;

		switch (c)
		{
			case '\\':
				esc = '\\';
				break;
			case '\t':
				esc = 't';
				break;
			case '\n':
				esc = 'n';
				break;
			case '\r':
				esc = 'r';
				break;
			default:
				continue;
		}
		if (s > start)
			appendBinaryStringInfoNT(buf, start, s - start);
		appendStringInfoCharMacro(buf, '\\');
		appendStringInfoCharMacro(buf, esc);
		start = s + 1;
	}
	if (s > start)
		appendBinaryStringInfoNT(buf, start, s - start);
}

/*
 * Append one row in binary COPY format: every column encoded first (each
 * into its own scratch, the value itself or palloc'd memory, so all stay
 * valid together), then the buffer enlarged once and the row copied in.
 */
static void
copy_writer_row_binary(PgaCopyWriter *w, const Datum *values,
					   const bool *nulls)
{
	PgaParamPlan *plan = w->plan;
	StringInfo	buf = &w->buf;
	int			ncols = plan->nparams;
	Size		total = 2;
	char	   *dst;
	int			i;

	for (i = 0; i < ncols; i++)
	{
		if (nulls[i])
		{
			w->data[i] = NULL;
			w->lens[i] = -1;
		}
		else if (plan->cols[i].fast == PGA_FAST_NUMERIC)
		{
			/* written straight into buf below */
			struct varlena *v = PG_DETOAST_DATUM_PACKED(values[i]);

			w->data[i] = (const char *) v;
			w->lens[i] = numeric_wire_size(v);
		}
		else
			param_column_encode(&plan->cols[i], values[i], false,
								&w->data[i], &w->lens[i]);
		total += 4 + Max(w->lens[i], 0);
	}
	/* as enlargeStringInfo() would complain, before total overflows an int */
	if (total >= (Size) (MaxAllocSize - buf->len))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("out of memory"),
				 errdetail("Cannot enlarge string buffer containing %d bytes by %zu more bytes.",
						   buf->len, total)));
	enlargeStringInfo(buf, (int) total);

	dst = buf->data + buf->len;
	{
		uint16		n16 = pg_hton16((uint16) ncols);

		memcpy(dst, &n16, sizeof(n16));
		dst += sizeof(n16);
	}
	for (i = 0; i < ncols; i++)
	{
		int32		len = w->lens[i];
		uint32		n32 = pg_hton32((uint32) len);

		memcpy(dst, &n32, sizeof(n32));
		dst += sizeof(n32);
		if (len <= 0)
			continue;
		if (plan->cols[i].fast == PGA_FAST_NUMERIC)
			numeric_wire_write((const struct varlena *) w->data[i], dst);
		else if (len == 8)
			memcpy(dst, w->data[i], 8);
		else if (len == 4)
			memcpy(dst, w->data[i], 4);
		else
			memcpy(dst, w->data[i], len);
		dst += len;
	}
	buf->len = (int) (dst - buf->data);
	buf->data[buf->len] = '\0';
}

void
PgaCopyWriterRow(PgaCopyWriter *w, const Datum *values, const bool *nulls)
{
	PgaParamPlan *plan = w->plan;
	StringInfo	buf = &w->buf;
	int			i;

	if (w->binary)
	{
		copy_writer_row_binary(w, values, nulls);
		w->rows++;
		return;
	}
	for (i = 0; i < plan->nparams; i++)
	{
		const char *data;
		int32		len;

		param_column_encode(&plan->cols[i], values[i], nulls[i], &data, &len);
		if (i > 0)
			appendStringInfoCharMacro(buf, '\t');
		if (len < 0)
			appendBinaryStringInfoNT(buf, "\\N", 2);
		else
			copy_text_escape(buf, data, len);
	}
	appendStringInfoCharMacro(buf, '\n');
	w->rows++;
}

void
PgaCopyWriterFinish(PgaCopyWriter *w)
{
	if (w->binary)
		pq_sendint16(&w->buf, (uint16) -1);
}
