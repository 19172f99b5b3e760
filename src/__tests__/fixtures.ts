import { ILayer } from '../tokens';

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
