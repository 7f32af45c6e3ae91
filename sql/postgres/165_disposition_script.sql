-- Conversion attribution's data. A disposition names the script the agent followed (its name or name@version, as the
-- platform gives it); the report finds an attempt's dispositions by attempt_id. An agent's start date on the floor
-- (yyyymmdd, as every calendar date here) gives seniority; without one, the day the agent was first registered.
ALTER TABLE dispositions ADD COLUMN script TEXT;
CREATE INDEX dispositions_attempt ON dispositions (attempt_id);
ALTER TABLE agents ADD COLUMN started_on INTEGER;
