-- Starter quality configuration for the simulated line (ct-linesim): specs, SPC charts,
-- reaction plans and lot gate rules. deploy/local.sh applies it once, to an empty
-- configuration, as the `quality` login; a plant writes its own (same tables, same SQL).
--
-- Specs sit at about +-4.5 sigma of the simulator's process (Cpk ~1.5), tighter than the
-- stations' own machine limits, so a drifting process fails specs before the machine notices
-- and shows up in SPC before it fails specs. Rows match by station type and recipe, so they
-- hold for every simulated line (L1-..., L2-...).
BEGIN;

INSERT INTO spec_limit (station_type, recipe, characteristic, lsl, usl, target, uom, on_fail,
                        required) VALUES
    (1, 'SLURRY-NMC811', 'viscosity', 4.0, 7.0, 5.5, 'Pa.s', 2, false),
    (1, 'SLURRY-NMC811', 'solid_content', 67.0, 73.0, 70.0, '%', 2, false),
    (1, 'SLURRY-GRAPHITE', 'viscosity', 3.0, 5.4, 4.2, 'Pa.s', 2, false),
    (2, 'COAT-NMC811-20', 'areal_loading', 19.7, 20.3, 20.0, 'mg/cm2', 2, true),
    (2, 'COAT-GRAPHITE-11', 'areal_loading', 10.835, 11.165, 11.0, 'mg/cm2', 2, true),
    (3, 'CAL-NMC811-3.4', 'thickness', 127.3, 131.9, 129.6, 'um', 3, false),
    (3, 'CAL-GRAPHITE-1.6', 'thickness', 143.2, 147.8, 145.5, 'um', 3, false),
    (4, '*', 'burr_height', NULL, 8.0, NULL, 'um', 3, false),
    (6, '*', 'anode_overhang', 0.65, 1.35, 1.0, 'mm', 4, false),
    (8, '*', 'weld_resistance', NULL, 0.19, NULL, 'mOhm', 4, false),
    (8, '*', 'peel_strength', 19.0, NULL, NULL, 'N', 4, false),
    (8, '*', 'vision_score', 0.93, NULL, NULL, '1', 2, false),
    (10, '*', 'fill_mass', 4.955, 5.045, 5.00, 'g', 2, true),
    (11, '*', 'pressure_decay', NULL, 25.0, NULL, 'Pa/min', 4, false),
    (12, '*', 'formation_capacity', 4.89, NULL, 5.00, 'Ah', 4, false),
    (14, '*', 'capacity', 4.90, NULL, 4.95, 'Ah', 4, true),
    (14, '*', 'dcir', NULL, 20.5, 18.0, 'mOhm', 4, true),
    (14, '*', 'ocv', 3.595, 3.604, 3.5995, 'V', 2, false),
    (15, '*', 'vision_score', 0.955, NULL, NULL, '1', 2, false);

-- Reaction plans.
INSERT INTO reaction_plan_step (plan_id, step, action, parameter, gain, max_step, min_value,
                                max_value, target_value, uom, reason_code, severity,
                                cooldown_s, min_signals) VALUES
    -- Loading follows the slot-die gap (~7.5 um of gap per mg/cm2 on the cathode): close it
    -- against the drift, at most 2 um per coil, never outside 130..160 um (the die's range;
    -- a fully crept die, 12 % open, needs about 134 um).
    ('coater-gap-c', 1, 'adjust', 'slot_die_gap', 7.5, 2.0, 130.0, 160.0, NULL, 'um',
     'SPC_COATING_LOADING_DRIFT', 3, 0, 1),
    ('coater-gap-a', 1, 'adjust', 'slot_die_gap', 11.8, 2.0, 112.0, 140.0, NULL, 'um',
     'SPC_COATING_LOADING_DRIFT', 3, 0, 1),
    -- A miscalibrated fill nozzle (fills alternating over / under: Nelson 4): slow the
    -- filler once the pattern has held for 10 more points without a break (14 alternating
    -- points happen by chance about once in 100-200 fills; 23 about once in a million;
    -- chance runs do not add up, spc-gate counts only signals on nearly consecutive
    -- points), stop it if it goes on.
    ('fill-nozzle', 1, 'slow', NULL, NULL, NULL, NULL, NULL, 60.0, '%',
     'SPC_FILL_NOZZLE_MISCALIBRATION', 4, 30, 10),
    ('fill-nozzle', 2, 'stop', NULL, NULL, NULL, NULL, NULL, NULL, '',
     'SPC_FILL_NOZZLE_MISCALIBRATION', 5, 30, 30),
    -- Weld quality (vision score) dropping: slow the welder, then stop it.
    ('weld-vision', 1, 'slow', NULL, NULL, NULL, NULL, NULL, 70.0, '%',
     'SPC_WELD_VISION_DROP', 3, 60, 5),
    ('weld-vision', 2, 'stop', NULL, NULL, NULL, NULL, NULL, NULL, '',
     'SPC_WELD_VISION_DROP', 4, 60, 20);

-- Charts. Fixed limits come from process qualification (centre and sigma of one value);
-- baseline charts learn theirs from the first points they see.
INSERT INTO spc_chart (chart_id, station_type, recipe, characteristic, kind, subgroup_size,
                       ewma_lambda, ewma_l, cusum_k, cusum_h, rules, baseline_points, centre,
                       sigma, reaction_plan) VALUES
    ('coat-c-loading', 2, 'COAT-NMC811-20', 'areal_loading', 'ewma', 1, 0.2, 3.0, NULL, NULL,
     '', NULL, 20.0, 0.075, 'coater-gap-c'),
    ('coat-a-loading', 2, 'COAT-GRAPHITE-11', 'areal_loading', 'ewma', 1, 0.2, 3.0, NULL, NULL,
     '', NULL, 11.0, 0.041, 'coater-gap-a'),
    -- Fill mass: the general chart alerts; the nozzle pattern (Nelson 4) has its own chart
    -- and reaction plan, so only that pattern moves the filler.
    ('fill-mass', 10, '*', 'fill_mass', 'imr', 1, NULL, NULL, NULL, NULL, 'N1,N2,N3,SEC', NULL,
     5.00, 0.010, NULL),
    ('fill-nozzle', 10, '*', 'fill_mass', 'imr', 1, NULL, NULL, NULL, NULL, 'N4', NULL, 5.00,
     0.010, 'fill-nozzle'),
    -- The weld vision score is bounded at 1 and skewed, so Shewhart run rules on single
    -- welds raise false alarms; sonotrode wear is a slow drift of its mean, which an EWMA
    -- follows without reacting to single points. A chart on every weld sees a shift's worth
    -- of points in hours, so its false-alarm rate matters more than on hourly samples: with
    -- lambda 0.1 and known parameters, 400,000 normal points (ct-spc-analyze) gave a pattern
    -- of 5 or more signals (this plan's SLOW) 50 times at L = 3 (one per 8,000 welds), twice
    -- at L = 3.5; sonotrode wear moves the mean by about 1.4 sigma, 6 EWMA sigmas. Limits
    -- from the first 500 welds: with 100, MR-bar/d2 came out 19 % below the true sigma on
    -- the healthy simulated line (0.0057 against 0.0070) and the chart stopped the welder.
    ('weld-vision', 8, '*', 'vision_score', 'ewma', 1, 0.1, 3.5, NULL, NULL, '', 500, NULL,
     NULL, 'weld-vision'),
    ('seal-decay', 11, '*', 'pressure_decay', 'cusum', 1, NULL, NULL, 0.5, 5.0, '', 50, NULL,
     NULL, NULL),
    ('eol-dcir', 14, '*', 'dcir', 'xbar_r', 5, NULL, NULL, NULL, NULL, 'WE1,WE2,WE3,WE4,SEC',
     25, NULL, NULL, NULL),
    ('eol-capacity', 14, '*', 'capacity', 'xbar_s', 5, NULL, NULL, NULL, NULL, 'WE1,SEC', 25,
     NULL, NULL, NULL),
    ('vis-nonconforming', 15, '*', '_nonconforming', 'p', 50, NULL, NULL, NULL, NULL, 'WE1',
     20, NULL, NULL, NULL),
    ('form-t2', 12, '*', 'formation_capacity,coulombic_efficiency,gas_volume', 't2', 1, NULL,
     NULL, NULL, NULL, '', 60, NULL, NULL, NULL),
    -- Every formation voltage curve against the envelope of the first 30 (golden) curves.
    ('form-voltage', 12, '*', 'formation_voltage', 'profile', 1, NULL, NULL, NULL, NULL, '', 30,
     NULL, NULL, NULL);

-- Formation curves of healthy cells vary from cell to cell more than 30 golden curves
-- show: on the healthy simulated line, the default thresholds (band 3 sd, RMS 2.5, 10 % of
-- the points outside, one beyond 6) flagged 79 of 2,929 curves (2.7 %), RMS up to 3.5;
-- these flagged 5 of 3,714 (0.13 %). Alerts only, no reaction plan.
UPDATE spc_chart SET profile_z = 4.0, profile_max_rms = 4.0, profile_max_outside = 0.25,
                     profile_max_abs = 8.0
    WHERE chart_id = 'form-voltage';

-- Lot gates.
INSERT INTO lot_gate_rule (rule_id, station_type, characteristic, mode, fail_rate, min_units,
                           lot_scope, hold_state) VALUES
    -- A coil coated out of spec is held, and with it every cell wound from it.
    ('coat-loading', 2, 'areal_loading', 'any_fail', NULL, 1, 'self', 2),
    -- 5 % of the cells filled from one electrolyte lot failing fill mass holds the lot.
    ('fill-mass-rate', 10, 'fill_mass', 'fail_rate', 0.05, 20, 'materials', 2);

COMMIT;
