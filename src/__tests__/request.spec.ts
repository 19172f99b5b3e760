import { ServerConnection } from '@jupyterlab/services';

import { PennLayerRequestError, requestAPI } from '../request';

/**
 * Connection settings whose fetch answers every request with one response.
 */
function answering(status: number, body: string, type: string) {
  const fetch = async (): Promise<Response> =>
    new Response(body, { status, headers: { 'Content-Type': type } });
  return ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/',
    fetch: fetch as unknown as typeof window.fetch
  });
}

async function failure(settings: ServerConnection.ISettings) {
  try {
    await requestAPI('layers', {}, settings);
  } catch (reason) {
    return reason as PennLayerRequestError;
  }
  throw new Error('the request did not fail');
}

describe('requestAPI', () => {
  it('decodes a JSON answer', async () => {
    const settings = answering(200, '{"layers": []}', 'application/json');
    expect(await requestAPI('layers', {}, settings)).toEqual({ layers: [] });
  });

  it("keeps the server's own error code and message", async () => {
    const body = '{"error": "not_found", "message": "No layer named \'x\'."}';
    const error = await failure(answering(404, body, 'application/json'));
    expect(error).toBeInstanceOf(PennLayerRequestError);
    expect(error.code).toBe('not_found');
    expect(error.message).toBe("No layer named 'x'.");
  });

  it('says that pennlayer is not running when no route answers', async () => {
    const page = '<html><body>404 : Not Found</body></html>';
    const error = await failure(answering(404, page, 'text/html'));
    expect(error.code).toBe('not_running');
    expect(error.message).toMatch(/^pennlayer is not running on this server/);
    expect(error.message).toContain('invalid PennLayerApp setting');
  });

  it('names the status of any other answer that is not pennlayer JSON', async () => {
    const error = await failure(
      answering(502, '<html>Bad Gateway</html>', 'text/html')
    );
    expect(error.code).toBe('error');
    expect(error.message).toMatch(/^502/);
  });
});
