import { MainAreaWidget } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { addIcon, refreshIcon, ToolbarButton } from '@jupyterlab/ui-components';
import { CommandRegistry } from '@lumino/commands';

import type { LayerActions } from '../actions';
import { LAYER_COLUMNS } from '../columns';
import { layersIcon } from '../icons';
import { CommandIDs, ILayersModel } from '../tokens';
import { LayersView } from './LayersView';

/**
 * The id of the main-area Layers table (there is at most one).
 */
export const LAYERS_TABLE_ID = 'pennlayer-layers-table';

/**
 * The node's Layers tab in the main area: every column, sorting, a filter,
 * and the same details and actions as the sidebar.
 */
export class LayersTablePanel extends MainAreaWidget<LayersView> {
  constructor(options: LayersTablePanel.IOptions) {
    const translator = options.translator ?? nullTranslator;
    const trans = translator.load('pennlayer');
    const content = new LayersView({
      model: options.model,
      translator,
      columns: LAYER_COLUMNS,
      layout: 'table',
      actions: options.actions,
      serverSettings: options.serverSettings
    });
    super({ content });
    this.id = LAYERS_TABLE_ID;
    this.addClass('pennlayer-LayersTablePanel');
    this.title.label = trans.__('Layers');
    this.title.caption = trans.__('The layers of this node');
    this.title.icon = layersIcon;
    this.title.closable = true;
    // The dock panel makes this node a tab panel: name the content instead.
    content.node.setAttribute('role', 'region');
    content.node.setAttribute('aria-label', trans.__('Layers table'));

    const { commands } = options;
    this.toolbar.addItem(
      'new-environment',
      new ToolbarButton({
        icon: addIcon,
        label: trans.__('Environment'),
        tooltip: trans.__('New environment: build a package stack'),
        onClick: () => void commands.execute(CommandIDs.newEnvironment)
      })
    );
    this.toolbar.addItem(
      'new-reference',
      new ToolbarButton({
        icon: addIcon,
        label: trans.__('Reference'),
        tooltip: trans.__('New reference layer: shared data'),
        onClick: () => void commands.execute(CommandIDs.newReference)
      })
    );
    this.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: trans.__('Refresh the list of layers'),
        onClick: () => void commands.execute(CommandIDs.refreshLayers)
      })
    );
  }
}

/**
 * A namespace for `LayersTablePanel` statics.
 */
export namespace LayersTablePanel {
  export interface IOptions {
    model: ILayersModel;
    commands: CommandRegistry;
    translator?: ITranslator;
    actions?: LayerActions | null;
    serverSettings?: ServerConnection.ISettings;
  }
}
