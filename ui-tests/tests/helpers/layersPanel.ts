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
 * JupyterLab's default width of the left sidebar, in pixels.
 */
export const DEFAULT_SIDEBAR_WIDTH = 250;

/**
 * The Layers sidebar as a person sees it: tab, rows, totals, toolbar.
 *
 * At the default width the layers are compact rows (name and status, then
 * kind, size, cost and last access); a sidebar wide enough for every chosen
 * column shows the table. The locators below work for both.
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
   * The layers: the list of compact rows, or the table.
   */
  get table(): Locator {
    return this.panel
      .getByRole('list', { name: 'Layers', exact: true })
      .or(this.panel.getByRole('table', { name: 'Layers' }));
  }

  /**
   * Every row, in display order.
   */
  get rows(): Locator {
    return this.panel.locator('[data-layer-name]');
  }

  /**
   * The node totals above the rows.
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
   * The header button that opens the main-area Layers table.
   */
  get openTableButton(): Locator {
    return this.panel.getByRole('button', {
      name: 'Open the Layers table in the main area'
    });
  }

  /**
   * The row of one layer, found by its name.
   */
  row(name: string): Locator {
    return this.panel.locator(`[data-layer-name="${name}"]`);
  }

  /**
   * One node total: `count` (N layers), `size` (on disk), `shared`, `cost`.
   */
  total(which: 'count' | 'size' | 'shared' | 'cost'): Locator {
    return this.totals.locator(`.pennlayer-NodeTotals-${which}`);
  }

  /**
   * The size shown in a layer's row.
   */
  size(name: string): Locator {
    return this.row(name).locator(
      '.pennlayer-LayerList-size, td.pennlayer-LayersTable-size'
    );
  }

  /**
   * The monthly cost shown in a layer's row.
   */
  cost(name: string): Locator {
    return this.row(name).locator(
      '.pennlayer-LayerList-cost, td.pennlayer-LayersTable-monthly_cost'
    );
  }

  /**
   * The toolbar button that opens the "New environment" form.
   */
  get newEnvironmentButton(): Locator {
    return this.panel.getByRole('button', { name: 'Environment', exact: true });
  }

  /**
   * The toolbar button that opens the "New reference layer" form.
   */
  get newReferenceButton(): Locator {
    return this.panel.getByRole('button', { name: 'Reference', exact: true });
  }

  /**
   * The box that searches the layers (on the server).
   */
  get filter(): Locator {
    return this.panel.getByRole('searchbox', { name: 'Search layers' });
  }

  /**
   * The status chip of a layer's row.
   */
  status(name: string): Locator {
    return this.row(name).locator('.pennlayer-StatusChip').first();
  }

  /**
   * The details of a layer, shown below its row once expanded.
   */
  details(name: string): Locator {
    return this.panel.getByRole('region', { name: `Details of ${name}` });
  }

  /**
   * A button of the actions toolbar in a layer's details.
   */
  action(name: string, label: string): Locator {
    return this.details(name)
      .getByRole('toolbar', { name: `Actions on ${name}` })
      .getByRole('button', { name: label, exact: true });
  }

  /**
   * Show the details of a layer (no-op when they are shown).
   */
  async expand(name: string): Promise<void> {
    const toggle = this.row(name).getByRole('button', { name, exact: true });
    if ((await toggle.getAttribute('aria-expanded')) !== 'true') {
      await toggle.click();
    }
    await expect(this.details(name)).toBeVisible();
  }

  /**
   * Fill and send the "New environment" form.
   */
  async createEnvironment(name: string, requirements: string): Promise<void> {
    await this.newEnvironmentButton.click();
    const form = new FormDialog(this.page, 'New environment');
    await form.field('Name').fill(name);
    await form.field('Requirements (requirements.txt)').fill(requirements);
    await form.submit('Create');
  }

  /**
   * Fill and send the "New reference layer" form.
   */
  async createReference(name: string, description = ''): Promise<void> {
    await this.newReferenceButton.click();
    const form = new FormDialog(this.page, 'New reference layer');
    await form.field('Name').fill(name);
    if (description) {
      await form.field('Description (optional)').fill(description);
    }
    await form.submit('Create');
  }

  /**
   * Open a reference layer's loader form, fill its source and run it.
   */
  async populate(name: string, source: string): Promise<void> {
    await this.expand(name);
    await this.action(name, 'Populate').click();
    const form = new FormDialog(this.page, `Populate ${name}`);
    await form.field('Source').fill(source);
    await form.submit('Run loader');
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

  /**
   * Set the width of the left sidebar, also below JupyterLab's own minimum
   * (250 px), as narrower layouts of JupyterLab allow.
   */
  async setWidth(width: number): Promise<void> {
    if (width < DEFAULT_SIDEBAR_WIDTH) {
      await this.page.addStyleTag({
        content: `:root { --jp-sidebar-min-width: ${width}px !important; }`
      });
      await this.page.evaluate(() => {
        (window.jupyterapp.shell as any)._leftHandler.stackedPanel.fit();
      });
    }
    await this.page.sidebar.setWidth(width);
    await expect
      .poll(async () => (await this.panel.boundingBox())?.width)
      .toBeCloseTo(width, -1);
  }

  /**
   * Check that the status, size and cost of every row are on screen, inside
   * the panel: nothing hidden behind sideways scrolling or clipped.
   */
  async expectFiguresInside(names: readonly string[]): Promise<void> {
    const panel = await this.panel.boundingBox();
    expect(panel).not.toBeNull();
    for (const name of names) {
      for (const figure of [
        this.status(name),
        this.size(name),
        this.cost(name)
      ]) {
        await expect(figure).toBeVisible();
        await expect(figure).toBeInViewport({ ratio: 1 });
        const box = await figure.boundingBox();
        expect(box, `${name}: ${await figure.textContent()}`).not.toBeNull();
        expect(box!.x).toBeGreaterThanOrEqual(panel!.x);
        expect(box!.x + box!.width).toBeLessThanOrEqual(
          panel!.x + panel!.width
        );
        expect(box!.y + box!.height).toBeLessThanOrEqual(
          panel!.y + panel!.height
        );
      }
    }
    // No row is wider than the panel: nothing to scroll sideways to.
    const overflow = await this.panel.evaluate(node =>
      Array.from(node.querySelectorAll<HTMLElement>('*')).some(
        element =>
          getComputedStyle(element).overflowX !== 'visible' &&
          element.scrollWidth > element.clientWidth + 1 &&
          element.closest('[data-layer-name]') !== null
      )
    );
    expect(overflow).toBe(false);
  }
}

/**
 * The main-area Layers table.
 */
export class LayersTableTab {
  constructor(readonly page: IJupyterLabPageFixture) {}

  /**
   * The tab's content.
   */
  get panel(): Locator {
    return this.page.getByRole('region', { name: 'Layers table' });
  }

  /**
   * The table.
   */
  get table(): Locator {
    return this.panel.getByRole('table', { name: 'Layers' });
  }

  /**
   * The tab in the main area's tab bar.
   */
  get tab(): Locator {
    return this.page.locator(
      '#jp-main-dock-panel .lm-TabBar-tab[data-id="pennlayer-layers-table"]'
    );
  }

  /**
   * The row of one layer, found by its name.
   */
  row(name: string): Locator {
    return this.table.locator(`tr[data-layer-name="${name}"]`);
  }

  /**
   * The names of the rows, in display order.
   */
  async names(): Promise<string[]> {
    return this.table
      .locator('tbody tr[data-layer-name]')
      .evaluateAll(rows =>
        rows.map(row => row.getAttribute('data-layer-name') ?? '')
      );
  }

  /**
   * The box that searches the layers (on the server).
   */
  get filter(): Locator {
    return this.panel.getByRole('searchbox', { name: 'Search layers' });
  }

  /**
   * Click the header of a column to sort by it.
   */
  async sortBy(label: string): Promise<void> {
    await this.table
      .getByRole('columnheader', { name: label, exact: true })
      .getByRole('button')
      .click();
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

/**
 * A pennlayer form in a JupyterLab dialog.
 */
export class FormDialog {
  constructor(
    readonly page: IJupyterLabPageFixture,
    readonly title: string
  ) {}

  /**
   * The dialog itself.
   */
  get dialog(): Locator {
    return this.page
      .getByRole('dialog')
      .filter({ has: this.page.getByText(this.title, { exact: true }) });
  }

  /**
   * A field of the form, found by its label.
   */
  field(label: string): Locator {
    return this.dialog.getByLabel(label, { exact: true });
  }

  /**
   * A button of the dialog's footer.
   */
  button(label: string): Locator {
    return this.dialog.getByRole('button', { name: label, exact: true });
  }

  /**
   * Click the accept button and wait for the dialog to close.
   */
  async submit(label: string): Promise<void> {
    await this.button(label).click();
    await expect(this.dialog).toBeHidden();
  }
}
