-- +goose Up
-- A notification the owner is not sent (no notify number, not entitled, the notify number
-- is the caller's) is no SMS to send: its reason is kept on the message the event left,
-- the caller's reply or the missed call's text-back, written with that message instead of
-- a row of its own and its indexes. Empty: a notification was queued, or none is due.
ALTER TABLE messages ADD COLUMN notify_reason TEXT NOT NULL DEFAULT '';
UPDATE messages SET notify_reason = (SELECT n.reason FROM notifications n
    WHERE n.event_key = 'reply:' || messages.sid AND n.status = 'suppressed')
    WHERE direction = 'inbound' AND sid IN (SELECT message_sid FROM notifications
        WHERE kind = 'reply' AND status = 'suppressed' AND reason <> '');
UPDATE messages SET notify_reason = (SELECT n.reason FROM notifications n
    WHERE n.event_key = 'call:' || messages.call_sid AND n.status = 'suppressed')
    WHERE direction = 'outbound' AND call_sid IN (SELECT call_sid FROM notifications
        WHERE kind = 'missed_call' AND status = 'suppressed' AND reason <> '');
DELETE FROM notifications WHERE status = 'suppressed' AND (
    (kind = 'reply' AND message_sid IN (SELECT sid FROM messages
        WHERE direction = 'inbound' AND notify_reason <> ''))
    OR (kind = 'missed_call' AND call_sid IN (SELECT call_sid FROM messages
        WHERE direction = 'outbound' AND notify_reason <> '')));

-- +goose Down
INSERT INTO notifications (org_id, event_key, kind, call_sid, message_sid, caller, from_number,
    body, status, reason, created_at, updated_at)
    SELECT org_id, 'reply:' || sid, 'reply', '', sid, from_number, to_number, '', 'suppressed',
        notify_reason, created_at, created_at
    FROM messages WHERE direction = 'inbound' AND notify_reason <> '';
INSERT INTO notifications (org_id, event_key, kind, call_sid, message_sid, caller, from_number,
    body, status, reason, created_at, updated_at)
    SELECT org_id, 'call:' || call_sid, 'missed_call', call_sid, '', to_number, from_number, '',
        'suppressed', notify_reason, created_at, created_at
    FROM messages WHERE direction = 'outbound' AND notify_reason <> '';
ALTER TABLE messages DROP COLUMN notify_reason;
