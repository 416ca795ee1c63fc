-- 0001: the digital thread. Owned by traveler (docs/architecture.md).
-- Applied by ct-migrate inside one transaction; never edited after release: change the
-- schema with a new numbered file.
--
-- Times are timestamptz (UTC). IDs are text of at most 64 characters [A-Za-z0-9._:-].
-- Idempotency: every stored event has one row in `event`; child rows are written only in
-- the transaction that inserted their event row, so a redelivered event adds nothing.
--
-- No foreign keys on the high-volume tables: PostgreSQL checks each with a per-row trigger,
-- which costs COPY several times its speed, and the one writer (traveler) inserts an
-- event's parent and child rows in one transaction anyway. Enumerations are CHECKs.

CREATE TABLE unit_kind (
    kind     smallint PRIMARY KEY,
    name     text NOT NULL UNIQUE
);
INSERT INTO unit_kind VALUES
    (0, 'unspecified'), (1, 'material_lot'), (2, 'batch'), (3, 'electrode'),
    (4, 'cell'), (5, 'module'), (6, 'pack');

-- Every event traveler has stored, by its idempotency key.
CREATE TABLE event (
    event_id     text PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('result', 'telemetry', 'genealogy', 'deadletter')),
    producer     text NOT NULL,
    produced_at  timestamptz NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now()
);

-- Every unit and lot seen, with where it was first and last seen.
CREATE TABLE unit (
    unit_id       text PRIMARY KEY,
    kind          smallint NOT NULL CHECK (kind BETWEEN 0 AND 6),
    site          text,
    line          text,
    first_seen_at timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL
);

-- One row per unit per station visit (StationResult).
CREATE TABLE station_visit (
    event_id       text PRIMARY KEY,
    unit_id        text NOT NULL,
    unit_kind      smallint NOT NULL CHECK (unit_kind BETWEEN 0 AND 6),
    site           text NOT NULL,
    line           text NOT NULL,
    station        text NOT NULL,
    station_type   smallint NOT NULL,
    recipe         text NOT NULL,
    recipe_version integer NOT NULL,
    operator_id    text NOT NULL,
    started_at     timestamptz NOT NULL,
    ended_at       timestamptz NOT NULL,
    result         smallint NOT NULL
);
CREATE INDEX station_visit_unit ON station_visit (unit_id, started_at);
CREATE INDEX station_visit_station ON station_visit (site, line, station, ended_at);

-- Measurements: the high-volume table, range-partitioned by time (monthly partitions,
-- created ahead by ct_ensure_partitions(); rows outside them land in the default one).
CREATE TABLE measurement (
    event_id       text NOT NULL,
    unit_id        text NOT NULL,
    site           text NOT NULL,
    line           text NOT NULL,
    station        text NOT NULL,
    characteristic text NOT NULL,
    value          double precision NOT NULL,
    uom            text NOT NULL,
    measured_at    timestamptz NOT NULL,
    seq            integer NOT NULL
) PARTITION BY RANGE (measured_at);
CREATE TABLE measurement_default PARTITION OF measurement DEFAULT;
CREATE INDEX measurement_unit ON measurement (unit_id);
CREATE INDEX measurement_chart ON measurement (site, line, station, characteristic, measured_at);

-- Process parameters and setpoints in force during a visit.
CREATE TABLE process_parameter (
    event_id  text NOT NULL,
    unit_id   text NOT NULL,
    name      text NOT NULL,
    actual    double precision NOT NULL,
    setpoint  double precision,
    uom       text NOT NULL,
    seq       integer NOT NULL,
    PRIMARY KEY (event_id, seq)
);

-- Genealogy edges: parent was made from child (a unit or a material lot).
-- source = 'material' (MaterialUse), 'assembly' (ChildUnit) or 'genealogy' (Genealogy message).
CREATE TABLE genealogy (
    parent_id   text NOT NULL,
    child_id    text NOT NULL,
    child_kind  smallint NOT NULL CHECK (child_kind BETWEEN 0 AND 6),
    material    text,
    quantity    double precision NOT NULL,
    uom         text NOT NULL,
    position    text NOT NULL DEFAULT '',
    source      text NOT NULL CHECK (source IN ('material', 'assembly', 'genealogy')),
    station     text NOT NULL,
    event_id    text NOT NULL,
    assembled_at timestamptz NOT NULL,
    seq         integer NOT NULL,
    PRIMARY KEY (event_id, seq)
);
CREATE INDEX genealogy_parent ON genealogy (parent_id);
CREATE INDEX genealogy_child ON genealogy (child_id);

-- Environment readings in force during a visit.
CREATE TABLE environment_reading (
    event_id    text NOT NULL,
    unit_id     text NOT NULL,
    quantity    text NOT NULL,
    value       double precision NOT NULL,
    uom         text NOT NULL,
    sensor      text NOT NULL,
    measured_at timestamptz NOT NULL,
    seq         integer NOT NULL,
    PRIMARY KEY (event_id, seq)
);

-- Operator notes and process exceptions attached to a visit.
CREATE TABLE visit_note (
    event_id   text NOT NULL,
    unit_id    text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('note', 'exception')),
    code       text NOT NULL DEFAULT '',
    severity   smallint NOT NULL DEFAULT 0,
    author     text NOT NULL DEFAULT '',
    body       text NOT NULL,
    at         timestamptz NOT NULL,
    seq        integer NOT NULL,
    PRIMARY KEY (event_id, kind, seq)
);
CREATE INDEX visit_note_unit ON visit_note (unit_id);

-- Curves recorded during a visit (formation V(t), weld power, pressure decay).
CREATE TABLE visit_curve (
    event_id  text NOT NULL,
    unit_id   text NOT NULL,
    name      text NOT NULL,
    x_unit    text NOT NULL,
    y_unit    text NOT NULL,
    x         double precision[] NOT NULL,
    y         double precision[] NOT NULL,
    seq       integer NOT NULL,
    PRIMARY KEY (event_id, seq)
);

-- Equipment telemetry samples: high volume, partitioned like measurement.
CREATE TABLE telemetry_sample (
    event_id  text NOT NULL,
    site      text NOT NULL,
    line      text NOT NULL,
    asset     text NOT NULL,
    signal    text NOT NULL,
    uom       text NOT NULL,
    at        timestamptz NOT NULL,
    value     double precision NOT NULL
) PARTITION BY RANGE (at);
CREATE TABLE telemetry_sample_default PARTITION OF telemetry_sample DEFAULT;
CREATE INDEX telemetry_sample_signal ON telemetry_sample (site, line, asset, signal, at);

-- Refused input from every service (ingest's dead-letter topic, and traveler's own).
CREATE TABLE dead_letter (
    id             bigserial PRIMARY KEY,
    event_id       text NOT NULL UNIQUE,
    service        text NOT NULL,
    source_topic   text NOT NULL,
    reason_code    smallint NOT NULL,
    reason         text NOT NULL,
    payload        bytea NOT NULL,
    payload_size   integer NOT NULL,
    received_at    timestamptz NOT NULL
);
CREATE INDEX dead_letter_received ON dead_letter (received_at);

-- Creates monthly partitions of measurement and telemetry_sample covering
-- [month of from_ts, + months). Idempotent. SECURITY DEFINER because only the tables' owner
-- may attach partitions, and traveler (which calls it at start and daily) does not own them.
-- A month whose rows already sit in the default partition is left there (creating the
-- partition would fail); a notice says so.
CREATE FUNCTION ct_ensure_partitions(from_ts timestamptz, months integer)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    first_month date := date_trunc('month', from_ts AT TIME ZONE 'UTC')::date;
    lo date;
    hi date;
    parent text;
    part text;
BEGIN
    FOR i IN 0 .. months - 1 LOOP
        lo := (first_month + make_interval(months => i))::date;
        hi := (first_month + make_interval(months => i + 1))::date;
        FOREACH parent IN ARRAY ARRAY['measurement', 'telemetry_sample'] LOOP
            part := format('%s_%s', parent, to_char(lo, 'YYYYMM'));
            CONTINUE WHEN to_regclass(part) IS NOT NULL;
            BEGIN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                    part, parent, lo::text || ' 00:00:00+00', hi::text || ' 00:00:00+00');
            EXCEPTION WHEN check_violation THEN
                RAISE NOTICE 'partition % not created: rows for it are in the default partition', part;
            END;
        END LOOP;
    END LOOP;
END;
$$;
