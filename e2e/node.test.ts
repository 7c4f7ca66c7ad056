import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { MAX_TEXT_CHARS } from '@capsule/core'
import { afterEach, describe, expect, it } from 'vitest'
import { capsule, capsuleFile, cliEnv, Daemon, eventually, ok, okJson, tempHome } from './harness.js'

const LISTEN = ['--listen', '/ip4/127.0.0.1/tcp/0', '--private-network', '--http-port', '0']
const daemons: Daemon[] = []

async function up(home: string): Promise<Daemon> {
  const daemon = await Daemon.start(home, LISTEN)
  daemons.push(daemon)
  return daemon
}

afterEach(async () => {
  await Promise.all(daemons.splice(0).map((daemon) => daemon.stop('SIGKILL')))
})

interface FeedJson {
  records: { id: string; kind: string; text?: string; author: string }[]
}

/** A raw request on the socket, as curl --unix-socket would send it. */
function socketRequest(home: string, method: string, path: string, body?: string) {
  return new Promise<{ status: number; json: { error?: { code: string; message: string } } }>(
    (resolve, reject) => {
      const req = request({ socketPath: join(home, 'capsule.sock'), method, path }, (res) => {
        let text = ''
        res.on('data', (chunk) => {
          text += chunk
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }))
      })
      req.on('error', reject)
      req.end(body)
    },
  )
}

describe('a node on one machine', () => {
  it('posts, shows the feed newest first, and keeps every acknowledged post through SIGKILL', async () => {
    const home = tempHome()
    await ok(home, ['init', '--name', 'Alice'])
    const daemon = await up(home)
    const ids: string[] = []
    for (const text of ['first', 'second', 'third'])
      ids.push((await okJson<{ id: string }>(home, ['post', text])).id)
    const last = (await ok(home, ['post'], { input: 'from stdin\n' })).trim()
    // The daemon dies the instant the post returned: the post must already be on disk.
    await daemon.stop('SIGKILL')
    await up(home)
    const feed = await okJson<FeedJson>(home, ['feed'])
    expect(feed.records.map((record) => record.id)).toEqual([last, ...ids.reverse()])
    expect(feed.records.map((record) => record.text)).toEqual(['from stdin', 'third', 'second', 'first'])
    const human = await ok(home, ['feed', '--limit', '2'])
    expect(human).toContain(last)
    expect(human).toContain('more: capsule feed --before')
  })

  it('refuses a second init and leaves the identity unchanged', async () => {
    const home = tempHome()
    const { peerId } = await okJson<{ peerId: string }>(home, ['init'])
    const again = await capsule(home, ['init'])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('never overwrites')
    expect((await okJson<{ peerId: string }>(home, ['id'])).peerId).toBe(peerId)
  })

  it('restores the same identity from a key export', async () => {
    const home = tempHome()
    const { peerId } = await okJson<{ peerId: string }>(home, ['init'])
    const keyFile = join(tempHome('key'), '..', 'identity.key')
    await ok(home, ['key', 'export', keyFile])
    expect(statSync(keyFile).mode & 0o777).toBe(0o600)
    expect((await capsule(home, ['key', 'export', keyFile])).code).toBe(1)
    const restored = tempHome('restored')
    await ok(restored, ['init', '--import', keyFile])
    expect((await okJson<{ peerId: string }>(restored, ['id'])).peerId).toBe(peerId)
    const broken = join(keyFile, '..', 'broken.key')
    execFileSync('sh', ['-c', `sed 's/"peerId": "12D3/"peerId": "12D4/' ${keyFile} > ${broken}`])
    const refused = await capsule(tempHome('broken'), ['init', '--import', broken])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('damaged')
  })

  it('keeps the socket and the database owner-only, in a file sqlite3 can open', async () => {
    const home = tempHome()
    await up(home)
    await ok(home, ['post', 'hello sqlite'])
    expect(statSync(join(home, 'capsule.sock')).mode & 0o777).toBe(0o600)
    expect(statSync(join(home, 'capsule.db')).mode & 0o777).toBe(0o600)
    expect(statSync(home).mode & 0o777).toBe(0o700)
    const count = execFileSync('sqlite3', [
      join(home, 'capsule.db'),
      "SELECT count(*) FROM records WHERE kind = 'post'",
    ])
    expect(count.toString().trim()).toBe('1')
  })

  it('answers malformed socket requests with clear codes and keeps serving', async () => {
    const home = tempHome()
    await up(home)
    const badJson = await socketRequest(home, 'POST', '/v1/posts', '{"text": ')
    expect([badJson.status, badJson.json.error?.code]).toEqual([400, 'bad-json'])
    const unknown = await socketRequest(home, 'GET', '/v1/nothing-here')
    expect([unknown.status, unknown.json.error?.code]).toEqual([404, 'unknown-route'])
    const tooLong = await socketRequest(
      home,
      'POST',
      '/v1/posts',
      JSON.stringify({ text: 'x'.repeat(MAX_TEXT_CHARS + 1) }),
    )
    expect([tooLong.status, tooLong.json.error?.code]).toEqual([422, 'invalid-record'])
    expect(tooLong.json.error?.message).toContain(`${MAX_TEXT_CHARS} characters`)
    const badId = await socketRequest(home, 'DELETE', '/v1/records/not-an-id')
    expect([badId.status, badId.json.error?.code]).toEqual([400, 'invalid-argument'])
    const cli = await capsule(home, [
      'reshare',
      'bafyreigdyrztktqzcj6nhkilifa3a5eyvsp3v4xv6yaejycgbq6mqaae6u',
    ])
    expect(cli.code).toBe(1)
    expect(cli.stderr).toContain('[not-found]')
    const curl = execFileSync('curl', [
      '-s',
      '--unix-socket',
      join(home, 'capsule.sock'),
      'http://capsule/v1/status',
    ])
    expect(JSON.parse(curl.toString())).toMatchObject({ running: true, records: 0 })
  })

  it('says how to start the daemon when none runs, and exits 2 on usage errors', async () => {
    const home = tempHome()
    await ok(home, ['init'])
    const post = await capsule(home, ['post', 'nobody listening'])
    expect(post.code).toBe(1)
    expect(post.stderr).toContain('capsule up')
    const status = await okJson<{ running: boolean }>(home, ['status'])
    expect(status.running).toBe(false)
    expect((await capsule(home, ['feed', '--limit', 'many'])).code).toBe(2)
    expect((await capsule(home, ['no-such-command'])).code).toBe(2)
    expect((await capsule(home, ['post'], { input: '   ' })).code).toBe(2)
    expect(readFileSync(join(home, 'capsule.db')).length).toBeGreaterThan(0)
  })

  it('refuses to start a second daemon on the same home', async () => {
    const home = tempHome()
    await up(home)
    const second = await capsule(home, ['up', ...LISTEN])
    expect(second.code).toBe(1)
    expect(second.stderr).toContain('already running')
    expect((await okJson<{ running: boolean }>(home, ['status'])).running).toBe(true)
  })

  it('keeps the code a start compiled, and starts from it next time', async () => {
    const home = tempHome()
    const env = { XDG_CACHE_HOME: mkdtempSync(join(tmpdir(), 'capsule-e2e-cache-')) }
    const cacheFile = () => {
      const dir = join(env.XDG_CACHE_HOME, 'capsule')
      const [name] = readdirSync(dir).filter((file) => file.startsWith('code-'))
      return statSync(join(dir, name!))
    }
    await ok(home, ['init'], { env })
    const afterInit = cacheFile().size
    const daemon = await Daemon.start(home, LISTEN, env)
    daemons.push(daemon)
    // Taken once the daemon is ready: its modules and start-up, more than init compiled.
    const afterUp = await eventually(
      async () => (cacheFile().size > afterInit ? cacheFile() : undefined),
      10_000,
      'the daemon’s code cache',
    )
    await daemon.stop()
    daemons.push(await Daemon.start(home, LISTEN, env))
    await ok(home, ['status'], { env })
    expect(cacheFile().ino).toBe(afterUp.ino)
  })

  // The single executable carries the flag inside, out of sight of /proc.
  it.skipIf(process.env.CAPSULE_E2E_BINARY)(
    'runs Node with a small young generation, from the bin and from `node bin/capsule.js`',
    async () => {
      const smallYoung = (pid: number | undefined) =>
        readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--max-semi-space-size=4')
      const home = tempHome()
      const daemon = await up(home)
      expect(smallYoung(daemon.child.pid)).toBe(true)
      const tail = spawn(process.execPath, [capsuleFile, '--home', home, 'tail'], { env: cliEnv() })
      // The tail says on stderr when it streams: by then Node has started over with the flag.
      await once(createInterface({ input: tail.stderr }), 'line')
      expect(smallYoung(tail.pid)).toBe(true)
      tail.kill('SIGKILL')
    },
  )
})
