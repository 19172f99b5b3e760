import { nullTranslator } from '@jupyterlab/translation';
import * as React from 'react';
import { act } from 'react';
import { createRoot, Root } from 'react-dom/client';

import { LAYER_COLUMNS } from '../columns';
import { LayersOverview } from '../components/LayersOverview';
import { useActiveJobs } from '../components/useActiveJobs';
import { progressFraction, progressShort, progressTitle } from '../jobProgress';
import { LayerPages } from '../paging';
import { IJob, ILayer } from '../tokens';
import { makeLayer, serveLayers, settle } from './fixtures';

(globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;

const trans = nullTranslator.load('pennlayer');

function job(overrides: Partial<IJob> = {}): IJob {
  return {
    id: 'j1',
    layer: 'sci',
    kind: 'build',
    state: 'running',
    progress: null,
    ...overrides
  };
}

const downloading = job({
  progress: {
    step: 2,
    steps: 5,
    message: 'Resolving and installing packages',
    packages_done: 31,
    packages_total: 38,
    download_bytes_done: 20_000_000,
    download_bytes_total: 80_000_000,
    downloading: [{ name: 'scipy', bytes: 35_300_000 }]
  }
});

const loading = job({
  layer: 'hg38',
  kind: 'populate',
  progress: {
    step: 1,
    steps: 5,
    message: 'Downloading hg38.tar',
    bytes_done: 81_000_000,
    bytes_total: 300_000_000,
    seconds_left: 15
  }
});

describe('the progress of a running job, in a few words', () => {
  it('fills a build by the bytes uv announced, a load by its bytes', () => {
    expect(progressFraction(downloading)).toBe(0.25);
    expect(progressFraction(loading)).toBe(0.27);
    expect(
      progressFraction(
        job({ progress: { packages_done: 3, packages_total: 4 } })
      )
    ).toBe(0.75);
    expect(progressFraction(job({ progress: { step: 3, steps: 5 } }))).toBe(
      null
    );
  });

  it('says the count, or the step when nothing is counted', () => {
    expect(progressShort(downloading, trans)).toBe('31 of 38 packages');
    expect(progressShort(loading, trans)).toBe('81.0 MB of 300 MB');
    expect(progressShort(job({ progress: { step: 4, steps: 5 } }), trans)).toBe(
      'step 4 of 5'
    );
    expect(progressShort(job(), trans)).toBe(null);
    expect(progressTitle(downloading, trans)).toBe(
      'Resolving and installing packages: 31 of 38 packages, downloading scipy 35.3 MB'
    );
  });
});

describe('rows of layers being built or loaded', () => {
  let container: HTMLElement;
  let root: Root;

  beforeEach(() => {
    container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
  });

  let pages: LayerPages | null = null;

  afterEach(() => {
    act(() => root.unmount());
    container.remove();
    pages?.dispose();
    pages = null;
  });

  const building = makeLayer({
    name: 'sci',
    kind: 'environment',
    status: 'BUILDING',
    version: null,
    size_bytes: 0
  });
  const reloading = makeLayer({
    name: 'hg38',
    status: 'POPULATING',
    version: 2,
    size_bytes: 1_200_000_000,
    monthly_cost_usd: 0.36
  });
  const idle = makeLayer({ name: 'idle', status: 'READY', version: 1 });

  async function render(
    layers: ILayer[],
    fetchJobs: () => Promise<IJob[]>,
    layout: 'compact' | 'table'
  ): Promise<void> {
    pages = new LayerPages({ fetch: serveLayers(() => layers).fetch });
    await act(async () => {
      root.render(
        <LayersOverview
          pages={pages!}
          totals={null}
          error={null}
          loaded={true}
          columns={[...LAYER_COLUMNS]}
          layout={layout}
          trans={trans}
          fetchJobs={fetchJobs}
        />
      );
      await settle();
    });
    await act(() => settle());
  }

  function facts(name: string): (string | null)[] {
    const row = container.querySelector(`[data-layer-name="${name}"]`)!;
    return Array.from(row.querySelectorAll('.pennlayer-Facts > li')).map(
      li => li.textContent
    );
  }

  it('say how far the job has come, with a bar, in compact rows', async () => {
    const asked: number[] = [];
    await render(
      [building, reloading, idle],
      async () => {
        asked.push(1);
        return [downloading, loading];
      },
      'compact'
    );
    expect(asked.length).toBeGreaterThan(0);
    // No version yet: nothing on disk, so no size or cost, only the count.
    expect(facts('sci')).toEqual([
      '31 of 38 packages',
      'environment',
      'never used'
    ]);
    // A new version of a ready layer: its current size stays beside the count.
    expect(facts('hg38').slice(0, 4)).toEqual([
      '81.0 MB of 300 MB',
      'about 15 s left',
      '1.2 GB',
      '$0.36/mo'
    ]);
    const bar = container.querySelector(
      '[data-layer-name="sci"] [role="progressbar"]'
    )!;
    expect(bar.getAttribute('aria-valuenow')).toBe('25');
    expect(bar.getAttribute('title')).toContain('downloading scipy 35.3 MB');
    expect(
      container.querySelector('[data-layer-name="idle"] [role="progressbar"]')
    ).toBeNull();
    expect(
      container.querySelector(
        '[data-layer-name="idle"] .pennlayer-LayerList-size'
      )
    ).not.toBeNull();
  });

  it('show a bar under the status in the table, the words on hover', async () => {
    await render([building, idle], async () => [downloading], 'table');
    const row = container.querySelector('tr[data-layer-name="sci"]')!;
    const status = row.querySelector('td.pennlayer-LayersTable-status')!;
    const bar = status.querySelector('[role="progressbar"]')!;
    expect(bar.getAttribute('aria-valuenow')).toBe('25');
    expect(status.getAttribute('title')).toBe(
      'Resolving and installing packages: 31 of 38 packages, downloading scipy 35.3 MB'
    );
    expect(
      container.querySelector('tr[data-layer-name="idle"] [role="progressbar"]')
    ).toBeNull();
  });

  it('ask for nothing while no row in view is busy', async () => {
    let asked = 0;
    await render(
      [idle],
      async () => {
        asked += 1;
        return [];
      },
      'compact'
    );
    expect(asked).toBe(0);
  });
});

describe('useActiveJobs', () => {
  it('asks while a busy layer is in view and stops when none is', async () => {
    const container = document.createElement('div');
    const root = createRoot(container);
    let asked = 0;
    const fetchJobs = async () => {
      asked += 1;
      return [downloading, job({ id: 'j2', layer: 'other', kind: 'archive' })];
    };
    let seen: ReadonlyMap<string, IJob> = new Map();
    function Probe(props: { busy: string[] }): null {
      seen = useActiveJobs(fetchJobs, props.busy, 20);
      return null;
    }
    await act(async () => {
      root.render(<Probe busy={['sci']} />);
    });
    // Effects run once the render is done: wait for the ticks after that.
    await act(() => new Promise(resolve => setTimeout(resolve, 70)));
    expect(asked).toBeGreaterThanOrEqual(3);
    expect([...seen.keys()]).toEqual(['sci']);
    await act(async () => {
      root.render(<Probe busy={[]} />);
      await settle();
    });
    const after = asked;
    await act(() => new Promise(resolve => setTimeout(resolve, 70)));
    expect(asked).toBe(after);
    expect(seen.size).toBe(0);
    act(() => root.unmount());
  });
});
