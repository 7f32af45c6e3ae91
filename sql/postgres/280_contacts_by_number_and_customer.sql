-- A profile's attempt_caps count one number's and one customer's attempts across every campaign: the claim finds the
-- other leads of each claimed lead's number and customer through these (the unique keys start with campaign_id).
CREATE INDEX leads_phone ON leads (phone_hash);
CREATE INDEX leads_customer ON leads (customer_id);
