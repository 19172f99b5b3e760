import { IMountedVersion, INotebookLayers } from './tokens';

/**
 * The notebook metadata key pennlayer records its layer selection under.
 */
export const NOTEBOOK_METADATA_KEY = 'pennlayer';

/**
 * Every pennlayer environment is a kernelspec whose name starts with this.
 */
export const KERNEL_NAME_PREFIX = 'pennlayer-';

/**
 * Whether a kernel of this kernelspec runs in a pennlayer environment.
 */
export function isPennLayerKernel(kernelName: string | undefined): boolean {
  return (
    typeof kernelName === 'string' &&
    kernelName.startsWith(KERNEL_NAME_PREFIX) &&
    kernelName.length > KERNEL_NAME_PREFIX.length
  );
}

/**
 * `metadata.pennlayer` as a notebook stores it, possibly with keys of later
 * versions of pennlayer, which are kept.
 */
export type RecordedLayers = INotebookLayers & { [key: string]: unknown };

type Mounted = INotebookLayers['mounted'];

function isPlainObject(value: unknown): value is { [key: string]: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNameList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every(name => typeof name === 'string');
}

function sameList(first: readonly string[], second: readonly string[]) {
  return (
    first.length === second.length &&
    first.every((name, index) => name === second[index])
  );
}

/**
 * Whether two lists name the same layers, each once, in any order.
 */
function sameNames(first: readonly string[], second: readonly string[]) {
  const names = new Set(first);
  return (
    names.size === first.length &&
    new Set(second).size === second.length &&
    first.length === second.length &&
    second.every(name => names.has(name))
  );
}

function sameVersion(recorded: unknown, mounted: IMountedVersion): boolean {
  return (
    isPlainObject(recorded) &&
    Object.keys(recorded).length === 2 &&
    recorded.version === mounted.version &&
    recorded.digest === mounted.digest
  );
}

function sameMounted(recorded: unknown, mounted: Mounted): boolean {
  if (!isPlainObject(recorded)) {
    return false;
  }
  const names = Object.keys(mounted);
  return (
    Object.keys(recorded).length === names.length &&
    names.every(name => sameVersion(recorded[name], mounted[name]))
  );
}

function copyMounted(mounted: Mounted): Mounted {
  const copy: Mounted = {};
  for (const [name, { version, digest }] of Object.entries(mounted)) {
    copy[name] = { version, digest };
  }
  return copy;
}

/**
 * What a notebook's `metadata.pennlayer` should become once its kernel has
 * mounted `mounted`, or `null` when it already records exactly that.
 *
 * The environment and the mounted versions always come from the kernel's
 * session. The reference layers keep the notebook's order when they name the
 * same layers (the server lists them sorted), so reopening a notebook does not
 * make it dirty. Keys pennlayer does not know are kept as they are.
 *
 * @param recorded - the notebook's current `metadata.pennlayer`, any value
 * @param mounted - `notebook_metadata` of the kernel's session
 */
export function layersToRecord(
  recorded: unknown,
  mounted: INotebookLayers
): RecordedLayers | null {
  const current = isPlainObject(recorded) ? recorded : {};
  const layers =
    isNameList(current.layers) && sameNames(current.layers, mounted.layers)
      ? [...current.layers]
      : [...mounted.layers];
  if (
    current.environment === mounted.environment &&
    isNameList(current.layers) &&
    sameList(current.layers, layers) &&
    sameMounted(current.mounted, mounted.mounted) &&
    sameInstalls(current.live_installs, mounted.live_installs)
  ) {
    return null;
  }
  const next: RecordedLayers = {
    ...current,
    environment: mounted.environment,
    layers,
    mounted: copyMounted(mounted.mounted)
  };
  if (mounted.live_installs?.length) {
    next.live_installs = mounted.live_installs.map(({ name, version }) => ({
      name,
      version
    }));
  } else {
    delete next.live_installs;
  }
  return next;
}

/**
 * Whether the recorded live installs are the session's (none recorded and
 * none made count as the same, so a notebook without any stays clean).
 */
function sameInstalls(
  recorded: unknown,
  installs: INotebookLayers['live_installs']
): boolean {
  const made = installs ?? [];
  if (recorded === undefined) {
    return made.length === 0;
  }
  return (
    Array.isArray(recorded) &&
    recorded.length === made.length &&
    made.every(
      (p, i) =>
        isPlainObject(recorded[i]) &&
        recorded[i].name === p.name &&
        recorded[i].version === p.version
    )
  );
}
