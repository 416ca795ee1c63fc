/* analyze_t2: the Hotelling T2 chart of ct-spc-analyze (--chart t2), on one CSV column per
 * variable.
 *
 * Every number comes from the engine's T2 module (services/spc/spc_t2.h): the baseline mean
 * and covariance (spc_t2_estimate: sample covariance for individuals, pooled within-subgroup
 * covariance for subgroups), its inverse (spc_t2_invert), each point's statistic (spc_t2_stat)
 * and the limits (spc_t2_ucl). Which limit a point is judged against follows from whether it is
 * part of the estimate:
 *   - estimated here (phase I): the points of --phase1 not named by --exclude form the baseline
 *     of m points or subgroups; each is judged against the phase I limit (Beta for individuals,
 *     Tracy, Young & Mason 1992; F for subgroups). A point outside the range or excluded is
 *     independent of the estimate, a future point to it, and is judged against the phase II
 *     (F) limit for that m.
 *   - given (--mean-vector, --covariance): the chi-square limit when the parameters are known,
 *     or the phase II limit when --baseline-count says they were estimated from m points.
 * The lower limit of a T2 chart is 0; a signal is T2 > UCL. */
#include "analyze.h"
#include "analyze_csv.h"
#include "spc_t2.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ct_config.h"
#include "ct_error.h"

#define P_MAX SPC_T2_MAX_P

/* The CSV as T2 wants it (analyze_csv.h): p numbers per row, x[row * p + k] variable k, and
 * the subgroup id of each row. */
struct t2_table {
	struct csv_table csv;
	char name[P_MAX][64]; /* variable k as given (header name or index) */
	int p;
};

/* Splits a comma list into at most `max` items of at most `size` - 1 characters. Returns the
 * number of items; dies naming the option when the list is empty, too long or an item too
 * long. */
static int split_list(const char *option, const char *text, char (*items)[64], int max)
{
	int n = 0;
	for (const char *s = text;; s++) {
		size_t len = strcspn(s, ",");
		while (len > 0 && (*s == ' ' || *s == '\t'))
			s++, len--;
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (len == 0 || len >= sizeof(items[0]))
			die(EXIT_INPUT, "option --%s: '%s' has an empty or too long item", option,
			    text);
		if (n == max)
			die(EXIT_INPUT, "option --%s: more than %d items", option, max);
		memcpy(items[n], s, len);
		items[n][len] = '\0';
		n++;
		s += strcspn(s, ",");
		if (*s == '\0')
			return n;
	}
}

/* A comma list of exactly `count` finite numbers. */
static void parse_numbers(const char *option, const char *text, double *ret, int count)
{
	char items[P_MAX * P_MAX][64];
	int n = split_list(option, text, items, P_MAX * P_MAX);
	if (n != count)
		die(EXIT_INPUT, "option --%s: %d number(s) given, %d needed", option, n, count);
	for (int i = 0; i < n; i++)
		if (!parse_double(items[i], &ret[i]))
			die(EXIT_INPUT, "option --%s: '%s' is not a finite number", option,
			    items[i]);
}

/* Reads the variables' columns (and the subgroup id) of every data row; header row and blank
 * lines as for the univariate charts. */
static void read_t2_table(const struct t2_request *req, struct t2_table *t)
{
	struct csv_column columns[P_MAX + 1];
	size_t n = 0;
	char err[1024];

	t->p = split_list("columns", req->columns, t->name, P_MAX);
	for (int k = 0; k < t->p; k++)
		columns[n++] = (struct csv_column){"columns", t->name[k], t->name[k], CSV_NUMBER};
	if (req->subgroup_column)
		columns[n++] = (struct csv_column){"subgroup-column", req->subgroup_column,
		                                   "subgroup id", CSV_ID};
	FILE *f = fopen(req->input, "r");
	if (!f)
		die(EXIT_INPUT, "cannot open input '%s': %s", req->input, strerror(errno));
	int rc = csv_table_read(f, columns, n, &t->csv, err, sizeof(err));
	fclose(f);
	if (rc == CT_ERR_IO)
		die(EXIT_INPUT, "cannot read input '%s'", req->input);
	if (rc != CT_OK)
		die(rc == CT_ERR_NOMEM ? EXIT_FAILED : EXIT_INPUT, "%s", err);
}

/* Rows per point: --subgroup-size, else the length of the first run of equal subgroup ids,
 * else 1; with a subgroup column every subgroup must have exactly that many rows. */
static int subgroup_size(const struct t2_request *req, const struct t2_table *t)
{
	size_t n = req->subgroup_size, count = t->csv.count;

	if (n == 0 && req->subgroup_column && count > 0) {
		n = 1;
		while (n < count && strcmp(csv_table_id(&t->csv, n), csv_table_id(&t->csv, 0)) == 0)
			n++;
	}
	if (n == 0)
		n = 1;
	if (n > INT_MAX / P_MAX)
		die(EXIT_INPUT, "option --subgroup-size: %zu is too large", n);
	if (count % n != 0)
		die(EXIT_INPUT,
		    "row %lu: the file ends inside a subgroup (%zu rows is not a multiple of the "
		    "subgroup size %zu)",
		    t->csv.line[count - 1], count, n);
	for (size_t i = 0; req->subgroup_column && i < count; i++) {
		const char *id = csv_table_id(&t->csv, i);
		const char *head = csv_table_id(&t->csv, i - i % n);
		bool same = strcmp(id, head) == 0;
		bool starts_new =
		        i % n != 0 || i == 0 || strcmp(csv_table_id(&t->csv, i - 1), head) != 0;
		if (!same || !starts_new)
			die(EXIT_INPUT, "row %lu: subgroup '%s' does not have exactly %zu rows",
			    t->csv.line[i], id, n);
	}
	return (int)n;
}

static void check_t2(int rc, const char *what)
{
	if (rc == SPC_T2_ERR_TOO_FEW)
		die(EXIT_INPUT, "%s: too few points or subgroups for %s", what,
		    "the limit (individuals: phase I needs m > p + 1, phase II m > p; subgroups "
		    "m n - m - p + 1 > 0)");
	if (rc != SPC_T2_OK)
		die(EXIT_INPUT, "%s: %s", what, spc_t2_strerror(rc));
}

static json_t *vector_json(const double *v, int p)
{
	json_t *a = json_array();
	for (int k = 0; a && k < p; k++)
		json_array_append_new(a, number(v[k]));
	return a;
}

static json_t *matrix_json(const double *m, int p)
{
	json_t *a = json_array();
	for (int r = 0; a && r < p; r++)
		json_array_append_new(a, vector_json(m + r * p, p));
	return a;
}

static const char *limit_name(enum spc_t2_limit limit)
{
	return limit == SPC_T2_LIMIT_PHASE1   ? "phase1"
	       : limit == SPC_T2_LIMIT_PHASE2 ? "phase2"
	                                      : "chi_square";
}

/* The mean vector of point i: its n rows' values, variable by variable. */
static void point_mean(const struct t2_table *t, size_t i, int n, double *ret_xbar)
{
	int p = t->p;

	for (int k = 0; k < p; k++) {
		double sum = 0;
		for (int j = 0; j < n; j++)
			sum += t->csv.x[(i * (size_t)n + (size_t)j) * (size_t)p + (size_t)k];
		ret_xbar[k] = sum / n;
	}
}

int analyze_t2(const struct t2_request *req)
{
	struct t2_table t = {0};
	double alpha;

	if (!parse_double(req->alpha, &alpha) || !(alpha > 0 && alpha < 1))
		die(EXIT_INPUT, "option --alpha: '%s' is not a probability 0 < alpha < 1",
		    req->alpha);
	read_t2_table(req, &t);
	int p = t.p, n = subgroup_size(req, &t);
	size_t points = t.csv.count / (size_t)n;
	if (points < 2)
		die(EXIT_INPUT, "input '%s': %zu point(s); at least 2 are needed", req->input,
		    points);

	bool given = req->mean_vector != NULL || req->covariance != NULL;
	bool *excluded = parse_exclude(req->exclude, points);
	bool *in_baseline = calloc(points, sizeof(*in_baseline));
	double *t2 = malloc(points * sizeof(*t2));
	double *base = malloc(t.csv.count * (size_t)p * sizeof(*base));
	if (!in_baseline || !t2 || !base)
		die(EXIT_FAILED, "out of memory");

	double mean[P_MAX], cov[P_MAX * P_MAX], inv[P_MAX * P_MAX];
	double ucl_baseline = NAN, ucl_other = NAN;
	enum spc_t2_limit limit_baseline = SPC_T2_LIMIT_PHASE1, limit_other = SPC_T2_LIMIT_PHASE2;
	long m = 0;
	size_t first = 0, last = 0;
	const char *source;

	if (given) {
		if (req->mean_vector == NULL || req->covariance == NULL)
			die(EXIT_INPUT, "options --mean-vector, --covariance: give both");
		if (req->phase1_first || req->exclude)
			die(EXIT_INPUT, "options --phase1/--exclude: not with a given mean and "
			                "covariance");
		parse_numbers("mean-vector", req->mean_vector, mean, p);
		parse_numbers("covariance", req->covariance, cov, p * p);
		if (req->baseline_count != NULL &&
		    ct_parse_long(req->baseline_count, 1, INT_MAX, &m) != CT_OK)
			die(EXIT_INPUT,
			    "option --baseline-count: '%s' is not a positive whole number",
			    req->baseline_count);
		limit_other = m > 0 ? SPC_T2_LIMIT_PHASE2 : SPC_T2_LIMIT_KNOWN;
		source = m > 0 ? "fixed_estimate" : "known";
		check_t2(spc_t2_ucl(limit_other, p, n, (int)m, alpha, &ucl_other), "limit");
	} else {
		if (req->baseline_count != NULL)
			die(EXIT_INPUT, "option --baseline-count: only with --mean-vector");
		first = req->phase1_first ? req->phase1_first : 1;
		last = req->phase1_last ? req->phase1_last : points;
		if (last > points)
			die(EXIT_INPUT, "option --phase1: point %zu is past the last point (%zu)",
			    last, points);
		for (size_t i = first - 1; i < last; i++) {
			if (excluded && excluded[i])
				continue;
			in_baseline[i] = true;
			memcpy(base + (size_t)m * (size_t)n * (size_t)p,
			       t.csv.x + i * (size_t)n * (size_t)p,
			       (size_t)n * (size_t)p * sizeof(*base));
			m++;
		}
		source = "phase1";
		check_t2(spc_t2_ucl(SPC_T2_LIMIT_PHASE1, p, n, (int)m, alpha, &ucl_baseline),
		         "option --phase1/--exclude");
		check_t2(spc_t2_ucl(SPC_T2_LIMIT_PHASE2, p, n, (int)m, alpha, &ucl_other),
		         "option --phase1/--exclude");
		check_t2(spc_t2_estimate(base, (int)m, n, p, mean, cov), "baseline estimate");
	}
	check_t2(spc_t2_invert(cov, p, inv), "covariance");

	/* Every point's statistic first, so a bad point stops the command before anything is
	 * printed; then the document, written as it goes (analyze.h, doc_writer). */
	for (size_t i = 0; i < points; i++) {
		double xbar[P_MAX];
		point_mean(&t, i, n, xbar);
		if (spc_t2_stat(xbar, mean, inv, p, n, &t2[i]) != SPC_T2_OK)
			die(EXIT_INPUT, "row %lu: T2 is not finite", t.csv.line[i * (size_t)n]);
	}

	struct doc_writer w;
	json_t *names = json_array();
	for (int k = 0; names && k < p; k++)
		json_array_append_new(names, json_string(t.name[k]));
	json_t *excluded_json = json_array();
	for (size_t i = 0; excluded_json && excluded && i < points; i++)
		if (excluded[i])
			json_array_append_new(excluded_json, json_integer((json_int_t)(i + 1)));
	doc_begin(&w, stdout);
	doc_member(&w, "chart", json_string(SPC_T2_KIND_NAME));
	doc_member(&w, "variables", names);
	doc_member(&w, "p", json_integer(p));
	doc_member(&w, "subgroup_size", json_integer(n));
	doc_member(&w, "points", json_integer((json_int_t)points));
	doc_member(&w, "limits_source", json_string(source));
	doc_member(&w, "alpha", number(alpha));
	doc_member(&w, "phase1",
	           first ? json_pack("{s:I, s:I}", "first", (json_int_t)first, "last",
	                             (json_int_t)last)
	                 : json_null());
	doc_member(&w, "excluded", excluded_json);
	doc_member(&w, "baseline_count", m > 0 ? json_integer(m) : json_null());
	doc_member(&w, "mean", vector_json(mean, p));
	doc_member(&w, "covariance", matrix_json(cov, p));
	doc_member(&w, "ucl_phase1", given ? json_null() : number(ucl_baseline));
	doc_member(&w, "ucl_phase2",
	           limit_other == SPC_T2_LIMIT_PHASE2 ? number(ucl_other) : json_null());
	doc_member(&w, "ucl_chi_square",
	           limit_other == SPC_T2_LIMIT_KNOWN ? number(ucl_other) : json_null());
	doc_array_begin(&w, "plotted");
	for (size_t i = 0; i < points; i++) {
		double xbar[P_MAX];
		bool baseline = in_baseline[i];
		double ucl = baseline ? ucl_baseline : ucl_other;
		point_mean(&t, i, n, xbar);
		doc_item(&w,
		         json_pack("{s:I, s:o, s:o, s:o, s:s, s:b, s:b, s:o}", "point",
		                   (json_int_t)(i + 1), "value", number(t2[i]), "lcl", number(0.0),
		                   "ucl", number(ucl), "limit",
		                   limit_name(baseline ? limit_baseline : limit_other),
		                   "in_baseline", baseline, "excluded",
		                   excluded != NULL && excluded[i], "mean", vector_json(xbar, p)));
	}
	doc_array_end(&w);
	doc_array_begin(&w, "violations");
	for (size_t i = 0; i < points; i++) {
		double ucl = in_baseline[i] ? ucl_baseline : ucl_other;
		if (t2[i] > ucl)
			doc_item(&w,
			         json_pack("{s:s, s:I, s:I, s:I}", "rule", "t2", "point",
			                   (json_int_t)(i + 1), "first_point", (json_int_t)(i + 1),
			                   "last_point", (json_int_t)(i + 1)));
	}
	doc_array_end(&w);
	int rc = doc_end(&w);

	free(excluded);
	free(in_baseline);
	free(t2);
	free(base);
	csv_table_cleanup(&t.csv);
	if (rc == CT_ERR_NOMEM)
		die(EXIT_FAILED, "out of memory");
	if (rc != CT_OK)
		die(EXIT_FAILED, "cannot write the result");
	return 0;
}
