-- +goose Up
-- What Twilio said of a message: the error code and its description when a send or a
-- delivery failed, and an inbound MMS's media as a JSON array of {url, content_type}.
ALTER TABLE messages ADD COLUMN error_code TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN error_message TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN media TEXT NOT NULL DEFAULT '';

-- Every message status callback, matched or not: a callback may arrive before the send
-- that made the message has recorded its SID, and is folded in once it has.
CREATE TABLE message_status_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_sid TEXT NOT NULL,
    status      TEXT NOT NULL,
    error_code  TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    received_at TIMESTAMPTZ NOT NULL,
    log_id      BIGINT
);
CREATE INDEX message_status_events_sid ON message_status_events (message_sid, id);

-- +goose Down
DROP TABLE message_status_events;
ALTER TABLE messages DROP COLUMN media;
ALTER TABLE messages DROP COLUMN error_message;
ALTER TABLE messages DROP COLUMN error_code;
