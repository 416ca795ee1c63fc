/* Fuzz target: the configuration file parser (ct_config's load_file, reached through
 * ct_config_load_from with --config naming a temporary file). A table with a key of every
 * type is loaded from the input; what loads must lie within the keys' bounds, and writing
 * the loaded values back as a file and loading that gives the same values. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ct_config.h"
#include "ct_error.h"
#include "fuzz_util.h"

#define FUZZ_MAX_INPUT (1u << 14)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_config {
	char *url;
	char *password;
	long count;
	double ratio;
	bool verify;
	bool status;
};

#define KEY(name, type, field, def, min, max)                                                      \
	{                                                                                          \
		name, type, offsetof(struct fuzz_config, field), def, min, max, ""                 \
	}
static const struct ct_config_key keys[] = {
        KEY("mqtt.url", CT_CONF_STRING, url, NULL, 0, 0),
        KEY("mqtt.password", CT_CONF_SECRET, password, "", 0, 0),
        KEY("count", CT_CONF_INT, count, "10", -5, 1000000),
        KEY("ratio", CT_CONF_DOUBLE, ratio, "0.5", -1e9, 1e9),
        KEY("tls-verify", CT_CONF_BOOL, verify, "true", 0, 0),
        KEY("status", CT_CONF_FLAG, status, "false", 0, 0),
};

static int load(const char *path, struct fuzz_config *cfg, char *err, size_t err_len)
{
	char name[] = "fuzz", arg[4200];
	char *argv[] = {name, arg, NULL};
	struct ct_config_table table = {keys, sizeof(keys) / sizeof(keys[0]), cfg};
	struct ct_config_source source = {.argc = 2, .argv = argv};

	snprintf(arg, sizeof(arg), "--config=%s", path);
	memset(cfg, 0, sizeof(*cfg));
	return ct_config_load_from(&table, 1, &source, err, err_len);
}

static void cleanup(struct fuzz_config *cfg)
{
	struct ct_config_table table = {keys, sizeof(keys) / sizeof(keys[0]), cfg};
	ct_config_cleanup(&table, 1);
}

static bool same_string(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_config cfg, again;
	char path[4096], err[512];
	char *text = NULL;
	size_t text_len = 0;
	FILE *out;

	if (size > FUZZ_MAX_INPUT || !fuzz_temp_file(path, sizeof(path), "config", data, size))
		return 0;
	if (load(path, &cfg, err, sizeof(err)) != CT_OK) {
		cleanup(&cfg);
		unlink(path);
		return 0;
	}
	unlink(path);
	if (cfg.count < -5 || cfg.count > 1000000 || !isfinite(cfg.ratio) || cfg.ratio < -1e9 ||
	    cfg.ratio > 1e9)
		abort();

	/* The values as a file of our own: loads to the same values. A value is trimmed and
	 * ends at a NUL, so it has no surrounding space, no newline, no NUL. */
	out = open_memstream(&text, &text_len);
	if (out == NULL)
		abort();
	if (cfg.url != NULL)
		fprintf(out, "mqtt.url=%s\n", cfg.url);
	fprintf(out,
	        "# comment\nmqtt.password=%s\ncount=%ld\nratio=%.17g\ntls-verify=%s\n"
	        "status=%s\n",
	        cfg.password != NULL ? cfg.password : "", cfg.count, cfg.ratio,
	        cfg.verify ? "true" : "false", cfg.status ? "yes" : "off");
	if (fclose(out) != 0 || !fuzz_temp_file(path, sizeof(path), "config", text, text_len))
		abort();
	if (load(path, &again, err, sizeof(err)) != CT_OK)
		abort();
	unlink(path);
	if (!same_string(cfg.url, again.url) || !same_string(cfg.password, again.password) ||
	    cfg.count != again.count || memcmp(&cfg.ratio, &again.ratio, sizeof(double)) != 0 ||
	    cfg.verify != again.verify || cfg.status != again.status)
		abort();
	cleanup(&again);
	cleanup(&cfg);
	free(text);
	return 0;
}
