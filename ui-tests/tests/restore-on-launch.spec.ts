import { expect, test } from '@jupyterlab/galata';

import {
  BUILD_TIMEOUT_MS,
  EnvironmentsApi,
  kernelName,
  OpenNotebook,
  putNotebook,
  sampleGenomeFolder,
  shutdownAllKernels,
  waitForJob
} from './helpers/notebookLayers';

const ENVIRONMENT = 'galata-restore-env';
const REFERENCE = 'galata-archived';

test.describe('Restore on launch', () => {
  test.afterEach(async ({ page, request }) => {
    await shutdownAllKernels(page);
    const environments = new EnvironmentsApi(request);
    await environments.remove(REFERENCE);
    await environments.remove(ENVIRONMENT);
  });

  test('a kernel that mounts an archived layer restores it, and the page says so', async ({
    page,
    request,
    tmpPath
  }) => {
    test.setTimeout(BUILD_TIMEOUT_MS + 120 * 1000);
    const environments = new EnvironmentsApi(request);
    await environments.remove(REFERENCE);
    await environments.remove(ENVIRONMENT);
    await environments.create(ENVIRONMENT, 'six\n');

    // A reference layer, filled from the sample genome and archived (IA).
    const genome = await sampleGenomeFolder(request);
    let answer = await request.post('/pennlayer/layers', {
      data: { name: REFERENCE, kind: 'reference' }
    });
    expect(answer.status(), await answer.text()).toBe(201);
    answer = await request.post(`/pennlayer/layers/${REFERENCE}/populate`, {
      data: { source: genome }
    });
    expect(answer.status(), await answer.text()).toBe(202);
    await waitForJob(request, ((await answer.json()) as { id: string }).id);
    answer = await request.post(`/pennlayer/layers/${REFERENCE}/archive`, {
      data: {}
    });
    expect(answer.status(), await answer.text()).toBe(202);
    await waitForJob(request, ((await answer.json()) as { id: string }).id);
    const archived = await (
      await request.get(`/pennlayer/layers/${REFERENCE}`)
    ).json();
    expect(archived.storage_class).toBe('IA');

    // A notebook that mounts it: opening it starts the kernel, which restores it.
    const path = `${tmpPath}/restore.ipynb`;
    await putNotebook(
      request,
      path,
      ENVIRONMENT,
      [`import os; print(sorted(os.listdir('/mnt/layers/${REFERENCE}')))`],
      { environment: ENVIRONMENT, layers: [REFERENCE], mounted: {} }
    );
    const notebook = new OpenNotebook(page, path);
    // A person opens JupyterLab once the layers are there.
    await page.reload();
    await notebook.refreshSpecs();
    expect(await page.notebook.openByPath(path)).toBe(true);

    // The person waiting sees why: a notification that ends "restored".
    await expect
      .poll(
        async () =>
          (await page.notifications)
            .filter(note => note.message.includes(REFERENCE))
            .map(note => `${note.type}: ${note.message}`),
        { message: 'the restore notification', timeout: 60 * 1000 }
      )
      .toContain(`success: ${REFERENCE} is restored: kernels can mount it.`);
    await notebook.waitForIdleKernel(kernelName(ENVIRONMENT));
    expect(await page.notebook.runCell(0)).toBe(true);
    const output = ((await page.notebook.getCellTextOutput(0)) ?? []).join(
      '\n'
    );
    expect(output).toContain("['chr1.fa']");
    const restored = await (
      await request.get(`/pennlayer/layers/${REFERENCE}`)
    ).json();
    expect(restored.storage_class).toBe('STANDARD');
    expect(restored.digest).toBe(archived.digest);
  });
});
