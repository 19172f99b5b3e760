import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import type { Request } from '@playwright/test';

import { LayersApi, LayersPanel, LayersTableTab } from './helpers/layersPanel';

/**
 * The server seeded with 10,000 layers (jupyter_server_many_layers_config.py),
 * `ref-00000` to `ref-09999`, started by playwright.config.js.
 */
const MANY_URL = process.env.PENNLAYER_GALATA_MANY_URL ?? '';
const LAYER_COUNT = 10_000;
const LAST = `ref-${String(LAYER_COUNT - 1).padStart(5, '0')}`;

/**
 * Far fewer rows than layers: a screen and the few around it.
 */
const MAX_ROWS_IN_DOM = 100;

test.use({ baseURL: MANY_URL, viewport: { width: 1440, height: 900 } });

/**
 * Every `GET /pennlayer/layers` the page sends, as parsed URLs.
 */
function watchListRequests(page: IJupyterLabPageFixture): URL[] {
  const seen: URL[] = [];
  page.on('request', (request: Request) => {
    const url = new URL(request.url());
    if (request.method() === 'GET' && url.pathname === '/pennlayer/layers') {
      seen.push(url);
    }
  });
  return seen;
}

/**
 * The rows' scroll container of the sidebar.
 */
function scroller(layers: LayersPanel) {
  return layers.panel.locator('.pennlayer-LayersOverview-rows');
}

test.describe('A node with 10,000 layers', () => {
  test('the sidebar shows the first rows, pages while scrolling and searches on the server', async ({
    page
  }) => {
    const lists = watchListRequests(page);
    const layers = new LayersPanel(page);
    await layers.open();
    await expect(layers.row('ref-00000')).toBeVisible({ timeout: 5000 });
    await expect(layers.total('count')).toHaveText('10,000 layers');
    expect(await layers.rows.count()).toBeLessThan(MAX_ROWS_IN_DOM);

    // The scroll bar has the room of every row: scrolling to the end loads
    // the last page, and the DOM still holds a screen of rows.
    await scroller(layers).evaluate(node => {
      node.scrollTop = node.scrollHeight;
    });
    await expect(layers.row(LAST)).toBeVisible();
    await expect(layers.row(LAST)).toBeInViewport();
    expect(await layers.rows.count()).toBeLessThan(MAX_ROWS_IN_DOM);

    // The middle, too.
    await scroller(layers).evaluate(node => {
      node.scrollTop = node.scrollHeight / 2;
    });
    await expect(layers.row('ref-05000')).toBeVisible();
    expect(await layers.rows.count()).toBeLessThan(MAX_ROWS_IN_DOM);

    // A search for one layer by name, answered by the server.
    await layers.filter.fill('ref-04242');
    await expect(layers.rows).toHaveCount(1);
    await expect(layers.row('ref-04242')).toBeVisible();
    await expect(layers.panel.getByRole('status')).toHaveText(
      '1 of 10,000 layers match'
    );
    // By description: the seed names an organism in each.
    await layers.filter.fill('zebrafish');
    await expect(layers.panel.getByRole('status')).toHaveText(
      /^1,429 of 10,000 layers match$/
    );

    // Never the whole list: every request asks for a page.
    expect(lists.length).toBeGreaterThan(0);
    for (const url of lists) {
      expect(url.searchParams.get('limit'), url.search).not.toBeNull();
      expect(Number(url.searchParams.get('limit'))).toBeLessThanOrEqual(50);
    }
    expect(lists.some(url => url.searchParams.get('q') === 'ref-04242')).toBe(
      true
    );
  });

  test('the main-area table sorts by size on the server', async ({
    page,
    request
  }) => {
    const layers = new LayersPanel(page);
    await layers.open();
    await layers.openTableButton.click();
    const table = new LayersTableTab(page);
    await expect(table.row('ref-00000')).toBeVisible();

    await table.sortBy('Size');
    await table.sortBy('Size');
    await expect(
      table.table.getByRole('columnheader', { name: 'Size' })
    ).toHaveAttribute('aria-sort', 'descending');

    // The server's own order of the biggest layers, first to last.
    const response = await request.get(
      '/pennlayer/layers?sort=size_bytes&order=desc&limit=20'
    );
    expect(response.status()).toBe(200);
    const biggest = ((await response.json()) as { layers: { name: string }[] })
      .layers;
    await expect
      .poll(async () => (await table.names()).slice(0, 20))
      .toEqual(biggest.map(layer => layer.name));
    const rows = await table.table.locator('tbody tr[data-layer-name]').count();
    expect(rows).toBeLessThan(MAX_ROWS_IN_DOM);
  });

  test('an event updates one row; the list is not downloaded again', async ({
    page,
    request
  }) => {
    const api = new LayersApi(request);
    const name = 'aaa-galata-event';
    await api.remove(name);
    const layers = new LayersPanel(page);
    await layers.open();
    await expect(layers.row('ref-00000')).toBeVisible();
    const lists = watchListRequests(page);
    const singles: string[] = [];
    page.on('request', req => {
      const url = new URL(req.url());
      if (url.pathname.startsWith('/pennlayer/layers/')) {
        singles.push(decodeURIComponent(url.pathname.split('/').pop()!));
      }
    });

    // Created elsewhere (the REST API): it sorts first, so it shows at once.
    expect(await api.create({ name, kind: 'reference' })).toBe(201);
    await expect(layers.row(name)).toBeVisible();
    await expect(layers.total('count')).toHaveText('10,001 layers');
    expect(singles).toContain(name);

    // A change of its description: its row, fetched alone.
    const patched = await request.patch(`/pennlayer/layers/${name}`, {
      data: { description: 'changed by galata' }
    });
    expect(patched.status()).toBe(200);
    await expect(
      layers.row(name).locator('.pennlayer-LayerList-name')
    ).toHaveAttribute('title', `${name}: changed by galata`);

    await api.remove(name);
    await expect(layers.row(name)).toHaveCount(0);
    await expect(layers.total('count')).toHaveText('10,000 layers');

    for (const url of lists) {
      expect(url.searchParams.get('limit'), url.search).not.toBeNull();
    }
  });
});
