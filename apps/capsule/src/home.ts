import { chmodSync, mkdirSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

/** Where one node keeps its files: the database and the socket, nothing else. */
export interface Home {
  dir: string
  databasePath: string
  socketPath: string
}

/** `--home`, else `$CAPSULE_HOME`, else the XDG data dir. Only the app reads the environment. */
export function resolveHome(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): Home {
  const xdgData = env.XDG_DATA_HOME || join(homedir(), '.local', 'share')
  const dir = resolve(flag ?? (env.CAPSULE_HOME || join(xdgData, 'capsule')))
  return { dir, databasePath: join(dir, 'capsule.db'), socketPath: join(dir, 'capsule.sock') }
}

/** Creates the home owner-only: it holds the identity key and the control socket. */
export function ensureHome(home: Home): void {
  mkdirSync(home.dir, { recursive: true, mode: 0o700 })
  chmodSync(home.dir, 0o700)
}
