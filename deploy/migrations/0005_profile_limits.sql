-- 0005: the thresholds of golden-profile charts become configuration. Until now every
-- profile chart used fixed defaults; a quality engineer now sets them per chart (NULL keeps
-- the default). A curve fails when any of the three is exceeded:
--   profile_z            band half-width in golden standard deviations (default 3)
--   profile_max_rms      RMS of the standardised deviation over the grid (default 2.5)
--   profile_max_abs      largest standardised deviation at one grid point (default 6)
--   profile_max_outside  fraction of the grid points outside the band, 0..1 (default 0.10)
-- They are part of the chart's definition: changing one starts the chart over (new golden
-- curves), like changing any limit. The statement trigger of 0003 reloads spc-gate.
ALTER TABLE spc_chart
    ADD COLUMN profile_z double precision CHECK (profile_z > 0),
    ADD COLUMN profile_max_rms double precision CHECK (profile_max_rms > 0),
    ADD COLUMN profile_max_abs double precision CHECK (profile_max_abs > 0),
    ADD COLUMN profile_max_outside double precision
        CHECK (profile_max_outside >= 0 AND profile_max_outside <= 1),
    ADD CHECK (kind = 'profile' OR (profile_z IS NULL AND profile_max_rms IS NULL
                                    AND profile_max_abs IS NULL AND profile_max_outside IS NULL));
