/* The API's routes: method, path, least role, handler. services/api/openapi.json documents exactly
 * these; `ct-api --routes` prints them for the test that keeps the two equal. */
#include "api.h"
#include "api_handlers.h"

const struct api_route api_routes[] = {
        {"GET", "/api/v1/health", API_ROLE_NONE, api_get_health},
        {"GET", "/api/v1/openapi.json", API_ROLE_NONE, api_get_openapi},
        {"GET", "/api/v1/me", API_ROLE_VIEWER, api_get_me},
        {"GET", "/api/v1/stream", API_ROLE_VIEWER, api_get_stream},
        {"GET", "/api/v1/overview", API_ROLE_VIEWER, api_get_overview},
        {"GET", "/api/v1/stations", API_ROLE_VIEWER, api_get_stations},
        {"GET", "/api/v1/characteristics", API_ROLE_VIEWER, api_get_characteristics},
        {"GET", "/api/v1/runchart", API_ROLE_VIEWER, api_get_runchart},
        {"GET", "/api/v1/histogram", API_ROLE_VIEWER, api_get_histogram},
        {"GET", "/api/v1/controlchart", API_ROLE_VIEWER, api_get_controlchart},
        {"GET", "/api/v1/capability", API_ROLE_VIEWER, api_get_capability},
        {"GET", "/api/v1/charts", API_ROLE_VIEWER, api_get_charts},
        {"GET", "/api/v1/units/{id}", API_ROLE_VIEWER, api_get_unit},
        {"GET", "/api/v1/lots", API_ROLE_VIEWER, api_get_lots},
        {"GET", "/api/v1/lots/{id}/descendants", API_ROLE_VIEWER, api_get_lot_descendants},
        {"GET", "/api/v1/verdicts", API_ROLE_VIEWER, api_get_verdicts},
        {"GET", "/api/v1/inspection", API_ROLE_VIEWER, api_get_inspection},
        {"GET", "/api/v1/actions", API_ROLE_VIEWER, api_get_actions},
        {"GET", "/api/v1/alerts", API_ROLE_VIEWER, api_get_alerts},
        {"GET", "/api/v1/alerts/{id}", API_ROLE_VIEWER, api_get_alert},
        {"GET", "/api/v1/oee", API_ROLE_VIEWER, api_get_oee},
        {"GET", "/api/v1/oee/pareto", API_ROLE_VIEWER, api_get_oee_pareto},
        {"GET", "/api/v1/oee/changeovers", API_ROLE_VIEWER, api_get_oee_changeovers},
        {"GET", "/api/v1/oee/shifts", API_ROLE_VIEWER, api_get_oee_shifts},
        {"GET", "/api/v1/metrics/response", API_ROLE_VIEWER, api_get_metrics_response},
        {"GET", "/api/v1/metrics/trace-depth", API_ROLE_VIEWER, api_get_metrics_trace_depth},
        {"GET", "/api/v1/metrics/maintainability", API_ROLE_VIEWER,
         api_get_metrics_maintainability},
        {"POST", "/api/v1/alerts/{id}/ack", API_ROLE_OPERATOR, api_post_alert_ack},
        {"POST", "/api/v1/alerts/{id}/shelve", API_ROLE_OPERATOR, api_post_alert_shelve},
        {"POST", "/api/v1/alerts/{id}/unshelve", API_ROLE_OPERATOR, api_post_alert_unshelve},
        {"POST", "/api/v1/alerts/{id}/comment", API_ROLE_OPERATOR, api_post_alert_comment},
        {"POST", "/api/v1/lots/{id}/hold", API_ROLE_OPERATOR, api_post_lot_hold},
        {"POST", "/api/v1/lots/{id}/release", API_ROLE_QUALITY, api_post_lot_release},
        {"POST", "/api/v1/inspection/{id}/disposition", API_ROLE_QUALITY, api_post_disposition},
        {"POST", "/api/v1/actions/{id}/undo", API_ROLE_QUALITY, api_post_action_undo},
};

const size_t api_route_count = sizeof(api_routes) / sizeof(api_routes[0]);
