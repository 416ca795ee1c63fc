/* ct_plant: the plant registry (see ct_plant.h).
 *
 * Stations are keys "SITE\tLINE\tSTATION" of one ct_map (IDs never hold a tab: ingest refuses
 * them before asking); ranges are an array indexed through a second map by name. Both are
 * built once at start-up and only read afterwards, so lookups need no lock.
 */
#include "ct_plant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_array.h"
#include "ct_config.h"
#include "ct_error.h"
#include "ct_map.h"

#define MAX_WORDS 512
#define KEY_MAX   256

struct plant_range {
	double min, max;
};

struct ct_plant {
	struct ct_map stations;
	struct ct_map range_index; /* name -> index into ranges */
	struct plant_range *ranges;
	size_t n_ranges, cap_ranges;
	struct plant_range fallback;
};

static bool station_key(char *buf, size_t len, const char *site, const char *line,
                        const char *station)
{
	int n = snprintf(buf, len, "%s\t%s\t%s", site, line, station);

	return n > 0 && (size_t)n < len;
}

/* Splits line (modified) into blank-separated words; returns how many, or -1 past max. */
static int split_words(char *line, char **words, int max)
{
	int n = 0;

	for (char *p = line;;) {
		p += strspn(p, " \t\r\n");
		if (*p == '\0')
			return n;
		if (n == max)
			return -1;
		words[n++] = p;
		p += strcspn(p, " \t\r\n");
		if (*p != '\0')
			*p++ = '\0';
	}
}

static int add_range(struct ct_plant *plant, const char *name, double min, double max)
{
	struct plant_range *grown;
	size_t index;

	if (ct_map_get(&plant->range_index, name, &index)) {
		plant->ranges[index] = (struct plant_range){min, max};
		return CT_OK;
	}
	grown = ct_array_grow(plant->ranges, &plant->cap_ranges, plant->n_ranges + 1,
	                      sizeof(*plant->ranges), 64);
	if (grown == NULL)
		return CT_ERR_NOMEM;
	plant->ranges = grown;
	if (ct_map_put(&plant->range_index, name, plant->n_ranges) != CT_OK)
		return CT_ERR_NOMEM;
	plant->ranges[plant->n_ranges++] = (struct plant_range){min, max};
	return CT_OK;
}

/* Parses MIN MAX of a range directive into *ret. */
static int parse_range(char **words, struct plant_range *ret)
{
	double min, max;

	if (ct_parse_double(words[0], -HUGE_VAL, HUGE_VAL, &min) != CT_OK ||
	    ct_parse_double(words[1], -HUGE_VAL, HUGE_VAL, &max) != CT_OK || !isfinite(min) ||
	    !isfinite(max) || min > max)
		return CT_ERR_CONFIG;
	*ret = (struct plant_range){min, max};
	return CT_OK;
}

/* One directive; on failure a message in err without the file and line. */
static int parse_directive(struct ct_plant *plant, char **words, int n, char *err, size_t err_len)
{
	struct plant_range range;
	char key[KEY_MAX];

	if (strcmp(words[0], "line") == 0) {
		if (n < 4)
			return ct_set_error(err, err_len, CT_ERR_CONFIG,
			                    "usage: line SITE LINE STATION...");
		for (int i = 3; i < n; i++) {
			if (!station_key(key, sizeof(key), words[1], words[2], words[i]))
				return ct_set_error(err, err_len, CT_ERR_CONFIG,
				                    "station ID too long");
			if (ct_map_put(&plant->stations, key, 1) != CT_OK)
				return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
		}
		return CT_OK;
	}
	if (strcmp(words[0], "range") == 0) {
		if ((n != 4 && n != 5) || parse_range(words + 2, &range) != CT_OK)
			return ct_set_error(
			        err, err_len, CT_ERR_CONFIG,
			        "usage: range NAME MIN MAX [UNIT] (finite, MIN <= MAX)");
		if (add_range(plant, words[1], range.min, range.max) != CT_OK)
			return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
		return CT_OK;
	}
	if (strcmp(words[0], "default-range") == 0) {
		if (n != 3 || parse_range(words + 1, &plant->fallback) != CT_OK)
			return ct_set_error(err, err_len, CT_ERR_CONFIG,
			                    "usage: default-range MIN MAX (finite, MIN <= MAX)");
		return CT_OK;
	}
	return ct_set_error(err, err_len, CT_ERR_CONFIG,
	                    "unknown directive '%s' (line, range, default-range)", words[0]);
}

int ct_plant_load(const char *path, struct ct_plant **ret, char *err, size_t err_len)
{
	struct ct_plant *plant = NULL;
	char *line = NULL, *words[MAX_WORDS], why[256];
	size_t line_cap = 0, line_no = 0;
	FILE *f = fopen(path, "r");
	int rc = CT_OK;

	if (f == NULL)
		return ct_set_error(err, err_len, CT_ERR_IO, "plant registry %s: cannot open it",
		                    path);
	plant = calloc(1, sizeof(*plant));
	if (plant == NULL) {
		rc = ct_set_error(err, err_len, CT_ERR_NOMEM, "plant registry: out of memory");
		goto out;
	}
	ct_map_init(&plant->stations);
	ct_map_init(&plant->range_index);
	plant->fallback = (struct plant_range){-CT_PLANT_DEFAULT_LIMIT, CT_PLANT_DEFAULT_LIMIT};
	while (getline(&line, &line_cap, f) >= 0) {
		int n = split_words(line, words, MAX_WORDS);

		line_no++;
		if (n == 0 || words[0][0] == '#')
			continue;
		if (n < 0) {
			rc = ct_set_error(
			        err, err_len, CT_ERR_CONFIG,
			        "plant registry %s:%zu: more than %d words; split the line", path,
			        line_no, MAX_WORDS);
			goto out;
		}
		rc = parse_directive(plant, words, n, why, sizeof(why));
		if (rc != CT_OK) {
			ct_set_error(err, err_len, rc, "plant registry %s:%zu: %s", path, line_no,
			             why);
			goto out;
		}
	}
	if (ferror(f)) {
		rc = ct_set_error(err, err_len, CT_ERR_IO, "plant registry %s: read error", path);
		goto out;
	}
	if (ct_map_count(&plant->stations) == 0) {
		rc = ct_set_error(err, err_len, CT_ERR_CONFIG,
		                  "plant registry %s names no station (a `line` directive)", path);
		goto out;
	}
	*ret = plant;
	plant = NULL;
out:
	free(line);
	fclose(f);
	ct_plant_free(plant);
	return rc;
}

void ct_plant_free(struct ct_plant *plant)
{
	if (plant == NULL)
		return;
	ct_map_cleanup(&plant->stations);
	ct_map_cleanup(&plant->range_index);
	free(plant->ranges);
	free(plant);
}

bool ct_plant_has_station(const struct ct_plant *plant, const char *site, const char *line,
                          const char *station)
{
	char key[KEY_MAX], id[KEY_MAX];
	size_t len = strcspn(station, ".");

	/* An asset "STATION.NAME" belongs to STATION. */
	if (len >= sizeof(id))
		return false;
	memcpy(id, station, len);
	id[len] = '\0';
	return station_key(key, sizeof(key), site, line, id) &&
	       ct_map_get(&plant->stations, key, NULL);
}

bool ct_plant_value_is_plausible(const struct ct_plant *plant, const char *name, double value,
                                 double *ret_min, double *ret_max)
{
	const struct plant_range *range = &plant->fallback;
	size_t index;

	if (name != NULL && ct_map_get(&plant->range_index, name, &index))
		range = &plant->ranges[index];
	if (ret_min != NULL)
		*ret_min = range->min;
	if (ret_max != NULL)
		*ret_max = range->max;
	return isfinite(value) && value >= range->min && value <= range->max;
}

size_t ct_plant_station_count(const struct ct_plant *plant)
{
	return ct_map_count(&plant->stations);
}

size_t ct_plant_range_count(const struct ct_plant *plant)
{
	return plant->n_ranges;
}
