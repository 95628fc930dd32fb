// Same answers first: evaluates a vendor payload with our engine and with GrowthBook's own SDK
// (@growthbook/growthbook, GrowthBookClient) and lists every field that differs. Shared by
// bench/assign.bench.mjs (which refuses to time anything that differs) and
// tests/js/vendors.test.mjs.
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { GrowthBookClient } from '@growthbook/growthbook';

export const root = new URL('..', import.meta.url).pathname;

// fixtures/vendors/<name>: the payload as text (what an edge receives) and the attribute sets.
export function loadVendor(name) {
  const dir = new URL(`../fixtures/vendors/${name}/`, import.meta.url);
  const payloadText = readFileSync(new URL('features.json', dir), 'utf8');
  let attributes = [];
  try {
    attributes = JSON.parse(readFileSync(new URL('attributes.json', dir), 'utf8'));
  } catch (e) {
    if (e.code !== 'ENOENT') throw e;
  }
  return { name, payloadText, payload: JSON.parse(payloadText), attributes };
}

// GrowthBook's server-side client, initialised synchronously from a payload (no network, no
// background sync, no sticky bucket service: the same setting as evalAll without documents).
export function growthbookClient(payload) {
  return new GrowthBookClient({}).initSync({ payload });
}

// GrowthBook's answer in evalAll's shape: every feature through client.evalFeature, and the
// experiment results its tracking callback reports (the exposures), in evaluation order, each
// with the experiment's key beside it as evalAll gives it (experimentKey).
export function growthbookEvalAll(client, keys, attributes) {
  const experiments = [];
  const userContext = {
    attributes,
    trackingCallback: (experiment, result) => { experiments.push({ ...result, experimentKey: experiment.key }); },
  };
  const features = {};
  for (const key of keys) {
    const { value, on, off, source, ruleId } = client.evalFeature(key, userContext);
    features[key] = { value, on, off, source, ruleId };
  }
  return { features, experiments };
}

const FEATURE_FIELDS = ['value', 'on', 'off', 'source', 'ruleId'];

// Our evalAll result in the shape growthbookEvalAll returns (the fields both sides define), for
// a whole-object assert.deepStrictEqual.
export function projectWhale(ours, keys) {
  const features = {};
  for (const key of keys) {
    const f = ours.features?.[key];
    features[key] = f && Object.fromEntries(FEATURE_FIELDS.map((field) => [field, f[field]]));
  }
  return { features, experiments: ours.experiments };
}

// Every difference between our evalAll result and GrowthBook's for one attribute set, as
// { where, ours, growthbook } (an empty list means the same answers).
export function diffAnswers(ours, theirs, keys) {
  const diffs = [];
  const ourKeys = Object.keys(ours.features ?? {}).sort();
  const wanted = [...keys].sort();
  if (!isDeepStrictEqual(ourKeys, wanted)) diffs.push({ where: 'feature keys', ours: ourKeys, growthbook: wanted });
  for (const key of keys) {
    const a = ours.features?.[key];
    const b = theirs.features[key];
    for (const field of FEATURE_FIELDS) {
      if (!isDeepStrictEqual(a?.[field], b[field])) {
        diffs.push({ where: `features["${key}"].${field}`, ours: a?.[field], growthbook: b[field] });
      }
    }
  }
  const ex = ours.experiments ?? [];
  const gx = theirs.experiments;
  if (ex.length !== gx.length) {
    diffs.push({
      where: 'experiments (keys in order)',
      ours: ex.map((r) => `${r.featureId}:${r.key}`),
      growthbook: gx.map((r) => `${r.featureId}:${r.key}`),
    });
  }
  for (let i = 0; i < Math.min(ex.length, gx.length); i++) {
    // The whole Result object: variationId, inExperiment, hashUsed, hashAttribute, hashValue,
    // bucket, key, name, featureId, value, stickyBucketUsed.
    const fields = new Set([...Object.keys(ex[i]), ...Object.keys(gx[i])]);
    for (const field of fields) {
      if (!isDeepStrictEqual(ex[i][field], gx[i][field])) {
        diffs.push({ where: `experiments[${i}] (${gx[i].featureId}).${field}`, ours: ex[i][field], growthbook: gx[i][field] });
      }
    }
  }
  return diffs;
}

// Runs every attribute set through both engines. Returns { checked, mismatches:[{index,
// attributes, diffs}] }.
export function compareVendor(engine, set, client, payload, attributeSets) {
  const keys = Object.keys(payload.features ?? {});
  const mismatches = [];
  let checked = 0;
  attributeSets.forEach((attributes, index) => {
    const ours = engine.evalAll(set, attributes);
    const theirs = growthbookEvalAll(client, keys, attributes);
    const diffs = diffAnswers(ours, theirs, keys);
    checked++;
    if (diffs.length) mismatches.push({ index, attributes, diffs });
  });
  return { checked, mismatches };
}

export function formatMismatches(mismatches, limit = 10) {
  const lines = [];
  for (const m of mismatches.slice(0, limit)) {
    lines.push(`attribute set #${m.index}: ${JSON.stringify(m.attributes)}`);
    for (const d of m.diffs) {
      lines.push(`  ${d.where}: whale ${JSON.stringify(d.ours)} vs growthbook ${JSON.stringify(d.growthbook)}`);
    }
  }
  if (mismatches.length > limit) lines.push(`... and ${mismatches.length - limit} more attribute sets`);
  return lines.join('\n');
}
