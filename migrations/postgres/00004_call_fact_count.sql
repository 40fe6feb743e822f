-- +goose Up
-- How many facts a call has: the first one decides the call alone, without reading the
-- facts back.
ALTER TABLE calls ADD COLUMN fact_count INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE calls DROP COLUMN fact_count;
