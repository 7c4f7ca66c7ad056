import type { Command } from 'commander'
import { clientOf } from '../cli-context.js'
import { printJson, shortId } from '../output.js'

interface FollowResult {
  author: string
  authorReached: boolean
  providers: string[]
  stored: number
  highestSeq: number
}

/** The peers that pass an author's records on to this node (the author sends its own too). */
function meshPeersText(count: number): string {
  return `${count} mesh ${count === 1 ? 'peer' : 'peers'}`
}

export function registerFollows(program: Command): void {
  program
    .command('follow <target>')
    .description('follow an author: a peer id, or a multiaddr ending in /p2p/<peer id>')
    .option('--json', 'print what the search found')
    .action(async (target: string, options: { json?: boolean }, command: Command) => {
      const result = await clientOf(command).request<FollowResult>('/v1/follows', { body: { target } })
      if (options.json) return printJson(result)
      const where = result.authorReached
        ? 'reached the author'
        : result.providers.length > 0
          ? `author offline; found ${result.providers.length} other follower(s)`
          : 'author not reachable now; will keep trying'
      process.stdout.write(`Following ${result.author} (${where}); ${result.stored} record(s) fetched\n`)
    })

  program
    .command('unfollow <peer-id>')
    .description('stop following an author')
    .action(async (author: string, _options: unknown, command: Command) => {
      await clientOf(command).request(`/v1/follows/${encodeURIComponent(author)}`, { method: 'DELETE' })
      process.stdout.write(`Unfollowed ${author}\n`)
    })

  program
    .command('following')
    .description('the authors you follow')
    .option('--json', 'print { follows }')
    .action(async (options: { json?: boolean }, command: Command) => {
      const result = await clientOf(command).request<{
        follows: { author: string; via: string | null; meshPeers: number }[]
      }>('/v1/follows')
      if (options.json) return printJson(result)
      if (result.follows.length === 0)
        process.stdout.write('(you follow nobody yet: capsule follow <peer-id>)\n')
      for (const follow of result.follows)
        process.stdout.write(
          `${follow.author}  ${meshPeersText(follow.meshPeers)}${follow.via ? `  via ${follow.via}` : ''}\n`,
        )
    })

  program
    .command('peers')
    .description('the peers connected now')
    .option('--json', 'print { peers }')
    .action(async (options: { json?: boolean }, command: Command) => {
      const result = await clientOf(command).request<{
        peers: { peerId: string; remoteAddr: string; direction: string }[]
      }>('/v1/peers')
      if (options.json) return printJson(result)
      if (result.peers.length === 0) process.stdout.write('(no peers connected)\n')
      for (const peer of result.peers)
        process.stdout.write(`${shortId(peer.peerId)}  ${peer.direction.padEnd(8)}  ${peer.remoteAddr}\n`)
    })
}
