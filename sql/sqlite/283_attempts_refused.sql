-- A profile's attempt caps may count refused calls ("after 3 unanswered or refused attempts in a day"): a refusal is an
-- answered call (outcome human) the callee refused further calls on, known from its disposition or the survey's opt-out
-- key, so the attempt row carries it (1: refused).
ALTER TABLE attempts ADD COLUMN refused INTEGER NOT NULL DEFAULT 0;
UPDATE attempts SET refused = 1 WHERE id IN (SELECT attempt_id FROM dispositions WHERE code IN ('refused', 'dnc'));
