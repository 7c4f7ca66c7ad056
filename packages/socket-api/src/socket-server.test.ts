import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { lstatSync, mkdtempSync, statSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import {
  ApiError,
  DaemonNotRunningError,
  DaemonRunningError,
  type Route,
  SocketClient,
  SocketServer,
} from './index.js'

const logger = { info() {}, warn() {}, error() {} }
const servers: SocketServer[] = []

const echoSignals: AbortSignal[] = []
/** The signals the ticks streams were given: a stream's handler learns from its own that the client left. */
const tickSignals: AbortSignal[] = []

async function* ticks(signal: AbortSignal): AsyncGenerator<{ n: number }> {
  tickSignals.push(signal)
  for (let n = 0; !signal.aborted; n++) {
    yield { n }
    await delay(5, undefined, { signal }).catch(() => {})
  }
}

const routes: Route[] = [
  {
    method: 'GET',
    path: '/v1/echo/:word',
    handler: ({ params, signal }) => {
      echoSignals.push(signal)
      return { word: params.word }
    },
  },
  {
    method: 'POST',
    path: '/v1/things',
    handler: ({ body }) => {
      if (typeof (body as { name?: unknown })?.name !== 'string')
        throw new ApiError('invalid-argument', 'name is required')
      return { ok: true }
    },
  },
  { method: 'GET', path: '/v1/ticks', stream: true, handler: ({ signal }) => ticks(signal) },
  {
    method: 'GET',
    path: '/v1/boom',
    handler: () => {
      throw new Error('secret detail')
    },
  },
]

async function startServer(path = join(mkdtempSync(join(tmpdir(), 'capsule-sock-')), 'capsule.sock')) {
  const server = new SocketServer({ path, routes, logger })
  await server.start()
  servers.push(server)
  return { server, client: new SocketClient(path), path }
}

function rawPost(path: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: path, path: '/v1/things', method: 'POST' }, (res) => {
      let text = ''
      res.on('data', (chunk) => {
        text += chunk
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop()))
})

describe('SocketServer', () => {
  it('answers JSON routes on a socket only its owner may use', async () => {
    const { client, path } = await startServer()
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(await client.request('/v1/echo/hello')).toEqual({ word: 'hello' })
    expect(await client.request('/v1/things', { body: { name: 'x' } })).toEqual({ ok: true })
  })

  it('aborts the handler signal only when the client leaves before the answer', async () => {
    const { client } = await startServer()
    await client.request('/v1/echo/hello')
    // The response has closed on the server by the time a later request is answered.
    await client.request('/v1/things', { body: { name: 'x' } })
    expect(echoSignals.at(-1)?.aborted).toBe(false)
  })

  it('turns malformed requests into stable codes and keeps serving', async () => {
    const { client, path } = await startServer()
    const badJson = await rawPost(path, '{not json')
    expect(badJson.status).toBe(400)
    expect(JSON.parse(badJson.body).error.code).toBe('bad-json')
    expect((await rawPost(path, 'x'.repeat(70_000))).status).toBe(413)
    await expect(client.request('/v1/nowhere')).rejects.toMatchObject({ code: 'unknown-route' })
    await expect(client.request('/v1/things', { body: {} })).rejects.toMatchObject({
      code: 'invalid-argument',
    })
    await expect(client.request('/v1/echo/a', { method: 'DELETE' })).rejects.toMatchObject({
      code: 'method-not-allowed',
    })
    const internal = await client.request('/v1/boom').catch((error: ApiError) => error)
    expect(internal).toMatchObject({ code: 'internal' })
    expect((internal as ApiError).message).not.toContain('secret')
    expect(await client.request('/v1/echo/still')).toEqual({ word: 'still' })
  })

  it('streams NDJSON until the client leaves', async () => {
    const { client } = await startServer()
    const controller = new AbortController()
    const seen: number[] = []
    for await (const item of client.stream<{ n: number }>('/v1/ticks', { signal: controller.signal })) {
      seen.push(item.n)
      if (seen.length === 3) controller.abort()
    }
    expect(seen).toEqual([0, 1, 2])
    await expect.poll(() => tickSignals.at(-1)?.aborted).toBe(true)
  })

  it('replaces a stale socket but refuses to replace a live one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'capsule-sock-'))
    const path = join(dir, 'capsule.sock')
    // A socket file with nobody listening, as a daemon killed with SIGKILL leaves it.
    const crashed = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`,
    ])
    await once(crashed.stdout, 'data')
    crashed.kill('SIGKILL')
    await once(crashed, 'exit')
    expect(lstatSync(path).isSocket()).toBe(true)
    const { client } = await startServer(path)
    expect(await client.request('/v1/echo/up')).toEqual({ word: 'up' })
    await expect(new SocketServer({ path, routes, logger }).start()).rejects.toBeInstanceOf(
      DaemonRunningError,
    )
    expect(await client.request('/v1/echo/unharmed')).toEqual({ word: 'unharmed' })
  })

  it('tells the client when no daemon runs', async () => {
    const client = new SocketClient(join(mkdtempSync(join(tmpdir(), 'capsule-sock-')), 'capsule.sock'))
    await expect(client.request('/v1/echo/x')).rejects.toBeInstanceOf(DaemonNotRunningError)
  })
})
