/*-------------------------------------------------------------------------
 *
 * codec.h
 *	  Conversion between remote values and local Datums: result columns
 *	  decoded in binary with the local type's receive function when the
 *	  remote type is the same built-in type, in text with the input function
 *	  otherwise; query parameters encoded in binary with the send function
 *	  for built-in types, in text otherwise; rows as jsonb.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGASYNC_CODEC_H
#define PGASYNC_CODEC_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "protocol/pgw_msg.h"

/* Built-in types have OIDs below FirstGenbkiObjectId (10000). */
#define PgaTypeIsBuiltin(typid)	((typid) < 10000)

/*
 * Binary values of these types are decoded straight from the wire bytes,
 * with the same checks as their receive functions; others call typreceive.
 * Parameter plans (PgaParamPlan) encode them likewise without typsend.
 */
typedef enum PgaFastDecode
{
	PGA_FAST_NONE,
	PGA_FAST_BOOL,
	PGA_FAST_INT2,
	PGA_FAST_INT4,
	PGA_FAST_INT8,
	PGA_FAST_FLOAT4,
	PGA_FAST_FLOAT8,
	PGA_FAST_DATE,
	PGA_FAST_TIMESTAMP,			/* timestamp and timestamptz */
	PGA_FAST_TEXT,				/* text, varchar without typmod */
	PGA_FAST_BYTEA,
	PGA_FAST_UUID,
	PGA_FAST_NUMERIC			/* any typmod; falls back to typreceive */
} PgaFastDecode;

typedef struct PgaColumnCodec
{
	int			attnum;			/* local column (0-based) it decodes into */
	Oid			local_type;
	int32		local_typmod;
	Oid			remote_type;
	bool		binary;			/* request and decode in binary */
	PgaFastDecode fast;			/* binary decoding without typreceive */
	FmgrInfo	func;			/* receive (binary) or input (text) function */
	Oid			ioparam;
	/*
	 * Binary requested before the remote type was known, and it turned out
	 * to be another built-in type: func/ioparam receive the remote type,
	 * whose output function then feeds the local input function.
	 */
	bool		convert;
	FmgrInfo	remote_out;
	FmgrInfo	local_in;
	Oid			local_ioparam;
} PgaColumnCodec;

typedef struct PgaResultCodec
{
	TupleDesc	tupdesc;		/* local row type */
	int			first_remote;	/* local column of remote column 0 (0 or 1) */
	int			nremote;		/* remote columns */
	bool		any_dropped;	/* tupdesc has dropped columns */
	PgaColumnCodec *cols;		/* nremote entries */
	int16	   *formats;		/* nremote result format codes, for Bind */
	StringInfoData buf;			/* scratch for one value */
	const char *server;			/* quoted label, for error messages */
	bool		binary_strings; /* planned while string types could go in binary */
	MemoryContext mcxt;
} PgaResultCodec;

/*
 * Plan the decoding of a remote result described by fields into rows of
 * tupdesc.  When allow_tag is true and tupdesc has exactly one column more
 * than the remote result, local column 0 is left to the caller (fan-out
 * target tagging) and first_remote is 1.  A column-count mismatch is an
 * error naming the server.  The remote types come from a statement
 * Describe (fields[i].type_oid); formats[] then holds the result formats to
 * request in Bind: binary where the remote type equals the local one, is
 * built-in and has a receive function; text otherwise.  When requested is
 * given, the formats were already chosen (before the remote types were
 * known) and the plan decodes what was asked for.  Everything is
 * allocated in mcxt.
 */
extern PgaResultCodec *PgaResultCodecCreate(TupleDesc tupdesc,
											const pgw_field_desc *fields,
											int nfields, bool allow_tag,
											const int16 *requested,
											const char *server,
											MemoryContext mcxt);

/*
 * Result formats to request before the remote column types are known (a
 * statement-cache miss, whose Bind goes out with its Parse): binary for
 * local column types that are built-in, have a receive function and whose
 * binary form cannot be mistaken for another type's (numbers, booleans,
 * date/time, network, bit strings, uuid, bytea, and arrays of these);
 * text for the rest.  One code per live column of tupdesc; *n is set.
 */
extern int16 *PgaResultFormatsGuess(TupleDesc tupdesc, int *n);

/*
 * Copy a RowDescription's fields (which point into the connection's input
 * buffer) into the current memory context.
 */
extern pgw_field_desc *PgaFieldDescsCopy(const pgw_field_desc *src, int n);

/*
 * Can the codec still be used?  Its choice of binary formats depends on the
 * local client_encoding when it was planned (see codec.c).
 */
extern bool PgaResultCodecIsCurrent(const PgaResultCodec *codec);

/*
 * Decode one DataRow into values/nulls (tupdesc->natts entries; entries
 * before first_remote are left alone).  Conversion errors carry a context
 * naming the column and the server.
 */
extern void PgaDecodeRow(PgaResultCodec *codec, const pgw_value *columns,
						 int ncolumns, Datum *values, bool *nulls);

/* Remote query parameters built from SQL arguments */
typedef struct PgaParams
{
	int			nparams;
	Oid		   *types;			/* sent in Parse: built-in types, else 0 */
	int16	   *formats;		/* 1 binary, 0 text */
	char	  **values;			/* NULL for SQL NULL */
	int32	   *lengths;
} PgaParams;

/*
 * Build parameters from arguments first_arg..PG_NARGS()-1 of a function
 * declared with VARIADIC "any" (also handles a VARIADIC array passed
 * explicitly).  Allocated in the current memory context.
 */
extern void PgaParamsFromArgs(FunctionCallInfo fcinfo, int first_arg,
							  PgaParams *params);

/*
 * A reusable encoding plan for rows of parameters of known types
 * (pgasync.executemany): the choices PgaParamsFromArgs makes value by value
 * -- the type OID sent in Parse, the format, the send or output function --
 * made once per column, so that encoding a row does no catalog lookup.
 */
typedef struct PgaParamColumn
{
	int16		format;			/* 1 binary, 0 text */
	PgaFastDecode fast;			/* binary encoding without typsend */
	FmgrInfo	func;			/* send (binary) or output (text) function */
	char		scratch[32];	/* wire bytes of a fixed-size fast value or
								 * of a numeric of up to 12 digits */
} PgaParamColumn;

typedef struct PgaParamPlan
{
	int			nparams;
	Oid		   *types;			/* sent in Parse: built-in types, else 0 */
	int16	   *formats;		/* for Bind */
	PgaParamColumn *cols;
	bool		any_text;		/* some column goes as text */
} PgaParamPlan;

/* Plan parameters of the given local types; allocated in mcxt. */
extern PgaParamPlan *PgaParamPlanCreate(int nparams, const Oid *types,
										MemoryContext mcxt);

/*
 * Around encoding values that go as text: pin the settings their text
 * forms depend on (DateStyle, IntervalStyle, extra_float_digits) while
 * PgaParamEncode runs.  Begin returns the GUC nest level to hand to End,
 * or -1 when the plan has no text column.  Do not run other code in
 * between: it would see the pinned settings.
 */
extern int	PgaParamPlanBeginText(const PgaParamPlan *plan);
extern void PgaParamPlanEndText(int nestlevel);

/*
 * Encode one value of parameter i.  *data points to its wire bytes (in the
 * column's scratch, in the value itself, or palloc'd in the current memory
 * context), *len is their count or -1 for NULL.  Valid until the next
 * value of the same column is encoded, the value is freed, or the current
 * memory context is reset.
 */
extern void PgaParamEncode(PgaParamPlan *plan, int i, Datum value,
						   bool isnull, const char **data, int32 *len);

/*
 * Can string types travel in binary?  Their send and receive functions
 * convert between the local client_encoding and the database encoding,
 * while remote connections exchange text in the database encoding: only
 * when the two agree (or client_encoding is SQL_ASCII).
 */
extern bool PgaBinaryStringsOk(void);

/*
 * Rows of local values encoded as the data of COPY ... FROM STDIN
 * (pgasync.copy_to_remote, the COPY path of pgasync.executemany).  Each
 * column is encoded as a parameter of its type would be (PgaParamPlan):
 * in binary COPY with the send function (every column must then be one
 * that a PgaParamPlan sends in binary: a built-in type, see
 * PgaParamPlanCreate), in text COPY with the output function, under the
 * settings PgaCopyWriterBeginText pins, and with COPY's text escapes.
 * The binary header is written when the writer is made.  Encoded bytes
 * pile up in buf; the caller sends them (as CopyData, cut anywhere) and
 * resets buf whenever it likes.
 */
typedef struct PgaCopyWriter
{
	PgaParamPlan *plan;			/* plan->types: the OIDs a binary COPY needs */
	bool		binary;
	StringInfoData buf;			/* encoded data not yet taken */
	uint64		rows;			/* rows written */
	const char **data;			/* binary: one row's encoded columns ... */
	int32	   *lens;			/* ... and their lengths, before copying */
} PgaCopyWriter;

/* Allocated in mcxt; buf grows there. */
extern PgaCopyWriter *PgaCopyWriterCreate(int ncols, const Oid *types,
										  bool binary, MemoryContext mcxt);

/*
 * Around writing rows in text format, as PgaParamPlanBeginText/EndText
 * (end with PgaParamPlanEndText).
 */
extern int	PgaCopyWriterBeginText(const PgaCopyWriter *w);

/*
 * Append one row (ncols values).  What the output and send functions
 * allocate goes to the current memory context.
 */
extern void PgaCopyWriterRow(PgaCopyWriter *w, const Datum *values,
							 const bool *nulls);

/* Append the end of the data (the binary trailer; nothing in text). */
extern void PgaCopyWriterFinish(PgaCopyWriter *w);

/*
 * One remote row as a jsonb object keyed by column name; values decoded
 * from text format: numbers (but NaN/Infinity), booleans, json and jsonb
 * as themselves, NULL as null, everything else as a string.
 */
extern Jsonb *PgaRowToJsonb(const pgw_field_desc *fields, int nfields,
							const pgw_value *columns);

/* Text of one column of a text-format result, palloc'd; NULL for NULL. */
extern char *PgaValueToCString(const pgw_value *value);

#endif							/* PGASYNC_CODEC_H */
