/* harness: a real Mosquitto, a real PostgreSQL and the real service binaries, per test group.
 *
 * A test program creates one struct harness in its cmocka group setup: a private directory
 * under /tmp (mode 0755, so a postgres user can traverse it when the suite runs as root), a
 * broker configured by deploy/scripts/broker-config.sh on a free loopback port, and a
 * PostgreSQL cluster copied from a template that deploy/scripts/pg-cluster.sh initialised and
 * provisioned (ct-migrate, login roles) once per ctest run (PostgreSQL's Cluster.pm does the
 * same: initdb is the slow part, a copy of a stopped cluster is fast). Services run as their
 * real binaries (posix_spawn) with configuration in their environment, stderr and stdout in
 * <dir>/<name>.log. Nothing here sleeps for a fixed time: every wait polls a condition (a
 * port that accepts, a log line, a row count, a message) every few ms until a deadline.
 *
 * Failure handling: every harness function returns CT_OK or a ct_err code and prints why it
 * failed (tests assert on the code). A failed wait prints the tail of every service log.
 * harness_free() kills whatever still runs, stops PostgreSQL and the broker and removes the
 * directory unless CT_KEEP_TEST_DIRS=1. A watchdog (SIGALRM, and SIGTERM/SIGINT) kills every
 * child and the postmaster before the test process dies, so a hung test leaves no daemons.
 *
 * Not thread-safe: one thread drives a harness (MQTT clients created here may be used from
 * other threads, as ct_mqtt allows). */
#ifndef HARNESS_H
#define HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <libpq-fe.h>

#include "ct_mqtt.h"
#include "ct_pb.h"
#include "ct_spool.h"

/* Default deadline of waits; generous for ASan builds on a loaded 2-core machine. The waits
 * return as soon as their condition holds, so this only bounds a failing test. */
#define HARNESS_WAIT_MS 120000

#define HARNESS_DIR_MAX   160 /* the test directory: /tmp/ct-it-<name>-XXXXXX */
#define HARNESS_PATH_MAX  512
#define HARNESS_MAX_PROCS 32 /* every start of a test program, kept until harness_free */

enum harness_service {
	HARNESS_INGEST,
	HARNESS_TRAVELER,
	HARNESS_LINESIM,
	HARNESS_SPCGATE,     /* ct-spc-gate: broker user "spc-gate", PostgreSQL login "spcgate" */
	HARNESS_FPYREPORT,   /* ct-fpy-report: broker user "fpy-report", no database */
	HARNESS_ALERTROUTER, /* ct-alert-router: broker user "alert-router", login "alertrouter" */
	HARNESS_API,         /* ct-api: broker user "api", login "api"; HTTP at h->api_url */
	HARNESS_OEE,         /* ct-oee: broker user "oee", login "oee" */
};

/* A child process the harness keeps running: a service or the broker. */
struct harness_proc {
	char name[48];               /* "ingest", also the log file's name */
	char path[HARNESS_PATH_MAX]; /* binary */
	char log_path[HARNESS_PATH_MAX];
	char **argv;     /* owned, NULL-terminated */
	char **envp;     /* owned, NULL-terminated */
	pid_t pid;       /* > 0 while running */
	int status;      /* waitpid status of the last run, valid when pid == 0 */
	long log_offset; /* log size when the current run started */
	int starts;
};

struct harness {
	char name[64];
	char dir[HARNESS_DIR_MAX];
	bool failed;  /* set by a failed harness call or a test that did not harness_pass() */
	bool passed;  /* the current test called harness_pass() */
	bool printed; /* the logs were printed since the current test started */
	int64_t test_started_ms;

	/* Broker. */
	int mqtt_port;
	char mqtt_url[64];
	char broker_dir[HARNESS_DIR_MAX + 16];
	struct harness_proc broker;
	bool broker_configured;

	/* PostgreSQL. */
	int pg_port;
	char pg_dir[HARNESS_DIR_MAX + 16];
	bool pg_running;
	PGconn *pg; /* ct_admin connection for the test's own queries */

	/* ct-api (HARNESS_API): its HTTP port, chosen free at its first start and kept across
	 * restarts, and "http://127.0.0.1:PORT". */
	int api_port;
	char api_url[64];

	struct harness_proc *procs[HARNESS_MAX_PROCS];
	size_t n_procs;
	unsigned client_seq; /* makes test MQTT client IDs unique */
	unsigned run_seq;    /* numbers the output files of harness_run */
};

/* ---- Lifecycle ---- */

/* Creates the harness and its directory /tmp/ct-it-<name>-XXXXXX. watchdog_s > 0 arms a
 * SIGALRM that kills every child and exits the test process (set it below ctest's TIMEOUT).
 * Returns CT_OK or CT_ERR_IO; *ret is set only on success. */
int harness_new(const char *name, unsigned watchdog_s, struct harness **ret);
/* cmocka group setup shared by the test programs: a harness named `name` with its watchdog,
 * a broker and PostgreSQL started, stored in *state. Returns 0, or -1 after cleaning up. */
int harness_group_start(const char *name, unsigned watchdog_s, void **state);
/* cmocka group teardown: harness_free(*state). */
int harness_group_stop(void **state);
/* Kills what still runs, stops PostgreSQL and the broker (printing the logs when that
 * fails), removes the directory unless CT_KEEP_TEST_DIRS=1. NULL is a no-op. */
void harness_free(struct harness *h);

/* cmocka per-test setup/teardown (state is the struct harness * of the group): teardown
 * stops every running service with SIGTERM and fails the test unless each exits 0, and
 * prints every log's tail when the test did not reach harness_pass(). */
int harness_test_setup(void **state);
int harness_test_teardown(void **state);
/* Marks the current test as having reached its end. */
void harness_pass(struct harness *h);
/* Prints the last lines of every log (broker, services, PostgreSQL) to stderr. */
void harness_print_logs(struct harness *h);

/* A free TCP port on 127.0.0.1 (bound to port 0, then released). Returns 0 on failure. */
int harness_free_port(void);

/* ---- Broker ---- */

/* First call: writes the config with broker-config.sh on a free port, for every MQTT user
 * of the service registry deploy/services.conf and with the ACL it generates from it. Every call:
 * starts mosquitto and waits until the port accepts connections. Returns CT_OK, CT_ERR_IO or
 * CT_ERR_TIMEOUT. */
int harness_broker_start(struct harness *h);
/* SIGTERM, wait, CT_OK only when mosquitto exits 0. */
int harness_broker_stop(struct harness *h);
/* The broker password of user (written by broker-config.sh) into buf. */
int harness_mqtt_password(struct harness *h, const char *user, char *buf, size_t len);

/* ---- PostgreSQL ---- */

/* Builds the template cluster (init, start, provision, stop) under CT_IT_TEMPLATE_DIR (the
 * environment's, else CMake's), under an exclusive lock so concurrent test programs build it
 * once. A template is reused while its stamp (builder's uid, ct-migrate, migrations) is
 * unchanged; force rebuilds anyway (the ctest fixture does, once per run). */
int harness_pg_template(bool force);
/* First call: copies the template into <dir>/pg on a free port. Every call: starts it and
 * connects h->pg as ct_admin. */
int harness_pg_start(struct harness *h);
/* Closes h->pg and stops the cluster (pg-cluster.sh stop). */
int harness_pg_stop(struct harness *h);
/* "host=127.0.0.1 port=P dbname=cellthread user=USER" into buf. */
void harness_pg_conninfo(struct harness *h, const char *user, char *buf, size_t len);
/* The database password of a login role (ct_admin, or a `pg` login of the registry:
 * traveler, cli, spcgate, quality). */
int harness_pg_password(struct harness *h, const char *role, char *buf, size_t len);
/* A new connection as a login role with its own password (PQfinish it), or NULL with the
 * reason printed. */
PGconn *harness_pg_connect(struct harness *h, const char *role);
/* Runs sql (statements without parameters, results discarded) on conn: CT_OK, or CT_ERR_PG
 * with the server's message printed. */
int harness_pg_exec(PGconn *conn, const char *sql);
/* Loads the starter quality configuration deploy/config/spc-linesim.sql as `quality`, as
 * deploy/local.sh up does, once per database (a later call finds it and does nothing). */
int harness_load_starter_config(struct harness *h);

/* Runs sql with text parameters as ct_admin; *ret (PQclear it) on CT_OK. Reconnects once
 * when the connection was lost (PostgreSQL restarts). Prints the error on failure. */
int harness_sql(struct harness *h, const char *sql, int n_params, const char *const *params,
                PGresult **ret);
/* The first column of the first row as an integer (count(*) and the like). */
int harness_sql_long(struct harness *h, const char *sql, int n_params, const char *const *params,
                     long long *ret);
/* Polls sql (a single integer) every few ms until it equals expected or timeout_ms passes.
 * Returns CT_OK, CT_ERR_TIMEOUT (printing the last value and the logs), or CT_ERR_IO at once
 * when a service the harness started dies by itself meanwhile (a crash: nothing would
 * change any more). */
int harness_wait_sql_count(struct harness *h, const char *sql, long long expected, int timeout_ms);
int harness_wait_sql_countv(struct harness *h, const char *sql, int n_params,
                            const char *const *params, long long expected, int timeout_ms);

/* ---- Processes ---- */

/* Starts a service binary with the harness's environment for it (CT_MQTT_URL, user and
 * password of the service, CT_SPOOL_DIR=<dir>/spool, CT_PG_* when it has a login, CT_LOG_LEVEL)
 * plus extra_env ("KEY=value", NULL-terminated, may be NULL; overrides the defaults), and
 * waits until it logs "ready" (not for linesim, which may finish first). name names the log;
 * NULL uses the service's name. HARNESS_API also gets CT_API_BIND=127.0.0.1, CT_API_PORT (a
 * free port, h->api_port), CT_API_WEB_ROOT (the build tree's dashboard) and
 * CT_API_OPENAPI_FILE (services/api/openapi.json), and is waited for until its port accepts
 * (not for "ready"). */
int harness_service_start(struct harness *h, enum harness_service service, const char *name,
                          const char *const *extra_env, struct harness_proc **ret);
/* The environment harness_service_start gives user's service (CT_MQTT_* with its broker
 * user's password, CT_SPOOL_DIR, CT_LOG_LEVEL and CT_PG_* for those with a database login),
 * plus extra. user is an entry of the service registry deploy/services.conf, whose `mqtt`
 * and `pg` lines say who it is (traveler, cli, spc-gate: login spcgate; "quality": the CLI of
 * a quality engineer, broker user cli, login quality), or a PostgreSQL login named there
 * ("spcgate" is spc-gate); a name the registry lacks is a broker user without a login.
 * NULL-terminated; free it with harness_env_free. NULL when out of memory or a secret is
 * missing. */
char **harness_env(struct harness *h, const char *user, const char *const *extra);
void harness_env_free(char **env);
/* Spawns any binary with the harness environment plus extra_env; output to <dir>/<name>.log. */
int harness_spawn(struct harness *h, const char *name, const char *path, const char *const *argv,
                  const char *const *extra_env, struct harness_proc **ret);
/* Starts proc again with the same argv and environment (the log is appended to) and, for a
 * service that logs it, waits for "ready" after the restart. */
int harness_proc_restart(struct harness *h, struct harness_proc *proc, bool wait_ready);
/* SIGTERM and wait (up to 60 s): CT_OK only when the process exits with status 0. */
int harness_proc_stop(struct harness *h, struct harness_proc *proc);
/* SIGKILL and reap. */
int harness_proc_kill(struct harness *h, struct harness_proc *proc);
/* Waits for the process to exit by itself; CT_OK when it exited 0. */
int harness_proc_wait_exit(struct harness *h, struct harness_proc *proc, int timeout_ms);
/* Waits for the process to exit by itself, whatever its status: CT_OK with the exit code in
 * *ret_code (-1 when a signal killed it), CT_ERR_TIMEOUT when it still runs. */
int harness_proc_wait_any(struct harness *h, struct harness_proc *proc, int timeout_ms,
                          int *ret_code);
/* True while the process runs (reaps it when it has exited). */
bool harness_proc_is_alive(struct harness_proc *proc);
/* Waits until the log of the current run contains `word` as a whole word. */
int harness_proc_wait_log(struct harness *h, struct harness_proc *proc, const char *word,
                          int timeout_ms);

/* Runs path with argv to completion (deadline timeout_ms) with the harness environment plus
 * extra_env. *ret_out gets its stdout (malloc'ed, NUL-terminated), *ret_status its exit
 * status (-1 when killed by a signal). Returns CT_OK when it ran to an exit. */
int harness_run(struct harness *h, const char *name, const char *path, const char *const *argv,
                const char *const *extra_env, int timeout_ms, char **ret_out, int *ret_status);

/* Runs `cellthread args...` (NULL-terminated, at most 14) as identity (a registry name, as for
 * harness_env: "cli", "quality", ...) to completion within HARNESS_WAIT_MS. Returns its exit
 * status (-1 when a signal killed it; -2 when it could not be run, which also fails the test),
 * with its stdout in *ret_out (free it) when ret_out is not NULL and it ran. */
int harness_cli(struct harness *h, const char *identity, const char *const *args, char **ret_out);

/* ---- MQTT ---- */

/* Connects a throwaway client (clean session, no spool) as user with password (NULL user:
 * anonymous), trying for up to timeout_ms. The client ID is "<user or anon>-t<pid>-<n>".
 * Returns the connect result; *ret is set only on CT_OK. err receives the broker's reason. */
int harness_mqtt_connect_as(struct harness *h, const char *user, const char *password,
                            int timeout_ms, struct ct_mqtt **ret, char *err, size_t err_len);
/* The same with the user's real password. */
int harness_mqtt_connect(struct harness *h, const char *user, struct ct_mqtt **ret);
/* One QoS 1 publish as user, waiting for the broker's PUBACK. */
int harness_publish(struct harness *h, const char *user, const char *topic, const void *payload,
                    size_t len);
/* The same, retained or not (an empty retained payload deletes the topic's retained message). */
int harness_publish_retained(struct harness *h, const char *user, const char *topic,
                             const void *payload, size_t len, bool retained);

/* A subscriber that spools what it receives into <dir>/sub-N. */
struct harness_sub {
	struct ct_mqtt *mqtt;
	struct ct_spool *spool;
	struct ct_spool_batch batch;
	size_t next;
};

/* Connects as user with client ID "<id_base>-<instance>" (clean or persistent session),
 * subscribed to filters with qos, spooling what arrives, and waits for the SUBACK. Returns the
 * connect's error (e.g. the broker refused the client ID or a subscription). */
int harness_sub_open(struct harness *h, const char *user, const char *id_base, const char *instance,
                     bool clean, const char *const *filters, size_t n, int qos,
                     struct harness_sub **ret);
/* Subscribes as user to filter and waits for the SUBACK: QoS 1 for a service, QoS 0 for
 * clients that are not (the broker guard queues only for services). */
int harness_sub_new(struct harness *h, const char *user, const char *filter,
                    struct harness_sub **ret);
/* The same with n filters. */
int harness_sub_newv(struct harness *h, const char *user, const char *const *filters, size_t n,
                     struct harness_sub **ret);
/* Waits for the next message; topic and payload stay valid until the next call. */
int harness_sub_next(struct harness_sub *sub, int timeout_ms, const char **ret_topic,
                     const uint8_t **ret_payload, size_t *ret_len);
/* The client ID of the subscriber (for reply topics). */
const char *harness_sub_client_id(const struct harness_sub *sub);
void harness_sub_free(struct harness_sub *sub);

/* The retained ServiceStatus state of service/instance (a SERVICE_STATE_* value), read by a
 * fresh cli subscriber. CT_ERR_NOT_FOUND when none arrives within timeout_ms. */
int harness_service_status(struct harness *h, const char *service, const char *instance,
                           int timeout_ms, int *ret_state);

/* ---- Messages ---- */

/* What harness_simple_batch puts in each result. */
struct harness_simple {
	const char *site, *line, *station; /* must match the topic */
	const char *producer;
	int n_measurements;  /* characteristics m0, m1, ... with value index + k/8 */
	int64_t ended_at_us; /* 0: now */
};

/* Packs a StationResultBatch of n results with event IDs ids[i] and unit IDs units[i]
 * (cells) into a new buffer (free()). */
int harness_simple_batch(const struct harness_simple *spec, const char *const *ids,
                         const char *const *units, size_t n, uint8_t **ret_buf, size_t *ret_len);

/* ---- Streams ---- */

/* A stream of result batches published as gateway to
 * ct/v1/edge/<site>/L1/<station>/result/pb, with event IDs "<prefix>-<msg>-<i>" (prefix
 * without LIKE wildcards) and cells "<prefix>-CELL-<msg>-<i>", used to prove that what was
 * published is stored exactly once whatever happens to the services in between. */
struct harness_stream {
	struct ct_mqtt *pub;
	char prefix[32], site[32], station[32];
	int results_per;         /* results per message */
	int meas_per;            /* measurements per result */
	int published;           /* messages published so far */
	long long stored;        /* results stored, as last counted */
	long long max_lead;      /* results published but not stored, at most, while flowing */
	long long last_progress; /* stored when progress was last seen */
	int64_t progress_at_ms;
};

int harness_stream_open(struct harness *h, struct harness_stream *s, const char *prefix,
                        const char *site, const char *station, int results_per, int meas_per);
/* Counts the stream's stored results into s->stored. */
int harness_stream_count(struct harness *h, struct harness_stream *s);
/* Publishes until s->published reaches until_msgs or s->stored reaches until_stored,
 * whichever comes first, never more than max_lead results ahead of the database (it waits
 * for the services, so the stream is still flowing when this returns early). Fails with
 * CT_ERR_TIMEOUT when the stored count does not move for HARNESS_WAIT_MS, CT_ERR_IO when a
 * service dies by itself. */
int harness_stream_flow(struct harness *h, struct harness_stream *s, int until_msgs,
                        long long until_stored);
/* Publishes n more messages at once, ignoring the database (a consumer is down). */
int harness_stream_publish(struct harness *h, struct harness_stream *s, int n);
/* Replaces the publisher's connection with a new one (after a broker restart: a clean
 * session's unacknowledged publishes are the publisher's to lose, so flush before). */
int harness_stream_reconnect(struct harness *h, struct harness_stream *s);
/* Waits for the broker's acknowledgement of everything published. */
int harness_stream_flush(struct harness_stream *s);
/* Flushes, then waits until exactly every published event, visit, measurement and unit is
 * stored, sends a sentinel behind the stream and checks the counts once more (so nothing
 * still in flight can add to them), checks there are no duplicate measurements and no dead
 * letters from the stream's station. Returns CT_OK or the first failure (printed). */
int harness_stream_verify(struct harness *h, struct harness_stream *s);
void harness_stream_close(struct harness_stream *s);

/* Reads a whole file into a malloc'ed NUL-terminated buffer. */
int harness_read_file(const char *path, char **ret, size_t *ret_len);

#endif
