import { Token } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';
import { ISignal } from '@lumino/signaling';

/**
 * What a layer holds: a package stack or shared data.
 */
export type LayerKind = 'environment' | 'reference';

/**
 * The life cycle of a layer.
 */
export type LayerStatus =
  'EMPTY' | 'BUILDING' | 'POPULATING' | 'READY' | 'FAILED';

/**
 * The storage tier a layer's current version lives in.
 */
export type StorageClass = 'STANDARD' | 'IA';

/**
 * One resolved package of an environment layer.
 */
export interface IPackage {
  name: string;
  version: string;
}

/**
 * A layer as the REST API serializes it.
 */
export interface ILayer {
  name: string;
  kind: LayerKind;
  language: string | null;
  description: string;
  status: LayerStatus;
  version: number | null;
  digest: string | null;
  /** The bytes of the current version's own files; other layers do not change it. */
  size_bytes: number;
  /**
   * The bytes deleting the layer frees: its files no other layer shares;
   * `null` or absent when the server does not say.
   */
  unique_bytes?: number | null;
  file_count: number;
  storage_class: StorageClass;
  /** `size_bytes` at the price of `storage_class`, per month. */
  monthly_cost_usd: number;
  /** ISO 8601 UTC time of the last mount, `null` if never mounted. */
  last_accessed_at: string | null;
  /** ISO 8601 UTC creation time. */
  created_at: string;
  /** Ids of the sessions that have this layer mounted. */
  in_use: string[];
  /** Kept on STANDARD by an operator: the tier policy never archives it. */
  pinned?: boolean;
  /** IA layers: the bytes of the archive in the cold store. */
  archive_bytes?: number | null;
  /** IA layers: what reading the archive back (a restore) costs once. */
  retrieval_cost_usd?: number | null;
  interpreter?: string | null;
  requirements?: string | null;
  lock?: string | null;
  packages?: IPackage[] | null;
  recipe?: ILoaderRecipe | null;
  error?: string | null;
  owner?: string | null;
  /** ISO 8601 UTC time of the last integrity check of the current version. */
  verified_at?: string | null;
  /** What the last integrity check found changed; `null` when intact or unchecked. */
  drift?: string | null;
}

/**
 * What turns a loader's source into a reference layer's files.
 */
export type ProcessorType = 'copy' | 'unpack' | 'command' | 'docker';

/**
 * The processor of a loader, as the REST API takes and returns it.
 */
export interface IProcessor {
  type: ProcessorType;
  format?: string;
  command?: string;
  image?: string;
  network?: boolean;
  memory?: string;
  cpus?: number;
}

/**
 * The loader recipe a reference layer keeps, so it can be run again.
 */
export interface ILoaderRecipe {
  source: string;
  processor?: IProcessor | null;
  mode?: 'replace' | 'add' | null;
  sha256?: string | null;
}

/**
 * One immutable version of a layer.
 */
export interface ILayerVersion {
  version: number;
  digest: string;
  size_bytes?: number;
  file_count?: number;
  created_at?: string | null;
  in_use?: string[];
}

/**
 * `GET /pennlayer/layers/{name}`: a layer and, on newer servers, its versions.
 */
export interface ILayerDetail extends ILayer {
  versions?: ILayerVersion[] | null;
}

/**
 * The state of a build or loader job.
 */
export type JobState =
  'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/**
 * A build or loader job.
 */
export interface IJob {
  id: string;
  layer: string;
  kind: 'build' | 'populate' | 'run' | 'archive' | 'restore';
  state: JobState;
  progress?: {
    phase?: string;
    step?: number;
    steps?: number;
    message?: string;
    bytes_done?: number;
    bytes_total?: number;
    files_done?: number;
    /** A step counting bytes: its time left at its rate so far, once known. */
    seconds_left?: number;
    /** A build's download: packages unpacked of those uv fetches. */
    packages_done?: number;
    packages_total?: number;
    /** Of the sizes uv announced (the big packages), those downloaded. */
    download_bytes_done?: number;
    download_bytes_total?: number;
    /** The big packages still downloading, biggest first. */
    downloading?: { name: string; bytes: number }[];
  } | null;
  error?: string | null;
  /** Build jobs: the requirements the build was given, also when it failed. */
  requirements?: string | null;
  created_at?: string | null;
  started_at?: string | null;
  finished_at?: string | null;
}

/**
 * A job event of the server: a job was queued, moved on or ended.
 */
export interface IJobEvent {
  id: string;
  layer: string;
  kind: IJob['kind'];
  state: JobState;
  phase?: string;
  message?: string;
  /** Why the job failed, if it did. */
  error?: string;
}

/**
 * One piece of a job's log: `GET /pennlayer/jobs/{id}/log?offset=N`.
 */
export interface IJobLog {
  text: string;
  next_offset: number;
  complete: boolean;
}

/**
 * An environment that can run a kernel, for the environment picker.
 */
export interface IEnvironment {
  name: string;
  language: string | null;
  interpreter?: string | null;
  version: number | null;
  digest?: string | null;
  kernelspec: string;
  display_name: string;
  storage_class?: StorageClass;
  status: LayerStatus;
}

/**
 * Node-wide sums over all layers; files shared between layers count once.
 */
export interface ILayerTotals {
  layer_count: number;
  /** Disk used by all layers; files shared between layers count once. */
  size_bytes: number;
  file_count: number;
  /** The cost of `size_bytes` per month. */
  monthly_cost_usd: number;
  /** The sum of the layers' sizes; absent on older servers. */
  layers_bytes?: number | null;
  /** `layers_bytes - size_bytes`: what sharing files saves; absent on older servers. */
  shared_savings_bytes?: number | null;
  /** What each storage class holds: STANDARD its disk, IA its archives. */
  size_bytes_by_storage_class?: Partial<Record<StorageClass, number>> | null;
  /** The monthly cost of what each storage class holds. */
  monthly_cost_usd_by_storage_class?: Partial<
    Record<StorageClass, number>
  > | null;
  /** The bytes of the IA layers' files, which are not on the disk. */
  ia_files_bytes?: number | null;
  /** What IA saves per month against keeping those files on STANDARD. */
  ia_savings_monthly_usd?: number | null;
}

/**
 * The answer of `GET /pennlayer/layers`: one page of the layers that match.
 *
 * `count`, `offset`, `limit` and `next_offset` come from servers that page the
 * list; an older server answers every layer and leaves them out.
 */
export interface ILayerList {
  layers: ILayer[];
  /** The whole node's totals, not only the page's. */
  totals: ILayerTotals;
  /** How many layers match the filters. */
  count?: number;
  offset?: number;
  limit?: number | null;
  /** The offset of the next page; `null` on the last one. */
  next_offset?: number | null;
}

/**
 * The keys the server sorts the list by.
 */
export type LayerSortKey =
  | 'name'
  | 'kind'
  | 'status'
  | 'created_at'
  | 'last_accessed_at'
  | 'size_bytes'
  | 'file_count'
  | 'monthly_cost_usd'
  | 'storage_class';

/**
 * What a list of layers shows: which layers, in which order.
 */
export interface ILayerQuery {
  /** A case-insensitive substring of the name or the description. */
  q?: string;
  kind?: LayerKind;
  status?: LayerStatus;
  sort?: LayerSortKey;
  order?: 'asc' | 'desc';
}

/**
 * Optional filters, order and page of `GET /pennlayer/layers`.
 */
export interface ILayerFilters extends ILayerQuery {
  language?: string;
  /** At most this many layers (1 to 1000); every match when absent. */
  limit?: number;
  offset?: number;
}

/**
 * A layer that changed on the server: its new state, or `null` once gone.
 */
export interface ILayerChange {
  name: string;
  layer: ILayer | null;
}

/**
 * One list of layers as a view shows it, fetched page by page.
 *
 * Rows are addressed by their position in the whole (server-side sorted and
 * filtered) list; a row not fetched yet is `undefined`.
 */
export interface ILayerPages extends IDisposable {
  /** Emitted when rows, the count or the query change. */
  readonly changed: ISignal<ILayerPages, void>;
  /** What the list shows; setting it starts again from the first page. */
  query: ILayerQuery;
  /** How many layers match the query; `null` before the first answer. */
  readonly count: number | null;
  /** Whether the rows held belong to an older query (a new one is on its way). */
  readonly stale: boolean;
  /** The row at `index`, if its page was fetched. */
  row(index: number): ILayer | undefined;
  /** The position of a fetched row, or -1. */
  indexOf(name: string): number;
  /** The rows on screen now: fetch the pages they are on. */
  show(start: number, end: number): void;
  /** Fetch the pages on screen again and forget the others. */
  reload(): Promise<void>;
}

/**
 * Disk space of the filesystem that holds the layer store.
 */
export interface IDiskUsage {
  total_bytes: number;
  free_bytes: number;
  /** Kept free (PennLayerApp.disk_reserve): jobs are not started into it. */
  reserve_bytes: number;
}

/**
 * The answer of `GET /pennlayer/node`.
 */
export interface INodeInfo {
  store_root: string;
  sandbox: { [key: string]: unknown };
  /** How long a mount of an archived (IA) layer waits for its restore; 0: refused. */
  restore_wait_seconds?: number;
  disk: IDiskUsage;
  /** USD per GB-month for each storage class. */
  prices: { [storageClass in StorageClass]: number };
  versions: { [component: string]: string };
  totals: ILayerTotals;
  /** The folders loaders may read (`PennLayerApp.allowed_source_roots`). */
  allowed_source_roots?: string[];
}

/**
 * One exact version of a layer, as a session mounted it.
 */
export interface IMountedVersion {
  version: number;
  digest: string;
}

/**
 * The layer selection a notebook records in `metadata.pennlayer`.
 *
 * The provisioner reads `layers` and `mounted` from the notebook file when a
 * kernel starts, so a reopened notebook mounts the same versions again.
 */
export interface INotebookLayers {
  /** The environment layer the kernel runs in. */
  environment: string;
  /** The reference layers mounted besides the environment. */
  layers: string[];
  /** The version and digest of every mounted layer, environment included. */
  mounted: { [layer: string]: IMountedVersion };
  /** What the session pip-installed on top of its environment (`%pip install`). */
  live_installs?: IPackage[];
}

/**
 * One layer mounted by a session.
 */
export interface ISessionMount extends IMountedVersion {
  layer: string;
}

/**
 * A kernel session as `GET /pennlayer/sessions/{kernel_id}` returns it.
 */
export interface ISession {
  id: string;
  kernel_id: string;
  /** Whether the kernel of this session still runs. */
  active: boolean;
  /** The sandbox backend the kernel runs in, e.g. `bwrap`. */
  backend: string;
  environment: string;
  /** Messages for the person running the notebook, e.g. a recorded version is gone. */
  notices: string[];
  mounts: ISessionMount[];
  /** What the notebook should record to mount the same layers again. */
  notebook_metadata: INotebookLayers;
  user?: string | null;
  notebook_path?: string | null;
  /** ISO 8601 UTC times. */
  started_at?: string | null;
  ended_at?: string | null;
  end_reason?: string | null;
}

/**
 * The body of every error answer of the pennlayer REST API.
 */
export interface IServerError {
  error: string;
  message: string;
}

/**
 * The client-side state of the node's layers, shared by every view.
 *
 * It never holds the whole list: each view opens its own pages
 * (`openPages`), and a server event refreshes the one layer it names.
 */
export interface ILayersModel extends IDisposable {
  /**
   * Emitted whenever the totals, the error or the loading state change.
   */
  readonly changed: ISignal<ILayersModel, void>;
  /**
   * Emitted for each job event of the server, before the layer is fetched.
   */
  readonly jobChanged: ISignal<ILayersModel, IJobEvent>;
  /**
   * Emitted when one layer was fetched again after an event, or is gone.
   */
  readonly layerChanged: ISignal<ILayersModel, ILayerChange>;
  /**
   * The node totals of the last successful answer, `null` before the first.
   */
  readonly totals: ILayerTotals | null;
  /**
   * The message of the last failed request, `null` once one succeeds.
   */
  readonly error: string | null;
  /**
   * Whether at least one answer has come, successfully or not.
   */
  readonly loaded: boolean;
  /**
   * Seconds between two refreshes while a view is visible and no event arrives.
   */
  refreshInterval: number;
  /**
   * Whether a view of the model is on screen; polling stands by otherwise.
   */
  visible: boolean;
  /**
   * Fetch the totals and the pages on screen again. Never rejects: a failure
   * ends up in `error`.
   */
  refresh(): Promise<void>;
  /**
   * A list of layers fetched page by page, kept up to date by the model's
   * events until it is disposed.
   */
  openPages(query?: ILayerQuery): ILayerPages;
  /**
   * The last copy of a layer seen in any page or fetch, or `null`.
   */
  layer(name: string): ILayer | null;
  /**
   * The names of the layers seen in any open page.
   */
  knownNames(): string[];
  /**
   * Fetch one layer now (and update the rows that show it); `null` when the
   * server does not know it.
   */
  getLayer(name: string): Promise<ILayer | null>;
  /**
   * One request of the list (e.g. the reference layers for a picker).
   */
  listLayers(filters: ILayerFilters): Promise<ILayerList>;
}

/**
 * The layers model, shared by the sidebar and every later view of layers.
 */
export const ILayersModel = new Token<ILayersModel>(
  'pennlayer:ILayersModel',
  'The layers of the node, kept up to date from the pennlayer REST API and its events.'
);

/**
 * Events whose schema id starts with this prefix concern layers or jobs.
 */
export const EVENT_SCHEMA_PREFIX = 'https://events.pennlayer.dev/';

/**
 * The schema id of job events.
 */
export const JOB_EVENT_SCHEMA = `${EVENT_SCHEMA_PREFIX}job`;

/**
 * The ids of every pennlayer command.
 */
export namespace CommandIDs {
  export const openLayers = 'pennlayer:open-layers';
  export const openLayersTable = 'pennlayer:open-layers-table';
  export const refreshLayers = 'pennlayer:refresh-layers';
  export const showLayer = 'pennlayer:show-layer';
  export const newEnvironment = 'pennlayer:new-environment';
  export const newReference = 'pennlayer:new-reference';
  export const newNotebookWithLayers = 'pennlayer:new-notebook-with-layers';
  export const changeNotebookLayers = 'pennlayer:change-notebook-layers';
}
