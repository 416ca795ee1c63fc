/* ct_mqtt: the MQTT session on Paho's asynchronous client (contract in ct_mqtt.h).
 *
 * Two connections per session, each a Paho client:
 * - the subscriber: client ID "<service>-<instance>", persistent session (clean session off),
 *   so the broker queues what arrives while the service is down; it never publishes;
 * - the publisher: client ID "<service>-<instance>.pub", clean session, last will and the
 *   retained status (a service's only: a throwaway client, options.clean_session, has
 *   neither). With a persistent session Paho 1.3.12 re-sends unacknowledged QoS 1 publishes
 *   after a reconnect using a topic string it may already have freed (ASan showed a
 *   heap-use-after-free right after reconnecting during broker restarts). A clean session
 *   makes Paho fail those publishes instead (onFailure); the caller re-publishes from its
 *   spool, and consumers are idempotent by event ID.
 *
 * Threads: Paho runs callbacks on its own threads. The callbacks here only append to the
 * spool, or update state under `lock` and signal `cond` (or `watch_cond`); everything else
 * happens on the service's thread or the watcher. Paho sends the PUBACK for an incoming QoS 1
 * message before the callback runs, which is why the callback's spool append is the
 * durability point.
 *
 * The watcher (with status_interval_s > 0): a thread that every WATCH_TICK_MS, or at once
 * when the message callback finds the spool low, measures the spool's free space (writing
 * what the spool holds in memory once there is room), pauses or resumes the subscriber
 * (ct_mqtt.h) and publishes the status when it changed or is due. Its status publishes are
 * fire-and-forget, outside flow control and the marks: a status that fails is sent again at
 * the next tick and must never make a service handle its batches again. */
#include "ct_mqtt.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <MQTTAsync.h>

#include "ct_config.h"
#include "ct_error.h"
#include "ct_log.h"
#include "ct_pb.h"
#include "ct_spool.h"
#include "ct_time.h"
#include "ct_topic.h"

#define VERSION_TEXT "0.1.0"
/* The watcher's period: how soon space that came back is noticed. */
#define WATCH_TICK_MS 250

struct subscription {
	char *filter; /* with the $share prefix when a group is set */
	int qos;
};

/* One Paho client of the session and what is known of its connection (under the session's
 * lock). */
struct link {
	struct ct_mqtt *mqtt;
	MQTTAsync client;
	char *client_id;
	bool publisher;
	bool connected;
	bool subscribed;   /* subscriber: its filters were granted since the last connect */
	bool attempt_done; /* the current connect attempt has an answer */
	bool refused;      /* the broker said no (CONNACK 2, 4 or 5): retrying is pointless */
	char error[256];
	MQTTAsync_connectOptions opts;
	MQTTAsync_willOptions will;
	MQTTAsync_SSLOptions ssl;
};

struct ct_mqtt {
	struct link pub;
	struct link sub; /* used only when there are subscriptions */
	char *status_topic;
	char *service;
	char *instance;
	char *share_group;
	char *username;
	char *password;
	char *ca_file;
	char *cert_file;
	char *key_file;
	char *url;
	bool tls;
	bool tls_verify;
	bool clean_session;
	int keepalive_s;
	int broker_port;
	int64_t started_at_us;
	struct ct_spool *spool;
	struct subscription *subs;
	size_t n_subs;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	int max_inflight;
	int inflight;
	int failed_publishes;
	/* Publishes handed to Paho and publishes finished (acknowledged or failed), since the
	 * start: the broker acknowledges QoS 1 in the order it received them, so finished >= n
	 * means the first n are done (ct_mqtt_mark). */
	uint64_t sent_total;
	uint64_t finished_total;
	/* The mark the spool's reader waits for (ct_mqtt_mark_reached said "not yet"); 0: none.
	 * Reaching it, or a failure, wakes the reader instead of it polling. */
	uint64_t wake_reader_at;
	volatile sig_atomic_t *stop_flag;
	bool spool_error_logged;

	/* The watcher and what it shares, under lock. */
	int status_interval_s;
	pthread_t watcher;
	pthread_cond_t watch_cond;
	bool watcher_running;
	bool watcher_quit;
	bool watch_wake;   /* the callback found the spool low, or failed to spool */
	bool input_paused; /* the subscriber was disconnected for want of spool space */
	bool sub_restart;  /* resumed: the subscriber's connect is to be retried until it is up */
	bool status_dirty; /* the status changed and is not yet published */
	char pause_reason[512];
	int64_t last_progress_at_us;
	bool measure_failed_logged; /* watcher only */

	uint8_t *offline_status;
	size_t offline_status_len;
};

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

/* Port of tcp://host:port or ssl://host:port; 1883/8883 when absent. */
static int url_port(const char *url, bool *ret_tls)
{
	const char *colon = strrchr(url, ':');
	long port;
	bool tls = strncmp(url, "ssl://", 6) == 0 || strncmp(url, "mqtts://", 8) == 0;

	*ret_tls = tls;
	if (colon != NULL && colon > strstr(url, "://") + 2 &&
	    ct_parse_long(colon + 1, 1, 65535, &port) == CT_OK)
		return (int)port;
	return tls ? 8883 : 1883;
}

int ct_tcp_nodelay_for_peer_port(int peer_port)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int set = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		struct sockaddr_storage peer;
		socklen_t peer_len = sizeof(peer);
		int type = 0, one = 1, port;
		socklen_t type_len = sizeof(type);
		char *end = NULL;
		long fd = strtol(e->d_name, &end, 10);

		if (end == e->d_name || *end != '\0')
			continue;
		if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 ||
		    type != SOCK_STREAM)
			continue;
		if (getpeername((int)fd, (struct sockaddr *)&peer, &peer_len) != 0)
			continue;
		if (peer.ss_family == AF_INET)
			port = ntohs(((struct sockaddr_in *)&peer)->sin_port);
		else if (peer.ss_family == AF_INET6)
			port = ntohs(((struct sockaddr_in6 *)&peer)->sin6_port);
		else
			continue;
		if (port == peer_port &&
		    setsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
			set++;
	}
	closedir(d);
	return set;
}

/* What an OFFLINE status says, so a reader (alert-router) tells a planned stop from a lost
 * process or connection. */
#define OFFLINE_LOST    "connection lost (the broker's last will)"
#define OFFLINE_STOPPED "stopped"

/* The status message in state (ONLINE becomes PAUSED while input is paused) with the loop's
 * progress and the spool's state; OFFLINE says why (OFFLINE_LOST for the will, written at
 * the start, OFFLINE_STOPPED at a clean stop). Takes the lock: call without it. */
static int encode_status(struct ct_mqtt *mqtt, int state, uint8_t **ret, size_t *ret_len)
{
	Cellthread__V1__ServiceStatus status = CELLTHREAD__V1__SERVICE_STATUS__INIT;
	char reason[sizeof(mqtt->pause_reason)] = "";
	struct ct_spool_space space;

	memset(&space, 0, sizeof(space));
	if (mqtt->spool != NULL)
		ct_spool_space(mqtt->spool, &space);
	status.service = mqtt->service;
	status.instance = mqtt->instance;
	status.state = (Cellthread__V1__ServiceState)state;
	status.version = (char *)VERSION_TEXT;
	status.started_at_us = mqtt->started_at_us;
	status.at_us = ct_now_us();
	pthread_mutex_lock(&mqtt->lock);
	if (mqtt->input_paused && state == CELLTHREAD__V1__SERVICE_STATE__SERVICE_STATE_ONLINE) {
		status.state = CELLTHREAD__V1__SERVICE_STATE__SERVICE_STATE_PAUSED;
		memcpy(reason, mqtt->pause_reason, sizeof(reason));
	}
	status.last_progress_at_us = mqtt->last_progress_at_us;
	pthread_mutex_unlock(&mqtt->lock);
	/* The will is encoded once, at the start, before offline_status is set. */
	if (state == CELLTHREAD__V1__SERVICE_STATE__SERVICE_STATE_OFFLINE)
		snprintf(reason, sizeof(reason), "%s",
		         mqtt->offline_status == NULL ? OFFLINE_LOST : OFFLINE_STOPPED);
	status.reason = reason;
	status.spool_backlog_bytes = space.backlog_bytes;
	status.spool_free_bytes = space.free_bytes;
	status.spool_reserve_bytes = space.reserve_bytes;
	status.status_interval_s = (uint32_t)mqtt->status_interval_s;
	return ct_pb_pack(&status.base, ret, ret_len);
}

static void on_subscribed(void *context, MQTTAsync_successData *response)
{
	struct link *link = context;
	struct ct_mqtt *mqtt = link->mqtt;
	bool refused = false;

	/* MQTT 3.1.1 reports a refused filter as granted QoS 0x80, not as a failure. */
	if (mqtt->n_subs == 1)
		refused = response->alt.qos == 0x80;
	else if (response->alt.qosList != NULL)
		for (size_t i = 0; i < mqtt->n_subs; i++)
			refused |= response->alt.qosList[i] == 0x80;
	pthread_mutex_lock(&mqtt->lock);
	if (refused) {
		snprintf(link->error, sizeof(link->error), "broker refused a subscription (ACL?)");
		link->refused = true;
	}
	link->subscribed = !refused;
	link->attempt_done = true;
	pthread_cond_broadcast(&mqtt->cond);
	pthread_mutex_unlock(&mqtt->lock);
}

static void on_subscribe_failed(void *context, MQTTAsync_failureData *response)
{
	struct link *link = context;
	struct ct_mqtt *mqtt = link->mqtt;
	pthread_mutex_lock(&mqtt->lock);
	snprintf(link->error, sizeof(link->error), "subscribe failed: %s",
	         response && response->message ? response->message : "refused");
	link->attempt_done = true;
	pthread_cond_broadcast(&mqtt->cond);
	pthread_mutex_unlock(&mqtt->lock);
}

/* Publishes the current status (ONLINE or PAUSED) retained, fire-and-forget: outside flow
 * control and the marks (see the top of this file). Returns CT_OK when Paho took it. */
static int publish_current_status(struct ct_mqtt *mqtt)
{
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	uint8_t *status = NULL;
	size_t status_len = 0;
	int rc;

	if (mqtt->clean_session)
		return CT_OK; /* a throwaway client has no status (ct_mqtt.h) */
	if (encode_status(mqtt, CELLTHREAD__V1__SERVICE_STATE__SERVICE_STATE_ONLINE, &status,
	                  &status_len) != CT_OK)
		return CT_ERR_NOMEM;
	msg.payload = status;
	msg.payloadlen = (int)status_len;
	msg.qos = 1;
	msg.retained = 1;
	rc = MQTTAsync_sendMessage(mqtt->pub.client, mqtt->status_topic, &msg, NULL);
	free(status);
	return rc == MQTTASYNC_SUCCESS ? CT_OK : CT_ERR_MQTT;
}

static void publish_online(struct link *link)
{
	if (publish_current_status(link->mqtt) != CT_OK)
		ct_warn("mqtt: cannot publish the ONLINE status");
}

static void subscribe_all(struct link *link)
{
	struct ct_mqtt *mqtt = link->mqtt;
	MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
	char *filters[64];
	int qos[64];

	for (size_t i = 0; i < mqtt->n_subs; i++) {
		filters[i] = mqtt->subs[i].filter;
		qos[i] = mqtt->subs[i].qos;
	}
	opts.onSuccess = on_subscribed;
	opts.onFailure = on_subscribe_failed;
	opts.context = link;
	if (MQTTAsync_subscribeMany(link->client, (int)mqtt->n_subs, filters, qos, &opts) !=
	    MQTTASYNC_SUCCESS)
		on_subscribe_failed(link, NULL);
}

/* Runs on Paho's thread after every successful connect of a link: Nagle off, then the
 * publisher announces ONLINE and the subscriber renews its subscriptions. */
static void on_up(struct link *link)
{
	struct ct_mqtt *mqtt = link->mqtt;
	bool paused;

	ct_tcp_nodelay_for_peer_port(mqtt->broker_port);
	pthread_mutex_lock(&mqtt->lock);
	link->connected = true;
	if (link->publisher)
		link->attempt_done = true;
	else
		mqtt->sub_restart = false;
	paused = mqtt->input_paused;
	pthread_cond_broadcast(&mqtt->cond); /* publishers waiting for the reconnect */
	pthread_mutex_unlock(&mqtt->lock);
	if (link->publisher) {
		publish_online(link);
	} else if (paused) {
		/* Paho reconnected on its own a subscriber the watcher had disconnected (the
		 * connection was down when it did): input stays paused. */
		MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer;
		opts.timeout = 0;
		pthread_mutex_lock(&mqtt->lock);
		link->connected = false;
		pthread_mutex_unlock(&mqtt->lock);
		MQTTAsync_disconnect(link->client, &opts);
	} else {
		subscribe_all(link);
	}
}

static void on_connect_ok(void *context, MQTTAsync_successData *response)
{
	(void)response;
	on_up(context);
}

static void on_reconnected(void *context, char *cause)
{
	struct link *link = context;
	(void)cause;
	ct_debug("mqtt: %s connected", link->client_id);
	on_up(link);
}

static void on_connect_failed(void *context, MQTTAsync_failureData *response)
{
	struct link *link = context;
	struct ct_mqtt *mqtt = link->mqtt;
	pthread_mutex_lock(&mqtt->lock);
	snprintf(link->error, sizeof(link->error), "connect failed: %s (code %d)",
	         response && response->message ? response->message
	                                       : MQTTAsync_strerror(response ? response->code : -1),
	         response ? response->code : -1);
	/* For MQTT 3.1.1 Paho reports a refused CONNECT with the CONNACK return code: 2
	 * identifier rejected, 4 bad user name or password, 5 not authorised. */
	link->refused = response != NULL &&
	                (response->code == 2 || response->code == 4 || response->code == 5);
	link->attempt_done = true;
	pthread_cond_broadcast(&mqtt->cond);
	pthread_mutex_unlock(&mqtt->lock);
}

static void on_connection_lost(void *context, char *cause)
{
	struct link *link = context;
	struct ct_mqtt *mqtt = link->mqtt;
	pthread_mutex_lock(&mqtt->lock);
	link->connected = false;
	link->subscribed = false;
	pthread_mutex_unlock(&mqtt->lock);
	ct_warn("mqtt: %s lost its connection (%s); reconnecting", link->client_id,
	        cause ? cause : "no reason given");
}

static int on_message(void *context, char *topic, int topic_len, MQTTAsync_message *message)
{
	struct link *link = context;
	struct ct_mqtt *mqtt = link->mqtt;
	char topic_buf[CT_TOPIC_MAX * 4];
	int rc;

	if (topic_len > 0) {
		/* Paho passes a length when the topic may contain NULs; we never accept those. */
		size_t n = (size_t)topic_len < sizeof(topic_buf) - 1 ? (size_t)topic_len
		                                                     : sizeof(topic_buf) - 1;
		memcpy(topic_buf, topic, n);
		topic_buf[n] = '\0';
	} else {
		snprintf(topic_buf, sizeof(topic_buf), "%s", topic);
	}
	if (mqtt->spool == NULL) {
		rc = CT_OK; /* a publish-only client has no inbox; it subscribed to nothing */
	} else {
		rc = ct_spool_append(mqtt->spool, topic_buf, message->payload,
		                     (size_t)(message->payloadlen > 0 ? message->payloadlen : 0));
	}
	if (mqtt->spool != NULL && mqtt->status_interval_s > 0 &&
	    (rc != CT_OK || ct_spool_is_low(mqtt->spool))) {
		/* Stop reading from the broker as soon as possible: what Paho reads meanwhile
		 * goes into the spool's reserve. */
		pthread_mutex_lock(&mqtt->lock);
		if (!mqtt->input_paused && !mqtt->watch_wake) {
			mqtt->watch_wake = true;
			pthread_cond_signal(&mqtt->watch_cond);
		}
		pthread_mutex_unlock(&mqtt->lock);
	}
	if (rc != CT_OK) {
		if (!mqtt->spool_error_logged)
			ct_error("mqtt: cannot spool a message on %s: %s; Paho will retry",
			         topic_buf, ct_strerror(rc));
		mqtt->spool_error_logged = true;
		return 0; /* not consumed: Paho keeps it and calls again */
	}
	mqtt->spool_error_logged = false;
	MQTTAsync_freeMessage(&message);
	MQTTAsync_free(topic);
	return 1;
}

/* One publish is done (acknowledged, or failed). Wakes the publishers waiting for room, and
 * the spool's reader once the mark it waits for is reached or anything failed. */
static void publish_finished(struct ct_mqtt *mqtt, bool failed)
{
	bool wake_reader = false;

	pthread_mutex_lock(&mqtt->lock);
	mqtt->inflight--;
	mqtt->finished_total++;
	if (failed)
		mqtt->failed_publishes++;
	if (mqtt->wake_reader_at != 0 && (failed || mqtt->finished_total >= mqtt->wake_reader_at)) {
		mqtt->wake_reader_at = 0;
		wake_reader = true;
	}
	pthread_cond_broadcast(&mqtt->cond);
	pthread_mutex_unlock(&mqtt->lock);
	if (wake_reader && mqtt->spool != NULL)
		ct_spool_wake(mqtt->spool);
}

static void on_published(void *context, MQTTAsync_successData *response)
{
	(void)response;
	publish_finished(context, false);
}

static void on_publish_failed(void *context, MQTTAsync_failureData *response)
{
	publish_finished(context, true);
	ct_debug("mqtt: publish failed: %s",
	         response && response->message
	                 ? response->message
	                 : MQTTAsync_strerror(response ? response->code : -1));
}

/* Creates link's Paho client with client ID "<base><suffix>". */
static int link_create(struct ct_mqtt *mqtt, struct link *link, bool publisher, const char *suffix,
                       char *err, size_t err_len)
{
	MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
	char id[CT_TOPIC_MAX];
	int rc;

	link->mqtt = mqtt;
	link->publisher = publisher;
	snprintf(id, sizeof(id), "%s-%s%s", mqtt->service, mqtt->instance, suffix);
	link->client_id = strdup(id);
	if (link->client_id == NULL)
		return ct_set_error(err, err_len, CT_ERR_NOMEM, "mqtt: out of memory");
	/* No publishing into Paho's offline buffer (ct_mqtt_publish waits for the reconnect), but
	 * Paho counts publishes still in its command queue as buffered even while connected:
	 * leave room for every one flow control lets through. */
	create.sendWhileDisconnected = 0;
	create.maxBufferedMessages = mqtt->max_inflight + 64;
	rc = MQTTAsync_createWithOptions(&link->client, mqtt->url, link->client_id,
	                                 MQTTCLIENT_PERSISTENCE_NONE, NULL, &create);
	if (rc != MQTTASYNC_SUCCESS) {
		link->client = NULL;
		return ct_set_error(err, err_len, CT_ERR_MQTT,
		                    "mqtt: cannot create client for %s: %s", mqtt->url,
		                    MQTTAsync_strerror(rc));
	}
	MQTTAsync_setCallbacks(link->client, link, on_connection_lost, on_message, NULL);
	MQTTAsync_setConnected(link->client, link, on_reconnected);
	return CT_OK;
}

struct ct_mqtt *ct_mqtt_new(const struct ct_mqtt_options *options, char *err, size_t err_len)
{
	struct ct_mqtt *mqtt = calloc(1, sizeof(*mqtt));
	char buf[CT_TOPIC_MAX];

	if (mqtt == NULL)
		goto nomem;
	pthread_mutex_init(&mqtt->lock, NULL);
	pthread_cond_init(&mqtt->cond, NULL);
	pthread_cond_init(&mqtt->watch_cond, NULL);
	mqtt->started_at_us = ct_now_us();
	mqtt->status_interval_s = options->status_interval_s > 0 ? options->status_interval_s : 0;
	mqtt->service = strdup(options->service);
	mqtt->instance = strdup(options->instance && *options->instance ? options->instance : "1");
	mqtt->url = strdup(options->url);
	mqtt->share_group = dup_or_null(options->share_group);
	mqtt->username = dup_or_null(options->username);
	mqtt->password = dup_or_null(options->password);
	mqtt->ca_file = dup_or_null(options->ca_file);
	mqtt->cert_file = dup_or_null(options->cert_file);
	mqtt->key_file = dup_or_null(options->key_file);
	if (mqtt->service == NULL || mqtt->instance == NULL || mqtt->url == NULL)
		goto nomem;
	mqtt->tls_verify = options->tls_verify;
	mqtt->clean_session = options->clean_session;
	mqtt->keepalive_s = options->keepalive_s > 0 ? options->keepalive_s : 30;
	mqtt->max_inflight = options->max_inflight > 0 ? options->max_inflight : 256;
	mqtt->spool = options->spool;
	mqtt->stop_flag = options->stop_flag;
	mqtt->broker_port = url_port(options->url, &mqtt->tls);
	snprintf(buf, sizeof(buf), CT_TOPIC_ROOT "/sys/status/%s/%s", mqtt->service,
	         mqtt->instance);
	mqtt->status_topic = strdup(buf);
	if (mqtt->status_topic == NULL)
		goto nomem;
	/* The last will: a service's only (a throwaway client has no status, ct_mqtt.h). */
	if (!mqtt->clean_session &&
	    encode_status(mqtt, CELLTHREAD__V1__SERVICE_STATE__SERVICE_STATE_OFFLINE,
	                  &mqtt->offline_status, &mqtt->offline_status_len) != CT_OK)
		goto nomem;
	/* The subscriber's ID is the session's identity (ct_mqtt_client_id, reply topics). */
	if (link_create(mqtt, &mqtt->sub, false, "", err, err_len) != CT_OK ||
	    link_create(mqtt, &mqtt->pub, true, ".pub", err, err_len) != CT_OK) {
		ct_mqtt_free(mqtt);
		return NULL;
	}
	return mqtt;
nomem:
	ct_set_error(err, err_len, CT_ERR_NOMEM, "mqtt: out of memory");
	ct_mqtt_free(mqtt);
	return NULL;
}

int ct_mqtt_add_subscription(struct ct_mqtt *mqtt, const char *filter, int qos)
{
	char buf[CT_TOPIC_MAX + 64];
	struct subscription *subs;

	if (mqtt->n_subs >= 64)
		return CT_ERR_TOO_BIG;
	if (mqtt->share_group != NULL)
		snprintf(buf, sizeof(buf), "$share/%s/%s", mqtt->share_group, filter);
	else
		snprintf(buf, sizeof(buf), "%s", filter);
	subs = realloc(mqtt->subs, (mqtt->n_subs + 1) * sizeof(*subs));
	if (subs == NULL)
		return CT_ERR_NOMEM;
	mqtt->subs = subs;
	subs[mqtt->n_subs].filter = strdup(buf);
	if (subs[mqtt->n_subs].filter == NULL)
		return CT_ERR_NOMEM;
	subs[mqtt->n_subs].qos = qos;
	mqtt->n_subs++;
	return CT_OK;
}

static bool stop_requested(const struct ct_mqtt *mqtt)
{
	return mqtt->stop_flag != NULL && *mqtt->stop_flag;
}

/* True while the realtime clock is before ts. */
static bool before(const struct timespec *ts)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return now.tv_sec < ts->tv_sec || (now.tv_sec == ts->tv_sec && now.tv_nsec < ts->tv_nsec);
}

/* True when link is up (and, for the subscriber, subscribed). Under lock. */
static bool link_ready(const struct link *link)
{
	return link->connected && (link->publisher || link->subscribed);
}

/* Starts one connect attempt of link (the answer arrives on Paho's thread). The options
 * live in the link: Paho reads them again on its automatic reconnects. */
static int link_start(struct link *link)
{
	struct ct_mqtt *mqtt = link->mqtt;
	MQTTAsync_connectOptions *opts = &link->opts;
	int rc;

	*opts = (MQTTAsync_connectOptions)MQTTAsync_connectOptions_initializer;
	link->will = (MQTTAsync_willOptions)MQTTAsync_willOptions_initializer;
	link->ssl = (MQTTAsync_SSLOptions)MQTTAsync_SSLOptions_initializer;
	opts->keepAliveInterval = mqtt->keepalive_s;
	/* Only the subscriber keeps a session (see the top of this file). */
	opts->cleansession = link->publisher ? 1 : mqtt->clean_session;
	opts->username = mqtt->username;
	opts->password = mqtt->password;
	opts->automaticReconnect = 1;
	opts->minRetryInterval = 1;
	opts->maxRetryInterval = 30;
	opts->maxInflight = mqtt->max_inflight;
	opts->onSuccess = on_connect_ok;
	opts->onFailure = on_connect_failed;
	opts->context = link;
	if (link->publisher && !mqtt->clean_session) {
		link->will.topicName = mqtt->status_topic;
		link->will.payload.data = mqtt->offline_status;
		link->will.payload.len = (int)mqtt->offline_status_len;
		link->will.qos = 1;
		link->will.retained = 1;
		opts->will = &link->will;
	}
	if (mqtt->tls) {
		link->ssl.trustStore = mqtt->ca_file;
		link->ssl.keyStore = mqtt->cert_file;
		link->ssl.privateKey = mqtt->key_file;
		link->ssl.enableServerCertAuth = mqtt->tls_verify;
		link->ssl.verify = mqtt->tls_verify;
		link->ssl.sslVersion = MQTT_SSL_VERSION_TLS_1_2;
		opts->ssl = &link->ssl;
	}
	pthread_mutex_lock(&mqtt->lock);
	link->attempt_done = false;
	link->refused = false;
	link->error[0] = '\0';
	pthread_mutex_unlock(&mqtt->lock);
	rc = MQTTAsync_connect(link->client, opts);
	if (rc != MQTTASYNC_SUCCESS) {
		pthread_mutex_lock(&mqtt->lock);
		snprintf(link->error, sizeof(link->error), "connect: %s", MQTTAsync_strerror(rc));
		link->refused = true; /* a local error: retrying the same call will not help */
		link->attempt_done = true;
		pthread_mutex_unlock(&mqtt->lock);
	}
	return CT_OK;
}

static double mib(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

/* The status's reason while paused: the figures an operator needs to act. */
static void pause_reason(const struct ct_mqtt *mqtt, const struct ct_spool_space *space, char *buf,
                         size_t len)
{
	snprintf(buf, len,
	         "spool disk full: %.2f MiB free under %s (reserve %.2f MiB), %zu message(s) "
	         "held in memory",
	         mib(space->free_bytes), ct_spool_dir(mqtt->spool), mib(space->reserve_bytes),
	         space->held_records);
}

/* Stops reading from the broker: PAUSED with the reason, then a clean disconnect of the
 * subscriber. Its session is persistent (clean session off), so the broker keeps the
 * subscriptions and queues what arrives; Paho will not reconnect a link disconnected on
 * purpose. Watcher thread. */
static void pause_input(struct ct_mqtt *mqtt, const struct ct_spool_space *space)
{
	MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer;
	char reason[sizeof(mqtt->pause_reason)];

	pause_reason(mqtt, space, reason, sizeof(reason));
	pthread_mutex_lock(&mqtt->lock);
	mqtt->input_paused = true;
	mqtt->sub_restart = false;
	mqtt->status_dirty = true;
	memcpy(mqtt->pause_reason, reason, sizeof(reason));
	mqtt->sub.connected = false;
	mqtt->sub.subscribed = false;
	pthread_mutex_unlock(&mqtt->lock);
	ct_warn("pausing input: %s; the broker queues for %s meanwhile", reason,
	        mqtt->sub.client_id);
	/* Nothing in flight to wait for: Paho acknowledged every message it read already. */
	opts.timeout = 0;
	if (MQTTAsync_disconnect(mqtt->sub.client, &opts) != MQTTASYNC_SUCCESS)
		ct_debug("mqtt: %s was not connected when input paused", mqtt->sub.client_id);
}

/* Reads from the broker again: the subscriber connects (and subscribes) anew. Watcher
 * thread. */
static void resume_input(struct ct_mqtt *mqtt, const struct ct_spool_space *space)
{
	ct_info("resuming input: %.2f MiB free under %s (reserve %.2f MiB)", mib(space->free_bytes),
	        ct_spool_dir(mqtt->spool), mib(space->reserve_bytes));
	pthread_mutex_lock(&mqtt->lock);
	mqtt->input_paused = false;
	mqtt->sub_restart = true;
	mqtt->status_dirty = true;
	mqtt->pause_reason[0] = '\0';
	pthread_mutex_unlock(&mqtt->lock);
	link_start(&mqtt->sub);
}

/* Measures the spool and pauses or resumes input accordingly. Watcher thread. */
static void regulate_input(struct ct_mqtt *mqtt, int64_t *next_restart_ms)
{
	struct ct_spool_space space;
	bool paused, restart;

	if (mqtt->spool == NULL || mqtt->n_subs == 0)
		return;
	if (ct_spool_check_space(mqtt->spool, &space) != CT_OK) {
		if (!mqtt->measure_failed_logged)
			ct_warn("spool %s: cannot measure the free space or write held messages: "
			        "%s",
			        ct_spool_dir(mqtt->spool), strerror(errno));
		mqtt->measure_failed_logged = true;
	}
	pthread_mutex_lock(&mqtt->lock);
	paused = mqtt->input_paused;
	/* A resumed subscriber whose connect failed is tried again (Paho retries by itself
	 * only a connection that was up and got lost). */
	restart = mqtt->sub_restart && mqtt->sub.attempt_done && !mqtt->sub.connected;
	if (paused && space.low) /* the reason's figures current for the next status */
		pause_reason(mqtt, &space, mqtt->pause_reason, sizeof(mqtt->pause_reason));
	pthread_mutex_unlock(&mqtt->lock);
	if (space.low && !paused)
		pause_input(mqtt, &space);
	else if (!space.low && paused)
		resume_input(mqtt, &space);
	else if (restart && ct_mono_ms() >= *next_restart_ms) {
		*next_restart_ms = ct_mono_ms() + 1000;
		link_start(&mqtt->sub);
	}
}

static void *watcher_main(void *arg)
{
	struct ct_mqtt *mqtt = arg;
	int64_t next_status_ms = 0, next_restart_ms = 0;

	pthread_mutex_lock(&mqtt->lock);
	while (!mqtt->watcher_quit) {
		struct timespec ts;
		bool due;
		mqtt->watch_wake = false;
		pthread_mutex_unlock(&mqtt->lock);
		regulate_input(mqtt, &next_restart_ms);
		pthread_mutex_lock(&mqtt->lock);
		due = mqtt->status_dirty || ct_mono_ms() >= next_status_ms;
		mqtt->status_dirty = false;
		pthread_mutex_unlock(&mqtt->lock);
		if (due) {
			if (publish_current_status(mqtt) == CT_OK) {
				next_status_ms = ct_mono_ms() + mqtt->status_interval_s * 1000LL;
			} else {
				pthread_mutex_lock(&mqtt->lock);
				mqtt->status_dirty = true; /* again at the next tick */
				pthread_mutex_unlock(&mqtt->lock);
			}
		}
		pthread_mutex_lock(&mqtt->lock);
		if (mqtt->watcher_quit)
			break;
		if (!mqtt->watch_wake) {
			ct_time_deadline(&ts, WATCH_TICK_MS);
			pthread_cond_timedwait(&mqtt->watch_cond, &mqtt->lock, &ts);
		}
	}
	pthread_mutex_unlock(&mqtt->lock);
	return NULL;
}

static void watcher_stop(struct ct_mqtt *mqtt)
{
	if (!mqtt->watcher_running)
		return;
	pthread_mutex_lock(&mqtt->lock);
	mqtt->watcher_quit = true;
	pthread_cond_signal(&mqtt->watch_cond);
	pthread_mutex_unlock(&mqtt->lock);
	pthread_join(mqtt->watcher, NULL);
	mqtt->watcher_running = false;
}

void ct_mqtt_note_progress(struct ct_mqtt *mqtt)
{
	int64_t now = ct_now_us();
	pthread_mutex_lock(&mqtt->lock);
	mqtt->last_progress_at_us = now;
	pthread_mutex_unlock(&mqtt->lock);
}

bool ct_mqtt_input_paused(struct ct_mqtt *mqtt)
{
	bool paused;
	pthread_mutex_lock(&mqtt->lock);
	paused = mqtt->input_paused;
	pthread_mutex_unlock(&mqtt->lock);
	return paused;
}

int ct_mqtt_connect(struct ct_mqtt *mqtt, int timeout_ms, char *err, size_t err_len)
{
	struct link *links[2] = {&mqtt->pub, &mqtt->sub};
	size_t n_links = mqtt->n_subs > 0 ? 2 : 1;
	int64_t deadline = ct_mono_ms() + timeout_ms;
	int backoff_ms = 200;

	/* Both links connect at once: Paho adds a new socket to its poll set only when the
	 * current poll returns, so connecting one after the other costs up to a second. */
	for (size_t i = 0; i < n_links; i++)
		link_start(links[i]);
	for (;;) {
		struct link *failed = NULL;
		bool all_ready = true;
		struct timespec ts;

		pthread_mutex_lock(&mqtt->lock);
		for (;;) {
			bool pending = false;
			all_ready = true;
			failed = NULL;
			for (size_t i = 0; i < n_links; i++) {
				pending |= !links[i]->attempt_done;
				all_ready &= links[i]->attempt_done && link_ready(links[i]);
				if (links[i]->attempt_done && !link_ready(links[i]) &&
				    failed == NULL)
					failed = links[i];
			}
			if (!pending || failed != NULL || all_ready)
				break;
			int64_t left = deadline - ct_mono_ms();
			if (left <= 0 || stop_requested(mqtt))
				break;
			/* Wake every 200 ms to notice a shutdown request. */
			ct_time_deadline(&ts, left < 200 ? (int)left : 200);
			pthread_cond_timedwait(&mqtt->cond, &mqtt->lock, &ts);
		}
		if (all_ready) {
			pthread_mutex_unlock(&mqtt->lock);
			ct_info("mqtt: connected as %s (%zu subscriptions)", mqtt->sub.client_id,
			        mqtt->n_subs);
			if (mqtt->status_interval_s > 0 && !mqtt->watcher_running) {
				if (pthread_create(&mqtt->watcher, NULL, watcher_main, mqtt) != 0)
					return ct_set_error(err, err_len, CT_ERR_NOMEM,
					                    "mqtt: cannot start the status thread");
				mqtt->watcher_running = true;
			}
			return CT_OK;
		}
		if (failed == NULL) {
			pthread_mutex_unlock(&mqtt->lock);
			if (stop_requested(mqtt))
				return ct_set_error(err, err_len, CT_ERR_STOPPED,
				                    "mqtt: stopped while connecting");
			return ct_set_error(err, err_len, CT_ERR_TIMEOUT,
			                    "mqtt: no answer from broker");
		}
		ct_set_error(err, err_len, CT_ERR_MQTT, "mqtt: %s: %s", failed->client_id,
		             failed->error[0] ? failed->error : "connect failed");
		pthread_mutex_unlock(&mqtt->lock);
		/* A refused login or subscription will not fix itself: report it now. */
		if (failed->connected || failed->refused)
			return CT_ERR_MQTT;
		if (ct_mono_ms() + backoff_ms >= deadline || stop_requested(mqtt))
			return stop_requested(mqtt) ? CT_ERR_STOPPED : CT_ERR_MQTT;
		struct timespec pause = {backoff_ms / 1000, (long)(backoff_ms % 1000) * 1000000L};
		nanosleep(&pause, NULL);
		backoff_ms = backoff_ms * 2 > 2000 ? 2000 : backoff_ms * 2;
		link_start(failed);
	}
}

bool ct_mqtt_is_connected(struct ct_mqtt *mqtt)
{
	bool connected;
	pthread_mutex_lock(&mqtt->lock);
	connected = mqtt->pub.connected;
	pthread_mutex_unlock(&mqtt->lock);
	return connected;
}

int ct_mqtt_publish(struct ct_mqtt *mqtt, const char *topic, const void *payload, size_t len,
                    int qos, bool retain, int timeout_ms)
{
	MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	struct timespec ts;
	int rc;

	ct_time_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&mqtt->lock);
	while (mqtt->inflight >= mqtt->max_inflight) {
		if (pthread_cond_timedwait(&mqtt->cond, &mqtt->lock, &ts) == ETIMEDOUT) {
			pthread_mutex_unlock(&mqtt->lock);
			return CT_ERR_TIMEOUT;
		}
	}
	mqtt->inflight++;
	mqtt->sent_total++;
	pthread_mutex_unlock(&mqtt->lock);

	opts.onSuccess = on_published;
	opts.onFailure = on_publish_failed;
	opts.context = mqtt;
	msg.payload = (void *)payload;
	msg.payloadlen = (int)len;
	msg.qos = qos;
	msg.retained = retain;
	for (;;) {
		/* While the connection is down, wait for Paho's reconnect rather than hand the
		 * message to its offline buffer (see link_create). */
		pthread_mutex_lock(&mqtt->lock);
		while (!mqtt->pub.connected) {
			if (pthread_cond_timedwait(&mqtt->cond, &mqtt->lock, &ts) == ETIMEDOUT)
				break;
		}
		pthread_mutex_unlock(&mqtt->lock);
		rc = MQTTAsync_sendMessage(mqtt->pub.client, topic, &msg, &opts);
		if (rc != MQTTASYNC_DISCONNECTED || !before(&ts))
			break;
		pthread_mutex_lock(&mqtt->lock);
		mqtt->pub.connected = false; /* lost in between: wait for the reconnect */
		pthread_mutex_unlock(&mqtt->lock);
	}
	if (rc == MQTTASYNC_BAD_UTF8_STRING || rc == MQTTASYNC_TOPICNAME_TRUNCATED ||
	    rc == MQTTASYNC_NULL_PARAMETER) {
		/* The message itself is unsendable (a topic that is not UTF-8, say): no broker
		 * would take it, so it is not a failure of the session to be retried. */
		publish_finished(mqtt, false);
		ct_warn("mqtt: refused to publish to %s: %s", topic, MQTTAsync_strerror(rc));
		return CT_ERR_INVALID;
	}
	if (rc != MQTTASYNC_SUCCESS) {
		publish_finished(mqtt, true);
		ct_warn("mqtt: cannot publish to %s: %s", topic, MQTTAsync_strerror(rc));
		return rc == MQTTASYNC_DISCONNECTED ? CT_ERR_TIMEOUT : CT_ERR_MQTT;
	}
	return CT_OK;
}

void ct_mqtt_mark(struct ct_mqtt *mqtt, struct ct_mqtt_mark *ret)
{
	pthread_mutex_lock(&mqtt->lock);
	ret->sent = mqtt->sent_total;
	pthread_mutex_unlock(&mqtt->lock);
}

int ct_mqtt_mark_reached(struct ct_mqtt *mqtt, const struct ct_mqtt_mark *mark, bool *ret_reached)
{
	int rc = CT_OK;

	pthread_mutex_lock(&mqtt->lock);
	*ret_reached = mqtt->finished_total >= mark->sent;
	if (mqtt->failed_publishes > 0)
		rc = CT_ERR_MQTT;
	else if (!*ret_reached)
		mqtt->wake_reader_at = mark->sent;
	pthread_mutex_unlock(&mqtt->lock);
	return rc;
}

int ct_mqtt_flush(struct ct_mqtt *mqtt, int timeout_ms)
{
	struct timespec ts;
	int rc = CT_OK;

	ct_time_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&mqtt->lock);
	while (mqtt->inflight > 0) {
		if (pthread_cond_timedwait(&mqtt->cond, &mqtt->lock, &ts) == ETIMEDOUT) {
			rc = CT_ERR_TIMEOUT;
			break;
		}
	}
	if (rc == CT_OK && mqtt->failed_publishes > 0)
		rc = CT_ERR_MQTT;
	mqtt->failed_publishes = 0;
	pthread_mutex_unlock(&mqtt->lock);
	return rc;
}

int ct_mqtt_publish_status(struct ct_mqtt *mqtt, int state)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (mqtt->clean_session)
		return CT_OK; /* a throwaway client has no status */
	rc = encode_status(mqtt, state, &buf, &len);
	if (rc != CT_OK)
		return rc;
	rc = ct_mqtt_publish(mqtt, mqtt->status_topic, buf, len, 1, true, 5000);
	free(buf);
	return rc;
}

const char *ct_mqtt_client_id(const struct ct_mqtt *mqtt)
{
	return mqtt->sub.client_id;
}

static void link_close(struct link *link)
{
	if (link->client == NULL)
		goto out;
	if (MQTTAsync_isConnected(link->client)) {
		MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer;
		opts.timeout = 2000;
		MQTTAsync_disconnect(link->client, &opts);
		/* Paho finishes the disconnect on its thread; wait for it, bounded. */
		for (int i = 0; i < 200 && MQTTAsync_isConnected(link->client); i++) {
			struct timespec pause = {0, 10 * 1000000L};
			nanosleep(&pause, NULL);
		}
	}
	MQTTAsync_destroy(&link->client);
out:
	free(link->client_id);
	link->client_id = NULL;
}

void ct_mqtt_free(struct ct_mqtt *mqtt)
{
	if (mqtt == NULL)
		return;
	/* First, so no status of the watcher's comes after OFFLINE. */
	watcher_stop(mqtt);
	/* A clean stop publishes OFFLINE itself: the broker sends the will only on a crash. A
	 * throwaway client has neither. */
	if (!mqtt->clean_session && mqtt->pub.client != NULL && ct_mqtt_is_connected(mqtt) &&
	    ct_mqtt_publish_status(mqtt, CELLTHREAD__V1__SERVICE_STATE__SERVICE_STATE_OFFLINE) ==
	            CT_OK)
		ct_mqtt_flush(mqtt, 2000);
	link_close(&mqtt->sub);
	link_close(&mqtt->pub);
	for (size_t i = 0; i < mqtt->n_subs; i++)
		free(mqtt->subs[i].filter);
	free(mqtt->subs);
	free(mqtt->status_topic);
	free(mqtt->service);
	free(mqtt->instance);
	free(mqtt->url);
	free(mqtt->share_group);
	free(mqtt->username);
	free(mqtt->password);
	free(mqtt->ca_file);
	free(mqtt->cert_file);
	free(mqtt->key_file);
	free(mqtt->offline_status);
	pthread_mutex_destroy(&mqtt->lock);
	pthread_cond_destroy(&mqtt->cond);
	pthread_cond_destroy(&mqtt->watch_cond);
	free(mqtt);
}
