/* test_ingest_lots: ingest's held-lot set (hold, release, sites kept apart, lot status
 * messages, flagging results).
 *
 * Besides hand-written cases, a model test replays long pseudo-random hold/release sequences
 * over a few hundred lots against a plain array; the table starts at 16 slots, so the
 * sequence crosses several doublings and removes from long probe chains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ct_error.h"
#include "ingest_lots.h"

#define DL(x) CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_##x

static void test_hold_release(void **state)
{
	struct ingest_lots *lots = ingest_lots_new();

	(void)state;
	assert_non_null(lots);
	assert_false(ingest_lots_is_held(lots, "S1", "L1-NMC-1"));
	assert_int_equal(ingest_lots_set(lots, "S1", "L1-NMC-1", true), CT_OK);
	assert_true(ingest_lots_is_held(lots, "S1", "L1-NMC-1"));
	/* Holding again changes nothing. */
	assert_int_equal(ingest_lots_set(lots, "S1", "L1-NMC-1", true), CT_OK);
	assert_int_equal(ingest_lots_count(lots), 1);
	/* Another site's lot of the same name is another lot. */
	assert_false(ingest_lots_is_held(lots, "S2", "L1-NMC-1"));
	/* Prefixes and extensions are other lots. */
	assert_false(ingest_lots_is_held(lots, "S1", "L1-NMC-"));
	assert_false(ingest_lots_is_held(lots, "S1", "L1-NMC-10"));
	assert_int_equal(ingest_lots_set(lots, "S1", "L1-NMC-1", false), CT_OK);
	assert_false(ingest_lots_is_held(lots, "S1", "L1-NMC-1"));
	/* Releasing what is not held is fine. */
	assert_int_equal(ingest_lots_set(lots, "S1", "L1-NMC-1", false), CT_OK);
	assert_int_equal(ingest_lots_count(lots), 0);
	ingest_lots_free(lots);
	ingest_lots_free(NULL);
}

static void test_invalid_ids(void **state)
{
	struct ingest_lots *lots = ingest_lots_new();
	char too_long[66];

	(void)state;
	memset(too_long, 'x', 65);
	too_long[65] = '\0';
	assert_int_equal(ingest_lots_set(lots, "", "L1", true), CT_ERR_INVALID);
	assert_int_equal(ingest_lots_set(lots, "S1", "", true), CT_ERR_INVALID);
	assert_int_equal(ingest_lots_set(lots, "S1", too_long, true), CT_ERR_INVALID);
	/* "S1" + "a/b" must not be taken for "S1/a" + "b". */
	assert_int_equal(ingest_lots_set(lots, "S1", "a/b", true), CT_ERR_INVALID);
	assert_int_equal(ingest_lots_set(lots, "S1/a", "b", true), CT_ERR_INVALID);
	assert_int_equal(ingest_lots_set(lots, "S1", "a", true), CT_OK);
	assert_false(ingest_lots_is_held(lots, "S1/a", ""));
	assert_false(ingest_lots_is_held(lots, "S1", "a/"));
	assert_false(ingest_lots_is_held(lots, "S1", NULL));
	assert_int_equal(ingest_lots_count(lots), 1);
	ingest_lots_free(lots);
}

static void test_model(void **state)
{
	enum { N_LOTS = 300, STEPS = 40000 };
	struct ingest_lots *lots = ingest_lots_new();
	bool model[N_LOTS];
	char name[32];
	uint64_t x = 0x243f6a8885a308d3u;
	size_t held = 0;

	(void)state;
	memset(model, 0, sizeof(model));
	for (int step = 0; step < STEPS; step++) {
		int lot, site;
		bool hold;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		lot = (int)(x % N_LOTS);
		site = lot % 2;
		/* Mostly holds early, mostly releases late: the table grows and empties. */
		hold = (x >> 32) % 100 < (step < STEPS / 2 ? 70u : 30u);
		snprintf(name, sizeof(name), "LOT-%d", lot);
		assert_int_equal(ingest_lots_set(lots, site ? "S2" : "S1", name, hold), CT_OK);
		if (hold && !model[lot])
			held++;
		else if (!hold && model[lot])
			held--;
		model[lot] = hold;
		if (step % 97 == 0) {
			for (int i = 0; i < N_LOTS; i++) {
				snprintf(name, sizeof(name), "LOT-%d", i);
				assert_int_equal(
				        ingest_lots_is_held(lots, i % 2 ? "S2" : "S1", name),
				        model[i]);
				assert_false(ingest_lots_is_held(lots, i % 2 ? "S1" : "S2", name));
			}
			assert_int_equal(ingest_lots_count(lots), held);
		}
	}
	ingest_lots_free(lots);
}

static void test_clone_is_independent(void **state)
{
	struct ingest_lots *lots = ingest_lots_new(), *copy;

	(void)state;
	for (int i = 0; i < 40; i++) {
		char name[16];
		snprintf(name, sizeof(name), "L%d", i);
		assert_int_equal(ingest_lots_set(lots, "S1", name, true), CT_OK);
	}
	copy = ingest_lots_clone(lots);
	assert_non_null(copy);
	assert_int_equal(ingest_lots_set(lots, "S1", "L3", false), CT_OK);
	assert_int_equal(ingest_lots_set(lots, "S1", "NEW", true), CT_OK);
	assert_true(ingest_lots_is_held(copy, "S1", "L3"));
	assert_false(ingest_lots_is_held(copy, "S1", "NEW"));
	assert_int_equal(ingest_lots_count(copy), 40);
	for (int i = 0; i < 40; i++) {
		char name[16];
		snprintf(name, sizeof(name), "L%d", i);
		assert_true(ingest_lots_is_held(copy, "S1", name));
	}
	ingest_lots_free(lots);
	ingest_lots_free(copy);
}

/* Packs a LotStatus into buf; returns its length. */
static size_t lot_status(uint8_t *buf, size_t cap, const char *site, const char *lot, int state)
{
	Cellthread__V1__LotStatus st = CELLTHREAD__V1__LOT_STATUS__INIT;
	Cellthread__V1__Header h = CELLTHREAD__V1__HEADER__INIT;
	h.event_id = (char *)"l-1";
	h.producer = (char *)"spc-gate-1";
	st.header = &h;
	st.site = (char *)site;
	st.lot_id = (char *)lot;
	st.state = (Cellthread__V1__LotState)state;
	st.reason = (char *)"rule R1";
	st.changed_by = (char *)"spc-gate";
	assert_true(protobuf_c_message_get_packed_size(&st.base) <= cap);
	return protobuf_c_message_pack(&st.base, buf);
}

static void test_apply_lot_status(void **state)
{
	static const struct {
		const char *topic, *site, *lot;
		int state;
		int rc, reason; /* reason only when rc != CT_OK */
		bool held_after;
	} cases[] = {
	        {"ct/v1/lot/S1/L1", "S1", "L1", 2, CT_OK, 0, true},
	        {"ct/v1/lot/S1/L1", "S1", "L1", 3, CT_OK, 0, true},
	        {"ct/v1/lot/S1/L1", "S1", "L1", 1, CT_OK, 0, false},
	        {"ct/v1/lot/S1/L1", "S1", "L1", 3, CT_OK, 0, true},
	        /* Refused, the set unchanged (L1 stays held). */
	        {"ct/v1/lot/S1/L1", "S1", "L1", 0, CT_ERR_INVALID, DL(INVALID), true},
	        {"ct/v1/lot/S1/L1", "S1", "L1", 7, CT_ERR_INVALID, DL(INVALID), true},
	        {"ct/v1/lot/S1/L1", "S2", "L1", 1, CT_ERR_INVALID, DL(INVALID), true},
	        {"ct/v1/lot/S1/L1", "S1", "L2", 1, CT_ERR_INVALID, DL(INVALID), true},
	        {"ct/v1/lot/S1", "S1", "L1", 1, CT_ERR_INVALID, DL(TOPIC), true},
	        {"ct/v1/lot/S1/L1/x", "S1", "L1", 1, CT_ERR_INVALID, DL(TOPIC), true},
	        {"ct/v1/lot//L1", "", "L1", 1, CT_ERR_INVALID, DL(TOPIC), true},
	        {"ct/v1/lot/S1/L1", "S1", "L1", 1, CT_OK, 0, false},
	};
	struct ingest_lots *lots = ingest_lots_new();
	uint8_t buf[256];
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len =
		        lot_status(buf, sizeof(buf), cases[i].site, cases[i].lot, cases[i].state);
		int reason = -1;
		int rc = ingest_lots_apply(lots, cases[i].topic, buf, len, 1024, &reason, err,
		                           sizeof(err));
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, expected %d (%s)", i, rc, cases[i].rc, err);
		if (rc != CT_OK)
			assert_int_equal(reason, cases[i].reason);
		assert_int_equal(ingest_lots_is_held(lots, "S1", "L1"), cases[i].held_after);
	}
	ingest_lots_free(lots);
}

static void test_apply_bad_payloads(void **state)
{
	struct ingest_lots *lots = ingest_lots_new();
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
	uint8_t buf[256];
	char err[256];
	size_t len;
	int reason = -1;

	(void)state;
	len = lot_status(buf, sizeof(buf), "S1", "L1", 2);
	assert_int_equal(ingest_lots_apply(lots, "ct/v1/lot/S1/L1", buf, len, 1024, &reason, err,
	                                   sizeof(err)),
	                 CT_OK);
	assert_int_equal(ingest_lots_apply(lots, "ct/v1/lot/S1/L1", garbage, sizeof(garbage), 1024,
	                                   &reason, err, sizeof(err)),
	                 CT_ERR_DECODE);
	assert_int_equal(reason, DL(DECODE));
	assert_int_equal(ingest_lots_apply(lots, "ct/v1/lot/S1/L1", buf, len, len - 1, &reason, err,
	                                   sizeof(err)),
	                 CT_ERR_TOO_BIG);
	assert_int_equal(reason, DL(OVERSIZE));
	assert_true(ingest_lots_is_held(lots, "S1", "L1"));
	/* An empty payload deletes the retained status: released. */
	assert_int_equal(ingest_lots_apply(lots, "ct/v1/lot/S1/L1", NULL, 0, 1024, &reason, err,
	                                   sizeof(err)),
	                 CT_OK);
	assert_false(ingest_lots_is_held(lots, "S1", "L1"));
	assert_true(ingest_lots_is_lot_topic("ct/v1/lot/S1/L1"));
	assert_false(ingest_lots_is_lot_topic("ct/v1/edge/S1/L1/st/result/pb"));
	ingest_lots_free(lots);
}

/* A heap StationResult (unpacked, as ingest has it) with the given lots and children. */
static Cellthread__V1__StationResult *result_with(const char *site, const char *const *lots,
                                                  size_t n_lots, const char *const *children,
                                                  size_t n_children, const char *preset)
{
	Cellthread__V1__StationResult r = CELLTHREAD__V1__STATION_RESULT__INIT;
	Cellthread__V1__MaterialUse m[8], *mp[8];
	Cellthread__V1__ChildUnit c[8], *cp[8];
	char *held[1] = {(char *)preset};
	uint8_t buf[2048];
	size_t len;

	assert_true(n_lots <= 8 && n_children <= 8);
	r.unit_id = (char *)"C1";
	r.site = (char *)site;
	for (size_t i = 0; i < n_lots; i++) {
		cellthread__v1__material_use__init(&m[i]);
		m[i].lot_id = (char *)lots[i];
		mp[i] = &m[i];
	}
	for (size_t i = 0; i < n_children; i++) {
		cellthread__v1__child_unit__init(&c[i]);
		c[i].unit_id = (char *)children[i];
		c[i].kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_ELECTRODE;
		cp[i] = &c[i];
	}
	r.materials = mp;
	r.n_materials = n_lots;
	r.children = cp;
	r.n_children = n_children;
	if (preset != NULL) {
		r.held_lots = held;
		r.n_held_lots = 1;
	}
	assert_true(protobuf_c_message_get_packed_size(&r.base) <= sizeof(buf));
	len = protobuf_c_message_pack(&r.base, buf);
	return cellthread__v1__station_result__unpack(NULL, len, buf);
}

static void test_mark_result(void **state)
{
	static const char *const materials[] = {"NMC-1", "PVDF-7", "NMC-1", "FOIL-2"};
	static const char *const children[] = {"COIL-9", "COIL-10"};
	struct ingest_lots *lots = ingest_lots_new();
	Cellthread__V1__StationResult *r;

	(void)state;
	assert_int_equal(ingest_lots_set(lots, "S1", "NMC-1", true), CT_OK);
	assert_int_equal(ingest_lots_set(lots, "S1", "COIL-10", true), CT_OK);
	assert_int_equal(ingest_lots_set(lots, "S2", "FOIL-2", true), CT_OK);

	/* Held materials and children at the result's site, each once, in order; a sender's
	 * own held_lots are replaced. */
	r = result_with("S1", materials, 4, children, 2, "FORGED");
	assert_non_null(r);
	assert_int_equal(ingest_lots_mark_result(lots, r), CT_OK);
	assert_int_equal(r->n_held_lots, 2);
	assert_string_equal(r->held_lots[0], "NMC-1");
	assert_string_equal(r->held_lots[1], "COIL-10");
	/* Marking again gives the same answer. */
	assert_int_equal(ingest_lots_mark_result(lots, r), CT_OK);
	assert_int_equal(r->n_held_lots, 2);
	cellthread__v1__station_result__free_unpacked(r, NULL);

	/* At site S2 only FOIL-2 is held. */
	r = result_with("S2", materials, 4, children, 2, NULL);
	assert_int_equal(ingest_lots_mark_result(lots, r), CT_OK);
	assert_int_equal(r->n_held_lots, 1);
	assert_string_equal(r->held_lots[0], "FOIL-2");
	cellthread__v1__station_result__free_unpacked(r, NULL);

	/* Nothing held: a forged field is cleared. */
	r = result_with("S3", materials, 4, children, 2, "FORGED");
	assert_int_equal(ingest_lots_mark_result(lots, r), CT_OK);
	assert_int_equal(r->n_held_lots, 0);
	assert_null(r->held_lots);
	cellthread__v1__station_result__free_unpacked(r, NULL);

	/* No materials, no children. */
	r = result_with("S1", NULL, 0, NULL, 0, NULL);
	assert_int_equal(ingest_lots_mark_result(lots, r), CT_OK);
	assert_int_equal(r->n_held_lots, 0);
	cellthread__v1__station_result__free_unpacked(r, NULL);

	/* After the release nothing is flagged. */
	assert_int_equal(ingest_lots_set(lots, "S1", "NMC-1", false), CT_OK);
	assert_int_equal(ingest_lots_set(lots, "S1", "COIL-10", false), CT_OK);
	r = result_with("S1", materials, 4, children, 2, NULL);
	assert_int_equal(ingest_lots_mark_result(lots, r), CT_OK);
	assert_int_equal(r->n_held_lots, 0);
	cellthread__v1__station_result__free_unpacked(r, NULL);
	ingest_lots_free(lots);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_hold_release),
	        cmocka_unit_test(test_invalid_ids),
	        cmocka_unit_test(test_model),
	        cmocka_unit_test(test_clone_is_independent),
	        cmocka_unit_test(test_apply_lot_status),
	        cmocka_unit_test(test_apply_bad_payloads),
	        cmocka_unit_test(test_mark_result),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
