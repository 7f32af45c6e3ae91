-- One pacing owner per campaign at a time: a lease row (a standard lease with a fencing epoch, on both databases).
-- A node takes a campaign when the row is free or its lease ran out; each takeover increments the epoch, so a node
-- that lost its lease (paused, partitioned) can tell its writes are stale.
CREATE TABLE campaign_owners (
    campaign_id  INTEGER PRIMARY KEY REFERENCES campaigns (id),
    node         TEXT NOT NULL,
    -- the owning process (a node restarted under the same name is a new instance)
    instance     TEXT NOT NULL,
    epoch        INTEGER NOT NULL,
    lease_until  INTEGER NOT NULL,
    acquired_at  INTEGER NOT NULL
);
-- The abandon ledger is seeded from the last 30 days of a campaign's answered attempts.
CREATE INDEX attempts_answered ON attempts (campaign_id, answered_at);
