import { ISignal, Signal } from '@lumino/signaling';

import { pagesFor } from './windowing';
import {
  ILayer,
  ILayerFilters,
  ILayerList,
  ILayerPages,
  ILayerQuery,
  LayerSortKey
} from './tokens';

/**
 * The rows asked for in one request: a screen or two of rows.
 */
export const PAGE_SIZE = 50;

/**
 * The longest search the server takes (`q`).
 */
export const MAX_QUERY_LENGTH = 200;

/**
 * The value a layer is sorted by for `key`; `null` sorts last.
 */
export function sortValue(
  layer: ILayer,
  key: LayerSortKey
): string | number | null {
  const value = (layer as unknown as { [key: string]: unknown })[key];
  if (value === null || value === undefined) {
    return null;
  }
  return typeof value === 'number' ? value : String(value);
}

/**
 * Whether a layer belongs in a list of `query` (as the server decides it).
 */
export function matchesQuery(layer: ILayer, query: ILayerQuery): boolean {
  if (query.kind && layer.kind !== query.kind) {
    return false;
  }
  if (query.status && layer.status !== query.status) {
    return false;
  }
  const q = (query.q ?? '').toLowerCase();
  return (
    !q ||
    layer.name.toLowerCase().includes(q) ||
    (layer.description ?? '').toLowerCase().includes(q)
  );
}

/**
 * Whether `query` leaves some layers out.
 */
export function isFiltered(query: ILayerQuery): boolean {
  return Boolean(query.q || query.kind || query.status);
}

/**
 * The layers of `query` in its order, for a server that does not page
 * (it answers every layer): filtered and sorted as a paging server would.
 */
export function filterAndSort(
  layers: readonly ILayer[],
  query: ILayerQuery
): ILayer[] {
  const key = query.sort ?? 'name';
  const sign = query.order === 'desc' ? -1 : 1;
  const byName = (first: ILayer, second: ILayer) =>
    first.name < second.name ? -1 : first.name > second.name ? 1 : 0;
  return layers
    .filter(layer => matchesQuery(layer, query))
    .sort((first, second) => {
      const a = sortValue(first, key);
      const b = sortValue(second, key);
      if (a === null || b === null) {
        // Nulls last in both orders.
        return a === b ? byName(first, second) : a === null ? 1 : -1;
      }
      const order =
        typeof a === 'number' && typeof b === 'number'
          ? a - b
          : String(a) < String(b)
            ? -1
            : String(a) > String(b)
              ? 1
              : 0;
      return sign * order || byName(first, second);
    });
}

/**
 * Whether two queries ask for the same list.
 */
export function sameQuery(first: ILayerQuery, second: ILayerQuery): boolean {
  return (
    (first.q ?? '') === (second.q ?? '') &&
    (first.kind ?? '') === (second.kind ?? '') &&
    (first.status ?? '') === (second.status ?? '') &&
    (first.sort ?? 'name') === (second.sort ?? 'name') &&
    (first.order ?? 'asc') === (second.order ?? 'asc')
  );
}

/**
 * A list of layers fetched page by page, as a view scrolls through it.
 *
 * Only the pages of the rows on screen are asked for. An answer for an older
 * query is dropped. A new query keeps showing the old rows (`stale`) until
 * its first page arrives, so the list does not flash empty while typing.
 */
export class LayerPages implements ILayerPages {
  constructor(options: LayerPages.IOptions) {
    this._fetch = options.fetch;
    this._pageSize = Math.max(1, options.pageSize ?? PAGE_SIZE);
    this._query = { ...(options.query ?? {}) };
    this._onDispose = options.onDispose ?? null;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get query(): ILayerQuery {
    return this._query;
  }

  set query(query: ILayerQuery) {
    if (sameQuery(query, this._query)) {
      return;
    }
    this._query = { ...query };
    this._generation++;
    this._inFlight.clear();
    this._stale = this._count !== null;
    this._range = [0, this._pageSize];
    this._changed.emit();
    void this._loadPage(0, this._generation);
  }

  get count(): number | null {
    return this._count;
  }

  get stale(): boolean {
    return this._stale;
  }

  get pageSize(): number {
    return this._pageSize;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  row(index: number): ILayer | undefined {
    return this._rows[index];
  }

  indexOf(name: string): number {
    return this._rows.findIndex(layer => layer?.name === name);
  }

  /**
   * The layers fetched so far, in list order.
   */
  loadedLayers(): ILayer[] {
    return this._rows.filter((layer): layer is ILayer => layer !== undefined);
  }

  show(start: number, end: number): void {
    this._range = [Math.max(0, start), Math.max(start, end)];
    if (this._count === null || this._stale) {
      // The size of the list is not known yet: its first page comes first.
      if (!this._inFlight.has(0)) {
        void this._loadPage(0, this._generation);
      }
      return;
    }
    const stop = Math.min(this._count, this._range[1]);
    for (const page of pagesFor(this._range[0], stop, this._pageSize)) {
      if (!this._inFlight.has(page) && !this._complete(page)) {
        void this._loadPage(page, this._generation);
      }
    }
  }

  async reload(): Promise<void> {
    const generation = ++this._generation;
    this._inFlight.clear();
    const [start, end] = this._range;
    const stop = this._count === null ? start + 1 : Math.min(this._count, end);
    const pages = pagesFor(start, Math.max(stop, start + 1), this._pageSize);
    const answers = await Promise.all(
      pages.map(page => this._request(page).then(answer => ({ page, answer })))
    );
    if (generation !== this._generation || this._isDisposed) {
      return;
    }
    // Start from an empty list: rows off screen may have moved meanwhile.
    this._rows = [];
    this._count = null;
    for (const { page, answer } of answers) {
      this._store(page, answer);
    }
    this._stale = false;
    this._changed.emit();
    // Rows that came on screen while the answers were on their way.
    this.show(this._range[0], this._range[1]);
  }

  /**
   * Put a fresh copy of a layer in its row, if the row is fetched.
   *
   * @returns whether the list should be fetched again: the layer moved in the
   * order, left the filter, or may have entered it.
   */
  apply(layer: ILayer): boolean {
    const index = this.indexOf(layer.name);
    const key = this._query.sort ?? 'name';
    if (index < 0) {
      return isFiltered(this._query) && matchesQuery(layer, this._query);
    }
    const before = this._rows[index]!;
    this._rows[index] = layer;
    this._changed.emit();
    return (
      !matchesQuery(layer, this._query) ||
      sortValue(before, key) !== sortValue(layer, key)
    );
  }

  /**
   * Drop the row of a deleted layer; the rows after it move up.
   *
   * @returns whether the row was there
   */
  remove(name: string): boolean {
    const index = this.indexOf(name);
    if (index < 0) {
      return false;
    }
    this._rows.splice(index, 1);
    if (this._count !== null) {
      this._count = Math.max(0, this._count - 1);
    }
    this._changed.emit();
    return true;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._generation++;
    this._onDispose?.();
    Signal.clearData(this);
  }

  private _complete(page: number): boolean {
    const start = page * this._pageSize;
    const stop = Math.min(this._count ?? 0, start + this._pageSize);
    for (let index = start; index < stop; index++) {
      if (this._rows[index] === undefined) {
        return false;
      }
    }
    return true;
  }

  private _request(page: number): Promise<ILayerList> {
    const filters: ILayerFilters = {
      ...this._query,
      q: (this._query.q ?? '').slice(0, MAX_QUERY_LENGTH) || undefined,
      limit: this._pageSize,
      offset: page * this._pageSize
    };
    return this._fetch(filters);
  }

  private async _loadPage(page: number, generation: number): Promise<void> {
    this._inFlight.add(page);
    let answer: ILayerList;
    try {
      answer = await this._request(page);
    } catch {
      // The model reports the error; the page is asked for again on the next scroll.
      return;
    } finally {
      if (generation === this._generation) {
        this._inFlight.delete(page);
      }
    }
    if (generation !== this._generation || this._isDisposed) {
      return;
    }
    if (this._stale) {
      this._rows = [];
      this._stale = false;
    }
    this._store(page, answer);
    this._changed.emit();
    this.show(this._range[0], this._range[1]);
  }

  /**
   * Put an answer's layers in their rows.
   */
  private _store(page: number, answer: ILayerList): void {
    if (typeof answer.count !== 'number') {
      // A server that does not page answered every layer.
      this._rows = filterAndSort(answer.layers, this._query);
      this._count = this._rows.length;
      return;
    }
    this._count = answer.count;
    if (this._rows.length > this._count) {
      this._rows.length = this._count;
    }
    const offset = answer.offset ?? page * this._pageSize;
    answer.layers.forEach((layer, index) => {
      if (offset + index < this._count!) {
        this._rows[offset + index] = layer;
      }
    });
  }

  private _changed = new Signal<this, void>(this);
  private _count: number | null = null;
  private _fetch: (filters: ILayerFilters) => Promise<ILayerList>;
  private _generation = 0;
  private _inFlight = new Set<number>();
  private _isDisposed = false;
  private _onDispose: (() => void) | null;
  private _pageSize: number;
  private _query: ILayerQuery;
  private _range: [number, number] = [0, PAGE_SIZE];
  private _rows: (ILayer | undefined)[] = [];
  private _stale = false;
}

/**
 * A namespace for `LayerPages` statics.
 */
export namespace LayerPages {
  export interface IOptions {
    /** One request of the list (the model's, which keeps totals and errors). */
    fetch: (filters: ILayerFilters) => Promise<ILayerList>;
    query?: ILayerQuery;
    pageSize?: number;
    /** Called once when the list is disposed. */
    onDispose?: () => void;
  }
}
