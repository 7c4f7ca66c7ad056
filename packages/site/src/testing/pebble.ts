import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import type { Resolve } from '../config.js'
import { createDnsResolve } from '../resolve.js'

const run = promisify(execFile)

export interface PebbleOptions {
  /** The port pebble's validator connects to for HTTP-01: the port the node serves challenges on. */
  httpPort: number
  /** Extra environment for pebble (PEBBLE_VA_NOSLEEP=1 and PEBBLE_WFE_NONCEREJECT=0 are set). */
  env?: Record<string, string>
  /** Called with each line either process prints; default: dropped. */
  onLine?: (line: string) => void
  /** Seconds of validity for issued certificates; default pebble's own (5 years). */
  certificateValiditySeconds?: number
}

/** A running pebble ACME server with pebble-challtestsrv as its DNS. */
export interface Pebble {
  /** The ACME directory: https://localhost:<port>/dir */
  directoryUrl: string
  /** Pebble's management API (roots, intermediates). */
  managementUrl: string
  /** PEM of the certificate pebble's own API serves: trust it for the directory (acmeCaPem). */
  apiCaPem: string
  /** The same, as a file for NODE_EXTRA_CA_CERTS in child processes. */
  apiCaFile: string
  /** The DNS server pebble resolves names with, "127.0.0.1:<port>". */
  dnsServer: string
  /** pebble-challtestsrv's management API. */
  dnsManagementUrl: string
  /** Resolves through the same DNS server pebble uses. */
  resolve: Resolve
  /** Makes `host` resolve to these IPv4 addresses for pebble (and for `resolve`). */
  addA(host: string, addresses: string[]): Promise<void>
  clearA(host: string): Promise<void>
  /** The root that signs issued certificates (new at every pebble start). */
  rootCertificate(): Promise<string>
  /**
   * Writes pebble's API certificate and its issuing root into one PEM file and returns its path:
   * NODE_EXTRA_CA_CERTS for a child node that both orders from pebble and fetches sites it issued for.
   */
  caBundleFile(): Promise<string>
  /** The files of this instance (config, certificate, key). */
  dir: string
  stop(): Promise<void>
}

/** A free TCP port on 127.0.0.1 (free when asked; bind it soon). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer()
  server.listen(0, host)
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  server.close()
  await once(server, 'close')
  return port
}

function watchLines(child: ChildProcess, onLine: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    let rest = ''
    stream?.setEncoding('utf8')
    stream?.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) onLine(line)
    })
  }
}

/** Waits until the child prints a line containing `marker`; fails if it exits first or takes too long. */
function waitForLine(child: ChildProcess, marker: string, name: string, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const seen: string[] = []
    const timer = setTimeout(
      () => finish(new Error(`${name} did not start in time:\n${seen.join('\n')}`)),
      timeoutMs,
    )
    const onLine = (line: string) => {
      seen.push(line)
      if (line.includes(marker)) finish()
    }
    const onExit = (code: number | null) =>
      finish(new Error(`${name} exited (${code}) before it was ready:\n${seen.join('\n')}`))
    function finish(error?: Error) {
      clearTimeout(timer)
      child.off('exit', onExit)
      lineListeners.get(child)?.delete(onLine)
      if (error) reject(error)
      else resolve()
    }
    child.once('exit', onExit)
    lineListeners.get(child)?.add(onLine)
  })
}

/**
 * Waits until 127.0.0.1:`port` accepts TCP connections. Pebble and challtestsrv print their
 * "listening" lines just before they listen (Go's `ListenAndServe` in its own goroutine), so a
 * request sent on the line alone was sometimes refused. Fails at once, with what the child
 * printed, if it exits first (as it does when the port was taken).
 */
async function waitForListening(
  child: ChildProcess,
  port: number,
  name: string,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const code = child.exitCode ?? child.signalCode
      throw new Error(`${name} exited (${code}) before it listened on 127.0.0.1:${port}:\n${printed(child)}`)
    }
    const refused = await new Promise<Error | undefined>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => {
        socket.destroy()
        resolve(undefined)
      })
      socket.once('error', resolve)
    })
    if (refused === undefined) return
    if (Date.now() > deadline)
      throw new Error(`${name} is not listening on 127.0.0.1:${port}: ${refused.message}`)
    await sleep(20)
  }
}

const lineListeners = new WeakMap<ChildProcess, Set<(line: string) => void>>()
/** The last lines each child printed, for errors. */
const recentLines = new WeakMap<ChildProcess, string[]>()

function printed(child: ChildProcess): string {
  return (recentLines.get(child) ?? []).join('\n')
}

function startChild(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  onLine?: (line: string) => void,
): ChildProcess {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const listeners = new Set<(line: string) => void>()
  lineListeners.set(child, listeners)
  const recent: string[] = []
  recentLines.set(child, recent)
  watchLines(child, (line) => {
    recent.push(line)
    if (recent.length > 50) recent.shift()
    onLine?.(line)
    for (const listener of listeners) listener(line)
  })
  return child
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

async function post(url: string, body: unknown): Promise<void> {
  const response = await fetch(url, { method: 'POST', body: JSON.stringify(body) })
  if (!response.ok) throw new Error(`${url} answered ${response.status}: ${await response.text()}`)
}

/**
 * Starts Debian's pebble and pebble-challtestsrv on free loopback ports, pebble resolving names
 * through challtestsrv (no AAAA answers, no default A answer: only names added with addA resolve).
 * A port is free when asked, and another process (a test running beside this one) may bind it
 * before pebble does; pebble then exits, and the start is tried again on other ports.
 */
export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startPebbleOnFreePorts(options)
    } catch (error) {
      if (attempt === 3 || !(error as Error).message.includes('address already in use')) throw error
    }
  }
}

async function startPebbleOnFreePorts(options: PebbleOptions): Promise<Pebble> {
  const dir = await mkdtemp(join(tmpdir(), 'capsule-pebble-'))
  const [acmePort, managementPort, dnsPort, dnsManagementPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ]
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '7',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    join(dir, 'cert.pem'),
  ])
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: join(dir, 'cert.pem'),
      privateKey: join(dir, 'key.pem'),
      httpPort: options.httpPort,
      tlsPort: await freePort(),
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      ...(options.certificateValiditySeconds
        ? { certificateValidityPeriod: options.certificateValiditySeconds }
        : {}),
    },
  }
  await writeFile(join(dir, 'pebble-config.json'), JSON.stringify(config, null, 2))
  const dnsServer = `127.0.0.1:${dnsPort}`
  const children: ChildProcess[] = []
  const stop = async () => {
    await Promise.all(children.map(stopChild))
    await rm(dir, { recursive: true, force: true })
  }
  try {
    const challtestsrv = startChild(
      'pebble-challtestsrv',
      [
        '-dns01',
        dnsServer,
        '-management',
        `127.0.0.1:${dnsManagementPort}`,
        '-http01',
        '',
        '-https01',
        '',
        '-tlsalpn01',
        '',
        '-defaultIPv6',
        '',
        '-defaultIPv4',
        '',
      ],
      process.env,
      dir,
      options.onLine,
    )
    children.push(challtestsrv)
    await waitForLine(challtestsrv, 'Starting management server', 'pebble-challtestsrv')
    await waitForListening(challtestsrv, dnsManagementPort, 'pebble-challtestsrv')
    const pebble = startChild(
      'pebble',
      ['-config', join(dir, 'pebble-config.json'), '-dnsserver', dnsServer],
      { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', ...options.env },
      dir,
      options.onLine,
    )
    children.push(pebble)
    await waitForLine(pebble, 'ACME directory available at', 'pebble')
    await Promise.all([acmePort, managementPort].map((port) => waitForListening(pebble, port, 'pebble')))
  } catch (error) {
    await stop()
    throw error
  }
  const apiCaFile = join(dir, 'cert.pem')
  const apiCaPem = await readFile(apiCaFile, 'utf8')
  const managementUrl = `https://localhost:${managementPort}`
  const dnsManagementUrl = `http://127.0.0.1:${dnsManagementPort}`
  const rootCertificate = async (): Promise<string> => {
    const https = await import('node:https')
    return new Promise<string>((resolve, reject) => {
      https
        .get(`${managementUrl}/roots/0`, { ca: apiCaPem }, (response) => {
          let body = ''
          response.setEncoding('utf8')
          response.on('data', (chunk: string) => {
            body += chunk
          })
          response.on('end', () =>
            response.statusCode === 200
              ? resolve(body)
              : reject(new Error(`roots/0 answered ${response.statusCode}`)),
          )
        })
        .on('error', reject)
    })
  }
  return {
    directoryUrl: `https://localhost:${acmePort}/dir`,
    managementUrl,
    apiCaPem,
    apiCaFile,
    dnsServer,
    dnsManagementUrl,
    resolve: createDnsResolve([dnsServer]),
    addA: (host, addresses) => post(`${dnsManagementUrl}/add-a`, { host, addresses }),
    clearA: (host) => post(`${dnsManagementUrl}/clear-a`, { host }),
    rootCertificate,
    caBundleFile: async () => {
      const file = join(dir, 'ca-bundle.pem')
      await writeFile(file, `${apiCaPem.trim()}\n${(await rootCertificate()).trim()}\n`)
      return file
    },
    dir,
    stop,
  }
}
