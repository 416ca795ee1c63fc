/* ct_pb: protobuf-c wrappers with size limits. */
#include "ct_pb.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_ids.h"
#include "ct_time.h"

/* True when msg or a message inside it kept an unknown field with field number 0. protobuf-c
 * accepts such a field when its tag is written as a longer varint (80 00), keeps it, and packs
 * it as the one byte 00, which every decoder refuses: a message a service accepted and passed
 * on would be refused downstream. No valid encoder writes field number 0. */
static bool has_field_zero(const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *desc = msg->descriptor;

	for (unsigned i = 0; i < msg->n_unknown_fields; i++)
		if (msg->unknown_fields[i].tag == 0)
			return true;
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		const char *member = (const char *)msg + f->offset;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		/* The members are read with memcpy: the descriptor gives byte offsets, and a cast
		 * from char * to a wider type is an alignment claim the compiler cannot check. */
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			ProtobufCMessage **items;
			size_t n;

			memcpy(&n, (const char *)msg + f->quantifier_offset, sizeof(n));
			memcpy(&items, member, sizeof(items));
			for (size_t k = 0; k < n; k++)
				if (items[k] != NULL && has_field_zero(items[k]))
					return true;
		} else {
			const ProtobufCMessage *sub;

			memcpy(&sub, member, sizeof(sub));
			if (sub != NULL && has_field_zero(sub))
				return true;
		}
	}
	return false;
}

int ct_pb_unpack(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
                 size_t max_len, ProtobufCMessage **ret)
{
	ProtobufCMessage *msg;

	if (len > max_len)
		return CT_ERR_TOO_BIG;
	msg = protobuf_c_message_unpack(desc, NULL, len, buf);
	if (msg == NULL)
		return CT_ERR_DECODE;
	if (has_field_zero(msg)) {
		protobuf_c_message_free_unpacked(msg, NULL);
		return CT_ERR_DECODE;
	}
	*ret = msg;
	return CT_OK;
}

void ct_pb_free(ProtobufCMessage *msg)
{
	if (msg != NULL)
		protobuf_c_message_free_unpacked(msg, NULL);
}

int ct_pb_pack(const ProtobufCMessage *msg, uint8_t **ret_buf, size_t *ret_len)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len ? len : 1);

	if (buf == NULL)
		return CT_ERR_NOMEM;
	protobuf_c_message_pack(msg, buf);
	*ret_buf = buf;
	*ret_len = len;
	return CT_OK;
}

void ct_pb_header_fill(Cellthread__V1__Header *header, char *id_buf, size_t id_len,
                       const char *producer)
{
	ct_event_id_new(id_buf, id_len);
	header->event_id = id_buf;
	header->producer = (char *)producer;
	header->produced_at_us = ct_now_us();
	header->schema_version = 1;
}
