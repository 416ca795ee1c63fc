/* ct_topic: parsing and building v1 topics. Parsers never allocate; every level that is
 * an ID must pass ct_id_is_valid, so a topic level can never smuggle '/', '+' or '#'. */
#include "ct_topic.h"

#include <stdio.h>
#include <string.h>

#include "ct_error.h"

static const char *const kind_names[] = {
        [CT_KIND_UNKNOWN] = "unknown",
        [CT_KIND_RESULT] = "result",
        [CT_KIND_TELEMETRY] = "telemetry",
        [CT_KIND_GENEALOGY] = "genealogy",
        [CT_KIND_VERDICT] = "verdict",
        [CT_KIND_COMMAND] = "command",
        [CT_KIND_ALERT] = "alert",
        [CT_KIND_STATE] = "state",
        [CT_KIND_ACK] = "ack",
};

const char *ct_topic_kind_name(enum ct_topic_kind kind)
{
	if ((size_t)kind >= sizeof(kind_names) / sizeof(kind_names[0]))
		return "unknown";
	return kind_names[kind];
}

enum ct_topic_kind ct_topic_kind_from_name(const char *name)
{
	for (size_t i = 1; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
		if (strcmp(kind_names[i], name) == 0)
			return (enum ct_topic_kind)i;
	return CT_KIND_UNKNOWN;
}

bool ct_topic_has_prefix(const char *topic, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncmp(topic, prefix, n) == 0 && (topic[n] == '/' || topic[n] == '\0');
}

/* Copies the next level of *p into out (size CT_ID_MAX + 1) and advances past the '/'. */
static int next_level(const char **p, char *out)
{
	const char *end = strchr(*p, '/');
	size_t n = end ? (size_t)(end - *p) : strlen(*p);
	if (n == 0 || n > CT_ID_MAX)
		return CT_ERR_INVALID;
	memcpy(out, *p, n);
	out[n] = '\0';
	*p += n + (end ? 1 : 0);
	return CT_OK;
}

int ct_topic_parse(const char *topic, struct ct_topic *ret, char *err, size_t err_len)
{
	struct ct_topic t;
	char level[CT_ID_MAX + 1];
	const char *p = topic;

	memset(&t, 0, sizeof(t));
	if (strlen(topic) >= CT_TOPIC_MAX)
		return ct_set_error(err, err_len, CT_ERR_INVALID, "topic longer than %d bytes",
		                    CT_TOPIC_MAX - 1);
	/* The prefix with its '/': "ct/v1/edge" alone has no levels to parse (and skipping a
	 * '/' it does not have would read past its end). */
	if (strncmp(topic, CT_TOPIC_ROOT "/edge/", strlen(CT_TOPIC_ROOT "/edge/")) == 0) {
		t.is_edge = true;
		p += strlen(CT_TOPIC_ROOT "/edge/");
	} else if (strncmp(topic, CT_TOPIC_ROOT "/plant/", strlen(CT_TOPIC_ROOT "/plant/")) == 0) {
		p += strlen(CT_TOPIC_ROOT "/plant/");
	} else {
		return ct_set_error(err, err_len, CT_ERR_INVALID,
		                    "topic is not under ct/v1/edge or ct/v1/plant");
	}
	if (next_level(&p, t.site) || !ct_id_is_valid(t.site))
		return ct_set_error(err, err_len, CT_ERR_INVALID, "topic site level is not an ID");
	if (next_level(&p, t.line) || !ct_id_is_valid(t.line))
		return ct_set_error(err, err_len, CT_ERR_INVALID, "topic line level is not an ID");
	if (next_level(&p, t.station) || !ct_id_is_valid(t.station))
		return ct_set_error(err, err_len, CT_ERR_INVALID,
		                    "topic station level is not an ID");
	if (next_level(&p, level))
		return ct_set_error(err, err_len, CT_ERR_INVALID, "topic has no kind level");
	t.kind = ct_topic_kind_from_name(level);
	if (t.kind == CT_KIND_UNKNOWN)
		return ct_set_error(err, err_len, CT_ERR_INVALID, "unknown message kind '%s'",
		                    level);
	if (t.is_edge) {
		if (next_level(&p, level))
			return ct_set_error(err, err_len, CT_ERR_INVALID,
			                    "edge topic has no encoding level (pb or json)");
		if (strcmp(level, "pb") == 0)
			t.encoding = CT_ENC_PROTOBUF;
		else if (strcmp(level, "json") == 0)
			t.encoding = CT_ENC_JSON;
		else
			return ct_set_error(err, err_len, CT_ERR_INVALID,
			                    "unknown encoding '%s' (pb or json)", level);
	}
	if (*p != '\0')
		return ct_set_error(err, err_len, CT_ERR_INVALID, "topic has extra levels");
	if (p[-1] == '/')
		return ct_set_error(err, err_len, CT_ERR_INVALID, "topic ends with '/'");
	*ret = t;
	return CT_OK;
}

int ct_topic_plant_name(char *buf, size_t len, const char *site, const char *line,
                        const char *station, const char *name)
{
	int n;

	if (!ct_id_is_valid(name))
		return CT_ERR_INVALID;
	n = snprintf(buf, len, CT_TOPIC_ROOT "/plant/%s/%s/%s/%s", site, line, station, name);
	return n < 0 || (size_t)n >= len ? CT_ERR_TOO_BIG : CT_OK;
}

int ct_topic_plant(char *buf, size_t len, const char *site, const char *line, const char *station,
                   enum ct_topic_kind kind)
{
	return ct_topic_plant_name(buf, len, site, line, station, ct_topic_kind_name(kind));
}

int ct_topic_edge(char *buf, size_t len, const char *site, const char *line, const char *station,
                  enum ct_topic_kind kind, enum ct_topic_encoding enc)
{
	int n = snprintf(buf, len, CT_TOPIC_ROOT "/edge/%s/%s/%s/%s/%s", site, line, station,
	                 ct_topic_kind_name(kind), enc == CT_ENC_JSON ? "json" : "pb");
	return n < 0 || (size_t)n >= len ? CT_ERR_TOO_BIG : CT_OK;
}

bool ct_topic_is_reply(const char *topic)
{
	static const char prefix[] = CT_TOPIC_ROOT "/sys/reply/";
	char level[CT_ID_MAX + 1];
	const char *p;
	unsigned levels = 0;

	if (topic == NULL || strncmp(topic, prefix, sizeof(prefix) - 1) != 0 ||
	    strlen(topic) >= CT_TOPIC_MAX)
		return false;
	p = topic + sizeof(prefix) - 1;
	while (*p != '\0') {
		if (++levels > CT_TOPIC_REPLY_LEVELS || next_level(&p, level) != CT_OK ||
		    !ct_id_is_valid(level))
			return false;
		if (*p == '\0' && p[-1] == '/')
			return false; /* a trailing slash: an empty last level */
	}
	return levels > 0;
}
