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
	char rebuilt[CT_TOPIC_MAX];
	struct ct_topic t;
	/* On the heap, exactly as long as the input, as topics come from the spool: a read past
	 * its end is caught by ASan. */
	char *topic;

	if (size >= CT_TOPIC_MAX * 2 || (topic = malloc(size + 1)) == NULL)
		return 0;
	memcpy(topic, data, size);
	topic[size] = '\0';
	if (ct_topic_parse(topic, &t, NULL, 0) == CT_OK) {
		if (t.is_edge)
			ct_topic_edge(rebuilt, sizeof(rebuilt), t.site, t.line, t.station, t.kind,
			              t.encoding);
		else
			ct_topic_plant(rebuilt, sizeof(rebuilt), t.site, t.line, t.station, t.kind);
		if (strcmp(rebuilt, topic) != 0)
			abort();
	}
	free(topic);
	return 0;
}
