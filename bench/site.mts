// Site: requests per second and latency of Capsule's site (createSite over a real Store: the home
// page, 20 posts, and one permalink) against a bare node:http server answering "hello", each in
// its own process, with autocannon (10 connections, keep-alive) in this one.
//   node bench/site.mts [--quick]
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { emit, log, options } from './lib.mts'
import type { SiteServerMessage } from './site-server.mts'

const args = options({})
const DURATION_S = args.quick ? 5 : 10

async function server(kind: 'capsule' | 'hello') {
  const child = fork(join(import.meta.dirname, 'site-server.mts'), ['--kind', kind], { stdio: 'inherit' })
  process.on('exit', () => child.kill('SIGKILL'))
  const [ready] = (await once(child, 'message')) as [SiteServerMessage]
  return {
    ...ready,
    async stop() {
      const exited = once(child, 'exit')
      child.send({ op: 'stop' })
      await exited
    },
  }
}

async function load(port: number, path: string) {
  const url = `http://127.0.0.1:${port}${path}`
  // A short warm-up, then the measured run.
  await autocannon({ url, connections: 10, duration: 1 })
  const result = await autocannon({ url, connections: 10, duration: DURATION_S })
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`)
  log(`${path.slice(0, 30)}: ${Math.round(result.requests.average)} req/s, p99 ${result.latency.p99} ms`)
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    bytes: result.throughput.average / result.requests.average,
  }
}

const hello = await server('hello')
const baseline = await load(hello.port, '/')
await hello.stop()
const site = await server('capsule')
const home = await load(site.port, '/')
const permalink = await load(site.port, site.permalink)
await site.stop()
emit({
  home_rps: Math.round(home.rps),
  home_p99_ms: home.p99,
  permalink_rps: Math.round(permalink.rps),
  baseline_rps: Math.round(baseline.rps),
  details: {
    permalink_p99_ms: permalink.p99,
    baseline_p99_ms: baseline.p99,
    home_bytes: Math.round(home.bytes),
    permalink_bytes: Math.round(permalink.bytes),
    duration_s: DURATION_S,
    connections: 10,
  },
})
process.exit(0)
