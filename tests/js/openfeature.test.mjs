// The OpenFeature providers (js-glue/openfeature.js) driven by the OpenFeature SDKs from npm
// (@openfeature/server-sdk, @openfeature/web-sdk): every flora-distro feature, for many users,
// resolves to what the engine's evalAll gives, with OpenFeature's reason, variant, error codes and
// flag metadata; the web provider follows its context; exposures reach onExposure.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { OpenFeature as ServerFeature, ProviderStatus } from '@openfeature/server-sdk';
import { OpenFeature as WebFeature } from '@openfeature/web-sdk';
import { createEngine } from '../../js-glue/index.js';
import { WhaleServerProvider, WhaleWebProvider, attributesOf } from '../../js-glue/openfeature.js';

const payloadText = readFileSync(new URL('../../fixtures/vendors/flora-distro/features.json', import.meta.url), 'utf8');
const payload = JSON.parse(payloadText);
const engine = await createEngine();
const reference = engine.loadFeatures(payloadText);
const COUNTRIES = ['US', 'CA', 'DE', 'MX'];
const users = Array.from({ length: 60 }, (_, i) => ({
  targetingKey: `of-user-${i}`, country: COUNTRIES[i % 4], device: i % 3 ? 'mobile' : 'desktop', plan: i % 5 ? 'free' : 'pro',
}));

const getterOf = { boolean: 'getBooleanDetails', string: 'getStringDetails', number: 'getNumberDetails', object: 'getObjectDetails' };
const typeOf = (v) => (v !== null && typeof v === 'object' ? 'object' : typeof v);
const REASONS = { experiment: 'SPLIT', force: 'TARGETING_MATCH', defaultValue: 'DEFAULT', override: 'STATIC', prerequisite: 'TARGETING_MATCH' };

after(async () => {
  await ServerFeature.close();
  await WebFeature.close();
  reference.free();
});

test('server SDK: every feature for every user resolves to evalAll\'s value, reason, variant and metadata', async () => {
  const exposures = [];
  const provider = new WhaleServerProvider({ engine, payload, onExposure: (r) => exposures.push(r) });
  await ServerFeature.setProviderAndWait(provider);
  const client = ServerFeature.getClient();
  assert.equal(client.providerStatus, ProviderStatus.READY);
  assert.equal(client.metadata.providerMetadata.name, 'whaletools-edge');
  let experiments = 0;
  for (const user of users) {
    const want = reference.evalAll(attributesOf(user));
    for (const [key, definition] of Object.entries(payload.features)) {
      const type = typeOf(definition.defaultValue);
      const fallback = type === 'boolean' ? false : type === 'number' ? -1 : type === 'string' ? 'fallback' : { fallback: true };
      const details = await client[getterOf[type]](key, fallback, user);
      const feature = want.features[key];
      assert.equal(details.flagKey, key);
      assert.equal(details.errorCode, undefined, `${key}: ${details.errorMessage}`);
      assert.deepEqual(details.value, feature.value === null ? fallback : feature.value, `${key} for ${user.targetingKey}`);
      assert.equal(details.reason, feature.value === null ? 'DEFAULT' : REASONS[feature.source], key);
      assert.equal(details.flagMetadata.source, feature.source);
      assert.equal(details.flagMetadata.ruleId, feature.ruleId);
      if (feature.source === 'experiment') {
        experiments++;
        const result = want.experiments.find((e) => e.featureId === key);
        assert.equal(details.variant, result.key);
        assert.equal(details.flagMetadata.variationId, result.variationId);
        assert.equal(details.flagMetadata.experimentKey, result.experimentKey);
        assert.equal(details.flagMetadata.hashAttribute, 'id');
        assert.equal(details.flagMetadata.inExperiment, true);
      } else if (feature.source === 'force') {
        assert.equal(details.variant, feature.ruleId);
      }
    }
  }
  assert.ok(experiments > 100, `experiments resolved: ${experiments}`);
  // One evalAll per user (the provider remembers the last context): its exposures, once each.
  const perUser = users.map((u) => reference.evalAll(attributesOf(u)).experiments.length).reduce((a, b) => a + b, 0);
  assert.equal(exposures.length, perUser);
  assert.ok(exposures.every((r) => r.inExperiment && r.hashAttribute === 'id' && r.hashValue.startsWith('of-user-')));
});

test('server SDK: unknown flags, wrong types and refused contexts give the default with an error code', async () => {
  await ServerFeature.setProviderAndWait(new WhaleServerProvider({ engine, payload }));
  const client = ServerFeature.getClient();
  const user = users[0];
  const missing = await client.getBooleanDetails('no-such-flag', true, user);
  assert.deepEqual([missing.value, missing.reason, missing.errorCode], [true, 'ERROR', 'FLAG_NOT_FOUND']);
  const mismatch = await client.getStringDetails('storefront-enabled', 'nope', user);
  assert.deepEqual([mismatch.value, mismatch.reason, mismatch.errorCode], ['nope', 'ERROR', 'TYPE_MISMATCH']);
  assert.match(mismatch.errorMessage, /boolean/);
  // An attribute the payload reads (country), nested past the engine's depth limit: refused.
  let deep = {};
  for (let i = 0; i < 1000; i++) deep = { d: deep };
  const refused = await client.getNumberDetails('max-cart-items', 7, { targetingKey: 'u', country: deep });
  assert.deepEqual([refused.value, refused.reason, refused.errorCode], [7, 'ERROR', 'GENERAL']);
  assert.match(refused.errorMessage, /too_deep/);
  assert.equal(await client.getNumberValue('max-cart-items', 7, user), 40, 'the next context evaluates normally');
});

test('server SDK: a new payload is served from the next resolution', async () => {
  const provider = new WhaleServerProvider({ engine, payload });
  await ServerFeature.setProviderAndWait(provider);
  const client = ServerFeature.getClient();
  assert.equal(await client.getStringValue('support-email', '', users[1]), 'help@floradistro.com');
  provider.setPayload({ features: { ...payload.features, 'support-email': { defaultValue: 'care@floradistro.com' } } });
  assert.equal(await client.getStringValue('support-email', '', users[1]), 'care@floradistro.com');
});

test('web SDK: synchronous resolutions for the page\'s context, re-evaluated when it changes', async () => {
  const provider = new WhaleWebProvider({ engine, payload });
  const user = users.find((u) => reference.evalAll(attributesOf(u)).features['free-shipping-threshold'].source === 'force');
  const other = users.find((u) => reference.evalAll(attributesOf(u)).features['free-shipping-threshold'].source !== 'force');
  assert.ok(user && other, 'the fixture users cover both a forced and a default threshold');
  await WebFeature.setContext(user);
  await WebFeature.setProviderAndWait(provider);
  const client = WebFeature.getClient();
  const forced = client.getNumberDetails('free-shipping-threshold', -1);
  assert.equal(forced.value, reference.evalAll(attributesOf(user)).features['free-shipping-threshold'].value);
  assert.equal(forced.reason, 'TARGETING_MATCH');
  await WebFeature.setContext(other);
  const fallback = client.getNumberDetails('free-shipping-threshold', -1);
  assert.equal(fallback.value, reference.evalAll(attributesOf(other)).features['free-shipping-threshold'].value);
  assert.equal(fallback.reason, REASONS[reference.evalAll(attributesOf(other)).features['free-shipping-threshold'].source]);
  const hero = client.getStringDetails('hero-banner-copy', '');
  const want = reference.evalAll(attributesOf(other));
  assert.equal(hero.value, want.features['hero-banner-copy'].value);
  if (want.features['hero-banner-copy'].source === 'experiment') assert.equal(hero.reason, 'SPLIT');
});

test('attributesOf: targetingKey is the id unless the context has one; Dates as ISO strings', () => {
  assert.deepEqual(attributesOf({ targetingKey: 'v1', country: 'US' }), { country: 'US', id: 'v1' });
  assert.deepEqual(attributesOf({ targetingKey: 'v1', id: 'own' }), { id: 'own' });
  assert.deepEqual(attributesOf({ at: new Date(Date.UTC(2026, 0, 2)) }), { at: '2026-01-02T00:00:00.000Z' });
});
