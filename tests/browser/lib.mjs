// lib: what the API and browser tests share: their settings from the environment (set by the C
// wrappers tests/integration/test_api.c and test_dashboard.c), HTTP calls to ct-api, SQL by
// psql, waits with deadlines, and failing with a clear message.
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
