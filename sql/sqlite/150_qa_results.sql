-- Transcript quality control (issue 15): one row per rule per checked call — what the rule found, where (segment index
-- in the posted transcript, start in ms from the answer), under which rule set and rule version — and its review.
-- Numbered 150 (the issue's block, as 140 is issue 14's) so parallel branches never take the same version.
CREATE TABLE qa_results (
    id               INTEGER PRIMARY KEY,
    attempt_id       BIGINT NOT NULL REFERENCES attempts (id),
    campaign_id      BIGINT NOT NULL REFERENCES campaigns (id),
    -- the attempt's agent when it was checked (NULL: nobody was bridged)
    agent_id         TEXT,
    rule_set         TEXT NOT NULL,
    rule_set_version BIGINT NOT NULL,
    rule_id          TEXT NOT NULL,
    rule_version     BIGINT NOT NULL,
    -- forbidden | required; pass | violation | not_applicable
    kind             TEXT NOT NULL,
    severity         TEXT NOT NULL,
    outcome          TEXT NOT NULL,
    -- 1: a required disclosure made after its deadline
    late             BIGINT NOT NULL DEFAULT 0,
    segment          BIGINT,
    offset_ms        BIGINT,
    matches          BIGINT NOT NULL DEFAULT 0,
    -- the matched segment's words, digit runs masked (no phone or ID number is stored)
    excerpt          TEXT,
    checked_at       BIGINT NOT NULL,
    reviewed_at      BIGINT,
    reviewer         TEXT,
    -- confirmed | dismissed
    verdict          TEXT,
    review_note      TEXT,
    UNIQUE (attempt_id, rule_set, rule_id)
);
-- The review queue: violations nobody has looked at yet, oldest first.
CREATE INDEX qa_results_queue ON qa_results (id) WHERE outcome = 'violation' AND reviewed_at IS NULL;
CREATE INDEX qa_results_campaign ON qa_results (campaign_id, agent_id);
