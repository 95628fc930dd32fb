// Types for @whaletools/edge/decrypt (decrypt.js): GrowthBook's encrypted payloads, opened with
// WebCrypto.

import type { FeatureDefinition, SavedGroups } from './index.js';

/**
 * The plaintext of a GrowthBook encrypted string ("<base64 iv>.<base64 ciphertext>", AES-CBC),
 * opened with WebCrypto. Throws a WhaleError: invalid_value (not of that form), decrypt_failed
 * (the key does not open it), invalid_utf8.
 */
export declare function decrypt(encrypted: string, key: string, subtle?: SubtleCrypto): Promise<string>;
/** A GrowthBook payload with encryptedFeatures / encryptedSavedGroups opened into features / savedGroups. */
export declare function decryptPayload<T extends object>(payload: T & { encryptedFeatures?: string; encryptedSavedGroups?: string }, key: string, subtle?: SubtleCrypto): Promise<T & { features?: Record<string, FeatureDefinition>; savedGroups?: SavedGroups }>;
