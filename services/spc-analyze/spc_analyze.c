/* ct-spc-analyze: offline control chart analysis of a CSV file, printed as JSON.
 *
 * The command is a thin shell around the streaming engine (services/spc, spc.h), so offline
 * results are the live service's results: with phase I limits it runs the engine twice, once
 * over the chosen phase I points (less those named by --exclude: a revised chart) to freeze
 * the centre and sigma, then over every point with those values as fixed parameters
 * (retrospective phase I analysis judges the baseline and excluded points too). Options are
 * ct_config keys (--key=value or --key value, CT_<KEY> in the environment, a --config file,
 * --help). All input problems are reported on stderr naming the row or option, with exit
 * code 2; 1 means the command itself failed (memory, output). The file is read by analyze_csv
 * (a library that returns its errors; the fuzz target runs it too) and the JSON written as it
 * is made (analyze.h, doc_writer), so memory follows the table, not the output. */
#include "spc.h"
#include "analyze.h"
#include "analyze_csv.h"
#include "spc_t2.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_config.h"
#include "ct_error.h"

/* A library default (a number literal) as the text of a config default. */
#define TEXT(x)       TEXT_CHARS(x)
#define TEXT_CHARS(x) #x

extern char **environ;

/* The keys as ct_config fills them. Numbers that may be left out (centre, limits, the
 * specification, subgroup size) are strings: ct_config has no "unset" for a number, and
 * whether they were given decides what the command does. */
struct config {
	char *chart;
	char *input;
	char *column;
	char *subgroup_column;
	char *size_column;
	char *subgroup_size;
	double sample_size;
	double lambda, width, k, h;
	bool steady_state;
	char *rules;
	char *phase1;
	char *centre, *sigma, *lcl, *cl, *ucl;
	char *lsl, *usl, *target;
	char *sigma_estimator;
	char *constants;
	char *exclude;
	char *columns, *alpha, *mean_vector, *covariance, *baseline_count; /* chart t2 */
};

#define KEY(name, type, field, def, help)                                                          \
	{                                                                                          \
		name, type, offsetof(struct config, field), def, -INFINITY, INFINITY, help         \
	}

static const struct ct_config_key keys[] = {
        KEY("chart", CT_CONF_STRING, chart, NULL,
            SPC_CHART_KIND_LIST "|" SPC_T2_KIND_NAME " (required)"),
        KEY("input", CT_CONF_STRING, input, NULL, "CSV file (required)"),
        KEY("column", CT_CONF_STRING, column, "1",
            "value (or count) column, by header name or 1-based index"),
        KEY("subgroup-column", CT_CONF_STRING, subgroup_column, NULL,
            "consecutive rows with the same id form a subgroup"),
        KEY("size-column", CT_CONF_STRING, size_column, NULL, "sample size column (p, np, u)"),
        KEY("sample-size", CT_CONF_DOUBLE, sample_size, "0",
            "constant sample size instead of a size column (0: none)"),
        KEY("subgroup-size", CT_CONF_STRING, subgroup_size, NULL,
            "rows per subgroup (xbar_r, xbar_s; ewma, cusum: 1..25)"),
        KEY("lambda", CT_CONF_DOUBLE, lambda, TEXT(SPC_DEFAULT_EWMA_LAMBDA), "EWMA weight"),
        KEY("L", CT_CONF_DOUBLE, width, TEXT(SPC_DEFAULT_EWMA_WIDTH), "EWMA limit width"),
        KEY("steady-state", CT_CONF_BOOL, steady_state, "false",
            "EWMA asymptotic limits instead of time-varying ones"),
        KEY("k", CT_CONF_DOUBLE, k, TEXT(SPC_DEFAULT_CUSUM_K), "CUSUM reference value (sigmas)"),
        KEY("h", CT_CONF_DOUBLE, h, TEXT(SPC_DEFAULT_CUSUM_H), "CUSUM decision interval (sigmas)"),
        KEY("rules", CT_CONF_STRING, rules, NULL,
            "we, nelson, we1..we4, nelson1..nelson8, secondary, none (default: we1, and "
            "secondary for imr/xbar_r/xbar_s; none for ewma/cusum)"),
        KEY("phase1", CT_CONF_STRING, phase1, NULL,
            "estimate the limits from points A:B (default: all)"),
        KEY("centre", CT_CONF_STRING, centre, NULL,
            "fixed process centre (attribute charts: the p, c or u rate)"),
        KEY("sigma", CT_CONF_STRING, sigma, NULL, "fixed sigma of one observation"),
        KEY("lcl", CT_CONF_STRING, lcl, NULL, "fixed explicit lower control limit"),
        KEY("cl", CT_CONF_STRING, cl, NULL, "fixed explicit centre line"),
        KEY("ucl", CT_CONF_STRING, ucl, NULL, "fixed explicit upper control limit"),
        KEY("lsl", CT_CONF_STRING, lsl, NULL, "lower specification limit (capability)"),
        KEY("usl", CT_CONF_STRING, usl, NULL, "upper specification limit (capability)"),
        KEY("target", CT_CONF_STRING, target, NULL, "target (capability; default: mid-spec)"),
        KEY("constants", CT_CONF_STRING, constants, "exact",
            "control chart constants: exact (as the live service by default) or table "
            "(as printed in Montgomery ISQC Appendix VI / ASTM E2587: A2, D4, ...)"),
        KEY("sigma-estimator", CT_CONF_STRING, sigma_estimator, "mr",
            "imr phase I sigma: mr (MR-bar / d2) or sd (s / c4)"),
        KEY("exclude", CT_CONF_STRING, exclude, NULL,
            "points (1-based, comma list) left out of the phase I estimate, still judged"),
        KEY("columns", CT_CONF_STRING, columns, NULL,
            "t2: one value column per variable, comma list of names or 1-based indices"),
        KEY("alpha", CT_CONF_STRING, alpha, TEXT(SPC_T2_DEFAULT_ALPHA),
            "t2: false-alarm probability per point"),
        KEY("mean-vector", CT_CONF_STRING, mean_vector, NULL,
            "t2: given mean vector (comma list; with --covariance)"),
        KEY("covariance", CT_CONF_STRING, covariance, NULL,
            "t2: given covariance matrix, row-major comma list of p x p numbers"),
        KEY("baseline-count", CT_CONF_STRING, baseline_count, NULL,
            "t2 with --mean-vector: m it was estimated from (phase II F limit; default: "
            "known, chi-square limit)"),
};

struct options {
	const char *input;
	enum spc_chart_kind kind;
	const char *value_column;    /* name or 1-based index */
	const char *subgroup_column; /* optional */
	const char *size_column;     /* optional, attribute charts */
	double sample_size;          /* constant size when no size column; 0 = none */
	uint32_t subgroup_size;
	uint32_t rules;
	double lambda, width, k, h;
	bool steady_state;
	bool sigma_sd;                    /* --sigma-estimator sd: I-MR phase I sigma = s / c4(m) */
	enum spc_constants_set constants; /* --constants */
	unsigned long phase1_first, phase1_last; /* 0 = all points */
	bool has_centre, has_sigma, has_lcl, has_cl, has_ucl;
	double centre, sigma, lcl, cl, ucl;
	struct spc_spec spec;
};

/* The CSV rows (analyze_csv.h) as the engine wants them: the first number column of a row is
 * its value (count for attribute charts), the second, when the size column is read, its size.
 * Kept as the reader's compact arrays, not as a struct per row: a few tens of bytes a row. */
struct table {
	struct csv_table csv;
	bool attribute; /* x[0] is a count, the size x[1] or the constant sample size */
	bool size_read; /* a second number column: the sample (or CUSUM subgroup) size */
	double sample_size;
};

void die(int code, const char *fmt, ...)
{
	va_list ap;
	fputs("ct-spc-analyze: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

bool parse_double(const char *text, double *ret)
{
	return ct_parse_double(text, -INFINITY, INFINITY, ret) == CT_OK;
}

/* An optional number: false when the option was not given. */
static bool option_double(const char *name, const char *text, double *ret)
{
	if (text == NULL)
		return false;
	if (!parse_double(text, ret))
		die(EXIT_INPUT, "option --%s: '%s' is not a finite number", name, text);
	return true;
}

static uint32_t option_count(const char *name, const char *text)
{
	long v;
	if (ct_parse_long(text, 1, LONG_MAX, &v) != CT_OK)
		die(EXIT_INPUT, "option --%s: '%s' is not a positive whole number", name, text);
	/* Anything above 2^32 - 1 is as wrong as 26; the caller names the limit. */
	return (unsigned long)v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static uint32_t parse_rules(const char *text)
{
	uint32_t rules = 0;

	for (const char *p = text;; p++) {
		size_t len = strcspn(p, ",");
		enum spc_rule rule;
		if (len == 2 && memcmp(p, "we", 2) == 0)
			rules |= SPC_RULES_WESTERN_ELECTRIC;
		else if (len == 6 && memcmp(p, "nelson", 6) == 0)
			rules |= SPC_RULES_NELSON;
		else if (len > 0 && spc_rule_from_name(p, len, &rule) == SPC_OK &&
		         spc_rule_is_selectable(rule))
			rules |= SPC_RULE_BIT(rule);
		else if (len > 0 && !(len == 4 && memcmp(p, "none", 4) == 0))
			die(EXIT_INPUT,
			    "option --rules: unknown rule '%.*s' (use we, nelson, we1..we4, "
			    "nelson1..nelson8, secondary, none)",
			    (int)len, p);
		p += len;
		if (*p == '\0')
			return rules;
	}
}

/* "A:B" (or "A-B"), 1 <= A < B. */
static void parse_phase1(const char *text, struct options *o)
{
	size_t len = strcspn(text, ":-");
	char first_text[32];
	long first, last;

	if (text[len] == '\0' || len >= sizeof(first_text))
		die(EXIT_INPUT, "option --phase1: '%s' is not a range A:B of point numbers", text);
	memcpy(first_text, text, len);
	first_text[len] = '\0';
	if (ct_parse_long(first_text, 0, LONG_MAX, &first) != CT_OK)
		die(EXIT_INPUT, "option --phase1: '%s' is not a range A:B of point numbers", text);
	if (ct_parse_long(text + len + 1, 0, LONG_MAX, &last) != CT_OK || first < 1 ||
	    last <= first)
		die(EXIT_INPUT, "option --phase1: '%s' needs 1 <= A < B", text);
	o->phase1_first = (unsigned long)first;
	o->phase1_last = (unsigned long)last;
}

bool *parse_exclude(const char *text, size_t points)
{
	if (text == NULL)
		return NULL;
	bool *flags = calloc(points > 0 ? points : 1, sizeof(*flags));
	if (!flags)
		die(EXIT_FAILED, "out of memory");
	for (const char *p = text;; p++) {
		size_t len = strcspn(p, ",");
		char item[32];
		long point;
		if (len == 0 || len >= sizeof(item))
			die(EXIT_INPUT,
			    "option --exclude: '%s' is not a comma list of point numbers", text);
		memcpy(item, p, len);
		item[len] = '\0';
		if (ct_parse_long(item, 1, LONG_MAX, &point) != CT_OK)
			die(EXIT_INPUT, "option --exclude: '%s' is not a point number (1-based)",
			    item);
		if ((unsigned long)point > points)
			die(EXIT_INPUT, "option --exclude: point %ld is past the last point (%zu)",
			    point, points);
		flags[point - 1] = true;
		p += len;
		if (*p == '\0')
			return flags;
	}
}

/* ct_config reads `--key value`; a boolean given as a bare flag (`--steady-state` last, or
 * before another option) means true. Returns argv with such flags written as --key=true
 * (a heap array of the same strings plus new ones; free with free_args). */
static char **expand_flags(int argc, char **argv)
{
	char **out = calloc((size_t)argc + 1, sizeof(*out));

	if (out == NULL)
		die(EXIT_FAILED, "out of memory");
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		out[i] = argv[i];
		if (i == 0 || strncmp(arg, "--", 2) != 0 || strchr(arg, '=') != NULL)
			continue;
		bool flag = false;
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (keys[k].type == CT_CONF_BOOL && strcmp(arg + 2, keys[k].name) == 0)
				flag = true;
		if (flag && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)) {
			size_t len = strlen(arg) + sizeof("=true");
			out[i] = malloc(len);
			if (out[i] == NULL)
				die(EXIT_FAILED, "out of memory");
			snprintf(out[i], len, "%s=true", arg);
		} else if (i + 1 < argc) {
			i++; /* the option's value, whatever it looks like */
			out[i] = argv[i];
		}
	}
	return out;
}

static void free_args(int argc, char **args, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (args[i] != argv[i])
			free(args[i]);
	free(args);
}

/* Loads the options into table's struct config and checks them into *o (pointing into it). */
static void parse_options(int argc, char **argv, const struct ct_config_table *table,
                          struct options *o)
{
	const struct config *cfg = table->base;
	char err[512];
	char **args = expand_flags(argc, argv);
	int rc = ct_config_load(table, 1, argc, args, environ, err, sizeof(err));

	free_args(argc, args, argv);
	if (rc == CT_ERR_STOPPED) {
		fputs("\nusage: ct-spc-analyze --chart KIND --input FILE.csv [options]\n"
		      "Prints the chart, its limits, violations and capability as JSON; exit 2 on "
		      "bad input or options.\n",
		      stdout);
		exit(0);
	}
	if (rc != CT_OK)
		die(rc == CT_ERR_NOMEM ? EXIT_FAILED : EXIT_INPUT, "%s (see --help)", err);

	*o = (struct options){
	        .input = cfg->input,
	        .value_column = cfg->column,
	        .subgroup_column = cfg->subgroup_column,
	        .size_column = cfg->size_column,
	        .sample_size = cfg->sample_size,
	        .lambda = cfg->lambda,
	        .width = cfg->width,
	        .k = cfg->k,
	        .h = cfg->h,
	        .steady_state = cfg->steady_state,
	};
	if (cfg->chart != NULL && strcmp(cfg->chart, SPC_T2_KIND_NAME) != 0 &&
	    spc_chart_kind_from_name(cfg->chart, &o->kind) != SPC_OK)
		die(EXIT_INPUT, "option --chart: unknown chart '%s'", cfg->chart);
	if (cfg->subgroup_size != NULL)
		o->subgroup_size = option_count("subgroup-size", cfg->subgroup_size);
	if (cfg->rules != NULL)
		o->rules = parse_rules(cfg->rules);
	if (cfg->phase1 != NULL)
		parse_phase1(cfg->phase1, o);
	o->has_centre = option_double("centre", cfg->centre, &o->centre);
	o->has_sigma = option_double("sigma", cfg->sigma, &o->sigma);
	o->has_lcl = option_double("lcl", cfg->lcl, &o->lcl);
	o->has_cl = option_double("cl", cfg->cl, &o->cl);
	o->has_ucl = option_double("ucl", cfg->ucl, &o->ucl);
	o->spec.has_lsl = option_double("lsl", cfg->lsl, &o->spec.lsl);
	o->spec.has_usl = option_double("usl", cfg->usl, &o->spec.usl);
	o->spec.has_target = option_double("target", cfg->target, &o->spec.target);
	if (cfg->sigma_estimator != NULL && strcmp(cfg->sigma_estimator, "sd") == 0)
		o->sigma_sd = true;
	else if (cfg->sigma_estimator != NULL && strcmp(cfg->sigma_estimator, "mr") != 0)
		die(EXIT_INPUT, "option --sigma-estimator: '%s' is not mr or sd",
		    cfg->sigma_estimator);
	o->constants = SPC_CONSTANTS_EXACT;
	if (cfg->constants != NULL &&
	    spc_constants_set_from_name(cfg->constants, &o->constants) != SPC_OK)
		die(EXIT_INPUT, "option --constants: '%s' is not exact or table", cfg->constants);
	if (cfg->chart == NULL)
		die(EXIT_INPUT, "option --chart is required (see --help)");
	if (o->input == NULL)
		die(EXIT_INPUT, "option --input is required (see --help)");
	if (cfg->rules == NULL)
		o->rules = spc_chart_default_rules(o->kind);
}

/* Observation `i` of the table. */
static struct spc_observation observation(const struct table *t, size_t i)
{
	const double *x = t->csv.x + i * t->csv.n_numbers;
	struct spc_observation ob = {0};

	if (t->attribute) {
		ob.count = x[0];
		ob.size = t->size_read ? x[1] : t->sample_size;
	} else {
		ob.value = x[0];
		ob.size = t->size_read ? x[1] : 0;
	}
	return ob;
}

/* Reads the value column (and the size and subgroup columns when given) of every data row.
 * The size column is resolved for every chart but read only by those that use it. */
static void read_table(const struct options *o, struct table *t)
{
	bool attribute = spc_chart_kind_is_attribute(o->kind);
	bool size_read = o->size_column && (attribute || o->kind == SPC_CHART_CUSUM);
	bool needs_size =
	        o->kind == SPC_CHART_P || o->kind == SPC_CHART_NP || o->kind == SPC_CHART_U;
	struct csv_column columns[3];
	size_t n = 0;
	char err[1024];

	columns[n++] = (struct csv_column){"column", o->value_column, attribute ? "count" : "value",
	                                   CSV_NUMBER};
	if (o->subgroup_column)
		columns[n++] = (struct csv_column){"subgroup-column", o->subgroup_column,
		                                   "subgroup id", CSV_ID};
	if (o->size_column)
		columns[n++] = (struct csv_column){"size-column", o->size_column,
		                                   attribute ? "sample size" : "subgroup size",
		                                   size_read ? CSV_NUMBER : CSV_CHECK};

	FILE *f = fopen(o->input, "r");
	if (!f)
		die(EXIT_INPUT, "cannot open input '%s': %s", o->input, strerror(errno));
	int rc = csv_table_read(f, columns, n, &t->csv, err, sizeof(err));
	fclose(f);
	if (rc == CT_ERR_IO)
		die(EXIT_INPUT, "cannot read input '%s'", o->input);
	if (rc != CT_OK)
		die(rc == CT_ERR_NOMEM ? EXIT_FAILED : EXIT_INPUT, "%s", err);
	t->attribute = attribute;
	t->size_read = size_read;
	t->sample_size = o->sample_size;
	for (size_t i = 0; needs_size && i < t->csv.count; i++)
		if (!(observation(t, i).size > 0))
			die(EXIT_INPUT,
			    "row %lu: %s chart needs a sample size > 0 "
			    "(--size-column or --sample-size)",
			    t->csv.line[i], spc_chart_kind_name(o->kind));
}

/* Observations per plotted point, checking subgroup ids when a subgroup column is given. */
static uint32_t rows_per_point(const struct options *o, const struct table *t)
{
	bool grouped = o->kind == SPC_CHART_XBAR_R || o->kind == SPC_CHART_XBAR_S ||
	               o->kind == SPC_CHART_EWMA || o->kind == SPC_CHART_CUSUM;
	uint32_t n = o->subgroup_size;

	if (!grouped) {
		if (n > 1 || o->subgroup_column)
			die(EXIT_INPUT,
			    "option --subgroup-size/--subgroup-column: a %s chart has "
			    "no subgroups",
			    spc_chart_kind_name(o->kind));
		return 1;
	}
	size_t count = t->csv.count;

	if (o->subgroup_column && count > 0 && n == 0) {
		/* Infer the size from the first subgroup. */
		n = 1;
		while (n < count && strcmp(csv_table_id(&t->csv, n), csv_table_id(&t->csv, 0)) == 0)
			n++;
	}
	if (n == 0)
		n = o->kind == SPC_CHART_EWMA || o->kind == SPC_CHART_CUSUM ? 1 : 0;
	if (n == 0)
		die(EXIT_INPUT,
		    "option --subgroup-size: required for %s (or give "
		    "--subgroup-column)",
		    spc_chart_kind_name(o->kind));
	if (n > SPC_SUBGROUP_MAX)
		die(EXIT_INPUT, "option --subgroup-size: %u is more than %d", n, SPC_SUBGROUP_MAX);
	if (count % n != 0)
		die(EXIT_INPUT,
		    "row %lu: the file ends inside a subgroup (%zu rows is not a "
		    "multiple of the subgroup size %u)",
		    t->csv.line[count - 1], count, n);
	if (o->subgroup_column) {
		for (size_t i = 0; i < count; i++) {
			const char *id = csv_table_id(&t->csv, i);
			const char *head = csv_table_id(&t->csv, i - i % n);
			bool same = strcmp(id, head) == 0;
			bool new_group_differs =
			        i % n != 0 || i == 0 || strcmp(csv_table_id(&t->csv, i - 1), head);
			if (!same || !new_group_differs)
				die(EXIT_INPUT,
				    "row %lu: subgroup '%s' does not have exactly %u rows",
				    t->csv.line[i], id, n);
		}
	}
	return n;
}

json_t *number(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* Standard deviation of one unit the chart's limits are built from: the process sigma of one
 * observation (variables, EWMA, CUSUM), sqrt(p-bar (1 - p-bar)) for p and np (one unit
 * inspected), sqrt(c-bar) for c (one inspection unit), sqrt(u-bar) for u (one unit). NAN with
 * explicit limits, which carry no sigma. */
static double unit_sigma(const struct spc_state *s)
{
	double centre = s->limits.centre;

	if (s->config.limits_source == SPC_LIMITS_FIXED_EXPLICIT)
		return NAN;
	switch (s->config.kind) {
	case SPC_CHART_P:
	case SPC_CHART_NP:
		return sqrt(centre * (1.0 - centre));
	case SPC_CHART_C:
	case SPC_CHART_U:
		return sqrt(centre);
	default:
		return s->limits.sigma;
	}
}

/* Standard deviation of the statistic plotted at point `index` of sample size `size` (p, np,
 * u), the one that sets its limits (centre line +- 3 of it; EWMA: +- L): Montgomery, ISQC 6th
 * ed., Sec. 6.2-6.4 (sigma / sqrt(n)), 7.2 (p: sqrt(p-bar (1 - p-bar) / n_i), np:
 * sqrt(n p-bar (1 - p-bar))), 7.3 (c: sqrt(c-bar), u: sqrt(u-bar / n_i)), 9.2 (EWMA: sigma_z(i)
 * = sigma / sqrt(n) sqrt(lambda / (2 - lambda) (1 - (1 - lambda)^(2i)))); CUSUM: sigma /
 * sqrt(n), the unit of k and h. The engine's formulas (spc_chart.c, limits_for), which it
 * does not export. NAN with explicit limits. */
static double point_sigma(const struct spc_state *s, double size, uint64_t index)
{
	const struct spc_chart_config *c = &s->config;
	double unit = unit_sigma(s);

	switch (c->kind) {
	case SPC_CHART_P:
	case SPC_CHART_U:
		return unit / sqrt(size);
	case SPC_CHART_NP:
		return unit * sqrt(size);
	case SPC_CHART_C:
	case SPC_CHART_IMR:
		return unit;
	case SPC_CHART_EWMA: {
		double lambda = c->ewma_lambda;
		double factor = lambda / (2.0 - lambda);
		if (!c->ewma_steady_state)
			factor *= 1.0 - pow(1.0 - lambda, 2.0 * (double)index);
		return unit / sqrt((double)c->subgroup_size) * sqrt(factor);
	}
	default: /* X-bar/R, X-bar/S, CUSUM: the mean of subgroup_size observations */
		if (c->constants == SPC_CONSTANTS_TABLE &&
		    (c->kind == SPC_CHART_XBAR_R || c->kind == SPC_CHART_XBAR_S) &&
		    isfinite(unit)) {
			/* A2 R-bar / 3, A3 S-bar / 3: the printed factors (spc.h). */
			struct spc_constants k;
			(void)spc_constants_get_set(c->subgroup_size, SPC_CONSTANTS_TABLE, &k);
			return c->kind == SPC_CHART_XBAR_R ? k.a2 * (k.d2 * unit) / 3.0
			                                   : k.a3 * (k.c4 * unit) / 3.0;
		}
		return unit / sqrt((double)c->subgroup_size);
	}
}

/* Writes a JSON text, rewriting every real number (a token with '.', 'e' or 'E' outside a
 * string) in the fewest significant digits that read back as the same double (%.17g always
 * does): 31.6, not 31.600000000000001. A real stays a real (5.0, not 5). Every line after the
 * first gets `indent` more spaces (jansson escapes a newline inside a string, so each '\n' in
 * its text is a line break). Returns 0, or -1 when the stream fails. */
static int write_reals(const char *text, int indent, FILE *out)
{
	bool in_string = false;

	for (const char *p = text; *p != '\0';) {
		if (in_string || (*p != '-' && (*p < '0' || *p > '9'))) {
			size_t len = 1;
			if (*p == '"')
				in_string = !in_string;
			else if (in_string && *p == '\\' && p[1] != '\0')
				len = 2; /* an escape: its second character does not end the string
				          */
			if (fwrite(p, 1, len, out) != len)
				return -1;
			if (*p == '\n' && fprintf(out, "%*s", indent, "") < 0)
				return -1;
			p += len;
			continue;
		}
		size_t len = strspn(p, "0123456789+-.eE");
		char token[64], shortest[40], plain[40];
		if (len >= sizeof(token) || strcspn(p, ".eE") >= len) {
			if (fwrite(p, 1, len, out) != len)
				return -1;
			p += len;
			continue;
		}
		memcpy(token, p, len);
		token[len] = '\0';
		p += len;
		double v = strtod(token, NULL);
		int digits = 1;
		for (;; digits++) {
			snprintf(shortest, sizeof(shortest), "%.*g", digits, v);
			if (digits == 17 || strtod(shortest, NULL) == v)
				break;
		}
		/* %g writes 50 as 5e+01: more digits (trailing zeros it drops) avoid the exponent
		 * unless the number is too large or small for that. */
		for (int more = digits + 1; more <= 17 && strpbrk(shortest, "eE"); more++) {
			snprintf(plain, sizeof(plain), "%.*g", more, v);
			if (strpbrk(plain, "eE") == NULL && strtod(plain, NULL) == v)
				memcpy(shortest, plain, sizeof(shortest));
		}
		if (fputs(shortest, out) == EOF ||
		    (shortest[strspn(shortest, "-0123456789")] == '\0' && fputs(".0", out) == EOF))
			return -1;
	}
	return 0;
}

/* Writes `value` (stolen; NULL: out of memory) at `depth`: 1 a member of the document, 2 an
 * item of a member's array. */
static void doc_value(struct doc_writer *w, json_t *value, int depth)
{
	char *text = NULL;

	if (value != NULL)
		text = json_dumps(value,
		                  JSON_INDENT(2) | JSON_REAL_PRECISION(17) | JSON_ENCODE_ANY);
	json_decref(value);
	if (text == NULL && w->rc == CT_OK)
		w->rc = CT_ERR_NOMEM;
	if (text != NULL && w->rc == CT_OK && write_reals(text, 2 * depth, w->out) != 0)
		w->rc = CT_ERR_IO;
	free(text);
}

static void doc_puts(struct doc_writer *w, const char *text)
{
	if (w->rc == CT_OK && fputs(text, w->out) == EOF)
		w->rc = CT_ERR_IO;
}

static void doc_key(struct doc_writer *w, const char *key)
{
	doc_puts(w, w->members++ > 0 ? ",\n  \"" : "\n  \"");
	doc_puts(w, key);
	doc_puts(w, "\": ");
}

void doc_begin(struct doc_writer *w, FILE *out)
{
	*w = (struct doc_writer){.out = out};
	doc_puts(w, "{");
}

void doc_member(struct doc_writer *w, const char *key, json_t *value)
{
	doc_key(w, key);
	doc_value(w, value, 1);
}

void doc_array_begin(struct doc_writer *w, const char *key)
{
	doc_key(w, key);
	doc_puts(w, "[");
	w->items = 0;
}

void doc_item(struct doc_writer *w, json_t *value)
{
	doc_puts(w, w->items++ > 0 ? ",\n    " : "\n    ");
	doc_value(w, value, 2);
}

void doc_array_end(struct doc_writer *w)
{
	doc_puts(w, w->items > 0 ? "\n  ]" : "]");
}

int doc_end(struct doc_writer *w)
{
	doc_puts(w, "\n}\n");
	if (w->rc == CT_OK && fflush(w->out) != 0)
		w->rc = CT_ERR_IO;
	return w->rc;
}

static json_t *point_json(const struct spc_point *p)
{
	return json_pack("{s:o, s:o, s:o, s:o}", "value", number(p->value), "lcl", number(p->lcl),
	                 "cl", number(p->cl), "ucl", number(p->ucl));
}

static json_t *index_json(struct spc_index index)
{
	return index.defined ? number(index.value) : json_null();
}

static json_t *ppm_json(const struct spc_ppm *ppm)
{
	return json_pack("{s:o, s:o, s:o}", "below", index_json(ppm->below), "above",
	                 index_json(ppm->above), "total", index_json(ppm->total));
}

static const char *secondary_name(enum spc_chart_kind kind)
{
	switch (kind) {
	case SPC_CHART_IMR:
		return "moving_range";
	case SPC_CHART_XBAR_R:
		return "range";
	case SPC_CHART_XBAR_S:
		return "standard_deviation";
	case SPC_CHART_CUSUM:
		return "cusum_lower";
	default:
		return NULL;
	}
}

/* CUSUM: the point's deviation from the target mu0 (the frozen centre), x-bar_i - mu0, in data
 * units and in standard deviations of the plotted mean (the unit of k and h). Rows
 * first..first + n - 1 are the point's n observations. */
static void add_deviation(json_t *point, const struct spc_state *s, const struct table *t,
                          size_t first, uint32_t n)
{
	double sum = 0;
	for (uint32_t i = 0; i < n; i++)
		sum += observation(t, first + i).value;
	double deviation = sum / n - s->limits.centre;
	json_object_set_new(point, "deviation", number(deviation));
	json_object_set_new(point, "deviation_sigmas", number(deviation / point_sigma(s, 1, 0)));
}

/* c4(m) = sqrt(2 / (m - 1)) Gamma(m / 2) / Gamma((m - 1) / 2), m >= 2: the mean of the
 * sample standard deviation of m normal observations in units of sigma (Montgomery, ISQC 6th
 * ed., Sec. 6.3 and Appendix VI; for m > 25, where the table ends, the same definition). */
static double c4(size_t m)
{
	double k = (double)m;
	return sqrt(2.0 / (k - 1.0)) * exp(lgamma(k / 2.0) - lgamma((k - 1.0) / 2.0));
}

/* --sigma-estimator sd: sigma of one observation from the individuals first..last (1-based),
 * less those flagged in `excluded` (NULL: none), s / c4(m), s their sample standard deviation
 * (divisor m - 1): unbiased for a normal process in control, but inflated by any shift inside
 * phase I, which MR-bar / d2 (the default) mostly is not (Montgomery Sec. 6.4). */
static double sd_sigma(const struct table *t, size_t first, size_t last, const bool *excluded)
{
	size_t m = 0;
	double *values = malloc((last - first + 1) * sizeof(*values));
	double mean, sd;

	if (!values)
		die(EXIT_FAILED, "out of memory");
	for (size_t i = first - 1; i < last; i++)
		if (!(excluded && excluded[i]))
			values[m++] = observation(t, i).value;
	int rc = spc_mean_sd(values, m, &mean, &sd);
	free(values);
	if (rc != SPC_OK || !(sd > 0))
		die(EXIT_INPUT,
		    "option --phase1: points %zu..%zu have no spread (s = 0); limits cannot be "
		    "estimated",
		    first, last);
	return sd / c4(m);
}

static void check_or_die(int rc, const char *problem, const char *context)
{
	if (rc != SPC_OK)
		die(EXIT_INPUT, "%s: %s", context, problem ? problem : spc_strerror(rc));
}

static struct spc_chart_config base_config(const struct options *o, uint32_t n)
{
	struct spc_chart_config c = {
	        .kind = o->kind,
	        .subgroup_size = n,
	        .rules = o->rules,
	        .constants = (uint8_t)o->constants,
	};
	if (o->kind == SPC_CHART_EWMA) {
		c.ewma_lambda = o->lambda;
		c.ewma_width = o->width;
		c.ewma_steady_state = o->steady_state;
	}
	if (o->kind == SPC_CHART_CUSUM) {
		c.cusum_k = o->k;
		c.cusum_h = o->h;
	}
	return c;
}

/* Points first..last (1-based) not flagged in `excluded` (NULL: none): the phase I baseline. */
static size_t baseline_count(const bool *excluded, size_t first, size_t last)
{
	size_t m = 0;
	for (size_t i = first - 1; i < last; i++)
		m += !(excluded && excluded[i]);
	return m;
}

/* Phase I: feeds points first..last, less those flagged in `excluded` (--exclude; NULL: none),
 * to a baseline chart and returns its frozen parameters. The kept points are fed in order as
 * if the excluded rows were not in the file, so the estimate is exactly that of the file
 * without them (I-MR: the moving range bridges an excluded point, |x_(k+1) - x_(k-1)|). */
static struct spc_chart_limits estimate(const struct options *o, const struct table *t, uint32_t n,
                                        size_t first, size_t last, const bool *excluded)
{
	struct spc_chart_config c = base_config(o, n);
	struct spc_state state;
	const char *problem = NULL;
	size_t m = baseline_count(excluded, first, last);

	if (m < 2)
		die(EXIT_INPUT,
		    "options --phase1/--exclude: %zu point(s) left in phase I; at least 2 are "
		    "needed",
		    m);
	c.limits_source = SPC_LIMITS_BASELINE;
	c.baseline_points = (uint32_t)m;
	check_or_die(spc_state_init(&state, &c, &problem), problem, "chart options");
	for (size_t i = (first - 1) * n; i < last * n; i++) {
		struct spc_result r;
		if (excluded && excluded[i / n])
			continue;
		struct spc_observation ob = observation(t, i);
		if (spc_chart_add(&state, &ob, &r) != SPC_OK)
			die(EXIT_INPUT, "row %lu: observation not valid for a %s chart",
			    t->csv.line[i], spc_chart_kind_name(o->kind));
	}
	if (!(state.limits.sigma > 0) && !spc_chart_kind_is_attribute(o->kind))
		die(EXIT_INPUT,
		    "option --phase1: points %zu..%zu have no spread (sigma = 0); "
		    "limits cannot be estimated",
		    first, last);
	if (!(state.limits.centre > 0) && spc_chart_kind_is_attribute(o->kind))
		die(EXIT_INPUT,
		    "option --phase1: points %zu..%zu have no nonconformities; "
		    "limits cannot be estimated",
		    first, last);
	if (o->kind == SPC_CHART_P || o->kind == SPC_CHART_NP) {
		if (!(state.limits.centre < 1))
			die(EXIT_INPUT,
			    "option --phase1: every unit in points %zu..%zu is "
			    "nonconforming; limits cannot be estimated",
			    first, last);
	}
	return state.limits;
}

/* --chart t2: the univariate options that mean nothing for it are refused, the rest handed to
 * analyze_t2 (analyze_t2.c). */
static int run_t2(const struct config *cfg, const struct options *o,
                  const struct ct_config_table *table)
{
	static const char *const unused[] = {"size-column", "rules", "centre", "sigma", "lcl",
	                                     "cl",          "ucl",   "lsl",    "usl",   "target"};
	const char *given[] = {cfg->size_column, cfg->rules, cfg->centre, cfg->sigma, cfg->lcl,
	                       cfg->cl,          cfg->ucl,   cfg->lsl,    cfg->usl,   cfg->target};

	for (size_t i = 0; i < sizeof(unused) / sizeof(unused[0]); i++)
		if (given[i] != NULL)
			die(EXIT_INPUT, "option --%s: not for a t2 chart", unused[i]);
	if (o->sigma_sd)
		die(EXIT_INPUT, "option --sigma-estimator: not for a t2 chart");
	if (o->constants != SPC_CONSTANTS_EXACT)
		die(EXIT_INPUT, "option --constants: not for a t2 chart");
	if (cfg->columns == NULL)
		die(EXIT_INPUT, "option --columns: required for a t2 chart (one per variable)");
	struct t2_request req = {
	        .input = o->input,
	        .columns = cfg->columns,
	        .subgroup_column = cfg->subgroup_column,
	        .subgroup_size = o->subgroup_size,
	        .alpha = cfg->alpha,
	        .mean_vector = cfg->mean_vector,
	        .covariance = cfg->covariance,
	        .baseline_count = cfg->baseline_count,
	        .phase1_first = o->phase1_first,
	        .phase1_last = o->phase1_last,
	        .exclude = cfg->exclude,
	};
	int rc = analyze_t2(&req);
	ct_config_cleanup(table, 1);
	return rc;
}

/* CUSUM on subgroups of varying size (--size-column): each row is a subgroup mean xbar_i of
 * n_i observations. The engine's tabular CUSUM is then run on the standardized
 * z_i = (xbar_i - mu0) / (sigma / sqrt(n_i)) with centre 0 and sigma 1, so k, h, C+ and C- are
 * in units of the standard deviation of each mean (Montgomery ISQC 6th ed., Sec. 9.1.5-9.1.6,
 * the standardized CUSUM; Hawkins & Olwell, Cumulative Sum Charts and Charting for Quality
 * Improvement, 1998, Sec. 3). Needs --centre and --sigma (mu0 and the sigma of one
 * observation): means alone carry no within-subgroup spread to estimate sigma from. Rewrites
 * the rows' values to z_i and returns the means (heap, caller frees), or NULL when the chart is
 * not a CUSUM with a size column. */
static double *standardize_sizes(const struct options *o, struct table *t, uint32_t n)
{
	if (o->kind != SPC_CHART_CUSUM || !o->size_column)
		return NULL;
	if (n != 1)
		die(EXIT_INPUT, "option --size-column: each row is one subgroup mean; not with "
		                "--subgroup-size/--subgroup-column");
	if (!o->has_centre || !o->has_sigma || !(o->sigma > 0))
		die(EXIT_INPUT, "option --size-column: a CUSUM of means needs --centre and "
		                "--sigma > 0");
	double *xbar = malloc(t->csv.count * sizeof(*xbar));
	if (!xbar)
		die(EXIT_FAILED, "out of memory");
	for (size_t i = 0; i < t->csv.count; i++) {
		double *x = t->csv.x + i * t->csv.n_numbers; /* value, size (read: size_read) */
		if (!(x[1] >= 1))
			die(EXIT_INPUT, "row %lu: subgroup size must be >= 1", t->csv.line[i]);
		xbar[i] = x[0];
		x[0] = (x[0] - o->centre) / (o->sigma / sqrt(x[1]));
	}
	return xbar;
}

/* What a pass over the rows needs (main). */
struct run {
	const struct options *o;
	const struct table *t;
	const struct spc_chart_config *c; /* the chart judged, limits frozen */
	uint32_t n;                       /* rows per point */
	const double *xbar;               /* standardize_sizes: the means, or NULL */
	const bool *excluded;             /* --exclude flags per point, or NULL */
};

enum pass { PASS_SUMMARY, PASS_POINTS, PASS_VIOLATIONS };

/* What the document's head says about the whole chart. */
struct summary {
	struct spc_state state; /* after the last row */
	bool limits_vary, sigma_varies;
	struct spc_point first_limits;
	double first_sigma;
};

/* One pass of the chart over every row: PASS_SUMMARY fills *ret_summary (and dies on a row
 * the chart refuses), PASS_POINTS writes each plotted point as an item of w's open array,
 * PASS_VIOLATIONS each violation. The engine is deterministic, so every pass sees the same
 * points. */
static void chart_pass(const struct run *run, enum pass pass, struct doc_writer *w,
                       struct summary *ret_summary)
{
	const struct options *o = run->o;
	const struct table *t = run->t;
	const char *second_name = secondary_name(o->kind);
	struct summary s = {.first_sigma = NAN};
	const char *problem = NULL;

	check_or_die(spc_state_init(&s.state, run->c, &problem), problem, "chart options");
	for (size_t i = 0; i < t->csv.count; i++) {
		struct spc_observation ob = observation(t, i);
		struct spc_result r;
		if (spc_chart_add(&s.state, &ob, &r) != SPC_OK)
			die(EXIT_INPUT, "row %lu: observation not valid for a %s chart",
			    t->csv.line[i], spc_chart_kind_name(o->kind));
		if (!r.plotted)
			continue;
		double sigma = run->xbar ? o->sigma / sqrt(ob.size)
		                         : point_sigma(&s.state, ob.size, r.point);
		if (pass == PASS_SUMMARY) {
			if (r.point == 1)
				s.first_limits = r.primary;
			else if (r.primary.lcl != s.first_limits.lcl ||
			         r.primary.ucl != s.first_limits.ucl ||
			         r.primary.cl != s.first_limits.cl)
				s.limits_vary = true;
			if (r.point == 1)
				s.first_sigma = sigma;
			else if (sigma != s.first_sigma)
				s.sigma_varies = true;
			continue;
		}
		if (pass == PASS_VIOLATIONS) {
			for (uint32_t v = 0; v < r.violation_count; v++)
				doc_item(w, json_pack("{s:s, s:I, s:I, s:I}", "rule",
				                      spc_rule_name(r.violations[v].rule), "point",
				                      (json_int_t)r.point, "first_point",
				                      (json_int_t)r.violations[v].first_point,
				                      "last_point",
				                      (json_int_t)r.violations[v].last_point));
			continue;
		}
		json_t *p = point_json(&r.primary);
		json_object_set_new(p, "point", json_integer((json_int_t)r.point));
		json_object_set_new(p, "excluded",
		                    json_boolean(run->excluded && run->excluded[r.point - 1]));
		json_object_set_new(p, "sigma", number(sigma));
		if (o->kind == SPC_CHART_CUSUM)
			add_deviation(p, &s.state, t, i + 1 - run->n, run->n);
		if (run->xbar) { /* in data units, and z_i, the engine's input */
			json_object_set_new(p, "deviation", number(run->xbar[i] - o->centre));
			json_object_set_new(p, "deviation_sigmas", number(ob.value));
			json_object_set_new(p, "size", number(ob.size));
		}
		if (second_name)
			json_object_set_new(p, second_name,
			                    r.has_secondary ? point_json(&r.secondary)
			                                    : json_null());
		doc_item(w, p);
	}
	if (ret_summary)
		*ret_summary = s;
}

/* Capability against --lsl/--usl (--target) of the `count` values: Cp/Cpk/Cpm describe the
 * process the chart models (its centre and within sigma, from the final state); Pp/Ppk/Ppm
 * the data as they are. Explicit limits carry no sigma. Dies on a spec it cannot use. */
static json_t *capability_json(const struct options *o, bool explicit_limits,
                               const struct spc_state *state, const double *values, size_t count)
{
	double overall_mean, overall_sd;
	if (spc_mean_sd(values, count, &overall_mean, &overall_sd) != SPC_OK)
		die(EXIT_INPUT, "input '%s': too few values for capability", o->input);
	double within = explicit_limits ? NAN : state->limits.sigma;
	double centre = explicit_limits ? overall_mean : state->limits.centre;
	struct spc_capability cw, co;
	struct spc_ppm observed;
	if (spc_capability_compute(&o->spec, centre, within, NAN, &cw) != SPC_OK ||
	    spc_capability_compute(&o->spec, overall_mean, NAN, overall_sd, &co) != SPC_OK ||
	    spc_capability_observed(&o->spec, values, count, &observed) != SPC_OK)
		die(EXIT_INPUT, "options --lsl/--usl/--target: need LSL < USL");
	json_t *capability = json_object();
	if (!capability)
		die(EXIT_FAILED, "out of memory");
	json_object_set_new(capability, "lsl", o->spec.has_lsl ? number(o->spec.lsl) : json_null());
	json_object_set_new(capability, "usl", o->spec.has_usl ? number(o->spec.usl) : json_null());
	json_object_set_new(capability, "target",
	                    o->spec.has_target ? number(o->spec.target) : json_null());
	json_object_set_new(capability, "mean", number(centre));
	json_object_set_new(capability, "sigma_within", number(within));
	json_object_set_new(capability, "overall_mean", number(overall_mean));
	json_object_set_new(capability, "sigma_overall", number(overall_sd));
	json_object_set_new(capability, "cp", index_json(cw.cp));
	json_object_set_new(capability, "cpl", index_json(cw.cpl));
	json_object_set_new(capability, "cpu", index_json(cw.cpu));
	json_object_set_new(capability, "cpk", index_json(cw.cpk));
	json_object_set_new(capability, "pp", index_json(co.pp));
	json_object_set_new(capability, "ppl", index_json(co.ppl));
	json_object_set_new(capability, "ppu", index_json(co.ppu));
	json_object_set_new(capability, "ppk", index_json(co.ppk));
	json_object_set_new(capability, "cpm", index_json(cw.cpm));
	json_object_set_new(capability, "ppm", index_json(co.ppm));
	json_object_set_new(capability, "expected_within_ppm", ppm_json(&cw.expected_within));
	json_object_set_new(capability, "expected_overall_ppm", ppm_json(&co.expected_overall));
	json_object_set_new(capability, "observed_ppm", ppm_json(&observed));
	return capability;
}

int main(int argc, char **argv)
{
	struct config cfg = {0};
	const struct ct_config_table table = {keys, sizeof(keys) / sizeof(keys[0]), &cfg};
	struct options o;
	struct table t = {0};
	parse_options(argc, argv, &table, &o);
	if (strcmp(cfg.chart, SPC_T2_KIND_NAME) == 0)
		return run_t2(&cfg, &o, &table);
	if (cfg.columns || cfg.mean_vector || cfg.covariance || cfg.baseline_count)
		die(EXIT_INPUT, "options --columns/--mean-vector/--covariance/--baseline-count: "
		                "only for a t2 chart");
	read_table(&o, &t);

	uint32_t n = rows_per_point(&o, &t);
	size_t points = t.csv.count / n;
	if (points < 2)
		die(EXIT_INPUT, "input '%s': %zu point(s); at least 2 are needed", o.input, points);
	bool *excluded = parse_exclude(cfg.exclude, points);

	bool explicit_limits = o.has_lcl || o.has_cl || o.has_ucl;
	bool fixed_sigma = o.has_centre || o.has_sigma;
	if (explicit_limits && (!o.has_lcl || !o.has_cl || !o.has_ucl))
		die(EXIT_INPUT, "options --lcl, --cl, --ucl: give all three");
	if (explicit_limits && fixed_sigma)
		die(EXIT_INPUT, "options --centre/--sigma and --lcl/--cl/--ucl: choose one");
	if ((explicit_limits || fixed_sigma) && o.phase1_first)
		die(EXIT_INPUT, "option --phase1: not with fixed limits");
	if ((explicit_limits || fixed_sigma) && excluded)
		die(EXIT_INPUT,
		    "option --exclude: not with fixed limits (it revises phase I limits)");
	if (fixed_sigma && !o.has_centre)
		die(EXIT_INPUT, "option --centre: required with --sigma");
	if (fixed_sigma && !o.has_sigma && !spc_chart_kind_is_attribute(o.kind))
		die(EXIT_INPUT, "option --sigma: required for a %s chart",
		    spc_chart_kind_name(o.kind));
	if (o.has_sigma && spc_chart_kind_is_attribute(o.kind))
		die(EXIT_INPUT, "option --sigma: an attribute chart's sigma follows from --centre");
	if (o.sigma_sd && (o.kind != SPC_CHART_IMR || explicit_limits || fixed_sigma))
		die(EXIT_INPUT, "option --sigma-estimator sd: only for an imr chart with phase I "
		                "limits");
	bool has_spec = o.spec.has_lsl || o.spec.has_usl;
	if ((has_spec || o.spec.has_target) && spc_chart_kind_is_attribute(o.kind))
		die(EXIT_INPUT, "options --lsl/--usl/--target: capability needs a variables chart");
	if (o.spec.has_target && !has_spec)
		die(EXIT_INPUT, "option --target: needs --lsl and/or --usl");

	struct spc_chart_config c = base_config(&o, n);
	size_t first = 0, last = 0;
	const char *source;
	if (explicit_limits) {
		c.limits_source = SPC_LIMITS_FIXED_EXPLICIT;
		c.lcl = o.lcl, c.cl = o.cl, c.ucl = o.ucl;
		source = "fixed_limits";
	} else if (fixed_sigma) {
		c.limits_source = SPC_LIMITS_FIXED_SIGMA;
		c.centre = o.centre;
		c.sigma = o.has_sigma ? o.sigma : 0;
		source = "fixed_sigma";
	} else {
		first = o.phase1_first ? o.phase1_first : 1;
		last = o.phase1_last ? o.phase1_last : points;
		if (last > points)
			die(EXIT_INPUT, "option --phase1: point %zu is past the last point (%zu)",
			    last, points);
		struct spc_chart_limits frozen = estimate(&o, &t, n, first, last, excluded);
		if (o.sigma_sd)
			frozen.sigma = sd_sigma(&t, first, last, excluded);
		c.limits_source = SPC_LIMITS_FIXED_SIGMA;
		c.centre = frozen.centre;
		c.sigma = frozen.sigma;
		source = "phase1";
	}

	double *xbar = standardize_sizes(&o, &t, n);
	if (xbar)
		c.centre = 0, c.sigma = 1;

	/* The engine runs over the rows three times, the same way each time: first for what the
	 * document's head says (whether the limits vary, the final centre and sigma) and to find
	 * a row the chart refuses before anything is printed; then writing the plotted points;
	 * then the violations. Writing as it goes keeps the memory at the table's: a JSON tree of
	 * every point took gigabytes for two million rows. */
	const struct run run = {&o, &t, &c, n, xbar, excluded};
	double *values = malloc(t.csv.count * sizeof(*values));
	if (!values)
		die(EXIT_FAILED, "out of memory");
	for (size_t i = 0; i < t.csv.count; i++)
		values[i] = xbar ? xbar[i] : observation(&t, i).value;
	struct summary sum;
	chart_pass(&run, PASS_SUMMARY, NULL, &sum);
	json_t *capability =
	        has_spec ? capability_json(&o, explicit_limits, &sum.state, values, t.csv.count)
	                 : json_null();

	struct doc_writer w;
	doc_begin(&w, stdout);
	doc_member(&w, "chart", json_string(spc_chart_kind_name(o.kind)));
	doc_member(&w, "subgroup_size", json_integer(n));
	doc_member(&w, "points", json_integer((json_int_t)points));
	doc_member(&w, "limits_source", json_string(source));
	doc_member(&w, "constants", json_string(spc_constants_set_name(o.constants)));
	doc_member(&w, "sigma_estimator",
	           o.kind != SPC_CHART_IMR || !first ? json_null()
	           : o.sigma_sd                      ? json_string("sd")
	                                             : json_string("mr"));
	doc_member(&w, "phase1",
	           first ? json_pack("{s:I, s:I}", "first", (json_int_t)first, "last",
	                             (json_int_t)last)
	                 : json_null());
	json_t *excluded_json = json_array();
	for (size_t i = 0; excluded && i < points; i++)
		if (excluded[i])
			json_array_append_new(excluded_json, json_integer((json_int_t)(i + 1)));
	doc_member(&w, "excluded", excluded_json);
	doc_member(&w, "baseline_count",
	           first ? json_integer((json_int_t)baseline_count(excluded, first, last))
	                 : json_null());
	doc_member(&w, "centre", number(xbar ? o.centre : sum.state.limits.centre));
	doc_member(&w, "sigma", number(xbar ? o.sigma : unit_sigma(&sum.state)));
	if (o.kind == SPC_CHART_CUSUM)
		doc_member(&w, "standardized", json_boolean(xbar != NULL));
	doc_member(&w, "sigma_statistic", sum.sigma_varies ? json_null() : number(sum.first_sigma));
	doc_member(&w, "limits_vary", json_boolean(sum.limits_vary));
	doc_member(&w, "centre_line", sum.limits_vary ? json_null() : number(sum.first_limits.cl));
	doc_member(&w, "lcl", sum.limits_vary ? json_null() : number(sum.first_limits.lcl));
	doc_member(&w, "ucl", sum.limits_vary ? json_null() : number(sum.first_limits.ucl));
	doc_array_begin(&w, "plotted");
	chart_pass(&run, PASS_POINTS, &w, NULL);
	doc_array_end(&w);
	doc_array_begin(&w, "violations");
	chart_pass(&run, PASS_VIOLATIONS, &w, NULL);
	doc_array_end(&w);
	doc_member(&w, "capability", capability);
	int rc = doc_end(&w);

	free(values);
	free(xbar);
	free(excluded);
	csv_table_cleanup(&t.csv);
	ct_config_cleanup(&table, 1);
	if (rc == CT_ERR_NOMEM)
		die(EXIT_FAILED, "out of memory");
	if (rc != CT_OK)
		die(EXIT_FAILED, "cannot write the result");
	return 0;
}
