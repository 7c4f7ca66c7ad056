export { authorPublicKey, isAuthorId } from './authors.js'
export { ed25519Verify } from './ed25519.js'
export { InvalidRecordError, type InvalidRecordReason } from './errors.js'
export { type RecordJson, recordToJson } from './json.js'
export * from './limits.js'
export {
  createSigner,
  type DecodeOptions,
  decodeRecord,
  ParsedRecord,
  parseRecord,
  SIGNING_DOMAIN,
  type SignatureCheck,
  type Signer,
  signRecord,
  verifySignature,
} from './record.js'
export { parseRecordId, recordCidBytes, recordId } from './record-id.js'
export { createSignaturePool, type SignatureVerifier } from './signature-pool.js'
export { useSodiumAddon } from './sodium.js'
export { authorTopic, topicAuthor } from './topics.js'
export type * from './types.js'
