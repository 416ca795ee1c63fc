-- 0002: least-privilege group roles. Login roles (one per service, with their passwords)
-- are made by the deployment and granted one of these:
--   ct_traveler: writes the digital thread (traveler only)
--   ct_reader:   reads it (CLI, dashboard, reports)
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ct_traveler') THEN
        CREATE ROLE ct_traveler NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ct_reader') THEN
        CREATE ROLE ct_reader NOLOGIN;
    END IF;
END
$$;

REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO ct_traveler, ct_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO ct_reader, ct_traveler;
GRANT INSERT ON event, station_visit, measurement, process_parameter, genealogy,
    environment_reading, visit_note, visit_curve, telemetry_sample, dead_letter TO ct_traveler;
GRANT INSERT, UPDATE ON unit TO ct_traveler;
GRANT USAGE ON SEQUENCE dead_letter_id_seq TO ct_traveler;
REVOKE ALL ON FUNCTION ct_ensure_partitions(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ct_ensure_partitions(timestamptz, integer) TO ct_traveler;
