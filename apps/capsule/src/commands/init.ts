import { signRecord } from '@capsule/core'
import type { Store } from '@capsule/store'
import type { Command } from 'commander'
import { CliFailure, homeOf, openExistingStore } from '../cli-context.js'
import { ensureHome, type Home } from '../home.js'
import { generateIdentity, type Identity, importKeyFile, loadIdentity, saveIdentity } from '../identity.js'
import { printJson } from '../output.js'

export interface InitOptions {
  name?: string
  import?: string
}

/**
 * Creates (or restores) the node's identity in its home. Shared by `init` and by `up` on a
 * fresh home. Never replaces an existing identity.
 */
export async function initialise(
  home: Home,
  options: InitOptions,
): Promise<{ identity: Identity; store: Store }> {
  ensureHome(home)
  const store = openExistingStore(home)
  try {
    const existing = loadIdentity(store)
    if (existing !== undefined) {
      throw new CliFailure(
        `${home.dir} already holds the identity ${existing.peerId}; init never overwrites it. ` +
          'Use another --home for a second identity.',
      )
    }
    const identity = options.import ? importKeyFile(options.import) : await generateIdentity()
    store.transaction(() => {
      saveIdentity(store, identity)
      if (options.name !== undefined) {
        const profile = signRecord({ kind: 'profile', name: options.name, bio: '' }, identity.signer, {
          seq: store.records.highestSeq(identity.peerId) + 1,
          ts: Date.now(),
        })
        store.records.put([profile])
      }
    })
    return { identity, store }
  } catch (error) {
    store.close()
    throw error
  }
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create this node’s identity (an Ed25519 key) and its database')
    .option('--name <display name>', 'your display name, signed into your profile')
    .option('--import <file>', 'restore an identity saved with "capsule key export"')
    .option('--json', 'print JSON')
    .action(async (options: InitOptions & { json?: boolean }, command: Command) => {
      const home = homeOf(command)
      const { identity, store } = await initialise(home, options)
      store.close()
      if (options.json) printJson({ peerId: identity.peerId, home: home.dir })
      else
        process.stdout.write(
          `${options.import ? 'Restored' : 'Created'} identity ${identity.peerId} in ${home.dir}\n`,
        )
    })
}
