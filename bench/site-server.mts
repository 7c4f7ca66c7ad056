// The server side of bench/site.mts, in its own process (so it has a core to itself while
// autocannon runs in the parent): either Capsule's site (createSite, plain HTTP on 127.0.0.1,
// over a real Store holding the owner's profile and 200 posts) or a bare node:http "hello".
// Answers { op: 'ready', port, permalink } on the IPC channel; stops on { op: 'stop' }.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { createSigner, signRecord } from '@capsule/core'
import { createSite, memoryCertificateStore, type SiteData } from '@capsule/site'
import { Store } from '@capsule/store'
import { countingLogger, newAuthor, options, putAll, scratch } from './lib.mts'

export type SiteServerMessage = { op: 'ready'; port: number; permalink: string }

const args = options({ kind: { type: 'string', default: 'capsule' } })
let stop: () => Promise<void>
let ready: SiteServerMessage

if (args.kind === 'hello') {
  const server = http.createServer((_req, res) => res.end('hello'))
  server.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  stop = () => new Promise((resolve) => server.close(() => resolve()))
  ready = { op: 'ready', port: (server.address() as AddressInfo).port, permalink: '/' }
} else {
  const owner = await newAuthor()
  const store = Store.open(join(scratch('site'), 'capsule.db'))
  const profile = signRecord(
    { kind: 'profile', name: 'Bench Owner', bio: 'A node under load.' },
    createSigner(owner.key),
    { seq: 1, ts: Date.now() },
  )
  putAll(store, [profile, ...owner.sign(200, 2)])
  // What the app will pass (it is not wired into the daemon yet): the owner's own records.
  const data: SiteData = {
    ownerId: owner.id,
    profile: () => store.records.latestProfile(owner.id),
    page: ({ before, limit }) => store.records.feed(owner.id, limit, before),
    record: (id) => store.records.get(id),
    recordsAfter: (after, limit) => store.records.bytesAfter(owner.id, after, limit),
    meshAddresses: () => [`/ip4/127.0.0.1/tcp/4637/p2p/${owner.id}`],
  }
  const site = createSite(
    { httpPort: 0, siteHost: '127.0.0.1' },
    { data, certificates: memoryCertificateStore(), logger: countingLogger() },
  )
  await site.start()
  stop = async () => {
    await site.stop()
    store.close()
  }
  const newest = store.records.feed(owner.id, 1).records[0]!
  ready = { op: 'ready', port: site.addresses().http!.port, permalink: `/r/${newest.id}` }
}

process.send?.(ready)
process.on('message', async () => {
  await stop()
  process.exit(0)
})
process.on('disconnect', () => process.exit(0))
