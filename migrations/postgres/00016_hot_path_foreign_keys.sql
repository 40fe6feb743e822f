-- +goose Up
-- Every delivery's transaction inserts leads, messages, calls and notifications. On
-- PostgreSQL each of their foreign keys checks its parent with SELECT ... FOR KEY SHARE,
-- so every write transaction locked its org's one row (a MultiXact once two overlap) and
-- its lead's: a tenth of the database's work per delivery, measured, all of it on the
-- busiest org's row. Orgs and leads are never deleted and their ids never change, and
-- every one of these rows takes its org and lead from a lookup in its own transaction, so
-- the keys guarded nothing the writes do not. The colder tables keep theirs.
ALTER TABLE leads DROP CONSTRAINT leads_org_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_org_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_lead_id_fkey;
ALTER TABLE notifications DROP CONSTRAINT notifications_org_id_fkey;
ALTER TABLE calls DROP CONSTRAINT calls_org_id_fkey;
ALTER TABLE calls DROP CONSTRAINT calls_lead_id_fkey;

-- +goose Down
ALTER TABLE calls ADD CONSTRAINT calls_lead_id_fkey FOREIGN KEY (lead_id) REFERENCES leads (id);
ALTER TABLE calls ADD CONSTRAINT calls_org_id_fkey FOREIGN KEY (org_id) REFERENCES orgs (id);
ALTER TABLE notifications ADD CONSTRAINT notifications_org_id_fkey FOREIGN KEY (org_id) REFERENCES orgs (id);
ALTER TABLE messages ADD CONSTRAINT messages_lead_id_fkey FOREIGN KEY (lead_id) REFERENCES leads (id);
ALTER TABLE messages ADD CONSTRAINT messages_org_id_fkey FOREIGN KEY (org_id) REFERENCES orgs (id);
ALTER TABLE leads ADD CONSTRAINT leads_org_id_fkey FOREIGN KEY (org_id) REFERENCES orgs (id);
