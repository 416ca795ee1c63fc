-- 0011: OEE, closed-loop response time, traceability depth and maintainability (issue 14).
-- docs/oee.md defines every figure for the people who read them; this file is how.
--
-- ct-oee (login `oee`, group role ct_oee) stores the states stations report (station_state)
-- and the acknowledgements of commands (command_ack), and keeps the history of the figures
-- it published (oee_figures). Counting is done here, in the traveler's own transaction, by
-- statement triggers on station_visit and unit_verdict (oee_count, per station and UTC
-- minute), so a shift's figures read a few hundred rollup rows and the state changes of one
-- station by index, never the visits. Plants configure with SQL as a ct_quality login: the
-- reason tree, shift patterns, ideal cycle times, a line's reference station, the route a
-- traceable unit takes.
--
-- Times are timestamptz; durations double precision seconds. Station state kinds are those
-- of StationStateKind (proto/cellthread/v1/oee.proto): 1 PRODUCING, 2 IDLE, 3 STARVED,
-- 4 BLOCKED, 5 PLANNED_DOWNTIME, 6 UNPLANNED_DOWNTIME, 7 UNKNOWN_STOP.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ct_oee') THEN
        CREATE ROLE ct_oee NOLOGIN;
    END IF;
END
$$;

-- ---- configuration (ct_quality writes) -----------------------------------------------------

-- Why a station stopped. A tree: a code's parent groups it (BREAKDOWN.WELD.HORN under
-- BREAKDOWN under UNPLANNED); category says which part of the time model the code belongs
-- to. Stations send the codes; a code not in the tree is still stored and shown as sent.
CREATE TABLE oee_reason (
    code     text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9._-]{1,64}$'),
    parent   text REFERENCES oee_reason (code),
    category text NOT NULL
        CHECK (category IN ('planned', 'unplanned', 'idle', 'starved', 'blocked')),
    name     text NOT NULL DEFAULT ''
);
INSERT INTO oee_reason (code, parent, category, name) VALUES
    ('PLANNED', NULL, 'planned', 'Planned downtime'),
    ('CHANGEOVER', 'PLANNED', 'planned', 'Changeover to another recipe'),
    ('SETUP', 'PLANNED', 'planned', 'Setup and adjustment'),
    ('PLANNED_MAINTENANCE', 'PLANNED', 'planned', 'Planned maintenance'),
    ('BREAK', 'PLANNED', 'planned', 'Break'),
    ('NO_SHIFT', 'PLANNED', 'planned', 'No shift planned'),
    ('UNPLANNED', NULL, 'unplanned', 'Unplanned downtime'),
    ('BREAKDOWN', 'UNPLANNED', 'unplanned', 'Breakdown'),
    ('BREAKDOWN.WELD.HORN', 'BREAKDOWN', 'unplanned', 'Weld horn worn or broken'),
    ('BREAKDOWN.WIND.TENSION', 'BREAKDOWN', 'unplanned', 'Winding tension control fault'),
    ('BREAKDOWN.FILL.PUMP', 'BREAKDOWN', 'unplanned', 'Electrolyte dosing pump fault'),
    ('BREAKDOWN.COAT.DIE', 'BREAKDOWN', 'unplanned', 'Coating die fault'),
    ('BREAKDOWN.SEAL.CRIMP', 'BREAKDOWN', 'unplanned', 'Crimp tool fault'),
    ('BREAKDOWN.EOL.FIXTURE', 'BREAKDOWN', 'unplanned', 'End-of-line test fixture fault'),
    ('BREAKDOWN.GENERIC', 'BREAKDOWN', 'unplanned', 'Breakdown, cause not given'),
    ('MINOR', 'UNPLANNED', 'unplanned', 'Minor stop'),
    ('MICRO.VISION_TRIP', 'MINOR', 'unplanned', 'Vision system trip'),
    ('MICRO.JAM', 'MINOR', 'unplanned', 'Jam'),
    ('MICRO.SENSOR', 'MINOR', 'unplanned', 'Sensor fault'),
    ('QUALITY_STOP', 'UNPLANNED', 'unplanned', 'Stopped by the quality gate (spc-gate STOP)'),
    ('MATERIAL', 'UNPLANNED', 'unplanned', 'Material shortage at the station');

-- Per site ('*' = default): a stop shorter than micro_stop_s is a micro-stop; ct-oee derives
-- UNKNOWN_STOP after unknown_gap_s without a result (stations that send no states).
CREATE TABLE oee_config (
    site          text PRIMARY KEY,
    micro_stop_s  double precision NOT NULL DEFAULT 60 CHECK (micro_stop_s >= 0),
    unknown_gap_s double precision NOT NULL DEFAULT 60 CHECK (unknown_gap_s > 0)
);
INSERT INTO oee_config VALUES ('*', 60, 60);

-- The shift calendar. starts is a UTC time of day; a shift runs `length` from there on each
-- ISO weekday listed (1 = Monday .. 7 = Sunday) of its start. The most specific (site, line)
-- that has any pattern is the calendar: (site, line), then (site, '*'), ('*', line),
-- ('*', '*'). Time outside every shift is planned downtime (NO_SHIFT).
CREATE TABLE oee_shift_pattern (
    site     text NOT NULL,
    line     text NOT NULL,
    name     text NOT NULL CHECK (name ~ '^[A-Za-z0-9._-]{1,32}$'),
    starts   time NOT NULL,
    length   interval NOT NULL CHECK (length > interval '0' AND length <= interval '24 hours'),
    weekdays smallint[] NOT NULL DEFAULT '{1,2,3,4,5,6,7}'
        CHECK (weekdays <@ '{1,2,3,4,5,6,7}'::smallint[] AND cardinality(weekdays) > 0),
    PRIMARY KEY (site, line, name)
);
INSERT INTO oee_shift_pattern (site, line, name, starts, length) VALUES
    ('*', '*', 'A', '06:00', '8 hours'),
    ('*', '*', 'B', '14:00', '8 hours'),
    ('*', '*', 'C', '22:00', '8 hours');

-- Ideal cycle time (seconds per unit at the design rate). '*' matches anything; the most
-- specific row wins: a station over a line over a site, an exact recipe over '*'. Empty:
-- no ideal rate, so no performance (and no OEE) until engineers set one.
CREATE TABLE oee_ideal_cycle (
    site          text NOT NULL,
    line          text NOT NULL,
    station       text NOT NULL,
    recipe        text NOT NULL,
    ideal_cycle_s double precision NOT NULL CHECK (ideal_cycle_s > 0 AND ideal_cycle_s < 1e7),
    changed_by    text NOT NULL DEFAULT session_user,
    changed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, line, station, recipe)
);

-- The station whose figures are the line's (default: the line's first cell-making station).
CREATE TABLE oee_line (
    site              text NOT NULL,
    line              text NOT NULL,
    reference_station text NOT NULL,
    PRIMARY KEY (site, line)
);

-- ---- what ct-oee stores --------------------------------------------------------------------

-- State changes of stations (StationState), by event ID: a redelivery adds nothing. A state
-- lasts from `since` to the next row's `since` of the same station, whatever order the rows
-- arrived in (ct_oee_intervals).
CREATE TABLE station_state (
    event_id       text PRIMARY KEY,
    site           text NOT NULL,
    line           text NOT NULL,
    station        text NOT NULL,
    state          smallint NOT NULL CHECK (state BETWEEN 1 AND 7),
    reason_code    text NOT NULL DEFAULT '',
    reason_text    text NOT NULL DEFAULT '',
    asset          text NOT NULL DEFAULT '',
    since          timestamptz NOT NULL,
    recipe         text NOT NULL DEFAULT '',
    recipe_version integer NOT NULL DEFAULT 0,
    rate_per_hour  double precision NOT NULL DEFAULT 0,
    source         text NOT NULL DEFAULT 'station' CHECK (source IN ('station', 'derived')),
    stored_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX station_state_station ON station_state (site, line, station, since);
-- The last state that named a recipe (a station's recipe when its current state names none),
-- without reading the states between.
CREATE INDEX station_state_recipe ON station_state (site, line, station, since)
    WHERE recipe <> '';

-- Acknowledgements of commands (CommandAck): status 1 accepted, 2 rejected, 3 done.
CREATE TABLE command_ack (
    event_id   text PRIMARY KEY,
    command_id text NOT NULL,
    site       text NOT NULL,
    line       text NOT NULL,
    station    text NOT NULL,
    status     smallint NOT NULL CHECK (status BETWEEN 1 AND 3),
    detail     text NOT NULL DEFAULT '',
    acked_at   timestamptz NOT NULL,
    stored_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX command_ack_command ON command_ack (command_id, acked_at);

-- The figures ct-oee published, per station ('' = the line) and shift: the OEE history.
CREATE TABLE oee_figures (
    site                text NOT NULL,
    line                text NOT NULL,
    station             text NOT NULL,
    shift_id            text NOT NULL,
    shift_start         timestamptz NOT NULL,
    shift_end           timestamptz NOT NULL,
    until               timestamptz NOT NULL,
    computed_at         timestamptz NOT NULL DEFAULT now(),
    availability        double precision,
    performance         double precision,
    quality             double precision,
    oee                 double precision,
    performance_flagged boolean NOT NULL DEFAULT false,
    produced            bigint NOT NULL DEFAULT 0,
    good                bigint NOT NULL DEFAULT 0,
    late_rejects        bigint NOT NULL DEFAULT 0,
    figures             jsonb NOT NULL,
    PRIMARY KEY (site, line, station, shift_id)
);
CREATE INDEX oee_figures_shift_start ON oee_figures (shift_start);

-- ---- the counting rollup -------------------------------------------------------------------

-- Units per station, UTC minute (of the visit's ended_at) and recipe: produced (visits with
-- result OK or NOK), bad (produced visits that failed: NOK, or a verdict other than PASS) and
-- late_rejects (units made here, by this visit, that failed at a later station).
-- station_type is the visiting station's type (the line's reference station is found by it).
CREATE TABLE oee_count (
    site         text NOT NULL,
    line         text NOT NULL,
    station      text NOT NULL,
    minute       timestamptz NOT NULL,
    recipe       text NOT NULL,
    station_type smallint NOT NULL DEFAULT 0,
    produced     bigint NOT NULL DEFAULT 0,
    bad          bigint NOT NULL DEFAULT 0,
    late_rejects bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (site, line, station, minute, recipe)
);
CREATE INDEX oee_count_line_minute ON oee_count (site, line, minute);

-- Visits counted bad (each at most once, whether its NOK result or its failing verdict was
-- stored first) and units counted as a late reject (once, at their maker visit).
CREATE TABLE oee_visit_bad (
    event_id text PRIMARY KEY
);
CREATE TABLE oee_unit_reject (
    unit_id         text PRIMARY KEY,
    maker_event_id  text NOT NULL,
    failed_event_id text NOT NULL,
    counted_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oee_unit_reject_maker ON oee_unit_reject (maker_event_id);

-- The rollup's bucket of a time: the UTC minute, independent of the session's time zone.
CREATE FUNCTION ct_oee_minute(t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT date_bin('1 minute', t, timestamptz 'epoch')
$$;

-- Counts the produced visits p_visits (station_visit event IDs, stored) as bad, each once. A
-- unit counted as a late reject whose maker visit turns out bad itself (its failing verdict
-- came after the later failure) is bad at its maker instead: the late reject is taken back,
-- so no unit is counted twice.
CREATE FUNCTION ct_oee_add_bad(p_visits text[])
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH b AS (
        INSERT INTO oee_visit_bad (event_id)
        SELECT DISTINCT x FROM unnest(p_visits) AS x ORDER BY 1
        ON CONFLICT DO NOTHING RETURNING event_id),
    r AS (
        DELETE FROM oee_unit_reject u WHERE u.maker_event_id IN (SELECT b.event_id FROM b)
        RETURNING u.maker_event_id)
    INSERT INTO oee_count AS c (site, line, station, minute, recipe, station_type, bad,
                                late_rejects)
    SELECT v.site, v.line, v.station, ct_oee_minute(v.ended_at), v.recipe, max(v.station_type),
           count(*), -sum((SELECT count(*) FROM r WHERE r.maker_event_id = b.event_id))
    FROM b JOIN station_visit v ON v.event_id = b.event_id
    GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (site, line, station, minute, recipe) DO UPDATE
    SET bad = c.bad + excluded.bad, late_rejects = c.late_rejects + excluded.late_rejects
$$;

-- Counts the late rejects among the units p_units: a unit whose maker visit (its earliest
-- stored produced visit: OK or NOK, an aborted attempt made nothing) was not itself counted
-- bad, and that failed (NOK, or a verdict other than
-- PASS) at another visit, adds one late reject to its maker visit's bucket, once.
CREATE FUNCTION ct_oee_add_late(p_units text[])
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH u AS (
        SELECT DISTINCT x AS unit_id FROM unnest(p_units) AS x
        WHERE NOT EXISTS (SELECT 1 FROM oee_unit_reject r WHERE r.unit_id = x)),
    m AS (
        SELECT u.unit_id, mk.event_id
        FROM u CROSS JOIN LATERAL (
            SELECT v.event_id FROM station_visit v
            WHERE v.unit_id = u.unit_id AND v.result IN (1, 2)
            ORDER BY v.started_at, v.event_id LIMIT 1) mk
        WHERE NOT EXISTS (SELECT 1 FROM oee_visit_bad b WHERE b.event_id = mk.event_id)),
    f AS (
        SELECT m.unit_id, m.event_id, fv.event_id AS failed_event_id
        FROM m CROSS JOIN LATERAL (
            SELECT v.event_id FROM station_visit v
            WHERE v.unit_id = m.unit_id AND v.event_id <> m.event_id
              AND (v.result = 2 OR EXISTS (SELECT 1 FROM unit_verdict x
                                           WHERE x.source_event_id = v.event_id
                                             AND x.verdict <> 1))
            ORDER BY v.started_at, v.event_id LIMIT 1) fv),
    ins AS (
        INSERT INTO oee_unit_reject (unit_id, maker_event_id, failed_event_id)
        SELECT unit_id, event_id, failed_event_id FROM f ORDER BY unit_id
        ON CONFLICT DO NOTHING RETURNING maker_event_id)
    INSERT INTO oee_count AS c (site, line, station, minute, recipe, station_type, late_rejects)
    SELECT v.site, v.line, v.station, ct_oee_minute(v.ended_at), v.recipe, max(v.station_type),
           count(*)
    FROM ins JOIN station_visit v ON v.event_id = ins.maker_event_id
    GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (site, line, station, minute, recipe) DO UPDATE
    SET late_rejects = c.late_rejects + excluded.late_rejects
$$;

-- Takes back the late rejects of the units p_units counted at a visit that is no longer the
-- unit's maker (its real maker visit was stored after the later failure): one late reject
-- less in the old maker's bucket; ct_oee_add_late then counts the unit at its new maker.
CREATE FUNCTION ct_oee_unlate(p_units text[])
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH d AS (
        DELETE FROM oee_unit_reject r
        WHERE r.unit_id IN (SELECT DISTINCT x FROM unnest(p_units) AS x)
          AND r.maker_event_id IS DISTINCT FROM (
              SELECT v.event_id FROM station_visit v
              WHERE v.unit_id = r.unit_id AND v.result IN (1, 2)
              ORDER BY v.started_at, v.event_id LIMIT 1)
        RETURNING r.maker_event_id)
    INSERT INTO oee_count AS c (site, line, station, minute, recipe, station_type, late_rejects)
    SELECT v.site, v.line, v.station, ct_oee_minute(v.ended_at), v.recipe, max(v.station_type),
           -count(*)
    FROM d JOIN station_visit v ON v.event_id = d.maker_event_id
    GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (site, line, station, minute, recipe) DO UPDATE
    SET late_rejects = c.late_rejects + excluded.late_rejects
$$;

-- After each statement (COPY) on station_visit: the visits' produced counts, the bad ones
-- (NOK, or a failing verdict stored before the visit), and late rejects of their units. Set
-- based and in key order (two travelers lock the same buckets in the same order).
CREATE FUNCTION ct_oee_count_visits()
RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    units text[];
BEGIN
    INSERT INTO oee_count AS c (site, line, station, minute, recipe, station_type, produced)
    SELECT site, line, station, ct_oee_minute(ended_at), recipe, max(station_type), count(*)
    FROM added WHERE result IN (1, 2)
    GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (site, line, station, minute, recipe) DO UPDATE
    SET produced = c.produced + excluded.produced, station_type = excluded.station_type;
    PERFORM ct_oee_add_bad(ARRAY(
        SELECT a.event_id FROM added a
        WHERE a.result = 2
           OR (a.result = 1 AND EXISTS (SELECT 1 FROM unit_verdict x
                                        WHERE x.source_event_id = a.event_id
                                          AND x.verdict <> 1))));
    -- Late rejects can only appear for a unit whose new visit failed, or whose new visit is
    -- its earliest (its maker: a failure stored before it is now a late one). Every other
    -- visit costs two index probes here. A new maker first takes the unit's late reject away
    -- from the visit it was counted at.
    units := ARRAY(
        SELECT a.unit_id FROM added a
        WHERE a.result = 2
           OR EXISTS (SELECT 1 FROM unit_verdict x
                      WHERE x.source_event_id = a.event_id AND x.verdict <> 1)
           OR (a.result = 1
               AND NOT EXISTS (SELECT 1 FROM station_visit w
                               WHERE w.unit_id = a.unit_id AND w.started_at <= a.started_at
                                 AND w.result IN (1, 2)
                                 AND (w.started_at, w.event_id) < (a.started_at, a.event_id))));
    PERFORM ct_oee_unlate(units);
    PERFORM ct_oee_add_late(units);
    RETURN NULL;
END
$$;

-- After each statement on unit_verdict: a failing verdict makes its visit bad (when the visit
-- is stored and produced; else the visit's own trigger finds the verdict) and may make its
-- unit a late reject.
CREATE FUNCTION ct_oee_count_verdicts()
RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM ct_oee_add_bad(ARRAY(
        SELECT a.source_event_id FROM added a
        JOIN station_visit v ON v.event_id = a.source_event_id
        WHERE a.verdict <> 1 AND v.result IN (1, 2)));
    PERFORM ct_oee_add_late(ARRAY(SELECT unit_id FROM added WHERE verdict <> 1));
    RETURN NULL;
END
$$;

-- CREATE TRIGGER locks each table against writes until this migration commits, so the fill
-- below sees every committed row and each is counted once.
CREATE TRIGGER oee_count_visits AFTER INSERT ON station_visit
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION ct_oee_count_visits();
CREATE TRIGGER oee_count_verdicts AFTER INSERT ON unit_verdict
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION ct_oee_count_verdicts();

INSERT INTO oee_count (site, line, station, minute, recipe, station_type, produced)
SELECT site, line, station, ct_oee_minute(ended_at), recipe, max(station_type), count(*)
FROM station_visit WHERE result IN (1, 2) GROUP BY 1, 2, 3, 4, 5;
DO $$
BEGIN
    PERFORM ct_oee_add_bad(ARRAY(
        SELECT v.event_id FROM station_visit v
        WHERE v.result = 2
           OR (v.result = 1 AND EXISTS (SELECT 1 FROM unit_verdict x
                                        WHERE x.source_event_id = v.event_id AND x.verdict <> 1))));
    PERFORM ct_oee_add_late(ARRAY(
        SELECT DISTINCT v.unit_id FROM station_visit v
        WHERE v.result = 2 OR EXISTS (SELECT 1 FROM unit_verdict x
                                      WHERE x.source_event_id = v.event_id AND x.verdict <> 1)));
END
$$;

-- Buckets of oee_count changed late (more than a minute after their minute: a visit, a bad
-- result or a late reject stored late, usually of a shift that has closed since): ct-oee
-- reads the queue in minute order without deleting it and computes the shifts the buckets
-- fall in again, which it would otherwise never compute again once closed. A row goes in the
-- statement that stores the figures of its station's or line's shift (so a kill -9 before
-- that leaves it queued), or at once when no shift holds its minute. changes counts the late
-- changes since the row was queued: that statement deletes a row only if no change came after
-- its snapshot (a concurrent change updates the row, and the delete's recheck then skips it).
-- The key leads with minute: the reading in minute order and a shift's delete scan a range.
CREATE TABLE oee_recompute (
    minute  timestamptz NOT NULL,
    site    text NOT NULL,
    line    text NOT NULL,
    station text NOT NULL,
    changes bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (minute, site, line, station)
);

-- Statement triggers with a transition table: a statement of ct-traveler (a batch of visits,
-- or during a replay of history one where every bucket is late) costs one INSERT here, not a
-- call per bucket. DISTINCT: a bucket has a row per recipe. In key order, so two writers of
-- the same buckets lock them in the same order.
CREATE FUNCTION ct_oee_queue_recompute()
RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO oee_recompute AS q (minute, site, line, station)
    SELECT DISTINCT minute, site, line, station FROM changed
    WHERE minute < now() - interval '1 minute'
    ORDER BY minute, site, line, station
    ON CONFLICT (minute, site, line, station) DO UPDATE SET changes = q.changes + 1;
    RETURN NULL;
END
$$;

-- After the fill above: what it counted is no late change. Two triggers: a transition table
-- belongs to a trigger of one event.
CREATE TRIGGER oee_count_late_insert AFTER INSERT ON oee_count
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION ct_oee_queue_recompute();
CREATE TRIGGER oee_count_late_update AFTER UPDATE ON oee_count
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION ct_oee_queue_recompute();

-- ---- the time model ------------------------------------------------------------------------

-- Seconds of an interval.
CREATE FUNCTION ct_oee_s(d interval) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT extract(epoch FROM d)::double precision
$$;

-- The shift calendar of (site, line): the most specific level that has any pattern.
CREATE FUNCTION ct_oee_patterns(p_site text, p_line text)
RETURNS SETOF oee_shift_pattern LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    WITH best AS (
        SELECT p.site, p.line FROM oee_shift_pattern p
        WHERE p.site IN (p_site, '*') AND p.line IN (p_line, '*')
        ORDER BY (p.site <> '*')::int * 2 + (p.line <> '*')::int DESC LIMIT 1)
    SELECT p.* FROM oee_shift_pattern p JOIN best b ON b.site = p.site AND b.line = p.line
$$;

-- The shift instances of (site, line) overlapping [p_from, p_to).
CREATE FUNCTION ct_oee_shifts(p_site text, p_line text, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (shift_id text, name text, starts_at timestamptz, ends_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    -- d is a UTC day as a timestamp without time zone: over dates, generate_series would
    -- give the session time zone's midnights.
    SELECT to_char(d, 'YYYY-MM-DD') || '/' || p.name, p.name,
           (d + p.starts) AT TIME ZONE 'UTC', (d + p.starts + p.length) AT TIME ZONE 'UTC'
    FROM ct_oee_patterns(p_site, p_line) p
    CROSS JOIN generate_series(((p_from AT TIME ZONE 'UTC')::date - 1)::timestamp,
                               ((p_to AT TIME ZONE 'UTC')::date)::timestamp,
                               interval '1 day') AS d
    WHERE extract(isodow FROM d)::smallint = ANY (p.weekdays)
      AND (d + p.starts) AT TIME ZONE 'UTC' < p_to
      AND (d + p.starts + p.length) AT TIME ZONE 'UTC' > p_from
    ORDER BY 3, 2
$$;

-- The states of a station over [p_from, p_to): one row per state in force at some time of the
-- window, with its own start and end (since, until) and the part inside the window (s, e).
-- A state lasts until the station's next state by (since, event_id), so intervals never
-- overlap or go negative whatever order gateways sent them in; the last one lasts until the
-- next state after the window, or until now (at least the window's end). Before the first
-- state the station ever sent: a row of state 7 (UNKNOWN) with since -infinity.
-- Gateways re-send the current state with new event IDs: a row that repeats the one before
-- it (state, reason, asset and recipe) starts no interval. A stop (UNPLANNED_DOWNTIME or
-- UNKNOWN_STOP) belongs to a run of consecutive stops (a jam that turns into a breakdown is
-- one stop): run_since and run_until are the run's, looked up beyond the window; for other
-- states they are the interval's own. States ct-oee derived (source 'derived') count only
-- before the station's first state of its own.
CREATE FUNCTION ct_oee_intervals(p_site text, p_line text, p_station text, p_from timestamptz,
                                 p_to timestamptz)
RETURNS TABLE (event_id text, state smallint, reason_code text, recipe text, asset text,
               since timestamptz, until timestamptz, s timestamptz, e timestamptz,
               run_since timestamptz, run_until timestamptz)
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    -- A station that sends states of its own after ct-oee derived some: from its first own
    -- state on, the derived rows are ignored (its own states say what it did).
    WITH own AS (
        SELECT coalesce((SELECT y.since FROM station_state y
                         WHERE y.site = p_site AND y.line = p_line AND y.station = p_station
                           AND y.source = 'station'
                         ORDER BY y.since LIMIT 1), timestamptz 'infinity') AS since),
    r0 AS (
        (SELECT x.event_id, x.state, x.reason_code, x.recipe, x.asset, x.since
         FROM station_state x
         WHERE x.site = p_site AND x.line = p_line AND x.station = p_station AND x.since < p_from
           AND (x.source = 'station' OR x.since < (SELECT own.since FROM own))
         ORDER BY x.since DESC, x.event_id DESC LIMIT 1)
        UNION ALL
        SELECT x.event_id, x.state, x.reason_code, x.recipe, x.asset, x.since
        FROM station_state x
        WHERE x.site = p_site AND x.line = p_line AND x.station = p_station
          AND x.since >= p_from AND x.since < p_to
          AND (x.source = 'station' OR x.since < (SELECT own.since FROM own))),
    r1 AS (
        SELECT r0.*, coalesce(r0.state = lag(r0.state) OVER w
                              AND r0.reason_code = lag(r0.reason_code) OVER w
                              AND r0.asset = lag(r0.asset) OVER w
                              AND r0.recipe = lag(r0.recipe) OVER w, false) AS repeat
        FROM r0 WINDOW w AS (ORDER BY r0.since, r0.event_id)),
    r AS (
        SELECT r1.event_id, r1.state, r1.reason_code, r1.recipe, r1.asset, r1.since
        FROM r1 WHERE NOT r1.repeat),
    nx AS (
        SELECT min(x.since) AS since FROM station_state x
        WHERE x.site = p_site AND x.line = p_line AND x.station = p_station AND x.since >= p_to
          AND (x.source = 'station' OR x.since < (SELECT own.since FROM own))),
    first AS (
        SELECT min(r.since) AS since FROM r),
    -- A run of stops can reach beyond the window: when the first row is a stop, the run
    -- started after the station's last state before it that was no stop (rs); when the last
    -- row is a stop, the run ends at the station's next state that is no stop (re).
    r_first AS (
        SELECT r.* FROM r ORDER BY r.since, r.event_id LIMIT 1),
    r_last AS (
        SELECT r.* FROM r ORDER BY r.since DESC, r.event_id DESC LIMIT 1),
    pb AS (
        SELECT x.since, x.event_id FROM r_first f JOIN station_state x
            ON x.site = p_site AND x.line = p_line AND x.station = p_station
           AND x.state NOT IN (6, 7) AND (x.since, x.event_id) < (f.since, f.event_id)
           AND (x.source = 'station' OR x.since < (SELECT own.since FROM own))
        WHERE f.state IN (6, 7)
        ORDER BY x.since DESC, x.event_id DESC LIMIT 1),
    rs AS (
        SELECT (SELECT x.since FROM station_state x
                WHERE x.site = p_site AND x.line = p_line AND x.station = p_station
                  AND (pb.since IS NULL OR (x.since, x.event_id) > (pb.since, pb.event_id))
                  AND (x.source = 'station' OR x.since < (SELECT own.since FROM own))
                ORDER BY x.since, x.event_id LIMIT 1) AS since
        FROM r_first f LEFT JOIN pb ON true WHERE f.state IN (6, 7)),
    re AS (
        SELECT (SELECT x.since FROM station_state x
                WHERE x.site = p_site AND x.line = p_line AND x.station = p_station
                  AND x.state NOT IN (6, 7) AND (x.since, x.event_id) > (l.since, l.event_id)
                  AND (x.source = 'station' OR x.since < (SELECT own.since FROM own))
                ORDER BY x.since, x.event_id LIMIT 1) AS since
        FROM r_last l WHERE l.state IN (6, 7)),
    -- grp numbers the runs: a state that is no stop starts the next one.
    o AS (
        SELECT r.*, coalesce(lead(r.since) OVER w, (SELECT nx.since FROM nx),
                             greatest(now(), p_to)) AS until,
               count(*) FILTER (WHERE r.state NOT IN (6, 7)) OVER w AS grp,
               lead(r.since) OVER w IS NULL AS last
        FROM r WINDOW w AS (ORDER BY r.since, r.event_id)
        UNION ALL
        SELECT NULL, 7::smallint, '', '', '', timestamptz '-infinity', f.since, -1, false
        FROM first f WHERE f.since IS NULL OR f.since > p_from),
    g AS (
        SELECT o.*, o.state IN (6, 7) AND o.event_id IS NOT NULL AS stop,
               min(o.since) FILTER (WHERE o.state IN (6, 7)) OVER (PARTITION BY o.grp) AS g_since,
               max(o.until) FILTER (WHERE o.state IN (6, 7)) OVER (PARTITION BY o.grp) AS g_until,
               bool_or(o.last AND o.state IN (6, 7)) OVER (PARTITION BY o.grp) AS g_open
        FROM o)
    SELECT g.event_id, g.state, g.reason_code, g.recipe, g.asset, g.since,
           coalesce(g.until, p_to), greatest(g.since, p_from), least(coalesce(g.until, p_to), p_to),
           CASE WHEN NOT g.stop THEN g.since
                WHEN g.grp = 0 THEN coalesce((SELECT rs.since FROM rs), g.g_since)
                ELSE g.g_since END,
           CASE WHEN NOT g.stop THEN coalesce(g.until, p_to)
                WHEN g.g_open THEN coalesce((SELECT re.since FROM re), greatest(now(), p_to))
                ELSE g.g_until END
    FROM g
    WHERE coalesce(g.until, p_to) > g.since
$$;

-- The micro-stop limit of a site.
CREATE FUNCTION ct_oee_micro_s(p_site text) RETURNS double precision
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT coalesce((SELECT c.micro_stop_s FROM oee_config c WHERE c.site IN (p_site, '*')
                     ORDER BY (c.site <> '*') DESC LIMIT 1), 60)
$$;

-- The time of a station over [p_from, p_to) by state kind (0: outside every shift, planned
-- NO_SHIFT), reason and whether the stop was a micro-stop (a run of consecutive
-- UNPLANNED_DOWNTIME and UNKNOWN_STOP intervals shorter, as a whole, than the site's
-- micro_stop_s): in-shift seconds
-- and the number of intervals with time in a shift.
CREATE FUNCTION ct_oee_time(p_site text, p_line text, p_station text, p_from timestamptz,
                            p_to timestamptz)
RETURNS TABLE (state smallint, reason_code text, micro boolean, seconds double precision,
               n bigint)
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    WITH sh0 AS (
        SELECT greatest(x.starts_at, p_from) AS s, least(x.ends_at, p_to) AS e
        FROM ct_oee_shifts(p_site, p_line, p_from, p_to) x),
    sh1 AS (
        SELECT sh0.*, max(sh0.e) OVER (ORDER BY sh0.s, sh0.e
                                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS pe
        FROM sh0),
    sh2 AS (
        SELECT sh1.*, count(*) FILTER (WHERE sh1.pe IS NULL OR sh1.pe < sh1.s)
                          OVER (ORDER BY sh1.s, sh1.e) AS grp
        FROM sh1),
    sh AS (SELECT min(sh2.s) AS s, max(sh2.e) AS e FROM sh2 GROUP BY sh2.grp),
    iv AS (
        SELECT i.*, i.state IN (6, 7) AND i.since > '-infinity'
                    AND ct_oee_s(i.run_until - i.run_since) < ct_oee_micro_s(p_site) AS micro
        FROM ct_oee_intervals(p_site, p_line, p_station, p_from, p_to) i WHERE i.e > i.s),
    pieces AS (
        SELECT iv.state, iv.reason_code, iv.micro, iv.since,
               sum(greatest(0, ct_oee_s(least(iv.e, sh.e) - greatest(iv.s, sh.s)))) AS secs
        FROM iv CROSS JOIN sh
        GROUP BY iv.state, iv.reason_code, iv.micro, iv.since, iv.event_id)
    SELECT p.state, p.reason_code, p.micro, sum(p.secs), count(*) FILTER (WHERE p.secs > 0)
    FROM pieces p GROUP BY 1, 2, 3
    UNION ALL
    SELECT 0::smallint, 'NO_SHIFT', false,
           ct_oee_s(p_to - p_from) - coalesce((SELECT sum(ct_oee_s(sh.e - sh.s)) FROM sh), 0), 0
    WHERE p_to > p_from
$$;

-- The ideal cycle time of a station for a recipe: the most specific oee_ideal_cycle row.
CREATE FUNCTION ct_oee_ideal(p_site text, p_line text, p_station text, p_recipe text)
RETURNS double precision LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT c.ideal_cycle_s FROM oee_ideal_cycle c
    WHERE c.site IN (p_site, '*') AND c.line IN (p_line, '*') AND c.station IN (p_station, '*')
      AND c.recipe IN (p_recipe, '*')
    ORDER BY (c.station <> '*')::int * 8 + (c.line <> '*')::int * 4 + (c.site <> '*')::int * 2
             + (c.recipe <> '*')::int DESC
    LIMIT 1
$$;

-- Sets the ideal cycle time of (site, line, station, recipe); '*' for any.
CREATE FUNCTION ct_oee_ideal_set(p_site text, p_line text, p_station text, p_recipe text,
                                 p_seconds double precision)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF p_seconds IS NULL OR NOT (p_seconds > 0 AND p_seconds < 1e7) THEN
        RAISE EXCEPTION 'an ideal cycle time must be above 0 s (and below 1e7 s), not %',
            coalesce(p_seconds::text, 'nothing');
    END IF;
    IF p_site IS NULL OR p_line IS NULL OR p_station IS NULL OR p_recipe IS NULL
       OR p_site = '' OR p_line = '' OR p_station = '' OR p_recipe = '' THEN
        RAISE EXCEPTION 'site, line, station and recipe are needed (''*'' for any)';
    END IF;
    INSERT INTO oee_ideal_cycle AS c (site, line, station, recipe, ideal_cycle_s)
        VALUES (p_site, p_line, p_station, p_recipe, p_seconds)
        ON CONFLICT (site, line, station, recipe) DO UPDATE
        SET ideal_cycle_s = excluded.ideal_cycle_s, changed_by = session_user, changed_at = now();
END
$$;

-- A number for a sentence: at most 3 decimals, no trailing zeros.
CREATE FUNCTION ct_oee_num(x double precision) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN t LIKE '%.%' THEN rtrim(rtrim(t, '0'), '.') ELSE t END
    FROM (SELECT round(x::numeric, 3)::text AS t) a
$$;

-- The figures of one station over [p_from, p_to) (docs/oee.md, "The time model").
CREATE FUNCTION ct_oee_station(p_site text, p_line text, p_station text, p_from timestamptz,
                               p_to timestamptz)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    win double precision;
    planned double precision;
    run double precision;
    unplanned double precision;
    idle double precision;
    starved double precision;
    blocked double precision;
    micro_n bigint;
    micro_s double precision;
    busy double precision;
    produced bigint;
    bad bigint;
    late bigint;
    good bigint;
    recipe_now text;
    ideal_now double precision;
    ideal_work double precision; -- sum over recipes of ideal cycle x units produced
    ideal_known boolean;
    ideal double precision;
    a double precision;
    p double precision;
    q double precision;
    flagged boolean := false;
    flag text := '';
    cur_state smallint;
    cur_reason text;
    losses jsonb;
BEGIN
    -- Time after now has not happened: it counts as nothing, not as the current state.
    p_to := least(p_to, greatest(now(), p_from));
    win := greatest(0, ct_oee_s(p_to - p_from));
    -- One pass over the station's time: the sums and the time losses (speed and quality
    -- losses are added below, once the counts are known).
    WITH t AS (SELECT * FROM ct_oee_time(p_site, p_line, p_station, p_from, p_to))
    SELECT coalesce(sum(t.seconds) FILTER (WHERE t.state IN (0, 5)), 0),
           coalesce(sum(t.seconds) FILTER (WHERE t.state = 1), 0),
           coalesce(sum(t.seconds) FILTER (WHERE t.state IN (6, 7)), 0),
           coalesce(sum(t.seconds) FILTER (WHERE t.state = 2), 0),
           coalesce(sum(t.seconds) FILTER (WHERE t.state = 3), 0),
           coalesce(sum(t.seconds) FILTER (WHERE t.state = 4), 0),
           coalesce(sum(t.n) FILTER (WHERE t.micro), 0),
           coalesce(sum(t.seconds) FILTER (WHERE t.micro), 0),
           (SELECT coalesce(jsonb_agg(jsonb_build_object('category', l.category,
                                                         'reason_code', l.reason_code,
                                                         'seconds', l.seconds, 'count', l.n)),
                            '[]')
            FROM (SELECT CASE WHEN t2.micro THEN 'micro_stop' WHEN t2.state = 6 THEN 'unplanned'
                              WHEN t2.state = 7 THEN 'unknown' WHEN t2.state = 2 THEN 'idle'
                              WHEN t2.state = 3 THEN 'starved' ELSE 'blocked' END AS category,
                         t2.reason_code, sum(t2.seconds) AS seconds, sum(t2.n) AS n
                  FROM t t2 WHERE t2.state IN (2, 3, 4, 6, 7)
                  GROUP BY 1, 2 HAVING sum(t2.seconds) > 0) l)
    INTO planned, run, unplanned, idle, starved, blocked, micro_n, micro_s, losses
    FROM t;
    busy := greatest(0, win - planned);

    SELECT i.state, i.reason_code, nullif(i.recipe, '') INTO cur_state, cur_reason, recipe_now
    FROM ct_oee_intervals(p_site, p_line, p_station, p_from, p_to) i
    ORDER BY i.since DESC LIMIT 1;
    IF recipe_now IS NULL THEN
        SELECT nullif(x.recipe, '') INTO recipe_now FROM station_state x
        WHERE x.site = p_site AND x.line = p_line AND x.station = p_station AND x.since < p_to
          AND x.recipe <> '' ORDER BY x.since DESC LIMIT 1;
    END IF;
    IF recipe_now IS NULL THEN
        SELECT v.recipe INTO recipe_now FROM station_visit v
        WHERE v.site = p_site AND v.line = p_line AND v.station = p_station AND v.ended_at < p_to
        ORDER BY v.ended_at DESC LIMIT 1;
    END IF;
    ideal_now := ct_oee_ideal(p_site, p_line, p_station, coalesce(recipe_now, '*'));

    -- Counts at minute resolution: the buckets whose minute starts in the window.
    SELECT coalesce(sum(c.produced), 0), coalesce(sum(c.bad), 0),
           coalesce(sum(c.late_rejects), 0),
           sum(c.produced * coalesce(ct_oee_ideal(p_site, p_line, p_station, c.recipe),
                                     ideal_now)),
           bool_and(c.produced = 0 OR coalesce(ct_oee_ideal(p_site, p_line, p_station, c.recipe),
                                               ideal_now) IS NOT NULL)
    INTO produced, bad, late, ideal_work, ideal_known
    FROM oee_count c
    WHERE c.site = p_site AND c.line = p_line AND c.station = p_station
      AND c.minute >= ct_oee_minute(p_from) AND c.minute < p_to;
    good := greatest(0, produced - bad - late);
    ideal := CASE WHEN produced > 0 AND ideal_known THEN ideal_work / produced
                  ELSE ideal_now END;

    a := CASE WHEN busy > 0 THEN run / busy END; -- no planned busy time: unknown, not 0
    IF ideal IS NOT NULL AND ideal > 0 AND run > 0 AND coalesce(ideal_known, true) THEN
        p := coalesce(ideal_work, 0) / run;
        IF p > 1.005 THEN
            flagged := true;
            flag := format('performance %s > 1: ideal cycle time %s s is longer than the '
                           'station''s fastest real cycle; check oee_ideal_cycle',
                           round(p::numeric, 2), ct_oee_num(ideal));
        END IF;
    END IF;
    q := CASE WHEN produced > 0 THEN good::double precision / produced END;

    IF p IS NOT NULL AND run - ideal_work > 0 THEN
        losses := losses || jsonb_build_object('category', 'speed', 'reason_code', '',
                                               'seconds', run - ideal_work, 'count', 0);
    END IF;
    IF ideal IS NOT NULL AND produced > good THEN
        losses := losses || jsonb_build_object('category', 'quality', 'reason_code', '',
                                               'seconds', (produced - good) * ideal,
                                               'count', produced - good);
    END IF;
    SELECT coalesce(jsonb_agg(x ORDER BY (x ->> 'seconds')::double precision DESC,
                              x ->> 'category', x ->> 'reason_code'), '[]')
    INTO losses FROM jsonb_array_elements(losses) x;

    RETURN jsonb_build_object(
        'site', p_site, 'line', p_line, 'station', p_station,
        'from', p_from, 'to', p_to,
        'from_us', floor(extract(epoch FROM p_from) * 1000000)::bigint,
        'to_us', floor(extract(epoch FROM p_to) * 1000000)::bigint,
        'planned_busy_s', busy, 'run_s', run, 'planned_down_s', planned,
        'unplanned_down_s', unplanned, 'idle_s', idle, 'starved_s', starved,
        'blocked_s', blocked, 'micro_stop_count', micro_n, 'micro_stop_s', micro_s,
        'produced', produced, 'good', good, 'late_rejects', late,
        'ideal_cycle_s', coalesce(ideal, 0),
        'availability', a, 'performance', p, 'quality', q,
        'oee', a * (CASE WHEN p > 1 THEN 1 ELSE p END) * q, -- NULL p: NULL
        'performance_flagged', flagged, 'flag_reason', flag,
        'current_state', coalesce(cur_state, 7), 'current_reason', coalesce(cur_reason, ''),
        'losses', losses);
END
$$;

-- The stations of a line that have any state before p_to or counted units in [p_from, p_to).
-- The states by a loose index scan of station_state_station (one probe per station, not a
-- read of the line's history).
CREATE FUNCTION ct_oee_stations(p_site text, p_line text, p_from timestamptz, p_to timestamptz)
RETURNS SETOF text LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    WITH RECURSIVE st(station) AS (
        (SELECT x.station FROM station_state x WHERE x.site = p_site AND x.line = p_line
         ORDER BY x.station LIMIT 1)
        UNION ALL
        SELECT (SELECT x.station FROM station_state x
                WHERE x.site = p_site AND x.line = p_line AND x.station > st.station
                ORDER BY x.station LIMIT 1)
        FROM st WHERE st.station IS NOT NULL)
    SELECT st.station FROM st
    WHERE st.station IS NOT NULL
      AND EXISTS (SELECT 1 FROM station_state x WHERE x.site = p_site AND x.line = p_line
                  AND x.station = st.station AND x.since < p_to)
    UNION
    SELECT c.station FROM oee_count c
    WHERE c.site = p_site AND c.line = p_line AND c.minute >= ct_oee_minute(p_from)
      AND c.minute < p_to
    ORDER BY 1
$$;

-- The station whose figures are the line's: oee_line's, else the line's first cell-making
-- station (WINDING 6 or STACKING 7) by name: a station of the line whose latest counted
-- minute before p_to was of that type (so a winder that made nothing in the window still
-- is the reference, and its stop shows as the line's). NULL: none.
CREATE FUNCTION ct_oee_reference(p_site text, p_line text, p_from timestamptz, p_to timestamptz)
RETURNS text LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT coalesce(
        (SELECT l.reference_station FROM oee_line l WHERE l.site = p_site AND l.line = p_line),
        (SELECT min(st.s) FROM ct_oee_stations(p_site, p_line, p_from, p_to) st(s)
         WHERE (SELECT c.station_type FROM oee_count c
                WHERE c.site = p_site AND c.line = p_line AND c.station = st.s
                  AND c.minute < p_to
                ORDER BY c.minute DESC LIMIT 1) IN (6, 7)))
$$;

-- A line's figures: its reference station's, with station "", "reference_station" and
-- "stations" (the figures of each of its stations).
CREATE FUNCTION ct_oee_line(p_site text, p_line text, p_from timestamptz, p_to timestamptz)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    ref text := ct_oee_reference(p_site, p_line, p_from, p_to);
    stations jsonb;
    fig jsonb;
BEGIN
    SELECT coalesce(jsonb_agg(ct_oee_station(p_site, p_line, s, p_from, p_to) ORDER BY s), '[]')
    INTO stations FROM ct_oee_stations(p_site, p_line, p_from, p_to) s;
    IF ref IS NOT NULL THEN
        SELECT x INTO fig FROM jsonb_array_elements(stations) x WHERE x ->> 'station' = ref;
        IF fig IS NULL THEN
            fig := ct_oee_station(p_site, p_line, ref, p_from, p_to);
        END IF;
    ELSE
        -- No reference station yet: the figures of a station without states or units
        -- (all unknown time in the shifts), so the line still shows.
        fig := ct_oee_station(p_site, p_line, '', p_from, p_to);
    END IF;
    RETURN fig || jsonb_build_object('station', '', 'reference_station', coalesce(ref, ''),
                                     'stations', stations);
END
$$;

-- One shift's figures: of a station, or of the line (p_station '' or NULL), over
-- [shift start, least(now, shift end)), with "shift_id", "shift_start", "shift_end",
-- "until" (and their _us microseconds).
CREATE FUNCTION ct_oee_shift(p_site text, p_line text, p_station text, p_shift_id text)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    day date;
    sname text := split_part(p_shift_id, '/', 2);
    sh record;
    until timestamptz;
    fig jsonb;
BEGIN
    BEGIN
        day := to_date(split_part(p_shift_id, '/', 1), 'YYYY-MM-DD');
    EXCEPTION WHEN others THEN
        RAISE EXCEPTION 'shift ID % is not YYYY-MM-DD/NAME', quote_nullable(p_shift_id);
    END;
    SELECT x.* INTO sh FROM ct_oee_shifts(p_site, p_line, (day::timestamp AT TIME ZONE 'UTC'),
                                          ((day + 1)::timestamp AT TIME ZONE 'UTC')) x
    WHERE x.shift_id = p_shift_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no shift % in the calendar of %/%', p_shift_id, p_site, p_line;
    END IF;
    until := greatest(sh.starts_at, least(now(), sh.ends_at));
    IF coalesce(p_station, '') = '' THEN
        fig := ct_oee_line(p_site, p_line, sh.starts_at, until);
    ELSE
        fig := ct_oee_station(p_site, p_line, p_station, sh.starts_at, until);
    END IF;
    RETURN fig || jsonb_build_object(
        'shift_id', p_shift_id, 'shift_start', sh.starts_at, 'shift_end', sh.ends_at,
        'until', until,
        'shift_start_us', floor(extract(epoch FROM sh.starts_at) * 1000000)::bigint,
        'shift_end_us', floor(extract(epoch FROM sh.ends_at) * 1000000)::bigint,
        'until_us', floor(extract(epoch FROM until) * 1000000)::bigint);
END
$$;

-- The maker visit of a unit: its earliest produced visit (OK or NOK; started_at, then
-- event_id).
CREATE FUNCTION ct_oee_maker(p_unit text)
RETURNS TABLE (site text, line text, station text, ended_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT v.site, v.line, v.station, v.ended_at FROM station_visit v
    WHERE v.unit_id = p_unit AND v.result IN (1, 2)
    ORDER BY v.started_at, v.event_id LIMIT 1
$$;

-- The time losses of a station (p_station) or of every station of the line (NULL) over
-- [p_from, p_to), largest first: unplanned stops by reason, micro-stops, idle, starved,
-- blocked, unknown stops.
CREATE FUNCTION ct_oee_pareto(p_site text, p_line text, p_station text, p_from timestamptz,
                              p_to timestamptz)
RETURNS TABLE (category text, reason_code text, seconds double precision, count bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT CASE WHEN t.micro THEN 'micro_stop' WHEN t.state = 6 THEN 'unplanned'
                WHEN t.state = 7 THEN 'unknown' WHEN t.state = 2 THEN 'idle'
                WHEN t.state = 3 THEN 'starved' ELSE 'blocked' END,
           t.reason_code, sum(t.seconds), sum(t.n)::bigint
    FROM (SELECT s FROM ct_oee_stations(p_site, p_line, p_from, p_to) s
          WHERE p_station IS NULL
          UNION ALL SELECT p_station WHERE p_station IS NOT NULL) st
    CROSS JOIN LATERAL ct_oee_time(p_site, p_line, st.s, p_from, p_to) t
    WHERE t.state IN (2, 3, 4, 6, 7)
    GROUP BY 1, 2 HAVING sum(t.seconds) > 0
    ORDER BY 3 DESC, 1, 2
$$;

-- Changeovers (and setups) of a line's stations that started in [p_from, p_to): PLANNED_DOWNTIME
-- with reason CHANGEOVER or SETUP (or a code under them in the tree), the recipe before
-- (of the last state before it that named one) and after (the changeover state's, else the
-- next state's), and how long it took (until the station's next state, or until now).
CREATE FUNCTION ct_oee_changeovers(p_site text, p_line text, p_from timestamptz,
                                   p_to timestamptz)
RETURNS TABLE (station text, from_recipe text, to_recipe text, started_at timestamptz,
               duration_s double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH RECURSIVE codes(code) AS (
        SELECT code FROM oee_reason WHERE code IN ('CHANGEOVER', 'SETUP')
        UNION SELECT r.code FROM oee_reason r JOIN codes c ON r.parent = c.code),
    iv AS (
        SELECT st.s AS station, i.*,
               lead(nullif(i.recipe, '')) OVER w AS next_recipe,
               (SELECT x.recipe FROM station_state x
                WHERE x.site = p_site AND x.line = p_line AND x.station = st.s
                  AND x.recipe <> '' AND (x.since, x.event_id) < (i.since, i.event_id)
                ORDER BY x.since DESC, x.event_id DESC LIMIT 1) AS prev_recipe
        FROM ct_oee_stations(p_site, p_line, p_from, p_to) st(s)
        CROSS JOIN LATERAL ct_oee_intervals(p_site, p_line, st.s, p_from, p_to) i
        WINDOW w AS (PARTITION BY st.s ORDER BY i.since, i.event_id))
    SELECT iv.station,
           coalesce(iv.prev_recipe,
                    (SELECT v.recipe FROM station_visit v
                     WHERE v.site = p_site AND v.line = p_line AND v.station = iv.station
                       AND v.ended_at <= iv.since ORDER BY v.ended_at DESC LIMIT 1), ''),
           coalesce(nullif(iv.recipe, ''), iv.next_recipe, ''),
           iv.since, ct_oee_s(least(iv.until, greatest(now(), iv.since)) - iv.since)
    FROM iv
    WHERE iv.state = 5 AND iv.since >= p_from AND iv.since < p_to
      AND (iv.reason_code IN (SELECT code FROM codes)
           OR iv.reason_code IN ('CHANGEOVER', 'SETUP'))
    ORDER BY iv.since, iv.station
$$;

-- ---- closed-loop response time ---------------------------------------------------------------

-- Each automatic command spc-gate decided in [p_from, p_to) (automatic_action.decided_at),
-- with the result that caused it (cause_event_id: the event ID of the StationResult whose
-- point made the chart signal; result_at its ended_at, result_stored_at when traveler stored
-- it), and the station's first acknowledgement (command_ack). Milliseconds: signal to command
-- (result ended to decision), command to ack, total. is_undo: the command undoes another
-- (an operator asked; its cause is that command, not a result, so it has no signal part).
CREATE FUNCTION ct_response_times(p_site text, p_line text, p_station text,
                                  p_from timestamptz, p_to timestamptz)
RETURNS TABLE (command_id text, site text, line text, station text, kind text,
               reaction_plan text, chart_id text, cause_event_id text,
               result_at timestamptz, result_stored_at timestamptz,
               published_at timestamptz, acked_at timestamptz, ack_status smallint,
               signal_to_command_ms double precision, command_to_ack_ms double precision,
               total_ms double precision, is_undo boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT a.command_id, a.site, a.line, a.station,
           CASE a.kind WHEN 1 THEN 'SLOW' WHEN 2 THEN 'STOP' WHEN 3 THEN 'RESUME'
                       WHEN 4 THEN 'ADJUST' ELSE 'UNSPECIFIED' END,
           a.reason_code, a.chart_id, a.cause_event_id, v.ended_at, e.stored_at,
           a.decided_at, k.acked_at, k.status,
           1000 * ct_oee_s(a.decided_at - v.ended_at),
           1000 * ct_oee_s(k.acked_at - a.decided_at),
           1000 * ct_oee_s(k.acked_at - v.ended_at),
           a.reason_code = 'UNDO'
           OR EXISTS (SELECT 1 FROM automatic_action u WHERE u.command_id = a.cause_event_id)
    FROM automatic_action a
    LEFT JOIN station_visit v ON v.event_id = a.cause_event_id
    LEFT JOIN event e ON e.event_id = a.cause_event_id
    LEFT JOIN LATERAL (
        SELECT c.acked_at, c.status FROM command_ack c WHERE c.command_id = a.command_id
        ORDER BY c.acked_at, c.event_id LIMIT 1) k ON true
    WHERE a.decided_at >= p_from AND a.decided_at < p_to
      AND a.site = p_site AND a.line = p_line AND (p_station IS NULL OR a.station = p_station)
    ORDER BY a.decided_at, a.command_id
$$;

-- Response times per station and reaction plan (reason code): percentiles interpolated
-- (percentile_cont), over the commands where the part is known. Undo commands are left out:
-- no chart signal caused them. acked counts the commands the station accepted (first
-- acknowledgement ACCEPTED, 1); REJECTED (2) and EXPIRED (3) ones are counted apart and stay
-- out of the acknowledgement and total times: the station did not act on them. p_station:
-- one station's rows only (NULL: every station).
CREATE FUNCTION ct_response_summary(p_site text, p_line text, p_from timestamptz,
                                    p_to timestamptz, p_station text DEFAULT NULL)
RETURNS TABLE (station text, reaction_plan text, n bigint, acked bigint, rejected bigint,
               expired bigint, signal_p50_ms double precision, signal_p90_ms double precision,
               signal_max_ms double precision, ack_p50_ms double precision,
               ack_p90_ms double precision, ack_max_ms double precision,
               total_p50_ms double precision, total_p90_ms double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT r.station, r.reaction_plan, count(*),
           count(*) FILTER (WHERE r.ack_status = 1),
           count(*) FILTER (WHERE r.ack_status = 2),
           count(*) FILTER (WHERE r.ack_status = 3),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY r.signal_to_command_ms),
           percentile_cont(0.9) WITHIN GROUP (ORDER BY r.signal_to_command_ms),
           max(r.signal_to_command_ms),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY r.command_to_ack_ms)
               FILTER (WHERE r.ack_status = 1),
           percentile_cont(0.9) WITHIN GROUP (ORDER BY r.command_to_ack_ms)
               FILTER (WHERE r.ack_status = 1),
           max(r.command_to_ack_ms) FILTER (WHERE r.ack_status = 1),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY r.total_ms)
               FILTER (WHERE r.ack_status = 1),
           percentile_cont(0.9) WITHIN GROUP (ORDER BY r.total_ms)
               FILTER (WHERE r.ack_status = 1)
    FROM ct_response_times(p_site, p_line, p_station, p_from, p_to) r
    WHERE NOT r.is_undo
    GROUP BY 1, 2 ORDER BY 1, 2
$$;

-- ---- traceability depth --------------------------------------------------------------------

-- The route a traceable unit takes, step by step, and what each step must record. '*' rows
-- are the default; the most specific (site, line) with rows for the unit's kind wins.
-- Seeded with the simulated line's route (services/linesim: every station reports its
-- parameters with setpoints, spc-gate gives every result a verdict, and the dry-room stations
-- attach dry-room readings).
CREATE TABLE trace_route (
    site             text NOT NULL,
    line             text NOT NULL,
    unit_kind        smallint NOT NULL CHECK (unit_kind BETWEEN 1 AND 6),
    seq              integer NOT NULL CHECK (seq >= 1),
    station_type     smallint NOT NULL,
    needs_material   boolean NOT NULL DEFAULT false,
    needs_parameters boolean NOT NULL DEFAULT true,
    needs_verdict    boolean NOT NULL DEFAULT true,
    dry_room         boolean NOT NULL DEFAULT false,
    PRIMARY KEY (site, line, unit_kind, seq)
);
INSERT INTO trace_route VALUES
    ('*', '*', 4, 1, 6, true, true, true, true),       -- WINDING: separator, electrodes
    ('*', '*', 4, 2, 8, false, true, true, true),      -- TAB_WELDING
    ('*', '*', 4, 3, 9, false, true, true, true),      -- INSULATION_TEST
    ('*', '*', 4, 4, 10, true, true, true, true),      -- ELECTROLYTE_FILLING: electrolyte
    ('*', '*', 4, 5, 11, false, true, true, true),     -- SEALING
    ('*', '*', 4, 6, 12, false, true, true, false),    -- FORMATION
    ('*', '*', 4, 7, 13, false, true, true, false),    -- AGING
    ('*', '*', 4, 8, 14, false, true, true, false),    -- EOL_TEST
    ('*', '*', 4, 9, 15, false, true, true, false),    -- VISION
    ('*', '*', 5, 1, 16, false, true, true, false),    -- MODULE_ASSEMBLY (+ its cells)
    ('*', '*', 6, 1, 17, false, true, true, false);    -- PACK_ASSEMBLY (+ its modules)

-- Station type names for the messages.
CREATE FUNCTION ct_station_type_name(t smallint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce((ARRAY['MIXING', 'COATING', 'CALENDERING', 'SLITTING', 'VACUUM_DRYING',
                           'WINDING', 'STACKING', 'TAB_WELDING', 'INSULATION_TEST',
                           'ELECTROLYTE_FILLING', 'SEALING', 'FORMATION', 'AGING', 'EOL_TEST',
                           'VISION', 'MODULE_ASSEMBLY', 'PACK_ASSEMBLY'])[t],
                    'TYPE_' || t::text)
$$;

-- Whether item p_id (a material lot, batch or electrode a unit consumed) resolves through
-- genealogy to material lots (kind 1), within p_depth levels.
CREATE FUNCTION ct_trace_resolves(p_id text, p_kind smallint, p_depth integer)
RETURNS boolean LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    WITH RECURSIVE d(id, kind, depth) AS (
        SELECT p_id, p_kind, 0
        UNION
        SELECT g.child_id, g.child_kind, d.depth + 1 FROM d JOIN genealogy g ON g.parent_id = d.id
        WHERE d.kind <> 1 AND d.depth < p_depth)
    SELECT EXISTS (SELECT 1 FROM d WHERE d.kind = 1 AND d.id <> '')
$$;

-- How completely a unit's digital thread was recorded (docs/oee.md, "Traceability depth").
CREATE FUNCTION ct_trace_depth(p_unit text)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    u_kind smallint;
    u_site text;
    u_line text;
    step record;
    vis record;
    checks integer := 0;
    passed integer := 0;
    missing text[] := '{}';
    children jsonb := '[]';
    child record;
    child_score jsonb;
    bad_params text;
    bad_mats text;
    n_mats integer;
    dry_from timestamptz;
    dry_to timestamptz;
    dry_first text;
    dry_last text;
    dry_needed boolean := false;
BEGIN
    SELECT u.kind, u.site, u.line INTO u_kind, u_site, u_line FROM unit u WHERE u.unit_id = p_unit;
    IF NOT FOUND OR u_site IS NULL THEN
        SELECT coalesce(u_kind, v.unit_kind), v.site, v.line INTO u_kind, u_site, u_line
        FROM station_visit v WHERE v.unit_id = p_unit ORDER BY v.started_at, v.event_id LIMIT 1;
    END IF;
    IF u_kind IS NULL THEN
        RETURN jsonb_build_object('unit_id', p_unit, 'kind', NULL, 'line', NULL, 'score', 0,
                                  'checks', 1, 'passed', 0, 'complete', false,
                                  'missing', jsonb_build_array('unit not known'),
                                  'children', '[]'::jsonb);
    END IF;

    FOR step IN
        WITH best AS (
            SELECT r.site, r.line FROM trace_route r
            WHERE r.unit_kind = u_kind AND r.site IN (u_site, '*') AND r.line IN (u_line, '*')
            ORDER BY (r.site <> '*')::int * 2 + (r.line <> '*')::int DESC LIMIT 1)
        SELECT r.* FROM trace_route r JOIN best b ON b.site = r.site AND b.line = r.line
        WHERE r.unit_kind = u_kind ORDER BY r.seq
    LOOP
        dry_needed := dry_needed OR step.dry_room;
        -- The unit's last visit at a station of the step's type (a rework's repeat counts).
        SELECT x.* INTO vis FROM station_visit x
        WHERE x.unit_id = p_unit AND x.station_type = step.station_type
        ORDER BY x.started_at DESC, x.event_id DESC LIMIT 1;
        checks := checks + 1 + (CASE WHEN step.needs_parameters THEN 2 ELSE 0 END)
                  + step.needs_material::int + step.needs_verdict::int;
        IF NOT FOUND THEN
            missing := missing || ('no visit at ' || ct_station_type_name(step.station_type));
            CONTINUE;
        END IF;
        passed := passed + 1;
        IF step.dry_room THEN
            IF dry_from IS NULL OR vis.started_at < dry_from THEN
                dry_from := vis.started_at;
                dry_first := vis.station;
            END IF;
            IF dry_to IS NULL OR vis.ended_at > dry_to THEN
                dry_to := vis.ended_at;
                dry_last := vis.station;
            END IF;
        END IF;
        IF step.needs_parameters THEN
            SELECT string_agg(p.name, ', ' ORDER BY p.seq) FILTER (WHERE p.setpoint IS NULL),
                   count(*)
            INTO bad_params, n_mats
            FROM process_parameter p WHERE p.event_id = vis.event_id;
            IF n_mats = 0 THEN
                missing := missing || (vis.station || ': no parameters recorded');
            ELSIF bad_params IS NOT NULL THEN
                missing := missing || (vis.station || ': no setpoint for parameters ('
                                       || bad_params || ')');
            ELSE
                passed := passed + 1;
            END IF;
            IF vis.recipe_version > 0 THEN
                passed := passed + 1;
            ELSE
                missing := missing || (vis.station || ': recipe version missing');
            END IF;
        END IF;
        IF step.needs_material THEN
            SELECT count(*), string_agg(g.child_id, ', ' ORDER BY g.seq)
                       FILTER (WHERE NOT ct_trace_resolves(g.child_id, g.child_kind, 8))
            INTO n_mats, bad_mats
            FROM genealogy g
            WHERE g.event_id = vis.event_id AND g.parent_id = p_unit AND g.child_kind < 4;
            IF n_mats = 0 THEN
                missing := missing || (vis.station || ': no material use recorded');
            ELSIF bad_mats IS NOT NULL THEN
                missing := missing || (vis.station || ': material use not traced to a '
                                       || 'material lot (' || bad_mats || ')');
            ELSE
                passed := passed + 1;
            END IF;
        END IF;
        IF step.needs_verdict THEN
            IF EXISTS (SELECT 1 FROM unit_verdict x WHERE x.source_event_id = vis.event_id) THEN
                passed := passed + 1;
            ELSE
                missing := missing || (vis.station || ': no verdict');
            END IF;
        END IF;
    END LOOP;

    -- One check for the dry room: a reading of the line's dry room (attached to any visit at
    -- the unit's dry-room stations) while the unit was in it.
    IF dry_needed THEN
        checks := checks + 1;
        IF dry_from IS NULL THEN
            missing := missing || 'no dry-room visit'::text;
        ELSIF EXISTS (
            SELECT 1 FROM station_visit x JOIN environment_reading r ON r.event_id = x.event_id
            WHERE x.unit_id = p_unit AND r.measured_at BETWEEN dry_from AND dry_to)
           OR EXISTS (
            SELECT 1 FROM station_visit x JOIN environment_reading r ON r.event_id = x.event_id
            WHERE x.site = u_site AND x.line = u_line
              AND x.station IN (SELECT y.station FROM station_visit y
                                JOIN trace_route t ON t.station_type = y.station_type
                                                  AND t.unit_kind = u_kind AND t.dry_room
                                WHERE y.unit_id = p_unit)
              AND x.ended_at >= dry_from AND x.ended_at <= dry_to + interval '1 hour'
              AND r.measured_at BETWEEN dry_from AND dry_to) THEN
            passed := passed + 1;
        ELSE
            missing := missing || ('no dry-room environment reading during its stay ('
                                   || dry_first || ' .. ' || dry_last || ')');
        END IF;
    END IF;

    -- Modules and packs: each standing child unit is one check, passed only when complete.
    FOR child IN
        SELECT DISTINCT g.child_id FROM genealogy g
        WHERE g.parent_id = p_unit AND g.child_kind BETWEEN 4 AND 6 AND g.ended_at IS NULL
        ORDER BY 1
    LOOP
        child_score := ct_trace_depth(child.child_id);
        checks := checks + 1;
        children := children || jsonb_build_object('unit_id', child.child_id,
                                                   'score', child_score -> 'score');
        IF (child_score ->> 'complete')::boolean THEN
            passed := passed + 1;
        ELSE
            missing := missing || ('child ' || child.child_id || ': '
                                   || (child_score ->> 'score'));
        END IF;
    END LOOP;

    RETURN jsonb_build_object(
        'unit_id', p_unit,
        'kind', (SELECT k.name FROM unit_kind k WHERE k.kind = u_kind),
        'line', u_line,
        'score', CASE WHEN checks = 0 THEN 100
                      ELSE round(100.0 * passed / checks, 1) END,
        'checks', checks, 'passed', passed, 'complete', passed = checks,
        'missing', to_jsonb(missing), 'children', children);
END
$$;

-- Traceability depth of the units of a kind made on a line in [p_from, p_to) (maker visit
-- ended in the window): how many, how many complete, and the 10 lowest.
CREATE FUNCTION ct_trace_depth_line(p_site text, p_line text, p_from timestamptz,
                                    p_to timestamptz, p_unit_kind smallint DEFAULT 4)
RETURNS jsonb LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH st AS (
        SELECT DISTINCT c.station FROM oee_count c
        WHERE c.site = p_site AND c.line = p_line AND c.minute >= ct_oee_minute(p_from)
          AND c.minute < p_to),
    units AS (
        SELECT DISTINCT v.unit_id FROM st JOIN station_visit v
            ON v.site = p_site AND v.line = p_line AND v.station = st.station
           AND v.ended_at >= p_from AND v.ended_at < p_to
        WHERE v.unit_kind = p_unit_kind AND v.result IN (1, 2)
          AND NOT EXISTS (SELECT 1 FROM station_visit w WHERE w.unit_id = v.unit_id
                          AND w.result IN (1, 2)
                          AND (w.started_at, w.event_id) < (v.started_at, v.event_id))),
    d AS (SELECT units.unit_id, ct_trace_depth(units.unit_id) AS j FROM units)
    SELECT jsonb_build_object(
        'units', count(*),
        'complete', count(*) FILTER (WHERE (d.j ->> 'complete')::boolean),
        'share', CASE WHEN count(*) = 0 THEN NULL
                      ELSE (count(*) FILTER (WHERE (d.j ->> 'complete')::boolean))::double precision
                           / count(*) END,
        'worst', coalesce((SELECT jsonb_agg(w.o ORDER BY w.score, w.unit_id) FROM (
                     SELECT jsonb_build_object('unit_id', d2.unit_id, 'score', d2.j -> 'score',
                                               'missing', d2.j -> 'missing') AS o,
                            (d2.j ->> 'score')::double precision AS score, d2.unit_id
                     FROM d d2 WHERE NOT (d2.j ->> 'complete')::boolean
                     ORDER BY 2, 3 LIMIT 10) w), '[]'))
    FROM d
$$;

-- ---- maintainability -------------------------------------------------------------------------

-- Of a line's alerts raised in [p_from, p_to) (0009's alert and alert_transition): time to
-- acknowledge (first ACK - raised) and to restore (cleared - raised), per station, object
-- and code; and of its stations' stops (runs of consecutive UNPLANNED_DOWNTIME and
-- UNKNOWN_STOP states, each run one stop, named by its longest state's reason and asset) that
-- started in the window: time to restore (until the station next PRODUCES), per station,
-- reason and asset.
CREATE FUNCTION ct_maintainability(p_site text, p_line text, p_from timestamptz,
                                   p_to timestamptz)
RETURNS jsonb LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH al AS (
        SELECT a.station, a.object_id, a.code,
               ct_oee_s((SELECT min(t.at) FROM alert_transition t
                         WHERE t.alert_id = a.alert_id AND t.action = 'ACK')
                        - a.raised_at) AS ack_s,
               ct_oee_s(a.cleared_at - a.raised_at) AS restore_s
        FROM alert a
        WHERE a.raised_at >= p_from AND a.raised_at < p_to AND a.site = p_site
          AND a.line = p_line),
    alerts AS (
        SELECT jsonb_build_object(
                   'station', al.station, 'asset', al.object_id, 'code', al.code, 'n', count(*),
                   'acked', count(al.ack_s),
                   'ack_p50_s', percentile_cont(0.5) WITHIN GROUP (ORDER BY al.ack_s),
                   'ack_p90_s', percentile_cont(0.9) WITHIN GROUP (ORDER BY al.ack_s),
                   'ack_mean_s', avg(al.ack_s), 'restore_n', count(al.restore_s),
                   'restore_p50_s', percentile_cont(0.5) WITHIN GROUP (ORDER BY al.restore_s),
                   'restore_p90_s', percentile_cont(0.9) WITHIN GROUP (ORDER BY al.restore_s),
                   'restore_mean_s', avg(al.restore_s)) AS o,
               al.station, al.object_id, al.code
        FROM al GROUP BY al.station, al.object_id, al.code),
    -- One stop per run of consecutive stops (a jam that turns into a breakdown is one),
    -- named by its longest interval's reason and asset.
    runs AS (
        SELECT DISTINCT ON (st.s, i.run_since) st.s AS station, i.reason_code, i.asset,
               i.run_since AS since, i.run_until AS until
        FROM ct_oee_stations(p_site, p_line, p_from, p_to) st(s)
        CROSS JOIN LATERAL ct_oee_intervals(p_site, p_line, st.s, p_from, p_to) i
        WHERE i.state IN (6, 7) AND i.run_since >= p_from AND i.run_since < p_to
        ORDER BY st.s, i.run_since, i.until - i.since DESC, i.since),
    st AS (
        SELECT runs.*,
               (SELECT min(x.since) FROM station_state x
                WHERE x.site = p_site AND x.line = p_line AND x.station = runs.station
                  AND x.state = 1 AND x.since > runs.since) AS producing_at
        FROM runs),
    stops AS (
        SELECT jsonb_build_object(
                   'station', st.station, 'reason_code', st.reason_code, 'asset', st.asset,
                   'n', count(*),
                   'restore_mean_s', avg(ct_oee_s(st.producing_at - st.since)),
                   'restore_p50_s', percentile_cont(0.5) WITHIN GROUP (
                       ORDER BY ct_oee_s(st.producing_at - st.since)),
                   'restore_p90_s', percentile_cont(0.9) WITHIN GROUP (
                       ORDER BY ct_oee_s(st.producing_at - st.since)),
                   'down_s', sum(ct_oee_s(least(st.until, greatest(now(), st.since)) - st.since)))
                   AS o,
               st.station, st.reason_code, st.asset
        FROM st GROUP BY st.station, st.reason_code, st.asset)
    SELECT jsonb_build_object(
        'alerts', coalesce((SELECT jsonb_agg(o ORDER BY station, object_id, code) FROM alerts),
                           '[]'),
        'stops', coalesce((SELECT jsonb_agg(o ORDER BY station, reason_code, asset) FROM stops),
                          '[]'))
$$;

-- ---- grants ----------------------------------------------------------------------------------
GRANT USAGE ON SCHEMA public TO ct_oee;
GRANT SELECT, INSERT, UPDATE ON station_state, command_ack, oee_figures TO ct_oee;
GRANT SELECT, DELETE ON oee_recompute TO ct_oee;
-- ct-oee reads the rest through the SECURITY DEFINER functions; station_visit directly (the
-- last result of a station that sends no states, to derive UNKNOWN_STOP).
GRANT SELECT ON oee_reason, oee_config, oee_shift_pattern, oee_ideal_cycle, oee_line, oee_count,
    trace_route, station_visit TO ct_oee;
GRANT SELECT ON station_state, command_ack, oee_figures, oee_reason, oee_config,
    oee_shift_pattern, oee_ideal_cycle, oee_line, oee_count, oee_visit_bad, oee_unit_reject,
    trace_route TO ct_api, ct_reader, ct_quality;
GRANT INSERT, UPDATE, DELETE ON oee_reason, oee_config, oee_shift_pattern, oee_ideal_cycle,
    oee_line, trace_route TO ct_quality;

REVOKE ALL ON FUNCTION ct_oee_add_bad(text[]), ct_oee_add_late(text[]), ct_oee_count_visits(),
    ct_oee_unlate(text[]), ct_oee_count_verdicts(), ct_oee_queue_recompute(),
    ct_oee_ideal_set(text, text, text, text, double precision),
    ct_oee_shifts(text, text, timestamptz, timestamptz),
    ct_oee_station(text, text, text, timestamptz, timestamptz),
    ct_oee_line(text, text, timestamptz, timestamptz),
    ct_oee_shift(text, text, text, text), ct_oee_maker(text),
    ct_oee_pareto(text, text, text, timestamptz, timestamptz),
    ct_oee_changeovers(text, text, timestamptz, timestamptz),
    ct_response_times(text, text, text, timestamptz, timestamptz),
    ct_response_summary(text, text, timestamptz, timestamptz, text), ct_trace_depth(text),
    ct_trace_depth_line(text, text, timestamptz, timestamptz, smallint),
    ct_maintainability(text, text, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ct_oee_shifts(text, text, timestamptz, timestamptz),
    ct_oee_station(text, text, text, timestamptz, timestamptz),
    ct_oee_line(text, text, timestamptz, timestamptz),
    ct_oee_shift(text, text, text, text), ct_oee_maker(text),
    ct_oee_pareto(text, text, text, timestamptz, timestamptz),
    ct_oee_changeovers(text, text, timestamptz, timestamptz),
    ct_response_times(text, text, text, timestamptz, timestamptz),
    ct_response_summary(text, text, timestamptz, timestamptz, text), ct_trace_depth(text),
    ct_trace_depth_line(text, text, timestamptz, timestamptz, smallint),
    ct_maintainability(text, text, timestamptz, timestamptz)
    TO ct_oee, ct_api, ct_reader, ct_quality;
GRANT EXECUTE ON FUNCTION ct_oee_ideal_set(text, text, text, text, double precision)
    TO ct_quality;
