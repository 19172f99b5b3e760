import { expect, IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { APIRequestContext, Locator } from '@playwright/test';

/**
 * The id of the Layers sidebar widget, also the id of its left-sidebar tab.
 */
export const LAYERS_SIDEBAR_ID = 'pennlayer-sidebar';

/**
 * The body of `POST /pennlayer/layers`.
 */
export interface INewLayer {
  name: string;
  kind: 'environment' | 'reference';
  description?: string;
  language?: string;
}

/**
 * The Layers sidebar as a person sees it: tab, table, totals, toolbar.
 */
export class LayersPanel {
  constructor(readonly page: IJupyterLabPageFixture) {}

  /**
   * The whole sidebar.
   */
  get panel(): Locator {
    return this.page.getByRole('region', { name: 'Layers', exact: true });
  }

  /**
   * The table of layers.
   */
  get table(): Locator {
    return this.panel.getByRole('table', { name: 'Layers' });
  }

  /**
   * The node totals above the table.
   */
  get totals(): Locator {
    return this.panel.getByRole('region', { name: 'Node totals' });
  }

  /**
   * The text shown while the node has no layer.
   */
  get emptyState(): Locator {
    return this.panel.getByText('No layers yet.');
  }

  /**
   * The toolbar button that lists the layers again.
   */
  get refreshButton(): Locator {
    return this.panel.getByRole('button', {
      name: 'Refresh the list of layers'
    });
  }

  /**
   * The row of one layer, found by its name.
   */
  row(name: string): Locator {
    return this.table.getByRole('row').filter({
      has: this.page.getByRole('rowheader', { name, exact: true })
    });
  }

  /**
   * The value of one node total, found by its label.
   */
  total(label: string): Locator {
    return this.totals
      .getByRole('group', { name: label, exact: true })
      .getByRole('definition');
  }

  /**
   * Open the sidebar through its tab in the left sidebar.
   */
  async open(): Promise<void> {
    await this.page.sidebar.openTab(LAYERS_SIDEBAR_ID);
    await expect(this.panel).toBeVisible();
  }

  /**
   * Click the refresh button of the toolbar.
   */
  async refresh(): Promise<void> {
    await this.refreshButton.click();
  }
}

/**
 * Layers created and removed through the real REST API.
 */
export class LayersApi {
  constructor(readonly request: APIRequestContext) {}

  /**
   * Create a layer; returns the HTTP status.
   */
  async create(layer: INewLayer): Promise<number> {
    const response = await this.request.post('/pennlayer/layers', {
      data: layer
    });
    return response.status();
  }

  /**
   * Delete a layer if it exists.
   */
  async remove(name: string): Promise<void> {
    const response = await this.request.delete(
      `/pennlayer/layers/${encodeURIComponent(name)}`
    );
    expect([204, 404]).toContain(response.status());
  }

  /**
   * The names of every layer of the node.
   */
  async names(): Promise<string[]> {
    const response = await this.request.get('/pennlayer/layers');
    expect(response.status()).toBe(200);
    const body = (await response.json()) as { layers: { name: string }[] };
    return body.layers.map(layer => layer.name);
  }
}
