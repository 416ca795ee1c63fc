/* ct_config: table-driven configuration with types, bounds and defaults.
 *
 * Each service describes its keys in a static table of struct ct_config_key, each key
 * pointing (by offset) into a struct the service owns. Precedence, lowest first:
 * defaults < file < environment < command line.
 *   file:  `--config PATH` (or env CT_CONFIG), lines `key = value`, '#' comments;
 *   env:   CT_<KEY> with dots and dashes as underscores, upper case (mqtt.url -> CT_MQTT_URL);
 *   argv:  `--key=value` or `--key value`.
 * An unknown key in the file or on the command line stops start-up naming the key. The
 * environment is only consulted for known keys: a plant's environment (docker-compose env
 * files) carries other services' CT_* variables too. Numbers are parsed
 * with full checks and bounds. Strings are heap copies owned by the config; free them with
 * ct_config_cleanup(). */
#ifndef CT_CONFIG_H
#define CT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum ct_config_type {
	CT_CONF_STRING, /* char * (heap, may be NULL when the default is NULL) */
	CT_CONF_SECRET, /* char *, masked when logged */
	CT_CONF_INT,    /* long, within [min, max] */
	CT_CONF_DOUBLE, /* double, finite, within [min, max] */
	CT_CONF_BOOL,   /* bool: true/false/yes/no/on/off/1/0 */
	CT_CONF_FLAG,   /* bool as CT_CONF_BOOL, but `--key` alone on the command line means
	                 * true (a switch like --status); `--key=false` also works */
};

struct ct_config_key {
	const char *name; /* "mqtt.url" */
	enum ct_config_type type;
	size_t offset;             /* offsetof(struct service_config, field) */
	const char *default_value; /* text as it would appear in a file; NULL = unset */
	double min, max;           /* bounds for INT and DOUBLE */
	const char *help;
};

/* One table and the struct it fills. A service passes the runtime's common table and
 * its own. */
struct ct_config_table {
	const struct ct_config_key *keys;
	size_t n_keys;
	void *base;
};

/* Loads defaults, file, environment (envp, NULL-terminated) and argv into the tables.
 * argv[0] is skipped. `--help` prints the keys and returns CT_ERR_STOPPED.
 * On failure returns CT_ERR_CONFIG with the reason (naming the key) in err. */
int ct_config_load(const struct ct_config_table *tables, size_t n_tables, int argc, char **argv,
                   char **envp, char *err, size_t err_len);

/* A key whose environment variable is not CT_<KEY> (a tool's documented variable, e.g.
 * {"dir", "CT_MIGRATIONS_DIR"}), or, with env NULL, a key not read from the environment
 * (a command-line switch). */
struct ct_config_env {
	const char *key;
	const char *env;
};

/* Where ct_config_load_from reads from, for tools whose options are not a service's. */
struct ct_config_source {
	int argc; /* argv[0] is skipped; argc <= 1: no command line (the caller parses it) */
	char **argv;
	char **envp; /* NULL-terminated; NULL: no environment */
	const struct ct_config_env *env_names;
	size_t n_env_names;
	bool no_file;  /* ignore --config and CT_CONFIG */
	bool own_help; /* --help is a key of the tables (the tool prints its own usage) */
};

/* As ct_config_load, from the given sources, with the given environment names. */
int ct_config_load_from(const struct ct_config_table *tables, size_t n_tables,
                        const struct ct_config_source *source, char *err, size_t err_len);
/* Logs every key's effective value at INFO, secrets as "****". */
void ct_config_log(const struct ct_config_table *tables, size_t n_tables);
/* Frees the strings ct_config_load allocated and sets them to NULL. */
void ct_config_cleanup(const struct ct_config_table *tables, size_t n_tables);

/* Parsers used by the loader, exposed for tests and for other parsing code. */
int ct_parse_long(const char *text, long min, long max, long *ret);
/* A finite decimal number in [min, max]: digits, '.', an exponent and signs only (no hex, inf,
 * nan or blanks, which strtod would take). */
int ct_parse_double(const char *text, double min, double max, double *ret);
int ct_parse_bool(const char *text, bool *ret);

#endif
