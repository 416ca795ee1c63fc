/* analyze.h: what the parts of ct-spc-analyze share.
 *
 * spc_analyze.c owns the options and the univariate charts; analyze_t2.c the Hotelling T2
 * chart (several value columns). Both read the file with analyze_csv (a library, so the fuzz
 * target runs it too), print through the same JSON writer and die on bad input with the same
 * exit codes. Internal to the command. */
#ifndef ANALYZE_H
#define ANALYZE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define EXIT_INPUT  2
#define EXIT_FAILED 1

/* Prints "ct-spc-analyze: MESSAGE" on stderr and exits with `code`. */
void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* A finite number, or false. */
bool parse_double(const char *text, double *ret);

/* A JSON real, or null for a non-finite value. */
json_t *number(double v);

/* The JSON document on stdout, written as it is made rather than built as one tree (a tree
 * of two million points took gigabytes): an object whose members are written in order, a
 * member's array item by item. The text is exactly what json_dumps(JSON_INDENT(2)) of the
 * whole tree gives, with every real in its shortest round-trip form (31.6, not
 * 31.600000000000001; 5.0 stays a real), and a final newline. Values are stolen; a NULL value
 * (jansson out of memory) makes doc_end fail. */
struct doc_writer {
	FILE *out;
	size_t members, items;
	int rc; /* first failure: CT_ERR_NOMEM or CT_ERR_IO */
};
void doc_begin(struct doc_writer *w, FILE *out);
void doc_member(struct doc_writer *w, const char *key, json_t *value);
void doc_array_begin(struct doc_writer *w, const char *key);
void doc_item(struct doc_writer *w, json_t *value);
void doc_array_end(struct doc_writer *w);
/* Closes the document and flushes; CT_OK, CT_ERR_NOMEM or CT_ERR_IO (the first failure). */
int doc_end(struct doc_writer *w);

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
