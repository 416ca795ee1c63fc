/* ct_msg: what the runtime knows about the cellthread v1 messages, written once: which
 * protobuf message each topic kind carries, and the short names of the enums (the names the
 * JSON form, the CLI and the logs use: "cell", "eol_test", "nok", "high").
 *
 * Short names are the proto value names in lower case without the enum's prefix; value 0
 * (UNSPECIFIED) has none. They are part of the JSON form's contract (services/ingest/JSON.md),
 * so a table here names them explicitly instead of deriving them from the generated code. */
#ifndef CT_MSG_H
#define CT_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include "ct_pb.h"
#include "ct_topic.h"

/* The message carried on plant and edge topics of this kind (StationResultBatch for
 * CT_KIND_RESULT, VerdictBatch for CT_KIND_VERDICT, ...); NULL for CT_KIND_UNKNOWN. */
const ProtobufCMessageDescriptor *ct_msg_descriptor(enum ct_topic_kind kind);

/* Short name of value in enum desc: a static string, or NULL for 0, for a value the proto
 * does not define and for an enum without short names. */
const char *ct_enum_short_name(const ProtobufCEnumDescriptor *desc, int value);
/* The value of a short name. Returns CT_OK with *ret_value set, or CT_ERR_INVALID for NULL,
 * "unspecified", an unknown name or an enum without short names (*ret_value untouched). */
int ct_enum_from_short_name(const ProtobufCEnumDescriptor *desc, const char *name, int *ret_value);
/* True when desc has short names (the JSON form refuses numbers for such enums). */
bool ct_enum_has_short_names(const ProtobufCEnumDescriptor *desc);
/* Writes "a|b|c", every short name of desc, into buf (for "expected one of" reasons). */
void ct_enum_short_name_list(const ProtobufCEnumDescriptor *desc, char *buf, size_t len);

/* The same for the enums everyone names. */
const char *ct_unit_kind_name(int kind);
const char *ct_station_type_name(int type);
const char *ct_result_code_name(int code);
const char *ct_severity_name(int severity);
const char *ct_station_state_name(int state);       /* StationStateKind: "producing" */
const char *ct_command_ack_status_name(int status); /* CommandAckStatus: "accepted" */
int ct_unit_kind_from_name(const char *name, int *ret_value);
int ct_station_type_from_name(const char *name, int *ret_value);
int ct_result_code_from_name(const char *name, int *ret_value);
int ct_severity_from_name(const char *name, int *ret_value);
int ct_station_state_from_name(const char *name, int *ret_value);
int ct_command_ack_status_from_name(const char *name, int *ret_value);

#endif
