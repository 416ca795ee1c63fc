/* Unit tests of the runtime's pure parts: topics, IDs, time, config, COPY encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ct_array.h"
#include "ct_config.h"
#include "ct_error.h"
#include "ct_ids.h"
#include "ct_map.h"
#include "ct_msg.h"
#include "ct_pg.h"
#include "ct_time.h"
#include "ct_topic.h"

static void test_topic_parse_table(void **state)
{
	static const struct {
		const char *topic;
		int rc;
		bool is_edge;
		enum ct_topic_kind kind;
		enum ct_topic_encoding enc;
	} cases[] = {
	        {"ct/v1/edge/site1/L1/FILL-01/result/pb", CT_OK, true, CT_KIND_RESULT,
	         CT_ENC_PROTOBUF},
	        {"ct/v1/edge/site1/L1/coater-1.die/telemetry/json", CT_OK, true, CT_KIND_TELEMETRY,
	         CT_ENC_JSON},
	        {"ct/v1/plant/site1/L1/MOD-01/genealogy", CT_OK, false, CT_KIND_GENEALOGY,
	         CT_ENC_UNKNOWN},
	        {"ct/v1/edge/site1/L1/FILL-01/result", CT_ERR_INVALID, false, CT_KIND_UNKNOWN,
	         CT_ENC_UNKNOWN}, /* no encoding */
	        {"ct/v1/edge/site1/L1/FILL-01/result/xml", CT_ERR_INVALID, false, CT_KIND_UNKNOWN,
	         CT_ENC_UNKNOWN},
	        {"ct/v1/edge/site1/L1/FILL-01/bogus/pb", CT_ERR_INVALID, false, CT_KIND_UNKNOWN,
	         CT_ENC_UNKNOWN},
	        {"ct/v1/plant/site1/L1/FILL-01/result/extra", CT_ERR_INVALID, false,
	         CT_KIND_UNKNOWN, CT_ENC_UNKNOWN},
	        {"ct/v1/edge/site 1/L1/FILL-01/result/pb", CT_ERR_INVALID, false, CT_KIND_UNKNOWN,
	         CT_ENC_UNKNOWN},
	        {"ct/v1/edge/site1//FILL-01/result/pb", CT_ERR_INVALID, false, CT_KIND_UNKNOWN,
	         CT_ENC_UNKNOWN},
	        {"ct/v2/edge/site1/L1/FILL-01/result/pb", CT_ERR_INVALID, false, CT_KIND_UNKNOWN,
	         CT_ENC_UNKNOWN},
	        {"ct/v1/edge/s';DROP TABLE unit;--/L1/F/result/pb", CT_ERR_INVALID, false,
	         CT_KIND_UNKNOWN, CT_ENC_UNKNOWN},
	        /* The bare roots: nothing to parse, and no read past the end (ASan, heap copy). */
	        {"ct/v1/edge", CT_ERR_INVALID, false, CT_KIND_UNKNOWN, CT_ENC_UNKNOWN},
	        {"ct/v1/plant", CT_ERR_INVALID, false, CT_KIND_UNKNOWN, CT_ENC_UNKNOWN},
	        {"ct/v1/edge/", CT_ERR_INVALID, false, CT_KIND_UNKNOWN, CT_ENC_UNKNOWN},
	        /* A trailing '/' is an empty last level, not the same topic. */
	        {"ct/v1/edge/site1/L1/FILL-01/result/pb/", CT_ERR_INVALID, false, CT_KIND_UNKNOWN,
	         CT_ENC_UNKNOWN},
	        {"ct/v1/plant/site1/L1/MOD-01/genealogy/", CT_ERR_INVALID, false, CT_KIND_UNKNOWN,
	         CT_ENC_UNKNOWN},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ct_topic t;
		char err[128];
		/* A heap copy of exactly its length, as topics come from the spool: a read past
		 * the end is a heap-buffer-overflow under ASan. */
		char *topic = strdup(cases[i].topic);
		int rc;

		assert_non_null(topic);
		rc = ct_topic_parse(topic, &t, err, sizeof(err));
		free(topic);
		assert_int_equal(rc, cases[i].rc);
		if (rc == CT_OK) {
			assert_int_equal(t.is_edge, cases[i].is_edge);
			assert_int_equal(t.kind, cases[i].kind);
			assert_int_equal(t.encoding, cases[i].enc);
		}
	}
}

static void test_topic_build_round_trip(void **state)
{
	char buf[CT_TOPIC_MAX];
	struct ct_topic t;
	(void)state;
	assert_int_equal(ct_topic_plant(buf, sizeof(buf), "s", "L2", "WELD-3", CT_KIND_RESULT),
	                 CT_OK);
	assert_string_equal(buf, "ct/v1/plant/s/L2/WELD-3/result");
	assert_int_equal(ct_topic_parse(buf, &t, NULL, 0), CT_OK);
	assert_string_equal(t.station, "WELD-3");
	assert_int_equal(
	        ct_topic_edge(buf, sizeof(buf), "s", "L2", "W", CT_KIND_TELEMETRY, CT_ENC_JSON),
	        CT_OK);
	assert_string_equal(buf, "ct/v1/edge/s/L2/W/telemetry/json");
	assert_int_equal(ct_topic_plant(buf, 10, "s", "L2", "W", CT_KIND_RESULT), CT_ERR_TOO_BIG);
}

static void test_id_rules(void **state)
{
	char long_id[80];
	(void)state;
	assert_true(ct_id_is_valid("L1-C00000042"));
	assert_true(ct_id_is_valid("LOT:NMC811.2026_11"));
	assert_false(ct_id_is_valid(""));
	assert_false(ct_id_is_valid(NULL));
	assert_false(ct_id_is_valid("a/b"));
	assert_false(ct_id_is_valid("a+b"));
	assert_false(ct_id_is_valid("x'; DROP TABLE unit;--"));
	memset(long_id, 'a', 64);
	long_id[64] = '\0';
	assert_true(ct_id_is_valid(long_id));
	long_id[64] = 'a';
	long_id[65] = '\0';
	assert_false(ct_id_is_valid(long_id));
}

/* Reason codes are IDs without ':' (dotted paths people type). */
static void test_reason_code_rules(void **state)
{
	char code[80];
	(void)state;
	assert_true(ct_reason_code_is_valid("MICRO.JAM"));
	assert_true(ct_reason_code_is_valid("cip_clean-2"));
	assert_false(ct_reason_code_is_valid(""));
	assert_false(ct_reason_code_is_valid(NULL));
	assert_false(ct_reason_code_is_valid("A:B"));
	assert_false(ct_reason_code_is_valid("A B"));
	memset(code, 'A', 64);
	code[64] = '\0';
	assert_true(ct_reason_code_is_valid(code));
	code[64] = 'A';
	code[65] = '\0';
	assert_false(ct_reason_code_is_valid(code));
}

/* Decimal only: strtod's hex, inf, nan and blanks are refused. */
static void test_parse_double_decimal_only(void **state)
{
	static const char *const bad[] = {"0x10", "0x1p3", "inf",   "-Infinity", "nan", " 1",
	                                  "1 ",   "",      "1e999", "2.5.",      "e"};
	double v = 0;
	(void)state;
	assert_int_equal(ct_parse_double("2.5", 0, 10, &v), CT_OK);
	assert_true(v == 2.5);
	assert_int_equal(ct_parse_double("-1.5e-3", -1, 1, &v), CT_OK);
	assert_true(v == -1.5e-3);
	assert_int_equal(ct_parse_double("11", 0, 10, &v), CT_ERR_INVALID);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ct_parse_double(bad[i], -1e308, 1e308, &v), CT_ERR_INVALID);
}

static void test_event_ids_unique(void **state)
{
	char a[40], b[40];
	(void)state;
	ct_event_id_new(a, sizeof(a));
	ct_event_id_new(b, sizeof(b));
	assert_int_equal(strlen(a), 32);
	assert_true(ct_id_is_valid(a));
	assert_string_not_equal(a, b);
}

static void test_time_parse_and_format(void **state)
{
	static const struct {
		const char *text;
		int rc;
		int64_t us;
	} cases[] = {
	        {"1970-01-01T00:00:00Z", CT_OK, 0},
	        {"2026-11-22T05:54:48.123Z", CT_OK, 1795326888123000LL},
	        {"2026-11-22T06:54:48.123+01:00", CT_OK, 1795326888123000LL},
	        {"2026-11-22T05:54:48.1234567Z", CT_OK, 1795326888123456LL},
	        {"2024-02-29T00:00:00Z", CT_OK, 1709164800000000LL},
	        {"2026-11-22T05:54:48", CT_ERR_INVALID, 0}, /* no zone */
	        {"2026-13-01T00:00:00Z", CT_ERR_INVALID, 0},
	        {"2026-11-22T05:54:48Zjunk", CT_ERR_INVALID, 0},
	        {"yesterday", CT_ERR_INVALID, 0},
	};
	char buf[40];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t us = -1;
		assert_int_equal(ct_time_parse_us(cases[i].text, &us), cases[i].rc);
		if (cases[i].rc == CT_OK)
			assert_int_equal(us, cases[i].us);
	}
	assert_string_equal(ct_time_format_us(1795326888123456LL, buf, sizeof(buf)),
	                    "2026-11-22T05:54:48.123456Z");
}

struct sample_config {
	char *name;
	char *secret;
	long count;
	double ratio;
	bool flag;
};

static const struct ct_config_key sample_keys[] = {
        {"svc.name", CT_CONF_STRING, offsetof(struct sample_config, name), "default", 0, 0, ""},
        {"svc.secret", CT_CONF_SECRET, offsetof(struct sample_config, secret), NULL, 0, 0, ""},
        {"svc.count", CT_CONF_INT, offsetof(struct sample_config, count), "5", 1, 10, ""},
        {"svc.ratio", CT_CONF_DOUBLE, offsetof(struct sample_config, ratio), "0.5", 0, 1, ""},
        {"svc.flag", CT_CONF_BOOL, offsetof(struct sample_config, flag), "false", 0, 0, ""},
};

static int load(struct sample_config *cfg, int argc, char **argv, char **envp, char *err)
{
	struct ct_config_table table = {sample_keys, 5, cfg};
	memset(cfg, 0, sizeof(*cfg));
	return ct_config_load(&table, 1, argc, argv, envp, err, 256);
}

static void cleanup(struct sample_config *cfg)
{
	struct ct_config_table table = {sample_keys, 5, cfg};
	ct_config_cleanup(&table, 1);
}

static void test_config_precedence(void **state)
{
	struct sample_config cfg;
	char err[256];
	char path[] = "/tmp/ct-config-test-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	char config_arg[300];
	char *env[] = {(char *)"CT_SVC_COUNT=7", (char *)"CT_SVC_RATIO=0.25", (char *)"UNRELATED=1",
	               NULL};
	(void)state;

	fprintf(f, "# comment\nsvc.name = from-file\nsvc.count = 2\nsvc.flag = yes\n");
	fclose(f);
	snprintf(config_arg, sizeof(config_arg), "--config=%s", path);
	{
		char *argv[] = {(char *)"prog", config_arg, (char *)"--svc.ratio", (char *)"0.75",
		                NULL};
		assert_int_equal(load(&cfg, 4, argv, env, err), CT_OK);
	}
	assert_string_equal(cfg.name, "from-file"); /* file over default */
	assert_int_equal(cfg.count, 7);             /* env over file */
	assert_true(cfg.ratio == 0.75);             /* command line over env */
	assert_true(cfg.flag);
	assert_null(cfg.secret);
	cleanup(&cfg);
	unlink(path);
}

static void test_config_errors_name_the_key(void **state)
{
	struct sample_config cfg;
	char err[256];
	char *no_env[] = {NULL};
	(void)state;
	{
		char *argv[] = {(char *)"prog", (char *)"--svc.colour=blue", NULL};
		assert_int_equal(load(&cfg, 2, argv, no_env, err), CT_ERR_CONFIG);
		assert_non_null(strstr(err, "svc.colour"));
		cleanup(&cfg);
	}
	{
		char *argv[] = {(char *)"prog", (char *)"--svc.count=11", NULL};
		assert_int_equal(load(&cfg, 2, argv, no_env, err), CT_ERR_CONFIG);
		assert_non_null(strstr(err, "svc.count"));
		cleanup(&cfg);
	}
	{
		char *argv[] = {(char *)"prog", (char *)"--svc.count=3x", NULL};
		assert_int_equal(load(&cfg, 2, argv, no_env, err), CT_ERR_CONFIG);
		cleanup(&cfg);
	}
	{
		char *argv[] = {(char *)"prog", (char *)"--svc.ratio=nan", NULL};
		assert_int_equal(load(&cfg, 2, argv, no_env, err), CT_ERR_CONFIG);
		cleanup(&cfg);
	}
	{
		char *env[] = {(char *)"CT_SVC_FLAG=maybe", NULL};
		char *argv[] = {(char *)"prog", NULL};
		assert_int_equal(load(&cfg, 1, argv, env, err), CT_ERR_CONFIG);
		assert_non_null(strstr(err, "svc.flag"));
		cleanup(&cfg);
	}
	{
		char path[] = "/tmp/ct-config-test-XXXXXX";
		int fd = mkstemp(path);
		char arg[300];
		char *argv[] = {(char *)"prog", arg, NULL};
		FILE *f = fdopen(fd, "w");
		fprintf(f, "svc.name = x\nsvc.typo = 1\n");
		fclose(f);
		snprintf(arg, sizeof(arg), "--config=%s", path);
		assert_int_equal(load(&cfg, 2, argv, no_env, err), CT_ERR_CONFIG);
		assert_non_null(strstr(err, "svc.typo"));
		assert_non_null(strstr(err, ":2:"));
		cleanup(&cfg);
		unlink(path);
	}
}

static void test_copy_text_escaping(void **state)
{
	struct ct_copy copy;
	static const uint8_t bytes[] = {0x00, 0xff, 0x10};
	double xs[] = {1.5, -0.1};
	(void)state;
	ct_copy_init(&copy);
	ct_copy_text(&copy, "a\tb\\c\nd'); DROP TABLE unit;--");
	ct_copy_null(&copy);
	ct_copy_int64(&copy, -42);
	ct_copy_double(&copy, 0.1);
	ct_copy_double(&copy, 0.1 + 0.2); /* needs 17 digits to round-trip */
	ct_copy_time_us(&copy, 1795326888123456LL);
	ct_copy_bytea(&copy, bytes, sizeof(bytes));
	ct_copy_double_array(&copy, xs, 2);
	ct_copy_end_row(&copy);
	assert_int_equal(copy.rows, 1);
	assert_false(copy.failed);
	assert_memory_equal(
	        copy.data,
	        "a\\tb\\\\c\\nd'); DROP TABLE "
	        "unit;--\t\\N\t-42\t0.10000000000000001\t0.30000000000000004\t"
	        "2026-11-22 05:54:48.123456+00\t\\\\x00ff10\t{1.5,-0.10000000000000001}\n",
	        copy.len);
	ct_copy_cleanup(&copy);
}

/* Array literals: every element quoted and escaped, NULL for missing and non-finite values,
 * bytea in hex behind an escaped backslash. */
static void test_pgarray_literal(void **state)
{
	struct ct_pgarray a;
	const uint8_t bytes[] = {0x00, 0xab, 0xff};

	(void)state;
	ct_pgarray_init(&a);
	ct_pgarray_text(&a, "plain");
	ct_pgarray_text(&a, "a \"quoted\" \\ back, {brace}");
	ct_pgarray_text(&a, NULL);
	ct_pgarray_int64(&a, -42);
	ct_pgarray_double(&a, 0.1);
	ct_pgarray_double(&a, 1.0 / 0.0);
	ct_pgarray_bytea(&a, bytes, sizeof(bytes));
	assert_string_equal(ct_pgarray_literal(&a),
	                    "{\"plain\",\"a \\\"quoted\\\" \\\\ back, {brace}\",NULL,-42,"
	                    "0.10000000000000001,NULL,\"\\\\x00abff\"}");
	assert_int_equal(a.count, 7);
	ct_pgarray_reset(&a);
	assert_string_equal(ct_pgarray_literal(&a), "{}");
	ct_pgarray_text(&a, "");
	assert_string_equal(ct_pgarray_literal(&a), "{\"\"}");
	ct_pgarray_cleanup(&a);
}

/* The one derivation rule: prefix + first 32 hex digits of SHA-256 over the parts joined by
 * '|' (a NULL part is ""). Expected values: printf %s 'a|b|' | sha256sum, and so on. */
static void test_id_derive(void **state)
{
	const char *abc[] = {"a", "b", NULL};
	const char *one[] = {"result|S1"};
	char id[CT_DERIVED_ID_MAX], small[10];

	(void)state;
	assert_int_equal(ct_id_derive(id, sizeof(id), "v-", abc, 3), CT_OK);
	assert_string_equal(id, "v-8609ff598817d3680360cee50279d3bb");
	assert_true(ct_id_is_valid(id));
	assert_int_equal(ct_id_derive(id, sizeof(id), "d-", one, 1), CT_OK);
	assert_string_equal(id, "d-da806d43fbaa1136eb25ccf56cd56789");
	assert_int_equal(ct_id_derive(small, sizeof(small), "d-", one, 1), CT_ERR_TOO_BIG);
}

static void test_msg_kinds_and_enum_names(void **state)
{
	int v = -1;
	char list[128];

	(void)state;
	assert_ptr_equal(ct_msg_descriptor(CT_KIND_RESULT),
	                 &cellthread__v1__station_result_batch__descriptor);
	assert_ptr_equal(ct_msg_descriptor(CT_KIND_VERDICT),
	                 &cellthread__v1__verdict_batch__descriptor);
	assert_ptr_equal(ct_msg_descriptor(CT_KIND_COMMAND),
	                 &cellthread__v1__station_command__descriptor);
	assert_null(ct_msg_descriptor(CT_KIND_UNKNOWN));
	assert_string_equal(ct_unit_kind_name(4), "cell");
	assert_null(ct_unit_kind_name(0));
	assert_null(ct_unit_kind_name(99));
	assert_int_equal(ct_station_type_from_name("eol_test", &v), CT_OK);
	assert_string_equal(ct_station_type_name(v), "eol_test");
	assert_int_equal(ct_severity_from_name("unspecified", &v), CT_ERR_INVALID);
	ct_enum_short_name_list(&cellthread__v1__result_code__descriptor, list, sizeof(list));
	assert_string_equal(list, "ok|nok|aborted");
	assert_string_equal(ct_enum_short_name(&cellthread__v1__lot_state__descriptor, 3),
	                    "quarantined");
	assert_false(ct_enum_has_short_names(&cellthread__v1__dead_letter_reason__descriptor));
}

static void test_map_put_get_remove_clone(void **state)
{
	struct ct_map map, copy;
	char key[32];
	size_t v = 0;

	(void)state;
	ct_map_init(&map);
	for (size_t i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "lot-%zu", i);
		assert_int_equal(ct_map_put(&map, key, i), CT_OK);
	}
	for (size_t i = 0; i < 1000; i += 2) {
		snprintf(key, sizeof(key), "lot-%zu", i);
		assert_true(ct_map_remove(&map, key));
	}
	assert_int_equal(ct_map_count(&map), 500);
	assert_int_equal(ct_map_clone(&map, &copy), CT_OK);
	ct_map_cleanup(&map);
	assert_true(ct_map_get(&copy, "lot-999", &v));
	assert_int_equal(v, 999);
	assert_false(ct_map_get(&copy, "lot-998", NULL));
	assert_int_equal(ct_map_count(&copy), 500);
	ct_map_cleanup(&copy);
}

static void test_reply_topics(void **state)
{
	(void)state;
	assert_true(ct_topic_is_reply("ct/v1/sys/reply/cli-4242/trace"));
	assert_true(ct_topic_is_reply("ct/v1/sys/reply/dash.1"));
	assert_false(ct_topic_is_reply(NULL));
	assert_false(ct_topic_is_reply("ct/v1/sys/reply/"));
	assert_false(ct_topic_is_reply("ct/v1/sys/reply/cli-1/"));
	assert_false(ct_topic_is_reply("ct/v1/sys/reply/cli-1//x"));
	assert_false(ct_topic_is_reply("ct/v1/sys/reply/+/trace"));
	assert_false(ct_topic_is_reply("ct/v1/sys/reply/cli-1/#"));
	assert_false(ct_topic_is_reply("ct/v1/sys/reply/cli-1/\xc3("));
	assert_false(ct_topic_is_reply("ct/v1/plant/s/l/st/command"));
	assert_false(ct_topic_is_reply("ct/v1/sys/reply/a/b/c/d/e/f/g/h/i"));
	assert_true(ct_topic_is_reply("ct/v1/sys/reply/a/b/c/d/e/f/g/h"));
}

static void test_array_grow(void **state)
{
	int *items = NULL, *grown;
	size_t cap = 0;

	(void)state;
	grown = ct_array_grow(items, &cap, 1, sizeof(*items), 16);
	assert_non_null(grown);
	assert_int_equal(cap, 16);
	items = grown;
	assert_ptr_equal(ct_array_grow(items, &cap, 16, sizeof(*items), 16), items);
	items = ct_array_grow(items, &cap, 100, sizeof(*items), 16);
	assert_non_null(items);
	assert_int_equal(cap, 128);
	/* Overflow is refused and leaves the array as it was. */
	assert_null(ct_array_grow(items, &cap, SIZE_MAX / 2, sizeof(*items), 16));
	assert_int_equal(cap, 128);
	free(items);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_topic_parse_table),
	        cmocka_unit_test(test_topic_build_round_trip),
	        cmocka_unit_test(test_id_rules),
	        cmocka_unit_test(test_event_ids_unique),
	        cmocka_unit_test(test_time_parse_and_format),
	        cmocka_unit_test(test_reason_code_rules),
	        cmocka_unit_test(test_parse_double_decimal_only),
	        cmocka_unit_test(test_config_precedence),
	        cmocka_unit_test(test_config_errors_name_the_key),
	        cmocka_unit_test(test_copy_text_escaping),
	        cmocka_unit_test(test_pgarray_literal),
	        cmocka_unit_test(test_id_derive),
	        cmocka_unit_test(test_msg_kinds_and_enum_names),
	        cmocka_unit_test(test_map_put_get_remove_clone),
	        cmocka_unit_test(test_reply_topics),
	        cmocka_unit_test(test_array_grow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
