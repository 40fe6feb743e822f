-- +goose Up
-- Every delivery claims its dedupe key in the one writer. Keyed by the key itself, a claim
-- is one b-tree insert instead of two (a rowid table and the key's index).
CREATE TABLE webhook_claims_by_key (
    dedupe_key TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO webhook_claims_by_key (dedupe_key, created_at) SELECT dedupe_key, created_at FROM webhook_claims;
DROP TABLE webhook_claims;
ALTER TABLE webhook_claims_by_key RENAME TO webhook_claims;

-- +goose Down
CREATE TABLE webhook_claims_with_rowid (
    dedupe_key TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
INSERT INTO webhook_claims_with_rowid (dedupe_key, created_at) SELECT dedupe_key, created_at FROM webhook_claims;
DROP TABLE webhook_claims;
ALTER TABLE webhook_claims_with_rowid RENAME TO webhook_claims;
