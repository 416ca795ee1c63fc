/* analyze.h: what the parts of ct-spc-analyze share.
 *
 * spc_analyze.c owns the options, the CSV reading of one value column and the univariate
 * charts; analyze_t2.c the Hotelling T2 chart (several value columns). Both print through the
 * same JSON writer and die on bad input with the same exit codes. Internal to the command. */
#ifndef ANALYZE_H
#define ANALYZE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define EXIT_INPUT  2
#define EXIT_FAILED 1
#define MAX_COLUMNS 256

/* Prints "ct-spc-analyze: MESSAGE" on stderr and exits with `code`. */
void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* A finite number, or false. */
bool parse_double(const char *text, double *ret);

/* A JSON real, or null for a non-finite value. */
json_t *number(double v);

/* Writes a JSON text with every real in its shortest round-trip form; 0 or -1. */
int write_shortest_reals(const char *text, FILE *out);

/* CSV helpers: split a line in place, resolve a column by 1-based index or header name (dies
 * when unknown), read a numeric cell (dies naming the row), tell a header row from data. */
size_t split_csv(char *line, char **cells, size_t max);
size_t find_column(const char *option, const char *column, char **header, size_t n);
const char *cell_at(char **cells, size_t n, size_t index, unsigned long line, const char *what);
double cell_number(char **cells, size_t n, size_t index, unsigned long line, const char *what);
bool row_is_numeric(char **cells, size_t n);

/* A CSV file's optional header row: its column names, pointing into a copy of their line
 * (the next getline reuses the buffer the cells point into). */
struct csv_header {
	char *line; /* NULL: the file has no header */
	char *names[MAX_COLUMNS];
	size_t n;
};
/* For the file's first row (cells split from line, a getline buffer of line_size bytes):
 * when it is not numbers, keeps it as the header and returns true (the caller skips it).
 * Dies when out of memory. */
bool csv_take_header(struct csv_header *h, const char *line, size_t line_size, char **cells,
                     size_t n);
/* The names to resolve columns by, NULL without a header (columns are then 1-based indices). */
char **csv_header_names(struct csv_header *h);
void csv_header_cleanup(struct csv_header *h);

/* Parses `--exclude` ("3,17": 1-based point numbers, any order, repeats allowed) into a flag per
 * point: *ret_flags[i] is true when point i + 1 is excluded (heap, caller frees; NULL when text
 * is NULL). Dies naming the option when a number is not a whole number in 1..points. */
bool *parse_exclude(const char *text, size_t points);

/* Hotelling T2 chart (--chart t2): what the command line gave. Numbers that may be left out
 * are the option text, NULL when not given. */
struct t2_request {
	const char *input;
	const char *columns;         /* comma list of names or 1-based indices (required) */
	const char *subgroup_column; /* optional */
	uint32_t subgroup_size;      /* 0: not given */
	const char *alpha;           /* false-alarm probability per point */
	const char *mean_vector;     /* known or offline mean: comma list of p numbers */
	const char *covariance;      /* p x p row-major comma list, with mean_vector */
	const char *baseline_count;  /* with mean_vector: m it was estimated from (phase II) */
	unsigned long phase1_first, phase1_last; /* 0 = all points */
	const char *exclude;                     /* points left out of the estimate */
};

/* Runs the T2 chart and prints its JSON on stdout; returns the exit code (dies on bad input). */
int analyze_t2(const struct t2_request *req);

#endif
