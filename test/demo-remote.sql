-- demo-remote.sql: data on the "remote" cluster for the pgasync demo.
DROP TABLE IF EXISTS orders;
CREATE TABLE orders (
    id       bigint PRIMARY KEY,
    customer text NOT NULL,
    amount   numeric(12,2) NOT NULL,
    placed   timestamptz NOT NULL,
    tags     text[]
);
INSERT INTO orders
SELECT g, 'customer ' || (g % 100), (g % 997) / 10.0,
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute',
       ARRAY['t' || (g % 3), 't' || (g % 5)]
  FROM generate_series(1, 100000) g;
ANALYZE orders;
