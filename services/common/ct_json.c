/* ct_json: JSON <-> protobuf-c mapping of StationResultBatch, Telemetry, Genealogy,
 * StationState and CommandAck.
 *
 * The mapping is driven by the protobuf-c descriptors rather than written out per message: a
 * JSON key is looked up as a field name of the message being filled, and the field's type and
 * offset say how to convert and where to store. That keeps the JSON form in step with the
 * .proto by construction (a new field is accepted and emitted without code here) and makes
 * the ownership uniform: every string, array and submessage is allocated with malloc exactly as
 * protobuf_c unpack would, and every partial state is one protobuf_c_message_free_unpacked can
 * free (an array's count only covers entries already stored). The few places the JSON form
 * departs from the proto are handled around that walk, in one place each: enum short names
 * (ct_msg; Genealogy.relation's, whose 0 is a real value, here), time aliases (key without "_us"
 * takes an RFC 3339 string), the flattened header, and Parameter's has_setpoint (implied by the
 * presence of "setpoint").
 *
 * Only the field types the cellthread protos use are supported (string, int64, int32, uint32,
 * double, bool, enum, message; singular proto3 or repeated); anything else is reported, not
 * guessed. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ct_error.h"
#include "ct_time.h"
#include "ct_json.h"
#include "ct_msg.h"

#define PATH_LEN      192
#define KEY_SHOWN     48 /* longest key or value copied into a path or reason */
#define ALIAS_SUFFIX  "_us"
#define MAX_FIELDS    64 /* fields per message the seen-set can track */
#define ENUM_LIST_LEN 256

/* A decode in progress: the key path of the value being decoded, and where errors go. */
struct decoder {
	char path[PATH_LEN];
	size_t len; /* strlen(path) */
	char *err;
	size_t err_len;
};

static int decode_message(struct decoder *d, json_t *obj, ProtobufCMessage *msg);

/* Copies at most KEY_SHOWN characters of untrusted text into dst (cap bytes, cap > 4), with
 * anything but printable ASCII as '?' and "..." when cut: reasons stay short, printable and
 * valid UTF-8 whatever the sender put in a key. */
static void copy_shown(char *dst, size_t cap, const char *src)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i < KEY_SHOWN && i + 4 < cap; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	if (src[i] != '\0') {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
}

/* Appends ".key" (or "key" at the top) to the path; returns the length to restore. */
static size_t path_push_key(struct decoder *d, const char *key)
{
	size_t old = d->len;
	char shown[KEY_SHOWN + 4];

	copy_shown(shown, sizeof(shown), key);
	snprintf(d->path + d->len, sizeof(d->path) - d->len, "%s%s", d->len > 0 ? "." : "", shown);
	d->len += strlen(d->path + d->len);
	return old;
}

/* Appends "[index]" to the path; returns the length to restore. */
static size_t path_push_index(struct decoder *d, size_t index)
{
	size_t old = d->len;

	snprintf(d->path + d->len, sizeof(d->path) - d->len, "[%zu]", index);
	d->len += strlen(d->path + d->len);
	return old;
}

static void path_pop(struct decoder *d, size_t len)
{
	d->len = len;
	d->path[len] = '\0';
}

static int decode_fail(struct decoder *d, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Reports "path: what" as CT_ERR_DECODE. */
static int decode_fail(struct decoder *d, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return ct_set_error(d->err, d->err_len, CT_ERR_DECODE, "%s%s%s", d->path,
	                    d->len > 0 ? ": " : "", what);
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "an unknown JSON type";
}

static size_t field_index(const ProtobufCMessageDescriptor *desc, const ProtobufCFieldDescriptor *f)
{
	return (size_t)(f - desc->fields);
}

/* The field a key names: its proto name, or for an int64 time "x_at_us" the alias "x_at"
 * (then *ret_alias is true). NULL when the message has no such field. */
static const ProtobufCFieldDescriptor *field_for_key(const ProtobufCMessageDescriptor *desc,
                                                     const char *key, bool *ret_alias)
{
	const ProtobufCFieldDescriptor *f;
	char name[80];
	size_t len = strlen(key);

	f = protobuf_c_message_descriptor_get_field_by_name(desc, key);
	if (f != NULL) {
		*ret_alias = false;
		return f;
	}
	if (len + sizeof(ALIAS_SUFFIX) > sizeof(name))
		return NULL;
	memcpy(name, key, len);
	memcpy(name + len, ALIAS_SUFFIX, sizeof(ALIAS_SUFFIX));
	f = protobuf_c_message_descriptor_get_field_by_name(desc, name);
	if (f == NULL || f->type != PROTOBUF_C_TYPE_INT64 || f->label == PROTOBUF_C_LABEL_REPEATED)
		return NULL;
	*ret_alias = true;
	return f;
}

/* Genealogy.relation: its names are the JSON form's alone (the enum's 0 is ASSEMBLY, a real
 * value, where ct_msg's enums keep 0 for "unspecified"), so they live here with the mapping. */
static const char *const relation_names[] = {"assembly", "rework", "disassembly"};
#define N_RELATIONS (sizeof(relation_names) / sizeof(relation_names[0]))

static int decode_relation(struct decoder *d, json_t *v, int *slot)
{
	char shown[KEY_SHOWN + 4];

	if (!json_is_string(v))
		return decode_fail(d, "expected a string, got %s", json_type_name(v));
	for (size_t i = 0; i < N_RELATIONS; i++) {
		if (strcmp(json_string_value(v), relation_names[i]) == 0) {
			*slot = (int)i;
			return CT_OK;
		}
	}
	copy_shown(shown, sizeof(shown), json_string_value(v));
	return decode_fail(d, "unknown value \"%s\" (expected one of assembly rework disassembly)",
	                   shown);
}

/* Decodes one value of field f's type into slot (the field member, or an array element);
 * alias means an int64 time given as RFC 3339 text. Singular strings and messages are only
 * stored once complete, except that a submessage is stored before it is filled so a failure
 * inside it is freed with the parent. */
static int decode_value(struct decoder *d, json_t *v, const ProtobufCFieldDescriptor *f, void *slot,
                        bool alias)
{
	const ProtobufCEnumDescriptor *ed;
	char list[ENUM_LIST_LEN], shown[KEY_SHOWN + 4];
	json_int_t i;
	int64_t us;
	int e;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		char *s;

		if (!json_is_string(v))
			return decode_fail(d, "expected a string, got %s", json_type_name(v));
		/* A singular empty string stays the shared default; free_unpacked frees every
		 * entry of a repeated string field, so those are always allocated. */
		if (json_string_length(v) == 0 && f->label != PROTOBUF_C_LABEL_REPEATED) {
			*(char **)slot = (char *)protobuf_c_empty_string;
			return CT_OK;
		}
		if ((s = strdup(json_string_value(v))) == NULL)
			return CT_ERR_NOMEM;
		*(char **)slot = s;
		return CT_OK;
	}
	case PROTOBUF_C_TYPE_INT64:
		if (alias) {
			if (!json_is_string(v))
				return decode_fail(d, "expected an RFC 3339 time string, got %s",
				                   json_type_name(v));
			if (ct_time_parse_us(json_string_value(v), &us) != CT_OK) {
				copy_shown(shown, sizeof(shown), json_string_value(v));
				return decode_fail(d, "not an RFC 3339 time: \"%s\"", shown);
			}
			*(int64_t *)slot = us;
			return CT_OK;
		}
		if (!json_is_integer(v))
			return decode_fail(d, "expected an integer, got %s", json_type_name(v));
		*(int64_t *)slot = (int64_t)json_integer_value(v);
		return CT_OK;
	case PROTOBUF_C_TYPE_INT32:
		if (!json_is_integer(v))
			return decode_fail(d, "expected an integer, got %s", json_type_name(v));
		i = json_integer_value(v);
		if (i < INT32_MIN || i > INT32_MAX)
			return decode_fail(
			        d, "%" JSON_INTEGER_FORMAT " out of range %" PRId32 "..%" PRId32, i,
			        INT32_MIN, INT32_MAX);
		*(int32_t *)slot = (int32_t)i;
		return CT_OK;
	case PROTOBUF_C_TYPE_UINT32:
		if (!json_is_integer(v))
			return decode_fail(d, "expected an integer, got %s", json_type_name(v));
		i = json_integer_value(v);
		if (i < 0 || i > (json_int_t)UINT32_MAX)
			return decode_fail(d, "%" JSON_INTEGER_FORMAT " out of range 0..%" PRIu32,
			                   i, UINT32_MAX);
		*(uint32_t *)slot = (uint32_t)i;
		return CT_OK;
	case PROTOBUF_C_TYPE_DOUBLE:
		if (!json_is_number(v))
			return decode_fail(d, "expected a number, got %s", json_type_name(v));
		*(double *)slot = json_number_value(v);
		return CT_OK;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			return decode_fail(d, "expected true or false, got %s", json_type_name(v));
		*(protobuf_c_boolean *)slot = json_is_true(v);
		return CT_OK;
	case PROTOBUF_C_TYPE_ENUM:
		ed = f->descriptor;
		if (ed == &cellthread__v1__genealogy_relation__descriptor)
			return decode_relation(d, v, (int *)slot);
		if (!ct_enum_has_short_names(ed))
			return decode_fail(d, "enum %s has no JSON names", ed->name);
		if (!json_is_string(v))
			return decode_fail(d, "expected a string, got %s", json_type_name(v));
		if (ct_enum_from_short_name(ed, json_string_value(v), &e) != CT_OK) {
			copy_shown(shown, sizeof(shown), json_string_value(v));
			ct_enum_short_name_list(ed, list, sizeof(list));
			return decode_fail(d, "unknown value \"%s\" (expected one of %s)", shown,
			                   list);
		}
		*(int *)slot = e;
		return CT_OK;
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessageDescriptor *sd = f->descriptor;
		ProtobufCMessage *sub;

		if (!json_is_object(v))
			return decode_fail(d, "expected an object, got %s", json_type_name(v));
		if ((sub = malloc(sd->sizeof_message)) == NULL)
			return CT_ERR_NOMEM;
		sd->message_init(sub);
		*(ProtobufCMessage **)slot = sub;
		return decode_message(d, v, sub);
	}
	default:
		return decode_fail(d, "field type %d not supported in JSON", (int)f->type);
	}
}

static size_t element_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
		return sizeof(int64_t);
	case PROTOBUF_C_TYPE_INT32:
		return sizeof(int32_t);
	case PROTOBUF_C_TYPE_UINT32:
		return sizeof(uint32_t);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default:
		return 0;
	}
}

/* Decodes v into field f of msg. A repeated field's array is attached first with a count of
 * zero, and the count grows as entries are stored, so msg is always freeable. */
static int decode_field(struct decoder *d, json_t *v, ProtobufCMessage *msg,
                        const ProtobufCFieldDescriptor *f, bool alias)
{
	void *member = (char *)msg + f->offset;
	size_t *count, n, i, size, mark;
	char *array;
	int rc;

	if (f->label != PROTOBUF_C_LABEL_REPEATED && f->label != PROTOBUF_C_LABEL_NONE)
		return decode_fail(d, "field label %d not supported in JSON", (int)f->label);
	if (f->label == PROTOBUF_C_LABEL_NONE)
		return decode_value(d, v, f, member, alias);
	if (!json_is_array(v))
		return decode_fail(d, "expected an array, got %s", json_type_name(v));
	n = json_array_size(v);
	size = element_size(f);
	if (n == 0)
		return CT_OK;
	if (size == 0)
		return decode_fail(d, "field type %d not supported in JSON", (int)f->type);
	if ((array = calloc(n, size)) == NULL)
		return CT_ERR_NOMEM;
	count = (size_t *)(void *)((char *)msg + f->quantifier_offset);
	*(void **)member = array;
	*count = 0;
	for (i = 0; i < n; i++) {
		mark = path_push_index(d, i);
		rc = decode_value(d, json_array_get(v, i), f, array + i * size, false);
		/* A submessage is attached even when filling it failed; count it to free it. */
		if (rc == CT_OK || (f->type == PROTOBUF_C_TYPE_MESSAGE &&
		                    *(ProtobufCMessage **)(void *)(array + i * size) != NULL))
			(*count)++;
		if (rc != CT_OK)
			return rc;
		path_pop(d, mark);
	}
	return CT_OK;
}

/* Parameter in JSON: "setpoint" present means has_setpoint; an explicit has_setpoint must
 * agree with it. */
static int finish_parameter(struct decoder *d, Cellthread__V1__Parameter *p,
                            const unsigned char *seen)
{
	const ProtobufCMessageDescriptor *desc = &cellthread__v1__parameter__descriptor;
	const ProtobufCFieldDescriptor *sp, *has;
	size_t mark;
	int rc = CT_OK;

	sp = protobuf_c_message_descriptor_get_field_by_name(desc, "setpoint");
	has = protobuf_c_message_descriptor_get_field_by_name(desc, "has_setpoint");
	if (seen[field_index(desc, sp)]) {
		if (seen[field_index(desc, has)] && !p->has_setpoint) {
			mark = path_push_key(d, "has_setpoint");
			rc = decode_fail(d, "false but setpoint is given");
			path_pop(d, mark);
		}
		p->has_setpoint = 1;
	} else if (p->has_setpoint) {
		mark = path_push_key(d, "setpoint");
		rc = decode_fail(d, "missing while has_setpoint is true");
		path_pop(d, mark);
	}
	return rc;
}

/* The Header field of a top-level message (result, telemetry, genealogy, state, ack), whose fields
 * may also be given flattened into the message's own object; NULL for other messages. */
static const ProtobufCFieldDescriptor *header_field(const ProtobufCMessageDescriptor *desc)
{
	const ProtobufCFieldDescriptor *f;

	f = protobuf_c_message_descriptor_get_field_by_name(desc, "header");
	if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE || f->label != PROTOBUF_C_LABEL_NONE ||
	    f->descriptor != &cellthread__v1__header__descriptor)
		return NULL;
	return f;
}

/* Fields already given in one JSON object, to catch one given twice under two names. */
struct object_state {
	unsigned char seen[MAX_FIELDS];      /* fields of the message, by index */
	unsigned char flat_seen[MAX_FIELDS]; /* fields of its header given at the top, by index */
	bool flat_any;                       /* some header field was given at the top */
};

/* Where a key goes. */
struct key_target {
	const ProtobufCFieldDescriptor *field;
	bool alias;     /* an RFC 3339 time for an int64 *_us field */
	bool flattened; /* a field of the message's header, given at the top */
};

/* Finds the field key names in a message of type desc, or in its header when the header may
 * be flattened. Reports unknown keys; changes nothing. */
static int lookup_key(struct decoder *d, const ProtobufCMessageDescriptor *desc, const char *key,
                      struct key_target *ret)
{
	const ProtobufCFieldDescriptor *f, *hf;
	bool alias = false;

	if ((f = field_for_key(desc, key, &alias)) != NULL) {
		ret->field = f;
		ret->alias = alias;
		ret->flattened = false;
		return CT_OK;
	}
	hf = header_field(desc);
	if (hf == NULL || (f = field_for_key(hf->descriptor, key, &alias)) == NULL)
		return decode_fail(d, "unknown key");
	ret->field = f;
	ret->alias = alias;
	ret->flattened = true;
	return CT_OK;
}

/* Records that the key's field is being given and returns the message to fill in
 * *ret_target: msg, or its header (created here on the first flattened key). Reports a field
 * given twice (as a time and its alias, or in "header" and flattened). */
static int claim_key(struct decoder *d, ProtobufCMessage *msg, const char *key,
                     const struct key_target *t, struct object_state *st,
                     ProtobufCMessage **ret_target)
{
	const ProtobufCMessageDescriptor *desc = msg->descriptor;
	const ProtobufCFieldDescriptor *hf = header_field(desc);
	unsigned char *seen = t->flattened ? st->flat_seen : st->seen;
	size_t index =
	        t->flattened ? field_index(hf->descriptor, t->field) : field_index(desc, t->field);
	ProtobufCMessage **header;

	if (seen[index])
		return decode_fail(d, "given twice (as %s and as its %s form)", key,
		                   t->alias ? "_us" : "RFC 3339");
	if ((t->field == hf && st->flat_any) || (t->flattened && st->seen[field_index(desc, hf)]))
		return decode_fail(d, "header fields given both in \"header\" and at the top");
	if (!t->flattened) {
		seen[index] = 1;
		*ret_target = msg;
		return CT_OK;
	}
	header = (ProtobufCMessage **)(void *)((char *)msg + hf->offset);
	if (*header == NULL) {
		const ProtobufCMessageDescriptor *hd = hf->descriptor;

		if ((*header = malloc(hd->sizeof_message)) == NULL)
			return CT_ERR_NOMEM;
		hd->message_init(*header);
	}
	seen[index] = 1;
	st->flat_any = true;
	*ret_target = *header;
	return CT_OK;
}

/* Fills msg (initialised, owned by the caller) from the JSON object obj. null values count as
 * absent (but their keys must still exist). On failure msg holds whatever was decoded so far,
 * all of it freeable. */
static int decode_message(struct decoder *d, json_t *obj, ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *desc = msg->descriptor;
	struct object_state st;
	struct key_target t = {NULL, false, false};
	ProtobufCMessage *target = NULL;
	const char *key;
	json_t *v;
	size_t mark;
	int rc;

	if (desc->n_fields > MAX_FIELDS)
		return decode_fail(d, "message %s has too many fields for JSON", desc->name);
	memset(&st, 0, sizeof(st));
	json_object_foreach(obj, key, v)
	{
		mark = path_push_key(d, key);
		rc = lookup_key(d, desc, key, &t);
		if (rc == CT_OK && !json_is_null(v)) {
			rc = claim_key(d, msg, key, &t, &st, &target);
			if (rc == CT_OK)
				rc = decode_field(d, v, target, t.field, t.alias);
		}
		if (rc != CT_OK)
			return rc;
		path_pop(d, mark);
	}
	if (desc == &cellthread__v1__parameter__descriptor)
		return finish_parameter(d, (Cellthread__V1__Parameter *)msg, st.seen);
	return CT_OK;
}

/* Parses buf into a JSON object. Returns CT_OK with *ret set (json_decref it), or
 * CT_ERR_DECODE with jansson's line, column and text in err. */
static int load_object(const char *buf, size_t len, json_t **ret, char *err, size_t err_len)
{
	json_error_t e;
	json_t *root;

	if (buf == NULL)
		return ct_set_error(err, err_len, CT_ERR_DECODE, "no JSON text");
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
	if (root == NULL)
		return ct_set_error(err, err_len, CT_ERR_DECODE,
		                    "JSON syntax error at line %d, column %d: %s", e.line, e.column,
		                    e.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return ct_set_error(err, err_len, CT_ERR_DECODE, "expected a JSON object");
	}
	*ret = root;
	return CT_OK;
}

static ProtobufCMessage *message_new(const ProtobufCMessageDescriptor *desc)
{
	ProtobufCMessage *msg = malloc(desc->sizeof_message);

	if (msg != NULL)
		desc->message_init(msg);
	return msg;
}

/* Decodes a whole document into a new message of type desc. */
static int decode_document(const char *buf, size_t len, const ProtobufCMessageDescriptor *desc,
                           ProtobufCMessage **ret, char *err, size_t err_len)
{
	struct decoder d = {.len = 0, .err = err, .err_len = err_len};
	ProtobufCMessage *msg = NULL;
	json_t *root = NULL;
	int rc;

	d.path[0] = '\0';
	if ((rc = load_object(buf, len, &root, err, err_len)) != CT_OK)
		goto out;
	if ((msg = message_new(desc)) == NULL) {
		rc = CT_ERR_NOMEM;
		goto out;
	}
	if ((rc = decode_message(&d, root, msg)) != CT_OK)
		goto out;
	*ret = msg;
	msg = NULL;
out:
	if (rc == CT_ERR_NOMEM)
		ct_set_error(err, err_len, rc, "out of memory decoding JSON");
	protobuf_c_message_free_unpacked(msg, NULL);
	json_decref(root);
	return rc;
}

int ct_json_result_batch(const char *buf, size_t len, Cellthread__V1__StationResultBatch **ret,
                         char *err, size_t err_len)
{
	struct decoder d = {.len = 0, .err = err, .err_len = err_len};
	Cellthread__V1__StationResultBatch *batch = NULL;
	Cellthread__V1__StationResult *result;
	json_t *root = NULL, *results;
	const char *key;
	json_t *v;
	int rc;

	d.path[0] = '\0';
	if ((rc = load_object(buf, len, &root, err, err_len)) != CT_OK)
		goto out;
	if ((batch = malloc(sizeof(*batch))) == NULL) {
		rc = CT_ERR_NOMEM;
		goto out;
	}
	cellthread__v1__station_result_batch__init(batch);
	results = json_object_get(root, "results");
	if (results != NULL) {
		/* {"results": [...]}: nothing else may sit beside the array. */
		json_object_foreach(root, key, v)
		{
			if (strcmp(key, "results") != 0) {
				path_push_key(&d, key);
				rc = decode_fail(&d, "unknown key");
				goto out;
			}
		}
		rc = decode_message(&d, root, &batch->base);
		goto out;
	}
	/* A single StationResult: a batch of one, paths relative to the object. */
	if ((batch->results = calloc(1, sizeof(*batch->results))) == NULL) {
		rc = CT_ERR_NOMEM;
		goto out;
	}
	if ((result = malloc(sizeof(*result))) == NULL) {
		rc = CT_ERR_NOMEM;
		goto out;
	}
	cellthread__v1__station_result__init(result);
	batch->results[0] = result;
	batch->n_results = 1;
	rc = decode_message(&d, root, &result->base);
out:
	if (rc == CT_OK) {
		*ret = batch;
		batch = NULL;
	} else if (rc == CT_ERR_NOMEM) {
		ct_set_error(err, err_len, rc, "out of memory decoding JSON");
	}
	if (batch != NULL)
		protobuf_c_message_free_unpacked(&batch->base, NULL);
	json_decref(root);
	return rc;
}

int ct_json_telemetry(const char *buf, size_t len, Cellthread__V1__Telemetry **ret, char *err,
                      size_t err_len)
{
	ProtobufCMessage *msg = NULL;
	int rc;

	rc = decode_document(buf, len, &cellthread__v1__telemetry__descriptor, &msg, err, err_len);
	if (rc == CT_OK)
		*ret = (Cellthread__V1__Telemetry *)msg;
	return rc;
}

int ct_json_genealogy(const char *buf, size_t len, Cellthread__V1__Genealogy **ret, char *err,
                      size_t err_len)
{
	ProtobufCMessage *msg = NULL;
	int rc;

	rc = decode_document(buf, len, &cellthread__v1__genealogy__descriptor, &msg, err, err_len);
	if (rc == CT_OK)
		*ret = (Cellthread__V1__Genealogy *)msg;
	return rc;
}

int ct_json_state(const char *buf, size_t len, Cellthread__V1__StationState **ret, char *err,
                  size_t err_len)
{
	ProtobufCMessage *msg = NULL;
	int rc;

	rc = decode_document(buf, len, &cellthread__v1__station_state__descriptor, &msg, err,
	                     err_len);
	if (rc == CT_OK)
		*ret = (Cellthread__V1__StationState *)msg;
	return rc;
}

int ct_json_ack(const char *buf, size_t len, Cellthread__V1__CommandAck **ret, char *err,
                size_t err_len)
{
	ProtobufCMessage *msg = NULL;
	int rc;

	rc = decode_document(buf, len, &cellthread__v1__command_ack__descriptor, &msg, err,
	                     err_len);
	if (rc == CT_OK)
		*ret = (Cellthread__V1__CommandAck *)msg;
	return rc;
}

static json_t *encode_message(const ProtobufCMessage *msg, int *digits);

/* The fewest significant digits, 15 to 17, that print v so it reads back as the same double:
 * 4.81 stays "4.81" instead of "4.8099999999999996". */
static int digits_needed(double v)
{
	char buf[40];
	int p;

	for (p = 15; p < 17; p++) {
		snprintf(buf, sizeof(buf), "%.*g", p, v);
		if (strtod(buf, NULL) == v)
			return p;
	}
	return 17;
}

/* One value of field f's type at slot; NULL on failure (allocation, NaN, bad UTF-8).
 * *digits grows to the precision the doubles seen so far need. */
static json_t *encode_value(const ProtobufCFieldDescriptor *f, const void *slot, int *digits)
{
	const char *name;
	double v;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return json_string(*(char *const *)slot);
	case PROTOBUF_C_TYPE_INT64:
		return json_integer((json_int_t) * (const int64_t *)slot);
	case PROTOBUF_C_TYPE_INT32:
		return json_integer((json_int_t) * (const int32_t *)slot);
	case PROTOBUF_C_TYPE_UINT32:
		return json_integer((json_int_t) * (const uint32_t *)slot);
	case PROTOBUF_C_TYPE_DOUBLE:
		v = *(const double *)slot;
		if (!isfinite(v))
			return NULL; /* JSON has no NaN or infinity */
		if (*digits < 17 && digits_needed(v) > *digits)
			*digits = digits_needed(v);
		return json_real(v);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)slot);
	case PROTOBUF_C_TYPE_ENUM:
		/* A value the tables don't name (newer sender) stays visible as its number. */
		if (f->descriptor == &cellthread__v1__genealogy_relation__descriptor)
			name = *(const int *)slot >= 0 && (size_t) * (const int *)slot < N_RELATIONS
			               ? relation_names[*(const int *)slot]
			               : NULL;
		else
			name = ct_enum_short_name(f->descriptor, *(const int *)slot);
		return name != NULL ? json_string(name) : json_integer(*(const int *)slot);
	case PROTOBUF_C_TYPE_MESSAGE:
		return encode_message(*(ProtobufCMessage *const *)slot, digits);
	default:
		return NULL;
	}
}

/* Whether a singular field is left out of the JSON form: defaults a decoder restores anyway,
 * and Parameter's has_setpoint (implied by "setpoint"). */
static bool omitted(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                    const void *slot)
{
	if (msg->descriptor == &cellthread__v1__parameter__descriptor) {
		if (strcmp(f->name, "has_setpoint") == 0)
			return true;
		if (strcmp(f->name, "setpoint") == 0)
			return !((const Cellthread__V1__Parameter *)msg)->has_setpoint;
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return (*(char *const *)slot)[0] == '\0';
	case PROTOBUF_C_TYPE_ENUM:
		return *(const int *)slot == 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)slot == NULL;
	default:
		return false;
	}
}

/* The JSON object for msg, fields in proto order; NULL on failure. */
static json_t *encode_message(const ProtobufCMessage *msg, int *digits)
{
	const ProtobufCMessageDescriptor *desc = msg->descriptor;
	json_t *obj = NULL, *v = NULL, *item;
	const char *slot;
	size_t i, k, n;

	if ((obj = json_object()) == NULL)
		goto fail;
	for (i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];

		slot = (const char *)msg + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)(const void *)((const char *)msg +
			                                    f->quantifier_offset);
			if (n == 0)
				continue;
			if ((v = json_array()) == NULL)
				goto fail;
			for (k = 0; k < n; k++) {
				item = encode_value(f,
				                    *(const char *const *)(const void *)slot +
				                            k * element_size(f),
				                    digits);
				if (item == NULL || json_array_append_new(v, item) != 0)
					goto fail;
			}
		} else {
			if (omitted(msg, f, slot))
				continue;
			if ((v = encode_value(f, slot, digits)) == NULL)
				goto fail;
		}
		if (json_object_set_new(obj, f->name, v) != 0) {
			v = NULL; /* set_new consumed it */
			goto fail;
		}
		v = NULL;
	}
	return obj;
fail:
	json_decref(v);
	json_decref(obj);
	return NULL;
}

/* Encodes msg and dumps it compactly, doubles with as many digits as the most demanding one
 * needs to read back exactly (jansson's precision is per document). An empty batch still
 * says "results", so a batch is always in the batch form. */
static char *encode_document(const ProtobufCMessage *msg)
{
	json_t *root, *results;
	char *text = NULL;
	int digits = 1;

	if ((root = encode_message(msg, &digits)) == NULL)
		return NULL;
	if (msg->descriptor == &cellthread__v1__station_result_batch__descriptor &&
	    json_object_get(root, "results") == NULL) {
		if ((results = json_array()) == NULL ||
		    json_object_set_new(root, "results", results) != 0)
			goto out;
	}
	text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(digits));
out:
	json_decref(root);
	return text;
}

char *ct_json_encode_result_batch(const Cellthread__V1__StationResultBatch *batch)
{
	return encode_document(&batch->base);
}

char *ct_json_encode_telemetry(const Cellthread__V1__Telemetry *msg)
{
	return encode_document(&msg->base);
}

char *ct_json_encode_genealogy(const Cellthread__V1__Genealogy *msg)
{
	return encode_document(&msg->base);
}

char *ct_json_encode_state(const Cellthread__V1__StationState *msg)
{
	return encode_document(&msg->base);
}

char *ct_json_encode_ack(const Cellthread__V1__CommandAck *msg)
{
	return encode_document(&msg->base);
}
