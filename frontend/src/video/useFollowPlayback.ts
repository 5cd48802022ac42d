import { type RefObject, useCallback, useEffect, useRef } from 'react';

import { segmentAt } from './seek';

const HANDS_OFF_MS = 4000; // after the person scrolls the transcript, leave it where they put it
const SCROLL_KEYS = new Set(['ArrowUp', 'ArrowDown', 'PageUp', 'PageDown', 'Home', 'End']);

/**
 * Mark the transcript line being spoken (`aria-current="true"`) and keep it in view, straight on
 * the DOM: a tick touches two lines, never re-renders the list. The line is found by binary
 * search on every frame while playing, and on seeks, also while paused.
 */
export function useFollowPlayback(
  video: HTMLVideoElement | null,
  listRef: RefObject<HTMLElement | null>,
  starts: Float64Array,
): (index: number) => void {
  const current = useRef(-1);
  const handsOffUntil = useRef(0);

  const mark = useCallback(
    (index: number) => {
      const list = listRef.current;
      if (!list || index === current.current) return;
      const lines = list.querySelectorAll<HTMLElement>('[data-index]');
      lines[current.current]?.removeAttribute('aria-current');
      current.current = index;
      const line = lines[index];
      if (!line) return;
      line.setAttribute('aria-current', 'true');
      if (performance.now() < handsOffUntil.current) return;
      const top = line.offsetTop;
      const bottom = top + line.offsetHeight;
      if (top < list.scrollTop || bottom > list.scrollTop + list.clientHeight) {
        list.scrollTo({ top: Math.max(0, top - list.clientHeight / 3) });
      }
    },
    [listRef],
  );

  useEffect(() => {
    const list = listRef.current;
    if (!video || !list) return undefined;
    current.current = -1;
    list.querySelectorAll('[aria-current]').forEach((line) => line.removeAttribute('aria-current'));
    let frame = 0;
    const update = () => mark(segmentAt(starts, video.currentTime));
    const tick = () => {
      update();
      frame = video.paused ? 0 : requestAnimationFrame(tick);
    };
    const onPlay = () => {
      if (!frame) frame = requestAnimationFrame(tick);
    };
    const handsOff = () => {
      handsOffUntil.current = performance.now() + HANDS_OFF_MS;
    };
    const onKey = (event: KeyboardEvent) => {
      if (SCROLL_KEYS.has(event.key)) handsOff();
    };
    // Dragging the list's scroll bar: the pointer lands on the list itself, not on a line.
    const onPointerDown = (event: PointerEvent) => {
      if (event.target === list) handsOff();
    };
    update();
    if (!video.paused) onPlay();
    video.addEventListener('play', onPlay);
    video.addEventListener('seeked', update);
    video.addEventListener('timeupdate', update);
    list.addEventListener('wheel', handsOff, { passive: true });
    list.addEventListener('touchmove', handsOff, { passive: true });
    list.addEventListener('keydown', onKey);
    list.addEventListener('pointerdown', onPointerDown);
    list.addEventListener('focusin', handsOff); // Tab into a far line scrolls to it
    return () => {
      cancelAnimationFrame(frame);
      video.removeEventListener('play', onPlay);
      video.removeEventListener('seeked', update);
      video.removeEventListener('timeupdate', update);
      list.removeEventListener('wheel', handsOff);
      list.removeEventListener('touchmove', handsOff);
      list.removeEventListener('keydown', onKey);
      list.removeEventListener('pointerdown', onPointerDown);
      list.removeEventListener('focusin', handsOff);
    };
  }, [video, listRef, starts, mark]);

  return mark;
}
