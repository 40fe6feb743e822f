-- +goose Up
-- The durable job queue: one row per job not finished yet, deleted when it is done. A
-- worker claims due rows (FOR UPDATE SKIP LOCKED) by setting lease_until; a row whose
-- lease has run out (its worker died) is due again. attempts counts claims and fences a
-- worker whose lease was taken over: it may only finish or reschedule the row at the
-- attempt it claimed.
CREATE TABLE jobs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    args        TEXT NOT NULL DEFAULT '',
    run_at      TIMESTAMPTZ NOT NULL,
    lease_until TIMESTAMPTZ,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (kind, key)
);
CREATE INDEX jobs_due ON jobs (run_at);

-- +goose Down
DROP TABLE jobs;
