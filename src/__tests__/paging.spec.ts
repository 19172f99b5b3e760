import { PromiseDelegate } from '@lumino/coreutils';

import { filterAndSort, LayerPages, matchesQuery } from '../paging';
import { ILayer, ILayerFilters, ILayerList } from '../tokens';
import { makeLayer, serveLayers, settle, totalsOf } from './fixtures';

function numbered(count: number): ILayer[] {
  return Array.from({ length: count }, (_, index) =>
    makeLayer({
      name: `ref-${String(index).padStart(5, '0')}`,
      size_bytes: (index * 7919) % 1000
    })
  );
}

describe('LayerPages', () => {
  it('asks only for the pages of the rows on screen', async () => {
    const layers = numbered(10_000);
    const server = serveLayers(() => layers);
    const pages = new LayerPages({ fetch: server.fetch });
    pages.show(0, 20);
    await settle();
    expect(pages.count).toBe(10_000);
    expect(server.requests).toEqual([{ limit: 50, offset: 0, q: undefined }]);

    // Scrolled to the end: the last page, and only it.
    pages.show(9_980, 10_000);
    await settle();
    expect(server.requests.map(request => request.offset)).toEqual([0, 9_950]);
    expect(pages.row(9_999)?.name).toBe('ref-09999');
    expect(pages.row(5_000)).toBeUndefined();

    // Showing the same rows again asks nothing.
    pages.show(9_980, 10_000);
    pages.show(0, 20);
    await settle();
    expect(server.requests).toHaveLength(2);
  });

  it('sends the search and the order, and starts again from the first page', async () => {
    const layers = numbered(300);
    const server = serveLayers(() => layers);
    const pages = new LayerPages({ fetch: server.fetch });
    pages.show(100, 120);
    await settle();
    pages.query = { sort: 'size_bytes', order: 'desc', q: 'ref-001' };
    await settle();
    expect(server.requests[server.requests.length - 1]).toEqual({
      sort: 'size_bytes',
      order: 'desc',
      q: 'ref-001',
      limit: 50,
      offset: 0
    });
    expect(pages.count).toBe(100);
    const sizes = [0, 1, 2].map(index => pages.row(index)!.size_bytes);
    expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
    // The same query again is no new request.
    const asked = server.requests.length;
    pages.query = { q: 'ref-001', sort: 'size_bytes', order: 'desc' };
    await settle();
    expect(server.requests).toHaveLength(asked);
  });

  it('keeps the old rows until the first page of a new query, and drops late answers', async () => {
    const gates: PromiseDelegate<void>[] = [];
    const server = serveLayers(() => numbered(120));
    const fetch = async (filters: ILayerFilters): Promise<ILayerList> => {
      const gate = new PromiseDelegate<void>();
      gates.push(gate);
      await gate.promise;
      return server.fetch(filters);
    };
    const pages = new LayerPages({ fetch });
    pages.show(0, 10);
    gates[0].resolve();
    await settle();
    expect(pages.row(0)?.name).toBe('ref-00000');

    pages.query = { q: 'ref-0011' };
    pages.query = { q: 'ref-0010' };
    expect(pages.stale).toBe(true);
    expect(pages.row(0)?.name).toBe('ref-00000');
    // The answer for the newer search comes first, the older one late.
    gates[2].resolve();
    await settle();
    gates[1].resolve();
    await settle();
    expect(pages.stale).toBe(false);
    expect(pages.count).toBe(10);
    expect(pages.row(0)?.name).toBe('ref-00100');
  });

  it('replaces a fetched row in place, and says when the list must be asked again', async () => {
    const layers = numbered(100);
    const pages = new LayerPages({
      fetch: serveLayers(() => layers).fetch,
      query: { sort: 'size_bytes' }
    });
    pages.show(0, 10);
    await settle();
    const third = pages.row(2)!;
    // Only its status changed: the order holds.
    expect(pages.apply({ ...third, status: 'POPULATING' })).toBe(false);
    expect(pages.row(2)?.status).toBe('POPULATING');
    // Its size changed: it moves in the order.
    expect(pages.apply({ ...third, size_bytes: 999_999 })).toBe(true);
    // Not fetched, unfiltered list: somewhere off screen.
    expect(pages.apply(makeLayer({ name: 'ref-00099' }))).toBe(false);

    pages.query = { sort: 'size_bytes', status: 'READY' };
    await settle();
    const row = pages.row(0)!;
    // Left the filter.
    expect(pages.apply({ ...row, status: 'FAILED' })).toBe(true);
    // Not fetched but matches a filtered list: it may have entered it.
    expect(pages.apply(makeLayer({ name: 'zzz', status: 'READY' }))).toBe(true);
  });

  it('drops the row of a deleted layer; the rows after it move up', async () => {
    const pages = new LayerPages({
      fetch: serveLayers(() => numbered(60)).fetch
    });
    pages.show(0, 60);
    await settle();
    expect(pages.remove('ref-00010')).toBe(true);
    expect(pages.count).toBe(59);
    expect(pages.row(10)?.name).toBe('ref-00011');
    expect(pages.remove('ref-00010')).toBe(false);
  });

  it('filters and sorts itself when the server answers every layer', async () => {
    const layers = [
      makeLayer({ name: 'b', size_bytes: 5 }),
      makeLayer({ name: 'a', size_bytes: 5 }),
      makeLayer({ name: 'c', size_bytes: 9, description: 'Mouse' })
    ];
    // An older server: no count, every layer in one answer.
    const pages = new LayerPages({
      fetch: async () => ({ layers, totals: totalsOf(layers) }),
      query: { sort: 'size_bytes', order: 'desc' }
    });
    pages.show(0, 10);
    await settle();
    expect([0, 1, 2].map(index => pages.row(index)?.name)).toEqual([
      'c',
      'a',
      'b'
    ]);
    pages.query = { q: 'mouse' };
    await settle();
    expect(pages.count).toBe(1);
    expect(pages.row(0)?.name).toBe('c');
  });
});

describe('filterAndSort', () => {
  it('puts layers never accessed last in both orders, ties by name', () => {
    const layers = [
      makeLayer({ name: 'n', last_accessed_at: null }),
      makeLayer({ name: 'b', last_accessed_at: '2026-01-02T00:00:00Z' }),
      makeLayer({ name: 'a', last_accessed_at: '2026-01-01T00:00:00Z' }),
      makeLayer({ name: 'm', last_accessed_at: null })
    ];
    const names = (order: 'asc' | 'desc') =>
      filterAndSort(layers, { sort: 'last_accessed_at', order }).map(
        layer => layer.name
      );
    expect(names('asc')).toEqual(['a', 'b', 'm', 'n']);
    expect(names('desc')).toEqual(['b', 'a', 'm', 'n']);
  });
});

describe('matchesQuery', () => {
  it('matches the name or the description, ignoring case', () => {
    const layer = makeLayer({ name: 'hg38', description: 'Human genome' });
    expect(matchesQuery(layer, { q: 'HG3' })).toBe(true);
    expect(matchesQuery(layer, { q: 'genome' })).toBe(true);
    expect(matchesQuery(layer, { q: 'mouse' })).toBe(false);
    expect(matchesQuery(layer, { kind: 'environment' })).toBe(false);
  });
});
