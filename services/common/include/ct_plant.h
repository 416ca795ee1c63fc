/* ct_plant: the plant registry, read from a configuration file: which stations exist on which
 * site and line, and the physical range every named quantity can take.
 *
 * ingest refuses edge input from a station the registry does not name (dead letter
 * UNKNOWN_STATION) and values outside their physical range (IMPLAUSIBLE), so a gateway cannot
 * invent stations, and a forged or broken value (1.7e308 kg of electrolyte) never reaches a
 * chart or drives a control action. The ranges are physics, not specification: a fill mass of
 * 5.6 g is out of spec and judged by spc-gate; 5,600 g is implausible and never judged.
 *
 * File format (deploy/config/plant.conf is the demo line's), one directive per line, words
 * separated by blanks, `#` starts a comment line:
 *   line SITE LINE STATION...    stations (or areas) of that line; repeatable. A telemetry
 *                                asset STATION.NAME belongs to its station.
 *   range NAME MIN MAX [UNIT]    the physical range of every measurement characteristic,
 *                                process parameter, environment quantity and telemetry
 *                                signal called NAME (inclusive; UNIT is documentation)
 *   default-range MIN MAX        the range of names without one (default -1e9 1e9)
 * A file that names no station is refused: an empty registry would refuse every message.
 */
#ifndef CT_PLANT_H
#define CT_PLANT_H

#include <stdbool.h>
#include <stddef.h>

struct ct_plant;

/* The default range of a name is -CT_PLANT_DEFAULT_LIMIT .. CT_PLANT_DEFAULT_LIMIT; a service
 * without a registry bounds values by it too, so 1e308 never passes as "finite". */
#define CT_PLANT_DEFAULT_LIMIT 1e9

/* Reads the registry at path. Returns CT_OK with *ret set (free with ct_plant_free), or
 * CT_ERR_IO / CT_ERR_CONFIG / CT_ERR_NOMEM with the file, line and problem in err; *ret is
 * untouched on failure. */
int ct_plant_load(const char *path, struct ct_plant **ret, char *err, size_t err_len);

/* Frees the registry; NULL is a no-op. */
void ct_plant_free(struct ct_plant *plant);

/* Whether station (an asset "STATION.NAME" counts as STATION) is on site/line. */
bool ct_plant_has_station(const struct ct_plant *plant, const char *site, const char *line,
                          const char *station);

/* Whether value lies in the range of `name` (or the default range); the range used goes to
 * *ret_min and *ret_max (either may be NULL). NaN and infinities are never plausible. */
bool ct_plant_value_is_plausible(const struct ct_plant *plant, const char *name, double value,
                                 double *ret_min, double *ret_max);

/* Counts, for the start-up log. */
size_t ct_plant_station_count(const struct ct_plant *plant);
size_t ct_plant_range_count(const struct ct_plant *plant);

#endif
