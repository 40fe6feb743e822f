-- +goose Up
-- The log viewer's org list counts each org's deliveries per hour over the last day: this
-- index answers it from the index alone, and serves "jump to a time" within an org.
CREATE INDEX webhook_log_received_org ON webhook_log (received_at, org_id, status);
CREATE INDEX webhook_log_org_received ON webhook_log (org_id, received_at);

-- +goose Down
DROP INDEX webhook_log_org_received;
DROP INDEX webhook_log_received_org;
