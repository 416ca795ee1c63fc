/* Fuzz target: the broker guard's decisions (services/broker-guard/guard_policy.c), which see
 * client IDs, user names and subscription filters straight from CONNECT and SUBSCRIBE
 * packets. The input is split at NUL bytes into a user name, a client ID, a filter and a
 * topic. Checked: a filter always covers itself (unless it holds a "%c" / "%u" level, which
 * stands for an ID), "#" covers everything, no valid filter but one ending in "#" covers
 * "#", and a client ID is allowed exactly when it is the user name or the name plus '-' or
 * '.' and more. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard_policy.h"

#define FUZZ_MAX_INPUT 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next NUL-terminated part of the input (an owned copy), or "" at the end. */
static char *next_part(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nul = memchr(*p, 0, (size_t)(end - *p));
	size_t n = nul != NULL ? (size_t)(nul - *p) : (size_t)(end - *p);
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memcpy(s, *p, n);
	s[n] = '\0';
	*p = nul != NULL ? nul + 1 : end;
	return s;
}

/* A valid MQTT filter: '#' only as the whole last level, '+' only as a whole level. The
 * broker refuses other filters before it asks the guard, so properties that assume a
 * filter's shape are checked on valid ones only. */
static bool filter_is_valid(const char *f)
{
	for (const char *level = f;;) {
		const char *slash = strchr(level, '/');
		size_t n = slash != NULL ? (size_t)(slash - level) : strlen(level);

		if (memchr(level, '#', n) != NULL && (n != 1 || slash != NULL))
			return false;
		if (memchr(level, '+', n) != NULL && n != 1)
			return false;
		if (slash == NULL)
			return true;
		level = slash + 1;
	}
}

/* The rule, read independently of the implementation. */
static bool expected_id_allowed(const char *user, const char *id)
{
	size_t n = strlen(user);

	if (n == 0 || strncmp(user, id, n) != 0)
		return false;
	return id[n] == '\0' || ((id[n] == '-' || id[n] == '.') && id[n + 1] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct guard_policy policy;
	char *user, *id, *filter, *topic, err[128];

	if (size > FUZZ_MAX_INPUT)
		return 0;
	user = next_part(&p, end);
	id = next_part(&p, end);
	filter = next_part(&p, end);
	topic = next_part(&p, end);

	if (guard_client_id_is_allowed(user, id) != expected_id_allowed(user, id))
		abort();
	if (strstr(filter, "%c") == NULL && strstr(filter, "%u") == NULL &&
	    !guard_filter_covers(filter, filter, user, id))
		abort();
	if (!guard_filter_covers("#", filter, user, id))
		abort();
	if (filter_is_valid(filter) && guard_filter_covers(filter, "#", user, id) &&
	    !(strcmp(filter, "#") == 0 ||
	      (strlen(filter) >= 2 && strcmp(filter + strlen(filter) - 2, "/#") == 0)))
		abort();
	(void)guard_filter_covers(filter, topic, user, id);
	(void)guard_filter_covers(topic, filter, user, id);

	/* The policy built from the input's filter as both option lists. */
	if (guard_policy_init(&policy, user, filter, filter, err, sizeof(err)) == 0) {
		(void)guard_subscription_is_allowed(&policy, user, id, topic, 1);
		(void)guard_retain_is_allowed(&policy, topic);
		if (!guard_subscription_is_allowed(&policy, "not-a-service", id, topic, 0))
			abort(); /* QoS 0 is always allowed */
		guard_policy_cleanup(&policy);
	} else if (err[0] == '\0') {
		abort();
	}
	free(user);
	free(id);
	free(filter);
	free(topic);
	return 0;
}
