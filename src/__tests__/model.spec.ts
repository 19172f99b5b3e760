import type { Event } from '@jupyterlab/services';
import { PromiseDelegate } from '@lumino/coreutils';
import { Stream } from '@lumino/signaling';

import { LayersModel } from '../model';
import { ILayer, ILayerList } from '../tokens';

function makeLayer(name: string, overrides: Partial<ILayer> = {}): ILayer {
  return {
    name,
    kind: 'reference',
    language: null,
    description: '',
    status: 'EMPTY',
    version: null,
    digest: null,
    size_bytes: 0,
    file_count: 0,
    storage_class: 'STANDARD',
    monthly_cost_usd: 0,
    last_accessed_at: null,
    created_at: '2025-06-01T10:00:00Z',
    in_use: [],
    ...overrides
  };
}

function makeList(...layers: ILayer[]): ILayerList {
  return {
    layers,
    totals: {
      layer_count: layers.length,
      size_bytes: layers.reduce((sum, layer) => sum + layer.size_bytes, 0),
      file_count: layers.reduce((sum, layer) => sum + layer.file_count, 0),
      monthly_cost_usd: layers.reduce(
        (sum, layer) => sum + layer.monthly_cost_usd,
        0
      )
    }
  };
}

/**
 * A scripted listing: each call answers with the next queued result.
 */
class ScriptedListing {
  calls = 0;
  answers: (ILayerList | Error)[] = [];

  fetch = async (): Promise<ILayerList> => {
    this.calls += 1;
    const answer = this.answers.shift();
    if (answer === undefined) {
      throw new Error('no answer scripted');
    }
    if (answer instanceof Error) {
      throw answer;
    }
    return answer;
  };
}

function makeEvents(): Event.IManager {
  const manager = {} as { stream: Event.Stream };
  manager.stream = new Stream<Event.IManager, Event.Emission>(
    manager as unknown as Event.IManager
  );
  return manager as unknown as Event.IManager;
}

function waitFor(condition: () => boolean, timeout = 2000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const check = () => {
      if (condition()) {
        resolve();
      } else if (Date.now() - start > timeout) {
        reject(new Error('condition not met in time'));
      } else {
        setTimeout(check, 5);
      }
    };
    check();
  });
}

describe('LayersModel', () => {
  let listing: ScriptedListing;
  let model: LayersModel;

  beforeEach(() => {
    listing = new ScriptedListing();
  });

  afterEach(() => {
    model?.dispose();
  });

  it('starts unloaded and does not list while no view is visible', async () => {
    model = new LayersModel({ fetchLayers: listing.fetch });
    await new Promise(resolve => setTimeout(resolve, 20));
    expect(model.loaded).toBe(false);
    expect(model.layers).toEqual([]);
    expect(model.totals).toBeNull();
    expect(model.error).toBeNull();
    expect(listing.calls).toBe(0);
  });

  it('stores layers and totals of a listing and emits changed', async () => {
    model = new LayersModel({ fetchLayers: listing.fetch, autoStart: false });
    const changes: number[] = [];
    model.changed.connect(() => changes.push(model.layers.length));
    listing.answers.push(makeList(makeLayer('hg38'), makeLayer('stack')));

    await model.refresh();

    expect(model.loaded).toBe(true);
    expect(model.layers.map(layer => layer.name)).toEqual(['hg38', 'stack']);
    expect(model.totals?.layer_count).toBe(2);
    expect(model.error).toBeNull();
    expect(changes).toEqual([2]);
  });

  it('keeps the last layers on failure and clears the error on success', async () => {
    model = new LayersModel({ fetchLayers: listing.fetch, autoStart: false });
    listing.answers.push(
      makeList(makeLayer('hg38')),
      new Error('The layer store is not reachable.'),
      makeList()
    );

    await model.refresh();
    await expect(model.refresh()).resolves.toBeUndefined();
    expect(model.error).toBe('The layer store is not reachable.');
    expect(model.layers.map(layer => layer.name)).toEqual(['hg38']);

    await model.refresh();
    expect(model.error).toBeNull();
    expect(model.layers).toEqual([]);
    expect(model.totals?.layer_count).toBe(0);
  });

  it('joins a listing in flight and lists once more after it', async () => {
    const gate = new PromiseDelegate<void>();
    let calls = 0;
    model = new LayersModel({
      autoStart: false,
      fetchLayers: async () => {
        calls += 1;
        if (calls === 1) {
          await gate.promise;
          return makeList(makeLayer('old'));
        }
        return makeList(makeLayer('new'));
      }
    });

    const first = model.refresh();
    const second = model.refresh();
    const third = model.refresh();
    gate.resolve();
    await Promise.all([first, second, third]);

    expect(calls).toBe(2);
    expect(model.layers.map(layer => layer.name)).toEqual(['new']);
  });

  it('lists when a view becomes visible and polls while it stays visible', async () => {
    model = new LayersModel({
      fetchLayers: listing.fetch,
      refreshInterval: 0.05
    });
    for (let i = 0; i < 20; i++) {
      listing.answers.push(makeList(makeLayer(`layer-${i}`)));
    }

    model.visible = true;
    await waitFor(() => listing.calls >= 3);

    model.visible = false;
    await new Promise(resolve => setTimeout(resolve, 60));
    const callsWhenHidden = listing.calls;
    await new Promise(resolve => setTimeout(resolve, 200));
    expect(listing.calls).toBe(callsWhenHidden);
  });

  it('refreshes on pennlayer events only', async () => {
    const events = makeEvents();
    model = new LayersModel({
      fetchLayers: listing.fetch,
      events,
      autoStart: false
    });
    listing.answers.push(makeList(makeLayer('hg38')));
    const stream = events.stream as Stream<Event.IManager, Event.Emission>;

    stream.emit({
      schema_id: 'https://events.jupyter.org/jupyter_server/kernel_actions/v1',
      version: '1'
    });
    await new Promise(resolve => setTimeout(resolve, 10));
    expect(listing.calls).toBe(0);

    stream.emit({
      schema_id: 'https://events.pennlayer.dev/layer/status/v1',
      version: '1',
      name: 'hg38'
    });
    await waitFor(() => model.loaded);
    expect(listing.calls).toBe(1);
    expect(model.layers.map(layer => layer.name)).toEqual(['hg38']);

    model.dispose();
    stream.emit({
      schema_id: 'https://events.pennlayer.dev/layer/status/v1',
      version: '1'
    });
    await new Promise(resolve => setTimeout(resolve, 10));
    expect(listing.calls).toBe(1);
  });

  it('converts refresh intervals in seconds and rejects nonsense', () => {
    model = new LayersModel({ fetchLayers: listing.fetch, autoStart: false });
    expect(model.refreshInterval).toBe(10);
    model.refreshInterval = 30;
    expect(model.refreshInterval).toBe(30);
    model.refreshInterval = 600;
    expect(model.refreshInterval).toBe(600);
    model.refreshInterval = -1;
    expect(model.refreshInterval).toBe(10);
    model.refreshInterval = Number.NaN;
    expect(model.refreshInterval).toBe(10);
  });
});
