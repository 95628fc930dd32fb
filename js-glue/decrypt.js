// GrowthBook's encrypted payloads (its SDK's `encryptedFeatures` / `encryptedSavedGroups`):
// "<base64 IV>.<base64 ciphertext>", AES-CBC with PKCS#7 padding under a base64 key of 128, 192
// or 256 bits. Decrypted with WebCrypto (Workers, browsers, Node), never a cipher of our own; the
// native build uses OpenSSL (src/core/decrypt.cpp). Failures throw a WhaleError: `invalid_value`
// for text that is not of that form, `decrypt_failed` when the key does not open it (wrong key,
// damaged ciphertext), `invalid_utf8` when what it opens is not text.

import { WhaleError } from './index.js';

const KEY_BYTES = new Set([16, 24, 32]);
const IV_BYTES = 16;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function base64Bytes(text, what) {
  if (typeof text !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new WhaleError('invalid_value', `${what}: not base64`);
  }
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// The plaintext of one encrypted string. subtle: a SubtleCrypto (default: the runtime's).
export async function decrypt(encrypted, key, subtle = globalThis.crypto?.subtle) {
  if (!subtle) throw new WhaleError('internal', 'decrypt: no WebCrypto in this runtime');
  if (typeof encrypted !== 'string') throw new WhaleError('wrong_type', 'decrypt: the encrypted text must be a string');
  const parts = encrypted.split('.');
  if (parts.length !== 2) throw new WhaleError('invalid_value', 'decrypt: expected "<iv>.<ciphertext>"');
  const iv = base64Bytes(parts[0], 'decrypt: iv');
  const data = base64Bytes(parts[1], 'decrypt: ciphertext');
  const raw = base64Bytes(key, 'decrypt: key');
  if (iv.length !== IV_BYTES) throw new WhaleError('invalid_value', `decrypt: iv is ${iv.length} bytes, not ${IV_BYTES}`);
  if (!KEY_BYTES.has(raw.length)) throw new WhaleError('invalid_value', `decrypt: key is ${raw.length} bytes, not 16, 24 or 32`);
  if (data.length === 0 || data.length % 16 !== 0) throw new WhaleError('invalid_value', 'decrypt: ciphertext is not whole AES blocks');
  let plain;
  try {
    const cryptoKey = await subtle.importKey('raw', raw, { name: 'AES-CBC' }, false, ['decrypt']);
    plain = await subtle.decrypt({ name: 'AES-CBC', iv }, cryptoKey, data);
  } catch (e) {
    throw new WhaleError('decrypt_failed', `decrypt: the key does not open it (${e?.name ?? 'error'})`);
  }
  try {
    return utf8.decode(plain);
  } catch {
    throw new WhaleError('invalid_utf8', 'decrypt: the plaintext is not UTF-8');
  }
}

// A GrowthBook payload with its encrypted parts opened: {features, savedGroups, ...} with
// encryptedFeatures / encryptedSavedGroups replaced by what they hold (parsed JSON).
export async function decryptPayload(payload, key, subtle) {
  const out = { ...payload };
  for (const [encryptedName, name] of [['encryptedFeatures', 'features'], ['encryptedSavedGroups', 'savedGroups']]) {
    if (payload[encryptedName] === undefined) continue;
    const text = await decrypt(payload[encryptedName], key, subtle);
    try {
      out[name] = JSON.parse(text);
    } catch (e) {
      throw new WhaleError('invalid_json', `decryptPayload: ${encryptedName} is not JSON: ${e.message}`);
    }
    delete out[encryptedName];
  }
  return out;
}
