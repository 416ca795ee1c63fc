/* Fuzz target: the reply-topic check (ct_topic_is_reply), which decides where traveler may
 * publish a trace response. Its answer is compared with an independent reading of the rule:
 * ct/v1/sys/reply/ and 1 to CT_TOPIC_REPLY_LEVELS levels, each an ID, shorter than
 * CT_TOPIC_MAX. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ct_ids.h"
#include "ct_topic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool expect_reply(const char *topic)
{
	static const char prefix[] = CT_TOPIC_ROOT "/sys/reply/";
	size_t len = strlen(topic), n = sizeof(prefix) - 1, levels = 0;
	const char *p;

	if (len >= CT_TOPIC_MAX || len <= n || memcmp(topic, prefix, n) != 0)
		return false;
	p = topic + n;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t level_len = slash != NULL ? (size_t)(slash - p) : strlen(p);
		char level[CT_ID_MAX + 1];

		if (level_len == 0 || level_len > CT_ID_MAX || ++levels > CT_TOPIC_REPLY_LEVELS)
			return false;
		memcpy(level, p, level_len);
		level[level_len] = '\0';
		if (!ct_id_is_valid(level))
			return false;
		if (slash == NULL)
			return true;
		p = slash + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *topic;

	/* On the heap, exactly as long as the input: a read past its end is caught by ASan. */
	if (size >= CT_TOPIC_MAX * 2 || (topic = malloc(size + 1)) == NULL)
		return 0;
	memcpy(topic, data, size);
	topic[size] = '\0';
	if (ct_topic_is_reply(topic) != expect_reply(topic))
		abort();
	free(topic);
	return 0;
}
