/* test_fpy: fpy-report's pure logic (services/fpy-report/fpy.h): windows of verdict time,
 * the first verdict per unit and station, closing with a grace, late verdicts, rewinds, and
 * the rule for which spool positions may be committed.
 *
 * Times are small numbers of microseconds with a 100 us interval, so windows are easy to
 * read: [100, 200) is the window of every verdict decided at 100..199. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ct_error.h"
#include "fpy.h"

#define PASS   CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_PASS
#define FAIL   CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_FAIL
#define REWORK CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_REWORK

/* Counts one verdict of station (on site S, line L1) and returns its window (or
 * FPY_NO_WINDOW when late). */
static int64_t add(struct fpy *f, const char *station, const char *unit, int64_t at, int code)
{
	Cellthread__V1__Verdict v = CELLTHREAD__V1__VERDICT__INIT;
	int64_t window = 0;
	char err[128];

	v.site = (char *)"S";
	v.line = (char *)"L1";
	v.station = (char *)station;
	v.unit_id = (char *)unit;
	v.decided_at_us = at;
	v.verdict = (Cellthread__V1__VerdictCode)code;
	assert_int_equal(fpy_check_verdict(&v, "S", "L1", station, err, sizeof(err)), CT_OK);
	assert_int_equal(fpy_add(f, &v, &window), CT_OK);
	return window;
}

static void test_first_verdict_per_unit(void **state)
{
	struct fpy f;
	struct fpy_yield *y = NULL;
	size_t n = 0;

	(void)state;
	fpy_init(&f, 100, 10);
	assert_int_equal(add(&f, "A", "c1", 100, PASS), 100);
	assert_int_equal(add(&f, "A", "c2", 150, FAIL), 100);
	assert_int_equal(add(&f, "A", "c2", 160, PASS), 100); /* re-judged: its first counts */
	assert_int_equal(add(&f, "A", "c3", 199, REWORK), 100);
	assert_int_equal(add(&f, "A", "c1", 170, FAIL), 100); /* passed first, stays passed */
	assert_int_equal(add(&f, "B", "c1", 120, PASS), 100); /* another station: counts */
	assert_int_equal(add(&f, "A", "c4", 200, PASS), 200); /* the next window */
	assert_int_equal(f.counted, 5);
	assert_int_equal(f.rejudged, 2);

	/* [100, 200) ends at 200; with 10 us of grace it closes at 210, not before. */
	assert_int_equal(fpy_close(&f, 209, &y, &n), CT_OK);
	assert_int_equal(n, 0);
	assert_null(y);
	assert_int_equal(fpy_close(&f, 210, &y, &n), CT_OK);
	assert_int_equal(n, 2);
	assert_string_equal(y[0].station, "A"); /* sorted by window, then station */
	assert_int_equal(y[0].window_start_us, 100);
	assert_int_equal(y[0].window_end_us, 200);
	assert_int_equal(y[0].units_judged, 3);
	assert_int_equal(y[0].units_passed_first, 1);
	assert_true(fpy_ratio(&y[0]) > 0.333 && fpy_ratio(&y[0]) < 0.334);
	assert_string_equal(y[1].station, "B");
	assert_int_equal(y[1].units_judged, 1);
	assert_int_equal(y[1].units_passed_first, 1);
	assert_true(fpy_ratio(&y[1]) == 1.0);
	free(y);
	assert_int_equal(f.n_windows, 1); /* [200, 300) of A is still open */

	/* A unit judged in two windows counts in each. */
	assert_int_equal(add(&f, "A", "c1", 250, FAIL), 200);
	assert_int_equal(fpy_close(&f, 400, &y, &n), CT_OK);
	assert_int_equal(n, 1);
	assert_int_equal(y[0].window_start_us, 200);
	assert_int_equal(y[0].units_judged, 2);
	assert_int_equal(y[0].units_passed_first, 1);
	free(y);
	fpy_cleanup(&f);
}

static void test_late_and_rewind(void **state)
{
	struct fpy f;
	struct fpy_yield *y = NULL;
	size_t n = 0;

	(void)state;
	fpy_init(&f, 100, 0);
	add(&f, "A", "c1", 100, PASS);
	add(&f, "A", "c2", 210, PASS);
	assert_int_equal(fpy_close(&f, 250, &y, &n), CT_OK);
	assert_int_equal(n, 1);
	free(y);
	fpy_published(&f); /* the broker took the yield */
	/* [100, 200) was published: a verdict for it now is late, counted nowhere. */
	assert_int_equal(add(&f, "A", "c9", 150, PASS), FPY_NO_WINDOW);
	assert_int_equal(f.late, 1);
	/* A rewind forgets the open window (it is handled again) but not what was closed. */
	fpy_rewind(&f);
	assert_int_equal(f.n_windows, 0);
	assert_int_equal(add(&f, "A", "c1", 100, PASS), FPY_NO_WINDOW);
	assert_int_equal(add(&f, "A", "c2", 210, PASS), 200);
	assert_int_equal(fpy_close(&f, 300, &y, &n), CT_OK);
	assert_int_equal(n, 1);
	assert_int_equal(y[0].units_judged, 1); /* c2 once, not twice */
	free(y);
	/* The clock going back closes nothing again and reopens nothing. */
	assert_int_equal(fpy_close(&f, 120, &y, &n), CT_OK);
	assert_int_equal(n, 0);
	assert_int_equal(add(&f, "A", "c3", 250, PASS), FPY_NO_WINDOW);
	fpy_cleanup(&f);
}

/* A yield whose publish failed is not lost: the rewind opens its window again and the
 * replayed verdicts make the same yield. */
static void test_rewind_after_failed_publish(void **state)
{
	struct fpy f;
	struct fpy_yield *y = NULL;
	size_t n = 0;

	(void)state;
	fpy_init(&f, 100, 0);
	add(&f, "A", "c1", 100, PASS);
	add(&f, "A", "c2", 150, FAIL);
	assert_int_equal(fpy_close(&f, 200, &y, &n), CT_OK);
	assert_int_equal(n, 1);
	free(y);
	/* No fpy_published: the broker did not take it. */
	fpy_rewind(&f);
	assert_int_equal(add(&f, "A", "c1", 100, PASS), 100);
	assert_int_equal(add(&f, "A", "c2", 150, FAIL), 100);
	assert_int_equal(fpy_close(&f, 200, &y, &n), CT_OK);
	assert_int_equal(n, 1);
	assert_int_equal(y[0].window_start_us, 100);
	assert_int_equal(y[0].units_judged, 2);
	assert_int_equal(y[0].units_passed_first, 1);
	free(y);
	fpy_cleanup(&f);
}

static void test_commit_waits_for_windows(void **state)
{
	struct fpy f;
	struct fpy_yield *y = NULL;
	size_t n = 0;
	uint64_t segment = 0, offset = 0;

	(void)state;
	fpy_init(&f, 100, 0);
	/* Nothing pending: nothing to commit. */
	assert_false(fpy_pending_take(&f, &segment, &offset));
	assert_int_equal(fpy_pending_add(&f, 1, 10, FPY_NO_WINDOW), CT_OK); /* dead letters only */
	assert_int_equal(fpy_pending_add(&f, 1, 20, 100), CT_OK);
	assert_int_equal(fpy_pending_add(&f, 1, 30, 200), CT_OK);
	assert_int_equal(fpy_pending_add(&f, 2, 5, 100), CT_OK); /* straggler for [100, 200) */
	/* Only the batch that counted nothing may go before [100, 200) is published. */
	assert_true(fpy_pending_take(&f, &segment, &offset));
	assert_int_equal(segment, 1);
	assert_int_equal(offset, 10);
	assert_false(fpy_pending_take(&f, &segment, &offset));
	assert_int_equal(fpy_close(&f, 200, &y, &n), CT_OK);
	free(y);
	/* Closed but its yield not yet acknowledged: still nothing more may go. */
	assert_false(fpy_pending_take(&f, &segment, &offset));
	fpy_published(&f);
	/* [100, 200) published; the third batch touched [200, 300): it and all after it wait. */
	assert_true(fpy_pending_take(&f, &segment, &offset));
	assert_int_equal(offset, 20);
	assert_false(fpy_pending_take(&f, &segment, &offset));
	assert_int_equal(fpy_close(&f, 300, &y, &n), CT_OK);
	free(y);
	fpy_published(&f);
	assert_true(fpy_pending_take(&f, &segment, &offset));
	assert_int_equal(segment, 2);
	assert_int_equal(offset, 5);
	/* A rewind forgets pending batches: they come back through the loop. */
	assert_int_equal(fpy_pending_add(&f, 3, 1, 300), CT_OK);
	fpy_rewind(&f);
	assert_false(fpy_pending_take(&f, &segment, &offset));
	fpy_cleanup(&f);
}

/* Table-driven: what fpy_check_verdict refuses. */
static void test_check_verdict(void **state)
{
	static const struct {
		const char *unit, *station;
		int64_t at;
		int code;
		const char *why;
	} cases[] = {
	        {"c1", "A", 100, PASS, NULL},
	        {"", "A", 100, PASS, "unit_id"},
	        {"c/1", "A", 100, PASS, "unit_id"},
	        {"c1", "B", 100, PASS, "differ"},
	        {"c1", "A", 0, PASS, "decided_at_us"},
	        {"c1", "A", 100, 0, "verdict code 0"},
	        {"c1", "A", 100, 99, "verdict code 99"},
	};
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Cellthread__V1__Verdict v = CELLTHREAD__V1__VERDICT__INIT;
		int rc;

		v.site = (char *)"S";
		v.line = (char *)"L1";
		v.station = (char *)cases[i].station;
		v.unit_id = (char *)cases[i].unit;
		v.decided_at_us = cases[i].at;
		v.verdict = (Cellthread__V1__VerdictCode)cases[i].code;
		err[0] = '\0';
		rc = fpy_check_verdict(&v, "S", "L1", "A", err, sizeof(err));
		if (cases[i].why == NULL) {
			assert_int_equal(rc, CT_OK);
			continue;
		}
		assert_int_equal(rc, CT_ERR_INVALID);
		if (strstr(err, cases[i].why) == NULL)
			fail_msg("case %zu: \"%s\" does not mention %s", i, err, cases[i].why);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_first_verdict_per_unit),
	        cmocka_unit_test(test_late_and_rewind),
	        cmocka_unit_test(test_rewind_after_failed_publish),
	        cmocka_unit_test(test_commit_waits_for_windows),
	        cmocka_unit_test(test_check_verdict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
