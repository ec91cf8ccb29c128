-- Supervision online (电子监察, RULES S4): alerts a supervisor works with, the acts on them,
-- and the watch's scan watermarks.
--
-- An alert's lifecycle: open → acknowledged (a supervisor, with a note) → closed; open or
-- acknowledged → resolved (the watched step was done); resolved → closed. escalated_at is set
-- once, when an open alert is older than the configured time (or a supervisor escalates it).

ALTER TABLE alerts
    ADD COLUMN state           text NOT NULL DEFAULT 'open'
                               CHECK (state IN ('open', 'acknowledged', 'resolved', 'closed')),
    ADD COLUMN watch_ref       text,
    ADD COLUMN due_at          timestamptz,
    ADD COLUMN escalated_at    timestamptz,
    ADD COLUMN acknowledged_at timestamptz,
    ADD COLUMN acknowledged_by bigint REFERENCES users (id),
    ADD COLUMN resolved_at     timestamptz,
    ADD COLUMN closed_at       timestamptz,
    ADD COLUMN closed_by       bigint REFERENCES users (id),
    ADD COLUMN version         integer NOT NULL DEFAULT 0;

-- A watched step raises one alert: (kind, watch_ref) is its identity.
CREATE UNIQUE INDEX alerts_watch_step ON alerts (kind, watch_ref) WHERE watch_ref IS NOT NULL;
-- The watch's sweep: alerts not yet resolved or closed.
CREATE INDEX alerts_live ON alerts (raised_at) WHERE state IN ('open', 'acknowledged');
-- Paging newest first under the common filters.
CREATE INDEX alerts_state_id ON alerts (state, id);
CREATE INDEX alerts_kind_id ON alerts (kind, id);
CREATE INDEX alerts_object_id ON alerts (object_type, object_id, id);

-- Every act on an alert, in order: who, when, with which note. Never edited.
CREATE TABLE alert_acts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id    bigint NOT NULL REFERENCES alerts (id),
    act         text NOT NULL CHECK (act IN ('acknowledge', 'close', 'escalate', 'note', 'resolve')),
    user_id     bigint REFERENCES users (id),
    actor       text NOT NULL,
    note        text NOT NULL DEFAULT '' CHECK (length(note) <= 4000),
    at          timestamptz NOT NULL
);
CREATE INDEX alert_acts_alert ON alert_acts (alert_id, id);

-- How far each scan of the watch has looked (catch-up after downtime starts from here).
CREATE TABLE supervision_watermarks (
    scan           text PRIMARY KEY,
    scanned_until  timestamptz NOT NULL
);
