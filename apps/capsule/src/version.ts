import { readFileSync } from 'node:fs'

interface BuildInfo {
  version: string
  /** The single executable's build says which commit it was made from. */
  commit?: string
}

/** Defined by the bundles (scripts/bundle.mjs); the ES modules read package.json. */
declare const CAPSULE_BUILD: BuildInfo | undefined

function packageVersion(): BuildInfo {
  return JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as BuildInfo
}

export function versionLine(): string {
  const { version, commit = 'from source' } =
    typeof CAPSULE_BUILD !== 'undefined' ? CAPSULE_BUILD : packageVersion()
  return `capsule ${version} (${commit})`
}
