/* analyze_csv: ct-spc-analyze's CSV reader (see analyze_csv.h). */
#include "analyze_csv.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ct_array.h"
#include "ct_config.h"
#include "ct_error.h"

/* What reading one file needs besides the table it fills. */
struct reader {
	const struct csv_column *columns;
	size_t n_columns;
	size_t *index;       /* per requested column: 0-based cell index, once resolved */
	bool resolved;       /* columns resolved (at the header, else at the first data row) */
	size_t width;        /* cells of the first row; 0 before it */
	unsigned long first; /* its line */
	bool header;         /* the first row was a header */
	char *cells[CSV_MAX_COLUMNS];
	struct csv_table t;
};

/* Splits a line in place on commas, trimming blanks and one pair of double quotes per cell.
 * Keeps at most `max` cells but returns how many the line has, so a row too wide is told
 * apart from one that fits. */
static size_t split(char *line, char **cells, size_t max)
{
	size_t n = 0;
	char *cell = line;

	for (;;) {
		char *comma = strchr(cell, ',');
		if (comma != NULL)
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
			cells[n] = cell;
		n++;
		if (comma == NULL)
			return n;
		cell = comma + 1;
	}
}

static bool is_number(const char *text, double *ret)
{
	return ct_parse_double(text, -INFINITY, INFINITY, ret) == CT_OK;
}

/* A header row has no cell that is a number. */
static bool is_header(char **cells, size_t n)
{
	double v;

	for (size_t i = 0; i < n; i++)
		if (cells[i][0] != '\0' && is_number(cells[i], &v))
			return false;
	return true;
}

static bool is_index(const char *text)
{
	return text[0] != '\0' && strspn(text, "0123456789") == strlen(text);
}

/* Resolves every requested column to a cell index: a 1-based index as given, a name through
 * the header's cells (names: NULL without a header). */
static int resolve(struct reader *r, char **names, size_t n, char *err, size_t err_len)
{
	for (size_t c = 0; c < r->n_columns; c++) {
		const struct csv_column *col = &r->columns[c];
		long index;
		size_t i;

		if (is_index(col->name)) {
			if (ct_parse_long(col->name, 1, CSV_MAX_COLUMNS, &index) != CT_OK)
				return ct_set_error(err, err_len, CT_ERR_INVALID,
				                    "option --%s: column index %s out of range",
				                    col->option, col->name);
			r->index[c] = (size_t)index - 1;
			continue;
		}
		if (names == NULL)
			return ct_set_error(err, err_len, CT_ERR_INVALID,
			                    "option --%s: column '%s' named, but the file has no "
			                    "header row",
			                    col->option, col->name);
		for (i = 0; i < n && strcmp(names[i], col->name) != 0; i++)
			;
		if (i == n)
			return ct_set_error(err, err_len, CT_ERR_INVALID,
			                    "option --%s: no column '%s' in the header row",
			                    col->option, col->name);
		r->index[c] = i;
	}
	r->resolved = true;
	return CT_OK;
}

/* Room for one more row in every per-row array (they share one capacity). */
static int grow(struct csv_table *t, bool with_id)
{
	size_t cap;

	if (t->count < t->capacity)
		return CT_OK;
	if (t->n_numbers > 0) {
		cap = t->capacity;
		double *x = ct_array_grow(t->x, &cap, t->count + 1, sizeof(*x) * t->n_numbers, 256);
		if (x == NULL)
			return CT_ERR_NOMEM;
		t->x = x;
	}
	cap = t->capacity;
	unsigned long *line = ct_array_grow(t->line, &cap, t->count + 1, sizeof(*line), 256);
	if (line == NULL)
		return CT_ERR_NOMEM;
	t->line = line;
	if (with_id) {
		cap = t->capacity;
		size_t *run = ct_array_grow(t->run, &cap, t->count + 1, sizeof(*run), 256);
		if (run == NULL)
			return CT_ERR_NOMEM;
		t->run = run;
	}
	t->capacity = cap;
	return CT_OK;
}

/* Row `row`'s id is `id`: the previous row's run when that has the same id, else a new run. */
static int add_id(struct csv_table *t, size_t row, const char *id)
{
	size_t len = strlen(id);

	if (t->n_runs > 0 && strcmp(t->ids + t->id_offset[t->n_runs - 1], id) == 0) {
		t->run[row] = t->n_runs - 1;
		return CT_OK;
	}
	size_t *offset =
	        ct_array_grow(t->id_offset, &t->run_capacity, t->n_runs + 1, sizeof(*offset), 64);
	if (offset == NULL)
		return CT_ERR_NOMEM;
	t->id_offset = offset;
	char *ids = ct_array_grow(t->ids, &t->ids_capacity, t->ids_size + len + 1, 1, 1024);
	if (ids == NULL)
		return CT_ERR_NOMEM;
	t->ids = ids;
	memcpy(t->ids + t->ids_size, id, len + 1);
	t->id_offset[t->n_runs] = t->ids_size;
	t->ids_size += len + 1;
	t->run[row] = t->n_runs++;
	return CT_OK;
}

/* Appends one data row (its n cells split into r->cells). */
static int add_row(struct reader *r, size_t n, unsigned long line, char *err, size_t err_len)
{
	struct csv_table *t = &r->t;
	size_t row = t->count, k = 0;
	bool with_id = false;
	int rc;

	for (size_t c = 0; c < r->n_columns; c++)
		with_id = with_id || r->columns[c].use == CSV_ID;
	if ((rc = grow(t, with_id)) != CT_OK)
		return rc;
	for (size_t c = 0; c < r->n_columns; c++) {
		const struct csv_column *col = &r->columns[c];
		const char *cell;
		double v;

		if (col->use == CSV_CHECK)
			continue;
		/* An index past the header's cells: every row is that wide, so this is the first
		 * data row, and the column does not exist. */
		if (r->index[c] >= n)
			return ct_set_error(err, err_len, CT_ERR_INVALID,
			                    "row %lu: no column %zu for the %s", line,
			                    r->index[c] + 1, col->what);
		cell = r->cells[r->index[c]];
		if (col->use == CSV_ID) {
			if (strlen(cell) > CSV_ID_MAX)
				return ct_set_error(err, err_len, CT_ERR_INVALID,
				                    "row %lu: %s too long", line, col->what);
			if ((rc = add_id(t, row, cell)) != CT_OK)
				return rc;
			continue;
		}
		if (!is_number(cell, &v))
			return ct_set_error(err, err_len, CT_ERR_INVALID,
			                    "row %lu: %s '%s' is not a finite number", line,
			                    col->what, cell);
		t->x[row * t->n_numbers + k++] = v;
	}
	t->line[row] = line;
	t->count++;
	return CT_OK;
}

/* One non-blank line: the header, or a data row of the first row's width. */
static int take_line(struct reader *r, char *text, unsigned long line, char *err, size_t err_len)
{
	size_t n = split(text, r->cells, CSV_MAX_COLUMNS);
	int rc;

	if (n > CSV_MAX_COLUMNS)
		return ct_set_error(err, err_len, CT_ERR_INVALID,
		                    "row %lu: %zu columns, more than %d", line, n, CSV_MAX_COLUMNS);
	if (r->width == 0) {
		r->width = n;
		r->first = line;
		if (is_header(r->cells, n)) {
			r->header = true;
			return resolve(r, r->cells, n, err, err_len);
		}
	} else if (n != r->width) {
		return ct_set_error(err, err_len, CT_ERR_INVALID,
		                    "row %lu: %zu column(s), but the %s (row %lu) has %zu; every "
		                    "row needs the same columns",
		                    line, n, r->header ? "header row" : "first row", r->first,
		                    r->width);
	}
	if (!r->resolved && (rc = resolve(r, NULL, 0, err, err_len)) != CT_OK)
		return rc;
	return add_row(r, n, line, err, err_len);
}

int csv_table_read(FILE *in, const struct csv_column *columns, size_t n_columns,
                   struct csv_table *ret_table, char *err, size_t err_len)
{
	struct reader r = {.columns = columns, .n_columns = n_columns};
	char *text = NULL;
	size_t text_size = 0;
	unsigned long line = 0;
	int rc = CT_OK;

	for (size_t c = 0; c < n_columns; c++)
		r.t.n_numbers += columns[c].use == CSV_NUMBER;
	r.index = calloc(n_columns > 0 ? n_columns : 1, sizeof(*r.index));
	if (r.index == NULL)
		return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
	while (rc == CT_OK && getline(&text, &text_size, in) != -1) {
		line++;
		text[strcspn(text, "\r\n")] = '\0';
		if (text[strspn(text, " \t")] == '\0')
			continue; /* blank lines carry no observation */
		rc = take_line(&r, text, line, err, err_len);
	}
	if (rc == CT_OK && ferror(in))
		rc = ct_set_error(err, err_len, CT_ERR_IO, "cannot read the input");
	if (rc == CT_ERR_NOMEM)
		ct_set_error(err, err_len, rc, "out of memory");
	free(text);
	free(r.index);
	if (rc != CT_OK) {
		csv_table_cleanup(&r.t);
		return rc;
	}
	*ret_table = r.t;
	return CT_OK;
}

const char *csv_table_id(const struct csv_table *table, size_t row)
{
	return table->run != NULL ? table->ids + table->id_offset[table->run[row]] : "";
}

void csv_table_cleanup(struct csv_table *table)
{
	free(table->x);
	free(table->line);
	free(table->run);
	free(table->id_offset);
	free(table->ids);
	memset(table, 0, sizeof(*table));
}
