import type { Command } from 'commander'
import { collect, homeOf, openExistingStore } from '../cli-context.js'
import { ensureHome } from '../home.js'
import { generateIdentity, loadIdentity, saveIdentity } from '../identity.js'
import { createLogger } from '../logger.js'

interface UpOptions {
  listen?: string[]
  announce?: string[]
  join?: string[]
  privateNetwork?: boolean
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('run the node in the foreground (creating its identity first if needed); stop with Ctrl-C')
    .option(
      '--listen <multiaddr>',
      'where the mesh listens, repeatable (default /ip4/0.0.0.0/tcp/4637)',
      collect,
    )
    .option(
      '--announce <multiaddr>',
      'a public address to tell peers instead of the listening ones, repeatable',
      collect,
    )
    .option('--join <multiaddr>', 'a peer to bootstrap from, repeatable; remembered, so needed once', collect)
    .option('--private-network', 'accept loopback and LAN addresses from peers (a mesh on one LAN, or tests)')
    .action(async (options: UpOptions, command: Command) => {
      // Loaded here, not at the top: the other commands start faster without libp2p.
      const { Daemon } = await import('../daemon/daemon.js')
      const logger = createLogger('capsule')
      // A promise some library forgot to handle must not take the node down for every follower
      // (a peer could trigger it on purpose); it is a bug, so it is logged loudly.
      process.on('unhandledRejection', (reason) => {
        logger.error('unhandled rejection (a bug; the node keeps running)', { error: String(reason) })
      })
      const home = homeOf(command)
      ensureHome(home)
      const store = openExistingStore(home)
      let identity = loadIdentity(store)
      if (identity === undefined) {
        identity = await generateIdentity()
        saveIdentity(store, identity)
        logger.info('created a new identity', { peerId: identity.peerId, home: home.dir })
      }
      const daemon = await Daemon.start(
        {
          home,
          ...(options.listen ? { listen: options.listen } : {}),
          announce: options.announce ?? [],
          join: options.join ?? [],
          privateNetwork: options.privateNetwork ?? false,
        },
        store,
        identity,
        logger,
      )
      logger.info('ready', {
        peerId: identity.peerId,
        socket: home.socketPath,
        multiaddrs: daemon.mesh.multiaddrs(),
      })
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          logger.info('stopping', { signal })
          resolve()
        }
        process.once('SIGINT', shutdown)
        process.once('SIGTERM', shutdown)
      })
      await daemon.stop()
      logger.info('stopped')
    })
}
