import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { IServerError } from './tokens';

/**
 * The URL prefix of every pennlayer REST route.
 */
export const API_NAMESPACE = 'pennlayer';

/**
 * An error answer of the pennlayer REST API.
 *
 * `message` is the server's own explanation, ready to show to a person;
 * `code` is its machine-readable error code (e.g. `not_found`, `in_use`).
 */
export class PennLayerRequestError extends ServerConnection.ResponseError {
  constructor(response: Response, code: string, message: string) {
    super(response, message);
    this.code = code;
  }

  readonly code: string;
}

function isServerError(value: unknown): value is IServerError {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as IServerError).message === 'string'
  );
}

/**
 * Call a pennlayer REST route and decode its JSON answer.
 *
 * @param endPoint - the route below `/pennlayer/`, e.g. `layers` or `layers/foo`
 * @param init - the fetch options (method, body, ...)
 * @param settings - the server connection settings; the default ones if omitted
 * @returns the decoded JSON body, or `undefined` for an empty answer (204)
 * @throws {PennLayerRequestError} when the server answers with an error status
 * @throws {ServerConnection.NetworkError} when the server cannot be reached
 */
export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, API_NAMESPACE, endPoint);
  const response = await ServerConnection.makeRequest(url, init, settings);

  const text = await response.text();
  let data: unknown = undefined;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      // A proxy or a crashed handler may answer with HTML; keep it as text.
      data = text;
    }
  }

  if (!response.ok) {
    if (isServerError(data)) {
      throw new PennLayerRequestError(
        response,
        typeof data.error === 'string' ? data.error : 'error',
        data.message
      );
    }
    if (response.status === 404) {
      // Every pennlayer route answers JSON; a bare 404 means no route is there at all.
      throw new PennLayerRequestError(
        response,
        'not_running',
        'pennlayer is not running on this server. The server log says why: an ' +
          'invalid PennLayerApp setting stops it until the setting is fixed and ' +
          'the server restarted.'
      );
    }
    throw new PennLayerRequestError(
      response,
      'error',
      `${response.status} ${response.statusText}`.trim()
    );
  }
  return data as T;
}
