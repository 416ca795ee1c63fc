/* The handlers the route table (api_routes.c) names: reads in api_query_*.c, actions in
 * api_actions.c, the server's own in api_http.c. Each is an api_handler (api.h). */
#ifndef CT_API_HANDLERS_H
#define CT_API_HANDLERS_H

#include "api.h"

/* api_http.c */
void api_get_health(struct api_call *call);
void api_get_me(struct api_call *call);
void api_get_openapi(struct api_call *call);
void api_get_stream(struct api_call *call); /* server-sent events; handled by the core */

/* api_query_line.c: the line */
void api_get_overview(struct api_call *call);
void api_get_stations(struct api_call *call);
void api_get_characteristics(struct api_call *call);

/* api_query_chart.c: one characteristic */
void api_get_runchart(struct api_call *call);
void api_get_histogram(struct api_call *call);
void api_get_controlchart(struct api_call *call);
void api_get_capability(struct api_call *call);
void api_get_charts(struct api_call *call);

/* api_query_thread.c: the digital thread */
void api_get_unit(struct api_call *call);
void api_get_lot_descendants(struct api_call *call);
void api_get_lots(struct api_call *call);
void api_get_verdicts(struct api_call *call);
void api_get_inspection(struct api_call *call);
void api_get_actions(struct api_call *call);
void api_get_alerts(struct api_call *call);
void api_get_alert(struct api_call *call);

/* api_query_oee.c: OEE and the plant metrics (migration 0011's functions) */
void api_get_oee(struct api_call *call);
void api_get_oee_pareto(struct api_call *call);
void api_get_oee_changeovers(struct api_call *call);
void api_get_oee_shifts(struct api_call *call);
void api_get_metrics_response(struct api_call *call);
void api_get_metrics_trace_depth(struct api_call *call);
void api_get_metrics_maintainability(struct api_call *call);

/* api_actions.c: operator and quality actions */
void api_post_alert_ack(struct api_call *call);
void api_post_alert_shelve(struct api_call *call);
void api_post_alert_unshelve(struct api_call *call);
void api_post_alert_comment(struct api_call *call);
void api_post_lot_hold(struct api_call *call);
void api_post_lot_release(struct api_call *call);
void api_post_disposition(struct api_call *call);
void api_post_action_undo(struct api_call *call);

#endif
