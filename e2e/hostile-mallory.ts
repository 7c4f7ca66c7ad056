import { authorTopic, createSigner, type Signer, signRecord } from '@capsule/core'
import * as dagCbor from '@ipld/dag-cbor'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import * as lp from 'it-length-prefixed'
import { type PlainNode, startPlainNode } from './plain-node.js'

const SYNC = '/capsule/sync/1.0.0'

/** How Mallory answers a sync request made to her. */
export type SyncAnswerMode = 'garbage' | 'endless' | 'absurd-length'

/**
 * A plain js-libp2p node (no Capsule code on its paths) that signs with its own key and behaves
 * badly on gossip and on the sync protocol, in every way the issue lists.
 */
export class Mallory {
  readonly signer: Signer
  /** How many sync requests made to Mallory were answered badly, by mode. */
  readonly answered: Record<SyncAnswerMode, number> = { garbage: 0, endless: 0, 'absurd-length': 0 }
  #answers = 0
  #streams = new Set<Stream>()

  private constructor(
    readonly node: PlainNode,
    signer: Signer,
  ) {
    this.signer = signer
  }

  static async start(): Promise<Mallory> {
    const privateKey = await generateKeyPair('Ed25519')
    const node = await startPlainNode(privateKey)
    const mallory = new Mallory(node, createSigner(privateKey))
    await node.handle(SYNC, (stream) => mallory.#answer(stream), { runOnLimitedConnection: true })
    node.services.pubsub.subscribe(authorTopic(mallory.signer.author))
    return mallory
  }

  get peerId(): string {
    return this.signer.author
  }

  address(): string {
    return this.node.getMultiaddrs()[0]!.toString()
  }

  async connect(address: string): Promise<void> {
    await this.node.dial(multiaddr(address))
  }

  /** Publishes each payload on `topic`; returns how many reached at least one peer. */
  async publish(topic: string, payloads: Uint8Array[]): Promise<number> {
    const pubsub = this.node.services.pubsub
    if (!pubsub.getTopics().includes(topic)) pubsub.subscribe(topic)
    let reached = 0
    for (const payload of payloads) {
      try {
        if ((await pubsub.publish(topic, payload)).recipients.length > 0) reached++
      } catch {
        // Duplicate or no peers: gossipsub refuses locally; still a try.
      }
    }
    return reached
  }

  /** Own records, validly signed: `count` of them from `seq`, with the given timestamp. */
  sign(count: number, options: { seq: number; ts?: number; text?: string }): Uint8Array[] {
    return Array.from(
      { length: count },
      (_, i) =>
        signRecord({ kind: 'post', text: `${options.text ?? 'mallory'} ${i}` }, this.signer, {
          seq: options.seq + i,
          ts: options.ts ?? Date.now(),
        }).bytes,
    )
  }

  /**
   * Sends `count` sync requests to `peer` for `author`'s records with an absurd limit; returns
   * how many were answered with records and how many were refused (by reason).
   */
  async hugeSyncRequests(
    peer: string,
    author: string,
    count: number,
  ): Promise<{ served: number; refused: Record<string, number>; failed: number }> {
    const result = { served: 0, refused: {} as Record<string, number>, failed: 0 }
    for (let n = 0; n < count; n++) {
      try {
        const stream = await this.node.dialProtocol(multiaddr(peer), SYNC)
        stream.send(lp.encode.single(dagCbor.encode({ op: 'records', author, after: 0, limit: 2 ** 50 })))
        await stream.close()
        let header: { ok: boolean; error?: string } | undefined
        for await (const frame of lp.decode(stream, { maxDataLength: 16 * 1024 })) {
          header ??= dagCbor.decode(frame.subarray()) as { ok: boolean; error?: string }
        }
        if (header?.ok) result.served++
        else if (header?.error) result.refused[header.error] = (result.refused[header.error] ?? 0) + 1
        else result.failed++
      } catch {
        result.failed++
      }
    }
    return result
  }

  /** Answers a sync request badly, cycling through the modes. */
  #answer(stream: Stream): void {
    const modes: SyncAnswerMode[] = ['garbage', 'endless', 'absurd-length']
    const mode = modes[this.#answers++ % modes.length]!
    this.answered[mode]++
    this.#streams.add(stream)
    const forget = () => this.#streams.delete(stream)
    if (mode === 'absurd-length') {
      // A frame that claims 2 GiB.
      stream.send(Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x08]))
      return
    }
    if (mode === 'garbage') {
      void (async () => {
        const junk = new Uint8Array(4096).map((_, i) => (i * 131 + 7) & 0xff)
        for (let i = 0; i < 256 && stream.status === 'open'; i++)
          if (!stream.send(junk)) await stream.onDrain().catch(() => undefined)
      })().finally(forget)
      return
    }
    // endless: a plausible header, then records one by one, never the end.
    void (async () => {
      stream.send(lp.encode.single(dagCbor.encode({ ok: true, highest: 1e9, count: 256 })))
      for (let seq = 1_000_000; stream.status === 'open'; seq++) {
        stream.send(lp.encode.single(this.sign(1, { seq })[0]!))
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    })()
      .catch(() => undefined)
      .finally(forget)
  }

  async stop(): Promise<void> {
    for (const stream of this.#streams) stream.abort(new Error('mallory stops'))
    await this.node.stop()
  }
}
