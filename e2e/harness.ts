import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'

/**
 * The real CLI's file, run for the CLI and the daemons. Set CAPSULE_E2E_BINARY to a single
 * executable to run every e2e test against it instead of the npm-installed CLI, which runs as
 * `npx capsule` runs it: the bin file itself, so that its shebang's Node flags apply.
 */
export const capsuleFile = resolve(
  process.env.CAPSULE_E2E_BINARY ?? resolve(import.meta.dirname, '../apps/capsule/bin/capsule.js'),
)

/** The environment for the CLI: the bin's shebang finds this Node first on PATH, as with npx. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH}`, ...extra }
}

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

export function tempHome(label = 'node'): string {
  return join(mkdtempSync(join(tmpdir(), `capsule-e2e-${label}-`)), 'home')
}

/** Runs one CLI command to completion. */
export interface RunOptions {
  input?: string
  /** Extra environment, e.g. NODE_EXTRA_CA_CERTS to trust a test CA. */
  env?: Record<string, string>
}

export function capsule(home: string, args: string[], options: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    const child = execFile(
      capsuleFile,
      ['--home', home, ...args],
      { timeout: 60_000, maxBuffer: 64 * 1024 * 1024, env: cliEnv(options.env) },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
        resolvePromise({ code, stdout, stderr })
      },
    )
    child.stdin?.end(options.input ?? '')
  })
}

/** Like {@link capsule}, but fails the test with the CLI's own words when it does not exit 0. */
export async function ok(home: string, args: string[], options: RunOptions = {}): Promise<string> {
  const result = await capsule(home, args, options)
  if (result.code !== 0) throw new Error(`capsule ${args.join(' ')} exited ${result.code}: ${result.stderr}`)
  return result.stdout
}

export async function okJson<T>(home: string, args: string[], options: RunOptions = {}): Promise<T> {
  return JSON.parse(await ok(home, [...args, '--json'], options)) as T
}

/** A `capsule up` process, ready once it logged "ready"; its log lines are kept for assertions. */
export class Daemon {
  readonly lines: string[] = []
  #waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = []

  private constructor(
    readonly home: string,
    readonly child: ChildProcess,
  ) {
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      this.lines.push(line)
      this.#waiters = this.#waiters.filter((waiter) => {
        if (!waiter.match(line)) return true
        waiter.resolve(line)
        return false
      })
    })
    child.stderr?.on('data', (chunk) => this.lines.push(`stderr: ${chunk}`))
  }

  static async start(home: string, args: string[] = [], env: Record<string, string> = {}): Promise<Daemon> {
    const child = spawn(capsuleFile, ['--home', home, 'up', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: cliEnv(env),
    })
    const daemon = new Daemon(home, child)
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`capsule up exited ${code} before it was ready:\n${daemon.lines.join('\n')}`)
    })
    await Promise.race([daemon.waitForLine((line) => line.includes(' ready ')), exited])
    return daemon
  }

  /** Resolves with the first log line (past or future) that matches. */
  waitForLine(match: (line: string) => boolean): Promise<string> {
    const seen = this.lines.find(match)
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise((resolvePromise) => this.#waiters.push({ match, resolve: resolvePromise }))
  }

  /** The full multiaddrs the daemon logged when ready. */
  async multiaddrs(): Promise<string[]> {
    return (await okJson<{ multiaddrs: string[] }>(this.home, ['id'])).multiaddrs
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode
    const exited = once(this.child, 'exit')
    this.child.kill(signal)
    const [code] = await exited
    return code as number | null
  }
}

/** Polls a condition that another process makes true (a record arriving); the bound is the test's. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolvePromise) => setTimeout(resolvePromise, 50))
  }
}
