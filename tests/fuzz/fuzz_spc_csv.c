/* Fuzz target: ct-spc-analyze's CSV reader (csv_table_read, services/spc-analyze/analyze_csv.h).
 *
 * The input's first line is the request, ';'-separated columns each a use letter and a name
 * or 1-based index ("nvalue;isample;csize": number, id, check); the rest is the file. What
 * the reader accepts must keep its promises, checked against an independent reading of the
 * bytes: every non-blank line has as many cells as the first, every number is finite, lines
 * ascend, ids fit. And the table written back as a CSV of our own reads back to the same
 * table. A refusal must say why. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze_csv.h"
#include "ct_error.h"
#include "fuzz_util.h"

#define FUZZ_MAX_INPUT   (1u << 16)
#define FUZZ_MAX_COLUMNS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses the request line in place into columns; returns how many. A second id column is
 * read as a number: the reader takes at most one. */
static size_t parse_request(char *line, struct csv_column *columns)
{
	size_t n = 0;
	bool with_id = false;

	for (char *item = line; item != NULL && n < FUZZ_MAX_COLUMNS;) {
		char *next = strchr(item, ';');
		if (next != NULL)
			*next++ = '\0';
		if (*item != '\0') {
			enum csv_use use = *item == 'i' && !with_id ? CSV_ID
			                   : *item == 'c'           ? CSV_CHECK
			                                            : CSV_NUMBER;
			with_id = with_id || use == CSV_ID;
			columns[n++] = (struct csv_column){"column", item + 1, "cell", use};
		}
		item = next;
	}
	return n;
}

/* The reader's lines as getline and its trimming see them: each ends at the first '\r',
 * '\n' or NUL; a line of blanks only is skipped. Aborts unless every other line has as many
 * commas as the first; returns how many such lines there are. */
static size_t check_widths(const uint8_t *data, size_t size)
{
	size_t lines = 0, width = 0, pos = 0;

	while (pos < size) {
		const uint8_t *start = data + pos, *nl = memchr(start, '\n', size - pos);
		size_t len = nl != NULL ? (size_t)(nl - start) : size - pos;
		size_t commas = 0;
		bool blank = true;
		for (size_t i = 0; i < len && start[i] != '\r' && start[i] != '\0'; i++) {
			commas += start[i] == ',';
			blank = blank && (start[i] == ' ' || start[i] == '\t');
		}
		pos += len + (nl != NULL ? 1 : 0);
		if (blank)
			continue;
		if (lines++ == 0)
			width = commas;
		else if (commas != width)
			abort();
	}
	return lines;
}

static bool same_tables(const struct csv_table *a, const struct csv_table *b)
{
	if (a->count != b->count || a->n_numbers != b->n_numbers)
		return false;
	for (size_t r = 0; r < a->count; r++)
		if (strcmp(csv_table_id(a, r), csv_table_id(b, r)) != 0)
			return false;
	return a->count * a->n_numbers == 0 ||
	       memcmp(a->x, b->x, a->count * a->n_numbers * sizeof(double)) == 0;
}

/* The table as a CSV of our own (a header, numbers in %.17g, ids quoted: the reader strips
 * one pair of quotes) must read back to the same table. Subnormal numbers are left out:
 * their decimal form does not read back (strtod reports ERANGE). */
static void check_round_trip(const struct csv_table *t, bool with_id)
{
	struct csv_column columns[FUZZ_MAX_COLUMNS];
	char names[FUZZ_MAX_COLUMNS][24];
	struct csv_table again;
	char *text = NULL, err[512];
	size_t text_len = 0, n = 0;
	FILE *out, *in;

	if (t->n_numbers + with_id == 0)
		return; /* no cells to write: the lines would be blank */
	for (size_t i = 0; i < t->count * t->n_numbers; i++)
		if (fpclassify(t->x[i]) == FP_SUBNORMAL)
			return;
	out = open_memstream(&text, &text_len);
	if (out == NULL)
		abort();
	for (size_t k = 0; k < t->n_numbers; k++) {
		snprintf(names[n], sizeof(names[n]), "v%zu", k);
		columns[n] = (struct csv_column){"column", names[n], "value", CSV_NUMBER};
		fprintf(out, "%s%s", n > 0 ? "," : "", names[n]);
		n++;
	}
	if (with_id) {
		columns[n++] = (struct csv_column){"column", "id", "id", CSV_ID};
		fprintf(out, "%sid", t->n_numbers > 0 ? "," : "");
	}
	fputc('\n', out);
	for (size_t r = 0; r < t->count; r++) {
		for (size_t k = 0; k < t->n_numbers; k++)
			fprintf(out, "%s%.17g", k > 0 ? "," : "", t->x[r * t->n_numbers + k]);
		if (with_id)
			fprintf(out, "%s\"%s\"", t->n_numbers > 0 ? "," : "", csv_table_id(t, r));
		fputc('\n', out);
	}
	if (fclose(out) != 0)
		abort();
	in = fmemopen(text, text_len, "r");
	if (in == NULL)
		abort();
	if (csv_table_read(in, columns, n, &again, err, sizeof(err)) != CT_OK ||
	    !same_tables(t, &again))
		abort();
	for (size_t r = 0; r < again.count; r++)
		if (again.line[r] != r + 2)
			abort();
	fclose(in);
	free(text);
	csv_table_cleanup(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input input = {data, size, 0};
	struct csv_column columns[FUZZ_MAX_COLUMNS];
	struct csv_table t, before;
	char err[512] = "";
	bool with_id = false;
	size_t n, lines;
	char *request;
	FILE *in;
	int rc;

	if (size > FUZZ_MAX_INPUT || (request = fuzz_take_line(&input)) == NULL)
		return 0;
	n = parse_request(request, columns);
	for (size_t c = 0; c < n; c++)
		with_id = with_id || columns[c].use == CSV_ID;
	/* fmemopen wants at least a byte; an empty file reads as one newline. */
	in = input.pos < size ? fmemopen((void *)(data + input.pos), size - input.pos, "r")
	                      : fmemopen((void *)"\n", 1, "r");
	if (in == NULL)
		abort();
	memset(&t, 0xa5, sizeof(t));
	memset(&before, 0xa5, sizeof(before));
	rc = csv_table_read(in, columns, n, &t, err, sizeof(err));
	fclose(in);
	if (rc != CT_OK) {
		/* A refusal names its reason; the table is left as it was. */
		if (err[0] == '\0' || (rc != CT_ERR_INVALID && rc != CT_ERR_NOMEM) ||
		    memcmp(&t, &before, sizeof(t)) != 0)
			abort();
		free(request);
		return 0;
	}
	lines = check_widths(data + input.pos, size - input.pos);
	if (t.count != lines && t.count + 1 != lines)
		abort();
	for (size_t r = 0; r < t.count; r++) {
		if (r > 0 && t.line[r] <= t.line[r - 1])
			abort();
		if (strlen(csv_table_id(&t, r)) > CSV_ID_MAX)
			abort();
		for (size_t k = 0; k < t.n_numbers; k++)
			if (!isfinite(t.x[r * t.n_numbers + k]))
				abort();
	}
	check_round_trip(&t, with_id);
	csv_table_cleanup(&t);
	free(request);
	return 0;
}
