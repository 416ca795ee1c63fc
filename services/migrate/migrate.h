/* migrate: the pure half of ct-migrate: migration files, their order and SHA-256, and the
 * comparison of the files with what a database has already applied.
 *
 * A migration is a file `<version>_<name>.sql` in one directory: version is 1 to 9 decimal
 * digits (leading zeros allowed, value > 0; "0001" is version 1), name is [A-Za-z0-9_-]+.
 * Files are applied in numeric version order, so "10_x.sql" comes after "9_y.sql". Hidden
 * files and files not ending in ".sql" are ignored (READMEs, editor backups); a file ending
 * in ".sql" that does not follow the pattern is an error, because it is almost certainly a
 * misnamed migration that would otherwise be skipped silently.
 *
 * A file's identity is the SHA-256 of its bytes (OpenSSL libcrypto, already linked for
 * Paho's TLS), as 64 lower-case hex digits, stored in schema_migrations.sha256: an applied
 * migration whose file changed by even one byte (line endings included) is detected.
 * Nothing here touches the database: main.c reads schema_migrations into struct
 * migrate_applied rows and asks migrate_plan() what to do. */
#ifndef CT_MIGRATE_H
#define CT_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MIGRATE_NAME_MAX   128                 /* bytes of a name, NUL included */
#define MIGRATE_FILE_MAX   160                 /* bytes of a file name, NUL included */
#define MIGRATE_SHA256_HEX 64                  /* hex digits */
#define MIGRATE_MAX_BYTES  (64u * 1024 * 1024) /* larger files are refused */

struct migration {
	int version;
	char name[MIGRATE_NAME_MAX];
	char file[MIGRATE_FILE_MAX];
	char sha256[MIGRATE_SHA256_HEX + 1];
	char *sql; /* the file's contents, NUL-terminated, owned (NULL in sets built by hand) */
	size_t sql_len;
};

/* The migration files of a directory, sorted by version. */
struct migration_set {
	struct migration *items;
	size_t n;
};

/* One row of schema_migrations. */
struct migrate_applied {
	int version;
	char name[MIGRATE_NAME_MAX];
	char sha256[MIGRATE_SHA256_HEX + 1];
	char applied_at[40];
};

enum migrate_state {
	MIGRATE_APPLIED,      /* applied, file unchanged */
	MIGRATE_PENDING,      /* file not applied yet; will be */
	MIGRATE_CHANGED,      /* applied, but the file's SHA-256 differs: refuse */
	MIGRATE_RENAMED,      /* applied under another name than the file's: refuse */
	MIGRATE_MISSING,      /* applied, but no file has its version: refuse */
	MIGRATE_OUT_OF_ORDER, /* not applied, but older than an applied one: refuse */
};

/* One version in the merged view of files and applied rows. Pointers borrow from the set
 * and the applied array given to migrate_plan(); either may be NULL (not both). */
struct migrate_step {
	int version;
	enum migrate_state state;
	const struct migration *file;
	const struct migrate_applied *applied;
};

/* Parses a directory entry's name. Returns CT_OK with the version and name, CT_ERR_NOT_FOUND
 * when the entry is not a migration at all (hidden, or not ending in ".sql"), or
 * CT_ERR_INVALID when it ends in ".sql" but breaks the pattern (reason in err). Outputs are
 * untouched on failure. */
int migrate_parse_file_name(const char *file, int *ret_version, char *ret_name, size_t name_len,
                            char *err, size_t err_len);

/* SHA-256 of data as MIGRATE_SHA256_HEX lower-case hex digits and a NUL. Returns CT_OK, or
 * CT_ERR_INVALID when libcrypto cannot compute it (no provider); ret is untouched then. */
int migrate_sha256(const void *data, size_t len, char ret[MIGRATE_SHA256_HEX + 1]);

/* Sorts a set by version. Returns CT_OK, or CT_ERR_INVALID (naming both files) when two
 * files share a version. */
int migrate_set_sort(struct migration_set *set, char *err, size_t err_len);

/* Reads every migration file of dir into set (which must be empty: {NULL, 0}), with its
 * contents and SHA-256, sorted by version. Fails with CT_ERR_IO (dir or file unreadable),
 * CT_ERR_INVALID (a misnamed .sql file, a duplicate version, a NUL byte in a file),
 * CT_ERR_TOO_BIG or CT_ERR_NOMEM, the reason in err; on failure set is left empty. */
int migrate_set_load(struct migration_set *set, const char *dir, char *err, size_t err_len);
/* Frees what migrate_set_load allocated and empties the set. Accepts an empty set. */
void migrate_set_cleanup(struct migration_set *set);

/* Merges files (sorted) and applied rows (any order) into steps ordered by version, one per
 * version present in either. *ret_steps is heap (free() it), *ret_problems counts steps in a
 * refusing state (CHANGED, RENAMED, MISSING, OUT_OF_ORDER). Returns CT_OK or CT_ERR_NOMEM
 * (outputs untouched). */
int migrate_plan(const struct migration_set *files, const struct migrate_applied *applied,
                 size_t n_applied, struct migrate_step **ret_steps, size_t *ret_n,
                 size_t *ret_problems);

/* "applied", "pending", ...; never NULL. */
const char *migrate_state_name(enum migrate_state state);
/* True for the states that make ct-migrate refuse to run. */
bool migrate_state_is_problem(enum migrate_state state);

/* The 1-based line of the character at 1-based character position pos (PostgreSQL's
 * error position, counted in characters of the UTF-8 text). Returns 0 when pos is out of
 * range. */
unsigned migrate_line_of_position(const char *text, size_t len, long pos);

/* Prints the steps as a table (VERSION STATE APPLIED_AT FILE SHA256), for --status. */
void migrate_print_status(const struct migrate_step *steps, size_t n, FILE *out);
/* Logs, at error level, why each refusing step refuses and what to do about it. */
void migrate_report_problems(const struct migrate_step *steps, size_t n, const char *dir);

#endif
