/* ct_config: table-driven configuration (defaults < file < environment < command line).
 *
 * Every value passes through set_value(), which parses by the key's type and bounds, so a
 * value from any source is checked the same way. Strings are heap copies owned by the
 * table's struct; ct_config_cleanup frees them. */
#include "ct_config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_log.h"

int ct_parse_long(const char *text, long min, long max, long *ret)
{
	char *end = NULL;
	long value;

	if (text == NULL || *text == '\0')
		return CT_ERR_INVALID;
	errno = 0;
	value = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value < min || value > max)
		return CT_ERR_INVALID;
	*ret = value;
	return CT_OK;
}

int ct_parse_double(const char *text, double min, double max, double *ret)
{
	char *end = NULL;
	double value;

	if (text == NULL || *text == '\0' || strspn(text, "0123456789.eE+-") != strlen(text))
		return CT_ERR_INVALID;
	errno = 0;
	value = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !isfinite(value) || value < min ||
	    value > max)
		return CT_ERR_INVALID;
	*ret = value;
	return CT_OK;
}

int ct_parse_bool(const char *text, bool *ret)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcmp(text, yes[i]) == 0) {
			*ret = true;
			return CT_OK;
		}
		if (strcmp(text, no[i]) == 0) {
			*ret = false;
			return CT_OK;
		}
	}
	return CT_ERR_INVALID;
}

static const struct ct_config_key *find_key(const struct ct_config_table *tables, size_t n_tables,
                                            const char *name, void **ret_base)
{
	for (size_t t = 0; t < n_tables; t++) {
		for (size_t k = 0; k < tables[t].n_keys; k++) {
			if (strcmp(tables[t].keys[k].name, name) == 0) {
				*ret_base = tables[t].base;
				return &tables[t].keys[k];
			}
		}
	}
	return NULL;
}

/* Parses text by the key's type into its field. `source` names where it came from. */
static int set_value(const struct ct_config_key *key, void *base, const char *text,
                     const char *source, char *err, size_t err_len)
{
	char *field = (char *)base + key->offset;

	switch (key->type) {
	case CT_CONF_STRING:
	case CT_CONF_SECRET: {
		char **slot = (char **)(void *)field;
		char *copy = NULL;
		if (text != NULL) {
			copy = strdup(text);
			if (copy == NULL)
				return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
		}
		free(*slot);
		*slot = copy;
		return CT_OK;
	}
	case CT_CONF_INT: {
		long value;
		if (ct_parse_long(text, (long)key->min, (long)key->max, &value) != CT_OK)
			return ct_set_error(err, err_len, CT_ERR_CONFIG,
			                    "%s: %s: '%s' is not an integer in [%.0f, %.0f]",
			                    source, key->name, text ? text : "", key->min,
			                    key->max);
		*(long *)(void *)field = value;
		return CT_OK;
	}
	case CT_CONF_DOUBLE: {
		double value;
		if (ct_parse_double(text, key->min, key->max, &value) != CT_OK)
			return ct_set_error(err, err_len, CT_ERR_CONFIG,
			                    "%s: %s: '%s' is not a number in [%g, %g]", source,
			                    key->name, text ? text : "", key->min, key->max);
		*(double *)(void *)field = value;
		return CT_OK;
	}
	case CT_CONF_BOOL:
	case CT_CONF_FLAG: {
		bool value;
		if (text == NULL || ct_parse_bool(text, &value) != CT_OK)
			return ct_set_error(err, err_len, CT_ERR_CONFIG,
			                    "%s: %s: '%s' is not a boolean (true/false)", source,
			                    key->name, text ? text : "");
		*(bool *)(void *)field = value;
		return CT_OK;
	}
	}
	return ct_set_error(err, err_len, CT_ERR_CONFIG, "%s: bad key type", key->name);
}

static char *trim(char *s)
{
	char *end;
	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static int load_file(const struct ct_config_table *tables, size_t n_tables, const char *path,
                     char *err, size_t err_len)
{
	char line[4096];
	char source[512];
	int line_no = 0;
	int rc = CT_OK;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return ct_set_error(err, err_len, CT_ERR_CONFIG, "cannot open config file %s: %s",
		                    path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *eq, *name, *value;
		const struct ct_config_key *key;
		void *base;

		line_no++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			rc = ct_set_error(err, err_len, CT_ERR_CONFIG, "%s:%d: line too long", path,
			                  line_no);
			goto out;
		}
		name = trim(line);
		if (*name == '\0' || *name == '#')
			continue;
		eq = strchr(name, '=');
		if (eq == NULL) {
			rc = ct_set_error(err, err_len, CT_ERR_CONFIG,
			                  "%s:%d: expected key = value", path, line_no);
			goto out;
		}
		*eq = '\0';
		name = trim(name);
		value = trim(eq + 1);
		key = find_key(tables, n_tables, name, &base);
		if (key == NULL) {
			rc = ct_set_error(err, err_len, CT_ERR_CONFIG, "%s:%d: unknown key '%s'",
			                  path, line_no, name);
			goto out;
		}
		snprintf(source, sizeof(source), "%s:%d", path, line_no);
		rc = set_value(key, base, value, source, err, err_len);
		if (rc != CT_OK)
			goto out;
	}
out:
	fclose(f);
	return rc;
}

/* mqtt.url -> CT_MQTT_URL */
static void env_name(const char *key, char *buf, size_t len)
{
	size_t i = 0;
	int n = snprintf(buf, len, "CT_");
	for (i = 0; key[i] != '\0' && (size_t)n + i + 1 < len; i++) {
		char c = key[i];
		buf[n + i] = (c == '.' || c == '-') ? '_' : (char)toupper((unsigned char)c);
	}
	buf[n + i] = '\0';
}

/* The environment variable of key: CT_<KEY>, or the source's own name for it; false when
 * the key is not read from the environment. */
static bool key_env_name(const struct ct_config_source *source, const char *key, char *buf,
                         size_t len)
{
	for (size_t i = 0; i < source->n_env_names; i++) {
		if (strcmp(source->env_names[i].key, key) != 0)
			continue;
		if (source->env_names[i].env == NULL)
			return false;
		snprintf(buf, len, "%s", source->env_names[i].env);
		return true;
	}
	env_name(key, buf, len);
	return true;
}

static const char *env_lookup(char **envp, const char *name)
{
	size_t n = strlen(name);
	for (char **e = envp; e != NULL && *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

static void print_help(const struct ct_config_table *tables, size_t n_tables,
                       const struct ct_config_source *source)
{
	printf("Options (--key=value; env CT_KEY; file: --config PATH):\n");
	for (size_t t = 0; t < n_tables; t++) {
		for (size_t k = 0; k < tables[t].n_keys; k++) {
			const struct ct_config_key *key = &tables[t].keys[k];
			char env[128];
			if (!key_env_name(source, key->name, env, sizeof(env)))
				snprintf(env, sizeof(env), "no env");
			printf("  --%-24s %s [%s] (%s)\n", key->name, key->help,
			       key->default_value ? key->default_value : "unset", env);
		}
	}
}

int ct_config_load(const struct ct_config_table *tables, size_t n_tables, int argc, char **argv,
                   char **envp, char *err, size_t err_len)
{
	struct ct_config_source source = {.argc = argc, .argv = argv, .envp = envp};

	return ct_config_load_from(tables, n_tables, &source, err, err_len);
}

int ct_config_load_from(const struct ct_config_table *tables, size_t n_tables,
                        const struct ct_config_source *source, char *err, size_t err_len)
{
	int argc = source->argc;
	char **argv = source->argv;
	char **envp = source->envp;
	const char *config_path = source->no_file ? NULL : env_lookup(envp, "CT_CONFIG");
	int rc;

	/* Defaults. */
	for (size_t t = 0; t < n_tables; t++) {
		for (size_t k = 0; k < tables[t].n_keys; k++) {
			const struct ct_config_key *key = &tables[t].keys[k];
			if (key->default_value == NULL &&
			    (key->type == CT_CONF_STRING || key->type == CT_CONF_SECRET))
				continue;
			rc = set_value(key, tables[t].base, key->default_value, "default", err,
			               err_len);
			if (rc != CT_OK)
				return rc;
		}
	}
	/* The config file path may come from the command line too. */
	for (int i = 1; i < argc; i++) {
		if (!source->own_help &&
		    (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)) {
			print_help(tables, n_tables, source);
			return CT_ERR_STOPPED;
		}
		if (source->no_file)
			continue;
		if (strncmp(argv[i], "--config=", 9) == 0)
			config_path = argv[i] + 9;
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config_path = argv[i + 1];
	}
	if (config_path != NULL && *config_path != '\0') {
		rc = load_file(tables, n_tables, config_path, err, err_len);
		if (rc != CT_OK)
			return rc;
	}
	/* Environment, known keys only. */
	for (size_t t = 0; t < n_tables; t++) {
		for (size_t k = 0; k < tables[t].n_keys; k++) {
			const struct ct_config_key *key = &tables[t].keys[k];
			char name[128];
			const char *value;
			if (!key_env_name(source, key->name, name, sizeof(name)))
				continue;
			value = env_lookup(envp, name);
			if (value == NULL)
				continue;
			rc = set_value(key, tables[t].base, value, name, err, err_len);
			if (rc != CT_OK)
				return rc;
		}
	}
	/* Command line. */
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		char name[128];
		const char *value;
		const char *eq;
		const struct ct_config_key *key;
		void *base;

		if (strncmp(arg, "--", 2) != 0)
			return ct_set_error(err, err_len, CT_ERR_CONFIG,
			                    "unexpected argument '%s' (options are --key=value)",
			                    arg);
		arg += 2;
		eq = strchr(arg, '=');
		if (eq != NULL) {
			snprintf(name, sizeof(name), "%.*s", (int)(eq - arg), arg);
			value = eq + 1;
		} else if ((key = find_key(tables, n_tables, arg, &base)) != NULL &&
		           key->type == CT_CONF_FLAG) {
			snprintf(name, sizeof(name), "%s", arg);
			value = "true"; /* a switch: --status */
		} else {
			snprintf(name, sizeof(name), "%s", arg);
			if (find_key(tables, n_tables, name, &base) == NULL &&
			    (strcmp(name, "config") != 0 || source->no_file))
				return ct_set_error(err, err_len, CT_ERR_CONFIG,
				                    "unknown option '--%s'", name);
			if (i + 1 >= argc)
				return ct_set_error(err, err_len, CT_ERR_CONFIG,
				                    "option --%s needs a value", name);
			value = argv[++i];
		}
		if (strcmp(name, "config") == 0 && !source->no_file)
			continue;
		key = find_key(tables, n_tables, name, &base);
		if (key == NULL)
			return ct_set_error(err, err_len, CT_ERR_CONFIG, "unknown option '--%s'",
			                    name);
		rc = set_value(key, base, value, "command line", err, err_len);
		if (rc != CT_OK)
			return rc;
	}
	return CT_OK;
}

void ct_config_log(const struct ct_config_table *tables, size_t n_tables)
{
	for (size_t t = 0; t < n_tables; t++) {
		for (size_t k = 0; k < tables[t].n_keys; k++) {
			const struct ct_config_key *key = &tables[t].keys[k];
			const char *field = (const char *)tables[t].base + key->offset;
			switch (key->type) {
			case CT_CONF_STRING: {
				const char *s = *(char *const *)(const void *)field;
				ct_info("config %s = %s", key->name, s ? s : "(unset)");
				break;
			}
			case CT_CONF_SECRET: {
				const char *s = *(char *const *)(const void *)field;
				ct_info("config %s = %s", key->name, s ? "****" : "(unset)");
				break;
			}
			case CT_CONF_INT:
				ct_info("config %s = %ld", key->name,
				        *(const long *)(const void *)field);
				break;
			case CT_CONF_DOUBLE:
				ct_info("config %s = %g", key->name,
				        *(const double *)(const void *)field);
				break;
			case CT_CONF_BOOL:
			case CT_CONF_FLAG:
				ct_info("config %s = %s", key->name,
				        *(const bool *)(const void *)field ? "true" : "false");
				break;
			}
		}
	}
}

void ct_config_cleanup(const struct ct_config_table *tables, size_t n_tables)
{
	for (size_t t = 0; t < n_tables; t++) {
		for (size_t k = 0; k < tables[t].n_keys; k++) {
			const struct ct_config_key *key = &tables[t].keys[k];
			if (key->type == CT_CONF_STRING || key->type == CT_CONF_SECRET) {
				char **slot =
				        (char **)(void *)((char *)tables[t].base + key->offset);
				free(*slot);
				*slot = NULL;
			}
		}
	}
}
