import { describe, expect, test } from "bun:test";
import { createInterner } from "../../src/reconcile/intern.ts";
import { desiredFromFixture } from "../../src/dataplane/desired.ts";

describe("desired-state interning", () => {
  test("unchanged instances, groups and members keep their identity; changed ones do not", () => {
    const intern = createInterner();
    const make = (ip2: string) =>
      desiredFromFixture({
        networks: [{ id: "n", bridge: "br100", cidr: "10.0.0.0/24" }],
        instances: [
          { uuid: "a", groups: ["g"], vifs: [{ mac: "fa:16:3e:00:00:01", network: "n", ipv4: "10.0.0.3" }] },
          { uuid: "b", groups: ["g"], vifs: [{ mac: "fa:16:3e:00:00:02", network: "n", ipv4: ip2 }] },
        ],
        groups: [{ id: "g", name: "default", rules: [] }],
      });
    const first = intern(make("10.0.0.4"));
    const same = intern(make("10.0.0.4"));
    expect(same.instances[0]).toBe(first.instances[0]);
    expect(same.instances[1]).toBe(first.instances[1]);
    expect(same.groups[0]).toBe(first.groups[0]);
    expect(same.members.g).toBe(first.members.g);
    const changed = intern(make("10.0.0.9"));
    expect(changed.instances[0]).toBe(first.instances[0]);
    expect(changed.instances[1]).not.toBe(first.instances[1]);
    expect(changed.members.g).not.toBe(first.members.g);
    expect(changed.members.g.v4).toEqual(["10.0.0.3", "10.0.0.9"]);
  });
});
