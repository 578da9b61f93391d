/** "Did you mean …?" for mistyped verbs and options: the closest known name by edit distance. */

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

/** The closest candidate within a third of the word's length (at least 2 edits), else null. */
export function closest(word: string, candidates: readonly string[]): string | null {
  const w = word.toLowerCase().replace(/_/g, "-");
  let best: string | null = null;
  let bestD = Math.max(2, Math.floor(w.length / 3)) + 1;
  for (const c of candidates) {
    const d = distance(w, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

export function didYouMean(
  word: string,
  candidates: readonly string[],
  render: (c: string) => string = (c) => c,
): string {
  const c = closest(word, candidates);
  return c ? `; did you mean ${render(c)}?` : "";
}
