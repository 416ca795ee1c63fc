// Page load to first chart, for bench_api: Debian's Chromium (playwright-core from the build
// tree's tests/browser modules) opens the dashboard at CT_BENCH_URL + CT_BENCH_ROUTE with the
// token already stored (as after a first sign-in), RUNS times, each in a fresh context (empty cache, like a person
// opening it for the first time on a control-room PC). The time is the page's own
// performance.now() (milliseconds since navigation start) at the first animation frame in which
// the run chart has points drawn. Prints one JSON object. Not a test.
import { createRequire } from 'node:module';

const env = (name) => {
	const v = process.env[name];
	if (!v) throw new Error(`${name} is not set`);
	return v;
};
const require = createRequire(env('CT_BENCH_MODULES') + '/');
const { chromium } = require('playwright-core');
const runs = Number(process.env.CT_BENCH_RUNS || 5);
const url = `${env('CT_BENCH_URL')}/${env('CT_BENCH_ROUTE')}`;
const token = env('CT_BENCH_TOKEN');

const browser = await chromium.launch({
	executablePath: process.env.CT_CHROMIUM || '/usr/bin/chromium',
	args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
	       '--disable-component-update', '--no-first-run'],
});
const times = [];
try {
	for (let i = 0; i < runs; i++) {
		const context = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
		// The token as a person pastes it: set before the page's script runs.
		await context.addInitScript((t) => localStorage.setItem('cellthread.token', t), token);
		const page = await context.newPage();
		await page.goto(url);
		const handle = await page.waitForFunction(() => {
			const el = document.querySelector('[data-testid="runchart"]');
			return el && Number(el.dataset.points) > 0 ? performance.now() : false;
		}, null, { polling: 'raf', timeout: 60000 });
		times.push(await handle.jsonValue());
		await context.close();
	}
} finally {
	await browser.close();
}
times.sort((a, b) => a - b);
const round = (v) => Math.round(v * 10) / 10;
console.log(JSON.stringify({
	runs,
	first_chart_ms: times.map(round),
	p50_ms: round(times[Math.floor((times.length - 1) / 2)]),
	max_ms: round(times[times.length - 1]),
}));
