import { Resolver } from 'node:dns/promises'
import type { Resolve } from './config.js'

/**
 * A Resolve that asks the given DNS servers ("127.0.0.1:8053") for A and AAAA records, bypassing
 * the system resolver: for test DNS servers such as pebble-challtestsrv.
 */
export function createDnsResolve(servers: string[], timeoutMs = 3000): Resolve {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 })
  resolver.setServers(servers)
  const ask = async (query: Promise<string[]>): Promise<string[]> => {
    try {
      return await query
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENODATA' || code === 'ENOTFOUND') return []
      throw error
    }
  }
  return async (hostname) => {
    const [v4, v6] = await Promise.all([ask(resolver.resolve4(hostname)), ask(resolver.resolve6(hostname))])
    const all = [...v4, ...v6]
    if (all.length === 0)
      throw Object.assign(new Error(`${hostname} has no A or AAAA record`), { code: 'ENOTFOUND' })
    return all
  }
}
