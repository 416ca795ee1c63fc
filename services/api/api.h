/* ct-api: the HTTP API and dashboard server. What the server core (api_http.c and friends)
 * and the endpoint handlers (api_query_*.c, api_actions.c) share.
 *
 * A request reaches a handler as a struct api_call: the authenticated user, a pooled
 * PostgreSQL connection for this request alone, the {id} path segment, the query arguments
 * and the body. The handler validates every argument first (api_param_* fail the call with a
 * clear 400 naming the argument), runs parameterised SQL only, and leaves the response in
 * call->status and call->json. Most read endpoints let PostgreSQL build the JSON
 * (json_build_object / json_agg), so the C side passes one text value through. */
#ifndef CT_API_H
#define CT_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ct_pg;
struct api_server;

/* Roles, in increasing power: a route names the least role it needs. */
enum api_role {
	API_ROLE_NONE = 0, /* no token needed (health, the dashboard's files) */
	API_ROLE_VIEWER = 1,
	API_ROLE_OPERATOR = 2,
	API_ROLE_QUALITY = 3,
};

/* Returns "viewer", "operator", "quality" or "none". */
const char *api_role_name(enum api_role role);

struct api_user {
	char name[64];
	enum api_role role;
};

/* One request, as a handler sees it. The core owns everything but json. */
struct api_call {
	struct api_server *server;
	struct ct_pg *pg;            /* this request's pooled connection (NULL for NONE routes) */
	const struct api_user *user; /* the token's user; NULL on NONE routes */
	const char *path_arg;        /* the {id} segment, URL-decoded, or NULL */
	void *connection;            /* the HTTP library's connection, for api_param */
	const char *body;            /* the request body, NUL-terminated ("" when none) */
	size_t body_len;
	/* The response: */
	int status;    /* HTTP status; 200 unless set */
	char *json;    /* malloc'ed JSON body, freed by the core */
	bool no_store; /* Cache-Control: no-store (always set for API responses) */
};

/* A query argument as given (URL-decoded), or NULL when absent. */
const char *api_param(const struct api_call *call, const char *name);

/* Fails the call: status (4xx/5xx) and {"error": "<short code>", "detail": "<formatted>"}.
 * Always returns false, so handlers can `return api_fail(...)` from bool helpers. */
bool api_fail(struct api_call *call, int status, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Argument parsers. Each returns true with the value, or fails the call with a 400 naming the
 * argument and returns false. An absent argument gives the default (required: a 400). */
/* A name (site, line, station, characteristic, recipe, IDs): 1-128 bytes of
 * [A-Za-z0-9._:/@+-]; anything else (quotes, spaces, semicolons) is refused. NULL default
 * means optional: *ret is NULL when absent. */
bool api_param_name(struct api_call *call, const char *name, bool required, const char **ret);
/* An integer in [lo, hi]. */
bool api_param_long(struct api_call *call, const char *name, long def, long lo, long hi, long *ret);
/* A time: RFC 3339 (2026-12-07T10:00:00Z, offsets allowed) or integer milliseconds since the
 * epoch; returned as microseconds since the epoch (UTC). */
bool api_param_time_us(struct api_call *call, const char *name, int64_t def_us, int64_t *ret_us);
/* One of a fixed set of words; returns its index. */
bool api_param_enum(struct api_call *call, const char *name, const char *const *words,
                    size_t n_words, int def, int *ret);

/* Runs sql (parameterised: $1..$n with values, NULL for SQL NULL) that returns one row with
 * one text column holding JSON, and makes it the response (status 200). A row with NULL, or
 * no row, gives 404 with not_found_detail. Database errors become: 400 for data errors
 * (SQLSTATE class 22), 409 for a RAISE in a cellthread function (P0001) or a constraint
 * (class 23) with its message, 503 when the database is unreachable, the statement timed out
 * (57014) or was rolled back as a deadlock or serialization failure (class 40), else 500
 * (logged with the SQL's first line). Returns true when the response is the query's JSON. */
bool api_json_query(struct api_call *call, const char *sql, int n_params, const char *const *values,
                    const char *not_found_detail);

/* Handler of a route. Returns nothing: the response is in call. */
typedef void (*api_handler)(struct api_call *call);

struct api_route {
	const char *method;  /* "GET" or "POST" */
	const char *pattern; /* "/api/v1/alerts" or "/api/v1/alerts/{id}/ack": at most one {id} */
	enum api_role role;  /* least role allowed */
	api_handler handler;
};

/* The route table (api_routes.c). The server serves exactly these under /api/v1 besides the
 * dashboard's files; services/api/openapi.json documents exactly these (a test compares them with
 * `ct-api --routes`). */
extern const struct api_route api_routes[];
extern const size_t api_route_count;

/* For actions that go through the owning service's MQTT topic (alert actions): publishes an
 * encoded message with QoS 1 and waits for the broker's acknowledgement. Thread-safe.
 * Returns 0 (CT_OK) or a CT_ERR_* code. */
int api_publish(struct api_server *server, const char *topic, const void *payload, size_t len);
/* The MQTT user the service publishes as (the credential level of rpc topics). */
const char *api_mqtt_user(const struct api_server *server);

#endif
