/* Unit tests of ct_pg's pure parts: the batch-store pattern (ct_pg_batch_run) driven by a
 * scripted database, the result-value parsers, SQLSTATE classes, and ct_config's sources
 * (environment names, switches) that ct-migrate and the CLI use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ct_config.h"
#include "ct_error.h"
#include "ct_pg.h"

/* A scripted database: items whose index is in `bad` are refused wherever they are; the
 * first `retries` attempts answer RETRY; an attempt numbered `stop_at` answers STOPPED. */
struct fake_db {
	const bool *bad;
	int retries;
	int stop_at;
	int attempts;
	bool stored[16];
	int refused_count;
	size_t refused[16];
	size_t group_sizes[32];
};

static enum ct_pg_attempt fake_attempt(void *ctx, size_t first, size_t count, char *err,
                                       size_t err_len)
{
	struct fake_db *db = ctx;
	int n = db->attempts++;

	if (n < 32)
		db->group_sizes[n] = count;
	if (db->stop_at >= 0 && n == db->stop_at)
		return CT_PG_ATTEMPT_STOPPED;
	if (db->retries > 0) {
		db->retries--;
		return CT_PG_ATTEMPT_RETRY;
	}
	for (size_t i = first; i < first + count; i++) {
		if (db->bad[i]) {
			snprintf(err, err_len, "item %zu breaks a constraint", i);
			return CT_PG_ATTEMPT_REFUSED;
		}
	}
	for (size_t i = first; i < first + count; i++)
		db->stored[i] = true;
	return CT_PG_ATTEMPT_STORED;
}

static void fake_refused(void *ctx, size_t index, const char *err)
{
	struct fake_db *db = ctx;
	char want[64];

	snprintf(want, sizeof(want), "item %zu breaks a constraint", index);
	assert_string_equal(err, want);
	db->refused[db->refused_count++] = index;
}

static void test_batch_all_stored(void **state)
{
	bool bad[4] = {false};
	struct fake_db db = {.bad = bad, .stop_at = -1};

	(void)state;
	assert_int_equal(ct_pg_batch_run(4, fake_attempt, fake_refused, &db), CT_OK);
	assert_int_equal(db.attempts, 1);
	assert_int_equal(db.group_sizes[0], 4);
	for (int i = 0; i < 4; i++)
		assert_true(db.stored[i]);
	assert_int_equal(db.refused_count, 0);
}

static void test_batch_retries_then_stores(void **state)
{
	bool bad[3] = {false};
	struct fake_db db = {.bad = bad, .retries = 3, .stop_at = -1};

	(void)state;
	/* Lost connections and class-40 rollbacks retry the same group, never split it. */
	assert_int_equal(ct_pg_batch_run(3, fake_attempt, fake_refused, &db), CT_OK);
	assert_int_equal(db.attempts, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(db.group_sizes[i], 3);
	assert_int_equal(db.refused_count, 0);
}

static void test_batch_one_bad_item(void **state)
{
	bool bad[5] = {false, false, true, false, false};
	struct fake_db db = {.bad = bad, .stop_at = -1};

	(void)state;
	/* The group is refused, then each item alone: only item 2 is reported. */
	assert_int_equal(ct_pg_batch_run(5, fake_attempt, fake_refused, &db), CT_OK);
	assert_int_equal(db.attempts, 6);
	assert_int_equal(db.group_sizes[0], 5);
	for (int i = 1; i < 6; i++)
		assert_int_equal(db.group_sizes[i], 1);
	assert_int_equal(db.refused_count, 1);
	assert_int_equal(db.refused[0], 2);
	assert_true(db.stored[0] && db.stored[1] && db.stored[3] && db.stored[4]);
	assert_false(db.stored[2]);
}

static void test_batch_single_refused(void **state)
{
	bool bad[1] = {true};
	struct fake_db db = {.bad = bad, .stop_at = -1};

	(void)state;
	assert_int_equal(ct_pg_batch_run(1, fake_attempt, fake_refused, &db), CT_OK);
	assert_int_equal(db.attempts, 1);
	assert_int_equal(db.refused_count, 1);
	assert_int_equal(db.refused[0], 0);
}

static void test_batch_stopped(void **state)
{
	bool bad[4] = {true, false, false, false};
	struct fake_db db = {.bad = bad, .stop_at = 2};

	(void)state;
	/* Group refused (attempt 0), item 0 refused (1), shutdown at item 1 (2): nothing after
	 * it is attempted or reported. */
	assert_int_equal(ct_pg_batch_run(4, fake_attempt, fake_refused, &db), CT_ERR_STOPPED);
	assert_int_equal(db.attempts, 3);
	assert_int_equal(db.refused_count, 1);
	assert_false(db.stored[1] || db.stored[2] || db.stored[3]);
}

static void test_batch_empty(void **state)
{
	struct fake_db db = {.stop_at = -1};

	(void)state;
	assert_int_equal(ct_pg_batch_run(0, fake_attempt, fake_refused, &db), CT_OK);
	assert_int_equal(db.attempts, 0);
}

static void test_parse_int64(void **state)
{
	int64_t v = 7;

	(void)state;
	assert_int_equal(ct_pg_parse_int64("-42", &v), CT_OK);
	assert_int_equal(v, -42);
	assert_int_equal(ct_pg_parse_int64("9223372036854775807", &v), CT_OK);
	assert_true(v == INT64_MAX);
	v = 7;
	assert_int_equal(ct_pg_parse_int64("9223372036854775808", &v), CT_ERR_INVALID);
	assert_int_equal(ct_pg_parse_int64("", &v), CT_ERR_INVALID);
	assert_int_equal(ct_pg_parse_int64("12x", &v), CT_ERR_INVALID);
	assert_int_equal(ct_pg_parse_int64("1.5", &v), CT_ERR_INVALID);
	assert_int_equal(ct_pg_parse_int64(NULL, &v), CT_ERR_INVALID);
	assert_int_equal(v, 7); /* untouched on failure */
}

static void test_parse_bool(void **state)
{
	bool b = false;

	(void)state;
	assert_int_equal(ct_pg_parse_bool("t", &b), CT_OK);
	assert_true(b);
	assert_int_equal(ct_pg_parse_bool("f", &b), CT_OK);
	assert_false(b);
	assert_int_equal(ct_pg_parse_bool("true", &b), CT_ERR_INVALID);
	assert_int_equal(ct_pg_parse_bool("", &b), CT_ERR_INVALID);
}

static void test_parse_time(void **state)
{
	static const struct {
		const char *text;
		int rc;
		int64_t us;
	} cases[] = {
	        {"1970-01-01 00:00:00+00", CT_OK, 0},
	        {"2026-01-01 00:00:00.123456+00", CT_OK, 1767225600123456LL},
	        {"2026-01-01 01:00:00.5+01", CT_OK, 1767225600500000LL},
	        {"2025-12-31 19:30:00-04:30", CT_OK, 1767225600000000LL},
	        {"2026-01-01T00:00:00+00", CT_OK, 1767225600000000LL},
	        {"1969-12-31 23:59:59.999999+00", CT_OK, -1},
	        {"2024-02-29 12:00:00+00", CT_OK, 1709208000000000LL},
	        {"2026-01-01 00:00:00", CT_ERR_INVALID, 0},
	        {"2026-13-01 00:00:00+00", CT_ERR_INVALID, 0},
	        {"2026-01-01 00:00:00.+00", CT_ERR_INVALID, 0},
	        {"2026-01-01 00:00:00+00 BC", CT_ERR_INVALID, 0},
	        {"infinity", CT_ERR_INVALID, 0},
	        {"", CT_ERR_INVALID, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t us = 42;
		int rc = ct_pg_parse_time_us(cases[i].text, &us);
		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d, want %d", cases[i].text, rc, cases[i].rc);
		if (rc == CT_OK && us != cases[i].us)
			fail_msg("'%s': %lld, want %lld", cases[i].text, (long long)us,
			         (long long)cases[i].us);
		if (rc != CT_OK)
			assert_int_equal(us, 42);
	}
}

static void test_classify_sqlstate(void **state)
{
	(void)state;
	assert_int_equal(ct_pg_classify_sqlstate(NULL), CT_PG_ERR_CONNECTION);
	assert_int_equal(ct_pg_classify_sqlstate(""), CT_PG_ERR_CONNECTION);
	assert_int_equal(ct_pg_classify_sqlstate("08006"), CT_PG_ERR_CONNECTION);
	assert_int_equal(ct_pg_classify_sqlstate("57P01"), CT_PG_ERR_CONNECTION);
	assert_int_equal(ct_pg_classify_sqlstate("40001"), CT_PG_ERR_TRANSIENT);
	assert_int_equal(ct_pg_classify_sqlstate("40P01"), CT_PG_ERR_TRANSIENT);
	assert_int_equal(ct_pg_classify_sqlstate("23505"), CT_PG_ERR_REFUSED);
	assert_int_equal(ct_pg_classify_sqlstate("42501"), CT_PG_ERR_REFUSED);
	assert_int_equal(ct_pg_classify_sqlstate("P0001"), CT_PG_ERR_REFUSED);
	assert_int_equal(ct_pg_classify_sqlstate("22003"), CT_PG_ERR_REFUSED);
	assert_int_equal(ct_pg_classify_sqlstate("42P01"), CT_PG_ERR_OTHER);
	assert_int_equal(ct_pg_classify_sqlstate("55P03"), CT_PG_ERR_OTHER);
}

struct tool_config {
	char *dir;
	long timeout;
	bool status;
};

static const struct ct_config_key tool_keys[] = {
        {"dir", CT_CONF_STRING, offsetof(struct tool_config, dir), "/default", 0, 0, "d"},
        {"lock-timeout", CT_CONF_INT, offsetof(struct tool_config, timeout), "60", 0, 100, "t"},
        {"status", CT_CONF_FLAG, offsetof(struct tool_config, status), "false", 0, 0, "s"},
};

static const struct ct_config_env tool_env[] = {
        {"dir", "CT_TOOL_DIR"},
        {"lock-timeout", NULL},
};

static int load_tool(struct tool_config *cfg, int argc, const char **argv, const char **envp,
                     char *err, size_t err_len)
{
	struct ct_config_table table = {tool_keys, 3, cfg};
	struct ct_config_source source = {.argc = argc,
	                                  .argv = (char **)argv,
	                                  .envp = (char **)envp,
	                                  .env_names = tool_env,
	                                  .n_env_names = 2,
	                                  .no_file = true};
	return ct_config_load_from(&table, 1, &source, err, err_len);
}

static void test_config_sources(void **state)
{
	struct tool_config cfg = {0};
	struct ct_config_table table = {tool_keys, 3, &cfg};
	const char *env[] = {"CT_TOOL_DIR=/from-env", "CT_DIR=/ignored", "CT_LOCK_TIMEOUT=5",
	                     "CT_CONFIG=/nonexistent", NULL};
	const char *argv1[] = {"tool", "--status", "--lock-timeout", "7", NULL};
	const char *argv2[] = {"tool", "--dir=/cli", "--status=false", NULL};
	const char *argv3[] = {"tool", "--bogus", NULL};
	const char *argv4[] = {"tool", "--config", "/x", NULL};
	char err[256];

	(void)state;
	/* Own env name, a key kept out of the environment, a switch without a value; CT_CONFIG
	 * ignored (no_file). */
	assert_int_equal(load_tool(&cfg, 4, argv1, env, err, sizeof(err)), CT_OK);
	assert_string_equal(cfg.dir, "/from-env");
	assert_int_equal(cfg.timeout, 7);
	assert_true(cfg.status);
	ct_config_cleanup(&table, 1);

	assert_int_equal(load_tool(&cfg, 3, argv2, env, err, sizeof(err)), CT_OK);
	assert_string_equal(cfg.dir, "/cli");
	assert_int_equal(cfg.timeout, 60);
	assert_false(cfg.status);
	ct_config_cleanup(&table, 1);

	assert_int_equal(load_tool(&cfg, 2, argv3, env, err, sizeof(err)), CT_ERR_CONFIG);
	assert_non_null(strstr(err, "unknown option '--bogus'"));
	ct_config_cleanup(&table, 1);
	assert_int_equal(load_tool(&cfg, 3, argv4, env, err, sizeof(err)), CT_ERR_CONFIG);
	assert_non_null(strstr(err, "--config"));
	ct_config_cleanup(&table, 1);

	/* No command line at all (the CLI): environment only. */
	assert_int_equal(load_tool(&cfg, 0, NULL, env, err, sizeof(err)), CT_OK);
	assert_string_equal(cfg.dir, "/from-env");
	ct_config_cleanup(&table, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_batch_all_stored),
	        cmocka_unit_test(test_batch_retries_then_stores),
	        cmocka_unit_test(test_batch_one_bad_item),
	        cmocka_unit_test(test_batch_single_refused),
	        cmocka_unit_test(test_batch_stopped),
	        cmocka_unit_test(test_batch_empty),
	        cmocka_unit_test(test_parse_int64),
	        cmocka_unit_test(test_parse_bool),
	        cmocka_unit_test(test_parse_time),
	        cmocka_unit_test(test_classify_sqlstate),
	        cmocka_unit_test(test_config_sources),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
