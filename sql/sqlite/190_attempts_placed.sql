-- A starting or taking-over engine learns from its campaign's most recent attempts (PacingHistory).
CREATE INDEX attempts_placed ON attempts (campaign_id, placed_at);
