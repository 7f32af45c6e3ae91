-- A customer's further numbers: a row that names a customer by id with a number other than the one on
-- record keeps that number here (encrypted, with its keyed hash), so a later row giving only that number
-- is recognised as the same customer. The lead keeps dialing the number it was created with.
CREATE TABLE customer_phones (
    phone_hash  BYTEA PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    phone_enc   BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX customer_phones_customer ON customer_phones (customer_id);
