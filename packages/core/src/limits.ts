/**
 * Bounds every node enforces. They are part of the protocol: a record outside them is invalid
 * everywhere, so nodes never disagree on validity (see docs/PROTOCOL.md).
 */
export const RECORD_VERSION = 1
/** Largest encoded signed record, a reshare with its embedded original included. */
export const MAX_RECORD_BYTES = 8192
/** Post text, in Unicode code points (so at most 4000 UTF-8 bytes). */
export const MAX_TEXT_CHARS = 1000
export const MAX_NAME_CHARS = 64
export const MAX_BIO_CHARS = 400
export const MAX_SITE_URL_CHARS = 256
/** How far ahead of the receiver's clock a record's timestamp may be. */
export const MAX_CLOCK_SKEW_MS = 10 * 60 * 1000
/** Sequence numbers start at 1 and stay exact in a JavaScript number. */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER
