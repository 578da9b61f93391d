/** Test client: connect to host:port (optionally from a source address), print the reply. */
import { connect } from "node:net";

const [host, port, source, timeout] = process.argv.slice(2);
const s = connect({ host, port: Number(port), localAddress: source || undefined });
let got = "";
const timer = setTimeout(
  () => {
    console.log("TIMEOUT");
    process.exit(1);
  },
  Number(timeout || 1000),
);
s.on("data", (d) => (got += d.toString()));
s.on("end", () => {
  clearTimeout(timer);
  console.log(got.trim());
  process.exit(0);
});
s.on("error", (e) => {
  clearTimeout(timer);
  console.log(`ERROR ${e.message}`);
  process.exit(1);
});
