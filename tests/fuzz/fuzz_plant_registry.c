/* Fuzz target: the plant registry parser (ct_plant_load, ingest.plant_file), reached through a
 * temporary file holding the input. What loads must answer lookups consistently: every range
 * it reports is finite with min <= max, NaN and infinities are never plausible, and a value
 * inside the reported range is plausible. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ct_error.h"
#include "ct_plant.h"

#define FUZZ_MAX_INPUT (1u << 14)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes buf into a new file under $TMPDIR; its path into path. */
static bool temp_file(char *path, size_t len, const void *buf, size_t n)
{
	const char *tmp = getenv("TMPDIR");
	FILE *f;
	bool ok;
	int fd;

	snprintf(path, len, "%s/ct-fuzz-plant-XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return false;
	f = fdopen(fd, "wb");
	if (f == NULL) {
		close(fd);
		unlink(path);
		return false;
	}
	ok = fwrite(buf, 1, n, f) == n;
	ok = fclose(f) == 0 && ok;
	if (!ok)
		unlink(path);
	return ok;
}

/* Checks one name's range answers. */
static void check_name(const struct ct_plant *plant, const char *name)
{
	double min = NAN, max = NAN;

	(void)ct_plant_value_is_plausible(plant, name, 0.0, &min, &max);
	if (!isfinite(min) || !isfinite(max) || min > max)
		abort();
	if (ct_plant_value_is_plausible(plant, name, NAN, NULL, NULL) ||
	    ct_plant_value_is_plausible(plant, name, INFINITY, NULL, NULL) ||
	    ct_plant_value_is_plausible(plant, name, -INFINITY, NULL, NULL))
		abort();
	if (!ct_plant_value_is_plausible(plant, name, min, NULL, NULL) ||
	    !ct_plant_value_is_plausible(plant, name, max, NULL, NULL) ||
	    !ct_plant_value_is_plausible(plant, name, min / 2 + max / 2, NULL, NULL))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ct_plant *plant = NULL;
	char path[512], err[512], word[64];
	size_t n;

	if (size > FUZZ_MAX_INPUT || !temp_file(path, sizeof(path), data, size))
		return 0;
	if (ct_plant_load(path, &plant, err, sizeof(err)) == CT_OK) {
		if (ct_plant_station_count(plant) == 0)
			abort(); /* a registry that names no station is refused */
		check_name(plant, "fill_mass");
		check_name(plant, "");
		/* The input's own first word (often a name it ranged) and lookups of odd stations.
		 */
		n = 0;
		while (n < size && n < sizeof(word) - 1 && data[n] > ' ' && data[n] != 0x7f) {
			word[n] = (char)data[n];
			n++;
		}
		word[n] = '\0';
		check_name(plant, word);
		(void)ct_plant_has_station(plant, word, word, word);
		(void)ct_plant_has_station(plant, "site1", "L1", "L1-FILL-01.nozzle");
		(void)ct_plant_has_station(plant, "", "", ".");
		ct_plant_free(plant);
	} else if (err[0] == '\0') {
		abort(); /* every refusal says why */
	}
	unlink(path);
	return 0;
}
