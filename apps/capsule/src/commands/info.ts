import { existsSync } from 'node:fs'
import { DaemonNotRunningError } from '@capsule/socket-api'
import type { Command } from 'commander'
import { CliFailure, clientOf, homeOf, openExistingStore } from '../cli-context.js'
import { loadIdentity } from '../identity.js'
import { printJson } from '../output.js'

interface IdResponse {
  peerId: string
  multiaddrs: string[]
}

interface StatusResponse {
  running: boolean
  peerId: string
  records: number
  follows: number
  peers: number
  knownPeers: number
  topics: string[]
  collisions: number
  multiaddrs: string[]
  site?: string
}

/** Facts the database alone can tell, for when no daemon runs. */
function offlineStatus(command: Command): StatusResponse {
  const home = homeOf(command)
  if (!existsSync(home.databasePath))
    throw new CliFailure(`no Capsule node in ${home.dir}: create one with "capsule init"`)
  const store = openExistingStore(home, true)
  try {
    const identity = loadIdentity(store)
    if (identity === undefined) throw new CliFailure(`no identity in ${home.dir}: run "capsule init"`)
    return {
      running: false,
      peerId: identity.peerId,
      records: store.records.count(),
      follows: store.follows.count(),
      peers: 0,
      knownPeers: store.peers.count(),
      topics: [],
      collisions: store.records.collisions(),
      multiaddrs: [],
    }
  } finally {
    store.close()
  }
}

async function fromDaemonOr<T>(command: Command, path: string, offline: () => T): Promise<T> {
  try {
    return await clientOf(command).request<T>(path)
  } catch (error) {
    if (error instanceof DaemonNotRunningError) return offline()
    throw error
  }
}

export function registerInfo(program: Command): void {
  program
    .command('id')
    .description('print this node’s peer id (and, while it runs, the addresses to reach it)')
    .option('--json', 'print { peerId, multiaddrs }')
    .action(async (options: { json?: boolean }, command: Command) => {
      const id = await fromDaemonOr<IdResponse>(command, '/v1/id', () => ({
        peerId: offlineStatus(command).peerId,
        multiaddrs: [],
      }))
      if (options.json) printJson(id)
      else process.stdout.write(`${id.peerId}\n`)
    })

  program
    .command('status')
    .description('is the node running; how many records, follows and peers it has')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const status = await fromDaemonOr(command, '/v1/status', () => offlineStatus(command))
      if (options.json) return printJson(status)
      const lines = [
        `${status.running ? 'running' : 'not running (start it with "capsule up")'}`,
        `peer id     ${status.peerId}`,
        `records     ${status.records}${status.collisions ? ` (${status.collisions} sequence collisions kept)` : ''}`,
        `following   ${status.follows}`,
        `peers       ${status.peers} connected, ${status.knownPeers} known`,
      ]
      if (status.running) {
        lines.push(`topics      ${status.topics.length}`, ...status.multiaddrs.map((a) => `listening   ${a}`))
        if (status.site) lines.push(`site        ${status.site}`)
      }
      process.stdout.write(`${lines.join('\n')}\n`)
    })
}
