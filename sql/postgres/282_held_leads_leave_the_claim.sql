-- A lead the claim holds back (on a do-not-call list, over a cap, outside its hours, before its 40-day mark) gets
-- held_until: the claim walks only leads not held (the partial index below), so a held lead is no longer stepped over by
-- every claim until its time; each claim first frees the campaign's leads whose hold is over (leads_held).
ALTER TABLE leads ADD COLUMN held_until BIGINT;
DROP INDEX leads_claim;
CREATE INDEX leads_claim ON leads (campaign_id, state, (callback_at IS NULL), priority DESC, policy_expiry ASC NULLS LAST, id) WHERE held_until IS NULL;
CREATE INDEX leads_held ON leads (campaign_id, held_until) WHERE held_until IS NOT NULL;
-- Room on each page for the claim's lease write (lease_owner, lease_until: no index holds them) to stay on its page
-- without touching the indexes (a HOT update): on full pages each of a claim's 500 updates wrote an entry into every
-- index of leads (~125 ms of a claim). New pages only: a table filled before this keeps its pages until rewritten.
ALTER TABLE leads SET (fillfactor = 85);
