import { type Command, Option } from 'commander'
import { collect, homeOf, openExistingStore, UsageError } from '../cli-context.js'
import { ensureHome } from '../home.js'
import { generateIdentity, loadIdentity, saveIdentity } from '../identity.js'
import { createLogger } from '../logger.js'
import { startedUp } from '../started-up.js'

interface UpOptions {
  listen?: string[]
  announce?: string[]
  join?: string[]
  privateNetwork?: boolean
  domain?: string
  email?: string
  acmeStaging?: boolean
  acmeDirectory?: string
  siteHost?: string
  httpPort?: number
  httpsPort?: number
  dnsServer?: string
}

function parsePort(value: string): number {
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`"${value}" is not a port number (0 to 65535)`)
  return port
}

/** Where the site listens without --domain: an unprivileged port, on this machine only. */
const LOCAL_SITE_PORT = 8080

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
    .option('--domain <name>', 'serve your site on https://<name>/ with a certificate from Let’s Encrypt')
    .option('--email <address>', 'contact address for the certificate authority')
    .option('--acme-staging', 'use Let’s Encrypt’s staging CA (untrusted certificates, generous limits)')
    .option('--acme-directory <url>', 'use this ACME directory instead of Let’s Encrypt')
    .option(
      '--site-host <address>',
      'where the site listens (default: all interfaces with --domain, else 127.0.0.1)',
    )
    .option('--http-port <port>', `HTTP port (default 80 with --domain, else ${LOCAL_SITE_PORT})`, parsePort)
    .option('--https-port <port>', 'HTTPS port (default 443)', parsePort)
    .addOption(
      new Option('--dns-server <host:port>', 'resolve site names with this DNS server (tests)').hideHelp(),
    )
    .action(async (options: UpOptions, command: Command) => {
      // Loaded here, not at the top: the other commands start faster without libp2p.
      const { Daemon } = await import('../daemon/daemon.js')
      const { createDnsResolve, LETS_ENCRYPT_STAGING } = await import('@capsule/site')
      if (options.acmeStaging && options.acmeDirectory)
        throw new UsageError('give --acme-staging or --acme-directory, not both')
      if ((options.email || options.acmeStaging || options.acmeDirectory) && !options.domain) {
        throw new UsageError('--email and the ACME options need --domain')
      }
      const resolve = options.dnsServer ? createDnsResolve([options.dnsServer]) : undefined
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
          site: {
            ...(options.domain ? { domain: options.domain } : { httpPort: LOCAL_SITE_PORT }),
            ...(options.email ? { email: options.email } : {}),
            ...(options.acmeStaging ? { acmeDirectoryUrl: LETS_ENCRYPT_STAGING } : {}),
            ...(options.acmeDirectory ? { acmeDirectoryUrl: options.acmeDirectory } : {}),
            ...(options.siteHost ? { siteHost: options.siteHost } : {}),
            ...(options.httpPort !== undefined ? { httpPort: options.httpPort } : {}),
            ...(options.httpsPort !== undefined ? { httpsPort: options.httpsPort } : {}),
            ...(resolve ? { resolve } : {}),
          },
          ...(resolve ? { resolve } : {}),
        },
        store,
        identity,
        logger,
      )
      // Listening before "ready": whoever waits for it may stop the node at once.
      const stopSignal = new Promise<string>((resolve) => {
        process.once('SIGINT', resolve)
        process.once('SIGTERM', resolve)
      })
      logger.info('ready', {
        peerId: identity.peerId,
        socket: home.socketPath,
        multiaddrs: daemon.mesh.multiaddrs(),
        site: daemon.site.url,
      })
      startedUp.publish(undefined)
      logger.info('stopping', { signal: await stopSignal })
      await daemon.stop()
      logger.info('stopped')
    })
}
