/**
 * A token bucket: holds up to `capacity` tokens and refills `refillPerSecond` of them each
 * second. It limits how much one peer may ask of this node, without timers.
 */
export class TokenBucket {
  #tokens: number
  #updated: number

  constructor(
    readonly capacity: number,
    readonly refillPerSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.#tokens = capacity
    this.#updated = now()
  }

  /** Tokens available now (fractional tokens are not usable). */
  available(): number {
    const now = this.now()
    const elapsed = Math.max(0, now - this.#updated) / 1000
    this.#tokens = Math.min(this.capacity, this.#tokens + elapsed * this.refillPerSecond)
    this.#updated = now
    return Math.floor(this.#tokens)
  }

  /** Takes `n` tokens if all are available; otherwise takes none and returns false. */
  take(n = 1): boolean {
    if (this.available() < n) return false
    this.#tokens -= n
    return true
  }

  /** Takes as many tokens as are available, up to `n`, and returns how many it took. */
  takeUpTo(n: number): number {
    const taken = Math.min(n, this.available())
    this.#tokens -= taken
    return taken
  }
}
