/* harness: real broker, database and service processes for the integration tests.
 *
 * Everything a test waits for is polled with a deadline (a port, a log word, a row count, a
 * spooled message); the poll interval starts at 2 ms and backs off to 25 ms so a long wait
 * does not steal a core from the services on a 2-core machine. Child processes are started
 * with posix_spawn and reaped with waitpid; the daemons that detach (the postmaster, via
 * pg_ctl) are stopped through pg-cluster.sh, and as a last resort by the pid in
 * postmaster.pid. The paths of the binaries and of the repository come from CMake. */

/* nftw() is an XSI interface. */
#define _XOPEN_SOURCE 700

#include "harness.h"
#include "harness_private.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ct_error.h"
#include "ct_time.h"
#include "ct_topic.h"

#ifndef CT_SOURCE_DIR
#error "CT_SOURCE_DIR must name the repository root"
#endif
#ifndef CT_IT_TEMPLATE_DIR
#error "CT_IT_TEMPLATE_DIR must name the directory of the PostgreSQL template"
#endif
#ifndef CT_MIGRATE_BIN
#define CT_MIGRATE_BIN ""
#endif
#ifndef CT_INGEST_BIN
#define CT_INGEST_BIN ""
#endif
#ifndef CT_CLI_BIN
#define CT_CLI_BIN ""
#endif
#ifndef CT_ALERTROUTER_BIN
#define CT_ALERTROUTER_BIN ""
#endif
#ifndef CT_TRAVELER_BIN
#define CT_TRAVELER_BIN ""
#endif
#ifndef CT_LINESIM_BIN
#define CT_LINESIM_BIN ""
#endif
#ifndef CT_API_BIN
#define CT_API_BIN ""
#endif
#ifndef CT_OEE_BIN
#define CT_OEE_BIN ""
#endif
/* The dashboard's assembled web root (CMake target `dashboard`) that ct-api serves. */
#ifndef CT_API_WEB_ROOT
#define CT_API_WEB_ROOT ""
#endif

#define SCRIPTS_DIR    CT_SOURCE_DIR "/deploy/scripts"
#define BROKER_CONFIG  SCRIPTS_DIR "/broker-config.sh"
#define PG_CLUSTER     SCRIPTS_DIR "/pg-cluster.sh"
#define MIGRATIONS_DIR CT_SOURCE_DIR "/deploy/migrations"
#define REGISTRY       CT_SOURCE_DIR "/deploy/services.conf"
/* Entries only the tests' broker has (a gateway for every site); appended to REGISTRY. */
#define TEST_REGISTRY     CT_SOURCE_DIR "/tests/integration/services-test.conf"
#define MOSQUITTO_BIN     "mosquitto"
#define STOP_TIMEOUT_MS   60000
#define SCRIPT_TIMEOUT_MS 120000
#define LOG_TAIL_BYTES    3000
#define SANITIZER_BYTES   8000

extern char **environ;

/* The harness the watchdog cleans up after. A signal handler can reach nothing else; the
 * harness is single-threaded per test program, so one pointer is enough. */
static struct harness *volatile watched;

void harness_say(const char *fmt, ...)
{
	va_list ap;
	char buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "harness: %s\n", buf);
	fflush(stderr);
}

void harness_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int harness_backoff(int *interval_ms)
{
	int now = *interval_ms;
	*interval_ms = now * 2 > 25 ? 25 : now * 2;
	return now;
}

/* ---- Environment ---- */

static void strv_free(char **v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static size_t strv_len(char *const *v)
{
	size_t n = 0;
	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

static char **strv_dup(const char *const *v)
{
	size_t n = strv_len((char *const *)v);
	char **out = calloc(n + 1, sizeof(*out));

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		out[i] = strdup(v[i]);
		if (out[i] == NULL) {
			strv_free(out);
			return NULL;
		}
	}
	return out;
}

/* Sets "KEY=value" in *envp, replacing an entry with the same key. */
static int env_put(char ***envp, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t key_len = eq != NULL ? (size_t)(eq - kv) + 1 : strlen(kv);
	size_t n = strv_len(*envp);
	char *copy = strdup(kv);
	char **grown;

	if (copy == NULL)
		return CT_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		if (strncmp((*envp)[i], kv, key_len) == 0) {
			free((*envp)[i]);
			(*envp)[i] = copy;
			return CT_OK;
		}
	}
	grown = realloc(*envp, (n + 2) * sizeof(*grown));
	if (grown == NULL) {
		free(copy);
		return CT_ERR_NOMEM;
	}
	grown[n] = copy;
	grown[n + 1] = NULL;
	*envp = grown;
	return CT_OK;
}

static int env_putf(char ***envp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int env_putf(char ***envp, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return env_put(envp, buf);
}

/* The test's environment without CT_* and PG* variables, so a developer's shell settings
 * cannot leak into the services under test; PATH, ASAN_OPTIONS and the like stay. */
static char **env_base(void)
{
	char **env = calloc(1, sizeof(*env));

	if (env == NULL)
		return NULL;
	for (size_t i = 0; environ[i] != NULL; i++) {
		if (strncmp(environ[i], "CT_", 3) == 0 || strncmp(environ[i], "PG", 2) == 0)
			continue;
		if (env_put(&env, environ[i]) != CT_OK) {
			strv_free(env);
			return NULL;
		}
	}
	return env;
}

/* ---- Files ---- */

int harness_read_file(const char *path, char **ret, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return CT_ERR_IO;
	for (;;) {
		if (cap - len < 4096) {
			char *grown = realloc(buf, cap + 65536);
			if (grown == NULL) {
				free(buf);
				fclose(f);
				return CT_ERR_NOMEM;
			}
			buf = grown;
			cap += 65536;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	buf[len] = '\0';
	*ret = buf;
	if (ret_len != NULL)
		*ret_len = len;
	return CT_OK;
}

/* The first line of a secret file, without its newline. */
static int read_secret(const char *path, char *buf, size_t len)
{
	char *text = NULL;
	int rc = harness_read_file(path, &text, NULL);

	if (rc != CT_OK) {
		harness_say("cannot read secret %s: %s", path, strerror(errno));
		return rc;
	}
	text[strcspn(text, "\r\n")] = '\0';
	if (text[0] == '\0' || strlen(text) >= len) {
		harness_say("secret %s is empty or too long", path);
		free(text);
		return CT_ERR_INVALID;
	}
	snprintf(buf, len, "%s", text);
	free(text);
	return CT_OK;
}

static bool path_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT)
		harness_say("cannot remove %s: %s", path, strerror(errno));
	return 0;
}

static void remove_tree(const char *dir)
{
	if (path_exists(dir))
		nftw(dir, remove_entry, 32, FTW_DEPTH | FTW_PHYS);
}

/* ---- Processes ---- */

/* Starts path with stdout and stderr appended to out_path (stderr to err_path when set),
 * stdin from /dev/null, signals at their defaults. */
static int spawn_raw(const char *path, char *const argv[], char *const envp[], const char *out_path,
                     const char *err_path, pid_t *ret_pid)
{
	posix_spawn_file_actions_t actions;
	posix_spawnattr_t attr;
	sigset_t none, defaults;
	pid_t pid;
	int rc;

	posix_spawn_file_actions_init(&actions);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&actions, 1, out_path, O_WRONLY | O_CREAT | O_APPEND,
	                                 0644);
	if (err_path != NULL)
		posix_spawn_file_actions_addopen(&actions, 2, err_path,
		                                 O_WRONLY | O_CREAT | O_APPEND, 0644);
	else
		posix_spawn_file_actions_adddup2(&actions, 1, 2);
	/* The watchdog's handlers and SIGPIPE's disposition must not reach the child. */
	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGTERM);
	sigaddset(&defaults, SIGINT);
	sigaddset(&defaults, SIGALRM);
	sigaddset(&defaults, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawnp(&pid, path, &actions, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&actions);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		harness_say("cannot start %s: %s", path, strerror(rc));
		return CT_ERR_IO;
	}
	*ret_pid = pid;
	return CT_OK;
}

/* Waits for pid with a deadline. Returns CT_OK with the wait status, or CT_ERR_TIMEOUT. */
static int wait_pid(pid_t pid, int timeout_ms, int *ret_status)
{
	int64_t deadline = ct_mono_ms() + timeout_ms;
	int interval = 1, status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			*ret_status = status;
			return CT_OK;
		}
		if (r < 0 && errno != EINTR) {
			harness_say("waitpid %d: %s", (int)pid, strerror(errno));
			return CT_ERR_IO;
		}
		if (ct_mono_ms() >= deadline)
			return CT_ERR_TIMEOUT;
		harness_sleep_ms(harness_backoff(&interval));
	}
}

static void describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
		         strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "wait status 0x%x", status);
}

/* Runs argv to completion with output to log_path. Returns CT_OK only when it exits 0. */
static int run_logged(const char *const *argv, char *const envp[], const char *log_path,
                      int timeout_ms)
{
	char what[64];
	pid_t pid;
	int status, rc;

	rc = spawn_raw(argv[0], (char *const *)argv, envp, log_path, NULL, &pid);
	if (rc != CT_OK)
		return rc;
	rc = wait_pid(pid, timeout_ms, &status);
	if (rc == CT_ERR_TIMEOUT) {
		harness_say("%s did not finish within %d ms; killing it (log: %s)", argv[0],
		            timeout_ms, log_path);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return CT_ERR_TIMEOUT;
	}
	if (rc != CT_OK)
		return rc;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		describe_status(status, what, sizeof(what));
		harness_say("%s %s failed: %s (log: %s)", argv[0], argv[1] ? argv[1] : "", what,
		            log_path);
		return CT_ERR_IO;
	}
	return CT_OK;
}

/* Prints the end of a log. A sanitizer report is printed from its first line (up to
 * SANITIZER_BYTES) instead, since its head names the bug and a plain tail would cut it. */
static void print_tail(const char *title, const char *path)
{
	char *text = NULL;
	size_t len = 0;
	const char *start, *report;
	size_t shown;

	if (harness_read_file(path, &text, &len) != CT_OK)
		return;
	start = text;
	report = strstr(text, "ERROR: AddressSanitizer");
	if (report == NULL)
		report = strstr(text, "ERROR: LeakSanitizer");
	if (report == NULL)
		report = strstr(text, "runtime error:");
	if (report != NULL) {
		while (report > text && report[-1] != '\n')
			report--;
		start = report;
	} else if (len > LOG_TAIL_BYTES) {
		start = text + len - LOG_TAIL_BYTES;
		start = strchr(start, '\n') ? strchr(start, '\n') + 1 : start;
	}
	shown = strlen(start) < SANITIZER_BYTES ? strlen(start) : SANITIZER_BYTES;
	fprintf(stderr, "---- %s (%s), %zu bytes from %s ----\n%.*s%s---- end of %s ----\n", title,
	        path, shown, report != NULL ? "its sanitizer report" : "its end", (int)shown, start,
	        shown > 0 && start[shown - 1] != '\n' ? "\n" : "", title);
	free(text);
}

/* The server log (pg-cluster.sh keeps it at <cluster>/postgresql.log) and the output of the
 * script itself. */
static void print_pg_logs(struct harness *h)
{
	char path[HARNESS_PATH_MAX + 32];

	if (h->pg_dir[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s/postgresql.log", h->pg_dir);
	print_tail("postgresql", path);
	snprintf(path, sizeof(path), "%s/pg-cluster.log", h->dir);
	print_tail("pg-cluster.sh", path);
}

void harness_print_logs(struct harness *h)
{
	char path[HARNESS_PATH_MAX + 32];

	h->printed = true;
	if (h->broker.log_path[0] != '\0') {
		print_tail("mosquitto (stderr)", h->broker.log_path);
		snprintf(path, sizeof(path), "%s/mosquitto.log", h->broker_dir);
		print_tail("mosquitto", path);
	}
	for (size_t i = 0; i < h->n_procs; i++)
		print_tail(h->procs[i]->name, h->procs[i]->log_path);
	print_pg_logs(h);
}

int harness_fail_with_logs(struct harness *h, int rc)
{
	h->failed = true;
	harness_print_logs(h);
	return rc;
}

bool harness_proc_is_alive(struct harness_proc *proc)
{
	int status;

	if (proc->pid <= 0)
		return false;
	if (waitpid(proc->pid, &status, WNOHANG) == proc->pid) {
		proc->status = status;
		proc->pid = 0;
		return false;
	}
	return true;
}

int harness_check_services(struct harness *h)
{
	for (size_t i = 0; i < h->n_procs; i++) {
		struct harness_proc *proc = h->procs[i];
		char what[64];

		if (proc->pid <= 0 || harness_proc_is_alive(proc))
			continue;
		if (WIFEXITED(proc->status) && WEXITSTATUS(proc->status) == 0)
			continue;
		describe_status(proc->status, what, sizeof(what));
		harness_say("%s died (%s) while the test waited", proc->name, what);
		return harness_fail_with_logs(h, CT_ERR_IO);
	}
	return CT_OK;
}

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

static int proc_start(struct harness_proc *proc)
{
	int rc;

	proc->log_offset = file_size(proc->log_path);
	rc = spawn_raw(proc->path, proc->argv, proc->envp, proc->log_path, NULL, &proc->pid);
	if (rc == CT_OK)
		proc->starts++;
	return rc;
}

static void proc_free(struct harness_proc *proc)
{
	if (proc == NULL)
		return;
	strv_free(proc->argv);
	strv_free(proc->envp);
	free(proc);
}

/* True when text contains word with no letter, digit or '_' on either side. */
static bool has_word(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = strstr(text, word); p != NULL; p = strstr(p + 1, word)) {
		char before = p == text ? ' ' : p[-1];
		char after = p[n];
		bool before_ok =
		        !(before == '_' || (before >= 'a' && before <= 'z') ||
		          (before >= 'A' && before <= 'Z') || (before >= '0' && before <= '9'));
		bool after_ok = !(after == '_' || (after >= 'a' && after <= 'z') ||
		                  (after >= 'A' && after <= 'Z') || (after >= '0' && after <= '9'));
		if (before_ok && after_ok)
			return true;
	}
	return false;
}

int harness_proc_wait_log(struct harness *h, struct harness_proc *proc, const char *word,
                          int timeout_ms)
{
	int64_t deadline = ct_mono_ms() + timeout_ms;
	int interval = 2;

	for (;;) {
		char *text = NULL;
		size_t len = 0;
		bool found = false;

		if (harness_read_file(proc->log_path, &text, &len) == CT_OK) {
			size_t from =
			        (size_t)proc->log_offset < len ? (size_t)proc->log_offset : len;
			found = has_word(text + from, word);
			free(text);
		}
		if (found)
			return CT_OK;
		if (!harness_proc_is_alive(proc)) {
			char what[64];
			describe_status(proc->status, what, sizeof(what));
			harness_say("%s ended (%s) before logging \"%s\"", proc->name, what, word);
			return harness_fail_with_logs(h, CT_ERR_IO);
		}
		if (ct_mono_ms() >= deadline) {
			harness_say("%s did not log \"%s\" within %d ms", proc->name, word,
			            timeout_ms);
			return harness_fail_with_logs(h, CT_ERR_TIMEOUT);
		}
		harness_sleep_ms(harness_backoff(&interval));
	}
}

int harness_spawn(struct harness *h, const char *name, const char *path, const char *const *argv,
                  const char *const *extra_env, struct harness_proc **ret)
{
	struct harness_proc *proc = NULL;
	const char *default_argv[] = {path, NULL};
	int rc = CT_ERR_NOMEM;

	if (path == NULL || path[0] == '\0' || access(path, X_OK) != 0) {
		harness_say("%s: binary \"%s\" is not built (or not executable)", name,
		            path ? path : "(null)");
		h->failed = true;
		return CT_ERR_NOT_FOUND;
	}
	if (h->n_procs >= HARNESS_MAX_PROCS) {
		harness_say("too many processes");
		return CT_ERR_TOO_BIG;
	}
	proc = calloc(1, sizeof(*proc));
	if (proc == NULL)
		goto out;
	snprintf(proc->name, sizeof(proc->name), "%s", name);
	snprintf(proc->path, sizeof(proc->path), "%s", path);
	snprintf(proc->log_path, sizeof(proc->log_path), "%s/%s.log", h->dir, name);
	proc->argv = strv_dup(argv != NULL ? argv : default_argv);
	proc->envp = env_base();
	if (proc->argv == NULL || proc->envp == NULL)
		goto out;
	for (size_t i = 0; extra_env != NULL && extra_env[i] != NULL; i++)
		if (env_put(&proc->envp, extra_env[i]) != CT_OK)
			goto out;
	rc = proc_start(proc);
	if (rc != CT_OK)
		goto out;
	h->procs[h->n_procs++] = proc;
	*ret = proc;
	return CT_OK;
out:
	proc_free(proc);
	h->failed = true;
	return rc;
}

static const char *service_name(enum harness_service service)
{
	switch (service) {
	case HARNESS_INGEST:
		return "ingest";
	case HARNESS_TRAVELER:
		return "traveler";
	case HARNESS_LINESIM:
		return "linesim";
	case HARNESS_SPCGATE:
		return "spc-gate";
	case HARNESS_FPYREPORT:
		return "fpy-report";
	case HARNESS_ALERTROUTER:
		return "alert-router";
	case HARNESS_API:
		return "api";
	case HARNESS_OEE:
		return "oee";
	}
	return "unknown";
}

static const char *service_bin(enum harness_service service)
{
	switch (service) {
	case HARNESS_INGEST:
		return CT_INGEST_BIN;
	case HARNESS_TRAVELER:
		return CT_TRAVELER_BIN;
	case HARNESS_LINESIM:
		return CT_LINESIM_BIN;
	case HARNESS_SPCGATE:
		return CT_SPCGATE_BIN;
	case HARNESS_FPYREPORT:
		return CT_FPYREPORT_BIN;
	case HARNESS_ALERTROUTER:
		return CT_ALERTROUTER_BIN;
	case HARNESS_API:
		return CT_API_BIN;
	case HARNESS_OEE:
		return CT_OEE_BIN;
	}
	return "";
}

/* ---- The service registry ---- */

/* Who a harness_env name is, by the service registry deploy/services.conf (the file the
 * deploy scripts derive the broker users, ACL and login roles from): its MQTT user and its
 * PostgreSQL login (empty: none). */
struct identity {
	char mqtt_user[64], pg_login[64];
	bool is_service; /* a `service` entry, not a `client` */
};

/* The next word of *p (blank-separated) into buf, or false at the end of the line. */
static bool next_word(const char **p, char *buf, size_t len)
{
	size_t n;

	*p += strspn(*p, " \t\r");
	n = strcspn(*p, " \t\r\n");
	if (n == 0 || n >= len)
		return false;
	memcpy(buf, *p, n);
	buf[n] = '\0';
	*p += n;
	return true;
}

/* Writes len bytes of data to a new file at path (mode 0644). */
static int write_whole_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");
	bool ok;

	if (f == NULL) {
		harness_say("cannot write %s: %s", path, strerror(errno));
		return CT_ERR_IO;
	}
	ok = fwrite(data, 1, len, f) == len;
	ok = fclose(f) == 0 && ok;
	if (!ok)
		harness_say("cannot write %s", path);
	return ok ? CT_OK : CT_ERR_IO;
}

/* The deployed registry followed by the tests' own entries, as one text in *ret (free it);
 * its length to *ret_len when not NULL. */
static int read_registry(char **ret, size_t *ret_len)
{
	char *deployed = NULL, *test = NULL, *both;
	size_t deployed_len = 0, test_len = 0;

	if (harness_read_file(REGISTRY, &deployed, &deployed_len) != CT_OK ||
	    harness_read_file(TEST_REGISTRY, &test, &test_len) != CT_OK) {
		harness_say("cannot read the service registry %s or %s", REGISTRY, TEST_REGISTRY);
		free(deployed);
		free(test);
		return CT_ERR_IO;
	}
	both = malloc(deployed_len + test_len + 2);
	if (both != NULL) {
		memcpy(both, deployed, deployed_len);
		both[deployed_len] = '\n';
		memcpy(both + deployed_len + 1, test, test_len);
		both[deployed_len + 1 + test_len] = '\0';
		if (ret_len != NULL)
			*ret_len = deployed_len + 1 + test_len;
	}
	free(deployed);
	free(test);
	if (both == NULL)
		return CT_ERR_NOMEM;
	*ret = both;
	return CT_OK;
}

/* Looks name up in the registry: the `service` or `client` entry called name, or else the
 * entry whose `pg` login is name (so "spcgate" is spc-gate). Its `mqtt` and `pg ROLE GROUP`
 * lines fill *ret (`pg none` or no pg line: empty login). CT_ERR_NOT_FOUND when no entry
 * matches, CT_ERR_IO when the registry cannot be read; *ret untouched on failure. The
 * format is documented at the top of the file; comment lines start with `#`. */
static int registry_identity(const char *name, struct identity *ret)
{
	char *text = NULL;
	int rc = read_registry(&text, NULL);

	if (rc != CT_OK)
		return rc;
	rc = CT_ERR_NOT_FOUND;
	/* Pass 0 matches entry names, pass 1 PostgreSQL logins. */
	for (int pass = 0; pass < 2 && rc != CT_OK; pass++) {
		struct identity cur = {{0}, {0}, false};
		bool in_entry = false, named = false;

		for (const char *line = text; line != NULL && *line != '\0';) {
			const char *p = line, *nl = strchr(line, '\n');
			char key[32], word[64];

			line = nl != NULL ? nl + 1 : NULL;
			if (!next_word(&p, key, sizeof(key)) || key[0] == '#')
				continue;
			if (strcmp(key, "service") == 0 || strcmp(key, "client") == 0) {
				if (in_entry &&
				    (named || (pass == 1 && strcmp(cur.pg_login, name) == 0)))
					break;
				memset(&cur, 0, sizeof(cur));
				cur.is_service = strcmp(key, "service") == 0;
				in_entry = true;
				named = next_word(&p, word, sizeof(word)) && pass == 0 &&
				        strcmp(word, name) == 0;
			} else if (in_entry && strcmp(key, "mqtt") == 0) {
				if (next_word(&p, word, sizeof(word)))
					snprintf(cur.mqtt_user, sizeof(cur.mqtt_user), "%s", word);
			} else if (in_entry && strcmp(key, "pg") == 0) {
				if (next_word(&p, word, sizeof(word)) && strcmp(word, "none") != 0)
					snprintf(cur.pg_login, sizeof(cur.pg_login), "%s", word);
			}
		}
		if (in_entry && (named || (pass == 1 && strcmp(cur.pg_login, name) == 0)) &&
		    cur.mqtt_user[0] != '\0') {
			*ret = cur;
			rc = CT_OK;
		}
	}
	free(text);
	return rc;
}

/* The environment every service gets: broker, its own credentials, spool, log level; the
 * database for traveler, spc-gate and the CLI's logins. */
static int service_env(struct harness *h, const char *user, char ***envp)
{
	char password[128], conninfo[256];
	const char *level = getenv("CT_IT_LOG_LEVEL");
	const char *mqtt_user = user, *pg_login = NULL;
	struct identity id;
	int rc;

	/* A name the registry does not know is a broker user without a database login. */
	rc = registry_identity(user, &id);
	if (rc == CT_OK) {
		mqtt_user = id.mqtt_user;
		pg_login = id.pg_login[0] != '\0' ? id.pg_login : NULL;
	} else if (rc != CT_ERR_NOT_FOUND) {
		return rc;
	}
	if ((rc = harness_mqtt_password(h, mqtt_user, password, sizeof(password))) != CT_OK)
		return rc;
	if (env_putf(envp, "CT_MQTT_URL=%s", h->mqtt_url) != CT_OK ||
	    env_putf(envp, "CT_MQTT_USERNAME=%s", mqtt_user) != CT_OK ||
	    env_putf(envp, "CT_MQTT_PASSWORD=%s", password) != CT_OK ||
	    env_putf(envp, "CT_SPOOL_DIR=%s/spool", h->dir) != CT_OK ||
	    env_putf(envp, "CT_LOG_LEVEL=%s", level != NULL ? level : "info") != CT_OK)
		return CT_ERR_NOMEM;
	if (pg_login != NULL) {
		harness_pg_conninfo(h, pg_login, conninfo, sizeof(conninfo));
		if ((rc = harness_pg_password(h, pg_login, password, sizeof(password))) != CT_OK)
			return rc;
		if (env_putf(envp, "CT_PG_CONNINFO=%s", conninfo) != CT_OK ||
		    env_putf(envp, "CT_PG_PASSWORD=%s", password) != CT_OK)
			return CT_ERR_NOMEM;
	}
	return CT_OK;
}

char **harness_env(struct harness *h, const char *user, const char *const *extra)
{
	char **env = calloc(1, sizeof(*env));

	if (env == NULL)
		return NULL;
	if (service_env(h, user, &env) != CT_OK)
		goto fail;
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
		if (env_put(&env, extra[i]) != CT_OK)
			goto fail;
	return env;
fail:
	strv_free(env);
	return NULL;
}

void harness_env_free(char **env)
{
	strv_free(env);
}

static bool port_accepts(int port);

/* ct-api's own settings (a free port, the built dashboard, the OpenAPI file of the source
 * tree) added to *envp before the test's extra_env, which may override them. */
static int api_env(struct harness *h, char ***envp)
{
	if (h->api_port == 0) {
		h->api_port = harness_free_port();
		if (h->api_port == 0)
			return CT_ERR_IO;
		snprintf(h->api_url, sizeof(h->api_url), "http://127.0.0.1:%d", h->api_port);
	}
	if (env_put(envp, "CT_API_BIND=127.0.0.1") != CT_OK ||
	    env_putf(envp, "CT_API_PORT=%d", h->api_port) != CT_OK ||
	    env_put(envp, "CT_API_WEB_ROOT=" CT_API_WEB_ROOT) != CT_OK ||
	    env_put(envp, "CT_API_OPENAPI_FILE=" CT_SOURCE_DIR "/services/api/openapi.json") !=
	            CT_OK)
		return CT_ERR_NOMEM;
	return CT_OK;
}

/* Waits until the HTTP port accepts connections. */
static int wait_port(struct harness *h, struct harness_proc *proc, int port, int timeout_ms)
{
	int64_t deadline = ct_mono_ms() + timeout_ms;
	int interval = 2;

	while (!port_accepts(port)) {
		if (!harness_proc_is_alive(proc)) {
			harness_say("%s ended before accepting connections on port %d", proc->name,
			            port);
			return harness_fail_with_logs(h, CT_ERR_IO);
		}
		if (ct_mono_ms() >= deadline) {
			harness_say("%s does not accept connections on port %d", proc->name, port);
			return harness_fail_with_logs(h, CT_ERR_TIMEOUT);
		}
		harness_sleep_ms(harness_backoff(&interval));
	}
	return CT_OK;
}

int harness_service_start(struct harness *h, enum harness_service service, const char *name,
                          const char *const *extra_env, struct harness_proc **ret)
{
	const char *user = service_name(service);
	const char *path = service_bin(service);
	const char *argv[] = {path, NULL};
	struct harness_proc *proc = NULL;
	char **env = harness_env(h, user, NULL);
	int rc = env != NULL ? CT_OK : CT_ERR_NOMEM;

	if (rc == CT_OK && service == HARNESS_API)
		rc = api_env(h, &env);
	for (size_t i = 0; rc == CT_OK && extra_env != NULL && extra_env[i] != NULL; i++)
		rc = env_put(&env, extra_env[i]);
	if (rc != CT_OK) {
		strv_free(env);
		h->failed = true;
		return rc;
	}
	rc = harness_spawn(h, name != NULL ? name : user, path, argv, (const char *const *)env,
	                   &proc);
	strv_free(env);
	if (rc != CT_OK)
		return rc;
	/* linesim may finish before it would say it; ct-api is ready when its port accepts. */
	if (service != HARNESS_LINESIM && service != HARNESS_API) {
		rc = harness_proc_wait_log(h, proc, "ready", HARNESS_WAIT_MS);
		if (rc != CT_OK)
			return rc;
	}
	if (service == HARNESS_API) {
		rc = wait_port(h, proc, h->api_port, HARNESS_WAIT_MS);
		if (rc != CT_OK)
			return rc;
	}
	*ret = proc;
	return CT_OK;
}

int harness_proc_restart(struct harness *h, struct harness_proc *proc, bool wait_ready)
{
	int rc;

	if (harness_proc_is_alive(proc)) {
		harness_say("%s is still running; not restarting it", proc->name);
		return CT_ERR_INVALID;
	}
	rc = proc_start(proc);
	if (rc != CT_OK)
		return harness_fail_with_logs(h, rc);
	if (wait_ready)
		return harness_proc_wait_log(h, proc, "ready", HARNESS_WAIT_MS);
	return CT_OK;
}

int harness_proc_wait_exit(struct harness *h, struct harness_proc *proc, int timeout_ms)
{
	char what[64];
	int rc;

	if (proc->pid <= 0) {
		rc = CT_OK;
	} else {
		rc = wait_pid(proc->pid, timeout_ms, &proc->status);
		if (rc == CT_ERR_TIMEOUT) {
			harness_say("%s still runs after %d ms", proc->name, timeout_ms);
			return harness_fail_with_logs(h, rc);
		}
		if (rc != CT_OK)
			return harness_fail_with_logs(h, rc);
		proc->pid = 0;
	}
	if (!WIFEXITED(proc->status) || WEXITSTATUS(proc->status) != 0) {
		describe_status(proc->status, what, sizeof(what));
		harness_say("%s ended with %s", proc->name, what);
		return harness_fail_with_logs(h, CT_ERR_IO);
	}
	return CT_OK;
}

int harness_proc_wait_any(struct harness *h, struct harness_proc *proc, int timeout_ms,
                          int *ret_code)
{
	if (proc->pid > 0) {
		int rc = wait_pid(proc->pid, timeout_ms, &proc->status);
		if (rc == CT_ERR_TIMEOUT)
			harness_say("%s still runs after %d ms", proc->name, timeout_ms);
		if (rc != CT_OK)
			return harness_fail_with_logs(h, rc);
		proc->pid = 0;
	}
	*ret_code = WIFEXITED(proc->status) ? WEXITSTATUS(proc->status) : -1;
	return CT_OK;
}

int harness_proc_stop(struct harness *h, struct harness_proc *proc)
{
	if (!harness_proc_is_alive(proc)) {
		char what[64];
		describe_status(proc->status, what, sizeof(what));
		harness_say("%s is not running (it ended earlier with %s)", proc->name, what);
		return harness_fail_with_logs(h, CT_ERR_IO);
	}
	kill(proc->pid, SIGTERM);
	if (wait_pid(proc->pid, STOP_TIMEOUT_MS, &proc->status) == CT_ERR_TIMEOUT) {
		harness_say("%s did not stop within %d ms of SIGTERM; killing it", proc->name,
		            STOP_TIMEOUT_MS);
		kill(proc->pid, SIGKILL);
		waitpid(proc->pid, &proc->status, 0);
		proc->pid = 0;
		return harness_fail_with_logs(h, CT_ERR_TIMEOUT);
	}
	proc->pid = 0;
	return harness_proc_wait_exit(h, proc, 0);
}

int harness_proc_kill(struct harness *h, struct harness_proc *proc)
{
	(void)h;
	if (proc->pid <= 0)
		return CT_ERR_INVALID;
	kill(proc->pid, SIGKILL);
	waitpid(proc->pid, &proc->status, 0);
	proc->pid = 0;
	return CT_OK;
}

int harness_run(struct harness *h, const char *name, const char *path, const char *const *argv,
                const char *const *extra_env, int timeout_ms, char **ret_out, int *ret_status)
{
	char out_path[HARNESS_PATH_MAX + 64], err_path[HARNESS_PATH_MAX + 64];
	char **env = NULL;
	pid_t pid;
	int status, rc;

	if (path == NULL || path[0] == '\0' || access(path, X_OK) != 0) {
		harness_say("%s: binary \"%s\" is not built", name, path ? path : "(null)");
		h->failed = true;
		return CT_ERR_NOT_FOUND;
	}
	h->run_seq++;
	snprintf(out_path, sizeof(out_path), "%s/%s-%u.out", h->dir, name, h->run_seq);
	snprintf(err_path, sizeof(err_path), "%s/%s-%u.err", h->dir, name, h->run_seq);
	env = env_base();
	for (size_t i = 0; env != NULL && extra_env != NULL && extra_env[i] != NULL; i++)
		if (env_put(&env, extra_env[i]) != CT_OK) {
			strv_free(env);
			env = NULL;
		}
	if (env == NULL)
		return CT_ERR_NOMEM;
	rc = spawn_raw(path, (char *const *)argv, env, out_path, err_path, &pid);
	strv_free(env);
	if (rc != CT_OK)
		return rc;
	rc = wait_pid(pid, timeout_ms, &status);
	if (rc == CT_ERR_TIMEOUT) {
		harness_say("%s did not finish within %d ms", name, timeout_ms);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		print_tail(name, err_path);
		h->failed = true;
		return rc;
	}
	if (rc != CT_OK)
		return rc;
	*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	if (*ret_status != 0)
		print_tail(name, err_path);
	rc = harness_read_file(out_path, ret_out, NULL);
	return rc;
}

int harness_cli(struct harness *h, const char *identity, const char *const *args, char **ret_out)
{
	const char *argv[16] = {CT_CLI_BIN};
	char **env = harness_env(h, identity, NULL);
	char *out = NULL;
	int status = -2;
	size_t n = 1;

	if (ret_out != NULL)
		*ret_out = NULL;
	for (; env != NULL && args[n - 1] != NULL && n < 15; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	if (env == NULL || args[n - 1] != NULL ||
	    harness_run(h, "cellthread", CT_CLI_BIN, argv, (const char *const *)env,
	                HARNESS_WAIT_MS, &out, &status) != CT_OK) {
		harness_say("cellthread %s: could not be run as %s", args[0] ? args[0] : "",
		            identity);
		h->failed = true;
		status = -2;
	}
	harness_env_free(env);
	if (ret_out != NULL && status != -2)
		*ret_out = out;
	else
		free(out);
	return status;
}

/* ---- Watchdog ---- */

/* The postmaster's pid, read when it starts, so the handler needs nothing but kill(). */
static volatile pid_t watched_postmaster;

static void kill_children(struct harness *h)
{
	for (size_t i = 0; i < h->n_procs; i++)
		if (h->procs[i]->pid > 0)
			kill(h->procs[i]->pid, SIGKILL);
	if (h->broker.pid > 0)
		kill(h->broker.pid, SIGKILL);
	/* SIGQUIT is PostgreSQL's immediate shutdown: the postmaster takes its backends. */
	if (watched_postmaster > 0)
		kill(watched_postmaster, SIGQUIT);
}

static void on_fatal_signal(int sig)
{
	static const char msg[] = "harness: watchdog or signal: killing every child process\n";
	struct harness *h = watched;

	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing else to do from a handler */
	}
	if (h != NULL)
		kill_children(h);
	_exit(sig == SIGALRM ? 124 : 128 + sig);
}

static void arm_watchdog(struct harness *h, unsigned seconds)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	watched = h;
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* A broker or service that dies mid-write must not kill the test with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	/* One deadline for the whole test program: a second harness keeps the first's. */
	if (seconds > 0) {
		unsigned left = alarm(0);
		alarm(left > 0 ? left : seconds);
	}
}

/* ---- Lifecycle ---- */

int harness_new(const char *name, unsigned watchdog_s, struct harness **ret)
{
	struct harness *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return CT_ERR_NOMEM;
	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(h->dir, sizeof(h->dir), "/tmp/ct-it-%s-XXXXXX", name);
	if (mkdtemp(h->dir) == NULL) {
		harness_say("mkdtemp %s: %s", h->dir, strerror(errno));
		free(h);
		return CT_ERR_IO;
	}
	/* 0755: the postgres user (when the suite runs as root) traverses it to its cluster. */
	if (chmod(h->dir, 0755) != 0) {
		harness_say("chmod %s: %s", h->dir, strerror(errno));
		rmdir(h->dir);
		free(h);
		return CT_ERR_IO;
	}
	arm_watchdog(h, watchdog_s);
	/* cmocka and the tests print to stdout, the harness to stderr: line buffering keeps
	 * them in order when ctest collects both. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	harness_say("test directory %s", h->dir);
	*ret = h;
	return CT_OK;
}

void harness_free(struct harness *h)
{
	const char *keep;

	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n_procs; i++) {
		if (harness_proc_is_alive(h->procs[i])) {
			harness_say("%s still running at teardown; killing it", h->procs[i]->name);
			harness_proc_kill(h, h->procs[i]);
		}
	}
	if (h->pg_running)
		harness_pg_stop(h);
	if (h->broker.pid > 0 && harness_broker_stop(h) != CT_OK)
		h->failed = true;
	/* Failures print the logs where they happen (fail_with_logs, the test teardown). */
	keep = getenv("CT_KEEP_TEST_DIRS");
	if (keep != NULL && strcmp(keep, "1") == 0)
		harness_say("keeping %s (CT_KEEP_TEST_DIRS=1)", h->dir);
	else
		remove_tree(h->dir);
	for (size_t i = 0; i < h->n_procs; i++)
		proc_free(h->procs[i]);
	strv_free(h->broker.argv);
	strv_free(h->broker.envp);
	/* The alarm stays armed: it bounds the whole program, not one harness. */
	watched = NULL;
	free(h);
}

int harness_test_setup(void **state)
{
	struct harness *h = *state;
	h->passed = false;
	h->printed = false;
	h->test_started_ms = ct_mono_ms();
	return 0;
}

int harness_test_teardown(void **state)
{
	struct harness *h = *state;
	int failures = 0;

	for (size_t i = 0; i < h->n_procs; i++) {
		if (h->procs[i]->pid > 0 && harness_proc_stop(h, h->procs[i]) != CT_OK)
			failures++;
	}
	harness_say("test took %.1f s", (double)(ct_mono_ms() - h->test_started_ms) / 1000.0);
	if (!h->passed) {
		h->failed = true;
		if (!h->printed) {
			harness_say("test did not reach its end; logs follow");
			harness_print_logs(h);
		}
	}
	return failures > 0 ? -1 : 0;
}

void harness_pass(struct harness *h)
{
	h->passed = true;
}

int harness_free_port(void)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

	if (fd < 0)
		return 0;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
		port = ntohs(addr.sin_port);
	close(fd);
	return port;
}

static bool port_accepts(int port)
{
	struct sockaddr_in addr;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	if (fd < 0)
		return false;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((uint16_t)port);
	ok = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
	close(fd);
	return ok;
}

/* ---- Broker ---- */

int harness_mqtt_password(struct harness *h, const char *user, char *buf, size_t len)
{
	char path[HARNESS_PATH_MAX + 128];
	snprintf(path, sizeof(path), "%s/secrets/%s.password", h->broker_dir, user);
	return read_secret(path, buf, len);
}

int harness_broker_start(struct harness *h)
{
	char log_path[HARNESS_PATH_MAX + 32], port_text[16], conf[HARNESS_PATH_MAX + 32];
	int64_t deadline;
	int interval = 1, rc;
	char **env;

	if (!h->broker_configured) {
		h->mqtt_port = harness_free_port();
		if (h->mqtt_port == 0)
			return CT_ERR_IO;
		snprintf(h->mqtt_url, sizeof(h->mqtt_url), "tcp://127.0.0.1:%d", h->mqtt_port);
		snprintf(h->broker_dir, sizeof(h->broker_dir), "%s/broker", h->dir);
		snprintf(port_text, sizeof(port_text), "%d", h->mqtt_port);
		snprintf(log_path, sizeof(log_path), "%s/broker-config.log", h->dir);
		/* No users named: every MQTT user of the service registry and the tests' own. */
		const char *argv[] = {BROKER_CONFIG, h->broker_dir, port_text, NULL};
		char registry[HARNESS_PATH_MAX + 32], setting[HARNESS_PATH_MAX + 64], *text = NULL;
		const char *shed;
		size_t text_len = 0;

		snprintf(registry, sizeof(registry), "%s/services.conf", h->dir);
		rc = read_registry(&text, &text_len);
		if (rc == CT_OK)
			rc = write_whole_file(registry, text, text_len);
		free(text);
		if (rc != CT_OK)
			return rc;
		env = env_base();
		if (env == NULL)
			return CT_ERR_NOMEM;
		snprintf(setting, sizeof(setting), "CT_SERVICES_CONF=%s", registry);
		/* CT_IT_BROKER_SHED_MIB: a test's own memory bound for the broker guard. */
		shed = getenv("CT_IT_BROKER_SHED_MIB");
		if (env_put(&env, setting) != CT_OK ||
		    env_put(&env, "CT_BROKER_PLUGIN=" CT_BROKER_GUARD_SO) != CT_OK ||
		    (shed != NULL && env_putf(&env, "CT_BROKER_SHED_MIB=%s", shed) != CT_OK)) {
			strv_free(env);
			return CT_ERR_NOMEM;
		}
		rc = run_logged(argv, env, log_path, SCRIPT_TIMEOUT_MS);
		strv_free(env);
		if (rc != CT_OK) {
			print_tail("broker-config.sh", log_path);
			h->failed = true;
			return rc;
		}
		snprintf(conf, sizeof(conf), "%s/mosquitto.conf", h->broker_dir);
		const char *mosq_argv[] = {MOSQUITTO_BIN, "-c", conf, NULL};
		snprintf(h->broker.name, sizeof(h->broker.name), "mosquitto");
		snprintf(h->broker.path, sizeof(h->broker.path), "%s", MOSQUITTO_BIN);
		snprintf(h->broker.log_path, sizeof(h->broker.log_path), "%s/mosquitto.log",
		         h->dir);
		h->broker.argv = strv_dup(mosq_argv);
		h->broker.envp = env_base();
		if (h->broker.argv == NULL || h->broker.envp == NULL)
			return CT_ERR_NOMEM;
		h->broker_configured = true;
	}
	if (harness_proc_is_alive(&h->broker)) {
		harness_say("broker already running");
		return CT_ERR_INVALID;
	}
	rc = proc_start(&h->broker);
	if (rc != CT_OK)
		return rc;
	deadline = ct_mono_ms() + HARNESS_WAIT_MS;
	while (!port_accepts(h->mqtt_port)) {
		if (!harness_proc_is_alive(&h->broker)) {
			harness_say("mosquitto exited while starting");
			return harness_fail_with_logs(h, CT_ERR_IO);
		}
		if (ct_mono_ms() >= deadline) {
			harness_say("mosquitto does not accept connections on port %d",
			            h->mqtt_port);
			return harness_fail_with_logs(h, CT_ERR_TIMEOUT);
		}
		harness_sleep_ms(harness_backoff(&interval));
	}
	return CT_OK;
}

int harness_broker_stop(struct harness *h)
{
	return harness_proc_stop(h, &h->broker);
}

/* ---- PostgreSQL ---- */

static char **pg_script_env(void)
{
	char **env = env_base();
	/* The template and the copies are throwaway clusters: no fsync makes initdb and every
	 * commit much faster. */
	if (env != NULL && env_put(&env, "CT_PG_FSYNC=off") != CT_OK) {
		strv_free(env);
		return NULL;
	}
	return env;
}

static int pg_script(const char *const *argv, const char *log_path)
{
	char **env = pg_script_env();
	int rc;

	if (env == NULL)
		return CT_ERR_NOMEM;
	rc = run_logged(argv, env, log_path, SCRIPT_TIMEOUT_MS);
	strv_free(env);
	if (rc != CT_OK)
		print_tail("pg-cluster.sh", log_path);
	return rc;
}

/* cp -a, which keeps the postgres user's ownership of the files when we are root. */
static int copy_tree(const char *from, const char *to, const char *log_path)
{
	const char *argv[] = {"cp", "-a", from, to, NULL};
	char **env = env_base();
	int rc;

	if (env == NULL)
		return CT_ERR_NOMEM;
	rc = run_logged(argv, env, log_path, SCRIPT_TIMEOUT_MS);
	strv_free(env);
	return rc;
}

/* The template's directory: CT_IT_TEMPLATE_DIR from the environment (a second user of the
 * same build tree needs its own), else the one CMake chose under the build tree. */
static const char *template_dir(void)
{
	const char *dir = getenv("CT_IT_TEMPLATE_DIR");
	return dir != NULL && dir[0] != '\0' ? dir : CT_IT_TEMPLATE_DIR;
}

/* What the template was made from: the builder's uid (a copy keeps the owner, and a cluster
 * must belong to the user who runs it), ct-migrate and every migration, by size and mtime.
 * A template whose stamp differs is rebuilt. */
static void template_stamp(char *buf, size_t len)
{
	struct dirent **names = NULL;
	struct stat st;
	size_t used;
	int n;

	used = (size_t)snprintf(buf, len, "uid %d\n", (int)geteuid());
	if (stat(CT_MIGRATE_BIN, &st) == 0 && used < len)
		used += (size_t)snprintf(buf + used, len - used, "ct-migrate %lld %lld.%09ld\n",
		                         (long long)st.st_size, (long long)st.st_mtim.tv_sec,
		                         st.st_mtim.tv_nsec);
	n = scandir(MIGRATIONS_DIR, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		char path[HARNESS_PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", MIGRATIONS_DIR, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 && used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s %lld %lld.%09ld\n",
			                         names[i]->d_name, (long long)st.st_size,
			                         (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
		free(names[i]);
	}
	free(names);
}

static bool template_is_current(const char *ready, const char *stamp)
{
	char *text = NULL;
	bool same;

	if (harness_read_file(ready, &text, NULL) != CT_OK)
		return false;
	same = strcmp(text, stamp) == 0;
	free(text);
	return same;
}

/* Opens and locks the template's lock file (LOCK_EX to build, LOCK_SH to copy). */
static int template_lock(int how)
{
	char path[HARNESS_PATH_MAX];
	int fd;

	if (mkdir(template_dir(), 0755) != 0 && errno != EEXIST) {
		harness_say("mkdir %s: %s", template_dir(), strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/lock", template_dir());
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || flock(fd, how) != 0) {
		harness_say("cannot lock %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int harness_pg_template(bool force)
{
	char ready[HARNESS_PATH_MAX], work[HARNESS_PATH_MAX], stamp[4096];
	char cluster[HARNESS_PATH_MAX + 16], log_path[HARNESS_PATH_MAX], port_text[16];
	char old[HARNESS_PATH_MAX + 8];
	int64_t t0 = ct_mono_ms();
	int lock_fd, rc = CT_ERR_IO, port;

	if (access(CT_MIGRATE_BIN, X_OK) != 0) {
		harness_say("ct-migrate is not built (\"%s\")", CT_MIGRATE_BIN);
		return CT_ERR_NOT_FOUND;
	}
	lock_fd = template_lock(LOCK_EX);
	if (lock_fd < 0)
		return CT_ERR_IO;
	snprintf(ready, sizeof(ready), "%s/READY", template_dir());
	snprintf(log_path, sizeof(log_path), "%s/template.log", template_dir());
	template_stamp(stamp, sizeof(stamp));
	if (!force && template_is_current(ready, stamp)) {
		rc = CT_OK;
		goto out;
	}
	unlink(ready);
	/* The cluster is made under /tmp, which the postgres user can always reach (the build
	 * tree may sit under a private home), then copied next to the lock. */
	snprintf(work, sizeof(work), "/tmp/ct-it-template-XXXXXX");
	if (mkdtemp(work) == NULL || chmod(work, 0755) != 0) {
		harness_say("mkdtemp %s: %s", work, strerror(errno));
		goto out;
	}
	snprintf(cluster, sizeof(cluster), "%s/pg", work);
	port = harness_free_port();
	snprintf(port_text, sizeof(port_text), "%d", port);
	{
		const char *init[] = {PG_CLUSTER, "init", cluster, port_text, NULL};
		const char *start[] = {PG_CLUSTER, "start", cluster, NULL};
		const char *provision[] = {PG_CLUSTER,     "provision",    cluster, port_text,
		                           CT_MIGRATE_BIN, MIGRATIONS_DIR, NULL};
		const char *stop[] = {PG_CLUSTER, "stop", cluster, NULL};

		rc = pg_script(init, log_path);
		if (rc == CT_OK)
			rc = pg_script(start, log_path);
		if (rc == CT_OK) {
			rc = pg_script(provision, log_path);
			int stop_rc = pg_script(stop, log_path);
			if (rc == CT_OK)
				rc = stop_rc;
		}
	}
	if (rc == CT_OK) {
		FILE *f;
		snprintf(old, sizeof(old), "%s/pg", template_dir());
		remove_tree(old);
		rc = copy_tree(cluster, old, log_path);
		f = rc == CT_OK ? fopen(ready, "w") : NULL;
		if (f == NULL || fputs(stamp, f) < 0 || fclose(f) != 0)
			rc = CT_ERR_IO;
	}
	remove_tree(work);
	if (rc == CT_OK)
		harness_say("PostgreSQL template ready in %s (%.1f s)", template_dir(),
		            (double)(ct_mono_ms() - t0) / 1000.0);
out:
	close(lock_fd);
	return rc;
}

/* Copies the template to dest under a shared lock, so a rebuild never runs under a copy. */
static int template_copy(const char *dest, const char *log_path)
{
	char from[HARNESS_PATH_MAX + 8];
	int lock_fd = template_lock(LOCK_SH);
	int rc;

	if (lock_fd < 0)
		return CT_ERR_IO;
	snprintf(from, sizeof(from), "%s/pg", template_dir());
	rc = copy_tree(from, dest, log_path);
	close(lock_fd);
	return rc;
}

void harness_pg_conninfo(struct harness *h, const char *user, char *buf, size_t len)
{
	snprintf(buf, len, "host=127.0.0.1 port=%d dbname=cellthread user=%s", h->pg_port, user);
}

int harness_pg_password(struct harness *h, const char *role, char *buf, size_t len)
{
	char path[HARNESS_PATH_MAX + 128];

	if (strcmp(role, "ct_admin") == 0)
		snprintf(path, sizeof(path), "%s/secrets/ct_admin.password", h->pg_dir);
	else
		snprintf(path, sizeof(path), "%s/secrets/%s.pgpassword", h->pg_dir, role);
	return read_secret(path, buf, len);
}

PGconn *harness_pg_connect(struct harness *h, const char *role)
{
	char conninfo[256], password[128];
	const char *keys[] = {"dbname", "password", NULL};
	const char *values[] = {conninfo, password, NULL};
	PGconn *conn;

	harness_pg_conninfo(h, role, conninfo, sizeof(conninfo));
	if (harness_pg_password(h, role, password, sizeof(password)) != CT_OK) {
		harness_say("no database password for %s", role);
		return NULL;
	}
	conn = PQconnectdbParams(keys, values, 1);
	if (conn != NULL && PQstatus(conn) != CONNECTION_OK) {
		harness_say("cannot connect as %s: %s", role, PQerrorMessage(conn));
		PQfinish(conn);
		conn = NULL;
	}
	return conn;
}

int harness_pg_exec(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType status = PQresultStatus(res);
	int rc = CT_OK;

	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
		harness_say("SQL failed: %s (%.120s)", PQerrorMessage(conn), sql);
		rc = CT_ERR_PG;
	}
	PQclear(res);
	return rc;
}

int harness_load_starter_config(struct harness *h)
{
	char path[HARNESS_PATH_MAX], *sql = NULL;
	PGresult *res;
	PGconn *conn;
	int rc;

	snprintf(path, sizeof(path), "%s/deploy/config/spc-linesim.sql", CT_SOURCE_DIR);
	rc = harness_read_file(path, &sql, NULL);
	if (rc != CT_OK) {
		harness_say("cannot read %s", path);
		return rc;
	}
	conn = harness_pg_connect(h, "quality");
	if (conn == NULL) {
		free(sql);
		return CT_ERR_PG;
	}
	/* Once per database: a group's later tests find it loaded (looked up by one of its
	 * charts, since a test may add charts of its own). */
	res = PQexec(conn, "SELECT count(*) FROM spc_chart WHERE chart_id = 'fill-mass'");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		harness_say("cannot read spc_chart: %s", PQerrorMessage(conn));
		rc = CT_ERR_PG;
	} else {
		rc = strcmp(PQgetvalue(res, 0, 0), "0") == 0 ? harness_pg_exec(conn, sql) : CT_OK;
	}
	PQclear(res);
	PQfinish(conn);
	free(sql);
	return rc;
}

static int pg_connect_admin(struct harness *h)
{
	char password[128], port[16];
	const char *keys[] = {"host", "port", "dbname", "user", "password", "connect_timeout",
	                      NULL};
	const char *values[] = {"127.0.0.1", port, "cellthread", "ct_admin", password, "10", NULL};

	if (harness_pg_password(h, "ct_admin", password, sizeof(password)) != CT_OK)
		return CT_ERR_IO;
	snprintf(port, sizeof(port), "%d", h->pg_port);
	if (h->pg != NULL)
		PQfinish(h->pg);
	h->pg = PQconnectdbParams(keys, values, 0);
	if (h->pg == NULL || PQstatus(h->pg) != CONNECTION_OK) {
		harness_say("cannot connect to PostgreSQL as ct_admin: %s",
		            h->pg ? PQerrorMessage(h->pg) : "out of memory");
		return CT_ERR_PG;
	}
	return CT_OK;
}

/* Points a copied cluster at its own port and socket directory: `pg-cluster.sh init` on an
 * initialised cluster keeps the data and rewrites only pgdata/cellthread.conf. */
static int pg_set_port(struct harness *h, const char *log_path)
{
	char port_text[16];
	const char *init[] = {PG_CLUSTER, "init", h->pg_dir, port_text, NULL};

	snprintf(port_text, sizeof(port_text), "%d", h->pg_port);
	return pg_script(init, log_path);
}

/* The postmaster's pid from postmaster.pid, for the watchdog. */
static void note_postmaster(struct harness *h)
{
	char path[HARNESS_PATH_MAX + 64], *text = NULL;

	snprintf(path, sizeof(path), "%s/pgdata/postmaster.pid", h->pg_dir);
	if (harness_read_file(path, &text, NULL) == CT_OK) {
		long pid = strtol(text, NULL, 10);
		watched_postmaster = pid > 0 ? (pid_t)pid : 0;
		free(text);
	}
}

int harness_pg_start(struct harness *h)
{
	char log_path[HARNESS_PATH_MAX + 32];
	int64_t t0 = ct_mono_ms();
	int rc;

	snprintf(log_path, sizeof(log_path), "%s/pg-cluster.log", h->dir);
	if (h->pg_dir[0] == '\0') {
		rc = harness_pg_template(false);
		if (rc != CT_OK)
			return harness_fail_with_logs(h, rc);
		snprintf(h->pg_dir, sizeof(h->pg_dir), "%s/pg", h->dir);
		rc = template_copy(h->pg_dir, log_path);
		if (rc != CT_OK)
			return harness_fail_with_logs(h, rc);
		h->pg_port = harness_free_port();
		if (h->pg_port == 0 || pg_set_port(h, log_path) != CT_OK)
			return harness_fail_with_logs(h, CT_ERR_IO);
	}
	{
		const char *start[] = {PG_CLUSTER, "start", h->pg_dir, NULL};
		rc = pg_script(start, log_path);
	}
	if (rc != CT_OK)
		return harness_fail_with_logs(h, rc);
	h->pg_running = true;
	note_postmaster(h);
	rc = pg_connect_admin(h);
	if (rc != CT_OK)
		return harness_fail_with_logs(h, rc);
	harness_say("PostgreSQL up on port %d (%.1f s)", h->pg_port,
	            (double)(ct_mono_ms() - t0) / 1000.0);
	return CT_OK;
}

int harness_pg_stop(struct harness *h)
{
	char log_path[HARNESS_PATH_MAX + 32];
	const char *stop[] = {PG_CLUSTER, "stop", h->pg_dir, NULL};
	int rc;

	if (h->pg != NULL) {
		PQfinish(h->pg);
		h->pg = NULL;
	}
	snprintf(log_path, sizeof(log_path), "%s/pg-cluster.log", h->dir);
	rc = pg_script(stop, log_path);
	if (rc != CT_OK) {
		/* Leave no postmaster behind even when the script fails. */
		if (watched_postmaster > 0)
			kill(watched_postmaster, SIGQUIT);
		return harness_fail_with_logs(h, rc);
	}
	watched_postmaster = 0;
	h->pg_running = false;
	return CT_OK;
}

int harness_sql(struct harness *h, const char *sql, int n_params, const char *const *params,
                PGresult **ret)
{
	PGresult *res = NULL;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (h->pg == NULL || PQstatus(h->pg) != CONNECTION_OK) {
			if (pg_connect_admin(h) != CT_OK)
				return CT_ERR_PG;
		}
		res = PQexecParams(h->pg, sql, n_params, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK ||
		    PQresultStatus(res) == PGRES_COMMAND_OK) {
			*ret = res;
			return CT_OK;
		}
		if (PQstatus(h->pg) == CONNECTION_OK) {
			harness_say("SQL failed: %s\n  %s", PQerrorMessage(h->pg), sql);
			PQclear(res);
			return CT_ERR_PG;
		}
		PQclear(res);
		res = NULL;
	}
	harness_say("SQL failed: connection lost: %s", sql);
	return CT_ERR_PG;
}

int harness_sql_long(struct harness *h, const char *sql, int n_params, const char *const *params,
                     long long *ret)
{
	PGresult *res = NULL;
	char *end = NULL;
	long long v;
	int rc = harness_sql(h, sql, n_params, params, &res);

	if (rc != CT_OK)
		return rc;
	if (PQntuples(res) < 1 || PQnfields(res) < 1 || PQgetisnull(res, 0, 0)) {
		harness_say("SQL returned no value: %s", sql);
		PQclear(res);
		return CT_ERR_NOT_FOUND;
	}
	errno = 0;
	v = strtoll(PQgetvalue(res, 0, 0), &end, 10);
	if (errno != 0 || end == PQgetvalue(res, 0, 0) || *end != '\0') {
		harness_say("SQL returned \"%s\", not an integer: %s", PQgetvalue(res, 0, 0), sql);
		PQclear(res);
		return CT_ERR_INVALID;
	}
	PQclear(res);
	*ret = v;
	return CT_OK;
}

int harness_wait_sql_countv(struct harness *h, const char *sql, int n_params,
                            const char *const *params, long long expected, int timeout_ms)
{
	int64_t t0 = ct_mono_ms(), deadline = t0 + timeout_ms;
	long long last = -1;
	bool have_last = false;
	int interval = 2;

	for (;;) {
		long long v;
		PGresult *res = NULL;

		/* Quietly: while PostgreSQL restarts, queries fail until it is back. */
		if (h->pg == NULL || PQstatus(h->pg) != CONNECTION_OK)
			pg_connect_admin(h);
		if (h->pg != NULL && PQstatus(h->pg) == CONNECTION_OK) {
			res = PQexecParams(h->pg, sql, n_params, NULL, params, NULL, NULL, 0);
			if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0 &&
			    !PQgetisnull(res, 0, 0)) {
				v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
				last = v;
				have_last = true;
			} else if (PQresultStatus(res) != PGRES_TUPLES_OK &&
			           PQstatus(h->pg) == CONNECTION_OK) {
				harness_say("SQL failed: %s\n  %s", PQerrorMessage(h->pg), sql);
				PQclear(res);
				return harness_fail_with_logs(h, CT_ERR_PG);
			}
			PQclear(res);
		}
		if (have_last && last == expected)
			return CT_OK;
		if (harness_check_services(h) != CT_OK)
			return CT_ERR_IO;
		if (ct_mono_ms() >= deadline) {
			if (have_last)
				harness_say("timed out after %d ms waiting for %lld, last value "
				            "%lld:\n  "
				            "%s",
				            timeout_ms, expected, last, sql);
			else
				harness_say(
				        "timed out after %d ms waiting for %lld, no answer:\n  %s",
				        timeout_ms, expected, sql);
			return harness_fail_with_logs(h, CT_ERR_TIMEOUT);
		}
		harness_sleep_ms(harness_backoff(&interval));
	}
}

int harness_wait_sql_count(struct harness *h, const char *sql, long long expected, int timeout_ms)
{
	return harness_wait_sql_countv(h, sql, 0, NULL, expected, timeout_ms);
}

/* ---- MQTT ---- */

int harness_mqtt_connect_as(struct harness *h, const char *user, const char *password,
                            int timeout_ms, struct ct_mqtt **ret, char *err, size_t err_len)
{
	struct ct_mqtt_options options;
	struct ct_mqtt *mqtt;
	char instance[64];
	int rc;

	snprintf(instance, sizeof(instance), "t%d-%u", (int)getpid(), ++h->client_seq);
	memset(&options, 0, sizeof(options));
	options.url = h->mqtt_url;
	options.service = user != NULL ? user : "anon";
	options.instance = instance;
	options.username = user;
	options.password = password;
	options.keepalive_s = 30;
	options.max_inflight = 256;
	options.clean_session = true;
	mqtt = ct_mqtt_new(&options, err, err_len);
	if (mqtt == NULL)
		return CT_ERR_MQTT;
	rc = ct_mqtt_connect(mqtt, timeout_ms, err, err_len);
	if (rc != CT_OK) {
		ct_mqtt_free(mqtt);
		return rc;
	}
	*ret = mqtt;
	return CT_OK;
}

int harness_mqtt_connect(struct harness *h, const char *user, struct ct_mqtt **ret)
{
	char password[128], err[256];
	int rc;

	if ((rc = harness_mqtt_password(h, user, password, sizeof(password))) != CT_OK)
		return rc;
	rc = harness_mqtt_connect_as(h, user, password, 30000, ret, err, sizeof(err));
	if (rc != CT_OK)
		harness_say("cannot connect as %s: %s", user, err);
	return rc;
}

int harness_publish(struct harness *h, const char *user, const char *topic, const void *payload,
                    size_t len)
{
	return harness_publish_retained(h, user, topic, payload, len, false);
}

int harness_publish_retained(struct harness *h, const char *user, const char *topic,
                             const void *payload, size_t len, bool retained)
{
	struct ct_mqtt *mqtt = NULL;
	int rc = harness_mqtt_connect(h, user, &mqtt);

	if (rc != CT_OK)
		return rc;
	rc = ct_mqtt_publish(mqtt, topic, payload, len, 1, retained, 30000);
	if (rc == CT_OK)
		rc = ct_mqtt_flush(mqtt, 30000);
	if (rc != CT_OK)
		harness_say("publish to %s as %s failed: %s", topic, user, ct_strerror(rc));
	ct_mqtt_free(mqtt);
	return rc;
}

int harness_sub_new(struct harness *h, const char *user, const char *filter,
                    struct harness_sub **ret)
{
	return harness_sub_newv(h, user, &filter, 1, ret);
}

int harness_sub_open(struct harness *h, const char *user, const char *id_base, const char *instance,
                     bool clean, const char *const *filters, size_t n, int qos,
                     struct harness_sub **ret)
{
	struct ct_mqtt_options options;
	struct harness_sub *sub = calloc(1, sizeof(*sub));
	char dir[HARNESS_PATH_MAX + 32], password[128], err[256];
	int rc = CT_ERR_NOMEM;

	if (sub == NULL)
		return rc;
	if ((rc = harness_mqtt_password(h, user, password, sizeof(password))) != CT_OK)
		goto fail;
	snprintf(dir, sizeof(dir), "%s/sub-%s-%s-%u", h->dir, id_base, instance, ++h->client_seq);
	sub->spool = ct_spool_open(dir, 1 << 20, false, err, sizeof(err));
	if (sub->spool == NULL) {
		harness_say("spool %s: %s", dir, err);
		rc = CT_ERR_IO;
		goto fail;
	}
	memset(&options, 0, sizeof(options));
	options.url = h->mqtt_url;
	options.service = id_base;
	options.instance = instance;
	options.username = user;
	options.password = password;
	options.keepalive_s = 30;
	options.max_inflight = 64;
	options.clean_session = clean;
	options.spool = sub->spool;
	sub->mqtt = ct_mqtt_new(&options, err, sizeof(err));
	if (sub->mqtt == NULL) {
		rc = CT_ERR_MQTT;
		goto fail;
	}
	for (size_t i = 0; i < n; i++)
		if ((rc = ct_mqtt_add_subscription(sub->mqtt, filters[i], qos)) != CT_OK)
			goto fail;
	rc = ct_mqtt_connect(sub->mqtt, 30000, err, sizeof(err));
	if (rc != CT_OK) {
		harness_say("cannot connect as %s with client ID %s-%s (%s...): %s", user, id_base,
		            instance, n > 0 ? filters[0] : "no subscription", err);
		goto fail;
	}
	*ret = sub;
	return CT_OK;
fail:
	harness_sub_free(sub);
	return rc;
}

int harness_sub_newv(struct harness *h, const char *user, const char *const *filters, size_t n,
                     struct harness_sub **ret)
{
	char instance[64];
	struct identity id;
	int qos;

	snprintf(instance, sizeof(instance), "t%d-%u", (int)getpid(), ++h->client_seq);
	/* The broker guard lets only services subscribe with QoS 1 to the plant tree and the like
	 * (deploy/services.conf, `queue`): others listen with QoS 0, as a dashboard would. */
	qos = registry_identity(user, &id) == CT_OK && !id.is_service ? 0 : 1;
	return harness_sub_open(h, user, user, instance, true, filters, n, qos, ret);
}

int harness_sub_next(struct harness_sub *sub, int timeout_ms, const char **ret_topic,
                     const uint8_t **ret_payload, size_t *ret_len)
{
	int64_t deadline = ct_mono_ms() + timeout_ms;

	while (sub->next >= sub->batch.count) {
		int64_t left = deadline - ct_mono_ms();
		int rc;

		if (sub->batch.count > 0) {
			ct_spool_commit(sub->spool, &sub->batch);
			sub->batch.count = 0;
		}
		sub->next = 0;
		if (left <= 0)
			return CT_ERR_TIMEOUT;
		rc = ct_spool_read(sub->spool, 64, 1 << 22, (int)left, &sub->batch);
		if (rc != CT_OK)
			return rc;
	}
	*ret_topic = sub->batch.records[sub->next].topic;
	*ret_payload = sub->batch.records[sub->next].payload;
	*ret_len = sub->batch.records[sub->next].payload_len;
	sub->next++;
	return CT_OK;
}

const char *harness_sub_client_id(const struct harness_sub *sub)
{
	return ct_mqtt_client_id(sub->mqtt);
}

void harness_sub_free(struct harness_sub *sub)
{
	if (sub == NULL)
		return;
	ct_mqtt_free(sub->mqtt);
	ct_spool_batch_cleanup(&sub->batch);
	ct_spool_free(sub->spool);
	free(sub);
}

int harness_service_status(struct harness *h, const char *service, const char *instance,
                           int timeout_ms, int *ret_state)
{
	struct harness_sub *sub = NULL;
	char topic[CT_TOPIC_MAX];
	const char *got_topic;
	const uint8_t *payload;
	size_t len;
	ProtobufCMessage *msg = NULL;
	int rc;

	snprintf(topic, sizeof(topic), CT_TOPIC_ROOT "/sys/status/%s/%s", service, instance);
	if ((rc = harness_sub_new(h, "cli", topic, &sub)) != CT_OK)
		return rc;
	rc = harness_sub_next(sub, timeout_ms, &got_topic, &payload, &len);
	if (rc == CT_ERR_TIMEOUT) {
		harness_say("no retained status on %s", topic);
		rc = CT_ERR_NOT_FOUND;
	}
	if (rc == CT_OK)
		rc = ct_pb_unpack(&cellthread__v1__service_status__descriptor, payload, len,
		                  1 << 16, &msg);
	if (rc == CT_OK) {
		*ret_state = ((Cellthread__V1__ServiceStatus *)msg)->state;
		ct_pb_free(msg);
	}
	harness_sub_free(sub);
	return rc;
}

int harness_group_start(const char *name, unsigned watchdog_s, void **state)
{
	struct harness *h = NULL;

	if (harness_new(name, watchdog_s, &h) != CT_OK)
		return -1;
	if (harness_broker_start(h) != CT_OK || harness_pg_start(h) != CT_OK) {
		h->failed = true;
		harness_free(h);
		return -1;
	}
	*state = h;
	return 0;
}

int harness_group_stop(void **state)
{
	harness_free(*state);
	return 0;
}
