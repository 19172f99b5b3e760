import { expect, galata, test } from '@jupyterlab/galata';

import { LayersApi, LayersPanel } from './helpers/layersPanel';

const REFERENCE = 'galata-ref';
const LATER = 'galata-later';

test.describe('Layers sidebar', () => {
  // Wide enough for the sidebar to show every column of the table.
  test.use({ viewport: { width: 1400, height: 768 } });

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
    await expect(row.getByRole('cell', { name: 'reference' })).toBeVisible();
    await expect(row.getByRole('cell', { name: 'EMPTY' })).toBeVisible();
    await expect(row.getByRole('cell', { name: '0 B' })).toBeVisible();
    await expect(row.getByRole('cell', { name: 'never' })).toBeVisible();

    const names = await api.names();
    await expect(layers.total('Layers')).toHaveText(String(names.length));
    if (names.length === 1) {
      await expect(layers.total('Total size')).toHaveText('0 B');
      await expect(layers.total('Monthly cost')).toHaveText('$0.00/mo');

      // The creation date changes every day: keep it out of the picture.
      await page.sidebar.setWidth(960);
      await expect(layers.panel).toHaveScreenshot('layers-panel.png', {
        mask: [row.locator('.pennlayer-LayersTable-created')]
      });
    }
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
    await expect(layers.total('Layers')).toHaveText('0');

    expect(
      await api.create({ name: LATER, kind: 'reference', description: '' })
    ).toBe(201);
    await layers.refresh();

    await expect(layers.row(LATER)).toBeVisible();
    await expect(layers.emptyState).toBeHidden();
    await expect(layers.total('Layers')).toHaveText('1');
  });

  test.describe('with a columns setting', () => {
    test.use({
      mockSettings: {
        ...galata.DEFAULT_SETTINGS,
        'pennlayer:sidebar': { columns: ['status', 'name', 'monthly_cost'] }
      }
    });

    test('shows only the chosen columns, in their order', async ({
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

      await expect(layers.table.getByRole('columnheader')).toHaveText([
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
