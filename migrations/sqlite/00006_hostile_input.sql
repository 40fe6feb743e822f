-- +goose Up
-- cleaned: a text column of the row holds the input made valid UTF-8 without NUL (the raw
-- body keeps the bytes as they came). body_length: the length of the whole body, which a
-- refused delivery's row keeps only a prefix of (body_sha256 is of the whole).
ALTER TABLE webhook_log ADD COLUMN cleaned BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE webhook_log ADD COLUMN body_length BIGINT NOT NULL DEFAULT 0;
UPDATE webhook_log SET body_length = LENGTH(body);
-- replay_token: the token `callsnare replay` sent with a re-driven delivery, recorded only
-- when its signature verified; replay finds its results by it.
ALTER TABLE webhook_log ADD COLUMN replay_token TEXT NOT NULL DEFAULT '';
CREATE INDEX webhook_log_replay_token ON webhook_log (replay_token) WHERE replay_token <> '';

-- The Twilio account that owns an org's numbers; empty means the main account.
ALTER TABLE orgs ADD COLUMN twilio_account TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE orgs DROP COLUMN twilio_account;
DROP INDEX webhook_log_replay_token;
ALTER TABLE webhook_log DROP COLUMN replay_token;
ALTER TABLE webhook_log DROP COLUMN body_length;
ALTER TABLE webhook_log DROP COLUMN cleaned;
