#!/usr/bin/env python3
#-------------------------------------------------------------------------
#
# make_corpus.py
#	  Writes the seed corpus of fuzz_conn: realistic server byte streams
#	  (trust startup, MD5, a full SCRAM exchange, SCRAM-PLUS over "TLS",
#	  query results for the requests fuzz_conn sends, errors, COPY,
#	  protocol 3.2) in fuzz_conn's input layout:
#
#		byte 0	configuration flags (FZ_* in fuzz_conn.c)
#		byte 1	seed of the chunk sizes
#		rest	the server stream
#
#	  Uses only the Python standard library.
#
#	  usage: make_corpus.py <output directory>
#
#-------------------------------------------------------------------------

import base64
import hashlib
import hmac
import os
import struct
import sys

# must match fuzz_conn.c
FZ_SSL = 0x01
FZ_PROTO32 = 0x02
FZ_CB_DISABLE = 0 << 2
FZ_CB_REQUIRE = 2 << 2
FZ_CB_PREFER = 3 << 2
FZ_REQUIRE_SCRAM = 0x10
FZ_SMALL_LIMITS = 0x40
FZ_NONCE = b"fuzzclientnonce0123"
FZ_CB_DATA = bytes(range(0x10, 0x30))
USER = b"fuzz"
PASSWORD = b"pw"
SCRAM_ITERATIONS = 16           # fuzz_conn computes at most 16


def msg(t, body=b""):
    return t + struct.pack("!I", len(body) + 4) + body


def cstr(s):
    return s + b"\0"


def auth(code, data=b""):
    return msg(b"R", struct.pack("!i", code) + data)


def param(name, value):
    return msg(b"S", cstr(name) + cstr(value))


def key(pid, k):
    return msg(b"K", struct.pack("!i", pid) + k)


def rfq(tx=b"I"):
    return msg(b"Z", tx)


def rowdesc(names):
    body = struct.pack("!h", len(names))
    for i, n in enumerate(names):
        body += cstr(n) + struct.pack("!ihihih", 0, 0, 23 if i == 0 else 25,
                                      4 if i == 0 else -1, -1, 0)
    return msg(b"T", body)


def datarow(values):
    body = struct.pack("!h", len(values))
    for v in values:
        if v is None:
            body += struct.pack("!i", -1)
        else:
            body += struct.pack("!i", len(v)) + v
    return msg(b"D", body)


def complete(tag):
    return msg(b"C", cstr(tag))


def fields(t, pairs):
    body = b""
    for code, value in pairs:
        body += code + cstr(value)
    return msg(t, body + b"\0")


def error(sev, code, text):
    return fields(b"E", [(b"S", sev), (b"V", sev), (b"C", code),
                         (b"M", text), (b"F", b"postgres.c"), (b"L", b"1"),
                         (b"R", b"exec_simple_query")])


def startup_tail():
    return (param(b"server_version", b"15.20 (Debian 15.20-1.pgdg120+1)") +
            param(b"client_encoding", b"UTF8") +
            param(b"DateStyle", b"ISO, MDY") +
            key(4242, b"\xde\xad\xbe\xef") + rfq())


def results():
    """Answers to fuzz_conn's queued requests: two Syncs and a Query."""
    return (msg(b"1") + msg(b"2") + rowdesc([b"int4"]) +
            datarow([b"\0\0\0\x2a"]) + complete(b"SELECT 1") + rfq() +
            msg(b"1") + msg(b"2") + datarow([b"2"]) + complete(b"SELECT 1") +
            rfq() +
            rowdesc([b"?column?"]) + datarow([b"3"]) +
            complete(b"SELECT 1") + rfq())


def scram(gs2, cb=b"", bad=False):
    """A SCRAM exchange as a server would run it with fuzz_conn."""
    salt = b"saltsaltsaltsalt"
    server_first = (b"r=" + FZ_NONCE + b"srvnonce,s=" +
                    base64.b64encode(salt) +
                    b",i=" + str(SCRAM_ITERATIONS).encode())
    cbind = base64.b64encode(gs2 + cb)
    wo_proof = b"c=" + cbind + b",r=" + FZ_NONCE + b"srvnonce"
    authmsg = b"n=,r=" + FZ_NONCE + b"," + server_first + b"," + wo_proof
    salted = hashlib.pbkdf2_hmac("sha256", PASSWORD, salt, SCRAM_ITERATIONS)
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    sig = bytearray(hmac.new(server_key, authmsg, hashlib.sha256).digest())
    if bad:
        sig[0] ^= 1
    server_final = b"v=" + base64.b64encode(bytes(sig))
    return (auth(11, server_first) + auth(12, server_final))


def sasl(mechs):
    return auth(10, b"".join(cstr(m) for m in mechs) + b"\0")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "corpus"
    os.makedirs(out, exist_ok=True)
    prefer = FZ_CB_PREFER
    seeds = {
        "trust_query": (prefer, 0,
                        auth(0) + startup_tail() + results()),
        "trust_whole": (prefer, 8,
                        auth(0) + startup_tail() + results()),
        "cleartext": (prefer, 3,
                      auth(3) + auth(0) + startup_tail() + results()),
        "md5": (prefer, 1,
                auth(5, b"\x01\x02\x03\x04") + auth(0) + startup_tail() +
                results()),
        "scram": (prefer, 2,
                  sasl([b"SCRAM-SHA-256"]) + scram(b"n,,") + auth(0) +
                  startup_tail() + results()),
        "scram_badsig": (prefer, 5,
                         sasl([b"SCRAM-SHA-256"]) +
                         scram(b"n,,", bad=True) + auth(0)),
        "scram_plus_ssl": (prefer | FZ_SSL, 4,
                           b"S" +
                           sasl([b"SCRAM-SHA-256-PLUS", b"SCRAM-SHA-256"]) +
                           scram(b"p=tls-server-end-point,,", FZ_CB_DATA) +
                           auth(0) + startup_tail() + results()),
        "ssl_rejected": (prefer | FZ_SSL, 6,
                         b"N" + auth(0) + startup_tail() + results()),
        "startup_fatal": (prefer, 7,
                          auth(3) +
                          fields(b"E", [(b"S", b"FATAL"), (b"V", b"FATAL"),
                                        (b"C", b"28P01"),
                                        (b"M", b"password authentication "
                                         b"failed for user \"fuzz\""),
                                        (b"F", b"auth.c"), (b"L", b"330"),
                                        (b"R", b"auth_failed")])),
        "query_error": (prefer, 9,
                        auth(0) + startup_tail() +
                        msg(b"1") + error(b"ERROR", b"22012",
                                          b"division by zero") + rfq() +
                        fields(b"N", [(b"S", b"NOTICE"), (b"C", b"00000"),
                                      (b"M", b"hello")]) +
                        msg(b"A", struct.pack("!i", 77) + cstr(b"chan") +
                            cstr(b"payload")) +
                        msg(b"1") + msg(b"2") + msg(b"n") + msg(b"I") +
                        rfq(b"T") +
                        error(b"ERROR", b"42601", b"syntax error") +
                        rfq(b"E") +
                        error(b"FATAL", b"57P01", b"terminating connection")),
        "copy": (prefer, 10,
                 auth(0) + startup_tail() +
                 msg(b"H", b"\0" + struct.pack("!hh", 1, 0)) +
                 msg(b"d", b"1\n") + msg(b"d", b"2\n") + msg(b"c") +
                 complete(b"COPY 2") + rfq() +
                 msg(b"G", b"\0" + struct.pack("!hhh", 2, 0, 0)) +
                 complete(b"COPY 1") + rfq() +
                 msg(b"W", b"\0" + struct.pack("!h", 0)) +
                 msg(b"d", b"w") + msg(b"c") + complete(b"COPY 0") + rfq()),
        "proto32": (prefer | FZ_PROTO32, 11,
                    auth(0) + key(31337, bytes(range(32))) + rfq() +
                    results()),
        "negotiate": (prefer | FZ_PROTO32, 12,
                      msg(b"v", struct.pack("!ii", 196608, 1) +
                          cstr(b"_pq_.something")) +
                      auth(0) + startup_tail() + results()),
        "extended": (prefer, 14,
                     auth(0) + startup_tail() +
                     msg(b"1") +
                     msg(b"t", struct.pack("!hi", 1, 23)) +
                     rowdesc([b"a"]) + msg(b"2") + msg(b"n") +
                     datarow([b"1"]) + msg(b"s") + msg(b"3") + rfq(b"T") +
                     msg(b"V", struct.pack("!i", 2) + b"ok") + rfq(b"T") +
                     msg(b"V", struct.pack("!i", -1)) + rfq(b"E")),
        "small_limits": (prefer | FZ_SMALL_LIMITS, 13,
                         auth(0) + startup_tail() +
                         datarow([b"x" * 5000])),
    }
    for name, (flags, seed, stream) in sorted(seeds.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([flags, seed]) + stream)


if __name__ == "__main__":
    main()
