/* guard_policy: the broker guard's decisions (see guard_policy.h).
 *
 * Topic filters are compared level by level; nothing here allocates except
 * guard_policy_init, so the plugin's per-message path costs a few string compares.
 */
#include "guard_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The next level of a topic or filter: its start and length; *rest moves past it. Returns false
 * when there is no level left. */
static bool next_level(const char **rest, const char **ret_level, size_t *ret_len)
{
	const char *s = *rest, *slash;

	if (s == NULL)
		return false;
	slash = strchr(s, '/');
	*ret_level = s;
	if (slash == NULL) {
		*ret_len = strlen(s);
		*rest = NULL;
	} else {
		*ret_len = (size_t)(slash - s);
		*rest = slash + 1;
	}
	return true;
}

static bool level_is(const char *level, size_t len, const char *text)
{
	return len == strlen(text) && memcmp(level, text, len) == 0;
}

bool guard_filter_covers(const char *outer, const char *inner, const char *username,
                         const char *client_id)
{
	const char *o = outer, *i = inner, *ol, *il;
	size_t olen, ilen;

	for (;;) {
		bool have_o = next_level(&o, &ol, &olen);
		bool have_i = next_level(&i, &il, &ilen);

		if (!have_o)
			return !have_i;
		if (level_is(ol, olen, "#"))
			return true; /* "a/#" covers "a" and everything below it */
		if (!have_i)
			return false;
		if (level_is(il, ilen, "#"))
			return false;
		if (level_is(ol, olen, "+"))
			continue;
		if (level_is(il, ilen, "+"))
			return false;
		if (level_is(ol, olen, "%c")) {
			if (client_id == NULL || !level_is(il, ilen, client_id))
				return false;
		} else if (level_is(ol, olen, "%u")) {
			if (username == NULL || !level_is(il, ilen, username))
				return false;
		} else if (!(olen == ilen && memcmp(ol, il, olen) == 0)) {
			return false;
		}
	}
}

bool guard_client_id_is_allowed(const char *username, const char *client_id)
{
	size_t n;

	if (username == NULL || client_id == NULL)
		return false;
	n = strlen(username);
	if (n == 0 || strncmp(client_id, username, n) != 0)
		return false;
	if (client_id[n] == '\0')
		return true;
	return (client_id[n] == '-' || client_id[n] == '.') && client_id[n + 1] != '\0';
}

bool guard_is_service_user(const struct guard_policy *policy, const char *username)
{
	const char *s = policy->service_users;
	size_t n;

	if (username == NULL || s == NULL || (n = strlen(username)) == 0)
		return false;
	while (*s != '\0') {
		size_t len = strcspn(s, " ");

		if (len == n && memcmp(s, username, n) == 0)
			return true;
		s += len;
		s += strspn(s, " ");
	}
	return false;
}

bool guard_subscription_is_allowed(const struct guard_policy *policy, const char *username,
                                   const char *client_id, const char *filter, int qos)
{
	if (qos <= 0 || guard_is_service_user(policy, username))
		return true;
	for (char *const *f = policy->queued_filters; *f != NULL; f++) {
		if (guard_filter_covers(*f, filter, username, client_id))
			return true;
	}
	return false;
}

bool guard_retain_is_allowed(const struct guard_policy *policy, const char *topic)
{
	for (char *const *f = policy->retain_filters; *f != NULL; f++) {
		if (guard_filter_covers(*f, topic, NULL, NULL))
			return true;
	}
	return false;
}

/* A filter is valid when '#' is only a whole last level and '+' only a whole level. */
static bool filter_is_valid(const char *filter)
{
	const char *rest = filter, *level;
	size_t len;

	if (*filter == '\0')
		return false;
	while (next_level(&rest, &level, &len)) {
		if (memchr(level, '#', len) != NULL && (len != 1 || rest != NULL))
			return false;
		if (memchr(level, '+', len) != NULL && len != 1)
			return false;
	}
	return true;
}

/* Splits the space-separated `list` into owned, valid filters. */
static int split_filters(const char *what, const char *list, char **filters, char *err,
                         size_t err_len)
{
	size_t n = 0;

	while (list != NULL && *(list += strspn(list, " ")) != '\0') {
		size_t len = strcspn(list, " ");

		if (n == GUARD_MAX_FILTERS) {
			snprintf(err, err_len, "%s: more than %d filters", what, GUARD_MAX_FILTERS);
			return -1;
		}
		filters[n] = strndup(list, len);
		if (filters[n] == NULL) {
			snprintf(err, err_len, "%s: out of memory", what);
			return -1;
		}
		if (!filter_is_valid(filters[n++])) {
			snprintf(err, err_len, "%s: '%.*s' is not a valid topic filter", what,
			         (int)len, list);
			return -1;
		}
		list += len;
	}
	return 0;
}

int guard_policy_init(struct guard_policy *policy, const char *service_users,
                      const char *retain_filters, const char *queued_filters, char *err,
                      size_t err_len)
{
	memset(policy, 0, sizeof(*policy));
	policy->service_users = strdup(service_users != NULL ? service_users : "");
	if (policy->service_users == NULL) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	if (split_filters("retain_topics", retain_filters, policy->retain_filters, err, err_len) !=
	            0 ||
	    split_filters("queued_topics", queued_filters, policy->queued_filters, err, err_len) !=
	            0) {
		guard_policy_cleanup(policy);
		return -1;
	}
	return 0;
}

void guard_policy_cleanup(struct guard_policy *policy)
{
	free(policy->service_users);
	for (size_t i = 0; i < GUARD_MAX_FILTERS; i++) {
		free(policy->retain_filters[i]);
		free(policy->queued_filters[i]);
	}
	memset(policy, 0, sizeof(*policy));
}
