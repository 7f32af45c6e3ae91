-- Instants are BIGINT Unix milliseconds (UTC) and calendar dates INTEGER yyyymmdd in both dialects:
-- one set of queries, no driver-specific date mapping, and still readable.

-- Block allocator for ids the program assigns itself (leads, customers, call ids per node).
CREATE TABLE sequences (name TEXT PRIMARY KEY, next BIGINT NOT NULL);
INSERT INTO sequences (name, next) VALUES ('lead', 1), ('customer', 1), ('call', 1);

CREATE TABLE campaigns (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    status      TEXT NOT NULL DEFAULT 'stopped',
    config      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE customers (
    id              BIGINT PRIMARY KEY,
    external_id     TEXT UNIQUE,
    phone_hash      BLOB NOT NULL,
    name            TEXT,
    id_number_enc   BLOB,
    id_number_hash  BLOB,
    id_number_masked TEXT,
    last_outcome    TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX customers_phone ON customers (phone_hash);

CREATE TABLE leads (
    id              BIGINT PRIMARY KEY,
    campaign_id     BIGINT NOT NULL REFERENCES campaigns (id),
    customer_id     BIGINT NOT NULL REFERENCES customers (id),
    phone_enc       BLOB NOT NULL,
    phone_hash      BLOB NOT NULL,
    region          TEXT NOT NULL,
    timezone        TEXT NOT NULL,
    policy_no       TEXT,
    policy_expiry   INTEGER,
    premium         REAL,
    claims_3y       INTEGER,
    tags            TEXT NOT NULL DEFAULT '',
    priority        INTEGER NOT NULL DEFAULT 0,
    -- 0 pending, 1 dialing (an attempt is open), 2 done
    state           SMALLINT NOT NULL DEFAULT 0,
    due_at          BIGINT NOT NULL,
    callback_at     BIGINT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    attempts_today  INTEGER NOT NULL DEFAULT 0,
    attempts_day    INTEGER NOT NULL DEFAULT 0,
    last_attempt_at BIGINT,
    last_outcome    TEXT,
    lease_owner     TEXT,
    lease_until     BIGINT,
    created_at      BIGINT NOT NULL,
    UNIQUE (campaign_id, phone_hash),
    UNIQUE (campaign_id, customer_id)
);
-- The hopper scans this index for its campaign (SQLite indexes cannot say NULLS LAST, so the final order is a sort).
CREATE INDEX leads_claim ON leads (campaign_id, state, (callback_at IS NULL), priority DESC, policy_expiry, id);

CREATE TABLE attempts (
    id           BIGINT PRIMARY KEY,
    campaign_id  BIGINT NOT NULL REFERENCES campaigns (id),
    lead_id      BIGINT NOT NULL REFERENCES leads (id),
    attempt_no   INTEGER NOT NULL,
    channel_id   TEXT NOT NULL UNIQUE,
    node         TEXT NOT NULL,
    trunk        INTEGER NOT NULL,
    agent        TEXT,
    placed_at    BIGINT NOT NULL,
    answered_at  BIGINT,
    connected_at BIGINT,
    ended_at     BIGINT,
    outcome      TEXT,
    cause        INTEGER,
    cost         REAL,
    -- 1 when closed by start-up reconciliation rather than by a hang-up event
    reconciled   SMALLINT NOT NULL DEFAULT 0
);
CREATE INDEX attempts_open ON attempts (node, ended_at);
CREATE INDEX attempts_lead ON attempts (lead_id);

CREATE TABLE agents (
    id          TEXT PRIMARY KEY,
    name        TEXT,
    created_at  BIGINT NOT NULL
);
CREATE TABLE agent_skills (
    agent_id TEXT NOT NULL REFERENCES agents (id),
    skill    TEXT NOT NULL,
    level    SMALLINT NOT NULL,
    PRIMARY KEY (agent_id, skill)
);

CREATE TABLE dispositions (
    id         INTEGER PRIMARY KEY,
    attempt_id BIGINT REFERENCES attempts (id),
    lead_id    BIGINT NOT NULL REFERENCES leads (id),
    agent_id   TEXT NOT NULL,
    code       TEXT NOT NULL,
    note       TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE callbacks (
    id         INTEGER PRIMARY KEY,
    lead_id    BIGINT NOT NULL REFERENCES leads (id),
    agent_id   TEXT,
    due_at     BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE dnc (
    phone_hash BLOB PRIMARY KEY,
    reason     TEXT NOT NULL,
    added_at   BIGINT NOT NULL,
    -- NULL: permanent
    expires_at BIGINT
);

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    detail TEXT
);
