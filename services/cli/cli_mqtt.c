/* cli_mqtt: the CLI's one MQTT client, for requests to services (trace --mqtt, the alert
 * router's actions and subscriptions) and for following a stream (alerts follow).
 *
 * A throwaway client: clean session (so no status and no last will: ct_mqtt.h), client ID
 * "<user>-<pid>" with user the MQTT login (CT_MQTT_USERNAME; "cli" when unset): the broker
 * guard binds client IDs to credentials (the user name, or it and "-..."), so a per-person
 * login works as the shared cli one does. Received messages are spooled into a temporary
 * directory removed at the end. A request names the reply topic
 * ct/v1/sys/reply/{client ID}/..., which the client subscribes to before it sends, so no
 * reply can come before the subscription. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ct_error.h"
#include "ct_pb.h"
#include "ct_time.h"

#define MAX_PAYLOAD (64u << 20)

/* Removes the temporary spool directory (its files, then itself). */
static void remove_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char file[4096];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
		unlink(file);
	}
	closedir(d);
	rmdir(path);
}

void cli_mqtt_close(struct cli_mqtt *c)
{
	ct_spool_batch_cleanup(&c->batch);
	ct_mqtt_free(c->mqtt);
	ct_spool_free(c->spool);
	if (c->have_dir)
		remove_dir(c->dir);
	memset(c, 0, sizeof(*c));
}

int cli_mqtt_open(const struct cli_config *cfg, volatile sig_atomic_t *stop_flag,
                  struct cli_mqtt *c, char *err, size_t err_len)
{
	struct ct_mqtt_options options;
	char instance[32];

	memset(c, 0, sizeof(*c));
	snprintf(c->dir, sizeof(c->dir), "/tmp/cellthread-cli-XXXXXX");
	if (mkdtemp(c->dir) == NULL) {
		snprintf(err, err_len, "cannot create a temporary directory");
		return CT_ERR_IO;
	}
	c->have_dir = true;
	c->spool = ct_spool_open(c->dir, 1 << 20, false, err, err_len);
	if (c->spool == NULL)
		return CT_ERR_IO;
	snprintf(instance, sizeof(instance), "%ld", (long)getpid());
	memset(&options, 0, sizeof(options));
	options.url = cfg->mqtt_url;
	/* The client ID's first part: the login, unless it cannot be a topic level (reply topics
	 * carry the client ID); the broker then refuses "cli-<pid>" for it, and says so. */
	options.service = cfg->mqtt_username != NULL && cfg->mqtt_username[0] != '\0' &&
	                                  strpbrk(cfg->mqtt_username, "/+#") == NULL
	                          ? cfg->mqtt_username
	                          : "cli";
	options.instance = instance;
	options.username = cfg->mqtt_username;
	options.password = cfg->mqtt_password;
	options.ca_file = cfg->mqtt_ca_file;
	options.cert_file = cfg->mqtt_cert_file;
	options.key_file = cfg->mqtt_key_file;
	options.tls_verify = cfg->mqtt_tls_verify;
	options.clean_session = true;
	options.max_inflight = 16;
	options.spool = c->spool;
	options.stop_flag = stop_flag;
	c->mqtt = ct_mqtt_new(&options, err, err_len);
	return c->mqtt != NULL ? CT_OK : CT_ERR_MQTT;
}

int cli_mqtt_connect(struct cli_mqtt *c, const char *filter, int qos, char *err, size_t err_len)
{
	if (ct_mqtt_add_subscription(c->mqtt, filter, qos) != CT_OK) {
		snprintf(err, err_len, "cannot subscribe to %s", filter);
		return CT_ERR_MQTT;
	}
	return ct_mqtt_connect(c->mqtt, CLI_MQTT_TIMEOUT_MS, err, err_len);
}

/* The string field request_id of msg ("" when it has none): replies of every kind carry it. */
static const char *request_id_of(const ProtobufCMessage *msg)
{
	const ProtobufCFieldDescriptor *f =
	        protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, "request_id");
	if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING)
		return "";
	const char *const *value = (const char *const *)((const char *)msg + f->offset);
	return *value != NULL ? *value : "";
}

int cli_mqtt_call(struct cli_mqtt *c, const char *topic, const ProtobufCMessage *request,
                  const ProtobufCMessageDescriptor *reply_desc, const char *request_id,
                  int timeout_ms, volatile sig_atomic_t *stop_flag, ProtobufCMessage **ret,
                  char *err, size_t err_len)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int64_t deadline;

	if (ct_pb_pack(request, &buf, &len) != CT_OK ||
	    ct_mqtt_publish(c->mqtt, topic, buf, len, 1, false, CLI_MQTT_TIMEOUT_MS) != CT_OK) {
		free(buf);
		snprintf(err, err_len, "cannot send the request to %s", topic);
		return CT_ERR_MQTT;
	}
	free(buf);
	deadline = ct_mono_ms() + timeout_ms;
	while ((stop_flag == NULL || !*stop_flag) && ct_mono_ms() < deadline) {
		if (ct_spool_read(c->spool, 16, MAX_PAYLOAD, 200, &c->batch) != CT_OK) {
			snprintf(err, err_len, "cannot read the reply");
			return CT_ERR_IO;
		}
		for (size_t i = 0; i < c->batch.count; i++) {
			ProtobufCMessage *m = NULL;
			/* Anything else on the reply topic (a late answer to an earlier request of
			 * this client ID) is skipped. */
			if (ct_pb_unpack(reply_desc, c->batch.records[i].payload,
			                 c->batch.records[i].payload_len, MAX_PAYLOAD, &m) != CT_OK)
				continue;
			if (strcmp(request_id_of(m), request_id) == 0) {
				*ret = m;
				return CT_OK;
			}
			ct_pb_free(m);
		}
		ct_spool_commit(c->spool, &c->batch);
	}
	snprintf(err, err_len, "no answer within %d s", timeout_ms / 1000);
	return CT_ERR_TIMEOUT;
}
