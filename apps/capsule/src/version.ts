import { readFileSync } from 'node:fs'

declare const CAPSULE_BUILD: { version: string; commit: string } | undefined

/** The single executable's build defines CAPSULE_BUILD; run from source, package.json says. */
export function versionLine(): string {
  if (typeof CAPSULE_BUILD !== 'undefined')
    return `capsule ${CAPSULE_BUILD.version} (${CAPSULE_BUILD.commit})`
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return `capsule ${pkg.version} (from source)`
}
