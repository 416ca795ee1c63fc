-- 0003: quality gate. Specs, SPC charts and reaction plans (written by quality engineers),
-- chart state, signals, automatic actions, the inspection queue and lot gates (written by
-- spc-gate), verdicts (written by traveler, on the unit's traveler).
--
-- Engineers change configuration with SQL as a login in ct_quality; statement triggers
-- NOTIFY ct_spc_config and spc-gate reloads at once, without a restart. Decisions that need a
-- name on them (lot release, disposition of an inspected unit, undoing an automatic action)
-- go through SECURITY DEFINER functions that record session_user: the authenticated
-- PostgreSQL login, not a name typed into a form.

-- ---- configuration (ct_quality writes, spc-gate reads) --------------------------------

-- Spec limits per characteristic. '*' / 0 match anything; the most specific row wins
-- (station over station_type, recipe with version over recipe over '*', line over '*').
CREATE TABLE spec_limit (
    spec_id        bigserial PRIMARY KEY,
    site           text NOT NULL DEFAULT '*',
    line           text NOT NULL DEFAULT '*',
    station        text NOT NULL DEFAULT '*',
    station_type   smallint NOT NULL DEFAULT 0,
    recipe         text NOT NULL DEFAULT '*',
    recipe_version integer NOT NULL DEFAULT 0,
    characteristic text NOT NULL,
    lsl            double precision,
    usl            double precision,
    target         double precision,
    uom            text NOT NULL DEFAULT '',
    -- Verdict when out of spec: 2 fail (inspection), 3 rework, 4 scrap.
    on_fail        smallint NOT NULL DEFAULT 2 CHECK (on_fail IN (2, 3, 4)),
    -- A result without this characteristic fails ("missing").
    required       boolean NOT NULL DEFAULT false,
    changed_by     text NOT NULL DEFAULT session_user,
    changed_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (lsl IS NOT NULL OR usl IS NOT NULL),
    CHECK (lsl IS NULL OR usl IS NULL OR lsl < usl),
    UNIQUE (site, line, station, station_type, recipe, recipe_version, characteristic)
);

-- What spc-gate does when a chart signals: steps taken in order while one chart keeps
-- signalling (step 1, then step 2, ...; the last step repeats). A step is taken once
-- cooldown_s has passed since the previous action and the chart has signalled min_signals
-- times since then, so one stray point (every run rule has false alarms) does not stop a
-- line while a persisting pattern escalates. Ten quiet cooldowns start the plan over.
--   alert:  only the alert
--   slow:   COMMAND SLOW to target_value (unit)
--   stop:   COMMAND STOP
--   adjust: COMMAND ADJUST `parameter` by -gain x (statistic - centre line), at most
--           max_step per command, and never outside [min_value, max_value]
CREATE TABLE reaction_plan_step (
    plan_id      text NOT NULL,
    step         integer NOT NULL CHECK (step >= 1),
    action       text NOT NULL CHECK (action IN ('alert', 'slow', 'stop', 'adjust')),
    parameter    text,
    gain         double precision,
    max_step     double precision CHECK (max_step > 0),
    min_value    double precision,
    max_value    double precision,
    target_value double precision,
    uom          text NOT NULL DEFAULT '',
    reason_code  text NOT NULL,
    -- Alert severity (Severity: 1 info .. 5 critical).
    severity     smallint NOT NULL DEFAULT 3 CHECK (severity BETWEEN 1 AND 5),
    cooldown_s   integer NOT NULL DEFAULT 60 CHECK (cooldown_s >= 0),
    min_signals  integer NOT NULL DEFAULT 1 CHECK (min_signals >= 1),
    PRIMARY KEY (plan_id, step),
    CHECK (action <> 'adjust' OR (parameter IS NOT NULL AND gain IS NOT NULL
                                  AND max_step IS NOT NULL))
);

-- SPC charts. A row is a template: one chart instance runs per (site, line, station, recipe)
-- stream that matches it. characteristic: one name; for t2 a comma-separated group; for
-- profile a curve name (StationResult.curves; baseline_points golden curves); for p and np
-- the special name '_nonconforming' counts units with a failing verdict.
CREATE TABLE spc_chart (
    chart_id       text PRIMARY KEY CHECK (chart_id ~ '^[A-Za-z0-9._:-]{1,48}$'),
    site           text NOT NULL DEFAULT '*',
    line           text NOT NULL DEFAULT '*',
    station        text NOT NULL DEFAULT '*',
    station_type   smallint NOT NULL DEFAULT 0,
    recipe         text NOT NULL DEFAULT '*',
    characteristic text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('imr', 'xbar_r', 'xbar_s', 'p', 'np', 'c',
                                                 'u', 'ewma', 'cusum', 't2', 'profile')),
    -- Variables charts: observations per subgroup (1..25). Attribute charts: units per point.
    subgroup_size  integer NOT NULL DEFAULT 1 CHECK (subgroup_size >= 1),
    ewma_lambda    double precision CHECK (ewma_lambda > 0 AND ewma_lambda <= 1),
    ewma_l         double precision CHECK (ewma_l > 0),
    cusum_k        double precision CHECK (cusum_k >= 0),
    cusum_h        double precision CHECK (cusum_h > 0),
    -- Run rules, comma-separated: WE1..WE4, N1..N8.
    rules          text NOT NULL DEFAULT 'WE1',
    -- Limits: from a phase I baseline of the first baseline_points points (subgroups), or
    -- fixed from centre and sigma (of the individual values).
    baseline_points integer CHECK (baseline_points >= 2),
    centre         double precision,
    sigma          double precision CHECK (sigma > 0),
    reaction_plan  text,
    enabled        boolean NOT NULL DEFAULT true,
    changed_by     text NOT NULL DEFAULT session_user,
    changed_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (subgroup_size <= 25 OR kind IN ('p', 'np', 'c', 'u')),
    CHECK (baseline_points IS NOT NULL OR (centre IS NOT NULL AND sigma IS NOT NULL)
           OR (kind IN ('p', 'np', 'c', 'u') AND centre IS NOT NULL))
);

-- Lot gate rules: when units judged at a matching station fail (the characteristic, or any),
-- the lots they consumed are held: on the first failure (any_fail), or when the lot's fail
-- rate reaches fail_rate after at least min_units units (fail_rate). lot_scope: 'self' the
-- judged unit when it is itself a lot (batch, electrode coil), 'materials' the lots it
-- consumed, 'all' both.
CREATE TABLE lot_gate_rule (
    rule_id        text PRIMARY KEY,
    station        text NOT NULL DEFAULT '*',
    station_type   smallint NOT NULL DEFAULT 0,
    characteristic text,
    mode           text NOT NULL CHECK (mode IN ('any_fail', 'fail_rate')),
    fail_rate      double precision CHECK (fail_rate > 0 AND fail_rate <= 1),
    min_units      integer NOT NULL DEFAULT 1 CHECK (min_units >= 1),
    lot_scope      text NOT NULL DEFAULT 'all' CHECK (lot_scope IN ('self', 'materials', 'all')),
    hold_state     smallint NOT NULL DEFAULT 2 CHECK (hold_state IN (2, 3)),
    enabled        boolean NOT NULL DEFAULT true,
    CHECK (mode <> 'fail_rate' OR fail_rate IS NOT NULL)
);

CREATE FUNCTION ct_spc_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ct_spc_config', TG_TABLE_NAME);
    RETURN NULL;
END
$$;
CREATE TRIGGER spec_limit_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON spec_limit
    FOR EACH STATEMENT EXECUTE FUNCTION ct_spc_config_changed();
CREATE TRIGGER reaction_plan_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON reaction_plan_step FOR EACH STATEMENT EXECUTE FUNCTION ct_spc_config_changed();
CREATE TRIGGER spc_chart_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON spc_chart
    FOR EACH STATEMENT EXECUTE FUNCTION ct_spc_config_changed();
CREATE TRIGGER lot_gate_rule_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON lot_gate_rule FOR EACH STATEMENT EXECUTE FUNCTION ct_spc_config_changed();

-- ---- spc-gate's state ---------------------------------------------------------------

-- Results already judged, so a batch replayed after a crash is not judged twice (kept for
-- a week; spc-gate prunes).
CREATE TABLE spc_judged (
    source_event_id text PRIMARY KEY,
    judged_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX spc_judged_at ON spc_judged (judged_at);

-- The running state of each chart instance, written in the same transaction as spc_judged.
-- state is the engine's fixed-size state struct (engine version in state_version).
CREATE TABLE spc_chart_state (
    chart_id      text NOT NULL,
    site          text NOT NULL,
    line          text NOT NULL,
    station       text NOT NULL,
    recipe        text NOT NULL,
    config_hash   text NOT NULL,
    state_version integer NOT NULL,
    state         bytea NOT NULL,
    points        bigint NOT NULL,
    signals       bigint NOT NULL DEFAULT 0,
    last_value    double precision,
    lcl           double precision,
    centre        double precision,
    ucl           double precision,
    -- Reaction plan progress: the step the next signal takes, and when the last command went.
    plan_step     integer NOT NULL DEFAULT 1,
    last_action_at timestamptz,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (chart_id, site, line, station, recipe)
);

-- Every signal (rule violation) a chart raised.
CREATE TABLE spc_signal (
    alert_id       text PRIMARY KEY,
    chart_id       text NOT NULL,
    site           text NOT NULL,
    line           text NOT NULL,
    station        text NOT NULL,
    recipe         text NOT NULL,
    rule           text NOT NULL,
    first_point    bigint NOT NULL,
    last_point     bigint NOT NULL,
    statistic      double precision,
    limit_value    double precision,
    cause_event_id text NOT NULL,
    unit_id        text NOT NULL,
    reaction       text NOT NULL DEFAULT '',
    raised_at      timestamptz NOT NULL
);
CREATE INDEX spc_signal_chart ON spc_signal (chart_id, raised_at);

-- Every command spc-gate sent on its own, with its cause, and its undoing.
CREATE TABLE automatic_action (
    command_id      text PRIMARY KEY,
    alert_id        text NOT NULL,
    chart_id        text NOT NULL,
    site            text NOT NULL,
    line            text NOT NULL,
    station         text NOT NULL,
    kind            smallint NOT NULL,
    parameter       text,
    target_value    double precision,
    delta           double precision,
    uom             text NOT NULL DEFAULT '',
    reason_code     text NOT NULL,
    reason_text     text NOT NULL,
    cause_event_id  text NOT NULL,
    decided_at      timestamptz NOT NULL,
    undo_requested_by text,
    undo_requested_at timestamptz,
    undo_reason     text,
    undo_command_id text,
    undone_at       timestamptz
);
CREATE INDEX automatic_action_pending_undo ON automatic_action (undo_requested_at)
    WHERE undo_requested_at IS NOT NULL AND undone_at IS NULL;

-- The inspection / rework queue operators work through.
CREATE TABLE inspection_item (
    item_id         bigserial PRIMARY KEY,
    unit_id         text NOT NULL,
    unit_kind       smallint NOT NULL DEFAULT 0,
    site            text NOT NULL,
    line            text NOT NULL,
    station         text NOT NULL,
    queue           text NOT NULL CHECK (queue IN ('inspection', 'rework')),
    -- What put it here: the judged result's event_id, or 'lot:<lot_id>'.
    cause           text NOT NULL,
    reason          text NOT NULL,
    verdict         smallint NOT NULL,
    entered_at      timestamptz NOT NULL,
    disposition     text CHECK (disposition IN ('release', 'rework', 'scrap')),
    disposed_by     text,
    disposed_at     timestamptz,
    disposition_reason text,
    UNIQUE (unit_id, cause)
);
CREATE INDEX inspection_item_open ON inspection_item (entered_at) WHERE disposition IS NULL;

-- Lot gate status; a lot without a row has never been held (released).
CREATE TABLE lot_status (
    site        text NOT NULL,
    lot_id      text NOT NULL,
    state       smallint NOT NULL CHECK (state BETWEEN 1 AND 3),
    reason      text NOT NULL,
    changed_by  text NOT NULL,
    changed_at  timestamptz NOT NULL,
    PRIMARY KEY (site, lot_id)
);

-- Every lot state change, kept. published_at: when spc-gate published the retained
-- LotStatus (NULL: still to do, e.g. a release made while spc-gate was down).
CREATE TABLE lot_audit (
    audit_id     bigserial PRIMARY KEY,
    site         text NOT NULL,
    lot_id       text NOT NULL,
    from_state   smallint NOT NULL,
    to_state     smallint NOT NULL,
    reason       text NOT NULL CHECK (reason <> ''),
    actor        text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX lot_audit_lot ON lot_audit (site, lot_id, at);
CREATE INDEX lot_audit_unpublished ON lot_audit (audit_id) WHERE published_at IS NULL;

-- Units that contain a held lot (found by genealogy when the lot was held, or later when
-- they consumed a held lot or a held unit); a unit assembled from one of these is held too.
CREATE TABLE held_unit (
    unit_id   text NOT NULL,
    lot_id    text NOT NULL,
    site      text NOT NULL,
    since     timestamptz NOT NULL,
    PRIMARY KEY (unit_id, lot_id)
);
CREATE INDEX held_unit_lot ON held_unit (site, lot_id);

-- Per-lot counters for fail_rate gate rules.
CREATE TABLE lot_quality (
    site      text NOT NULL,
    lot_id    text NOT NULL,
    rule_id   text NOT NULL,
    units     bigint NOT NULL,
    failed    bigint NOT NULL,
    PRIMARY KEY (site, lot_id, rule_id)
);

-- ---- verdicts (traveler writes: part of the unit's traveler) -------------------------

CREATE TABLE unit_verdict (
    event_id          text PRIMARY KEY,
    unit_id           text NOT NULL,
    site              text NOT NULL,
    line              text NOT NULL,
    station           text NOT NULL,
    source_event_id   text NOT NULL,
    verdict           smallint NOT NULL CHECK (verdict BETWEEN 0 AND 4),
    -- [{"characteristic":..,"value":..,"lsl":..,"usl":..,"unit":..,"reason":..}, ...]
    failed            jsonb NOT NULL DEFAULT '[]',
    inspection_reason text NOT NULL DEFAULT '',
    held_lots         text[] NOT NULL DEFAULT '{}',
    recipe            text NOT NULL DEFAULT '',
    recipe_version    integer NOT NULL DEFAULT 0,
    decided_at        timestamptz NOT NULL
);
CREATE INDEX unit_verdict_unit ON unit_verdict (unit_id, decided_at);
CREATE INDEX unit_verdict_source ON unit_verdict (source_event_id);

ALTER TABLE event DROP CONSTRAINT event_kind_check;
ALTER TABLE event ADD CONSTRAINT event_kind_check
    CHECK (kind IN ('result', 'telemetry', 'genealogy', 'deadletter', 'verdict'));
ALTER TABLE station_visit ADD COLUMN held_lots text[] NOT NULL DEFAULT '{}';

-- ---- decisions with a name on them ---------------------------------------------------

-- Sets a lot's state. Releasing needs a login in ct_quality; holding may also be done by
-- spc-gate (ct_spc). The reason is required. Returns the audit row's ID.
CREATE FUNCTION ct_lot_set(p_site text, p_lot text, p_state smallint, p_reason text,
                           p_actor text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    old_state smallint;
    actor text := coalesce(p_actor, session_user);
    id bigint;
BEGIN
    IF p_reason IS NULL OR btrim(p_reason) = '' THEN
        RAISE EXCEPTION 'a lot state change needs a reason';
    END IF;
    IF p_state IS NULL OR p_state NOT BETWEEN 1 AND 3 THEN
        RAISE EXCEPTION 'lot state % is not released (1), held (2) or quarantined (3)', p_state;
    END IF;
    IF p_state = 1 AND NOT pg_has_role(session_user, 'ct_quality', 'MEMBER') THEN
        RAISE EXCEPTION 'releasing a lot needs a quality login (role ct_quality); % is not one',
            session_user;
    END IF;
    -- Only spc-gate itself may name another actor (its gate rule); everyone else is
    -- recorded as who they logged in as.
    IF p_actor IS NOT NULL AND NOT pg_has_role(session_user, 'ct_spc', 'MEMBER') THEN
        actor := session_user;
    END IF;
    SELECT state INTO old_state FROM lot_status WHERE site = p_site AND lot_id = p_lot
        FOR UPDATE;
    old_state := coalesce(old_state, 1);
    IF old_state = p_state THEN
        RETURN NULL;
    END IF;
    INSERT INTO lot_status AS l (site, lot_id, state, reason, changed_by, changed_at)
        VALUES (p_site, p_lot, p_state, p_reason, actor, now())
        ON CONFLICT (site, lot_id) DO UPDATE
        SET state = excluded.state, reason = excluded.reason,
            changed_by = excluded.changed_by, changed_at = excluded.changed_at;
    IF p_state = 1 THEN
        DELETE FROM held_unit WHERE site = p_site AND lot_id = p_lot;
    END IF;
    INSERT INTO lot_audit (site, lot_id, from_state, to_state, reason, actor)
        VALUES (p_site, p_lot, old_state, p_state, p_reason, actor)
        RETURNING audit_id INTO id;
    PERFORM pg_notify('ct_lot', p_site || '/' || p_lot);
    RETURN id;
END
$$;

-- A hold decided by spc-gate's gate rules, followed forward through the genealogy: every
-- unit containing the lot becomes a held unit; cells, modules and packs go to inspection;
-- batches and coils made from it are held in turn. Runs with the caller's rights (ct_spc).
-- Returns how many units went to inspection.
CREATE FUNCTION ct_spc_hold(p_site text, p_lot text, p_state smallint, p_reason text)
RETURNS integer LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    n integer := 0;
    node record;
BEGIN
    PERFORM ct_lot_set(p_site, p_lot, p_state, p_reason, 'spc-gate');
    FOR node IN
        WITH RECURSIVE tree AS (
            SELECT g.parent_id AS id, ARRAY[g.child_id, g.parent_id] AS path, 1 AS depth
            FROM genealogy g WHERE g.child_id = p_lot
            UNION ALL
            SELECT g.parent_id, t.path || g.parent_id, t.depth + 1
            FROM genealogy g JOIN tree t ON g.child_id = t.id
            WHERE t.depth < 32 AND g.parent_id <> ALL (t.path))
        SELECT DISTINCT t.id, coalesce(u.kind, 0) AS kind, coalesce(u.line, '') AS line
        FROM tree t LEFT JOIN unit u ON u.unit_id = t.id
    LOOP
        INSERT INTO held_unit (unit_id, lot_id, site, since)
            VALUES (node.id, p_lot, p_site, now()) ON CONFLICT DO NOTHING;
        IF node.kind IN (1, 2, 3) THEN
            PERFORM ct_lot_set(p_site, node.id, 2::smallint, 'made from held lot ' || p_lot,
                               'spc-gate');
        ELSE
            INSERT INTO inspection_item (unit_id, unit_kind, site, line, station, queue, cause,
                                         reason, verdict, entered_at)
                VALUES (node.id, node.kind, p_site, node.line, '', 'inspection',
                        'lot:' || p_lot, 'contains held lot ' || p_lot, 1, now())
                ON CONFLICT (unit_id, cause) DO NOTHING;
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;

-- Disposition of an inspection item by the logged-in operator.
CREATE FUNCTION ct_dispose(p_item bigint, p_disposition text, p_reason text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF p_reason IS NULL OR btrim(p_reason) = '' THEN
        RAISE EXCEPTION 'a disposition needs a reason';
    END IF;
    IF p_disposition IS NULL OR p_disposition NOT IN ('release', 'rework', 'scrap') THEN
        RAISE EXCEPTION 'disposition must be release, rework or scrap, not %',
            coalesce(p_disposition, 'nothing');
    END IF;
    UPDATE inspection_item
        SET disposition = p_disposition, disposed_by = session_user, disposed_at = now(),
            disposition_reason = p_reason
        WHERE item_id = p_item AND disposition IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'inspection item % does not exist or is already disposed', p_item;
    END IF;
END
$$;

-- Asks spc-gate to undo an automatic action (it sends the inverse command).
CREATE FUNCTION ct_undo_action(p_command text, p_reason text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF p_reason IS NULL OR btrim(p_reason) = '' THEN
        RAISE EXCEPTION 'undoing an action needs a reason';
    END IF;
    UPDATE automatic_action
        SET undo_requested_by = session_user, undo_requested_at = now(), undo_reason = p_reason
        WHERE command_id = p_command AND undo_requested_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'automatic action % does not exist or its undo was already asked for',
            p_command;
    END IF;
    PERFORM pg_notify('ct_spc_undo', p_command);
END
$$;

-- ---- roles -------------------------------------------------------------------------
--   ct_spc:     spc-gate (its state, signals, actions, queue, lots)
--   ct_quality: quality engineers (configuration, releases, dispositions, undo)
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ct_spc') THEN
        CREATE ROLE ct_spc NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ct_quality') THEN
        CREATE ROLE ct_quality NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO ct_spc, ct_quality;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO ct_spc, ct_quality, ct_reader, ct_traveler;
GRANT INSERT, UPDATE ON spc_chart_state, lot_quality TO ct_spc;
GRANT INSERT ON spc_judged, spc_signal, automatic_action, inspection_item, held_unit TO ct_spc;
-- ON CONFLICT DO UPDATE needs UPDATE; ON CONFLICT DO NOTHING needs only INSERT.
GRANT DELETE ON spc_judged TO ct_spc;
GRANT UPDATE (undo_command_id, undone_at) ON automatic_action TO ct_spc;
GRANT UPDATE (published_at) ON lot_audit TO ct_spc;
GRANT USAGE ON SEQUENCE inspection_item_item_id_seq TO ct_spc;
GRANT INSERT, UPDATE, DELETE ON spec_limit, reaction_plan_step, spc_chart, lot_gate_rule
    TO ct_quality;
GRANT USAGE ON SEQUENCE spec_limit_spec_id_seq TO ct_quality;
GRANT INSERT ON unit_verdict TO ct_traveler;
REVOKE ALL ON FUNCTION ct_lot_set(text, text, smallint, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ct_dispose(bigint, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ct_undo_action(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ct_spc_hold(text, text, smallint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ct_spc_hold(text, text, smallint, text) TO ct_spc;
GRANT EXECUTE ON FUNCTION ct_lot_set(text, text, smallint, text, text) TO ct_spc, ct_quality;
GRANT EXECUTE ON FUNCTION ct_dispose(bigint, text, text) TO ct_quality;
GRANT EXECUTE ON FUNCTION ct_undo_action(text, text) TO ct_quality;
