import { Command } from 'commander'
import { reportError } from './cli-context.js'
import { registerFollows } from './commands/follows.js'
import { registerInfo } from './commands/info.js'
import { registerInit } from './commands/init.js'
import { registerKey } from './commands/key.js'
import { registerRecords } from './commands/records.js'
import { registerUp } from './commands/up.js'
import { usePackedSodium } from './native-addon.js'
import { versionLine } from './version.js'

usePackedSodium()

const program = new Command('capsule')
  .description('Capsule: your microblog on HTTPS, part of a peer-to-peer mesh')
  .version(versionLine(), '-V, --version')
  .option('--home <dir>', 'the node’s data folder (default: $CAPSULE_HOME, else ~/.local/share/capsule)')
  .showHelpAfterError()
  .exitOverride()

for (const register of [
  registerInit,
  registerUp,
  registerInfo,
  registerRecords,
  registerFollows,
  registerKey,
])
  register(program)

// No top-level await: the single executable runs this as a CommonJS bundle.
program.parseAsync(process.argv).catch((error: unknown) => {
  process.exitCode = reportError(error)
})
