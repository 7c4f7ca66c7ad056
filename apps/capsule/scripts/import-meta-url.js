// Injected into the CommonJS bundle by bundle.mjs: there, `import.meta.url` is the bundle file's
// own URL. Modules resolve packages from it (@capsule/core finds libsodium's addon in
// node_modules), which works the same from apps/capsule/dist as from their own dist folders.
export const importMetaUrl = require('node:url').pathToFileURL(__filename).href
