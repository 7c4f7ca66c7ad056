// What each way of storing promises, seen from outside the process: `put` flushes every commit to
// the disk (an fsync or fdatasync per transaction, counted with strace), `putReceived` does not,
// yet loses nothing when the process is killed, and `put` flushes again right after it.
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Store } from './index.js'

const root = join(import.meta.dirname, '../../..')

/** A child Node process running `steps`: put(n) or putReceived(n) sign n posts, one transaction each. */
function script(dbPath: string, steps: string): string {
  return `
    import { createSigner, signRecord } from '@capsule/core'
    import { Store } from '@capsule/store'
    import { generateKeyPair } from '@libp2p/crypto/keys'
    const signer = createSigner(await generateKeyPair('Ed25519'))
    const store = Store.open(${JSON.stringify(dbPath)})
    let seq = 0
    const next = () => signRecord({ kind: 'post', text: 'p' + seq }, signer, { seq: ++seq, ts: Date.now() })
    const put = (n) => { for (let i = 0; i < n; i++) store.records.put([next()]) }
    const putReceived = (n) => { for (let i = 0; i < n; i++) store.records.putReceived([next()]) }
    ${steps}
  `
}

/** Disk flushes (fsync and fdatasync) the script makes after opening the store. */
function flushesOf(dbPath: string, steps: string): number {
  // Open the store once first, so creating the file and migrating it are not counted.
  Store.open(dbPath).close()
  const report = `${dbPath}.strace`
  execFileSync(
    'strace',
    [
      '-f',
      '-c',
      '-o',
      report,
      '-e',
      'trace=fsync,fdatasync',
      process.execPath,
      '--input-type=module',
      '-e',
      script(dbPath, steps),
    ],
    { cwd: root, stdio: 'inherit' },
  )
  const summary = readFileSync(report, 'utf8')
  return [...summary.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?f(?:data)?sync$/gm)].reduce(
    (sum, match) => sum + Number(match[1]),
    0,
  )
}

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'capsule-durability-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('durability', () => {
  it('flushes every put to the disk, no putReceived, and puts after a putReceived again', () => {
    expect(flushesOf(join(dir, 'put.db'), 'put(40)')).toBeGreaterThanOrEqual(40)
    expect(flushesOf(join(dir, 'received.db'), 'putReceived(40)')).toBeLessThan(10)
    expect(flushesOf(join(dir, 'both.db'), 'putReceived(40); put(40)')).toBeGreaterThanOrEqual(40)
  })

  it('loses no received record when the process is killed', async () => {
    const dbPath = join(dir, 'killed.db')
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        script(dbPath, "putReceived(500); console.log('stored'); setInterval(() => {}, 1000)"),
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    )
    await once(child.stdout, 'data')
    child.kill('SIGKILL')
    await once(child, 'exit')
    using store = Store.open(dbPath)
    expect(store.records.count()).toBe(500)
    expect(store.integrityCheck()).toBe('ok')
  })
})
