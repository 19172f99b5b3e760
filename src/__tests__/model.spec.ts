import type { Event } from '@jupyterlab/services';
import { PromiseDelegate } from '@lumino/coreutils';
import { Stream } from '@lumino/signaling';

import { LayersModel } from '../model';
import { ILayer, ILayerList, ILayerPages } from '../tokens';
import { serveLayers, settle } from './fixtures';

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
    expect(model.totals).toBeNull();
    expect(model.error).toBeNull();
    expect(listing.calls).toBe(0);
  });

  it('asks for the totals with a one-row page while no list is open', async () => {
    const server = serveLayers(() => [makeLayer('hg38'), makeLayer('stack')]);
    model = new LayersModel({ fetchLayers: server.fetch, autoStart: false });
    const changes: (number | undefined)[] = [];
    model.changed.connect(() => changes.push(model.totals?.layer_count));

    await model.refresh();

    expect(server.requests).toEqual([{ limit: 1 }]);
    expect(model.loaded).toBe(true);
    expect(model.totals?.layer_count).toBe(2);
    expect(model.error).toBeNull();
    expect(changes).toEqual([2]);
  });

  it('keeps the last totals and rows on failure and clears the error on success', async () => {
    model = new LayersModel({ fetchLayers: listing.fetch, autoStart: false });
    const pages = model.openPages();
    listing.answers.push(
      makeList(makeLayer('hg38')),
      new Error('The layer store is not reachable.'),
      makeList()
    );

    await model.refresh();
    expect(pages.row(0)?.name).toBe('hg38');
    await expect(model.refresh()).resolves.toBeUndefined();
    expect(model.error).toBe('The layer store is not reachable.');
    expect(pages.row(0)?.name).toBe('hg38');
    expect(model.totals?.layer_count).toBe(1);

    await model.refresh();
    expect(model.error).toBeNull();
    expect(pages.count).toBe(0);
    expect(model.totals?.layer_count).toBe(0);
  });

  it('joins a refresh in flight and refreshes once more after it', async () => {
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
        return makeList(makeLayer('new'), makeLayer('newer'));
      }
    });

    const first = model.refresh();
    const second = model.refresh();
    const third = model.refresh();
    gate.resolve();
    await Promise.all([first, second, third]);

    expect(calls).toBe(2);
    expect(model.totals?.layer_count).toBe(2);
  });

  it('refreshes when a view becomes visible and polls while it stays visible', async () => {
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

  describe('with 10,000 layers', () => {
    let layers: ILayer[];
    let server: ReturnType<typeof serveLayers>;
    let fetched: string[];
    let events: Event.IManager;
    let stream: Stream<Event.IManager, Event.Emission>;

    function emit(data: { [key: string]: unknown }): void {
      stream.emit({ version: '1', ...data } as unknown as Event.Emission);
    }

    beforeEach(async () => {
      layers = Array.from({ length: 10_000 }, (_, index) =>
        makeLayer(`ref-${String(index).padStart(5, '0')}`, {
          size_bytes: index
        })
      );
      server = serveLayers(() => layers);
      fetched = [];
      events = makeEvents();
      stream = events.stream as Stream<Event.IManager, Event.Emission>;
      model = new LayersModel({
        fetchLayers: server.fetch,
        fetchLayer: async name => {
          fetched.push(name);
          const layer = layers.find(item => item.name === name);
          if (!layer) {
            throw Object.assign(new Error(`${name} not found`), {
              response: { status: 404 }
            });
          }
          return layer;
        },
        events,
        eventDelay: 5,
        autoStart: false
      });
    });

    async function openList(): Promise<ILayerPages> {
      const pages = model.openPages();
      pages.show(0, 30);
      await waitFor(() => pages.count !== null);
      await model.refresh();
      server.requests.length = 0;
      return pages;
    }

    it('fetches the one layer an event names and replaces its row', async () => {
      const pages = await openList();
      expect(pages.count).toBe(10_000);
      const changes: string[] = [];
      model.layerChanged.connect((_, change) =>
        changes.push(`${change.name}:${change.layer?.status}`)
      );

      layers[3] = { ...layers[3], status: 'POPULATING' };
      emit({
        schema_id: 'https://events.pennlayer.dev/layer',
        action: 'status',
        name: 'ref-00003',
        status: 'POPULATING'
      });
      await waitFor(() => pages.row(3)?.status === 'POPULATING');
      await settle();

      expect(fetched).toEqual(['ref-00003']);
      expect(changes).toEqual(['ref-00003:POPULATING']);
      // Only the totals, with a one-row page: nothing moved, nothing else asked.
      expect(server.requests).toEqual([{ limit: 1 }]);
      expect(pages.row(4)?.status).toBe('EMPTY');
    });

    it("gathers a job's progress into one fetch of its layer, without the totals", async () => {
      const pages = await openList();
      for (const phase of ['resolve', 'download', 'install', 'digest']) {
        emit({
          schema_id: 'https://events.pennlayer.dev/job',
          id: 'a'.repeat(32),
          layer: 'ref-09000',
          kind: 'populate',
          state: 'running',
          phase
        });
      }
      await waitFor(() => fetched.length === 1);
      await settle();
      expect(fetched).toEqual(['ref-09000']);
      expect(server.requests).toEqual([]);
      expect(pages.count).toBe(10_000);
    });

    it('drops the row of a deleted layer and asks again for the rows on screen', async () => {
      const pages = await openList();
      layers.splice(2, 1);
      emit({
        schema_id: 'https://events.pennlayer.dev/layer',
        action: 'deleted',
        name: 'ref-00002'
      });
      await waitFor(() => model.totals?.layer_count === 9_999);
      await settle();
      expect(pages.row(2)?.name).toBe('ref-00003');
      expect(pages.count).toBe(9_999);
      expect(fetched).toEqual([]);
      // The totals, then the page on screen: never the whole list.
      expect(server.requests).toEqual([
        { limit: 1 },
        { limit: 50, offset: 0, q: undefined }
      ]);
    });

    it('shows a layer created elsewhere by asking again for the rows on screen', async () => {
      const pages = await openList();
      layers.unshift(makeLayer('aaa-new'));
      emit({
        schema_id: 'https://events.pennlayer.dev/layer',
        action: 'status',
        name: 'aaa-new',
        status: 'EMPTY'
      });
      await waitFor(() => pages.row(0)?.name === 'aaa-new');
      expect(pages.count).toBe(10_001);
      expect(fetched).toEqual(['aaa-new']);
      expect(
        server.requests.every(request => request.limit !== undefined)
      ).toBe(true);
    });

    it('ignores events of other schemas', async () => {
      await openList();
      emit({
        schema_id:
          'https://events.jupyter.org/jupyter_server/kernel_actions/v1',
        name: 'ref-00001'
      });
      await new Promise(resolve => setTimeout(resolve, 30));
      expect(fetched).toEqual([]);
      expect(server.requests).toEqual([]);
    });
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
