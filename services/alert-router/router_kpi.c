/* router_kpi: the alarm system's figures (EEMUA 191 / ISA-18.2) as a message, read from the
 * alert_kpi_* views of migration 0009 so the message, the CLI and SQL users see the same
 * numbers. Published on ct/v1/alert/kpi every router.kpi_interval_s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_log.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "router.h"

#define MAX_POSITIONS 64

static const char positions_sql[] =
        "SELECT p.team, p.alarms_24h, p.avg_per_10min, p.peak_10min, p.pct_time_in_flood,"
        " (SELECT count(*) FROM alert_kpi_alarms k WHERE k.team = p.team"
        "   AND k.at > now() - interval '10 minutes') AS last_10min,"
        " (SELECT count(*) FROM alert_kpi_alarms k WHERE k.team = p.team"
        "   AND k.at > now() - interval '1 hour') AS last_hour,"
        " EXISTS (SELECT 1 FROM alert_position_flood f WHERE f.team = p.team"
        "   AND f.ended_at IS NULL) AS in_flood,"
        " p.target_per_10min_acceptable AS target"
        " FROM alert_kpi_position p ORDER BY p.team";

static const char totals_sql[] =
        "SELECT (SELECT count(*) FROM alert WHERE state IN ('ACTIVE_UNACK', 'ACTIVE_ACK')"
        "   AND shelved = '' AND NOT suppressed AND NOT out_of_service) AS standing,"
        " (SELECT count(*) FROM alert_kpi_stale) AS stale,"
        " (SELECT count(*) FROM alert_kpi_chattering) AS chattering,"
        " (SELECT count(*) FROM alert WHERE shelved <> '' AND state <> 'NORMAL') AS shelved,"
        " (SELECT count(*) FROM alert WHERE out_of_service AND state <> 'NORMAL') AS oos,"
        " coalesce((SELECT max(top10_share_pct) FROM alert_kpi_top10), 0) AS top10,"
        " coalesce((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY"
        "   extract(epoch FROM acked_at - raised_at)) FROM alert"
        "   WHERE raised_at > now() - interval '24 hours' AND acked_at IS NOT NULL), 0)"
        "   AS median_ack_s,"
        " coalesce((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY"
        "   extract(epoch FROM cleared_at - raised_at)) FROM alert"
        "   WHERE raised_at > now() - interval '24 hours' AND cleared_at IS NOT NULL), 0)"
        "   AS median_clear_s,"
        " (SELECT value FROM alert_kpi_target WHERE name = 'per_10min_acceptable') AS target";

static uint32_t u32(struct ct_pg_result *res, int row, const char *col)
{
	int64_t v = 0;
	ct_pg_int64(res, row, col, &v);
	return v < 0 ? 0 : (uint32_t)v;
}

static double dbl(struct ct_pg_result *res, int row, const char *col)
{
	double v = 0;
	if (!ct_pg_is_null(res, row, col))
		ct_pg_double(res, row, col, &v);
	return v;
}

int router_publish_kpi(struct router *r)
{
	Cellthread__V1__AlarmKpi kpi = CELLTHREAD__V1__ALARM_KPI__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	Cellthread__V1__PositionKpi pos[MAX_POSITIONS], *pos_ptrs[MAX_POSITIONS];
	struct ct_pg_result *positions = NULL, *totals = NULL;
	char id[40], err[256];
	int rc;

	rc = ct_pg_query(r->pg, positions_sql, 0, NULL, &positions, err, sizeof(err));
	if (rc == CT_OK)
		rc = ct_pg_query(r->pg, totals_sql, 0, NULL, &totals, err, sizeof(err));
	if (rc != CT_OK) {
		ct_warn("cannot read the alarm KPIs (will retry): %s", err);
		ct_pg_result_free(positions);
		return CT_OK;
	}
	size_t n = (size_t)ct_pg_result_rows(positions);
	if (n > MAX_POSITIONS)
		n = MAX_POSITIONS;
	for (size_t i = 0; i < n; i++) {
		int row = (int)i;
		bool in_flood = false;
		cellthread__v1__position_kpi__init(&pos[i]);
		pos[i].team = (char *)ct_pg_text(positions, row, "team");
		pos[i].alarms_last_10min = u32(positions, row, "last_10min");
		pos[i].alarms_last_hour = u32(positions, row, "last_hour");
		pos[i].alarms_last_day = u32(positions, row, "alarms_24h");
		pos[i].avg_per_10min = dbl(positions, row, "avg_per_10min");
		pos[i].peak_10min = u32(positions, row, "peak_10min");
		pos[i].percent_time_in_flood = dbl(positions, row, "pct_time_in_flood");
		ct_pg_bool(positions, row, "in_flood", &in_flood);
		pos[i].in_flood = in_flood;
		pos_ptrs[i] = &pos[i];
	}
	ct_pb_header_fill(&header, id, sizeof(id), r->producer);
	kpi.header = &header;
	kpi.at_us = ct_now_us();
	kpi.n_positions = n;
	kpi.positions = pos_ptrs;
	kpi.standing = u32(totals, 0, "standing");
	kpi.stale = u32(totals, 0, "stale");
	kpi.chattering = u32(totals, 0, "chattering");
	kpi.shelved = u32(totals, 0, "shelved");
	kpi.out_of_service = u32(totals, 0, "oos");
	kpi.top10_share_percent = dbl(totals, 0, "top10");
	kpi.target_per_10min = dbl(totals, 0, "target");
	kpi.median_ack_s = dbl(totals, 0, "median_ack_s");
	kpi.median_clear_s = dbl(totals, 0, "median_clear_s");
	if (ct_pg_result_check(positions, err, sizeof(err)) != CT_OK ||
	    ct_pg_result_check(totals, err, sizeof(err)) != CT_OK)
		ct_warn("alarm KPIs: %s", err);
	/* Published at once (not through the batch queue): a figure, not a change to keep. */
	rc = ct_loop_publish(&r->loop, CT_TOPIC_ROOT "/alert/kpi", &kpi.base, false);
	ct_pg_result_free(positions);
	ct_pg_result_free(totals);
	return rc;
}
