/* ct_broker_guard: a Mosquitto 2.0 plugin that enforces what its password file and ACL cannot.
 *
 * Loaded by the broker configuration deploy/scripts/broker-config.sh writes:
 *
 *   plugin .../ct_broker_guard.so
 *   plugin_opt_service_users ingest traveler spc-gate linesim
 *   plugin_opt_retain_topics ct/v1/sys/status/# ct/v1/lot/#
 *   plugin_opt_queued_topics ct/v1/sys/reply/%c/# ct/v1/plant/+/+/+/command
 *
 * It refuses a CONNECT whose client ID is not the credential's own, refuses subscriptions with
 * QoS 1 or 2 outside the queued topics for clients that are not services, and clears the retain
 * flag of messages outside the retain topics (the message itself is delivered). The decisions are
 * guard_policy's; here only the broker's events. Every callback that lets a request through
 * returns MOSQ_ERR_PLUGIN_DEFER, so the password file and the ACL still decide everything else.
 *
 * Memory: a client that subscribes with QoS 0 and then stops reading its socket makes
 * Mosquitto 2.0 queue every message for it in memory (its per-client limits are global, and
 * the services need theirs unlimited). With plugin_opt_shed_mib N, once a second the plugin
 * reads how much the broker has allocated (mallinfo2: what is in use, not what the process
 * keeps) and, above N MiB, disconnects every client that is not a service. They reconnect
 * (dashboards, CLIs, gateways retrying their unacknowledged QoS 1 messages); their queues are
 * freed; the services' sessions are never touched.
 */
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "guard_policy.h"

#define LOG_PREFIX "ct_broker_guard: "

static mosquitto_plugin_id_t *plugin_id;
static struct guard_policy policy;
/* Messages whose retain flag was cleared, to log the 1st, 2nd, 4th, 8th, ... only: a gateway
 * retaining every result must not fill the broker's log. Callbacks run on the broker's one
 * thread. */
static unsigned long retain_cleared;

/* Users that are not services and have subscribed, to disconnect under memory pressure (few:
 * the CLI, the gateways, dashboards). Owned copies. */
#define MAX_OTHER_USERS 256
static char *other_users[MAX_OTHER_USERS];
static size_t n_other_users;
static size_t shed_bytes;   /* 0: never shed */
static time_t last_check_s; /* the memory is looked at once a second */

static void remember_other_user(const char *username)
{
	for (size_t i = 0; i < n_other_users; i++) {
		if (strcmp(other_users[i], username) == 0)
			return;
	}
	if (n_other_users < MAX_OTHER_USERS) {
		other_users[n_other_users] = mosquitto_strdup(username);
		if (other_users[n_other_users] != NULL)
			n_other_users++;
	}
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for (int i = 0; i < supported_version_count; i++) {
		if (supported_versions[i] == 5)
			return 5;
	}
	return -1;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *auth = event_data;
	const char *client_id = mosquitto_client_id(auth->client);

	(void)event;
	(void)userdata;
	/* No user name: the password file refuses it (allow_anonymous false). */
	if (auth->username == NULL)
		return MOSQ_ERR_PLUGIN_DEFER;
	if (guard_client_id_is_allowed(auth->username, client_id))
		return MOSQ_ERR_PLUGIN_DEFER;
	mosquitto_log_printf(MOSQ_LOG_WARNING,
	                     LOG_PREFIX
	                     "refused %s: client ID '%s' is not user '%s''s own (it must "
	                     "be '%s' or start with '%s-')",
	                     mosquitto_client_address(auth->client), client_id ? client_id : "",
	                     auth->username, auth->username, auth->username);
	return MOSQ_ERR_AUTH;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_acl_check *check = event_data;
	const char *username, *client_id;

	(void)event;
	(void)userdata;
	if (check->access != MOSQ_ACL_SUBSCRIBE)
		return MOSQ_ERR_PLUGIN_DEFER;
	username = mosquitto_client_username(check->client);
	client_id = mosquitto_client_id(check->client);
	/* Remembered here, not at CONNECT: only a client whose password passed subscribes, so
	 * failed logins with invented names cannot fill the list. */
	if (username != NULL && !guard_is_service_user(&policy, username))
		remember_other_user(username);
	if (guard_subscription_is_allowed(&policy, username, client_id, check->topic, check->qos))
		return MOSQ_ERR_PLUGIN_DEFER;
	mosquitto_log_printf(MOSQ_LOG_NOTICE,
	                     LOG_PREFIX "refused %s (user %s) a QoS %d subscription to %s: clients "
	                                "that are not services subscribe there with QoS 0",
	                     client_id ? client_id : "", username ? username : "", (int)check->qos,
	                     check->topic);
	return MOSQ_ERR_ACL_DENIED;
}

static int on_message(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_message *msg = event_data;

	(void)event;
	(void)userdata;
	/* An empty retained message deletes the one the broker holds: always let that through. */
	if (!msg->retain || msg->payloadlen == 0 || guard_retain_is_allowed(&policy, msg->topic))
		return MOSQ_ERR_SUCCESS;
	msg->retain = false;
	retain_cleared++;
	if ((retain_cleared & (retain_cleared - 1)) == 0) {
		const char *client_id = mosquitto_client_id(msg->client);

		mosquitto_log_printf(MOSQ_LOG_NOTICE,
		                     LOG_PREFIX
		                     "not retained: %s from %s (retained messages are kept "
		                     "only on the status and lot topics; %lu so far)",
		                     msg->topic, client_id ? client_id : "", retain_cleared);
	}
	return MOSQ_ERR_SUCCESS;
}

static int on_tick(int event, void *event_data, void *userdata)
{
	struct mallinfo2 heap;
	size_t in_use;
	time_t now;

	(void)event;
	(void)event_data; /* Mosquitto 2.0.11 leaves its times zero: read the clock here */
	(void)userdata;
	if (shed_bytes == 0 || (now = time(NULL)) == last_check_s)
		return MOSQ_ERR_SUCCESS;
	last_check_s = now;
	heap = mallinfo2();
	in_use = heap.uordblks + heap.hblkhd;
	if (in_use <= shed_bytes)
		return MOSQ_ERR_SUCCESS;
	mosquitto_log_printf(MOSQ_LOG_WARNING,
	                     LOG_PREFIX
	                     "%zu MiB in use, over plugin_opt_shed_mib %zu: disconnecting "
	                     "every client that is not a service (%zu users)",
	                     in_use >> 20, shed_bytes >> 20, n_other_users);
	for (size_t i = 0; i < n_other_users; i++)
		mosquitto_kick_client_by_username(other_users[i], false);
	return MOSQ_ERR_SUCCESS;
}

static const char *option(const struct mosquitto_opt *options, int option_count, const char *key)
{
	for (int i = 0; i < option_count; i++) {
		if (strcmp(options[i].key, key) == 0)
			return options[i].value;
	}
	return NULL;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                          struct mosquitto_opt *options, int option_count)
{
	const char *shed = NULL;
	char err[256], *end = NULL;
	unsigned long shed_mib = 0;

	*userdata = NULL;
	plugin_id = identifier;
	if (guard_policy_init(&policy, option(options, option_count, "service_users"),
	                      option(options, option_count, "retain_topics"),
	                      option(options, option_count, "queued_topics"), err,
	                      sizeof(err)) != 0) {
		mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "%s", err);
		return MOSQ_ERR_INVAL;
	}
	shed = option(options, option_count, "shed_mib");
	if (shed != NULL) {
		errno = 0;
		shed_mib = strtoul(shed, &end, 10);
		if (errno != 0 || end == shed || *end != '\0' || shed_mib > (SIZE_MAX >> 20)) {
			mosquitto_log_printf(MOSQ_LOG_ERR,
			                     LOG_PREFIX "shed_mib '%s' is not a number", shed);
			guard_policy_cleanup(&policy);
			return MOSQ_ERR_INVAL;
		}
	}
	shed_bytes = (size_t)shed_mib << 20;
	if (mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL,
	                                NULL) != MOSQ_ERR_SUCCESS ||
	    mosquitto_callback_register(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL) !=
	            MOSQ_ERR_SUCCESS ||
	    mosquitto_callback_register(plugin_id, MOSQ_EVT_MESSAGE, on_message, NULL, NULL) !=
	            MOSQ_ERR_SUCCESS ||
	    mosquitto_callback_register(plugin_id, MOSQ_EVT_TICK, on_tick, NULL, NULL) !=
	            MOSQ_ERR_SUCCESS) {
		mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "cannot register its callbacks");
		guard_policy_cleanup(&policy);
		return MOSQ_ERR_UNKNOWN;
	}
	mosquitto_log_printf(MOSQ_LOG_INFO,
	                     LOG_PREFIX "services: %s; shedding others above %lu MiB",
	                     policy.service_users, shed_mib);
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
	(void)userdata;
	(void)options;
	(void)option_count;
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_MESSAGE, on_message, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_TICK, on_tick, NULL);
	guard_policy_cleanup(&policy);
	for (size_t i = 0; i < n_other_users; i++)
		mosquitto_free(other_users[i]);
	n_other_users = 0;
	return MOSQ_ERR_SUCCESS;
}
