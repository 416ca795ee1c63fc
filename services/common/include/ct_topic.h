/* ct_topic: the v1 MQTT topic tree (docs/topics.md is its documentation).
 *
 *   ct/v1/edge/{site}/{line}/{station}/{kind}/{enc}  station data as gateways send it
 *   ct/v1/plant/{site}/{line}/{station}/{kind}       canonical messages, one owner each
 *   ct/v1/sys/deadletter/{service}                   refused input
 *   ct/v1/sys/status/{service}/{instance}            retained service status
 *   ct/v1/sys/rpc/{service}/{method}                 requests to a service
 *   ct/v1/sys/reply/{client}/{...}                   responses to one client
 *
 * Parsers take the topic string and fill fixed-size fields; they never allocate. */
#ifndef CT_TOPIC_H
#define CT_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#include "ct_ids.h"

#define CT_TOPIC_MAX  256
#define CT_TOPIC_ROOT "ct/v1"

enum ct_topic_kind {
	CT_KIND_UNKNOWN = 0,
	CT_KIND_RESULT,    /* StationResultBatch */
	CT_KIND_TELEMETRY, /* Telemetry */
	CT_KIND_GENEALOGY, /* Genealogy */
	CT_KIND_VERDICT,   /* Verdict */
	CT_KIND_COMMAND,   /* StationCommand */
	CT_KIND_ALERT,     /* Alert */
	CT_KIND_STATE,     /* StationState (oee.proto) */
	CT_KIND_ACK,       /* CommandAck (oee.proto) */
};

enum ct_topic_encoding { CT_ENC_UNKNOWN = 0, CT_ENC_PROTOBUF, CT_ENC_JSON };

/* A parsed ct/v1/edge/... or ct/v1/plant/... topic. */
struct ct_topic {
	bool is_edge;
	char site[CT_ID_MAX + 1];
	char line[CT_ID_MAX + 1];
	char station[CT_ID_MAX + 1];
	enum ct_topic_kind kind;
	enum ct_topic_encoding encoding; /* edge topics only */
};

/* Parses an edge or plant topic. Returns CT_OK, or CT_ERR_INVALID with a reason in err. */
int ct_topic_parse(const char *topic, struct ct_topic *ret, char *err, size_t err_len);
/* "result", "telemetry", ... ; "unknown" for CT_KIND_UNKNOWN. */
const char *ct_topic_kind_name(enum ct_topic_kind kind);
enum ct_topic_kind ct_topic_kind_from_name(const char *name);
/* Builds ct/v1/plant/{site}/{line}/{station}/{kind}. Returns CT_OK or CT_ERR_TOO_BIG. */
int ct_topic_plant(char *buf, size_t len, const char *site, const char *line, const char *station,
                   enum ct_topic_kind kind);
/* Builds ct/v1/plant/{site}/{line}/{station}/{name} for a kind the runtime does not know: a
 * new service publishes on a new kind ("fpy") with this, without adding to enum
 * ct_topic_kind (which lists the kinds the runtime itself decodes). name must be an ID
 * (ct_id_is_valid). Returns CT_OK, CT_ERR_INVALID for a bad name, or CT_ERR_TOO_BIG. */
int ct_topic_plant_name(char *buf, size_t len, const char *site, const char *line,
                        const char *station, const char *name);
/* Builds ct/v1/edge/{site}/{line}/{station}/{kind}/{pb|json}. */
int ct_topic_edge(char *buf, size_t len, const char *site, const char *line, const char *station,
                  enum ct_topic_kind kind, enum ct_topic_encoding enc);
/* True when topic starts with prefix followed by '/' or end. */
bool ct_topic_has_prefix(const char *topic, const char *prefix);
/* True when topic is a reply topic a service may publish to: ct/v1/sys/reply/ followed by 1
 * to CT_TOPIC_REPLY_LEVELS levels that are each an ID (so no wildcard, no empty level, nothing
 * that is not ASCII), shorter than CT_TOPIC_MAX. The client's ID is the first level. */
#define CT_TOPIC_REPLY_LEVELS 8
bool ct_topic_is_reply(const char *topic);

#endif
