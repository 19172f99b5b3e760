import { Notification } from '@jupyterlab/apputils';
import type { Event } from '@jupyterlab/services';
import { ServerConnection } from '@jupyterlab/services';
import { nullTranslator } from '@jupyterlab/translation';
import { Stream } from '@lumino/signaling';

import { JobNotifier } from '../jobNotifier';
import { progressCount } from '../jobProgress';
import { LayersModel } from '../model';
import { IJob, ILayer, ILayerList } from '../tokens';
import { makeLayer } from './fixtures';

const trans = nullTranslator.load('pennlayer');

const TEXTS = {
  running: 'Building environment sci…',
  succeeded: 'Environment sci is ready.',
  failed: 'Building sci failed',
  cancelled: 'The build of sci was cancelled.'
};

function job(overrides: Partial<IJob> = {}): IJob {
  return {
    id: 'a'.repeat(32),
    layer: 'sci',
    kind: 'build',
    state: 'running',
    requirements: 'numpy==9.9\nipykernel\n',
    ...overrides
  };
}

function list(...layers: ILayer[]): ILayerList {
  return {
    layers,
    totals: {
      layer_count: layers.length,
      size_bytes: 0,
      file_count: 0,
      monthly_cost_usd: 0
    }
  };
}

/**
 * A server whose `GET /pennlayer/jobs/{id}` answers with `current()`.
 */
function server(current: () => IJob) {
  const requests: string[] = [];
  const fetch = async (input: RequestInfo): Promise<Response> => {
    const url = typeof input === 'string' ? input : input.url;
    requests.push(url);
    return new Response(JSON.stringify(current()), {
      status: 200,
      headers: { 'Content-Type': 'application/json' }
    });
  };
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/',
    fetch: fetch as unknown as typeof window.fetch
  });
  return { settings, requests };
}

function makeEvents(): Event.IManager {
  const manager = {} as { stream: Event.Stream };
  manager.stream = new Stream<Event.IManager, Event.Emission>(
    manager as unknown as Event.IManager
  );
  return manager as unknown as Event.IManager;
}

function notification(id: string) {
  return Notification.manager.notifications.find(item => item.id === id);
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) {
    await new Promise(resolve => setTimeout(resolve, 5));
  }
  expect(condition()).toBe(true);
}

describe('progressCount', () => {
  it('says the bytes moved, with the time left once the server knows it', () => {
    const moving = job({
      kind: 'populate',
      progress: { bytes_done: 3_200_000_000, bytes_total: 12_000_000_000 }
    });
    expect(progressCount(moving, trans)).toBe('3.2 GB of 12.0 GB (26%)');
    moving.progress!.seconds_left = 260;
    expect(progressCount(moving, trans)).toBe(
      '3.2 GB of 12.0 GB (26%), about 4 min left'
    );
    expect(progressCount(job({ progress: { step: 1, steps: 5 } }), trans)).toBe(
      null
    );
  });
});

describe('JobNotifier', () => {
  let events: Event.IManager;
  let model: LayersModel;
  let layers: ILayer[];
  let notifier: JobNotifier;

  beforeEach(() => {
    events = makeEvents();
    layers = [
      makeLayer({ name: 'sci', kind: 'environment', status: 'BUILDING' })
    ];
    model = new LayersModel({
      fetchLayers: async () => list(...layers),
      events,
      autoStart: false
    });
  });

  afterEach(() => {
    notifier?.dispose();
    model.dispose();
    Notification.dismiss();
  });

  function emitJob(data: Partial<IJob> & { state: IJob['state'] }) {
    (events.stream as Stream<Event.IManager, Event.Emission>).emit({
      schema_id: 'https://events.pennlayer.dev/job',
      version: '1',
      id: 'a'.repeat(32),
      layer: 'sci',
      kind: 'build',
      phase: '',
      message: '',
      ...data
    } as unknown as Event.Emission);
  }

  it('turns "Building…" into "ready" when the job succeeds', async () => {
    const { settings } = server(() => job());
    notifier = new JobNotifier({ model, serverSettings: settings, trans });
    const id = notifier.follow(job(), TEXTS);
    expect(notification(id)?.message).toBe('Building environment sci…');
    expect(notification(id)?.type).toBe('in-progress');
    expect(notification(id)?.options.autoClose).toBe(false);

    emitJob({ state: 'succeeded' });

    expect(notification(id)?.message).toBe('Environment sci is ready.');
    expect(notification(id)?.type).toBe('success');
  });

  it('counts the packages of a build while they download', async () => {
    let current = job({
      progress: { phase: 'install', step: 2, steps: 5 }
    });
    const { settings } = server(() => current);
    notifier = new JobNotifier({
      model,
      serverSettings: settings,
      trans,
      progressEveryMs: 10
    });
    const id = notifier.follow(current, TEXTS);
    expect(notification(id)?.message).toBe('Building environment sci…');
    current = job({
      progress: {
        phase: 'install',
        step: 2,
        steps: 5,
        packages_done: 31,
        packages_total: 38,
        downloading: [
          { name: 'scipy', bytes: 35_336_192 },
          { name: 'numpy', bytes: 16_882_073 },
          { name: 'pandas', bytes: 11_114_905 }
        ]
      }
    });
    await until(() => notification(id)?.message !== TEXTS.running);
    expect(notification(id)?.message).toBe(
      'Building environment sci: 31 of 38 packages, downloading scipy 35.3 MB, numpy 16.9 MB and 1 more.'
    );
    current = job({
      progress: {
        phase: 'install',
        step: 2,
        steps: 5,
        packages_done: 37,
        packages_total: 38,
        downloading: [{ name: 'scipy', bytes: 35_336_192 }]
      }
    });
    await until(() => notification(id)?.message.includes('37 of 38') === true);
    expect(notification(id)?.message).toBe(
      'Building environment sci: 37 of 38 packages, downloading scipy 35.3 MB.'
    );
    current = job({ progress: { phase: 'digest', step: 4, steps: 5 } });
    await until(() => notification(id)?.message === TEXTS.running);
    emitJob({ state: 'succeeded' });
    expect(notification(id)?.type).toBe('success');
  });

  it('turns it into "failed" with the reason and a way to build again', async () => {
    const { settings } = server(() => job());
    notifier = new JobNotifier({ model, serverSettings: settings, trans });
    const shown: string[] = [];
    const retried: IJob[] = [];
    const id = notifier.follow(job(), TEXTS, {
      showLayer: name => shown.push(name),
      retry: {
        label: trans.__('Build again'),
        run: failed => retried.push(failed)
      }
    });

    emitJob({ state: 'failed', error: 'numpy==9.9 does not exist' });

    const failed = notification(id)!;
    expect(failed.message).toBe(
      'Building sci failed: numpy==9.9 does not exist'
    );
    expect(failed.type).toBe('error');
    expect(failed.options.autoClose).toBe(false);
    const actions = failed.options.actions ?? [];
    expect(actions.map(action => action.label)).toEqual([
      'Show log',
      'Build again'
    ]);
    actions[0].callback(new MouseEvent('click'));
    actions[1].callback(new MouseEvent('click'));
    expect(shown).toEqual(['sci']);
    expect(retried[0].requirements).toBe('numpy==9.9\nipykernel\n');
    // One notification for one job: a later event changes nothing.
    emitJob({ state: 'succeeded' });
    expect(notification(id)?.type).toBe('error');
  });

  it('follows a restore a kernel launch started, with the bytes moved so far', async () => {
    const id = 'b'.repeat(32);
    let current: IJob = {
      id,
      layer: 'atlas',
      kind: 'restore',
      state: 'running',
      progress: { phase: 'download', bytes_done: 0, bytes_total: 2_000_000_000 }
    };
    const { settings, requests } = server(() => current);
    const shown: string[] = [];
    notifier = new JobNotifier({
      model,
      serverSettings: settings,
      trans,
      progressEveryMs: 10,
      restoreActions: { showLayer: name => shown.push(name) }
    });
    // Nobody here started it: its event is the first this page hears of it.
    emitJob({ id, layer: 'atlas', kind: 'restore', state: 'queued' });
    const restoring = () =>
      Notification.manager.notifications.find(item =>
        item.message.startsWith('Restoring atlas from the archive (IA)')
      );
    expect(restoring()?.type).toBe('in-progress');
    current = {
      ...current,
      progress: { ...current.progress, bytes_done: 500_000_000 }
    };
    await until(() =>
      (restoring()?.message ?? '').includes('500 MB of 2.0 GB (25%)')
    );
    expect(restoring()?.message).toBe(
      'Restoring atlas from the archive (IA): 500 MB of 2.0 GB (25%). Kernels that mount it start when it is back.'
    );
    // The panel's Restore answer for the same job keeps the one notification.
    const again = notifier.follow(current, {
      running: 'Restoring atlas from the archive (IA)…',
      succeeded: 'atlas is restored: kernels can mount it.',
      failed: 'Restoring atlas failed',
      cancelled: 'Restoring atlas was cancelled.'
    });
    expect(again).toBe(restoring()?.id);
    current = { ...current, state: 'succeeded' };
    await until(() => notification(again)?.type === 'success');
    expect(notification(again)?.message).toBe(
      'atlas is restored: kernels can mount it.'
    );
    // and it stops asking once the job ended
    const asked = requests.length;
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(requests.length).toBe(asked);
  });

  it('offers the log when a restore it did not start fails', async () => {
    const id = 'c'.repeat(32);
    const { settings } = server(() => ({
      id,
      layer: 'atlas',
      kind: 'restore',
      state: 'running'
    }));
    const shown: string[] = [];
    notifier = new JobNotifier({
      model,
      serverSettings: settings,
      trans,
      restoreActions: { showLayer: name => shown.push(name) }
    });
    emitJob({ id, layer: 'atlas', kind: 'restore', state: 'running' });
    emitJob({
      id,
      layer: 'atlas',
      kind: 'restore',
      state: 'failed',
      error: 'the archive does not match its digest'
    });
    const failed = Notification.manager.notifications.find(
      item => item.type === 'error'
    )!;
    expect(failed.message).toBe(
      'Restoring atlas failed: the archive does not match its digest'
    );
    failed.options.actions![0].callback(new MouseEvent('click'));
    expect(shown).toEqual(['atlas']);
  });

  it('tells a quick restore that ended before it was seen running, once', () => {
    const id = 'f'.repeat(32);
    const { settings } = server(() => job());
    notifier = new JobNotifier({ model, serverSettings: settings, trans });
    emitJob({ id, layer: 'atlas', kind: 'restore', state: 'succeeded' });
    emitJob({ id, layer: 'atlas', kind: 'restore', state: 'succeeded' });
    const told = Notification.manager.notifications.filter(
      item => item.message === 'atlas is restored: kernels can mount it.'
    );
    expect(told.length).toBe(1);
    expect(told[0].type).toBe('success');
  });

  it('does not follow archives or builds it did not start', () => {
    const { settings } = server(() => job());
    notifier = new JobNotifier({ model, serverSettings: settings, trans });
    const before = Notification.manager.notifications.length;
    emitJob({ id: 'd'.repeat(32), kind: 'archive', state: 'running' });
    emitJob({ id: 'e'.repeat(32), kind: 'build', state: 'running' });
    expect(Notification.manager.notifications.length).toBe(before);
  });

  it('asks for the job when a listing shows the layer done without an event', async () => {
    let current = job();
    const { settings, requests } = server(() => current);
    notifier = new JobNotifier({ model, serverSettings: settings, trans });
    const id = notifier.follow(job(), TEXTS);
    await until(() => requests.length === 1);
    expect(notification(id)?.type).toBe('in-progress');

    current = job({ state: 'succeeded' });
    layers = [makeLayer({ name: 'sci', kind: 'environment', status: 'READY' })];
    await model.refresh();

    await until(() => notification(id)?.type === 'success');
    for (const url of requests) {
      expect(url).toContain(`/pennlayer/jobs/${'a'.repeat(32)}`);
    }
  });
});
