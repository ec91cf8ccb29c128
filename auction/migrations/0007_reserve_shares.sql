-- A reserve price held by custodians (issue 15 item 5; RULES A3). When staff name custodians
-- as they enter a reserve, the server makes an X25519 key pair for that one reserve, seals
-- {reserve_fen, salt} to its public key, splits the private key k of n (crypto.shamir) and
-- seals each share to its custodian's registered X25519 key; the private key is then
-- dropped. The server keeps the public key, the sealed shares and a commitment to each share
-- (a handed-in share that does not fit is refused at once). At the close the custodians hand
-- their shares in: at most k - 1 are ever written (``share``, wiped when the key is
-- rebuilt); the k-th is combined in memory. Once the reserve is revealed the rebuilt key has
-- nothing left to hide and is published (``opened_key``) so that anyone can open the box.
-- A reserve entered without custodians keeps the server-held key (auction_reserves.key_id).
CREATE TABLE auction_reserve_custody (
    lot_id          bigint NOT NULL,
    commitment      text NOT NULL,
    public_key      bytea NOT NULL CHECK (length(public_key) = 32),
    key_id          text NOT NULL,
    threshold_k     integer NOT NULL CHECK (threshold_k >= 2),
    custodian_count integer NOT NULL CHECK (custodian_count >= threshold_k AND custodian_count <= 255),
    custody_digest  text NOT NULL CHECK (custody_digest ~ '^[0-9a-f]{64}$'),
    notified_at     timestamptz,
    opened_key      bytea CHECK (opened_key IS NULL OR length(opened_key) = 32),
    opened_at       timestamptz,
    PRIMARY KEY (lot_id, commitment),
    FOREIGN KEY (lot_id, commitment) REFERENCES auction_reserves (lot_id, commitment)
);

CREATE TABLE auction_reserve_custodians (
    lot_id               bigint NOT NULL,
    commitment           text NOT NULL,
    position             integer NOT NULL CHECK (position BETWEEN 1 AND 255),
    user_id              bigint NOT NULL REFERENCES users (id),
    custodian_key_id     text NOT NULL,
    custodian_public_key bytea NOT NULL,
    sealed_share         bytea NOT NULL,
    share_commitment     bytea NOT NULL CHECK (length(share_commitment) = 32),
    handed_in_at         timestamptz,
    share                text,
    PRIMARY KEY (lot_id, commitment, position),
    UNIQUE (lot_id, commitment, user_id),
    FOREIGN KEY (lot_id, commitment) REFERENCES auction_reserve_custody (lot_id, commitment)
);
CREATE INDEX auction_reserve_custodians_user ON auction_reserve_custodians (user_id);
