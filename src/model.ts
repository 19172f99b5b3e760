import type { Event } from '@jupyterlab/services';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import {
  EVENT_SCHEMA_PREFIX,
  IJobEvent,
  ILayer,
  ILayerList,
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
 * Keeps the list of layers up to date.
 *
 * Server events trigger a new listing at once; a poll is the fallback and only
 * runs while a view is visible. Failures back off and are reported in `error`
 * without losing the last known layers.
 */
export class LayersModel implements ILayersModel {
  constructor(options: LayersModel.IOptions) {
    this._fetchLayers = options.fetchLayers;
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

  get layers(): readonly ILayer[] {
    return this._layers;
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

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._events?.stream.disconnect(this._onEvent, this);
    this._poll.dispose();
    Signal.clearData(this);
  }

  /**
   * Start a listing, or join the one in flight.
   *
   * A request made while a listing is in flight may have been caused by a
   * change that listing does not show yet, so one more listing follows it.
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

  private async _load(): Promise<void> {
    try {
      const list = await this._fetchLayers();
      if (this._isDisposed) {
        return;
      }
      this._layers = list.layers;
      this._totals = list.totals;
      this._error = null;
    } catch (reason) {
      if (this._isDisposed) {
        return;
      }
      this._error = LayersModel.describeError(reason);
      throw reason;
    } finally {
      if (!this._isDisposed) {
        this._loaded = true;
        this._changed.emit();
      }
    }
  }

  private _onEvent(_: unknown, event: Event.Emission): void {
    if (
      typeof event.schema_id === 'string' &&
      event.schema_id.startsWith(EVENT_SCHEMA_PREFIX)
    ) {
      const job = LayersModel.jobEvent(event);
      if (job) {
        this._jobChanged.emit(job);
      }
      void this.refresh();
    }
  }

  private _changed = new Signal<this, void>(this);
  private _jobChanged = new Signal<this, IJobEvent>(this);
  private _events: Event.IManager | null;
  private _error: string | null = null;
  private _again = false;
  private _fetchLayers: () => Promise<ILayerList>;
  private _inFlight: Promise<void> | null = null;
  private _isDisposed = false;
  private _layers: readonly ILayer[] = [];
  private _loaded = false;
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
     * Lists the layers; usually `listLayers` from the service module.
     */
    fetchLayers: () => Promise<ILayerList>;
    /**
     * The server's event manager; each pennlayer event triggers a listing.
     */
    events?: Event.IManager | null;
    /**
     * Seconds between two listings while a view is visible.
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
