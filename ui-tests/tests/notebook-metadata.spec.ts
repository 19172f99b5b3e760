import { expect, test } from '@jupyterlab/galata';

import {
  BUILD_TIMEOUT_MS,
  EnvironmentsApi,
  kernelName,
  OpenNotebook,
  putNotebook,
  shutdownAllKernels
} from './helpers/notebookLayers';

const ENVIRONMENT = 'galata-env';

const PROBE = [
  'import six, os',
  'print(six.__file__)',
  "print(sorted(os.listdir('/mnt/layers')))"
].join('; ');

test.describe('Notebook metadata', () => {
  test.afterEach(async ({ page, request }) => {
    // A layer in use cannot be deleted: stop its kernel first.
    await shutdownAllKernels(page);
    await new EnvironmentsApi(request).remove(ENVIRONMENT);
  });

  test('records the layers the kernel mounted', async ({
    page,
    request,
    tmpPath
  }) => {
    test.setTimeout(BUILD_TIMEOUT_MS + 90 * 1000);
    const environments = new EnvironmentsApi(request);
    await environments.remove(ENVIRONMENT);
    await environments.create(ENVIRONMENT, 'six\n');
    const built = await environments.current(ENVIRONMENT);
    expect(built).toEqual({
      version: 1,
      digest: expect.stringMatching(/^blake3:/)
    });

    const path = `${tmpPath}/meta.ipynb`;
    await putNotebook(request, path, ENVIRONMENT, [PROBE]);
    const notebook = new OpenNotebook(page, path);
    // The page listed the kernelspecs before the environment existed.
    await notebook.refreshSpecs();
    expect(await page.notebook.openByPath(path)).toBe(true);
    await notebook.waitForIdleKernel(kernelName(ENVIRONMENT));

    expect(await page.notebook.runCell(0)).toBe(true);
    const output = ((await page.notebook.getCellTextOutput(0)) ?? []).join(
      '\n'
    );
    expect(output).toContain(`/mnt/layers/${ENVIRONMENT}/`);
    expect(output).toContain(`['${ENVIRONMENT}']`);

    await expect
      .poll(async () => (await notebook.state()).layers, {
        message: 'metadata.pennlayer of the notebook model'
      })
      .toEqual({
        environment: ENVIRONMENT,
        layers: [],
        mounted: { [ENVIRONMENT]: built }
      });

    // Recording marks the notebook dirty; saving is left to the person.
    const onDisk = async () => {
      const response = await request.get(`/api/contents/${path}`);
      expect(response.status()).toBe(200);
      const model = await response.json();
      return model.content.metadata.pennlayer ?? null;
    };
    expect(await onDisk()).toBeNull();
    expect(await page.notebook.save()).toBe(true);
    expect(await onDisk()).toEqual({
      environment: ENVIRONMENT,
      layers: [],
      mounted: { [ENVIRONMENT]: built }
    });
  });

  test('tells about a recorded version that is gone and follows restarts', async ({
    page,
    request,
    tmpPath
  }) => {
    test.setTimeout(2 * BUILD_TIMEOUT_MS + 90 * 1000);
    const environments = new EnvironmentsApi(request);
    await environments.remove(ENVIRONMENT);
    await environments.create(ENVIRONMENT, 'six\n');
    const first = await environments.current(ENVIRONMENT);

    // A notebook from another node: its pinned digest does not exist here.
    const gone = `sha256:${'0'.repeat(64)}`;
    const path = `${tmpPath}/pinned.ipynb`;
    await putNotebook(request, path, ENVIRONMENT, ['print(1)'], {
      environment: ENVIRONMENT,
      layers: [],
      mounted: { [ENVIRONMENT]: { version: 1, digest: gone } }
    });
    const notebook = new OpenNotebook(page, path);
    await notebook.refreshSpecs();
    expect(await page.notebook.openByPath(path)).toBe(true);
    await notebook.waitForIdleKernel(kernelName(ENVIRONMENT));

    // Toasts cut messages after 140 characters; the Details buttons show
    // the whole text.
    const short = (digest: string) => digest.slice(0, 19);
    const notice = (mounted: { version: number; digest: string }) =>
      `pennlayer: ${ENVIRONMENT}: mounted version ${mounted.version} (${short(mounted.digest)}) because version 1 (${short(gone)}) recorded in this notebook is gone from this node.`;
    const toasts = page
      .getByRole('alert')
      .filter({ hasText: 'recorded in this notebook is gone' });
    const details = async (): Promise<string[]> => {
      const texts: string[] = [];
      for (const toast of await toasts.all()) {
        await toast.getByRole('button', { name: 'Details' }).click();
        const dialog = page.getByRole('dialog');
        texts.push(
          (await dialog.locator('.jp-Dialog-body').innerText()).trim()
        );
        await dialog.getByRole('button', { name: 'Ok' }).click();
        await expect(dialog).toBeHidden();
      }
      return texts.sort();
    };

    await expect(toasts).toHaveCount(1);
    expect(await details()).toEqual([notice(first!)]);
    await expect
      .poll(async () => (await notebook.state()).layers?.mounted)
      .toEqual({ [ENVIRONMENT]: first });

    // The file still pins the missing digest: a restart mounts the newest
    // version, and the notebook records it.
    await environments.rebuild(ENVIRONMENT, 'six\n');
    const second = await environments.current(ENVIRONMENT);
    expect(second?.version).toBe(2);
    // No wait for "idle" here: after a restart JupyterLab may show the
    // previous status until the kernel's next message.
    await notebook.restartKernel();
    await expect
      .poll(async () => (await notebook.state()).layers?.mounted)
      .toEqual({ [ENVIRONMENT]: second });

    // Each session's notices are shown once, and stay until dismissed.
    await expect(toasts).toHaveCount(2);
    expect(await details()).toEqual([notice(first!), notice(second!)].sort());
  });
});
