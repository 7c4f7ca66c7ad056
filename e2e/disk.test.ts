import { execFileSync } from 'node:child_process'
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { capsule, Daemon, ok, okJson } from './harness.js'
import { integrityCheck, recordIds } from './hostile-tools.js'

// A full disk and a read-only database, for real: a 4 MiB tmpfs as the node's home, filled to
// the last byte, and a read-only bind mount. Needs root (mount); skipped otherwise.
const root = process.getuid?.() === 0
const LISTEN = ['--listen', '/ip4/127.0.0.1/tcp/0', '--private-network']
const daemons: Daemon[] = []
const mounts: string[] = []

function mount(args: string[], target: string): void {
  execFileSync('mount', [...args, target])
  mounts.push(target)
}

afterAll(async () => {
  await Promise.all(daemons.splice(0).map((daemon) => daemon.stop('SIGKILL')))
  for (const target of mounts.reverse()) {
    try {
      execFileSync('umount', [target])
    } catch {
      execFileSync('umount', ['-l', target])
    }
  }
})

/** Writes zeros into `file` until the disk refuses; returns how many bytes fitted. */
function fill(file: string): number {
  const fd = openSync(file, 'w')
  const chunk = Buffer.alloc(64 * 1024)
  let written = 0
  try {
    for (;;) {
      try {
        written += writeSync(fd, chunk)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error
        // Fill the last partial chunk too.
        if (chunk.length === 1) return written
        return written + fillSmall(fd)
      }
    }
  } finally {
    closeSync(fd)
  }
}

function fillSmall(fd: number): number {
  let written = 0
  for (let size = 32 * 1024; size >= 1; size = Math.floor(size / 2)) {
    const chunk = Buffer.alloc(size)
    for (;;) {
      try {
        written += writeSync(fd, chunk)
      } catch {
        break
      }
    }
  }
  return written
}

describe.skipIf(!root)('disk trouble', () => {
  it('a full disk: the CLI says disk-full, the daemon keeps running, the file stays sound', async () => {
    const mountpoint = mkdtempSync(join(tmpdir(), 'capsule-e2e-full-'))
    mount(['-t', 'tmpfs', '-o', 'size=4M,mode=0700', 'tmpfs'], mountpoint)
    const home = join(mountpoint, 'home')
    const daemon = await Daemon.start(home, LISTEN)
    daemons.push(daemon)
    const before = (await okJson<{ id: string }>(home, ['post', 'before the disk filled'])).id
    const filler = join(mountpoint, 'filler')
    const filled = fill(filler)
    // Post until the disk refuses (SQLite may still have room in pages it holds).
    let refused: { code: number; stderr: string } | undefined
    const acknowledged = [before]
    for (let n = 0; n < 200 && refused === undefined; n++) {
      const result = await capsule(home, ['post', `while full ${n} ${'x'.repeat(900)}`, '--json'])
      if (result.code === 0) acknowledged.push((JSON.parse(result.stdout) as { id: string }).id)
      else refused = result
    }
    expect(refused, 'a post was refused once the disk was full').toBeDefined()
    expect(refused!.stderr).toMatch(/full/i)
    console.info(
      `disk full: filler ${filled} bytes, ${acknowledged.length} posts acknowledged, then: ${refused!.stderr.trim()}`,
    )
    // The daemon is still up and still answers reads.
    expect((await okJson<{ running: boolean }>(home, ['status'])).running).toBe(true)
    expect(daemon.child.exitCode).toBe(null)
    // Free the space: posting works again, and nothing acknowledged was lost.
    rmSync(filler)
    const after = (await okJson<{ id: string }>(home, ['post', 'after freeing space'])).id
    await daemon.stop()
    expect(integrityCheck(home)).toBe('ok')
    const stored = recordIds(home)
    expect([...acknowledged, after].filter((id) => !stored.has(id))).toEqual([])
  })

  it('a read-only database: capsule up says so and the file is untouched', async () => {
    const base = mkdtempSync(join(tmpdir(), 'capsule-e2e-ro-'))
    const home = join(base, 'home')
    const daemon = await Daemon.start(home, LISTEN)
    const posted = (await okJson<{ id: string }>(home, ['post', 'kept'])).id
    await daemon.stop()
    // Root ignores file modes, so make the whole home a read-only bind mount.
    const readOnly = join(base, 'ro')
    mkdirSync(readOnly)
    mount(['--bind', home], readOnly)
    execFileSync('mount', ['-o', 'remount,bind,ro', readOnly])
    const started = await capsule(readOnly, ['up', ...LISTEN])
    expect(started.code).not.toBe(0)
    expect(`${started.stderr}${started.stdout}`).toMatch(/read-only|readonly/i)
    console.info(`read-only: capsule up exited ${started.code}: ${started.stderr.trim().split('\n')[0]}`)
    expect(integrityCheck(home)).toBe('ok')
    expect(recordIds(home).has(posted)).toBe(true)
    // And a node on it works again once it is writable.
    const again = await Daemon.start(home, LISTEN)
    daemons.push(again)
    await ok(home, ['post', 'writable again'])
  })
})
