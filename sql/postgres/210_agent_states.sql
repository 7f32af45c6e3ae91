-- Agent state changes (issue 12, agent productivity): each change an engine made to an agent, whatever made it (a
-- phone's key, a hang-up, the API), as `dialer serve` saw it: the agent's id, the state it entered (ready, talking,
-- wrap_up, paused, previewing, logged_out; the event stream's names), the pause reason, and when (ms since the epoch).
-- A state lasts until the agent's next row. The agents report reads talk, wrap and idle from here.
CREATE TABLE agent_states (
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    agent       TEXT NOT NULL,
    state       TEXT NOT NULL,
    reason      TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX agent_states_by_time ON agent_states (campaign_id, at);
CREATE INDEX agent_states_by_agent ON agent_states (campaign_id, agent, at);
