import { ServerConnection } from '@jupyterlab/services';

import { requestAPI } from './request';
import {
  IEnvironment,
  IJob,
  IJobLog,
  ILayer,
  ILayerDetail,
  ILayerFilters,
  ILayerList,
  INodeInfo,
  ISession
} from './tokens';

type Body = { [key: string]: unknown };

function layerPath(name: string, action = ''): string {
  const base = `layers/${encodeURIComponent(name)}`;
  return action ? `${base}/${action}` : base;
}

function json(method: string, body?: Body): RequestInit {
  return body === undefined
    ? { method }
    : { method, body: JSON.stringify(body) };
}

/**
 * The query string of a list request: every filter that is set, in a fixed
 * order (so equal requests have equal URLs).
 */
export function listQuery(filters: ILayerFilters): string {
  const query = new URLSearchParams();
  for (const key of [
    'q',
    'kind',
    'status',
    'language',
    'sort',
    'order',
    'limit',
    'offset'
  ] as const) {
    const value = filters[key];
    if (
      (typeof value === 'string' && value !== '') ||
      typeof value === 'number'
    ) {
      query.set(key, String(value));
    }
  }
  return query.toString();
}

/**
 * List the node's layers and their totals: filtered, sorted and paged by the
 * server (`limit` and `offset`; every match when `limit` is absent).
 */
export function listLayers(
  filters: ILayerFilters = {},
  settings?: ServerConnection.ISettings
): Promise<ILayerList> {
  const search = listQuery(filters);
  return requestAPI<ILayerList>(
    search ? `layers?${search}` : 'layers',
    { method: 'GET' },
    settings
  );
}

/**
 * Get one layer with all its details.
 */
export function getLayer(
  name: string,
  settings?: ServerConnection.ISettings
): Promise<ILayerDetail> {
  return requestAPI<ILayerDetail>(
    `layers/${encodeURIComponent(name)}`,
    { method: 'GET' },
    settings
  );
}

/**
 * Describe the compute node: store, sandbox backend, disk, prices, versions.
 */
export function getNode(
  settings?: ServerConnection.ISettings
): Promise<INodeInfo> {
  return requestAPI<INodeInfo>('node', { method: 'GET' }, settings);
}

/**
 * Get the latest session of a kernel: the layers it mounted and its notices.
 *
 * @throws {PennLayerRequestError} with code `not_found` while the server has
 * no session for the kernel (yet).
 */
export function getKernelSession(
  kernelId: string,
  settings?: ServerConnection.ISettings
): Promise<ISession> {
  return requestAPI<ISession>(
    `sessions/${encodeURIComponent(kernelId)}`,
    { method: 'GET' },
    settings
  );
}

/**
 * Create a layer: the layer (201), or the build job when an environment is
 * given requirements (202).
 */
export function createLayer(
  body: Body,
  settings?: ServerConnection.ISettings
): Promise<ILayer | IJob> {
  return requestAPI<ILayer | IJob>('layers', json('POST', body), settings);
}

/**
 * Start a build of an environment layer.
 */
export function buildLayer(
  name: string,
  body: Body,
  settings?: ServerConnection.ISettings
): Promise<IJob> {
  return requestAPI<IJob>(
    layerPath(name, 'build'),
    json('POST', body),
    settings
  );
}

/**
 * Start a loader into a reference layer; `{}` re-runs the stored recipe.
 */
export function populateLayer(
  name: string,
  body: Body,
  settings?: ServerConnection.ISettings
): Promise<IJob> {
  return requestAPI<IJob>(
    layerPath(name, 'populate'),
    json('POST', body),
    settings
  );
}

/**
 * Archive a layer to the cold store: it becomes IA once the archive is checked.
 *
 * @throws {PennLayerRequestError} with status 409 while it is in use, a job
 * runs, it is pinned or already archived
 */
export function archiveLayer(
  name: string,
  settings?: ServerConnection.ISettings
): Promise<IJob> {
  return requestAPI<IJob>(layerPath(name, 'archive'), json('POST'), settings);
}

/**
 * Restore an archived (IA) layer: the same version, its digest checked.
 */
export function restoreLayer(
  name: string,
  settings?: ServerConnection.ISettings
): Promise<IJob> {
  return requestAPI<IJob>(layerPath(name, 'restore'), json('POST'), settings);
}

/**
 * Change a layer's description.
 */
export function updateLayer(
  name: string,
  body: { description: string },
  settings?: ServerConnection.ISettings
): Promise<ILayer> {
  return requestAPI<ILayer>(layerPath(name), json('PATCH', body), settings);
}

/**
 * Delete a layer for good.
 *
 * @throws {PennLayerRequestError} with status 409 while it is in use or a
 * job runs
 */
export async function deleteLayer(
  name: string,
  settings?: ServerConnection.ISettings
): Promise<void> {
  await requestAPI<void>(layerPath(name), json('DELETE'), settings);
}

/**
 * Recent jobs, newest first, optionally of one layer.
 */
export async function listJobs(
  filters: { layer?: string; state?: string } = {},
  settings?: ServerConnection.ISettings
): Promise<IJob[]> {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) {
    if (value) {
      query.set(key, value);
    }
  }
  const search = query.toString();
  const answer = await requestAPI<{ jobs: IJob[] }>(
    search ? `jobs?${search}` : 'jobs',
    json('GET'),
    settings
  );
  return answer.jobs;
}

/**
 * One job, as it is now.
 */
export function getJob(
  id: string,
  settings?: ServerConnection.ISettings
): Promise<IJob> {
  return requestAPI<IJob>(
    `jobs/${encodeURIComponent(id)}`,
    json('GET'),
    settings
  );
}

/**
 * Cancel a queued or running job.
 */
export function cancelJob(
  id: string,
  settings?: ServerConnection.ISettings
): Promise<IJob> {
  return requestAPI<IJob>(
    `jobs/${encodeURIComponent(id)}`,
    json('DELETE'),
    settings
  );
}

/**
 * The log of a job from byte `offset` on.
 */
export function getJobLog(
  id: string,
  offset: number,
  settings?: ServerConnection.ISettings
): Promise<IJobLog> {
  return requestAPI<IJobLog>(
    `jobs/${encodeURIComponent(id)}/log?offset=${offset}`,
    json('GET'),
    settings
  );
}

/**
 * The environments that can run a kernel, optionally of one language.
 */
export async function listEnvironments(
  language?: string,
  settings?: ServerConnection.ISettings
): Promise<IEnvironment[]> {
  const answer = await requestAPI<{ environments: IEnvironment[] }>(
    language
      ? `environments?language=${encodeURIComponent(language)}`
      : 'environments',
    json('GET'),
    settings
  );
  return answer.environments;
}

/**
 * The sessions of running kernels, with what they mounted.
 */
export async function listActiveSessions(
  settings?: ServerConnection.ISettings
): Promise<ISession[]> {
  const answer = await requestAPI<{ sessions: ISession[] }>(
    'sessions?active=true',
    json('GET'),
    settings
  );
  return answer.sessions;
}
