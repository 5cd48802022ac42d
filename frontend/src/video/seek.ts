/** Move the player to `seconds`, now or as soon as it knows its duration; playing or paused. */
export function seek(video: HTMLVideoElement | null, seconds: number): void {
  if (!video) return;
  const go = () => {
    video.currentTime = seconds;
  };
  if (video.readyState >= HTMLMediaElement.HAVE_METADATA) go();
  else video.addEventListener('loadedmetadata', go, { once: true });
}

/**
 * The index of the segment being spoken at `time`: the last one starting at or before it
 * (binary search over the rising start times), or -1 before the first.
 */
export function segmentAt(starts: Float64Array, time: number): number {
  let low = 0;
  let high = starts.length - 1;
  let found = -1;
  const t = time + 0.001; // a seek to a segment's start reads back a hair under it
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (starts[middle]! <= t) {
      found = middle;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return found;
}
