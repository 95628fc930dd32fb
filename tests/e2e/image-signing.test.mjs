// End to end: signed image URLs in a real workerd (docs/images.md, "Signed URLs"). Two vendors
// with media.signedUrls share one edge, chosen by host (IMAGE_HOSTS: a.test, b.test), and the
// local media server (scripts/stack.mjs startMediaServer) stands for their image host. The
// attack of issue 10: a vendor that can sign its own URLs signs one for the other vendor's
// host, and is refused. Then a rotation of vendor A's key, as an operator runs it: the edge
// redeployed with key ids [1], then [2, 1] (both accepted, B untouched), then [2] (1 retired).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WORKERD, startMediaServer, startOnFreePort, stop } from '../../scripts/stack.mjs';
import { defaultImageWasm } from '../../edge-workers/gen-config.mjs';
import { deriveImageKey, signImageUrl } from '../../js-glue/image-url.js';

const SECRET = 'e2e-image-signing-secret-rotation-0123456789';
const HOSTS = { 'a.test': 'img-a', 'b.test': 'img-b' };
const PATH = '/cdn-cgi/image/width=120/Portrait_1.jpg';

const work = mkdtempSync(join(tmpdir(), 'whale-image-signing-'));
const vendorsDir = join(work, 'vendors');
let media; // {server, base}
let edge; // the edge of the current phase

function writeVendor(slug) {
  mkdirSync(join(vendorsDir, slug), { recursive: true });
  const config = {
    vendor: { id: `v_${slug}`, slug, name: slug, vertical: 'demo', timezone: 'UTC', region: 'us-east' },
    media: { allowedSources: [`${media.base}/`], signedUrls: true },
  };
  writeFileSync(join(vendorsDir, slug, 'config.json'), JSON.stringify(config, null, 2));
}

// (Re)deploys the edge with these key ids: a rotation step is a new config, never a new secret.
async function deploy(keyIds) {
  await stop(edge?.child);
  edge = await startOnFreePort({
    outDir: join(work, 'edge'), vendorsDir, imageSecret: SECRET,
    image: { hosts: HOSTS, signingSecretEnv: 'WHALE_IMAGE_SIGNING_SECRET', keyIds, allowPrivateSources: true },
  });
}

before(async () => {
  assert.ok(existsSync(WORKERD), `workerd not installed at ${WORKERD} (npm ci)`);
  assert.ok(defaultImageWasm(), 'image.wasm not built: run scripts/build.sh');
  media = await startMediaServer(0);
  for (const slug of Object.values(HOSTS)) writeVendor(slug);
});

after(async () => {
  await stop(edge?.child);
  media?.server.close();
  rmSync(work, { recursive: true, force: true });
});

// GET path with Host: host; resolves to {status, code (the JSON error's), type}.
function get(path, host) {
  const { hostname, port } = new URL(edge.base);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname, port, path, headers: { host } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let code;
        try { code = JSON.parse(body).error?.code; } catch { code = undefined; }
        resolve({ status: res.statusCode, code, type: res.headers['content-type'], body });
      });
    });
    req.setTimeout(30000, () => req.destroy(new Error(`timed out: ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

async function assertServed(path, host) {
  const res = await get(path, host);
  assert.equal(res.status, 200, res.body);
  assert.equal(res.type, 'image/jpeg');
}

async function assertRefused(path, host, code) {
  const res = await get(path, host);
  assert.equal(res.status, 403, res.body);
  assert.equal(res.type, 'application/json');
  assert.equal(res.code, code, res.body);
}

// What the vendor's server does with the key the operator gave it (scripts/image-key.mjs).
async function signAs(vendor, keyId, path = PATH) {
  return signImageUrl(path, { vendor, keyId, key: await deriveImageKey(SECRET, vendor, keyId) });
}

test('a URL signed by one vendor is refused on the other vendor\'s host; unsigned and tampered URLs are refused', async () => {
  await deploy({ 'img-a': [1], 'img-b': [1] });
  const forA = await signAs('img-a', 1);
  const forB = await signAs('img-b', 1);
  await assertServed(forA, 'a.test');
  await assertServed(forB, 'b.test');
  await assertRefused(forA, 'b.test', 'wrong_vendor');
  await assertRefused(forB, 'a.test', 'wrong_vendor');
  // Vendor A's key over a URL naming vendor B: not B's key, so not B's MAC.
  const keyA = await deriveImageKey(SECRET, 'img-a', 1);
  await assertRefused(await signImageUrl(PATH, { vendor: 'img-b', keyId: 1, key: keyA }), 'b.test', 'invalid_signature');
  await assertRefused(PATH, 'a.test', 'signature_required');
  await assertRefused(forA.replace('width=120', 'width=121'), 'a.test', 'invalid_signature');
  await assertRefused(forA.replace('Portrait_1', 'Portrait_2'), 'a.test', 'invalid_signature');
  await assertRefused(forA.replace(/s=1:[0-9a-f]+/, 's=1:00'), 'a.test', 'malformed_signature');
  await assertRefused(await signAs('img-a', 2), 'a.test', 'unknown_key');
});

test('rotation: previous and current keys both work during the overlap, then the previous one is retired', async () => {
  const previous = await signAs('img-a', 1);
  const current = await signAs('img-a', 2);
  const forB = await signAs('img-b', 1);

  await deploy({ 'img-a': [2, 1], 'img-b': [1] });
  await assertServed(previous, 'a.test');
  await assertServed(current, 'a.test');
  await assertServed(forB, 'b.test'); // another vendor's URLs are not touched by A's rotation
  await assertRefused(current, 'b.test', 'wrong_vendor');

  await deploy({ 'img-a': [2], 'img-b': [1] });
  await assertRefused(previous, 'a.test', 'key_retired');
  await assertServed(current, 'a.test');
  await assertServed(forB, 'b.test');
});
