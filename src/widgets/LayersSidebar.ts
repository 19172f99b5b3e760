import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { ServerConnection } from '@jupyterlab/services';
import {
  addIcon,
  launchIcon,
  refreshIcon,
  SidePanel,
  ToolbarButton
} from '@jupyterlab/ui-components';

import type { LayerActions } from '../actions';
import { CommandRegistry } from '@lumino/commands';
import { Panel, Widget } from '@lumino/widgets';

import { LayerColumn } from '../columns';
import { layersIcon } from '../icons';
import { CommandIDs, ILayersModel } from '../tokens';
import { LayersView } from './LayersView';

/**
 * The id of the Layers sidebar in the left area.
 */
export const LAYERS_SIDEBAR_ID = 'pennlayer-sidebar';

/**
 * The Layers sidebar: a header, a toolbar and the layers section.
 */
export class LayersSidebar extends SidePanel {
  constructor(options: LayersSidebar.IOptions) {
    const translator = options.translator ?? nullTranslator;
    // One section for now: a plain panel, no accordion title above it.
    super({ content: new Panel(), translator });
    const trans = translator.load('pennlayer');

    this.id = LAYERS_SIDEBAR_ID;
    this.addClass('pennlayer-LayersSidebar');
    this.title.icon = layersIcon;
    this.title.caption = trans.__('Layers');
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', trans.__('Layers'));

    const heading = document.createElement('h2');
    heading.className = 'pennlayer-LayersSidebar-heading';
    heading.textContent = trans.__('Layers');
    this.header.addWidget(new Widget({ node: heading }));
    const openTable = new ToolbarButton({
      icon: launchIcon,
      tooltip: trans.__('Open the Layers table in the main area'),
      onClick: () => {
        void options.commands.execute(CommandIDs.openLayersTable);
      }
    });
    openTable.addClass('pennlayer-LayersSidebar-openTable');
    this.header.addWidget(openTable);

    this.toolbar.addItem(
      'new-environment',
      new ToolbarButton({
        icon: addIcon,
        label: trans.__('Environment'),
        tooltip: trans.__('New environment: build a package stack'),
        onClick: () => {
          void options.commands.execute(CommandIDs.newEnvironment);
        }
      })
    );
    this.toolbar.addItem(
      'new-reference',
      new ToolbarButton({
        icon: addIcon,
        label: trans.__('Reference'),
        tooltip: trans.__('New reference layer: shared data'),
        onClick: () => {
          void options.commands.execute(CommandIDs.newReference);
        }
      })
    );
    this.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: trans.__('Refresh the list of layers'),
        onClick: () => {
          void options.commands.execute(CommandIDs.refreshLayers);
        }
      })
    );

    this._view = new LayersView({
      model: options.model,
      translator,
      columns: options.columns,
      actions: options.actions,
      serverSettings: options.serverSettings
    });
    this.addWidget(this._view);
  }

  /**
   * The section that shows the totals and the table.
   */
  get view(): LayersView {
    return this._view;
  }

  private _view: LayersView;
}

/**
 * A namespace for `LayersSidebar` statics.
 */
export namespace LayersSidebar {
  /**
   * The options of the Layers sidebar.
   */
  export interface IOptions {
    model: ILayersModel;
    commands: CommandRegistry;
    translator?: ITranslator;
    columns?: readonly LayerColumn[];
    actions?: LayerActions | null;
    serverSettings?: ServerConnection.ISettings;
  }
}
