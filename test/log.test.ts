/** log_level: the least severe line the agent writes. */
import { expect, test } from "bun:test";
import { parseConfig } from "../src/config/load.ts";
import { createLogger } from "../src/log.ts";

test("log_level from the configuration filters lower levels, children included", () => {
  const { config } = parseConfig("[DEFAULT]\nlog_level = warn\n");
  expect(config.logLevel).toBe("warn");
  expect(parseConfig("").config.logLevel).toBe("info");
  const lines: string[] = [];
  const log = createLogger({ level: config.logLevel, write: (l) => lines.push(l) }).child({ component: "metadata" });
  log.debug("d");
  log.info("request");
  log.warn("more requests refused", { count: 3 });
  log.error("e");
  expect(lines.map((l) => /level=(\w+)/.exec(l)![1])).toEqual(["warn", "error"]);
  expect(lines[0]).toContain("component=metadata");
});
