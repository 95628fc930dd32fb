// @whaletools/edge/openfeature: OpenFeature providers over the whale engine, so that code written
// against OpenFeature (https://openfeature.dev) evaluates a vendor's GrowthBook-style payload with
// whale. No import of the OpenFeature SDKs: a provider is an object of the shape they call, so the
// glue adds no dependency (tests/js/openfeature.test.mjs runs both against the SDKs from npm).
//
//   import { OpenFeature } from '@openfeature/server-sdk';
//   import { WhaleServerProvider } from '@whaletools/edge/openfeature';
//   await OpenFeature.setProviderAndWait(new WhaleServerProvider({ engine, payload }));
//   const client = OpenFeature.getClient();
//   await client.getBooleanValue('new-checkout', false, { targetingKey: visitorId, country: 'US' });
//
// What a resolution carries:
//   value       the feature's value when it has the flag's type; the caller's default otherwise
//   reason      GrowthBook's source, in OpenFeature's words: experiment -> SPLIT, force ->
//               TARGETING_MATCH, defaultValue -> DEFAULT, override -> STATIC, prerequisite ->
//               TARGETING_MATCH (a failed prerequisite gives null: the default, DISABLED),
//               unknownFeature and errors -> ERROR
//   variant     an experiment's variation key (meta key, else its index); a force rule's id
//   errorCode   FLAG_NOT_FOUND (no such feature), TYPE_MISMATCH (a value of another type),
//               GENERAL (the engine refused the request, with its code in errorMessage)
//   flagMetadata {source, ruleId} and, for experiments, {experimentKey, variationId, inExperiment,
//               hashAttribute, bucket}: strings, numbers and booleans only, as the spec wants
// The context's targetingKey is the `id` attribute unless the context has an `id` of its own; the
// other context members are the attributes (Dates as ISO strings). onExposure(result) is called
// with every experiment a resolution bucketed the user into (GrowthBook's tracking callback), for
// exposure events.

const SOURCE_REASONS = {
  experiment: 'SPLIT',
  force: 'TARGETING_MATCH',
  defaultValue: 'DEFAULT',
  override: 'STATIC',
  prerequisite: 'TARGETING_MATCH',
};

export const PROVIDER_NAME = 'whaletools-edge';

// OpenFeature's evaluation context -> the engine's attributes.
export function attributesOf(context = {}) {
  const attributes = {};
  for (const [key, value] of Object.entries(context)) {
    if (key === 'targetingKey' || value === undefined) continue;
    attributes[key] = value instanceof Date ? value.toISOString() : value;
  }
  if (context.targetingKey !== undefined && attributes.id === undefined) attributes.id = context.targetingKey;
  return attributes;
}

function typeOf(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'object';
  return typeof value;
}

function metadataOf(feature, experiment) {
  const metadata = { source: feature.source, ruleId: feature.ruleId };
  if (experiment) {
    metadata.experimentKey = experiment.experimentKey;
    metadata.variationId = experiment.variationId;
    metadata.inExperiment = experiment.inExperiment;
    metadata.hashAttribute = experiment.hashAttribute;
    if (typeof experiment.bucket === 'number') metadata.bucket = experiment.bucket;
  }
  return metadata;
}

// One resolution of flagKey from an evalAll answer; `type` is what the flag was asked as.
function resolve(evaluation, flagKey, type, defaultValue) {
  const feature = Object.hasOwn(evaluation.features, flagKey) ? evaluation.features[flagKey] : undefined;
  if (feature === undefined) {
    return { value: defaultValue, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND', errorMessage: `no feature "${flagKey}"` };
  }
  const experiment = feature.source === 'experiment' ? evaluation.experiments.find((e) => e.featureId === flagKey) : undefined;
  const flagMetadata = metadataOf(feature, experiment);
  if (feature.value === null) return { value: defaultValue, reason: feature.source === 'prerequisite' ? 'DISABLED' : 'DEFAULT', flagMetadata };
  const got = typeOf(feature.value);
  if (got !== type) {
    return {
      value: defaultValue, reason: 'ERROR', errorCode: 'TYPE_MISMATCH', flagMetadata,
      errorMessage: `feature "${flagKey}" is a ${got}, asked for a ${type}`,
    };
  }
  const details = { value: feature.value, reason: SOURCE_REASONS[feature.source] ?? 'UNKNOWN', flagMetadata };
  if (experiment) details.variant = experiment.key;
  else if (feature.ruleId) details.variant = feature.ruleId;
  return details;
}

function failure(defaultValue, e) {
  return { value: defaultValue, reason: 'ERROR', errorCode: 'GENERAL', errorMessage: `${e?.code ?? 'error'}: ${e?.message ?? e}` };
}

// Holds the engine's feature set for a payload and evaluates contexts, one evalAll per distinct
// context (the last one is remembered: a request asking for several flags evaluates once).
class Evaluator {
  constructor({ engine, payload, onExposure }) {
    if (!engine || typeof engine.loadFeatures !== 'function') throw new TypeError('provider: `engine` is a whale engine (createEngine)');
    this.engine = engine;
    this.onExposure = onExposure;
    this.set = null;
    this.last = null; // {key, evaluation}
    if (payload !== undefined) this.setPayload(payload);
  }

  // Replaces the payload (GrowthBook's {features, savedGroups}, as text or an object).
  setPayload(payload) {
    const set = this.engine.loadFeatures(payload);
    this.set?.free();
    this.set = set;
    this.last = null;
  }

  evaluate(context) {
    if (this.set === null) throw Object.assign(new Error('no payload loaded'), { code: 'PROVIDER_NOT_READY' });
    const attributes = attributesOf(context);
    const key = JSON.stringify(attributes);
    if (this.last?.key === key) return this.last.evaluation;
    const evaluation = this.set.evalAll(attributes);
    this.last = { key, evaluation };
    if (this.onExposure) for (const result of evaluation.experiments) this.onExposure(result);
    return evaluation;
  }

  details(flagKey, type, defaultValue, context) {
    try {
      return resolve(this.evaluate(context), flagKey, type, defaultValue);
    } catch (e) {
      if (e?.code === 'PROVIDER_NOT_READY') return { value: defaultValue, reason: 'ERROR', errorCode: 'PROVIDER_NOT_READY', errorMessage: e.message };
      return failure(defaultValue, e);
    }
  }

  close() {
    this.set?.free();
    this.set = null;
    this.last = null;
  }
}

// For @openfeature/server-sdk: every resolution evaluates its own context.
// options: {engine (createEngine()), payload, onExposure?}
export class WhaleServerProvider {
  constructor(options) {
    this.metadata = { name: PROVIDER_NAME };
    this.runsOn = 'server';
    this.hooks = [];
    this.evaluator = new Evaluator(options);
  }

  setPayload(payload) { this.evaluator.setPayload(payload); }

  async resolveBooleanEvaluation(flagKey, defaultValue, context) { return this.evaluator.details(flagKey, 'boolean', defaultValue, context); }
  async resolveStringEvaluation(flagKey, defaultValue, context) { return this.evaluator.details(flagKey, 'string', defaultValue, context); }
  async resolveNumberEvaluation(flagKey, defaultValue, context) { return this.evaluator.details(flagKey, 'number', defaultValue, context); }
  async resolveObjectEvaluation(flagKey, defaultValue, context) { return this.evaluator.details(flagKey, 'object', defaultValue, context); }

  async onClose() { this.evaluator.close(); }
}

// For @openfeature/web-sdk: the context is the page's, set once (and on onContextChange); the
// resolutions are synchronous, from the evaluation of that context.
export class WhaleWebProvider {
  constructor(options) {
    this.metadata = { name: PROVIDER_NAME };
    this.runsOn = 'client';
    this.hooks = [];
    this.evaluator = new Evaluator(options);
    this.context = {};
  }

  setPayload(payload) {
    this.evaluator.setPayload(payload);
    this.evaluator.evaluate(this.context);
  }

  async initialize(context = {}) {
    this.context = context;
    this.evaluator.evaluate(context);
  }

  async onContextChange(_old, next = {}) {
    this.context = next;
    this.evaluator.evaluate(next);
  }

  resolveBooleanEvaluation(flagKey, defaultValue, context) { return this.evaluator.details(flagKey, 'boolean', defaultValue, context ?? this.context); }
  resolveStringEvaluation(flagKey, defaultValue, context) { return this.evaluator.details(flagKey, 'string', defaultValue, context ?? this.context); }
  resolveNumberEvaluation(flagKey, defaultValue, context) { return this.evaluator.details(flagKey, 'number', defaultValue, context ?? this.context); }
  resolveObjectEvaluation(flagKey, defaultValue, context) { return this.evaluator.details(flagKey, 'object', defaultValue, context ?? this.context); }

  async onClose() { this.evaluator.close(); }
}
