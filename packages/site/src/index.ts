export {
  type AcmeProblem,
  CertificateError,
  type CertificateProblemCode,
  explainProblem,
} from './certificate-errors.js'
export {
  ACCOUNT_KEY_SETTING,
  CERTIFICATE_SETTING_PREFIX,
  certificateStoreOnSettings,
  memoryCertificateStore,
  type StringSettings,
} from './certificate-store.js'
export {
  type CertificateEvents,
  type CertificateInfo,
  type CertificateStatus,
  certificateInfo,
} from './certificates.js'
export {
  BACKFILL_MAX_RECORDS,
  DEFAULT_FEED_SIZE,
  DEFAULT_HTTP_PORT,
  DEFAULT_HTTPS_PORT,
  DEFAULT_PAGE_SIZE,
  DEFAULT_RENEWAL_CHECK_INTERVAL_MS,
  DEFAULT_RETRY,
  DEFAULT_SERVER_LIMITS,
  LETS_ENCRYPT_PRODUCTION,
  LETS_ENCRYPT_STAGING,
  type Resolve,
  type RetryPolicy,
  type ServerLimits,
  type SiteConfig,
} from './config.js'
export type { CertificateStore, Logger, SiteData, SitePage, StoredCertificate } from './interfaces.js'
export { PreflightError } from './preflight.js'
export { createDnsResolve } from './resolve.js'
export {
  createSite,
  type Site,
  type SiteAddresses,
  type SiteDeps,
  type SiteEvents,
  SiteListenError,
} from './site.js'
export {
  type FetchRecordsOptions,
  fetchRecordsFromSite,
  fetchWellKnown,
  parseSiteTarget,
  SiteClientError,
  type SiteClientErrorCode,
  type SiteClientOptions,
  type SiteIdentity,
} from './site-client.js'
export {
  BACKFILL_PATH,
  type BackfillDocument,
  WELL_KNOWN_PATH,
  WELL_KNOWN_VERSION,
  type WellKnownDocument,
} from './well-known.js'
