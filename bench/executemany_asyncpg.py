#!/usr/bin/python3
"""asyncpg's executemany for bench/run.sh (group "executemany").

Usage: executemany_asyncpg.py DSN ROWS

DSN is a libpq key=value connection string (host may be a socket
directory).  Inserts ROWS rows like those of the benchmark's table t into
t2 with one executemany() call and prints "BENCH_INNER_TIME <seconds>":
the time of that call alone.  Connecting, building the rows, a warm-up of
1,000 rows and truncating t2 afterwards are not timed.
"""

import asyncio
import datetime
import decimal
import hashlib
import sys
import time

import asyncpg

INSERT = "INSERT INTO t2 VALUES ($1, $2, $3, $4)"
EPOCH = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)


def rows(n):
    """The rows of the SQL cases: id, md5(id), amount, ts."""
    return [(g,
             hashlib.md5(str(g).encode()).hexdigest(),
             decimal.Decimal((g * 7919) % 10000000) / 100,
             EPOCH + datetime.timedelta(seconds=g))
            for g in range(1, n + 1)]


async def main(dsn, n):
    params = dict(kv.split("=", 1) for kv in dsn.split())
    conn = await asyncpg.connect(host=params.get("host"),
                                 port=int(params.get("port", 5432)),
                                 user=params.get("user"),
                                 database=params.get("dbname"))
    try:
        await conn.executemany(INSERT, rows(1000))
        await conn.execute("TRUNCATE t2")
        data = rows(n)
        t0 = time.perf_counter()
        await conn.executemany(INSERT, data)
        elapsed = time.perf_counter() - t0
    finally:
        await conn.close()
    print("BENCH_INNER_TIME %.6f" % elapsed, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
