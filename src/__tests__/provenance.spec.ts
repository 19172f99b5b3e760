import { isPennLayerKernel, layersToRecord } from '../provenance';
import { INotebookLayers } from '../tokens';

const SCI_V1 = { version: 1, digest: 'sha256:aaa' };
const GENOME_V3 = { version: 3, digest: 'sha256:ggg3' };
const GENOME_V4 = { version: 4, digest: 'sha256:ggg4' };
const TABLE_V2 = { version: 2, digest: 'sha256:ttt' };

function mountedBy(
  layers: string[],
  mounted: INotebookLayers['mounted']
): INotebookLayers {
  return { environment: 'sci', layers, mounted };
}

describe('layersToRecord', () => {
  const session = mountedBy(['genome', 'table'], {
    sci: SCI_V1,
    genome: GENOME_V4,
    table: TABLE_V2
  });

  it('records everything in a notebook that has no pennlayer metadata', () => {
    expect(layersToRecord(undefined, session)).toEqual({
      environment: 'sci',
      layers: ['genome', 'table'],
      mounted: { sci: SCI_V1, genome: GENOME_V4, table: TABLE_V2 }
    });
  });

  it('replaces metadata that is not an object', () => {
    for (const recorded of [null, 'sci', 3, ['sci']]) {
      expect(layersToRecord(recorded, session)).toEqual({
        environment: 'sci',
        layers: ['genome', 'table'],
        mounted: { sci: SCI_V1, genome: GENOME_V4, table: TABLE_V2 }
      });
    }
  });

  it('changes nothing when the notebook records exactly what was mounted', () => {
    const recorded = {
      // Another key order than the server's must not count as a change.
      mounted: {
        table: { digest: 'sha256:ttt', version: 2 },
        genome: GENOME_V4,
        sci: SCI_V1
      },
      layers: ['genome', 'table'],
      environment: 'sci'
    };
    expect(layersToRecord(recorded, session)).toBeNull();
  });

  it("keeps the notebook's order of the same reference layers", () => {
    const recorded = {
      environment: 'sci',
      layers: ['table', 'genome'],
      mounted: { sci: SCI_V1, genome: GENOME_V4, table: TABLE_V2 }
    };
    expect(layersToRecord(recorded, session)).toBeNull();

    const older = {
      ...recorded,
      mounted: { ...recorded.mounted, genome: GENOME_V3 }
    };
    expect(layersToRecord(older, session)).toEqual({
      environment: 'sci',
      layers: ['table', 'genome'],
      mounted: { sci: SCI_V1, genome: GENOME_V4, table: TABLE_V2 }
    });
  });

  it('records the version that was mounted when the recorded one is gone', () => {
    const recorded = {
      environment: 'sci',
      layers: ['genome', 'table'],
      mounted: { sci: SCI_V1, genome: GENOME_V3, table: TABLE_V2 }
    };
    expect(layersToRecord(recorded, session)?.mounted).toEqual({
      sci: SCI_V1,
      genome: GENOME_V4,
      table: TABLE_V2
    });
  });

  it('takes the mounted layers when the notebook names other ones', () => {
    const recorded = {
      environment: 'sci',
      layers: ['genome', 'genome'],
      mounted: { sci: SCI_V1, genome: GENOME_V4 }
    };
    expect(layersToRecord(recorded, session)?.layers).toEqual([
      'genome',
      'table'
    ]);
    expect(
      layersToRecord({ ...recorded, layers: 'genome' }, session)?.layers
    ).toEqual(['genome', 'table']);
  });

  it('records a change of environment', () => {
    const recorded = {
      environment: 'old-sci',
      layers: [],
      mounted: { 'old-sci': SCI_V1 }
    };
    expect(layersToRecord(recorded, mountedBy([], { sci: SCI_V1 }))).toEqual({
      environment: 'sci',
      layers: [],
      mounted: { sci: SCI_V1 }
    });
  });

  it('drops versions of layers that were not mounted', () => {
    const recorded = {
      environment: 'sci',
      layers: [],
      mounted: { sci: SCI_V1, genome: GENOME_V3 }
    };
    expect(layersToRecord(recorded, mountedBy([], { sci: SCI_V1 }))).toEqual({
      environment: 'sci',
      layers: [],
      mounted: { sci: SCI_V1 }
    });
  });

  it('rewrites a recorded version with extra or missing fields', () => {
    const extra = {
      environment: 'sci',
      layers: [],
      mounted: { sci: { ...SCI_V1, size: 10 } }
    };
    expect(layersToRecord(extra, mountedBy([], { sci: SCI_V1 }))).toEqual({
      environment: 'sci',
      layers: [],
      mounted: { sci: SCI_V1 }
    });
    const missing = { ...extra, mounted: { sci: { version: 1 } } };
    expect(
      layersToRecord(missing, mountedBy([], { sci: SCI_V1 }))?.mounted
    ).toEqual({ sci: SCI_V1 });
  });

  it('keeps keys it does not know', () => {
    const recorded = {
      environment: 'sci',
      layers: [],
      mounted: { sci: GENOME_V3 },
      note: 'chosen by hand'
    };
    expect(layersToRecord(recorded, mountedBy([], { sci: SCI_V1 }))).toEqual({
      environment: 'sci',
      layers: [],
      mounted: { sci: SCI_V1 },
      note: 'chosen by hand'
    });
  });

  it('records the live installs of the session, and only when there are some', () => {
    const live = {
      ...mountedBy([], { sci: SCI_V1 }),
      live_installs: [{ name: 'pllive', version: '1.0' }]
    };
    const next = layersToRecord({}, live);
    expect(next).toEqual({
      environment: 'sci',
      layers: [],
      mounted: { sci: SCI_V1 },
      live_installs: [{ name: 'pllive', version: '1.0' }]
    });
    expect(next!.live_installs).not.toBe(live.live_installs);
    expect(layersToRecord(next, live)).toBeNull();
    // A new session without live installs drops the old ones.
    expect(layersToRecord(next, mountedBy([], { sci: SCI_V1 }))).toEqual({
      environment: 'sci',
      layers: [],
      mounted: { sci: SCI_V1 }
    });
    const none = { ...mountedBy([], { sci: SCI_V1 }), live_installs: [] };
    expect(
      layersToRecord(
        { environment: 'sci', layers: [], mounted: { sci: SCI_V1 } },
        none
      )
    ).toBeNull();
  });

  it('never shares objects with the session or the notebook', () => {
    const recorded = { environment: 'sci', layers: ['genome', 'table'] };
    const next = layersToRecord(recorded, session);
    expect(next).not.toBeNull();
    expect(next).not.toBe(recorded);
    expect(next!.layers).not.toBe(recorded.layers);
    expect(next!.mounted).not.toBe(session.mounted);
    expect(next!.mounted.sci).not.toBe(session.mounted.sci);
    next!.mounted.sci.version = 99;
    expect(session.mounted.sci.version).toBe(1);
  });
});

describe('isPennLayerKernel', () => {
  it('recognizes the kernelspecs of pennlayer environments', () => {
    expect(isPennLayerKernel('pennlayer-galata-env')).toBe(true);
    expect(isPennLayerKernel('pennlayer-')).toBe(false);
    expect(isPennLayerKernel('python3')).toBe(false);
    expect(isPennLayerKernel('my-pennlayer-env')).toBe(false);
    expect(isPennLayerKernel(undefined)).toBe(false);
  });
});
