# Makefile for pgasync (PGXS)

EXTENSION = pgasync
MODULE_big = pgasync
DATA = src/pgasync--0.1.sql
PGFILEDESC = "pgasync - native asynchronous PostgreSQL client"

PROTOCOL_OBJS = \
	src/protocol/pgw.o \
	src/protocol/pgw_buf.o \
	src/protocol/pgw_msg.o \
	src/protocol/pgw_auth.o \
	src/protocol/pgw_dsn.o \
	src/protocol/pgw_conn.o

TLS_OBJS = \
	src/tls/pgw_tls.o \
	src/tls/pgw_crypto_openssl.o

BACKEND_OBJS = \
	src/backend/pgasync.o \
	src/backend/async.o \
	src/backend/codec.o \
	src/backend/connection.o \
	src/backend/copy.o \
	src/backend/copy_local.o \
	src/backend/driver.o \
	src/backend/fanout.o \
	src/backend/executemany.o \
	src/backend/fdw.o \
	src/backend/notify.o \
	src/backend/option.o \
	src/backend/pool.o \
	src/backend/query.o \
	src/backend/remote_error.o \
	src/backend/scan.o \
	src/backend/xact.o

OBJS = $(PROTOCOL_OBJS) $(TLS_OBJS) $(BACKEND_OBJS)

REGRESS = pgasync_basic pgasync_options pgasync_query pgasync_types pgasync_errors pgasync_cache pgasync_executemany pgasync_copy_local pgasync_notify pgasync_pool pgasync_xact pgasync_scan
REGRESS_OPTS = --inputdir=. --outputdir=$(CURDIR)/results_regress

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Werror -Wall
SHLIB_LINK = -lssl -lcrypto

EXTRA_CLEAN = results_regress

# Rebuild objects when a header they include changes.
override autodepend = yes

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The protocol core and TLS layers must never see postgres.h: build them
# without the server include path.
$(PROTOCOL_OBJS) $(TLS_OBJS): override CPPFLAGS := -I$(srcdir)/src -D_GNU_SOURCE

.PHONY: unit fuzz check-core-purity
unit:
	$(MAKE) -C test/unit run

fuzz:
	$(MAKE) -C test/fuzz run

# The core's folder must hold no postgres.h, sockets, ereport or palloc.
check-core-purity:
	@if grep -nP '#\s*include\s*[<"](postgres|postgres_fe|sys/socket|netinet/|arpa/inet|netdb|poll|sys/select)|\b(ereport|elog|palloc0?|pfree|repalloc|socket|connect|accept|bind|listen|recv|recvfrom|send|sendto|poll|select|epoll_wait|SSL_set_fd|BIO_new_socket)\s*\(' \
		src/protocol/*.c src/protocol/*.h src/tls/*.c src/tls/*.h; then \
		echo "the protocol core or TLS layer uses server or socket APIs"; exit 1; \
	else echo "protocol core and TLS layer: no postgres.h, sockets, ereport or palloc"; fi
