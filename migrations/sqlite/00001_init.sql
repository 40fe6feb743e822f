-- +goose Up
CREATE TABLE orgs (
    id                 INTEGER PRIMARY KEY,
    slug               TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL,
    timezone           TEXT NOT NULL DEFAULT 'America/New_York',
    forward_to         TEXT NOT NULL DEFAULT '',
    notify_number      TEXT NOT NULL DEFAULT '',
    textback_template  TEXT NOT NULL DEFAULT '',
    textback_enabled   BOOLEAN NOT NULL DEFAULT TRUE,
    min_answer_seconds INTEGER NOT NULL DEFAULT 0,
    stripe_customer_id TEXT,
    created_at         TEXT NOT NULL
);
CREATE UNIQUE INDEX orgs_stripe_customer ON orgs (stripe_customer_id);

CREATE TABLE tracked_numbers (
    number     TEXT PRIMARY KEY,
    org_id     BIGINT NOT NULL REFERENCES orgs (id),
    created_at TEXT NOT NULL
);
CREATE INDEX tracked_numbers_org ON tracked_numbers (org_id);

-- The evidence: one row per delivery, whatever happened to it.
CREATE TABLE webhook_log (
    id            INTEGER PRIMARY KEY,
    received_at   TEXT NOT NULL,
    provider      TEXT NOT NULL,
    route         TEXT NOT NULL,
    org_id        BIGINT,
    remote_addr   TEXT NOT NULL DEFAULT '',
    url           TEXT NOT NULL DEFAULT '',
    headers       TEXT NOT NULL DEFAULT '{}',
    content_type  TEXT NOT NULL DEFAULT '',
    body          BLOB NOT NULL,
    body_sha256   TEXT NOT NULL,
    body_truncated BOOLEAN NOT NULL DEFAULT FALSE,
    signature     TEXT NOT NULL,
    dedupe_key    TEXT NOT NULL DEFAULT '',
    duplicate_of  BIGINT,
    kind          TEXT NOT NULL DEFAULT '',
    call_sid      TEXT NOT NULL DEFAULT '',
    caller        TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,
    error         TEXT NOT NULL DEFAULT '',
    http_status   INTEGER NOT NULL DEFAULT 0,
    response_body TEXT NOT NULL DEFAULT '',
    latency_us    BIGINT NOT NULL DEFAULT 0,
    replay_of     BIGINT
);
CREATE INDEX webhook_log_org ON webhook_log (org_id, id);
CREATE INDEX webhook_log_received ON webhook_log (received_at);
CREATE INDEX webhook_log_status ON webhook_log (status, id);
CREATE INDEX webhook_log_call ON webhook_log (call_sid) WHERE call_sid <> '';
CREATE INDEX webhook_log_dedupe ON webhook_log (dedupe_key) WHERE dedupe_key <> '';

-- The claim a delivery makes on its dedupe key, in the transaction that applies it.
CREATE TABLE webhook_claims (
    dedupe_key TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);

CREATE TABLE leads (
    id         INTEGER PRIMARY KEY,
    org_id     BIGINT NOT NULL REFERENCES orgs (id),
    phone      TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'open',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (org_id, phone)
);

CREATE TABLE calls (
    id           INTEGER PRIMARY KEY,
    call_sid     TEXT NOT NULL UNIQUE,
    org_id       BIGINT NOT NULL REFERENCES orgs (id),
    from_number  TEXT NOT NULL,
    to_number    TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    outcome      TEXT NOT NULL DEFAULT 'forwarded',
    reason       TEXT NOT NULL DEFAULT '',
    dial_status  TEXT NOT NULL DEFAULT '',
    call_status  TEXT NOT NULL DEFAULT '',
    lead_id      BIGINT REFERENCES leads (id),
    updated_at   TEXT NOT NULL
);
CREATE INDEX calls_org ON calls (org_id, started_at);

-- Every fact a callback carried about a call; the outcome is derived from these alone.
CREATE TABLE call_facts (
    id                 INTEGER PRIMARY KEY,
    call_sid           TEXT NOT NULL,
    kind               TEXT NOT NULL,
    dial_status        TEXT NOT NULL DEFAULT '',
    dial_call_sid      TEXT NOT NULL DEFAULT '',
    dial_duration      INTEGER NOT NULL DEFAULT 0,
    call_status        TEXT NOT NULL DEFAULT '',
    call_duration      INTEGER NOT NULL DEFAULT 0,
    sequence_number    INTEGER NOT NULL DEFAULT -1,
    received_at        TEXT NOT NULL,
    log_id             BIGINT
);
CREATE INDEX call_facts_call ON call_facts (call_sid);

CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    org_id      BIGINT NOT NULL REFERENCES orgs (id),
    lead_id     BIGINT REFERENCES leads (id),
    direction   TEXT NOT NULL,
    call_sid    TEXT UNIQUE,
    sid         TEXT UNIQUE,
    from_number TEXT NOT NULL,
    to_number   TEXT NOT NULL,
    body        TEXT NOT NULL,
    status      TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    attempted_at TEXT,
    sent_at     TEXT
);
CREATE INDEX messages_lead ON messages (lead_id, created_at);
CREATE INDEX messages_to ON messages (org_id, to_number, direction, status);

CREATE TABLE opt_outs (
    org_id     BIGINT NOT NULL REFERENCES orgs (id),
    phone      TEXT NOT NULL,
    opted_out  BOOLEAN NOT NULL,
    keyword    TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (org_id, phone)
);

CREATE TABLE org_billing (
    org_id                     BIGINT PRIMARY KEY REFERENCES orgs (id),
    customer_id                TEXT NOT NULL DEFAULT '',
    subscription_id            TEXT NOT NULL DEFAULT '',
    status                     TEXT NOT NULL DEFAULT '',
    price_id                   TEXT NOT NULL DEFAULT '',
    current_period_end         TEXT,
    trial_end                  TEXT,
    cancel_at_period_end       BOOLEAN NOT NULL DEFAULT FALSE,
    latest_invoice_id          TEXT NOT NULL DEFAULT '',
    latest_invoice_status      TEXT NOT NULL DEFAULT '',
    delinquent                 BOOLEAN NOT NULL DEFAULT FALSE,
    subscription_deleted       BOOLEAN NOT NULL DEFAULT FALSE,
    subscription_event_created TEXT,
    subscription_event_id      TEXT NOT NULL DEFAULT '',
    invoice_event_created      TEXT,
    invoice_event_id           TEXT NOT NULL DEFAULT '',
    customer_event_created     TEXT,
    customer_event_id          TEXT NOT NULL DEFAULT '',
    updated_at                 TEXT NOT NULL
);

CREATE TABLE invoices (
    id                 TEXT PRIMARY KEY,
    org_id             BIGINT NOT NULL REFERENCES orgs (id),
    subscription_id    TEXT NOT NULL DEFAULT '',
    status             TEXT NOT NULL DEFAULT '',
    amount_due         BIGINT NOT NULL DEFAULT 0,
    amount_paid        BIGINT NOT NULL DEFAULT 0,
    currency           TEXT NOT NULL DEFAULT '',
    attempt_count      BIGINT NOT NULL DEFAULT 0,
    hosted_invoice_url TEXT NOT NULL DEFAULT '',
    period_start       TEXT,
    period_end         TEXT,
    event_created      TEXT,
    event_id           TEXT NOT NULL DEFAULT '',
    updated_at         TEXT NOT NULL
);
CREATE INDEX invoices_org ON invoices (org_id);

-- +goose Down
DROP TABLE invoices;
DROP TABLE org_billing;
DROP TABLE opt_outs;
DROP TABLE messages;
DROP TABLE call_facts;
DROP TABLE calls;
DROP TABLE leads;
DROP TABLE webhook_claims;
DROP TABLE webhook_log;
DROP TABLE tracked_numbers;
DROP TABLE orgs;
