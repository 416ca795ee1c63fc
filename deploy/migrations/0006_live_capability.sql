-- 0006: capability per chart, live. spc-gate keeps, for every variables chart (imr, xbar_r,
-- xbar_s, ewma, cusum), the count, mean and sum of squared deviations (Welford) of the
-- individual values it was fed, saved with the chart's state in the same transaction, and
-- writes the indices at every save against the spec of the chart's characteristic:
--   cp, cpk   with sigma within: the chart's sigma of one observation (MR-bar/d2, R-bar/d2,
--             S-bar/c4 from phase I, or the fixed sigma);
--   pp, ppk   with sigma overall: the sample standard deviation of every value fed;
--   cpm       with sigma overall and the target (or the spec's mid-point).
-- NULL while the chart is in phase I, has fewer than two values, has no spec with a limit,
-- or where the index is undefined for the spec (cp, pp, cpm need both limits).
ALTER TABLE spc_chart_state
    ADD COLUMN overall_n bigint NOT NULL DEFAULT 0 CHECK (overall_n >= 0),
    ADD COLUMN overall_mean double precision NOT NULL DEFAULT 0,
    ADD COLUMN overall_m2 double precision NOT NULL DEFAULT 0 CHECK (overall_m2 >= 0),
    ADD COLUMN cp double precision,
    ADD COLUMN cpk double precision,
    ADD COLUMN pp double precision,
    ADD COLUMN ppk double precision,
    ADD COLUMN cpm double precision;
