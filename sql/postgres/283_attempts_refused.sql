-- A profile's attempt caps may count refused calls ("after 3 unanswered or refused attempts in a day"): a refusal is an
-- answered call (outcome human) the callee refused further calls on, known from its disposition or the survey's opt-out
-- key, so the attempt row carries it (1: refused) and the claim's history read takes it from the covering indexes.
ALTER TABLE attempts ADD COLUMN refused SMALLINT NOT NULL DEFAULT 0;
UPDATE attempts a SET refused = 1 FROM dispositions d WHERE d.attempt_id = a.id AND d.code IN ('refused', 'dnc');
DROP INDEX attempts_by_number;
DROP INDEX attempts_by_customer;
CREATE INDEX attempts_by_number ON attempts (phone_hash, placed_at) INCLUDE (lead_id, outcome, refused);
CREATE INDEX attempts_by_customer ON attempts (customer_id, placed_at) INCLUDE (lead_id, outcome, refused);
