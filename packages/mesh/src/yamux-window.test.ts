import { yamux } from '@chainsafe/libp2p-yamux'
import type { MultiaddrConnection, Stream } from '@libp2p/interface'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'

// The yamux header: version (1 byte), type (1), flags (2), stream id (4), length (4); a data frame's
// body follows it. Type 1 is a window update.
const HEADER_LENGTH = 12
const WINDOW_UPDATE = 1
const DATA = 0

/** Counts the frames a connection sends, by type, as its bytes go out. */
function countSentFrames(connection: MultiaddrConnection): Map<number, number> {
  const counts = new Map<number, number>()
  const pending = new Uint8ArrayList()
  const send = connection.send.bind(connection)
  connection.send = (data) => {
    pending.append(data)
    while (pending.byteLength >= HEADER_LENGTH) {
      const type = pending.get(1)
      const bodyLength = type === DATA ? pending.getUint32(8) : 0
      if (pending.byteLength < HEADER_LENGTH + bodyLength) break
      counts.set(type, (counts.get(type) ?? 0) + 1)
      pending.consume(HEADER_LENGTH + bodyLength)
    }
    return send(data)
  }
  return counts
}

async function received(stream: Stream, bytes: number): Promise<void> {
  let seen = 0
  for await (const chunk of stream) {
    seen += chunk.byteLength
    if (seen >= bytes) return
  }
  throw new Error(`the stream ended after ${seen} of ${bytes} bytes`)
}

describe('yamux, as patched (patches/@chainsafe+libp2p-yamux+*.patch)', () => {
  it('grants the sender more credit once half the window is used, not after every frame', async () => {
    const [outbound, inbound] = multiaddrConnectionPair()
    const sentBySender = countSentFrames(outbound)
    const sentByReceiver = countSentFrames(inbound)
    const sender = yamux()().createStreamMuxer(outbound)
    const receiver = yamux()().createStreamMuxer(inbound)
    const FRAMES = 400
    const FRAME_BYTES = 1000
    // 400 KB through a 256 KiB window: it arrives only if credit is granted on the way.
    const arrived = new Promise<void>((resolve, reject) => {
      receiver.addEventListener('stream', (event) =>
        received(event.detail, FRAMES * FRAME_BYTES).then(resolve, reject),
      )
    })
    const stream = await sender.createStream()
    // One message a turn of the event loop, so each is a frame of its own, as gossip's are.
    for (let i = 0; i < FRAMES; i++) {
      if (!stream.send(new Uint8Array(FRAME_BYTES))) await stream.onDrain()
      await new Promise(setImmediate)
    }
    await arrived
    expect(sentBySender.get(DATA)).toBeGreaterThanOrEqual(FRAMES)
    // The stream's opening ACK, one for each doubling of the window as yamux tunes it (256 KiB to
    // 16 MiB: six at most), then one each time half of it is used; unpatched, one a data frame.
    const updates = sentByReceiver.get(WINDOW_UPDATE) ?? 0
    expect(updates).toBeGreaterThanOrEqual(2)
    expect(updates).toBeLessThanOrEqual(1 + 6 + Math.ceil((FRAMES * FRAME_BYTES) / (128 * 1024)))
    // One after the other: closing both at once rejects with the connection's close event.
    await sender.close()
    await receiver.close()
  })
})
