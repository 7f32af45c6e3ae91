-- Leads are bulk-loaded (50,000+ rows/s): PostgreSQL checks a foreign key with a per-row trigger that
-- queries and locks the parent row, which cost about as much as the insert itself. Leads are written by
-- the importer only, which takes their customer from the same transaction and checks the campaign before
-- it starts; customers and campaigns are never deleted. SQLite keeps the keys (its checks are cheap and it
-- has no bulk target).
ALTER TABLE leads DROP CONSTRAINT leads_campaign_id_fkey;
ALTER TABLE leads DROP CONSTRAINT leads_customer_id_fkey;
