import type { Event } from '@jupyterlab/services';
import { nullTranslator } from '@jupyterlab/translation';
import { Stream } from '@lumino/signaling';
import * as React from 'react';
import { act } from 'react';
import { createRoot, Root } from 'react-dom/client';

import { LayerUsage } from '../components/LayerUsage';
import { RunsSection } from '../components/RunsSection';
import {
  formatDuration,
  ILayerUsage,
  IRun,
  parseParameters,
  runProgress,
  RunsModel
} from '../runs';
import { IJobLog } from '../tokens';

(globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;

const trans = nullTranslator.load('pennlayer');

function makeRun(overrides: Partial<IRun> = {}): IRun {
  return {
    id: 'a'.repeat(32),
    state: 'succeeded',
    progress: {},
    error: null,
    user: 'alice',
    notebook: '/home/alice/work/analysis.ipynb',
    output: '/home/alice/work/analysis-run-aaaaaaaa.ipynb',
    notebook_path: 'work/analysis.ipynb',
    output_path: 'work/analysis-run-aaaaaaaa.ipynb',
    environment: 'sci',
    layers: ['genome'],
    parameters: { n: 3 },
    mounts: [
      { layer: 'genome', version: 1, digest: 'sha256:' + '1'.repeat(64) },
      { layer: 'sci', version: 2, digest: 'sha256:' + '2'.repeat(64) }
    ],
    notices: [],
    failure: null,
    created_at: '2026-01-01T10:00:00Z',
    started_at: '2026-01-01T10:00:01Z',
    finished_at: '2026-01-01T10:00:05Z',
    duration_s: 4.2,
    ...overrides
  };
}

async function flush(): Promise<void> {
  await act(async () => {
    await new Promise(resolve => setTimeout(resolve, 0));
  });
}

describe('run helpers', () => {
  it('reads NAME = VALUE parameters as JSON when they are JSON', () => {
    expect(
      parseParameters(
        'n = 3\nalpha=0.5\n# a comment\n\nnote = first try\nflags = [1, 2]\nok = true\nq = "x"'
      )
    ).toEqual({
      n: 3,
      alpha: 0.5,
      note: 'first try',
      flags: [1, 2],
      ok: true,
      q: 'x'
    });
    expect(() => parseParameters('n = 1\n1x = 2')).toThrow(/Line 2/);
  });

  it('says durations and progress the way people read them', () => {
    expect(formatDuration(4.21)).toBe('4.2 s');
    expect(formatDuration(185)).toBe('3m05s');
    expect(formatDuration(7800)).toBe('2h10m');
    expect(formatDuration(null)).toBe('–');
    const running = makeRun({
      state: 'running',
      progress: { phase: 'cell', step: 2, steps: 5 }
    });
    expect(runProgress(running)).toBe('cell 2 of 5');
    expect(runProgress(makeRun({ state: 'running', progress: {} }))).toBe(
      'starting the kernel'
    );
    expect(runProgress(makeRun({ state: 'failed' }))).toBe('failed');
  });
});

describe('RunsSection', () => {
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

  function button(label: string): HTMLButtonElement {
    const found = Array.from(container.querySelectorAll('button')).find(
      element => element.textContent?.trim() === label
    );
    if (!found) {
      throw new Error(`no button ${label} in ${container.textContent}`);
    }
    return found as HTMLButtonElement;
  }

  function render(runs: IRun[], calls: string[]): void {
    act(() =>
      root.render(
        <RunsSection
          runs={runs}
          error={null}
          loaded={true}
          trans={trans}
          onCancel={run => calls.push(`cancel ${run.id}`)}
          onRerun={run => calls.push(`rerun ${run.id}`)}
          onOpenOutput={run => calls.push(`open ${run.output_path}`)}
          fetchLog={async (id, offset): Promise<IJobLog> => {
            calls.push(`log ${id} ${offset}`);
            return { text: `log of ${id}\n`, next_offset: 12, complete: true };
          }}
        />
      )
    );
  }

  it('lists runs with status, progress and duration, and acts on them', async () => {
    const calls: string[] = [];
    const running = makeRun({
      id: 'r'.repeat(32),
      state: 'running',
      progress: { phase: 'cell', step: 2, steps: 5 },
      duration_s: 12
    });
    const failed = makeRun({
      id: 'f'.repeat(32),
      state: 'failed',
      error: 'cell 2 of 3 failed: ZeroDivisionError: division by zero',
      failure: { cell: 2, source: '1 / 0' },
      notices: ['genome: mounted version 2 because version 1 is gone']
    });
    render([running, failed, makeRun()], calls);

    const summaries = Array.from(
      container.querySelectorAll('.pennlayer-Run-summary')
    ).map(element => element.textContent);
    expect(summaries).toEqual([
      'cell 2 of 5 analysis.ipynb 12.0 s',
      'failed analysis.ipynb 4.2 s',
      'succeeded analysis.ipynb 4.2 s'
    ]);
    expect(container.querySelector('.pennlayer-Runs-count')!.textContent).toBe(
      '(3, 1 active)'
    );

    // A running run opens to its layers, its log and a Cancel button
    act(() =>
      (
        container.querySelectorAll('.pennlayer-Run-summary')[0] as HTMLElement
      ).click()
    );
    await flush();
    expect(container.textContent).toContain('genome v1 sha256:1111111111');
    expect(container.textContent).toContain('sci v2 sha256:2222222222');
    expect(container.textContent).toContain('n = 3');
    expect(container.querySelector('.pennlayer-Run-log')!.textContent).toBe(
      `log of ${running.id}\n`
    );
    expect(() => button('Rerun')).toThrow();
    act(() => button('Cancel').click());
    expect(calls).toContain(`cancel ${running.id}`);

    // A failed run shows its error and failing cell; it can be rerun or opened
    act(() =>
      (
        container.querySelectorAll('.pennlayer-Run-summary')[1] as HTMLElement
      ).click()
    );
    await flush();
    expect(container.querySelector('[role="alert"]')!.textContent).toBe(
      failed.error
    );
    expect(container.querySelector('.pennlayer-Run-cell')!.textContent).toBe(
      '1 / 0'
    );
    expect(container.textContent).toContain('mounted version 2');
    act(() => button('Rerun').click());
    act(() => button('Open output').click());
    expect(calls).toContain(`rerun ${failed.id}`);
    expect(calls).toContain('open work/analysis-run-aaaaaaaa.ipynb');
  });

  it('says how to start a run when there is none', () => {
    render([], []);
    expect(container.textContent).toContain('No runs yet.');
    expect(container.textContent).toContain('Run with layers…');
  });
});

describe('LayerUsage', () => {
  it('lists the runs and sessions of each version that was used', async () => {
    const container = document.createElement('div');
    const root = createRoot(container);
    const usage: ILayerUsage = {
      layer: 'genome',
      versions: [
        {
          version: 2,
          digest: 'sha256:2',
          on_node: true,
          current: true,
          sessions: [],
          runs: []
        },
        {
          version: 1,
          digest: 'sha256:1',
          on_node: false,
          current: false,
          sessions: [
            {
              id: 's1',
              kernel_id: 'k1',
              user: 'bob',
              notebook_path: '/home/bob/explore.ipynb',
              started_at: '2026-01-01T09:00:00Z',
              ended_at: null,
              active: true
            }
          ],
          runs: [
            {
              id: 'b'.repeat(32),
              state: 'succeeded',
              user: 'alice',
              notebook: '/home/alice/analysis.ipynb',
              output: '/home/alice/out.ipynb',
              started_at: '2026-01-01T10:00:00Z',
              ended_at: '2026-01-01T10:01:00Z'
            }
          ]
        }
      ]
    };
    const asked: string[] = [];
    act(() =>
      root.render(
        <LayerUsage
          name="genome"
          fetchUsage={async name => {
            asked.push(name);
            return usage;
          }}
          trans={trans}
        />
      )
    );
    await flush();
    expect(asked).toEqual(['genome']);
    const text = container.textContent ?? '';
    expect(text).toContain('v1 sha256:1 — no longer on this node');
    expect(text).toContain('run bbbbbbbb — succeeded — analysis.ipynb — alice');
    expect(text).toContain('explore.ipynb — bob — running since');
    expect(text).not.toContain('v2'); // nobody used the current version yet
    act(() => root.unmount());
  });
});

describe('RunsModel', () => {
  it('lists runs, and again when a run job event arrives', async () => {
    const stream = new Stream<Event.IManager, Event.Emission>({} as any);
    let calls = 0;
    const model = new RunsModel({
      fetchRuns: async () => {
        calls += 1;
        return calls === 1 ? [] : [makeRun()];
      },
      events: { stream } as unknown as Event.IManager,
      autoStart: false
    });
    await model.refresh();
    expect(model.loaded).toBe(true);
    expect(model.runs).toEqual([]);

    stream.emit({
      schema_id: 'https://events.pennlayer.dev/job',
      kind: 'build'
    } as unknown as Event.Emission);
    await flush();
    expect(calls).toBe(1); // builds are not runs

    stream.emit({
      schema_id: 'https://events.pennlayer.dev/job',
      kind: 'run'
    } as unknown as Event.Emission);
    await flush();
    expect(calls).toBe(2);
    expect(model.runs.map(run => run.id)).toEqual(['a'.repeat(32)]);
    model.dispose();
  });

  it('keeps the last runs and says why a listing failed', async () => {
    let fail = false;
    const model = new RunsModel({
      fetchRuns: async () => {
        if (fail) {
          throw new Error('pennlayer is not running on this server.');
        }
        return [makeRun()];
      },
      autoStart: false
    });
    await model.refresh();
    fail = true;
    await model.refresh();
    expect(model.runs.length).toBe(1);
    expect(model.error).toBe('pennlayer is not running on this server.');
    model.dispose();
  });
});
