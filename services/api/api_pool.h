/* api_pool: a fixed pool of PostgreSQL connections for the API's request threads.
 *
 * Each request borrows one connection for its whole handling and gives it back; a borrow
 * waits (mutex + condvar) up to a deadline for one to come free, so a burst of requests
 * queues briefly and a database too slow to keep up shows as 503 rather than as unbounded
 * threads waiting. A connection is (re)connected at borrow time (ct_pg_ensure, one attempt)
 * and gets its statement_timeout on every new session; one given back inside a transaction
 * is rolled back first. */
#ifndef CT_API_POOL_H
#define CT_API_POOL_H

#include <stddef.h>

struct api_pool;
struct ct_pg;

/* n connections (not yet connected) with conninfo and password (copied). Returns NULL when
 * out of memory. */
struct api_pool *api_pool_new(const char *conninfo, const char *password, size_t n,
                              long statement_timeout_ms);
/* Borrows a connected connection, waiting up to timeout_ms for a free one. Returns CT_OK with
 * *ret; CT_ERR_TIMEOUT when none came free in time; CT_ERR_PG when the database cannot be
 * reached (reason in err; the connection stays in the pool). Give it back with api_pool_put. */
int api_pool_get(struct api_pool *pool, int timeout_ms, struct ct_pg **ret, char *err,
                 size_t err_len);
/* Gives a borrowed connection back (rolling back an open transaction). NULL is a no-op. */
void api_pool_put(struct api_pool *pool, struct ct_pg *pg);
/* Closes every connection; all must have been given back. NULL is a no-op. */
void api_pool_free(struct api_pool *pool);

#endif
