/* oee_dirty: the pairs whose figures are due, the commit rule, and the shift cache (contracts
 * in oee_logic.h).
 *
 * The set is an array with a hash index: it holds the pairs touched since their last publish,
 * a few per station, and every pair leaves it within oee.publish_interval_s. Taking pairs
 * reorders the array and rebuilds the index (a turn that takes pairs scans them anyway). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_array.h"
#include "ct_error.h"
#include "oee_logic.h"

void oee_dirty_init(struct oee_dirty *d)
{
	memset(d, 0, sizeof(*d));
	ct_map_init(&d->index);
}

void oee_dirty_cleanup(struct oee_dirty *d)
{
	free(d->pairs);
	free(d->pending);
	ct_map_cleanup(&d->index);
	memset(d, 0, sizeof(*d));
}

static int pair_key(char *key, size_t len, const char *site, const char *line, const char *station,
                    const char *shift_id)
{
	int n = snprintf(key, len, "%s/%s/%s/%s", site, line, station, shift_id);

	return n < 0 || (size_t)n >= len ? CT_ERR_TOO_BIG : CT_OK;
}

#define PAIR_KEY_MAX (3 * (CT_ID_MAX + 1) + OEE_SHIFT_ID_MAX + 1)

/* Makes the index match the array again. */
static void reindex(struct oee_dirty *d)
{
	char key[PAIR_KEY_MAX];

	ct_map_clear(&d->index);
	d->index_stale = false;
	for (size_t i = 0; i < d->n; i++) {
		const struct oee_pair *p = &d->pairs[i];
		if (pair_key(key, sizeof(key), p->site, p->line, p->station, p->shift_id) !=
		            CT_OK ||
		    ct_map_put(&d->index, key, i) != CT_OK) {
			d->index_stale = true;
			return;
		}
	}
}

static bool fits(const char *s, size_t cap)
{
	return strlen(s) < cap;
}

/* Merges into the pair (added when new): due the earlier, first_seq and settle_seq the
 * smaller, to settle and urgent if either is. */
static int mark_one(struct oee_dirty *d, const char *site, const char *line, const char *station,
                    const char *shift_id, int64_t due_ms, uint64_t first_seq, uint64_t settle_seq,
                    bool settle, bool urgent)
{
	char key[PAIR_KEY_MAX];
	struct oee_pair *p;
	size_t at;

	if (d->index_stale) {
		reindex(d);
		if (d->index_stale)
			return CT_ERR_NOMEM;
	}
	if (pair_key(key, sizeof(key), site, line, station, shift_id) != CT_OK)
		return CT_ERR_TOO_BIG;
	if (ct_map_get(&d->index, key, &at)) {
		p = &d->pairs[at];
		if (due_ms < p->due_ms)
			p->due_ms = due_ms;
		if (first_seq < p->first_seq)
			p->first_seq = first_seq;
		if (settle_seq < p->settle_seq)
			p->settle_seq = settle_seq;
		p->settle = p->settle || settle;
		p->urgent = p->urgent || urgent;
		return CT_OK;
	}
	p = ct_array_grow(d->pairs, &d->cap, d->n + 1, sizeof(*p), 16);
	if (p == NULL)
		return CT_ERR_NOMEM;
	d->pairs = p;
	if (ct_map_put(&d->index, key, d->n) != CT_OK)
		return CT_ERR_NOMEM;
	p = &d->pairs[d->n++];
	memset(p, 0, sizeof(*p));
	/* Lengths were checked by oee_dirty_mark. */
	memcpy(p->site, site, strlen(site) + 1);
	memcpy(p->line, line, strlen(line) + 1);
	memcpy(p->station, station, strlen(station) + 1);
	memcpy(p->shift_id, shift_id, strlen(shift_id) + 1);
	p->due_ms = due_ms;
	p->first_seq = first_seq;
	p->settle_seq = settle_seq;
	p->settle = settle;
	p->urgent = urgent;
	return CT_OK;
}

int oee_dirty_mark(struct oee_dirty *d, const char *site, const char *line, const char *station,
                   const char *shift_id, int64_t due_ms, uint64_t seq, unsigned flags)
{
	bool settle = (flags & OEE_MARK_SETTLE) != 0, urgent = (flags & OEE_MARK_URGENT) != 0;
	uint64_t settle_seq = settle ? seq : OEE_NO_SEQ;
	int rc;

	if (!fits(site, CT_ID_MAX + 1) || !fits(line, CT_ID_MAX + 1) ||
	    !fits(station, CT_ID_MAX + 1) || !fits(shift_id, OEE_SHIFT_ID_MAX))
		return CT_ERR_TOO_BIG;
	if (station[0] != '\0' && (rc = mark_one(d, site, line, station, shift_id, due_ms, seq,
	                                         settle_seq, settle, urgent)) != CT_OK)
		return rc;
	return mark_one(d, site, line, "", shift_id, due_ms, seq, settle_seq, settle, urgent);
}

/* The order pairs are taken in: urgent ones first, their stations (the quick figures) before
 * their lines, each earliest due first; then the others, earliest due first, a line before
 * its stations (it carries them). */
static int by_take_order(const void *a, const void *b)
{
	const struct oee_pair *x = a, *y = b;
	int x_line = x->station[0] == '\0', y_line = y->station[0] == '\0';

	if (x->urgent != y->urgent)
		return x->urgent ? -1 : 1;
	if (x->urgent && x_line != y_line)
		return x_line - y_line;
	if (x->due_ms != y->due_ms)
		return x->due_ms < y->due_ms ? -1 : 1;
	return y_line - x_line;
}

static bool carried_by(const struct oee_pair *p, const struct oee_pair *line)
{
	return !p->urgent && p->station[0] != '\0' && strcmp(p->shift_id, line->shift_id) == 0 &&
	       strcmp(p->line, line->line) == 0 && strcmp(p->site, line->site) == 0;
}

static void merge_into(struct oee_pair *line, const struct oee_pair *p)
{
	if (p->first_seq < line->first_seq)
		line->first_seq = p->first_seq;
	if (p->settle_seq < line->settle_seq)
		line->settle_seq = p->settle_seq;
	line->settle = line->settle || p->settle;
}

/* Removes from pairs[0, *n) those carried by line, merged into it. */
static void absorb(struct oee_pair *pairs, size_t *n, struct oee_pair *line)
{
	size_t kept = 0;

	for (size_t i = 0; i < *n; i++)
		if (carried_by(&pairs[i], line))
			merge_into(line, &pairs[i]);
		else
			pairs[kept++] = pairs[i];
	*n = kept;
}

size_t oee_dirty_take_due(struct oee_dirty *d, int64_t now_ms, struct oee_pair *ret, size_t max)
{
	size_t n_due = 0, n;

	if (d->n == 0) /* nothing marked: pairs may still be NULL */
		return 0;
	/* The due pairs to the front, in the order they are taken; the first max go. */
	for (size_t i = 0; i < d->n; i++)
		if (d->pairs[i].due_ms <= now_ms) {
			struct oee_pair t = d->pairs[i];
			d->pairs[i] = d->pairs[n_due];
			d->pairs[n_due++] = t;
		}
	qsort(d->pairs, n_due, sizeof(*d->pairs), by_take_order);
	n = n_due < max ? n_due : max;
	memcpy(ret, d->pairs, n * sizeof(*ret));
	memmove(d->pairs, d->pairs + n, (d->n - n) * sizeof(*d->pairs));
	d->n -= n;
	/* A line taken carries its stations' pairs that are not urgent, taken or not. */
	for (size_t i = 0; i < n; i++) {
		struct oee_pair line;
		size_t kept = 0, at = 0;
		if (ret[i].station[0] != '\0')
			continue;
		line = ret[i];
		absorb(d->pairs, &d->n, &line);
		for (size_t j = 0; j < n; j++) {
			if (carried_by(&ret[j], &line)) {
				merge_into(&line, &ret[j]);
				continue;
			}
			if (j == i)
				at = kept;
			ret[kept++] = ret[j];
		}
		n = kept;
		ret[at] = line;
		i = at;
	}
	if (n_due > 0)
		reindex(d); /* the array was reordered */
	return n;
}

int oee_dirty_restore(struct oee_dirty *d, const struct oee_pair *p, int64_t due_ms)
{
	return mark_one(d, p->site, p->line, p->station, p->shift_id, due_ms, p->first_seq,
	                p->settle_seq, p->settle, p->urgent);
}

int oee_dirty_published(struct oee_dirty *d, const struct oee_pair *p, int64_t settle_ms)
{
	/* Re-marked with settle_seq, not first_seq: a re-mark carrying first_seq would hold the
	 * oldest batch for ever while results keep coming (each publish re-marking the next). */
	if (!p->settle)
		return CT_OK;
	return mark_one(d, p->site, p->line, p->station, p->shift_id, settle_ms, p->settle_seq,
	                OEE_NO_SEQ, false, false);
}

uint64_t oee_dirty_min_seq(const struct oee_dirty *d)
{
	uint64_t min = OEE_NO_SEQ;

	for (size_t i = 0; i < d->n; i++)
		if (d->pairs[i].first_seq < min)
			min = d->pairs[i].first_seq;
	return min;
}

bool oee_dirty_any_due(const struct oee_dirty *d, int64_t now_ms)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->pairs[i].due_ms <= now_ms)
			return true;
	return false;
}

int oee_pending_add(struct oee_dirty *d, uint64_t seq, uint64_t end_segment, uint64_t end_offset)
{
	struct oee_pending *p;

	p = ct_array_grow(d->pending, &d->cap_pending, d->n_pending + 1, sizeof(*p), 16);
	if (p == NULL)
		return CT_ERR_NOMEM;
	d->pending = p;
	d->pending[d->n_pending].seq = seq;
	d->pending[d->n_pending].end_segment = end_segment;
	d->pending[d->n_pending].end_offset = end_offset;
	d->n_pending++;
	return CT_OK;
}

bool oee_pending_take(struct oee_dirty *d, uint64_t *ret_segment, uint64_t *ret_offset)
{
	uint64_t min = oee_dirty_min_seq(d);
	size_t n = 0;

	while (n < d->n_pending && d->pending[n].seq < min)
		n++;
	if (n == 0)
		return false;
	*ret_segment = d->pending[n - 1].end_segment;
	*ret_offset = d->pending[n - 1].end_offset;
	memmove(d->pending, d->pending + n, (d->n_pending - n) * sizeof(*d->pending));
	d->n_pending -= n;
	return true;
}

void oee_pending_clear(struct oee_dirty *d)
{
	d->n_pending = 0;
}

void oee_shift_cache_init(struct oee_shift_cache *c)
{
	memset(c, 0, sizeof(*c));
	ct_map_init(&c->index);
}

void oee_shift_cache_cleanup(struct oee_shift_cache *c)
{
	free(c->lines);
	ct_map_cleanup(&c->index);
	memset(c, 0, sizeof(*c));
}

static int line_key(char *key, size_t len, const char *site, const char *line)
{
	int n = snprintf(key, len, "%s/%s", site, line);

	return n < 0 || (size_t)n >= len ? CT_ERR_TOO_BIG : CT_OK;
}

/* The entry of site/line, added when add and new; NULL when absent (or no memory). */
static struct oee_shift_line *line_entry(struct oee_shift_cache *c, const char *site,
                                         const char *line, bool add)
{
	char key[2 * (CT_ID_MAX + 1) + 1];
	struct oee_shift_line *l;
	size_t at;

	if (line_key(key, sizeof(key), site, line) != CT_OK)
		return NULL;
	if (ct_map_get(&c->index, key, &at))
		return &c->lines[at];
	if (!add)
		return NULL;
	l = ct_array_grow(c->lines, &c->cap, c->n + 1, sizeof(*l), 16);
	if (l == NULL)
		return NULL;
	c->lines = l;
	if (ct_map_put(&c->index, key, c->n) != CT_OK)
		return NULL;
	l = &c->lines[c->n++];
	memset(l, 0, sizeof(*l));
	return l;
}

enum oee_shift_hit oee_shift_lookup(struct oee_shift_cache *c, const char *site, const char *line,
                                    int64_t t_us, struct oee_shift *ret)
{
	const struct oee_shift_line *l = line_entry(c, site, line, false);

	if (l != NULL) {
		for (size_t i = 0; i < l->n; i++)
			if (t_us >= l->recent[i].start_us && t_us < l->recent[i].end_us) {
				c->hits++;
				*ret = l->recent[i];
				return OEE_SHIFT_FOUND;
			}
		if (t_us >= l->none_from_us && t_us < l->none_until_us) {
			c->hits++;
			return OEE_SHIFT_NONE;
		}
	}
	c->misses++;
	return OEE_SHIFT_UNKNOWN;
}

int oee_shift_put(struct oee_shift_cache *c, const struct oee_shift *s)
{
	struct oee_shift_line *l;

	if (!fits(s->site, CT_ID_MAX + 1) || !fits(s->line, CT_ID_MAX + 1))
		return CT_ERR_TOO_BIG;
	if ((l = line_entry(c, s->site, s->line, true)) == NULL)
		return CT_ERR_NOMEM;
	l->recent[l->next] = *s;
	l->next = (l->next + 1) % OEE_SHIFTS_PER_LINE;
	if (l->n < OEE_SHIFTS_PER_LINE)
		l->n++;
	return CT_OK;
}

int oee_shift_put_none(struct oee_shift_cache *c, const char *site, const char *line,
                       int64_t from_us, int64_t until_us)
{
	struct oee_shift_line *l;

	if (!fits(site, CT_ID_MAX + 1) || !fits(line, CT_ID_MAX + 1))
		return CT_ERR_TOO_BIG;
	if ((l = line_entry(c, site, line, true)) == NULL)
		return CT_ERR_NOMEM;
	l->none_from_us = from_us;
	l->none_until_us = until_us;
	return CT_OK;
}

void oee_shift_cache_clear(struct oee_shift_cache *c)
{
	c->n = 0;
	ct_map_clear(&c->index);
}
