import { nullTranslator } from '@jupyterlab/translation';
import * as React from 'react';
import { act } from 'react';
import { createRoot, Root } from 'react-dom/client';

import { LAYER_COLUMNS } from '../columns';
import { EnvironmentFormFields } from '../components/Forms';
import { LayersOverview } from '../components/LayersOverview';
import { IEnvironmentForm } from '../requestBodies';
import { ILayer } from '../tokens';
import { makeLayer } from './fixtures';

(globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;

const trans = nullTranslator.load('pennlayer');

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

  it('sorts by a clicked header, and back', () => {
    act(() =>
      root.render(
        <LayersOverview
          layers={[
            layer('b', { size_bytes: 1 }),
            layer('a', { size_bytes: 5 }),
            layer('c', { size_bytes: 3 })
          ]}
          totals={null}
          error={null}
          loaded={true}
          columns={[...LAYER_COLUMNS]}
          trans={trans}
        />
      )
    );
    expect(rowNames()).toEqual(['a', 'b', 'c']);
    const sizeHeader = Array.from(container.querySelectorAll('thead th')).find(
      th => th.textContent === 'Size'
    )!;
    act(() => sizeHeader.querySelector('button')!.click());
    expect(rowNames()).toEqual(['b', 'c', 'a']);
    expect(sizeHeader.getAttribute('aria-sort')).toBe('ascending');
    act(() => sizeHeader.querySelector('button')!.click());
    expect(rowNames()).toEqual(['a', 'c', 'b']);
    expect(sizeHeader.getAttribute('aria-sort')).toBe('descending');
  });

  it('filters rows and expands details', () => {
    act(() =>
      root.render(
        <LayersOverview
          layers={[layer('hg38'), layer('stack', { kind: 'environment' })]}
          totals={null}
          error={null}
          loaded={true}
          columns={['name', 'kind']}
          trans={trans}
          renderDetails={l => (
            <p className="details">{`details of ${l.name}`}</p>
          )}
        />
      )
    );
    const filter = container.querySelector(
      'input[type="search"]'
    ) as HTMLInputElement;
    setInput(filter, 'env');
    expect(rowNames()).toEqual(['stack']);
    setInput(filter, '');
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
