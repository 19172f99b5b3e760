import type { Event } from '@jupyterlab/services';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { LayerPages } from './paging';
import {
  EVENT_SCHEMA_PREFIX,
  IJobEvent,
  ILayer,
  ILayerChange,
  ILayerFilters,
  ILayerList,
  ILayerQuery,
  ILayersModel,
  ILayerTotals,
  JOB_EVENT_SCHEMA
} from './tokens';

/**
 * The default number of seconds between two listings.
 */
export const DEFAULT_REFRESH_INTERVAL = 10;

/**
 * The longest wait between two listings while the server keeps failing.
 */
const MAX_BACKOFF_MS = 5 * 60 * 1000;

/**
 * The longest accepted refresh interval (one day), well below the timer limit.
 */
const MAX_INTERVAL_MS = 24 * 60 * 60 * 1000;

/**
 * How long events are gathered before the layers they name are fetched, so a
 * burst (a job's phases, a batch delete) costs one request per layer.
 */
const EVENT_DELAY_MS = 100;

/**
 * The job states after which a job no longer moves.
 */
const ENDED_STATES = ['succeeded', 'failed', 'cancelled'];

/**
 * Keeps the node's totals and every open list of layers up to date.
 *
 * Each view opens its own pages (`openPages`) with its own search and order.
 * A server event names a layer: the model fetches that one layer and puts it
 * in the rows that show it (or drops them when it is gone), and asks for the
 * totals with a one-row page; only when the number of layers changed are the
 * pages on screen fetched again. A poll is the fallback and only runs while a
 * view is visible. Failures back off and are reported in `error` without
 * losing the rows already shown.
 */
export class LayersModel implements ILayersModel {
  constructor(options: LayersModel.IOptions) {
    this._fetchLayers = options.fetchLayers;
    this._fetchLayer = options.fetchLayer ?? null;
    this._eventDelay = options.eventDelay ?? EVENT_DELAY_MS;
    this._events = options.events ?? null;
    this._events?.stream.connect(this._onEvent, this);

    this._poll = new Poll({
      auto: options.autoStart ?? true,
      factory: () => this._request(),
      frequency: LayersModel.frequency(
        options.refreshInterval ?? DEFAULT_REFRESH_INTERVAL
      ),
      name: 'pennlayer:LayersModel',
      standby: () => !this._visible || 'when-hidden'
    });
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get jobChanged(): ISignal<this, IJobEvent> {
    return this._jobChanged;
  }

  get layerChanged(): ISignal<this, ILayerChange> {
    return this._layerChanged;
  }

  get totals(): ILayerTotals | null {
    return this._totals;
  }

  get error(): string | null {
    return this._error;
  }

  get loaded(): boolean {
    return this._loaded;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  get refreshInterval(): number {
    return this._poll.frequency.interval / 1000;
  }

  set refreshInterval(seconds: number) {
    const frequency = LayersModel.frequency(seconds);
    if (frequency.interval === this._poll.frequency.interval) {
      return;
    }
    this._poll.frequency = frequency;
    if (this._visible) {
      // The tick already scheduled still uses the old interval: restart now.
      void this._poll.refresh();
    }
  }

  get visible(): boolean {
    return this._visible;
  }

  set visible(visible: boolean) {
    if (visible === this._visible) {
      return;
    }
    this._visible = visible;
    if (visible) {
      // Show fresh data as soon as a view appears, then poll from there.
      void this._poll.refresh();
    }
  }

  refresh(): Promise<void> {
    return this._request().catch(() => undefined);
  }

  openPages(query: ILayerQuery = {}): LayerPages {
    const pages: LayerPages = new LayerPages({
      fetch: filters => this.listLayers(filters),
      query,
      onDispose: () => this._lists.delete(pages)
    });
    this._lists.add(pages);
    return pages;
  }

  layer(name: string): ILayer | null {
    for (const list of this._lists) {
      const index = list.indexOf(name);
      if (index >= 0) {
        return list.row(index) ?? null;
      }
    }
    return this._fetched.get(name) ?? null;
  }

  knownNames(): string[] {
    const names = new Set<string>();
    for (const list of this._lists) {
      for (const layer of list.loadedLayers()) {
        names.add(layer.name);
      }
    }
    return [...names];
  }

  async getLayer(name: string): Promise<ILayer | null> {
    const layer = await this._getOne(name);
    this._put(name, layer);
    return layer;
  }

  /**
   * One request of the list; its totals and its error become the model's.
   */
  async listLayers(filters: ILayerFilters): Promise<ILayerList> {
    try {
      const answer = await this._fetchLayers(filters);
      if (!this._isDisposed) {
        this._totals = answer.totals;
        this._error = null;
      }
      return answer;
    } catch (reason) {
      if (!this._isDisposed) {
        this._error = LayersModel.describeError(reason);
      }
      throw reason;
    } finally {
      if (!this._isDisposed) {
        this._loaded = true;
        this._changed.emit();
      }
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._events?.stream.disconnect(this._onEvent, this);
    this._poll.dispose();
    if (this._flushTimer !== null) {
      clearTimeout(this._flushTimer);
    }
    for (const list of [...this._lists]) {
      list.dispose();
    }
    Signal.clearData(this);
  }

  /**
   * Start a refresh, or join the one in flight.
   *
   * A request made while a refresh is in flight may have been caused by a
   * change that refresh does not show yet, so one more follows it.
   */
  private _request(): Promise<void> {
    if (this._inFlight) {
      this._again = true;
      return this._inFlight;
    }
    const run = async (): Promise<void> => {
      try {
        do {
          this._again = false;
          await this._load();
        } while (this._again && !this._isDisposed);
      } finally {
        this._inFlight = null;
      }
    };
    this._inFlight = run();
    return this._inFlight;
  }

  /**
   * The pages on screen of every open list, or only the totals when no list
   * is open.
   */
  private async _load(): Promise<void> {
    const lists = [...this._lists];
    if (lists.length === 0) {
      await this.listLayers({ limit: 1 });
      return;
    }
    await Promise.all(lists.map(list => list.reload()));
  }

  /**
   * Fetch one layer; `null` when the server does not know it.
   */
  private async _getOne(name: string): Promise<ILayer | null> {
    try {
      if (this._fetchLayer) {
        return await this._fetchLayer(name);
      }
      // Without a way to fetch one layer, look for it by name.
      const answer = await this._fetchLayers({ q: name });
      return answer.layers.find(layer => layer.name === name) ?? null;
    } catch (reason) {
      const status = (reason as { response?: { status?: number } })?.response
        ?.status;
      if (status === 404) {
        return null;
      }
      throw reason;
    }
  }

  /**
   * Put a layer's new state in every list.
   *
   * @returns the lists whose pages should be fetched again
   */
  private _put(name: string, layer: ILayer | null): Set<LayerPages> {
    const reload = new Set<LayerPages>();
    if (this._isDisposed) {
      return reload;
    }
    if (layer) {
      this._fetched.set(name, layer);
      for (const list of this._lists) {
        if (list.apply(layer)) {
          reload.add(list);
        }
      }
    } else {
      this._fetched.delete(name);
      for (const list of this._lists) {
        list.remove(name);
      }
    }
    this._layerChanged.emit({ name, layer });
    return reload;
  }

  private _onEvent(_: unknown, event: Event.Emission): void {
    if (
      typeof event.schema_id !== 'string' ||
      !event.schema_id.startsWith(EVENT_SCHEMA_PREFIX)
    ) {
      return;
    }
    const data = event as { [key: string]: unknown };
    const job = LayersModel.jobEvent(event);
    let name = '';
    let deleted = false;
    let counts = true;
    if (job) {
      this._jobChanged.emit(job);
      name = job.layer;
      // A job's progress changes one row, not the totals.
      counts = ENDED_STATES.includes(job.state);
    } else if (typeof data.name === 'string') {
      name = data.name;
      deleted = data.action === 'deleted';
    } else if (typeof data.layer === 'string') {
      name = data.layer;
    }
    if (name) {
      this._pending.set(name, deleted || this._pending.get(name) === true);
    }
    this._pendingTotals ||= counts;
    if (this._flushTimer === null) {
      this._flushTimer = setTimeout(() => {
        this._flushTimer = null;
        void this._flush();
      }, this._eventDelay);
    }
  }

  /**
   * Fetch the layers the gathered events named, then the totals.
   */
  private async _flush(): Promise<void> {
    const pending = this._pending;
    const totals = this._pendingTotals;
    this._pending = new Map();
    this._pendingTotals = false;
    const reload = new Set<LayerPages>();
    await Promise.all(
      [...pending].map(async ([name, deleted]) => {
        try {
          const layer = deleted ? null : await this._getOne(name);
          this._put(name, layer).forEach(list => reload.add(list));
        } catch {
          // The next event or poll tries again.
        }
      })
    );
    if (totals && !this._isDisposed) {
      const before = this._totals?.layer_count;
      try {
        const answer = await this.listLayers({ limit: 1 });
        if (answer.totals?.layer_count !== before) {
          // A layer came or went: the rows on screen may have moved.
          this._lists.forEach(list => reload.add(list));
        }
      } catch {
        // Reported in `error`.
      }
    }
    await Promise.all(
      [...reload]
        .filter(list => !list.isDisposed)
        .map(list => list.reload().catch(() => undefined))
    );
  }

  private _again = false;
  private _changed = new Signal<this, void>(this);
  private _error: string | null = null;
  private _eventDelay: number;
  private _events: Event.IManager | null;
  private _fetched = new Map<string, ILayer>();
  private _fetchLayer: ((name: string) => Promise<ILayer>) | null;
  private _fetchLayers: (filters: ILayerFilters) => Promise<ILayerList>;
  private _flushTimer: ReturnType<typeof setTimeout> | null = null;
  private _inFlight: Promise<void> | null = null;
  private _isDisposed = false;
  private _jobChanged = new Signal<this, IJobEvent>(this);
  private _layerChanged = new Signal<this, ILayerChange>(this);
  private _lists = new Set<LayerPages>();
  private _loaded = false;
  private _pending = new Map<string, boolean>();
  private _pendingTotals = false;
  private _poll: Poll;
  private _totals: ILayerTotals | null = null;
  private _visible = false;
}

/**
 * A namespace for `LayersModel` statics.
 */
export namespace LayersModel {
  /**
   * The options of a layers model.
   */
  export interface IOptions {
    /**
     * One request of the list; usually `listLayers` from the service module.
     */
    fetchLayers: (filters: ILayerFilters) => Promise<ILayerList>;
    /**
     * Fetches one layer; usually `getLayer` from the service module. Without
     * it, a layer is looked for with a search for its name.
     */
    fetchLayer?: (name: string) => Promise<ILayer>;
    /**
     * The server's event manager; each pennlayer event refreshes the layer
     * it names.
     */
    events?: Event.IManager | null;
    /**
     * Milliseconds events are gathered before the layers they name are
     * fetched; 100 by default.
     */
    eventDelay?: number;
    /**
     * Seconds between two refreshes while a view is visible.
     */
    refreshInterval?: number;
    /**
     * Whether the poll starts at once; defaults to `true`.
     */
    autoStart?: boolean;
  }

  /**
   * Convert seconds to poll milliseconds, falling back to the default for
   * values that are not a positive number and capping at one day.
   */
  export function toMilliseconds(seconds: number): number {
    const value =
      Number.isFinite(seconds) && seconds > 0
        ? seconds
        : DEFAULT_REFRESH_INTERVAL;
    return Math.min(Math.round(value * 1000), MAX_INTERVAL_MS);
  }

  /**
   * The poll frequency for a refresh interval in seconds: failures back off
   * up to five minutes, or up to the interval itself if that is longer.
   */
  export function frequency(seconds: number): {
    interval: number;
    backoff: boolean;
    max: number;
  } {
    const interval = toMilliseconds(seconds);
    return { interval, backoff: true, max: Math.max(interval, MAX_BACKOFF_MS) };
  }

  /**
   * The job an event is about, or `null` for other events.
   */
  export function jobEvent(event: Event.Emission): IJobEvent | null {
    const data = event as { [key: string]: unknown };
    const schema = String(event.schema_id ?? '').replace(/\/v\d+$/, '');
    if (
      schema !== JOB_EVENT_SCHEMA ||
      typeof data.id !== 'string' ||
      typeof data.layer !== 'string' ||
      typeof data.state !== 'string'
    ) {
      return null;
    }
    return {
      id: data.id,
      layer: data.layer,
      kind: String(data.kind ?? 'build') as IJobEvent['kind'],
      state: data.state as IJobEvent['state'],
      phase: typeof data.phase === 'string' ? data.phase : undefined,
      message: typeof data.message === 'string' ? data.message : undefined,
      error:
        typeof data.error === 'string' && data.error ? data.error : undefined
    };
  }

  /**
   * The sentence to show a person for a failed listing.
   */
  export function describeError(reason: unknown): string {
    if (reason instanceof Error && reason.message) {
      return reason.message;
    }
    if (typeof reason === 'string' && reason) {
      return reason;
    }
    return 'The layers could not be listed.';
  }
}
