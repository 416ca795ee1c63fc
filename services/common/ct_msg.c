/* ct_msg: topic kinds to messages, and the enums' short names (contract in ct_msg.h).
 *
 * Each table is indexed by the enum's value; [0] (UNSPECIFIED) has no name. A new proto value
 * without a name here stays unnamed (encoders show its number) until it is added, which is a
 * change of the JSON form's contract and so of services/ingest/JSON.md. */
#include "ct_msg.h"

#include <stdio.h>
#include <string.h>

#include "ct_error.h"

const ProtobufCMessageDescriptor *ct_msg_descriptor(enum ct_topic_kind kind)
{
	switch (kind) {
	case CT_KIND_RESULT:
		return &cellthread__v1__station_result_batch__descriptor;
	case CT_KIND_TELEMETRY:
		return &cellthread__v1__telemetry__descriptor;
	case CT_KIND_GENEALOGY:
		return &cellthread__v1__genealogy__descriptor;
	case CT_KIND_VERDICT:
		return &cellthread__v1__verdict_batch__descriptor;
	case CT_KIND_COMMAND:
		return &cellthread__v1__station_command__descriptor;
	case CT_KIND_ALERT:
		return &cellthread__v1__alert__descriptor;
	case CT_KIND_STATE:
		return &cellthread__v1__station_state__descriptor;
	case CT_KIND_ACK:
		return &cellthread__v1__command_ack__descriptor;
	case CT_KIND_UNKNOWN:
		break;
	}
	return NULL;
}

struct enum_names {
	const ProtobufCEnumDescriptor *desc;
	const char *const *names;
	size_t count;
};

static const char *const unit_kind_names[] = {
        NULL, "material_lot", "batch", "electrode", "cell", "module", "pack",
};

static const char *const station_type_names[] = {
        NULL,
        "mixing",
        "coating",
        "calendering",
        "slitting",
        "vacuum_drying",
        "winding",
        "stacking",
        "tab_welding",
        "insulation_test",
        "electrolyte_filling",
        "sealing",
        "formation",
        "aging",
        "eol_test",
        "vision",
        "module_assembly",
        "pack_assembly",
};

static const char *const result_code_names[] = {NULL, "ok", "nok", "aborted"};

static const char *const severity_names[] = {NULL, "info", "low", "medium", "high", "critical"};

static const char *const command_kind_names[] = {NULL, "slow", "stop", "resume", "adjust"};

static const char *const lot_state_names[] = {NULL, "released", "held", "quarantined"};

static const char *const station_state_names[] = {
        NULL,
        "producing",
        "idle",
        "starved",
        "blocked",
        "planned_downtime",
        "unplanned_downtime",
        "unknown_stop",
};

static const char *const command_ack_status_names[] = {NULL, "accepted", "rejected", "expired"};

#define ENUM_NAMES(desc, names)                                                                    \
	{                                                                                          \
		&(desc), (names), sizeof(names) / sizeof((names)[0])                               \
	}

static const struct enum_names unit_kinds =
        ENUM_NAMES(cellthread__v1__unit_kind__descriptor, unit_kind_names);
static const struct enum_names station_types =
        ENUM_NAMES(cellthread__v1__station_type__descriptor, station_type_names);
static const struct enum_names result_codes =
        ENUM_NAMES(cellthread__v1__result_code__descriptor, result_code_names);
static const struct enum_names severities =
        ENUM_NAMES(cellthread__v1__severity__descriptor, severity_names);
static const struct enum_names command_kinds =
        ENUM_NAMES(cellthread__v1__command_kind__descriptor, command_kind_names);
static const struct enum_names lot_states =
        ENUM_NAMES(cellthread__v1__lot_state__descriptor, lot_state_names);
static const struct enum_names station_states =
        ENUM_NAMES(cellthread__v1__station_state_kind__descriptor, station_state_names);
static const struct enum_names command_ack_statuses =
        ENUM_NAMES(cellthread__v1__command_ack_status__descriptor, command_ack_status_names);

static const struct enum_names *const enum_tables[] = {
        &unit_kinds,    &station_types, &result_codes,   &severities,
        &command_kinds, &lot_states,    &station_states, &command_ack_statuses,
};

static const struct enum_names *enum_table(const ProtobufCEnumDescriptor *desc)
{
	for (size_t i = 0; i < sizeof(enum_tables) / sizeof(enum_tables[0]); i++)
		if (enum_tables[i]->desc == desc)
			return enum_tables[i];
	return NULL;
}

bool ct_enum_has_short_names(const ProtobufCEnumDescriptor *desc)
{
	return enum_table(desc) != NULL;
}

const char *ct_enum_short_name(const ProtobufCEnumDescriptor *desc, int value)
{
	const struct enum_names *t = enum_table(desc);

	if (t == NULL || value <= 0 || (size_t)value >= t->count)
		return NULL;
	return t->names[value];
}

int ct_enum_from_short_name(const ProtobufCEnumDescriptor *desc, const char *name, int *ret_value)
{
	const struct enum_names *t = enum_table(desc);

	if (t == NULL || name == NULL)
		return CT_ERR_INVALID;
	for (size_t i = 1; i < t->count; i++) {
		if (strcmp(t->names[i], name) == 0) {
			*ret_value = (int)i;
			return CT_OK;
		}
	}
	return CT_ERR_INVALID;
}

void ct_enum_short_name_list(const ProtobufCEnumDescriptor *desc, char *buf, size_t len)
{
	const struct enum_names *t = enum_table(desc);
	size_t used = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 1; t != NULL && i < t->count && used < len; i++) {
		snprintf(buf + used, len - used, "%s%s", i > 1 ? "|" : "", t->names[i]);
		used += strlen(buf + used);
	}
}

const char *ct_unit_kind_name(int kind)
{
	return ct_enum_short_name(&cellthread__v1__unit_kind__descriptor, kind);
}

const char *ct_station_type_name(int type)
{
	return ct_enum_short_name(&cellthread__v1__station_type__descriptor, type);
}

const char *ct_result_code_name(int code)
{
	return ct_enum_short_name(&cellthread__v1__result_code__descriptor, code);
}

const char *ct_severity_name(int severity)
{
	return ct_enum_short_name(&cellthread__v1__severity__descriptor, severity);
}

int ct_unit_kind_from_name(const char *name, int *ret_value)
{
	return ct_enum_from_short_name(&cellthread__v1__unit_kind__descriptor, name, ret_value);
}

int ct_station_type_from_name(const char *name, int *ret_value)
{
	return ct_enum_from_short_name(&cellthread__v1__station_type__descriptor, name, ret_value);
}

int ct_result_code_from_name(const char *name, int *ret_value)
{
	return ct_enum_from_short_name(&cellthread__v1__result_code__descriptor, name, ret_value);
}

int ct_severity_from_name(const char *name, int *ret_value)
{
	return ct_enum_from_short_name(&cellthread__v1__severity__descriptor, name, ret_value);
}

const char *ct_station_state_name(int state)
{
	return ct_enum_short_name(&cellthread__v1__station_state_kind__descriptor, state);
}

const char *ct_command_ack_status_name(int status)
{
	return ct_enum_short_name(&cellthread__v1__command_ack_status__descriptor, status);
}

int ct_station_state_from_name(const char *name, int *ret_value)
{
	return ct_enum_from_short_name(&cellthread__v1__station_state_kind__descriptor, name,
	                               ret_value);
}

int ct_command_ack_status_from_name(const char *name, int *ret_value)
{
	return ct_enum_from_short_name(&cellthread__v1__command_ack_status__descriptor, name,
	                               ret_value);
}
