import { request as httpRequest, type IncomingMessage } from 'node:http'
import { createInterface } from 'node:readline'
import { ApiError, type ApiErrorBody, DaemonNotRunningError } from './errors.js'

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE'
  body?: unknown
  signal?: AbortSignal
}

function isNotRunning(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code
  return code === 'ENOENT' || code === 'ECONNREFUSED'
}

async function readAll(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of response as AsyncIterable<Buffer>) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

function errorFrom(status: number, text: string): ApiError {
  try {
    const { error } = JSON.parse(text) as ApiErrorBody
    return new ApiError(error.code, error.message)
  } catch {
    return new ApiError('internal', `the daemon answered ${status} without an error body`)
  }
}

/** The CLI's side of the socket API. */
export class SocketClient {
  constructor(readonly socketPath: string) {}

  #open(path: string, options: RequestOptions): Promise<IncomingMessage> {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body)
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          socketPath: this.socketPath,
          path,
          method: options.method ?? (body === undefined ? 'GET' : 'POST'),
          headers: body === undefined ? {} : { 'content-type': 'application/json' },
          ...(options.signal ? { signal: options.signal } : {}),
        },
        resolve,
      )
      req.once('error', (error) =>
        reject(isNotRunning(error) ? new DaemonNotRunningError(this.socketPath) : error),
      )
      req.end(body)
    })
  }

  /** One JSON request; an error answer is thrown as {@link ApiError}. */
  async request<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.#open(path, options)
    const text = await readAll(response)
    const status = response.statusCode ?? 500
    if (status >= 400) throw errorFrom(status, text)
    return JSON.parse(text) as T
  }

  /**
   * A newline-delimited JSON stream, item by item, until the daemon or `signal` ends it.
   * `onOpen` runs once the daemon accepted the stream: from then on no item is missed.
   */
  async *stream<T>(path: string, options: RequestOptions & { onOpen?: () => void } = {}): AsyncGenerator<T> {
    const response = await this.#open(path, options)
    const status = response.statusCode ?? 500
    if (status >= 400) throw errorFrom(status, await readAll(response))
    options.onOpen?.()
    const lines = createInterface({ input: response, crlfDelay: Number.POSITIVE_INFINITY })
    try {
      for await (const line of lines) if (line.trim() !== '') yield JSON.parse(line) as T
    } catch (error) {
      if (!options.signal?.aborted) throw error
    } finally {
      response.destroy()
    }
  }
}
