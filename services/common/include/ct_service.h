/* ct_service: what every service's main() shares: the common config keys, signals, and
 * bringing up the MQTT session with its spool.
 *
 * Signal handlers only set flags (ct_service_stop, ct_service_reload); the main loop acts.
 * SIGTERM and SIGINT ask for a draining shutdown: finish and commit the batch in hand, then
 * exit 0. */
#ifndef CT_SERVICE_H
#define CT_SERVICE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "ct_config.h"
#include "ct_mqtt.h"
#include "ct_spool.h"

/* Config keys every service has. */
struct ct_common_config {
	char *mqtt_url;
	char *mqtt_username;
	char *mqtt_password;
	char *mqtt_ca_file;
	char *mqtt_cert_file;
	char *mqtt_key_file;
	bool mqtt_tls_verify;
	char *instance;
	char *share_group;
	long mqtt_max_inflight;
	long mqtt_keepalive_s;
	char *spool_dir;
	long spool_segment_kib;
	bool spool_sync;
	long spool_min_free_mb;
	long status_interval_s;
	long loop_publish_timeout_s;
	char *log_level;
};

extern const struct ct_config_key ct_common_config_keys[];
extern const size_t ct_common_config_key_count;

extern volatile sig_atomic_t ct_service_stop;

/* Installs SIGTERM/SIGINT (stop) handlers and ignores SIGPIPE. */
void ct_service_install_signals(void);

/* A running service's plumbing. */
struct ct_service {
	const char *name;
	struct ct_common_config *config;
	struct ct_spool *spool;
	struct ct_mqtt *mqtt;
};

/* Opens the spool under config->spool_dir/<name>-<instance> with its free-space reserve
 * (spool.min_free_mb), creates the MQTT client with the given subscriptions (may be NULL/0)
 * and its status thread (status.interval_s; input pauses while the spool is low on space,
 * ct_mqtt.h), connects (waiting up to connect_timeout_ms) and publishes ONLINE. Returns
 * CT_OK or an error with its reason in err; on failure everything opened is closed again. */
int ct_service_start(struct ct_service *svc, const char *name, struct ct_common_config *config,
                     const char *const *subscriptions, size_t n_subscriptions,
                     int connect_timeout_ms, char *err, size_t err_len);
/* Publishes OFFLINE, disconnects, closes the spool. */
void ct_service_finish(struct ct_service *svc);

/* Loads config for a service: the common table plus the service's own. Applies log.level.
 * Returns CT_OK to continue; CT_ERR_STOPPED after --help was printed (exit 0);
 * CT_ERR_CONFIG when the config is wrong, with the reason printed (exit 2). */
int ct_service_load_config(const char *name, struct ct_common_config *common,
                           const struct ct_config_table *own, int argc, char **argv);

/* Frees what ct_service_load_config loaded into common and own (own may be NULL). */
void ct_service_cleanup_config(struct ct_common_config *common, const struct ct_config_table *own);

#endif
