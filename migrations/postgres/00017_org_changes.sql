-- +goose Up
-- A serve keeps the orgs of tracked numbers in memory and checks, with each delivery's
-- first round, that none changed since: every change to an org or its numbers, by any
-- process, sets a new random token here in the transaction that makes it. Random rather
-- than counted, so that a change rolled back never leaves a token a later change repeats.
CREATE TABLE org_changes (token BIGINT NOT NULL);
INSERT INTO org_changes (token) VALUES (floor(random() * 9.2e18)::bigint);

-- +goose StatementBegin
CREATE FUNCTION org_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE org_changes SET token = floor(random() * 9.2e18)::bigint;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER orgs_changed AFTER INSERT OR UPDATE OR DELETE ON orgs
    FOR EACH STATEMENT EXECUTE FUNCTION org_changed();
CREATE TRIGGER numbers_changed AFTER INSERT OR UPDATE OR DELETE ON tracked_numbers
    FOR EACH STATEMENT EXECUTE FUNCTION org_changed();

-- +goose Down
DROP TRIGGER numbers_changed ON tracked_numbers;
DROP TRIGGER orgs_changed ON orgs;
DROP FUNCTION org_changed();
DROP TABLE org_changes;
