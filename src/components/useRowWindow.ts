import * as React from 'react';

import { computeWindow, IRowWindow } from '../windowing';

/**
 * The rows of a scrolled list to render, kept in step with the scroll
 * position and the height of its scroll container.
 */
export function useRowWindow(
  scroller: React.RefObject<HTMLElement>,
  options: {
    count: number;
    rowHeight: number;
    /** Extra heights below some rows (open details), by row index. */
    extras?: ReadonlyMap<number, number>;
    /** Pixels above the first row inside the scroller (a table's header). */
    offsetTop?: number;
    overscan?: number;
  }
): IRowWindow {
  const [view, setView] = React.useState({ scrollTop: 0, height: 0 });

  React.useLayoutEffect(() => {
    const node = scroller.current;
    if (!node) {
      return;
    }
    const measure = () => {
      setView(previous =>
        previous.scrollTop === node.scrollTop &&
        previous.height === node.clientHeight
          ? previous
          : { scrollTop: node.scrollTop, height: node.clientHeight }
      );
    };
    measure();
    node.addEventListener('scroll', measure, { passive: true });
    const observer =
      typeof ResizeObserver !== 'undefined'
        ? new ResizeObserver(measure)
        : null;
    observer?.observe(node);
    return () => {
      node.removeEventListener('scroll', measure);
      observer?.disconnect();
    };
  }, [scroller.current]);

  return computeWindow({
    count: options.count,
    rowHeight: options.rowHeight,
    scrollTop: view.scrollTop - (options.offsetTop ?? 0),
    viewportHeight: view.height,
    overscan: options.overscan ?? 8,
    extras: options.extras
  });
}

/**
 * A box that reports its height whenever it changes (open details, whose
 * height the list must know to place the rows below them).
 */
export function useReportedHeight<T extends HTMLElement>(
  onHeight: ((height: number) => void) | undefined
): React.RefCallback<T> {
  const observer = React.useRef<ResizeObserver | null>(null);
  React.useEffect(() => () => observer.current?.disconnect(), []);
  return React.useCallback(
    (node: T | null) => {
      observer.current?.disconnect();
      observer.current = null;
      if (!node || !onHeight) {
        return;
      }
      onHeight(node.offsetHeight);
      if (typeof ResizeObserver !== 'undefined') {
        observer.current = new ResizeObserver(() =>
          onHeight(node.offsetHeight)
        );
        observer.current.observe(node);
      }
    },
    [onHeight]
  );
}
