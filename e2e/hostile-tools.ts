import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { join } from 'node:path'

/** Tools the hostile-condition tests share: the daemon's socket API, its database, its memory. */

export interface SocketAnswer {
  status: number
  body: { id?: string; error?: { code: string; message: string } } & Record<string, unknown>
}

/** One request on a daemon's socket; rejects on a transport error (the daemon died). */
export function socketRequest(
  home: string,
  method: string,
  path: string,
  body?: unknown,
  agent?: Agent,
): Promise<SocketAnswer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const req = request(
      {
        socketPath: join(home, 'capsule.sock'),
        path,
        method,
        ...(agent ? { agent } : {}),
        headers: payload
          ? { 'content-type': 'application/json', 'content-length': String(payload.byteLength) }
          : {},
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => {
          text += chunk
        })
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) })
          } catch (error) {
            reject(error)
          }
        })
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(payload)
  })
}

/**
 * Sends `count` posts at once (through `concurrency` connections). `onAck` sees each acknowledged
 * id as it comes. Resolves with the acknowledged ids and how many requests failed.
 */
export async function postBurst(
  home: string,
  count: number,
  options: { concurrency?: number; label?: string; onAck?: (acked: string[]) => void } = {},
): Promise<{ acked: string[]; failed: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency ?? 32 })
  const acked: string[] = []
  let failed = 0
  try {
    await Promise.all(
      Array.from({ length: count }, async (_, n) => {
        try {
          const answer = await socketRequest(
            home,
            'POST',
            '/v1/posts',
            { text: `${options.label ?? 'burst'} ${n}` },
            agent,
          )
          if (answer.status === 201 && typeof answer.body.id === 'string') {
            acked.push(answer.body.id)
            options.onAck?.(acked)
          } else failed++
        } catch {
          failed++
        }
      }),
    )
  } finally {
    agent.destroy()
  }
  return { acked, failed }
}

export function dbPath(home: string): string {
  return join(home, 'capsule.db')
}

/** Runs SQL with Debian's sqlite3 (a second, independent reader of the file). */
export function sql(home: string, query: string): string {
  return execFileSync('sqlite3', [dbPath(home), query], { encoding: 'utf8', timeout: 30_000 }).trim()
}

export function integrityCheck(home: string): string {
  return sql(home, 'PRAGMA integrity_check')
}

export function recordIds(home: string, author?: string): Set<string> {
  const where = author === undefined ? '' : ` WHERE author = '${author.replace(/'/g, '')}'`
  const out = sql(home, `SELECT id FROM records${where}`)
  return new Set(out === '' ? [] : out.split('\n'))
}

/** Resident memory of a process in KiB, from /proc. */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status)
  if (match === null) throw new Error(`no VmRSS for ${pid}`)
  return Number(match[1])
}

/** Peak resident memory (VmHWM) of a process in KiB. */
export function peakRssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0)
}
