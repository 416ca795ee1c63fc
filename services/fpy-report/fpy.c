/* fpy: first-pass yield windows and the commit rule of ct-fpy-report (contract in fpy.h).
 *
 * Open windows live in one array; the index maps "site/line/station/start" to a position,
 * updated when fpy_close compacts the array (once per interval, a few windows per station).
 * Each window keeps the set of units it judged, so a unit's later verdicts change nothing. */
#include "fpy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_array.h"
#include "ct_error.h"

/* Room for "site/line/station/start". */
#define KEY_MAX (3 * (CT_ID_MAX + 1) + 24)

void fpy_init(struct fpy *f, int64_t interval_us, int64_t grace_us)
{
	memset(f, 0, sizeof(*f));
	f->interval_us = interval_us;
	f->grace_us = grace_us;
	f->closed_until_us = FPY_NO_WINDOW;
	f->published_until_us = FPY_NO_WINDOW;
	ct_map_init(&f->index);
}

static void drop_windows(struct fpy *f)
{
	for (size_t i = 0; i < f->n_windows; i++)
		ct_map_cleanup(&f->windows[i].units);
	f->n_windows = 0;
	ct_map_clear(&f->index);
}

void fpy_cleanup(struct fpy *f)
{
	drop_windows(f);
	free(f->windows);
	free(f->pending);
	ct_map_cleanup(&f->index);
	memset(f, 0, sizeof(*f));
}

void fpy_rewind(struct fpy *f)
{
	drop_windows(f);
	f->n_pending = 0;
	f->closed_until_us = f->published_until_us;
}

void fpy_published(struct fpy *f)
{
	f->published_until_us = f->closed_until_us;
}

int fpy_check_verdict(const Cellthread__V1__Verdict *v, const char *site, const char *line,
                      const char *station, char *err, size_t err_len)
{
	const ProtobufCEnumValue *code = protobuf_c_enum_descriptor_get_value(
	        &cellthread__v1__verdict_code__descriptor, (int)v->verdict);

	if (!ct_id_is_valid(v->unit_id))
		return ct_set_error(err, err_len, CT_ERR_INVALID, "unit_id is not an ID");
	if (strcmp(v->site, site) != 0 || strcmp(v->line, line) != 0 ||
	    strcmp(v->station, station) != 0)
		return ct_set_error(err, err_len, CT_ERR_INVALID,
		                    "site/line/station of unit %s differ from the topic's",
		                    v->unit_id);
	if (v->decided_at_us <= 0)
		return ct_set_error(err, err_len, CT_ERR_INVALID, "unit %s: no decided_at_us",
		                    v->unit_id);
	if (code == NULL || v->verdict == CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_UNSPECIFIED)
		return ct_set_error(err, err_len, CT_ERR_INVALID, "unit %s: verdict code %d",
		                    v->unit_id, (int)v->verdict);
	return CT_OK;
}

static void window_key(char *buf, size_t len, const char *site, const char *line,
                       const char *station, int64_t start)
{
	snprintf(buf, len, "%s/%s/%s/%lld", site, line, station, (long long)start);
}

/* The open window of v's station at start, created when missing. NULL when out of memory. */
static struct fpy_window *window_for(struct fpy *f, const Cellthread__V1__Verdict *v, int64_t start)
{
	char key[KEY_MAX];
	struct fpy_window *w;
	struct fpy_window *grown;
	size_t at;

	window_key(key, sizeof(key), v->site, v->line, v->station, start);
	if (ct_map_get(&f->index, key, &at))
		return &f->windows[at];
	grown = ct_array_grow(f->windows, &f->cap_windows, f->n_windows + 1, sizeof(*grown), 16);
	if (grown == NULL)
		return NULL;
	f->windows = grown;
	if (ct_map_put(&f->index, key, f->n_windows) != CT_OK)
		return NULL;
	w = &f->windows[f->n_windows++];
	memset(w, 0, sizeof(*w));
	snprintf(w->yield.site, sizeof(w->yield.site), "%s", v->site);
	snprintf(w->yield.line, sizeof(w->yield.line), "%s", v->line);
	snprintf(w->yield.station, sizeof(w->yield.station), "%s", v->station);
	w->yield.window_start_us = start;
	w->yield.window_end_us = start + f->interval_us;
	ct_map_init(&w->units);
	return w;
}

int fpy_add(struct fpy *f, const Cellthread__V1__Verdict *v, int64_t *ret_window_us)
{
	int64_t start = v->decided_at_us - v->decided_at_us % f->interval_us;
	struct fpy_window *w;

	if (f->closed_until_us != FPY_NO_WINDOW && start + f->interval_us <= f->closed_until_us) {
		f->late++;
		*ret_window_us = FPY_NO_WINDOW;
		return CT_OK;
	}
	w = window_for(f, v, start);
	if (w == NULL)
		return CT_ERR_NOMEM;
	if (ct_map_get(&w->units, v->unit_id, NULL)) {
		f->rejudged++;
	} else {
		if (ct_map_put(&w->units, v->unit_id, 1) != CT_OK)
			return CT_ERR_NOMEM;
		w->yield.units_judged++;
		if (v->verdict == CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_PASS)
			w->yield.units_passed_first++;
		f->counted++;
	}
	*ret_window_us = start;
	return CT_OK;
}

static int compare_yields(const void *a, const void *b)
{
	const struct fpy_yield *x = a, *y = b;
	int c;

	if (x->window_start_us != y->window_start_us)
		return x->window_start_us < y->window_start_us ? -1 : 1;
	if ((c = strcmp(x->site, y->site)) != 0 || (c = strcmp(x->line, y->line)) != 0)
		return c;
	return strcmp(x->station, y->station);
}

int fpy_close(struct fpy *f, int64_t now_us, struct fpy_yield **ret_yields, size_t *ret_n)
{
	int64_t edge = now_us - f->grace_us;
	struct fpy_yield *out = NULL;
	size_t n_out = 0, kept = 0;
	char key[KEY_MAX];

	/* Round down to the interval (also below zero, for a clock at the epoch in tests). */
	edge -= ((edge % f->interval_us) + f->interval_us) % f->interval_us;
	if (f->closed_until_us != FPY_NO_WINDOW && edge < f->closed_until_us)
		edge = f->closed_until_us;
	for (size_t i = 0; i < f->n_windows; i++)
		if (f->windows[i].yield.window_end_us <= edge)
			n_out++;
	if (n_out > 0 && (out = calloc(n_out, sizeof(*out))) == NULL)
		return CT_ERR_NOMEM;
	n_out = 0;
	for (size_t i = 0; i < f->n_windows; i++) {
		struct fpy_window *w = &f->windows[i];
		window_key(key, sizeof(key), w->yield.site, w->yield.line, w->yield.station,
		           w->yield.window_start_us);
		if (w->yield.window_end_us <= edge) {
			out[n_out++] = w->yield;
			ct_map_cleanup(&w->units);
			ct_map_remove(&f->index, key);
			continue;
		}
		/* The key is in the index already: updating its position cannot fail. */
		f->windows[kept] = *w;
		(void)ct_map_put(&f->index, key, kept);
		kept++;
	}
	f->n_windows = kept;
	f->closed_until_us = edge;
	if (n_out > 1)
		qsort(out, n_out, sizeof(*out), compare_yields);
	*ret_yields = out;
	*ret_n = n_out;
	return CT_OK;
}

double fpy_ratio(const struct fpy_yield *y)
{
	return y->units_judged == 0 ? 0.0 : (double)y->units_passed_first / y->units_judged;
}

int fpy_pending_add(struct fpy *f, uint64_t end_segment, uint64_t end_offset,
                    int64_t newest_window_us)
{
	struct fpy_pending *grown =
	        ct_array_grow(f->pending, &f->cap_pending, f->n_pending + 1, sizeof(*grown), 16);

	if (grown == NULL)
		return CT_ERR_NOMEM;
	f->pending = grown;
	f->pending[f->n_pending].end_segment = end_segment;
	f->pending[f->n_pending].end_offset = end_offset;
	f->pending[f->n_pending].newest_window_us = newest_window_us;
	f->n_pending++;
	return CT_OK;
}

bool fpy_pending_take(struct fpy *f, uint64_t *ret_segment, uint64_t *ret_offset)
{
	size_t n = 0;

	while (n < f->n_pending &&
	       (f->pending[n].newest_window_us == FPY_NO_WINDOW ||
	        (f->published_until_us != FPY_NO_WINDOW &&
	         f->pending[n].newest_window_us + f->interval_us <= f->published_until_us)))
		n++;
	if (n == 0)
		return false;
	*ret_segment = f->pending[n - 1].end_segment;
	*ret_offset = f->pending[n - 1].end_offset;
	memmove(f->pending, f->pending + n, (f->n_pending - n) * sizeof(*f->pending));
	f->n_pending -= n;
	return true;
}
