/* linesim_command: station commands (StationCommand) applied to the model, as a line would.
 *
 * A command is checked in a fixed order, each step with its own outcome: it must decode and
 * carry an event ID, a site, line and station; it must name a station of a simulated line
 * of this model's site (else "not simulated", and it is not remembered); its event ID must
 * not be among the last LINESIM_CMD_SEEN remembered (redeliveries after a reconnect, replays
 * of the sender's batch); it must not have expired. Only then is its kind looked at, and
 * only a command that passed every check changes anything: a parameter setpoint (ADJUST) or
 * the station's hold (SLOW, STOP, RESUME), which linesim_model_tick reads. Nothing here
 * draws random numbers or touches a clock, so commands never shift the noise of any value,
 * and without commands nothing here runs at all. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ct_error.h"
#include "ct_ids.h"
#include "ct_msg.h"
#include "ct_pb.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "linesim_internal.h"

#define KIND(k)          CELLTHREAD__V1__COMMAND_KIND__COMMAND_KIND_##k
#define MAX_PAYLOAD      (64u * 1024u)
#define OWN_STEP_SHARE   0.05 /* an ADJUST without max_step moves at most 5 % of nominal */
#define MACHINE_RANGE_LO 0.75 /* setpoints stay within 75-125 % of nominal */
#define MACHINE_RANGE_HI 1.25

static const char *const outcome_names[LINESIM_CMD_OUTCOMES] = {
        [LINESIM_CMD_APPLIED] = "applied", [LINESIM_CMD_DUPLICATE] = "duplicate",
        [LINESIM_CMD_EXPIRED] = "expired", [LINESIM_CMD_NOT_SIMULATED] = "not_simulated",
        [LINESIM_CMD_INVALID] = "invalid", [LINESIM_CMD_UNSUPPORTED] = "unsupported",
};

const char *linesim_command_kind_name(int kind)
{
	const char *name = ct_enum_short_name(&cellthread__v1__command_kind__descriptor, kind);

	return name != NULL ? name : "unspecified";
}

const char *linesim_command_outcome_name(enum linesim_cmd_outcome outcome)
{
	return (unsigned)outcome < LINESIM_CMD_OUTCOMES ? outcome_names[outcome] : "unknown";
}

const struct linesim_command_counts *linesim_model_command_counts(const struct linesim_model *m)
{
	return &m->cmd_counts;
}

double linesim_model_setpoint(const struct linesim_model *m, unsigned line, unsigned station,
                              const char *parameter)
{
	if (line >= m->config.n_lines || station >= LS_N_STATIONS || parameter == NULL)
		return NAN;
	for (size_t i = 0; i < ls_stations[station].n_params && i < LS_MAX_PARAMS; i++)
		if (strcmp(ls_stations[station].params[i].name, parameter) == 0)
			return m->lines[line].setpoint[station][i];
	return NAN;
}

/* Counts the outcome, fills the report and returns the outcome. */
static enum linesim_cmd_outcome finish(struct linesim_model *m, int kind,
                                       enum linesim_cmd_outcome outcome,
                                       struct linesim_command_report *ret)
{
	unsigned k = kind > 0 && kind < LINESIM_CMD_KINDS ? (unsigned)kind : 0;

	if (outcome == LINESIM_CMD_APPLIED)
		m->cmd_counts.applied[k]++;
	else
		m->cmd_counts.ignored[k]++;
	m->cmd_counts.outcomes[outcome]++;
	ret->outcome = outcome;
	ret->kind = kind;
	return outcome;
}

static const char *str(const char *s)
{
	return s == NULL ? "" : s;
}

/* The ring slot of a remembered event ID, or -1. */
static int seen(const struct linesim_model *m, const char *event_id)
{
	for (unsigned i = 0; i < m->cmd_seen_n; i++)
		if (strcmp(m->cmd_seen[i], event_id) == 0)
			return (int)i;
	return -1;
}

/* Remembers the event ID; returns its ring slot. */
static unsigned remember(struct linesim_model *m, const char *event_id)
{
	unsigned slot = m->cmd_seen_next;

	snprintf(m->cmd_seen[slot], sizeof(m->cmd_seen[0]), "%s", event_id);
	m->cmd_seen_next = (m->cmd_seen_next + 1) % LINESIM_CMD_SEEN;
	if (m->cmd_seen_n < LINESIM_CMD_SEEN)
		m->cmd_seen_n++;
	return slot;
}

/* The acknowledgement of a command for a simulated station (ret's IDs already set): ACCEPTED
 * when applied, EXPIRED, or REJECTED with the reason; kept in the ring slot (>= 0) so that a
 * duplicate gets the same one. */
static void set_ack(struct linesim_model *m, struct linesim_command_report *ret,
                    enum linesim_cmd_outcome outcome, int64_t now_us, int slot)
{
	ret->ack = true;
	ret->ack_status = outcome == LINESIM_CMD_APPLIED
	                          ? CELLTHREAD__V1__COMMAND_ACK_STATUS__COMMAND_ACK_STATUS_ACCEPTED
	                  : outcome == LINESIM_CMD_EXPIRED
	                          ? CELLTHREAD__V1__COMMAND_ACK_STATUS__COMMAND_ACK_STATUS_EXPIRED
	                          : CELLTHREAD__V1__COMMAND_ACK_STATUS__COMMAND_ACK_STATUS_REJECTED;
	snprintf(ret->ack_detail, sizeof(ret->ack_detail), "%s: %.230s",
	         linesim_command_outcome_name(outcome), ret->text);
	ret->acked_at_us = now_us;
	if (slot < 0)
		return;
	m->cmd_ack[slot].status = ret->ack_status;
	memcpy(m->cmd_ack[slot].detail, ret->ack_detail, sizeof(ret->ack_detail));
	m->cmd_ack[slot].acked_at_us = now_us;
}

/* Finds the station ID among the simulated lines; false when there is none. */
static bool find_station(const struct linesim_model *m, const char *station_id, unsigned *ret_line,
                         unsigned *ret_station)
{
	for (unsigned l = 0; l < m->config.n_lines; l++)
		for (unsigned s = 0; s < LS_N_STATIONS; s++)
			if (strcmp(m->lines[l].station_id[s], station_id) == 0) {
				*ret_line = l;
				*ret_station = s;
				return true;
			}
	return false;
}

/* The tail every applied command's log line ends with. */
static void describe_reason(const Cellthread__V1__StationCommand *cmd, char *buf, size_t len)
{
	const char *undoes = str(cmd->undoes_event_id);

	snprintf(buf, len, "reason %s%s%s (event %s)",
	         cmd->reason_code != NULL && *cmd->reason_code ? cmd->reason_code : "(none)",
	         *undoes ? ", undoes " : "", undoes, cmd->header->event_id);
}

static enum linesim_cmd_outcome adjust(struct ls_line *line, unsigned station,
                                       const Cellthread__V1__StationCommand *cmd,
                                       struct linesim_command_report *ret)
{
	const struct ls_station *st = &ls_stations[station];
	const char *name = str(cmd->parameter);
	const struct ls_param *par = NULL;
	double nominal, before, want, step, stepped, lo, hi, after;
	size_t i;
	char reason[256];

	if (*name == '\0') {
		snprintf(ret->text, sizeof(ret->text), "ADJUST %s (event %s) names no parameter",
		         line->station_id[station], cmd->header->event_id);
		return LINESIM_CMD_INVALID;
	}
	for (i = 0; i < st->n_params && i < LS_MAX_PARAMS; i++)
		if (strcmp(st->params[i].name, name) == 0) {
			par = &st->params[i];
			break;
		}
	if (par == NULL) {
		snprintf(ret->text, sizeof(ret->text),
		         "ADJUST %s %s (event %s) unsupported: the station has no such parameter",
		         line->station_id[station], name, cmd->header->event_id);
		return LINESIM_CMD_UNSUPPORTED;
	}
	if (cmd->unit != NULL && *cmd->unit != '\0' && strcmp(cmd->unit, par->unit) != 0) {
		snprintf(ret->text, sizeof(ret->text),
		         "ADJUST %s %s (event %s) unsupported: unit '%s', the parameter is in %s",
		         line->station_id[station], name, cmd->header->event_id, cmd->unit,
		         par->unit);
		return LINESIM_CMD_UNSUPPORTED;
	}
	if (!isfinite(cmd->delta) || !isfinite(cmd->target_value) || !isfinite(cmd->max_step) ||
	    cmd->max_step < 0.0 || (cmd->delta == 0.0 && cmd->target_value == 0.0)) {
		snprintf(ret->text, sizeof(ret->text),
		         "ADJUST %s %s (event %s): want a finite delta or target_value and "
		         "max_step >= 0 (delta %g, target %g, max_step %g)",
		         line->station_id[station], name, cmd->header->event_id, cmd->delta,
		         cmd->target_value, cmd->max_step);
		return LINESIM_CMD_INVALID;
	}
	nominal = par->setpoint;
	before = line->setpoint[station][i];
	/* delta is the change asked for, relative to what the station holds now (so an undo
	 * moves back by the same step); a sender that states only the target gets it. */
	want = cmd->delta != 0.0 ? before + cmd->delta : cmd->target_value;
	step = cmd->max_step > 0.0 ? cmd->max_step : OWN_STEP_SHARE * fabs(nominal);
	lo = fmin(MACHINE_RANGE_LO * nominal, MACHINE_RANGE_HI * nominal);
	hi = fmax(MACHINE_RANGE_LO * nominal, MACHINE_RANGE_HI * nominal);
	stepped = fmax(before - step, fmin(before + step, want));
	after = fmax(lo, fmin(hi, stepped));
	line->setpoint[station][i] = after;
	describe_reason(cmd, reason, sizeof(reason));
	snprintf(ret->text, sizeof(ret->text), "ADJUST %s %s %.6g -> %.6g %s (asked %.6g%s%s), %s",
	         line->station_id[station], name, before, after, par->unit, want,
	         stepped != want ? ", limited to the step" : "",
	         after != stepped ? ", held in the machine range" : "", reason);
	return LINESIM_CMD_APPLIED;
}

static enum linesim_cmd_outcome hold(struct ls_line *line, unsigned station,
                                     const Cellthread__V1__StationCommand *cmd,
                                     struct linesim_command_report *ret)
{
	struct ls_hold *h = &line->hold[station];
	const char *id = line->station_id[station];
	char reason[256], until[64], when[40];

	describe_reason(cmd, reason, sizeof(reason));
	if (cmd->expires_at_us != 0)
		snprintf(until, sizeof(until), "until %s or RESUME",
		         ct_time_format_us(cmd->expires_at_us, when, sizeof(when)));
	else
		snprintf(until, sizeof(until), "until RESUME");
	switch (cmd->kind) {
	case KIND(SLOW):
		if (cmd->unit == NULL || strcmp(cmd->unit, "%") != 0) {
			snprintf(ret->text, sizeof(ret->text),
			         "SLOW %s (event %s) unsupported: unit '%s', want %%", id,
			         cmd->header->event_id, str(cmd->unit));
			return LINESIM_CMD_UNSUPPORTED;
		}
		/* Below 1 % a line stands in all but name; its cycle would outgrow the clock. */
		if (!(cmd->target_value >= 1.0 && cmd->target_value <= 100.0)) {
			snprintf(ret->text, sizeof(ret->text),
			         "SLOW %s (event %s): target %g %% not in 1-100", id,
			         cmd->header->event_id, cmd->target_value);
			return LINESIM_CMD_INVALID;
		}
		snprintf(h->reason, sizeof(h->reason), "%s", str(cmd->reason_code));
		h->kind = LS_HOLD_SLOW;
		h->fraction = cmd->target_value / 100.0;
		snprintf(ret->text, sizeof(ret->text),
		         "SLOW %s: line %s at %.6g %% of its rate %s, %s", id, line->name,
		         cmd->target_value, until, reason);
		break;
	case KIND(STOP):
		snprintf(h->reason, sizeof(h->reason), "%s", str(cmd->reason_code));
		h->kind = LS_HOLD_STOP;
		h->fraction = 0.0;
		snprintf(ret->text, sizeof(ret->text), "STOP %s: line %s starts no cell %s, %s", id,
		         line->name, until, reason);
		break;
	default: /* RESUME */
		snprintf(ret->text, sizeof(ret->text), "RESUME %s: %s, %s", id,
		         h->kind == LS_HOLD_NONE
		                 ? "was not held"
		                 : (h->kind == LS_HOLD_SLOW ? "SLOW lifted" : "STOP lifted"),
		         reason);
		memset(h, 0, sizeof(*h));
		line->st.dirty = true;
		return LINESIM_CMD_APPLIED;
	}
	h->expires_at_us = cmd->expires_at_us;
	snprintf(h->event_id, sizeof(h->event_id), "%s", cmd->header->event_id);
	line->st.dirty = true; /* station states: the line's states follow at once */
	return LINESIM_CMD_APPLIED;
}

enum linesim_cmd_outcome linesim_model_command(struct linesim_model *m,
                                               const Cellthread__V1__StationCommand *cmd,
                                               int64_t now_us, struct linesim_command_report *ret)
{
	int kind = (int)cmd->kind;
	const char *event_id = cmd->header != NULL ? str(cmd->header->event_id) : "";
	unsigned line, station;
	enum linesim_cmd_outcome outcome;
	int slot;

	ret->text[0] = '\0';
	ret->ack = false;
	if (!ct_id_is_valid(event_id) || !ct_id_is_valid(str(cmd->site)) ||
	    !ct_id_is_valid(str(cmd->line)) || !ct_id_is_valid(str(cmd->station))) {
		snprintf(ret->text, sizeof(ret->text),
		         "%s command (event '%.64s') lacks a valid header.event_id, site, line "
		         "or station",
		         linesim_command_kind_name(kind), event_id);
		return finish(m, kind, LINESIM_CMD_INVALID, ret);
	}
	if (strcmp(cmd->site, m->site) != 0 || !find_station(m, cmd->station, &line, &station)) {
		snprintf(ret->text, sizeof(ret->text),
		         "%s command %s for %s/%s: not simulated here",
		         linesim_command_kind_name(kind), event_id, cmd->site, cmd->station);
		return finish(m, kind, LINESIM_CMD_NOT_SIMULATED, ret);
	}
	/* A simulated station: whatever follows, it acknowledges (as addressed). */
	snprintf(ret->event_id, sizeof(ret->event_id), "%s", event_id);
	snprintf(ret->line, sizeof(ret->line), "%s", cmd->line);
	snprintf(ret->station, sizeof(ret->station), "%s", cmd->station);
	if (strcmp(cmd->line, m->lines[line].name) != 0) {
		snprintf(ret->text, sizeof(ret->text),
		         "%s command %s: station %s is on line %s, not %s",
		         linesim_command_kind_name(kind), event_id, cmd->station,
		         m->lines[line].name, cmd->line);
		set_ack(m, ret, LINESIM_CMD_INVALID, now_us, -1);
		return finish(m, kind, LINESIM_CMD_INVALID, ret);
	}
	slot = seen(m, event_id);
	if (slot >= 0) {
		snprintf(ret->text, sizeof(ret->text), "%s command %s for %s: duplicate",
		         linesim_command_kind_name(kind), event_id, cmd->station);
		/* Acknowledged again, the same acknowledgement: its sender may have missed it. */
		ret->ack = true;
		ret->ack_status = m->cmd_ack[slot].status;
		memcpy(ret->ack_detail, m->cmd_ack[slot].detail, sizeof(ret->ack_detail));
		ret->acked_at_us = m->cmd_ack[slot].acked_at_us;
		return finish(m, kind, LINESIM_CMD_DUPLICATE, ret);
	}
	slot = (int)remember(m, event_id);
	/* Expiring at arrival is expired: its hold would end the instant it began. */
	if (cmd->expires_at_us != 0 && cmd->expires_at_us <= now_us) {
		snprintf(ret->text, sizeof(ret->text), "%s command %s for %s: expired %.3f s ago",
		         linesim_command_kind_name(kind), event_id, cmd->station,
		         (double)(now_us - cmd->expires_at_us) / 1e6);
		set_ack(m, ret, LINESIM_CMD_EXPIRED, now_us, slot);
		return finish(m, kind, LINESIM_CMD_EXPIRED, ret);
	}
	switch (cmd->kind) {
	case KIND(ADJUST):
		outcome = adjust(&m->lines[line], station, cmd, ret);
		break;
	case KIND(SLOW):
	case KIND(STOP):
	case KIND(RESUME):
		outcome = hold(&m->lines[line], station, cmd, ret);
		break;
	default:
		snprintf(ret->text, sizeof(ret->text), "command %s for %s: unknown kind %d",
		         event_id, cmd->station, kind);
		outcome = LINESIM_CMD_INVALID;
		break;
	}
	set_ack(m, ret, outcome, now_us, slot);
	return finish(m, kind, outcome, ret);
}

enum linesim_cmd_outcome linesim_model_command_payload(struct linesim_model *m, const char *topic,
                                                       const void *payload, size_t len,
                                                       int64_t now_us,
                                                       struct linesim_command_report *ret)
{
	ProtobufCMessage *msg = NULL;
	const Cellthread__V1__StationCommand *cmd;
	struct ct_topic t;
	char err[128];
	enum linesim_cmd_outcome outcome;
	int rc;

	ret->text[0] = '\0';
	ret->ack = false;
	if (ct_topic_parse(topic, &t, err, sizeof(err)) != CT_OK || t.is_edge ||
	    t.kind != CT_KIND_COMMAND) {
		snprintf(ret->text, sizeof(ret->text), "command on '%.200s': not a command topic",
		         topic);
		return finish(m, 0, LINESIM_CMD_INVALID, ret);
	}
	rc = ct_pb_unpack(&cellthread__v1__station_command__descriptor, payload, len, MAX_PAYLOAD,
	                  &msg);
	if (rc != CT_OK) {
		snprintf(ret->text, sizeof(ret->text),
		         "command on %s: %zu bytes are not a StationCommand (%s)", topic, len,
		         ct_strerror(rc));
		return finish(m, 0, LINESIM_CMD_INVALID, ret);
	}
	cmd = (const Cellthread__V1__StationCommand *)msg;
	if (strcmp(str(cmd->site), t.site) != 0 || strcmp(str(cmd->line), t.line) != 0 ||
	    strcmp(str(cmd->station), t.station) != 0) {
		snprintf(ret->text, sizeof(ret->text),
		         "%s command on %s names %.64s/%.64s/%.64s instead",
		         linesim_command_kind_name((int)cmd->kind), topic, str(cmd->site),
		         str(cmd->line), str(cmd->station));
		outcome = finish(m, (int)cmd->kind, LINESIM_CMD_INVALID, ret);
	} else {
		outcome = linesim_model_command(m, cmd, now_us, ret);
	}
	ct_pb_free(msg);
	return outcome;
}
