// FrameReader on a stream faked as its chunks (the sync protocol's tests run it over real libp2p
// streams): frames cut at any point between chunks, several in one chunk, a frame the stream
// ends inside, lengths over the bound, and a read that a signal ends.
import type { Stream } from '@libp2p/interface'
import fc from 'fast-check'
import * as lp from 'it-length-prefixed'
import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import { FrameReader } from './frame-reader.js'

/** A stream that yields these chunks, then ends; or never ends, if `hang`. */
function chunked(chunks: (Uint8Array | Uint8ArrayList)[], hang = false): Stream {
  return {
    async *[Symbol.asyncIterator]() {
      yield* chunks
      if (hang) await new Promise(() => undefined)
    },
  } as unknown as Stream
}

async function readAll(reader: FrameReader): Promise<Uint8Array[]> {
  const frames: Uint8Array[] = []
  for (let frame = await reader.next(); frame !== undefined; frame = await reader.next()) frames.push(frame)
  return frames
}

const framesArb = fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 })

describe('FrameReader', () => {
  it('reads the frames sent, however the bytes are cut into chunks', async () => {
    await fc.assert(
      fc.asyncProperty(framesArb, fc.array(fc.nat(), { maxLength: 10 }), async (frames, cuts) => {
        const bytes = new Uint8ArrayList(...frames.map((frame) => lp.encode.single(frame))).subarray()
        const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b)
        const chunks = [0, ...points].map((from, i) => bytes.subarray(from, points[i] ?? bytes.length))
        // Some chunks as lists of two parts, as yamux may hand them over.
        const mixed = chunks.map((chunk, i) =>
          i % 2 === 1 ? new Uint8ArrayList(chunk.subarray(0, 1), chunk.subarray(1)) : chunk,
        )
        const reader = new FrameReader(chunked(mixed), 1000)
        expect((await readAll(reader)).map((frame) => [...frame])).toEqual(frames.map((frame) => [...frame]))
        expect(reader.bytes).toBe(frames.reduce((sum, frame) => sum + frame.length, 0))
      }),
      { numRuns: 300 },
    )
  })

  it('refuses a frame the stream ends inside, and lengths over the bound', async () => {
    const cut = new FrameReader(chunked([Uint8Array.of(1, 7, 100, 1, 2, 3)]), 1000)
    expect([...((await cut.next()) as Uint8Array)]).toEqual([7])
    await expect(cut.next()).rejects.toMatchObject({ code: 'bad-frame' })
    const long = new FrameReader(chunked([lp.encode.single(new Uint8Array(1001)).subarray()]), 1000)
    await expect(long.next()).rejects.toMatchObject({ code: 'too-large' })
    const endless = new FrameReader(chunked([Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff)]), 1000)
    await expect(endless.next()).rejects.toMatchObject({ code: 'too-large' })
  })

  it('ends a read when the signal aborts, even if the stream never does', async () => {
    const reader = new FrameReader(chunked([Uint8Array.of(1, 7, 3)], true), 1000, AbortSignal.timeout(50))
    expect([...((await reader.next()) as Uint8Array)]).toEqual([7])
    await expect(reader.next()).rejects.toMatchObject({ name: 'TimeoutError' })
  })
})
