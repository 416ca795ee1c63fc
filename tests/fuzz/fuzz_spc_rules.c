/* Fuzz target: what spc-gate makes of a row of its database's chart configuration
 * (spc_chart): gate_rules_parse of the rules string, and gate_chart_def_build of the whole
 * row (services/spc-gate/gate_charts.h).
 *
 * Input lines: the kind; the characteristic list (split as gate_db does: on ',' and ' ', at
 * most SPC_T2_MAX_P names); the rules; the numbers "subgroup_size baseline_points centre
 * sigma ewma_lambda ewma_l cusum_k cusum_h" ('-' or nothing: NULL), held to the table's CHECK
 * constraints (subgroup_size >= 1, and <= 25 but for attribute charts; baseline_points >= 2);
 * then values to feed. Checked: the rules parse exactly when every word is a rule code (an
 * independent reading), the bits are the named rules and read back from their codes; a
 * refusal says why and leaves the bits alone; a definition that builds starts an engine
 * (add_instance counts on it) and takes values. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ct_error.h"
#include "fuzz_util.h"
#include "gate_charts.h"
#include "spc.h"
#include "spc_profile.h"
#include "spc_t2.h"

#define FUZZ_MAX_INPUT  (1u << 12)
#define FUZZ_MAX_VALUES 64
#define SEPARATORS      ", "

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The rule a word names, by comparing with every code in any case: independent of
 * spc_rule_from_code's table walk. 0 when none. */
static int rule_of_word(const char *word, size_t len)
{
	for (int rule = 0; rule < 32; rule++) {
		const char *code = spc_rule_code(rule);
		if (code != NULL && strlen(code) == len && strncasecmp(code, word, len) == 0)
			return rule;
	}
	return 0;
}

static void check_rules(const char *text)
{
	const uint32_t untouched = UINT32_C(0xdeadbeef);
	uint32_t bits = untouched, expect = 0, again = untouched;
	bool valid = true;
	char err[256] = "", codes[256] = "";
	size_t used = 0;

	for (const char *p = text + strspn(text, SEPARATORS); *p != '\0';
	     p += strspn(p, SEPARATORS)) {
		size_t len = strcspn(p, SEPARATORS);
		int rule = rule_of_word(p, len);
		if (rule == 0)
			valid = false;
		else
			expect |= SPC_RULE_BIT(rule);
		p += len;
	}
	if (gate_rules_parse(text, &bits, err, sizeof(err)) != CT_OK) {
		if (valid || bits != untouched || err[0] == '\0')
			abort();
		return;
	}
	if (!valid || bits != expect)
		abort();
	/* The bits written back as codes ("WE1,N8,SEC") read back to the same bits. */
	for (int rule = 0; rule < 32; rule++) {
		if ((bits & SPC_RULE_BIT(rule)) == 0)
			continue;
		if (!spc_rule_is_selectable(rule) || spc_rule_code(rule) == NULL)
			abort();
		used += (size_t)snprintf(codes + used, sizeof(codes) - used, "%s%s",
		                         used > 0 ? "," : "", spc_rule_code(rule));
		if (used >= sizeof(codes))
			abort();
	}
	if (gate_rules_parse(codes, &again, err, sizeof(err)) != CT_OK || again != bits)
		abort();
}

/* gate_db's split_names: the names on ',' and ' ', false when none, too many or too long. */
static bool split_names(struct gate_chart_def *def, const char *text)
{
	def->n_names = 0;
	for (text += strspn(text, SEPARATORS); *text != '\0'; text += strspn(text, SEPARATORS)) {
		size_t len = strcspn(text, SEPARATORS);
		if (def->n_names == SPC_T2_MAX_P || len >= GATE_NAME_MAX)
			return false;
		memcpy(def->names[def->n_names], text, len);
		def->names[def->n_names++][len] = '\0';
		text += len;
	}
	return def->n_names > 0;
}

/* The next number of a line of them; false for '-' or at the end (a NULL column). */
static bool next_number(char **cursor, double *ret)
{
	char *p = *cursor + strspn(*cursor, " "), *end;
	size_t len = strcspn(p, " ");
	double v;

	*cursor = p + len;
	if (len == 0 || (len == 1 && *p == '-'))
		return false;
	v = strtod(p, &end);
	if (end != p + len)
		return false;
	*ret = v;
	return true;
}

static int clamp_int(double v, int min, int max)
{
	return !(v >= min) ? min : v > max ? max : (int)v;
}

/* A definition that built must start its engine and take values (ignoring refusals). */
static void feed(const struct gate_chart_def *def, const double *values, size_t n)
{
	static struct spc_state state;
	static struct spc_t2_state t2;
	static struct spc_profile_state profile;
	const char *problem = NULL;

	if (def->is_profile) {
		if (spc_profile_init(&profile, &def->profile) != SPC_PROFILE_OK)
			abort();
		return;
	}
	if (def->is_t2) {
		/* gate_chart_def_build refuses what the engine would (a baseline of no more
		 * points than characteristics was once built and then failed every batch). */
		if (spc_t2_init(&t2, &def->t2) != SPC_T2_OK)
			abort();
		for (size_t i = 0; i + (size_t)def->t2.p <= n; i += (size_t)def->t2.p) {
			struct spc_t2_result r;
			(void)spc_t2_add(&t2, values + i, &r);
		}
		return;
	}
	if ((def->spc.rules & ~(SPC_RULES_WESTERN_ELECTRIC | SPC_RULES_NELSON |
	                        SPC_RULE_BIT(SPC_RULE_SECONDARY_LIMIT))) != 0 ||
	    spc_state_init(&state, &def->spc, &problem) != SPC_OK)
		abort();
	for (size_t i = 0; i < n; i++) {
		struct spc_observation ob = {values[i], fabs(values[i]), def->units_per_point};
		struct spc_result r;
		if (spc_chart_kind_is_attribute(def->spc.kind))
			ob.count = floor(fmin(ob.count, ob.size));
		(void)spc_chart_add(&state, &ob, &r);
	}
}

/* A row of spc_chart: built, and when it builds, fed the values of the input's last lines. */
static void check_definition(const char *kind, const char *names, const char *rules, char *numbers,
                             struct fuzz_input *in)
{
	static struct gate_chart_def def;
	double v[8], values[FUZZ_MAX_VALUES];
	bool has[8], attribute;
	size_t n_values = 0;
	char *cursor = numbers, *line, err[256] = "";
	enum spc_chart_kind k;
	int subgroup, baseline;

	memset(&def, 0, sizeof(def));
	snprintf(def.kind_name, sizeof(def.kind_name), "%s", kind);
	if (!split_names(&def, names))
		return;
	for (size_t i = 0; i < 8; i++)
		has[i] = next_number(&cursor, &v[i]);
	while (n_values < FUZZ_MAX_VALUES && (line = fuzz_take_line(in)) != NULL) {
		char *end;
		double x = strtod(line, &end);
		if (end != line && isfinite(x))
			values[n_values++] = x;
		free(line);
	}
	/* The table's CHECKs; a NULL number reads as gate_db's number() gives it: NAN. */
	attribute = spc_chart_kind_from_name(def.kind_name, &k) == SPC_OK &&
	            spc_chart_kind_is_attribute(k);
	subgroup = has[0] ? clamp_int(v[0], 1, attribute ? 1000000 : 25) : 1;
	baseline = has[1] ? clamp_int(v[1], 2, 1000000) : 0;
	for (size_t i = 2; i < 8; i++)
		if (!has[i])
			v[i] = NAN;
	if (!has[1] && !(has[2] && has[3]))
		return; /* CHECK (baseline_points IS NOT NULL OR (centre, sigma NOT NULL)) */
	if (gate_chart_def_build(&def, subgroup, rules, has[1], baseline, has[2], v[2], has[3],
	                         v[3], v[4], v[5], v[6], v[7], err, sizeof(err)) != CT_OK) {
		if (err[0] == '\0')
			abort();
		return;
	}
	feed(&def, values, n_values);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size, 0};
	char *kind, *names, *rules, *numbers, empty[1] = "";

	if (size > FUZZ_MAX_INPUT)
		return 0;
	kind = fuzz_take_line(&in);
	names = fuzz_take_line(&in);
	rules = fuzz_take_line(&in);
	numbers = fuzz_take_line(&in);
	if (rules != NULL) {
		check_rules(rules);
		check_definition(kind, names, rules, numbers != NULL ? numbers : empty, &in);
	}
	free(kind);
	free(names);
	free(rules);
	free(numbers);
	return 0;
}
