/* migrate: migration files, ordering, SHA-256 and the applied-versus-files plan.
 *
 * Everything here is pure apart from reading the migration directory, so the unit tests
 * exercise it without a database. A set owns its file contents; a plan borrows from the set
 * and the applied rows it was built from and must not outlive them. Versions are positive
 * ints because schema_migrations.version is a PostgreSQL integer. */
#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "ct_array.h"
#include "ct_error.h"
#include "ct_log.h"

#define VERSION_DIGITS_MAX 9 /* 999999999 fits an int (and a PostgreSQL integer) */

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

int migrate_parse_file_name(const char *file, int *ret_version, char *ret_name, size_t name_len,
                            char *err, size_t err_len)
{
	static const char suffix[] = ".sql";
	size_t len = strlen(file);
	size_t suffix_len = sizeof(suffix) - 1;
	size_t digits = 0;
	long version = 0;
	const char *name;
	size_t n;

	if (file[0] == '.' || len < suffix_len || strcmp(file + len - suffix_len, suffix) != 0)
		return CT_ERR_NOT_FOUND;

	while (file[digits] >= '0' && file[digits] <= '9') {
		if (digits == VERSION_DIGITS_MAX)
			return ct_set_error(err, err_len, CT_ERR_INVALID,
			                    "%s: version has more than %d digits", file,
			                    VERSION_DIGITS_MAX);
		version = version * 10 + (file[digits] - '0');
		digits++;
	}
	if (digits == 0 || file[digits] != '_')
		return ct_set_error(err, err_len, CT_ERR_INVALID,
		                    "%s: not named <version>_<name>.sql (e.g. 0003_add_index.sql)",
		                    file);
	if (version == 0)
		return ct_set_error(err, err_len, CT_ERR_INVALID, "%s: version must be above 0",
		                    file);

	name = file + digits + 1;
	n = len - suffix_len - digits - 1;
	if (n == 0)
		return ct_set_error(err, err_len, CT_ERR_INVALID, "%s: the name after '_' is empty",
		                    file);
	if (n >= name_len)
		return ct_set_error(err, err_len, CT_ERR_INVALID, "%s: name longer than %zu bytes",
		                    file, name_len - 1);
	for (size_t i = 0; i < n; i++) {
		if (!is_name_char(name[i]))
			return ct_set_error(err, err_len, CT_ERR_INVALID,
			                    "%s: name may hold only letters, digits, '_' and '-'",
			                    file);
	}

	*ret_version = (int)version;
	memcpy(ret_name, name, n);
	ret_name[n] = '\0';
	return CT_OK;
}

int migrate_sha256(const void *data, size_t len, char ret[MIGRATE_SHA256_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1 ||
	    md_len * 2 != MIGRATE_SHA256_HEX)
		return CT_ERR_INVALID;
	for (unsigned int i = 0; i < md_len; i++) {
		ret[2 * i] = hex[md[i] >> 4];
		ret[2 * i + 1] = hex[md[i] & 0xf];
	}
	ret[MIGRATE_SHA256_HEX] = '\0';
	return CT_OK;
}

static int compare_versions(const void *a, const void *b)
{
	const struct migration *x = a;
	const struct migration *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

int migrate_set_sort(struct migration_set *set, char *err, size_t err_len)
{
	if (set->n > 1)
		qsort(set->items, set->n, sizeof(set->items[0]), compare_versions);
	for (size_t i = 1; i < set->n; i++) {
		if (set->items[i].version == set->items[i - 1].version)
			return ct_set_error(
			        err, err_len, CT_ERR_INVALID, "%s and %s have the same version %d",
			        set->items[i - 1].file, set->items[i].file, set->items[i].version);
	}
	return CT_OK;
}

/* Reads path into a NUL-terminated heap buffer, refusing NUL bytes (libpq takes SQL as a C
 * string, so a NUL would silently cut the migration short). */
static int read_sql(const char *path, const char *file, char **ret, size_t *ret_len, char *err,
                    size_t err_len)
{
	FILE *f = NULL;
	char *buf = NULL;
	struct stat st;
	size_t len;
	int rc;

	f = fopen(path, "rb");
	if (!f) {
		rc = ct_set_error(err, err_len, CT_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fileno(f), &st) != 0) {
		rc = ct_set_error(err, err_len, CT_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (st.st_size < 0 || (unsigned long long)st.st_size > MIGRATE_MAX_BYTES) {
		rc = ct_set_error(err, err_len, CT_ERR_TOO_BIG, "%s: larger than %u bytes", file,
		                  MIGRATE_MAX_BYTES);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = ct_set_error(err, err_len, CT_ERR_NOMEM, "%s: out of memory", file);
		goto out;
	}
	len = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f) || len != (size_t)st.st_size || fgetc(f) != EOF) {
		rc = ct_set_error(err, err_len, CT_ERR_IO, "%s: short read or changed while read",
		                  path);
		goto out;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len)) {
		rc = ct_set_error(err, err_len, CT_ERR_INVALID, "%s: contains a NUL byte", file);
		goto out;
	}
	*ret = buf;
	*ret_len = len;
	buf = NULL;
	rc = CT_OK;
out:
	free(buf);
	if (f)
		fclose(f);
	return rc;
}

int migrate_set_load(struct migration_set *set, const char *dir, char *err, size_t err_len)
{
	DIR *d = NULL;
	struct dirent *entry;
	size_t cap = 0;
	int rc = CT_OK;

	d = opendir(dir);
	if (!d)
		return ct_set_error(err, err_len, CT_ERR_IO, "migrations directory %s: %s", dir,
		                    strerror(errno));

	while ((errno = 0, entry = readdir(d)) != NULL) {
		struct migration *m;
		char path[4096];
		struct stat st;
		int version;
		char name[MIGRATE_NAME_MAX];

		rc = migrate_parse_file_name(entry->d_name, &version, name, sizeof(name), err,
		                             err_len);
		if (rc == CT_ERR_NOT_FOUND) {
			rc = CT_OK;
			continue;
		}
		if (rc != CT_OK)
			goto out;
		if (strlen(entry->d_name) >= MIGRATE_FILE_MAX) {
			rc = ct_set_error(err, err_len, CT_ERR_INVALID, "%s: file name too long",
			                  entry->d_name);
			goto out;
		}
		if (snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name) >=
		    (int)sizeof(path)) {
			rc = ct_set_error(err, err_len, CT_ERR_INVALID, "%s/%s: path too long", dir,
			                  entry->d_name);
			goto out;
		}
		if (stat(path, &st) != 0) {
			rc = ct_set_error(err, err_len, CT_ERR_IO, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			rc = ct_set_error(err, err_len, CT_ERR_INVALID, "%s: not a regular file",
			                  path);
			goto out;
		}

		{
			struct migration *items =
			        ct_array_grow(set->items, &cap, set->n + 1, sizeof(*items), 16);

			if (!items) {
				rc = ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
				goto out;
			}
			set->items = items;
		}
		m = &set->items[set->n];
		memset(m, 0, sizeof(*m));
		rc = read_sql(path, entry->d_name, &m->sql, &m->sql_len, err, err_len);
		if (rc != CT_OK)
			goto out;
		set->n++;
		m->version = version;
		memcpy(m->name, name, sizeof(m->name));
		memcpy(m->file, entry->d_name, strlen(entry->d_name) + 1);
		if (migrate_sha256(m->sql, m->sql_len, m->sha256) != CT_OK) {
			rc = ct_set_error(err, err_len, CT_ERR_INVALID,
			                  "%s: libcrypto could not compute SHA-256", m->file);
			goto out;
		}
	}
	if (errno != 0) {
		rc = ct_set_error(err, err_len, CT_ERR_IO, "reading %s: %s", dir, strerror(errno));
		goto out;
	}
	rc = migrate_set_sort(set, err, err_len);
out:
	closedir(d);
	if (rc != CT_OK)
		migrate_set_cleanup(set);
	return rc;
}

void migrate_set_cleanup(struct migration_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->items[i].sql);
	free(set->items);
	set->items = NULL;
	set->n = 0;
}

static int compare_steps(const void *a, const void *b)
{
	const struct migrate_step *x = a;
	const struct migrate_step *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

int migrate_plan(const struct migration_set *files, const struct migrate_applied *applied,
                 size_t n_applied, struct migrate_step **ret_steps, size_t *ret_n,
                 size_t *ret_problems)
{
	struct migrate_step *steps;
	size_t n = 0;
	size_t problems = 0;
	int max_applied = 0;

	steps = calloc(files->n + n_applied + 1, sizeof(*steps));
	if (!steps)
		return CT_ERR_NOMEM;

	for (size_t i = 0; i < n_applied; i++) {
		if (applied[i].version > max_applied)
			max_applied = applied[i].version;
	}

	/* Files are few (tens), so a linear search per row keeps this obviously right. */
	for (size_t i = 0; i < n_applied; i++) {
		const struct migrate_applied *row = &applied[i];
		struct migrate_step *step = &steps[n++];

		step->version = row->version;
		step->applied = row;
		step->state = MIGRATE_MISSING;
		for (size_t j = 0; j < files->n; j++) {
			const struct migration *file = &files->items[j];

			if (file->version != row->version)
				continue;
			step->file = file;
			if (strcmp(file->sha256, row->sha256) != 0)
				step->state = MIGRATE_CHANGED;
			else if (strcmp(file->name, row->name) != 0)
				step->state = MIGRATE_RENAMED;
			else
				step->state = MIGRATE_APPLIED;
			break;
		}
	}
	for (size_t j = 0; j < files->n; j++) {
		const struct migration *file = &files->items[j];
		bool seen = false;

		for (size_t i = 0; i < n_applied && !seen; i++)
			seen = applied[i].version == file->version;
		if (seen)
			continue;
		steps[n].version = file->version;
		steps[n].file = file;
		steps[n].state =
		        file->version < max_applied ? MIGRATE_OUT_OF_ORDER : MIGRATE_PENDING;
		n++;
	}

	qsort(steps, n, sizeof(*steps), compare_steps);
	for (size_t i = 0; i < n; i++)
		problems += migrate_state_is_problem(steps[i].state);

	*ret_steps = steps;
	*ret_n = n;
	*ret_problems = problems;
	return CT_OK;
}

const char *migrate_state_name(enum migrate_state state)
{
	switch (state) {
	case MIGRATE_APPLIED:
		return "applied";
	case MIGRATE_PENDING:
		return "pending";
	case MIGRATE_CHANGED:
		return "CHANGED";
	case MIGRATE_RENAMED:
		return "RENAMED";
	case MIGRATE_MISSING:
		return "MISSING";
	case MIGRATE_OUT_OF_ORDER:
		return "OUT-OF-ORDER";
	}
	return "unknown";
}

bool migrate_state_is_problem(enum migrate_state state)
{
	return state == MIGRATE_CHANGED || state == MIGRATE_RENAMED || state == MIGRATE_MISSING ||
	       state == MIGRATE_OUT_OF_ORDER;
}

unsigned migrate_line_of_position(const char *text, size_t len, long pos)
{
	unsigned line = 1;
	long chars = 0;

	if (pos < 1)
		return 0;
	for (size_t i = 0; i < len; i++) {
		/* A UTF-8 continuation byte (10xxxxxx) is not the start of a character. */
		if (((unsigned char)text[i] & 0xc0) == 0x80)
			continue;
		if (++chars == pos)
			return line;
		if (text[i] == '\n')
			line++;
	}
	return 0;
}

void migrate_print_status(const struct migrate_step *steps, size_t n, FILE *out)
{
	fprintf(out, "%-8s %-12s %-20s %-24s %s\n", "VERSION", "STATE", "APPLIED_AT", "FILE",
	        "SHA256");
	for (size_t i = 0; i < n; i++) {
		const struct migrate_step *s = &steps[i];

		fprintf(out, "%-8d %-12s %-20s %-24s %s\n", s->version,
		        migrate_state_name(s->state), s->applied ? s->applied->applied_at : "-",
		        s->file ? s->file->file : "-",
		        s->file ? s->file->sha256 : s->applied->sha256);
	}
}

void migrate_report_problems(const struct migrate_step *steps, size_t n, const char *dir)
{
	for (size_t i = 0; i < n; i++) {
		const struct migrate_step *s = &steps[i];

		switch (s->state) {
		case MIGRATE_CHANGED:
			ct_error("%s was edited after it was applied (SHA-256 then %s, now %s): "
			         "restore the file and put the change in a new migration",
			         s->file->file, s->applied->sha256, s->file->sha256);
			break;
		case MIGRATE_RENAMED:
			ct_error("%s was applied as version %d named '%s': restore the file name",
			         s->file->file, s->version, s->applied->name);
			break;
		case MIGRATE_MISSING:
			ct_error("version %d ('%s', applied %s) has no file in %s: wrong --dir, or "
			         "the file was removed",
			         s->version, s->applied->name, s->applied->applied_at, dir);
			break;
		case MIGRATE_OUT_OF_ORDER:
			ct_error("%s is not applied but older than an applied migration: give it a "
			         "version above the newest applied one",
			         s->file->file);
			break;
		case MIGRATE_APPLIED:
		case MIGRATE_PENDING:
			break;
		}
	}
}
