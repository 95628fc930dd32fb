// What a new user meets first: a config PUT with curl's default content type, the origin's front
// page, the start banner's URLs, a published file keeping the local media origin, and two local
// stacks side by side from one checkout.
//
// Env: WHALE_ORIGIN (the whale-origin binary).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EDGE_LAYOUT, REPO, addPrincipal, banner, request, startOrigin, startStack, stop, withLocalMedia,
} from '../../scripts/stack.mjs';
import { simulateTraffic } from '../../scripts/traffic.mjs';

const work = mkdtempSync(join(tmpdir(), 'whale-newcomer-'));
const db = join(work, 'origin.db');
let origin;
let token;

before(async () => {
  token = addPrincipal('vendor', 'flora-distro', db);
  origin = await startOrigin({ db, args: ['--reweight-every', '0'] });
});

after(async () => {
  if (origin) await stop(origin.child);
  rmSync(work, { recursive: true, force: true });
});

test('a config PUT with curl\'s default content type (form-urlencoded) is taken as the JSON it is', async () => {
  const body = readFileSync(join(REPO, 'fixtures', 'vendors', 'flora-distro', 'config.json'));
  assert.ok(body.length > 8 * 1024, 'larger than the 8 KB that used to be refused');
  const res = await fetch(`${origin.base}/v1/vendors/flora-distro/config`, {
    method: 'PUT', body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
  });
  assert.equal(res.status, 200, await res.text());
});

test('the origin\'s front page sends the browser to the dashboard', async () => {
  const res = await fetch(`${origin.base}/`, { redirect: 'manual' });
  assert.equal(res.status, 302);
  assert.equal(res.headers.get('location'), '/admin');
});

test('the start banner names the dashboard, the storefronts, the demo pages and a working curl command', () => {
  const text = banner({
    origin: { base: 'http://127.0.0.1:8788' }, vendors: ['flora-distro'], edges: [{ name: 'edge-a', base: 'http://127.0.0.1:8787' }],
    tokens: { vendors: { 'flora-distro': 'whv_x' }, operator: 'who_y' },
  });
  for (const url of ['http://127.0.0.1:8788/admin', 'http://127.0.0.1:8787/v1/storefront/flora-distro/home',
    'http://127.0.0.1:8787/demo/flora-distro/home', 'http://127.0.0.1:8787/demo/flora-distro/home?candidates=3',
    'http://127.0.0.1:8788/admin/operator', 'operator token (local only): who_y',
    'curl -X PUT -H "Authorization: Bearer whv_x" --data-binary @fixtures/vendors/flora-distro/config.json',
    'node scripts/stack.mjs traffic flora-distro 1000']) {
    assert.ok(text.includes(url), `${url} in the banner`);
  }
});

test('a config published to the local stack keeps the local media origin in its allowedSources', () => {
  const media = 'http://127.0.0.1:8790';
  const text = readFileSync(join(REPO, 'fixtures', 'vendors', 'flora-distro', 'config.json'), 'utf8');
  const published = JSON.parse(withLocalMedia(text, media));
  assert.ok(published.media.allowedSources.includes(`${media}/`));
  assert.deepEqual(published.media.allowedSources.slice(0, -1), JSON.parse(text).media?.allowedSources ?? []);
  assert.equal(withLocalMedia(JSON.stringify(published), media), JSON.stringify(published), 'added once');
  assert.equal(withLocalMedia('not json', media), 'not json', 'the origin answers what is wrong with it');
});

test('two local stacks run side by side from one checkout, each with its own state and edge configs', { timeout: 120_000 }, async () => {
  const dirs = [mkdtempSync(join(work, 'stack-a-')), mkdtempSync(join(work, 'stack-b-'))];
  const stacks = await Promise.all(dirs.map((dir) => startStack({ dir, media: 0 })));
  try {
    for (const [i, stack] of stacks.entries()) {
      for (const layout of EDGE_LAYOUT) assert.ok(existsSync(join(dirs[i], 'edge', layout.name, 'workerd.capnp')), `${dirs[i]}/edge/${layout.name}`);
      for (const edge of stack.edges) assert.equal((await request(edge.base, 'GET', '/healthz')).status, 200);
      assert.equal((await request(stack.origin.base, 'GET', '/healthz')).status, 200);
    }
    assert.notEqual(stacks[0].origin.base, stacks[1].origin.base);
    assert.notEqual(stacks[0].media.base, stacks[1].media.base);
  } finally {
    await Promise.all(stacks.map((stack) => stack.stop()));
  }
});

test('simulated traffic through a local stack moves the home hero bandit\'s weights (the documented traffic command); the banner\'s image URLs answer', { timeout: 180_000 }, async () => {
  const stack = await startStack({ dir: mkdtempSync(join(work, 'traffic-')), media: 0 });
  try {
    const slug = 'flora-distro';
    const result = await simulateTraffic({
      edges: stack.edges.map((e) => e.base), origin: stack.origin.base, slug, token: stack.tokens.vendors[slug], visitors: 600,
    });
    const shown = Object.values(result.shown['home-hero']).reduce((a, b) => a + b, 0);
    assert.equal(shown, 600, 'every visitor was bucketed on its first request');
    const hero = result.reweight.experiments.find((e) => e.experiment === 'home-hero');
    assert.ok(hero, JSON.stringify(result.reweight));
    assert.equal(hero.status, 'reweighted', JSON.stringify(hero));
    assert.equal(hero.weights.length, 3);
    // Variation 2 converts best by far (the traffic's made-up rates): the bandit moves weight to it.
    // The visitors' ids and decisions are seeded, so this run is the same every time.
    assert.ok(hero.weights[2] > 0.5 && hero.weights[0] < 0.33 && hero.weights[1] < 0.33, `weights ${hero.weights}`);
    // The image URLs the banner prints answer, AVIF included (the fixture vendors list it).
    const images = banner(stack).split('\n').map((line) => line.trim()).filter((line) => line.includes('/img/'));
    assert.ok(images.length >= 4, images.join('\n'));
    for (const url of images) {
      const res = await fetch(url, { headers: { accept: 'image/avif,image/webp,*/*' } });
      assert.equal(res.status, 200, `${url}: ${await res.clone().text()}`);
      const type = res.headers.get('content-type');
      if (url.includes('format=avif')) assert.equal(type, 'image/avif', url);
      else if (url.includes('format=json')) assert.equal(type, 'application/json', url);
      else assert.match(type, /^image\//, url);
      await res.arrayBuffer();
    }
  } finally {
    await stack.stop();
  }
});
