/* api_auth: bearer tokens to users (contract in api_auth.h).
 *
 * The cache is a small fixed array searched linearly: a plant has tens of users, and a
 * lookup in it costs far less than the database round trip it saves. An entry older than
 * API_AUTH_CACHE_MS is ignored and replaced; when all are young, the oldest goes. Only found
 * users are cached: an unknown token asks the database every time, so a token minted a
 * moment ago works at once. */
#include "api_auth.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_pg.h"
#include "ct_time.h"

#define CACHE_SIZE 64
#define TOKEN_MAX  128

struct entry {
	char token[TOKEN_MAX + 1];
	struct api_user user;
	int64_t at_ms; /* when looked up; 0: empty */
};

struct api_auth {
	pthread_mutex_t lock;
	struct entry cache[CACHE_SIZE];
};

struct api_auth *api_auth_new(void)
{
	struct api_auth *auth = calloc(1, sizeof(*auth));

	if (auth != NULL)
		pthread_mutex_init(&auth->lock, NULL);
	return auth;
}

void api_auth_free(struct api_auth *auth)
{
	if (auth == NULL)
		return;
	pthread_mutex_destroy(&auth->lock);
	free(auth);
}

/* Tokens are "ctk_" and 64 hex digits; anything else (or longer than TOKEN_MAX) is refused
 * before it reaches the database or the cache. Letters, digits, '_' and '-' are accepted so a
 * deployment may mint its own form. */
static bool token_is_plausible(const char *token)
{
	size_t len = strlen(token);

	if (len < 16 || len > TOKEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = token[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Compares two NUL-padded token buffers in time that does not depend on where they differ:
 * strcmp would stop at the first wrong byte, and its timing would tell a caller how much of
 * a guessed token is right. */
static bool same_token(const char *a, const char *b)
{
	unsigned char diff = 0;

	for (size_t i = 0; i < TOKEN_MAX + 1; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

static bool cache_find(struct api_auth *auth, const char *token, struct api_user *ret)
{
	int64_t now = ct_mono_ms();
	char padded[TOKEN_MAX + 1] = {0};
	bool found = false;

	memcpy(padded, token, strlen(token)); /* token_is_plausible: at most TOKEN_MAX bytes */
	pthread_mutex_lock(&auth->lock);
	for (size_t i = 0; i < CACHE_SIZE && !found; i++) {
		struct entry *e = &auth->cache[i];
		if (e->at_ms != 0 && now - e->at_ms < API_AUTH_CACHE_MS &&
		    same_token(e->token, padded)) {
			*ret = e->user;
			found = true;
		}
	}
	pthread_mutex_unlock(&auth->lock);
	return found;
}

static void cache_put(struct api_auth *auth, const char *token, const struct api_user *user)
{
	struct entry *victim;

	pthread_mutex_lock(&auth->lock);
	victim = &auth->cache[0];
	for (size_t i = 0; i < CACHE_SIZE; i++) {
		if (auth->cache[i].at_ms < victim->at_ms)
			victim = &auth->cache[i];
		if (auth->cache[i].at_ms == 0)
			break;
	}
	memset(victim->token, 0, sizeof(victim->token)); /* NUL-padded, for same_token */
	snprintf(victim->token, sizeof(victim->token), "%s", token);
	victim->user = *user;
	victim->at_ms = ct_mono_ms();
	pthread_mutex_unlock(&auth->lock);
}

static bool role_from_name(const char *name, enum api_role *ret)
{
	static const enum api_role roles[] = {API_ROLE_VIEWER, API_ROLE_OPERATOR, API_ROLE_QUALITY};

	for (size_t i = 0; name != NULL && i < sizeof(roles) / sizeof(roles[0]); i++) {
		if (strcmp(name, api_role_name(roles[i])) == 0) {
			*ret = roles[i];
			return true;
		}
	}
	return false;
}

int api_auth_lookup(struct api_auth *auth, struct ct_pg *pg, const char *token,
                    struct api_user *ret, char *err, size_t err_len)
{
	static const char sql[] = "SELECT name, role FROM api_user"
	                          " WHERE token_sha256 = sha256(convert_to($1, 'UTF8'))"
	                          " AND revoked_at IS NULL";
	const char *values[] = {token};
	struct ct_pg_result *res = NULL;
	struct api_user user;
	const char *name;
	int rc;

	if (token == NULL || !token_is_plausible(token))
		return CT_ERR_NOT_FOUND;
	if (cache_find(auth, token, ret))
		return CT_OK;
	if ((rc = ct_pg_query(pg, sql, 1, values, &res, err, err_len)) != CT_OK)
		return rc;
	if (ct_pg_result_rows(res) != 1) {
		rc = CT_ERR_NOT_FOUND;
		goto out;
	}
	memset(&user, 0, sizeof(user));
	name = ct_pg_text(res, 0, "name");
	if (name == NULL || !role_from_name(ct_pg_text(res, 0, "role"), &user.role)) {
		rc = ct_set_error(err, err_len, CT_ERR_PG, "api_user: a row without name or role");
		goto out;
	}
	snprintf(user.name, sizeof(user.name), "%s", name);
	cache_put(auth, token, &user);
	*ret = user;
out:
	ct_pg_result_free(res);
	return rc;
}
