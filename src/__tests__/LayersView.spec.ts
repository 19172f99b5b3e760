import { nullTranslator } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { LayersModel } from '../model';
import { LayersView } from '../widgets/LayersView';

describe('LayersView', () => {
  it('keeps the model polling while any of its views is on screen', () => {
    const model = new LayersModel({
      fetchLayers: async () => ({
        layers: [],
        totals: {
          layer_count: 0,
          size_bytes: 0,
          file_count: 0,
          monthly_cost_usd: 0
        }
      }),
      autoStart: false
    });
    const sidebar = new LayersView({ model, translator: nullTranslator });
    const table = new LayersView({
      model,
      translator: nullTranslator,
      layout: 'table'
    });
    Widget.attach(sidebar, document.body);
    Widget.attach(table, document.body);
    expect(model.visible).toBe(true);

    // The sidebar is collapsed while the main-area table stays open.
    sidebar.hide();
    expect(model.visible).toBe(true);

    table.dispose();
    expect(model.visible).toBe(false);
    sidebar.show();
    expect(model.visible).toBe(true);
    sidebar.dispose();
    expect(model.visible).toBe(false);
    model.dispose();
  });

  it('lays out the sidebar in compact rows while its width is unknown', () => {
    const model = new LayersModel({
      fetchLayers: async () => ({ layers: [], totals: null as any }),
      autoStart: false
    });
    const sidebar = new LayersView({ model, translator: nullTranslator });
    const table = new LayersView({ model, layout: 'table' });
    expect(sidebar.shownLayout).toBe('compact');
    expect(table.shownLayout).toBe('table');
    sidebar.dispose();
    table.dispose();
    model.dispose();
  });
});
