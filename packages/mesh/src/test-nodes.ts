import { createSigner, type RecordDraft, type Signer, signRecord, type VerifiedRecord } from '@capsule/core'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey, TypedEventTarget } from '@libp2p/interface'
import type { MeshConfig } from './config.js'
import type { Logger } from './interfaces.js'
import { MemoryPeers, MemoryRecords } from './memory-records.js'
import { createMesh, type Mesh } from './mesh.js'
import type { VerifySignatures } from './sync-protocol.js'

/**
 * Helpers for tests that run real meshes over loopback TCP in one process. Exported so the app's
 * and e2e tests can reuse them; nothing here mocks the network.
 */

/** Settings every loopback test node needs: port 0, loopback addresses kept, no per-IP limits. */
export const LOOPBACK_TEST_CONFIG = {
  listen: ['/ip4/127.0.0.1/tcp/0'],
  allowPrivateAddresses: true,
  ipColocationWhitelist: ['127.0.0.1'],
  connectionAllow: ['/ip4/127.0.0.0/ipcidr/8'],
} satisfies Partial<MeshConfig>

/** Tests stay quiet; pass `logger` to startTestNode to watch one node. */
export const quietLogger: Logger = { info() {}, warn() {}, error() {} }

export interface TestNode {
  mesh: Mesh
  records: MemoryRecords
  peers: MemoryPeers
  key: PrivateKey
  signer: Signer
  id: string
  /** Signs and stores a record of this node without gossiping it (as if gossip lost it). */
  store(draft: RecordDraft | string): VerifiedRecord
  /** Signs, stores and publishes a record of this node, as the app does. */
  post(draft: RecordDraft | string): Promise<VerifiedRecord>
  /** A new mesh with the same key, records and peer memory (a restart). */
  restart(config?: Partial<MeshConfig>): Promise<void>
}

export async function startTestNode(
  config: Partial<MeshConfig> = {},
  state: {
    key?: PrivateKey
    records?: MemoryRecords
    peers?: MemoryPeers
    logger?: Logger
    verifySignatures?: VerifySignatures
    prepareVerification?: () => void
  } = {},
): Promise<TestNode> {
  const key = state.key ?? (await generateKeyPair('Ed25519'))
  const records = state.records ?? new MemoryRecords()
  const peers = state.peers ?? new MemoryPeers()
  const signer = createSigner(key)
  const make = (extra: Partial<MeshConfig>) =>
    createMesh(
      { privateKey: key, ...LOOPBACK_TEST_CONFIG, ...config, ...extra },
      {
        records,
        peers,
        logger: state.logger ?? quietLogger,
        ...(state.verifySignatures ? { verifySignatures: state.verifySignatures } : {}),
        ...(state.prepareVerification ? { prepareVerification: state.prepareVerification } : {}),
      },
    )
  const node: TestNode = {
    mesh: make({}),
    records,
    peers,
    key,
    signer,
    id: signer.author,
    store(draft) {
      const full: RecordDraft = typeof draft === 'string' ? { kind: 'post', text: draft } : draft
      const record = signRecord(full, signer, { seq: records.highestSeq(signer.author) + 1, ts: Date.now() })
      records.ingest([record])
      return record
    },
    async post(draft) {
      const record = node.store(draft)
      await node.mesh.publish(record)
      return record
    },
    async restart(extra = {}) {
      await node.mesh.stop()
      node.mesh = make(extra)
      await node.mesh.start()
    },
  }
  await node.mesh.start()
  return node
}

/**
 * Resolves once `condition()` holds, re-checking it on each `event` of `target`; rejects after
 * `timeoutMs` with `what` in the message. No polling, no sleeps.
 */
export function until<E extends Record<string, unknown>>(
  target: TypedEventTarget<E>,
  event: keyof E & string,
  condition: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  if (condition()) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!condition()) return
      clearTimeout(timer)
      target.removeEventListener(event, check)
      resolve()
    }
    const timer = setTimeout(() => {
      target.removeEventListener(event, check)
      reject(new Error(`timed out waiting for ${what}`))
    }, timeoutMs)
    target.addEventListener(event, check)
  })
}

/** Waits until `a` sees `b` subscribed to `author`'s topic, so gossip from `a` reaches `b`. */
export function untilSubscribed(a: Mesh, b: string, author: string, timeoutMs = 10_000): Promise<void> {
  return until(
    a,
    'topic:peers',
    () => a.topicPeers(author).includes(b),
    `${b} on ${author}'s topic`,
    timeoutMs,
  )
}

/** Waits until `a` has `b` in its gossip mesh for `author`'s topic, so `a` forwards records to `b`. */
export function untilMeshed(a: Mesh, b: string, author: string, timeoutMs = 10_000): Promise<void> {
  return until(
    a,
    'topic:mesh',
    () => a.meshPeers(author).includes(b),
    `${b} in the mesh of ${author}'s topic`,
    timeoutMs,
  )
}
