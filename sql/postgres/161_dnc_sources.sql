-- Do-not-call lists as data: an entry is (number's keyed hash, list), so the company's own list, the refusals fed by
-- dispositions and each industry-shared list hold a number independently: a list re-imported, expired or removed
-- whole leaves the others' entries alone, and the "why" answer names the list.
CREATE TABLE dnc_entries (
    phone_hash BYTEA NOT NULL,
    source     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    added_at   BIGINT NOT NULL,
    -- NULL: permanent
    expires_at BIGINT,
    PRIMARY KEY (phone_hash, source)
);
INSERT INTO dnc_entries (phone_hash, source, reason, added_at, expires_at)
    SELECT phone_hash, CASE WHEN reason LIKE 'disposition %' THEN 'refusal' ELSE 'internal' END, reason, added_at, expires_at FROM dnc;
DROP TABLE dnc;
ALTER TABLE dnc_entries RENAME TO dnc;
