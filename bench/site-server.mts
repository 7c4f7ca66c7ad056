// The baseline of bench/site.mts, in its own process (so it has a core to itself while autocannon
// runs in the parent): a bare node:http server answering "hello". Answers { op: 'ready', port } on
// the IPC channel; stops on any message.
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export type SiteServerMessage = { op: 'ready'; port: number }

const server = http.createServer((_req, res) => res.end('hello'))
server.listen(0, '127.0.0.1')
await new Promise((resolve) => server.once('listening', resolve))
process.send?.({ op: 'ready', port: (server.address() as AddressInfo).port } satisfies SiteServerMessage)
process.on('message', () => server.close(() => process.exit(0)))
process.on('disconnect', () => process.exit(0))
