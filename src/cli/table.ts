/** Tables as the seed's listings print them (prettytable style, as python-novaclient did). */

function cell(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (Array.isArray(v)) return v.map(cell).join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function table(headers: string[], rows: unknown[][]): string {
  const text = rows.map((r) => r.map(cell));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? "").length)));
  const sep = `+${widths.map((w) => "-".repeat(w + 2)).join("+")}+`;
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [sep, line(headers), sep, ...text.map(line), sep].join("\n");
}

/** Two-column "Property | Value" table for show commands. */
export function propertyTable(obj: Record<string, unknown>): string {
  return table(
    ["Property", "Value"],
    Object.entries(obj).map(([k, v]) => [k, v]),
  );
}
