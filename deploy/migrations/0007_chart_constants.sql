-- 0007: which control chart constants a chart uses, per chart. Until now every chart used the
-- exact constants (d2, d3 integrated to 6 decimals, c4 from the gamma function); a quality
-- engineer may now choose the printed table of Montgomery, Introduction to Statistical
-- Quality Control, Appendix VI / ASTM E2587 (d2 = 1.128, A2 = 0.577, D4 = 2.114, ...), so the
-- limits match a textbook computation digit for digit (services/spc/README.md, "Constants"):
--   constants  'exact' (default: what every chart did before) or 'table'
-- t2 and profile charts use no such constants and ignore the column. It is part of the
-- chart's definition: changing it starts the chart over, like changing any limit ('exact'
-- leaves the configuration hash of existing charts unchanged, so their state is kept). The
-- statement trigger of 0003 reloads spc-gate.
ALTER TABLE spc_chart
    ADD COLUMN constants text NOT NULL DEFAULT 'exact' CHECK (constants IN ('exact', 'table'));

-- From this version spc_chart_state.cpm holds Cpm as Montgomery defines it (eq. 8.21: the
-- within sigma, from the chart, and the target), no longer the overall-sigma value (that is
-- Ppm, reported by ct-spc-analyze); the comment in 0006 predates the change.
COMMENT ON COLUMN spc_chart_state.cpm IS
    'Cpm: (USL - LSL) / (6 sqrt(sigma_within^2 + (mean - T)^2)); NULL when undefined';
