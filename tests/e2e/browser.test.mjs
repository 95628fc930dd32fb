// The glue in a real browser (headless Chromium): the emscripten core loaded from a URL, and
// GrowthBook's conformance cases evaluated in the page, which reports its counts back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(new URL('../..', import.meta.url).pathname);
const wasmPath = join(process.env.WHALE_EMSCRIPTEN_DIR ?? join(root, 'build/emscripten'), 'wasm/core.wasm');
const chromium = process.env.WHALE_CHROMIUM ?? '/usr/bin/chromium';

const page = `<!doctype html><meta charset="utf-8"><title>whale glue</title>
<script type="module">
import { createEngine } from '/js-glue/index.js';
const report = (body) => fetch('/report', { method: 'POST', body: JSON.stringify(body) });
try {
  const engine = await createEngine({ module: new URL('/core.wasm', location.href) });
  const cases = await (await fetch('/cases.json')).json();
  const same = (a, b) => JSON.stringify(a, Object.keys(a ?? {}).sort()) === JSON.stringify(b, Object.keys(b ?? {}).sort());
  const counts = {};
  const count = (section, ok) => { counts[section] ??= [0, 0]; counts[section][1]++; if (ok) counts[section][0]++; };
  for (const [seed, value, version, want] of cases.hash) count('hash', engine.hash(seed, value, version) === want);
  for (const [, cond, attrs, want, groups] of cases.evalCondition) count('evalCondition', engine.evalCondition(attrs, cond, groups ?? {}) === want);
  for (const [, ctx, exp, value, inExp, hashUsed] of cases.run) {
    const r = engine.run(exp, ctx);
    count('run', JSON.stringify(r.value) === JSON.stringify(value) && r.inExperiment === inExp && r.hashUsed === hashUsed);
  }
  for (const [, ctx, key, want] of cases.feature) {
    const r = engine.evalFeature(key, ctx);
    count('feature', r.value !== undefined && JSON.stringify(r.value) === JSON.stringify(want.value) && r.source === want.source && same(r.experimentResult, want.experimentResult));
  }
  let threw = null;
  try { engine.evalCondition({}, JSON.parse('{"a":' + '{"$not":'.repeat(70) + '{}' + '}'.repeat(71))); } catch (e) { threw = e.code; }
  await report({ counts, threw, userAgent: navigator.userAgent });
} catch (e) {
  await report({ error: String(e && e.stack || e) });
}
</script>`;

test('the glue runs unchanged in headless Chromium', { timeout: 120_000 }, async (t) => {
  assert.ok(existsSync(chromium), `Chromium missing at ${chromium}: scripts/setup.sh installs it`);
  assert.ok(existsSync(wasmPath), `core.wasm missing at ${wasmPath}: run scripts/build.sh`);
  const files = {
    '/': ['text/html', page],
    '/js-glue/index.js': ['text/javascript', readFileSync(join(root, 'js-glue/index.js'))],
    '/core.wasm': ['application/wasm', readFileSync(wasmPath)],
    '/cases.json': ['application/json', readFileSync(join(root, 'fixtures/growthbook/cases.json'))],
  };
  let resolveReport;
  const reported = new Promise((r) => { resolveReport = r; });
  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/report') {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => { res.end('ok'); resolveReport(JSON.parse(body)); });
      return;
    }
    const file = files[req.url];
    if (!file) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'Content-Type': file[0] }).end(file[1]);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}/`;
  const profile = mkdtempSync(join(tmpdir(), 'whale-chromium-'));
  const browser = spawn(chromium, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${profile}`, '--remote-debugging-port=0', url,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  browser.stderr.on('data', (c) => { stderr += c; });
  const exited = new Promise((r) => browser.once('exit', r));
  t.after(async () => {
    browser.kill('SIGKILL');
    await exited;
    server.close();
    // Chromium's helper processes may still be writing the profile: removing it is best effort.
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    } catch {}
  });
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no report from Chromium in 90 s:\n${stderr.slice(-2000)}`)), 90_000);
  });
  const result = await Promise.race([reported, timeout]).finally(() => clearTimeout(timer));
  assert.equal(result.error, undefined, result.error);
  for (const [section, [passed, total]] of Object.entries(result.counts)) {
    console.log(`growthbook conformance (chromium): ${section} ${passed}/${total}`);
    assert.equal(passed, total, section);
  }
  assert.deepEqual(Object.keys(result.counts).sort(), ['evalCondition', 'feature', 'hash', 'run']);
  assert.equal(result.threw, 'too_deep');
});
