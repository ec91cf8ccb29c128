-- Public notices (公告) and the tender documents' life after publication: who downloaded
-- which version, bidders' questions, clarifications and amendments (W1), objections to the
-- documents (W2).
--
-- Public notices page by `seq`, a commit-ordered sequence: the counter row below is
-- updated in the publishing transaction and stays locked until it commits, so a reader
-- never sees seq n + 1 before seq n (no reader skips a notice that commits late), and a
-- rolled-back notice leaves no gap. Never paged by timestamp.

-- Title search: a trigram index serves ILIKE '%…%' (pg_trgm is a trusted contrib extension;
-- the embedded server ships it).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE public_notice_counter (
    id        smallint PRIMARY KEY CHECK (id = 1),
    last_seq  bigint NOT NULL CHECK (last_seq >= 0)
);
INSERT INTO public_notice_counter (id, last_seq) VALUES (1, 0);

CREATE TABLE public_notices (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seq           bigint NOT NULL UNIQUE CHECK (seq > 0),
    kind          text NOT NULL CHECK (kind IN ('tender', 'amendment', 'clarification',
                                                 'opening_record', 'candidates', 'award_result',
                                                 'failed', 're_tender')),
    tender_id     bigint REFERENCES tenders (id),
    category      text CHECK (category IS NULL OR category IN ('works', 'goods', 'services')),
    region        text NOT NULL DEFAULT '',
    title_zh      text NOT NULL CHECK (length(title_zh) BETWEEN 1 AND 300),
    title_en      text NOT NULL CHECK (length(title_en) BETWEEN 1 AND 300),
    -- what the title search looks in (both languages, lower case)
    search_text   text GENERATED ALWAYS AS (lower(title_zh || ' ' || title_en)) STORED,
    -- json, not jsonb: the exact text is kept, and a bidder's sealed declared items may hold
    -- any character (jsonb refuses \u0000, which would let one bid stop the opening's notice).
    data          json NOT NULL CHECK (json_typeof(data) = 'object'),
    published_at  timestamptz NOT NULL,
    published_by  bigint REFERENCES users (id)
);
CREATE INDEX public_notices_kind ON public_notices (kind, seq);
CREATE INDEX public_notices_category ON public_notices (category, seq);
CREATE INDEX public_notices_region ON public_notices (region, seq);
CREATE INDEX public_notices_published ON public_notices (published_at, seq);
CREATE INDEX public_notices_tender ON public_notices (tender_id, seq);
CREATE INDEX public_notices_title ON public_notices USING gin (search_text gin_trgm_ops);

-- Tender documents get versions: `tender_documents` always holds the current one; every
-- version ever published (and a staged one not yet published, version NULL) is kept here.
ALTER TABLE tender_documents ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version >= 1);

CREATE TABLE tender_clarifications (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tender_id         bigint NOT NULL REFERENCES tenders (id),
    no                integer NOT NULL CHECK (no >= 1),
    kind              text NOT NULL CHECK (kind IN ('clarification', 'amendment')),
    text              text NOT NULL CHECK (length(text) BETWEEN 1 AND 10000),
    old_deadline_at   timestamptz NOT NULL,
    new_deadline_at   timestamptz NOT NULL,
    old_opening_at    timestamptz NOT NULL,
    new_opening_at    timestamptz NOT NULL,
    deadline_moved    boolean NOT NULL,
    notice_id         bigint NOT NULL REFERENCES public_notices (id),
    notified_orgs     integer NOT NULL CHECK (notified_orgs >= 0),
    published_by      bigint REFERENCES users (id),
    published_at      timestamptz NOT NULL,
    UNIQUE (tender_id, no)
);

CREATE TABLE tender_document_versions (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id       bigint NOT NULL REFERENCES tender_documents (id),
    tender_id         bigint NOT NULL REFERENCES tenders (id),
    version           integer CHECK (version IS NULL OR version >= 1),
    blob_id           bigint NOT NULL UNIQUE REFERENCES blobs (id),
    sha256            text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes        bigint NOT NULL CHECK (size_bytes >= 0),
    uploaded_by       bigint REFERENCES users (id),
    uploaded_at       timestamptz NOT NULL,
    clarification_id  bigint REFERENCES tender_clarifications (id),
    UNIQUE (document_id, version),
    CHECK ((version IS NULL) = (clarification_id IS NULL) OR version = 1)
);

-- Every download: who, which version (and its hash), when. Append-only.
CREATE TABLE tender_document_downloads (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tender_id      bigint NOT NULL REFERENCES tenders (id),
    document_id    bigint NOT NULL REFERENCES tender_documents (id),
    version        integer NOT NULL,
    sha256         text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    user_id        bigint REFERENCES users (id),
    org_id         bigint REFERENCES organisations (id),
    role           text NOT NULL,
    downloaded_at  timestamptz NOT NULL
);
CREATE INDEX tender_document_downloads_tender ON tender_document_downloads (tender_id, org_id);

-- Questions from bidders. The asker (user, organisation) is for staff only.
CREATE TABLE tender_questions (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tender_id         bigint NOT NULL REFERENCES tenders (id),
    asked_by          bigint NOT NULL REFERENCES users (id),
    org_id            bigint NOT NULL REFERENCES organisations (id),
    text              text NOT NULL CHECK (length(text) BETWEEN 1 AND 4000),
    asked_at          timestamptz NOT NULL,
    clarification_id  bigint REFERENCES tender_clarifications (id)
);
CREATE INDEX tender_questions_tender ON tender_questions (tender_id, id);

-- Objections to the tender documents (W2, IR 22): at least 10 days before the deadline,
-- answered within 3 days (a timed event raises one alert if not).
CREATE TABLE tender_document_objections (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tender_id      bigint NOT NULL REFERENCES tenders (id),
    raised_by      bigint NOT NULL REFERENCES users (id),
    org_id         bigint NOT NULL REFERENCES organisations (id),
    text           text NOT NULL CHECK (length(text) BETWEEN 1 AND 4000),
    raised_at      timestamptz NOT NULL,
    answer_due_at  timestamptz NOT NULL,
    answer         text CHECK (answer IS NULL OR length(answer) BETWEEN 1 AND 4000),
    answered_by    bigint REFERENCES users (id),
    answered_at    timestamptz,
    CHECK ((answer IS NULL) = (answered_at IS NULL))
);
CREATE INDEX tender_document_objections_tender ON tender_document_objections (tender_id, id);

CREATE TRIGGER public_notices_append_only BEFORE UPDATE OR DELETE ON public_notices
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
CREATE TRIGGER tender_clarifications_append_only BEFORE UPDATE OR DELETE ON tender_clarifications
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
CREATE TRIGGER tender_document_downloads_append_only BEFORE UPDATE OR DELETE ON tender_document_downloads
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
CREATE TRIGGER tender_document_versions_never_deleted BEFORE DELETE ON tender_document_versions
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
CREATE TRIGGER tender_questions_never_deleted BEFORE DELETE ON tender_questions
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
CREATE TRIGGER tender_document_objections_never_deleted BEFORE DELETE ON tender_document_objections
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
