import type { ReactNode } from 'react';

/**
 * `text` with the `[from, to)` ranges of `highlights` in <mark>. The API counts characters
 * (code points), so the text is cut by code points, not UTF-16 units.
 */
export function Highlighted({ text, highlights }: { text: string; highlights: number[][] }) {
  const chars = Array.from(text);
  const cut = (from: number, to: number) => chars.slice(from, to).join('');
  const parts: ReactNode[] = [];
  let at = 0;
  const ranges = highlights
    .filter((range): range is [number, number] => range.length === 2)
    .sort((a, b) => a[0] - b[0]);
  for (const [from, to] of ranges) {
    const start = Math.max(from, at);
    const end = Math.min(to, chars.length);
    if (end <= start) continue;
    if (start > at) parts.push(cut(at, start));
    parts.push(<mark key={start}>{cut(start, end)}</mark>);
    at = end;
  }
  if (at < chars.length) parts.push(cut(at, chars.length));
  return <>{parts}</>;
}
