/**
 * The browser's estimate of the server clock (µs), as `client/clock.py`:
 * the minimum-round-trip ping/pong sample of a sliding window, aged by a
 * 100 ppm drift allowance so a stale sample gives way.
 *
 * @module clock
 */

const DRIFT = 100e-6;

/** This page's monotonic clock in µs. */
export const localUs = () => performance.now() * 1000;

export class Clock {
  static SYNCED_AFTER = 8;

  constructor(window = 32, local = localUs) {
    this.local = local;
    this.window = window;
    /** @type {{rtt: number, offset: number, at: number}[]} */ this.samples = [];
    this.best = null;
  }

  /** Server time now (µs), as estimated; the local clock until a sample exists. */
  now() {
    return this.local() + this.offset;
  }

  toServer(localTime) {
    return localTime + this.offset;
  }

  toLocal(serverTime) {
    return serverTime - this.offset;
  }

  /** Server minus client clock (µs). */
  get offset() {
    return this.best === null ? 0 : this.best.offset;
  }

  /** Round trip (µs) of the sample in use; 0 before the first. */
  get rtt() {
    return this.best === null ? 0 : this.best.rtt;
  }

  get synced() {
    return this.samples.length >= Clock.SYNCED_AFTER;
  }

  /** Take one exchange (t0, t3: local µs; t1, t2: server µs); the sample or null. */
  add(t0, t1, t2, t3) {
    let rtt = t3 - t0 - (t2 - t1);
    if (rtt < -1 || t3 < t0 || t2 < t1) return null;
    rtt = Math.max(rtt, 0);
    const sample = { rtt, offset: (t1 - t0 + (t2 - t3)) / 2, at: t3 };
    this.samples.push(sample);
    if (this.samples.length > this.window) this.samples.shift();
    const cost = (s) => s.rtt / 2 + (t3 - s.at) * DRIFT;
    this.best = this.samples.reduce((a, b) => (cost(b) < cost(a) ? b : a));
    return sample;
  }

  /** Forget every sample: a new connection may reach a server with another clock. */
  reset() {
    this.samples = [];
    this.best = null;
  }
}
