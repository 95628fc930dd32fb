// Types for @whaletools/edge/openfeature (openfeature.js): OpenFeature providers over the engine.
// Structural: they match @openfeature/server-sdk's and @openfeature/web-sdk's Provider without
// importing them.

import type { Attributes, Engine, Result } from './index.js';

export declare const PROVIDER_NAME: 'whaletools-edge';

export type FlagValueType = 'boolean' | 'string' | 'number' | 'object';
export type ResolutionReason = 'SPLIT' | 'TARGETING_MATCH' | 'DEFAULT' | 'STATIC' | 'DISABLED' | 'UNKNOWN' | 'ERROR';
export type ResolutionErrorCode = 'FLAG_NOT_FOUND' | 'TYPE_MISMATCH' | 'GENERAL' | 'PROVIDER_NOT_READY';

export interface EvaluationContext {
  targetingKey?: string;
  [attribute: string]: unknown;
}

export interface ResolutionDetails<T> {
  value: T;
  reason: ResolutionReason;
  variant?: string;
  errorCode?: ResolutionErrorCode;
  errorMessage?: string;
  flagMetadata?: Record<string, string | number | boolean>;
}

export interface ProviderOptions {
  engine: Engine;
  /** GrowthBook's {features, savedGroups}, as JSON text or an object. */
  payload?: string | object;
  /** Called with every experiment a resolution bucketed the user into. */
  onExposure?: (result: Result & { readonly experimentKey: string }) => void;
}

/** The engine's attributes for an OpenFeature context (targetingKey as `id`, Dates as ISO text). */
export declare function attributesOf(context?: EvaluationContext): Attributes;

export declare class WhaleServerProvider {
  constructor(options: ProviderOptions);
  readonly metadata: { name: 'whaletools-edge' };
  readonly runsOn: 'server';
  hooks: unknown[];
  setPayload(payload: string | object): void;
  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): Promise<ResolutionDetails<boolean>>;
  resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): Promise<ResolutionDetails<string>>;
  resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext): Promise<ResolutionDetails<number>>;
  resolveObjectEvaluation<T>(flagKey: string, defaultValue: T, context: EvaluationContext): Promise<ResolutionDetails<T>>;
  onClose(): Promise<void>;
}

export declare class WhaleWebProvider {
  constructor(options: ProviderOptions);
  readonly metadata: { name: 'whaletools-edge' };
  readonly runsOn: 'client';
  hooks: unknown[];
  setPayload(payload: string | object): void;
  initialize(context?: EvaluationContext): Promise<void>;
  onContextChange(oldContext: EvaluationContext, newContext: EvaluationContext): Promise<void>;
  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context?: EvaluationContext): ResolutionDetails<boolean>;
  resolveStringEvaluation(flagKey: string, defaultValue: string, context?: EvaluationContext): ResolutionDetails<string>;
  resolveNumberEvaluation(flagKey: string, defaultValue: number, context?: EvaluationContext): ResolutionDetails<number>;
  resolveObjectEvaluation<T>(flagKey: string, defaultValue: T, context?: EvaluationContext): ResolutionDetails<T>;
  onClose(): Promise<void>;
}
