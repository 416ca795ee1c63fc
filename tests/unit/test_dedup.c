/* test_dedup: the runtime's seen-ID window (ct_dedup) (hits, misses, FIFO eviction, bounds).
 *
 * Besides hand-written cases, a model test replays long pseudo-random sequences against a
 * plain array holding the same FIFO window; small capacities make nearly every ID share probe
 * chains, which exercises eviction's backward shifting far more than a large table would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ct_dedup.h"

static void test_new_rejects_bad_capacity(void **state)
{
	(void)state;
	assert_null(ct_dedup_new(0));
	assert_null(ct_dedup_new(CT_DEDUP_MAX_CAPACITY + 1));
	ct_dedup_free(NULL);
}

static void test_hit_and_miss(void **state)
{
	struct ct_dedup *d = ct_dedup_new(16);

	(void)state;
	assert_non_null(d);
	assert_false(ct_dedup_check_and_add(d, "gw-1:1"));
	assert_false(ct_dedup_check_and_add(d, "gw-1:2"));
	assert_true(ct_dedup_check_and_add(d, "gw-1:1"));
	assert_true(ct_dedup_check_and_add(d, "gw-1:2"));
	/* Prefixes and extensions of a seen ID are different IDs. */
	assert_false(ct_dedup_check_and_add(d, "gw-1:"));
	assert_false(ct_dedup_check_and_add(d, "gw-1:10"));
	assert_int_equal(ct_dedup_count(d), 4);
	ct_dedup_free(d);
}

static void test_ids_never_recorded(void **state)
{
	struct ct_dedup *d = ct_dedup_new(4);
	char longest[65], too_long[66];

	(void)state;
	memset(longest, 'a', 64);
	longest[64] = '\0';
	memset(too_long, 'b', 65);
	too_long[65] = '\0';
	assert_false(ct_dedup_check_and_add(d, NULL));
	assert_false(ct_dedup_check_and_add(d, NULL));
	assert_false(ct_dedup_check_and_add(d, ""));
	assert_false(ct_dedup_check_and_add(d, ""));
	assert_false(ct_dedup_check_and_add(d, too_long));
	assert_false(ct_dedup_check_and_add(d, too_long));
	assert_int_equal(ct_dedup_count(d), 0);
	assert_false(ct_dedup_check_and_add(d, longest));
	assert_true(ct_dedup_check_and_add(d, longest));
	ct_dedup_free(d);
}

static void test_fifo_eviction(void **state)
{
	struct ct_dedup *d = ct_dedup_new(3);

	(void)state;
	assert_false(ct_dedup_check_and_add(d, "a"));
	assert_false(ct_dedup_check_and_add(d, "b"));
	assert_false(ct_dedup_check_and_add(d, "c"));
	/* Seeing "a" again does not make it younger. */
	assert_true(ct_dedup_check_and_add(d, "a"));
	assert_false(ct_dedup_check_and_add(d, "d")); /* evicts a */
	assert_int_equal(ct_dedup_count(d), 3);
	assert_true(ct_dedup_check_and_add(d, "b"));
	assert_true(ct_dedup_check_and_add(d, "c"));
	assert_true(ct_dedup_check_and_add(d, "d"));
	assert_false(ct_dedup_check_and_add(d, "a")); /* gone; re-added, evicts b */
	assert_false(ct_dedup_check_and_add(d, "b")); /* gone; re-added, evicts c */
	assert_true(ct_dedup_check_and_add(d, "d"));
	assert_true(ct_dedup_check_and_add(d, "a"));
	assert_true(ct_dedup_check_and_add(d, "b"));
	assert_false(ct_dedup_check_and_add(d, "c"));
	ct_dedup_free(d);
}

static void test_capacity_one(void **state)
{
	struct ct_dedup *d = ct_dedup_new(1);

	(void)state;
	assert_false(ct_dedup_check_and_add(d, "x"));
	assert_true(ct_dedup_check_and_add(d, "x"));
	assert_false(ct_dedup_check_and_add(d, "y"));
	assert_false(ct_dedup_check_and_add(d, "x"));
	assert_false(ct_dedup_check_and_add(d, "y"));
	assert_int_equal(ct_dedup_count(d), 1);
	ct_dedup_free(d);
}

/* xorshift64*: a fixed pseudo-random sequence, so failures reproduce. */
static uint64_t next_random(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

/* Replays ops random IDs from a key space a little larger than capacity against a reference
 * FIFO window kept in a plain array. */
static void run_model(size_t capacity, size_t keys, size_t ops, uint64_t seed)
{
	struct ct_dedup *d = ct_dedup_new(capacity);
	char(*window)[24] = calloc(capacity, sizeof(*window));
	size_t i, k, n = 0, next = 0, hits = 0;
	char id[24];
	bool expect;

	assert_non_null(d);
	assert_non_null(window);
	for (i = 0; i < ops; i++) {
		snprintf(id, sizeof(id), "gw-%zu", (size_t)(next_random(&seed) % keys));
		for (expect = false, k = 0; k < n && !expect; k++)
			expect = strcmp(window[k], id) == 0;
		if (ct_dedup_check_and_add(d, id) != expect)
			fail_msg("op %zu (capacity %zu): %s expected %s", i, capacity, id,
			         expect ? "seen" : "new");
		if (expect) {
			hits++;
			continue;
		}
		memcpy(window[next], id, sizeof(id));
		next = (next + 1) % capacity;
		if (n < capacity)
			n++;
	}
	assert_int_equal(ct_dedup_count(d), n);
	/* The sequence must have had both outcomes in quantity to mean anything. */
	assert_true(hits > ops / 10);
	assert_true(ops - hits > ops / 10);
	free(window);
	ct_dedup_free(d);
}

static void test_model_small_tables(void **state)
{
	size_t capacity;

	(void)state;
	for (capacity = 1; capacity <= 9; capacity++)
		run_model(capacity, capacity + capacity / 2 + 2, 20000,
		          0x9e3779b97f4a7c15u + capacity);
}

static void test_model_larger_table(void **state)
{
	(void)state;
	run_model(257, 400, 200000, 42);
}

/* Many distinct IDs through a full-size window: everything in the window is found, everything
 * older is not, and memory stays at the capacity. */
static void test_many_ids(void **state)
{
	const size_t capacity = 65536, total = 300000;
	struct ct_dedup *d = ct_dedup_new(capacity);
	char id[32];
	size_t i;

	(void)state;
	assert_non_null(d);
	for (i = 0; i < total; i++) {
		snprintf(id, sizeof(id), "site1:gw-7:%zu", i);
		assert_false(ct_dedup_check_and_add(d, id));
	}
	assert_int_equal(ct_dedup_count(d), capacity);
	for (i = total - capacity; i < total; i++) {
		snprintf(id, sizeof(id), "site1:gw-7:%zu", i);
		assert_true(ct_dedup_check_and_add(d, id));
	}
	/* The last check of the oldest evicted ID re-adds it and evicts the oldest remaining. */
	snprintf(id, sizeof(id), "site1:gw-7:%zu", total - capacity - 1);
	assert_false(ct_dedup_check_and_add(d, id));
	snprintf(id, sizeof(id), "site1:gw-7:%zu", total - capacity);
	assert_false(ct_dedup_check_and_add(d, id));
	ct_dedup_free(d);
}

/* The same ID with the same content is a duplicate; with other content a conflict; content
 * not known on either side (0, or the plain call) is never a conflict. */
static void test_content_conflict(void **state)
{
	struct ct_dedup *d = ct_dedup_new(16);
	uint64_t ok, nok;
	bool conflict = true;

	(void)state;
	assert_non_null(d);
	ok = ct_dedup_fingerprint(d, "result OK", 9);
	nok = ct_dedup_fingerprint(d, "result NOK", 10);
	assert_true(ok != 0 && nok != 0 && ok != nok);
	assert_true(ok == ct_dedup_fingerprint(d, "result OK", 9));
	assert_false(ct_dedup_check_and_add_content(d, "e-1", ok, &conflict));
	assert_false(conflict);
	assert_true(ct_dedup_check_and_add_content(d, "e-1", ok, &conflict));
	assert_false(conflict); /* a resend */
	assert_true(ct_dedup_check_and_add_content(d, "e-1", nok, &conflict));
	assert_true(conflict); /* same ID, other content */
	assert_true(ct_dedup_check_and_add_content(d, "e-1", 0, &conflict));
	assert_false(conflict); /* unknown content: a duplicate */
	assert_true(ct_dedup_check_and_add(d, "e-1"));
	assert_false(ct_dedup_check_and_add(d, "e-2")); /* remembered without content */
	assert_true(ct_dedup_check_and_add_content(d, "e-2", nok, &conflict));
	assert_false(conflict);
	ct_dedup_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_new_rejects_bad_capacity),
	        cmocka_unit_test(test_hit_and_miss),
	        cmocka_unit_test(test_ids_never_recorded),
	        cmocka_unit_test(test_fifo_eviction),
	        cmocka_unit_test(test_capacity_one),
	        cmocka_unit_test(test_model_small_tables),
	        cmocka_unit_test(test_model_larger_table),
	        cmocka_unit_test(test_many_ids),
	        cmocka_unit_test(test_content_conflict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
