/**
 * Reads a record payload that is a canonical DAG-CBOR map of the plainest kind (what posts and
 * profiles are): keys of lowercase ASCII letters in canonical order, each value an unsigned
 * integer or a UTF-8 text string, every length and integer in its shortest form, nothing after
 * the map. Such bytes are exactly what the canonical encoder writes for the map returned, so a
 * record read this way needs no general decoding and no re-encoding to prove it canonical.
 * Anything else (another type, a tag, a long map, a key or form out of the ordinary) gives
 * undefined, and the caller goes the general way, which names what is wrong.
 */

const MAJOR_UINT = 0
const MAJOR_TEXT = 3
const MAJOR_MAP = 5
/** Longer maps than this are not records of the kinds read here. */
const MAX_ENTRIES = 23

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Reads items' heads; `value` holds the argument of the last one read. */
class Reader {
  at = 0
  value = 0
  constructor(readonly bytes: Uint8Array) {}

  /** Reads the next head: its major type, or -1 unless its argument is shortest (and safe). */
  head(): number {
    const { bytes } = this
    if (this.at >= bytes.length) return -1
    const initial = bytes[this.at++] as number
    const info = initial & 0x1f
    if (info < 24) {
      this.value = info
      return initial >> 5
    }
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0
    if (size === 0 || this.at + size > bytes.length) return -1
    let value = 0
    for (let i = 0; i < size; i++) value = value * 256 + (bytes[this.at + i] as number)
    this.at += size
    this.value = value
    // Shortest form: each size holds what the one below cannot.
    const least = size === 1 ? 24 : size === 2 ? 0x100 : size === 4 ? 0x1_0000 : 0x1_0000_0000
    return value >= least && value <= Number.MAX_SAFE_INTEGER ? initial >> 5 : -1
  }
}

/**
 * The key of `length` bytes at `at` if it is lowercase ASCII letters sorting after the previous
 * key (at `previousAt`, `previousLength` bytes) in DAG-CBOR's order: shorter first, then bytewise.
 */
function keyAfter(bytes: Uint8Array, at: number, length: number, previousAt: number, previousLength: number) {
  let key = ''
  let order = length - previousLength
  for (let i = 0; i < length; i++) {
    const byte = bytes[at + i] as number
    if (byte < 0x61 || byte > 0x7a) return undefined
    if (order === 0) order = byte - (bytes[previousAt + i] as number)
    key += String.fromCharCode(byte)
  }
  return previousLength < 0 || order > 0 ? key : undefined
}

export function plainCanonicalMap(bytes: Uint8Array): Record<string, number | string> | undefined {
  const reader = new Reader(bytes)
  if (reader.head() !== MAJOR_MAP || reader.value > MAX_ENTRIES) return undefined
  const entries = reader.value
  const result: Record<string, number | string> = {}
  let previousAt = 0
  let previousLength = -1
  for (let i = 0; i < entries; i++) {
    if (reader.head() !== MAJOR_TEXT || reader.at + reader.value > bytes.length) return undefined
    const keyAt = reader.at
    const keyLength = reader.value
    const key = keyAfter(bytes, keyAt, keyLength, previousAt, previousLength)
    if (key === undefined) return undefined
    reader.at += keyLength
    previousAt = keyAt
    previousLength = keyLength
    const major = reader.head()
    if (major === MAJOR_UINT) result[key] = reader.value
    else if (major === MAJOR_TEXT && reader.at + reader.value <= bytes.length) {
      try {
        result[key] = utf8.decode(bytes.subarray(reader.at, reader.at + reader.value))
      } catch {
        return undefined // not UTF-8
      }
      reader.at += reader.value
    } else return undefined
  }
  return reader.at === bytes.length ? result : undefined
}
