/** Test listener: on each port given, answer every connection with the peer's address. */
import { createServer } from "node:net";

for (const port of process.argv.slice(2).map(Number)) {
  createServer((s) => {
    s.end(`${s.remoteAddress?.replace(/^::ffff:/, "")}\n`);
  }).listen(port, "::");
}
console.log("ready");
