// The README's browser snippet ("### In the browser"), run as it is written in a fresh Chromium
// profile against a local stack (origin + edges, as `scripts/start.sh` starts it): the first
// visit is bucketed, and the exposure and the conversion end up stored at the origin.
//
// Env: WHALE_ORIGIN (the whale-origin binary), WHALE_CHROMIUM (default /usr/bin/chromium).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ORIGIN_BIN, REPO, request, sleep, startStack } from '../../scripts/stack.mjs';

const CHROMIUM = process.env.WHALE_CHROMIUM ?? '/usr/bin/chromium';
const VENDOR = 'flora-distro';
const work = mkdtempSync(join(tmpdir(), 'whale-readme-'));
after(() => rmSync(work, { recursive: true, force: true }));

// The first ```js block after the heading.
function readmeBlock(heading) {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const at = readme.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `README has "${heading}"`);
  const block = /```js\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(block, `a js block under "${heading}"`);
  return block[1];
}

test('the README\'s browser snippet, run verbatim in a fresh profile, gets its exposure and conversion stored at the origin', { timeout: 180_000 }, async (t) => {
  assert.ok(existsSync(ORIGIN_BIN), `whale-origin missing at ${ORIGIN_BIN}: run scripts/build.sh`);
  assert.ok(existsSync(CHROMIUM), `Chromium missing at ${CHROMIUM}: scripts/setup.sh installs it`);
  const snippet = readmeBlock('### In the browser');
  assert.match(snippet, /from '@whaletools\/edge\/browser'/);

  const stack = await startStack({ dir: join(work, 'stack') });
  t.after(() => stack.stop());
  const [edge] = stack.edges;
  const token = stack.tokens.vendors[VENDOR];
  const arms = async () => {
    const res = await request(stack.origin.base, 'GET', `/v1/vendors/${VENDOR}/bandits`, { token });
    assert.equal(res.status, 200, res.text);
    return res.json.arms.filter((a) => a.experiment === 'home-hero');
  };
  const before = await arms();
  assert.equal(before.reduce((n, a) => n + a.units, 0), 0, 'a fresh origin has no exposure yet');

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-quic'] });
  t.after(() => browser.close());
  const context = await browser.newContext(); // a fresh profile: no cookie of ours
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('console', (m) => {
    // The browser's own request for /favicon.ico (the edge has none) is not the snippet's.
    if ((m.type() === 'warning' || m.type() === 'error') && !m.location().url.endsWith('/favicon.ico')) {
      problems.push(`${m.text()} ${m.location().url}`);
    }
  });
  // A page of the storefront's origin (the edge) that maps the package name to the edge's copy of
  // the glue, as a bundler or an import map on a real storefront would.
  await page.goto(`${edge.base}/healthz`);
  await page.setContent(`<!doctype html>
<script type="importmap">{"imports": {"@whaletools/edge/browser": "/js-glue/browser.js"}}</script>
<script type="module">
${snippet}
window.snippetLayout = layout;
</script>`);
  await page.waitForFunction(() => window.snippetLayout !== undefined, null, { timeout: 30_000 });
  const layout = await page.evaluate(() => window.snippetLayout);
  const hero = layout.assignments.find((a) => a.experiment === 'home-hero');
  assert.ok(hero?.inExperiment, `the first visit is in the hero experiment: ${JSON.stringify(layout.assignments)}`);
  const cookies = Object.fromEntries((await context.cookies(edge.base)).map((c) => [c.name, c]));
  assert.ok(cookies.whale_id && cookies.whale_rc, 'the edge gave the visitor an id and a receipt');
  await page.goto('about:blank'); // pagehide: the pending events go as a beacon

  let stored = [];
  const deadline = Date.now() + 30_000;
  for (;;) {
    stored = await arms();
    const arm = stored.find((a) => String(a.variation) === String(hero.variation));
    if ((arm?.units ?? 0) >= 1 && (arm?.conversions ?? 0) >= 1) break;
    if (Date.now() > deadline) assert.fail(`not stored at the origin: ${JSON.stringify(stored)}`);
    await sleep(200);
  }
  assert.equal(stored.reduce((n, a) => n + a.units, 0), 1, 'one visitor, one unit (the browser\'s exposure is a duplicate)');
  assert.equal(stored.reduce((n, a) => n + a.conversions, 0), 1);
  assert.deepEqual(problems, [], 'no error and no refused event');
  const stats = (await request(edge.base, 'GET', '/v1/events/stats')).json.events;
  assert.deepEqual(stats.refused, {});
});
