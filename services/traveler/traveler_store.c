/* traveler_store: digital-thread writes (contract in traveler_store.h).
 *
 * Per batch: BEGIN; insert event IDs with their content fingerprints, learn which are new;
 * compare the fingerprints of the ones already stored (only those: a batch without
 * duplicates reads nothing back); upsert the units seen (sorted by ID, so concurrent
 * instances take row locks in the same order and cannot deadlock), learning which units were
 * stored with another kind; COPY the rows of the new events into each table, genealogy last;
 * apply and check the genealogy (ct_genealogy_apply, migration 0008, under its advisory
 * lock); COMMIT. An event refused on the way (a conflict, a unit kind, a genealogy rule) rolls
 * the attempt back, and the batch is stored again without it and with its dead letter, until
 * an attempt refuses nothing new: refusals are rare, and a rollback keeps every rule in one
 * place (no half-stored event to undo). Arrays for unnest() are sent as text literals with
 * every element quoted, so no value can break out of them. */
#include "traveler_store.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_array.h"
#include "ct_error.h"
#include "ct_ids.h"
#include "ct_log.h"
#include "ct_msg.h"
#include "ct_time.h"

/* event_ref.item of a refused event's dead letter (event_ref.sub is the refusal's index). */
#define REFUSAL_ITEM SIZE_MAX
/* How much of a refused message its dead letter keeps, as ingest's and traveler's own. */
#define REFUSED_PAYLOAD_CAP 65536

/* An event of the batch. */
struct event_ref {
	const char *event_id;
	const char *kind;
	const char *producer;
	int64_t produced_at_us;
	size_t item;          /* index into items, REFUSAL_ITEM for a refusal's dead letter */
	size_t sub;           /* result index inside a batch (refusal index) */
	int64_t fingerprint;  /* of the content (event_fingerprint); valid when has_fingerprint */
	bool has_fingerprint; /* false for dead letters, which are never compared */
	bool is_new;          /* set from the RETURNING list */
};

/* An event of the batch refused, kept across the attempts of one store call. */
struct refusal {
	size_t item, sub;
	int code; /* DeadLetterReason */
	char *reason;
	uint8_t *payload; /* the refused message packed alone (a result as a one-result batch) */
	size_t payload_len;
	int64_t at_us;
	/* Derived from the event ID and the reason: the same refusal made again (a replay after
	 * a crash) is the same dead letter, stored once. On the heap (CT_DERIVED_ID_MAX bytes),
	 * since event refs point at it while refusals grow. */
	char *id;
};

/* A unit seen in the batch, and the event that named it. */
struct unit_ref {
	const char *unit_id;
	int kind;
	const char *site;
	const char *line;
	int64_t first_us;
	int64_t last_us;
	size_t item, sub;
	const char *event_id;
	/* In store->merged only: the refs [first_ref, end_ref) of this ID in store->units, and
	 * the kind the database has when it is not the one sent (0: it is, or it is new). */
	size_t first_ref, end_ref;
	int stored_kind;
};

/* In COPY order. Genealogy comes last: ct_genealogy_apply runs right after it and takes the
 * genealogy lock, which is then held only for that COPY's trigger, the check and COMMIT. */
enum table_id {
	T_VISIT,
	T_MEASUREMENT,
	T_PARAMETER,
	T_ENVIRONMENT,
	T_NOTE,
	T_CURVE,
	T_TELEMETRY,
	T_DEAD_LETTER,
	T_VERDICT,
	T_GENEALOGY,
	T_COUNT
};

/* COPY statements. */
static const char *const copy_sql[T_COUNT] = {
        [T_VISIT] = "COPY station_visit (event_id, unit_id, unit_kind, site, line, station, "
                    "station_type, recipe, recipe_version, operator_id, started_at, ended_at, "
                    "result, held_lots) FROM STDIN",
        [T_MEASUREMENT] = "COPY measurement (event_id, unit_id, site, line, station, "
                          "characteristic, value, uom, measured_at, seq) FROM STDIN",
        [T_PARAMETER] = "COPY process_parameter (event_id, unit_id, name, actual, setpoint, uom, "
                        "seq) FROM STDIN",
        [T_GENEALOGY] = "COPY genealogy (parent_id, child_id, child_kind, material, quantity, "
                        "uom, position, source, station, event_id, assembled_at, seq, relation, "
                        "ended_at, ended_by) FROM STDIN",
        [T_ENVIRONMENT] = "COPY environment_reading (event_id, unit_id, quantity, value, uom, "
                          "sensor, measured_at, seq) FROM STDIN",
        [T_NOTE] = "COPY visit_note (event_id, unit_id, kind, code, severity, author, body, at, "
                   "seq) FROM STDIN",
        [T_CURVE] = "COPY visit_curve (event_id, unit_id, name, x_unit, y_unit, x, y, seq) FROM "
                    "STDIN",
        [T_TELEMETRY] = "COPY telemetry_sample (event_id, site, line, asset, signal, uom, at, "
                        "value) FROM STDIN",
        [T_DEAD_LETTER] = "COPY dead_letter (event_id, service, source_topic, reason_code, "
                          "reason, payload, payload_size, received_at) FROM STDIN",
        [T_VERDICT] = "COPY unit_verdict (event_id, unit_id, site, line, station, "
                      "source_event_id, verdict, failed, inspection_reason, held_lots, "
                      "recipe, recipe_version, decided_at) FROM STDIN",
};

struct traveler_store {
	struct event_ref *events;
	size_t n_events, events_cap;
	struct unit_ref *units;
	size_t n_units, units_cap;
	struct unit_ref *merged; /* the units, one per ID, as upserted */
	size_t merged_cap;
	struct refusal *refusals;
	size_t n_refusals, refusals_cap;
	struct ct_copy copies[T_COUNT];
	/* Text buffers for array parameters. */
	struct ct_copy arrays[6];
	struct ct_pgarray fingerprints; /* insert_events' fifth column */
	struct ct_pgarray ids;          /* event IDs for the conflict statement */
	/* For ct_genealogy_apply: the new events with genealogy rows, their parents, and their
	 * children that are cells, modules or packs. */
	struct ct_pgarray gen_events, gen_parents, gen_children;
	uint8_t *pack_buf; /* a message packed for its fingerprint */
	size_t pack_cap;
	/* The event whose rows build_rows is writing, for the units they name. */
	size_t cur_item, cur_sub;
	const char *cur_event_id;
};

struct traveler_store *traveler_store_new(void)
{
	struct traveler_store *store = calloc(1, sizeof(*store));
	if (store == NULL)
		return NULL;
	for (int i = 0; i < T_COUNT; i++)
		ct_copy_init(&store->copies[i]);
	for (int i = 0; i < 6; i++)
		ct_copy_init(&store->arrays[i]);
	ct_pgarray_init(&store->fingerprints);
	ct_pgarray_init(&store->ids);
	ct_pgarray_init(&store->gen_events);
	ct_pgarray_init(&store->gen_parents);
	ct_pgarray_init(&store->gen_children);
	return store;
}

static void refusals_clear(struct traveler_store *store)
{
	for (size_t i = 0; i < store->n_refusals; i++) {
		free(store->refusals[i].reason);
		free(store->refusals[i].payload);
		free(store->refusals[i].id);
	}
	store->n_refusals = 0;
}

void traveler_store_free(struct traveler_store *store)
{
	if (store == NULL)
		return;
	for (int i = 0; i < T_COUNT; i++)
		ct_copy_cleanup(&store->copies[i]);
	for (int i = 0; i < 6; i++)
		ct_copy_cleanup(&store->arrays[i]);
	ct_pgarray_cleanup(&store->fingerprints);
	ct_pgarray_cleanup(&store->ids);
	ct_pgarray_cleanup(&store->gen_events);
	ct_pgarray_cleanup(&store->gen_parents);
	ct_pgarray_cleanup(&store->gen_children);
	refusals_clear(store);
	free(store->refusals);
	free(store->pack_buf);
	free(store->events);
	free(store->units);
	free(store->merged);
	free(store);
}

/* The fingerprint of an event's content: the first 63 bits of SHA-256 over the message
 * packed with what does not make it another event cleared: the header's producer and
 * produced_at (a resend may carry its own), a result's held_lots (ingest sets them from the
 * holds it knows, which after a restart are not all known yet), and a verdict's decided_at,
 * inspection_reason and held_lots (spc-gate judging a replayed result again gives them anew).
 * Protobuf-c packs fields in number order, so equal content packs to equal bytes. 63 bits:
 * the value fits a bigint without a sign question; two contents under one event ID collide
 * with probability 2^-63. Returns CT_OK or CT_ERR_NOMEM (also when libcrypto cannot hash,
 * which happens only when it cannot allocate). */
static int event_fingerprint(struct traveler_store *store, const ProtobufCMessage *msg,
                             int64_t *ret)
{
	Cellthread__V1__Header header;
	Cellthread__V1__StationResult result;
	Cellthread__V1__Verdict verdict;
	Cellthread__V1__Genealogy genealogy;
	Cellthread__V1__Telemetry telemetry;
	const Cellthread__V1__Header *h = NULL;
	const ProtobufCMessage *plain = msg;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	uint64_t fp = 0;
	size_t len;

	if (msg->descriptor == &cellthread__v1__station_result__descriptor) {
		result = *(const Cellthread__V1__StationResult *)(const void *)msg;
		h = result.header;
		result.header = &header;
		result.n_held_lots = 0;
		result.held_lots = NULL;
		plain = &result.base;
	} else if (msg->descriptor == &cellthread__v1__verdict__descriptor) {
		verdict = *(const Cellthread__V1__Verdict *)(const void *)msg;
		h = verdict.header;
		verdict.header = &header;
		verdict.decided_at_us = 0;
		verdict.inspection_reason = (char *)protobuf_c_empty_string;
		verdict.n_held_lots = 0;
		verdict.held_lots = NULL;
		plain = &verdict.base;
	} else if (msg->descriptor == &cellthread__v1__genealogy__descriptor) {
		genealogy = *(const Cellthread__V1__Genealogy *)(const void *)msg;
		h = genealogy.header;
		genealogy.header = &header;
		plain = &genealogy.base;
	} else if (msg->descriptor == &cellthread__v1__telemetry__descriptor) {
		telemetry = *(const Cellthread__V1__Telemetry *)(const void *)msg;
		h = telemetry.header;
		telemetry.header = &header;
		plain = &telemetry.base;
	}
	if (h != NULL) {
		header = *h;
		header.producer = (char *)protobuf_c_empty_string;
		header.produced_at_us = 0;
	}
	len = protobuf_c_message_get_packed_size(plain);
	if (len + 1 > store->pack_cap) {
		uint8_t *p = ct_array_grow(store->pack_buf, &store->pack_cap, len + 1, 1, 4096);
		if (p == NULL)
			return CT_ERR_NOMEM;
		store->pack_buf = p;
	}
	len = protobuf_c_message_pack(plain, store->pack_buf);
	if (EVP_Digest(store->pack_buf, len, digest, &digest_len, EVP_sha256(), NULL) != 1 ||
	    digest_len < 8)
		return CT_ERR_NOMEM;
	for (int i = 0; i < 8; i++)
		fp = fp << 8 | digest[i];
	*ret = (int64_t)(fp >> 1);
	return CT_OK;
}

static int add_event(struct traveler_store *store, const Cellthread__V1__Header *header,
                     const char *kind, size_t item, size_t sub, const ProtobufCMessage *content)
{
	struct event_ref *e;
	{
		struct event_ref *p = ct_array_grow(store->events, &store->events_cap,
		                                    store->n_events + 1, sizeof(*p), 1024);
		if (p == NULL)
			return CT_ERR_NOMEM;
		store->events = p;
	}
	e = &store->events[store->n_events++];
	e->event_id = header->event_id;
	e->kind = kind;
	e->producer = header->producer;
	e->produced_at_us = header->produced_at_us;
	e->item = item;
	e->sub = sub;
	e->is_new = false;
	e->has_fingerprint = content != NULL;
	e->fingerprint = 0;
	if (content != NULL)
		return event_fingerprint(store, content, &e->fingerprint);
	return CT_OK;
}

static int add_unit(struct traveler_store *store, const char *unit_id, int kind, const char *site,
                    const char *line, int64_t at_us)
{
	struct unit_ref *u;
	if (unit_id == NULL || *unit_id == '\0')
		return CT_OK;
	{
		struct unit_ref *p = ct_array_grow(store->units, &store->units_cap,
		                                   store->n_units + 1, sizeof(*p), 1024);
		if (p == NULL)
			return CT_ERR_NOMEM;
		store->units = p;
	}
	u = &store->units[store->n_units++];
	u->unit_id = unit_id;
	u->kind = kind;
	u->site = site;
	u->line = line;
	u->first_us = at_us;
	u->last_us = at_us;
	u->item = store->cur_item;
	u->sub = store->cur_sub;
	u->event_id = store->cur_event_id;
	return CT_OK;
}

static int compare_event_id(const void *a, const void *b)
{
	const struct event_ref *x = a, *y = b;
	int c = strcmp(x->event_id, y->event_id);
	if (c != 0)
		return c;
	return x->item < y->item   ? -1
	       : x->item > y->item ? 1
	                           : (x->sub > y->sub) - (x->sub < y->sub);
}

/* Appends a quoted array element ("..." with " and \ escaped) to an array literal. */
static void array_add(struct ct_copy *array, const char *text)
{
	/* ct_copy is used here as a plain growable text buffer; fields are not tab-joined
	 * because we write whole literals through ct_copy_text's escaping only for COPY. */
	size_t need = 4 + 2 * strlen(text);
	char *p;
	if (array->failed)
		return;
	if (array->len + need + 2 > array->cap) {
		p = ct_array_grow(array->data, &array->cap, array->len + need + 2, 1, 4096);
		if (p == NULL) {
			array->failed = true;
			return;
		}
		array->data = p;
	}
	p = array->data + array->len;
	*p++ = array->rows ? ',' : '{';
	*p++ = '"';
	for (const char *s = text; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	*p++ = '"';
	array->len = (size_t)(p - array->data);
	array->rows++;
}

/* Closes an array literal and NUL-terminates it. Returns the text or NULL on OOM. */
static const char *array_finish(struct ct_copy *array)
{
	if (array->failed || array->len + 3 > array->cap) {
		char *p = array->failed ? NULL : realloc(array->data, array->len + 3);
		if (p == NULL) {
			array->failed = true;
			return NULL;
		}
		array->data = p;
		array->cap = array->len + 3;
	}
	if (array->rows == 0)
		array->data[array->len++] = '{';
	array->data[array->len++] = '}';
	array->data[array->len] = '\0';
	return array->data;
}

static void time_text(int64_t us, char *buf, size_t len)
{
	ct_time_format_us(us, buf, len);
}

/* Appends a text[] field: an array literal with every element quoted (" and \ escaped for
 * the array, then the whole literal escaped for COPY by ct_copy_text). */
static void copy_text_array(struct ct_copy *c, char *const *items, size_t n)
{
	size_t len = 3;
	char *text, *p;

	for (size_t i = 0; i < n; i++)
		len += 2 * strlen(items[i]) + 3;
	text = malloc(len);
	if (text == NULL) {
		c->failed = true;
		return;
	}
	p = text;
	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		for (const char *s = items[i]; *s != '\0'; s++) {
			if (*s == '"' || *s == '\\')
				*p++ = '\\';
			*p++ = *s;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	ct_copy_text(c, text);
	free(text);
}

/* A double as JSON, or null when it is absent or not finite (JSON has no NaN). */
static json_t *json_number_or_null(bool present, double value)
{
	return present && isfinite(value) ? json_real(value) : json_null();
}

/* The failed characteristics as the JSON array unit_verdict.failed holds:
 * [{"characteristic","value","lsl","usl","unit","reason"}]. malloc'ed text, NULL on OOM. */
static char *failed_json(const Cellthread__V1__Verdict *v)
{
	json_t *array = json_array();
	char *text = NULL;

	if (array == NULL)
		return NULL;
	for (size_t i = 0; i < v->n_failed; i++) {
		const Cellthread__V1__FailedCharacteristic *f = v->failed[i];
		json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:s, s:s}", "characteristic",
		                      f->characteristic ? f->characteristic : "", "value",
		                      json_number_or_null(true, f->value), "lsl",
		                      json_number_or_null(f->has_lsl, f->lsl), "usl",
		                      json_number_or_null(f->has_usl, f->usl), "unit",
		                      f->unit ? f->unit : "", "reason", f->reason ? f->reason : "");
		if (o == NULL || json_array_append_new(array, o) != 0)
			goto out;
	}
	text = json_dumps(array, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
out:
	json_decref(array);
	return text;
}

/* The event ID of event (item, sub) of the batch. */
static const char *event_id_of(const struct traveler_item *items, size_t item, size_t sub)
{
	const struct traveler_item *it = &items[item];

	switch (it->kind) {
	case TRAVELER_RESULT_BATCH:
		return ((const Cellthread__V1__StationResultBatch *)(const void *)it->msg)
		        ->results[sub]
		        ->header->event_id;
	case TRAVELER_TELEMETRY:
		return ((const Cellthread__V1__Telemetry *)(const void *)it->msg)->header->event_id;
	case TRAVELER_GENEALOGY:
		return ((const Cellthread__V1__Genealogy *)(const void *)it->msg)->header->event_id;
	case TRAVELER_DEAD_LETTER:
		return ((const Cellthread__V1__DeadLetter *)(const void *)it->msg)
		        ->header->event_id;
	case TRAVELER_VERDICT:
		return ((const Cellthread__V1__VerdictBatch *)(const void *)it->msg)
		        ->verdicts[sub]
		        ->header->event_id;
	}
	return "";
}

/* Event (item, sub) packed alone into *ret (malloc'ed): a result as a one-result batch, a
 * verdict as a one-verdict batch, so its dead letter replays on the topic it came from. */
static int pack_alone(const struct traveler_item *it, size_t sub, uint8_t **ret, size_t *ret_len)
{
	Cellthread__V1__StationResultBatch results = CELLTHREAD__V1__STATION_RESULT_BATCH__INIT;
	Cellthread__V1__VerdictBatch verdicts = CELLTHREAD__V1__VERDICT_BATCH__INIT;
	Cellthread__V1__StationResult *result;
	Cellthread__V1__Verdict *verdict;
	const ProtobufCMessage *msg = it->msg;

	if (it->kind == TRAVELER_RESULT_BATCH) {
		result = ((const Cellthread__V1__StationResultBatch *)(const void *)it->msg)
		                 ->results[sub];
		results.n_results = 1;
		results.results = &result;
		msg = &results.base;
	} else if (it->kind == TRAVELER_VERDICT) {
		verdict = ((const Cellthread__V1__VerdictBatch *)(const void *)it->msg)
		                  ->verdicts[sub];
		verdicts.n_verdicts = 1;
		verdicts.verdicts = &verdict;
		msg = &verdicts.base;
	}
	return ct_pb_pack(msg, ret, ret_len);
}

static struct refusal *find_refusal(struct traveler_store *store, size_t item, size_t sub)
{
	for (size_t i = 0; i < store->n_refusals; i++)
		if (store->refusals[i].item == item && store->refusals[i].sub == sub)
			return &store->refusals[i];
	return NULL;
}

/* Refuses event (item, sub) with a DeadLetterReason and a reason, which is kept after
 * `header.event_id "ID": `; a second reason for the same event is appended to the first
 * ("; "). The attempt in hand must then be rolled back and the batch stored again
 * (attempt). Returns CT_OK or CT_ERR_NOMEM. */
static int refuse(struct traveler_store *store, const struct traveler_item *items, size_t item,
                  size_t sub, int code, const char *reason)
{
	struct refusal *f = find_refusal(store, item, sub);
	size_t len;

	if (f != NULL) {
		size_t old = strlen(f->reason);
		char *p;
		if (strstr(f->reason, reason) != NULL)
			return CT_OK; /* said already (a unit named twice by one event) */
		p = realloc(f->reason, old + 2 + strlen(reason) + 1);
		if (p == NULL)
			return CT_ERR_NOMEM;
		memcpy(p + old, "; ", 2);
		memcpy(p + old + 2, reason, strlen(reason) + 1);
		f->reason = p;
		return CT_OK;
	}
	{
		struct refusal *p = ct_array_grow(store->refusals, &store->refusals_cap,
		                                  store->n_refusals + 1, sizeof(*p), 8);
		if (p == NULL)
			return CT_ERR_NOMEM;
		store->refusals = p;
	}
	f = &store->refusals[store->n_refusals];
	memset(f, 0, sizeof(*f));
	f->item = item;
	f->sub = sub;
	f->code = code;
	f->at_us = ct_now_us();
	len = strlen(event_id_of(items, item, sub)) + strlen(reason) + 24;
	f->reason = malloc(len);
	f->id = calloc(1, CT_DERIVED_ID_MAX);
	if (f->reason == NULL || f->id == NULL ||
	    pack_alone(&items[item], sub, &f->payload, &f->payload_len) != CT_OK) {
		free(f->reason);
		free(f->id);
		return CT_ERR_NOMEM;
	}
	snprintf(f->reason, len, "header.event_id \"%s\": %s", event_id_of(items, item, sub),
	         reason);
	store->n_refusals++;
	return CT_OK;
}

/* Index of the first event ref with this ID (refs sorted by compare_event_id), or n_events. */
static size_t find_event(const struct traveler_store *store, const char *id)
{
	size_t lo = 0, hi = store->n_events;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(store->events[mid].event_id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < store->n_events && strcmp(store->events[lo].event_id, id) == 0
	               ? lo
	               : store->n_events;
}

/* Two events under one ID whose content differs: both fingerprinted, fingerprints unequal,
 * or not even of one kind. */
static bool contents_differ(const struct event_ref *a, const char *kind, bool has_fingerprint,
                            int64_t fingerprint)
{
	if (strcmp(a->kind, kind) != 0)
		return true;
	return a->has_fingerprint && has_fingerprint && a->fingerprint != fingerprint;
}

#define CONFLICT_REASON "stored before with other content (the first kept)"

/* Inserts the batch's distinct event IDs with their fingerprints and marks the ones that
 * were new. A later event under the ID of an earlier one of the batch with other content is
 * refused as a conflict here (the first one stands); the stored ones are compared by
 * check_conflicts. */
static int insert_events(struct traveler_store *store, const struct traveler_item *items,
                         struct ct_pg *pg, char *err, size_t err_len)
{
	static const char sql[] =
	        "INSERT INTO event (event_id, kind, producer, produced_at, fingerprint) "
	        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], "
	        "$5::int8[]) ON CONFLICT DO NOTHING RETURNING event_id";
	const char *params[5];
	struct ct_pg_result *res = NULL;
	size_t first = 0;
	int rc = CT_OK;

	for (int i = 0; i < 4; i++)
		ct_copy_reset(&store->arrays[i]);
	ct_pgarray_reset(&store->fingerprints);
	qsort(store->events, store->n_events, sizeof(*store->events), compare_event_id);
	for (size_t i = 0; i < store->n_events && rc == CT_OK; i++) {
		char when[40];
		const struct event_ref *e = &store->events[i];
		if (i > 0 && strcmp(e->event_id, store->events[first].event_id) == 0) {
			/* A duplicate inside the batch: the first one stands. */
			const struct event_ref *f = &store->events[first];
			if (e->item == REFUSAL_ITEM ||
			    !contents_differ(f, e->kind, e->has_fingerprint, e->fingerprint))
				continue;
			rc = refuse(store, items, e->item, e->sub,
			            CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_CONFLICT,
			            "seen before in the same batch with other content (the first "
			            "kept)");
			continue;
		}
		first = i;
		time_text(e->produced_at_us, when, sizeof(when));
		array_add(&store->arrays[0], e->event_id);
		array_add(&store->arrays[1], e->kind);
		array_add(&store->arrays[2], e->producer ? e->producer : "");
		array_add(&store->arrays[3], when);
		if (e->has_fingerprint)
			ct_pgarray_int64(&store->fingerprints, e->fingerprint);
		else
			ct_pgarray_null(&store->fingerprints);
	}
	if (rc != CT_OK)
		return ct_set_error(err, err_len, rc, "out of memory");
	for (int i = 0; i < 4; i++) {
		params[i] = array_finish(&store->arrays[i]);
		if (params[i] == NULL)
			return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
	}
	if ((params[4] = ct_pgarray_literal(&store->fingerprints)) == NULL)
		return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
	rc = ct_pg_query(pg, sql, 5, params, &res, err, err_len);
	if (rc != CT_OK)
		return rc;
	/* RETURNING rows are few compared to lookups: binary-search each in the sorted refs. */
	for (int r = 0; r < ct_pg_result_rows(res); r++) {
		const char *id = ct_pg_text(res, r, "event_id");
		size_t at;
		if (id == NULL)
			continue; /* cannot be: the primary key; an unknown column is checked below
			           */
		if ((at = find_event(store, id)) < store->n_events)
			store->events[at].is_new = true; /* the first of equal IDs */
	}
	rc = ct_pg_result_check(res, err, err_len);
	ct_pg_result_free(res);
	return rc;
}

/* Appends "; " (unless at the start) and a formatted difference to buf. */
static void add_difference(char *buf, size_t len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void add_difference(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 3 >= len)
		return;
	if (used > 0) {
		memcpy(buf + used, ", ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/* What differs between a stored result (row `row` of res, station_visit's columns) and r,
 * into buf; empty when the visit's own fields agree (then a list does). */
static void result_differences(struct ct_pg_result *res, int row,
                               const Cellthread__V1__StationResult *r, char *buf, size_t len)
{
	const char *text;
	int64_t v = 0;

#define TEXT_FIELD(col, value)                                                                     \
	if ((text = ct_pg_text(res, row, col)) != NULL && strcmp(text, (value)) != 0)              \
	add_difference(buf, len, col " %s, now %s", text, (value))
#define INT_FIELD(col, value)                                                                      \
	if (ct_pg_int64(res, row, col, &v) == CT_OK && v != (int64_t)(value))                      \
	add_difference(buf, len, col " %" PRId64 ", now %" PRId64, v, (int64_t)(value))

	TEXT_FIELD("unit_id", r->unit_id);
	TEXT_FIELD("station", r->station);
	TEXT_FIELD("recipe", r->recipe);
	TEXT_FIELD("operator_id", r->operator_id);
	INT_FIELD("recipe_version", r->recipe_version);
	INT_FIELD("started_at_us", r->started_at_us);
	INT_FIELD("ended_at_us", r->ended_at_us);
	INT_FIELD("measurements", r->n_measurements);
	if (ct_pg_int64(res, row, "unit_kind", &v) == CT_OK && v != r->unit_kind)
		add_difference(buf, len, "unit_kind %s, now %s",
		               ct_unit_kind_name((int)v) ? ct_unit_kind_name((int)v)
		                                         : "unspecified",
		               ct_unit_kind_name(r->unit_kind) ? ct_unit_kind_name(r->unit_kind)
		                                               : "unspecified");
	if (ct_pg_int64(res, row, "result", &v) == CT_OK && v != r->result)
		add_difference(buf, len, "result %s, now %s",
		               ct_result_code_name((int)v) ? ct_result_code_name((int)v)
		                                           : "unspecified",
		               ct_result_code_name(r->result) ? ct_result_code_name(r->result)
		                                              : "unspecified");
#undef TEXT_FIELD
#undef INT_FIELD
}

/* The reason of a conflict between the stored event `stored_kind` and the batch's event e:
 * the event ID and, as far as the stored rows tell cheaply, what differs. A stored result's
 * visit is read back (one indexed row and a count); for other kinds, and when the visit's
 * fields agree, the reason names the parts that may differ. Runs only on conflicts. */
static int conflict_reason(struct ct_pg *pg, const struct traveler_item *items,
                           const struct event_ref *e, const char *stored_kind, char *buf,
                           size_t len, char *err, size_t err_len)
{
	static const char visit_sql[] =
	        "SELECT v.unit_id, v.unit_kind, v.station, v.recipe, v.recipe_version, "
	        "v.operator_id, v.result, (extract(epoch from v.started_at) * 1000000)::int8 "
	        "AS started_at_us, (extract(epoch from v.ended_at) * 1000000)::int8 AS "
	        "ended_at_us, (SELECT count(*) FROM measurement m WHERE m.unit_id = v.unit_id "
	        "AND m.event_id = v.event_id) AS measurements FROM station_visit v WHERE "
	        "v.event_id = $1";
	char diff[512] = "";
	int n;

	n = snprintf(buf, len, CONFLICT_REASON ": ");
	if (n < 0 || (size_t)n >= len)
		return CT_OK;
	if (strcmp(stored_kind, e->kind) != 0) {
		snprintf(buf + n, len - (size_t)n, "stored as a %s, now a %s", stored_kind,
		         e->kind);
		return CT_OK;
	}
	if (items[e->item].kind == TRAVELER_RESULT_BATCH) {
		const Cellthread__V1__StationResult *r =
		        ((const Cellthread__V1__StationResultBatch *)(const void *)items[e->item]
		                 .msg)
		                ->results[e->sub];
		const char *params[] = {e->event_id};
		struct ct_pg_result *res = NULL;
		int rc = ct_pg_query(pg, visit_sql, 1, params, &res, err, err_len);
		if (rc != CT_OK)
			return rc;
		if (ct_pg_result_rows(res) == 1)
			result_differences(res, 0, r, diff, sizeof(diff));
		ct_pg_result_free(res);
		if (diff[0] == '\0')
			snprintf(
			        diff, sizeof(diff),
			        "measurement values, parameters, materials, children, environment, "
			        "notes, exceptions or curves differ");
	} else if (items[e->item].kind == TRAVELER_GENEALOGY) {
		snprintf(diff, sizeof(diff), "parent, children, relation or times differ");
	} else if (items[e->item].kind == TRAVELER_VERDICT) {
		snprintf(diff, sizeof(diff),
		         "unit, verdict, failed characteristics or recipe differ");
	} else {
		snprintf(diff, sizeof(diff), "signals or samples differ");
	}
	snprintf(buf + n, len - (size_t)n, "%s", diff);
	return CT_OK;
}

/* Compares the events the insert found already stored with what is stored under their IDs,
 * and refuses those with other content (CONFLICT). A redelivery (same fingerprint, or one
 * stored before fingerprints existed) stays a silent duplicate. Reads only when the batch has
 * such events; they are committed, since ON CONFLICT waited for any transaction still
 * inserting them, so this statement sees them. */
static int check_conflicts(struct traveler_store *store, const struct traveler_item *items,
                           struct ct_pg *pg, char *err, size_t err_len)
{
	static const char sql[] = "SELECT event_id, kind, fingerprint FROM event "
	                          "WHERE event_id = ANY ($1::text[])";
	struct ct_pg_result *res = NULL;
	const char *params[1];
	size_t n = 0;
	int rc;

	ct_pgarray_reset(&store->ids);
	for (size_t i = 0; i < store->n_events; i++) {
		const struct event_ref *e = &store->events[i];
		if (e->is_new || e->item == REFUSAL_ITEM || !e->has_fingerprint ||
		    (i > 0 && strcmp(e->event_id, store->events[i - 1].event_id) == 0))
			continue;
		ct_pgarray_text(&store->ids, e->event_id);
		n++;
	}
	if (n == 0)
		return CT_OK;
	if ((params[0] = ct_pgarray_literal(&store->ids)) == NULL)
		return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
	if ((rc = ct_pg_query(pg, sql, 1, params, &res, err, err_len)) != CT_OK)
		return rc;
	for (int r = 0; r < ct_pg_result_rows(res) && rc == CT_OK; r++) {
		const char *id = ct_pg_text(res, r, "event_id");
		const char *kind = ct_pg_text(res, r, "kind");
		int64_t fp = 0;
		bool has_fp = !ct_pg_is_null(res, r, "fingerprint") &&
		              ct_pg_int64(res, r, "fingerprint", &fp) == CT_OK;
		size_t at;
		if (id == NULL || kind == NULL || (at = find_event(store, id)) >= store->n_events)
			continue;
		for (; at < store->n_events && strcmp(store->events[at].event_id, id) == 0; at++) {
			const struct event_ref *e = &store->events[at];
			char why[1024];
			if (e->item == REFUSAL_ITEM || !e->has_fingerprint ||
			    find_refusal(store, e->item, e->sub) != NULL ||
			    !contents_differ(e, kind, has_fp, fp))
				continue;
			rc = conflict_reason(pg, items, e, kind, why, sizeof(why), err, err_len);
			if (rc == CT_OK &&
			    (rc = refuse(
			             store, items, e->item, e->sub,
			             CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_CONFLICT,
			             why)) != CT_OK)
				ct_set_error(err, err_len, rc, "out of memory");
		}
	}
	if (rc == CT_OK)
		rc = ct_pg_result_check(res, err, err_len);
	ct_pg_result_free(res);
	return rc;
}

static int compare_unit_ref(const void *a, const void *b)
{
	const struct unit_ref *x = a, *y = b;
	int c = strcmp(x->unit_id, y->unit_id);
	if (c != 0)
		return c;
	return x->item < y->item   ? -1
	       : x->item > y->item ? 1
	                           : (x->sub > y->sub) - (x->sub < y->sub);
}

static const char *kind_name(int kind)
{
	const char *name = ct_unit_kind_name(kind);
	return name != NULL ? name : "unspecified";
}

/* Refuses every event of the batch that names unit_id with a kind other than `kind`
 * (UNIT_KIND): one kind per unit, the stored one (or the batch's first) standing. */
static int refuse_kind(struct traveler_store *store, const struct traveler_item *items,
                       size_t first, size_t end, int kind, const char *whose)
{
	int rc = CT_OK;

	for (size_t k = first; k < end && rc == CT_OK; k++) {
		const struct unit_ref *u = &store->units[k];
		char why[256];
		if (u->kind == 0 || u->kind == kind)
			continue;
		snprintf(why, sizeof(why), "unit %s is a %s (%s), refused as a %s", u->unit_id,
		         kind_name(kind), whose, kind_name(u->kind));
		rc = refuse(store, items, u->item, u->sub,
		            CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_UNIT_KIND, why);
	}
	return rc;
}

/* Upserts the units the batch's new events name, one row per ID, and refuses the events
 * that give a unit another kind than it has: the stored one, or for a unit new to the
 * database the kind the batch's first event gave it (UNIT_KIND). Race-free: the upsert
 * locks each unit's row to the end of the transaction, and the kinds it reports are those
 * of the locked rows. */
static int upsert_units(struct traveler_store *store, const struct traveler_item *items,
                        struct ct_pg *pg, char *err, size_t err_len)
{
	static const char sql[] =
	        "WITH i AS (SELECT * FROM unnest($1::text[], $2::smallint[], $3::text[], "
	        "$4::text[], $5::timestamptz[], $6::timestamptz[]) AS i(unit_id, kind, site, "
	        "line, first_seen_at, last_seen_at)), "
	        "up AS (INSERT INTO unit AS u (unit_id, kind, site, line, first_seen_at, "
	        "last_seen_at) SELECT * FROM i "
	        "ON CONFLICT (unit_id) DO UPDATE SET "
	        "kind = CASE WHEN u.kind = 0 THEN excluded.kind ELSE u.kind END, "
	        "site = coalesce(u.site, excluded.site), line = coalesce(u.line, excluded.line), "
	        "first_seen_at = least(u.first_seen_at, excluded.first_seen_at), "
	        "last_seen_at = greatest(u.last_seen_at, excluded.last_seen_at) "
	        "RETURNING u.unit_id, u.kind) "
	        "SELECT up.unit_id, up.kind FROM up JOIN i ON i.unit_id = up.unit_id "
	        "WHERE i.kind <> 0 AND up.kind <> i.kind";
	const char *params[6];
	struct ct_pg_result *res = NULL;
	size_t n = 0;
	int rc = CT_OK;

	if (store->n_units == 0)
		return CT_OK;
	{
		struct unit_ref *p = ct_array_grow(store->merged, &store->merged_cap,
		                                   store->n_units, sizeof(*p), 1024);
		if (p == NULL)
			return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
		store->merged = p;
	}
	qsort(store->units, store->n_units, sizeof(*store->units), compare_unit_ref);
	/* Merge equal IDs: ON CONFLICT cannot touch one row twice in a statement. The refs stay
	 * as they are, to find the events behind a kind the database refuses. */
	for (size_t i = 0; i < store->n_units; i++) {
		struct unit_ref *u = &store->units[i];
		if (n > 0 && strcmp(store->merged[n - 1].unit_id, u->unit_id) == 0) {
			struct unit_ref *m = &store->merged[n - 1];
			m->first_us = u->first_us < m->first_us ? u->first_us : m->first_us;
			m->last_us = u->last_us > m->last_us ? u->last_us : m->last_us;
			if (m->kind == 0)
				m->kind = u->kind;
			if (m->site == NULL || *m->site == '\0') {
				m->site = u->site;
				m->line = u->line;
			}
			store->merged[n - 1].end_ref = i + 1;
		} else {
			store->merged[n] = *u;
			store->merged[n].first_ref = i;
			store->merged[n].end_ref = i + 1;
			store->merged[n].stored_kind = 0;
			n++;
		}
	}
	for (int i = 0; i < 6; i++)
		ct_copy_reset(&store->arrays[i]);
	for (size_t i = 0; i < n; i++) {
		const struct unit_ref *u = &store->merged[i];
		char kind[16], first[40], last[40];
		snprintf(kind, sizeof(kind), "%d", u->kind);
		time_text(u->first_us, first, sizeof(first));
		time_text(u->last_us, last, sizeof(last));
		array_add(&store->arrays[0], u->unit_id);
		array_add(&store->arrays[1], kind);
		array_add(&store->arrays[2], u->site ? u->site : "");
		array_add(&store->arrays[3], u->line ? u->line : "");
		array_add(&store->arrays[4], first);
		array_add(&store->arrays[5], last);
	}
	for (int i = 0; i < 6; i++) {
		params[i] = array_finish(&store->arrays[i]);
		if (params[i] == NULL)
			return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
	}
	if ((rc = ct_pg_query(pg, sql, 6, params, &res, err, err_len)) != CT_OK)
		return rc;
	for (int r = 0; r < ct_pg_result_rows(res); r++) {
		const char *id = ct_pg_text(res, r, "unit_id");
		int kind = 0;
		size_t lo = 0, hi = n;
		if (id == NULL || ct_pg_int(res, r, "kind", &kind) != CT_OK)
			continue; /* reported by the check below */
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (strcmp(store->merged[mid].unit_id, id) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < n && strcmp(store->merged[lo].unit_id, id) == 0)
			store->merged[lo].stored_kind = kind;
	}
	rc = ct_pg_result_check(res, err, err_len);
	ct_pg_result_free(res);
	/* The stored kind stands; for a unit the database had no other kind for, the kind the
	 * batch's first event gave it. */
	for (size_t i = 0; i < n && rc == CT_OK; i++) {
		const struct unit_ref *m = &store->merged[i];
		if (m->stored_kind != 0)
			rc = refuse_kind(store, items, m->first_ref, m->end_ref, m->stored_kind,
			                 "as stored");
		else if (m->kind != 0)
			rc = refuse_kind(store, items, m->first_ref, m->end_ref, m->kind,
			                 "as an earlier event of the same batch says");
		if (rc != CT_OK)
			ct_set_error(err, err_len, rc, "out of memory");
	}
	return rc;
}

/* One genealogy row. relation: "assembly", "rework" or "disassembly"; a disassembly's own row
 * is stored ended (by itself): it records the taking apart, it is no link. */
static void copy_genealogy_row(struct ct_copy *c, const char *parent, const char *child,
                               int child_kind, const char *material, double quantity,
                               const char *uom, const char *position, const char *source,
                               const char *station, const char *event_id, int64_t at_us, int seq,
                               const char *relation)
{
	bool ended = strcmp(relation, "disassembly") == 0;

	ct_copy_text(c, parent);
	ct_copy_text(c, child);
	ct_copy_int64(c, child_kind);
	ct_copy_text(c, material);
	ct_copy_double(c, quantity);
	ct_copy_text(c, uom);
	ct_copy_text(c, position ? position : "");
	ct_copy_text(c, source);
	ct_copy_text(c, station);
	ct_copy_text(c, event_id);
	ct_copy_time_us(c, at_us);
	ct_copy_int64(c, seq);
	ct_copy_text(c, relation);
	if (ended)
		ct_copy_time_us(c, at_us);
	else
		ct_copy_null(c);
	ct_copy_text(c, ended ? event_id : NULL);
	ct_copy_end_row(c);
}

/* Notes a new event with genealogy rows and its parent, for ct_genealogy_apply. */
static void genealogy_event(struct traveler_store *store, const char *event_id, const char *parent)
{
	ct_pgarray_text(&store->gen_events, event_id);
	ct_pgarray_text(&store->gen_parents, parent);
}

/* Notes a child of a new genealogy row when the one-parent rule applies to it. */
static void genealogy_child(struct traveler_store *store, const char *child, int kind)
{
	if (kind >= CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_CELL &&
	    kind <= CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_PACK)
		ct_pgarray_text(&store->gen_children, child);
}

static int rows_for_result(struct traveler_store *store, const Cellthread__V1__StationResult *r,
                           struct traveler_counts *counts)
{
	struct ct_copy *c = store->copies;
	const char *id = r->header->event_id;
	int rc = add_unit(store, r->unit_id, r->unit_kind, r->site, r->line, r->started_at_us);
	int gseq = 0;

	if (rc == CT_OK)
		rc = add_unit(store, r->unit_id, r->unit_kind, r->site, r->line, r->ended_at_us);
	ct_copy_text(&c[T_VISIT], id);
	ct_copy_text(&c[T_VISIT], r->unit_id);
	ct_copy_int64(&c[T_VISIT], r->unit_kind);
	ct_copy_text(&c[T_VISIT], r->site);
	ct_copy_text(&c[T_VISIT], r->line);
	ct_copy_text(&c[T_VISIT], r->station);
	ct_copy_int64(&c[T_VISIT], r->station_type);
	ct_copy_text(&c[T_VISIT], r->recipe);
	ct_copy_int64(&c[T_VISIT], r->recipe_version);
	ct_copy_text(&c[T_VISIT], r->operator_id);
	ct_copy_time_us(&c[T_VISIT], r->started_at_us);
	ct_copy_time_us(&c[T_VISIT], r->ended_at_us);
	ct_copy_int64(&c[T_VISIT], r->result);
	copy_text_array(&c[T_VISIT], r->held_lots, r->n_held_lots);
	ct_copy_end_row(&c[T_VISIT]);
	counts->visits++;
	if (r->n_materials + r->n_children > 0)
		genealogy_event(store, id, r->unit_id);
	for (size_t i = 0; i < r->n_measurements; i++) {
		const Cellthread__V1__Measurement *m = r->measurements[i];
		ct_copy_text(&c[T_MEASUREMENT], id);
		ct_copy_text(&c[T_MEASUREMENT], r->unit_id);
		ct_copy_text(&c[T_MEASUREMENT], r->site);
		ct_copy_text(&c[T_MEASUREMENT], r->line);
		ct_copy_text(&c[T_MEASUREMENT], r->station);
		ct_copy_text(&c[T_MEASUREMENT], m->characteristic);
		ct_copy_double(&c[T_MEASUREMENT], m->value);
		ct_copy_text(&c[T_MEASUREMENT], m->unit);
		ct_copy_time_us(&c[T_MEASUREMENT],
		                m->measured_at_us ? m->measured_at_us : r->ended_at_us);
		ct_copy_int64(&c[T_MEASUREMENT], (int64_t)i);
		ct_copy_end_row(&c[T_MEASUREMENT]);
	}
	counts->measurements += r->n_measurements;
	for (size_t i = 0; i < r->n_parameters; i++) {
		const Cellthread__V1__Parameter *p = r->parameters[i];
		ct_copy_text(&c[T_PARAMETER], id);
		ct_copy_text(&c[T_PARAMETER], r->unit_id);
		ct_copy_text(&c[T_PARAMETER], p->name);
		ct_copy_double(&c[T_PARAMETER], p->actual);
		if (p->has_setpoint)
			ct_copy_double(&c[T_PARAMETER], p->setpoint);
		else
			ct_copy_null(&c[T_PARAMETER]);
		ct_copy_text(&c[T_PARAMETER], p->unit);
		ct_copy_int64(&c[T_PARAMETER], (int64_t)i);
		ct_copy_end_row(&c[T_PARAMETER]);
	}
	for (size_t i = 0; i < r->n_materials && rc == CT_OK; i++) {
		const Cellthread__V1__MaterialUse *m = r->materials[i];
		copy_genealogy_row(&c[T_GENEALOGY], r->unit_id, m->lot_id,
		                   CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_MATERIAL_LOT, m->material,
		                   m->quantity, m->unit, "", "material", r->station, id,
		                   r->ended_at_us, gseq++, "assembly");
		rc = add_unit(store, m->lot_id, CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_MATERIAL_LOT,
		              r->site, r->line, r->ended_at_us);
	}
	for (size_t i = 0; i < r->n_children && rc == CT_OK; i++) {
		const Cellthread__V1__ChildUnit *ch = r->children[i];
		copy_genealogy_row(&c[T_GENEALOGY], r->unit_id, ch->unit_id, ch->kind, NULL,
		                   ch->quantity, ch->unit, ch->position, "assembly", r->station, id,
		                   r->ended_at_us, gseq++, "assembly");
		rc = add_unit(store, ch->unit_id, ch->kind, NULL, NULL, r->ended_at_us);
		genealogy_child(store, ch->unit_id, ch->kind);
	}
	for (size_t i = 0; i < r->n_environment; i++) {
		const Cellthread__V1__EnvironmentReading *e = r->environment[i];
		ct_copy_text(&c[T_ENVIRONMENT], id);
		ct_copy_text(&c[T_ENVIRONMENT], r->unit_id);
		ct_copy_text(&c[T_ENVIRONMENT], e->quantity);
		ct_copy_double(&c[T_ENVIRONMENT], e->value);
		ct_copy_text(&c[T_ENVIRONMENT], e->unit);
		ct_copy_text(&c[T_ENVIRONMENT], e->sensor);
		ct_copy_time_us(&c[T_ENVIRONMENT],
		                e->measured_at_us ? e->measured_at_us : r->ended_at_us);
		ct_copy_int64(&c[T_ENVIRONMENT], (int64_t)i);
		ct_copy_end_row(&c[T_ENVIRONMENT]);
	}
	for (size_t i = 0; i < r->n_notes; i++) {
		const Cellthread__V1__OperatorNote *n = r->notes[i];
		ct_copy_text(&c[T_NOTE], id);
		ct_copy_text(&c[T_NOTE], r->unit_id);
		ct_copy_text(&c[T_NOTE], "note");
		ct_copy_text(&c[T_NOTE], "");
		ct_copy_int64(&c[T_NOTE], 0);
		ct_copy_text(&c[T_NOTE], n->author);
		ct_copy_text(&c[T_NOTE], n->text);
		ct_copy_time_us(&c[T_NOTE], n->at_us ? n->at_us : r->ended_at_us);
		ct_copy_int64(&c[T_NOTE], (int64_t)i);
		ct_copy_end_row(&c[T_NOTE]);
	}
	for (size_t i = 0; i < r->n_exceptions; i++) {
		const Cellthread__V1__ProcessException *x = r->exceptions[i];
		ct_copy_text(&c[T_NOTE], id);
		ct_copy_text(&c[T_NOTE], r->unit_id);
		ct_copy_text(&c[T_NOTE], "exception");
		ct_copy_text(&c[T_NOTE], x->code);
		ct_copy_int64(&c[T_NOTE], x->severity);
		ct_copy_text(&c[T_NOTE], "");
		ct_copy_text(&c[T_NOTE], x->text);
		ct_copy_time_us(&c[T_NOTE], x->at_us ? x->at_us : r->ended_at_us);
		ct_copy_int64(&c[T_NOTE], (int64_t)i);
		ct_copy_end_row(&c[T_NOTE]);
	}
	for (size_t i = 0; i < r->n_curves; i++) {
		const Cellthread__V1__Curve *cv = r->curves[i];
		size_t n = cv->n_x < cv->n_y ? cv->n_x : cv->n_y;
		ct_copy_text(&c[T_CURVE], id);
		ct_copy_text(&c[T_CURVE], r->unit_id);
		ct_copy_text(&c[T_CURVE], cv->name);
		ct_copy_text(&c[T_CURVE], cv->x_unit);
		ct_copy_text(&c[T_CURVE], cv->y_unit);
		ct_copy_double_array(&c[T_CURVE], cv->x, n);
		ct_copy_double_array(&c[T_CURVE], cv->y, n);
		ct_copy_int64(&c[T_CURVE], (int64_t)i);
		ct_copy_end_row(&c[T_CURVE]);
	}
	return rc;
}

/* The relation column's text for Genealogy.relation (traveler_loop refuses other values). */
static const char *relation_text(Cellthread__V1__GenealogyRelation relation)
{
	switch (relation) {
	case CELLTHREAD__V1__GENEALOGY_RELATION__GENEALOGY_RELATION_REWORK:
		return "rework";
	case CELLTHREAD__V1__GENEALOGY_RELATION__GENEALOGY_RELATION_DISASSEMBLY:
		return "disassembly";
	default:
		return "assembly";
	}
}

static int rows_for_genealogy(struct traveler_store *store, const Cellthread__V1__Genealogy *g)
{
	int rc = add_unit(store, g->parent_unit_id, g->parent_kind, g->site, g->line,
	                  g->assembled_at_us);
	genealogy_event(store, g->header->event_id, g->parent_unit_id);
	for (size_t i = 0; i < g->n_children && rc == CT_OK; i++) {
		const Cellthread__V1__ChildUnit *ch = g->children[i];
		copy_genealogy_row(&store->copies[T_GENEALOGY], g->parent_unit_id, ch->unit_id,
		                   ch->kind, NULL, ch->quantity, ch->unit, ch->position,
		                   "genealogy", g->station, g->header->event_id, g->assembled_at_us,
		                   (int)i, relation_text(g->relation));
		genealogy_child(store, ch->unit_id, ch->kind);
		rc = add_unit(store, ch->unit_id, ch->kind, NULL, NULL, g->assembled_at_us);
	}
	return rc;
}

static void rows_for_telemetry(struct traveler_store *store, const Cellthread__V1__Telemetry *t,
                               struct traveler_counts *counts)
{
	struct ct_copy *c = &store->copies[T_TELEMETRY];
	for (size_t s = 0; s < t->n_signals; s++) {
		const Cellthread__V1__Signal *sig = t->signals[s];
		for (size_t i = 0; i < sig->n_samples; i++) {
			ct_copy_text(c, t->header->event_id);
			ct_copy_text(c, t->site);
			ct_copy_text(c, t->line);
			ct_copy_text(c, t->asset);
			ct_copy_text(c, sig->name);
			ct_copy_text(c, sig->unit);
			ct_copy_time_us(c, sig->samples[i]->at_us);
			ct_copy_double(c, sig->samples[i]->value);
			ct_copy_end_row(c);
		}
		counts->telemetry_samples += sig->n_samples;
	}
}

static void rows_for_dead_letter(struct traveler_store *store, const Cellthread__V1__DeadLetter *d,
                                 struct traveler_counts *counts)
{
	struct ct_copy *c = &store->copies[T_DEAD_LETTER];
	ct_copy_text(c, d->header->event_id);
	ct_copy_text(c, d->service);
	ct_copy_text(c, d->source_topic);
	ct_copy_int64(c, d->reason_code);
	ct_copy_text(c, d->reason);
	ct_copy_bytea(c, d->payload.data, d->payload.len);
	ct_copy_int64(c, d->payload_size);
	ct_copy_time_us(c, d->received_at_us ? d->received_at_us : d->header->produced_at_us);
	ct_copy_end_row(c);
	counts->dead_letters++;
}

static int rows_for_verdict(struct traveler_store *store, const Cellthread__V1__Verdict *v,
                            struct traveler_counts *counts)
{
	struct ct_copy *c = &store->copies[T_VERDICT];
	int64_t decided_at = v->decided_at_us ? v->decided_at_us : v->header->produced_at_us;
	/* The verdict's unit too (kind 0: it keeps the kind its visits give it), so the sorted
	 * unit upsert locks it: a visit and its verdict stored by two travelers at once then
	 * commit one after the other, and the second one's OEE trigger sees the first's row
	 * (migration 0011 counts a failing verdict once its visit is stored, either way). */
	int rc = add_unit(store, v->unit_id, 0, v->site, v->line, decided_at);
	char *failed;

	if (rc != CT_OK)
		return rc;
	failed = failed_json(v);
	if (failed == NULL)
		return CT_ERR_NOMEM;
	ct_copy_text(c, v->header->event_id);
	ct_copy_text(c, v->unit_id);
	ct_copy_text(c, v->site);
	ct_copy_text(c, v->line);
	ct_copy_text(c, v->station);
	ct_copy_text(c, v->source_event_id);
	ct_copy_int64(c, v->verdict);
	ct_copy_text(c, failed);
	ct_copy_text(c, v->inspection_reason);
	copy_text_array(c, v->held_lots, v->n_held_lots);
	ct_copy_text(c, v->recipe);
	ct_copy_int64(c, v->recipe_version);
	ct_copy_time_us(c, decided_at);
	ct_copy_end_row(c);
	free(failed);
	counts->verdicts++;
	return CT_OK;
}

static const char *kind_text(enum traveler_item_kind kind)
{
	switch (kind) {
	case TRAVELER_RESULT_BATCH:
		return "result";
	case TRAVELER_TELEMETRY:
		return "telemetry";
	case TRAVELER_GENEALOGY:
		return "genealogy";
	case TRAVELER_DEAD_LETTER:
		return "deadletter";
	case TRAVELER_VERDICT:
		return "verdict";
	}
	return "result";
}

/* The dead letter of refusal r, for the COPY of dead_letter. */
static void rows_for_refusal(struct traveler_store *store, const struct traveler_item *items,
                             const struct refusal *r, struct traveler_counts *counts)
{
	struct ct_copy *c = &store->copies[T_DEAD_LETTER];

	ct_copy_text(c, r->id);
	ct_copy_text(c, "traveler");
	ct_copy_text(c, items[r->item].topic);
	ct_copy_int64(c, r->code);
	ct_copy_text(c, r->reason);
	ct_copy_bytea(c, r->payload,
	              r->payload_len < REFUSED_PAYLOAD_CAP ? r->payload_len : REFUSED_PAYLOAD_CAP);
	ct_copy_int64(c, (int64_t)r->payload_len);
	ct_copy_time_us(c, r->at_us);
	ct_copy_end_row(c);
	counts->dead_letters++;
}

/* Adds the events of the items, but not those refused earlier in this store call, then one
 * dead-letter event per refusal, its ID derived from the refused event's ID and the reason. */
static int collect_events(struct traveler_store *store, const struct traveler_item *items,
                          size_t n_items)
{
	int rc = CT_OK;
	for (size_t i = 0; i < n_items && rc == CT_OK; i++) {
		const struct traveler_item *it = &items[i];
		switch (it->kind) {
		case TRAVELER_RESULT_BATCH: {
			const Cellthread__V1__StationResultBatch *b = (const void *)it->msg;
			for (size_t r = 0; r < b->n_results && rc == CT_OK; r++)
				if (find_refusal(store, i, r) == NULL)
					rc = add_event(store, b->results[r]->header, "result", i, r,
					               &b->results[r]->base);
			break;
		}
		case TRAVELER_TELEMETRY:
		case TRAVELER_GENEALOGY:
			if (find_refusal(store, i, 0) == NULL)
				rc = add_event(
				        store,
				        it->kind == TRAVELER_TELEMETRY
				                ? ((const Cellthread__V1__Telemetry *)(const void *)
				                           it->msg)
				                          ->header
				                : ((const Cellthread__V1__Genealogy *)(const void *)
				                           it->msg)
				                          ->header,
				        kind_text(it->kind), i, 0, it->msg);
			break;
		case TRAVELER_DEAD_LETTER:
			/* Never compared: a dead letter records a refusal, and refusing one would
			 * only make another. */
			rc = add_event(
			        store,
			        ((const Cellthread__V1__DeadLetter *)(const void *)it->msg)->header,
			        kind_text(it->kind), i, 0, NULL);
			break;
		case TRAVELER_VERDICT: {
			const Cellthread__V1__VerdictBatch *b = (const void *)it->msg;
			for (size_t v = 0; v < b->n_verdicts && rc == CT_OK; v++)
				if (find_refusal(store, i, v) == NULL)
					rc = add_event(store, b->verdicts[v]->header,
					               kind_text(it->kind), i, v,
					               &b->verdicts[v]->base);
			break;
		}
		}
	}
	for (size_t r = 0; r < store->n_refusals && rc == CT_OK; r++) {
		struct refusal *f = &store->refusals[r];
		Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
		const char *parts[2];
		parts[0] = event_id_of(items, f->item, f->sub);
		parts[1] = f->reason;
		rc = ct_id_derive(f->id, CT_DERIVED_ID_MAX, "x-", parts, 2);
		header.event_id = f->id;
		header.producer = (char *)"traveler";
		header.produced_at_us = f->at_us;
		if (rc == CT_OK) /* the header's strings are f->id and a literal: they outlive it */
			rc = add_event(store, &header, "deadletter", REFUSAL_ITEM, r, NULL);
	}
	return rc;
}

static int build_rows(struct traveler_store *store, const struct traveler_item *items,
                      struct traveler_counts *counts)
{
	int rc = CT_OK;
	for (size_t e = 0; e < store->n_events && rc == CT_OK; e++) {
		const struct event_ref *ev = &store->events[e];
		const struct traveler_item *it;
		if (ev->item == REFUSAL_ITEM) {
			if (ev->is_new) /* else stored by an earlier run of this batch */
				rows_for_refusal(store, items, &store->refusals[ev->sub], counts);
			continue;
		}
		it = &items[ev->item];
		if (!ev->is_new) {
			counts->events_duplicate++;
			continue;
		}
		counts->events_new++;
		store->cur_item = ev->item;
		store->cur_sub = ev->sub;
		store->cur_event_id = ev->event_id;
		switch (it->kind) {
		case TRAVELER_RESULT_BATCH: {
			const Cellthread__V1__StationResultBatch *b = (const void *)it->msg;
			rc = rows_for_result(store, b->results[ev->sub], counts);
			break;
		}
		case TRAVELER_TELEMETRY:
			rows_for_telemetry(store, (const void *)it->msg, counts);
			break;
		case TRAVELER_GENEALOGY:
			rc = rows_for_genealogy(store, (const void *)it->msg);
			break;
		case TRAVELER_DEAD_LETTER:
			rows_for_dead_letter(store, (const void *)it->msg, counts);
			break;
		case TRAVELER_VERDICT: {
			const Cellthread__V1__VerdictBatch *b = (const void *)it->msg;
			rc = rows_for_verdict(store, b->verdicts[ev->sub], counts);
			break;
		}
		}
	}
	return rc;
}

/* Applies and checks the batch's new genealogy (migration 0008's ct_genealogy_apply, after
 * the rows are in) and refuses the events it names (GENEALOGY). */
static int apply_genealogy(struct traveler_store *store, const struct traveler_item *items,
                           struct ct_pg *pg, char *err, size_t err_len)
{
	static const char sql[] = "SELECT bad_event, why FROM ct_genealogy_apply($1::text[], "
	                          "$2::text[], $3::text[])";
	struct ct_pg_result *res = NULL;
	const char *params[3];
	int rc;

	if (store->gen_events.count == 0)
		return CT_OK;
	params[0] = ct_pgarray_literal(&store->gen_events);
	params[1] = ct_pgarray_literal(&store->gen_parents);
	params[2] = ct_pgarray_literal(&store->gen_children);
	if (params[0] == NULL || params[1] == NULL || params[2] == NULL)
		return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
	if ((rc = ct_pg_query(pg, sql, 3, params, &res, err, err_len)) != CT_OK)
		return rc;
	for (int r = 0; r < ct_pg_result_rows(res) && rc == CT_OK; r++) {
		const char *id = ct_pg_text(res, r, "bad_event");
		const char *why = ct_pg_text(res, r, "why");
		size_t at;
		if (id == NULL || why == NULL)
			continue; /* reported by the check below */
		/* The new one of its ID: only new events wrote rows. */
		for (at = find_event(store, id);
		     at < store->n_events && strcmp(store->events[at].event_id, id) == 0; at++) {
			const struct event_ref *e = &store->events[at];
			if (!e->is_new || e->item == REFUSAL_ITEM)
				continue;
			rc = refuse(
			        store, items, e->item, e->sub,
			        CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_GENEALOGY,
			        why);
			if (rc != CT_OK)
				ct_set_error(err, err_len, rc, "out of memory");
			break;
		}
	}
	if (rc == CT_OK)
		rc = ct_pg_result_check(res, err, err_len);
	ct_pg_result_free(res);
	return rc;
}

/* One transaction storing the batch without the events refused so far. Returns CT_OK with
 * *ret_again false when it committed, true when it refused more events and rolled back
 * (store again); or an error after rolling back. */
static int attempt(struct traveler_store *store, struct ct_pg *pg,
                   const struct traveler_item *items, size_t n_items,
                   struct traveler_counts *counts, bool *ret_again, char *err, size_t err_len)
{
	size_t refused = store->n_refusals;
	int rc;

	*ret_again = false;
	memset(counts, 0, sizeof(*counts));
	store->n_events = 0;
	store->n_units = 0;
	ct_pgarray_reset(&store->gen_events);
	ct_pgarray_reset(&store->gen_parents);
	ct_pgarray_reset(&store->gen_children);
	for (int i = 0; i < T_COUNT; i++)
		ct_copy_reset(&store->copies[i]);
	rc = collect_events(store, items, n_items);
	if (rc != CT_OK)
		return ct_set_error(err, err_len, rc, "out of memory");
	if (store->n_events == 0)
		return CT_OK;
	rc = ct_pg_begin(pg, err, err_len);
	if (rc != CT_OK)
		return rc;
	rc = insert_events(store, items, pg, err, err_len);
	if (rc == CT_OK)
		rc = check_conflicts(store, items, pg, err, err_len);
	if (rc == CT_OK && store->n_refusals == refused &&
	    (rc = build_rows(store, items, counts)) != CT_OK)
		ct_set_error(err, err_len, rc, "out of memory");
	if (rc == CT_OK && store->n_refusals == refused)
		rc = upsert_units(store, items, pg, err, err_len);
	for (int t = 0; t < T_COUNT && rc == CT_OK && store->n_refusals == refused; t++)
		rc = ct_pg_copy(pg, copy_sql[t], &store->copies[t], err, err_len);
	if (rc == CT_OK && store->n_refusals == refused)
		rc = apply_genealogy(store, items, pg, err, err_len);
	if (rc == CT_OK && store->n_refusals > refused) {
		ct_pg_rollback(pg);
		*ret_again = true;
		return CT_OK;
	}
	if (rc == CT_OK)
		rc = ct_pg_commit(pg, err, err_len);
	if (rc != CT_OK)
		ct_pg_rollback(pg);
	return rc;
}

int traveler_store_batch(struct traveler_store *store, struct ct_pg *pg,
                         const struct traveler_item *items, size_t n_items,
                         struct traveler_counts *ret_counts, char *err, size_t err_len)
{
	struct traveler_counts counts;
	bool again = true;
	int rc = CT_OK;

	refusals_clear(store);
	/* Each run that does not commit refuses at least one more event, so this ends. */
	while (again && rc == CT_OK)
		rc = attempt(store, pg, items, n_items, &counts, &again, err, err_len);
	if (rc != CT_OK)
		return rc;
	for (size_t r = 0; r < store->n_refusals; r++)
		ct_warn("dead letter from %s: %s", items[store->refusals[r].item].topic,
		        store->refusals[r].reason);
	counts.events_refused = store->n_refusals;
	*ret_counts = counts;
	return CT_OK;
}

int traveler_store_own_dead_letter(struct traveler_store *store, struct ct_pg *pg,
                                   const char *producer, const char *topic, int reason_code,
                                   const char *reason, const void *payload, size_t payload_len,
                                   char *err, size_t err_len)
{
	Cellthread__V1__DeadLetter dl = CELLTHREAD__V1__DEAD_LETTER__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	struct traveler_item item = {TRAVELER_DEAD_LETTER, &dl.base, topic};
	struct traveler_counts counts;
	char id[40];
	size_t cap = 65536;

	ct_pb_header_fill(&header, id, sizeof(id), producer);
	dl.header = &header;
	dl.service = (char *)"traveler";
	dl.source_topic = (char *)topic;
	dl.reason_code = (Cellthread__V1__DeadLetterReason)reason_code;
	dl.reason = (char *)reason;
	dl.payload.data = (uint8_t *)payload;
	dl.payload.len = payload_len < cap ? payload_len : cap;
	dl.payload_size = (uint32_t)payload_len;
	dl.received_at_us = ct_now_us();
	ct_warn("dead letter from %s: %s", topic, reason);
	return traveler_store_batch(store, pg, &item, 1, &counts, err, err_len);
}
