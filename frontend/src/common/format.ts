/** 75.4 -> "1:15"; 3725 -> "1:02:05". */
export function formatTime(seconds: number): string {
  const whole = Math.max(0, Math.floor(seconds));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

/** 1536000 -> "1.5 MB" (powers of 1000, as disks and networks count). */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 || value >= 100 ? 0 : 1)} ${UNITS[unit]}`;
}

export function formatDate(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** What a job costs: its price per started minute times the video's started minutes. */
export function jobPrice(pricePerMinute: number, durationSeconds: number | null | undefined): number {
  const seconds = Math.round((durationSeconds ?? 0) * 1000) / 1000; // as the API rounds
  return pricePerMinute * Math.max(1, Math.ceil(seconds / 60));
}
