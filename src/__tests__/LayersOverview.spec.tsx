import { nullTranslator } from '@jupyterlab/translation';
import * as React from 'react';
import { act } from 'react';
import { createRoot, Root } from 'react-dom/client';

import { LAYER_COLUMNS } from '../columns';
import {
  ILayersOverviewProps,
  LayersOverview
} from '../components/LayersOverview';
import { LayerPages } from '../paging';
import { ILayer } from '../tokens';
import { serveLayers, settle } from './fixtures';

(globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;

const trans = nullTranslator.load('pennlayer');
const now = Date.parse('2025-06-15T12:00:00Z');

const hg38: ILayer = {
  name: 'hg38',
  kind: 'reference',
  language: null,
  description: 'Human genome',
  status: 'READY',
  version: 2,
  digest: 'sha256:abc',
  size_bytes: 1_200_000_000,
  file_count: 1234,
  storage_class: 'STANDARD',
  monthly_cost_usd: 0.36,
  last_accessed_at: '2025-06-15T11:55:00Z',
  created_at: '2025-06-01T12:00:00Z',
  in_use: []
};

describe('LayersOverview', () => {
  let container: HTMLElement;
  let root: Root;

  beforeEach(() => {
    container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
  });

  afterEach(() => {
    act(() => root.unmount());
    container.remove();
  });

  async function render(
    props: Partial<ILayersOverviewProps> & { layers?: ILayer[] }
  ): Promise<void> {
    const { layers, ...rest } = props;
    const pages = new LayerPages({
      fetch: serveLayers(() => layers ?? []).fetch
    });
    await act(async () => {
      root.render(
        <LayersOverview
          pages={pages}
          totals={null}
          error={null}
          loaded={true}
          columns={[...LAYER_COLUMNS]}
          trans={trans}
          now={now}
          {...rest}
        />
      );
      await settle();
    });
  }

  it('marks a layer whose current version drifted, and only that one', async () => {
    const drifted: ILayer = {
      ...hg38,
      name: 'hg19',
      drift: 'the files of version 2 no longer match its digest'
    };
    await render({ layers: [drifted, hg38] });

    const rows = Array.from(container.querySelectorAll('tbody tr'));
    const marks = rows.map(row =>
      row.querySelector('.pennlayer-DriftChip')?.getAttribute('title')
    );
    expect(marks[0]).toContain('no longer match its digest');
    expect(marks[0]).toContain('not mounted');
    expect(marks[1]).toBeUndefined();
    // Beside the name too, the column every sidebar width shows
    const nameMarks = rows.map(row =>
      row.querySelector('th .pennlayer-DriftMark')?.getAttribute('aria-label')
    );
    expect(nameMarks).toEqual(['Integrity check failed', undefined]);
  });

  it('says when kernels here can change the layers they mount', async () => {
    const why =
      'sandbox is none: layers are mounted without read-only protection';
    await render({ layers: [hg38], notReadOnly: why });
    const note = container.querySelector(
      '.pennlayer-LayersOverview-notReadOnly'
    );
    expect(note?.getAttribute('role')).toBe('note');
    expect(note?.textContent).toContain('Not read-only here');
    expect(note?.getAttribute('title')).toBe(why);
    // and nothing is said where layers are mounted read-only
    await render({ layers: [hg38], notReadOnly: null });
    expect(
      container.querySelector('.pennlayer-LayersOverview-notReadOnly')
    ).toBeNull();
  });

  it('shows one row per layer with formatted cells', async () => {
    await render({
      layers: [hg38],
      totals: {
        layer_count: 1,
        size_bytes: 1_200_000_000,
        file_count: 1234,
        monthly_cost_usd: 0.36
      }
    });

    const headers = Array.from(container.querySelectorAll('thead th')).map(
      th => th.textContent
    );
    expect(headers).toEqual([
      'Name',
      'Kind',
      'Status',
      'Size',
      'Files',
      'Tier',
      'Monthly cost',
      'Last access',
      'Created'
    ]);
    const cells = Array.from(container.querySelectorAll('tbody tr > *')).map(
      cell => cell.textContent
    );
    expect(cells).toEqual([
      'hg38',
      'reference',
      'READY',
      '1.2 GB',
      '1,234',
      'STANDARD',
      '$0.36/mo',
      '5 minutes ago',
      '2025-06-01'
    ]);
    const totals = container.querySelector('[aria-label="Node totals"]');
    expect(totals?.textContent).toContain('1.2 GB');
    expect(totals?.textContent).toContain('$0.36/mo');
  });

  it('honours the chosen columns and their order', async () => {
    await render({ layers: [hg38], columns: ['size', 'name'] });
    const headers = Array.from(container.querySelectorAll('thead th')).map(
      th => th.textContent
    );
    expect(headers).toEqual(['Size', 'Name']);
  });

  it('shows the empty state with the create command', async () => {
    await render({
      totals: {
        layer_count: 0,
        size_bytes: 0,
        file_count: 0,
        monthly_cost_usd: 0
      }
    });
    expect(container.querySelector('table')).toBeNull();
    expect(container.textContent).toContain(
      'No layers yet. Create one with jupyter pennlayer create NAME --kind reference'
    );
  });

  it("shows the server's message and retries on request", async () => {
    const onRetry = jest.fn();
    await render({ error: 'The catalog is locked.', onRetry });
    const alert = container.querySelector('[role="alert"]');
    expect(alert?.textContent).toContain('The catalog is locked.');
    act(() => {
      (alert?.querySelector('button') as HTMLButtonElement).click();
    });
    expect(onRetry).toHaveBeenCalledTimes(1);
  });

  it('renders a window of rows, not every layer, and shows a layer it was asked to reveal', async () => {
    const many: ILayer[] = Array.from({ length: 500 }, (_, index) => ({
      ...hg38,
      name: `ref-${String(index).padStart(5, '0')}`
    }));
    const server = serveLayers(() => many);
    const pages = new LayerPages({ fetch: server.fetch });
    const props = {
      pages,
      totals: null,
      error: null,
      loaded: true,
      columns: [...LAYER_COLUMNS],
      trans,
      now,
      searchDelay: 0,
      renderDetails: (layer: ILayer) => (
        <p className="details">{`details of ${layer.name}`}</p>
      )
    };
    await act(async () => {
      root.render(<LayersOverview {...props} />);
      await settle();
    });
    const rows = () => container.querySelectorAll('tbody tr[data-layer-name]');
    // jsdom lays nothing out: a first screen of rows (and a few more), from
    // the first pages only.
    expect(rows().length).toBeLessThanOrEqual(60);
    expect(server.requests.map(request => request.offset)).toEqual([0, 50]);
    expect(
      container.querySelector('table')?.getAttribute('aria-rowcount')
    ).toBe('501');

    await act(async () => {
      root.render(
        <LayersOverview {...props} reveal={{ name: 'ref-00420', nonce: 1 }} />
      );
      await settle();
    });
    expect(server.requests[server.requests.length - 1]).toMatchObject({
      q: 'ref-00420'
    });
    expect(
      Array.from(rows()).map(row => row.getAttribute('data-layer-name'))
    ).toEqual(['ref-00420']);
    expect(container.querySelector('.details')?.textContent).toBe(
      'details of ref-00420'
    );
  });

  it('says it is loading before the first answer', async () => {
    await render({ loaded: false });
    expect(container.querySelector('[role="status"]')?.textContent).toBe(
      'Loading layers…'
    );
  });
});

describe('LayersOverview in compact rows', () => {
  let container: HTMLElement;
  let root: Root;

  beforeEach(() => {
    container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
  });

  afterEach(() => {
    act(() => root.unmount());
    container.remove();
  });

  const env: ILayer = {
    ...hg38,
    name: 'sci-stack',
    kind: 'environment',
    language: 'python',
    size_bytes: 312_400_000,
    unique_bytes: 3_100_000,
    monthly_cost_usd: 0.0937,
    last_accessed_at: null
  };

  async function render(props: Partial<ILayersOverviewProps>): Promise<void> {
    const pages = new LayerPages({
      fetch: serveLayers(() => [hg38, env]).fetch
    });
    await act(async () => {
      root.render(
        <LayersOverview
          pages={pages}
          totals={null}
          error={null}
          loaded={true}
          columns={[...LAYER_COLUMNS]}
          layout="compact"
          trans={trans}
          now={now}
          renderDetails={layer => <p>{`details of ${layer.name}`}</p>}
          {...props}
        />
      );
      await settle();
    });
  }

  function item(name: string): HTMLElement {
    return container.querySelector(`[data-layer-name="${name}"]`)!;
  }

  it('shows name, status, kind, size, cost and last access of each layer', async () => {
    await render({});
    expect(container.querySelector('table')).toBeNull();
    const row = item('sci-stack');
    expect(row.querySelector('.pennlayer-LayerList-name')?.textContent).toBe(
      'sci-stack'
    );
    expect(row.querySelector('.pennlayer-StatusChip')?.textContent).toBe(
      'READY'
    );
    const facts = Array.from(row.querySelectorAll('.pennlayer-Facts > li')).map(
      li => li.textContent
    );
    expect(facts).toEqual(['312 MB', '$0.09/mo', 'environment', 'never used']);
    expect(
      item('hg38').querySelector('.pennlayer-LayerList-access')?.textContent
    ).toBe('used 5 minutes ago');
  });

  it('explains in tooltips how size, unique bytes and cost are counted', async () => {
    await render({});
    const size = item('sci-stack').querySelector('.pennlayer-LayerList-size')!;
    expect(size.getAttribute('title')).toContain('312,400,000 bytes');
    expect(size.getAttribute('title')).toContain(
      'does not change when other layers come or go'
    );
    expect(size.getAttribute('title')).toContain(
      'Unique: 3.1 MB, what deleting it frees'
    );
    expect(size.getAttribute('title')).toContain('1 kB = 1,000 bytes');
    // A server that does not say what is unique: no guess.
    const other = item('hg38').querySelector('.pennlayer-LayerList-size')!;
    expect(other.getAttribute('title')).not.toContain('Unique');
    const cost = item('sci-stack').querySelector('.pennlayer-LayerList-cost')!;
    expect(cost.getAttribute('title')).toContain(
      'the size (312 MB) at the STANDARD price per GB-month'
    );
    expect(cost.getAttribute('title')).toContain('counts them once');
  });

  it('shows and hides the details below the row', async () => {
    await render({});
    const toggle = item('hg38').querySelector('button')!;
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    act(() => toggle.click());
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    expect(item('hg38').textContent).toContain('details of hg38');
    act(() => toggle.click());
    expect(item('hg38').textContent).not.toContain('details of hg38');
  });

  it('shows the node totals with what sharing saves', async () => {
    await render({
      totals: {
        layer_count: 2,
        size_bytes: 1_509_300_000,
        file_count: 2000,
        monthly_cost_usd: 0.45,
        layers_bytes: 1_512_400_000,
        shared_savings_bytes: 3_100_000
      }
    });
    const totals = container.querySelector('[aria-label="Node totals"]')!;
    expect(
      Array.from(totals.querySelectorAll('li')).map(li => li.textContent)
    ).toEqual([
      '2 layers',
      '1.5 GB on disk (shared between layers: \u22123.1\u00a0MB)',
      '$0.45/month'
    ]);
    expect(
      totals.querySelector('.pennlayer-NodeTotals-size')?.getAttribute('title')
    ).toContain("The layers' sizes add up to 1.5 GB; sharing saves 3.1 MB.");
  });

  it('shows what IA saves when layers are archived, with each class in the cost tooltip', async () => {
    await render({
      totals: {
        layer_count: 3,
        size_bytes: 2_000_000_000,
        file_count: 10,
        monthly_cost_usd: 0.4125,
        size_bytes_by_storage_class: {
          STANDARD: 2_000_000_000,
          IA: 500_000_000
        },
        monthly_cost_usd_by_storage_class: { STANDARD: 0.4, IA: 0.0125 },
        ia_files_bytes: 1_200_000_000,
        ia_savings_monthly_usd: 0.2275
      }
    });
    const totals = container.querySelector('[aria-label="Node totals"]')!;
    const ia = totals.querySelector('.pennlayer-NodeTotals-ia')!;
    expect(ia.textContent).toBe('IA saves $0.23/month');
    expect(ia.getAttribute('title')).toContain(
      'Archived (IA) layers: 1.2 GB of files kept as 500 MB of archives'
    );
    const cost = totals.querySelector('.pennlayer-NodeTotals-cost')!;
    expect(cost.getAttribute('title')).toContain(
      'STANDARD: 2.0 GB on disk, $0.40/month.'
    );
    expect(cost.getAttribute('title')).toContain(
      'IA: 500 MB of archives, $0.01/month.'
    );
  });

  it('leaves out the saving when the server does not say it', async () => {
    await render({
      totals: {
        layer_count: 1,
        size_bytes: 1000,
        file_count: 1,
        monthly_cost_usd: 0
      }
    });
    const totals = container.querySelector('[aria-label="Node totals"]')!;
    expect(totals.textContent).toBe('1 layer1.0 kB on disk$0.00/month');
  });
});
