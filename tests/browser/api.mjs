// api: ct-api's HTTP API against a running line (started by tests/integration/test_api.c).
//
// 1. The OpenAPI file is true: every route of `ct-api --routes` is in services/api/openapi.json
//    and every path there is a route, with the same methods; each has a JSON response schema
//    that says something (properties or items), and the routes without a token are exactly the
//    ones documented without security.
// 2. Every endpoint called with good arguments answers 200 (202 for alert actions) with a body
//    that validates against its documented response schema (ajv), Cache-Control: no-store.
// 3. Bad arguments of every kind (non-numbers, out of range, unknown enum words, bad times, from
//    after to, names with quotes, spaces and semicolons, huge values, missing required ones,
//    unknown IDs, a body that is not JSON, an oversized body) each give their 4xx with a JSON
//    error naming the problem, never a 5xx; the service is still up afterwards (health 200) and
//    the unit table still there.
// 4. OEE and the plant metrics (over states the C wrapper stored for the still site's line):
//    GET oee for a from/to window is ct_oee_line's figures for that window (line and every
//    station), the end-of-line tester's performance over 100 % comes flagged, the default window
//    is the shift open now, a shift from oee/shifts gives that shift; pareto, changeovers,
//    response, trace depth and maintainability equal their SQL functions' answers.
// 5. Roles: no token 401 (WWW-Authenticate: Bearer), viewer cannot POST (403), operator can
//    acknowledge an alert (its state changes in PostgreSQL) and hold a lot but not release one
//    (403, still held), quality can release, dispose and undo.
//
// Settings: CT_TEST_API_URL, CT_TEST_TOKEN_{VIEWER,OPERATOR,QUALITY} (users alice, oscar,
// quinn; CT_TEST_TOKEN_REVOKED: rita's, revoked), CT_TEST_PG_CONNINFO and CT_TEST_PG_PASSWORD
// (ct_admin), CT_TEST_API_BIN, CT_TEST_OPENAPI, CT_TEST_SITE (the still history),
// CT_TEST_LIVE_SITE (the simulator still running). Exit status 0 only when every check passed.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import Ajv from 'ajv';
import { call, describe, env, sql, sqlValue, waitFor, Checks, publishPb, stationStatePb, oeeFiguresPb } from './lib.mjs';

const T = new Checks('api');
const SITE = env('CT_TEST_SITE');
const LINE = 'L1';
const VIEWER = env('CT_TEST_TOKEN_VIEWER');
const OPERATOR = env('CT_TEST_TOKEN_OPERATOR');
const QUALITY = env('CT_TEST_TOKEN_QUALITY');
const ERROR_CODES = {
	400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found',
	405: 'method_not_allowed', 409: 'conflict', 413: 'too_large',
};

const doc = JSON.parse(readFileSync(env('CT_TEST_OPENAPI'), 'utf8'));

// ---- the OpenAPI document and its schemas ----------------------------------------------------

// The path prefix of the document's paths: "" when they are written in full (/api/v1/...),
// else the servers' URL path (servers: [{url: "/api/v1"}]).
function pathPrefix() {
	const url = doc.servers && doc.servers[0] && doc.servers[0].url;
	if (!url) return '';
	const p = url.replace(/^[a-z]+:\/\/[^/]+/i, '').replace(/\/$/, '');
	return Object.keys(doc.paths || {}).some((k) => k.startsWith('/api/')) ? '' : p;
}
const PREFIX = pathPrefix();

// OpenAPI 3.0 schemas are JSON Schema draft-04-ish: boolean exclusiveMinimum/Maximum become
// draft-07 numbers so ajv (draft-07) reads them as meant.
function toDraft7(node) {
	if (Array.isArray(node)) return node.map(toDraft7);
	if (node === null || typeof node !== 'object') return node;
	const out = {};
	for (const [k, v] of Object.entries(node)) out[k] = toDraft7(v);
	for (const [flag, bound] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']]) {
		if (typeof out[flag] === 'boolean') {
			if (out[flag] && typeof out[bound] === 'number') {
				out[flag] = out[bound];
				delete out[bound];
			} else delete out[flag];
		}
	}
	return out;
}

// strict off: OpenAPI's own keywords (example, discriminator, xml...) are not JSON Schema;
// formats are documentation here (int64, date-time of ms fields), not checked.
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false, validateSchema: false });
ajv.addSchema(toDraft7(doc), 'openapi');

function pointer(parts) {
	return parts.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
}

function resolveRef(schema) {
	let s = schema;
	for (let i = 0; s && s.$ref && i < 16; i++) {
		const parts = s.$ref.replace(/^#\//, '').split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
		s = parts.reduce((o, k) => (o ? o[k] : undefined), doc);
	}
	return s;
}

// The documented operation of method and full path pattern (/api/v1/units/{id}).
function operation(method, pattern) {
	const item = doc.paths && doc.paths[pattern.slice(PREFIX.length)];
	return item && item[method.toLowerCase()];
}

// A validator for the JSON body of method pattern's response status (falling back to the
// documented 2XX/4XX/default), or null when the document has none.
const validators = new Map();
function validator(method, pattern, status) {
	const key = `${method} ${pattern} ${status}`;
	if (validators.has(key)) return validators.get(key);
	const op = operation(method, pattern);
	let v = null;
	if (op && op.responses) {
		const codes = [String(status), `${String(status)[0]}XX`, 'default'];
		const code = codes.find((c) => op.responses[c]);
		if (code) {
			const resp = resolveRef(op.responses[code]);
			const media = resp && resp.content && (resp.content['application/json'] || resp.content['text/event-stream']);
			if (media && media.schema) {
				const ptr = pointer(['paths', pattern.slice(PREFIX.length), method.toLowerCase(), 'responses', code]);
				let target = `openapi#/${ptr}/content/application~1json/schema`;
				if (op.responses[code].$ref) {
					target = `openapi${op.responses[code].$ref}/content/application~1json/schema`;
				}
				v = ajv.compile({ $ref: target });
			}
		}
	}
	validators.set(key, v);
	return v;
}

// Checks a response's body against its schema; returns true when it validates.
function checkSchema(method, pattern, path, res) {
	const v = validator(method, pattern, res.status);
	if (!T.ok(v !== null, `${method} ${pattern}: no JSON schema documented for status ${res.status}`)) return false;
	if (!T.ok(res.json !== undefined, `${method} ${path}: body is not JSON: ${res.text.slice(0, 200)}`)) return false;
	const valid = v(res.json);
	T.ok(valid, `${method} ${path} -> ${res.status}: body does not match the OpenAPI schema: ${
		ajv.errorsText(v.errors, { dataVar: 'body' })}; body ${res.text.slice(0, 300)}`);
	return valid;
}

// ---- 1. routes = OpenAPI ---------------------------------------------------------------------

const routes = execFileSync(env('CT_TEST_API_BIN'), ['--routes'], { encoding: 'utf8', timeout: 30000 })
	.split('\n')
	.filter((l) => l.trim() !== '')
	.map((l) => {
		const [method, path, role] = l.trim().split(/\s+/);
		return { method, path, role };
	});

await T.step('every route of ct-api --routes is in openapi.json and vice versa', async () => {
	T.ok(routes.length >= 20, `ct-api --routes printed ${routes.length} routes`);
	T.ok(/^3\.0\./.test(doc.openapi || ''), `openapi.json says openapi ${doc.openapi}, want 3.0.x`);
	const served = new Set(routes.map((r) => `${r.method} ${r.path}`));
	const documented = new Set();
	for (const [p, item] of Object.entries(doc.paths || {})) {
		for (const m of ['get', 'post', 'put', 'patch', 'delete', 'head', 'options']) {
			if (item[m]) documented.add(`${m.toUpperCase()} ${PREFIX}${p}`);
		}
	}
	for (const r of served) T.ok(documented.has(r), `route ${r} is not documented in openapi.json`);
	for (const d of documented) T.ok(served.has(d), `openapi.json documents ${d}, which ct-api does not serve`);
	for (const r of routes) {
		const op = operation(r.method, r.path);
		if (!op) continue;
		const ok = Object.keys(op.responses || {}).find((c) => /^2/.test(c));
		const schema = ok && resolveRef(op.responses[ok]);
		const media = schema && schema.content && (schema.content['application/json'] || schema.content['text/event-stream']);
		const body = media && resolveRef(media.schema);
		// openapi.json's body is compared with the file itself below.
		T.ok(r.path.endsWith('/openapi.json') || (body && (body.properties || body.items || body.allOf || body.oneOf || body.type === 'string')),
			`${r.method} ${r.path}: the ${ok || '2xx'} response has no schema that says anything`);
		const security = op.security !== undefined ? op.security : doc.security;
		const open = !security || security.length === 0 || security.some((s) => Object.keys(s).length === 0);
		T.ok(open === (r.role === 'none'), `${r.method} ${r.path}: role ${r.role} but openapi.json ${open ? 'needs no token' : 'needs a token'}`);
	}
	console.log(`   ${served.size} routes, ${documented.size} documented operations`);
});

// ---- data the good calls use (from the database the line filled) -----------------------------

const now = Date.now();
const hourAgo = now - 3600 * 1000;
const q = (o) => new URLSearchParams(o).toString();
const cell = sqlValue(`SELECT u.unit_id FROM unit u JOIN genealogy g ON g.child_id = u.unit_id
	WHERE u.kind = 4 AND u.site = :'site' ORDER BY u.unit_id LIMIT 1`, { site: SITE });
const heldLot = sqlValue(`SELECT lot_id FROM lot_status WHERE site = :'site' AND state = 2 ORDER BY changed_at LIMIT 1`, { site: SITE });
const anyLot = sqlValue(`SELECT child_id FROM genealogy g JOIN unit u ON u.unit_id = g.parent_id
	WHERE u.site = :'site' AND g.child_kind = 1 ORDER BY child_id LIMIT 1`, { site: SITE });
const alertId = sqlValue(`SELECT alert_id FROM alert WHERE site = :'site' ORDER BY raised_at LIMIT 1`, { site: SITE });
const chartId = sqlValue(`SELECT chart_id FROM spc_chart_state WHERE site = :'site' ORDER BY chart_id LIMIT 1`, { site: SITE });
console.log(`data: cell ${cell}, held lot ${heldLot}, lot ${anyLot}, alert ${alertId}, chart ${chartId}`);
T.ok(cell && heldLot && anyLot && alertId && chartId, 'the line produced a cell with genealogy, a held lot, an alert and a chart');

const fill = { site: SITE, line: LINE, station: `${LINE}-FILL-01`, characteristic: 'fill_mass' };
const good = [
	['GET', '/api/v1/health', '', null],
	['GET', '/api/v1/openapi.json', '', null],
	['GET', '/api/v1/me', '', VIEWER],
	['GET', '/api/v1/overview', q({ site: SITE, line: LINE }), VIEWER],
	['GET', '/api/v1/overview', '', VIEWER],
	['GET', '/api/v1/stations', q({ site: SITE, line: LINE }), VIEWER],
	['GET', '/api/v1/characteristics', q({ site: SITE, line: LINE, station: fill.station }), VIEWER],
	['GET', '/api/v1/runchart', q({ ...fill, from: hourAgo, to: now }), VIEWER],
	['GET', '/api/v1/runchart', q({ ...fill, from: new Date(hourAgo).toISOString(), to: new Date(now).toISOString(), points: 100 }), VIEWER],
	['GET', '/api/v1/histogram', q({ ...fill, bins: 20 }), VIEWER],
	['GET', '/api/v1/histogram', q({ site: SITE, line: LINE, station: `${LINE}-SEAL-01`, characteristic: 'pressure_decay' }), VIEWER],
	['GET', '/api/v1/controlchart', q({ chart_id: chartId }), VIEWER],
	['GET', '/api/v1/controlchart', q({ ...fill, points: 100 }), VIEWER],
	['GET', '/api/v1/capability', q(fill), VIEWER],
	['GET', '/api/v1/charts', q({ site: SITE, line: LINE }), VIEWER],
	['GET', `/api/v1/units/${encodeURIComponent(cell)}`, '', VIEWER],
	['GET', '/api/v1/lots', q({ state: 'held', site: SITE }), VIEWER],
	['GET', '/api/v1/lots', q({ state: 'all', limit: 5, offset: 0 }), VIEWER],
	['GET', `/api/v1/lots/${encodeURIComponent(anyLot)}/descendants`, q({ site: SITE, limit: 10 }), VIEWER],
	['GET', '/api/v1/verdicts', q({ site: SITE, line: LINE, from: hourAgo, to: now, limit: 20 }), VIEWER],
	['GET', '/api/v1/verdicts', q({ site: SITE, verdict: 'fail' }), VIEWER],
	['GET', '/api/v1/inspection', q({ queue: 'inspection', open: 'true' }), VIEWER],
	['GET', '/api/v1/inspection', q({ queue: 'rework', open: 'false' }), VIEWER],
	['GET', '/api/v1/actions', q({ site: SITE, line: LINE }), VIEWER],
	['GET', '/api/v1/alerts', q({ state: 'all', severity: 1, site: SITE }), VIEWER],
	['GET', '/api/v1/alerts', '', VIEWER],
	['GET', `/api/v1/alerts/${encodeURIComponent(alertId)}`, '', VIEWER],
	// The bounds themselves are good arguments.
	['GET', '/api/v1/lots', q({ state: 'all', limit: 1000, offset: 100000 }), VIEWER],
	['GET', '/api/v1/histogram', q({ ...fill, bins: 5 }), VIEWER],
	['GET', '/api/v1/histogram', q({ ...fill, bins: 200 }), VIEWER],
	['GET', '/api/v1/runchart', q({ ...fill, from: now - 400 * 86400000, to: now, points: 10000 }), VIEWER],
	['GET', '/api/v1/alerts', q({ severity: 5, state: 'active' }), VIEWER],
	// OEE and the plant metrics.
	['GET', '/api/v1/oee', q({ site: SITE, line: LINE }), VIEWER],
	['GET', '/api/v1/oee', q({ site: SITE, line: LINE, from: hourAgo, to: now }), VIEWER],
	['GET', '/api/v1/oee/pareto', q({ site: SITE, line: LINE }), VIEWER],
	['GET', '/api/v1/oee/pareto', q({ site: SITE, line: LINE, station: `${LINE}-FILL-01`, from: hourAgo, to: now }), VIEWER],
	['GET', '/api/v1/oee/changeovers', q({ site: SITE, line: LINE, from: hourAgo, to: now }), VIEWER],
	['GET', '/api/v1/oee/shifts', q({ site: SITE, line: LINE }), VIEWER],
	['GET', '/api/v1/metrics/response', q({ site: SITE, line: LINE }), VIEWER],
	['GET', '/api/v1/metrics/response', '', VIEWER],
	['GET', '/api/v1/metrics/trace-depth', q({ unit: cell }), VIEWER],
	['GET', '/api/v1/metrics/trace-depth', q({ site: SITE, line: LINE, kind: 'module' }), VIEWER],
	['GET', '/api/v1/metrics/trace-depth', q({ site: SITE, line: LINE }), VIEWER],
	['GET', '/api/v1/metrics/maintainability', q({ site: SITE, line: LINE }), VIEWER],
	// Unknown arguments are ignored; a name that matches nothing is an empty answer.
	['GET', '/api/v1/stations', q({ site: 'NO-SUCH-SITE', colour: 'blue' }), VIEWER],
	['GET', '/api/v1/runchart', q({ ...fill, characteristic: 'no_such_characteristic' }), VIEWER],
];
const routeOf = (method, path) => {
	const bare = path.split('?')[0];
	return routes.find((r) => r.method === method &&
		new RegExp(`^${r.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{id\}/, '[^/]+')}$`).test(bare));
};

// ---- 2. good arguments: 200 and the documented shape -----------------------------------------

await T.step('the schemas are not vacuous: wrong bodies fail them', async () => {
	for (const [method, pattern, body] of [
		['GET', '/api/v1/me', { name: 5, role: 'viewer' }],
		['GET', '/api/v1/runchart', { points: 'none' }],
		['GET', '/api/v1/units/{id}', { visits: [] }],
		['GET', '/api/v1/alerts', { items: [{ alert_id: 7 }] }],
		['GET', '/api/v1/oee', { site: SITE, line: LINE, station: '', availability: '90 %' }],
		['GET', '/api/v1/oee/pareto', { items: [{ category: 'unplanned' }] }],
		['GET', '/api/v1/metrics/response', { items: [], summary: [] }],
		['GET', '/api/v1/metrics/trace-depth', { unit_id: 'C1', score: 'full' }],
		['GET', '/api/v1/metrics/maintainability', { alerts: {}, stops: [] }],
	]) {
		const v = validator(method, pattern, 200);
		T.ok(v && !v(body), `${method} ${pattern}: the schema refuses ${JSON.stringify(body)}`);
	}
});

await T.step('every read endpoint with good arguments answers 200 with a body that matches its schema', async () => {
	const tested = new Set();
	for (const [method, path, query, token] of good) {
		const full = query ? `${path}?${query}` : path;
		const res = await call(full, { token, method });
		const route = routeOf(method, path);
		if (!T.ok(route, `${method} ${path}: no route matches`)) continue;
		tested.add(`${method} ${route.path}`);
		if (!T.ok(res.status === 200, `${describe(method, full, undefined, res)}: want 200`)) continue;
		checkSchema(method, route.path, full, res);
		if (path !== '/api/v1/openapi.json' && path !== '/api/v1/health') {
			T.ok(/no-store/.test(res.headers.get('cache-control') || ''), `${method} ${full}: Cache-Control is "${res.headers.get('cache-control')}", want no-store`);
		}
		T.ok(/application\/json/.test(res.headers.get('content-type') || ''), `${method} ${full}: Content-Type ${res.headers.get('content-type')}`);
	}
	// Figures the other checks rely on.
	const me = await call('/api/v1/me', { token: OPERATOR });
	T.ok(me.json && me.json.name === 'oscar' && me.json.role === 'operator', `GET /api/v1/me as the operator: ${me.text}`);
	const spec = await call('/api/v1/openapi.json');
	T.ok(spec.json && JSON.stringify(spec.json) === JSON.stringify(doc), 'GET /api/v1/openapi.json is services/api/openapi.json');
	const health = await call('/api/v1/health');
	T.ok(health.json && health.json.status === 'ok' && health.json.db === true && health.json.mqtt === true, `health: ${health.text}`);
	// A run chart over more values than points comes back as min/max buckets that keep the
	// extremes; asked for enough points, raw values ordered by time.
	const n = Number(sqlValue(`SELECT count(*) FROM measurement WHERE site = :'site' AND line = :'line'
		AND station = :'station' AND characteristic = :'ch' AND measured_at >= to_timestamp(:'from'::bigint / 1000.0)
		AND measured_at <= to_timestamp(:'to'::bigint / 1000.0)`, { ...fill, ch: fill.characteristic, from: hourAgo, to: now }));
	const mm = await call(`/api/v1/runchart?${q({ ...fill, from: hourAgo, to: now, points: 100 })}`, { token: VIEWER });
	if (T.ok(mm.status === 200 && n > 100, `runchart of ${n} fill masses with points=100: ${mm.status}`)) {
		T.ok(mm.json.count === n, `runchart count ${mm.json.count}, database ${n}`);
		T.ok(mm.json.mode === 'minmax' && mm.json.buckets.length > 0 && mm.json.buckets.length <= 100,
			`runchart of ${n} values in 100 points: mode ${mm.json.mode}, ${mm.json.buckets && mm.json.buckets.length} buckets`);
		const [dbMin, dbMax] = sql(`SELECT min(value), max(value) FROM measurement WHERE site = :'site' AND line = :'line'
			AND station = :'station' AND characteristic = :'ch' AND measured_at >= to_timestamp(:'from'::bigint / 1000.0)
			AND measured_at <= to_timestamp(:'to'::bigint / 1000.0)`, { ...fill, ch: fill.characteristic, from: hourAgo, to: now })[0].map(Number);
		if (mm.json.buckets) {
			const bmin = Math.min(...mm.json.buckets.map((b) => b.min));
			const bmax = Math.max(...mm.json.buckets.map((b) => b.max));
			T.ok(Math.abs(bmin - dbMin) < 1e-9 && Math.abs(bmax - dbMax) < 1e-9, `minmax buckets keep the extremes: ${bmin}..${bmax}, database ${dbMin}..${dbMax}`);
		}
	}
	const raw = await call(`/api/v1/runchart?${q({ ...fill, from: hourAgo, to: now, points: 10000 })}`, { token: VIEWER });
	if (T.ok(raw.status === 200 && n <= 10000, `runchart raw: ${raw.status}, ${n} values`)) {
		T.ok(raw.json.mode === 'raw' && raw.json.points.length === n, `runchart raw: mode ${raw.json.mode}, ${raw.json.points && raw.json.points.length} points, database ${n}`);
		const t = raw.json.points.map((p) => p.t_ms);
		T.ok(t.every((v, i) => i === 0 || t[i - 1] <= v), 'runchart raw points are ordered by time');
	}
	const reads = routes.filter((r) => r.method === 'GET' && r.path !== '/api/v1/stream');
	for (const r of reads) T.ok(tested.has(`GET ${r.path}`), `GET ${r.path} was not called with good arguments`);
});

// ---- the figures are the database's -----------------------------------------------------------

const near = (a, b, rel = 1e-9) => typeof a === 'number' && typeof b === 'number' &&
	Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b));
const range = { from: hourAgo, to: now };
const between = `measured_at >= to_timestamp(:'from'::bigint / 1000.0) AND measured_at <= to_timestamp(:'to'::bigint / 1000.0)`;

await T.step('histogram, capability, lots, alerts, units and paging agree with PostgreSQL', async () => {
	// Histogram: exact counts per bin (a GROUP BY over measurement), mean and sigma.
	const seal = { site: SITE, line: LINE, station: `${LINE}-SEAL-01`, characteristic: 'pressure_decay' };
	const h = (await call(`/api/v1/histogram?${q({ ...seal, ...range, bins: 25 })}`, { token: VIEWER })).json;
	const v = { ...seal, ch: seal.characteristic, ...range };
	const [n, mean, sd] = sql(`SELECT count(*), avg(value), stddev_samp(value) FROM measurement WHERE site = :'site'
		AND line = :'line' AND station = :'station' AND characteristic = :'ch' AND ${between}`, v)[0].map(Number);
	if (T.ok(h && Array.isArray(h.bins), 'histogram answered')) {
		T.ok(h.count === n && h.bins.length === 25, `histogram count ${h.count} in ${h.bins.length} bins, database ${n}`);
		T.ok(h.bins.reduce((a, b) => a + b.count, 0) === n, 'the bins hold every value');
		T.ok(near(h.mean, mean) && near(h.sigma, sd, 1e-6), `histogram mean ${h.mean} sigma ${h.sigma}, database ${mean} ${sd}`);
		const db = sql(`WITH b AS (SELECT i, lo, hi FROM unnest(:'los'::float8[], :'his'::float8[]) WITH ORDINALITY AS t(lo, hi, i)),
			m AS (SELECT value FROM measurement WHERE site = :'site' AND line = :'line' AND station = :'station'
				AND characteristic = :'ch' AND ${between})
			SELECT count(m.value) FROM b LEFT JOIN m ON m.value >= b.lo AND (m.value < b.hi OR (b.i = :'nb'::bigint AND m.value <= b.hi))
			GROUP BY b.i ORDER BY b.i`, { ...v, los: `{${h.bins.map((b) => b.lo).join(',')}}`,
			his: `{${h.bins.map((b) => b.hi).join(',')}}`, nb: h.bins.length }).map((r) => Number(r[0]));
		T.ok(JSON.stringify(db) === JSON.stringify(h.bins.map((b) => b.count)), `histogram bins ${JSON.stringify(h.bins.map((b) => b.count))}, database ${JSON.stringify(db)}`);
		const above = Number(sqlValue(`SELECT count(*) FROM measurement WHERE site = :'site' AND line = :'line' AND station = :'station'
			AND characteristic = :'ch' AND ${between} AND value > :'usl'::float8`, { ...v, usl: h.spec ? h.spec.usl : 1e308 }));
		T.ok(!h.spec || h.above_usl === above, `above_usl ${h.above_usl}, database ${above}`);
	}
	// Capability: n, mean, overall sigma, and Pp from them.
	const c = (await call(`/api/v1/capability?${q({ ...seal, ...range })}`, { token: VIEWER })).json;
	if (T.ok(c && typeof c.n === 'number', 'capability answered')) {
		T.ok(c.n === n && near(c.mean, mean) && near(c.sigma_overall, sd, 1e-6), `capability n ${c.n} mean ${c.mean} sigma_overall ${c.sigma_overall}, database ${n} ${mean} ${sd}`);
		if (c.lsl !== null && c.usl !== null) T.ok(near(c.pp, (c.usl - c.lsl) / (6 * sd), 1e-6), `pp ${c.pp}`);
		if (c.usl !== null) T.ok(near(c.ppk, c.lsl === null ? (c.usl - mean) / (3 * sd) : Math.min(c.usl - mean, mean - c.lsl) / (3 * sd), 1e-6), `ppk ${c.ppk}`);
	}
	// Held lots and active alerts, every page of them.
	const all = async (path) => {
		const items = [];
		for (let offset = 0; offset !== null && items.length < 5000;) {
			const r = await call(`${path}&${q({ limit: 7, offset })}`, { token: VIEWER });
			if (!T.ok(r.status === 200, `GET ${path} offset ${offset}: ${r.status}`)) break;
			T.ok(r.json.limit === 7 && r.json.offset === offset, `paging echoes limit and offset: ${r.json.limit} ${r.json.offset}`);
			items.push(...r.json.items);
			T.ok(r.json.next_offset === null || r.json.next_offset === offset + r.json.items.length, `next_offset ${r.json.next_offset} after ${offset}+${r.json.items.length}`);
			offset = r.json.items.length === 0 ? null : r.json.next_offset;
		}
		return items;
	};
	const lots = (await all('/api/v1/lots?state=held')).map((l) => `${l.site}/${l.lot_id}`).sort();
	const dbLots = sql('SELECT site || \'/\' || lot_id FROM lot_status WHERE state <> 1 ORDER BY 1').map((r) => r[0]);
	T.ok(JSON.stringify(lots) === JSON.stringify(dbLots), `held lots ${JSON.stringify(lots)}, database ${JSON.stringify(dbLots)}`);
	const alerts = (await all(`/api/v1/alerts?${q({ state: 'all', site: SITE })}`)).map((a) => a.alert_id).sort();
	const dbAlerts = sql(`SELECT alert_id FROM alert WHERE site = :'site' ORDER BY 1`, { site: SITE }).map((r) => r[0]);
	T.ok(JSON.stringify(alerts) === JSON.stringify(dbAlerts), `${alerts.length} alerts of ${SITE} paged, database ${dbAlerts.length}`);
	// A unit: its visits and what it was made from.
	const u = (await call(`/api/v1/units/${encodeURIComponent(cell)}`, { token: VIEWER })).json;
	const visits = Number(sqlValue(`SELECT count(*) FROM station_visit WHERE unit_id = :'id'`, { id: cell }));
	const kids = sql(`SELECT DISTINCT child_id FROM genealogy WHERE parent_id = :'id' ORDER BY 1`, { id: cell }).map((r) => r[0]);
	if (T.ok(u && u.unit && u.unit.unit_id === cell, `units/${cell} answered`)) {
		T.ok(u.visits.length === visits, `${u.visits.length} visits, database ${visits}`);
		const shown = [...new Set((u.made_from.children || []).map((k) => k.id))].sort();
		T.ok(u.made_from.id === cell && JSON.stringify(shown) === JSON.stringify(kids), `made_from ${cell}: ${JSON.stringify(shown)}, database ${JSON.stringify(kids)}`);
	}
	// A minmax run chart's buckets count every value.
	const mm = (await call(`/api/v1/runchart?${q({ ...fill, ...range, points: 100 })}`, { token: VIEWER })).json;
	if (mm && mm.buckets) T.ok(mm.buckets.reduce((a, b) => a + b.n, 0) === mm.count, `minmax buckets hold ${mm.buckets.reduce((a, b) => a + b.n, 0)} of ${mm.count} values`);
});

await T.step('the stream answers with server-sent events', async () => {
	const controller = new AbortController();
	const LIVE = env('CT_TEST_LIVE_SITE');
	const filter = q({ kinds: 'measurement,verdict', site: LIVE, line: LINE, station: fill.station, characteristic: 'fill_mass' });
	const res = await fetch(`${env('CT_TEST_API_URL')}/api/v1/stream?${filter}`, {
		headers: { Authorization: `Bearer ${VIEWER}` },
		signal: controller.signal,
	});
	T.ok(res.status === 200, `GET /api/v1/stream: ${res.status}`);
	T.ok(/text\/event-stream/.test(res.headers.get('content-type') || ''), `stream Content-Type ${res.headers.get('content-type')}`);
	const reader = res.body.getReader();
	let text = '';
	const decoder = new TextDecoder();
	try {
		await waitFor('a measurement event on the stream (the live line publishes)', 30000, async () => {
			const { value, done } = await reader.read();
			if (done) throw new Error('stream ended');
			text += decoder.decode(value, { stream: true });
			return /event: measurement\ndata: \{/.test(text);
		});
		const m = text.match(/event: measurement\ndata: (.*)\n/);
		const ev = m && JSON.parse(m[1]);
		T.ok(ev && typeof ev.value === 'number' && ev.site === LIVE && ev.station === fill.station &&
			ev.characteristic === 'fill_mass' && typeof ev.t_ms === 'number' && ev.event_id && ev.unit_id,
			`a measurement event of the filter (${filter}): ${m && m[1]}`);
		const others = [...text.matchAll(/event: measurement\ndata: (.*)\n/g)].map((x) => JSON.parse(x[1]))
			.filter((e) => e.characteristic !== 'fill_mass' || e.site !== LIVE);
		T.ok(others.length === 0, `the stream sends only what the filter asks for: ${JSON.stringify(others[0])}`);
	} finally {
		controller.abort();
	}
	const bad = await call('/api/v1/stream?kinds=weather', { token: VIEWER });
	T.ok(bad.status === 400, `${describe('GET', '/api/v1/stream?kinds=weather', undefined, bad)}: want 400`);
});

// ---- 3. bad arguments: a clear 4xx, never a 5xx ----------------------------------------------

const SQLISH = "L1'; DROP TABLE unit;--";
const bad = [
	// [method, path, body, token, expected status(es)]
	['GET', '/api/v1/runchart', undefined, VIEWER, 400, 'no characteristic'],
	['GET', `/api/v1/runchart?${q({ ...fill, points: 'many' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/runchart?${q({ ...fill, points: 99 })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/runchart?${q({ ...fill, points: 10001 })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/runchart?${q({ ...fill, points: '1e3' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/runchart?${q({ ...fill, points: '99999999999999999999999999' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/runchart?${q({ ...fill, points: '' })}`, undefined, VIEWER, [200, 400], 'an empty value: the default or refused'],
	['GET', `/api/v1/runchart?${q({ ...fill, from: 'yesterday' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/runchart?${q({ ...fill, from: '2026-13-45T99:00:00Z' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/runchart?${q({ ...fill, from: now, to: hourAgo })}`, undefined, VIEWER, 400, 'from after to'],
	['GET', `/api/v1/runchart?${q({ ...fill, from: now - 401 * 86400000, to: now })}`, undefined, VIEWER, 400, 'more than 400 days'],
	['GET', `/api/v1/runchart?${q({ ...fill, to: '99999999999999999999999' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/runchart?${q({ ...fill, to: 'NaN' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/runchart?${q({ ...fill, line: SQLISH })}`, undefined, VIEWER, 400, 'SQL in a name'],
	['GET', `/api/v1/runchart?${q({ ...fill, station: 'L1 FILL 01' })}`, undefined, VIEWER, 400, 'a space in a name'],
	['GET', `/api/v1/runchart?${q({ ...fill, characteristic: 'a"b' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/runchart?${q({ ...fill, site: 'x'.repeat(5000) })}`, undefined, VIEWER, 400, 'a 5000-byte name'],
	['GET', `/api/v1/runchart?${q({ ...fill, recipe: 'R;1' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/histogram?${q({ site: SITE })}`, undefined, VIEWER, 400, 'no characteristic'],
	['GET', `/api/v1/histogram?${q({ ...fill, bins: 4 })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/histogram?${q({ ...fill, bins: 201 })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/histogram?${q({ ...fill, bins: '-5' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/histogram?${q({ ...fill, bins: '0x10' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/histogram?${q({ ...fill, characteristic: SQLISH })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/controlchart?${q({ chart_id: SQLISH })}`, undefined, VIEWER, [400, 404]],
	['GET', `/api/v1/controlchart?${q({ ...fill, points: 'lots' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/capability?${q({ ...fill, from: '2026-02-30T00:00:00Z' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/stations?${q({ site: SQLISH })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/overview?${q({ line: 'L1 OR 1=1' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/characteristics?${q({ station: "'" })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/charts?${q({ line: 'L1;' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/lots?${q({ state: 'melted' })}`, undefined, VIEWER, 400, 'unknown enum word'],
	['GET', `/api/v1/lots?${q({ limit: 0 })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/lots?${q({ limit: 1001 })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/lots?${q({ limit: 'ten' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/lots?${q({ offset: -1 })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/lots?${q({ offset: 100001 })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/lots?${q({ limit: '1.5' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/verdicts?${q({ verdict: 'maybe' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/verdicts?${q({ from: now, to: now - 1 })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/inspection?${q({ queue: 'trash' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/inspection?${q({ open: 'perhaps' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/actions?${q({ from: 'now-1h' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/alerts?${q({ state: 'sleepy' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/alerts?${q({ severity: 0 })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/alerts?${q({ severity: 6 })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/alerts?${q({ severity: 'high' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/units/${encodeURIComponent('NO-SUCH-CELL-0001')}`, undefined, VIEWER, 404, 'unknown unit'],
	['GET', `/api/v1/units/${encodeURIComponent(SQLISH)}`, undefined, VIEWER, [400, 404]],
	['GET', `/api/v1/units/${encodeURIComponent('x'.repeat(3000))}`, undefined, VIEWER, [400, 404, 414]],
	['GET', `/api/v1/alerts/${encodeURIComponent('al-0000000000000000')}`, undefined, VIEWER, 404],
	['GET', `/api/v1/alerts/${encodeURIComponent(SQLISH)}`, undefined, VIEWER, [400, 404]],
	['GET', `/api/v1/lots/${encodeURIComponent(SQLISH)}/descendants?site=${SITE}`, undefined, VIEWER, [200, 400, 404]],
	['GET', '/api/v1/lots/ELY-1/descendants?site=a%20b', undefined, VIEWER, 400],
	// OEE and the plant metrics.
	['GET', `/api/v1/oee?${q({ line: LINE })}`, undefined, VIEWER, 400, 'no site'],
	['GET', `/api/v1/oee?${q({ site: SITE })}`, undefined, VIEWER, 400, 'no line'],
	['GET', `/api/v1/oee?${q({ site: SITE, line: SQLISH })}`, undefined, VIEWER, 400, 'SQL in a name'],
	['GET', `/api/v1/oee?${q({ site: SITE, line: LINE, shift: "2026-12-07/A' OR '1'='1" })}`, undefined, VIEWER, 400, 'SQL in a shift'],
	['GET', `/api/v1/oee?${q({ site: SITE, line: LINE, shift: 'yesterday' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/oee?${q({ site: SITE, line: LINE, shift: '2026-02-30/A' })}`, undefined, VIEWER, 400, 'no such day'],
	['GET', `/api/v1/oee?${q({ site: SITE, line: LINE, shift: '2001-01-01/NOPE' })}`, undefined, VIEWER, 404, 'a shift the calendar does not have'],
	['GET', `/api/v1/oee?${q({ site: SITE, line: LINE, shift: '2026-12-07/A', from: hourAgo })}`, undefined, VIEWER, 400, 'shift and from'],
	['GET', `/api/v1/oee?${q({ site: SITE, line: LINE, from: now, to: now - 1 })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/oee?${q({ site: SITE, line: LINE, from: 'last tuesday' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/oee?${q({ site: SITE, line: LINE, from: now - 401 * 86400000, to: now })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/oee/pareto?${q({ site: SITE, line: LINE, station: 'L1 FILL' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/oee/changeovers?${q({ site: SITE })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/oee/shifts?${q({ site: SITE, line: LINE, to: 'soon' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/metrics/response?${q({ station: SQLISH })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/metrics/response?${q({ limit: 0 })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/metrics/response?${q({ limit: 'all' })}`, undefined, VIEWER, 400],
	['GET', '/api/v1/metrics/trace-depth', undefined, VIEWER, 400, 'neither unit nor site and line'],
	['GET', `/api/v1/metrics/trace-depth?${q({ unit: SQLISH })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/metrics/trace-depth?${q({ unit: 'NO-SUCH-CELL-0001' })}`, undefined, VIEWER, 404, 'unknown unit'],
	['GET', `/api/v1/metrics/trace-depth?${q({ site: SITE, line: LINE, kind: 'battery' })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/metrics/trace-depth?${q({ site: SITE, line: LINE, from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' })}`,
		undefined, VIEWER, 400, 'a month of a line\'s traceability depth (every unit is scored)'],
	['GET', `/api/v1/metrics/maintainability?${q({ site: SITE, line: "L1' --" })}`, undefined, VIEWER, 400],
	['GET', `/api/v1/metrics/maintainability?${q({ site: SITE, line: LINE, from: now, to: 0 })}`, undefined, VIEWER, 400],
	['POST', `/api/v1/oee?${q({ site: SITE, line: LINE })}`, { reason: 'x' }, QUALITY, [404, 405], 'no POST on oee'],
	['GET', '/api/v1/no-such-endpoint', undefined, VIEWER, 404],
	['DELETE', '/api/v1/alerts', undefined, VIEWER, [404, 405]],
	['PUT', `/api/v1/alerts/${alertId}/ack`, { reason: 'x' }, OPERATOR, [404, 405]],
	['POST', '/api/v1/overview', { reason: 'x' }, OPERATOR, [404, 405]],
	// Bodies of actions.
	['POST', `/api/v1/alerts/${alertId}/ack`, 'this is not JSON', OPERATOR, 400, 'a body that is not JSON'],
	['POST', `/api/v1/alerts/${alertId}/ack`, '{"reason": "unterminated', OPERATOR, 400],
	['POST', `/api/v1/alerts/${alertId}/ack`, '[1, 2, 3]', OPERATOR, 400],
	['POST', `/api/v1/alerts/${alertId}/ack`, {}, OPERATOR, 400, 'missing reason'],
	['POST', `/api/v1/alerts/${alertId}/ack`, { reason: 42 }, OPERATOR, 400],
	['POST', `/api/v1/alerts/${alertId}/ack`, { reason: 'r'.repeat(70 * 1024) }, OPERATOR, 413, 'a 70 KiB body'],
	['POST', `/api/v1/alerts/${alertId}/shelve`, { reason: 'x', until_ms: 'soon' }, OPERATOR, 400],
	['POST', `/api/v1/alerts/${alertId}/shelve`, { reason: 'x', until_ms: 1e300 }, OPERATOR, [202, 400], 'a huge time'],
	['POST', `/api/v1/alerts/${alertId}/comment`, { reason: '\u0000' }, OPERATOR, [202, 400], 'a NUL in the reason'],
	['POST', `/api/v1/alerts/${encodeURIComponent('al-0000000000000000')}/ack`, { reason: 'x' }, OPERATOR, 404, 'unknown alert'],
	['POST', `/api/v1/alerts/${encodeURIComponent(SQLISH)}/comment`, { reason: 'x' }, OPERATOR, [400, 404]],
	['POST', `/api/v1/lots/${heldLot}/hold`, { site: SITE, reason: 'x', state: 'frozen' }, OPERATOR, 400],
	['POST', `/api/v1/lots/${heldLot}/hold`, { reason: 'x' }, OPERATOR, 400, 'missing site'],
	['POST', `/api/v1/lots/${heldLot}/hold`, { site: SQLISH, reason: 'x' }, OPERATOR, 400],
	['POST', `/api/v1/lots/${heldLot}/release`, { site: SITE }, QUALITY, 400, 'missing reason'],
	['POST', '/api/v1/inspection/not-a-number/disposition', { disposition: 'scrap', reason: 'x' }, QUALITY, [400, 404]],
	['POST', '/api/v1/inspection/999999999/disposition', { disposition: 'scrap', reason: 'x' }, QUALITY, [404, 409]],
	['POST', '/api/v1/inspection/1/disposition', { disposition: 'burn', reason: 'x' }, QUALITY, 400],
	['POST', '/api/v1/actions/no-such-command/undo', { reason: 'x' }, QUALITY, [404, 409]],
	['POST', '/api/v1/actions/x/undo', '', QUALITY, 400, 'an empty body'],
];

await T.step(`${bad.length} bad requests each give their documented 4xx with a JSON error, never a 5xx`, async () => {
	const worst = [];
	for (const [method, path, body, token, want, what] of bad) {
		const res = await call(path, { method, body, token });
		const wants = Array.isArray(want) ? want : [want];
		const desc = `${describe(method, path, body, res)}${what ? ` (${what})` : ''}`;
		if (res.status >= 500) worst.push(desc);
		if (!T.ok(wants.includes(res.status), `${desc}: want ${wants.join(' or ')}`)) continue;
		if (res.status >= 400) {
			T.ok(res.json && res.json.error === ERROR_CODES[res.status] && typeof res.json.detail === 'string',
				`${desc}: want a JSON error {"error": "${ERROR_CODES[res.status]}", "detail": ...}`);
			const route = routeOf(method, path);
			const op = route && operation(method, route.path);
			if (op) {
				T.ok(op.responses && (op.responses[String(res.status)] || op.responses['4XX']),
					`${desc}: status ${res.status} is not documented for ${method} ${route.path} in openapi.json`);
				checkSchema(method, route.path, path, res);
			}
		}
	}
	T.ok(worst.length === 0, `no 5xx: ${worst.join('; ')}`);
	const health = await call('/api/v1/health');
	T.ok(health.status === 200, `health after the bad requests: ${health.status} ${health.text}`);
	T.ok(sqlValue("SELECT to_regclass('public.unit') IS NOT NULL") === 't', 'the unit table is still there');
	T.ok(Number(sqlValue('SELECT count(*) FROM unit')) > 0, 'the unit table still has its rows');
});

// ---- OEE and the plant metrics agree with their SQL functions --------------------------------

// jsonb of a function, parsed (psql prints it as text).
const sqlJson = (text, vars) => JSON.parse(sqlValue(text, vars) || 'null');
const figuresAgree = (what, api, db) => {
	for (const k of ['availability', 'performance', 'quality', 'oee', 'run_s', 'planned_busy_s',
		'produced', 'good', 'late_rejects', 'micro_stop_count', 'performance_flagged']) {
		const a = api[k];
		const b = db[k];
		T.ok(a === b || near(a, b, 1e-9), `${what}: ${k} ${a}, ct_oee_line ${b}`);
	}
};

await T.step('OEE and the plant metrics equal their SQL functions\' answers', async () => {
	// From the first stored state (no unknown time before it) to a moment past: the figures
	// of this window do not move while the test runs.
	const to = Date.now() - 1000;
	const from = Number(sqlValue(`SELECT ceil(extract(epoch FROM min(since)) * 1000)::bigint
		FROM station_state WHERE site = :'site' AND event_id LIKE 'it-oee-%'`, { site: SITE }));
	const win = { site: SITE, line: LINE, from, to };
	const res = await call(`/api/v1/oee?${q(win)}`, { token: VIEWER });
	const db = sqlJson(`SELECT ct_oee_line(:'site', :'line', to_timestamp(:'from'::bigint / 1000.0),
		to_timestamp(:'to'::bigint / 1000.0))`, win);
	if (T.ok(res.status === 200 && db, `GET oee for ${from}..${to}: ${res.status}`)) {
		const o = res.json;
		figuresAgree('the line', o, db);
		T.ok(Math.abs(o.window_from_ms - from) <= 1 && Math.abs(o.window_to_ms - to) <= 1 && o.window_shift_id === null,
			`the window ${o.window_from_ms}..${o.window_to_ms} (${o.window_shift_id}) is the one asked for`);
		T.ok(o.stations.length === db.stations.length && o.stations.length >= 5,
			`stations: ${o.stations.length}, ct_oee_line ${db.stations.length}`);
		for (const s of db.stations) {
			const a = o.stations.find((x) => x.station === s.station);
			if (T.ok(a, `station ${s.station} in GET oee`)) figuresAgree(s.station, a, s);
		}
		// The stored states: a micro-stop (20 s), a 5-minute breakdown and a 2-minute changeover.
		const fill = o.stations.find((x) => x.station === `${LINE}-FILL-01`);
		if (T.ok(fill, 'the filler has figures')) {
			T.ok(fill.micro_stop_count === 1 && near(fill.micro_stop_s, 20, 1e-6), `filler micro-stops ${fill.micro_stop_count} (${fill.micro_stop_s} s), want 1 (20 s)`);
			T.ok(near(fill.unplanned_down_s, 320, 1e-6), `filler unplanned downtime ${fill.unplanned_down_s} s, want 320`);
			T.ok(fill.availability > 0 && fill.availability < 1, `filler availability ${fill.availability}`);
		}
		const eol = o.stations.find((x) => x.station === `${LINE}-EOL-01`);
		if (T.ok(eol, 'the end-of-line tester has figures')) {
			T.ok(eol.performance_flagged === true && /ideal cycle/.test(eol.flag_reason || ''),
				`an ideal cycle of 1000 s flags the tester's performance (${eol.performance}): ${eol.flag_reason}`);
		}
	}
	// Pareto and changeovers of the same window.
	const p = await call(`/api/v1/oee/pareto?${q(win)}`, { token: VIEWER });
	const dbp = sql(`SELECT category, reason_code, seconds, count FROM ct_oee_pareto(:'site', :'line', NULL,
		to_timestamp(:'from'::bigint / 1000.0), to_timestamp(:'to'::bigint / 1000.0))`, win);
	if (T.ok(p.status === 200, `GET oee/pareto: ${p.status}`)) {
		T.ok(p.json.items.length === dbp.length, `pareto: ${p.json.items.length} losses, ct_oee_pareto ${dbp.length}`);
		const sum = (rows) => rows.reduce((a, r) => a + Number(r), 0);
		T.ok(near(sum(p.json.items.map((x) => x.seconds)), sum(dbp.map((r) => r[2])), 1e-6), 'pareto seconds add up as the database\'s');
		T.ok(p.json.items.some((x) => x.reason_code === 'BREAKDOWN.GENERIC'), 'the breakdown is in the Pareto');
		const secs = p.json.items.map((x) => x.seconds);
		T.ok(secs.every((v, i) => i === 0 || secs[i - 1] >= v), 'the Pareto is largest first');
	}
	const c = await call(`/api/v1/oee/changeovers?${q(win)}`, { token: VIEWER });
	const nc = Number(sqlValue(`SELECT count(*) FROM ct_oee_changeovers(:'site', :'line',
		to_timestamp(:'from'::bigint / 1000.0), to_timestamp(:'to'::bigint / 1000.0))`, win));
	if (T.ok(c.status === 200, `GET oee/changeovers: ${c.status}`)) {
		T.ok(c.json.items.length === nc && nc >= 5, `changeovers: ${c.json.items.length}, database ${nc}`);
		const pair = c.json.pairs.find((x) => x.from_recipe === 'R-A' && x.to_recipe === 'R-B');
		T.ok(pair && near(pair.mean_s, 120, 1e-6), `the changeover R-A -> R-B lasts 120 s: ${JSON.stringify(pair)}`);
	}
	// The default window is the shift open now; asking for that shift gives the same shift.
	const open = await call(`/api/v1/oee?${q({ site: SITE, line: LINE })}`, { token: VIEWER });
	const openId = sqlValue(`SELECT shift_id FROM ct_oee_shifts(:'site', :'line', now(), now() + interval '1 second')
		ORDER BY starts_at DESC LIMIT 1`, { site: SITE, line: LINE });
	if (T.ok(open.status === 200, `GET oee (open shift): ${open.status}`) && openId) {
		T.ok(open.json.window_shift_id === openId && open.json.shift_id === openId,
			`the default window is the open shift ${openId}: ${open.json.window_shift_id}`);
		const shifts = await call(`/api/v1/oee/shifts?${q({ site: SITE, line: LINE })}`, { token: VIEWER });
		T.ok(shifts.json && shifts.json.items.some((x) => x.shift_id === openId && x.open), `oee/shifts lists ${openId} as open`);
		const one = await call(`/api/v1/oee?${q({ site: SITE, line: LINE, shift: openId })}`, { token: VIEWER });
		T.ok(one.status === 200 && one.json.shift_id === openId, `GET oee?shift=${openId}: ${one.status}`);
	}
	// The metrics: the functions' own answers.
	const tr = await call(`/api/v1/metrics/trace-depth?${q({ unit: cell })}`, { token: VIEWER });
	const dbt = sqlJson(`SELECT ct_trace_depth(:'u')`, { u: cell });
	T.ok(tr.status === 200 && dbt && near(tr.json.score, dbt.score) && tr.json.missing.length === dbt.missing.length,
		`trace depth of ${cell}: ${tr.json && tr.json.score}, database ${dbt && dbt.score}`);
	const m = await call(`/api/v1/metrics/maintainability?${q(win)}`, { token: VIEWER });
	const dbm = sqlJson(`SELECT ct_maintainability(:'site', :'line', to_timestamp(:'from'::bigint / 1000.0),
		to_timestamp(:'to'::bigint / 1000.0))`, win);
	T.ok(m.status === 200 && dbm && m.json.stops.length === dbm.stops.length && m.json.alerts.length === dbm.alerts.length,
		`maintainability: ${m.json && m.json.stops.length} stops, ${m.json && m.json.alerts.length} alerts; database ${dbm && dbm.stops.length}, ${dbm && dbm.alerts.length}`);
	T.ok(m.json && m.json.stops.some((x) => x.reason_code === 'BREAKDOWN.GENERIC'), 'the breakdown is a stop to restore from');
	const r = await call(`/api/v1/metrics/response?${q({ site: SITE, line: LINE, from: now - 86400000, to })}`, { token: VIEWER });
	const nr = Number(sqlValue(`SELECT count(*) FROM ct_response_times(:'site', :'line', NULL,
		to_timestamp(:'from'::bigint / 1000.0), to_timestamp(:'to'::bigint / 1000.0))`, { site: SITE, line: LINE, from: now - 86400000, to }));
	T.ok(r.status === 200 && r.json.count === nr && nr > 0, `response: ${r.json && r.json.count} actions, database ${nr}`);
	// Acknowledged means accepted: rejected and expired commands are counted apart.
	const counts = (rows) => JSON.stringify(rows.map((x) => [x.station, x.reaction_plan, x.n, x.acked, x.rejected, x.expired]));
	const dbs = sqlJson(`SELECT coalesce(json_agg(s ORDER BY s.station, s.reaction_plan), '[]') FROM ct_response_summary(:'site',
		:'line', to_timestamp(:'from'::bigint / 1000.0), to_timestamp(:'to'::bigint / 1000.0)) s`, { site: SITE, line: LINE, from: now - 86400000, to });
	T.ok(r.json && counts(r.json.summary) === counts(dbs) && dbs.every((x) => x.acked + x.rejected + x.expired <= x.n),
		`response summary n/acked/rejected/expired: ${r.json && counts(r.json.summary)}, database ${counts(dbs)}`);
	// A line's traceability depth scores every unit: the last hour by default.
	const tl = await call(`/api/v1/metrics/trace-depth?${q({ site: SITE, line: LINE })}`, { token: VIEWER });
	T.ok(tl.status === 200 && tl.json.to_ms - tl.json.from_ms === 3600000,
		`a line's trace depth covers the last hour by default: ${tl.json && tl.json.from_ms} .. ${tl.json && tl.json.to_ms}`);
	// A viewer reads them all; there is no way to set an ideal cycle time through the API.
	T.ok(!routes.some((x) => x.method === 'POST' && /oee|metrics/.test(x.path)), 'no POST route for OEE (ideal cycles: cellthread oee ideal)');
});

await T.step('the stream forwards OEE figures and station states (kinds oee, state)', async () => {
	const controller = new AbortController();
	const res = await fetch(`${env('CT_TEST_API_URL')}/api/v1/stream?${q({ kinds: 'oee,state', site: SITE, line: LINE })}`, {
		headers: { Authorization: `Bearer ${VIEWER}` },
		signal: controller.signal,
	});
	T.ok(res.status === 200, `GET /api/v1/stream?kinds=oee,state: ${res.status}`);
	const reader = res.body.getReader();
	const decoder = new TextDecoder();
	let text = '';
	const nowUs = Date.now() * 1000;
	const station = `${LINE}-SEAL-01`;
	try {
		// The first read is the greeting: the client is registered before anything is published.
		text += decoder.decode((await reader.read()).value, { stream: true });
		// Another line's figures first: the filter must drop them. What follows (this line's
		// state and figures) arrives after them, so once those are here L9's would be too.
		publishPb('oee', `ct/v1/oee/${SITE}/L9`, oeeFiguresPb({ event_id: `api-test-oee9-${process.pid}`,
			site: SITE, line: 'L9', station: '', shift_id: '2026-12-07/C', shift_start_us: 0, shift_end_us: 0,
			until_us: nowUs, availability: 0.5 }));
		publishPb('ingest', `ct/v1/plant/${SITE}/${LINE}/${station}/state`, stationStatePb({
			event_id: `api-test-state-${process.pid}`, site: SITE, line: LINE, station, state: 6,
			reason_code: 'BREAKDOWN.SEAL.CRIMP', since_us: nowUs, recipe: 'R-B' }));
		publishPb('oee', `ct/v1/oee/${SITE}/${LINE}/${station}`, oeeFiguresPb({
			event_id: `api-test-oee-${process.pid}`, site: SITE, line: LINE, station, shift_id: '2026-12-07/C',
			shift_start_us: nowUs - 3600e6, shift_end_us: nowUs + 3600e6, until_us: nowUs,
			planned_busy_s: 3000, run_s: 2400, availability: 0.8, ideal_cycle_s: 0, produced: 0,
			good: 0, current_state: 6 }));
		const ev = (kind) => [...text.matchAll(new RegExp(`event: ${kind}\ndata: (.*)\n`, 'g'))].map((x) => JSON.parse(x[1]));
		await waitFor('a state and this line\'s oee event on the stream', 10000, async () => {
			const { value, done } = await reader.read();
			if (done) throw new Error('stream ended');
			text += decoder.decode(value, { stream: true });
			return ev('state').length > 0 && ev('oee').some((e) => e.line === LINE);
		});
		const st = ev('state')[0];
		T.ok(st.site === SITE && st.station === station && st.state === 'unplanned_downtime' &&
			st.reason_code === 'BREAKDOWN.SEAL.CRIMP' && st.since_ms === Math.floor(nowUs / 1000), `state event: ${JSON.stringify(st)}`);
		const f = ev('oee')[0];
		T.ok(f.station === station && f.shift_id === '2026-12-07/C' && f.availability === 0.8 && f.performance === null &&
			f.quality === null && f.oee === null && f.history === false && f.current_state === 'unplanned_downtime',
		`oee event (no ideal cycle: performance, quality and OEE unknown): ${JSON.stringify(f)}`);
		const all = [...text.matchAll(/^data: (\{.*)$/gm)].map((x) => JSON.parse(x[1]));
		T.ok(all.length >= 2 && all.every((e) => e.line === LINE) &&
			!all.some((e) => e.line === 'L9'), `the stream sends only the filter's line: ${all.map((e) => e.line).join(', ')}`);
	} finally {
		controller.abort();
	}
	sql(`DELETE FROM station_state WHERE event_id = :'id'`, { id: `api-test-state-${process.pid}` });
});

// ---- 4. tokens and roles ---------------------------------------------------------------------

await T.step('no token, an unknown token, a revoked token: 401 with WWW-Authenticate: Bearer', async () => {
	for (const [token, what] of [[null, 'no token'], ['ctk_' + '0'.repeat(64), 'unknown token'], ['garbage', 'malformed token'],
		[env('CT_TEST_TOKEN_REVOKED'), 'revoked token']]) {
		for (const path of ['/api/v1/me', `/api/v1/units/${encodeURIComponent(cell)}`, '/api/v1/alerts']) {
			const res = await call(path, { token });
			T.ok(res.status === 401 && res.json && res.json.error === 'unauthorized', `${describe('GET', path, undefined, res)} (${what}): want 401 unauthorized`);
			T.ok(/^Bearer/i.test(res.headers.get('www-authenticate') || ''), `GET ${path} (${what}): WWW-Authenticate is "${res.headers.get('www-authenticate')}"`);
		}
	}
	const basic = await call('/api/v1/me', { headers: { Authorization: 'Basic YWxpY2U6c2VjcmV0' } });
	T.ok(basic.status === 401, `GET /api/v1/me with Basic auth: ${basic.status}`);
	const post = await call(`/api/v1/lots/${heldLot}/release`, { body: { site: SITE, reason: 'no token' } });
	T.ok(post.status === 401, `${describe('POST', `/api/v1/lots/${heldLot}/release`, {}, post)} without a token: want 401`);
});

await T.step('a viewer can POST nothing (403), whatever the body', async () => {
	for (const r of routes.filter((x) => x.method === 'POST')) {
		const path = r.path.replace('{id}', r.path.includes('/lots/') ? heldLot : r.path.includes('/alerts/') ? alertId : '1');
		const body = { site: SITE, reason: 'viewer tries', disposition: 'release', state: 'held' };
		const res = await call(path, { token: VIEWER, body });
		T.ok(res.status === 403 && res.json && res.json.error === 'forbidden', `${describe('POST', path, body, res)} as a viewer: want 403 forbidden`);
	}
	T.ok(sqlValue(`SELECT state FROM lot_status WHERE site = :'site' AND lot_id = :'lot'`, { site: SITE, lot: heldLot }) === '2',
		`lot ${heldLot} is still held after the viewer's attempt`);
});

await T.step('an operator acknowledges an alert (state and acked_by in PostgreSQL) but cannot release a lot', async () => {
	const active = sqlValue(`SELECT alert_id FROM alert WHERE site = :'site' AND state = 'ACTIVE_UNACK' ORDER BY raised_at LIMIT 1`, { site: SITE });
	if (!T.ok(active, 'an unacknowledged active alert to acknowledge')) return;
	const path = `/api/v1/alerts/${active}/ack`;
	const res = await call(path, { token: OPERATOR, body: { reason: 'api test: nozzle checked' } });
	if (T.ok(res.status === 202, `${describe('POST', path, {}, res)}: want 202`)) {
		checkSchema('POST', '/api/v1/alerts/{id}/ack', path, res);
		T.ok(res.json.alert_id === active && res.json.action === 'ack' && res.json.request_id, `ack response ${res.text}`);
		const row = await waitFor(`alert ${active} ACTIVE_ACK in PostgreSQL`, 30000, () => {
			const r = sql(`SELECT state, acked_by FROM alert WHERE alert_id = :'id'`, { id: active })[0];
			return r && r[0] === 'ACTIVE_ACK' ? r : null;
		});
		T.ok(/oscar/.test(row[1]), `acked_by "${row[1]}" names the operator oscar`);
		const tr = sqlValue(`SELECT count(*) FROM alert_transition WHERE alert_id = :'id' AND action = 'ACK'
			AND actor LIKE '%oscar%' AND credential = 'api'`, { id: active });
		T.ok(tr === '1', `alert_transition has the ACK by oscar through the api credential (${tr})`);
		const again = await call(`/api/v1/alerts/${active}`, { token: VIEWER });
		T.ok(again.json && again.json.state === 'ACTIVE_ACK' && Array.isArray(again.json.transitions) &&
			again.json.transitions.some((t) => t.action === 'ACK'), `GET alerts/${active} shows the ACK: ${again.text.slice(0, 300)}`);
	}
	for (const action of ['comment', 'shelve', 'unshelve']) {
		const p = `/api/v1/alerts/${active}/${action}`;
		const r = await call(p, { token: OPERATOR, body: { reason: `api test ${action}` } });
		T.ok(r.status === 202, `${describe('POST', p, {}, r)}: want 202`);
		if (r.status === 202) checkSchema('POST', `/api/v1/alerts/{id}/${action}`, p, r);
	}
	const rel = `/api/v1/lots/${heldLot}/release`;
	const r = await call(rel, { token: OPERATOR, body: { site: SITE, reason: 'operator tries' } });
	T.ok(r.status === 403, `${describe('POST', rel, {}, r)} as an operator: want 403`);
	T.ok(sqlValue(`SELECT state FROM lot_status WHERE site = :'site' AND lot_id = :'lot'`, { site: SITE, lot: heldLot }) === '2',
		`lot ${heldLot} still held after the operator's attempt`);
});

await T.step('quality releases a lot, an operator holds it again; quality disposes and undoes', async () => {
	const rel = `/api/v1/lots/${heldLot}/release`;
	const r = await call(rel, { token: QUALITY, body: { site: SITE, reason: 'api test: lot checked' } });
	if (T.ok(r.status === 200, `${describe('POST', rel, {}, r)}: want 200`)) {
		checkSchema('POST', '/api/v1/lots/{id}/release', rel, r);
		T.ok(r.json.lot_id === heldLot && r.json.state === 'released', `release response ${r.text}`);
		const row = sql(`SELECT state, changed_by FROM lot_status WHERE site = :'site' AND lot_id = :'lot'`, { site: SITE, lot: heldLot })[0];
		T.ok(row[0] === '1' && /quinn/.test(row[1]), `lot_status after the release: state ${row[0]}, changed_by ${row[1]}`);
	}
	const hold = `/api/v1/lots/${heldLot}/hold`;
	const h = await call(hold, { token: OPERATOR, body: { site: SITE, reason: 'api test: hold again' } });
	if (T.ok(h.status === 200, `${describe('POST', hold, {}, h)}: want 200`)) {
		checkSchema('POST', '/api/v1/lots/{id}/hold', hold, h);
		T.ok(sqlValue(`SELECT state FROM lot_status WHERE site = :'site' AND lot_id = :'lot'`, { site: SITE, lot: heldLot }) === '2', 'held again');
	}
	const item = sqlValue(`SELECT item_id FROM inspection_item WHERE disposition IS NULL ORDER BY item_id LIMIT 1`);
	if (T.ok(item, 'an open inspection item')) {
		const p = `/api/v1/inspection/${item}/disposition`;
		const d = await call(p, { token: QUALITY, body: { disposition: 'rework', reason: 'api test: rework' } });
		if (T.ok(d.status === 200, `${describe('POST', p, {}, d)}: want 200`)) {
			checkSchema('POST', '/api/v1/inspection/{id}/disposition', p, d);
			const row = sql(`SELECT disposition, disposed_by FROM inspection_item WHERE item_id = :'id'`, { id: item })[0];
			T.ok(row[0] !== '' && /quinn/.test(row[1]), `inspection_item ${item} after the disposition: ${row.join(', ')}`);
		}
		const again = await call(p, { token: QUALITY, body: { disposition: 'scrap', reason: 'twice' } });
		T.ok(again.status === 409 || again.status === 200, `${describe('POST', p, {}, again)}: a second disposition is 409 (or allowed), never 5xx`);
	}
	const cmd = sqlValue(`SELECT command_id FROM automatic_action WHERE undone_at IS NULL AND undo_requested_by IS NULL ORDER BY decided_at LIMIT 1`);
	if (T.ok(cmd, 'an automatic action to undo')) {
		const p = `/api/v1/actions/${encodeURIComponent(cmd)}/undo`;
		const u = await call(p, { token: QUALITY, body: { reason: 'api test: undo' } });
		if (T.ok(u.status === 200, `${describe('POST', p, {}, u)}: want 200`)) {
			checkSchema('POST', '/api/v1/actions/{id}/undo', p, u);
			T.ok(/quinn/.test(sqlValue(`SELECT undo_requested_by FROM automatic_action WHERE command_id = :'id'`, { id: cmd })),
				'automatic_action.undo_requested_by names quinn');
		}
		const v = await call(p, { token: OPERATOR, body: { reason: 'operator tries' } });
		T.ok(v.status === 403, `${describe('POST', p, {}, v)} as an operator: want 403`);
	}
});

await T.step('still up at the end', async () => {
	const res = await call('/api/v1/health');
	assert.equal(res.status, 200, `health at the end: ${res.status} ${res.text}`);
	T.ok(true, 'health 200 at the end');
});

T.finish();
