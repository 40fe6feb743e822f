-- +goose Up
-- SQLite's claims table becomes keyed by the dedupe key alone; PostgreSQL's tables have no
-- rowid, and this version changes nothing here.
SELECT 1;

-- +goose Down
SELECT 1;
