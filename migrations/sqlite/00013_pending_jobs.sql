-- +goose Up
-- A database upgraded from the release that queued its work in River may hold work River
-- had not done yet. It is enqueued here again, derived from the application's own tables
-- (so this holds whether or not River's tables exist): the text-back of every call still
-- queued or sending, due now, and the settle check of every call that ended (a terminal
-- status) with no dial-complete deciding it and no settle fact yet, due 30s (the default
-- voice.settle) after it ended. A job already waiting is left as it is. River's tables
-- (river_job and the rest), if any, are not used any more and can be dropped once this
-- has run and the queue has drained.
INSERT INTO jobs (kind, key, args, run_at, created_at)
SELECT 'textback', m.call_sid, '',
       strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z', strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'
FROM messages m
WHERE m.direction = 'outbound' AND m.call_sid IS NOT NULL AND m.status IN ('queued', 'sending')
ON CONFLICT (kind, key) DO NOTHING;

INSERT INTO jobs (kind, key, args, run_at, created_at)
SELECT 'settle', c.call_sid, '',
       (SELECT strftime('%Y-%m-%dT%H:%M:%f', MIN(f.received_at), '+30 seconds') || '000Z' FROM call_facts f
        WHERE f.call_sid = c.call_sid AND f.kind = 'status'
          AND f.call_status IN ('completed', 'busy', 'no-answer', 'failed', 'canceled')),
       strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'
FROM calls c
WHERE c.outcome = 'forwarded'
  AND EXISTS (SELECT 1 FROM call_facts f WHERE f.call_sid = c.call_sid AND f.kind = 'status'
              AND f.call_status IN ('completed', 'busy', 'no-answer', 'failed', 'canceled'))
  AND NOT EXISTS (SELECT 1 FROM call_facts f WHERE f.call_sid = c.call_sid AND f.kind = 'settled')
ON CONFLICT (kind, key) DO NOTHING;

-- +goose Down
-- The jobs stay: they are work to do, whichever version runs it.
SELECT 1;
