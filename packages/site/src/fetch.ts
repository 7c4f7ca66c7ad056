import http from 'node:http'
import https from 'node:https'
import { isIP, type LookupFunction } from 'node:net'
import type { Resolve } from './config.js'

/** Adapts a promise resolver to the callback `lookup` that node:net expects. */
export function lookupFrom(resolve: Resolve): LookupFunction {
  return (hostname, options, callback) => {
    const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true
    resolve(hostname).then(
      (addresses) => {
        const entries = addresses.map((address) => ({ address, family: isIP(address) === 6 ? 6 : 4 }))
        const first = entries[0]
        if (first === undefined) {
          const error = Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' })
          callback(error, '', 4)
        } else if (all) {
          ;(callback as unknown as (e: null, a: typeof entries) => void)(null, entries)
        } else {
          callback(null, first.address, first.family)
        }
      },
      (error: Error) => callback(error as NodeJS.ErrnoException, '', 4),
    )
  }
}

export interface BoundedGetOptions {
  timeoutMs: number
  maxBytes: number
  resolve?: Resolve
  /** Extra trusted CA certificates (PEM), added to Node's roots. */
  ca?: string
  headers?: Record<string, string>
  signal?: AbortSignal
}

export interface BoundedResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: Buffer
}

/** Thrown when a response body is larger than allowed. */
export class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError'
}

/** Thrown when the whole exchange takes longer than allowed. */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError'
}

let rootsWithExtra: { pem: string; ca: string[] } | undefined

async function caList(pem: string): Promise<string[]> {
  if (rootsWithExtra?.pem !== pem) {
    const tls = await import('node:tls')
    rootsWithExtra = { pem, ca: [...tls.rootCertificates, pem] }
  }
  return rootsWithExtra.ca
}

/** One GET with a deadline for the whole exchange and a cap on the body; no redirects followed. */
export async function boundedGet(url: URL, options: BoundedGetOptions): Promise<BoundedResponse> {
  const secure = url.protocol === 'https:'
  const ca = secure && options.ca ? await caList(options.ca) : undefined
  return new Promise((resolve, reject) => {
    const request = (secure ? https : http).request(url, {
      method: 'GET',
      headers: { 'User-Agent': 'Capsule', Accept: '*/*', ...options.headers },
      agent: false,
      ...(options.resolve ? { lookup: lookupFrom(options.resolve) } : {}),
      ...(ca ? { ca } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    })
    const timer = setTimeout(() => {
      request.destroy(
        new RequestTimeoutError(`no complete answer from ${url.host} within ${options.timeoutMs} ms`),
      )
    }, options.timeoutMs)
    request.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    request.on('response', (response) => {
      const declared = Number(response.headers['content-length'])
      if (Number.isFinite(declared) && declared > options.maxBytes) {
        request.destroy(
          new ResponseTooLargeError(`the answer is ${declared} bytes; at most ${options.maxBytes} are read`),
        )
        return
      }
      const chunks: Buffer[] = []
      let size = 0
      response.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > options.maxBytes) {
          request.destroy(new ResponseTooLargeError(`the answer is over ${options.maxBytes} bytes`))
          return
        }
        chunks.push(chunk)
      })
      response.on('error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
      response.on('end', () => {
        clearTimeout(timer)
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) })
      })
    })
    request.end()
  })
}
