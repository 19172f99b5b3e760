import { expect, IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { APIRequestContext } from '@playwright/test';

/**
 * One exact version of a layer.
 */
export interface IMountedVersion {
  version: number;
  digest: string;
}

/**
 * `metadata.pennlayer` of a notebook.
 */
export interface INotebookLayers {
  environment: string;
  layers: string[];
  mounted: { [layer: string]: IMountedVersion };
}

/**
 * A build or load job as `GET /pennlayer/jobs/{id}` returns it.
 */
interface IJob {
  id: string;
  state: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  error?: string | null;
}

/**
 * How long an environment build may take: uv fetches from the package index.
 */
export const BUILD_TIMEOUT_MS = 150 * 1000;

/**
 * The name of the kernelspec of an environment layer.
 */
/**
 * Stop every kernel of the page after a test. A kernel the server is restarting at
 * that moment makes the server's shutdown fail once (jupyter_client refuses to stop a
 * kernel whose start is pending); the second try finds it started and stops it.
 */
export async function shutdownAllKernels(
  page: IJupyterLabPageFixture
): Promise<void> {
  try {
    await page.kernel.shutdownAll();
  } catch {
    await page.waitForTimeout(2000);
    await page.kernel.shutdownAll();
  }
}

export function kernelName(environment: string): string {
  return `pennlayer-${environment}`;
}

/**
 * The sample folder loaders may read: `sources/genome` beside the layer store
 * (see jupyter_server_test_config.py).
 */
export async function sampleGenomeFolder(
  request: APIRequestContext
): Promise<string> {
  const response = await request.get('/pennlayer/node');
  expect(response.status()).toBe(200);
  const { store_root } = (await response.json()) as { store_root: string };
  return `${store_root.replace(/\/+$/, '').replace(/\/[^/]*$/, '')}/sources/genome`;
}

/**
 * Wait for job `id` to end, and expect it to have succeeded.
 */
export async function waitForJob(
  request: APIRequestContext,
  id: string,
  what = `job ${id}`
): Promise<void> {
  let job: IJob | null = null;
  await expect
    .poll(
      async () => {
        const answer = await request.get(
          `/pennlayer/jobs/${encodeURIComponent(id)}`
        );
        expect(answer.status()).toBe(200);
        job = (await answer.json()) as IJob;
        return job.state;
      },
      { message: what, timeout: BUILD_TIMEOUT_MS, intervals: [500, 1000] }
    )
    .toMatch(/^(succeeded|failed|cancelled)$/);
  expect(job!.state, job!.error ?? '').toBe('succeeded');
}

/**
 * Environment layers built and removed through the real REST API.
 */
export class EnvironmentsApi {
  constructor(readonly request: APIRequestContext) {}

  /**
   * Create environment `name` from `requirements` and wait for its build.
   */
  async create(name: string, requirements: string): Promise<void> {
    const response = await this.request.post('/pennlayer/layers', {
      data: { name, kind: 'environment', requirements }
    });
    expect(response.status(), await response.text()).toBe(202);
    await this.waitForJob(((await response.json()) as IJob).id, name);
  }

  /**
   * Build a new version of environment `name` and wait for the build.
   */
  async rebuild(name: string, requirements: string): Promise<void> {
    const response = await this.request.post(
      `/pennlayer/layers/${encodeURIComponent(name)}/build`,
      { data: { requirements } }
    );
    expect(response.status(), await response.text()).toBe(202);
    await this.waitForJob(((await response.json()) as IJob).id, name);
  }

  private async waitForJob(id: string, name: string): Promise<void> {
    await waitForJob(this.request, id, `build of ${name}`);
  }

  /**
   * The current version and digest of a layer, `null` if it does not exist.
   */
  async current(name: string): Promise<IMountedVersion | null> {
    const response = await this.request.get(
      `/pennlayer/layers/${encodeURIComponent(name)}`
    );
    if (response.status() === 404) {
      return null;
    }
    expect(response.status()).toBe(200);
    const layer = (await response.json()) as {
      version: number | null;
      digest: string | null;
    };
    return layer.version === null || layer.digest === null
      ? null
      : { version: layer.version, digest: layer.digest };
  }

  /**
   * Delete a layer, waiting for the sessions that use it to end.
   */
  async remove(name: string): Promise<void> {
    await expect
      .poll(
        async () =>
          (
            await this.request.delete(
              `/pennlayer/layers/${encodeURIComponent(name)}`
            )
          )
            .status()
            .toString(),
        { message: `deletion of ${name}`, timeout: 20 * 1000 }
      )
      .toMatch(/^(204|404)$/);
  }
}

/**
 * A notebook of code cells on the server, written through the contents
 * API, optionally with a `metadata.pennlayer` of its own.
 */
export async function putNotebook(
  request: APIRequestContext,
  path: string,
  environment: string,
  sources: string[],
  layers: INotebookLayers | null = null
): Promise<void> {
  const response = await request.put(`/api/contents/${path}`, {
    data: {
      type: 'notebook',
      format: 'json',
      content: {
        nbformat: 4,
        nbformat_minor: 5,
        metadata: {
          kernelspec: {
            name: kernelName(environment),
            display_name: environment
          },
          ...(layers ? { pennlayer: layers } : {})
        },
        cells: sources.map((source, index) => ({
          id: `cell-${index}`,
          cell_type: 'code',
          execution_count: null,
          metadata: {},
          outputs: [],
          source
        }))
      }
    }
  });
  expect([200, 201]).toContain(response.status());
}

/**
 * What the page knows about the kernel of an open notebook.
 */
export interface INotebookState {
  /** The name and status of the notebook's kernel, `null` without one. */
  kernel: { name: string; status: string } | null;
  /** The notebook model's `metadata.pennlayer`, `null` if it has none. */
  layers: INotebookLayers | null;
}

/**
 * The open notebook at `path` as the JupyterLab page holds it.
 */
export class OpenNotebook {
  constructor(
    readonly page: IJupyterLabPageFixture,
    readonly path: string
  ) {}

  /**
   * Ask the page for the kernelspecs again, e.g. after a build.
   */
  async refreshSpecs(): Promise<void> {
    await this.page.evaluate(() =>
      window.jupyterapp.serviceManager.kernelspecs.refreshSpecs()
    );
  }

  /**
   * The kernel and the pennlayer metadata of the notebook, read in the page.
   */
  async state(): Promise<INotebookState> {
    return this.page.evaluate(path => {
      let panel: any = null;
      for (const widget of window.jupyterapp.shell.widgets('main')) {
        if ((widget as any).context?.path === path) {
          panel = widget;
          break;
        }
      }
      const kernel = panel?.sessionContext?.session?.kernel;
      return {
        kernel: kernel ? { name: kernel.name, status: kernel.status } : null,
        layers: panel?.model?.getMetadata('pennlayer') ?? null
      };
    }, this.path);
  }

  /**
   * Restart the notebook's kernel, without the confirmation dialog.
   */
  async restartKernel(): Promise<void> {
    await this.page.evaluate(async path => {
      for (const widget of window.jupyterapp.shell.widgets('main')) {
        if ((widget as any).context?.path === path) {
          await (widget as any).sessionContext.restartKernel();
          return;
        }
      }
      throw new Error(`${path} is not open`);
    }, this.path);
  }

  /**
   * Wait until the notebook's kernel of kernelspec `name` is idle.
   */
  async waitForIdleKernel(name: string, timeout = 60 * 1000): Promise<void> {
    await expect
      .poll(async () => (await this.state()).kernel, {
        message: `kernel ${name} of ${this.path}`,
        timeout
      })
      .toEqual({ name, status: 'idle' });
  }
}
