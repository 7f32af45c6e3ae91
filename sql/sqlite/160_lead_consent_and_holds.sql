-- Consent per lead (a compliance profile with a consent rule calls no lead without it), and the rule that last held a
-- lead back in the hopper, with its reason and when: the "why (not) called" answer reads them beside the attempts.
ALTER TABLE leads ADD COLUMN consent_source TEXT;
ALTER TABLE leads ADD COLUMN consent_at BIGINT;
ALTER TABLE leads ADD COLUMN held_by TEXT;
ALTER TABLE leads ADD COLUMN held_reason TEXT;
ALTER TABLE leads ADD COLUMN held_at BIGINT;
