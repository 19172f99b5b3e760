import { ILayer, ILayerFilters, ILayerList, ILayerTotals } from '../tokens';

/**
 * A READY reference layer with neutral values; tests override what they look at.
 */
export function makeLayer(overrides: Partial<ILayer> = {}): ILayer {
  return {
    name: 'x',
    kind: 'reference',
    language: null,
    description: '',
    status: 'READY',
    version: 1,
    digest: 'sha256:0',
    size_bytes: 0,
    file_count: 0,
    storage_class: 'STANDARD',
    monthly_cost_usd: 0,
    last_accessed_at: null,
    created_at: '2026-01-01T00:00:00Z',
    in_use: [],
    ...overrides
  };
}

/**
 * Node totals for a list of layers (sums, as a test needs no more).
 */
export function totalsOf(layers: readonly ILayer[]): ILayerTotals {
  return {
    layer_count: layers.length,
    size_bytes: layers.reduce((sum, layer) => sum + layer.size_bytes, 0),
    file_count: layers.reduce((sum, layer) => sum + layer.file_count, 0),
    monthly_cost_usd: layers.reduce(
      (sum, layer) => sum + layer.monthly_cost_usd,
      0
    )
  };
}

/**
 * A stand-in for `GET /pennlayer/layers` over an array, written apart from
 * the client's code: filters, sorts (nulls last, ties by name) and pages as
 * the contract says, and records every request it answers.
 */
export function serveLayers(
  source: () => readonly ILayer[],
  totals?: () => ILayerTotals
): {
  fetch: (filters: ILayerFilters) => Promise<ILayerList>;
  requests: ILayerFilters[];
} {
  const requests: ILayerFilters[] = [];
  const fetch = async (filters: ILayerFilters): Promise<ILayerList> => {
    requests.push({ ...filters });
    const q = (filters.q ?? '').toLowerCase();
    const key = filters.sort ?? 'name';
    const sign = filters.order === 'desc' ? -1 : 1;
    const all = source();
    const matching = all.filter(
      layer =>
        (!filters.kind || layer.kind === filters.kind) &&
        (!filters.status || layer.status === filters.status) &&
        (!q ||
          layer.name.toLowerCase().includes(q) ||
          layer.description.toLowerCase().includes(q))
    );
    const value = (layer: ILayer) =>
      (layer as unknown as Record<string, string | number | null>)[key] ?? null;
    matching.sort((a, b) => {
      const [x, y] = [value(a), value(b)];
      if (x === null || y === null) {
        if (x !== y) {
          return x === null ? 1 : -1;
        }
      } else if (x !== y) {
        return sign * (x < y ? -1 : 1);
      }
      return a.name < b.name ? -1 : 1;
    });
    const offset = filters.offset ?? 0;
    const end =
      filters.limit === undefined ? matching.length : offset + filters.limit;
    return {
      layers: matching.slice(offset, end),
      totals: totals ? totals() : totalsOf(all),
      count: matching.length,
      offset,
      limit: filters.limit ?? null,
      next_offset: end < matching.length ? end : null
    };
  };
  return { fetch, requests };
}

/**
 * Let pending promises (answers of the stand-in server) settle.
 */
export async function settle(times = 5): Promise<void> {
  for (let index = 0; index < times; index++) {
    await new Promise(resolve => setTimeout(resolve, 0));
  }
}
