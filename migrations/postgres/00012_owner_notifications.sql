-- +goose Up
-- Business hours ("Mon-Fri 08:00-18:00, Sat 09:00-13:00" in the org's timezone; empty
-- means always open), the text-back sent to calls missed outside them, and the words that
-- make a reply urgent (comma-separated; empty means the defaults).
ALTER TABLE orgs ADD COLUMN hours TEXT NOT NULL DEFAULT '';
ALTER TABLE orgs ADD COLUMN after_hours_template TEXT NOT NULL DEFAULT '';
ALTER TABLE orgs ADD COLUMN urgent_keywords TEXT NOT NULL DEFAULT '';

-- The SMS that tells the org's notify number of a missed call or a reply: one per event,
-- the event_key (call:CallSid, reply:MessageSid) deciding.
CREATE TABLE notifications (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       BIGINT NOT NULL REFERENCES orgs (id),
    event_key    TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    call_sid     TEXT NOT NULL DEFAULT '',
    message_sid  TEXT NOT NULL DEFAULT '',
    caller       TEXT NOT NULL,
    from_number  TEXT NOT NULL,
    to_number    TEXT NOT NULL DEFAULT '',
    body         TEXT NOT NULL,
    urgent       BOOLEAN NOT NULL DEFAULT FALSE,
    status       TEXT NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    sid          TEXT,
    error        TEXT NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    attempted_at TIMESTAMPTZ,
    sent_at      TIMESTAMPTZ
);
CREATE INDEX notifications_call ON notifications (call_sid) WHERE call_sid <> '';
CREATE INDEX notifications_org ON notifications (org_id, created_at);

-- +goose Down
DROP TABLE notifications;
ALTER TABLE orgs DROP COLUMN urgent_keywords;
ALTER TABLE orgs DROP COLUMN after_hours_template;
ALTER TABLE orgs DROP COLUMN hours;
