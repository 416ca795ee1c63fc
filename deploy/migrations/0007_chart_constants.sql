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
