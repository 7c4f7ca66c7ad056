// CapsuleNode's own posts on a real store (a SQLite file), with the mesh faked as the records it
// is handed; the real mesh takes them in e2e/node.test.ts and bench/propagation.mts.

import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { VerifiedRecord } from '@capsule/core'
import { type CommittedTrace, traceNow } from '@capsule/mesh'
import { Store } from '@capsule/store'
import { afterEach, describe, expect, it } from 'vitest'
import { generateIdentity } from '../identity.js'
import { CapsuleNode, type MeshPort } from './capsule-node.js'

const quiet = { info() {}, warn() {}, error() {} }
const cleanups: (() => void)[] = []

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

async function nodeWithFakeMesh() {
  const dir = mkdtempSync(join(tmpdir(), 'capsule-node-'))
  const store = Store.open(join(dir, 'capsule.db'))
  cleanups.push(() => {
    store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const published: VerifiedRecord[] = []
  const mesh: MeshPort = {
    publish: async (record) => published.push(record),
    follow: () => Promise.reject(new Error('not in this test')),
    unfollow: () => Promise.reject(new Error('not in this test')),
  }
  // A second connection to the file sees only committed transactions.
  const reader = Store.open(join(dir, 'capsule.db'), { readonly: true })
  cleanups.unshift(() => reader.close())
  return { node: new CapsuleNode(store, await generateIdentity(), mesh, quiet), reader, published }
}

describe('CapsuleNode', () => {
  it('traces an own post once it is committed, before the mesh has it', async () => {
    const { node, reader, published } = await nodeWithFakeMesh()
    const atTrace: { trace: CommittedTrace; committed: boolean; published: number; at: number }[] = []
    const listener = (message: unknown) => {
      const trace = message as CommittedTrace
      const committed = reader.records.get(trace.record.id) !== undefined
      atTrace.push({ trace, committed, published: published.length, at: traceNow() })
    }
    subscribe('capsule:record:committed', listener)
    cleanups.push(() => unsubscribe('capsule:record:committed', listener))
    const before = traceNow()
    const record = await node.post('hello')
    expect(atTrace).toHaveLength(1)
    const [{ trace, committed, published: publishedThen, at }] = atTrace as [(typeof atTrace)[0]]
    expect(trace.record.id).toBe(record.id)
    expect(committed).toBe(true)
    expect(publishedThen).toBe(0)
    expect(published.map((r) => r.id)).toEqual([record.id])
    expect(trace.signingAt).toBeGreaterThanOrEqual(before)
    expect(trace.signingAt).toBeLessThanOrEqual(at)
  })
})
