-- 0010: the HTTP API (ct-api, issue 13). Its login `api` is a member of the group role ct_api:
-- it reads the whole thread and makes the decisions people take in the dashboard through the
-- same SECURITY DEFINER functions as the CLI, never by writing tables.
--
-- People authenticate to the API with tokens (api_user); the API is one PostgreSQL login for
-- all of them, so the functions that record a name record the person it passes in the
-- transaction-local setting cellthread.actor, as 'api:<name>' (ct_actor below): the audit
-- still says who, and that it came through the API. A login that is not in ct_api cannot
-- borrow a name this way: it is recorded as who it logged in as, as before.
--
-- And a per-minute rollup of measurement, so a week of a characteristic (3 million values at
-- 5 a second) is a few thousand rows to read: the run chart's buckets and every count of a
-- time range come from it, with only the partial minutes at the range's ends read raw.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ct_api') THEN
        CREATE ROLE ct_api NOLOGIN;
    END IF;
END
$$;

-- ---- API users and their tokens ----------------------------------------------------------

-- Tokens are shown once, when made, and kept only as their SHA-256: a copy of this table
-- does not let anyone in. A token is 'ctk_' and 64 hex digits of two random UUIDs (244
-- random bits: version 4 UUIDs fix 6 bits each), from gen_random_uuid(), built into
-- PostgreSQL since 13 (no pgcrypto). The API looks a token up by its hash:
--   SELECT name, role FROM api_user
--   WHERE token_sha256 = sha256(convert_to($1, 'UTF8')) AND revoked_at IS NULL
CREATE TABLE api_user (
    name         text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._@-]{1,63}$'),
    role         text NOT NULL CHECK (role IN ('viewer', 'operator', 'quality')),
    token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

-- Makes a token for p_name with role p_role and returns it (the only time it is seen). An
-- existing user gets the new role and token; the old token stops working, and a revoked user
-- is active again. Only the deployment's admin may call it (EXECUTE revoked from PUBLIC):
-- `deploy/local.sh token NAME ROLE`.
CREATE FUNCTION ct_api_token_create(p_name text, p_role text)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    token text := 'ctk_' || replace(gen_random_uuid()::text, '-', '')
                         || replace(gen_random_uuid()::text, '-', '');
BEGIN
    IF p_name IS NULL OR p_name !~ '^[A-Za-z0-9._@-]{1,63}$' THEN
        RAISE EXCEPTION 'API user name % is not 1-63 of [A-Za-z0-9._@-]', quote_nullable(p_name);
    END IF;
    IF p_role IS NULL OR p_role NOT IN ('viewer', 'operator', 'quality') THEN
        RAISE EXCEPTION 'API role % is not viewer, operator or quality', quote_nullable(p_role);
    END IF;
    INSERT INTO api_user AS u (name, role, token_sha256)
        VALUES (p_name, p_role, sha256(convert_to(token, 'UTF8')))
        ON CONFLICT (name) DO UPDATE
        SET role = excluded.role, token_sha256 = excluded.token_sha256, created_at = now(),
            revoked_at = NULL;
    RETURN token;
END
$$;

-- Revokes p_name's token: ct-api refuses it within 5 s (it keeps a token's user that long).
-- The row stays, for the names in the audit. Fails when there is no such active user.
CREATE FUNCTION ct_api_token_revoke(p_name text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE api_user SET revoked_at = now() WHERE name = p_name AND revoked_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'API user % does not exist or is already revoked', quote_nullable(p_name);
    END IF;
END
$$;

-- ---- who did it ---------------------------------------------------------------------------

-- The name to record for a decision: 'api:<name>' when the login is in ct_api and the API set
-- cellthread.actor (SET LOCAL / set_config(..., true)) to a valid user name, else the login.
-- A name that breaks the rule is ignored rather than recorded: the audit never holds text
-- the API did not vouch for.
CREATE FUNCTION ct_actor() RETURNS text
LANGUAGE plpgsql STABLE SET search_path = public, pg_temp AS $$
DECLARE
    who text := current_setting('cellthread.actor', true);
BEGIN
    IF pg_has_role(session_user, 'ct_api', 'MEMBER') AND who ~ '^[A-Za-z0-9._@-]{1,63}$' THEN
        RETURN 'api:' || who;
    END IF;
    RETURN session_user;
END
$$;

-- ct_lot_set as in 0004, but for the actor rules: a ct_api login may release (the API checked
-- that the person has the quality role), and its actor is ct_actor(), whatever p_actor says.
CREATE OR REPLACE FUNCTION ct_lot_set(p_site text, p_lot text, p_state smallint, p_reason text,
                                      p_actor text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    actor text := coalesce(p_actor, ct_actor());
    id bigint;
BEGIN
    IF p_reason IS NULL OR btrim(p_reason) = '' THEN
        RAISE EXCEPTION 'a lot state change needs a reason';
    END IF;
    IF p_state IS NULL OR p_state NOT BETWEEN 1 AND 3 THEN
        RAISE EXCEPTION 'lot state % is not released (1), held (2) or quarantined (3)', p_state;
    END IF;
    IF p_state = 1 AND NOT pg_has_role(session_user, 'ct_quality', 'MEMBER')
       AND NOT pg_has_role(session_user, 'ct_api', 'MEMBER') THEN
        RAISE EXCEPTION 'releasing a lot needs a quality login (role ct_quality); % is not one',
            session_user;
    END IF;
    IF p_actor IS NOT NULL AND NOT pg_has_role(session_user, 'ct_spc', 'MEMBER') THEN
        actor := ct_actor();
    END IF;
    IF p_state <> 1 THEN
        PERFORM ct_hold_lock();
    END IF;
    id := ct_lot_write(p_site, p_lot, p_state, p_reason, actor);
    IF id IS NOT NULL AND p_state <> 1 THEN
        PERFORM ct_hold_units(p_site, p_lot,
                              ARRAY(SELECT DISTINCT parent_id FROM genealogy
                                    WHERE child_id = p_lot), actor);
    END IF;
    RETURN id;
END
$$;

-- ct_dispose as in 0003; disposed_by is ct_actor().
CREATE OR REPLACE FUNCTION ct_dispose(p_item bigint, p_disposition text, p_reason text)
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
        SET disposition = p_disposition, disposed_by = ct_actor(), disposed_at = now(),
            disposition_reason = p_reason
        WHERE item_id = p_item AND disposition IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'inspection item % does not exist or is already disposed', p_item;
    END IF;
END
$$;

-- ct_undo_action as in 0003; undo_requested_by is ct_actor().
CREATE OR REPLACE FUNCTION ct_undo_action(p_command text, p_reason text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF p_reason IS NULL OR btrim(p_reason) = '' THEN
        RAISE EXCEPTION 'undoing an action needs a reason';
    END IF;
    UPDATE automatic_action
        SET undo_requested_by = ct_actor(), undo_requested_at = now(), undo_reason = p_reason
        WHERE command_id = p_command AND undo_requested_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'automatic action % does not exist or its undo was already asked for',
            p_command;
    END IF;
    PERFORM pg_notify('ct_spc_undo', p_command);
END
$$;

-- ---- the per-minute rollup of measurement ------------------------------------------------

-- One row per series (site, line, station, characteristic), recipe (of the visit) and UTC
-- minute: count, sum and sum of squares (mean and sigma of any set of minutes), extremes and
-- when they were measured (the earliest, on a tie). minute is date_bin over the epoch, which
-- does not depend on the session's time zone.
CREATE TABLE measurement_rollup (
    site           text NOT NULL,
    line           text NOT NULL,
    station        text NOT NULL,
    characteristic text NOT NULL,
    recipe         text NOT NULL,
    minute         timestamptz NOT NULL,
    n              bigint NOT NULL CHECK (n >= 1),
    sum            double precision NOT NULL,
    sumsq          double precision NOT NULL,
    min            double precision NOT NULL,
    max            double precision NOT NULL,
    min_at         timestamptz NOT NULL,
    max_at         timestamptz NOT NULL,
    PRIMARY KEY (site, line, station, characteristic, minute, recipe)
);

-- x * x without PostgreSQL's underflow error: float8 multiplication raises "value out of
-- range: underflow" when a nonzero square is below the smallest double (|x| under about
-- 1e-162), and ingest accepts such values (test_roundtrip stores 4.94e-324); their squares
-- count as 0 in every figure built on them. Overflow cannot happen for stored values: ingest
-- bounds them to +-1e9 without a plant registry, and the registry's ranges are narrower. Not
-- STRICT, so PostgreSQL inlines it.
CREATE FUNCTION ct_sq(x double precision) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN abs(x) < 1e-150 THEN 0 ELSE x * x END
$$;

-- Adds the rows of one statement on measurement to the rollup. It runs in the traveler's
-- storing transaction, once per COPY: one grouped upsert, in key order so two traveler
-- instances updating the same minutes lock them in the same order (no deadlock). The recipe
-- is the visit's (traveler copies station_visit before measurement in the same transaction);
-- '' for a measurement without a stored visit. SECURITY DEFINER: the traveler's role needs no
-- rights on the rollup, and nobody else can write it.
CREATE FUNCTION ct_measurement_rollup_add()
RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO measurement_rollup AS r
        (site, line, station, characteristic, recipe, minute, n, sum, sumsq, min, max,
         min_at, max_at)
    SELECT m.site, m.line, m.station, m.characteristic, coalesce(v.recipe, ''),
           date_bin('1 minute', m.measured_at, timestamptz 'epoch'), count(*), sum(m.value),
           sum(ct_sq(m.value)), min(m.value), max(m.value),
           (array_agg(m.measured_at ORDER BY m.value, m.measured_at))[1],
           (array_agg(m.measured_at ORDER BY m.value DESC, m.measured_at))[1]
    FROM added m LEFT JOIN station_visit v ON v.event_id = m.event_id
    GROUP BY 1, 2, 3, 4, 6, 5
    ORDER BY 1, 2, 3, 4, 6, 5
    ON CONFLICT (site, line, station, characteristic, minute, recipe) DO UPDATE
    SET n = r.n + excluded.n, sum = r.sum + excluded.sum, sumsq = r.sumsq + excluded.sumsq,
        min = least(r.min, excluded.min), max = greatest(r.max, excluded.max),
        min_at = CASE WHEN excluded.min < r.min THEN excluded.min_at
                      WHEN excluded.min > r.min THEN r.min_at
                      ELSE least(r.min_at, excluded.min_at) END,
        max_at = CASE WHEN excluded.max > r.max THEN excluded.max_at
                      WHEN excluded.max < r.max THEN r.max_at
                      ELSE least(r.max_at, excluded.max_at) END;
    RETURN NULL;
END
$$;

-- On the partitioned parent: a statement trigger with a transition table sees the rows of a
-- COPY or INSERT into measurement whichever partition they went to. (Rows written straight
-- into a partition are not seen; traveler never does that.) CREATE TRIGGER locks measurement
-- against writes until this migration commits, so the fill below sees every committed row and
-- no row is stored meanwhile: each row is counted exactly once.
CREATE TRIGGER measurement_rollup_add AFTER INSERT ON measurement
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION ct_measurement_rollup_add();

INSERT INTO measurement_rollup
    (site, line, station, characteristic, recipe, minute, n, sum, sumsq, min, max,
     min_at, max_at)
SELECT m.site, m.line, m.station, m.characteristic, coalesce(v.recipe, ''),
       date_bin('1 minute', m.measured_at, timestamptz 'epoch'), count(*), sum(m.value),
       sum(ct_sq(m.value)), min(m.value), max(m.value),
       (array_agg(m.measured_at ORDER BY m.value, m.measured_at))[1],
       (array_agg(m.measured_at ORDER BY m.value DESC, m.measured_at))[1]
FROM measurement m LEFT JOIN station_visit v ON v.event_id = m.event_id
GROUP BY 1, 2, 3, 4, 6, 5;

-- Charts read one characteristic's values by time. With the value in the index they come
-- from the index alone (an index-only scan once vacuum has marked the pages all-visible, which
-- autovacuum does for insert-only tables since PostgreSQL 13): a week's exact histogram reads
-- no table pages. It replaces 0001's measurement_chart (same key). On a plant database with
-- years of measurements this rebuild takes a while and blocks writes to measurement while it
-- runs (the traveler's spool holds what arrives meanwhile): migrate in a quiet hour.
CREATE INDEX measurement_chart_value
    ON measurement (site, line, station, characteristic, measured_at) INCLUDE (value);
DROP INDEX measurement_chart;

-- A characteristic's series without naming the station (the API asks which one when there
-- are several).
CREATE INDEX measurement_rollup_characteristic
    ON measurement_rollup (characteristic, site, line, station);

-- ---- what the API's lists read ------------------------------------------------------------

-- Verdicts of a station by time; alerts, inspection items and automatic actions newest first
-- (open alerts: those not closed).
CREATE INDEX unit_verdict_station ON unit_verdict (site, line, station, decided_at);
CREATE INDEX unit_verdict_decided ON unit_verdict (decided_at);
CREATE INDEX alert_raised ON alert (raised_at);
CREATE INDEX alert_active ON alert (raised_at) WHERE closed_at IS NULL;
CREATE INDEX inspection_item_entered ON inspection_item (entered_at);
CREATE INDEX automatic_action_decided ON automatic_action (decided_at);
CREATE INDEX spc_signal_cause ON spc_signal (cause_event_id);
CREATE INDEX lot_status_changed ON lot_status (changed_at);

-- The spec limits of a characteristic where it is measured: the most specific spec_limit row
-- as spc-gate picks it (services/spc-gate/gate_spec.c: a named station outweighs a station
-- type, which outweighs a line, ...; a recipe version outweighs everything), for the station's
-- type and the recipe (and version) of its latest visit with that recipe, or of its latest
-- visit when p_recipe is NULL. NULL when no row applies.
CREATE FUNCTION ct_api_spec(p_site text, p_line text, p_station text, p_characteristic text,
                            p_recipe text)
RETURNS json LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT json_build_object('lsl', s.lsl, 'usl', s.usl, 'target', s.target)
    FROM (SELECT 1) one
    LEFT JOIN LATERAL (
        SELECT x.station_type, x.recipe, x.recipe_version FROM station_visit x
        WHERE x.site = p_site AND x.line = p_line AND x.station = p_station
          AND (p_recipe IS NULL OR x.recipe = p_recipe)
        ORDER BY x.ended_at DESC LIMIT 1) v ON true
    CROSS JOIN LATERAL (
        SELECT l.* FROM spec_limit l
        WHERE l.characteristic = p_characteristic
          AND l.site IN ('*', p_site) AND l.line IN ('*', p_line)
          AND l.station IN ('*', p_station)
          AND (l.station_type = 0 OR l.station_type = v.station_type)
          AND l.recipe IN ('*', coalesce(v.recipe, p_recipe))
          AND (l.recipe_version = 0 OR l.recipe_version = v.recipe_version)
        ORDER BY (l.site <> '*')::int + 2 * (l.line <> '*')::int
                 + 4 * (l.station_type <> 0)::int + 8 * (l.station <> '*')::int
                 + 16 * (l.recipe <> '*')::int + 32 * (l.recipe_version <> 0)::int DESC
        LIMIT 1) s
$$;

-- The standard normal distribution function, for the histogram's fitted counts (PostgreSQL 15
-- has no erf). Abramowitz & Stegun 26.2.17: absolute error below 7.5e-8, so a fitted count
-- of n values is off by less than 1.5e-7 n.
CREATE FUNCTION ct_api_phi(x double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN x >= 0 THEN 1 - q ELSE q END
    FROM (SELECT exp(-z * z / 2) / sqrt(2 * pi())
                 * t * (0.319381530 + t * (-0.356563782 + t * (1.781477937
                 + t * (-1.821255978 + t * 1.330274429)))) AS q
          FROM (SELECT abs(x) AS z, 1 / (1 + 0.2316419 * abs(x)) AS t) a) b
$$;

-- Times in the API's JSON are integer milliseconds since the epoch (ct_api_ms), and its
-- arguments come as integer microseconds (ct_api_at). Both immutable (no time zone involved),
-- so the planner folds them and prunes measurement's partitions by the range.
CREATE FUNCTION ct_api_ms(t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT floor(extract(epoch FROM t) * 1000)::bigint
$$;
CREATE FUNCTION ct_api_at(us bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT to_timestamp(us / 1000000.0::double precision)
$$;

-- What p_id is made of, as a tree of its standing genealogy links (those ct_trace follows),
-- to p_depth levels: [{"id", "kind", "material", "quantity", "uom", "station",
-- "children": [...]}, ...]. p_path holds the IDs above, so a cycle stops instead of looping.
CREATE FUNCTION ct_api_made_from(p_id text, p_depth integer, p_path text[])
RETURNS json LANGUAGE plpgsql STABLE SET search_path = public, pg_temp AS $$
BEGIN
    RETURN coalesce((
        SELECT json_agg(json_build_object(
                   'id', g.child_id, 'kind', coalesce(k.name, 'unspecified'),
                   'material', g.material, 'quantity', g.quantity, 'uom', g.uom,
                   'station', g.station,
                   'children', CASE WHEN p_depth > 1 AND g.child_id <> ALL (p_path)
                                    THEN ct_api_made_from(g.child_id, p_depth - 1,
                                                          p_path || g.child_id)
                                    ELSE '[]'::json END)
                   ORDER BY g.assembled_at, g.event_id, g.seq)
        FROM genealogy g LEFT JOIN unit_kind k ON k.kind = g.child_kind
        WHERE g.parent_id = p_id AND g.ended_at IS NULL), '[]'::json);
END
$$;

-- ---- grants --------------------------------------------------------------------------------
GRANT USAGE ON SCHEMA public TO ct_api;
-- Every table and view, this migration's included (the API reads the whole thread).
GRANT SELECT ON ALL TABLES IN SCHEMA public TO ct_api;
GRANT SELECT ON measurement_rollup TO ct_reader, ct_quality, ct_spc;
GRANT EXECUTE ON FUNCTION ct_lot_set(text, text, smallint, text, text),
    ct_dispose(bigint, text, text), ct_undo_action(text, text) TO ct_api;
REVOKE ALL ON FUNCTION ct_api_token_create(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ct_api_token_revoke(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ct_measurement_rollup_add() FROM PUBLIC;
