/** `netlet config sample`: an annotated file with every option, its default and meaning. */
import { OPTIONS } from "./options.ts";

function wrap(text: string, width = 96): string[] {
  const out: string[] = [];
  let line = "#";
  for (const word of text.split(/\s+/)) {
    if (line.length + word.length + 1 > width) {
      out.push(line);
      line = "#";
    }
    line += ` ${word}`;
  }
  out.push(line);
  return out;
}

export function configSample(): string {
  const lines = [
    "# netlet configuration. Keys in [DEFAULT] are nova.conf's names: a nova-network",
    "# operator's [DEFAULT] section can be reused as it is (unknown keys only warn).",
    "# Every line below shows the default; uncomment and change what you need.",
    "",
  ];
  for (const section of ["DEFAULT", "cluster"] as const) {
    lines.push(`[${section}]`, "");
    for (const o of OPTIONS.filter((x) => x.section === section)) {
      lines.push(...wrap(o.help));
      lines.push(`#${o.key} = ${o.default}`, "");
    }
  }
  return lines.join("\n");
}
