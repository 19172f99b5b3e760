import type { Event } from '@jupyterlab/services';
import { ServerConnection } from '@jupyterlab/services';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { requestAPI } from './request';
import { EVENT_SCHEMA_PREFIX, IJob, ISessionMount, JobState } from './tokens';

/**
 * The ids of the commands about headless runs.
 */
export namespace RunCommandIDs {
  export const runWithLayers = 'pennlayer:run-with-layers';
  export const showRuns = 'pennlayer:show-runs';
}

/**
 * The failing cell of a run.
 */
export interface IRunFailure {
  cell?: number | null;
  cells?: number | null;
  source?: string | null;
  ename?: string | null;
  evalue?: string | null;
  traceback?: string | null;
}

/**
 * A headless run as `GET /pennlayer/runs/{id}` returns it; its id is its job's.
 */
export interface IRun {
  id: string;
  state: JobState;
  progress?: IJob['progress'];
  error?: string | null;
  user?: string | null;
  notebook: string;
  output: string;
  /** The notebook and output relative to the server's root, `null` outside it. */
  notebook_path?: string | null;
  output_path?: string | null;
  environment: string;
  layers: string[];
  parameters: { [name: string]: unknown };
  mounts: ISessionMount[];
  notices: string[];
  failure?: IRunFailure | null;
  live_installs?: { name: string; version: string }[];
  rerun_of?: string | null;
  created_at: string;
  started_at?: string | null;
  finished_at?: string | null;
  duration_s?: number | null;
  kept_until?: string | null;
}

/**
 * The sessions and runs that used one version of a layer.
 */
export interface IVersionUsage {
  version: number | null;
  digest: string | null;
  on_node: boolean;
  current: boolean;
  sessions: {
    id: string;
    kernel_id: string;
    user?: string | null;
    notebook_path?: string | null;
    started_at: string;
    ended_at?: string | null;
    active: boolean;
  }[];
  runs: {
    id: string;
    state: JobState;
    user?: string | null;
    notebook?: string | null;
    output?: string | null;
    started_at: string;
    ended_at?: string | null;
  }[];
}

/**
 * `GET /pennlayer/layers/{name}/usage`.
 */
export interface ILayerUsage {
  layer: string;
  versions: IVersionUsage[];
}

/**
 * What `POST /pennlayer/runs` takes; paths are relative to the server root.
 */
export interface IRunRequest {
  notebook: string;
  environment?: string | null;
  layers?: string[] | null;
  parameters?: { [name: string]: unknown } | null;
  output?: string | null;
}

/**
 * Start a headless run; the answer is its job (same id as the run).
 */
export function startRun(
  request: IRunRequest,
  settings?: ServerConnection.ISettings
): Promise<IJob> {
  return requestAPI<IJob>(
    'runs',
    { method: 'POST', body: JSON.stringify(request) },
    settings
  );
}

/**
 * Run a past run again with the same parameters and layer versions.
 */
export function rerun(
  id: string,
  body: { accept_newer?: boolean } = {},
  settings?: ServerConnection.ISettings
): Promise<IJob> {
  return requestAPI<IJob>(
    `runs/${encodeURIComponent(id)}/rerun`,
    { method: 'POST', body: JSON.stringify(body) },
    settings
  );
}

/**
 * Runs, newest first.
 */
export async function listRuns(
  settings?: ServerConnection.ISettings
): Promise<IRun[]> {
  const answer = await requestAPI<{ runs: IRun[] }>(
    'runs',
    { method: 'GET' },
    settings
  );
  return answer.runs;
}

/**
 * Which sessions and runs used each version of a layer.
 */
export function getLayerUsage(
  name: string,
  settings?: ServerConnection.ISettings
): Promise<ILayerUsage> {
  return requestAPI<ILayerUsage>(
    `layers/${encodeURIComponent(name)}/usage`,
    { method: 'GET' },
    settings
  );
}

/**
 * Whether a run is still queued or running.
 */
export function isActive(run: Pick<IRun, 'state'>): boolean {
  return run.state === 'queued' || run.state === 'running';
}

/**
 * A duration for people: `4.2 s`, `3m05s`, `2h10m`; `–` when unknown.
 */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '–';
  }
  if (seconds < 60) {
    return `${seconds.toFixed(1)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes}m${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  }
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/**
 * Where a run is: `cell 3 of 5`, `starting the kernel`, or its state.
 */
export function runProgress(run: IRun): string {
  const progress = run.progress ?? {};
  if (isActive(run) && progress.phase === 'cell' && progress.steps) {
    return `cell ${progress.step ?? 0} of ${progress.steps}`;
  }
  if (isActive(run)) {
    return run.state === 'queued' ? 'queued' : 'starting the kernel';
  }
  return run.state;
}

/**
 * Parse papermill parameters typed as `NAME = VALUE` lines; a VALUE is read
 * as JSON when it is JSON (3, 0.5, true, [1, 2], "text"), else as text.
 *
 * @throws {Error} naming the line that is not `NAME = VALUE`
 */
export function parseParameters(text: string): { [name: string]: unknown } {
  const parameters: { [name: string]: unknown } = {};
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) {
      return;
    }
    const match = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) {
      throw new Error(
        `Line ${index + 1} is not NAME = VALUE (a Python name, then a value): ${line}`
      );
    }
    let value: unknown = match[2];
    try {
      value = JSON.parse(match[2]);
    } catch {
      // Not JSON: the text as it is.
    }
    parameters[match[1]] = value;
  });
  return parameters;
}

/**
 * The runs of the node, kept up to date while a view shows them.
 *
 * Job events of kind `run` trigger a listing at once; a poll is the fallback
 * while a view is visible (every second while a run is active).
 */
export class RunsModel {
  constructor(options: RunsModel.IOptions) {
    this._fetchRuns = options.fetchRuns;
    this._events = options.events ?? null;
    this._events?.stream.connect(this._onEvent, this);
    this._poll = new Poll({
      auto: options.autoStart ?? true,
      factory: () => this.refresh(),
      frequency: { interval: 5000, backoff: true, max: 60000 },
      name: 'pennlayer:RunsModel',
      standby: () => !this._visible || 'when-hidden'
    });
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get runs(): readonly IRun[] {
    return this._runs;
  }

  get error(): string | null {
    return this._error;
  }

  get loaded(): boolean {
    return this._loaded;
  }

  get visible(): boolean {
    return this._visible;
  }

  set visible(visible: boolean) {
    if (visible !== this._visible) {
      this._visible = visible;
      if (visible) {
        void this._poll.refresh();
      }
    }
  }

  get isDisposed(): boolean {
    return this._poll.isDisposed;
  }

  /**
   * List the runs now; never rejects (a failure ends up in `error`).
   */
  async refresh(): Promise<void> {
    try {
      this._runs = await this._fetchRuns();
      this._error = null;
    } catch (reason) {
      this._error = reason instanceof Error ? reason.message : String(reason);
    }
    this._loaded = true;
    // Follow active runs closely, idle ones lazily.
    const interval = this._runs.some(isActive) ? 1000 : 5000;
    if (this._poll.frequency.interval !== interval) {
      this._poll.frequency = { interval, backoff: true, max: 60000 };
    }
    this._changed.emit();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._events?.stream.disconnect(this._onEvent, this);
    this._poll.dispose();
    Signal.clearData(this);
  }

  private _onEvent(_: unknown, event: Event.Emission): void {
    if (
      typeof event.schema_id === 'string' &&
      event.schema_id === `${EVENT_SCHEMA_PREFIX}job` &&
      (event as { kind?: unknown }).kind === 'run'
    ) {
      void this.refresh();
    }
  }

  private _changed = new Signal<this, void>(this);
  private _error: string | null = null;
  private _events: Event.IManager | null;
  private _fetchRuns: () => Promise<IRun[]>;
  private _loaded = false;
  private _poll: Poll;
  private _runs: readonly IRun[] = [];
  private _visible = false;
}

/**
 * A namespace for `RunsModel` statics.
 */
export namespace RunsModel {
  export interface IOptions {
    /** Lists the runs; usually `listRuns`. */
    fetchRuns: () => Promise<IRun[]>;
    /** The server's event manager; run job events trigger a listing. */
    events?: Event.IManager | null;
    /** Whether the poll starts at once; defaults to `true`. */
    autoStart?: boolean;
  }
}
