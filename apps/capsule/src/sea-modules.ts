import { createRequire, isBuiltin } from 'node:module'
import { compileFunction } from 'node:vm'

export class SeaModuleError extends Error {
  override readonly name = 'SeaModuleError'
}

const PARAMETERS = ['exports', 'require', 'module', '__filename', '__dirname']

/**
 * The `require` the single executable gives its bundle (sea-main.ts): built-in modules, as a
 * SEA's own `require` loads, and the CommonJS modules in `packed` (module id to asset key), each
 * bundled on its own and run from `source(key)` the first time it is required. Nothing is loaded
 * from disk.
 */
export function seaRequire(
  packed: Readonly<Record<string, string>>,
  source: (key: string) => Buffer,
): (id: string) => unknown {
  const requireNode = createRequire(process.execPath)
  const loaded = new Map<string, unknown>()
  const require = (id: string): unknown => {
    const key = packed[id]
    if (key === undefined) {
      if (!isBuiltin(id)) throw new SeaModuleError(`the single executable carries no module ${id}`)
      return requireNode(id)
    }
    if (!loaded.has(id)) {
      const module = { exports: {} }
      compileFunction(source(key).toString(), PARAMETERS, { filename: key })(
        module.exports,
        require,
        module,
        key,
        '.',
      )
      loaded.set(id, module.exports)
    }
    return loaded.get(id)
  }
  return require
}
