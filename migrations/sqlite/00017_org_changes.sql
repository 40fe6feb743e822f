-- +goose Up
-- A serve on SQLite keeps the orgs of tracked numbers in memory and checks, once per write
-- transaction, that none changed since: every change to an org or its numbers, by any
-- process, sets a new random token here in the transaction that makes it. Random rather
-- than counted, so that a change rolled back never leaves a token a later change repeats.
CREATE TABLE org_changes (token INTEGER NOT NULL);
INSERT INTO org_changes (token) VALUES (random());

-- +goose StatementBegin
CREATE TRIGGER orgs_inserted AFTER INSERT ON orgs BEGIN UPDATE org_changes SET token = random(); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER orgs_updated AFTER UPDATE ON orgs BEGIN UPDATE org_changes SET token = random(); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER orgs_deleted AFTER DELETE ON orgs BEGIN UPDATE org_changes SET token = random(); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER numbers_inserted AFTER INSERT ON tracked_numbers BEGIN UPDATE org_changes SET token = random(); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER numbers_updated AFTER UPDATE ON tracked_numbers BEGIN UPDATE org_changes SET token = random(); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER numbers_deleted AFTER DELETE ON tracked_numbers BEGIN UPDATE org_changes SET token = random(); END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER numbers_deleted;
DROP TRIGGER numbers_updated;
DROP TRIGGER numbers_inserted;
DROP TRIGGER orgs_deleted;
DROP TRIGGER orgs_updated;
DROP TRIGGER orgs_inserted;
DROP TABLE org_changes;
