-- The store's PII keys, each wrapped (AES-GCM) under a master key: id 0 is the hash key (stable for the store's
-- life), others are data keys (the id every v2 cipher text carries). kek is the master key's fingerprint: a master
-- key that wraps no row here is refused (the key check). During `dialer pii rotate` a key is wrapped under both
-- the old and the new master key; the old one's rows are deleted when the rotation ends.
CREATE TABLE pii_keys (
    id         BIGINT NOT NULL,
    kek        BYTEA NOT NULL,
    wrapped    BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (id, kek)
);
