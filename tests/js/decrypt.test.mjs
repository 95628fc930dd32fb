// js-glue/decrypt.js beyond GrowthBook's ten cases (tests/js/conformance.test.mjs): payloads
// encrypted here with Node's OpenSSL AES-CBC under 128, 192 and 256-bit keys open to the same
// text; a damaged ciphertext or a wrong key is an error with a code, never garbage; an opened
// payload loads into the engine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { WhaleError, createEngine } from '../../js-glue/index.js';
import { decrypt, decryptPayload } from '../../js-glue/decrypt.js';

function encrypt(text, key) {
  const iv = randomBytes(16);
  const cipher = createCipheriv(`aes-${key.length * 8}-cbc`, key, iv);
  const data = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
  return `${iv.toString('base64')}.${data.toString('base64')}`;
}

const codeOf = async (promise) => {
  try {
    await promise;
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof WhaleError, `${e}`);
    return e.code;
  }
};

test('text encrypted under 128, 192 and 256-bit keys opens to the same text', async () => {
  for (const bytes of [16, 24, 32]) {
    const key = randomBytes(bytes);
    for (const text of ['', 'x', '{"feature":{"defaultValue":true}}', 'naïve ☕ '.repeat(100)]) {
      assert.equal(await decrypt(encrypt(text, key), key.toString('base64')), text, `${bytes} bytes, ${text.length} chars`);
    }
  }
});

test('a wrong key, a damaged ciphertext or a bad form is an error with a code', async () => {
  const key = randomBytes(16);
  const sealed = encrypt('{"a":1}', key);
  assert.equal(await codeOf(decrypt(sealed, randomBytes(16).toString('base64'))), 'decrypt_failed');
  const [iv, data] = sealed.split('.');
  const damaged = Buffer.from(data, 'base64');
  damaged[damaged.length - 1] ^= 0xff;
  assert.match(await codeOf(decrypt(`${iv}.${damaged.toString('base64')}`, key.toString('base64'))), /^(decrypt_failed|invalid_utf8)$/);
  assert.equal(await codeOf(decrypt(`${iv}${data}`, key.toString('base64'))), 'invalid_value');
  assert.equal(await codeOf(decrypt(`${iv}.${data}`, randomBytes(20).toString('base64'))), 'invalid_value');
  assert.equal(await codeOf(decrypt(`${iv}.${data}.x`, key.toString('base64'))), 'invalid_value');
  assert.equal(await codeOf(decrypt(42, key.toString('base64'))), 'wrong_type');
});

test('decryptPayload opens encryptedFeatures and encryptedSavedGroups into a payload the engine loads', async () => {
  const key = randomBytes(32);
  const features = { 'new-ui': { defaultValue: false, rules: [{ condition: { id: { $inGroup: 'beta' } }, force: true }] } };
  const savedGroups = { beta: ['u1', 'u2'] };
  const payload = await decryptPayload({
    encryptedFeatures: encrypt(JSON.stringify(features), key),
    encryptedSavedGroups: encrypt(JSON.stringify(savedGroups), key),
    dateUpdated: '2026-12-05',
  }, key.toString('base64'));
  assert.deepEqual(payload, { features, savedGroups, dateUpdated: '2026-12-05' });
  const set = (await createEngine()).loadFeatures(payload);
  assert.equal(set.evalAll({ id: 'u1' }).features['new-ui'].value, true);
  assert.equal(set.evalAll({ id: 'u3' }).features['new-ui'].value, false);
  assert.equal(await codeOf(decryptPayload({ encryptedFeatures: encrypt('not json', key) }, key.toString('base64'))), 'invalid_json');
});
