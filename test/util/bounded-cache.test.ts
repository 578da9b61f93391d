import { describe, expect, test } from "bun:test";
import { BoundedCache } from "../../src/util/bounded-cache.ts";

describe("bounded cache", () => {
  test("never holds more than its capacity", () => {
    const c = new BoundedCache<number, number>(10);
    for (let i = 0; i < 1000; i++) {
      c.set(i, i * 2);
      expect(c.size).toBeLessThanOrEqual(10);
    }
    expect(c.get(999)).toBe(1998);
  });

  test("an entry in use survives while unused ones are forgotten; a full cache never forgets everything", () => {
    const c = new BoundedCache<string, string | null>(4);
    c.set("hot", null);
    for (let i = 0; i < 100; i++) {
      expect(c.get("hot")).toBeNull(); // null is a value, not a miss
      c.set(`cold${i}`, `v${i}`);
      expect(c.size).toBeGreaterThanOrEqual(2);
    }
    expect(c.get("cold0")).toBeUndefined();
    expect(c.get("cold99")).toBe("v99");
  });

  test("set replaces a value held in either generation without counting it twice", () => {
    const c = new BoundedCache<string, number>(4);
    c.set("a", 1);
    c.set("b", 2);
    c.set("c", 3); // rotation: a and b are old
    c.set("a", 10);
    expect(c.get("a")).toBe(10);
    expect(c.size).toBe(3);
    c.clear();
    expect([c.size, c.get("a")]).toEqual([0, undefined]);
  });
});
