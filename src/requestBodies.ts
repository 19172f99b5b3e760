import { ILoaderRecipe, IProcessor, ProcessorType } from './tokens';

/**
 * What the "New environment" form holds.
 */
export interface IEnvironmentForm {
  name: string;
  description: string;
  requirements: string;
  /** A Python version such as `3.11`; empty for the node's default. */
  python: string;
}

/**
 * What the "New reference layer" form holds.
 */
export interface IReferenceForm {
  name: string;
  description: string;
}

/**
 * What the build form holds.
 */
export interface IBuildForm {
  requirements: string;
  python: string;
  /** Ask the index for the newest matching versions. */
  refresh: boolean;
}

/**
 * What the loader form holds; every field is text as typed.
 */
export interface IPopulateForm {
  source: string;
  processor: ProcessorType;
  format: string;
  command: string;
  image: string;
  network: boolean;
  memory: string;
  cpus: string;
  mode: 'replace' | 'add';
  sha256: string;
}

/**
 * The body of `POST /pennlayer/layers` for a new environment: requirements
 * (which start the build at once) and the Python version only when given.
 */
export function environmentCreateBody(form: IEnvironmentForm): {
  [key: string]: unknown;
} {
  const body: { [key: string]: unknown } = {
    name: form.name.trim(),
    kind: 'environment',
    language: 'python'
  };
  if (form.description.trim()) {
    body.description = form.description.trim();
  }
  if (form.requirements.trim()) {
    body.requirements = form.requirements;
    if (form.python.trim()) {
      body.python = form.python.trim();
    }
  }
  return body;
}

/**
 * The body of `POST /pennlayer/layers` for a new reference layer.
 */
export function referenceCreateBody(form: IReferenceForm): {
  [key: string]: unknown;
} {
  const body: { [key: string]: unknown } = {
    name: form.name.trim(),
    kind: 'reference'
  };
  if (form.description.trim()) {
    body.description = form.description.trim();
  }
  return body;
}

/**
 * The body of `POST /pennlayer/layers/{name}/build`.
 */
export function buildBody(form: IBuildForm): { [key: string]: unknown } {
  const body: { [key: string]: unknown } = {
    requirements: form.requirements
  };
  if (form.python.trim()) {
    body.python = form.python.trim();
  }
  if (form.refresh) {
    body.refresh = true;
  }
  return body;
}

/**
 * The body of `POST /pennlayer/layers/{name}/populate`: only the fields the
 * chosen processor uses, and no default spelled out.
 */
export function populateBody(form: IPopulateForm): { [key: string]: unknown } {
  const body: { [key: string]: unknown } = { source: form.source.trim() };
  const processor: IProcessor = { type: form.processor };
  if (form.processor === 'unpack' && form.format && form.format !== 'auto') {
    processor.format = form.format;
  }
  if (form.processor === 'command' || form.processor === 'docker') {
    processor.command = form.command;
  }
  if (form.processor === 'docker') {
    processor.image = form.image.trim();
    if (form.network) {
      processor.network = true;
    }
    if (form.memory.trim()) {
      processor.memory = form.memory.trim();
    }
    const cpus = Number(form.cpus);
    if (form.cpus.trim() && Number.isFinite(cpus) && cpus > 0) {
      processor.cpus = cpus;
    }
  }
  if (form.processor !== 'copy' || Object.keys(processor).length > 1) {
    body.processor = processor;
  }
  if (form.mode === 'add') {
    body.mode = 'add';
  }
  const sha256 = form.sha256.trim();
  if (sha256 && /^https?:\/\//i.test(body.source as string)) {
    body.sha256 = sha256;
  }
  return body;
}

/**
 * What is missing from a loader form before it can be sent, or `null`.
 */
export function populateProblem(form: IPopulateForm): string | null {
  if (!form.source.trim()) {
    return 'Give a source: a local path, an http(s) URL or s3://bucket/prefix.';
  }
  if (
    (form.processor === 'command' || form.processor === 'docker') &&
    !form.command.trim()
  ) {
    return `The ${form.processor} processor needs a command.`;
  }
  if (form.processor === 'docker' && !form.image.trim()) {
    return 'The docker processor needs an image.';
  }
  if (form.cpus.trim() && !(Number(form.cpus) > 0)) {
    return 'CPUs must be a number above 0.';
  }
  return null;
}

/**
 * A loader form filled from a layer's stored recipe, or an empty one.
 */
export function populateFormFromRecipe(
  recipe: ILoaderRecipe | null | undefined
): IPopulateForm {
  const processor = recipe?.processor ?? null;
  return {
    source: recipe?.source ?? '',
    processor: processor?.type ?? 'copy',
    format: processor?.format ?? 'auto',
    command: processor?.command ?? '',
    image: processor?.image ?? '',
    network: processor?.network ?? false,
    memory: processor?.memory ?? '',
    cpus:
      processor?.cpus === undefined || processor?.cpus === null
        ? ''
        : String(processor.cpus),
    mode: recipe?.mode === 'add' ? 'add' : 'replace',
    sha256: recipe?.sha256 ?? ''
  };
}
