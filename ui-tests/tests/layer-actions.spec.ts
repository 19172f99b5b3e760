import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';

import { FormDialog, LayersPanel } from './helpers/layersPanel';
import {
  BUILD_TIMEOUT_MS,
  EnvironmentsApi,
  kernelName,
  OpenNotebook,
  putNotebook,
  sampleGenomeFolder,
  shutdownAllKernels
} from './helpers/notebookLayers';

const UI_ENVIRONMENT = 'galata-ui-env';
const PICK_ENVIRONMENT = 'galata-pick-env';
const REFERENCE = 'galata-genome';
const BUSY_ENVIRONMENT = 'galata-busy-env';
const FAILING_ENVIRONMENT = 'galata-failing-env';

/**
 * How soon after READY a new environment must be in the Launcher.
 */
const LAUNCHER_DELAY_MS = 5 * 1000;

/**
 * The path of the notebook in the main area's current tab.
 */
async function currentNotebookPath(
  page: IJupyterLabPageFixture
): Promise<string> {
  let found: string | null = null;
  await expect
    .poll(async () => {
      found = await page.evaluate(() => {
        const widget = window.jupyterapp.shell.currentWidget as any;
        const path = widget?.context?.path;
        return typeof path === 'string' && path.endsWith('.ipynb')
          ? path
          : null;
      });
      return found;
    })
    .not.toBeNull();
  return found!;
}

/**
 * A card of the Notebook section of the Launcher on screen.
 */
function launcherCard(page: IJupyterLabPageFixture, name: RegExp) {
  return page
    .getByRole('button', { name })
    .and(page.locator('[data-category="Notebook"]'))
    .filter({ visible: true });
}

/**
 * The text output of the first cell after running `source` in it.
 */
async function runFirstCell(
  page: IJupyterLabPageFixture,
  source: string
): Promise<string> {
  await page.notebook.setCell(0, 'code', source);
  expect(await page.notebook.runCell(0)).toBe(true);
  return ((await page.notebook.getCellTextOutput(0)) ?? []).join('\n');
}

/**
 * `metadata.pennlayer` of a notebook file as saved on the server, or the
 * HTTP status when it cannot be read right now.
 */
async function savedLayers(
  page: IJupyterLabPageFixture,
  notebook: string
): Promise<unknown> {
  const response = await page.request.get(`/api/contents/${notebook}`);
  // A read during a save may find the file half written: the caller polls.
  if (response.status() !== 200) {
    return `HTTP ${response.status()}`;
  }
  return (await response.json()).content.metadata.pennlayer ?? null;
}

test.describe('Layer actions', () => {
  // The sidebar keeps JupyterLab's default width: compact rows.
  test.use({ viewport: { width: 1440, height: 900 } });

  test.afterEach(async ({ page, request }) => {
    // A layer in use cannot be deleted: stop the kernels first.
    await shutdownAllKernels(page);
    const api = new EnvironmentsApi(request);
    for (const name of [
      UI_ENVIRONMENT,
      PICK_ENVIRONMENT,
      REFERENCE,
      BUSY_ENVIRONMENT,
      FAILING_ENVIRONMENT
    ]) {
      await api.remove(name);
    }
  });

  test('creates an environment in the sidebar and runs a notebook in it', async ({
    page,
    request
  }) => {
    test.setTimeout(BUILD_TIMEOUT_MS + 120 * 1000);
    await new EnvironmentsApi(request).remove(UI_ENVIRONMENT);
    // A Launcher stays open in the main area while the environment builds.
    await page.menu.clickMenuItem('File>New Launcher');
    const layers = new LayersPanel(page);
    await layers.open();

    // The name is checked while it is typed, with the server's wording.
    await layers.newEnvironmentButton.click();
    const form = new FormDialog(page, 'New environment');
    await form.field('Name').fill('Bad_Name');
    await expect(
      form.dialog.getByText(
        "Invalid layer name 'Bad_Name': the layer name contains uppercase letters"
      )
    ).toBeVisible();
    await expect(form.button('Create')).toBeDisabled();
    await form.field('Name').fill(UI_ENVIRONMENT);
    await expect(form.button('Create')).toBeEnabled();
    await form.field('Requirements (requirements.txt)').fill('six\n');
    await form.submit('Create');

    // The status follows the build without a reload, and the notification
    // that said "Building…" says it is ready.
    await expect(layers.row(UI_ENVIRONMENT)).toBeVisible();
    await expect(
      page.getByText(`Building environment ${UI_ENVIRONMENT}…`)
    ).toBeVisible();
    await expect(layers.status(UI_ENVIRONMENT)).toHaveText('READY', {
      timeout: BUILD_TIMEOUT_MS
    });
    // The open Launcher offers the new environment within seconds, with
    // pennlayer's logo rather than a letter.
    const card = launcherCard(
      page,
      new RegExp(`${UI_ENVIRONMENT} \\(Python 3\\.\\d+\\)$`)
    );
    await expect(card).toBeVisible({ timeout: LAUNCHER_DELAY_MS });
    await expect(card.locator('img.jp-LauncherCard-icon, img')).toHaveAttribute(
      'src',
      /kernelspecs\/pennlayer-galata-ui-env\/logo-/
    );
    await expect(
      page.getByText(`Environment ${UI_ENVIRONMENT} is ready`)
    ).toBeVisible();
    await layers.expectFiguresInside([UI_ENVIRONMENT]);

    // The details list the packages of the build.
    await layers.expand(UI_ENVIRONMENT);
    const details = layers.details(UI_ENVIRONMENT);
    await details
      .getByRole('searchbox', {
        name: `Search the packages of ${UI_ENVIRONMENT}`
      })
      .fill('six');
    await expect(
      details
        .getByRole('list', { name: `Packages of ${UI_ENVIRONMENT}` })
        .getByRole('listitem')
    ).toHaveCount(1);

    // The environment is a kernel in the Launcher.
    await card.click();
    const notebook = new OpenNotebook(page, await currentNotebookPath(page));
    await notebook.waitForIdleKernel(kernelName(UI_ENVIRONMENT));
    const output = await runFirstCell(page, 'import six; print(six.__file__)');
    expect(output).toContain(`/mnt/layers/${UI_ENVIRONMENT}/`);
  });

  test('populates a reference layer and opens a notebook with it', async ({
    page,
    request
  }) => {
    test.setTimeout(BUILD_TIMEOUT_MS + 180 * 1000);
    const environments = new EnvironmentsApi(request);
    await environments.remove(REFERENCE);
    await environments.remove(PICK_ENVIRONMENT);
    await environments.create(PICK_ENVIRONMENT, 'six\n');

    const layers = new LayersPanel(page);
    await layers.open();
    await layers.createReference(REFERENCE, 'sample genome');
    await expect(layers.status(REFERENCE)).toHaveText('EMPTY');
    const genome = await sampleGenomeFolder(page.request);
    await layers.populate(REFERENCE, genome);
    await expect(layers.status(REFERENCE)).toHaveText('READY', {
      timeout: 60 * 1000
    });
    const details = layers.details(REFERENCE);
    await expect(details.getByText(genome, { exact: true })).toBeVisible();
    await expect(layers.action(REFERENCE, 'Re-run loader')).toBeEnabled();

    await layers.expand(REFERENCE);
    await layers
      .row(REFERENCE)
      .getByRole('button', { name: REFERENCE })
      .click();
    await expect(details).toBeHidden();
    // Both READY layers show status, size and cost inside the sidebar.
    await layers.expectFiguresInside([PICK_ENVIRONMENT, REFERENCE]);

    // "New notebook with layers…" from the Launcher.
    await page.menu.clickMenuItem('File>New Launcher');
    await launcherCard(page, /Notebook with layers…$/).click();
    const picker = new FormDialog(page, 'New notebook with layers');
    await picker.field('Environment (kernel)').selectOption(PICK_ENVIRONMENT);
    await picker.dialog
      .getByRole('checkbox', { name: new RegExp(`^${REFERENCE}\\b`) })
      .check();
    await picker.submit('Create and open');

    const notebookPath = await currentNotebookPath(page);
    const notebook = new OpenNotebook(page, notebookPath);
    await notebook.waitForIdleKernel(kernelName(PICK_ENVIRONMENT));
    // The selection is in the notebook, in the page and on disk.
    await expect
      .poll(async () => savedLayers(page, notebookPath))
      .toEqual({ environment: PICK_ENVIRONMENT, layers: [REFERENCE] });
    expect((await notebook.state()).layers).toMatchObject({
      environment: PICK_ENVIRONMENT,
      layers: [REFERENCE]
    });
    const output = await runFirstCell(
      page,
      [
        'import glob',
        `found = glob.glob('/mnt/layers/${REFERENCE}/**/chr1.fa', recursive=True)`,
        'print(found)',
        'print(open(found[0]).read())'
      ].join('\n')
    );
    expect(output).toContain(`/mnt/layers/${REFERENCE}/`);
    expect(output).toContain('ACGTACGTNNACGT');

    // The toolbar item shows the selection and changes it.
    const item = page.getByRole('button', {
      name: `${PICK_ENVIRONMENT} + ${REFERENCE}`
    });
    await expect(item).toBeVisible();
    await item.click();
    const change = new FormDialog(page, `Layers of ${notebookPath}`);
    await expect(
      change.dialog.getByRole('checkbox', {
        name: new RegExp(`^${REFERENCE}\\b`)
      })
    ).toBeChecked();
    await change.dialog
      .getByRole('checkbox', { name: new RegExp(`^${REFERENCE}\\b`) })
      .uncheck();
    await change.submit('Save and restart');

    await expect
      .poll(async () => savedLayers(page, notebookPath))
      .toMatchObject({ environment: PICK_ENVIRONMENT, layers: [] });
    await expect(
      page
        .getByRole('main')
        .getByRole('button', { name: PICK_ENVIRONMENT, exact: true })
    ).toBeVisible();
    // The restarted kernel mounts the environment alone (as the server's
    // session says: after a restart JupyterLab may show the previous kernel
    // status until the kernel's next message).
    await expect
      .poll(
        async () => {
          const response = await page.request.get(
            '/pennlayer/sessions?active=true'
          );
          const { sessions } = (await response.json()) as {
            sessions: { environment: string; mounts: { layer: string }[] }[];
          };
          return sessions
            .filter(session => session.environment === PICK_ENVIRONMENT)
            .map(session => session.mounts.map(mount => mount.layer).sort());
        },
        { timeout: 60 * 1000 }
      )
      .toEqual([[PICK_ENVIRONMENT]]);
  });

  test('says why a build failed, once, and builds again from its requirements', async ({
    page,
    request
  }) => {
    test.setTimeout(BUILD_TIMEOUT_MS + 60 * 1000);
    await new EnvironmentsApi(request).remove(FAILING_ENVIRONMENT);
    const layers = new LayersPanel(page);
    await layers.open();
    await layers.createEnvironment(
      FAILING_ENVIRONMENT,
      'galata-no-such-package-pennlayer==1.0\n'
    );

    // The "Building…" notification turns into "failed", with the reason.
    const failed = page
      .locator('.Toastify__toast')
      .filter({ hasText: `Building ${FAILING_ENVIRONMENT} failed:` });
    await expect(failed).toBeVisible({ timeout: BUILD_TIMEOUT_MS });
    await expect(failed).toContainText('galata-no-such-package-pennlayer');
    await expect(layers.status(FAILING_ENVIRONMENT)).toHaveText('FAILED');

    // "Show log": the details, where the error is shown once, and the log
    // holds no error from the cache-first attempt.
    await failed.getByRole('button', { name: 'Show log' }).click();
    const details = layers.details(FAILING_ENVIRONMENT);
    await expect(details).toBeVisible();
    await expect(details.getByRole('alert')).toHaveCount(1);
    await expect(
      details.locator('pre.pennlayer-LayerDetails-log')
    ).toContainText('Not in the local cache, resolving online');

    // "Build" starts from the requirements that failed.
    await layers.action(FAILING_ENVIRONMENT, 'Build').click();
    const form = new FormDialog(page, `Build ${FAILING_ENVIRONMENT}`);
    await expect(form.field('Requirements (requirements.txt)')).toHaveValue(
      /^galata-no-such-package-pennlayer==1\.0\n/
    );
    await form.button('Cancel').click();
  });

  test('refuses to delete a layer in use and deletes it afterwards', async ({
    page,
    request,
    tmpPath
  }) => {
    test.setTimeout(BUILD_TIMEOUT_MS + 120 * 1000);
    const environments = new EnvironmentsApi(request);
    await environments.remove(BUSY_ENVIRONMENT);
    await environments.create(BUSY_ENVIRONMENT, 'six\n');

    const notebookPath = `${tmpPath}/busy.ipynb`;
    await putNotebook(request, notebookPath, BUSY_ENVIRONMENT, ['print(1)']);
    const notebook = new OpenNotebook(page, notebookPath);
    await notebook.refreshSpecs();
    expect(await page.notebook.openByPath(notebookPath)).toBe(true);
    await notebook.waitForIdleKernel(kernelName(BUSY_ENVIRONMENT));

    const layers = new LayersPanel(page);
    await layers.open();
    await layers.refresh();
    await layers.expand(BUSY_ENVIRONMENT);
    const remove = layers.action(BUSY_ENVIRONMENT, 'Delete');
    await expect(remove).toBeDisabled();
    await expect(remove).toHaveAttribute('title', /in use by a running kernel/);
    await expect(
      layers.details(BUSY_ENVIRONMENT).getByText(/in use by a running kernel/)
    ).toBeVisible();
    await expect(
      layers.details(BUSY_ENVIRONMENT).getByText(notebookPath)
    ).toBeVisible();

    // The server refuses too, and says why.
    const refused = await page.request.delete(
      `/pennlayer/layers/${BUSY_ENVIRONMENT}`
    );
    expect(refused.status()).toBe(409);
    const body = await refused.json();
    expect(body.error).toBe('conflict');
    expect(body.message).toContain(BUSY_ENVIRONMENT);

    // Once the kernel stops, the button works, after a confirmation.
    await shutdownAllKernels(page);
    await expect(remove).toBeEnabled({ timeout: 40 * 1000 });
    await remove.click();
    const confirm = page
      .getByRole('dialog')
      .filter({ hasText: `Delete ${BUSY_ENVIRONMENT}?` });
    await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
    await expect(layers.row(BUSY_ENVIRONMENT)).toHaveCount(0);
  });
});
