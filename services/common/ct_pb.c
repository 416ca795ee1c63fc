/* ct_pb: protobuf-c wrappers with size limits. */
#include "ct_pb.h"

#include <stdlib.h>

#include "ct_error.h"
#include "ct_ids.h"
#include "ct_time.h"

int ct_pb_unpack(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
                 size_t max_len, ProtobufCMessage **ret)
{
	ProtobufCMessage *msg;

	if (len > max_len)
		return CT_ERR_TOO_BIG;
	msg = protobuf_c_message_unpack(desc, NULL, len, buf);
	if (msg == NULL)
		return CT_ERR_DECODE;
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
