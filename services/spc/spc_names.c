/* spc_names: the names of chart kinds and rules, once for the library and its users.
 *
 * Two spellings of a rule exist on purpose: the reported name ("we1", "nelson7", in JSON,
 * alerts and spc_signal.rule) and the configuration code ("WE1", "N7", in spc_chart.rules,
 * read in any case). Both come from the one table below, indexed by the stable enum numbers,
 * so a rule cannot be named one way here and another way elsewhere. */
#include "spc.h"

#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	const char *code; /* NULL: not selectable (a chart signal) */
} rules[] = {
        [SPC_RULE_WE1] = {"we1", "WE1"},
        [SPC_RULE_WE2] = {"we2", "WE2"},
        [SPC_RULE_WE3] = {"we3", "WE3"},
        [SPC_RULE_WE4] = {"we4", "WE4"},
        [SPC_RULE_NELSON1] = {"nelson1", "N1"},
        [SPC_RULE_NELSON2] = {"nelson2", "N2"},
        [SPC_RULE_NELSON3] = {"nelson3", "N3"},
        [SPC_RULE_NELSON4] = {"nelson4", "N4"},
        [SPC_RULE_NELSON5] = {"nelson5", "N5"},
        [SPC_RULE_NELSON6] = {"nelson6", "N6"},
        [SPC_RULE_NELSON7] = {"nelson7", "N7"},
        [SPC_RULE_NELSON8] = {"nelson8", "N8"},
        [SPC_RULE_SECONDARY_LIMIT] = {"secondary", "SEC"},
        [SPC_RULE_EWMA_LIMIT] = {"ewma", NULL},
        [SPC_RULE_CUSUM_UPPER] = {"cusum_upper", NULL},
        [SPC_RULE_CUSUM_LOWER] = {"cusum_lower", NULL},
};

#define N_RULES (sizeof(rules) / sizeof(rules[0]))

static const struct {
	const char *name;
	bool attribute;
	bool secondary; /* has an MR, R or S chart */
} kinds[] = {
        [SPC_CHART_IMR] = {"imr", false, true},       [SPC_CHART_XBAR_R] = {"xbar_r", false, true},
        [SPC_CHART_XBAR_S] = {"xbar_s", false, true}, [SPC_CHART_P] = {"p", true, false},
        [SPC_CHART_NP] = {"np", true, false},         [SPC_CHART_C] = {"c", true, false},
        [SPC_CHART_U] = {"u", true, false},           [SPC_CHART_EWMA] = {"ewma", false, false},
        [SPC_CHART_CUSUM] = {"cusum", false, false},
};

#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

static bool kind_is_known(int kind)
{
	return kind >= SPC_CHART_IMR && (size_t)kind < N_KINDS;
}

const char *spc_chart_kind_name(int kind)
{
	return kind_is_known(kind) ? kinds[kind].name : "unknown";
}

int spc_chart_kind_from_name(const char *name, enum spc_chart_kind *ret_kind)
{
	if (name == NULL)
		return SPC_ERR_INVALID;
	for (int kind = SPC_CHART_IMR; (size_t)kind < N_KINDS; kind++) {
		if (strcmp(kinds[kind].name, name) == 0) {
			*ret_kind = (enum spc_chart_kind)kind;
			return SPC_OK;
		}
	}
	return SPC_ERR_INVALID;
}

bool spc_chart_kind_is_attribute(int kind)
{
	return kind_is_known(kind) && kinds[kind].attribute;
}

uint32_t spc_chart_default_rules(int kind)
{
	if (!kind_is_known(kind) || kind == SPC_CHART_EWMA || kind == SPC_CHART_CUSUM)
		return 0;
	return SPC_RULE_BIT(SPC_RULE_WE1) |
	       (kinds[kind].secondary ? SPC_RULE_BIT(SPC_RULE_SECONDARY_LIMIT) : 0);
}

const char *spc_rule_name(int rule)
{
	if (rule < SPC_RULE_WE1 || (size_t)rule >= N_RULES)
		return "unknown";
	return rules[rule].name;
}

int spc_rule_from_name(const char *name, size_t len, enum spc_rule *ret_rule)
{
	if (name == NULL)
		return SPC_ERR_INVALID;
	for (int rule = SPC_RULE_WE1; (size_t)rule < N_RULES; rule++) {
		if (strlen(rules[rule].name) == len && memcmp(rules[rule].name, name, len) == 0) {
			*ret_rule = (enum spc_rule)rule;
			return SPC_OK;
		}
	}
	return SPC_ERR_INVALID;
}

bool spc_rule_is_selectable(int rule)
{
	return rule >= SPC_RULE_WE1 && (size_t)rule < N_RULES && rules[rule].code != NULL;
}

const char *spc_rule_code(int rule)
{
	return spc_rule_is_selectable(rule) ? rules[rule].code : NULL;
}

int spc_rule_from_code(const char *code, size_t len, enum spc_rule *ret_rule)
{
	if (code == NULL)
		return SPC_ERR_INVALID;
	for (int rule = SPC_RULE_WE1; (size_t)rule < N_RULES; rule++) {
		const char *c = rules[rule].code;
		if (c != NULL && strlen(c) == len && strncasecmp(c, code, len) == 0) {
			*ret_rule = (enum spc_rule)rule;
			return SPC_OK;
		}
	}
	return SPC_ERR_INVALID;
}
