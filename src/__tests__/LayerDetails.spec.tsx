import { ServerConnection } from '@jupyterlab/services';
import { nullTranslator } from '@jupyterlab/translation';
import * as React from 'react';
import { act } from 'react';
import { createRoot, Root } from 'react-dom/client';

import type { LayerActions } from '../actions';
import { LayerDetails } from '../components/LayerDetails';
import { IJob, ILayer } from '../tokens';
import { makeLayer } from './fixtures';

(globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;

const trans = nullTranslator.load('pennlayer');

const ERROR =
  'Installing the requirements failed: no version of numpy==9.9 exists';

const failedLayer: ILayer = makeLayer({
  name: 'sci',
  kind: 'environment',
  language: 'python',
  status: 'FAILED',
  version: null,
  digest: null,
  requirements: null,
  error: ERROR,
  size_bytes: 0,
  unique_bytes: null
});

const failedJob: IJob = {
  id: 'b'.repeat(32),
  layer: 'sci',
  kind: 'build',
  state: 'failed',
  error: ERROR,
  requirements: 'numpy==9.9\nipykernel\n'
};

/**
 * A pennlayer server answering the requests of the details of `sci`.
 */
function server(): ServerConnection.ISettings {
  return answering([
    [/\/pennlayer\/layers\/sci$/, { ...failedLayer, versions: [] }],
    [/\/pennlayer\/sessions/, { sessions: [] }],
    [/\/pennlayer\/jobs\?layer=sci/, { jobs: [failedJob] }],
    [
      /\/pennlayer\/jobs\/b+\/log/,
      {
        text: `==> Resolving and installing packages\nerror: no version of numpy==9.9\n==> failed: ${ERROR}\n`,
        next_offset: 100,
        complete: true
      }
    ]
  ]);
}

/**
 * A server answering each request with the first answer whose pattern its
 * path matches (404 for none).
 */
function answering(answers: [RegExp, unknown][]): ServerConnection.ISettings {
  const fetch = async (input: RequestInfo): Promise<Response> => {
    const url = typeof input === 'string' ? input : input.url;
    const path = url.replace(/[?&]\d+$/, '');
    const found = answers.find(([pattern]) => pattern.test(path));
    return new Response(JSON.stringify(found ? found[1] : {}), {
      status: found ? 200 : 404,
      headers: { 'Content-Type': 'application/json' }
    });
  };
  return ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/',
    fetch: fetch as unknown as typeof window.fetch
  });
}

async function settle(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) {
    await act(() => new Promise(resolve => setTimeout(resolve, 5)));
  }
  expect(condition()).toBe(true);
}

describe('LayerDetails of a failed build', () => {
  let container: HTMLElement;
  let root: Root;
  const build = jest.fn();

  beforeEach(() => {
    container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
    build.mockReset();
    act(() =>
      root.render(
        <LayerDetails
          layer={failedLayer}
          actions={{ build } as unknown as LayerActions}
          serverSettings={server()}
          trans={trans}
        />
      )
    );
  });

  afterEach(() => {
    act(() => root.unmount());
    container.remove();
  });

  it('shows the error once, with the log', async () => {
    await settle(
      () =>
        container.querySelector('.pennlayer-LayerDetails-log')?.textContent !==
          'Waiting for the log…' &&
        (container.textContent ?? '').includes('Last build: failed')
    );
    const text = container.textContent ?? '';
    expect(text.split(ERROR).length - 1).toBe(1);
    expect(
      container.querySelector('.pennlayer-LayerDetails-log')?.textContent
    ).toContain('error: no version of numpy==9.9');
  });

  it('builds again from the requirements of the failed build', async () => {
    await settle(() => (container.textContent ?? '').includes('Last build'));
    const button = Array.from(container.querySelectorAll('button')).find(
      item => item.textContent === 'Build'
    )!;
    expect(button.title).toContain('requirements of the failed build');
    act(() => button.click());
    expect(build).toHaveBeenCalledWith(failedLayer, 'numpy==9.9\nipykernel\n');
  });

  it('shows size and cost, and unique bytes when known', async () => {
    act(() =>
      root.render(
        <LayerDetails
          layer={{
            ...failedLayer,
            status: 'READY',
            error: null,
            size_bytes: 56_234_123,
            unique_bytes: 3_100_000,
            file_count: 8500,
            monthly_cost_usd: 0.0169
          }}
          actions={null}
          serverSettings={server()}
          trans={trans}
        />
      )
    );
    const storage = container.querySelector('.pennlayer-LayerDetails-storage');
    expect(storage?.textContent).toContain('56.2 MB in 8,500 files');
    expect(storage?.textContent).toContain('unique: 3.1 MB');
    expect(storage?.textContent).toContain('$0.02/mo (STANDARD)');
  });

  it('shows the requirements as given, then the packages they resolved to', async () => {
    const ready = {
      ...failedLayer,
      status: 'READY' as const,
      error: null,
      requirements:
        '# for the lab\nnumpy>=2\nipykernel  # added by pennlayer\n',
      packages: [{ name: 'numpy', version: '2.1.0' }],
      versions: []
    };
    act(() =>
      root.render(
        <LayerDetails
          layer={ready}
          actions={null}
          serverSettings={answering([
            [/\/pennlayer\/layers\/sci$/, ready],
            [/\/pennlayer\/sessions/, { sessions: [] }],
            [/\/pennlayer\/jobs\?layer=sci/, { jobs: [] }]
          ])}
          trans={trans}
        />
      )
    );
    const requirements = () =>
      container.querySelector('.pennlayer-LayerDetails-requirements');
    await settle(() => requirements() !== null);
    expect(requirements()?.textContent).toBe(
      '# for the lab\nnumpy>=2\nipykernel  # added by pennlayer'
    );
    const titles = Array.from(
      container.querySelectorAll('.pennlayer-LayerDetails-title')
    ).map(title => title.textContent);
    expect(titles.indexOf('Requirements')).toBe(
      titles.indexOf('Packages (1)') - 1
    );
  });
});

describe('LayerDetails of a running build', () => {
  const buildingLayer: ILayer = makeLayer({
    name: 'sci',
    kind: 'environment',
    status: 'BUILDING'
  });
  const started: IJob = {
    id: 'c'.repeat(32),
    layer: 'sci',
    kind: 'build',
    state: 'running',
    progress: {
      phase: 'install',
      step: 2,
      steps: 5,
      message: 'Resolving and installing packages'
    }
  };

  it('shows its step with the packages downloaded so far, as the job is now', async () => {
    const now: IJob = {
      ...started,
      progress: {
        ...started.progress,
        packages_done: 36,
        packages_total: 38,
        downloading: [
          { name: 'scipy', bytes: 35_336_192 },
          { name: 'numpy', bytes: 16_882_073 }
        ]
      }
    };
    const settings = answering([
      [/\/pennlayer\/layers\/sci$/, { ...buildingLayer, versions: [] }],
      [/\/pennlayer\/sessions/, { sessions: [] }],
      // The listing was answered when the details opened; the job has moved since.
      [/\/pennlayer\/jobs\?layer=sci/, { jobs: [started] }],
      [
        /\/pennlayer\/jobs\/c+\/log/,
        { text: 'Resolved 38 packages\n', next_offset: 21, complete: false }
      ],
      [/\/pennlayer\/jobs\/c+$/, now]
    ]);
    const container = document.createElement('div');
    document.body.appendChild(container);
    const root = createRoot(container);
    act(() =>
      root.render(
        <LayerDetails
          layer={buildingLayer}
          actions={null}
          serverSettings={settings}
          trans={trans}
        />
      )
    );
    const status = () =>
      container.querySelector('[role="status"]')?.textContent ?? '';
    await settle(() => status().includes('packages'));
    expect(status()).toBe(
      '[2/5] Resolving and installing packages — 36 of 38 packages, downloading scipy 35.3 MB and numpy 16.9 MB'
    );
    act(() => root.unmount());
    container.remove();
  });
});
