/* cellthread dashboard: one plain ES module, no framework, uPlot as the global `uPlot`.
 * Every view backfills its history from the API, then follows GET /api/v1/stream (server-sent
 * events read with fetch, since EventSource cannot send the Authorization header); events are
 * deduplicated by event_id so backfill and stream never double a point. The view and its
 * arguments live in the URL hash, so a reload shows the same picture. Tests read the DOM through
 * data-view, data-testid and data-* attributes (see README.md). */
const API = 'api/v1/';
const TOKEN_KEY = 'cellthread.token';
const ROLE_RANK = { viewer: 1, operator: 2, quality: 3 };
const RANGES = { '1h': 3600e3, '8h': 8 * 3600e3, '24h': 24 * 3600e3, '7d': 7 * 24 * 3600e3 };
const RUN_POINTS = 1000; /* points asked of runchart */
const LIVE_EXTRA = 3000; /* live points kept beyond the backfill before backfilling again */
const CTL_POINTS = 500; /* control chart: the last N values */
const SIGNALS_SHOWN = 50; /* control chart signals listed, newest first */
/* Control chart kinds whose limits apply to single values, so they are drawn over them; the
 * others' limits are on a statistic (EWMA, CUSUM sums, subgroup means) the API does not send. */
const INDIVIDUAL_CHARTS = new Set(['imr', 'i', 'i_mr', 'xmr']);
const NO_RECENT_MS = 120e3; /* a station with no result for this long shows "no recent result" */
/* The plant's three charts (station and characteristic names of services/linesim). */
const PRESETS = [
	{ id: 'cell-length', label: 'Cell length (EOL height)', station: 'EOL-01', ch: 'height' },
	{ id: 'pressure-decay', label: 'Pressure decay', station: 'SEAL-01', ch: 'pressure_decay' },
	{ id: 'fill-mass', label: 'Electrolyte fill mass', station: 'FILL-01', ch: 'fill_mass' },
];
const COLORS = {
	value: '#4db3ff',
	band: 'rgba(77,179,255,0.25)',
	mean: '#e8edf3',
	spec: '#ff5c5c',
	target: '#3ddc84',
	limit: '#ffc043',
	flag: '#ff3df2',
	normal: '#ffc043',
};

const state = { me: null, view: null };

/* ---- small helpers ---- */

function el(tag, attrs, ...children) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === undefined || v === null || v === false) continue;
		if (k === 'class') e.className = v;
		else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
		else e.setAttribute(k, v === true ? '' : String(v));
	}
	for (const c of children.flat()) {
		if (c === null || c === undefined || c === false) continue;
		e.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
	return e;
}

function pad2(n) {
	return String(n).padStart(2, '0');
}
function fmtTime(ms) {
	if (ms === null || ms === undefined) return '-';
	const d = new Date(ms);
	return (
		`${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
		`${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
	);
}
/* A number to `digits` significant digits; '-' for null (undefined figures). */
function fmtNum(v, digits = 4) {
	const n = v === null || v === undefined || v === '' ? NaN : Number(v);
	return Number.isFinite(n) ? n.toPrecision(digits) : '-';
}
/* Inserts item into arr, kept ordered by t_ms (late values go in their place, not at the end:
 * uPlot needs ascending x). */
function insertByTime(arr, item) {
	let i = arr.length;
	if (i === 0 || arr[i - 1].t_ms <= item.t_ms) {
		arr.push(item);
		return;
	}
	let lo = 0;
	while (lo < i) {
		const mid = (lo + i) >> 1;
		if (arr[mid].t_ms <= item.t_ms) lo = mid + 1;
		else i = mid;
	}
	arr.splice(lo, 0, item);
}
/* The element of arr (ordered by t_ms) whose t_ms is t, searched from the newest. */
function findByTime(arr, t) {
	for (let i = arr.length - 1; i >= 0 && arr[i].t_ms >= t; i--)
		if (arr[i].t_ms === t) return arr[i];
	return null;
}
function qs(params) {
	const p = new URLSearchParams();
	for (const [k, v] of Object.entries(params))
		if (v !== undefined && v !== null && v !== '') p.set(k, v);
	return p.toString();
}
function can(role) {
	return state.me && ROLE_RANK[state.me.role] >= ROLE_RANK[role];
}

/* ---- API ---- */

class ApiError extends Error {
	constructor(status, body) {
		super(body && body.detail ? `${body.error}: ${body.detail}` : `HTTP ${status}`);
		this.status = status;
		this.body = body;
	}
}

function token() {
	return localStorage.getItem(TOKEN_KEY) || '';
}

async function api(path, opts = {}) {
	const headers = { Authorization: `Bearer ${token()}`, Accept: 'application/json' };
	if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
	const res = await fetch(API + path, {
		method: opts.method || 'GET',
		headers,
		cache: 'no-store',
		body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
	});
	let body = null;
	try {
		body = await res.json();
	} catch (e) {
		body = null;
	}
	if (res.status === 401) {
		signOut('Your token was refused (401): sign in again.');
		throw new ApiError(401, body);
	}
	if (!res.ok) throw new ApiError(res.status, body);
	return body;
}

/* ---- live stream: fetch + text/event-stream parser, reconnect with backoff ---- */

const live = document.getElementById('live');
function setLive(s) {
	live.dataset.state = s;
	live.textContent = s;
}

class Stream {
	/* params: stream arguments; onEvent(type, data); onOpen(): called on every (re)connect, the
	 * view backfills there. */
	constructor(params, onEvent, onOpen) {
		this.params = params;
		this.onEvent = onEvent;
		this.onOpen = onOpen;
		this.ctl = null;
		this.closed = false;
		this.backoff = 1000;
		this.timer = null;
		setLive('connecting');
		this.connect();
	}

	close() {
		this.closed = true;
		clearTimeout(this.timer);
		if (this.ctl) this.ctl.abort();
	}

	async connect() {
		if (this.closed) return;
		this.ctl = new AbortController();
		try {
			const res = await fetch(API + 'stream?' + qs(this.params), {
				headers: {
					Authorization: `Bearer ${token()}`,
					Accept: 'text/event-stream',
				},
				cache: 'no-store',
				signal: this.ctl.signal,
			});
			if (res.status === 401) {
				signOut('Your token was refused (401): sign in again.');
				return;
			}
			if (!res.ok || !res.body) throw new Error(`stream: HTTP ${res.status}`);
			setLive('live');
			this.backoff = 1000;
			this.onOpen();
			await this.read(res.body.getReader());
			throw new Error('stream ended');
		} catch (e) {
			if (this.closed) return;
			setLive('reconnecting');
			this.timer = setTimeout(() => this.connect(), this.backoff);
			this.backoff = Math.min(this.backoff * 2, 15000);
		}
	}

	async read(reader) {
		const dec = new TextDecoder();
		let buf = '';
		let type = '';
		let data = [];
		for (;;) {
			const { value, done } = await reader.read();
			if (done) return;
			buf += dec.decode(value, { stream: true });
			let nl;
			while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
				const line = buf.slice(0, nl);
				buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
				if (line === '') {
					if (data.length) this.dispatch(type || 'message', data.join('\n'));
					type = '';
					data = [];
					continue;
				}
				if (line[0] === ':') continue; /* comment: keepalive */
				const colon = line.indexOf(':');
				const field = colon < 0 ? line : line.slice(0, colon);
				let val = colon < 0 ? '' : line.slice(colon + 1);
				if (val[0] === ' ') val = val.slice(1);
				if (field === 'event') type = val;
				else if (field === 'data') data.push(val);
			}
		}
	}

	dispatch(type, text) {
		let obj;
		try {
			obj = JSON.parse(text);
		} catch (e) {
			return;
		}
		try {
			this.onEvent(type, obj);
		} catch (e) {
			console.error('stream event', e);
		}
	}
}

/* Backfill-then-stream for a view: events that arrive while the backfill runs are queued and
 * applied after it; the view's apply() drops those whose event_id the backfill already had.
 * One backfill at a time: a reconnect, the sliding window and the live-point bound may all ask
 * for one at once, and two interleaved would share one queue and replace each other's state;
 * a request while one runs makes one more run after it instead. */
class Feed {
	constructor(params, backfill, apply) {
		this.backfill = backfill;
		this.apply = apply;
		this.queue = null;
		this.loaded = false;
		this.closed = false;
		this.running = false;
		this.again = false;
		this.stream = new Stream(
			params,
			(t, d) => this.event(t, d),
			() => this.load(),
		);
		/* Show history even when the stream cannot connect. */
		this.fallback = setTimeout(() => {
			if (!this.loaded) this.load();
		}, 1500);
	}
	event(type, data) {
		if (this.closed) return;
		if (this.queue) {
			this.queue.push([type, data]);
			return;
		}
		try {
			this.apply(type, data);
		} catch (e) {
			console.error('live event:', e);
		}
	}
	async load() {
		if (this.running) {
			this.again = true;
			return;
		}
		this.running = true;
		do {
			this.again = false;
			this.queue = [];
			try {
				await this.backfill();
				this.loaded = true;
			} catch (e) {
				console.error('backfill:', e.message || e);
			}
			const q = this.queue;
			this.queue = null;
			if (this.closed) break;
			for (const [t, d] of q) this.event(t, d);
		} while (this.again && !this.closed);
		this.running = false;
	}
	close() {
		this.closed = true;
		clearTimeout(this.fallback);
		this.stream.close();
	}
}

/* ---- reason dialog (in-page, so tests can fill it) ---- */

const dlg = document.getElementById('reason-dialog');
/* Asks for a reason and the extra fields ({name, label, options: [[value, text]]}); calls
 * submit(values) and closes on success, shows the error otherwise. */
function askReason(title, extras, submit) {
	document.getElementById('reason-title').textContent = title;
	const extra = document.getElementById('reason-extra');
	extra.replaceChildren();
	for (const x of extras || []) {
		extra.append(el('label', { for: 'reason-' + x.name }, x.label));
		extra.append(
			el(
				'select',
				{ id: 'reason-' + x.name, 'data-testid': 'reason-' + x.name },
				x.options.map(([v, t]) => el('option', { value: v }, t)),
			),
		);
	}
	const input = document.getElementById('reason-input');
	const err = document.getElementById('reason-error');
	input.value = '';
	err.textContent = '';
	const form = document.getElementById('reason-form');
	form.onsubmit = async (ev) => {
		ev.preventDefault();
		const reason = input.value.trim();
		if (!reason) {
			err.textContent = 'A reason is required.';
			return;
		}
		const values = { reason };
		for (const x of extras || [])
			values[x.name] = document.getElementById('reason-' + x.name).value;
		try {
			await submit(values);
			dlg.close();
		} catch (e) {
			err.textContent = e.message;
		}
	};
	document.getElementById('reason-cancel').onclick = () => dlg.close();
	dlg.showModal();
	input.focus();
}

/* ---- sign-in ---- */

function signOut(message) {
	localStorage.removeItem(TOKEN_KEY);
	state.me = null;
	showSignIn(message);
}

function showSignIn(message) {
	teardown();
	setLive('off');
	document.getElementById('nav').hidden = true;
	document.getElementById('user').hidden = true;
	document.getElementById('signout').hidden = true;
	const input = el('input', {
		type: 'password',
		id: 'token',
		'data-testid': 'token-input',
		placeholder: 'ctk_...',
		autocomplete: 'off',
	});
	const form = el(
		'form',
		{ class: 'panel signin', 'data-view': 'signin' },
		el('h2', {}, 'Sign in'),
		el(
			'p',
			{ class: 'muted' },
			'Paste your API token (deploy/local.sh token NAME ROLE prints one).',
		),
		message ? el('p', { class: 'error', 'data-testid': 'signin-message' }, message) : null,
		input,
		el(
			'button',
			{ type: 'submit', class: 'primary', 'data-testid': 'signin-submit' },
			'Sign in',
		),
	);
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		localStorage.setItem(TOKEN_KEY, input.value.trim());
		start();
	});
	document.getElementById('main').replaceChildren(form);
}

async function start() {
	if (!token()) {
		showSignIn('');
		return;
	}
	try {
		state.me = await api('me');
	} catch (e) {
		if (e.status !== 401) showSignIn(`Cannot reach the API: ${e.message}`);
		return;
	}
	const user = document.getElementById('user');
	user.textContent = `${state.me.name} (${state.me.role})`;
	user.dataset.role = state.me.role;
	user.hidden = false;
	document.getElementById('nav').hidden = false;
	document.getElementById('signout').hidden = false;
	route();
}

/* ---- router ---- */

function parseHash() {
	const h = location.hash.replace(/^#\/?/, '');
	const q = h.indexOf('?');
	const path = q < 0 ? h : h.slice(0, q);
	const params = new URLSearchParams(q < 0 ? '' : h.slice(q + 1));
	/* A malformed escape (a hand-typed %) is taken as typed rather than stopping the page. */
	const parts = path.split('/').map((x) => {
		try {
			return decodeURIComponent(x);
		} catch (e) {
			return x;
		}
	});
	return { name: parts[0] || 'overview', arg: parts.slice(1).join('/'), params };
}

function setHash(name, params, replace) {
	const q = qs(params);
	const h = `#/${name}${q ? '?' + q : ''}`;
	if (replace) history.replaceState(null, '', h);
	else location.hash = h;
}

// The site and line fields of a view's toolbar; changing one opens the view on the new place,
// keeping the view's other parameters as they are then (current() gives them).
function siteLineInputs(view, current) {
	return [
		el('label', {}, 'Site'),
		el('input', {
			value: current().site,
			size: 8,
			'data-testid': 'site-input',
			onchange: (e) => setHash(view, { ...current(), site: e.target.value }),
		}),
		el('label', {}, 'Line'),
		el('input', {
			value: current().line,
			size: 5,
			'data-testid': 'line-input',
			onchange: (e) => setHash(view, { ...current(), line: e.target.value }),
		}),
	];
}

function teardown() {
	if (state.view && state.view.close) state.view.close();
	state.view = null;
	setLive('off'); /* a view with a stream sets it again */
}

function route() {
	if (!state.me) return;
	teardown();
	const { name, arg, params } = parseHash();
	for (const a of document.querySelectorAll('#nav a'))
		a.classList.toggle('active', a.dataset.nav === name);
	const views = {
		overview: Overview,
		chart: ChartView,
		unit: UnitView,
		alerts: AlertsView,
		inspection: InspectionView,
		lots: LotsView,
		actions: ActionsView,
		oee: OeeView,
	};
	const View = views[name] || Overview;
	const main = document.getElementById('main');
	const root = el('section', { 'data-view': views[name] ? name : 'overview' });
	main.replaceChildren(root);
	state.view = new View(root, params, arg);
}

/* Site and line: from the URL, else the last ones used. */
function siteLine(params) {
	const site = params.get('site') || localStorage.getItem('cellthread.site') || 'site1';
	const line = params.get('line') || localStorage.getItem('cellthread.line') || 'L1';
	localStorage.setItem('cellthread.site', site);
	localStorage.setItem('cellthread.line', line);
	return { site, line };
}

/* Renders a throttled update at most every 150 ms (live points within a second, without
 * re-rendering per event). */
function throttle(fn, ms = 150) {
	let t = null;
	const f = () => {
		if (t) return;
		t = setTimeout(() => {
			t = null;
			fn();
		}, ms);
	};
	f.cancel = () => clearTimeout(t);
	return f;
}

function errorBox(e) {
	return el('p', { class: 'error', 'data-testid': 'error' }, e.message || String(e));
}

/* ---- 1. overview ---- */

function stationState(s, now) {
	if (s.stopped) return 'stopped';
	if (!s.last_ended_ms || now - s.last_ended_ms > NO_RECENT_MS) return 'no recent result';
	return 'running';
}
const RESULT_NAMES = { 0: '-', 1: 'OK', 2: 'NOK', 3: 'ABORTED' };
function resultName(r) {
	return r === null || r === undefined ? '-' : (RESULT_NAMES[r] ?? String(r));
}

class Overview {
	constructor(root, params) {
		this.root = root;
		this.sl = siteLine(params);
		this.named = params.has('site'); /* else a remembered or the default site */
		this.data = null;
		this.verdicts = new Map(); /* station -> its last live verdict {unit_id, verdict} */
		this.render = throttle(() => this.draw());
		this.refetch = throttle(
			() => this.backfill().catch((e) => console.error('overview:', e.message)),
			2000,
		);
		this.feed = new Feed(
			{ kinds: 'verdict,alert,lot', ...this.sl },
			() => this.backfill(),
			(t, d) => this.apply(t, d),
		);
		/* The 1-hour counts and "no recent result" move with the clock. */
		this.tick = setInterval(() => this.refetch(), 30000);
		this.body = el('div', {});
		root.append(this.bar(), this.body);
		this.draw();
	}
	close() {
		this.closed = true;
		this.feed.close();
		clearInterval(this.tick);
		this.render.cancel();
		this.refetch.cancel();
	}

	async backfill() {
		this.data = await api('overview?' + qs(this.sl));
		/* A plant whose site is not the remembered or default one: open on the first line
		 * that has stations, once, instead of an empty page. */
		if (!this.named && this.data.stations.length === 0) {
			this.named = true;
			const any = await api('stations');
			const first = any.items && any.items[0];
			if (first && !this.closed) {
				location.hash = '#/overview?' + qs({ site: first.site, line: first.line });
				return;
			}
		}
		this.draw();
	}

	/* A verdict shows its unit on its station at once; the counts, the result and the lists
	 * come from the server (refetched at most every 2 s): verdicts are not results (a result
	 * OK may get the verdict fail), so the page does not count them itself. */
	apply(type, d) {
		if (!this.data) return;
		if (type === 'verdict') {
			const s = this.data.stations.find((x) => x.station === d.station);
			if (s && !(s.last_ended_ms > d.t_ms)) {
				s.last_ended_ms = d.t_ms;
				if (s.last_unit_id !== d.unit_id) s.last_result = null;
				s.last_unit_id = d.unit_id;
				this.verdicts.set(d.station, { unit_id: d.unit_id, verdict: d.verdict });
				this.data.now_ms = Math.max(this.data.now_ms || 0, d.t_ms);
				this.render();
			}
		}
		this.refetch();
	}

	/* The toolbar stays while live updates redraw the rest (an input keeps its focus). */
	bar() {
		const presets = el(
			'div',
			{ class: 'presets' },
			PRESETS.map((p) =>
				el(
					'a',
					{
						'data-testid': 'preset-' + p.id,
						href:
							'#/chart?' +
							qs({
								...this.sl,
								station: `${this.sl.line}-${p.station}`,
								characteristic: p.ch,
								range: '1h',
							}),
					},
					p.label,
				),
			),
		);
		const bar = el(
			'div',
			{ class: 'toolbar' },
			...siteLineInputs('overview', () => this.sl),
			presets,
		);
		return bar;
	}

	draw() {
		const d = this.data;
		if (!d) {
			this.body.replaceChildren(el('p', { class: 'muted' }, 'Loading...'));
			return;
		}
		const now = Math.max(Date.now(), d.now_ms || 0);
		const verdictOf = (s) => {
			const v = this.verdicts.get(s.station);
			return v && v.unit_id === s.last_unit_id ? v.verdict : '';
		};
		const c = d.counts || {};
		const count = (id, label, v) =>
			el(
				'div',
				{ class: 'count' },
				el('b', { 'data-testid': 'count-' + id }, v ?? 0),
				el('span', {}, label),
			);
		const stations = el(
			'div',
			{ class: 'stations', 'data-testid': 'stations' },
			d.stations.map((s) => {
				const st = stationState(s, now);
				return el(
					'div',
					{
						class: 'station',
						'data-testid': 'station',
						'data-id': s.station,
						'data-state': st,
					},
					el('div', { class: 'name' }, s.station),
					el('div', { class: 'state' }, st),
					el(
						'div',
						{},
						'last: ',
						el('span', { 'data-testid': 'station-result' }, resultName(s.last_result)),
						verdictOf(s) ? ` · ${verdictOf(s)}` : '',
						' ',
						el(
							'span',
							{ class: 'muted' },
							s.last_ended_ms ? fmtTime(s.last_ended_ms).slice(11) : '',
						),
					),
					el(
						'div',
						{ class: 'muted' },
						s.last_unit_id
							? el(
									'a',
									{
										href: '#/unit/' + encodeURIComponent(s.last_unit_id),
									},
									s.last_unit_id,
								)
							: '',
					),
					el(
						'div',
						{},
						'results 1 h: ',
						el('b', { 'data-testid': 'station-results' }, s.results_1h ?? 0),
						'  fails: ',
						el('b', { 'data-testid': 'station-fails' }, s.fail_1h ?? 0),
					),
				);
			}),
		);
		const alerts = alertTable(d.alerts || [], null);
		const lots = el(
			'table',
			{ 'data-testid': 'held-lots' },
			el(
				'tr',
				{},
				el('th', {}, 'Lot'),
				el('th', {}, 'State'),
				el('th', {}, 'Reason'),
				el('th', {}, 'Since'),
			),
			(d.held_lots || []).map((l) =>
				el(
					'tr',
					{
						'data-testid': 'lot-row',
						'data-id': l.lot_id,
						'data-state': l.state,
					},
					el('td', { class: 'id' }, l.lot_id),
					el('td', {}, l.state),
					el('td', {}, l.reason || ''),
					el('td', { class: 'time' }, fmtTime(l.changed_ms)),
				),
			),
		);
		this.body.replaceChildren(
			el(
				'div',
				{ class: 'counts' },
				count('active-alerts', 'active alerts', c.active_alerts),
				count('held-lots', 'held lots', c.held_lots),
				count('inspection-open', 'open inspections', c.inspection_open),
				count('results-1h', 'results in 1 h', c.results_1h),
				count('fail-1h', 'fails in 1 h', c.fail_1h),
			),
			el(
				'div',
				{ class: 'grid spaced' },
				el(
					'div',
					{ class: 'panel wide' },
					el('h2', {}, `Stations of ${this.sl.site} / ${this.sl.line}`),
					stations,
				),
				el(
					'div',
					{ class: 'panel' },
					el('h2', {}, el('a', { href: '#/alerts' }, 'Active alerts')),
					alerts,
				),
				el(
					'div',
					{ class: 'panel' },
					el('h2', {}, el('a', { href: '#/lots' }, 'Held lots')),
					lots,
				),
			),
		);
	}
}

/* ---- 2. characteristic view: run chart, histogram, control chart, capability ---- */

function chartWidth(node) {
	return Math.max(300, node.clientWidth || 600);
}
const AXIS = { stroke: '#9aa7b6', grid: { stroke: '#2a3340' }, ticks: { stroke: '#2a3340' } };
/* Time tick labels on the 24-hour clock (uPlot's default is am/pm): the date under the first
 * tick and wherever the day changes; seconds when ticks are less than a minute apart. */
function timeTicks(u, splits, axis, space, incr) {
	return splits.map((s, i) => {
		const d = new Date(s * 1000);
		const day = `${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
		if (incr >= 86400) return day;
		let t = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
		if (incr < 60) t += `:${pad2(d.getSeconds())}`;
		const prev = i > 0 ? new Date(splits[i - 1] * 1000) : null;
		return !prev || prev.getDate() !== d.getDate() ? `${t}\n${day}` : t;
	});
}
/* Room for the longest value label (10,000 or 70.255), so none is cut at the left edge. */
function axisSize(u, values) {
	const longest = Math.max(0, ...(values || []).map((v) => String(v).length));
	return Math.max(50, 14 + longest * 9);
}
const Y_AXIS = { ...AXIS, size: axisSize };
function timeAxes() {
	return [{ ...AXIS, values: timeTicks }, Y_AXIS];
}
/* A time scale over the values, a minute either side when there is only one (uPlot's own
 * choice for a single point spans months). */
function timeRange(u, min, max) {
	return min !== null && min === max ? [min - 60, max + 60] : [min, max];
}
const TIME_SERIES = { value: (u, v) => (v === null || v === undefined ? '-' : fmtTime(v * 1000)) };

/* Horizontal reference lines (spec limits, control limits) drawn on the plot. */
function hlinesPlugin(getLines) {
	return {
		hooks: {
			draw: (u) => {
				const ctx = u.ctx;
				ctx.save();
				/* Labels of vertical lines step down so close ones do not overlap. */
				let k = 0;
				for (const l of getLines()) {
					if (l.value === null || l.value === undefined || !Number.isFinite(l.value))
						continue;
					const pos =
						l.axis === 'x'
							? u.valToPos(l.value, 'x', true)
							: u.valToPos(l.value, 'y', true);
					ctx.strokeStyle = l.color;
					ctx.lineWidth = 2 * devicePixelRatio;
					ctx.setLineDash(l.dash ? [8 * devicePixelRatio, 6 * devicePixelRatio] : []);
					ctx.beginPath();
					if (l.axis === 'x') {
						ctx.moveTo(pos, u.bbox.top);
						ctx.lineTo(pos, u.bbox.top + u.bbox.height);
					} else {
						ctx.moveTo(u.bbox.left, pos);
						ctx.lineTo(u.bbox.left + u.bbox.width, pos);
					}
					ctx.stroke();
					ctx.fillStyle = l.color;
					ctx.font = `${12 * devicePixelRatio}px sans-serif`;
					if (l.axis === 'x')
						ctx.fillText(l.label, pos + 4, u.bbox.top + 14 * devicePixelRatio * ++k);
					else {
						const w = ctx.measureText(l.label).width;
						ctx.fillText(l.label, u.bbox.left + u.bbox.width - w - 4, pos - 4);
					}
				}
				ctx.restore();
			},
		},
	};
}

/* y range that includes the reference lines, so spec limits stay visible. */
function yRangeWith(getLines) {
	return (u, min, max) => {
		for (const l of getLines())
			if (
				l.axis !== 'x' &&
				l.value !== null &&
				l.value !== undefined &&
				Number.isFinite(l.value)
			) {
				min = Math.min(min ?? l.value, l.value);
				max = Math.max(max ?? l.value, l.value);
			}
		if (min === null || max === null || !Number.isFinite(min)) return [0, 1];
		const pad = (max - min) * 0.05 || Math.abs(max) * 0.01 || 1;
		return [min - pad, max + pad];
	};
}

class ChartView {
	constructor(root, params) {
		this.root = root;
		this.sl = siteLine(params);
		this.station = params.get('station') || '';
		this.ch = params.get('characteristic') || '';
		this.range = RANGES[params.get('range')] ? params.get('range') : '1h';
		this.recipe = params.get('recipe') || ''; /* optional: one recipe's values only */
		this.chartId = params.get('chart') || ''; /* which control chart, when there are several */
		this.chartIds = [];
		this.closed = false;
		this.plots = [];
		this.build();
		if (this.station && this.ch) {
			this.run = { points: [], buckets: [], seen: new Set() };
			this.renderRun = throttle(() => this.drawRun());
			this.renderHist = throttle(() => this.drawHist());
			this.renderCtl = throttle(() => this.drawCtl());
			/* The server flags control-chart points; live ones get its flags on the next fetch. */
			this.refetchCtl = throttle(() => this.loadCtl(), 5000);
			this.reload = throttle(() => this.feed.load(), 10000);
			this.feed = new Feed(
				{
					kinds: 'measurement',
					...this.sl,
					station: this.station,
					characteristic: this.ch,
				},
				() => this.backfill(),
				(t, d) => this.apply(t, d),
			);
			/* The window moves with the clock: a slow station's old values leave it too. */
			const every = Math.min(Math.max(RANGES[this.range] / 20, 60e3), 1800e3);
			this.slide = setInterval(() => this.feed.load(), every);
		}
		this.ro = new ResizeObserver(() => {
			for (const [p, node] of this.plots)
				p.setSize({ width: chartWidth(node), height: p.height });
		});
		this.ro.observe(this.root);
	}

	close() {
		this.closed = true;
		if (this.feed) this.feed.close();
		clearInterval(this.slide);
		this.ro.disconnect();
		for (const [p] of this.plots) p.destroy();
		this.plots = [];
		for (const r of [
			this.renderRun,
			this.renderHist,
			this.renderCtl,
			this.refetchCtl,
			this.reload,
		])
			if (r) r.cancel();
	}

	go(changes) {
		setHash('chart', {
			...this.sl,
			station: this.station,
			characteristic: this.ch,
			range: this.range,
			recipe: this.recipe,
			chart: this.chartId,
			...changes,
		});
	}

	build() {
		const sel = (id, value, onchange) =>
			el(
				'select',
				{ 'data-testid': id, onchange },
				el('option', { value }, value || '(choose)'),
			);
		this.siteSel = el('input', {
			value: this.sl.site,
			size: 8,
			'data-testid': 'pick-site',
			onchange: (e) => this.go({ site: e.target.value, station: '', characteristic: '' }),
		});
		this.lineSel = el('input', {
			value: this.sl.line,
			size: 5,
			'data-testid': 'pick-line',
			onchange: (e) => this.go({ line: e.target.value, station: '', characteristic: '' }),
		});
		this.stationSel = sel('pick-station', this.station, (e) =>
			this.go({ station: e.target.value, characteristic: '', chart: '' }),
		);
		this.chSel = sel('pick-characteristic', this.ch, (e) =>
			this.go({ characteristic: e.target.value, chart: '' }),
		);
		this.chartPick = el('select', {
			'data-testid': 'pick-chart',
			hidden: true,
			onchange: (e) => this.go({ chart: e.target.value }),
		});
		const ranges = Object.keys(RANGES).map((r) =>
			el(
				'button',
				{
					'data-testid': 'range-' + r,
					'data-active': r === this.range ? 'true' : 'false',
					onclick: () => this.go({ range: r }),
				},
				r.replace('h', ' h').replace('d', ' d'),
			),
		);
		const presets = PRESETS.map((p) =>
			el(
				'button',
				{
					'data-testid': 'preset-' + p.id,
					onclick: () =>
						this.go({
							station: `${this.sl.line}-${p.station}`,
							characteristic: p.ch,
							chart: '',
						}),
				},
				p.label,
			),
		);
		this.root.append(
			el(
				'div',
				{ class: 'toolbar' },
				'Site',
				this.siteSel,
				'Line',
				this.lineSel,
				'Station',
				this.stationSel,
				'Characteristic',
				this.chSel,
				...ranges,
			),
			el('div', { class: 'toolbar' }, ...presets),
		);
		this.loadPickers();
		if (!this.station || !this.ch) {
			this.root.append(
				el(
					'p',
					{ class: 'muted', 'data-testid': 'choose' },
					'Choose a station and a characteristic, or one of the presets.',
				),
			);
			return;
		}
		this.runNode = el('div', {
			class: 'chart',
			'data-testid': 'runchart',
			'data-points': 0,
		});
		this.histNode = el('div', {
			class: 'chart',
			'data-testid': 'histogram',
			'data-points': 0,
		});
		this.ctlNode = el('div', {
			class: 'chart',
			'data-testid': 'controlchart',
			'data-points': 0,
		});
		this.capNode = el('div', { class: 'figures', 'data-testid': 'capability' });
		this.outNode = el('div', { 'data-testid': 'outliers' });
		this.sigNode = el('div', { 'data-testid': 'signals' });
		this.ctlInfo = el('p', { class: 'muted', 'data-testid': 'controlchart-info' });
		this.runInfo = el('span', { class: 'muted', 'data-testid': 'runchart-info' });
		this.root.append(
			el(
				'div',
				{ class: 'grid' },
				el(
					'div',
					{ class: 'panel wide' },
					el('h2', {}, `Run chart: ${this.station} ${this.ch} `, this.runInfo),
					this.runNode,
				),
				el(
					'div',
					{ class: 'panel' },
					el('h2', {}, 'Distribution'),
					this.histNode,
					el('h2', {}, 'Outliers (click: traveler)'),
					this.outNode,
				),
				el(
					'div',
					{ class: 'panel' },
					el('h2', {}, 'Control chart ', this.chartPick),
					this.ctlInfo,
					this.ctlNode,
					el('h2', {}, 'Signals'),
					this.sigNode,
				),
				el('div', { class: 'panel wide' }, el('h2', {}, 'Capability'), this.capNode),
			),
		);
	}

	async loadPickers() {
		try {
			const st = await api('stations?' + qs(this.sl));
			const names = [...new Set(st.items.map((s) => s.station))].sort();
			this.stationSel.replaceChildren(
				el('option', { value: '' }, '(choose)'),
				...names.map((n) => el('option', { value: n }, n)),
			);
			this.stationSel.value = this.station;
			if (!this.station) return;
			const ch = await api('characteristics?' + qs({ ...this.sl, station: this.station }));
			const chs = [...new Set(ch.items.map((c) => c.characteristic))].sort();
			this.chSel.replaceChildren(
				el('option', { value: '' }, '(choose)'),
				...chs.map((n) => el('option', { value: n }, n)),
			);
			this.chSel.value = this.ch;
		} catch (e) {
			console.error('pickers', e);
		}
	}

	args() {
		const to = Date.now();
		return {
			...this.sl,
			station: this.station,
			characteristic: this.ch,
			recipe: this.recipe,
			from: to - RANGES[this.range],
			to,
		};
	}

	/* The four requests go out at once and each panel is drawn as soon as its answer is in:
	 * the run chart (tens of ms even over a week, from the rollup) does not wait for the
	 * histogram and capability, which read every value of the range (about a second for a
	 * week of a busy characteristic). Resolves when all four are drawn. */
	async backfill() {
		const a = this.args();
		const run = api('runchart?' + qs({ ...a, points: RUN_POINTS })).then(
			(r) => {
				if (this.closed) return;
				this.run = {
					resp: r,
					mode: r.mode,
					spec: r.spec,
					uom: r.uom,
					bucketMs: r.bucket_ms,
					points: (r.points || []).slice(),
					buckets: (r.buckets || []).slice(),
					seen: new Set(),
					live: 0,
				};
				for (const p of this.run.points) this.run.seen.add(p.event_id);
				this.drawRun();
			},
			(e) => {
				if (this.closed) return;
				this.run = { points: [], buckets: [], seen: new Set() };
				this.runNode.replaceChildren(errorBox(e));
			},
		);
		const hist = api('histogram?' + qs({ ...a, bins: 40 })).then(
			(h) => {
				if (this.closed) return;
				this.hist = h;
				this.drawHist();
			},
			(e) => {
				if (this.closed) return;
				this.hist = null;
				this.histNode.replaceChildren(errorBox(e));
			},
		);
		/* The control chart instances of this characteristic (a characteristic may have
		 * several, e.g. one per recipe or one per reaction plan); asked by chart_id so a
		 * characteristic without a chart is no 404. */
		const ctl = api('charts?' + qs({ ...this.sl, station: this.station }))
			.then(
				(charts) =>
					[
						...new Set(
							charts.items
								.filter((c) => c.characteristic === this.ch)
								.map((c) => c.chart_id),
						),
					].sort(),
				() => [],
			)
			.then(async (ids) => {
				if (this.closed) return;
				this.chartIds = ids;
				this.drawChartPicker();
				await this.loadCtl(a);
			});
		const cap = api('capability?' + qs(a)).then(
			(c) => {
				if (!this.closed) this.drawCap(c);
			},
			(e) => {
				if (!this.closed) this.capNode.replaceChildren(errorBox(e));
			},
		);
		await Promise.all([run, hist, ctl, cap]);
	}

	/* The control chart: points, limits and the server's flags (the rules its signals named).
	 * Live values are drawn unflagged until the next fetch brings the server's verdict. */
	async loadCtl(a = this.args()) {
		const id = this.chartIds.includes(this.chartId) ? this.chartId : this.chartIds[0];
		if (!id) {
			this.ctl = null;
			this.ctlNode.dataset.points = 0;
			this.ctlNode.replaceChildren(
				el('p', { class: 'muted' }, 'No control chart for this characteristic.'),
			);
			this.sigNode.replaceChildren();
			return;
		}
		try {
			const c = await api(
				'controlchart?' + qs({ ...a, chart_id: id, recipe: undefined, points: CTL_POINTS }),
			);
			if (this.closed) return;
			this.ctl = c;
			this.ctl.seen = new Set(c.points.map((p) => p.event_id));
			this.drawCtl();
			this.drawSignals();
		} catch (e) {
			this.ctl = null;
			this.ctlNode.replaceChildren(errorBox(e));
		}
	}

	drawChartPicker() {
		this.chartPick.hidden = this.chartIds.length < 2;
		this.chartPick.replaceChildren(
			...this.chartIds.map((id) => el('option', { value: id }, id)),
		);
		this.chartPick.value = this.chartIds.includes(this.chartId)
			? this.chartId
			: this.chartIds[0] || '';
	}

	apply(type, d) {
		if (type !== 'measurement' || d.station !== this.station || d.characteristic !== this.ch)
			return;
		const r = this.run;
		if (!r.resp || r.seen.has(d.event_id) || typeof d.value !== 'number') return;
		/* Outside the window shown (a late or replayed value): not this picture's. */
		if (d.t_ms < r.resp.from_ms) return;
		/* The stream does not say a value's recipe: with a recipe chosen, fetch again. */
		if (this.recipe && d.recipe !== this.recipe) {
			if (d.recipe === undefined) this.reload();
			return;
		}
		r.seen.add(d.event_id);
		r.live += 1;
		if (r.mode === 'raw') {
			insertByTime(r.points, {
				t_ms: d.t_ms,
				value: d.value,
				unit_id: d.unit_id,
				event_id: d.event_id,
			});
		} else {
			/* Buckets continue the server's grid (its first bucket, else its from_ms). */
			const origin = r.buckets.length ? r.buckets[0].t_ms : r.resp.from_ms;
			const start = origin + Math.floor((d.t_ms - origin) / r.bucketMs) * r.bucketMs;
			let b = findByTime(r.buckets, start);
			if (!b) {
				b = { t_ms: start, n: 0, min: d.value, max: d.value, mean: 0 };
				insertByTime(r.buckets, b);
			}
			b.mean = (b.mean * b.n + d.value) / (b.n + 1);
			b.n += 1;
			b.min = Math.min(b.min, d.value);
			b.max = Math.max(b.max, d.value);
		}
		/* Bounded memory: past the backfill plus a few thousand live values, ask again. */
		if (r.live > LIVE_EXTRA) {
			this.feed.load();
			return;
		}
		this.renderRun();
		const h = this.hist;
		if (h && h.bins.length && d.t_ms >= h.from_ms) {
			const bins = h.bins;
			const i = bins.findIndex(
				(b, k) =>
					d.value >= b.lo &&
					(d.value < b.hi || (k === bins.length - 1 && d.value <= b.hi)),
			);
			if (i >= 0) bins[i].count += 1;
			h.count += 1;
			if (h.spec && h.spec.lsl !== null && d.value < h.spec.lsl) h.below_lsl += 1;
			if (h.spec && h.spec.usl !== null && d.value > h.spec.usl) h.above_usl += 1;
			this.renderHist();
		}
		if (this.ctl && !this.ctl.seen.has(d.event_id)) {
			this.ctl.seen.add(d.event_id);
			insertByTime(this.ctl.points, {
				t_ms: d.t_ms,
				value: d.value,
				unit_id: d.unit_id,
				event_id: d.event_id,
				flagged: false,
				rules: [],
			});
			if (this.ctl.points.length > CTL_POINTS)
				this.ctl.points.splice(0, this.ctl.points.length - CTL_POINTS);
			this.renderCtl();
			this.refetchCtl();
		}
	}

	/* Draws data in node: new data only (setData, cheap) while key, what the options depend
	 * on, stays the same; a new plot otherwise. onClick(index) gets the clicked point. */
	mkPlot(node, key, opts, data, onClick) {
		if (this.closed) return null; /* a late backfill after the view was left */
		const old = this.plots.findIndex(([, n]) => n === node);
		if (old >= 0) {
			const [p, , k] = this.plots[old];
			if (k === key && node.contains(p.root)) {
				p.setData(data);
				return p;
			}
			p.destroy();
			this.plots.splice(old, 1);
		}
		node.replaceChildren();
		const p = new uPlot({ width: chartWidth(node), height: 320, ...opts }, data, node);
		if (onClick)
			p.over.addEventListener('click', () => {
				const i = p.cursor.idx;
				if (i !== null && i !== undefined) onClick(i);
			});
		this.plots.push([p, node, key]);
		return p;
	}

	specLines(spec) {
		if (!spec) return [];
		return [
			{ value: spec.lsl, label: 'LSL', color: COLORS.spec, dash: true },
			{ value: spec.usl, label: 'USL', color: COLORS.spec, dash: true },
			{ value: spec.target, label: 'target', color: COLORS.target, dash: true },
		];
	}

	drawRun() {
		const r = this.run;
		if (!r.resp) return;
		const lines = this.specLines(r.spec);
		const node = this.runNode;
		const n = r.mode === 'raw' ? r.points.length : r.buckets.length;
		node.dataset.points = n;
		node.dataset.mode = r.mode;
		node.dataset.count = r.resp.count + r.live;
		node.dataset.fromMs = r.resp.from_ms;
		node.dataset.toMs = r.resp.to_ms;
		if (r.spec) node.dataset.spec = JSON.stringify(r.spec);
		else delete node.dataset.spec;
		/* Raw values, or per bucket [t_ms, min, max, mean, n]: what the test reads. */
		if (r.mode === 'raw') {
			node.dataset.values = JSON.stringify(r.points.map((p) => p.value));
			delete node.dataset.buckets;
		} else {
			node.dataset.buckets = JSON.stringify(
				r.buckets.map((b) => [b.t_ms, b.min, b.max, b.mean, b.n]),
			);
			delete node.dataset.values;
		}
		this.runInfo.textContent = `${r.uom || ''}  ${
			r.mode === 'raw' ? 'raw' : 'min/max per ' + Math.round(r.bucketMs / 1000) + ' s'
		}  n=${r.resp.count + r.live}`;
		const plugins = [hlinesPlugin(() => lines)];
		const scales = {
			x: { time: true, range: timeRange },
			y: { range: yRangeWith(() => lines) },
		};
		const axes = timeAxes();
		let data;
		let opts;
		if (r.mode === 'raw') {
			data = [r.points.map((p) => p.t_ms / 1000), r.points.map((p) => p.value)];
			opts = {
				scales,
				axes,
				plugins,
				series: [
					TIME_SERIES,
					{
						label: this.ch,
						stroke: COLORS.value,
						width: 1.5,
						points: {
							show: r.points.length < 400,
							size: 5,
							fill: COLORS.value,
						},
					},
				],
			};
		} else {
			/* Empty buckets (the line stood, or history not stored yet) break the band instead
			 * of being bridged by a line as if values had been there. */
			const t = [];
			const max = [];
			const min = [];
			const mean = [];
			r.buckets.forEach((b, i) => {
				if (i > 0 && b.t_ms - r.buckets[i - 1].t_ms > r.bucketMs) {
					t.push((r.buckets[i - 1].t_ms + r.bucketMs) / 1000);
					max.push(null);
					min.push(null);
					mean.push(null);
				}
				t.push(b.t_ms / 1000);
				max.push(b.max);
				min.push(b.min);
				mean.push(b.mean);
			});
			data = [t, max, min, mean];
			opts = {
				scales,
				axes,
				plugins,
				bands: [{ series: [1, 2], fill: COLORS.band }],
				series: [
					TIME_SERIES,
					{ label: 'max', stroke: COLORS.value, width: 1 },
					{ label: 'min', stroke: COLORS.value, width: 1 },
					{ label: 'mean', stroke: COLORS.mean, width: 2 },
				],
			};
		}
		if (n === 0) {
			node.replaceChildren(el('p', { class: 'muted' }, 'No values in this range.'));
			return;
		}
		const key = JSON.stringify([r.mode, r.spec, r.points.length < 400]);
		/* Drill-down: a click on a raw point opens its unit's traveler. */
		this.mkPlot(node, key, opts, data, (i) => {
			const p = this.run.mode === 'raw' && this.run.points[i];
			if (p) location.hash = '#/unit/' + encodeURIComponent(p.unit_id);
		});
	}

	drawHist() {
		const h = this.hist;
		const node = this.histNode;
		node.dataset.counts = JSON.stringify(h.bins.map((b) => b.count));
		node.dataset.points = h.bins.length;
		node.dataset.count = h.count;
		node.dataset.mean = h.mean;
		node.dataset.sigma = h.sigma;
		node.dataset.belowLsl = h.below_lsl ?? '';
		node.dataset.aboveUsl = h.above_usl ?? '';
		this.outNode.replaceChildren(
			el(
				'table',
				{},
				el('tr', {}, el('th', {}, 'Unit'), el('th', {}, 'Value'), el('th', {}, 'Time')),
				(h.outliers || []).map((o) =>
					el(
						'tr',
						{
							class: 'clickable',
							'data-testid': 'outlier',
							'data-id': o.unit_id,
							onclick: () => {
								location.hash = '#/unit/' + encodeURIComponent(o.unit_id);
							},
						},
						el(
							'td',
							{},
							el(
								'a',
								{
									href: '#/unit/' + encodeURIComponent(o.unit_id),
								},
								o.unit_id,
							),
						),
						el('td', { class: 'num' }, fmtNum(o.value)),
						el('td', { class: 'time' }, fmtTime(o.t_ms)),
					),
				),
			),
		);
		if (!h.bins.length) {
			node.replaceChildren(el('p', { class: 'muted' }, 'No values in this range.'));
			return;
		}
		const lines = this.specLines(h.spec).map((l) => ({ ...l, axis: 'x' }));
		lines.push({ value: h.mean, label: 'mean', color: COLORS.mean, axis: 'x' });
		const lo = Math.min(
			h.bins[0].lo,
			...lines.filter((l) => Number.isFinite(l.value)).map((l) => l.value),
		);
		const hi = Math.max(
			h.bins[h.bins.length - 1].hi,
			...lines.filter((l) => Number.isFinite(l.value)).map((l) => l.value),
		);
		const padx = (hi - lo) * 0.03 || 1;
		const data = [
			h.bins.map((b) => (b.lo + b.hi) / 2),
			h.bins.map((b) => b.count),
			h.bins.map((b) => b.normal),
		];
		this.mkPlot(
			node,
			JSON.stringify([lo, hi, lines]),
			{
				scales: {
					x: { time: false, range: () => [lo - padx, hi + padx] },
					y: { range: (u, a, b) => [0, (b || 1) * 1.1] },
				},
				axes: [AXIS, Y_AXIS],
				plugins: [hlinesPlugin(() => lines)],
				series: [
					{ label: this.ch },
					{
						label: 'count',
						stroke: COLORS.value,
						fill: COLORS.band,
						paths: uPlot.paths.bars({ size: [0.95, Infinity] }),
						points: { show: false },
					},
					{
						label: 'normal fit',
						stroke: COLORS.normal,
						width: 2,
						points: { show: false },
						paths: uPlot.paths.spline ? uPlot.paths.spline() : undefined,
					},
				],
			},
			data,
		);
	}

	/* The signals under the control chart: the newest SIGNALS_SHOWN (a week may have
	 * thousands), drawn when the chart is fetched, not on every live value. */
	drawSignals() {
		const all = this.ctl.signals || [];
		const shown = all.slice(-SIGNALS_SHOWN).reverse();
		this.sigNode.replaceChildren(
			el(
				'p',
				{ class: 'muted' },
				`${all.length} in the range` + (all.length > shown.length ? ', newest shown' : ''),
			),
			el(
				'table',
				{},
				el(
					'tr',
					{},
					el('th', {}, 'Rule'),
					el('th', {}, 'Unit'),
					el('th', {}, 'Time'),
					el('th', {}, 'Reaction'),
				),
				shown.map((s) =>
					el(
						'tr',
						{ 'data-testid': 'signal', 'data-id': s.alert_id },
						el('td', {}, s.rule),
						el(
							'td',
							{},
							s.unit_id
								? el(
										'a',
										{
											href: '#/unit/' + encodeURIComponent(s.unit_id),
										},
										s.unit_id,
									)
								: '-',
						),
						el('td', { class: 'time' }, fmtTime(s.t_ms)),
						el('td', {}, s.reaction || ''),
					),
				),
			),
		);
	}

	drawCtl() {
		const c = this.ctl;
		if (!c) return;
		const node = this.ctlNode;
		const l = c.limits || {};
		const kind = (c.chart && c.chart.kind) || '';
		const onValues = INDIVIDUAL_CHARTS.has(kind);
		node.dataset.points = c.points.length;
		node.dataset.flagged = c.points.filter((p) => p.flagged).length;
		node.dataset.limits = JSON.stringify(l);
		node.dataset.kind = kind;
		const lim = `LCL ${fmtNum(l.lcl)}, CL ${fmtNum(l.centre)}, UCL ${fmtNum(l.ucl)}`;
		this.ctlInfo.textContent = onValues
			? `${c.chart.chart_id}: ${kind} chart, ${lim}; flagged values: the server's rules`
			: `${(c.chart && c.chart.chart_id) || ''}: ${kind} chart; its limits (${lim}) ` +
				`apply to the ${kind} statistic, not to single values, so they are not ` +
				"drawn; flagged values: the server's rules";
		if (!c.points.length) {
			node.replaceChildren(el('p', { class: 'muted' }, 'No values in this range.'));
			return;
		}
		const lines = onValues
			? [
					{ value: l.ucl, label: 'UCL', color: COLORS.limit, dash: true },
					{ value: l.centre, label: 'CL', color: COLORS.target },
					{ value: l.lcl, label: 'LCL', color: COLORS.limit, dash: true },
				]
			: [];
		const data = [
			c.points.map((p) => p.t_ms / 1000),
			c.points.map((p) => p.value),
			c.points.map((p) => (p.flagged ? p.value : null)),
		];
		this.mkPlot(
			node,
			JSON.stringify([l, kind]),
			{
				scales: {
					x: { time: true, range: timeRange },
					y: { range: yRangeWith(() => lines) },
				},
				axes: timeAxes(),
				plugins: [hlinesPlugin(() => lines)],
				series: [
					TIME_SERIES,
					{
						label: this.ch,
						stroke: COLORS.value,
						width: 1.5,
						points: { show: true, size: 4 },
					},
					{
						label: 'flagged',
						stroke: COLORS.flag,
						paths: () => null,
						points: {
							show: true,
							size: 10,
							fill: COLORS.flag,
							stroke: COLORS.flag,
						},
					},
				],
			},
			data,
			(i) => {
				const p = this.ctl && this.ctl.points[i];
				if (p) location.hash = '#/unit/' + encodeURIComponent(p.unit_id);
			},
		);
	}

	drawCap(cap) {
		const names = [
			'n',
			'mean',
			'sigma_within',
			'sigma_overall',
			'lsl',
			'usl',
			'cp',
			'cpk',
			'pp',
			'ppk',
		];
		this.capNode.replaceChildren(
			...names.map((k) =>
				el(
					'div',
					{},
					el('span', { class: 'muted' }, k),
					el(
						'b',
						{
							'data-testid': 'cap-' + k,
							'data-value': cap[k] ?? '',
						},
						k === 'n' ? (cap[k] ?? '-') : fmtNum(cap[k]),
					),
				),
			),
		);
	}
}

/* ---- 3. traveler ---- */

function treeNode(n, depth) {
	const label = [
		n.id,
		n.kind,
		n.material,
		n.quantity !== undefined && n.quantity !== null
			? `${fmtNum(n.quantity)} ${n.uom || ''}`
			: '',
		n.station,
	]
		.filter(Boolean)
		.join('  ');
	const kids = n.children || [];
	if (!kids.length)
		return el(
			'div',
			{
				class: 'leaf',
				'data-testid': 'genealogy-node',
				'data-id': n.id,
			},
			el('a', { href: '#/unit/' + encodeURIComponent(n.id) }, label),
		);
	return el(
		'details',
		{ 'data-testid': 'genealogy-node', 'data-id': n.id, open: depth < 2 },
		el('summary', {}, label, el('span', { class: 'muted' }, ` (${kids.length})`)),
		kids.map((k) => treeNode(k, depth + 1)),
	);
}

class UnitView {
	constructor(root, params, arg) {
		this.root = root;
		const input = el('input', {
			value: arg || '',
			'data-testid': 'unit-input',
			placeholder: 'unit ID',
			size: 24,
		});
		const form = el(
			'form',
			{ class: 'toolbar' },
			'Unit',
			input,
			el('button', { type: 'submit', class: 'primary', 'data-testid': 'unit-go' }, 'Look up'),
		);
		form.addEventListener('submit', (ev) => {
			ev.preventDefault();
			location.hash = '#/unit/' + encodeURIComponent(input.value.trim());
		});
		this.body = el('div', {});
		root.append(form, this.body);
		if (arg) this.load(arg);
	}
	close() {}

	async load(id) {
		this.body.replaceChildren(el('p', { class: 'muted' }, 'Loading...'));
		let t;
		try {
			t = await api('units/' + encodeURIComponent(id));
		} catch (e) {
			this.body.replaceChildren(
				el(
					'p',
					{ class: 'error', 'data-testid': 'unit-error' },
					e.status === 404 ? `Unknown unit ${id}.` : e.message,
				),
			);
			return;
		}
		const u = t.unit;
		const visits = el(
			'table',
			{ 'data-testid': 'visits' },
			el(
				'tr',
				{},
				[
					'Station',
					'Ended',
					'Result',
					'Verdict',
					'Measurements',
					'Parameters',
					'Notes',
				].map((h) => el('th', {}, h)),
			),
			(t.visits || []).map((v) =>
				el(
					'tr',
					{
						'data-testid': 'visit',
						'data-id': v.event_id,
						'data-station': v.station,
					},
					el(
						'td',
						{},
						v.station,
						el(
							'div',
							{ class: 'muted' },
							`${v.recipe || ''} ${v.recipe_version ?? ''}`,
						),
					),
					el('td', { class: 'time' }, fmtTime(v.ended_ms)),
					el('td', {}, resultName(v.result)),
					el(
						'td',
						{ 'data-testid': 'visit-verdict' },
						v.verdict ? v.verdict.verdict || JSON.stringify(v.verdict) : '-',
					),
					el(
						'td',
						{},
						(v.measurements || []).map((m) =>
							el(
								'div',
								{},
								`${m.characteristic} = ${fmtNum(m.value, 6)} ${m.uom || ''}`,
							),
						),
					),
					el(
						'td',
						{ class: 'muted' },
						(v.parameters || []).map((p) =>
							el(
								'div',
								{},
								`${p.name} = ${fmtNum(p.actual, 6)}${p.setpoint !== null && p.setpoint !== undefined ? ' (' + fmtNum(p.setpoint, 6) + ')' : ''} ${p.uom || ''}`,
							),
						),
					),
					el(
						'td',
						{ 'data-testid': 'visit-notes' },
						(v.notes || []).map((n) =>
							el(
								'div',
								{ class: n.kind === 'exception' ? 'error' : '' },
								`${n.kind || 'note'}${n.code ? ' ' + n.code : ''}` +
									`${n.author ? ' by ' + n.author : ''}: `,
								n.body || '',
							),
						),
					),
				),
			),
		);
		const usedIn = el(
			'table',
			{ 'data-testid': 'used-in-list' },
			(t.used_in || []).map((p) =>
				el(
					'tr',
					{ 'data-testid': 'used-in', 'data-id': p.id },
					el(
						'td',
						{},
						el(
							'a',
							{
								href: '#/unit/' + encodeURIComponent(p.id),
							},
							p.id,
						),
					),
					el('td', {}, p.kind),
					el('td', { class: 'id' }, p.station),
					el('td', { class: 'time' }, fmtTime(p.assembled_ms)),
				),
			),
		);
		const holds = (t.holds || []).map((h) =>
			el(
				'div',
				{ 'data-testid': 'unit-hold', 'data-id': h.lot_id || '' },
				el('a', { href: '#/lots?state=all' }, h.lot_id || ''),
				` (${h.site || ''}) since ${fmtTime(h.since_ms)}`,
			),
		);
		this.body.replaceChildren(
			el(
				'div',
				{ class: 'grid' },
				el(
					'div',
					{
						class: 'panel wide',
						'data-testid': 'unit-info',
						'data-id': u.unit_id,
					},
					el('h2', {}, `${u.unit_id} (${u.kind})`),
					el(
						'div',
						{},
						`${u.site} / ${u.line}  first seen ${fmtTime(u.first_seen_ms)}, last seen ${fmtTime(u.last_seen_ms)}`,
					),
					holds.length ? el('div', { class: 'error' }, 'Held: ', holds) : null,
				),
				el('div', { class: 'panel wide' }, el('h2', {}, 'Visits'), visits),
				el(
					'div',
					{ class: 'panel' },
					el('h2', {}, 'Genealogy (made from)'),
					el(
						'div',
						{ class: 'tree', 'data-testid': 'genealogy' },
						t.made_from ? treeNode(t.made_from, 0) : '-',
					),
				),
				el('div', { class: 'panel' }, el('h2', {}, 'Used in'), usedIn),
			),
		);
	}
}

/* ---- lists shared by alerts, inspection, lots, actions ---- */

/* A paged list view: backfill pages with limit/offset, a "more" button, refetch on events. */
class ListView {
	constructor(root, params, opts) {
		this.root = root;
		this.params = params;
		this.opts = opts;
		this.items = [];
		this.details = new Map(); /* row id -> its open detail row */
		this.toolbar = el('div', { class: 'toolbar' });
		this.countNode = el('b', { 'data-testid': opts.name + '-count' }, '0');
		this.table = el('table', { 'data-testid': opts.name + '-table' });
		this.more = el(
			'button',
			{
				'data-testid': opts.name + '-more',
				hidden: true,
				onclick: () => this.page(),
			},
			'More',
		);
		root.append(
			this.toolbar,
			el(
				'div',
				{ class: 'panel' },
				el('h2', {}, opts.title, ' (', this.countNode, ')'),
				this.table,
				this.more,
			),
		);
		this.refetch = throttle(() => this.backfill().catch((e) => console.error(e)), 500);
		this.feed = new Feed(
			opts.stream,
			() => this.backfill(),
			(t, d) => this.apply(t, d),
		);
	}
	close() {
		this.feed.close();
		this.refetch.cancel();
	}

	async backfill() {
		this.items = [];
		this.next = 0;
		await this.page();
	}
	async page() {
		const r = await api(
			this.opts.path + '?' + qs({ ...this.query(), limit: 200, offset: this.next }),
		);
		this.items.push(...r.items);
		this.next = r.next_offset;
		this.more.hidden = r.next_offset === null || r.next_offset === undefined;
		this.draw();
	}
	apply() {
		this.refetch();
	}
	draw() {
		this.countNode.textContent = this.items.length;
		this.table.replaceChildren(
			el(
				'tr',
				{},
				this.opts.head.map((h) => el('th', {}, h)),
			),
			...this.items.map((i) => this.row(i)),
		);
		this.reattach();
	}
	/* A detail row under row tr (an alert's history, a lot's units) that stays open across the
	 * redraws live events cause. Returns its cell to fill, or null when it was open and is now
	 * closed. */
	detail(tr, testid, colspan) {
		const key = tr.dataset.id;
		const open = this.details.get(key);
		if (open) {
			open.remove();
			this.details.delete(key);
			return null;
		}
		const cell = el('td', { colspan }, 'Loading...');
		const row = el('tr', { 'data-testid': testid, 'data-id': key }, cell);
		this.details.set(key, row);
		tr.after(row);
		return cell;
	}
	reattach() {
		for (const [key, row] of this.details) {
			const tr = [...this.table.rows].find(
				(r) => r.dataset.id === key && r.dataset.testid !== row.dataset.testid,
			);
			if (tr) tr.after(row);
			else this.details.delete(key); /* its row left the list */
		}
	}
	/* Submits an action, then shows the list as the server has it now (lots, inspection,
	 * actions change in the request; an alert changes when the router has it, which the
	 * stream and the refetch after it bring). */
	async act(path, body) {
		await api(path, { method: 'POST', body });
		await this.backfill().catch((e) => console.error('after the action:', e.message));
		this.refetch();
	}
	toggle(key, values, current) {
		return values.map(([v, label]) =>
			el(
				'button',
				{
					'data-testid': `${this.opts.name}-${v}`,
					'data-active': v === current ? 'true' : 'false',
					onclick: () =>
						setHash(this.opts.name, {
							...Object.fromEntries(this.params),
							[key]: v,
						}),
				},
				label,
			),
		);
	}
}

function alertTable(items, view) {
	return el(
		'table',
		{ 'data-testid': 'alerts-table' },
		el(
			'tr',
			{},
			['Sev', 'Alert', 'Station', 'State', 'Raised', view ? '' : null]
				.filter((h) => h !== null)
				.map((h) => el('th', {}, h)),
		),
		items.map((a) => alertRow(a, view)),
	);
}

/* The alert's transitions (GET alerts/{id}) in a row under it; a second click hides them. */
async function alertHistory(a, tr, view) {
	const cell = view.detail(tr, 'alert-history', 6);
	if (!cell) return;
	try {
		const r = await api('alerts/' + encodeURIComponent(a.alert_id));
		cell.replaceChildren(
			el(
				'table',
				{},
				(r.transitions || []).map((t) =>
					el(
						'tr',
						{ 'data-testid': 'alert-transition' },
						el('td', { class: 'time' }, fmtTime(t.at_ms)),
						el('td', {}, `${t.from_state || ''} -> ${t.to_state || ''}`),
						el('td', {}, t.action || ''),
						el(
							'td',
							{},
							t.actor || '',
							el('div', { class: 'muted' }, t.credential || ''),
						),
						el('td', {}, t.reason || ''),
					),
				),
			),
		);
	} catch (e) {
		cell.replaceChildren(errorBox(e));
	}
}

function alertRow(a, view) {
	const acts = [];
	if (view)
		acts.push(
			el(
				'button',
				{
					class: 'small',
					'data-testid': 'alert-history-toggle',
					onclick: (ev) => alertHistory(a, ev.target.closest('tr'), view),
				},
				'History',
			),
		);
	if (view && can('operator')) {
		const id = encodeURIComponent(a.alert_id);
		if (/unack/i.test(a.state))
			acts.push(
				el(
					'button',
					{
						class: 'small',
						'data-testid': 'alert-ack',
						onclick: () =>
							askReason(`Acknowledge ${a.code}`, [], (v) =>
								view.act(`alerts/${id}/ack`, {
									reason: v.reason,
								}),
							),
					},
					'Ack',
				),
			);
		if (!a.shelved && !a.cleared_ms)
			acts.push(
				el(
					'button',
					{
						class: 'small',
						'data-testid': 'alert-shelve',
						onclick: () =>
							askReason(
								`Shelve ${a.code}`,
								[
									{
										name: 'duration',
										label: 'For',
										options: [
											['oneshot', 'until it clears (one-shot)'],
											['1h', '1 hour'],
											['8h', '8 hours'],
										],
									},
								],
								(v) =>
									view.act(`alerts/${id}/shelve`, {
										reason: v.reason,
										until_ms:
											v.duration === 'oneshot'
												? undefined
												: Date.now() + RANGES[v.duration],
									}),
							),
					},
					'Shelve',
				),
			);
		if (a.shelved)
			acts.push(
				el(
					'button',
					{
						class: 'small',
						'data-testid': 'alert-unshelve',
						onclick: () =>
							askReason(`Unshelve ${a.code}`, [], (v) =>
								view.act(`alerts/${id}/unshelve`, {
									reason: v.reason,
								}),
							),
					},
					'Unshelve',
				),
			);
	}
	return el(
		'tr',
		{
			'data-testid': 'alert-row',
			'data-id': a.alert_id,
			'data-state': a.state,
			'data-shelved': a.shelved ? 'true' : 'false',
		},
		el('td', { class: 'sev-' + a.severity }, a.severity),
		el(
			'td',
			{ class: 'text' },
			el('b', {}, a.code),
			el('div', { class: 'muted' }, a.text || ''),
		),
		el('td', { class: 'id' }, a.station || a.object_id || ''),
		el(
			'td',
			{ 'data-testid': 'alert-state' },
			a.state,
			a.shelved ? ' (shelved)' : '',
			a.acked_by ? el('div', { class: 'muted' }, 'ack: ' + a.acked_by) : '',
		),
		el('td', { class: 'time' }, fmtTime(a.raised_ms)),
		view ? el('td', { class: 'acts' }, acts) : null,
	);
}

/* ---- 4. alerts ---- */

class AlertsView extends ListView {
	constructor(root, params) {
		super(root, params, {
			name: 'alerts',
			title: 'Alerts',
			path: 'alerts',
			head: [],
			stream: { kinds: 'alert' },
		});
		this.toolbar.append(
			...this.toggle(
				'state',
				[
					['active', 'Active'],
					['all', 'All'],
				],
				this.query().state,
			),
		);
	}
	query() {
		return { state: this.params.get('state') === 'all' ? 'all' : 'active' };
	}
	apply(type, d) {
		/* A live state change updates its row at once; new alerts come with the refetch. */
		const a = this.items.find((x) => x.alert_id === d.alert_id);
		/* The stream names states as the list does (ACTIVE_ACK), which data-state shows. */
		if (a && typeof d.state === 'string' && d.state !== 'UNSPECIFIED') {
			a.state = d.state;
			this.draw();
		}
		this.refetch();
	}
	draw() {
		this.countNode.textContent = this.items.length;
		this.table.replaceChildren(...alertTable(this.items, this).childNodes);
		this.reattach();
	}
}

/* ---- 5. inspection ---- */

class InspectionView extends ListView {
	constructor(root, params) {
		super(root, params, {
			name: 'inspection',
			title: 'Inspection queue',
			path: 'inspection',
			head: ['Item', 'Unit', 'Station', 'Queue', 'Reason', 'Entered', 'Disposition', ''],
			stream: { kinds: 'verdict' },
		});
		const q = this.query();
		this.toolbar.append(
			...this.toggle(
				'queue',
				[
					['inspection', 'Inspection'],
					['rework', 'Rework'],
				],
				q.queue,
			),
			...this.toggle(
				'open',
				[
					['true', 'Open'],
					['false', 'Disposed'],
				],
				q.open,
			),
		);
	}
	query() {
		return {
			queue: this.params.get('queue') === 'rework' ? 'rework' : 'inspection',
			open: this.params.get('open') === 'false' ? 'false' : 'true',
		};
	}
	apply(type, d) {
		if (d.verdict !== 'pass') this.refetch();
	}
	row(i) {
		const acts = [];
		if (can('quality') && !i.disposition)
			for (const [d, cls] of [
				['release', 'primary'],
				['rework', ''],
				['scrap', 'danger'],
			])
				acts.push(
					el(
						'button',
						{
							class: 'small ' + cls,
							'data-testid': 'dispose-' + d,
							onclick: () =>
								askReason(`${d} ${i.unit_id}`, [], (v) =>
									this.act(
										`inspection/${encodeURIComponent(i.item_id)}/disposition`,
										{
											disposition: d,
											reason: v.reason,
										},
									),
								),
						},
						d,
					),
				);
		return el(
			'tr',
			{
				'data-testid': 'inspection-row',
				'data-id': i.item_id,
				'data-unit': i.unit_id,
				'data-disposition': i.disposition || '',
			},
			el('td', {}, i.item_id),
			el(
				'td',
				{ class: 'id' },
				el('a', { href: '#/unit/' + encodeURIComponent(i.unit_id) }, i.unit_id),
			),
			el('td', { class: 'id' }, i.station),
			el('td', {}, i.queue),
			el(
				'td',
				{ class: 'text' },
				i.reason || '',
				el('div', { class: 'muted fine' }, i.cause || ''),
			),
			el('td', { class: 'time' }, fmtTime(i.entered_ms)),
			el(
				'td',
				{},
				i.disposition || '-',
				i.disposed_by ? el('div', { class: 'muted' }, i.disposed_by) : '',
			),
			el('td', { class: 'acts' }, acts),
		);
	}
}

/* ---- 6. lots ---- */

const HOLD_STATES = [
	['held', 'held'],
	['quarantined', 'quarantined'],
];

class LotsView extends ListView {
	constructor(root, params) {
		super(root, params, {
			name: 'lots',
			title: 'Lots',
			path: 'lots',
			head: ['Site', 'Lot', 'State', 'Reason', 'Changed by', 'Changed', 'Held units', ''],
			stream: { kinds: 'lot' },
		});
		this.toolbar.append(
			...this.toggle(
				'state',
				[
					['held', 'Held'],
					['all', 'All'],
				],
				this.query().state,
			),
		);
		if (can('operator')) {
			const lot = el('input', {
				placeholder: 'lot ID',
				'data-testid': 'hold-lot-input',
				size: 20,
			});
			this.toolbar.append(
				lot,
				el(
					'button',
					{
						'data-testid': 'hold-lot-go',
						onclick: () => {
							if (lot.value.trim())
								this.hold({
									site: siteLine(params).site,
									lot_id: lot.value.trim(),
								});
						},
					},
					'Hold lot',
				),
			);
		}
	}
	query() {
		return { state: this.params.get('state') === 'all' ? 'all' : 'held' };
	}
	/* Trace forward: the units made from the lot, in a row under it (first 200). */
	async descendants(l, tr) {
		const cell = this.detail(tr, 'lot-descendants-row', 8);
		if (!cell) return;
		try {
			const r = await api(
				`lots/${encodeURIComponent(l.lot_id)}/descendants?` +
					qs({ site: l.site, limit: 200 }),
			);
			cell.replaceChildren(
				el(
					'div',
					{ class: 'muted' },
					`${r.items.length}${r.next_offset !== null && r.next_offset !== undefined ? '+' : ''} units`,
				),
				el(
					'div',
					{ class: 'detail-scroll' },
					r.items.map((u) =>
						el(
							'span',
							{
								'data-testid': 'descendant',
								'data-id': u.unit_id,
								'data-held': u.held ? 'true' : 'false',
								class: u.held ? 'descendant held' : 'descendant',
								title: `depth ${u.depth}`,
							},
							el('a', { href: '#/unit/' + encodeURIComponent(u.unit_id) }, u.unit_id),
							` ${u.kind} ${u.station || ''}`,
						),
					),
				),
			);
		} catch (e) {
			cell.replaceChildren(errorBox(e));
		}
	}
	hold(l) {
		askReason(
			`Hold ${l.lot_id}`,
			[{ name: 'state', label: 'State', options: HOLD_STATES }],
			(v) =>
				this.act(`lots/${encodeURIComponent(l.lot_id)}/hold`, {
					site: l.site,
					reason: v.reason,
					state: v.state,
				}),
		);
	}
	row(l) {
		const acts = [];
		const held = l.state === 'held' || l.state === 'quarantined';
		if (held && can('quality'))
			acts.push(
				el(
					'button',
					{
						class: 'small primary',
						'data-testid': 'lot-release',
						onclick: () =>
							askReason(`Release ${l.lot_id}`, [], (v) =>
								this.act(`lots/${encodeURIComponent(l.lot_id)}/release`, {
									site: l.site,
									reason: v.reason,
								}),
							),
					},
					'Release',
				),
			);
		if (!held && can('operator'))
			acts.push(
				el(
					'button',
					{
						class: 'small danger',
						'data-testid': 'lot-hold',
						onclick: () => this.hold(l),
					},
					'Hold',
				),
			);
		acts.push(
			el(
				'button',
				{
					class: 'small',
					'data-testid': 'lot-descendants',
					onclick: (ev) => this.descendants(l, ev.target.closest('tr')),
				},
				'Units',
			),
		);
		return el(
			'tr',
			{ 'data-testid': 'lot-row', 'data-id': l.lot_id, 'data-state': l.state },
			el('td', {}, l.site),
			el('td', { class: 'id' }, l.lot_id),
			el('td', { 'data-testid': 'lot-state' }, l.state),
			el('td', {}, l.reason || ''),
			el('td', {}, l.changed_by || ''),
			el('td', { class: 'time' }, fmtTime(l.changed_ms)),
			el('td', { class: 'num' }, l.held_units ?? ''),
			el('td', { class: 'acts' }, acts),
		);
	}
}

/* ---- 7. automatic actions ---- */

/* CommandKind of proto/cellthread/v1/control.proto (the API sends the number). */
const COMMAND_KINDS = { 1: 'SLOW', 2: 'STOP', 3: 'RESUME', 4: 'ADJUST' };

class ActionsView extends ListView {
	constructor(root, params) {
		super(root, params, {
			name: 'actions',
			title: 'Automatic actions',
			path: 'actions',
			head: [
				'Decided',
				'Station',
				'Kind',
				'Parameter',
				'Target',
				'Delta',
				'Reason',
				'Undo',
				'',
			],
			stream: { kinds: 'alert' },
		});
	}
	query() {
		const sl = siteLine(this.params);
		const range = RANGES[this.params.get('range')] || RANGES['7d'];
		return { ...sl, from: Date.now() - range };
	}
	row(a) {
		const acts = [];
		if (can('quality') && !a.undo_requested_by && !a.undone_ms)
			acts.push(
				el(
					'button',
					{
						class: 'small',
						'data-testid': 'action-undo',
						onclick: () =>
							askReason(
								`Undo ${COMMAND_KINDS[a.kind] || a.kind} ${a.parameter || ''}`,
								[],
								(v) =>
									this.act(`actions/${encodeURIComponent(a.command_id)}/undo`, {
										reason: v.reason,
									}),
							),
					},
					'Undo',
				),
			);
		return el(
			'tr',
			{
				'data-testid': 'action-row',
				'data-id': a.command_id,
				'data-undone': a.undone_ms ? 'true' : 'false',
			},
			el('td', { class: 'time' }, fmtTime(a.decided_ms)),
			el('td', { class: 'id' }, a.station),
			el('td', {}, COMMAND_KINDS[a.kind] || a.kind),
			el('td', {}, a.parameter || ''),
			el('td', { class: 'num' }, fmtNum(a.target_value)),
			el('td', { class: 'num' }, fmtNum(a.delta)),
			el(
				'td',
				{ class: 'text' },
				a.reason_code || '',
				el('div', { class: 'muted' }, a.reason_text || ''),
			),
			el(
				'td',
				{},
				a.undone_ms
					? ['undone', el('div', { class: 'muted time' }, fmtTime(a.undone_ms))]
					: a.undo_requested_by
						? ['requested by ', el('div', { class: 'muted' }, a.undo_requested_by)]
						: '-',
			),
			el('td', { class: 'acts' }, acts),
		);
	}
}

/* ---- 8. OEE and the plant metrics ---- */

/* StationStateKind by number (SQL) or name (the stream): shown in lower case. */
const STATE_NAMES = [
	'unknown',
	'producing',
	'idle',
	'starved',
	'blocked',
	'planned downtime',
	'unplanned downtime',
	'unknown stop',
];
function stateName(v) {
	if (v === null || v === undefined || v === '') return '-';
	if (typeof v === 'number') return STATE_NAMES[v] || String(v);
	return String(v)
		.toLowerCase()
		.replace(/^station_state_/, '')
		.replace(/_/g, ' ');
}
/* A 0..1 figure as a percentage; '-' when unknown (null). */
function fmtPct(v) {
	return v === null || v === undefined || !Number.isFinite(Number(v))
		? '-'
		: `${(Number(v) * 100).toFixed(1)} %`;
}
function fmtSecs(v) {
	if (v === null || v === undefined || !Number.isFinite(Number(v))) return '-';
	const s = Number(v);
	if (s >= 3600) return `${(s / 3600).toFixed(1)} h`;
	if (s >= 120) return `${(s / 60).toFixed(1)} min`;
	return `${s.toFixed(1)} s`;
}
function fmtMs(v) {
	return v === null || v === undefined || !Number.isFinite(Number(v))
		? '-'
		: `${Math.round(Number(v))} ms`;
}
/* A figure's data-value: the number as the API gave it, '' when unknown. */
function figValue(v) {
	return v === null || v === undefined ? '' : String(v);
}
/* A count: '-' when unknown, never a made-up 0. */
function fmtCount(v) {
	return v === null || v === undefined ? '-' : String(v);
}
/* The OEE view's refreshes: the figures, Pareto and changeovers of the open shift every 30 s;
 * the metrics (response, traceability depth of the last hour, maintainability of the shift)
 * every 5 minutes: the line's traceability depth scores every unit, about 2 ms a cell. */
const OEE_TICK_MS = 30000;
const OEE_SLOW_MS = 300000;
/* Redrawn on live events: what the figures move; the rest only when fetched again. */
const OEE_LIVE_PANELS = ['oee', 'pareto', 'changeovers'];
/* The figures a live OeeFigures event carries, merged into a station or line object. */
const LIVE_FIGURES = [
	'availability',
	'performance',
	'quality',
	'oee',
	'performance_flagged',
	'flag_reason',
	'produced',
	'good',
	'late_rejects',
	'micro_stop_count',
	'micro_stop_s',
	'current_state',
	'current_reason',
	'run_s',
	'planned_busy_s',
];

class OeeView {
	constructor(root, params) {
		this.root = root;
		this.sl = siteLine(params);
		this.shift = params.get('shift') || ''; /* '' = the shift open now */
		this.data = {}; /* oee, pareto, changeovers, shifts, response, trace, maint */
		this.errors = {};
		this.slowAt = 0; /* when the metrics were last asked (0: never) */
		this.tickOnly = false; /* the next backfill is the 30 s tick's */
		this.render = throttle(() => this.draw(OEE_LIVE_PANELS));
		/* A state change moves the figures: asked again at once (at most every 300 ms) so
		 * the page follows within a second even before ct-oee's figures arrive. */
		this.refetch = throttle(
			() => this.loadFigures().catch((e) => console.error('oee:', e.message)),
			300,
		);
		this.feed = new Feed(
			{ kinds: 'oee,state', ...this.sl },
			() => this.backfill(),
			(t, d) => this.apply(t, d),
		);
		/* The open shift's figures and the Pareto move with the clock; through the feed, so
		 * live events that arrive during the fetch are applied after it. */
		this.tick = setInterval(() => {
			this.tickOnly = true;
			this.feed.load();
		}, OEE_TICK_MS);
		/* Built once: a redraw replaces the panels' contents, never what the user types in. */
		this.panels = {};
		this.body = el(
			'div',
			{ class: 'grid spaced' },
			this.panel(
				'oee',
				`OEE of ${this.sl.site} / ${this.sl.line}`,
				() => this.figures(),
				true,
			),
			this.panel('pareto', 'Losses (Pareto)', () => this.pareto()),
			this.panel('changeovers', 'Changeovers', () => this.changeovers()),
			this.panel('response', 'Closed-loop response time', () => this.response(), true),
			this.panel('trace', 'Traceability depth', () => this.trace(), false, this.traceBar()),
			this.panel(
				'maint',
				'Maintainability (time to acknowledge, to restore)',
				() => this.maint(),
				true,
			),
		);
		root.append(this.bar(), this.body);
		this.drawShifts();
		this.draw();
	}
	close() {
		this.closed = true;
		this.feed.close();
		clearInterval(this.tick);
		this.render.cancel();
		this.refetch.cancel();
	}

	window() {
		return this.shift ? { ...this.sl, shift: this.shift } : { ...this.sl };
	}

	async get(key, path) {
		try {
			this.data[key] = await api(path);
			delete this.errors[key];
		} catch (e) {
			this.errors[key] = e;
			if (e.status === 401) throw e;
		}
	}

	/* The figures, with how far each target was counted (until_ms) and since when the
	 * stations' states hold (kept from the live events shown): older live events are
	 * skipped. */
	async getFigures() {
		const before = this.data.oee;
		await this.get('oee', 'oee?' + qs(this.window()));
		const o = this.data.oee;
		if (!o || o === before) return;
		o.until_ms = o.window_to_ms;
		for (const s of o.stations || []) {
			s.until_ms =
				s.to_us !== undefined && s.to_us !== null
					? Math.floor(s.to_us / 1000)
					: o.window_to_ms;
			const old = before && (before.stations || []).find((x) => x.station === s.station);
			if (old && old.state_since_ms !== undefined) s.state_since_ms = old.state_since_ms;
		}
	}

	async loadFigures() {
		await this.getFigures();
		this.render();
	}

	/* Maintainability over the window the figures show (the shift), else the last 8 hours. */
	maintRange() {
		const o = this.data.oee;
		if (o && o.window_from_ms && o.window_to_ms)
			return { ...this.sl, from: o.window_from_ms, to: o.window_to_ms };
		return { ...this.sl, from: Date.now() - 8 * 3600000 };
	}

	/* At first and on reconnection everything; on the 30 s tick the figures, the Pareto
	 * and the changeovers, and the metrics when they are 5 minutes old. */
	async backfill() {
		const tick = this.tickOnly;
		this.tickOnly = false;
		const slow = !tick || Date.now() - this.slowAt >= OEE_SLOW_MS;
		const w = qs(this.window());
		const gets = [
			this.getFigures(),
			this.get('pareto', 'oee/pareto?' + w),
			this.get('changeovers', 'oee/changeovers?' + w),
		];
		if (slow) {
			this.slowAt = Date.now();
			gets.push(
				this.get('shifts', 'oee/shifts?' + qs(this.sl)),
				this.get('response', 'metrics/response?' + qs({ ...this.sl, limit: 20 })),
				/* the API's default: the last hour */
				this.get('trace', 'metrics/trace-depth?' + qs(this.sl)),
				gets[0].then(() =>
					this.get('maint', 'metrics/maintainability?' + qs(this.maintRange())),
				),
			);
		}
		await Promise.all(gets);
		if (slow) this.drawShifts();
		this.draw(slow ? null : OEE_LIVE_PANELS);
	}

	/* Live: ct-oee's figures of the open shift replace the station's (or the line's, station
	 * ""); a state change shows at once and asks for the figures again. History events (a
	 * closed shift recomputed) and other shifts' figures only matter to that shift's view. */
	apply(type, d) {
		const o = this.data.oee;
		if (!o) return;
		if (type === 'oee') {
			if (this.shift ? d.shift_id !== this.shift : d.history) return;
			if (!this.shift && o.window_shift_id && d.shift_id !== o.window_shift_id) return;
			let target = o;
			if (d.station !== '') {
				o.stations = o.stations || [];
				target = o.stations.find((s) => s.station === d.station);
				if (!target) {
					target = { site: d.site, line: d.line, station: d.station };
					o.stations.push(target);
					o.stations.sort((a, b) => (a.station < b.station ? -1 : 1));
				}
			}
			/* Counted less far than what is shown (a retained message, or one a fetch
			 * overtook): older figures, skipped. */
			if (target.until_ms !== undefined && d.until_ms < target.until_ms) return;
			for (const k of LIVE_FIGURES) if (k in d) target[k] = d[k];
			target.until_ms = d.until_ms;
			target.live_ms = Date.now();
			/* The line's figures say how far the open shift has been counted. */
			if (d.station === '' && d.until_ms > (o.window_to_ms || 0)) o.window_to_ms = d.until_ms;
			this.render();
		} else if (type === 'state') {
			const s = (o.stations || []).find((x) => x.station === d.station);
			/* A state older than the one shown (redelivered, or overtaken) changes nothing. */
			if (s && s.state_since_ms !== undefined && d.since_ms < s.state_since_ms) return;
			if (s) {
				s.current_state = d.state;
				s.current_reason = d.reason_code;
				s.state_since_ms = d.since_ms;
			}
			this.render();
			if (!this.shift) this.refetch();
		}
	}

	bar() {
		const shifts = el('select', {
			'data-testid': 'shift-select',
			onchange: (e) => setHash('oee', { ...this.sl, shift: e.target.value }),
		});
		this.shiftSelect = shifts;
		return el(
			'div',
			{ class: 'toolbar' },
			...siteLineInputs('oee', () => this.sl),
			el('label', {}, 'Shift'),
			shifts,
		);
	}

	/* Rebuilt only when the calendar's answer changed: an open <select> stays open. */
	drawShifts() {
		const items = (this.data.shifts && this.data.shifts.items) || [];
		const key = JSON.stringify([this.shift, items.map((s) => [s.shift_id, s.open])]);
		if (key === this.shiftsKey) return;
		this.shiftsKey = key;
		const opts = [el('option', { value: '', selected: this.shift === '' }, 'open shift (now)')];
		for (const s of items)
			opts.push(
				el(
					'option',
					{ value: s.shift_id, selected: s.shift_id === this.shift },
					`${s.shift_id}${s.open ? ' (open)' : ''}`,
				),
			);
		if (this.shift && !items.some((s) => s.shift_id === this.shift))
			opts.push(el('option', { value: this.shift, selected: true }, this.shift));
		this.shiftSelect.replaceChildren(...opts);
	}

	/* A panel's frame, built once (extra: what stays between title and content); draw
	 * fills its content. */
	panel(key, title, body, wide, extra) {
		const content = el('div', {});
		this.panels[key] = { content, body };
		return el(
			'div',
			{ class: wide ? 'panel wide' : 'panel', 'data-testid': 'panel-' + key },
			el('h2', {}, title),
			extra || '',
			content,
		);
	}

	gauge(id, label, v, flagged) {
		return el(
			'div',
			{ class: 'count gauge' },
			el(
				'b',
				{
					'data-testid': 'oee-line-' + id,
					'data-value': flagged ? '' : figValue(v),
					'data-flagged': flagged ? 'true' : null,
				},
				flagged ? 'config error' : fmtPct(v),
			),
			el('meter', {
				min: 0,
				max: 1,
				low: 0.6,
				high: 0.85,
				optimum: 1,
				value: flagged || v === null || v === undefined ? 0 : Math.min(1, Number(v)),
			}),
			el('span', {}, label),
		);
	}

	figures() {
		const o = this.data.oee;
		if (!o) return el('p', { class: 'muted' }, 'Loading...');
		const flagged = !!o.performance_flagged;
		const head = el(
			'p',
			{
				class: 'muted',
				'data-testid': 'oee-window',
				'data-shift': o.window_shift_id || '',
				'data-from-ms': o.window_from_ms,
				'data-to-ms': o.window_to_ms,
			},
			`${o.window_shift_id ? 'shift ' + o.window_shift_id : 'range'}: ` +
				`${fmtTime(o.window_from_ms)} .. ${fmtTime(o.window_to_ms)}` +
				(o.reference_station ? ` · line figures of ${o.reference_station}` : ''),
		);
		const line = el(
			'div',
			{ class: 'counts', 'data-testid': 'oee-line', 'data-id': this.sl.line },
			this.gauge('oee', 'OEE', o.oee, flagged),
			this.gauge('a', 'availability', o.availability, false),
			this.gauge('p', 'performance', o.performance, flagged),
			this.gauge('q', 'quality', o.quality, false),
		);
		const th = (t) => el('th', {}, t);
		const cell = (id, text, value, extra) =>
			el('td', { 'data-testid': id, 'data-value': value, ...(extra || {}) }, text);
		const rows = (o.stations || []).map((s) => {
			const f = !!s.performance_flagged;
			const cfg = { 'data-flagged': 'true', title: s.flag_reason || '' };
			const a = s.availability;
			const oee = s.oee;
			return el(
				'tr',
				{
					'data-testid': 'oee-station',
					'data-id': s.station,
					'data-state': stateName(s.current_state),
				},
				el('td', { class: 'id' }, s.station),
				cell('oee-station-state', stateName(s.current_state), stateName(s.current_state)),
				cell('oee-a', fmtPct(a), figValue(a)),
				f
					? cell('oee-p', 'config error', '', cfg)
					: cell('oee-p', fmtPct(s.performance), figValue(s.performance)),
				cell('oee-q', fmtPct(s.quality), figValue(s.quality)),
				f
					? cell('oee-oee', 'config error', '', cfg)
					: cell('oee-oee', fmtPct(oee), figValue(oee)),
				cell('oee-produced', fmtCount(s.produced), figValue(s.produced)),
				cell('oee-good', fmtCount(s.good), figValue(s.good)),
				cell('oee-late', fmtCount(s.late_rejects), figValue(s.late_rejects)),
				cell(
					'oee-micro',
					`${fmtCount(s.micro_stop_count)} (${fmtSecs(s.micro_stop_s)})`,
					figValue(s.micro_stop_count),
				),
				el('td', {}, s.current_reason || ''),
			);
		});
		const notes = (o.stations || [])
			.filter((s) => s.performance_flagged)
			.map((s) =>
				el(
					'p',
					{ class: 'error', 'data-testid': 'oee-flag', 'data-id': s.station },
					`${s.station}: configuration error: ${s.flag_reason || 'performance over 100 %'}`,
				),
			);
		return el(
			'div',
			{},
			head,
			line,
			el(
				'table',
				{ 'data-testid': 'oee-stations' },
				el(
					'tr',
					{},
					['Station', 'State', 'A', 'P', 'Q', 'OEE', 'Produced', 'Good'].map(th),
					th('Late rejects'),
					th('Micro-stops'),
					th('Reason'),
				),
				rows,
			),
			notes,
		);
	}

	/* Bars as plain elements, widths through the CSSOM (no style attribute: CSP-clean). */
	pareto() {
		const items = (this.data.pareto && this.data.pareto.items) || [];
		if (items.length === 0) return el('p', { class: 'muted' }, 'No losses in the window.');
		const max = Math.max(...items.map((p) => Number(p.seconds) || 0), 1);
		return el(
			'div',
			{ class: 'pareto', 'data-testid': 'oee-pareto' },
			items.map((p) => {
				const fill = el('span', { class: 'fill cat-' + p.category });
				fill.style.width = `${Math.max(0.5, (100 * (Number(p.seconds) || 0)) / max)}%`;
				return el(
					'div',
					{
						class: 'pareto-row',
						'data-testid': 'pareto-bar',
						'data-category': p.category,
						'data-reason': p.reason_code || '',
						'data-seconds': figValue(p.seconds),
					},
					el('span', { class: 'label' }, `${p.reason_code || p.category}`),
					el('span', { class: 'bar' }, fill),
					el('span', { class: 'value' }, `${fmtSecs(p.seconds)} · ${fmtCount(p.count)}×`),
				);
			}),
		);
	}

	changeovers() {
		const c = this.data.changeovers || {};
		const items = c.items || [];
		if (items.length === 0) return el('p', { class: 'muted' }, 'No changeovers in the window.');
		return el(
			'div',
			{},
			el(
				'table',
				{ 'data-testid': 'changeovers' },
				el(
					'tr',
					{},
					['Station', 'From', 'To', 'Started', 'Duration'].map((t) => el('th', {}, t)),
				),
				items.map((x) =>
					el(
						'tr',
						{ 'data-testid': 'changeover-row', 'data-station': x.station },
						el('td', { class: 'id' }, x.station),
						el('td', {}, x.from_recipe || '-'),
						el('td', {}, x.to_recipe || '-'),
						el('td', { class: 'time' }, fmtTime(x.started_ms)),
						el('td', { 'data-value': figValue(x.duration_s) }, fmtSecs(x.duration_s)),
					),
				),
			),
			el(
				'table',
				{ 'data-testid': 'changeover-pairs' },
				el('tr', {}, ['From', 'To', 'n', 'Mean', 'Longest'].map((t) => el('th', {}, t))),
				(c.pairs || []).map((p) =>
					el(
						'tr',
						{ 'data-testid': 'changeover-pair' },
						el('td', {}, p.from_recipe || '-'),
						el('td', {}, p.to_recipe || '-'),
						el('td', {}, p.n),
						el('td', {}, fmtSecs(p.mean_s)),
						el('td', {}, fmtSecs(p.max_s)),
					),
				),
			),
		);
	}

	response() {
		const r = this.data.response || {};
		const sum = r.summary || [];
		if (sum.length === 0)
			return el('p', { class: 'muted' }, 'No automatic actions in the last 24 hours.');
		return el(
			'table',
			{ 'data-testid': 'response' },
			el(
				'tr',
				{},
				[
					'Station',
					'Reaction plan',
					'n',
					'acked',
					'rejected',
					'expired',
					'signal p50',
					'signal p90',
					'ack p50',
					'ack p90',
					'total p50',
					'total p90',
				].map((t) => el('th', {}, t)),
			),
			sum.map((s) =>
				el(
					'tr',
					{
						'data-testid': 'response-row',
						'data-station': s.station,
						'data-plan': s.reaction_plan || '',
					},
					el('td', { class: 'id' }, s.station),
					el('td', {}, s.reaction_plan || '-'),
					el('td', {}, fmtCount(s.n)),
					el('td', { 'data-testid': 'response-acked' }, fmtCount(s.acked)),
					el('td', { 'data-testid': 'response-rejected' }, fmtCount(s.rejected)),
					el('td', { 'data-testid': 'response-expired' }, fmtCount(s.expired)),
					el('td', {}, fmtMs(s.signal_p50_ms)),
					el('td', {}, fmtMs(s.signal_p90_ms)),
					el('td', {}, fmtMs(s.ack_p50_ms)),
					el('td', {}, fmtMs(s.ack_p90_ms)),
					el('td', { 'data-testid': 'response-total-p50' }, fmtMs(s.total_p50_ms)),
					el('td', {}, fmtMs(s.total_p90_ms)),
				),
			),
		);
	}

	/* The unit lookup: built once, so what is typed survives every redraw. */
	traceBar() {
		const input = el('input', {
			'data-testid': 'trace-unit-input',
			placeholder: 'unit ID',
			size: 20,
		});
		const go = () => {
			if (input.value.trim())
				location.hash = '#/unit/' + encodeURIComponent(input.value.trim());
		};
		input.addEventListener('keydown', (e) => {
			if (e.key === 'Enter') go();
		});
		return el(
			'div',
			{ class: 'toolbar' },
			input,
			el('button', { 'data-testid': 'trace-unit-go', onclick: go }, 'Open traveler'),
		);
	}

	trace() {
		const t = this.data.trace || {};
		return el(
			'div',
			{},
			el(
				'p',
				{},
				'Cells made in the last hour complete: ',
				el(
					'b',
					{ 'data-testid': 'trace-share', 'data-value': figValue(t.share) },
					fmtPct(t.share),
				),
				` (${fmtCount(t.complete)} of ${fmtCount(t.units)})`,
			),
			el(
				'table',
				{ 'data-testid': 'trace-worst' },
				el('tr', {}, el('th', {}, 'Unit'), el('th', {}, 'Score'), el('th', {}, 'Missing')),
				(t.worst || []).map((w) =>
					el(
						'tr',
						{ 'data-testid': 'trace-worst-row', 'data-id': w.unit_id },
						el(
							'td',
							{ class: 'id' },
							el('a', { href: '#/unit/' + encodeURIComponent(w.unit_id) }, w.unit_id),
						),
						el('td', { 'data-value': figValue(w.score) }, fmtNum(w.score, 3)),
						el('td', {}, (w.missing || []).join('; ')),
					),
				),
			),
		);
	}

	maint() {
		const m = this.data.maint || {};
		const th = (...t) => el('tr', {}, t.map((x) => el('th', {}, x)));
		return el(
			'div',
			{},
			el(
				'table',
				{ 'data-testid': 'maint-alerts' },
				th('Station', 'Asset', 'Code', 'n', 'acked', 'ack p50', 'ack p90', 'restore p50', 'restore p90'),
				(m.alerts || []).map((a) =>
					el(
						'tr',
						{ 'data-testid': 'maint-alert-row', 'data-code': a.code },
						el('td', {}, a.station || '-'),
						el('td', {}, a.asset || '-'),
						el('td', {}, a.code),
						el('td', {}, fmtCount(a.n)),
						el('td', {}, fmtCount(a.acked)),
						el('td', {}, fmtSecs(a.ack_p50_s)),
						el('td', {}, fmtSecs(a.ack_p90_s)),
						el('td', {}, fmtSecs(a.restore_p50_s)),
						el('td', {}, fmtSecs(a.restore_p90_s)),
					),
				),
			),
			el(
				'table',
				{ 'data-testid': 'maint-stops' },
				th('Station', 'Reason', 'Asset', 'n', 'restore p50', 'restore p90', 'down'),
				(m.stops || []).map((s) =>
					el(
						'tr',
						{ 'data-testid': 'maint-stop-row', 'data-station': s.station },
						el('td', {}, s.station),
						el('td', {}, s.reason_code || '-'),
						el('td', {}, s.asset || '-'),
						el('td', {}, fmtCount(s.n)),
						el('td', {}, fmtSecs(s.restore_p50_s)),
						el('td', {}, fmtSecs(s.restore_p90_s)),
						el('td', {}, fmtSecs(s.down_s)),
					),
				),
			),
		);
	}

	/* Fills the panels' contents (keys; all when null). */
	draw(keys) {
		for (const k of keys || Object.keys(this.panels)) {
			const p = this.panels[k];
			p.content.replaceChildren(this.errors[k] ? errorBox(this.errors[k]) : p.body());
		}
	}
}

/* ---- start ---- */

/* A token in the URL fragment (#token=...) is stored and then removed from the address bar. */
(function takeFragmentToken() {
	const m = /^#token=([^&]*)/.exec(location.hash);
	if (m) {
		let t = m[1];
		try {
			t = decodeURIComponent(t);
		} catch (e) {
			/* not escaped: taken as it is */
		}
		localStorage.setItem(TOKEN_KEY, t);
		/* Replaces the history entry too, so Back does not bring the token back. */
		history.replaceState(null, '', location.pathname + location.search + '#/overview');
	}
})();
document.getElementById('signout').addEventListener('click', () => signOut(''));
window.addEventListener('hashchange', () => {
	if (/^#token=/.test(location.hash)) {
		location.reload();
		return;
	}
	route();
});
start();
