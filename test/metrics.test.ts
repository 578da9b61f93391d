import { expect, test } from "bun:test";
import { Registry } from "../src/metrics.ts";

test("a histogram renders cumulative buckets, +Inf, sum and count in Prometheus text", () => {
  const reg = new Registry();
  const h = reg.histogram("netlet_x_seconds", "x", [0.001, 0.01]);
  for (const v of [0.0005, 0.002, 0.002, 3]) h.observe(v);
  expect(reg.histogram("netlet_x_seconds", "x", [0.001, 0.01])).toBe(h);
  expect(() => reg.counter("netlet_x_seconds", "x")).toThrow(/another type/);
  const text = reg.render();
  expect(text).toContain("# TYPE netlet_x_seconds histogram");
  expect(text).toContain(
    'netlet_x_seconds_bucket{le="0.001"} 1\nnetlet_x_seconds_bucket{le="0.01"} 3\nnetlet_x_seconds_bucket{le="+Inf"} 4',
  );
  expect(text).toContain("netlet_x_seconds_sum 3.0045");
  expect(text).toContain("netlet_x_seconds_count 4");
});
