import { ServerConnection } from '@jupyterlab/services';

import { requestAPI } from './request';
import {
  ILayer,
  ILayerFilters,
  ILayerList,
  INodeInfo,
  ISession
} from './tokens';

/**
 * List the node's layers and their totals, optionally filtered.
 */
export function listLayers(
  filters: ILayerFilters = {},
  settings?: ServerConnection.ISettings
): Promise<ILayerList> {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) {
    if (typeof value === 'string' && value !== '') {
      query.set(key, value);
    }
  }
  const search = query.toString();
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
): Promise<ILayer> {
  return requestAPI<ILayer>(
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
