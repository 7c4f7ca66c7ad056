import { describe, expect, it } from 'vitest'
import { explainProblem, parseRetryAfter } from './certificate-errors.js'
import { certificateStoreOnSettings } from './certificate-store.js'

const acme = (type: string) => `urn:ietf:params:acme:error:${type}`

describe('ACME problems in plain words', () => {
  it.each([
    ['connection', 'connection', /could not connect to alice\.example on port 80/],
    ['dns', 'dns', /could not look up alice\.example.*A and AAAA records/],
    ['unauthorized', 'unauthorized', /not this node's answer/],
    ['incorrectResponse', 'unauthorized', /not this node's answer/],
    ['caa', 'caa', /CAA record .*letsencrypt\.org/],
    ['rejectedIdentifier', 'rejected-identifier', /public domain name/],
    ['serverInternal', 'other', /refused the certificate order for alice\.example: boom/],
  ])('%s becomes %s', (type, code, message) => {
    const error = explainProblem({ type: acme(type), detail: 'boom' }, 'alice.example', 80)
    expect(error.name).toBe('CertificateError')
    expect(error.code).toBe(code)
    expect(error.message).toMatch(message)
    expect(error.detail).toBe('boom')
  })

  it('gives the time to retry for rate limits, from Retry-After or from the detail', () => {
    const now = Date.UTC(2025, 0, 1)
    const fromHeader = explainProblem(
      { type: acme('rateLimited'), detail: 'too many', retryAt: parseRetryAfter('3600', now) as number },
      'alice.example',
      80,
    )
    expect(fromHeader.code).toBe('rate-limited')
    expect(fromHeader.retryAt).toBe(now + 3600_000)
    expect(fromHeader.message).toContain('try again after 2025-01-01 01:00:00 UTC')
    const fromDetail = explainProblem(
      {
        type: acme('rateLimited'),
        detail:
          'too many certificates (5) already issued for this exact set of domains in the last 168h0m0s, retry after 2025-01-03 10:20:30 UTC',
      },
      'alice.example',
      80,
    )
    expect(fromDetail.retryAt).toBe(Date.UTC(2025, 0, 3, 10, 20, 30))
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', 0)).toBe(Date.UTC(2025, 0, 1, 0, 0, 10))
    expect(parseRetryAfter(undefined, 0)).toBeUndefined()
  })
})

describe('certificate store over string settings', () => {
  it('keeps the account key and certificates, and ignores damaged entries', () => {
    const map = new Map<string, string>()
    const store = certificateStoreOnSettings({ get: (k) => map.get(k), set: (k, v) => void map.set(k, v) })
    expect(store.accountKey()).toBeUndefined()
    store.saveAccountKey('KEY')
    const certificate = {
      domain: 'Alice.Example',
      certificatePem: 'C',
      privateKeyPem: 'K',
      directoryUrl: 'https://ca/dir',
      issuedAt: 1,
    }
    store.saveCertificate(certificate)
    expect(store.accountKey()).toBe('KEY')
    expect(store.certificate('alice.example')).toEqual(certificate)
    map.set('site.certificate.bob.example', '{not json')
    expect(store.certificate('bob.example')).toBeUndefined()
  })
})
