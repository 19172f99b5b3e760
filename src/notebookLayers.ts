import { KERNEL_NAME_PREFIX } from './provenance';
import { IEnvironment, ILayer } from './tokens';

/**
 * What a notebook runs in and mounts, as the layer picker holds it.
 */
export interface ILayerSelection {
  environment: string;
  layers: string[];
}

/**
 * The `metadata.pennlayer` of a notebook after a new selection: the chosen
 * environment and layers; recorded versions are kept only for layers still
 * mounted, and unknown keys stay as they are.
 */
export function selectionMetadata(
  recorded: unknown,
  selection: { environment: string; layers: readonly string[] }
): { [key: string]: unknown } {
  const current =
    typeof recorded === 'object' &&
    recorded !== null &&
    !Array.isArray(recorded)
      ? (recorded as { [key: string]: unknown })
      : {};
  const next: { [key: string]: unknown } = {
    ...current,
    environment: selection.environment,
    layers: [...selection.layers]
  };
  const mounted = current.mounted;
  if (typeof mounted === 'object' && mounted !== null) {
    const keep = new Set([selection.environment, ...selection.layers]);
    const pinned: { [key: string]: unknown } = {};
    for (const [name, version] of Object.entries(mounted)) {
      if (keep.has(name)) {
        pinned[name] = version;
      }
    }
    next.mounted = pinned;
  }
  return next;
}

/**
 * The kernelspec name of an environment layer.
 */
export function kernelNameOf(environment: string): string {
  return `${KERNEL_NAME_PREFIX}${environment}`;
}

/**
 * The environment of a pennlayer kernelspec, `null` for other kernels.
 */
export function environmentOfKernel(
  name: string | undefined | null
): string | null {
  return name &&
    name.startsWith(KERNEL_NAME_PREFIX) &&
    name.length > KERNEL_NAME_PREFIX.length
    ? name.slice(KERNEL_NAME_PREFIX.length)
    : null;
}

/**
 * The short text of the notebook toolbar item, e.g. `sci-stack + hg38, resnet`.
 */
export function selectionLabel(
  environment: string | null,
  layers: readonly string[]
): string {
  const env = environment ?? '?';
  return layers.length > 0 ? `${env} + ${layers.join(', ')}` : env;
}

/**
 * A new notebook's JSON: one empty code cell, the environment's kernel and
 * the chosen layers in `metadata.pennlayer`.
 */
export function newNotebookContent(
  selection: { environment: string; layers: readonly string[] },
  displayName: string,
  cellId: string
): { [key: string]: unknown } {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: {
        name: kernelNameOf(selection.environment),
        display_name: displayName,
        language: 'python'
      },
      language_info: { name: 'python' },
      pennlayer: {
        environment: selection.environment,
        layers: [...selection.layers]
      }
    },
    cells: [
      {
        id: cellId,
        cell_type: 'code',
        execution_count: null,
        metadata: {},
        outputs: [],
        source: ''
      }
    ]
  };
}

/**
 * The reference layers a notebook can mount: those with a usable version.
 */
export function mountableReferences(layers: readonly ILayer[]): ILayer[] {
  return layers
    .filter(
      layer =>
        layer.kind === 'reference' &&
        (layer.status === 'READY' || layer.version !== null)
    )
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The environments a notebook can run in: those with a built version.
 */
export function runnableEnvironments(
  environments: readonly IEnvironment[]
): IEnvironment[] {
  return environments
    .filter(environment => environment.version !== null)
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The selection to start the picker with: the given one where it still
 * exists, else the first environment and no reference layer.
 */
export function initialSelection(
  environments: readonly IEnvironment[],
  references: readonly ILayer[],
  given?: Partial<ILayerSelection> | null
): ILayerSelection {
  const names = new Set(references.map(layer => layer.name));
  const environment =
    environments.find(env => env.name === given?.environment)?.name ??
    environments[0]?.name ??
    '';
  return {
    environment,
    layers: (given?.layers ?? []).filter(name => names.has(name))
  };
}
