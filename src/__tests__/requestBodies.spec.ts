import {
  buildBody,
  environmentCreateBody,
  IPopulateForm,
  populateBody,
  populateFormFromRecipe,
  populateProblem,
  referenceCreateBody
} from '../requestBodies';
import {
  environmentOfKernel,
  initialSelection,
  mountableReferences,
  runnableEnvironments,
  newNotebookContent,
  selectionLabel,
  selectionMetadata
} from '../notebookLayers';
import { IEnvironment } from '../tokens';
import { makeLayer } from './fixtures';

const emptyLoader: IPopulateForm = populateFormFromRecipe(null);

describe('environmentCreateBody', () => {
  it('starts a build when requirements are given', () => {
    expect(
      environmentCreateBody({
        name: ' sci ',
        description: '',
        requirements: 'six\n',
        python: '3.11'
      })
    ).toEqual({
      name: 'sci',
      kind: 'environment',
      language: 'python',
      requirements: 'six\n',
      python: '3.11'
    });
  });

  it('creates an empty environment without requirements', () => {
    expect(
      environmentCreateBody({
        name: 'sci',
        description: 'My stack',
        requirements: '  \n',
        python: '3.11'
      })
    ).toEqual({
      name: 'sci',
      kind: 'environment',
      language: 'python',
      description: 'My stack'
    });
  });
});

describe('referenceCreateBody', () => {
  it('sends the description only when given', () => {
    expect(referenceCreateBody({ name: 'hg38', description: '' })).toEqual({
      name: 'hg38',
      kind: 'reference'
    });
    expect(
      referenceCreateBody({ name: 'hg38', description: ' GRCh38 ' })
    ).toEqual({ name: 'hg38', kind: 'reference', description: 'GRCh38' });
  });
});

describe('buildBody', () => {
  it('sends python and refresh only when set', () => {
    expect(
      buildBody({ requirements: 'six', python: '', refresh: false })
    ).toEqual({ requirements: 'six' });
    expect(
      buildBody({ requirements: 'six', python: '3.12', refresh: true })
    ).toEqual({ requirements: 'six', python: '3.12', refresh: true });
  });
});

describe('populateBody', () => {
  it('sends a plain copy as the source alone', () => {
    expect(populateBody({ ...emptyLoader, source: ' /data/hg38 ' })).toEqual({
      source: '/data/hg38'
    });
  });

  it('sends only the fields of the chosen processor', () => {
    expect(
      populateBody({
        ...emptyLoader,
        source: 'https://example.org/x.tar.gz',
        processor: 'unpack',
        format: 'tar.gz',
        command: 'ignored',
        sha256: 'ab',
        mode: 'add'
      })
    ).toEqual({
      source: 'https://example.org/x.tar.gz',
      processor: { type: 'unpack', format: 'tar.gz' },
      mode: 'add',
      sha256: 'ab'
    });
    expect(
      populateBody({
        ...emptyLoader,
        source: '/in',
        processor: 'docker',
        image: 'tools:1',
        command: 'cp -r /input/. /output',
        network: true,
        memory: '2g',
        cpus: '2',
        sha256: 'not for local sources'
      })
    ).toEqual({
      source: '/in',
      processor: {
        type: 'docker',
        image: 'tools:1',
        command: 'cp -r /input/. /output',
        network: true,
        memory: '2g',
        cpus: 2
      }
    });
  });

  it('leaves the unpack format out when automatic', () => {
    expect(
      populateBody({ ...emptyLoader, source: '/a.zip', processor: 'unpack' })
    ).toEqual({ source: '/a.zip', processor: { type: 'unpack' } });
  });
});

describe('populateProblem', () => {
  it('needs a source, a command and an image where they apply', () => {
    expect(populateProblem(emptyLoader)).toMatch(/source/);
    expect(
      populateProblem({ ...emptyLoader, source: '/x', processor: 'command' })
    ).toMatch(/command/);
    expect(
      populateProblem({
        ...emptyLoader,
        source: '/x',
        processor: 'docker',
        command: 'true'
      })
    ).toMatch(/image/);
    expect(
      populateProblem({ ...emptyLoader, source: '/x', cpus: 'many' })
    ).toMatch(/CPUs/);
    expect(populateProblem({ ...emptyLoader, source: '/x' })).toBeNull();
  });
});

describe('populateFormFromRecipe', () => {
  it('fills the form from a stored recipe', () => {
    expect(
      populateFormFromRecipe({
        source: '/x',
        processor: { type: 'docker', image: 'i', command: 'c', cpus: 2 },
        mode: 'add'
      })
    ).toMatchObject({
      source: '/x',
      processor: 'docker',
      image: 'i',
      command: 'c',
      cpus: '2',
      mode: 'add'
    });
  });
});

const layer = makeLayer;

function environment(name: string, version: number | null): IEnvironment {
  return {
    name,
    language: 'python',
    version,
    kernelspec: `pennlayer-${name}`,
    display_name: `${name} (Python 3.11)`,
    status: version === null ? 'BUILDING' : 'READY'
  };
}

describe('the layer picker', () => {
  it('offers reference layers with a usable version', () => {
    expect(
      mountableReferences([
        layer({ name: 'z' }),
        layer({ name: 'empty', status: 'EMPTY', version: null }),
        layer({ name: 'env', kind: 'environment' }),
        layer({ name: 'a', status: 'POPULATING', version: 2 })
      ]).map(l => l.name)
    ).toEqual(['a', 'z']);
  });

  it('offers built environments', () => {
    expect(
      runnableEnvironments([environment('b', 1), environment('a', null)]).map(
        e => e.name
      )
    ).toEqual(['b']);
  });

  it('starts from the given selection where it still exists', () => {
    const envs = [environment('a', 1), environment('b', 1)];
    const refs = [layer({ name: 'hg38' })];
    expect(
      initialSelection(envs, refs, {
        environment: 'b',
        layers: ['hg38', 'gone']
      })
    ).toEqual({ environment: 'b', layers: ['hg38'] });
    expect(initialSelection(envs, refs, { environment: 'gone' })).toEqual({
      environment: 'a',
      layers: []
    });
  });
});

describe('notebook metadata helpers', () => {
  it('keeps recorded versions only of layers still selected', () => {
    expect(
      selectionMetadata(
        {
          environment: 'a',
          layers: ['x', 'y'],
          mounted: { a: 1, x: 2, y: 3 },
          future: true
        },
        { environment: 'a', layers: ['y'] }
      )
    ).toEqual({
      environment: 'a',
      layers: ['y'],
      mounted: { a: 1, y: 3 },
      future: true
    });
    expect(selectionMetadata(null, { environment: 'b', layers: [] })).toEqual({
      environment: 'b',
      layers: []
    });
  });

  it('reads the environment of a kernel name', () => {
    expect(environmentOfKernel('pennlayer-sci')).toBe('sci');
    expect(environmentOfKernel('python3')).toBeNull();
    expect(environmentOfKernel('pennlayer-')).toBeNull();
    expect(environmentOfKernel(undefined)).toBeNull();
  });

  it('labels the selection', () => {
    expect(selectionLabel('sci', [])).toBe('sci');
    expect(selectionLabel('sci', ['hg38', 'resnet'])).toBe(
      'sci + hg38, resnet'
    );
  });

  it('writes a new notebook with the kernel and the layers', () => {
    const content = newNotebookContent(
      { environment: 'sci', layers: ['hg38'] },
      'sci (Python 3.11)',
      'cell-1'
    ) as any;
    expect(content.metadata.kernelspec.name).toBe('pennlayer-sci');
    expect(content.metadata.pennlayer).toEqual({
      environment: 'sci',
      layers: ['hg38']
    });
    expect(content.cells).toHaveLength(1);
  });
});
