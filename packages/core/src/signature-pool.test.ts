// Signature checks away from decodeRecord: parseRecord + accept (what the mesh does with a page of
// synced records), and the worker-thread pool that verifies them, against verifySignature on this
// thread. Real worker threads, real Ed25519.
import { readFileSync } from 'node:fs'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createSignaturePool,
  createSigner,
  decodeRecord,
  InvalidRecordError,
  parseRecord,
  type SignatureCheck,
  type SignatureVerifier,
  signRecord,
  verifySignature,
} from './index.js'

const signer = createSigner(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(7)))
const NOW = 1_768_482_000_000
const records = Array.from({ length: 300 }, (_, i) =>
  signRecord({ kind: 'post', text: `post ${i}` }, signer, { seq: i + 1, ts: NOW }),
)
const vector = (name: string) =>
  Buffer.from(
    JSON.parse(readFileSync(new URL(`../test-vectors/${name}.json`, import.meta.url), 'utf8')).record,
    'hex',
  )

const invalidVector = (name: string) =>
  Buffer.from(
    (
      JSON.parse(readFileSync(new URL('../test-vectors/invalid.json', import.meta.url), 'utf8')) as {
        cases: { name: string; record: string }[]
      }
    ).cases.find((c) => c.name === name)?.record ?? '',
    'hex',
  )

function reasonOf(work: () => unknown): string {
  try {
    work()
  } catch (error) {
    if (error instanceof InvalidRecordError) return error.reason
    throw error
  }
  return 'valid'
}

/** A copy of a check with one bit of its signature flipped. */
function forged(check: SignatureCheck): SignatureCheck {
  const signature = Uint8Array.from(check.signature)
  signature[10] = (signature[10] as number) ^ 1
  return { ...check, signature }
}

describe('parseRecord and accept', () => {
  it('gives the same record as decodeRecord once every signature passes', () => {
    for (const bytes of [records[0]?.bytes as Uint8Array, vector('reshare'), vector('profile-site')]) {
      const parsed = parseRecord(bytes, { now: NOW })
      expect(parsed.accept(parsed.signatures.map(verifySignature))).toEqual(decodeRecord(bytes, { now: NOW }))
    }
  })

  it('needs the embedded original’s signature as well as the reshare’s, and names which failed', () => {
    const parsed = parseRecord(vector('reshare'), { now: NOW })
    expect(parsed.signatures).toHaveLength(2)
    expect(parsed.claimed.kind).toBe('reshare')
    expect(reasonOf(() => parsed.accept([false, true]))).toBe('bad-embed')
    expect(reasonOf(() => parsed.accept([true, false]))).toBe('bad-signature')
    expect(() => parsed.accept([true])).toThrow(TypeError)
  })

  it('refuses a record dated too far ahead only after its signature is known', () => {
    const parsed = parseRecord(records[0]?.bytes as Uint8Array, { now: NOW - 60 * 60_000 })
    expect(reasonOf(() => parsed.accept([false]))).toBe('bad-signature')
    expect(reasonOf(() => parsed.accept([true]))).toBe('future-timestamp')
  })

  it('refuses what is malformed before any signature is checked', () => {
    const bytes = Uint8Array.from(records[0]?.bytes as Uint8Array)
    bytes[3] = 0xff
    expect(reasonOf(() => parseRecord(bytes))).not.toBe('valid')
  })
})

/**
 * Verifies a batch and tells whether the answer had to wait for another task: checked on the
 * calling thread it is ready within a few microtasks, while a worker thread's part comes back as
 * a message, which no microtask can deliver.
 */
async function verifyWatched(pool: SignatureVerifier, batch: SignatureCheck[]) {
  let settled = false
  const answer = pool.verify(batch).then((valid) => {
    settled = true
    return valid
  })
  for (let tick = 0; tick < 20; tick++) await Promise.resolve()
  const offThread = !settled
  return { valid: await answer, offThread }
}

describe('createSignaturePool', () => {
  const pool = createSignaturePool({ threads: 2 })
  beforeAll(() => pool.start())
  afterAll(() => pool.close())
  const checks = records.flatMap((record) => parseRecord(record.bytes, { now: NOW }).signatures)

  it('verifies a batch on worker threads with the same answers as this thread', async () => {
    // With the small-order key's forgery too, which only libsodium's extra checks refuse.
    const smallOrder = parseRecord(invalidVector('small-order-key'), { now: NOW }).signatures
    const mixed = [...checks.map((check, i) => (i % 7 === 3 ? forged(check) : check)), ...smallOrder]
    const { valid, offThread } = await verifyWatched(pool, mixed)
    expect(offThread).toBe(true)
    expect(valid).toEqual(mixed.map(verifySignature))
    expect(valid.filter((v) => !v)).toHaveLength(checks.filter((_, i) => i % 7 === 3).length + 1)
  })

  it('answers false for keys and signatures of the wrong size, and the rest as usual', async () => {
    const first = checks[0] as SignatureCheck
    const batch = [
      ...checks.slice(0, 40),
      { ...first, publicKey: first.publicKey.subarray(0, 31) },
      { ...first, signature: new Uint8Array(65) },
    ]
    expect(await pool.verify(batch)).toEqual([...Array(40).fill(true), false, false])
  })

  it('runs batches at once and keeps each one’s order', async () => {
    const batches = [checks.slice(0, 100), checks.slice(100, 200).map(forged), checks.slice(200)]
    const answers = await Promise.all(batches.map((batch) => pool.verify(batch)))
    expect(answers.map((valid) => valid.every(Boolean))).toEqual([true, false, true])
    expect(answers[1]?.some(Boolean)).toBe(false)
  })

  it('checks batches on the calling thread until a thread has started, and after it stopped idle', async () => {
    const idle = createSignaturePool({ threads: 1, idleMs: 20 })
    const batch = [...checks.slice(0, 20), forged(checks[20] as SignatureCheck)]
    const expected = batch.map(verifySignature)
    // The first batch starts the thread and does not wait for it.
    expect(await verifyWatched(idle, batch)).toEqual({ valid: expected, offThread: false })
    await idle.start()
    expect(await verifyWatched(idle, batch)).toEqual({ valid: expected, offThread: true })
    // Idle for longer than idleMs: the thread stopped, so the next batch is checked here again.
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(await verifyWatched(idle, batch)).toEqual({ valid: expected, offThread: false })
    await idle.close()
  })

  it('still verifies after close, on the calling thread', async () => {
    const closed = createSignaturePool({ threads: 1 })
    await closed.close()
    const batch = [...checks.slice(0, 20), forged(checks[20] as SignatureCheck)]
    expect(await closed.verify(batch)).toEqual([...Array(20).fill(true), false])
  })
})
