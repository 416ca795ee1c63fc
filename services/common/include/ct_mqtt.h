/* ct_mqtt: the MQTT session every cellthread service uses (Paho C asynchronous client).
 *
 * - QoS 1. Subscriptions live on a persistent session (client ID "<service>-<instance>"), so
 *   a restarted service receives what was published while it was down; publishing uses a
 *   second, clean-session connection ("<service>-<instance>.pub"; see ct_mqtt.c for why).
 * - Every received message is appended to the service's ct_spool from Paho's thread and
 *   nothing else happens there; the service reads the spool from its own loop
 *   (ct_mqtt_spool()).
 * - Automatic reconnect with exponential backoff (1 s to 30 s); subscriptions are renewed
 *   on every connect.
 * - Last will: ServiceStatus OFFLINE, retained, on ct/v1/sys/status/<service>/<instance>;
 *   ONLINE is published retained on every connect and OFFLINE on a clean shutdown. With
 *   status_interval_s set, a thread of the session's own republishes the status that often
 *   and on every change, with the loop's last progress (ct_mqtt_note_progress) and the
 *   spool's backlog and free space: it does not depend on the service's loop, so a loop
 *   stuck in its work shows as an old last_progress_at_us under a fresh at_us.
 * - The status is a service's: a throwaway client (clean_session: the CLI, tests) publishes
 *   none and sets no will, so it leaves nothing retained and the alert router raises nothing
 *   when it goes (ct_mqtt_publish_status is a no-op for it).
 * - Input pauses while the spool is low on disk space (ct_spool.h, "Disk full"). Paho has
 *   acknowledged a message before the callback sees it, so refusing it would not make the
 *   broker keep it; the only way to leave messages with the broker is to stop reading. So the
 *   same thread, woken by the callback as soon as the spool is low, publishes PAUSED with the
 *   reason and disconnects the subscriber cleanly: its persistent session stays, and the
 *   broker queues for it. What Paho delivered before the disconnect still goes to the spool
 *   (its reserve) or, should the disk be full to the last byte, is held in memory by the
 *   spool; nothing is refused. The service's loop keeps working off and committing its
 *   spool, which gives space back; once the free space is back above the reserve plus a
 *   margin, the subscriber reconnects, the status says ONLINE again and the broker sends
 *   what it queued.
 * - TCP_NODELAY on the client socket (Paho does not set it; without it every QoS 1 round trip
 *   waits for Nagle and delayed ACK, about 35 ms instead of 0.3 ms).
 * - Publishing is flow-controlled: at most max_inflight unacknowledged QoS 1 publishes; a
 *   publish beyond that waits. ct_mqtt_flush waits until all are acknowledged, which is
 *   the point where a service may commit its spool position.
 * - Optional shared subscription group: filters become $share/<group>/<filter> so several
 *   instances of a service split the stream. */
#ifndef CT_MQTT_H
#define CT_MQTT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ct_mqtt;
struct ct_spool;

struct ct_mqtt_options {
	const char *url;      /* tcp://127.0.0.1:1883 or ssl://host:8883 */
	const char *service;  /* "traveler" */
	const char *instance; /* "1" */
	const char *username; /* NULL: anonymous (the broker will refuse) */
	const char *password;
	const char *ca_file;   /* TLS: CA to verify the broker, NULL for system store */
	const char *cert_file; /* TLS client certificate, optional */
	const char *key_file;
	bool tls_verify;         /* verify the broker's certificate and host name */
	const char *share_group; /* NULL or "": plain subscriptions */
	int keepalive_s;
	int max_inflight;                 /* unacknowledged QoS 1 publishes at most */
	bool clean_session;               /* throwaway clients only (CLI, tests): no status */
	struct ct_spool *spool;           /* where received messages go; required to subscribe */
	volatile sig_atomic_t *stop_flag; /* nonzero: stop waiting to connect; may be NULL */
	int status_interval_s; /* > 0: status thread and input pausing (above); 0: neither */
};

/* Creates the client (not yet connected). Returns NULL with a reason in err. */
struct ct_mqtt *ct_mqtt_new(const struct ct_mqtt_options *options, char *err, size_t err_len);
/* Adds a subscription made on every connect. Call before ct_mqtt_connect. */
int ct_mqtt_add_subscription(struct ct_mqtt *mqtt, const char *filter, int qos);
/* Connects and waits up to timeout_ms for the first connection and its subscriptions. After
 * that, reconnects happen in the background. Returns CT_OK, CT_ERR_TIMEOUT, CT_ERR_STOPPED
 * (options.stop_flag was set), or CT_ERR_MQTT with the broker's reason in err; a refused
 * login (CONNACK 4 or 5) returns at once, it will not fix itself. */
int ct_mqtt_connect(struct ct_mqtt *mqtt, int timeout_ms, char *err, size_t err_len);
bool ct_mqtt_is_connected(struct ct_mqtt *mqtt);
/* Publishes a copy of payload. QoS 1 publishes count as in flight until the broker's PUBACK;
 * beyond max_inflight this waits, and while the connection is down it waits for the
 * reconnect (both up to timeout_ms). Returns CT_OK, CT_ERR_TIMEOUT, CT_ERR_MQTT, or
 * CT_ERR_INVALID for a message no broker would take (a topic that is not UTF-8): that one
 * does not count as a failed publish for ct_mqtt_flush and ct_mqtt_mark_reached. */
int ct_mqtt_publish(struct ct_mqtt *mqtt, const char *topic, const void *payload, size_t len,
                    int qos, bool retain, int timeout_ms);
/* Waits until every publish so far is acknowledged. Returns CT_OK, CT_ERR_TIMEOUT, or
 * CT_ERR_MQTT when any publish since the last flush failed (the caller retries them). */
int ct_mqtt_flush(struct ct_mqtt *mqtt, int timeout_ms);
/* A point in the stream of publishes, to learn later, without waiting, whether everything
 * published before it was acknowledged: a loop can commit a batch once its mark is reached
 * and read the next batch meanwhile (ct_mqtt_flush would wait). */
struct ct_mqtt_mark {
	uint64_t sent;
};
void ct_mqtt_mark(struct ct_mqtt *mqtt, struct ct_mqtt_mark *ret);
/* *ret_reached: every publish before mark is finished. Returns CT_ERR_MQTT when any publish
 * failed since the last ct_mqtt_flush (the caller publishes again from its last commit and
 * calls ct_mqtt_flush, which clears the failure), else CT_OK. When not reached, the spool's
 * reader is woken (ct_spool_wake) as soon as it is, or a publish fails: a loop waiting in
 * ct_spool_read needs no short timeout to notice. */
int ct_mqtt_mark_reached(struct ct_mqtt *mqtt, const struct ct_mqtt_mark *mark, bool *ret_reached);
/* Publishes the retained status (ONLINE/DRAINING/OFFLINE; ONLINE says PAUSED while input is
 * paused) of this service instance, waiting for flow control like ct_mqtt_publish. CT_OK
 * and nothing published for a throwaway client (clean_session). */
int ct_mqtt_publish_status(struct ct_mqtt *mqtt, int state);
/* Records that the service's loop made progress now (committed, or had nothing to do): the
 * status's last_progress_at_us. Thread-safe and cheap (a mutex). */
void ct_mqtt_note_progress(struct ct_mqtt *mqtt);
/* True while input is paused because the spool is low on space. Thread-safe. */
bool ct_mqtt_input_paused(struct ct_mqtt *mqtt);
/* The client ID, "<service>-<instance>". */
const char *ct_mqtt_client_id(const struct ct_mqtt *mqtt);
/* Publishes OFFLINE, disconnects and frees; NULL is a no-op. */
void ct_mqtt_free(struct ct_mqtt *mqtt);

/* Sets TCP_NODELAY on every TCP socket of this process connected to port `peer_port`.
 * Exposed for tests and for other clients of the broker. Returns how many were set. */
int ct_tcp_nodelay_for_peer_port(int peer_port);

#endif
