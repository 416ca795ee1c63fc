/* linesim_tables: the stations, characteristics, parameters and materials of the simulated line.
 *
 * One row per measured characteristic: name, unit, nominal, noise, and the station's own
 * check limits (a value outside makes the visit NOK). Nominal values follow DOMAIN.md for an
 * NMC811 / graphite 21700 cylindrical cell: cathode loading 20 mg/cm2 +-1.5 % (sigma a quarter
 * of the tolerance, Cpk 1.33), calendered thickness = foil + 2 x loading / density, fill mass
 * 5.00 g. The anode is sized for an N/P ratio of about 1.1, so its loading (11 mg/cm2) and
 * density (1.6 g/cm3) sit below DOMAIN's cathode figures. Station limits are hard machine
 * limits, wider than the spec limits spc-gate judges with, so drifts show up in SPC first.
 * Only data lives here; physics and faults are applied by index in the station code. */
#include <math.h>

#include "linesim_internal.h"

#define N_(a) (sizeof(a) / sizeof((a)[0]))
#define INF   INFINITY
#define ST(e) CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_##e

/* Slurry mixing. */
static const struct ls_char mix_c_chars[MIX_NC] = {
        [MIX_VISCOSITY] = {"viscosity", "Pa.s", 5.5, 0.35, 3.0, 8.0, LS_NORMAL},
        [MIX_SOLID] = {"solid_content", "%", 70.0, 0.7, 60.0, 75.0, LS_NORMAL},
        [MIX_TEMP] = {"slurry_temperature", "C", 25.0, 0.4, 15.0, 35.0, LS_NORMAL},
        [MIX_DENSITY] = {"slurry_density", "g/cm3", 2.22, 0.01, 2.0, 2.45, LS_NORMAL},
};
static const struct ls_char mix_a_chars[MIX_NC] = {
        [MIX_VISCOSITY] = {"viscosity", "Pa.s", 4.2, 0.30, 3.0, 8.0, LS_NORMAL},
        [MIX_SOLID] = {"solid_content", "%", 65.0, 0.6, 60.0, 75.0, LS_NORMAL},
        [MIX_TEMP] = {"slurry_temperature", "C", 25.0, 0.4, 15.0, 35.0, LS_NORMAL},
        [MIX_DENSITY] = {"slurry_density", "g/cm3", 1.55, 0.01, 1.40, 1.70, LS_NORMAL},
};
static const struct ls_param mix_c_params[MIX_NP] = {
        [MIXP_TIME] = {"mixing_time", "min", 120.0, 0.3},
        [MIXP_SPEED] = {"mixer_speed", "rpm", 1500.0, 4.0},
        [MIXP_VACUUM] = {"vacuum_level", "kPa", 5.0, 0.15},
        [MIXP_JACKET] = {"jacket_temperature", "C", 25.0, 0.2},
};
static const struct ls_param mix_a_params[MIX_NP] = {
        [MIXP_TIME] = {"mixing_time", "min", 90.0, 0.3},
        [MIXP_SPEED] = {"mixer_speed", "rpm", 1200.0, 4.0},
        [MIXP_VACUUM] = {"vacuum_level", "kPa", 5.0, 0.15},
        [MIXP_JACKET] = {"jacket_temperature", "C", 25.0, 0.2},
};

/* Coating and drying; wet and dry thickness scale with the loading actually laid down. */
static const struct ls_char coat_c_chars[COAT_NC] = {
        [COAT_LOADING] = {"areal_loading", "mg/cm2", 20.0, 0.075, 19.0, 21.0, LS_NORMAL},
        [COAT_WET] = {"wet_thickness", "um", 128.7, 1.0, 100.0, 160.0, LS_NORMAL},
        [COAT_DRY] = {"dry_thickness", "um", 80.0, 0.6, 65.0, 95.0, LS_NORMAL},
        [COAT_NMP] = {"residual_nmp", "ppm", 250.0, 40.0, 0.0, 1000.0, LS_NORMAL},
};
static const struct ls_char coat_a_chars[COAT_NC] = {
        [COAT_LOADING] = {"areal_loading", "mg/cm2", 11.0, 0.041, 10.45, 11.55, LS_NORMAL},
        [COAT_WET] = {"wet_thickness", "um", 109.2, 0.9, 85.0, 135.0, LS_NORMAL},
        [COAT_DRY] = {"dry_thickness", "um", 100.0, 0.7, 85.0, 115.0, LS_NORMAL},
        [COAT_NMP] = {"residual_nmp", "ppm", 250.0, 40.0, 0.0, 1000.0, LS_NORMAL},
};
static const struct ls_param coat_c_params[COAT_NP] = {
        [COATP_SPEED] = {"line_speed", "m/min", 40.0, 0.15},
        [COATP_GAP] = {"slot_die_gap", "um", 150.0, 0.4},
        [COATP_Z1] = {"dryer_zone1_temperature", "C", 90.0, 0.4},
        [COATP_Z2] = {"dryer_zone2_temperature", "C", 110.0, 0.4},
        [COATP_Z3] = {"dryer_zone3_temperature", "C", 130.0, 0.4},
        [COATP_Z4] = {"dryer_zone4_temperature", "C", 120.0, 0.4},
        [COATP_TENSION] = {"web_tension", "N", 150.0, 1.5},
};
static const struct ls_param coat_a_params[COAT_NP] = {
        [COATP_SPEED] = {"line_speed", "m/min", 45.0, 0.15},
        [COATP_GAP] = {"slot_die_gap", "um", 130.0, 0.4},
        [COATP_Z1] = {"dryer_zone1_temperature", "C", 85.0, 0.4},
        [COATP_Z2] = {"dryer_zone2_temperature", "C", 100.0, 0.4},
        [COATP_Z3] = {"dryer_zone3_temperature", "C", 120.0, 0.4},
        [COATP_Z4] = {"dryer_zone4_temperature", "C", 110.0, 0.4},
        [COATP_TENSION] = {"web_tension", "N", 120.0, 1.5},
};

/* Calendering: thickness is drawn, density derived from loading and thickness. */
static const struct ls_char cal_c_chars[CAL_NC] = {
        [CAL_THICKNESS] = {"thickness", "um", 129.6, 0.5, 125.6, 133.6, LS_NORMAL},
        [CAL_DENSITY] = {"density", "g/cm3", 3.40, 0.0, 3.2, 3.6, LS_DERIVED},
};
static const struct ls_char cal_a_chars[CAL_NC] = {
        [CAL_THICKNESS] = {"thickness", "um", 145.5, 0.5, 141.5, 149.5, LS_NORMAL},
        [CAL_DENSITY] = {"density", "g/cm3", 1.60, 0.0, 1.45, 1.75, LS_DERIVED},
};
static const struct ls_param cal_c_params[CAL_NP] = {
        [CALP_GAP] = {"roll_gap", "um", 105.0, 0.3},
        [CALP_FORCE] = {"roll_force", "kN", 350.0, 2.5},
        [CALP_TEMP] = {"roll_temperature", "C", 80.0, 0.4},
        [CALP_SPEED] = {"line_speed", "m/min", 30.0, 0.15},
};
static const struct ls_param cal_a_params[CAL_NP] = {
        [CALP_GAP] = {"roll_gap", "um", 120.0, 0.3},
        [CALP_FORCE] = {"roll_force", "kN", 250.0, 2.5},
        [CALP_TEMP] = {"roll_temperature", "C", 60.0, 0.4},
        [CALP_SPEED] = {"line_speed", "m/min", 30.0, 0.15},
};

/* Slitting and vacuum drying. */
static const struct ls_char slit_c_chars[SLIT_NC] = {
        [SLIT_WIDTH] = {"width", "mm", 63.0, 0.03, 62.85, 63.15, LS_NORMAL},
        [SLIT_BURR] = {"burr_height", "um", 4.0, 0.7, 0.0, 10.0, LS_NORMAL},
};
static const struct ls_char slit_a_chars[SLIT_NC] = {
        [SLIT_WIDTH] = {"width", "mm", 64.5, 0.03, 64.35, 64.65, LS_NORMAL},
        [SLIT_BURR] = {"burr_height", "um", 4.0, 0.7, 0.0, 10.0, LS_NORMAL},
};
static const struct ls_param slit_params[SLIT_NP] = {
        [SLITP_SPEED] = {"slitting_speed", "m/min", 80.0, 0.3},
        [SLITP_KNIFE] = {"knife_overlap", "mm", 0.50, 0.005},
};
static const struct ls_char vdry_c_chars[VDRY_NC] = {
        [VDRY_MOISTURE] = {"residual_moisture", "ppm", 90.0, 15.0, 0.0, 200.0, LS_NORMAL},
};
static const struct ls_char vdry_a_chars[VDRY_NC] = {
        [VDRY_MOISTURE] = {"residual_moisture", "ppm", 110.0, 15.0, 0.0, 200.0, LS_NORMAL},
};
static const struct ls_param vdry_c_params[VDRY_NP] = {
        [VDRYP_TEMP] = {"drying_temperature", "C", 120.0, 0.4},
        [VDRYP_VACUUM] = {"vacuum_pressure", "Pa", 50.0, 2.0},
        [VDRYP_TIME] = {"drying_time", "h", 12.0, 0.01},
};
static const struct ls_param vdry_a_params[VDRY_NP] = {
        [VDRYP_TEMP] = {"drying_temperature", "C", 130.0, 0.4},
        [VDRYP_VACUUM] = {"vacuum_pressure", "Pa", 50.0, 2.0},
        [VDRYP_TIME] = {"drying_time", "h", 10.0, 0.01},
};

/* Cell assembly (dry room). */
static const struct ls_char wind_chars[WIND_NC] = {
        [WIND_OVERHANG] = {"anode_overhang", "mm", 1.0, 0.08, 0.5, 1.5, LS_NORMAL},
        [WIND_ALIGN] = {"alignment_offset", "mm", 0.0, 0.06, -0.4, 0.4, LS_NORMAL},
        [WIND_SEPARATOR] = {"separator_overhang", "mm", 2.0, 0.1, 1.2, 2.8, LS_NORMAL},
        [WIND_XRAY] = {"xray_alignment_score", "1", 0.96, 0.01, 0.85, 1.0, LS_SCORE},
};
static const struct ls_param wind_params[WIND_NP] = {
        [WINDP_TENSION] = {"winding_tension", "N", 8.0, 0.06},
        [WINDP_SPEED] = {"winding_speed", "rpm", 600.0, 3.0},
};
/* Ultrasonic tab weld: peak power follows energy over a 35 ms effective weld. */
static const struct ls_char weld_chars[WELD_NC] = {
        [WELD_ENERGY] = {"weld_energy", "J", 60.0, 0.9, 50.0, 75.0, LS_NORMAL},
        [WELD_PEAK] = {"peak_power", "W", 1714.0, 0.0, 1400.0, 2200.0, LS_DERIVED},
        [WELD_RESISTANCE] = {"weld_resistance", "mOhm", 0.15, 0.008, 0.0, 0.5, LS_NORMAL},
        [WELD_PEEL] = {"peel_strength", "N", 25.0, 1.2, 10.0, INF, LS_NORMAL},
        [WELD_VISION] = {"vision_score", "1", 0.97, 0.007, 0.85, 1.0, LS_SCORE},
};
static const struct ls_param weld_params[WELD_NP] = {
        [WELDP_AMPLITUDE] = {"amplitude", "um", 30.0, 0.15},
        [WELDP_FORCE] = {"weld_force", "N", 300.0, 2.0},
        [WELDP_TIME] = {"weld_time", "ms", 40.0, 0.1},
};
static const struct ls_char ins_chars[INS_NC] = {
        [INS_RESISTANCE] = {"insulation_resistance", "MOhm", 800.0, 0.25, 100.0, INF, LS_LOGNORMAL},
        [INS_LEAKAGE] = {"hipot_leakage", "uA", 4.0, 0.6, 0.0, 20.0, LS_NORMAL},
};
static const struct ls_param ins_params[INS_NP] = {
        [INSP_VOLTAGE] = {"test_voltage", "V", 300.0, 0.4},
        [INSP_DWELL] = {"dwell_time", "s", 2.0, 0.005},
};
static const struct ls_char fill_chars[FILL_NC] = {
        [FILL_MASS] = {"fill_mass", "g", 5.00, 0.010, 4.90, 5.10, LS_NORMAL},
};
static const struct ls_param fill_params[FILL_NP] = {
        [FILLP_VACUUM] = {"vacuum_level", "kPa", 5.0, 0.1},
        [FILLP_NOZZLE] = {"nozzle_pressure", "bar", 2.5, 0.01},
        [FILLP_WETTING] = {"wetting_time", "s", 900.0, 1.5},
};
static const struct ls_char seal_chars[SEAL_NC] = {
        [SEAL_DECAY] = {"pressure_decay", "Pa/min", 12.0, 2.2, 0.0, 40.0, LS_NORMAL},
        [SEAL_THICKNESS] = {"seal_thickness", "um", 250.0, 3.0, 235.0, 265.0, LS_NORMAL},
};
static const struct ls_param seal_params[SEAL_NP] = {
        [SEALP_CRIMP] = {"crimp_force", "kN", 12.0, 0.06},
        [SEALP_PRESSURE] = {"test_pressure", "kPa", 300.0, 0.5},
        [SEALP_TIME] = {"test_time", "s", 60.0, 0.05},
};

/* Formation, aging, end of line, vision. */
static const struct ls_char form_chars[FORM_NC] = {
        [FORM_CAPACITY] = {"formation_capacity", "Ah", 5.00, 0.025, 4.80, INF, LS_NORMAL},
        [FORM_CE] = {"coulombic_efficiency", "%", 88.5, 0.35, 80.0, 100.0, LS_NORMAL},
        [FORM_GAS] = {"gas_volume", "ml", 0.80, 0.06, 0.0, 2.0, LS_NORMAL},
};
static const struct ls_param form_params[FORM_NP] = {
        [FORMP_CURRENT] = {"charge_current", "A", 0.5, 0.001},
        [FORMP_CUTOFF] = {"cutoff_voltage", "V", 4.2, 0.0005},
        [FORMP_TEMP] = {"formation_temperature", "C", 45.0, 0.2},
};
static const struct ls_char age_chars[AGE_NC] = {
        [AGE_OCV] = {"ocv", "V", 3.600, 0.003, 3.55, 3.65, LS_NORMAL},
        [AGE_K] = {"self_discharge_k", "mV/day", 0.45, 0.07, 0.0, 1.5, LS_NORMAL},
};
static const struct ls_param age_params[AGE_NP] = {
        [AGEP_TIME] = {"aging_time", "h", 168.0, 0.05},
        [AGEP_TEMP] = {"aging_temperature", "C", 45.0, 0.2},
};
static const struct ls_char eol_chars[EOL_NC] = {
        [EOL_CAPACITY] = {"capacity", "Ah", 4.95, 0.01, 4.80, INF, LS_NORMAL},
        [EOL_DCIR] = {"dcir", "mOhm", 18.0, 0.5, 0.0, 25.0, LS_NORMAL},
        [EOL_ACIR] = {"acir", "mOhm", 11.0, 0.25, 0.0, 16.0, LS_NORMAL},
        [EOL_OCV] = {"ocv", "V", 3.5995, 0.001, 3.5, 3.7, LS_NORMAL},
        [EOL_WEIGHT] = {"weight", "g", 68.5, 0.12, 67.5, 69.5, LS_NORMAL},
        [EOL_HEIGHT] = {"height", "mm", 70.2, 0.03, 70.0, 70.4, LS_NORMAL},
        [EOL_DIAMETER] = {"diameter", "mm", 21.10, 0.015, 21.0, 21.2, LS_NORMAL},
};
static const struct ls_param eol_params[EOL_NP] = {
        [EOLP_CURRENT] = {"test_current", "A", 5.0, 0.005},
        [EOLP_TEMP] = {"test_temperature", "C", 25.0, 0.15},
};
static const struct ls_char vis_chars[VIS_NC] = {
        [VIS_DEFECT] = {"surface_defect_score", "1", 0.02, 0.006, 0.0, 0.1, LS_SCORE},
        [VIS_LABEL] = {"label_offset", "mm", 0.0, 0.1, -0.6, 0.6, LS_NORMAL},
        [VIS_SCORE] = {"vision_score", "1", 0.98, 0.005, 0.9, 1.0, LS_SCORE},
};
static const struct ls_param vis_params[VIS_NP] = {
        [VISP_EXPOSURE] = {"exposure_time", "ms", 2.0, 0.005},
        [VISP_SPEED] = {"conveyor_speed", "m/min", 30.0, 0.1},
};

/* Module and pack assembly: voltages and resistances add up the parts (cells in series). */
static const struct ls_char mod_chars[MOD_NC] = {
        [MOD_VOLTAGE] = {"module_voltage", "V", 0.0, 0.0, 0.0, INF, LS_DERIVED},
        [MOD_RESISTANCE] = {"module_resistance", "mOhm", 0.0, 0.0, 0.0, INF, LS_DERIVED},
        [MOD_INSULATION] = {"insulation_resistance", "MOhm", 2000.0, 0.2, 500.0, INF, LS_LOGNORMAL},
};
static const struct ls_param mod_params[MOD_NP] = {
        [MODP_WELD] = {"busbar_weld_energy", "J", 35.0, 0.25},
        [MODP_GLUE] = {"glue_mass", "g", 12.0, 0.08},
};
static const struct ls_char pack_chars[PACK_NC] = {
        [PACK_VOLTAGE] = {"pack_voltage", "V", 0.0, 0.0, 0.0, INF, LS_DERIVED},
        [PACK_INSULATION] = {"insulation_resistance", "MOhm", 1500.0, 0.2, 500.0, INF,
                             LS_LOGNORMAL},
        [PACK_WEIGHT] = {"pack_weight", "kg", 0.0, 0.0, 0.0, INF, LS_DERIVED},
};
static const struct ls_param pack_params[PACK_NP] = {
        [PACKP_TORQUE] = {"bolt_torque", "Nm", 8.0, 0.04},
        [PACKP_LEAK] = {"coolant_test_pressure", "kPa", 200.0, 0.3},
};

#define TABLES(c, p) c, N_(c), p, N_(p)
#define RECIPE(r, v) r, v
const struct ls_station ls_stations[LS_N_STATIONS] = {
        [LS_MIX_C] = {"MIX-C01", ST(MIXING), RECIPE("SLURRY-NMC811", 3), KIND_BATCH, false,
                      LS_AREA_ELECTRODE, "SLURRY_OUT_OF_SPEC", TABLES(mix_c_chars, mix_c_params)},
        [LS_COAT_C] = {"COAT-C01", ST(COATING), RECIPE("COAT-NMC811-20", 7), KIND_ELECTRODE, false,
                       LS_AREA_ELECTRODE, "LOADING_OUT_OF_SPEC",
                       TABLES(coat_c_chars, coat_c_params)},
        [LS_CAL_C] = {"CAL-C01", ST(CALENDERING), RECIPE("CAL-NMC811-3.4", 4), KIND_ELECTRODE,
                      false, LS_AREA_ELECTRODE, "CALENDER_OUT_OF_SPEC",
                      TABLES(cal_c_chars, cal_c_params)},
        [LS_SLIT_C] = {"SLIT-C01", ST(SLITTING), RECIPE("SLIT-63", 2), KIND_ELECTRODE, false,
                       LS_AREA_ELECTRODE, "SLIT_OUT_OF_SPEC", TABLES(slit_c_chars, slit_params)},
        [LS_VDRY_C] = {"VDRY-C01", ST(VACUUM_DRYING), RECIPE("VDRY-120C", 2), KIND_ELECTRODE, true,
                       LS_AREA_ELECTRODE, "MOISTURE_HIGH", TABLES(vdry_c_chars, vdry_c_params)},
        [LS_MIX_A] = {"MIX-A01", ST(MIXING), RECIPE("SLURRY-GRAPHITE", 2), KIND_BATCH, false,
                      LS_AREA_ELECTRODE, "SLURRY_OUT_OF_SPEC", TABLES(mix_a_chars, mix_a_params)},
        [LS_COAT_A] = {"COAT-A01", ST(COATING), RECIPE("COAT-GRAPHITE-11", 5), KIND_ELECTRODE,
                       false, LS_AREA_ELECTRODE, "LOADING_OUT_OF_SPEC",
                       TABLES(coat_a_chars, coat_a_params)},
        [LS_CAL_A] = {"CAL-A01", ST(CALENDERING), RECIPE("CAL-GRAPHITE-1.6", 3), KIND_ELECTRODE,
                      false, LS_AREA_ELECTRODE, "CALENDER_OUT_OF_SPEC",
                      TABLES(cal_a_chars, cal_a_params)},
        [LS_SLIT_A] = {"SLIT-A01", ST(SLITTING), RECIPE("SLIT-64.5", 2), KIND_ELECTRODE, false,
                       LS_AREA_ELECTRODE, "SLIT_OUT_OF_SPEC", TABLES(slit_a_chars, slit_params)},
        [LS_VDRY_A] = {"VDRY-A01", ST(VACUUM_DRYING), RECIPE("VDRY-130C", 2), KIND_ELECTRODE, true,
                       LS_AREA_ELECTRODE, "MOISTURE_HIGH", TABLES(vdry_a_chars, vdry_a_params)},
        [LS_WIND] = {"WIND-01", ST(WINDING), RECIPE("WIND-21700", 6), KIND_CELL, true,
                     LS_AREA_ASSEMBLY, "WINDING_MISALIGNED", TABLES(wind_chars, wind_params)},
        [LS_WELD] = {"WELD-01", ST(TAB_WELDING), RECIPE("USW-TAB-60J", 4), KIND_CELL, true,
                     LS_AREA_ASSEMBLY, "WELD_REJECT", TABLES(weld_chars, weld_params)},
        [LS_INS] = {"INS-01", ST(INSULATION_TEST), RECIPE("HIPOT-300V", 2), KIND_CELL, true,
                    LS_AREA_ASSEMBLY, "INSULATION_SHORT", TABLES(ins_chars, ins_params)},
        [LS_FILL] = {"FILL-01", ST(ELECTROLYTE_FILLING), RECIPE("FILL-5.00G", 5), KIND_CELL, true,
                     LS_AREA_ASSEMBLY, "FILL_MASS_REJECT", TABLES(fill_chars, fill_params)},
        [LS_SEAL] = {"SEAL-01", ST(SEALING), RECIPE("CRIMP-LEAK-60S", 3), KIND_CELL, true,
                     LS_AREA_ASSEMBLY, "LEAK_TEST_FAIL", TABLES(seal_chars, seal_params)},
        [LS_FORM] = {"FORM-01", ST(FORMATION), RECIPE("FORM-C10-4.2V", 8), KIND_CELL, false,
                     LS_AREA_NONE, "FORMATION_FAIL", TABLES(form_chars, form_params)},
        [LS_AGE] = {"AGE-01", ST(AGING), RECIPE("AGE-7D-45C", 2), KIND_CELL, false, LS_AREA_NONE,
                    "SELF_DISCHARGE_HIGH", TABLES(age_chars, age_params)},
        [LS_EOL] = {"EOL-01", ST(EOL_TEST), RECIPE("EOL-21700-5AH", 9), KIND_CELL, false,
                    LS_AREA_TEST, "EOL_REJECT", TABLES(eol_chars, eol_params)},
        [LS_VIS] = {"VIS-01", ST(VISION), RECIPE("VIS-21700", 3), KIND_CELL, false, LS_AREA_TEST,
                    "VISION_REJECT", TABLES(vis_chars, vis_params)},
        [LS_MOD] = {"MOD-01", ST(MODULE_ASSEMBLY), RECIPE("MOD-12S1P", 2), KIND_MODULE, false,
                    LS_AREA_PACK, "MODULE_TEST_FAIL", TABLES(mod_chars, mod_params)},
        [LS_PACK] = {"PACK-01", ST(PACK_ASSEMBLY), RECIPE("PACK-4M", 1), KIND_PACK, false,
                     LS_AREA_PACK, "PACK_TEST_FAIL", TABLES(pack_chars, pack_params)},
};

const struct ls_material_def ls_materials[LS_N_MATERIALS] = {
        [LS_MAT_NMC811] = {"NMC811", "NMC811", "kg", 1000.0},
        [LS_MAT_GRAPHITE] = {"graphite", "GRAPH", "kg", 1000.0},
        [LS_MAT_PVDF] = {"PVDF", "PVDF", "kg", 50.0},
        [LS_MAT_CARBON_BLACK] = {"carbon_black", "CB", "kg", 50.0},
        [LS_MAT_NMP] = {"NMP", "NMP", "kg", 1000.0},
        [LS_MAT_AL_FOIL] = {"Al_foil", "ALF", "m", 3000.0},
        [LS_MAT_CU_FOIL] = {"Cu_foil", "CUF", "m", 3000.0},
        [LS_MAT_SEPARATOR] = {"separator", "SEP", "m", 1000.0},
        [LS_MAT_ELECTROLYTE] = {"electrolyte_LiPF6", "ELY", "g", 20000.0},
};

/* Batch sizes give LS_COILS_PER_BATCH coils of LS_COIL_M; cells wind 0.85 m of cathode and
 * 0.90 m of anode (the anode overhangs the cathode). */
const struct ls_electrode_def ls_electrodes[2] = {
        [LS_CATHODE] = {"CATH", "BATC", LS_MAT_NMC811, LS_MAT_AL_FOIL, 350.0, 0.70, 0.96, 0.02,
                        12.0, 0.85},
        [LS_ANODE] = {"ANOD", "BATA", LS_MAT_GRAPHITE, LS_MAT_CU_FOIL, 300.0, 0.65, 0.95, 0.03, 8.0,
                      0.90},
};

/* The second variant of the cell (station states' changeovers): a high-energy 21700 on the
 * same line, each cell station with its own recipe of the same name and suffix "-HE". The
 * values the stations report stay the tables' (the variants differ in what the simulator does
 * not model: winding count, electrolyte formulation, formation protocol). */
const struct ls_recipe ls_recipes_he[LS_VIS - LS_WIND + 1] = {
        {"WIND-21700-HE", 1}, {"USW-TAB-60J-HE", 1},    {"HIPOT-300V-HE", 1},
        {"FILL-5.00G-HE", 1}, {"CRIMP-LEAK-60S-HE", 1}, {"FORM-C10-4.2V-HE", 1},
        {"AGE-7D-45C-HE", 1}, {"EOL-21700-5AH-HE", 1},  {"VIS-21700-HE", 1},
};
