import { LayerColumn } from './columns';
import {
  IJob,
  ILayer,
  ILayerQuery,
  LayerKind,
  LayerSortKey,
  LayerStatus
} from './tokens';

/**
 * Which way a sorted column runs.
 */
export type SortDirection = 'ascending' | 'descending';

/**
 * How the layers table is sorted.
 */
export interface ISortState {
  column: LayerColumn;
  direction: SortDirection;
}

/**
 * The order the table starts in: by name, a to z.
 */
export const DEFAULT_SORT: ISortState = {
  column: 'name',
  direction: 'ascending'
};

/**
 * The server's sort key of each column.
 */
export const COLUMN_SORT_KEYS: { readonly [key in LayerColumn]: LayerSortKey } =
  {
    name: 'name',
    kind: 'kind',
    status: 'status',
    size: 'size_bytes',
    files: 'file_count',
    tier: 'storage_class',
    monthly_cost: 'monthly_cost_usd',
    last_access: 'last_accessed_at',
    created: 'created_at'
  };

/**
 * The server's sort parameters for a table order.
 */
export function sortQuery(
  sort: ISortState
): Pick<ILayerQuery, 'sort' | 'order'> {
  return {
    sort: COLUMN_SORT_KEYS[sort.column],
    order: sort.direction === 'ascending' ? 'asc' : 'desc'
  };
}

/**
 * The sort state after a click on the header of `column`: the same column
 * flips its direction, another column starts ascending.
 */
export function nextSort(current: ISortState, column: LayerColumn): ISortState {
  if (current.column === column) {
    return {
      column,
      direction: current.direction === 'ascending' ? 'descending' : 'ascending'
    };
  }
  return { column, direction: 'ascending' };
}

const KINDS: readonly LayerKind[] = ['environment', 'reference'];
const STATUSES: readonly LayerStatus[] = [
  'EMPTY',
  'BUILDING',
  'POPULATING',
  'READY',
  'FAILED'
];

/**
 * The server's filters for the text of the filter box: `kind:` and `status:`
 * words pick a kind or status by the start of its name (`kind:env`,
 * `status:ready`); the other words are searched for, as one piece of text,
 * in names and descriptions. A `kind:` or `status:` that names none matches
 * no layer (`none` is true).
 */
export function parseFilter(
  text: string
): Pick<ILayerQuery, 'q' | 'kind' | 'status'> & { none: boolean } {
  const words: string[] = [];
  const result: Pick<ILayerQuery, 'q' | 'kind' | 'status'> & {
    none: boolean;
  } = { none: false };
  for (const word of text.trim().split(/\s+/).filter(Boolean)) {
    const match = /^(kind|status):(.*)$/i.exec(word);
    if (!match) {
      words.push(word);
      continue;
    }
    const value = match[2].toLowerCase();
    if (match[1].toLowerCase() === 'kind') {
      const kind = KINDS.find(item => value && item.startsWith(value));
      result.kind = kind;
      result.none ||= kind === undefined;
    } else {
      const status = STATUSES.find(
        item => value && item.toLowerCase().startsWith(value)
      );
      result.status = status;
      result.none ||= status === undefined;
    }
  }
  const q = words.join(' ');
  if (q) {
    result.q = q;
  }
  return result;
}

/**
 * Why a layer cannot be deleted now, or `null` when it can.
 *
 * @param jobs - the layer's jobs, if known; queued or running ones block
 */
export function deleteBlockedReason(
  layer: ILayer,
  jobs: readonly IJob[] = []
): string | null {
  const sessions = layer.in_use?.length ?? 0;
  if (sessions > 0) {
    return sessions === 1
      ? `${layer.name} is in use by a running kernel; stop it first.`
      : `${layer.name} is in use by ${sessions} running kernels; stop them first.`;
  }
  const active = jobs.find(
    job =>
      job.layer === layer.name &&
      (job.state === 'queued' || job.state === 'running')
  );
  if (active || layer.status === 'BUILDING' || layer.status === 'POPULATING') {
    const what =
      active?.kind === 'populate' || layer.status === 'POPULATING'
        ? 'a loader'
        : 'a build';
    return `${layer.name} cannot be deleted while ${what} runs; wait for it or cancel it.`;
  }
  return null;
}

/**
 * Why a layer cannot be archived now, or `null` if it can.
 */
export function archiveBlockedReason(
  layer: ILayer,
  jobs: readonly IJob[] = []
): string | null {
  if (layer.storage_class === 'IA') {
    return `${layer.name} is archived already.`;
  }
  if (layer.pinned) {
    return `${layer.name} is pinned to STANDARD by an operator.`;
  }
  if (layer.status !== 'READY' || layer.version === null) {
    return `${layer.name} has no ready version to archive.`;
  }
  const sessions = layer.in_use?.length ?? 0;
  if (sessions > 0) {
    return `${layer.name} is in use by ${sessions === 1 ? 'a running kernel' : `${sessions} running kernels`}; it is archived once no kernel uses it.`;
  }
  if (
    jobs.some(
      job =>
        job.layer === layer.name &&
        (job.state === 'queued' || job.state === 'running')
    )
  ) {
    return `A job of ${layer.name} is running; wait for it or cancel it.`;
  }
  return null;
}
