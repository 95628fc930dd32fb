// What a new user meets first (issue 17's newcomer items): a config PUT with curl's default
// content type, the origin's front page, and the start banner's URLs.
//
// Env: WHALE_ORIGIN (the whale-origin binary).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, addPrincipal, banner, startOrigin, stop } from '../../scripts/stack.mjs';

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
    tokens: { vendors: { 'flora-distro': 'whv_x' } },
  });
  for (const url of ['http://127.0.0.1:8788/admin', 'http://127.0.0.1:8787/v1/storefront/flora-distro/home',
    'http://127.0.0.1:8787/demo/flora-distro/home', 'curl -X PUT -H "Authorization: Bearer whv_x" --data-binary @fixtures/vendors/flora-distro/config.json']) {
    assert.ok(text.includes(url), `${url} in the banner`);
  }
});
