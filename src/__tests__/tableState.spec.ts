import { LAYER_COLUMNS } from '../columns';
import {
  archiveBlockedReason,
  COLUMN_SORT_KEYS,
  deleteBlockedReason,
  nextSort,
  parseFilter,
  sortQuery
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

describe('sortQuery', () => {
  it('asks the server for the key of each column', () => {
    expect(sortQuery({ column: 'size', direction: 'descending' })).toEqual({
      sort: 'size_bytes',
      order: 'desc'
    });
    expect(
      sortQuery({ column: 'last_access', direction: 'ascending' })
    ).toEqual({ sort: 'last_accessed_at', order: 'asc' });
    expect(Object.keys(COLUMN_SORT_KEYS).sort()).toEqual(
      [...LAYER_COLUMNS].sort()
    );
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

describe('parseFilter', () => {
  it('searches the words as one text, trimmed', () => {
    expect(parseFilter('  ')).toEqual({ none: false });
    expect(parseFilter('  human   genome ')).toEqual({
      q: 'human genome',
      none: false
    });
  });

  it('picks a kind or a status by the start of its name', () => {
    expect(parseFilter('kind:env hg')).toEqual({
      q: 'hg',
      kind: 'environment',
      none: false
    });
    expect(parseFilter('STATUS:ready kind:r')).toEqual({
      kind: 'reference',
      status: 'READY',
      none: false
    });
  });

  it('matches nothing for a kind or status that does not exist', () => {
    expect(parseFilter('kind:table').none).toBe(true);
    expect(parseFilter('status:').none).toBe(true);
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
