import { describe, expect, test } from "bun:test";
import { planLifecycle, type ListedDomain } from "../../src/libvirt/lifecycle.ts";

const dom = (uuid: string, running: boolean, name = `d-${uuid}`): ListedDomain => ({
  uuid,
  name,
  running,
  xml: "<domain/>",
});
const GRACE = 300_000;

describe("libvirt lifecycle plan", () => {
  test("running domains are re-declared (reconnect); stopped ones with an instance withdraw their port; others are left alone", () => {
    const p = planLifecycle(0, GRACE, [dom("a", true), dom("b", false), dom("c", false)], [], new Set(["a", "b"]));
    expect(p.hook.map((h) => `${h.op} ${h.domain.uuid}`)).toEqual(["reconnect a", "stopped b"]);
    expect(p.track).toEqual([
      { uuid: "a", name: "d-a" },
      { uuid: "b", name: "d-b" },
    ]);
    expect([p.missing, p.delete, p.untrack]).toEqual([[], [], []]);
  });

  test("an undefined domain's instance is deleted only after the grace; coming back within it keeps the instance", () => {
    const tracked = [{ uuid: "a", name: "d-a", missingSince: null }];
    const inst = new Set(["a"]);
    expect(planLifecycle(1000, GRACE, [], tracked, inst).missing).toEqual(["a"]);
    const marked = [{ uuid: "a", name: "d-a", missingSince: 1000 }];
    expect(planLifecycle(1000 + GRACE - 1, GRACE, [], marked, inst).delete).toEqual([]);
    expect(planLifecycle(1000 + GRACE, GRACE, [], marked, inst).delete).toEqual(["a"]);
    const back = planLifecycle(1000 + GRACE, GRACE, [dom("a", false)], marked, inst);
    expect(back.delete).toEqual([]);
    expect(back.track).toEqual([{ uuid: "a", name: "d-a" }]);
  });

  test("grace 0 deletes at once; an instance deleted by hand is just no longer tracked; a renamed domain is re-tracked", () => {
    expect(planLifecycle(5, 0, [], [{ uuid: "a", name: "x", missingSince: null }], new Set(["a"])).delete).toEqual([
      "a",
    ]);
    expect(planLifecycle(5, GRACE, [], [{ uuid: "a", name: "x", missingSince: null }], new Set()).untrack).toEqual([
      "a",
    ]);
    expect(
      planLifecycle(5, GRACE, [dom("a", true, "new")], [{ uuid: "a", name: "old", missingSince: null }], new Set(["a"]))
        .track,
    ).toEqual([{ uuid: "a", name: "new" }]);
    expect(
      planLifecycle(
        5,
        GRACE,
        [dom("a", true, "same")],
        [{ uuid: "a", name: "same", missingSince: null }],
        new Set(["a"]),
      ).track,
    ).toEqual([]);
  });
});
