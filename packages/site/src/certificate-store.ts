import type { CertificateStore, StoredCertificate } from './interfaces.js'

/** A CertificateStore kept in memory; for tests and for nodes that accept ordering again at start. */
export function memoryCertificateStore(): CertificateStore {
  let accountKey: string | undefined
  const certificates = new Map<string, StoredCertificate>()
  return {
    accountKey: () => accountKey,
    saveAccountKey: (pem) => {
      accountKey = pem
    },
    certificate: (domain) => certificates.get(domain.toLowerCase()),
    saveCertificate: (certificate) => {
      certificates.set(certificate.domain.toLowerCase(), certificate)
    },
  }
}

/** A key/value table of strings, such as the store's settings table. */
export interface StringSettings {
  get(key: string): string | undefined
  set(key: string, value: string): void
}

export const ACCOUNT_KEY_SETTING = 'site.acme.account-key'
export const CERTIFICATE_SETTING_PREFIX = 'site.certificate.'

function isStoredCertificate(value: unknown): value is StoredCertificate {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return (
    typeof v.domain === 'string' &&
    typeof v.certificatePem === 'string' &&
    typeof v.privateKeyPem === 'string' &&
    typeof v.directoryUrl === 'string' &&
    typeof v.issuedAt === 'number'
  )
}

/**
 * A CertificateStore over string settings: the account key under `site.acme.account-key`, each
 * certificate as JSON under `site.certificate.<domain>`.
 */
export function certificateStoreOnSettings(settings: StringSettings): CertificateStore {
  return {
    accountKey: () => settings.get(ACCOUNT_KEY_SETTING),
    saveAccountKey: (pem) => settings.set(ACCOUNT_KEY_SETTING, pem),
    certificate: (domain) => {
      const text = settings.get(CERTIFICATE_SETTING_PREFIX + domain.toLowerCase())
      if (text === undefined) return undefined
      try {
        const value: unknown = JSON.parse(text)
        return isStoredCertificate(value) ? value : undefined
      } catch {
        return undefined
      }
    },
    saveCertificate: (certificate) =>
      settings.set(
        CERTIFICATE_SETTING_PREFIX + certificate.domain.toLowerCase(),
        JSON.stringify(certificate),
      ),
  }
}
