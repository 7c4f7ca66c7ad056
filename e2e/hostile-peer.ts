import { authorTopic, createSigner, MAX_RECORD_BYTES, signRecord } from '@capsule/core'
import * as dagCbor from '@ipld/dag-cbor'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { type PlainNode, startPlainNode } from './plain-node.js'

/**
 * A plain js-libp2p gossipsub node, with no Capsule code on its receive or send path, that
 * publishes records no honest node would accept.
 */
export class HostilePeer {
  private constructor(readonly node: PlainNode) {}

  static async start(): Promise<HostilePeer> {
    const node = await startPlainNode()
    return new HostilePeer(node)
  }

  async connect(address: string): Promise<void> {
    await this.node.dial(multiaddr(address))
  }

  /**
   * Publishes on `victim`'s topic: a record with a forged signature, an oversized record, and a
   * valid record by another author. Each is sent once it reaches a peer (a young connection may
   * have no outbound stream yet, and gossipsub then sends to nobody); returns how many were sent.
   */
  async publishForgeries(victim: string): Promise<number> {
    const topic = authorTopic(victim)
    const pubsub = this.node.services.pubsub
    pubsub.subscribe(topic)
    const mallory = createSigner(await generateKeyPair('Ed25519'))
    const forgeries: ((attempt: number) => Uint8Array)[] = [
      // Signed by mallory, relabelled as the victim's: the signature no longer matches the author.
      (attempt) =>
        relabel(
          signRecord({ kind: 'post', text: `forged ${attempt}` }, mallory, { seq: 1, ts: Date.now() }).bytes,
          { author: victim },
        ),
      (attempt) =>
        relabel(
          signRecord({ kind: 'post', text: `big ${attempt}` }, mallory, { seq: 1, ts: Date.now() }).bytes,
          {
            text: 'x'.repeat(MAX_RECORD_BYTES),
          },
        ),
      (attempt) =>
        signRecord({ kind: 'post', text: `not the victim ${attempt}` }, mallory, { seq: 2, ts: Date.now() })
          .bytes,
    ]
    let sent = 0
    for (const make of forgeries) {
      for (let attempt = 0; attempt < 100; attempt++) {
        if ((await pubsub.publish(topic, make(attempt))).recipients.length > 0) {
          sent++
          break
        }
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
    return sent
  }

  async stop(): Promise<void> {
    await this.node.stop()
  }
}

/** Re-encodes a signed record with payload fields replaced, keeping the old signature. */
export function relabel(bytes: Uint8Array, fields: Record<string, unknown>): Uint8Array {
  const outer = dagCbor.decode(bytes) as { payload: Uint8Array; sig: Uint8Array }
  const payload = dagCbor.decode(outer.payload) as Record<string, unknown>
  return dagCbor.encode({ payload: dagCbor.encode({ ...payload, ...fields }), sig: outer.sig })
}
