-- The attempt caps count one number's and one customer's attempts in every campaign. Each attempt now carries its lead's
-- number hash and customer (a lead keeps both for life), set on insert by a trigger so every writer fills them, and the
-- claim reads a batch's history by those keys in one probe per key: through leads -> attempts it took three probes and a
-- heap visit per lead, and PostgreSQL hashed the whole leads table for the number side (~145 ms per claim of 500).
ALTER TABLE attempts ADD COLUMN phone_hash BYTEA, ADD COLUMN customer_id BIGINT;
UPDATE attempts a SET phone_hash = l.phone_hash, customer_id = l.customer_id FROM leads l WHERE l.id = a.lead_id;
CREATE FUNCTION attempts_contact() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT l.phone_hash, l.customer_id INTO NEW.phone_hash, NEW.customer_id FROM leads l WHERE l.id = NEW.lead_id;
    RETURN NEW;
END $$;
CREATE TRIGGER attempts_contact BEFORE INSERT ON attempts FOR EACH ROW EXECUTE FUNCTION attempts_contact();
CREATE INDEX attempts_by_number ON attempts (phone_hash, placed_at) INCLUDE (lead_id, outcome);
CREATE INDEX attempts_by_customer ON attempts (customer_id, placed_at) INCLUDE (lead_id, outcome);
-- The whole-customer refusal block looks the customer's numbers up among the refusals only: a small index, not the
-- million-entry lists beside them.
CREATE INDEX dnc_refusals ON dnc (phone_hash) INCLUDE (added_at, expires_at) WHERE source = 'refusal';
