-- +goose Up
-- Every delivery and every message writes each of its table's indexes, in the one writer
-- on SQLite. Two did work no lookup needed:
-- webhook_log_received_org begins with received_at, so it serves every lookup by time.
DROP INDEX webhook_log_received;
-- Only outbound messages are looked up by the phone they went to (cooldowns, opt-outs);
-- inbound ones, most of the table, need no entry.
DROP INDEX messages_to;
CREATE INDEX messages_to ON messages (org_id, to_number, status) WHERE direction = 'outbound';

-- +goose Down
DROP INDEX messages_to;
CREATE INDEX messages_to ON messages (org_id, to_number, direction, status);
CREATE INDEX webhook_log_received ON webhook_log (received_at);
