import type { Command } from 'commander'
import { CliFailure, homeOf, openExistingStore } from '../cli-context.js'
import { exportKeyFile, loadIdentity } from '../identity.js'

export function registerKey(program: Command): void {
  const key = program.command('key').description('back up and restore the identity key')
  key
    .command('export <file>')
    .description('write the identity key to <file> (owner-only; keep it safe: it is your identity)')
    .action((file: string, _options: unknown, command: Command) => {
      const home = homeOf(command)
      const store = openExistingStore(home, true)
      try {
        const identity = loadIdentity(store)
        if (identity === undefined)
          throw new CliFailure(`no identity in ${home.dir}: run "capsule init" first`)
        try {
          exportKeyFile(identity, file)
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
            throw new CliFailure(`${file} exists; choose a new file name (a key file is never overwritten)`)
          }
          throw new CliFailure(`cannot write ${file}: ${(error as Error).message}`)
        }
        process.stdout.write(
          `Wrote the key of ${identity.peerId} to ${file}; restore it with "capsule init --import ${file}"\n`,
        )
      } finally {
        store.close()
      }
    })
}
