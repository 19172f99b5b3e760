import {
  expect,
  galata,
  IJupyterLabPageFixture,
  test
} from '@jupyterlab/galata';
import type { APIRequestContext } from '@playwright/test';

import {
  DEFAULT_SIDEBAR_WIDTH,
  LayersApi,
  LayersPanel,
  LayersTableTab
} from './helpers/layersPanel';

const REFERENCE = 'galata-ref';
const LATER = 'galata-later';

/**
 * Three reference layers with fixed contents: the snapshots show only them
 * (through the filter), whatever else the server holds.
 */
const SNAP = {
  empty: 'galata-snap-empty',
  genome: 'galata-snap-genome',
  table: 'galata-snap-table'
};
const SNAP_FILTER = 'galata-snap';

/**
 * A folder loaders may read on the test server (jupyter_server_test_config.py).
 */
async function sampleFolder(
  request: APIRequestContext,
  name: 'genome' | 'table'
): Promise<string> {
  const response = await request.get('/pennlayer/node');
  expect(response.status()).toBe(200);
  const { store_root } = (await response.json()) as { store_root: string };
  return `${store_root.replace(/\/+$/, '').replace(/\/[^/]*$/, '')}/sources/${name}`;
}

/**
 * Create the snapshot layers (again), the two full ones loaded and READY.
 */
async function makeSnapshotLayers(request: APIRequestContext): Promise<void> {
  const api = new LayersApi(request);
  for (const name of Object.values(SNAP)) {
    await api.remove(name);
    expect(await api.create({ name, kind: 'reference' })).toBe(201);
  }
  for (const [name, folder] of [
    [SNAP.genome, 'genome'],
    [SNAP.table, 'table']
  ] as const) {
    const response = await request.post(`/pennlayer/layers/${name}/populate`, {
      data: { source: await sampleFolder(request, folder) }
    });
    expect(response.status(), await response.text()).toBe(202);
  }
  await expect
    .poll(
      async () => {
        const statuses = [];
        for (const name of [SNAP.genome, SNAP.table]) {
          const layer = await request.get(`/pennlayer/layers/${name}`);
          statuses.push(((await layer.json()) as { status: string }).status);
        }
        return statuses;
      },
      { timeout: 60 * 1000 }
    )
    .toEqual(['READY', 'READY']);
}

async function removeSnapshotLayers(request: APIRequestContext) {
  const api = new LayersApi(request);
  for (const name of Object.values(SNAP)) {
    await api.remove(name);
  }
}

/**
 * Whether the server holds the snapshot layers and nothing else (and no run,
 * which the sidebar lists below the layers), so that the totals, and so the
 * whole picture, are the same on every run.
 */
async function onlySnapshotLayers(
  request: APIRequestContext
): Promise<boolean> {
  const names = await new LayersApi(request).names();
  const runs = await request.get('/pennlayer/runs');
  const noRuns =
    runs.status() === 404 ||
    ((await runs.json()) as { runs: unknown[] }).runs.length === 0;
  return noRuns && names.sort().join() === Object.values(SNAP).sort().join();
}

async function useTheme(page: IJupyterLabPageFixture, theme: string) {
  if (theme === 'dark') {
    await page.theme.setDarkTheme();
  } else {
    await page.theme.setLightTheme();
  }
}

test.describe('Layers sidebar', () => {
  test.use({ viewport: { width: 1440, height: 900 } });

  test.afterEach(async ({ request }) => {
    const api = new LayersApi(request);
    await api.remove(REFERENCE);
    await api.remove(LATER);
  });

  test('lists a reference layer created through the REST API', async ({
    page,
    request
  }) => {
    const api = new LayersApi(request);
    await api.remove(REFERENCE);
    const response = await page.request.post('/pennlayer/layers', {
      data: {
        name: REFERENCE,
        kind: 'reference',
        description: 'made by galata'
      }
    });
    expect(response.status()).toBe(201);

    const layers = new LayersPanel(page);
    await layers.open();

    const row = layers.row(REFERENCE);
    await expect(row).toBeVisible();
    await expect(layers.status(REFERENCE)).toHaveText('EMPTY');
    await expect(row.locator('.pennlayer-LayerList-kind')).toHaveText(
      'reference'
    );
    await expect(layers.size(REFERENCE)).toHaveText('0 B');
    await expect(layers.cost(REFERENCE)).toHaveText('$0.00/mo');
    await expect(row.locator('.pennlayer-LayerList-access')).toHaveText(
      'never used'
    );
    // The tooltips say how sizes and costs are counted.
    await expect(layers.size(REFERENCE)).toHaveAttribute(
      'title',
      /does not change when other layers come or go/
    );
    await expect(layers.cost(REFERENCE)).toHaveAttribute(
      'title',
      /at the STANDARD price per GB-month/
    );

    const names = await api.names();
    await expect(layers.total('count')).toHaveText(
      names.length === 1 ? '1 layer' : `${names.length} layers`
    );
    await expect(layers.total('size')).toHaveText(/ on disk$/);
    await expect(layers.total('cost')).toHaveText(/\/month$/);
  });

  test('a layer being loaded says how far its job is, in its row', async ({
    page,
    request
  }) => {
    const api = new LayersApi(request);
    await api.remove(REFERENCE);
    expect(await api.create({ name: REFERENCE, kind: 'reference' })).toBe(201);
    const layers = new LayersPanel(page);
    await layers.open();
    await expect(layers.status(REFERENCE)).toHaveText('EMPTY');

    // A command that takes a few seconds: its step is the row's first figure.
    const genome = await sampleFolder(request, 'genome');
    const started = await request.post(
      `/pennlayer/layers/${REFERENCE}/populate`,
      {
        data: {
          source: genome,
          processor: {
            type: 'command',
            command: 'sleep 6 && cp -r /input/. /output/'
          }
        }
      }
    );
    test.skip(
      started.status() === 400,
      'the command processor needs bubblewrap on the test server'
    );
    expect(started.status()).toBe(202);
    const row = layers.row(REFERENCE);
    await expect(layers.status(REFERENCE)).toHaveText('POPULATING');
    await expect(row.locator('.pennlayer-LayerList-job')).toHaveText(
      'step 2 of 5'
    );
    await expect(row.locator('.pennlayer-LayerList-job')).toHaveAttribute(
      'title',
      'Running the command in the sandbox'
    );
    // Nothing is on disk yet: no size or cost until the version exists.
    await expect(layers.size(REFERENCE)).toHaveCount(0);

    await expect(layers.status(REFERENCE)).toHaveText('READY', {
      timeout: 60 * 1000
    });
    await expect(row.locator('.pennlayer-LayerList-job')).toHaveCount(0);
    await expect(layers.size(REFERENCE)).toHaveText(/ B$/);
  });

  test('shows the empty state and picks up a new layer on refresh', async ({
    page,
    request
  }) => {
    const api = new LayersApi(request);
    test.skip(
      (await api.names()).length > 0,
      'the server already has layers, so there is no empty state to see'
    );

    const layers = new LayersPanel(page);
    await layers.open();
    await expect(layers.emptyState).toBeVisible();
    await expect(layers.total('count')).toHaveText('0 layers');

    expect(
      await api.create({ name: LATER, kind: 'reference', description: '' })
    ).toBe(201);
    await layers.refresh();

    await expect(layers.row(LATER)).toBeVisible();
    await expect(layers.emptyState).toBeHidden();
    await expect(layers.total('count')).toHaveText('1 layer');
  });

  test.describe('with a columns setting', () => {
    test.use({
      mockSettings: {
        ...galata.DEFAULT_SETTINGS,
        'pennlayer:sidebar': { columns: ['status', 'name', 'monthly_cost'] }
      }
    });

    test('a sidebar wide enough shows the chosen columns, in their order', async ({
      page,
      request
    }) => {
      const api = new LayersApi(request);
      await api.remove(REFERENCE);
      expect(await api.create({ name: REFERENCE, kind: 'reference' })).toBe(
        201
      );

      const layers = new LayersPanel(page);
      await layers.open();
      // Compact rows at the default width...
      await expect(
        layers.panel.getByRole('list', { name: 'Layers', exact: true })
      ).toBeVisible();
      // ...and the table once the chosen columns fit.
      await layers.setWidth(480);
      const table = layers.panel.getByRole('table', { name: 'Layers' });
      await expect(table.getByRole('columnheader')).toHaveText([
        'Status',
        'Name',
        'Monthly cost'
      ]);
      await expect(layers.row(REFERENCE).getByRole('cell')).toHaveText([
        'EMPTY',
        '$0.00/mo'
      ]);
    });
  });
});

test.describe('Layers sidebar at the default width', () => {
  test.use({ viewport: { width: 1440, height: 900 } });

  test.beforeEach(async ({ request }) => {
    await makeSnapshotLayers(request);
  });

  test.afterEach(async ({ request }) => {
    await removeSnapshotLayers(request);
  });

  for (const theme of ['light', 'dark']) {
    test(`shows status, size and cost of every row (${theme})`, async ({
      page,
      request
    }) => {
      await useTheme(page, theme);
      const layers = new LayersPanel(page);
      await layers.open();
      await expect
        .poll(async () => (await layers.panel.boundingBox())?.width)
        .toBeCloseTo(DEFAULT_SIDEBAR_WIDTH, -1);
      await layers.filter.fill(SNAP_FILTER);
      await expect(layers.rows).toHaveCount(3);

      await expect(layers.status(SNAP.empty)).toHaveText('EMPTY');
      await expect(layers.status(SNAP.genome)).toHaveText('READY');
      await expect(layers.size(SNAP.genome)).toHaveText('35 B');
      await expect(layers.size(SNAP.table)).toHaveText('1.5 kB');
      await layers.expectFiguresInside(Object.values(SNAP));

      await expect(layers.total('count')).toHaveText(/^\d+ layers?$/);
      if (await onlySnapshotLayers(request)) {
        await expect(layers.total('size')).toHaveText('1.5 kB on disk');
        await expect(layers.panel).toHaveScreenshot(
          `layers-compact-${theme}.png`
        );
      }

      // Details and actions wrap inside the panel.
      await layers.expand(SNAP.table);
      const details = layers.details(SNAP.table);
      await expect(details.getByText(/^1\.5 kB in 1 file/)).toBeVisible();
      const panel = (await layers.panel.boundingBox())!;
      for (const button of await layers
        .details(SNAP.table)
        .getByRole('toolbar')
        .getByRole('button')
        .all()) {
        const box = (await button.boundingBox())!;
        expect(box.x + box.width).toBeLessThanOrEqual(panel.x + panel.width);
      }
    });
  }

  test('keeps every figure inside a 220 px sidebar', async ({ page }) => {
    const layers = new LayersPanel(page);
    await layers.open();
    await layers.setWidth(220);
    await layers.filter.fill(SNAP_FILTER);
    await expect(layers.rows).toHaveCount(3);
    await layers.expectFiguresInside(Object.values(SNAP));
  });
});

test.describe('Layers table in the main area', () => {
  test.use({ viewport: { width: 1440, height: 900 } });

  test.beforeEach(async ({ request }) => {
    await makeSnapshotLayers(request);
  });

  test.afterEach(async ({ request }) => {
    await removeSnapshotLayers(request);
  });

  for (const theme of ['light', 'dark']) {
    test(`has every column, sorting and a filter (${theme})`, async ({
      page,
      request
    }) => {
      await useTheme(page, theme);
      const layers = new LayersPanel(page);
      await layers.open();
      await layers.openTableButton.click();
      const table = new LayersTableTab(page);
      await expect(table.table).toBeVisible();
      await expect(table.table.getByRole('columnheader')).toHaveText([
        'Name',
        'Kind',
        'Status',
        'Size',
        'Files',
        'Tier',
        'Monthly cost',
        'Last access',
        'Created'
      ]);

      await table.filter.fill(SNAP_FILTER);
      await expect.poll(() => table.names()).toEqual(Object.values(SNAP));
      await table.sortBy('Size');
      await expect
        .poll(() => table.names())
        .toEqual([SNAP.empty, SNAP.genome, SNAP.table]);
      await table.sortBy('Size');
      await expect
        .poll(() => table.names())
        .toEqual([SNAP.table, SNAP.genome, SNAP.empty]);
      await expect(
        table.row(SNAP.table).locator('td.pennlayer-LayersTable-size')
      ).toHaveText('1.5 kB');

      // The creation date changes every day: masked.
      if (await onlySnapshotLayers(request)) {
        await expect(table.panel).toHaveScreenshot(
          `layers-table-${theme}.png`,
          {
            mask: [
              table.table.locator('tbody td.pennlayer-LayersTable-created')
            ]
          }
        );
      }

      // The same details and actions as the sidebar.
      await table.row(SNAP.genome).getByRole('button').first().click();
      await expect(
        table.panel
          .getByRole('toolbar', { name: `Actions on ${SNAP.genome}` })
          .getByRole('button', { name: 'Re-run loader' })
      ).toBeEnabled();
    });
  }

  test('opens from the command palette and the Launcher, once', async ({
    page
  }) => {
    const table = new LayersTableTab(page);
    await page.evaluate(async () => {
      await window.jupyterapp.commands.execute(
        'apputils:activate-command-palette'
      );
    });
    await page.keyboard.type('Layers Table');
    await page.keyboard.press('Enter');
    await expect(table.table).toBeVisible();

    await page.menu.clickMenuItem('File>New Launcher');
    await page
      .locator('.jp-LauncherCard')
      .filter({ hasText: 'Layers Table', visible: true })
      .click();
    await expect(table.table).toBeVisible();
    await expect(table.tab).toHaveCount(1);
  });
});
