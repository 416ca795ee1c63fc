/* ct_service: common config keys, signals, and start/finish of a service's plumbing. */
#include "ct_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ct_error.h"
#include "ct_ids.h"
#include "ct_log.h"

extern char **environ;

volatile sig_atomic_t ct_service_stop;

#define COMMON(name, type, field, def, lo, hi, help)                                               \
	{                                                                                          \
		name, type, offsetof(struct ct_common_config, field), def, lo, hi, help            \
	}

const struct ct_config_key ct_common_config_keys[] = {
        COMMON("mqtt.url", CT_CONF_STRING, mqtt_url, "tcp://127.0.0.1:1883", 0, 0,
               "broker URL, tcp://host:port or ssl://host:port"),
        COMMON("mqtt.username", CT_CONF_STRING, mqtt_username, NULL, 0, 0,
               "MQTT user (one per service)"),
        COMMON("mqtt.password", CT_CONF_SECRET, mqtt_password, NULL, 0, 0, "MQTT password"),
        COMMON("mqtt.ca_file", CT_CONF_STRING, mqtt_ca_file, NULL, 0, 0,
               "TLS: CA certificate file to verify the broker"),
        COMMON("mqtt.cert_file", CT_CONF_STRING, mqtt_cert_file, NULL, 0, 0,
               "TLS: client certificate file"),
        COMMON("mqtt.key_file", CT_CONF_STRING, mqtt_key_file, NULL, 0, 0,
               "TLS: client private key file"),
        COMMON("mqtt.tls_verify", CT_CONF_BOOL, mqtt_tls_verify, "true", 0, 0,
               "TLS: verify the broker certificate"),
        COMMON("mqtt.max_inflight", CT_CONF_INT, mqtt_max_inflight, "512", 1, 65535,
               "unacknowledged QoS 1 publishes at most"),
        COMMON("mqtt.keepalive_s", CT_CONF_INT, mqtt_keepalive_s, "30", 5, 3600,
               "MQTT keepalive in seconds"),
        COMMON("instance", CT_CONF_STRING, instance, "1", 0, 0,
               "instance name; client ID is <service>-<instance>"),
        COMMON("share_group", CT_CONF_STRING, share_group, NULL, 0, 0,
               "MQTT shared-subscription group, to run several instances"),
        COMMON("spool.dir", CT_CONF_STRING, spool_dir, "./spool", 0, 0,
               "directory of the durable inbox (one subfolder per instance)"),
        COMMON("spool.segment_kib", CT_CONF_INT, spool_segment_kib, "8192", 64, 1048576,
               "spool segment size in KiB"),
        COMMON("spool.sync", CT_CONF_BOOL, spool_sync, "true", 0, 0,
               "fdatasync the spool on every commit (survive power loss)"),
        COMMON("spool.min_free_mb", CT_CONF_INT, spool_min_free_mb, "64", 0, 1048576,
               "free space kept on the spool's file system: below it the service stops "
               "reading from the broker (PAUSED) until it is back"),
        COMMON("status.interval_s", CT_CONF_INT, status_interval_s, "15", 1, 3600,
               "how often the retained status (progress, spool backlog, free space) is "
               "republished"),
        COMMON("loop.publish_timeout_s", CT_CONF_INT, loop_publish_timeout_s, "60", 1, 3600,
               "a batch whose publishes the broker has not acknowledged after this long is "
               "handled again from the last commit"),
        COMMON("log.level", CT_CONF_STRING, log_level, "info", 0, 0, "error, warn, info or debug"),
};
const size_t ct_common_config_key_count =
        sizeof(ct_common_config_keys) / sizeof(ct_common_config_keys[0]);

static void on_stop_signal(int sig)
{
	(void)sig;
	ct_service_stop = 1;
}

void ct_service_install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

int ct_service_load_config(const char *name, struct ct_common_config *common,
                           const struct ct_config_table *own, int argc, char **argv)
{
	struct ct_config_table tables[2] = {
	        {ct_common_config_keys, ct_common_config_key_count, common},
	};
	size_t n = 1;
	char err[512];
	int rc, level;

	ct_log_set_service(name);
	if (own != NULL)
		tables[n++] = *own;
	rc = ct_config_load(tables, n, argc, argv, environ, err, sizeof(err));
	if (rc == CT_ERR_STOPPED)
		return rc;
	if (rc != CT_OK) {
		fprintf(stderr, "%s: %s\n", name, err);
		return CT_ERR_CONFIG;
	}
	if (ct_log_parse_level(common->log_level, &level) != CT_OK) {
		fprintf(stderr, "%s: log.level: '%s' is not error, warn, info or debug\n", name,
		        common->log_level);
		return CT_ERR_CONFIG;
	}
	ct_log_level = level;
	if (common->instance == NULL || !ct_id_is_valid(common->instance)) {
		fprintf(stderr, "%s: instance: must be an ID ([A-Za-z0-9._:-], 1-64)\n", name);
		return CT_ERR_CONFIG;
	}
	ct_config_log(tables, n);
	return CT_OK;
}

void ct_service_cleanup_config(struct ct_common_config *common, const struct ct_config_table *own)
{
	struct ct_config_table common_table = {ct_common_config_keys, ct_common_config_key_count,
	                                       common};
	ct_config_cleanup(&common_table, 1);
	if (own != NULL)
		ct_config_cleanup(own, 1);
}

int ct_service_start(struct ct_service *svc, const char *name, struct ct_common_config *config,
                     const char *const *subscriptions, size_t n_subscriptions,
                     int connect_timeout_ms, char *err, size_t err_len)
{
	struct ct_mqtt_options options;
	char spool_path[4096];
	int rc;

	memset(svc, 0, sizeof(*svc));
	svc->name = name;
	svc->config = config;
	if (n_subscriptions > 0) {
		snprintf(spool_path, sizeof(spool_path), "%s/%s-%s", config->spool_dir, name,
		         config->instance);
		svc->spool = ct_spool_open(spool_path, (size_t)config->spool_segment_kib * 1024,
		                           config->spool_sync, err, err_len);
		if (svc->spool == NULL)
			return CT_ERR_IO;
		ct_spool_set_reserve(svc->spool, (uint64_t)config->spool_min_free_mb << 20);
	}
	memset(&options, 0, sizeof(options));
	options.url = config->mqtt_url;
	options.service = name;
	options.instance = config->instance;
	options.username = config->mqtt_username;
	options.password = config->mqtt_password;
	options.ca_file = config->mqtt_ca_file;
	options.cert_file = config->mqtt_cert_file;
	options.key_file = config->mqtt_key_file;
	options.tls_verify = config->mqtt_tls_verify;
	options.share_group = config->share_group;
	options.keepalive_s = (int)config->mqtt_keepalive_s;
	options.max_inflight = (int)config->mqtt_max_inflight;
	options.spool = svc->spool;
	options.stop_flag = &ct_service_stop;
	options.status_interval_s = (int)config->status_interval_s;
	svc->mqtt = ct_mqtt_new(&options, err, err_len);
	if (svc->mqtt == NULL) {
		rc = CT_ERR_MQTT;
		goto fail;
	}
	for (size_t i = 0; i < n_subscriptions; i++) {
		rc = ct_mqtt_add_subscription(svc->mqtt, subscriptions[i], 1);
		if (rc != CT_OK) {
			ct_set_error(err, err_len, rc, "cannot add subscription %s",
			             subscriptions[i]);
			goto fail;
		}
	}
	rc = ct_mqtt_connect(svc->mqtt, connect_timeout_ms, err, err_len);
	if (rc != CT_OK)
		goto fail;
	return CT_OK;
fail:
	ct_service_finish(svc);
	return rc;
}

void ct_service_finish(struct ct_service *svc)
{
	ct_mqtt_free(svc->mqtt);
	svc->mqtt = NULL;
	ct_spool_free(svc->spool);
	svc->spool = NULL;
}
