-- The attempt caps count one number's and one customer's attempts in every campaign. Each attempt carries its lead's
-- number hash and customer (a lead keeps both for life), set on insert by a trigger so every writer fills them, and the
-- claim reads a batch's history by those keys in one probe per key instead of through leads -> attempts.
ALTER TABLE attempts ADD COLUMN phone_hash BLOB;
ALTER TABLE attempts ADD COLUMN customer_id INTEGER;
UPDATE attempts SET phone_hash = (SELECT phone_hash FROM leads WHERE id = attempts.lead_id),
                    customer_id = (SELECT customer_id FROM leads WHERE id = attempts.lead_id);
CREATE TRIGGER attempts_contact AFTER INSERT ON attempts FOR EACH ROW
BEGIN
    UPDATE attempts SET phone_hash = (SELECT phone_hash FROM leads WHERE id = NEW.lead_id),
                        customer_id = (SELECT customer_id FROM leads WHERE id = NEW.lead_id)
    WHERE id = NEW.id;
END;
CREATE INDEX attempts_by_number ON attempts (phone_hash, placed_at);
CREATE INDEX attempts_by_customer ON attempts (customer_id, placed_at);
-- The whole-customer refusal block looks the customer's numbers up among the refusals only.
CREATE INDEX dnc_refusals ON dnc (phone_hash) WHERE source = 'refusal';
