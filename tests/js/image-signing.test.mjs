// Signed image URLs (docs/images.md, "Signed URLs"): what js-glue/image-url.js signs is what
// edge-workers/image.js verifies (the contract is written twice, once per side, and held equal
// here, including against node:crypto computing the documented formula); a MAC binds the vendor
// and names its key id; the edge's refusals, each with its code; gen-config's bindings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveImageKey, signImageUrl, signedMessage, signingText } from '../../js-glue/image-url.js';
import { UrlVerifier, parseImagePath, parseKeyIds } from '../../edge-workers/image.js';
import { generateConfig, parseCommandLine } from '../../edge-workers/gen-config.mjs';

const SECRET = 'unit-test-image-signing-secret-0123456789';
const URL_TEXT = 'https://shop.example/cdn-cgi/image/width=400,fit=cover/media/a b.jpg?v=2';

// The edge's verdict on a URL for a vendor: 'ok', or the HttpError's "status code".
async function verdict(url, slug, { secret = SECRET, keyIds = { 'shop-a': [2, 1], 'shop-b': [1] } } = {}) {
  const path = parseImagePath(new URL(url, 'http://edge.test'));
  try {
    await UrlVerifier.fromEnv({ IMAGE_SIGNING_SECRET: secret, IMAGE_SIGNING_KEY_IDS: JSON.stringify(keyIds) })
      .check(slug, path.signed, path.signature);
    return 'ok';
  } catch (e) {
    return `${e.status} ${e.code}`;
  }
}

async function signed(url, vendor, keyId, secret = SECRET) {
  return signImageUrl(url, { vendor, keyId, key: await deriveImageKey(secret, vendor, keyId) });
}

test('the vendor key and the MAC are the documented HMAC-SHA256s, and the edge verifies them', async () => {
  const key = await deriveImageKey(SECRET, 'shop-a', 2);
  const expectedKey = createHmac('sha256', SECRET).update('whale-image-v1 vendor\nshop-a\n2').digest();
  assert.equal(key, expectedKey.toString('hex'));
  const url = await signImageUrl(URL_TEXT, { vendor: 'shop-a', keyId: 2, key });
  const message = 'width=400,fit=cover/media/a%20b.jpg?v=2';
  assert.equal(signedMessage(url), message);
  assert.equal(parseImagePath(new URL(url)).signed, message);
  const mac = createHmac('sha256', expectedKey).update(`whale-image-v1\nshop-a\n${message}`).digest('hex');
  assert.equal(signingText('shop-a', message), `whale-image-v1\nshop-a\n${message}`);
  assert.equal(url, `https://shop.example/cdn-cgi/image/width=400,fit=cover,s=2:${mac}/media/a b.jpg?v=2`);
  assert.equal(await verdict(url, 'shop-a'), 'ok');
  // The key as bytes signs the same; re-signing replaces the signature, sig= included.
  assert.equal(await signImageUrl(URL_TEXT, { vendor: 'shop-a', keyId: '2', key: expectedKey }), url);
  assert.equal(await signImageUrl(url, { vendor: 'shop-a', keyId: 2, key }), url);
  assert.equal(await signImageUrl(URL_TEXT.replace('fit=cover', 'fit=cover,sig=1:00'), { vendor: 'shop-a', keyId: 2, key }), url);
});

test('a URL signed for one vendor is refused for another: wrong_vendor, whichever key ids they hold', async () => {
  const forA = await signed(URL_TEXT, 'shop-a', 1);
  assert.equal(await verdict(forA, 'shop-a'), 'ok');
  assert.equal(await verdict(forA, 'shop-b'), '403 wrong_vendor');
  // Vendor A's key signing a URL that names vendor B: the MAC is B's text under A's key.
  const keyA = await deriveImageKey(SECRET, 'shop-a', 1);
  const forged = await signImageUrl(URL_TEXT, { vendor: 'shop-b', keyId: 1, key: keyA });
  assert.equal(await verdict(forged, 'shop-b'), '403 invalid_signature');
  // Key id 2 is A's current one and no key of B's.
  const currentA = await signed(URL_TEXT, 'shop-a', 2);
  assert.equal(await verdict(currentA, 'shop-b'), '403 wrong_vendor');
});

test('rotation: the current and the previous key work, a retired or unknown key id does not', async () => {
  const during = { 'shop-a': [2, 1] };
  const after = { 'shop-a': [3, 2] };
  const previous = await signed(URL_TEXT, 'shop-a', 1);
  const current = await signed(URL_TEXT, 'shop-a', 2);
  assert.equal(await verdict(previous, 'shop-a', { keyIds: during }), 'ok');
  assert.equal(await verdict(current, 'shop-a', { keyIds: during }), 'ok');
  assert.equal(await verdict(previous, 'shop-a', { keyIds: after }), '403 key_retired');
  assert.equal(await verdict(current, 'shop-a', { keyIds: after }), 'ok');
  assert.equal(await verdict(await signed(URL_TEXT, 'shop-a', 3), 'shop-a', { keyIds: during }), '403 unknown_key');
  assert.equal(await verdict(await signed(URL_TEXT, 'shop-a', 4), 'shop-a', { keyIds: { 'shop-a': [5, 3] } }), '403 unknown_key');
  // Another secret derives other keys: a MAC under it matches nothing.
  assert.equal(await verdict(await signed(URL_TEXT, 'shop-a', 2, 'x'.repeat(32)), 'shop-a'), '403 invalid_signature');
});

test('unsigned, tampered, malformed and one-key URLs are refused with their own codes', async () => {
  const url = await signed(URL_TEXT, 'shop-a', 2);
  assert.equal(await verdict(URL_TEXT, 'shop-a'), '403 signature_required');
  assert.equal(await verdict(url.replace('width=400', 'width=401'), 'shop-a'), '403 invalid_signature');
  assert.equal(await verdict(url.replace('a b.jpg', 'c.jpg'), 'shop-a'), '403 invalid_signature');
  assert.equal(await verdict(url.replace('?v=2', '?v=3'), 'shop-a'), '403 invalid_signature');
  assert.equal(await verdict(url.replace('s=2:', 's=1:'), 'shop-a'), '403 invalid_signature');
  assert.equal(await verdict(url.replace(/s=2:[0-9a-f]+/, 's=2:abc'), 'shop-a'), '403 malformed_signature');
  assert.equal(await verdict(url.replace('s=2:', 's=0:'), 'shop-a'), '403 malformed_signature');
  // The one-key form of before: s=<hex> without a key id.
  const oneKey = createHmac('sha256', 'k').update(signedMessage(URL_TEXT)).digest('hex');
  assert.equal(await verdict(URL_TEXT.replace('fit=cover', `fit=cover,s=${oneKey}`), 'shop-a'), '403 malformed_signature');
});

test('an edge without a usable secret or key ids answers 500', async () => {
  const url = await signed(URL_TEXT, 'shop-a', 2);
  assert.equal(await verdict(url, 'shop-a', { secret: null }), '500 signing_key_missing');
  assert.equal(await verdict(url, 'shop-a', { secret: 'short' }), '500 signing_key_missing');
  assert.equal(await verdict(url, 'shop-c'), '500 signing_key_missing');
  for (const bad of ['{', '[]', '{"shop-a": []}', '{"shop-a": [3, 2, 1]}', '{"shop-a": ["2"]}', '{"shop-a": [0]}']) {
    assert.throws(() => parseKeyIds(bad), (e) => e.status === 500 && e.code === 'invalid_config', bad);
  }
  assert.deepEqual(parseKeyIds({ 'shop-a': [2, 1] }), new Map([['shop-a', [2, 1]]]));
});

test('signImageUrl and deriveImageKey refuse what they cannot sign with', async () => {
  const key = await deriveImageKey(SECRET, 'shop-a', 2);
  await assert.rejects(signImageUrl(URL_TEXT, 'the-old-single-key'), /one-key form/);
  await assert.rejects(signImageUrl(URL_TEXT, { vendor: 'Shop A', keyId: 2, key }), /bad vendor/);
  await assert.rejects(signImageUrl(URL_TEXT, { vendor: 'shop-a', keyId: 0, key }), /bad key id/);
  await assert.rejects(signImageUrl(URL_TEXT, { vendor: 'shop-a', keyId: 2, key: SECRET }), /64 hex digits/);
  await assert.rejects(signImageUrl('/products/1.jpg', { vendor: 'shop-a', keyId: 2, key }), /not an image URL/);
  await assert.rejects(deriveImageKey('short', 'shop-a', 2), /at least 32 bytes/);
  await assert.rejects(deriveImageKey(SECRET, 'shop-a', 'x'), /bad key id/);
});

test('gen-config: the secret comes from the environment, the key ids are written, the one-key binding is gone', () => {
  const work = mkdtempSync(join(tmpdir(), 'whale-image-signing-'));
  try {
    const wasm = join(work, 'core.wasm');
    writeFileSync(wasm, '');
    const config = (image) => readFileSync(
      generateConfig({ outDir: join(work, 'edge'), wasm, imageWasm: null, vendorsDir: work, image }).configPath, 'utf8');
    const text = config({ signingSecretEnv: 'MY_SECRET', keyIds: { 'shop-a': [2, 1], 'shop-b': ['1'] } });
    assert.ok(text.includes('(name = "IMAGE_SIGNING_SECRET", fromEnvironment = "MY_SECRET")'));
    assert.ok(text.includes(`(name = "IMAGE_SIGNING_KEY_IDS", json = ${JSON.stringify('{"shop-a":[2,1],"shop-b":[1]}')})`));
    assert.ok(!text.includes('IMAGE_SIGNING_KEY"'));
    assert.throws(() => config({ keyIds: { 'shop-a': [3, 2, 1] } }), /CURRENT\[,PREVIOUS\]/);
    assert.throws(() => config({ keyIds: { 'shop-a': [1, 1] } }), /CURRENT\[,PREVIOUS\]/);
    assert.throws(() => config({ signingSecretEnv: 'NOT-A-VAR' }), /not a variable name/);
    assert.throws(() => config({ signingKeyEnv: 'WHALE_IMAGE_SIGNING_KEY' }), /signingSecretEnv and keyIds/);
    const cli = parseCommandLine(['--image-signing-secret-env', 'S', '--image-key-ids', 'shop-a=2,1', '--image-key-ids', 'shop-b=1']);
    assert.deepEqual(cli.image.keyIds, { 'shop-a': ['2', '1'], 'shop-b': ['1'] });
    assert.equal(cli.image.signingSecretEnv, 'S');
    assert.throws(() => parseCommandLine(['--image-signing-key-env', 'K']), /image-signing-key-env/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
