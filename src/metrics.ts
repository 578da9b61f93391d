/**
 * One registry of counters and gauges for every module, rendered as Prometheus text on the
 * admin listener's /metrics. Modules create their instruments once at construction
 * (`counter(...)`) and keep the returned object; there is no global mutable state besides the
 * registry itself, and tests can create a private `Registry`.
 */

type Labels = Record<string, string>;

function labelKey(labels: Labels | undefined): string {
  if (!labels) return "";
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return "";
  // Prometheus label values escape backslash, quote and newline.
  const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
  return `{${keys.map((k) => `${k}="${esc(labels[k])}"`).join(",")}}`;
}

abstract class Instrument {
  readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "gauge" | "histogram",
  ) {}

  get(labels?: Labels): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    for (const [k, v] of this.values) lines.push(`${this.name}${k} ${v}`);
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    return lines.join("\n");
  }
}

export class Counter extends Instrument {
  constructor(name: string, help: string) {
    super(name, help, "counter");
  }
  inc(labels?: Labels, n = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + n);
  }
  /** The counter for fixed labels, for hot paths: the label key is built once, not per increment. */
  with(labels: Labels): { inc(n?: number): void } {
    const k = labelKey(labels);
    return { inc: (n = 1) => void this.values.set(k, (this.values.get(k) ?? 0) + n) };
  }
}

export class Gauge extends Instrument {
  constructor(name: string, help: string) {
    super(name, help, "gauge");
  }
  set(value: number, labels?: Labels): void {
    this.values.set(labelKey(labels), value);
  }
}

/** A histogram without labels: cumulative buckets (upper bounds in the metric's unit), sum, count. */
export class Histogram extends Instrument {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(
    name: string,
    help: string,
    readonly bounds: readonly number[],
  ) {
    super(name, help, "histogram");
    this.counts = bounds.map(() => 0);
  }
  observe(value: number): void {
    this.sum += value;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) if (value <= this.bounds[i]) this.counts[i]++;
  }
  override render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.bounds.forEach((b, i) => {
      lines.push(`${this.name}_bucket{le="${b}"} ${this.counts[i]}`);
    });
    lines.push(
      `${this.name}_bucket{le="+Inf"} ${this.count}`,
      `${this.name}_sum ${this.sum}`,
      `${this.name}_count ${this.count}`,
    );
    return lines.join("\n");
  }
}

export class Registry {
  readonly #items = new Map<string, Instrument>();

  counter(name: string, help: string): Counter {
    return this.#get(name, () => new Counter(name, help), Counter);
  }

  gauge(name: string, help: string): Gauge {
    return this.#get(name, () => new Gauge(name, help), Gauge);
  }

  histogram(name: string, help: string, bounds: readonly number[]): Histogram {
    return this.#get(name, () => new Histogram(name, help, bounds), Histogram);
  }

  /** Prometheus text exposition format. */
  render(): string {
    return `${[...this.#items.values()].map((i) => i.render()).join("\n")}\n`;
  }

  #get<T extends Instrument>(name: string, make: () => T, cls: new (...a: never[]) => T): T {
    const existing = this.#items.get(name);
    if (existing) {
      if (!(existing instanceof cls)) throw new TypeError(`metric ${name} already registered with another type`);
      return existing as T;
    }
    const created = make();
    this.#items.set(name, created);
    return created;
  }
}

/** The agent's registry. Modules take a Registry parameter defaulting to this one. */
export const registry = new Registry();

export function counter(name: string, help: string, reg: Registry = registry): Counter {
  return reg.counter(name, help);
}

export function gauge(name: string, help: string, reg: Registry = registry): Gauge {
  return reg.gauge(name, help);
}

export function histogram(name: string, help: string, bounds: readonly number[], reg: Registry = registry): Histogram {
  return reg.histogram(name, help, bounds);
}
