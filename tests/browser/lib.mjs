// lib: what the API and browser tests share: their settings from the environment (set by the C
// wrappers tests/integration/test_api.c and test_dashboard.c), HTTP calls to ct-api, SQL by
// psql, messages published as a service would (mosquitto_pub), waits with deadlines, and
// failing with a clear message.
//
// Nothing here sleeps for a fixed time to let something happen: waitFor polls a condition
// until a deadline and fails naming what it waited for.
import { execFileSync } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';

// A required setting from the environment; a missing one is the wrapper's bug, said plainly.
export function env(name) {
	const v = process.env[name];
	if (v === undefined || v === '') {
		throw new Error(`environment variable ${name} is not set (the C wrapper sets it)`);
	}
	return v;
}

export const API = () => env('CT_TEST_API_URL');

// Calls ct-api. path is under the base URL ("/api/v1/alerts?state=all"); opts.token (or
// null: no Authorization), opts.method, opts.body (a string is sent as is, anything else as
// JSON), opts.headers. Returns {status, headers, text, json (or undefined), ms}.
export async function call(path, opts = {}) {
	const headers = { ...(opts.headers || {}) };
	if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
	let body;
	if (opts.body !== undefined) {
		body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
		if (!headers['Content-Type']) headers['Content-Type'] = 'application/json';
	}
	const t0 = Date.now();
	const res = await fetch(API() + path, {
		method: opts.method || (body !== undefined ? 'POST' : 'GET'),
		headers,
		body,
		signal: AbortSignal.timeout(opts.timeoutMs || 30000),
	});
	const text = await res.text();
	let json;
	try {
		json = JSON.parse(text);
	} catch {
		json = undefined;
	}
	return { status: res.status, headers: res.headers, text, json, ms: Date.now() - t0 };
}

// One request and response, for a failure message: what was asked and what came back.
export function describe(method, path, body, res) {
	const sent = body === undefined ? '' : ` body ${String(typeof body === 'string' ? body : JSON.stringify(body)).slice(0, 200)}`;
	return `${method} ${path}${sent} -> ${res.status} ${res.text.slice(0, 400)}`;
}

// Runs sql (one statement) as the harness's ct_admin and returns the rows as arrays of text
// (psql -At, fields split on the unit separator). vars become psql variables, used in the SQL as
// :'name' (quoted by psql as a literal), so values are never pasted into SQL text.
export function sql(text, vars = {}) {
	const args = ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-F', '\x1f', env('CT_TEST_PG_CONNINFO')];
	for (const [k, v] of Object.entries(vars)) args.push('-v', `${k}=${v}`);
	const out = execFileSync('psql', args, {
		input: text.trim().replace(/;?$/, ';\n'),
		encoding: 'utf8',
		timeout: 30000,
		env: { ...process.env, PGPASSWORD: env('CT_TEST_PG_PASSWORD'), PGCONNECT_TIMEOUT: '10' },
	});
	return out
		.split('\n')
		.filter((l) => l !== '')
		.map((l) => l.split('\x1f'));
}

// The first column of the first row ('' when no row).
export function sqlValue(text, vars = {}) {
	const rows = sql(text, vars);
	return rows.length > 0 ? rows[0][0] : '';
}

// Polls fn (async; returns a truthy value when the condition holds) until timeoutMs, with a
// short backoff; returns fn's value or fails naming what: the last value fn returned (or
// threw) is in the message.
export async function waitFor(what, timeoutMs, fn) {
	const deadline = Date.now() + timeoutMs;
	let interval = 20;
	let last;
	for (;;) {
		try {
			const v = await fn();
			if (v) return v;
			last = v;
		} catch (e) {
			last = `error: ${e.message}`;
		}
		if (Date.now() >= deadline) {
			throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${
				typeof last === 'string' ? last : JSON.stringify(last)})`);
		}
		await delay(interval);
		interval = Math.min(interval * 2, 250);
	}
}

// Checks: collects failures so one run reports every broken thing, not just the first.
export class Checks {
	constructor(name) {
		this.name = name;
		this.passed = 0;
		this.failures = [];
	}

	ok(cond, what) {
		if (cond) this.passed++;
		else {
			this.failures.push(what);
			console.error(`FAIL ${what}`);
		}
		return !!cond;
	}

	// Runs an async step; an exception is a failure of that step, and the rest go on.
	async step(title, fn) {
		const t0 = Date.now();
		console.log(`-- ${title}`);
		try {
			await fn();
		} catch (e) {
			this.failures.push(`${title}: ${e.stack || e.message}`);
			console.error(`FAIL ${title}: ${e.stack || e.message}`);
		}
		console.log(`   (${Date.now() - t0} ms)`);
	}

	// Prints the tally in the plain form ("N passed, N failed") and sets the exit code.
	finish() {
		console.log(`${this.name}: ${this.passed} passed, ${this.failures.length} failed`);
		if (this.failures.length > 0) {
			console.error(`${this.name}: ${this.failures.length} failure(s):`);
			for (const f of this.failures) console.error(`  - ${f}`);
			process.exitCode = 1;
		}
	}
}

// Mean and standard deviation of numbers.
export function spread(values) {
	const n = values.length;
	if (n === 0) return { n, mean: NaN, sd: NaN };
	const mean = values.reduce((a, b) => a + b, 0) / n;
	const v = values.reduce((a, b) => a + (b - mean) * (b - mean), 0) / Math.max(1, n - 1);
	return { n, mean, sd: Math.sqrt(v) };
}

// ---- Protocol Buffers by hand, for the few messages the scripts publish (oee.proto) -----------

function pbVarint(n) {
	const out = [];
	let v = BigInt.asUintN(64, BigInt(n));
	do {
		let b = Number(v & 0x7fn);
		v >>= 7n;
		if (v > 0n) b |= 0x80;
		out.push(b);
	} while (v > 0n);
	return Buffer.from(out);
}
const pbBytes = (field, buf) => Buffer.concat([pbVarint((field << 3) | 2), pbVarint(buf.length), buf]);
const pbString = (field, text) => pbBytes(field, Buffer.from(text, 'utf8'));
const pbInt = (field, n) => Buffer.concat([pbVarint(field << 3), pbVarint(n)]);
function pbDouble(field, v) {
	const b = Buffer.alloc(8);
	b.writeDoubleLE(v);
	return Buffer.concat([pbVarint((field << 3) | 1), b]);
}
const pbHeader = (eventId, atUs) => pbBytes(1, Buffer.concat([pbString(1, eventId),
	pbString(2, 'browser-test'), pbInt(3, atUs), pbInt(4, 1)]));

// StationState {event_id, site, line, station, state (StationStateKind), reason_code, since_us,
// recipe}.
export function stationStatePb(s) {
	return Buffer.concat([pbHeader(s.event_id, s.since_us), pbString(2, s.site), pbString(3, s.line),
		pbString(4, s.station), pbInt(5, s.state), pbString(6, s.reason_code || ''),
		pbInt(8, s.since_us), pbString(9, s.recipe || '')]);
}

// OeeFigures: the strings, integers and doubles given (field numbers of oee.proto).
export function oeeFiguresPb(f) {
	const parts = [pbHeader(f.event_id, f.until_us), pbString(2, f.site), pbString(3, f.line),
		pbString(4, f.station), pbString(5, f.shift_id), pbInt(6, f.shift_start_us),
		pbInt(7, f.shift_end_us), pbInt(8, f.until_us)];
	for (const [k, n] of [['planned_busy_s', 9], ['run_s', 10], ['ideal_cycle_s', 21],
		['availability', 22], ['performance', 23], ['quality', 24], ['oee', 25]]) {
		if (f[k] !== undefined) parts.push(pbDouble(n, f[k]));
	}
	for (const [k, n] of [['produced', 18], ['good', 19], ['late_rejects', 20], ['current_state', 28]]) {
		if (f[k] !== undefined) parts.push(pbInt(n, f[k]));
	}
	if (f.performance_flagged) parts.push(pbInt(26, 1));
	if (f.flag_reason) parts.push(pbString(27, f.flag_reason));
	return Buffer.concat(parts);
}

// Publishes payload (a Buffer) on topic with QoS 1 as the broker user `user` (ingest or oee:
// their passwords are CT_TEST_MQTT_INGEST_PASSWORD, CT_TEST_MQTT_OEE_PASSWORD).
export function publishPb(user, topic, payload) {
	execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', env('CT_TEST_MQTT_PORT'), '-u', user,
		'-P', env(`CT_TEST_MQTT_${user.toUpperCase()}_PASSWORD`), '-i', `${user}-browser-test-${process.pid}`,
		'-q', '1', '-t', topic, '-s'], { input: payload, timeout: 30000 });
}
