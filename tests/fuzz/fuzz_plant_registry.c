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
#include "fuzz_util.h"

#define FUZZ_MAX_INPUT (1u << 14)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

	if (size > FUZZ_MAX_INPUT || !fuzz_temp_file(path, sizeof(path), "plant", data, size))
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
