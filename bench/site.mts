// Site: requests per second and latency of the site a `capsule up` daemon serves (plain HTTP on
// 127.0.0.1, the owner's profile and 200 posts in its store): the home page (20 posts) and the
// permalink of the newest post; against a bare node:http server answering "hello"
// (bench/site-server.mts). Each server in its own process, autocannon (10 connections,
// keep-alive) in this one.
//   node bench/site.mts [--quick]
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { createSigner, signRecord } from '@capsule/core'
import autocannon from 'autocannon'
import { Daemon, emit, log, newAuthor, options, prepareHome, scratch } from './lib.mts'
import type { SiteServerMessage } from './site-server.mts'

const args = options({})
const DURATION_S = args.quick ? 5 : 10

async function hello() {
  const child = fork(join(import.meta.dirname, 'site-server.mts'), [], { stdio: 'inherit' })
  process.on('exit', () => child.kill('SIGKILL'))
  const [ready] = (await once(child, 'message')) as [SiteServerMessage]
  return {
    url: `http://127.0.0.1:${ready.port}/`,
    async stop() {
      const exited = once(child, 'exit')
      child.send({ op: 'stop' })
      await exited
    },
  }
}

async function capsuleSite() {
  const owner = await newAuthor()
  const profile = signRecord(
    { kind: 'profile', name: 'Bench Owner', bio: 'A node under load.' },
    createSigner(owner.key),
    { seq: 1, ts: Date.now() },
  )
  const posts = owner.sign(200, 2)
  const { home } = await prepareHome(join(scratch('site'), 'home'), {
    key: owner.key,
    records: [profile, ...posts],
  })
  const daemon = await Daemon.start(home)
  return { daemon, home: daemon.siteUrl, permalink: `${daemon.siteUrl}r/${posts.at(-1)!.id}` }
}

async function load(url: string) {
  // A short warm-up, then the measured run.
  await autocannon({ url, connections: 10, duration: 1 })
  const result = await autocannon({ url, connections: 10, duration: DURATION_S })
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`)
  log(`${url.slice(0, 60)}: ${Math.round(result.requests.average)} req/s, p99 ${result.latency.p99} ms`)
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    bytes: result.throughput.average / result.requests.average,
  }
}

const bare = await hello()
const baseline = await load(bare.url)
await bare.stop()
const site = await capsuleSite()
if (site.daemon.siteUrl === '') throw new Error(`the daemon serves no site:\n${site.daemon.lines.join('\n')}`)
const home = await load(site.home)
const permalink = await load(site.permalink)
await site.daemon.stop()
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
