import { nullTranslator } from '@jupyterlab/translation';
import * as React from 'react';
import { act } from 'react';
import { createRoot, Root } from 'react-dom/client';

import { LAYER_COLUMNS } from '../columns';
import { EnvironmentFormFields } from '../components/Forms';
import { LayersOverview } from '../components/LayersOverview';
import { IEnvironmentForm } from '../requestBodies';
import { LayerPages } from '../paging';
import { ILayer } from '../tokens';
import { makeLayer, serveLayers, settle, totalsOf } from './fixtures';

(globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;

const trans = nullTranslator.load('pennlayer');

function last<T>(items: readonly T[]): T | undefined {
  return items[items.length - 1];
}

function layer(name: string, overrides: Partial<ILayer> = {}): ILayer {
  return makeLayer({ name, ...overrides });
}

describe('interactions', () => {
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

  function rowNames(): string[] {
    return Array.from(container.querySelectorAll('tbody th')).map(
      th => th.textContent ?? ''
    );
  }

  function setInput(input: HTMLInputElement, value: string): void {
    const setter = Object.getOwnPropertyDescriptor(
      HTMLInputElement.prototype,
      'value'
    )!.set!;
    act(() => {
      setter.call(input, value);
      input.dispatchEvent(new Event('input', { bubbles: true }));
    });
  }

  async function setSearch(input: HTMLInputElement, value: string) {
    setInput(input, value);
    await act(async () => {
      await settle();
    });
  }

  it('asks the server for the order of a clicked header, and back', async () => {
    const server = serveLayers(() => [
      layer('b', { size_bytes: 1 }),
      layer('a', { size_bytes: 5 }),
      layer('c', { size_bytes: 3 })
    ]);
    const pages = new LayerPages({ fetch: server.fetch });
    await act(async () => {
      root.render(
        <LayersOverview
          pages={pages}
          totals={null}
          error={null}
          loaded={true}
          columns={[...LAYER_COLUMNS]}
          trans={trans}
        />
      );
      await settle();
    });
    expect(rowNames()).toEqual(['a', 'b', 'c']);
    const sizeHeader = Array.from(container.querySelectorAll('thead th')).find(
      th => th.textContent === 'Size'
    )!;
    await act(async () => {
      sizeHeader.querySelector('button')!.click();
      await settle();
    });
    expect(rowNames()).toEqual(['b', 'c', 'a']);
    expect(sizeHeader.getAttribute('aria-sort')).toBe('ascending');
    expect(last(server.requests)).toMatchObject({
      sort: 'size_bytes',
      order: 'asc',
      offset: 0,
      limit: 50
    });
    await act(async () => {
      sizeHeader.querySelector('button')!.click();
      await settle();
    });
    expect(rowNames()).toEqual(['a', 'c', 'b']);
    expect(sizeHeader.getAttribute('aria-sort')).toBe('descending');
    expect(last(server.requests)).toMatchObject({
      sort: 'size_bytes',
      order: 'desc'
    });
  });

  it('searches on the server once typing pauses, and expands details', async () => {
    const all = [
      layer('hg38', { description: 'Human genome' }),
      layer('stack', { kind: 'environment' })
    ];
    const server = serveLayers(() => all);
    const pages = new LayerPages({ fetch: server.fetch });
    await act(async () => {
      root.render(
        <LayersOverview
          pages={pages}
          totals={totalsOf(all)}
          error={null}
          loaded={true}
          columns={['name', 'kind']}
          trans={trans}
          searchDelay={0}
          renderDetails={l => (
            <p className="details">{`details of ${l.name}`}</p>
          )}
        />
      );
      await settle();
    });
    const filter = container.querySelector(
      'input[type="search"]'
    ) as HTMLInputElement;
    await setSearch(filter, 'kind:env');
    expect(rowNames()).toEqual(['stack']);
    expect(last(server.requests)).toMatchObject({ kind: 'environment' });
    expect(last(server.requests)?.q).toBeUndefined();
    await setSearch(filter, 'GENOME');
    expect(rowNames()).toEqual(['hg38']);
    expect(last(server.requests)).toMatchObject({ q: 'GENOME' });
    expect(container.textContent).toContain('1 of 2 layers match');
    await setSearch(filter, 'nothing-like-it');
    expect(rowNames()).toEqual([]);
    expect(container.textContent).toContain(
      'No layer matches “nothing-like-it”.'
    );
    await setSearch(filter, '');
    const toggle = container.querySelector(
      'tbody th button'
    ) as HTMLButtonElement;
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    act(() => toggle.click());
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    expect(container.querySelector('.details')?.textContent).toBe(
      'details of hg38'
    );
    // The same button stays in the DOM, so keyboard focus is not lost.
    expect(container.querySelector('tbody th button')).toBe(toggle);
  });

  it('waits for a pause in typing before it asks the server', async () => {
    jest.useFakeTimers();
    try {
      const server = serveLayers(() => [layer('hg38'), layer('hg19')]);
      const pages = new LayerPages({ fetch: server.fetch });
      await act(async () => {
        root.render(
          <LayersOverview
            pages={pages}
            totals={null}
            error={null}
            loaded={true}
            columns={['name']}
            trans={trans}
          />
        );
        await jest.advanceTimersByTimeAsync(10);
      });
      const before = server.requests.length;
      const filter = container.querySelector(
        'input[type="search"]'
      ) as HTMLInputElement;
      for (const text of ['h', 'hg', 'hg1', 'hg19']) {
        setInput(filter, text);
        await act(async () => {
          await jest.advanceTimersByTimeAsync(100);
        });
      }
      expect(server.requests.length).toBe(before);
      await act(async () => {
        await jest.advanceTimersByTimeAsync(300);
      });
      expect(server.requests.slice(before).map(r => r.q)).toEqual(['hg19']);
      expect(rowNames()).toEqual(['hg19']);
    } finally {
      jest.useRealTimers();
    }
  });

  it('checks the name of a new environment as it is typed', () => {
    let value: IEnvironmentForm = {
      name: '',
      description: '',
      requirements: '',
      python: ''
    };
    const render = () =>
      act(() =>
        root.render(
          <EnvironmentFormFields
            value={value}
            update={change => {
              value = { ...value, ...change };
              render();
            }}
            existing={['taken']}
            trans={trans}
          />
        )
      );
    render();
    const name = container.querySelector('input') as HTMLInputElement;
    setInput(name, 'Bad');
    expect(name.getAttribute('aria-invalid')).toBe('true');
    expect(container.textContent).toContain(
      "Invalid layer name 'Bad': the layer name contains uppercase letters"
    );
    setInput(name, 'taken');
    expect(container.textContent).toContain("A layer named 'taken' exists");
    setInput(name, 'fresh-env');
    expect(name.getAttribute('aria-invalid')).toBe('false');
  });
});
