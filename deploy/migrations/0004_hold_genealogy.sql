-- 0004: a hold follows the genealogy in the database, whoever holds and whenever the
-- genealogy is stored.
--
-- Before, ct_spc_hold (spc-gate's gate rules) walked the units stored at the moment of the
-- hold, and spc-gate walked again later, from memory, for units stored after it; a manual
-- hold (`cellthread lot hold`, ct_lot_set) held the lot alone. Now:
--   * every hold or quarantine of a lot (ct_lot_set, by anyone) holds every unit stored so
--     far that contains the lot: held_unit rows, cells/modules/packs to inspection, batches
--     and coils made from it held in turn;
--   * a statement trigger on genealogy holds every unit stored later that contains a held
--     lot or a held unit, in the same transaction that stores it.
-- Two advisory locks, always taken in this order:
--   7261150004, the hold lock: a hold takes it exclusively before it walks, the trigger
--     shared before it looks. A storing transaction that looked before a hold is waited
--     for, so the hold's walk sees its rows; one that looks after waits for the hold to
--     commit, and sees the hold.
--   7261150005, the hold-writer lock: taken exclusively before writing held_unit,
--     inspection_item or lot_status rows (by the walk, by ct_lot_write, and first thing by
--     spc-gate's saver when its transaction writes them), so two writers never wait for each
--     other's rows in opposite orders (a deadlock the first version of this met in CI).
-- Neither is held while waiting for anything else: no deadlock between a hold, spc-gate's
-- saver and any number of traveler instances.

-- Taken exclusively by every hold, before it writes anything (spc-gate's saver calls it first
-- in a transaction that holds lots).
CREATE FUNCTION ct_hold_lock() RETURNS void LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(7261150004)
$$;

-- Taken before writing held_unit, inspection_item or lot_status (after ct_hold_lock when
-- both are taken). spc-gate's saver calls it first in a transaction that writes them.
CREATE FUNCTION ct_hold_write_lock() RETURNS void LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(7261150005)
$$;

-- Lots looked up by ID alone (the trigger joins new genealogy rows on it).
CREATE INDEX lot_status_lot ON lot_status (lot_id) WHERE state <> 1;

-- The state change itself (what ct_lot_set did in 0003, the caller checks done): state,
-- audit row, NOTIFY ct_lot (spc-gate publishes the retained LotStatus). Returns the audit
-- row's ID, NULL when the lot was already in that state. Not callable by any login.
CREATE FUNCTION ct_lot_write(p_site text, p_lot text, p_state smallint, p_reason text,
                             p_actor text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    old_state smallint;
    id bigint;
BEGIN
    PERFORM ct_hold_write_lock();
    SELECT state INTO old_state FROM lot_status WHERE site = p_site AND lot_id = p_lot
        FOR UPDATE;
    old_state := coalesce(old_state, 1);
    IF old_state = p_state THEN
        RETURN NULL;
    END IF;
    INSERT INTO lot_status AS l (site, lot_id, state, reason, changed_by, changed_at)
        VALUES (p_site, p_lot, p_state, p_reason, p_actor, now())
        ON CONFLICT (site, lot_id) DO UPDATE
        SET state = excluded.state, reason = excluded.reason,
            changed_by = excluded.changed_by, changed_at = excluded.changed_at;
    IF p_state = 1 THEN
        DELETE FROM held_unit WHERE site = p_site AND lot_id = p_lot;
    END IF;
    INSERT INTO lot_audit (site, lot_id, from_state, to_state, reason, actor)
        VALUES (p_site, p_lot, old_state, p_state, p_reason, p_actor)
        RETURNING audit_id INTO id;
    PERFORM pg_notify('ct_lot', p_site || '/' || p_lot);
    RETURN id;
END
$$;

-- Holds p_units, and every unit containing any of them, for lot p_lot: each becomes a held
-- unit; batches and coils (kinds 1-3) are held as lots in turn; cells, modules and packs go
-- to inspection. Idempotent. Returns how many units went to inspection (new or not). The
-- caller holds the advisory lock exclusively (a hold) or shared (the trigger).
CREATE FUNCTION ct_hold_units(p_site text, p_lot text, p_units text[], p_actor text)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n integer := 0;
    node record;
BEGIN
    PERFORM ct_hold_write_lock();
    FOR node IN
        WITH RECURSIVE tree AS (
            SELECT DISTINCT s.id, ARRAY[s.id] AS path, 0 AS depth
            FROM unnest(p_units) AS s(id)
            UNION ALL
            SELECT g.parent_id, t.path || g.parent_id, t.depth + 1
            FROM genealogy g JOIN tree t ON g.child_id = t.id
            WHERE t.depth < 32 AND g.parent_id <> ALL (t.path))
        SELECT DISTINCT t.id, coalesce(u.kind, 0) AS kind, coalesce(u.line, '') AS line
        FROM tree t LEFT JOIN unit u ON u.unit_id = t.id
        WHERE t.id <> p_lot
    LOOP
        INSERT INTO held_unit (unit_id, lot_id, site, since)
            VALUES (node.id, p_lot, p_site, now()) ON CONFLICT DO NOTHING;
        IF node.kind IN (1, 2, 3) THEN
            PERFORM ct_lot_write(p_site, node.id, 2::smallint, 'made from held lot ' || p_lot,
                                 p_actor);
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

-- Sets a lot's state (same contract as in 0003: releasing needs a ct_quality login, a
-- reason is required, only ct_spc may name another actor). A hold or quarantine now also
-- holds every unit stored so far that contains the lot.
CREATE OR REPLACE FUNCTION ct_lot_set(p_site text, p_lot text, p_state smallint, p_reason text,
                                      p_actor text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
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
    IF p_actor IS NOT NULL AND NOT pg_has_role(session_user, 'ct_spc', 'MEMBER') THEN
        actor := session_user;
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

-- spc-gate's gate-rule hold (only ct_spc may call it): the lot's state, then the walk, also
-- when the lot was already held (an explicit re-walk is idempotent). Returns how many units
-- are in inspection because of it.
CREATE OR REPLACE FUNCTION ct_spc_hold(p_site text, p_lot text, p_state smallint, p_reason text)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF p_reason IS NULL OR btrim(p_reason) = '' THEN
        RAISE EXCEPTION 'a lot state change needs a reason';
    END IF;
    IF p_state IS NULL OR p_state NOT IN (2, 3) THEN
        RAISE EXCEPTION 'spc-gate holds (2) or quarantines (3) lots, not state %', p_state;
    END IF;
    PERFORM ct_hold_lock();
    PERFORM ct_lot_write(p_site, p_lot, p_state, p_reason, 'spc-gate');
    RETURN ct_hold_units(p_site, p_lot,
                         ARRAY(SELECT DISTINCT parent_id FROM genealogy WHERE child_id = p_lot),
                         'spc-gate');
END
$$;

-- New genealogy rows whose child is a held lot or a held unit: their parents (and whatever
-- already contains those) are held for the same lot, in the storing transaction.
CREATE FUNCTION ct_hold_new_genealogy()
RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    h record;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7261150004);
    FOR h IN
        SELECT x.site, x.lot_id, array_agg(DISTINCT x.parent_id) AS units
        FROM (SELECT s.site, s.lot_id, a.parent_id
              FROM added a JOIN lot_status s ON s.lot_id = a.child_id AND s.state <> 1
              UNION ALL
              SELECT hu.site, hu.lot_id, a.parent_id
              FROM added a JOIN held_unit hu ON hu.unit_id = a.child_id) x
        GROUP BY x.site, x.lot_id
    LOOP
        PERFORM ct_hold_units(h.site, h.lot_id, h.units, 'genealogy of held lot');
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER genealogy_hold AFTER INSERT ON genealogy
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION ct_hold_new_genealogy();

REVOKE ALL ON FUNCTION ct_lot_write(text, text, smallint, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ct_hold_units(text, text, text[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ct_hold_new_genealogy() FROM PUBLIC;
REVOKE ALL ON FUNCTION ct_hold_lock() FROM PUBLIC;
REVOKE ALL ON FUNCTION ct_hold_write_lock() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ct_hold_lock(), ct_hold_write_lock() TO ct_spc, ct_quality;
