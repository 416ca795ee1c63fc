/* guard_policy: the broker guard's decisions, pure (no broker), so tests can call them.
 *
 * Mosquitto's password file and ACL say who may connect and which topics each user may read
 * and write. They cannot say three things cellthread needs (issue 10's threat model, see
 * docs/architecture.md "Threat model"):
 *   - which client IDs a credential may use: without that, any credential can take over a
 *     service's persistent session by connecting with its client ID, and read replies keyed
 *     by client ID;
 *   - which clients may make the broker queue messages for them: a client that is not a
 *     service and subscribes with QoS 1 to a busy tree, then never reads, grows the broker's
 *     memory and database without bound;
 *   - where messages may be retained: a retained message on an edge topic is stored by the
 *     broker for good and re-delivered to ingest after every restart.
 * The plugin (broker_guard.c) asks these functions and acts on the answer.
 */
#ifndef GUARD_POLICY_H
#define GUARD_POLICY_H

#include <stdbool.h>
#include <stddef.h>

/* The most filters of one kind the guard keeps (options with more are refused). */
#define GUARD_MAX_FILTERS 32

struct guard_policy {
	/* MQTT users that are cellthread services (space-separated list, owned). */
	char *service_users;
	/* Topic filters retained messages may be published to; elsewhere the retain flag is
	 * cleared (owned, NULL-terminated). */
	char *retain_filters[GUARD_MAX_FILTERS + 1];
	/* Topic filters a client that is not a service may subscribe to with QoS 1 or 2; a
	 * level "%c" stands for the client's ID, "%u" for its user name. */
	char *queued_filters[GUARD_MAX_FILTERS + 1];
};

/* Fills policy from the option values (each a space-separated list; NULL means empty).
 * Returns 0, or -1 with a reason in err when a list holds more than GUARD_MAX_FILTERS filters,
 * an invalid filter or memory runs out (policy is then cleaned up). */
int guard_policy_init(struct guard_policy *policy, const char *service_users,
                      const char *retain_filters, const char *queued_filters, char *err,
                      size_t err_len);

/* Frees what policy owns; a zeroed or cleaned-up policy is fine. */
void guard_policy_cleanup(struct guard_policy *policy);

/* Whether a client of user `username` may use `client_id`: the user name itself, or the user
 * name followed by '-' or '.' and at least one more character ("ingest", "ingest-2",
 * "ingest-2.pub", "cli-4242"). The registry keeps user names from being such a prefix of one
 * another (registry.sh check), so no credential can pose as another's client. */
bool guard_client_id_is_allowed(const char *username, const char *client_id);

/* Whether `username` is one of the policy's service users. */
bool guard_is_service_user(const struct guard_policy *policy, const char *username);

/* Whether a subscription to `filter` with `qos` by this client is allowed: always for QoS 0
 * and for service users; otherwise only when `filter` lies within one of the queued filters. */
bool guard_subscription_is_allowed(const struct guard_policy *policy, const char *username,
                                   const char *client_id, const char *filter, int qos);

/* Whether a message published to `topic` may keep its retain flag. */
bool guard_retain_is_allowed(const struct guard_policy *policy, const char *topic);

/* Whether every topic `inner` matches is also matched by `outer` (both MQTT topic filters;
 * a level of `outer` that is "%c" or "%u" must equal client_id or username). */
bool guard_filter_covers(const char *outer, const char *inner, const char *username,
                         const char *client_id);

#endif
