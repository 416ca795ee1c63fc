/* api_auth: who a bearer token belongs to.
 *
 * Tokens are stored only as their SHA-256 in api_user (migration 0010); the hash is computed
 * by PostgreSQL in the lookup, so this process holds no crypto code. To spare the database a
 * lookup per request, a small cache remembers token -> user for at most API_AUTH_CACHE_MS:
 * a revoked token keeps working for at most that long. The cache is a fixed array under a
 * mutex (thread-safe); it keeps the tokens it saw in memory, as the process already does
 * while handling their requests. */
#ifndef CT_API_AUTH_H
#define CT_API_AUTH_H

#include <stddef.h>

#include "api.h"

#define API_AUTH_CACHE_MS 5000

struct api_auth;
struct ct_pg;

/* Returns NULL when out of memory. */
struct api_auth *api_auth_new(void);
void api_auth_free(struct api_auth *auth);

/* Looks the token up (cache first, then pg). Returns CT_OK with *ret; CT_ERR_NOT_FOUND for a
 * token that is malformed, unknown or revoked; CT_ERR_PG when the database failed (reason in
 * err). */
int api_auth_lookup(struct api_auth *auth, struct ct_pg *pg, const char *token,
                    struct api_user *ret, char *err, size_t err_len);

#endif
