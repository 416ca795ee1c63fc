/* ct_pb: protobuf-c encode/decode with size limits, and message headers.
 *
 * protobuf-c's __unpack returns a heap message that must be freed with its __free_unpacked
 * (here: ct_pb_free). ct_pb_unpack refuses payloads over max_len before parsing. */
#ifndef CT_PB_H
#define CT_PB_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "cellthread/v1/control.pb-c.h"
#include "cellthread/v1/oee.pb-c.h"
#include "cellthread/v1/thread.pb-c.h"

/* Decodes buf into a new message of type desc. Returns CT_OK, CT_ERR_TOO_BIG or
 * CT_ERR_DECODE. *ret is set only on success; free it with ct_pb_free. */
int ct_pb_unpack(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
                 size_t max_len, ProtobufCMessage **ret);
void ct_pb_free(ProtobufCMessage *msg);
/* Encodes msg into a new heap buffer (free()). Returns CT_OK or CT_ERR_NOMEM. */
int ct_pb_pack(const ProtobufCMessage *msg, uint8_t **ret_buf, size_t *ret_len);
/* Fills header with a new event ID (into id_buf, >= 33 bytes), producer and now.
 * header points at id_buf and producer; both must outlive it. */
void ct_pb_header_fill(Cellthread__V1__Header *header, char *id_buf, size_t id_len,
                       const char *producer);

#endif
