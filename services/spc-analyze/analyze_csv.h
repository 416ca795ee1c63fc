/* analyze_csv: ct-spc-analyze's CSV reader, a library of its own so that the command and the
 * fuzz target (tests/fuzz/fuzz_spc_csv.c) run the same code.
 *
 * The format (services/spc-analyze/README.md): comma-separated cells, blanks around a cell
 * and one pair of double quotes trimmed, no quoting of commas; blank lines skipped; the first
 * row is a header when none of its cells is a number. Every row must have as many cells as
 * the first (the header, or the first data row when there is none): a short row is a
 * truncated export, not a row whose missing cells may be read as absent.
 *
 * Only the requested columns are kept, in compact arrays (a double per number cell, the line
 * number and the subgroup id's run per row, each distinct run of equal ids once), so the
 * table takes a few tens of bytes per row whatever the width of the file. Nothing here exits
 * or prints: every failure comes back as a code with the message in the caller's buffer. */
#ifndef ANALYZE_CSV_H
#define ANALYZE_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CSV_MAX_COLUMNS 256
#define CSV_ID_MAX      63 /* bytes of a subgroup id */

enum csv_use {
	CSV_NUMBER, /* a finite number per row, into csv_table.x */
	CSV_ID,     /* a subgroup id per row (at most one such column) */
	CSV_CHECK,  /* resolved against the header (an unknown name is an error), not read */
};

/* A column the caller wants, as the user named it. */
struct csv_column {
	const char *option; /* the option that names it, for messages ("column") */
	const char *name;   /* header name or 1-based index */
	const char *what;   /* what its cells are, for messages ("value") */
	enum csv_use use;
};

/* The data rows of a file. */
struct csv_table {
	size_t count;        /* data rows */
	size_t n_numbers;    /* CSV_NUMBER columns, in request order */
	double *x;           /* x[row * n_numbers + k]: the k-th number column of a row */
	unsigned long *line; /* per row: its line in the file (1-based), for messages */
	/* With a CSV_ID column (else NULL): per row the index of its run of equal ids, and per
	 * run the offset of its id in `ids` (NUL-terminated strings). */
	size_t *run;
	size_t *id_offset;
	char *ids;
	size_t capacity, n_runs, run_capacity, ids_size, ids_capacity;
};

/* Reads every data row of `in` into *ret_table (caller's storage, freed with
 * csv_table_cleanup), resolving `columns` against the header when the first data row is met.
 * Returns CT_OK; CT_ERR_INVALID for a file or column that breaks a rule (a row whose cell
 * count differs from the first row's, more than CSV_MAX_COLUMNS cells, an unknown column, a
 * cell that is not a finite number, an id too long), CT_ERR_NOMEM, or CT_ERR_IO when `in`
 * fails; the message, naming the line or the option, in err. *ret_table is untouched on
 * failure. */
int csv_table_read(FILE *in, const struct csv_column *columns, size_t n_columns,
                   struct csv_table *ret_table, char *err, size_t err_len);

/* The subgroup id of a row ("" without an id column). */
const char *csv_table_id(const struct csv_table *table, size_t row);

void csv_table_cleanup(struct csv_table *table);

#endif
