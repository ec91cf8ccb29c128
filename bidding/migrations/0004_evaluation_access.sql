-- The panel a tender asks for, and reading the bids after the opening (issue 12, items 3–4).
--
-- tender_panel_requirements: what the tender says about its evaluation committee (O12 9;
-- RULES T15): who the tenderee is (its staff and affiliates are excluded, with every
-- registered bidder's), the competent and supervising departments, the specialty lines
-- ([{"code", "count", "region_rule": {"scope", "regions"}, "reserve"}]) and the tenderee's
-- own representatives. Set by staff; fixed once a panel is requested for the tender.
CREATE TABLE tender_panel_requirements (
    tender_id                bigint PRIMARY KEY REFERENCES tenders (id),
    tenderee_org_id          bigint NOT NULL REFERENCES organisations (id),
    supervising_org_ids      bigint[] NOT NULL DEFAULT '{}',
    lines                    jsonb NOT NULL CHECK (jsonb_typeof(lines) = 'array' AND jsonb_array_length(lines) >= 1),
    tenderee_representatives integer NOT NULL DEFAULT 0 CHECK (tenderee_representatives >= 0),
    min_members              integer NOT NULL DEFAULT 5 CHECK (min_members >= 5),
    set_by                   bigint NOT NULL REFERENCES users (id),
    set_at                   timestamptz NOT NULL,
    version                  integer NOT NULL DEFAULT 1
);

-- The evaluation key of an opened tender: the tender's opening private key, rebuilt in memory
-- at the opening, wrapped (AES-256-GCM, associated data binding it to the tender and its
-- opening public key) under the evaluation key-encryption key, which lives outside the
-- database (<SUNLIT_DATA>/keys/evaluation-master.key, kek_id names it). It lets the server
-- open a bid again, in memory, for a seated member while the evaluation is open; it is
-- wiped when the evaluation closes. A database dump alone never reads a bid.
CREATE TABLE tender_evaluation_keys (
    tender_id      bigint PRIMARY KEY REFERENCES tenders (id),
    kek_id         text NOT NULL CHECK (kek_id ~ '^[0-9a-f]{16}$'),
    wrapped_key    bytea CHECK (wrapped_key IS NULL OR length(wrapped_key) = 60),
    created_at     timestamptz NOT NULL,
    wiped_at       timestamptz,
    CHECK ((wrapped_key IS NULL) = (wiped_at IS NOT NULL))
);
