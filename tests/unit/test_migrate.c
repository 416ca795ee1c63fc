/* test_migrate: ct-migrate's pure parts: file names, ordering, SHA-256, the plan.
 *
 * Table-driven where the cases are data. The directory cases write files into a mkdtemp()
 * directory under $TMPDIR (or /tmp) and remove it again; nothing needs a database. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ct_error.h"
#include "migrate.h"

/* sha256sum of the 10 bytes "SELECT 1;\n". */
#define SELECT1_SHA256 "b4e0497804e46e0a0b0b8c31975b062152d551bac49c3c2e80932567b4085dcd"

struct name_case {
	const char *file;
	int rc;
	int version;
	const char *name;
};

static void test_parse_file_name(void **state)
{
	static const struct name_case cases[] = {
	        {"0001_digital_thread.sql", CT_OK, 1, "digital_thread"},
	        {"0002_roles.sql", CT_OK, 2, "roles"},
	        {"12_x.sql", CT_OK, 12, "x"},
	        {"1_a-b_C9.sql", CT_OK, 1, "a-b_C9"},
	        {"999999999_max.sql", CT_OK, 999999999, "max"},
	        /* not migrations at all: ignored */
	        {"README.md", CT_ERR_NOT_FOUND, 0, NULL},
	        {".0003_hidden.sql", CT_ERR_NOT_FOUND, 0, NULL},
	        {"0003_x.sql~", CT_ERR_NOT_FOUND, 0, NULL},
	        {"0003_x.sql.orig", CT_ERR_NOT_FOUND, 0, NULL},
	        {"0003_x.SQL", CT_ERR_NOT_FOUND, 0, NULL},
	        /* look like migrations but are misnamed: refused */
	        {"0000_zero.sql", CT_ERR_INVALID, 0, NULL},
	        {"0003.sql", CT_ERR_INVALID, 0, NULL},
	        {"0003_.sql", CT_ERR_INVALID, 0, NULL},
	        {"0003-dash.sql", CT_ERR_INVALID, 0, NULL},
	        {"add_index.sql", CT_ERR_INVALID, 0, NULL},
	        {"_0003_x.sql", CT_ERR_INVALID, 0, NULL},
	        {"0003_with space.sql", CT_ERR_INVALID, 0, NULL},
	        {"0003_dot.name.sql", CT_ERR_INVALID, 0, NULL},
	        {"1234567890_too_long.sql", CT_ERR_INVALID, 0, NULL},
	        {".sql", CT_ERR_NOT_FOUND, 0, NULL},
	        {"x.sql", CT_ERR_INVALID, 0, NULL},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct name_case *c = &cases[i];
		int version = -7;
		char name[MIGRATE_NAME_MAX] = "untouched";
		char err[256] = "";
		int rc;

		rc = migrate_parse_file_name(c->file, &version, name, sizeof(name), err,
		                             sizeof(err));
		if (rc != c->rc)
			fail_msg("%s: rc %d, want %d (%s)", c->file, rc, c->rc, err);
		if (rc == CT_OK) {
			assert_int_equal(version, c->version);
			assert_string_equal(name, c->name);
		} else {
			/* Outputs untouched on failure; refusals say which file. */
			assert_int_equal(version, -7);
			assert_string_equal(name, "untouched");
			if (rc == CT_ERR_INVALID)
				assert_non_null(strstr(err, c->file));
		}
	}
}

static void test_parse_name_too_long_for_buffer(void **state)
{
	int version = 0;
	char name[4];
	(void)state;

	assert_int_equal(
	        migrate_parse_file_name("0001_abcd.sql", &version, name, sizeof(name), NULL, 0),
	        CT_ERR_INVALID);
	assert_int_equal(
	        migrate_parse_file_name("0001_abc.sql", &version, name, sizeof(name), NULL, 0),
	        CT_OK);
	assert_string_equal(name, "abc");
}

struct hash_case {
	const char *text;
	const char *hex;
};

/* FIPS 180-2 / NIST reference values, and one migration-like text. */
static void test_sha256(void **state)
{
	static const struct hash_case cases[] = {
	        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
	        {"SELECT 1;\n", SELECT1_SHA256},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char hex[MIGRATE_SHA256_HEX + 1];

		assert_int_equal(migrate_sha256(cases[i].text, strlen(cases[i].text), hex), CT_OK);
		assert_string_equal(hex, cases[i].hex);
	}
}

static void make_migration(struct migration *m, int version, const char *name, const char *sql)
{
	memset(m, 0, sizeof(*m));
	m->version = version;
	snprintf(m->name, sizeof(m->name), "%s", name);
	snprintf(m->file, sizeof(m->file), "%04d_%s.sql", version, name);
	assert_int_equal(migrate_sha256(sql, strlen(sql), m->sha256), CT_OK);
}

static void test_sort_numeric_and_duplicates(void **state)
{
	struct migration items[4];
	struct migration_set set = {items, 3};
	char err[256] = "";
	(void)state;

	make_migration(&items[0], 10, "ten", "");
	make_migration(&items[1], 9, "nine", "");
	make_migration(&items[2], 100, "hundred", "");
	assert_int_equal(migrate_set_sort(&set, err, sizeof(err)), CT_OK);
	assert_int_equal(items[0].version, 9);
	assert_int_equal(items[1].version, 10);
	assert_int_equal(items[2].version, 100);

	make_migration(&items[3], 10, "ten_again", "");
	set.n = 4;
	assert_int_equal(migrate_set_sort(&set, err, sizeof(err)), CT_ERR_INVALID);
	assert_non_null(strstr(err, "ten_again"));
}

struct plan_case {
	const char *what;
	/* files: versions with their SQL; applied: version, name, SQL it had when applied */
	struct {
		int version;
		const char *name;
		const char *sql;
	} files[4], applied[4];
	size_t n_files, n_applied;
	enum migrate_state want[4]; /* by ascending version */
	size_t n_want;
	size_t problems;
};

static void test_plan(void **state)
{
	static const struct plan_case cases[] = {
	        {"fresh database",
	         {{1, "a", "A"}, {2, "b", "B"}},
	         {{0}},
	         2,
	         0,
	         {MIGRATE_PENDING, MIGRATE_PENDING},
	         2,
	         0},
	        {"up to date",
	         {{1, "a", "A"}, {2, "b", "B"}},
	         {{1, "a", "A"}, {2, "b", "B"}},
	         2,
	         2,
	         {MIGRATE_APPLIED, MIGRATE_APPLIED},
	         2,
	         0},
	        {"one new",
	         {{1, "a", "A"}, {2, "b", "B"}, {3, "c", "C"}},
	         {{2, "b", "B"}, {1, "a", "A"}},
	         3,
	         2,
	         {MIGRATE_APPLIED, MIGRATE_APPLIED, MIGRATE_PENDING},
	         3,
	         0},
	        {"edited after apply",
	         {{1, "a", "A edited"}, {2, "b", "B"}},
	         {{1, "a", "A"}},
	         2,
	         1,
	         {MIGRATE_CHANGED, MIGRATE_PENDING},
	         2,
	         1},
	        {"renamed", {{1, "a2", "A"}}, {{1, "a", "A"}}, 1, 1, {MIGRATE_RENAMED}, 1, 1},
	        {"file removed",
	         {{2, "b", "B"}},
	         {{1, "a", "A"}, {2, "b", "B"}},
	         1,
	         2,
	         {MIGRATE_MISSING, MIGRATE_APPLIED},
	         2,
	         1},
	        {"new file older than applied",
	         {{1, "a", "A"}, {2, "b", "B"}, {3, "c", "C"}},
	         {{1, "a", "A"}, {3, "c", "C"}},
	         3,
	         2,
	         {MIGRATE_APPLIED, MIGRATE_OUT_OF_ORDER, MIGRATE_APPLIED},
	         3,
	         1},
	        {"empty directory, empty database", {{0}}, {{0}}, 0, 0, {MIGRATE_APPLIED}, 0, 0},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct plan_case *c = &cases[i];
		struct migration files[4];
		struct migration_set set = {files, c->n_files};
		struct migrate_applied applied[4];
		struct migrate_step *steps = NULL;
		size_t n = 99, problems = 99;

		for (size_t j = 0; j < c->n_files; j++)
			make_migration(&files[j], c->files[j].version, c->files[j].name,
			               c->files[j].sql);
		assert_int_equal(migrate_set_sort(&set, NULL, 0), CT_OK);
		for (size_t j = 0; j < c->n_applied; j++) {
			memset(&applied[j], 0, sizeof(applied[j]));
			applied[j].version = c->applied[j].version;
			snprintf(applied[j].name, sizeof(applied[j].name), "%s",
			         c->applied[j].name);
			assert_int_equal(migrate_sha256(c->applied[j].sql,
			                                strlen(c->applied[j].sql),
			                                applied[j].sha256),
			                 CT_OK);
		}

		assert_int_equal(migrate_plan(&set, applied, c->n_applied, &steps, &n, &problems),
		                 CT_OK);
		if (n != c->n_want || problems != c->problems)
			fail_msg("%s: %zu steps, %zu problems; want %zu, %zu", c->what, n, problems,
			         c->n_want, c->problems);
		for (size_t j = 0; j < n; j++) {
			if (steps[j].state != c->want[j])
				fail_msg("%s: step %zu (version %d) is %s, want %s", c->what, j,
				         steps[j].version, migrate_state_name(steps[j].state),
				         migrate_state_name(c->want[j]));
			if (j > 0)
				assert_true(steps[j - 1].version < steps[j].version);
		}
		free(steps);
	}
}

static void test_line_of_position(void **state)
{
	/* "é" is two bytes but one character, as PostgreSQL counts positions. */
	static const char sql[] = "SELECT 1;\n-- é\nSELEKT 2;\n";
	(void)state;

	assert_int_equal(migrate_line_of_position(sql, strlen(sql), 1), 1);
	assert_int_equal(migrate_line_of_position(sql, strlen(sql), 10), 1); /* the '\n' */
	assert_int_equal(migrate_line_of_position(sql, strlen(sql), 11), 2);
	assert_int_equal(migrate_line_of_position(sql, strlen(sql), 15), 2); /* the second '\n' */
	assert_int_equal(migrate_line_of_position(sql, strlen(sql), 16), 3); /* 'S' of SELEKT */
	assert_int_equal(migrate_line_of_position(sql, strlen(sql), 0), 0);
	assert_int_equal(migrate_line_of_position(sql, strlen(sql), 1000), 0);
}

/* A scratch directory the directory tests fill and remove. */
struct scratch {
	char dir[256];
};

static void write_file(const struct scratch *s, const char *name, const char *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", s->dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int scratch_setup(void **state)
{
	struct scratch *s = calloc(1, sizeof(*s));
	const char *tmp = getenv("TMPDIR");

	if (!s)
		return -1;
	snprintf(s->dir, sizeof(s->dir), "%s/test_migrate.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(s->dir)) {
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

static int scratch_teardown(void **state)
{
	struct scratch *s = *state;
	char cmd[512];

	/* The names are ours and the directory came from mkdtemp: rm -rf is safe here. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	if (system(cmd) != 0)
		return -1;
	free(s);
	return 0;
}

static void test_load_directory(void **state)
{
	struct scratch *s = *state;
	struct migration_set set = {NULL, 0};
	char err[256] = "";

	write_file(s, "10_ten.sql", "SELECT 10;\n", 11);
	write_file(s, "0002_two.sql", "SELECT 1;\n", 10);
	write_file(s, "README.md", "not a migration", 15);
	write_file(s, ".0003_hidden.sql", "nope", 4);

	assert_int_equal(migrate_set_load(&set, s->dir, err, sizeof(err)), CT_OK);
	assert_int_equal(set.n, 2);
	assert_int_equal(set.items[0].version, 2);
	assert_string_equal(set.items[0].file, "0002_two.sql");
	assert_string_equal(set.items[0].name, "two");
	assert_string_equal(set.items[0].sha256, SELECT1_SHA256);
	assert_string_equal(set.items[0].sql, "SELECT 1;\n");
	assert_int_equal(set.items[1].version, 10);
	migrate_set_cleanup(&set);
	assert_null(set.items);
	assert_int_equal(set.n, 0);
	migrate_set_cleanup(&set); /* twice is fine */
}

static void test_load_refuses_bad_files(void **state)
{
	struct scratch *s = *state;
	struct migration_set set = {NULL, 0};
	char err[256] = "";

	write_file(s, "0001_ok.sql", "SELECT 1;\n", 10);
	write_file(s, "0002_nul.sql", "SELECT\0 1;", 10);
	assert_int_equal(migrate_set_load(&set, s->dir, err, sizeof(err)), CT_ERR_INVALID);
	assert_non_null(strstr(err, "0002_nul.sql"));
	assert_null(set.items);
	assert_int_equal(set.n, 0);

	write_file(s, "0002_nul.sql", "SELECT 2;", 9);
	write_file(s, "2_dup.sql", "SELECT 2;", 9);
	assert_int_equal(migrate_set_load(&set, s->dir, err, sizeof(err)), CT_ERR_INVALID);
	assert_non_null(strstr(err, "same version 2"));

	assert_int_equal(migrate_set_load(&set, "/nonexistent/migrations", err, sizeof(err)),
	                 CT_ERR_IO);
}

static void test_load_refuses_misnamed(void **state)
{
	struct scratch *s = *state;
	struct migration_set set = {NULL, 0};
	char err[256] = "";

	write_file(s, "0001_ok.sql", "SELECT 1;\n", 10);
	write_file(s, "add_index.sql", "SELECT 2;\n", 10);
	assert_int_equal(migrate_set_load(&set, s->dir, err, sizeof(err)), CT_ERR_INVALID);
	assert_non_null(strstr(err, "add_index.sql"));
	assert_int_equal(set.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_file_name),
	        cmocka_unit_test(test_parse_name_too_long_for_buffer),
	        cmocka_unit_test(test_sha256),
	        cmocka_unit_test(test_sort_numeric_and_duplicates),
	        cmocka_unit_test(test_plan),
	        cmocka_unit_test(test_line_of_position),
	        cmocka_unit_test_setup_teardown(test_load_directory, scratch_setup,
	                                        scratch_teardown),
	        cmocka_unit_test_setup_teardown(test_load_refuses_bad_files, scratch_setup,
	                                        scratch_teardown),
	        cmocka_unit_test_setup_teardown(test_load_refuses_misnamed, scratch_setup,
	                                        scratch_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
