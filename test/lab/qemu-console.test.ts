/** What the lab reads from a QEMU guest's serial console. */
import { describe, expect, test } from "bun:test";
import { parseConsole } from "../../src/lab/qemu-vms.ts";

const UUID = "e1bba77f-f393-4d2f-b87c-3ac418e57886";
const SERVED = [
  "NETLET-GUEST up mac=fa:16:3e:4e:0a:1f",
  "NETLET-GUEST lease ip=10.0.0.33 router=10.0.0.32 hostname=vm1.novalocal serverid=10.0.0.32\r",
  "NETLET-GUEST meta-begin",
  JSON.stringify({ uuid: UUID, name: "vm1" }),
  "NETLET-GUEST meta-end",
  "NETLET-GUEST instance-id=i-e1bba77f",
].join("\n");

describe("parseConsole", () => {
  test("a served guest: its lease, the server that gave it, its metadata", () => {
    expect(parseConsole(SERVED)).toEqual({
      leased: "10.0.0.33",
      dhcpServer: "10.0.0.32",
      metadata: "i-e1bba77f",
      metadataUuid: UUID,
      done: true,
    });
  });

  test("still booting: nothing yet, not done", () => {
    expect(parseConsole("Linux version 6.1\nNETLET-GUEST up mac=fa:16:3e:4e:0a:1f\n")).toEqual({
      leased: null,
      dhcpServer: null,
      metadata: null,
      metadataUuid: null,
      done: false,
    });
  });

  test("no lease and no metadata: done, with nothing to show", () => {
    const text = "NETLET-GUEST no-lease\nNETLET-GUEST meta-begin\n\nNETLET-GUEST meta-end\nNETLET-GUEST instance-id=\n";
    expect(parseConsole(text)).toEqual({
      leased: null,
      dhcpServer: null,
      metadata: null,
      metadataUuid: null,
      done: true,
    });
  });

  test("an error page instead of metadata is not metadata", () => {
    const text = SERVED.replace(JSON.stringify({ uuid: UUID, name: "vm1" }), "<html>404</html>").replace(
      "instance-id=i-e1bba77f",
      "instance-id=<html>",
    );
    expect(parseConsole(text)).toMatchObject({ leased: "10.0.0.33", metadata: null, metadataUuid: null, done: true });
  });
});
