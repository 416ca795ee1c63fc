/* api_pool: a fixed pool of ct_pg connections (contract in api_pool.h).
 *
 * The pool is an array of slots and a free list under one mutex; a borrower waits on the
 * condition variable with an absolute deadline. Each slot remembers the session generation
 * its statement_timeout was set for: a reconnect (ct_pg_ensure) starts a new session, which
 * gets the setting again before its first use. */
#include "api_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "ct_error.h"
#include "ct_pg.h"
#include "ct_time.h"

struct slot {
	struct ct_pg *pg;
	unsigned long configured_generation; /* 0: never configured */
	bool busy;
};

struct api_pool {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct slot *slots;
	size_t n;
	char timeout_text[24]; /* statement_timeout in ms, as set_config takes it */
};

struct api_pool *api_pool_new(const char *conninfo, const char *password, size_t n,
                              long statement_timeout_ms)
{
	struct api_pool *pool = calloc(1, sizeof(*pool));

	if (pool == NULL)
		return NULL;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->freed, NULL);
	snprintf(pool->timeout_text, sizeof(pool->timeout_text), "%ld", statement_timeout_ms);
	pool->slots = calloc(n, sizeof(*pool->slots));
	if (pool->slots == NULL) {
		api_pool_free(pool);
		return NULL;
	}
	pool->n = n;
	for (size_t i = 0; i < n; i++) {
		pool->slots[i].pg = ct_pg_new(conninfo, password);
		if (pool->slots[i].pg == NULL) {
			api_pool_free(pool);
			return NULL;
		}
	}
	return pool;
}

/* Connects the slot if needed and sets statement_timeout on a new session. Outside the lock:
 * the slot is ours while busy. */
static int prepare(struct api_pool *pool, struct slot *s, char *err, size_t err_len)
{
	const char *values[] = {pool->timeout_text};

	if (ct_pg_ensure(s->pg, 0, NULL, err, err_len) != CT_OK)
		return CT_ERR_PG;
	if (s->configured_generation == ct_pg_generation(s->pg))
		return CT_OK;
	/* jit off: the API's statements are short and each is planned once; compiling them cost
	 * more than it saved (1.5-2 s of a week's histogram over 3 M values, 3.1 s -> 1.4 s). */
	if (ct_pg_query(s->pg,
	                "SELECT set_config('statement_timeout', $1, false), "
	                "set_config('jit', 'off', false)",
	                1, values, NULL, err, err_len) != CT_OK)
		return CT_ERR_PG;
	s->configured_generation = ct_pg_generation(s->pg);
	return CT_OK;
}

static struct slot *slot_of(struct api_pool *pool, struct ct_pg *pg)
{
	for (size_t i = 0; i < pool->n; i++)
		if (pool->slots[i].pg == pg)
			return &pool->slots[i];
	return NULL;
}

int api_pool_get(struct api_pool *pool, int timeout_ms, struct ct_pg **ret, char *err,
                 size_t err_len)
{
	struct slot *s = NULL;
	struct timespec deadline;
	int rc;

	ct_time_deadline(&deadline, timeout_ms);
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		for (size_t i = 0; i < pool->n && s == NULL; i++)
			if (!pool->slots[i].busy)
				s = &pool->slots[i];
		if (s != NULL)
			break;
		if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) == ETIMEDOUT) {
			pthread_mutex_unlock(&pool->lock);
			return ct_set_error(err, err_len, CT_ERR_TIMEOUT,
			                    "no database connection came free within %d ms",
			                    timeout_ms);
		}
	}
	s->busy = true;
	pthread_mutex_unlock(&pool->lock);
	rc = prepare(pool, s, err, err_len);
	if (rc != CT_OK) {
		api_pool_put(pool, s->pg);
		return rc;
	}
	*ret = s->pg;
	return CT_OK;
}

void api_pool_put(struct api_pool *pool, struct ct_pg *pg)
{
	struct slot *s;

	if (pg == NULL)
		return;
	/* A handler that failed inside a transaction leaves it open: end it before the next
	 * request sees the connection. */
	if (ct_pg_tx_status(pg) == CT_PG_TX_ACTIVE || ct_pg_tx_status(pg) == CT_PG_TX_FAILED)
		ct_pg_rollback(pg);
	pthread_mutex_lock(&pool->lock);
	s = slot_of(pool, pg);
	if (s != NULL)
		s->busy = false;
	pthread_cond_signal(&pool->freed);
	pthread_mutex_unlock(&pool->lock);
}

void api_pool_free(struct api_pool *pool)
{
	if (pool == NULL)
		return;
	for (size_t i = 0; pool->slots != NULL && i < pool->n; i++)
		ct_pg_free(pool->slots[i].pg);
	free(pool->slots);
	pthread_cond_destroy(&pool->freed);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}
