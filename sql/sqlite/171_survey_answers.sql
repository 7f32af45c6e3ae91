-- Agentless survey and notice campaigns (issue 15): how each attempt's script ended, and one row per question asked
-- with the key that answered it (NULL: the retries ran out with no usable key) and the askings it took.
-- Numbered 170 (the issue's block after 150's QA results) so parallel branches never take the same version.
ALTER TABLE attempts ADD COLUMN script_end TEXT;
CREATE TABLE survey_answers (
    attempt_id  BIGINT NOT NULL REFERENCES attempts (id),
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    question    TEXT NOT NULL,
    answer      TEXT,
    tries       INTEGER NOT NULL,
    PRIMARY KEY (attempt_id, question)
);
-- The per-question distribution reads a campaign's answers question by question.
CREATE INDEX survey_answers_campaign ON survey_answers (campaign_id, question, answer);
