/* ct-spc-analyze: offline control chart analysis of a CSV file, printed as JSON.
 *
 * The command is a thin shell around the streaming engine (engine/spc.h), so offline results
 * are the live service's results: with phase I limits it runs the engine twice, once over the
 * chosen phase I points to freeze the centre and sigma, then over every point with those values
 * as fixed parameters (retrospective phase I analysis judges the baseline points too). All input
 * problems are reported on stderr naming the row or option, with exit code 2; 1 means the
 * command itself failed (memory, output). */
#include "spc.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_INPUT  2
#define EXIT_FAILED 1
#define MAX_COLUMNS 256

struct options {
	const char *input;
	enum spc_chart_kind kind;
	const char *value_column;    /* name or 1-based index */
	const char *subgroup_column; /* optional */
	const char *size_column;     /* optional, attribute charts */
	double sample_size;          /* constant size when no size column; 0 = none */
	uint32_t subgroup_size;
	uint32_t rules;
	bool rules_given;
	double lambda, width, k, h;
	bool steady_state;
	unsigned long phase1_first, phase1_last; /* 0 = all points */
	bool has_centre, has_sigma, has_lcl, has_cl, has_ucl;
	double centre, sigma, lcl, cl, ucl;
	struct spc_spec spec;
};

/* One CSV row as the engine wants it, with its line number for messages. */
struct row {
	struct spc_observation observation;
	char subgroup[64];
	unsigned long line;
};

struct table {
	struct row *rows;
	size_t count;
	size_t capacity;
};

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

static void die(int code, const char *fmt, ...)
{
	va_list ap;
	fputs("ct-spc-analyze: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static bool parse_double(const char *text, double *ret)
{
	char *end = NULL;
	errno = 0;
	double v = strtod(text, &end);
	if (end == text || *end != '\0' || errno == ERANGE || !isfinite(v))
		return false;
	*ret = v;
	return true;
}

static double option_double(const char *name, const char *text)
{
	double v;
	if (!parse_double(text, &v))
		die(EXIT_INPUT, "option --%s: '%s' is not a finite number", name, text);
	return v;
}

static unsigned long option_count(const char *name, const char *text)
{
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(text, &end, 10);
	if (text[0] == '-' || end == text || *end != '\0' || errno == ERANGE || v == 0)
		die(EXIT_INPUT, "option --%s: '%s' is not a positive whole number", name, text);
	return v;
}

static const struct {
	const char *name;
	enum spc_chart_kind kind;
} chart_names[] = {
        {"imr", SPC_CHART_IMR}, {"xbar_r", SPC_CHART_XBAR_R}, {"xbar_s", SPC_CHART_XBAR_S},
        {"p", SPC_CHART_P},     {"np", SPC_CHART_NP},         {"c", SPC_CHART_C},
        {"u", SPC_CHART_U},     {"ewma", SPC_CHART_EWMA},     {"cusum", SPC_CHART_CUSUM},
};

static const char *chart_name(enum spc_chart_kind kind)
{
	for (size_t i = 0; i < sizeof(chart_names) / sizeof(chart_names[0]); i++)
		if (chart_names[i].kind == kind)
			return chart_names[i].name;
	return "unknown";
}

static uint32_t parse_rules(const char *text)
{
	char copy[256];
	uint32_t rules = 0;
	if (strlen(text) >= sizeof(copy))
		die(EXIT_INPUT, "option --rules: list too long");
	strcpy(copy, text);
	char *save = NULL;
	for (char *token = strtok_r(copy, ",", &save); token; token = strtok_r(NULL, ",", &save)) {
		bool known = false;
		if (strcmp(token, "none") == 0)
			known = true;
		else if (strcmp(token, "we") == 0)
			rules |= SPC_RULES_WESTERN_ELECTRIC, known = true;
		else if (strcmp(token, "nelson") == 0)
			rules |= SPC_RULES_NELSON, known = true;
		for (int rule = SPC_RULE_WE1; !known && rule <= SPC_RULE_SECONDARY_LIMIT; rule++) {
			if (strcmp(token, spc_rule_name(rule)) == 0) {
				rules |= SPC_RULE_BIT(rule);
				known = true;
			}
		}
		if (!known)
			die(EXIT_INPUT,
			    "option --rules: unknown rule '%s' (use we, nelson, we1..we4, "
			    "nelson1..nelson8, secondary, none)",
			    token);
	}
	return rules;
}

static void parse_phase1(const char *text, struct options *o)
{
	char *end = NULL;
	errno = 0;
	unsigned long first = strtoul(text, &end, 10);
	if (text[0] == '-' || end == text || (*end != ':' && *end != '-') || errno == ERANGE)
		die(EXIT_INPUT, "option --phase1: '%s' is not a range A:B of point numbers", text);
	const char *second = end + 1;
	unsigned long last = strtoul(second, &end, 10);
	if (second[0] == '-' || end == second || *end != '\0' || errno == ERANGE || first < 1 ||
	    last <= first)
		die(EXIT_INPUT, "option --phase1: '%s' needs 1 <= A < B", text);
	o->phase1_first = first;
	o->phase1_last = last;
}

static void usage(FILE *out)
{
	fputs("usage: ct-spc-analyze --chart KIND --input FILE.csv [options]\n"
	      "  --chart imr|xbar_r|xbar_s|p|np|c|u|ewma|cusum\n"
	      "  --column NAME|N           value (or count) column, by header name or 1-based\n"
	      "                            index (default 1)\n"
	      "  --subgroup-column NAME|N  consecutive rows with the same id form a subgroup\n"
	      "  --size-column NAME|N      sample size column (p, np, u)\n"
	      "  --sample-size X           constant sample size instead of a size column\n"
	      "  --subgroup-size N         rows per subgroup (xbar_r, xbar_s; ewma, cusum: 1..25)\n"
	      "  --lambda X --L X          EWMA weight and limit width (default 0.2 and 3)\n"
	      "  --steady-state            EWMA asymptotic limits (default: time-varying)\n"
	      "  --k X --h X               CUSUM reference value and decision interval in sigmas\n"
	      "                            (default 0.5 and 5)\n"
	      "  --rules LIST              we, nelson, we1..we4, nelson1..nelson8, secondary,\n"
	      "                            none (default: we1,secondary for Shewhart charts)\n"
	      "  --phase1 A:B              estimate limits from points A..B (default: all)\n"
	      "  --centre X --sigma X      fixed process centre and sigma (attribute charts:\n"
	      "                            --centre only)\n"
	      "  --lcl X --cl X --ucl X    fixed explicit limits\n"
	      "  --lsl X --usl X --target X  specification, for capability indices\n",
	      out);
}

static void parse_options(int argc, char **argv, struct options *o)
{
	enum {
		O_CHART = 256,
		O_INPUT,
		O_COLUMN,
		O_SUBGROUP_COLUMN,
		O_SIZE_COLUMN,
		O_SAMPLE_SIZE,
		O_SUBGROUP_SIZE,
		O_LAMBDA,
		O_WIDTH,
		O_STEADY,
		O_K,
		O_H,
		O_RULES,
		O_PHASE1,
		O_CENTRE,
		O_SIGMA,
		O_LCL,
		O_CL,
		O_UCL,
		O_LSL,
		O_USL,
		O_TARGET,
		O_HELP
	};
	static const struct option long_options[] = {
	        {"chart", required_argument, NULL, O_CHART},
	        {"input", required_argument, NULL, O_INPUT},
	        {"column", required_argument, NULL, O_COLUMN},
	        {"subgroup-column", required_argument, NULL, O_SUBGROUP_COLUMN},
	        {"size-column", required_argument, NULL, O_SIZE_COLUMN},
	        {"sample-size", required_argument, NULL, O_SAMPLE_SIZE},
	        {"subgroup-size", required_argument, NULL, O_SUBGROUP_SIZE},
	        {"lambda", required_argument, NULL, O_LAMBDA},
	        {"L", required_argument, NULL, O_WIDTH},
	        {"steady-state", no_argument, NULL, O_STEADY},
	        {"k", required_argument, NULL, O_K},
	        {"h", required_argument, NULL, O_H},
	        {"rules", required_argument, NULL, O_RULES},
	        {"phase1", required_argument, NULL, O_PHASE1},
	        {"centre", required_argument, NULL, O_CENTRE},
	        {"sigma", required_argument, NULL, O_SIGMA},
	        {"lcl", required_argument, NULL, O_LCL},
	        {"cl", required_argument, NULL, O_CL},
	        {"ucl", required_argument, NULL, O_UCL},
	        {"lsl", required_argument, NULL, O_LSL},
	        {"usl", required_argument, NULL, O_USL},
	        {"target", required_argument, NULL, O_TARGET},
	        {"help", no_argument, NULL, O_HELP},
	        {NULL, 0, NULL, 0},
	};
	bool has_kind = false;
	int c;

	*o = (struct options){.lambda = 0.2, .width = 3.0, .k = 0.5, .h = 5.0};
	opterr = 0;
	while ((c = getopt_long_only(argc, argv, "", long_options, NULL)) != -1) {
		const char *name = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
		switch (c) {
		case O_CHART:
			for (size_t i = 0; i < sizeof(chart_names) / sizeof(chart_names[0]); i++)
				if (strcmp(optarg, chart_names[i].name) == 0) {
					o->kind = chart_names[i].kind;
					has_kind = true;
				}
			if (!has_kind)
				die(EXIT_INPUT, "option --chart: unknown chart '%s'", optarg);
			break;
		case O_INPUT:
			o->input = optarg;
			break;
		case O_COLUMN:
			o->value_column = optarg;
			break;
		case O_SUBGROUP_COLUMN:
			o->subgroup_column = optarg;
			break;
		case O_SIZE_COLUMN:
			o->size_column = optarg;
			break;
		case O_SAMPLE_SIZE:
			o->sample_size = option_double("sample-size", optarg);
			break;
		case O_SUBGROUP_SIZE:
			o->subgroup_size = (uint32_t)option_count("subgroup-size", optarg);
			break;
		case O_LAMBDA:
			o->lambda = option_double("lambda", optarg);
			break;
		case O_WIDTH:
			o->width = option_double("L", optarg);
			break;
		case O_STEADY:
			o->steady_state = true;
			break;
		case O_K:
			o->k = option_double("k", optarg);
			break;
		case O_H:
			o->h = option_double("h", optarg);
			break;
		case O_RULES:
			o->rules = parse_rules(optarg);
			o->rules_given = true;
			break;
		case O_PHASE1:
			parse_phase1(optarg, o);
			break;
		case O_CENTRE:
			o->centre = option_double("centre", optarg), o->has_centre = true;
			break;
		case O_SIGMA:
			o->sigma = option_double("sigma", optarg), o->has_sigma = true;
			break;
		case O_LCL:
			o->lcl = option_double("lcl", optarg), o->has_lcl = true;
			break;
		case O_CL:
			o->cl = option_double("cl", optarg), o->has_cl = true;
			break;
		case O_UCL:
			o->ucl = option_double("ucl", optarg), o->has_ucl = true;
			break;
		case O_LSL:
			o->spec.lsl = option_double("lsl", optarg), o->spec.has_lsl = true;
			break;
		case O_USL:
			o->spec.usl = option_double("usl", optarg), o->spec.has_usl = true;
			break;
		case O_TARGET:
			o->spec.target = option_double("target", optarg), o->spec.has_target = true;
			break;
		case O_HELP:
			usage(stdout);
			exit(0);
		default:
			die(EXIT_INPUT, "unknown or incomplete option '%s' (see --help)", name);
		}
	}
	if (optind < argc)
		die(EXIT_INPUT, "unexpected argument '%s' (see --help)", argv[optind]);
	if (!has_kind)
		die(EXIT_INPUT, "option --chart is required (see --help)");
	if (!o->input)
		die(EXIT_INPUT, "option --input is required (see --help)");
	if (!o->value_column)
		o->value_column = "1";
	if (!o->rules_given)
		o->rules = o->kind == SPC_CHART_EWMA || o->kind == SPC_CHART_CUSUM
		                   ? 0
		                   : SPC_RULE_BIT(SPC_RULE_WE1) |
		                             (o->kind <= SPC_CHART_XBAR_S
		                                      ? SPC_RULE_BIT(SPC_RULE_SECONDARY_LIMIT)
		                                      : 0);
}

/* Splits a CSV line in place on commas; trims blanks and one pair of double quotes. */
static size_t split_csv(char *line, char **cells, size_t max)
{
	size_t n = 0;
	char *cell = line;
	for (;;) {
		char *comma = strchr(cell, ',');
		if (comma)
			*comma = '\0';
		while (*cell == ' ' || *cell == '\t')
			cell++;
		char *end = cell + strlen(cell);
		while (end > cell && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (end - cell >= 2 && cell[0] == '"' && end[-1] == '"') {
			end[-1] = '\0';
			cell++;
		}
		if (n < max)
			cells[n++] = cell;
		if (!comma)
			return n;
		cell = comma + 1;
	}
}

static bool is_index(const char *text)
{
	return text[0] != '\0' && strspn(text, "0123456789") == strlen(text);
}

/* Resolves a column given by 1-based index or header name to a 0-based index. */
static size_t find_column(const char *option, const char *column, char **header, size_t n)
{
	if (is_index(column)) {
		unsigned long index = strtoul(column, NULL, 10);
		if (index < 1 || index > MAX_COLUMNS)
			die(EXIT_INPUT, "option --%s: column index %s out of range", option,
			    column);
		return index - 1;
	}
	if (!header)
		die(EXIT_INPUT, "option --%s: column '%s' named, but the file has no header row",
		    option, column);
	for (size_t i = 0; i < n; i++)
		if (strcmp(header[i], column) == 0)
			return i;
	die(EXIT_INPUT, "option --%s: no column '%s' in the header row", option, column);
}

static const char *cell_at(char **cells, size_t n, size_t index, unsigned long line,
                           const char *what)
{
	if (index >= n)
		die(EXIT_INPUT, "row %lu: no column %zu for the %s", line, index + 1, what);
	return cells[index];
}

static double cell_number(char **cells, size_t n, size_t index, unsigned long line,
                          const char *what)
{
	const char *text = cell_at(cells, n, index, line, what);
	double v;
	if (!parse_double(text, &v))
		die(EXIT_INPUT, "row %lu: %s '%s' is not a finite number", line, what, text);
	return v;
}

static bool row_is_numeric(char **cells, size_t n)
{
	double v;
	for (size_t i = 0; i < n; i++)
		if (cells[i][0] != '\0' && parse_double(cells[i], &v))
			return true;
	return false;
}

static bool is_attribute_kind(enum spc_chart_kind kind)
{
	return kind == SPC_CHART_P || kind == SPC_CHART_NP || kind == SPC_CHART_C ||
	       kind == SPC_CHART_U;
}

static void read_table(const struct options *o, struct table *t)
{
	FILE *f = fopen(o->input, "r");
	if (!f)
		die(EXIT_INPUT, "cannot open input '%s': %s", o->input, strerror(errno));

	char *line = NULL, *header_line = NULL;
	size_t line_size = 0;
	unsigned long number = 0;
	char *cells[MAX_COLUMNS], *header[MAX_COLUMNS];
	size_t header_n = 0;
	bool first = true, have_columns = false;
	size_t value_col = 0, subgroup_col = 0, size_col = 0;
	bool needs_size =
	        o->kind == SPC_CHART_P || o->kind == SPC_CHART_NP || o->kind == SPC_CHART_U;

	while (getline(&line, &line_size, f) != -1) {
		number++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[strspn(line, " \t")] == '\0')
			continue; /* blank lines carry no observation */
		size_t n = split_csv(line, cells, MAX_COLUMNS);
		if (first) {
			first = false;
			if (!row_is_numeric(cells, n)) {
				/* The cells point into line, which the next getline reuses:
				 * keep a copy of the whole buffer and point into that. */
				header_line = malloc(line_size);
				if (!header_line)
					die(EXIT_FAILED, "out of memory");
				memcpy(header_line, line, line_size);
				for (size_t i = 0; i < n; i++)
					header[i] = header_line + (cells[i] - line);
				header_n = n;
				continue;
			}
		}
		if (!have_columns) {
			char **names = header_line ? header : NULL;
			value_col = find_column("column", o->value_column, names, header_n);
			if (o->subgroup_column)
				subgroup_col = find_column("subgroup-column", o->subgroup_column,
				                           names, header_n);
			if (o->size_column)
				size_col =
				        find_column("size-column", o->size_column, names, header_n);
			have_columns = true;
		}
		if (t->count == t->capacity) {
			size_t capacity = t->capacity ? t->capacity * 2 : 256;
			struct row *rows = realloc(t->rows, capacity * sizeof(*rows));
			if (!rows)
				die(EXIT_FAILED, "out of memory");
			t->rows = rows;
			t->capacity = capacity;
		}
		struct row *r = &t->rows[t->count++];
		memset(r, 0, sizeof(*r));
		r->line = number;
		if (is_attribute_kind(o->kind)) {
			r->observation.count = cell_number(cells, n, value_col, number, "count");
			if (o->size_column)
				r->observation.size =
				        cell_number(cells, n, size_col, number, "sample size");
			else
				r->observation.size = o->sample_size;
			if (needs_size && !(r->observation.size > 0))
				die(EXIT_INPUT,
				    "row %lu: %s chart needs a sample size > 0 "
				    "(--size-column or --sample-size)",
				    number, chart_name(o->kind));
		} else {
			r->observation.value = cell_number(cells, n, value_col, number, "value");
		}
		if (o->subgroup_column) {
			const char *id = cell_at(cells, n, subgroup_col, number, "subgroup id");
			if (strlen(id) >= sizeof(r->subgroup))
				die(EXIT_INPUT, "row %lu: subgroup id too long", number);
			strcpy(r->subgroup, id);
		}
	}
	bool read_error = ferror(f);
	free(line);
	free(header_line);
	fclose(f);
	if (read_error)
		die(EXIT_INPUT, "cannot read input '%s'", o->input);
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
			    chart_name(o->kind));
		return 1;
	}
	if (o->subgroup_column && t->count > 0 && n == 0) {
		/* Infer the size from the first subgroup. */
		n = 1;
		while (n < t->count && strcmp(t->rows[n].subgroup, t->rows[0].subgroup) == 0)
			n++;
	}
	if (n == 0)
		n = o->kind == SPC_CHART_EWMA || o->kind == SPC_CHART_CUSUM ? 1 : 0;
	if (n == 0)
		die(EXIT_INPUT,
		    "option --subgroup-size: required for %s (or give "
		    "--subgroup-column)",
		    chart_name(o->kind));
	if (n > SPC_SUBGROUP_MAX)
		die(EXIT_INPUT, "option --subgroup-size: %u is more than %d", n, SPC_SUBGROUP_MAX);
	if (t->count % n != 0)
		die(EXIT_INPUT,
		    "row %lu: the file ends inside a subgroup (%zu rows is not a "
		    "multiple of the subgroup size %u)",
		    t->rows[t->count - 1].line, t->count, n);
	if (o->subgroup_column) {
		for (size_t i = 0; i < t->count; i++) {
			const struct row *head = &t->rows[i - i % n];
			bool same = strcmp(t->rows[i].subgroup, head->subgroup) == 0;
			bool new_group_differs = i % n != 0 || i == 0 ||
			                         strcmp(t->rows[i - 1].subgroup, head->subgroup);
			if (!same || !new_group_differs)
				die(EXIT_INPUT,
				    "row %lu: subgroup '%s' does not have exactly %u rows",
				    t->rows[i].line, t->rows[i].subgroup, n);
		}
	}
	return n;
}

static json_t *number(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
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

/* Phase I: feeds points first..last to a baseline chart and returns its frozen parameters. */
static struct spc_chart_limits estimate(const struct options *o, const struct table *t, uint32_t n,
                                        size_t first, size_t last)
{
	struct spc_chart_config c = base_config(o, n);
	struct spc_state state;
	const char *problem = NULL;

	c.limits_source = SPC_LIMITS_BASELINE;
	c.baseline_points = (uint32_t)(last - first + 1);
	check_or_die(spc_state_init(&state, &c, &problem), problem, "chart options");
	for (size_t i = (first - 1) * n; i < last * n; i++) {
		struct spc_result r;
		if (spc_chart_add(&state, &t->rows[i].observation, &r) != SPC_OK)
			die(EXIT_INPUT, "row %lu: observation not valid for a %s chart",
			    t->rows[i].line, chart_name(o->kind));
	}
	if (!(state.limits.sigma > 0) && !is_attribute_kind(o->kind))
		die(EXIT_INPUT,
		    "option --phase1: points %zu..%zu have no spread (sigma = 0); "
		    "limits cannot be estimated",
		    first, last);
	if (!(state.limits.centre > 0) && is_attribute_kind(o->kind))
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

int main(int argc, char **argv)
{
	struct options o;
	struct table t = {0};
	parse_options(argc, argv, &o);
	read_table(&o, &t);

	uint32_t n = rows_per_point(&o, &t);
	size_t points = t.count / n;
	if (points < 2)
		die(EXIT_INPUT, "input '%s': %zu point(s); at least 2 are needed", o.input, points);

	bool explicit_limits = o.has_lcl || o.has_cl || o.has_ucl;
	bool fixed_sigma = o.has_centre || o.has_sigma;
	if (explicit_limits && (!o.has_lcl || !o.has_cl || !o.has_ucl))
		die(EXIT_INPUT, "options --lcl, --cl, --ucl: give all three");
	if (explicit_limits && fixed_sigma)
		die(EXIT_INPUT, "options --centre/--sigma and --lcl/--cl/--ucl: choose one");
	if ((explicit_limits || fixed_sigma) && o.phase1_first)
		die(EXIT_INPUT, "option --phase1: not with fixed limits");
	if (fixed_sigma && !o.has_centre)
		die(EXIT_INPUT, "option --centre: required with --sigma");
	if (fixed_sigma && !o.has_sigma && !is_attribute_kind(o.kind))
		die(EXIT_INPUT, "option --sigma: required for a %s chart", chart_name(o.kind));
	if (o.has_sigma && is_attribute_kind(o.kind))
		die(EXIT_INPUT, "option --sigma: an attribute chart's sigma follows from --centre");
	bool has_spec = o.spec.has_lsl || o.spec.has_usl;
	if ((has_spec || o.spec.has_target) && is_attribute_kind(o.kind))
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
		struct spc_chart_limits frozen = estimate(&o, &t, n, first, last);
		c.limits_source = SPC_LIMITS_FIXED_SIGMA;
		c.centre = frozen.centre;
		c.sigma = frozen.sigma;
		source = "phase1";
	}

	struct spc_state state;
	const char *problem = NULL;
	check_or_die(spc_state_init(&state, &c, &problem), problem, "chart options");

	json_t *out = json_object();
	json_t *plotted = json_array();
	json_t *violations = json_array();
	const char *second_name = secondary_name(o.kind);
	bool limits_vary = false;
	struct spc_point first_limits = {0};
	double *values = malloc(t.count * sizeof(*values));
	if (!out || !plotted || !violations || !values)
		die(EXIT_FAILED, "out of memory");

	for (size_t i = 0; i < t.count; i++) {
		struct spc_result r;
		values[i] = t.rows[i].observation.value;
		if (spc_chart_add(&state, &t.rows[i].observation, &r) != SPC_OK)
			die(EXIT_INPUT, "row %lu: observation not valid for a %s chart",
			    t.rows[i].line, chart_name(o.kind));
		if (!r.plotted)
			continue;
		if (r.point == 1)
			first_limits = r.primary;
		else if (r.primary.lcl != first_limits.lcl || r.primary.ucl != first_limits.ucl ||
		         r.primary.cl != first_limits.cl)
			limits_vary = true;
		json_t *p = point_json(&r.primary);
		json_object_set_new(p, "point", json_integer((json_int_t)r.point));
		if (second_name)
			json_object_set_new(p, second_name,
			                    r.has_secondary ? point_json(&r.secondary)
			                                    : json_null());
		json_array_append_new(plotted, p);
		for (uint32_t v = 0; v < r.violation_count; v++)
			json_array_append_new(violations,
			                      json_pack("{s:s, s:I, s:I, s:I}", "rule",
			                                spc_rule_name(r.violations[v].rule),
			                                "point", (json_int_t)r.point, "first_point",
			                                (json_int_t)r.violations[v].first_point,
			                                "last_point",
			                                (json_int_t)r.violations[v].last_point));
	}

	json_object_set_new(out, "chart", json_string(chart_name(o.kind)));
	json_object_set_new(out, "subgroup_size", json_integer(n));
	json_object_set_new(out, "points", json_integer((json_int_t)points));
	json_object_set_new(out, "limits_source", json_string(source));
	json_object_set_new(out, "phase1",
	                    first ? json_pack("{s:I, s:I}", "first", (json_int_t)first, "last",
	                                      (json_int_t)last)
	                          : json_null());
	json_object_set_new(out, "centre", number(state.limits.centre));
	json_object_set_new(out, "sigma",
	                    is_attribute_kind(o.kind) || explicit_limits
	                            ? json_null()
	                            : number(state.limits.sigma));
	json_object_set_new(out, "limits_vary", json_boolean(limits_vary));
	json_object_set_new(out, "centre_line",
	                    limits_vary ? json_null() : number(first_limits.cl));
	json_object_set_new(out, "lcl", limits_vary ? json_null() : number(first_limits.lcl));
	json_object_set_new(out, "ucl", limits_vary ? json_null() : number(first_limits.ucl));
	json_object_set_new(out, "plotted", plotted);
	json_object_set_new(out, "violations", violations);

	json_t *capability = json_null();
	if (has_spec) {
		double overall_mean, overall_sd;
		if (spc_mean_sd(values, t.count, &overall_mean, &overall_sd) != SPC_OK)
			die(EXIT_INPUT, "input '%s': too few values for capability", o.input);
		/* Cp/Cpk describe the process the chart models (its centre and within sigma);
		 * Pp/Ppk/Cpm the data as they are. Explicit limits carry no sigma. */
		double within = explicit_limits ? NAN : state.limits.sigma;
		double centre = explicit_limits ? overall_mean : state.limits.centre;
		struct spc_capability cw, co;
		if (spc_capability_compute(&o.spec, centre, within, NAN, &cw) != SPC_OK ||
		    spc_capability_compute(&o.spec, overall_mean, NAN, overall_sd, &co) != SPC_OK)
			die(EXIT_INPUT, "options --lsl/--usl/--target: need LSL < USL");
		capability = json_object();
		json_object_set_new(capability, "lsl",
		                    o.spec.has_lsl ? number(o.spec.lsl) : json_null());
		json_object_set_new(capability, "usl",
		                    o.spec.has_usl ? number(o.spec.usl) : json_null());
		json_object_set_new(capability, "target",
		                    o.spec.has_target ? number(o.spec.target) : json_null());
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
		json_object_set_new(capability, "cpm", index_json(co.cpm));
		if (!capability)
			die(EXIT_FAILED, "out of memory");
	}
	json_object_set_new(out, "capability", capability);

	int rc = json_dumpf(out, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
	json_decref(out);
	free(values);
	free(t.rows);
	if (rc != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0)
		die(EXIT_FAILED, "cannot write the result");
	return 0;
}
