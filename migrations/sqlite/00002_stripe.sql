-- +goose Up
-- The whole billing.Record is kept as JSON, so that each Stripe event is applied by
-- load, fold, save; the columns beside it are its view for queries and the CLI.
ALTER TABLE org_billing ADD COLUMN record TEXT NOT NULL DEFAULT '{}';
ALTER TABLE org_billing ADD COLUMN customer_deleted BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE org_billing ADD COLUMN payment_event_created TEXT;
ALTER TABLE org_billing ADD COLUMN payment_event_id TEXT NOT NULL DEFAULT '';
ALTER TABLE org_billing ADD COLUMN checkout_event_created TEXT;
ALTER TABLE org_billing ADD COLUMN checkout_event_id TEXT NOT NULL DEFAULT '';

-- What billing.ApplyInvoice needs to refold an invoice row.
ALTER TABLE invoices ADD COLUMN customer_id TEXT NOT NULL DEFAULT '';
ALTER TABLE invoices ADD COLUMN paid BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE invoices ADD COLUMN event_type TEXT NOT NULL DEFAULT '';

-- Stripe customers and the org each was mapped to (NULL while nobody knows). Events of one
-- customer lock its row first, so that an event held as unmatched and the event that maps
-- its customer cannot miss each other on two replicas.
CREATE TABLE stripe_customers (
    customer_id TEXT PRIMARY KEY,
    org_id      BIGINT REFERENCES orgs (id),
    learnt_from TEXT NOT NULL DEFAULT '',
    updated_at  TEXT NOT NULL
);
CREATE INDEX stripe_customers_org ON stripe_customers (org_id);

-- Events of customers no org was known for, applied once a later event maps the customer.
CREATE TABLE stripe_held_events (
    event_id    TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    created     TEXT NOT NULL,
    event       TEXT NOT NULL,
    received_at TEXT NOT NULL,
    applied_at  TEXT,
    org_id      BIGINT REFERENCES orgs (id)
);
CREATE INDEX stripe_held_events_pending ON stripe_held_events (customer_id, created) WHERE applied_at IS NULL;

-- +goose Down
DROP TABLE stripe_held_events;
DROP TABLE stripe_customers;
ALTER TABLE invoices DROP COLUMN event_type;
ALTER TABLE invoices DROP COLUMN paid;
ALTER TABLE invoices DROP COLUMN customer_id;
ALTER TABLE org_billing DROP COLUMN checkout_event_id;
ALTER TABLE org_billing DROP COLUMN checkout_event_created;
ALTER TABLE org_billing DROP COLUMN payment_event_id;
ALTER TABLE org_billing DROP COLUMN payment_event_created;
ALTER TABLE org_billing DROP COLUMN customer_deleted;
ALTER TABLE org_billing DROP COLUMN record;
