// plainCanonicalMap against the general way (decode with @ipld/dag-cbor, then re-encode and compare):
// it must read every plain canonical map as the decoder does, and accept nothing the general way
// would find non-canonical. Property tests (fast-check) on encodings and on their mutations.
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { plainCanonicalMap } from './canonical-payload.js'

const hex = (text: string) => Uint8Array.from(Buffer.from(text.replace(/ /g, ''), 'hex'))

/** What the general way makes of bytes: the decoded value if they are its canonical encoding. */
function generalCanonical(bytes: Uint8Array): unknown {
  try {
    const value = dagCbor.decode(bytes)
    return Buffer.compare(dagCbor.encode(value), bytes) === 0 ? value : undefined
  } catch {
    return undefined
  }
}

const plainMapArb = fc.dictionary(
  fc.stringMatching(/^[a-z]{0,9}$/),
  fc.oneof(fc.nat(), fc.maxSafeNat(), fc.string({ unit: 'binary', maxLength: 40 }), fc.constant('\u{feff}x')),
  { maxKeys: 8 },
)

/** One edit of a byte string: a byte replaced, inserted or removed. */
const editedArb = plainMapArb.chain((map) => {
  const bytes = dagCbor.encode(map)
  return fc
    .tuple(fc.nat(bytes.length), fc.nat(255), fc.constantFrom('replace', 'insert', 'remove'))
    .map(([at, byte, edit]) => {
      const out = [...bytes]
      if (edit === 'replace') out[at % bytes.length] = byte
      else if (edit === 'insert') out.splice(at, 0, byte)
      else out.splice(at % bytes.length, 1)
      return Uint8Array.from(out)
    })
})

describe('plainCanonicalMap', () => {
  it('reads every plain map as the general way does', () => {
    fc.assert(
      fc.property(plainMapArb, (map) => {
        const bytes = dagCbor.encode(map)
        const read = plainCanonicalMap(bytes)
        expect(read).toEqual(generalCanonical(bytes))
      }),
      { numRuns: 500 },
    )
  })

  it('accepts only bytes that are the canonical encoding of what it returns', () => {
    fc.assert(
      fc.property(fc.oneof(editedArb, fc.uint8Array({ maxLength: 40 })), (bytes) => {
        const read = plainCanonicalMap(bytes)
        if (read !== undefined) expect(read).toEqual(generalCanonical(bytes))
      }),
      { numRuns: 5000 },
    )
  })

  it('leaves to the general way what is not canonical or not plain', () => {
    const cases = {
      'a non-minimal integer': 'a1 61 61 18 05',
      'keys out of order': 'a2 61 62 01 61 61 02',
      'a longer key first': 'a2 62 61 61 01 61 62 02',
      'a repeated key': 'a2 61 61 01 61 61 02',
      'an indefinite map': 'bf 61 61 01 ff',
      'a float': 'a1 61 61 fb 3ff0000000000000',
      'invalid UTF-8': 'a1 61 61 62 c3 28',
      'an upper-case key': 'a1 61 41 01',
      'a byte string': 'a1 61 61 41 00',
      'trailing bytes': 'a1 61 61 01 00',
      'a text cut short': 'a1 61 61 65 61 62',
      'an integer beyond 2^53': 'a1 61 61 1b 0020000000000000',
    }
    for (const [what, bytes] of Object.entries(cases))
      expect(plainCanonicalMap(hex(bytes)), what).toBeUndefined()
  })

  it('keeps a leading U+FEFF (a byte order mark) as a character of the text, as the general way does', () => {
    for (const text of ['\u{feff}hi', '\u{feff}', '\u{feff}\u{feff}x', 'hi\u{feff}']) {
      const bytes = dagCbor.encode({ a: text })
      expect(plainCanonicalMap(bytes)).toEqual({ a: text })
      expect(generalCanonical(bytes)).toEqual({ a: text })
    }
  })
})
