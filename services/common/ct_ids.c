/* ct_ids: ID rules and random event IDs. */
#include "ct_ids.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "ct_time.h"

bool ct_id_is_valid(const char *id)
{
	size_t n = 0;
	if (id == NULL)
		return false;
	for (const char *p = id; *p != '\0'; p++, n++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-';
		if (!ok || n >= CT_ID_MAX)
			return false;
	}
	return n > 0;
}

void ct_event_id_new(char *buf, size_t len)
{
	uint8_t bytes[16];
	size_t got = 0;

	while (got < sizeof(bytes)) {
		ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got < sizeof(bytes)) {
		/* getrandom cannot fail on Linux >= 3.17 once seeded; keep IDs unique anyway. */
		static uint64_t counter;
		uint64_t t = (uint64_t)ct_now_us();
		uint64_t c = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
		memcpy(bytes, &t, 8);
		memcpy(bytes + 8, &c, 8);
	}
	for (size_t i = 0; i < sizeof(bytes) && 2 * i + 2 < len; i++)
		snprintf(buf + 2 * i, 3, "%02x", bytes[i]);
}
