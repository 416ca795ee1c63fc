/* migrate_db: ct-migrate's database side, on ct_pg: the migration lock, schema_migrations,
 * and applying one migration in its own transaction.
 *
 * Every function returns CT_OK or an error with the reason in err, formatted as
 * "[file:line: ]SQLSTATE message[ (detail)][ hint: hint]" for a statement the server refused
 * (migrate_db_error), so an operator sees where in which file a migration failed. */
#ifndef MIGRATE_DB_H
#define MIGRATE_DB_H

#include <stdbool.h>
#include <stddef.h>

#include "ct_pg.h"
#include "migrate.h"

/* Connects to conninfo ("" or NULL: libpq's PG* environment) with a 10 s connect timeout the
 * conninfo may change, application name ct-migrate unless it sets one, and client encoding
 * UTF8 whatever it says (the files are UTF-8). Server notices are logged with the file being
 * applied (*notice_file, NULL between files). One attempt. Returns CT_OK with *ret (free it
 * with ct_pg_free: closing the session releases the lock), CT_ERR_PG or CT_ERR_NOMEM. */
int migrate_db_connect(const char *conninfo, const char *const *notice_file, struct ct_pg **ret,
                       char *err, size_t err_len);

/* Takes the session advisory lock, waiting at most timeout_s seconds for another migrator.
 * CT_ERR_TIMEOUT when it still holds the lock then. */
int migrate_db_lock(struct ct_pg *pg, long timeout_s, char *err, size_t err_len);

/* Creates public.schema_migrations on first use (call under the lock). */
int migrate_db_ensure_table(struct ct_pg *pg, char *err, size_t err_len);

/* Reads schema_migrations; a database without the table has an empty history. *ret is heap
 * (free() it), NULL when empty. */
int migrate_db_read_applied(struct ct_pg *pg, struct migrate_applied **ret, size_t *ret_n,
                            char *err, size_t err_len);

/* Runs one migration and records it, in one transaction. On failure the transaction is
 * rolled back and CT_ERR_PG returned, except when the file itself ended the transaction:
 * CT_ERR_INVALID, and what ran before its COMMIT stays. */
int migrate_db_apply(struct ct_pg *pg, const struct migration *m, char *err, size_t err_len);

/* Applies the PENDING steps in version order (migrate_db_apply), logging each with its
 * duration and the server's notices with the file (*notice_file); stops at the first
 * failure, logged with how many were applied before it. Returns CT_OK or that failure. */
int migrate_db_apply_pending(struct ct_pg *pg, const struct migrate_step *steps, size_t n_steps,
                             const char **notice_file);

/* Formats a refused statement (the connection's last error) into err, with the file and
 * line of its position when m is not NULL. Returns CT_ERR_PG. Pure but for reading e. */
int migrate_db_error(const struct ct_pg_error *e, const struct migration *m, char *err,
                     size_t err_len);

#endif
