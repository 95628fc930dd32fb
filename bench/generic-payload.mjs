// The generic payload of issue 11's evalAll goal, generated here (deterministic, seeded) rather
// than kept as a fixture: 20 features, 1000 users; conditions on country, browser and plan;
// 50%-coverage force rules; 3-way experiments hashed on `id`. No vendor's data: it stands for
// the payload a GrowthBook user would bring, so the ratio is not tuned to flora-distro.
//
// Features, by i % 4 (five of each):
//   0  a force rule for a list of countries ($in), else the default
//   1  a force rule for some browsers at 50% coverage (hashed on id, seeded per feature)
//   2  a 3-way experiment for two plans ($in), hashed on id, meta keys and names
//   3  a force rule on country and plan ($eq, $ne), then a 3-way experiment without targeting
// Users: {id, country, browser, plan, loggedIn}; loggedIn is read by no rule.

import { mulberry32 } from './bandit-sim.mjs';

const COUNTRIES = ['US', 'CA', 'GB', 'DE', 'FR', 'NL', 'ES', 'MX', 'BR', 'JP'];
const BROWSERS = ['chrome', 'safari', 'firefox', 'edge', 'samsung'];
const PLANS = ['free', 'basic', 'pro', 'enterprise'];

function pick(random, list) { return list[Math.floor(random() * list.length)]; }
function some(random, list, n) {
  const out = new Set();
  while (out.size < n) out.add(pick(random, list));
  return [...out];
}

function experimentRule(key, condition) {
  const rule = {
    id: `exp_${key}`,
    key,
    seed: `${key}-seed`,
    hashAttribute: 'id',
    hashVersion: 2,
    variations: [`${key}-a`, `${key}-b`, `${key}-c`],
    weights: [0.34, 0.33, 0.33],
    coverage: 1,
    meta: [{ key: 'control', name: 'Control' }, { key: 'treatment-1', name: 'Treatment 1' }, { key: 'treatment-2', name: 'Treatment 2' }],
  };
  if (condition) rule.condition = condition;
  return rule;
}

function feature(random, i) {
  const key = `feature-${String(i).padStart(2, '0')}`;
  switch (i % 4) {
    case 0:
      return [key, { defaultValue: 10 + i, rules: [{ id: `fr_${key}`, condition: { country: { $in: some(random, COUNTRIES, 3) } }, force: 100 + i }] }];
    case 1:
      return [key, {
        defaultValue: false,
        rules: [{ id: `fr_${key}`, condition: { browser: { $in: some(random, BROWSERS, 2) } }, coverage: 0.5, hashAttribute: 'id', seed: key, hashVersion: 2, force: true }],
      }];
    case 2:
      return [key, { defaultValue: `${key}-a`, rules: [experimentRule(key, { plan: { $in: some(random, PLANS, 2) } })] }];
    default:
      return [key, {
        defaultValue: `${key}-a`,
        rules: [
          { id: `fr_${key}`, condition: { country: pick(random, COUNTRIES), plan: { $ne: 'free' } }, force: `${key}-forced` },
          experimentRule(key, null),
        ],
      }];
  }
}

export function genericPayload({ features = 20, users = 1000, seed = 11 } = {}) {
  const random = mulberry32(seed);
  const payload = { features: Object.fromEntries(Array.from({ length: features }, (_, i) => feature(random, i))) };
  const attributes = Array.from({ length: users }, (_, n) => ({
    id: `user-${100000 + n}`,
    country: pick(random, COUNTRIES),
    browser: pick(random, BROWSERS),
    plan: pick(random, PLANS),
    loggedIn: random() < 0.5,
  }));
  return { name: 'generic', payloadText: JSON.stringify(payload), payload, attributes };
}
