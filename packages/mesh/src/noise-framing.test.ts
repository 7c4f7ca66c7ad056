import { noise } from '@chainsafe/libp2p-noise'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { MessageStream } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddrConnectionPair } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'

async function encrypter() {
  const privateKey = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(privateKey)
  // The upgrader is only asked for stream muxers, whose negotiation these connections skip.
  return {
    peerId,
    noise: noise()({ peerId, privateKey, logger: defaultLogger(), upgrader: undefined as never }),
  }
}

/** The length prefix reader inside Noise's decrypting stream, a field of that stream. */
interface FrameDecoder {
  lengthDecoder: (buffer: Uint8ArrayList) => number
}

describe('Noise framing, as patched (patches/@libp2p+utils+*.patch)', () => {
  it('reads each frame without trying to read a length from an empty buffer', async () => {
    const [outbound, inbound] = multiaddrConnectionPair()
    const [initiator, responder] = await Promise.all([encrypter(), encrypter()])
    const options = { skipStreamMuxerNegotiation: true }
    const [sending, receiving] = await Promise.all([
      initiator.noise.secureOutbound(outbound, { ...options, remotePeer: responder.peerId }),
      responder.noise.secureInbound(inbound, options),
    ])
    // Unpatched, the decoder asks for one more length after the last whole frame of every read:
    // from an empty buffer, which throws a RangeError (a stack trace each time) that it catches.
    const decoder = (receiving.connection as MessageStream & { decoder: FrameDecoder }).decoder
    const bufferLengths: number[] = []
    const readLength = decoder.lengthDecoder
    decoder.lengthDecoder = (buffer) => {
      bufferLengths.push(buffer.byteLength)
      return readLength(buffer)
    }
    const MESSAGES = 100
    const received: number[] = []
    const allReceived = new Promise<void>((resolve) => {
      receiving.connection.addEventListener('message', (event) => {
        received.push(event.data.subarray()[0]!)
        if (received.length === MESSAGES) resolve()
      })
    })
    // One message a turn of the event loop, so each arrives in a read of its own, as gossip does.
    for (let i = 0; i < MESSAGES; i++) {
      sending.connection.send(new Uint8Array(300).fill(i))
      await new Promise(setImmediate)
    }
    await allReceived
    expect(received).toEqual(Array.from({ length: MESSAGES }, (_, i) => i))
    expect(bufferLengths.length).toBeGreaterThanOrEqual(MESSAGES)
    expect(bufferLengths.filter((length) => length === 0)).toEqual([])
    await Promise.all([sending.connection.close(), receiving.connection.close()])
  })
})
