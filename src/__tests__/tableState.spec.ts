import {
  archiveBlockedReason,
  deleteBlockedReason,
  filterLayers,
  nextSort,
  sortLayers
} from '../tableState';
import { IJob } from '../tokens';
import { makeLayer } from './fixtures';

const layer = makeLayer;

const genome = layer({ name: 'genome', size_bytes: 500, status: 'READY' });
const stack = layer({
  name: 'stack',
  kind: 'environment',
  size_bytes: 2000,
  status: 'BUILDING',
  last_accessed_at: '2026-02-01T00:00:00Z'
});
const atlas = layer({ name: 'atlas', size_bytes: 500, status: 'EMPTY' });

describe('sortLayers', () => {
  it('sorts by name by default direction', () => {
    expect(
      sortLayers([stack, genome, atlas], {
        column: 'name',
        direction: 'ascending'
      }).map(l => l.name)
    ).toEqual(['atlas', 'genome', 'stack']);
  });

  it('sorts numbers as numbers and breaks ties by name', () => {
    expect(
      sortLayers([stack, genome, atlas], {
        column: 'size',
        direction: 'descending'
      }).map(l => l.name)
    ).toEqual(['stack', 'atlas', 'genome']);
  });

  it('puts never-accessed layers first when ascending', () => {
    expect(
      sortLayers([stack, genome], {
        column: 'last_access',
        direction: 'ascending'
      }).map(l => l.name)
    ).toEqual(['genome', 'stack']);
  });

  it('does not change its input', () => {
    const input = [stack, genome];
    sortLayers(input, { column: 'name', direction: 'ascending' });
    expect(input).toEqual([stack, genome]);
  });
});

describe('nextSort', () => {
  it('flips the direction of the same column', () => {
    expect(
      nextSort({ column: 'size', direction: 'ascending' }, 'size')
    ).toEqual({ column: 'size', direction: 'descending' });
  });

  it('starts another column ascending', () => {
    expect(
      nextSort({ column: 'size', direction: 'descending' }, 'name')
    ).toEqual({ column: 'name', direction: 'ascending' });
  });
});

describe('filterLayers', () => {
  const all = [stack, genome, atlas];

  it('keeps everything for an empty query', () => {
    expect(filterLayers(all, '  ')).toHaveLength(3);
  });

  it('matches name, kind and status, case-insensitively', () => {
    expect(filterLayers(all, 'GEN').map(l => l.name)).toEqual(['genome']);
    expect(filterLayers(all, 'environment').map(l => l.name)).toEqual([
      'stack'
    ]);
    expect(filterLayers(all, 'empty').map(l => l.name)).toEqual(['atlas']);
  });

  it('needs every word to match', () => {
    expect(filterLayers(all, 'reference ready').map(l => l.name)).toEqual([
      'genome'
    ]);
  });

  it('honours field prefixes', () => {
    expect(filterLayers(all, 'kind:ref').map(l => l.name)).toEqual([
      'genome',
      'atlas'
    ]);
    expect(filterLayers(all, 'status:building').map(l => l.name)).toEqual([
      'stack'
    ]);
    expect(filterLayers(all, 'name:at').map(l => l.name)).toEqual(['atlas']);
  });
});

describe('deleteBlockedReason', () => {
  it('allows deleting an idle layer', () => {
    expect(deleteBlockedReason(genome)).toBeNull();
  });

  it('names the kernels that use it', () => {
    expect(deleteBlockedReason(layer({ name: 'g', in_use: ['s1'] }))).toBe(
      'g is in use by a running kernel; stop it first.'
    );
    expect(
      deleteBlockedReason(layer({ name: 'g', in_use: ['s1', 's2'] }))
    ).toBe('g is in use by 2 running kernels; stop them first.');
  });

  it('waits for a running build or loader', () => {
    expect(deleteBlockedReason(stack)).toBe(
      'stack cannot be deleted while a build runs; wait for it or cancel it.'
    );
    const job: IJob = {
      id: 'j',
      layer: 'genome',
      kind: 'populate',
      state: 'queued'
    };
    expect(deleteBlockedReason(genome, [job])).toBe(
      'genome cannot be deleted while a loader runs; wait for it or cancel it.'
    );
    expect(
      deleteBlockedReason(genome, [{ ...job, state: 'succeeded' }])
    ).toBeNull();
  });
});

describe('archiveBlockedReason', () => {
  const ready = layer({ name: 'genome', status: 'READY', version: 1 });

  it('allows archiving an idle READY layer', () => {
    expect(archiveBlockedReason(ready)).toBeNull();
  });

  it('gives the reason a layer cannot be archived now', () => {
    expect(archiveBlockedReason({ ...ready, storage_class: 'IA' })).toBe(
      'genome is archived already.'
    );
    expect(archiveBlockedReason({ ...ready, pinned: true })).toBe(
      'genome is pinned to STANDARD by an operator.'
    );
    expect(archiveBlockedReason(atlas)).toBe(
      'atlas has no ready version to archive.'
    );
    expect(archiveBlockedReason({ ...ready, in_use: ['s1'] })).toBe(
      'genome is in use by a running kernel; it is archived once no kernel uses it.'
    );
    const job: IJob = {
      id: 'j',
      layer: 'genome',
      kind: 'build',
      state: 'running'
    };
    expect(archiveBlockedReason(ready, [job])).toBe(
      'A job of genome is running; wait for it or cancel it.'
    );
  });
});
