/* oee_dirty: the pairs whose figures are due, the commit rule, and the shift cache (contracts
 * in oee_logic.h).
 *
 * The set is an array searched linearly: it holds the pairs touched since their last publish,
 * a few per station, and every pair leaves it within oee.publish_interval_s. */
#include <stdlib.h>
#include <string.h>

#include "ct_array.h"
#include "ct_error.h"
#include "oee_logic.h"

void oee_dirty_init(struct oee_dirty *d)
{
	memset(d, 0, sizeof(*d));
}

void oee_dirty_cleanup(struct oee_dirty *d)
{
	free(d->pairs);
	free(d->pending);
	memset(d, 0, sizeof(*d));
}

static bool same_pair(const struct oee_pair *p, const char *site, const char *line,
                      const char *station, const char *shift_id)
{
	return strcmp(p->station, station) == 0 && strcmp(p->shift_id, shift_id) == 0 &&
	       strcmp(p->line, line) == 0 && strcmp(p->site, site) == 0;
}

static bool fits(const char *s, size_t cap)
{
	return strlen(s) < cap;
}

static int mark_one(struct oee_dirty *d, const char *site, const char *line, const char *station,
                    const char *shift_id, int64_t due_ms, uint64_t seq, bool settle)
{
	struct oee_pair *p;

	for (size_t i = 0; i < d->n; i++) {
		p = &d->pairs[i];
		if (!same_pair(p, site, line, station, shift_id))
			continue;
		if (due_ms < p->due_ms)
			p->due_ms = due_ms;
		if (seq < p->first_seq)
			p->first_seq = seq;
		p->settle = p->settle || settle;
		return CT_OK;
	}
	p = ct_array_grow(d->pairs, &d->cap, d->n + 1, sizeof(*p), 16);
	if (p == NULL)
		return CT_ERR_NOMEM;
	d->pairs = p;
	p = &d->pairs[d->n++];
	memset(p, 0, sizeof(*p));
	/* Lengths were checked by oee_dirty_mark. */
	memcpy(p->site, site, strlen(site) + 1);
	memcpy(p->line, line, strlen(line) + 1);
	memcpy(p->station, station, strlen(station) + 1);
	memcpy(p->shift_id, shift_id, strlen(shift_id) + 1);
	p->due_ms = due_ms;
	p->first_seq = seq;
	p->settle = settle;
	return CT_OK;
}

int oee_dirty_mark(struct oee_dirty *d, const char *site, const char *line, const char *station,
                   const char *shift_id, int64_t due_ms, uint64_t seq, bool settle)
{
	int rc;

	if (!fits(site, CT_ID_MAX + 1) || !fits(line, CT_ID_MAX + 1) ||
	    !fits(station, CT_ID_MAX + 1) || !fits(shift_id, OEE_SHIFT_ID_MAX))
		return CT_ERR_TOO_BIG;
	if (station[0] != '\0' &&
	    (rc = mark_one(d, site, line, station, shift_id, due_ms, seq, settle)) != CT_OK)
		return rc;
	return mark_one(d, site, line, "", shift_id, due_ms, seq, settle);
}

/* Earliest due first, so a state's pair (due at once) does not wait behind results' pairs;
 * a station before its line, which is marked due with it. */
static int by_due(const void *a, const void *b)
{
	const struct oee_pair *x = a, *y = b;
	int x_line = x->station[0] == '\0', y_line = y->station[0] == '\0';

	if (x->due_ms != y->due_ms)
		return x->due_ms < y->due_ms ? -1 : 1;
	return x_line - y_line;
}

size_t oee_dirty_take_due(struct oee_dirty *d, int64_t now_ms, struct oee_pair *ret, size_t max)
{
	size_t n = 0, kept = 0;

	for (size_t i = 0; i < d->n; i++) {
		const struct oee_pair *p = &d->pairs[i];
		if (n < max && p->due_ms <= now_ms)
			ret[n++] = *p;
		else
			d->pairs[kept++] = *p;
	}
	d->n = kept;
	qsort(ret, n, sizeof(*ret), by_due);
	return n;
}

int oee_dirty_restore(struct oee_dirty *d, const struct oee_pair *p, int64_t due_ms)
{
	return mark_one(d, p->site, p->line, p->station, p->shift_id, due_ms, p->first_seq,
	                p->settle);
}

int oee_dirty_published(struct oee_dirty *d, const struct oee_pair *p, int64_t settle_ms)
{
	if (!p->settle)
		return CT_OK;
	return mark_one(d, p->site, p->line, p->station, p->shift_id, settle_ms, p->first_seq,
	                false);
}

uint64_t oee_dirty_min_seq(const struct oee_dirty *d)
{
	uint64_t min = OEE_NO_SEQ;

	for (size_t i = 0; i < d->n; i++)
		if (d->pairs[i].first_seq < min)
			min = d->pairs[i].first_seq;
	return min;
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
}

const struct oee_shift *oee_shift_find(struct oee_shift_cache *c, const char *site,
                                       const char *line, int64_t t_us)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct oee_shift *s = &c->slots[i];
		if (t_us >= s->start_us && t_us < s->end_us && strcmp(s->line, line) == 0 &&
		    strcmp(s->site, site) == 0) {
			c->hits++;
			return s;
		}
	}
	c->misses++;
	return NULL;
}

void oee_shift_put(struct oee_shift_cache *c, const struct oee_shift *s)
{
	c->slots[c->next] = *s;
	c->next = (c->next + 1) % OEE_SHIFT_CACHE;
	if (c->n < OEE_SHIFT_CACHE)
		c->n++;
}

void oee_shift_cache_clear(struct oee_shift_cache *c)
{
	c->n = 0;
	c->next = 0;
}
