/* Fuzz target: topic parsing. Any string parses or is refused; a parsed topic rebuilds to
 * itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_topic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char topic[CT_TOPIC_MAX * 2], rebuilt[CT_TOPIC_MAX];
	struct ct_topic t;

	if (size >= sizeof(topic))
		return 0;
	memcpy(topic, data, size);
	topic[size] = '\0';
	if (ct_topic_parse(topic, &t, NULL, 0) != CT_OK)
		return 0;
	if (t.is_edge)
		ct_topic_edge(rebuilt, sizeof(rebuilt), t.site, t.line, t.station, t.kind,
		              t.encoding);
	else
		ct_topic_plant(rebuilt, sizeof(rebuilt), t.site, t.line, t.station, t.kind);
	if (strcmp(rebuilt, topic) != 0)
		abort();
	return 0;
}
