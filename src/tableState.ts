import { LayerColumn } from './columns';
import { ILayer, IJob } from './tokens';

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

type SortValue = string | number;

function sortValue(layer: ILayer, column: LayerColumn): SortValue {
  switch (column) {
    case 'name':
      return layer.name;
    case 'kind':
      return layer.kind;
    case 'status':
      return layer.status;
    case 'size':
      return layer.size_bytes ?? 0;
    case 'files':
      return layer.file_count ?? 0;
    case 'tier':
      return layer.storage_class ?? '';
    case 'monthly_cost':
      return layer.monthly_cost_usd ?? 0;
    case 'last_access':
      // Never accessed sorts before any access.
      return layer.last_accessed_at ? Date.parse(layer.last_accessed_at) : -1;
    case 'created':
      return layer.created_at ? Date.parse(layer.created_at) : -1;
  }
}

function compare(first: SortValue, second: SortValue): number {
  if (typeof first === 'number' && typeof second === 'number') {
    return first - second;
  }
  return String(first).localeCompare(String(second));
}

/**
 * The layers sorted by one column; ties are broken by name, always a to z,
 * so rows never swap places between two refreshes.
 */
export function sortLayers(
  layers: readonly ILayer[],
  sort: ISortState
): ILayer[] {
  const sign = sort.direction === 'ascending' ? 1 : -1;
  return [...layers].sort(
    (first, second) =>
      sign *
        compare(
          sortValue(first, sort.column),
          sortValue(second, sort.column)
        ) || first.name.localeCompare(second.name)
  );
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

/**
 * The layers whose name, kind or status contains every word of `query`
 * (case-insensitive); `kind:` and `status:` prefixes match that field only.
 */
export function filterLayers(
  layers: readonly ILayer[],
  query: string
): ILayer[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) {
    return [...layers];
  }
  return layers.filter(layer =>
    words.every(word => {
      const [field, value] = word.includes(':')
        ? (word.split(':', 2) as [string, string])
        : ['', word];
      const name = layer.name.toLowerCase();
      const kind = layer.kind.toLowerCase();
      const status = layer.status.toLowerCase();
      switch (field) {
        case 'name':
          return name.includes(value);
        case 'kind':
          return kind.startsWith(value);
        case 'status':
          return status.startsWith(value);
        default:
          return (
            name.includes(word) || kind.includes(word) || status.includes(word)
          );
      }
    })
  );
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
