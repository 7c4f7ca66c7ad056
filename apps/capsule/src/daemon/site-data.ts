import type { SiteData } from '@capsule/site'
import type { Store } from '@capsule/store'

/** The public site shows the owner's own records only, read straight from the store. */
export function siteDataOver(store: Store, ownerId: string, meshAddresses: () => string[]): SiteData {
  return {
    ownerId,
    revision: () => store.records.revisionOf(ownerId),
    profile: () => store.records.latestProfile(ownerId),
    page: ({ before, limit }) => store.records.authorPage(ownerId, limit, before),
    record: (id) => {
      const record = store.records.get(id)
      return record?.body.author === ownerId ? record : undefined
    },
    recordsAfter: (afterSeq, limit) => store.records.bytesAfter(ownerId, afterSeq, limit),
    meshAddresses,
    authorProfile: (author) => store.records.latestProfile(author),
  }
}
