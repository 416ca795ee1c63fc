/* Fuzz target: the lot-status payload ingest applies to its held-lot set
 * (ingest_lots_apply). The input is a sequence of messages (fuzz_util.h framing: a topic
 * line, a 2-byte length, a LotStatus payload) applied to one set, which grows, shrinks and
 * rehashes under them. After each: an accepted HELD or QUARANTINED status holds its lot, an
 * accepted RELEASED status or empty payload releases it, a refused message leaves the count
 * alone; at the end a clone agrees with the set on every lot named. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_ids.h"
#include "ct_pb.h"
#include "fuzz_util.h"
#include "ingest_lots.h"

#define FUZZ_MAX_INPUT (1u << 16)
#define MAX_MESSAGES   512
#define PREFIX         "ct/v1/lot/"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct named {
	char site[CT_ID_MAX + 1];
	char lot[CT_ID_MAX + 1];
};

/* The topic's site and lot when it is ct/v1/lot/{site}/{lot} with two IDs. */
static bool split_topic(const char *topic, struct named *ret)
{
	const char *rest, *slash;

	if (strncmp(topic, PREFIX, sizeof(PREFIX) - 1) != 0)
		return false;
	rest = topic + sizeof(PREFIX) - 1;
	slash = strchr(rest, '/');
	if (slash == NULL || slash == rest || (size_t)(slash - rest) > CT_ID_MAX ||
	    strlen(slash + 1) > CT_ID_MAX)
		return false;
	memcpy(ret->site, rest, (size_t)(slash - rest));
	ret->site[slash - rest] = '\0';
	memcpy(ret->lot, slash + 1, strlen(slash + 1) + 1);
	return ct_id_is_valid(ret->site) && ct_id_is_valid(ret->lot);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct named named[MAX_MESSAGES];
	struct fuzz_input in = {data, size, 0};
	struct ingest_lots *lots, *copy;
	size_t n_named = 0;
	char err[256];

	if (size > FUZZ_MAX_INPUT || (lots = ingest_lots_new()) == NULL)
		return 0;
	for (size_t m = 0; m < MAX_MESSAGES && in.pos < in.size; m++) {
		char *topic = fuzz_take_line(&in);
		size_t len = 0, before = ingest_lots_count(lots);
		uint8_t *payload = topic != NULL ? fuzz_take_chunk(&in, &len) : NULL;
		int reason = -1, rc;

		if (payload == NULL) {
			free(topic);
			break;
		}
		rc = ingest_lots_apply(lots, topic, payload, len, 4096, &reason, err, sizeof(err));
		if (rc == CT_OK) {
			struct named *n = &named[n_named];
			ProtobufCMessage *msg = NULL;
			bool held = false;
			if (!split_topic(topic, n))
				abort(); /* accepted a topic that names no lot */
			if (len > 0) {
				const Cellthread__V1__LotStatus *st;
				if (ct_pb_unpack(&cellthread__v1__lot_status__descriptor, payload,
				                 len, 4096, &msg) != CT_OK)
					abort();
				st = (const void *)msg;
				if (strcmp(st->site, n->site) != 0 ||
				    strcmp(st->lot_id, n->lot) != 0)
					abort();
				held = st->state != CELLTHREAD__V1__LOT_STATE__LOT_STATE_RELEASED;
				ct_pb_free(msg);
			}
			if (ingest_lots_is_held(lots, n->site, n->lot) != held)
				abort();
			n_named++;
		} else if (ingest_lots_count(lots) != before ||
		           (rc != CT_ERR_NOMEM && reason < 0)) {
			abort(); /* refused, but changed the set or gave no reason */
		}
		if (ingest_lots_count(lots) > before + 1 || ingest_lots_count(lots) + 1 < before)
			abort();
		free(payload);
		free(topic);
	}
	copy = ingest_lots_clone(lots);
	if (copy != NULL) {
		if (ingest_lots_count(copy) != ingest_lots_count(lots))
			abort();
		for (size_t i = 0; i < n_named; i++)
			if (ingest_lots_is_held(copy, named[i].site, named[i].lot) !=
			    ingest_lots_is_held(lots, named[i].site, named[i].lot))
				abort();
	}
	ingest_lots_free(copy);
	ingest_lots_free(lots);
	return 0;
}
