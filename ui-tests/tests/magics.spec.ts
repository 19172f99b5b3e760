import { expect, test } from '@jupyterlab/galata';

import {
  BUILD_TIMEOUT_MS,
  EnvironmentsApi,
  kernelName,
  OpenNotebook,
  putNotebook,
  shutdownAllKernels
} from './helpers/notebookLayers';

// An environment with ipywidgets, so that the magics' progress is a widget.
const ENVIRONMENT = 'galata-magic-env';
const BUILT = 'galata-magic-new';

test.describe('%layer magics', () => {
  test.afterEach(async ({ page, request }) => {
    await shutdownAllKernels(page);
    const environments = new EnvironmentsApi(request);
    await environments.remove(BUILT);
    await environments.remove(ENVIRONMENT);
  });

  test('lists layers and builds one from a cell, with a widget progress that reaches READY', async ({
    page,
    request,
    tmpPath
  }) => {
    test.setTimeout(2 * BUILD_TIMEOUT_MS + 60 * 1000);
    const environments = new EnvironmentsApi(request);
    await environments.remove(BUILT);
    await environments.remove(ENVIRONMENT);
    await environments.create(ENVIRONMENT, 'ipywidgets\n');

    const path = `${tmpPath}/magics.ipynb`;
    await putNotebook(request, path, ENVIRONMENT, [
      '%layer list',
      `%%layer build ${BUILT}\nsix\n`
    ]);
    const notebook = new OpenNotebook(page, path);
    await page.reload();
    await notebook.refreshSpecs();
    expect(await page.notebook.openByPath(path)).toBe(true);
    await notebook.waitForIdleKernel(kernelName(ENVIRONMENT));

    // %layer list: a table of the node's layers, as rich HTML.
    expect(await page.notebook.runCell(0)).toBe(true);
    const listed = page
      .locator('.jp-Cell')
      .nth(0)
      .locator('.jp-OutputArea-output table');
    await expect(listed).toBeVisible();
    await expect(listed).toContainText(ENVIRONMENT);
    await expect(listed).toContainText('READY');

    // %%layer build: the cell's body is the requirements; a widget follows the job.
    const cell = page.locator('.jp-Cell').nth(1);
    await page.notebook.selectCells(1);
    await page.keyboard.press('Control+Enter');
    const progress = cell.locator('.pennlayer-job-progress .widget-hprogress');
    await expect(progress).toBeVisible({ timeout: 60 * 1000 });
    await expect(cell.locator('.jp-OutputArea-output').last()).toContainText(
      `${BUILT} is READY: version 1`,
      { timeout: BUILD_TIMEOUT_MS }
    );
    await expect(cell.locator('.pennlayer-job-progress')).toContainText(
      'succeeded'
    );
    const bar = progress.locator('.progress-bar');
    await expect(bar).toHaveClass(/progress-bar-success/);
    await expect(bar).toHaveAttribute('style', /width: 100%/);
    expect(await environments.current(BUILT)).toEqual({
      version: 1,
      digest: expect.stringMatching(/^blake3:/)
    });
  });
});
