-- 0008: the thread refuses what contradicts it, instead of storing it or dropping it silently
-- (issue 10, finding 7). traveler applies these rules in the transaction that stores a batch
-- and dead-letters what they refuse (services/traveler/README.md, "Integrity").
--
-- Conflicting duplicates. event.fingerprint is a 63-bit hash traveler computes of an event's
-- content (the message packed without the header's producer and produced_at and without what
-- services add on the way: a result's held_lots; a verdict's decided_at, inspection_reason and
-- held_lots). An event ID that comes again with the same fingerprint is a redelivery (a
-- silent no-op); with another one it is a conflict (dead letter CONFLICT). traveler reads the
-- stored fingerprints only for the event IDs its insert found already present, so a batch
-- without duplicates pays nothing but the 8 bytes. NULL: stored before this version, or a
-- dead letter (never compared).
ALTER TABLE event ADD COLUMN fingerprint bigint;

-- Genealogy links have a relation (Genealogy.relation) and may end. A link stands while
-- ended_at is NULL; a REWORK ends the standing links of its children, a DISASSEMBLY the link
-- of each child to its parent (its own row is stored already ended, as the record of it).
-- Ended links are kept: the history of what a unit was in. Trace queries (ct_trace) follow
-- the standing links only. Hold propagation (0004) still follows every link, ended or not: a
-- module that once held a cell of a held lot is inspected too (the conservative side).
ALTER TABLE genealogy
    ADD COLUMN relation text NOT NULL DEFAULT 'assembly'
        CHECK (relation IN ('assembly', 'rework', 'disassembly')),
    ADD COLUMN ended_at timestamptz,
    ADD COLUMN ended_by text;
-- Reworks and disassemblies are rare: ct_genealogy_apply finds a batch's in this small index
-- instead of reading every row of the batch's events.
CREATE INDEX genealogy_relation ON genealogy (event_id) WHERE relation <> 'assembly';

-- Applies and checks the genealogy of the events p_events, whose rows the caller (traveler)
-- has just inserted in this transaction, and returns one row per refused event (an event may
-- come more than once) with the reason. p_parents are the parents of those rows and
-- p_children their children that are cells, modules or packs (the caller knows them from the
-- messages: the rows are found through them by index, never by scanning the batch's events).
-- The caller rolls back when any row comes back and stores the batch again without those
-- events, dead-lettering them (GENEALOGY). Rules:
--   * REWORK and DISASSEMBLY rows end links first, in order of assembly time: a rework every
--     standing link of its child assembled no later than it, a disassembly the standing link
--     of its child to its parent (refused when there is none);
--   * one parent: a cell, module or pack (child_kind 4-6) may have one standing link from
--     assembly or rework; a link that was there before the batch wins, then the earliest;
--   * no cycles: no standing link may make a unit contain itself. Only a link whose parent is
--     in something and whose child contains something can close a cycle (the parent must be
--     below its child); a cell or module being assembled is in nothing yet and a material lot
--     contains nothing, so for nearly every link the check is an index probe or two. For
--     the others it walks up from a parent that is a cell, module or pack (one standing
--     parent each: a short chain), else down from the child (a coil or slurry batch is in
--     many units, while what its child contains is a small bill of materials).
-- Measured on the benchmark's line (tests/bench/run.sh 5000, replayed at the state each
-- batch met): 3-9 ms per call of 500 events with genealogy once the table holds 25,000 links;
-- in ct-traveler's end-to-end run about 7-10 ms per call (21 calls).
-- Race-free: the first thing it does is take advisory lock 7261150008 exclusively, held to
-- the end of the transaction, so two traveler instances check and write genealogy one after
-- the other and each sees the other's committed links. It comes after the locks of 0004
-- (the hold trigger took them when the rows were inserted, before this call) and the hold
-- functions never take it, so every transaction takes 7261150004, 7261150005, 7261150008 in
-- that order: no deadlock. SECURITY DEFINER: only this function may end a link; ct_traveler
-- still has no UPDATE on genealogy.
CREATE FUNCTION ct_genealogy_apply(p_events text[], p_parents text[], p_children text[])
RETURNS TABLE (bad_event text, why text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
-- Every lookup here is a probe by key into a table that only grows: each is written as a
-- LATERAL subquery with OFFSET 0 (the planner may not merge it into a join), and sequential
-- scans are off. Left to itself, with statistics that lag a fast-growing table (a new plant,
-- a backfill), the planner was seen reading all of genealogy per batch, or per parent. JIT
-- is off: the probes' estimated costs add up past jit_above_cost, and compiling them took a
-- second per call where running them takes milliseconds.
SET enable_seqscan = off SET jit = off AS $$
DECLARE
    r record;
BEGIN
    PERFORM pg_advisory_xact_lock(7261150008);
    FOR r IN
        SELECT g.event_id, g.seq, g.parent_id, g.child_id, g.relation, g.assembled_at
        FROM unnest(p_events) AS e(id)
        CROSS JOIN LATERAL (
            SELECT * FROM genealogy x WHERE x.event_id = e.id AND x.relation <> 'assembly'
            OFFSET 0) g
        ORDER BY g.assembled_at, g.event_id, g.seq
    LOOP
        IF r.relation = 'rework' THEN
            UPDATE genealogy g SET ended_at = r.assembled_at, ended_by = r.event_id
            WHERE g.child_id = r.child_id AND g.ended_at IS NULL AND g.source <> 'material'
              AND g.assembled_at <= r.assembled_at
              AND NOT (g.event_id = r.event_id AND g.seq = r.seq);
        ELSE
            UPDATE genealogy g SET ended_at = r.assembled_at, ended_by = r.event_id
            WHERE g.child_id = r.child_id AND g.parent_id = r.parent_id
              AND g.ended_at IS NULL AND g.source <> 'material';
            IF NOT FOUND THEN
                bad_event := r.event_id;
                why := format('disassembly: %s is not in %s', r.child_id, r.parent_id);
                RETURN NEXT;
            END IF;
        END IF;
    END LOOP;

    RETURN QUERY
    WITH standing AS (
        SELECT g.child_id, g.parent_id, g.event_id,
               g.event_id = ANY (p_events) AS is_new,
               first_value(g.parent_id) OVER (
                   PARTITION BY g.child_id
                   ORDER BY g.event_id = ANY (p_events), g.assembled_at, g.event_id)
                   AS kept_parent
        FROM (SELECT DISTINCT unnest(p_children) AS id) c
        CROSS JOIN LATERAL (
            SELECT * FROM genealogy x
            WHERE x.child_id = c.id AND x.ended_at IS NULL AND x.source <> 'material'
            OFFSET 0) g)
    SELECT DISTINCT s.event_id,
           format('%s is already in %s (one parent per unit: send a rework or disassembly '
                  'to move it); refused putting it into %s', s.child_id, s.kept_parent,
                  s.parent_id)
    FROM standing s
    WHERE s.is_new AND s.parent_id <> s.kept_parent;

    RETURN QUERY
    WITH RECURSIVE inside AS (
        SELECT p.id, coalesce(u.kind, 0) AS kind
        FROM (SELECT DISTINCT unnest(p_parents) AS id) p
        LEFT JOIN LATERAL (SELECT x.kind FROM unit x WHERE x.unit_id = p.id OFFSET 0) u
            ON true
        WHERE EXISTS (SELECT 1 FROM genealogy up
                      WHERE up.child_id = p.id AND up.ended_at IS NULL OFFSET 0)),
    added AS (
        SELECT g.event_id, g.parent_id, g.child_id, i.kind >= 4 AS walk_up
        FROM inside i
        CROSS JOIN LATERAL (
            SELECT * FROM genealogy x WHERE x.parent_id = i.id AND x.ended_at IS NULL
            OFFSET 0) g
        WHERE g.event_id = ANY (p_events)
          AND (g.child_id = g.parent_id
               OR EXISTS (SELECT 1 FROM genealogy below
                          WHERE below.parent_id = g.child_id AND below.ended_at IS NULL
                          OFFSET 0))),
    -- A cell, module or pack has one standing parent: up from it is a short chain. Anything
    -- else (a coil, a slurry batch) is in many units: down from its child is the short way.
    up AS (
        SELECT DISTINCT a.parent_id AS start, a.parent_id AS node, ARRAY[a.parent_id] AS path,
               0 AS depth
        FROM added a WHERE a.walk_up
        UNION ALL
        SELECT u.start, g.parent_id, u.path || g.parent_id, u.depth + 1
        FROM up u
        CROSS JOIN LATERAL (
            SELECT x.parent_id FROM genealogy x
            WHERE x.child_id = u.node AND x.ended_at IS NULL OFFSET 0) g
        WHERE u.depth < 64 AND g.parent_id <> ALL (u.path)),
    down AS (
        SELECT DISTINCT a.child_id AS start, a.child_id AS node, ARRAY[a.child_id] AS path,
               0 AS depth
        FROM added a WHERE NOT a.walk_up
        UNION ALL
        SELECT d.start, g.child_id, d.path || g.child_id, d.depth + 1
        FROM down d
        CROSS JOIN LATERAL (
            SELECT x.child_id FROM genealogy x
            WHERE x.parent_id = d.node AND x.ended_at IS NULL OFFSET 0) g
        WHERE d.depth < 64 AND g.child_id <> ALL (d.path)),
    found AS (
        SELECT a.event_id, a.parent_id, a.child_id, d.path
        FROM added a JOIN down d ON d.start = a.child_id AND d.node = a.parent_id
        WHERE NOT a.walk_up
        UNION ALL
        SELECT a.event_id, a.parent_id, a.child_id,
               ARRAY(SELECT x FROM unnest(u.path) WITH ORDINALITY AS t(x, o) ORDER BY o DESC)
        FROM added a JOIN up u ON u.start = a.parent_id AND u.node = a.child_id
        WHERE a.walk_up)
    SELECT DISTINCT f.event_id,
           CASE WHEN f.parent_id = f.child_id
                THEN format('cycle: %s cannot contain itself', f.child_id)
                ELSE format('cycle: %s contains %s, so %s cannot contain %s (via %s)',
                            f.child_id, f.parent_id, f.parent_id, f.child_id,
                            array_to_string(f.path, ' > '))
           END
    FROM found f;
END
$$;

REVOKE ALL ON FUNCTION ct_genealogy_apply(text[], text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ct_genealogy_apply(text[], text[], text[]) TO ct_traveler;
