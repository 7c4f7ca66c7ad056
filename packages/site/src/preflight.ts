import { randomBytes } from 'node:crypto'
import { lookup } from 'node:dns/promises'
import type { Resolve } from './config.js'
import { boundedGet } from './fetch.js'

/** Why the node cannot expect the CA to reach it, found before asking the CA. */
export class PreflightError extends Error {
  override readonly name = 'PreflightError'
  constructor(
    readonly code: 'dns' | 'port-closed' | 'wrong-answer',
    message: string,
  ) {
    super(message)
  }
}

export const systemResolve: Resolve = async (hostname) =>
  (await lookup(hostname, { all: true })).map((entry) => entry.address)

export const SELF_TEST_PREFIX = 'capsule-self-test-'

export interface PreflightOptions {
  domain: string
  httpPort: number
  resolve: Resolve
  /** Registers a token the HTTP server answers with `content`; returns a function that removes it. */
  serveToken(token: string, content: string): () => void
  timeoutMs?: number
}

function describeNetworkError(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'the connection was refused (nothing listens there, or a firewall rejects it)'
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'that address cannot be reached from here'
    case 'ECONNRESET':
      return 'the connection was cut'
    default:
      return error.name === 'RequestTimeoutError'
        ? 'no answer came in time (a firewall may drop it)'
        : error.message
  }
}

/**
 * Checks what the node can check before an ACME order, so that a mistake costs nothing at the CA:
 * the name resolves, and this node's HTTP port answers on that name.
 */
export async function preflight(options: PreflightOptions): Promise<string[]> {
  const { domain, httpPort } = options
  let addresses: string[]
  try {
    addresses = await options.resolve(domain)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why =
      code === 'ENOTFOUND' || code === 'ENODATA' ? 'it has no A or AAAA record' : (error as Error).message
    throw new PreflightError(
      'dns',
      `The name ${domain} does not resolve (${why}). Add an A record (and AAAA if you have IPv6) pointing ${domain} at this machine's public address, wait for it to spread, and Capsule will try again.`,
    )
  }
  if (addresses.length === 0) {
    throw new PreflightError(
      'dns',
      `The name ${domain} has no address. Add an A record pointing it at this machine's public address.`,
    )
  }
  const token = `${SELF_TEST_PREFIX}${randomBytes(16).toString('base64url')}`
  const content = randomBytes(24).toString('base64url')
  const remove = options.serveToken(token, content)
  const port = httpPort === 80 ? '' : `:${httpPort}`
  const url = new URL(`http://${domain}${port}/.well-known/acme-challenge/${token}`)
  try {
    const response = await boundedGet(url, {
      timeoutMs: options.timeoutMs ?? 10_000,
      maxBytes: 4096,
      resolve: options.resolve,
    }).catch((error: NodeJS.ErrnoException) => {
      throw new PreflightError(
        'port-closed',
        `Port ${httpPort} on ${domain} (${addresses.join(', ')}) does not answer: ${describeNetworkError(error)}. The CA checks this port to prove you own the name: make sure ${domain} points at this machine, that the port is open in the firewall, and that a router forwards it here.`,
      )
    })
    if (response.status !== 200 || response.body.toString('utf8').trim() !== content) {
      throw new PreflightError(
        'wrong-answer',
        `Port ${httpPort} on ${domain} (${addresses.join(', ')}) answers, but not with this node's test token (status ${response.status}). Another server is answering there: the name may point at another machine, or a proxy in front of this one does not pass /.well-known/acme-challenge/ through.`,
      )
    }
  } finally {
    remove()
  }
  return addresses
}
