import { channel } from 'node:diagnostics_channel'

/**
 * Published once `capsule up` is ready: the code compiled by then is what the next start needs
 * (code-cache.ts keeps it). A channel, so the bundle and the bin that loads it share no module.
 */
export const startedUp = channel('capsule:started-up')
