/** Binary min-heap of timed events; ties keep insertion order so runs are deterministic. */
export interface Timed {
  at: number;
  seq: number;
}

export class EventHeap<T extends Timed> {
  readonly #a: T[] = [];

  get size(): number {
    return this.#a.length;
  }

  peek(): T | undefined {
    return this.#a[0];
  }

  /** Sift with a hole instead of pairwise swaps: one write per level (hot at 1,000 nodes). */
  push(x: T): void {
    const a = this.#a;
    let i = a.length;
    a.push(x);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const y = a[p];
      if (!less(x, y)) break;
      a[i] = y;
      i = p;
    }
    a[i] = x;
  }

  pop(): T | undefined {
    const a = this.#a;
    const top = a[0];
    const last = a.pop();
    const n = a.length;
    if (n === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const m = r < n && less(a[r], a[l]) ? r : l;
      if (!less(a[m], last)) break;
      a[i] = a[m];
      i = m;
    }
    a[i] = last;
    return top;
  }
}

const less = (x: Timed, y: Timed) => x.at < y.at || (x.at === y.at && x.seq < y.seq);
