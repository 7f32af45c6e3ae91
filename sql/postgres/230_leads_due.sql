-- The claim's filter is due_at <= now: without an index on it every claim walked all of a campaign's pending leads in
-- dialing order, and one that found nothing due (most leads held for their 40-day mark) walked them all, once a second
-- (cn-auto-renewal demo: about 50-86 ms per claim; day 3 took about 50 minutes). With it the claim reads only the due rows.
CREATE INDEX leads_due ON leads (campaign_id, state, due_at);
