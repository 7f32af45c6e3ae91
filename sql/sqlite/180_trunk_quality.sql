-- Trunk media quality over time (issue 12): per campaign, trunk (its index in the campaign's engine, as attempts.trunk,
-- and its name then) and minute (ms since the epoch of the minute's start), the mean of the once-a-second readings of
-- what the driver measured: RTCP round trip in ms and packet-loss share. NULL: not measured in that minute.
CREATE TABLE trunk_quality (
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    trunk       INTEGER NOT NULL,
    name        TEXT NOT NULL,
    minute      BIGINT NOT NULL,
    rtt_ms      REAL,
    loss        REAL,
    samples     INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, trunk, minute)
);
