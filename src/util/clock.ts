/**
 * The one seam through which time-dependent code reads the time and schedules work, so that
 * tests drive it with a FakeClock instead of waiting for real time to pass.
 */

/** Cancels a timer; calling it again, or after the timer ran, does nothing. */
export type Cancel = () => void;

export interface Clock {
  /** Milliseconds since the epoch (monotonicClock: since the process started). */
  now(): number;
  /** Runs `fn` once after `ms`. */
  setTimer(ms: number, fn: () => void): Cancel;
  /** Runs `fn` every `ms` until cancelled. */
  every(ms: number, fn: () => void): Cancel;
  /** Resolves after `ms`. */
  sleep(ms: number): Promise<void>;
}

/**
 * Real time. Timers are unref'd: a pending timer never keeps the process alive on its own (the
 * daemon's sockets and servers do that).
 */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return () => clearTimeout(t);
  },
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref?.();
    return () => clearInterval(t);
  },
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Real time read from a monotonic source (milliseconds since the process started): for
 * schedules that must not jump when the wall clock is stepped, such as router advertisements.
 */
export const monotonicClock: Clock = { ...realClock, now: () => performance.now() };

interface FakeTimer {
  at: number;
  /** Insertion order, so timers due at the same instant run in the order they were set. */
  seq: number;
  fn: () => void;
  /** Period for `every`, null for a one-shot timer. */
  period: number | null;
}

/**
 * Time that moves only when a test says so. `advance` runs every timer that falls due, in due
 * order, with `now()` set to each one's due time, and lets the work each timer starts (promise
 * continuations) run before the next one fires, so async code behaves as it would in real time.
 */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: FakeTimer[] = [];

  constructor(start = 1_800_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(ms: number, fn: () => void): Cancel {
    return this.#add(ms, fn, null);
  }

  every(ms: number, fn: () => void): Cancel {
    return this.#add(ms, fn, Math.max(1, ms));
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(ms, resolve));
  }

  /** Timers waiting to run. */
  get pending(): number {
    return this.#timers.length;
  }

  /**
   * Moves time forward by `ms`, running the timers that fall due on the way; resolves once the
   * work they started has settled.
   */
  async advance(ms: number): Promise<void> {
    const until = this.#now + Math.max(0, ms);
    await settle();
    for (;;) {
      const next = this.#next();
      if (!next || next.at > until) break;
      this.#now = Math.max(this.#now, next.at);
      if (next.period === null) this.#timers.splice(this.#timers.indexOf(next), 1);
      else {
        next.at += next.period;
        next.seq = this.#seq++;
      }
      next.fn();
      await settle();
    }
    this.#now = until;
  }

  /** Lets pending promise continuations run without moving time. */
  settle(): Promise<void> {
    return settle();
  }

  #add(ms: number, fn: () => void, period: number | null): Cancel {
    const timer: FakeTimer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, period };
    this.#timers.push(timer);
    return () => {
      const i = this.#timers.indexOf(timer);
      if (i >= 0) this.#timers.splice(i, 1);
    };
  }

  #next(): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.#timers) if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    return best;
  }
}

/** One macrotask turn: every queued microtask (promise continuation) has run by then. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
