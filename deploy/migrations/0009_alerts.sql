-- 0009: alerts (issue 12). alert-router (login `alertrouter`, group role ct_alert) keeps every
-- alert occurrence with its ISA-18.2 state, the audit of every transition, the subscriptions
-- people made, a durable delivery outbox (webhooks, team topics, the log) and the flood
-- intervals of each operator position; the alarm KPIs (EEMUA 191 / ISA-18.2) are views on
-- these tables. services/alert-router/README.md says what the router does with them.
--
-- An alert's key is (source, code, object_kind, object_id); alert_key is those four joined by
-- U+001F (the ASCII unit separator: it cannot appear in an MQTT topic level, a site, line or
-- station, so the join is unambiguous). A trigger fills it when the writer leaves it NULL, and
-- a CHECK refuses one that disagrees with the four columns.

-- ---- alert occurrences -------------------------------------------------------------------
CREATE TABLE alert (
    alert_id        text PRIMARY KEY,           -- 'al-' + 16 hex of hash(key, occurrence)
    source          text NOT NULL,
    code            text NOT NULL,
    object_kind     text NOT NULL
        CHECK (object_kind IN ('station', 'asset', 'lot', 'unit', 'service', 'characteristic')),
    object_id       text NOT NULL,
    alert_key       text NOT NULL,
    occurrence      integer NOT NULL CHECK (occurrence >= 1),
    site            text NOT NULL DEFAULT '',
    line            text NOT NULL DEFAULT '',
    station         text NOT NULL DEFAULT '',
    severity        smallint NOT NULL CHECK (severity BETWEEN 1 AND 5),
    text            text NOT NULL DEFAULT '',
    tags            text[] NOT NULL DEFAULT '{}',     -- NULL written becomes '{}'
    state           text NOT NULL
        CHECK (state IN ('ACTIVE_UNACK', 'ACTIVE_ACK', 'CLEARED_UNACK', 'NORMAL')),
    shelved         text NOT NULL DEFAULT '' CHECK (shelved IN ('', 'ONE_SHOT', 'TIMED')),
    shelved_until   timestamptz,
    suppressed      boolean NOT NULL DEFAULT false,
    out_of_service  boolean NOT NULL DEFAULT false,
    chattering      boolean NOT NULL DEFAULT false,
    count           integer NOT NULL DEFAULT 1 CHECK (count >= 1),
    last_value      double precision,
    source_alert_id text NOT NULL DEFAULT '',   -- the publisher's own ID (Alert.alert_id)
    raised_at       timestamptz NOT NULL,
    last_seen_at    timestamptz,
    acked_at        timestamptz,
    acked_by        text,
    cleared_at      timestamptz,
    closed_at       timestamptz,                -- state NORMAL reached: the occurrence ended
    escalation_tier integer NOT NULL DEFAULT 1,
    escalated_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (shelved <> 'TIMED' OR shelved_until IS NOT NULL),
    CHECK (alert_key = source || chr(31) || code || chr(31) || object_kind || chr(31) || object_id)
);
-- One active record per key, whichever router instance writes it: the second INSERT of a
-- concurrent raise fails on this index and becomes a REPEAT of the first.
CREATE UNIQUE INDEX alert_one_active ON alert (source, code, object_kind, object_id)
    WHERE state IN ('ACTIVE_UNACK', 'ACTIVE_ACK');
-- Occurrences of a key in order (delay-off looks up the previous one; the CLI lists them).
CREATE INDEX alert_key_occurrence ON alert (alert_key, occurrence);
-- Open occurrences (standing and stale alarms, the CLI's default list).
CREATE INDEX alert_open ON alert (state, raised_at) WHERE state <> 'NORMAL';
-- Timed shelves the router's timer ends (it looks every second).
CREATE INDEX alert_timed_shelve ON alert (shelved_until) WHERE shelved = 'TIMED';

COMMENT ON COLUMN alert.alert_key IS
    'source, code, object_kind, object_id joined by U+001F (filled by a trigger when NULL)';
COMMENT ON COLUMN alert.state IS
    'ISA-18.2: ACTIVE_UNACK, ACTIVE_ACK, CLEARED_UNACK, NORMAL (cleared and acknowledged)';

-- ---- audit of every transition ---------------------------------------------------------
CREATE TABLE alert_transition (
    transition_id bigserial PRIMARY KEY,
    alert_id      text NOT NULL REFERENCES alert,
    seq           integer NOT NULL CHECK (seq >= 1),  -- per alert_id, from 1 (the RAISE)
    action        text NOT NULL CHECK (action IN ('RAISE', 'REPEAT', 'CLEAR', 'ACK', 'SHELVE',
        'UNSHELVE', 'SHELVE_EXPIRED', 'SUPPRESS', 'UNSUPPRESS', 'COMMENT',
        'REMOVE_FROM_SERVICE', 'RETURN_TO_SERVICE', 'ESCALATE', 'CHATTER', 'SUPERSEDED')),
    from_state    text NOT NULL DEFAULT '',
    to_state      text NOT NULL DEFAULT '',
    at            timestamptz NOT NULL,
    actor         text NOT NULL DEFAULT '',
    credential    text NOT NULL DEFAULT '',   -- the MQTT user or login that sent the action
    reason        text NOT NULL DEFAULT '',
    event_id      text UNIQUE,                -- the input that caused it (replays add nothing)
    UNIQUE (alert_id, seq)
);
-- KPIs count transitions by action and time.
CREATE INDEX alert_transition_action_at ON alert_transition (action, at);

-- ---- dedupe of every input message (REPEATs too) ----------------------------------------
CREATE TABLE alert_input (
    event_id    text PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now()
);
-- The router prunes old entries by age.
CREATE INDEX alert_input_received ON alert_input (received_at);

-- ---- subscriptions -----------------------------------------------------------------------
CREATE TABLE alert_subscription (
    subscription_id  text PRIMARY KEY,
    team             text NOT NULL CHECK (team <> ''),
    tier             integer NOT NULL DEFAULT 1 CHECK (tier >= 1),
    min_severity     smallint NOT NULL DEFAULT 1 CHECK (min_severity BETWEEN 1 AND 5),
    topic_filter     text NOT NULL DEFAULT '#',  -- 'site/line/station' with + and #
    codes            text NOT NULL DEFAULT '',   -- comma list of globs, '' = all
    object_kinds     text NOT NULL DEFAULT '',   -- comma list, '' = all
    tags             text NOT NULL DEFAULT '',   -- comma list; all must be on the alert
    shifts           text NOT NULL DEFAULT '',   -- comma list of shift names, '' = all
    delay_on_s       integer NOT NULL DEFAULT 0 CHECK (delay_on_s >= 0),
    delay_off_s      integer NOT NULL DEFAULT 0 CHECK (delay_off_s >= 0),
    rate_per_min     integer NOT NULL DEFAULT 0 CHECK (rate_per_min >= 0),  -- 0 = no limit
    channel          text NOT NULL CHECK (channel IN ('mqtt', 'webhook', 'log')),
    target           text NOT NULL DEFAULT '',   -- webhook URL; '' for mqtt = the team topic
    escalate_after_s integer NOT NULL DEFAULT 0 CHECK (escalate_after_s >= 0), -- 0 = never
    escalate_to      text NOT NULL DEFAULT '',   -- subscription_id of the next tier
    route            text NOT NULL DEFAULT '',   -- the whole subscription as a routes-file
                                                 -- line (the router's form; the columns
                                                 -- spell it out for SQL users)
    created_by       text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    removed_at       timestamptz,                -- kept for the audit and the KPIs by team
    removed_by       text,
    CHECK (channel <> 'webhook' OR target <> '')
);

-- ---- the delivery outbox -----------------------------------------------------------------
-- One row per (transition, subscription) to annunciate; the router's channel workers deliver
-- them (ct_alert_deliveries_due below), in order per (subscription, alert key).
CREATE TABLE alert_delivery (
    delivery_id     text PRIMARY KEY,  -- '<alert_id>:<transition seq>:<subscription_id>'
    delivery_seq    bigserial NOT NULL UNIQUE,  -- insertion order, ties of created_at
    subscription_id text NOT NULL REFERENCES alert_subscription,
    team            text NOT NULL,              -- the subscription's at the time (the KPIs'
                                                -- operator position); filled when NULL
    alert_id        text REFERENCES alert,      -- NULL for a flood summary
    alert_key       text NOT NULL,              -- the alert's, filled by a trigger when NULL
    transition_seq  integer,
    action          text NOT NULL,              -- the transition's, or FLOOD_SUMMARY
    channel         text NOT NULL CHECK (channel IN ('mqtt', 'webhook', 'log')),
    target          text NOT NULL DEFAULT '',
    payload         text NOT NULL DEFAULT '',
    delay_on_s      integer NOT NULL CHECK (delay_on_s >= 0),   -- the subscription's when NULL
    delay_off_s     integer NOT NULL CHECK (delay_off_s >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    not_before      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    gave_up_at      timestamptz,
    gave_up_raised  boolean NOT NULL DEFAULT false,  -- the give-up alert was raised
    skipped         text,                            -- why it was not delivered
    last_error      text
);
-- The pending rows of a channel by key, in delivery order.
CREATE INDEX alert_delivery_pending ON alert_delivery
    (channel, subscription_id, alert_key, created_at, delivery_seq)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL AND skipped IS NULL;
CREATE INDEX alert_delivery_alert ON alert_delivery (alert_id, subscription_id);
-- Give-ups not yet raised as an alert (the router's timer looks every second).
CREATE INDEX alert_delivery_gave_up ON alert_delivery (delivery_seq)
    WHERE gave_up_at IS NOT NULL AND NOT gave_up_raised;
-- Per position by time (the flood count and summary, the KPIs); per subscription by time
-- (escalation, rate limits).
CREATE INDEX alert_delivery_team ON alert_delivery (team, created_at) WHERE action = 'RAISE';
CREATE INDEX alert_delivery_subscription ON alert_delivery (subscription_id, created_at);

COMMENT ON COLUMN alert_delivery.skipped IS
    'why it was not delivered: delay-on: / delay-off: (hysteresis), flood: (in a flood '
    'summary instead), rate limit: (the subscription''s rate); flood and rate limit still '
    'count as annunciated in the KPIs';

-- ---- flood intervals per operator position -----------------------------------------------
CREATE TABLE alert_position_flood (
    team       text NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at   timestamptz,  -- NULL while in flood
    PRIMARY KEY (team, started_at),
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);

-- ---- stations stopped (suppression by design) ---------------------------------------------
-- A station a StationCommand STOP stopped, until RESUME: its process alarms are suppressed by
-- design meanwhile (the router's rule router.suppress_when_stopped).
CREATE TABLE alert_station_stop (
    site           text NOT NULL,
    line           text NOT NULL,
    station        text NOT NULL,
    since          timestamptz NOT NULL,
    cause_event_id text NOT NULL,  -- the STOP command's event ID
    PRIMARY KEY (site, line, station)
);

-- ---- fill-ins -------------------------------------------------------------------------
-- The key is derived, so a writer may leave it out (the CHECK holds it to the columns); tags
-- written as NULL (no tags) are the empty array.
CREATE FUNCTION ct_alert_fill_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.alert_key := coalesce(NEW.alert_key, NEW.source || chr(31) || NEW.code || chr(31)
                              || NEW.object_kind || chr(31) || NEW.object_id);
    NEW.tags := coalesce(NEW.tags, '{}');
    RETURN NEW;
END
$$;
CREATE TRIGGER alert_fill_key BEFORE INSERT ON alert
    FOR EACH ROW EXECUTE FUNCTION ct_alert_fill_key();

-- A delivery takes its alert's key (a flood summary: the writer's, or ''), and copies the
-- action, team, channel and delays from its transition and subscription when the writer
-- leaves them NULL (the row must stand alone once written: a
-- subscription changed later does not change a delivery already decided).
CREATE FUNCTION ct_alert_delivery_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.alert_id IS NOT NULL THEN
        SELECT a.alert_key INTO NEW.alert_key FROM alert a WHERE a.alert_id = NEW.alert_id;
    END IF;
    NEW.alert_key := coalesce(NEW.alert_key, '');
    IF NEW.action IS NULL THEN
        SELECT t.action INTO NEW.action FROM alert_transition t
            WHERE t.alert_id = NEW.alert_id AND t.seq = NEW.transition_seq;
    END IF;
    IF NEW.team IS NULL OR NEW.channel IS NULL OR NEW.delay_on_s IS NULL
       OR NEW.delay_off_s IS NULL THEN
        SELECT coalesce(NEW.team, s.team), coalesce(NEW.channel, s.channel),
               coalesce(NEW.delay_on_s, s.delay_on_s), coalesce(NEW.delay_off_s, s.delay_off_s)
            INTO NEW.team, NEW.channel, NEW.delay_on_s, NEW.delay_off_s
            FROM alert_subscription s WHERE s.subscription_id = NEW.subscription_id;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER alert_delivery_fill BEFORE INSERT ON alert_delivery
    FOR EACH ROW EXECUTE FUNCTION ct_alert_delivery_fill();

-- Wakes the webhook worker (LISTEN ct_alert_delivery) when webhook rows are written, so it
-- needs no polling for new work; retries it times itself from next_attempt_at. Once per
-- statement: a burst of rows is one wake-up.
CREATE FUNCTION ct_alert_delivery_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows WHERE channel = 'webhook') THEN
        PERFORM pg_notify('ct_alert_delivery', 'webhook');
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER alert_delivery_notify AFTER INSERT ON alert_delivery
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ct_alert_delivery_notify();

-- ---- the deliveries due ------------------------------------------------------------------
-- What a channel worker delivers next. PENDING = delivered_at, gave_up_at and skipped all
-- NULL. First the hysteresis, on the channel's pending rows that are due (not_before <=
-- now()); each rule marks rows `skipped` with its reason:
--   delay-on  a RAISE (delay_on_s > 0) whose occurrence cleared at or before its not_before
--             (the raise time + delay-on): the alarm did not last; later rows of that
--             occurrence for the subscription (its CLEAR, ACK...) are skipped with it, since
--             the people never saw the raise.
--   delay-off a CLEAR (delay_off_s > 0) when a newer occurrence of the key was raised at or
--             before its not_before (the clear time + delay-off): the condition returned; and
--             that new occurrence's RAISE for the same subscription (the previous
--             occurrence cleared within delay_off_s before it and its CLEAR was not
--             delivered): to the people the alarm never went away.
-- Then returns, for the channel, the oldest PENDING row of each (subscription_id, alert_key)
-- when it is due (not_before and next_attempt_at <= now()), oldest first, at most p_limit,
-- locked FOR UPDATE SKIP LOCKED for the caller's transaction (two router instances do not
-- take the same row). A later row of a key is never returned while an earlier one is pending:
-- order per alert is kept across retries. The caller marks delivered_at, or attempts,
-- next_attempt_at and last_error, or gave_up_at.
CREATE FUNCTION ct_alert_deliveries_due(p_channel text, p_limit integer)
RETURNS SETOF alert_delivery LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE alert_delivery d
        SET skipped = format('delay-on: cleared within %s s', d.delay_on_s)
        FROM alert a
        WHERE d.channel = p_channel AND d.delivered_at IS NULL AND d.gave_up_at IS NULL
          AND d.skipped IS NULL AND d.not_before <= now() AND d.action = 'RAISE'
          AND d.delay_on_s > 0 AND a.alert_id = d.alert_id
          AND a.cleared_at IS NOT NULL AND a.cleared_at <= d.not_before;
    UPDATE alert_delivery d
        SET skipped = 'delay-on: raise not annunciated'
        WHERE d.channel = p_channel AND d.delivered_at IS NULL AND d.gave_up_at IS NULL
          AND d.skipped IS NULL AND d.action <> 'RAISE' AND d.alert_id IS NOT NULL
          AND EXISTS (SELECT 1 FROM alert_delivery r
                      WHERE r.subscription_id = d.subscription_id AND r.alert_id = d.alert_id
                        AND r.action = 'RAISE' AND r.skipped LIKE 'delay-on:%');
    UPDATE alert_delivery d
        SET skipped = format('delay-off: returned within %s s', d.delay_off_s)
        FROM alert a
        WHERE d.channel = p_channel AND d.delivered_at IS NULL AND d.gave_up_at IS NULL
          AND d.skipped IS NULL AND d.not_before <= now() AND d.action = 'CLEAR'
          AND d.delay_off_s > 0 AND a.alert_id = d.alert_id
          AND EXISTS (SELECT 1 FROM alert n
                      WHERE n.alert_key = a.alert_key AND n.occurrence > a.occurrence
                        AND n.raised_at <= d.not_before);
    UPDATE alert_delivery d
        SET skipped = format('delay-off: returned within %s s', d.delay_off_s)
        FROM alert a, alert p
        WHERE d.channel = p_channel AND d.delivered_at IS NULL AND d.gave_up_at IS NULL
          AND d.skipped IS NULL AND d.not_before <= now() AND d.action = 'RAISE'
          AND d.delay_off_s > 0 AND a.alert_id = d.alert_id
          AND p.alert_key = a.alert_key
          AND p.occurrence = (SELECT max(q.occurrence) FROM alert q
                              WHERE q.alert_key = a.alert_key AND q.occurrence < a.occurrence)
          AND p.cleared_at IS NOT NULL
          AND a.raised_at <= p.cleared_at + make_interval(secs => d.delay_off_s)
          AND EXISTS (SELECT 1 FROM alert_delivery pd
                      WHERE pd.subscription_id = d.subscription_id AND pd.alert_id = p.alert_id
                        AND pd.action = 'CLEAR' AND pd.delivered_at IS NULL);

    RETURN QUERY
    WITH head AS (
        SELECT DISTINCT ON (h.subscription_id, h.alert_key) h.delivery_id, h.not_before,
               h.next_attempt_at
        FROM alert_delivery h
        WHERE h.channel = p_channel AND h.delivered_at IS NULL AND h.gave_up_at IS NULL
          AND h.skipped IS NULL
        ORDER BY h.subscription_id, h.alert_key, h.created_at, h.delivery_seq)
    SELECT d.* FROM alert_delivery d
    WHERE d.delivery_id IN (SELECT head.delivery_id FROM head
                            WHERE head.not_before <= now() AND head.next_attempt_at <= now())
    ORDER BY d.created_at, d.delivery_seq
    LIMIT p_limit
    FOR UPDATE SKIP LOCKED;
END
$$;

-- ---- alarm KPIs (EEMUA 191 edition 3, ANSI/ISA-18.2-2016 / IEC 62682 section 16) ---------
-- Targets, beside each figure. The standards' benchmarks for one operator position (here a
-- team: every subscription of a team is one position):
--   average annunciated alarms per 10 min  <= 1 very likely acceptable, <= 2 manageable
--                                          (EEMUA 191 table 35; ISA-18.2 ~1 and ~2)
--   per hour                               ~6 acceptable, ~12 maximum manageable (ISA-18.2)
--   per day                                ~150 acceptable, ~300 maximum manageable (ISA-18.2)
--   flood                                  more than 10 alarms in 10 min (ends under 5)
--   peak alarms in one 10-min period       <= 10
--   % of 10-min periods with more than 10  < ~1 %
--   % of time in flood                     < ~1 %
--   share of the 10 most frequent alarms   < ~1 % to 5 % of the load
--   chattering alarms (3+ in 60 s)         0 (action plans for any)
--   stale alarms (active over 24 h)        fewer than 5 on any day
--   standing alarms (active now)           fewer than 10 (EEMUA 191)
-- Quality engineers may change the values (UPDATE); the views read them.
CREATE TABLE alert_kpi_target (
    name  text PRIMARY KEY,
    value double precision NOT NULL,
    about text NOT NULL DEFAULT ''
);
INSERT INTO alert_kpi_target (name, value, about) VALUES
    ('per_10min_acceptable', 1,
     'EEMUA 191 / ISA-18.2: average alarms per 10 min per position, very likely acceptable'),
    ('per_10min_manageable', 2,
     'EEMUA 191 / ISA-18.2: average alarms per 10 min per position, maximum manageable'),
    ('per_hour_acceptable', 6,
     'ISA-18.2: average alarms per hour per position, very likely acceptable'),
    ('per_hour_manageable', 12,
     'ISA-18.2: average alarms per hour per position, maximum manageable'),
    ('per_day_acceptable', 150, 'ISA-18.2: alarms per day per position, very likely acceptable'),
    ('per_day_manageable', 300, 'ISA-18.2: alarms per day per position, maximum manageable'),
    ('flood_per_10min', 10, 'flood: more than this many alarms in 10 min at one position'),
    ('flood_end_per_10min', 5, 'a flood ends when a 10-min window holds fewer than this'),
    ('peak_10min_max', 10, 'ISA-18.2: maximum alarms in one 10-min period'),
    ('pct_10min_flood_max', 1, 'ISA-18.2: % of 10-min periods with more than 10 alarms'),
    ('pct_time_in_flood_max', 1, 'ISA-18.2: % of time the position is in flood'),
    ('top10_share_pct_max', 5,
     'ISA-18.2: % of the load from the 10 most frequent alarms (~1 % to 5 %)'),
    ('chattering_max', 0, 'ISA-18.2: chattering alarms'),
    ('chatter_count', 3, 'chattering: this many activations of one key within 60 s'),
    ('stale_after_s', 86400, 'stale: active for longer than this'),
    ('stale_max', 5, 'ISA-18.2: stale alarms present on any day, fewer than this'),
    ('standing_max', 10, 'EEMUA 191: standing alarms (active now), fewer than this');

-- Every alarm annunciated to an operator position, the base of the rate KPIs. Decided: counted
-- from the deliveries, not from the transitions, because only the router's routing (globs,
-- wildcards, shifts, tags) knows which position an alarm reached. One row per (team,
-- occurrence) whose RAISE had a delivery row for the team (the delivery's team: the
-- subscription's when it was routed) not skipped by the hysteresis: a RAISE grouped into a
-- flood summary ('flood:...') or held back by a rate limit ('rate limit:...') did happen at
-- the position and counts, as the router's own flood detector counts it; delay-on / delay-off
-- skips never reached anyone. Shelved, suppressed and out-of-service alarms get no delivery,
-- so they do not count (ISA-18.2 counts annunciated alarms). A team with two subscriptions
-- (MQTT and a webhook) counts the alarm once. `at` is the RAISE transition's time (when the
-- alarm occurred), not the delivery's. A delivery whose delay-on has not elapsed yet
-- (not_before in the future) does not count yet.
CREATE VIEW alert_kpi_alarms AS
SELECT DISTINCT ON (d.team, d.alert_id, d.transition_seq)
       d.team, d.alert_id, d.transition_seq, t.at, a.alert_key, a.source, a.code,
       a.object_kind, a.object_id, a.site, a.line, a.station, a.severity
FROM alert_delivery d
JOIN alert a ON a.alert_id = d.alert_id
JOIN alert_transition t ON t.alert_id = d.alert_id AND t.seq = d.transition_seq
WHERE d.action = 'RAISE' AND d.not_before <= now()
  AND (d.skipped IS NULL OR d.skipped LIKE 'flood:%' OR d.skipped LIKE 'rate limit:%')
ORDER BY d.team, d.alert_id, d.transition_seq;

-- Alarms per position per period (UTC-aligned periods; periods without alarms have no row),
-- rated against the targets per 10 minutes (EEMUA 191): acceptable (<= 1), manageable
-- (<= 2), over-demanding (<= 10), flood (more than 10).
-- A configured target by name (the views show it beside the figure).
CREATE FUNCTION ct_alert_kpi_target(p_name text) RETURNS double precision
LANGUAGE sql STABLE AS $$ SELECT value FROM alert_kpi_target WHERE name = p_name $$;

CREATE VIEW alert_kpi_rate_10min AS
SELECT team, period_start, period_start + interval '10 minutes' AS period_end, alarms,
       ct_alert_kpi_target('per_10min_acceptable') AS target_acceptable,
       ct_alert_kpi_target('per_10min_manageable') AS target_manageable,
       ct_alert_kpi_target('flood_per_10min') AS flood_above,
       CASE WHEN alarms <= ct_alert_kpi_target('per_10min_acceptable') THEN 'acceptable'
            WHEN alarms <= ct_alert_kpi_target('per_10min_manageable') THEN 'manageable'
            WHEN alarms <= ct_alert_kpi_target('flood_per_10min') THEN 'over-demanding'
            ELSE 'flood' END AS rating
FROM (SELECT team, date_bin('10 minutes', at, timestamptz '2000-01-01 00:00+00') AS period_start,
             count(*) AS alarms
      FROM alert_kpi_alarms GROUP BY 1, 2) r;

CREATE VIEW alert_kpi_rate_hour AS
SELECT team, period_start, period_start + interval '1 hour' AS period_end, alarms,
       ct_alert_kpi_target('per_hour_acceptable') AS target_acceptable,
       ct_alert_kpi_target('per_hour_manageable') AS target_manageable
FROM (SELECT team, date_bin('1 hour', at, timestamptz '2000-01-01 00:00+00') AS period_start,
             count(*) AS alarms
      FROM alert_kpi_alarms GROUP BY 1, 2) r;

CREATE VIEW alert_kpi_rate_day AS
SELECT team, period_start, period_start + interval '1 day' AS period_end, alarms,
       ct_alert_kpi_target('per_day_acceptable') AS target_acceptable,
       ct_alert_kpi_target('per_day_manageable') AS target_manageable
FROM (SELECT team, date_bin('1 day', at, timestamptz '2000-01-01 00:00+00') AS period_start,
             count(*) AS alarms
      FROM alert_kpi_alarms GROUP BY 1, 2) r;

-- Per position over the last 24 hours (now() - 24 h, now()]: the averages per 10 min (alarms
-- / 144), per hour (/ 24) and the day's count against the targets; the peak 10-min period
-- (UTC-aligned) and its start; the % of the 144 10-min periods with more than the flood
-- threshold; % of the 24 h in flood (alert_position_flood intervals clipped to the window,
-- an open one running to now). A team appears when it has a live subscription, an alarm or
-- a flood in the window.
CREATE VIEW alert_kpi_position AS
WITH win AS (SELECT now() - interval '24 hours' AS w0, now() AS w1),
alarms AS (
    SELECT k.team, k.at FROM alert_kpi_alarms k, win WHERE k.at > win.w0 AND k.at <= win.w1),
buckets AS (
    SELECT team, date_bin('10 minutes', at, timestamptz '2000-01-01 00:00+00') AS b,
           count(*) AS n
    FROM alarms GROUP BY 1, 2),
floods AS (
    SELECT f.team, sum(extract(epoch FROM least(coalesce(f.ended_at, win.w1), win.w1)
                                          - greatest(f.started_at, win.w0))) AS flood_s,
           count(*) AS floods
    FROM alert_position_flood f, win
    WHERE f.started_at < win.w1 AND coalesce(f.ended_at, win.w1) > win.w0
    GROUP BY f.team),
teams AS (
    SELECT team FROM alert_subscription WHERE removed_at IS NULL
    UNION SELECT team FROM alarms UNION SELECT team FROM floods),
tg AS (SELECT name, value FROM alert_kpi_target)
SELECT t.team, win.w0 AS window_start, win.w1 AS window_end,
       coalesce(c.n, 0) AS alarms_24h,
       coalesce(c.n, 0) / 144.0 AS avg_per_10min,
       (SELECT value FROM tg WHERE name = 'per_10min_acceptable') AS target_per_10min_acceptable,
       (SELECT value FROM tg WHERE name = 'per_10min_manageable') AS target_per_10min_manageable,
       coalesce(c.n, 0) / 24.0 AS avg_per_hour,
       (SELECT value FROM tg WHERE name = 'per_hour_acceptable') AS target_per_hour_acceptable,
       (SELECT value FROM tg WHERE name = 'per_hour_manageable') AS target_per_hour_manageable,
       (SELECT value FROM tg WHERE name = 'per_day_acceptable') AS target_per_day_acceptable,
       (SELECT value FROM tg WHERE name = 'per_day_manageable') AS target_per_day_manageable,
       coalesce(p.peak, 0) AS peak_10min,
       p.peak_at AS peak_10min_start,
       (SELECT value FROM tg WHERE name = 'peak_10min_max') AS target_peak_10min,
       coalesce(o.n, 0) AS periods_10min_flood,
       coalesce(o.n, 0) * 100.0 / 144 AS pct_10min_flood,
       (SELECT value FROM tg WHERE name = 'pct_10min_flood_max') AS target_pct_10min_flood,
       coalesce(fl.floods, 0) AS floods,
       coalesce(fl.flood_s, 0) * 100.0 / 86400 AS pct_time_in_flood,
       (SELECT value FROM tg WHERE name = 'pct_time_in_flood_max') AS target_pct_time_in_flood,
       CASE WHEN coalesce(c.n, 0) / 144.0
                 <= (SELECT value FROM tg WHERE name = 'per_10min_acceptable') THEN 'acceptable'
            WHEN coalesce(c.n, 0) / 144.0
                 <= (SELECT value FROM tg WHERE name = 'per_10min_manageable') THEN 'manageable'
            ELSE 'over-demanding' END AS rating
FROM teams t CROSS JOIN win
LEFT JOIN (SELECT team, count(*) AS n FROM alarms GROUP BY team) c ON c.team = t.team
LEFT JOIN (SELECT DISTINCT ON (team) team, n AS peak, b AS peak_at FROM buckets
           ORDER BY team, n DESC, b) p ON p.team = t.team
LEFT JOIN (SELECT team, count(*) AS n FROM buckets
           WHERE n > (SELECT value FROM tg WHERE name = 'flood_per_10min') GROUP BY team) o
    ON o.team = t.team
LEFT JOIN floods fl ON fl.team = t.team;

-- Chattering alarms over the last 24 h (ISA-18.2: an alarm that repeatedly transitions
-- between active and normal in a short time): keys with chatter_count (3) or more RAISEs
-- (every occurrence, annunciated or not: shelving a chattering alarm must not hide it here)
-- within 60 s, or an occurrence the router flagged `chattering`. Target: none.
CREATE VIEW alert_kpi_chattering AS
WITH raises AS (
    SELECT a.alert_key, a.source, a.code, a.object_kind, a.object_id, a.site, a.line,
           a.station, a.chattering, t.at,
           count(*) OVER (PARTITION BY a.alert_key ORDER BY t.at
                          RANGE BETWEEN interval '60 seconds' PRECEDING AND CURRENT ROW) AS in_60s
    FROM alert_transition t JOIN alert a ON a.alert_id = t.alert_id
    WHERE t.action = 'RAISE' AND t.at > now() - interval '24 hours')
SELECT alert_key, source, code, object_kind, object_id, site, line, station,
       count(*) AS activations_24h, max(in_60s) AS max_in_60s, bool_or(chattering) AS flagged,
       min(at) AS first_at, max(at) AS last_at,
       (SELECT value FROM alert_kpi_target WHERE name = 'chattering_max') AS target_max
FROM raises
GROUP BY alert_key, source, code, object_kind, object_id, site, line, station
HAVING max(in_60s) >= (SELECT value FROM alert_kpi_target WHERE name = 'chatter_count')
    OR bool_or(chattering);

-- Standing alarms (EEMUA 191: in the active state now, acknowledged or not; shelved,
-- suppressed and out-of-service ones are listed with their flags but not counted, since
-- they are not on the operator's display). standing = the count, beside the target.
CREATE VIEW alert_kpi_standing AS
SELECT a.alert_id, a.source, a.code, a.object_kind, a.object_id, a.site, a.line, a.station,
       a.severity, a.state, a.shelved, a.suppressed, a.out_of_service, a.raised_at,
       extract(epoch FROM now() - a.raised_at) AS active_s,
       count(*) FILTER (WHERE a.shelved = '' AND NOT a.suppressed AND NOT a.out_of_service)
           OVER () AS standing,
       (SELECT value FROM alert_kpi_target WHERE name = 'standing_max') AS target_max
FROM alert a
WHERE a.state IN ('ACTIVE_UNACK', 'ACTIVE_ACK');

-- Stale alarms (ISA-18.2: active longer than 24 h, stale_after_s): every one, flags as in
-- alert_kpi_standing; stale = their count beside the target (fewer than 5 on any day).
CREATE VIEW alert_kpi_stale AS
SELECT a.alert_id, a.source, a.code, a.object_kind, a.object_id, a.site, a.line, a.station,
       a.severity, a.state, a.shelved, a.suppressed, a.out_of_service, a.raised_at,
       extract(epoch FROM now() - a.raised_at) AS active_s,
       count(*) OVER () AS stale,
       (SELECT value FROM alert_kpi_target WHERE name = 'stale_max') AS target_max
FROM alert a
WHERE a.state IN ('ACTIVE_UNACK', 'ACTIVE_ACK')
  AND a.raised_at < now() - make_interval(
          secs => (SELECT value FROM alert_kpi_target WHERE name = 'stale_after_s'));

-- The 10 most frequent alarms of the last 24 h (ISA-18.2: their share of the whole load):
-- annunciated alarms (alert_kpi_alarms) counted once whatever the number of teams, by key,
-- ranked by count (ties by key). share_pct is the key's, top10_share_pct the ten's together.
CREATE VIEW alert_kpi_top10 AS
WITH occ AS (
    SELECT DISTINCT alert_id, transition_seq, alert_key, source, code, object_kind, object_id
    FROM alert_kpi_alarms WHERE at > now() - interval '24 hours'),
keys AS (
    SELECT alert_key, source, code, object_kind, object_id, count(*) AS alarms
    FROM occ GROUP BY 1, 2, 3, 4, 5),
ranked AS (
    SELECT k.*, row_number() OVER (ORDER BY alarms DESC, alert_key) AS rank,
           sum(alarms) OVER () AS total
    FROM keys k)
SELECT rank, alert_key, source, code, object_kind, object_id, alarms, total,
       alarms * 100.0 / total AS share_pct,
       sum(alarms) FILTER (WHERE rank <= 10) OVER () * 100.0 / total AS top10_share_pct,
       (SELECT value FROM alert_kpi_target WHERE name = 'top10_share_pct_max') AS target_max_pct
FROM ranked
WHERE rank <= 10;

-- Time to acknowledge (acked_at - raised_at) and to clear (cleared_at - raised_at) of the
-- occurrences raised in the last 24 h, in seconds: average, median and 90th percentile
-- (continuous, interpolated), per code, per station ('site/line/station', alerts on a
-- station) and per team (the occurrences annunciated to it). The standards set no target.
CREATE VIEW alert_kpi_response AS
WITH occ AS (
    SELECT a.alert_id, a.code, a.site || '/' || a.line || '/' || a.station AS station,
           a.station <> '' AS on_station,
           extract(epoch FROM a.acked_at - a.raised_at)::double precision AS ack_s,
           extract(epoch FROM a.cleared_at - a.raised_at)::double precision AS clear_s
    FROM alert a WHERE a.raised_at > now() - interval '24 hours'),
dims AS (
    SELECT 'code' AS dimension, code AS value, ack_s, clear_s FROM occ
    UNION ALL
    SELECT 'station', station, ack_s, clear_s FROM occ WHERE on_station
    UNION ALL
    SELECT 'team', k.team, o.ack_s, o.clear_s
    FROM occ o JOIN (SELECT DISTINCT team, alert_id FROM alert_kpi_alarms) k
        ON k.alert_id = o.alert_id)
SELECT dimension, value, count(*) AS occurrences,
       count(ack_s) AS acked, avg(ack_s) AS ack_avg_s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ack_s) AS ack_p50_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY ack_s) AS ack_p90_s,
       count(clear_s) AS cleared, avg(clear_s) AS clear_avg_s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY clear_s) AS clear_p50_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY clear_s) AS clear_p90_s
FROM dims
GROUP BY dimension, value;

-- ---- roles -------------------------------------------------------------------------
--   ct_alert: alert-router (its occurrences, audit, inputs, subscriptions, outbox, floods)
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ct_alert') THEN
        CREATE ROLE ct_alert NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO ct_alert;
GRANT SELECT ON alert, alert_transition, alert_input, alert_subscription, alert_delivery,
    alert_position_flood, alert_station_stop, alert_kpi_target, alert_kpi_alarms,
    alert_kpi_rate_10min,
    alert_kpi_rate_hour, alert_kpi_rate_day, alert_kpi_position, alert_kpi_chattering,
    alert_kpi_standing, alert_kpi_stale, alert_kpi_top10, alert_kpi_response
    TO ct_alert, ct_reader, ct_quality;
GRANT INSERT, UPDATE ON alert, alert_subscription, alert_delivery, alert_position_flood
    TO ct_alert;
-- The audit is append-only; the dedupe table is pruned by age; a station stop ends by RESUME.
GRANT INSERT ON alert_transition TO ct_alert;
GRANT INSERT, DELETE ON alert_input, alert_station_stop TO ct_alert;
GRANT USAGE ON SEQUENCE alert_transition_transition_id_seq, alert_delivery_delivery_seq_seq
    TO ct_alert;
GRANT UPDATE (value) ON alert_kpi_target TO ct_quality;
REVOKE ALL ON FUNCTION ct_alert_deliveries_due(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ct_alert_deliveries_due(text, integer) TO ct_alert;
