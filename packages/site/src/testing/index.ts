export { selfSignedCertificate } from './certificates.js'
export { MemorySiteData } from './memory-site-data.js'
export { freePort, type Pebble, type PebbleOptions, startPebble } from './pebble.js'
export { assertWellFormedXml } from './well-formed-xml.js'
