/**
 * Which rows of a long list to put in the DOM.
 *
 * Every row has the same height, except that an expanded row carries its
 * details below it (an extra height, measured). Only the rows in the
 * viewport, plus a few on each side, are rendered; the rest is empty room
 * above and below them, so the scroll bar has the size of the whole list.
 */

/**
 * The rows to render and the room around them, in pixels.
 */
export interface IRowWindow {
  /** The first row to render. */
  start: number;
  /** One past the last row to render. */
  end: number;
  /** The height of the rows above `start`. */
  before: number;
  /** The height of the rows from `end` on. */
  after: number;
  /** The height of the whole list. */
  total: number;
}

/**
 * What the window depends on.
 */
export interface IWindowInput {
  /** How many rows the list has. */
  count: number;
  /** The height of one row without details, in pixels (> 0). */
  rowHeight: number;
  /** How far the list is scrolled, in pixels from its top. */
  scrollTop: number;
  /**
   * The height of the viewport; 0 while unknown (not laid out yet), when
   * `fallbackRows` rows are rendered from `scrollTop` on.
   */
  viewportHeight: number;
  /** Rows rendered beyond each edge of the viewport. */
  overscan?: number;
  /** Extra heights below some rows (their open details), by row index. */
  extras?: ReadonlyMap<number, number>;
  /** How many rows to render while the viewport's height is unknown. */
  fallbackRows?: number;
}

/**
 * The extra heights in row order, only those of rows that exist.
 */
function sortedExtras(
  extras: ReadonlyMap<number, number> | undefined,
  count: number
): [number, number][] {
  if (!extras || extras.size === 0) {
    return [];
  }
  return [...extras.entries()]
    .filter(([index, extra]) => index >= 0 && index < count && extra > 0)
    .sort((first, second) => first[0] - second[0]);
}

/**
 * The top of row `index` in pixels.
 */
export function rowTop(
  index: number,
  rowHeight: number,
  extras?: ReadonlyMap<number, number>
): number {
  let top = index * rowHeight;
  extras?.forEach((extra, row) => {
    if (row < index && extra > 0) {
      top += extra;
    }
  });
  return top;
}

/**
 * The row at `y` pixels from the top of the list (clamped to the rows).
 */
export function rowAt(
  y: number,
  count: number,
  rowHeight: number,
  extras?: ReadonlyMap<number, number>
): number {
  if (count <= 0) {
    return 0;
  }
  let added = 0;
  for (const [index, extra] of sortedExtras(extras, count)) {
    const top = index * rowHeight + added;
    if (y < top) {
      break;
    }
    if (y < top + rowHeight + extra) {
      return index;
    }
    added += extra;
  }
  const row = Math.floor(Math.max(0, y - added) / rowHeight);
  return Math.min(count - 1, Math.max(0, row));
}

/**
 * The rows to render for a list scrolled to `scrollTop`.
 */
export function computeWindow(input: IWindowInput): IRowWindow {
  const { count, rowHeight } = input;
  const overscan = Math.max(0, input.overscan ?? 5);
  const extras = input.extras;
  let total = count * rowHeight;
  for (const [, extra] of sortedExtras(extras, count)) {
    total += extra;
  }
  if (count <= 0 || rowHeight <= 0) {
    return { start: 0, end: 0, before: 0, after: 0, total: Math.max(0, total) };
  }
  const scrollTop = Math.min(Math.max(0, input.scrollTop), total);
  const first = rowAt(scrollTop, count, rowHeight, extras);
  const last =
    input.viewportHeight > 0
      ? rowAt(scrollTop + input.viewportHeight - 1, count, rowHeight, extras)
      : first + Math.max(1, input.fallbackRows ?? 50) - 1;
  const start = Math.max(0, first - overscan);
  const end = Math.min(count, last + 1 + overscan);
  const before = rowTop(start, rowHeight, extras);
  const after = total - rowTop(end, rowHeight, extras);
  return { start, end, before, after: Math.max(0, after), total };
}

/**
 * The pages (of `pageSize` rows) that hold the rows `start` to `end - 1`.
 */
export function pagesFor(
  start: number,
  end: number,
  pageSize: number
): number[] {
  if (end <= start || pageSize <= 0) {
    return [];
  }
  const pages: number[] = [];
  const last = Math.floor((end - 1) / pageSize);
  for (
    let page = Math.floor(Math.max(0, start) / pageSize);
    page <= last;
    page++
  ) {
    pages.push(page);
  }
  return pages;
}
