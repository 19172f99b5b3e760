import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, WidgetTracker } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { addIcon, refreshIcon } from '@jupyterlab/ui-components';
import type { LayersTablePanel } from '../widgets/LayersTablePanel';

// eslint-disable-next-line jupyter/prefer-lazy-imports -- the actions back commands registered at start
import { LayerActions } from '../actions';
// eslint-disable-next-line jupyter/prefer-lazy-imports -- follows the jobs the actions start
import { JobNotifier } from '../jobNotifier';
import { normalizeColumns } from '../columns';
import { layersIcon } from '../icons';
import { DEFAULT_REFRESH_INTERVAL } from '../model';
import { CommandIDs, ILayersModel } from '../tokens';
// eslint-disable-next-line jupyter/prefer-lazy-imports -- the Layers tab must be in the shell when the application starts
import { LayersSidebar } from '../widgets/LayersSidebar';

const PLUGIN_ID = 'pennlayer:sidebar';

/**
 * Where the Layers tab sits in the left area (the file browser is at 100).
 */
const SIDEBAR_RANK = 600;

/**
 * The arguments both commands accept.
 */
const COMMAND_ARGS_SCHEMA = {
  type: 'object' as const,
  properties: {
    isPalette: {
      type: 'boolean' as const,
      description: 'Whether the command is run from the command palette'
    }
  }
};

/**
 * The Layers sidebar in the left area, its commands and its settings.
 */
export const sidebarPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Shows the layers of the node in the left sidebar.',
  autoStart: true,
  requires: [ILayersModel],
  optional: [
    ISettingRegistry,
    ICommandPalette,
    ILayoutRestorer,
    ITranslator,
    ILauncher
  ],
  activate: (
    app: JupyterFrontEnd,
    model: ILayersModel,
    settingRegistry: ISettingRegistry | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    translator: ITranslator | null,
    launcher: ILauncher | null
  ): void => {
    translator = translator ?? nullTranslator;
    const trans = translator.load('pennlayer');
    const { commands, shell } = app;

    const notifier = new JobNotifier({
      model,
      serverSettings: app.serviceManager.serverSettings,
      trans,
      restoreActions: {
        showLayer: name => void commands.execute(CommandIDs.showLayer, { name })
      }
    });
    const actions = new LayerActions({
      model,
      serverSettings: app.serviceManager.serverSettings,
      trans,
      notifier,
      showLayer: name => void commands.execute(CommandIDs.showLayer, { name })
    });
    const sidebar = new LayersSidebar({
      model,
      commands,
      translator,
      actions,
      serverSettings: app.serviceManager.serverSettings
    });
    shell.add(sidebar, 'left', { rank: SIDEBAR_RANK, type: 'Layers' });
    restorer?.add(sidebar, sidebar.id);

    commands.addCommand(CommandIDs.openLayers, {
      label: trans.__('Open Layers'),
      caption: trans.__('Show the Layers sidebar'),
      icon: args => (args['isPalette'] ? undefined : layersIcon),
      describedBy: { args: COMMAND_ARGS_SCHEMA },
      execute: () => {
        shell.activateById(sidebar.id);
      }
    });

    // The main-area Layers table: one at most, restored with the layout.
    const tables = new WidgetTracker<LayersTablePanel>({
      namespace: 'pennlayer-layers-table'
    });
    commands.addCommand(CommandIDs.openLayersTable, {
      label: args =>
        args['isPalette'] || args['isLauncher']
          ? trans.__('Layers Table')
          : trans.__('Open the Layers table'),
      caption: trans.__(
        'Every layer of the node with every column, in the main area'
      ),
      icon: args => (args['isPalette'] ? undefined : layersIcon),
      describedBy: {
        args: {
          type: 'object',
          properties: {
            isPalette: { type: 'boolean' },
            isLauncher: { type: 'boolean' }
          }
        }
      },
      execute: async () => {
        const open = tables.currentWidget ?? tables.find(() => true);
        if (open && !open.isDisposed) {
          shell.activateById(open.id);
          return open;
        }
        const { LayersTablePanel } =
          await import('../widgets/LayersTablePanel');
        const panel = new LayersTablePanel({
          model,
          commands,
          translator: translator ?? nullTranslator,
          actions,
          serverSettings: app.serviceManager.serverSettings
        });
        void tables.add(panel);
        shell.add(panel, 'main');
        shell.activateById(panel.id);
        return panel;
      }
    });
    if (restorer) {
      void restorer.restore(tables, {
        command: CommandIDs.openLayersTable,
        name: () => 'layers-table'
      });
    }
    launcher?.add({
      command: CommandIDs.openLayersTable,
      category: trans.__('Other'),
      rank: 10,
      args: { isLauncher: true }
    });

    commands.addCommand(CommandIDs.showLayer, {
      label: trans.__('Show Layer Details'),
      caption: trans.__('Show a layer in the Layers sidebar, details open'),
      describedBy: {
        args: {
          type: 'object',
          properties: {
            name: { type: 'string', description: 'The name of the layer' }
          },
          required: ['name']
        }
      },
      execute: args => {
        const name = typeof args['name'] === 'string' ? args['name'] : '';
        shell.activateById(sidebar.id);
        if (name) {
          sidebar.view.reveal(name);
        }
      }
    });

    commands.addCommand(CommandIDs.refreshLayers, {
      label: trans.__('Refresh Layers'),
      caption: trans.__('List the layers of the node again'),
      icon: args => (args['isPalette'] ? undefined : refreshIcon),
      describedBy: { args: COMMAND_ARGS_SCHEMA },
      execute: () => model.refresh()
    });

    commands.addCommand(CommandIDs.newEnvironment, {
      label: args =>
        args['isPalette']
          ? trans.__('New Environment Layer…')
          : trans.__('New environment…'),
      caption: trans.__('Create an environment layer from requirements'),
      icon: args => (args['isPalette'] ? undefined : addIcon),
      describedBy: { args: COMMAND_ARGS_SCHEMA },
      execute: () => actions.newEnvironment()
    });

    commands.addCommand(CommandIDs.newReference, {
      label: args =>
        args['isPalette']
          ? trans.__('New Reference Layer…')
          : trans.__('New reference layer…'),
      caption: trans.__('Create an empty reference layer for shared data'),
      icon: args => (args['isPalette'] ? undefined : addIcon),
      describedBy: { args: COMMAND_ARGS_SCHEMA },
      execute: () => actions.newReference()
    });

    if (palette) {
      const category = trans.__('Layers');
      for (const command of [
        CommandIDs.openLayers,
        CommandIDs.openLayersTable,
        CommandIDs.refreshLayers,
        CommandIDs.newEnvironment,
        CommandIDs.newReference
      ]) {
        palette.addItem({ command, category, args: { isPalette: true } });
      }
    }

    if (settingRegistry) {
      const apply = (settings: ISettingRegistry.ISettings): void => {
        sidebar.view.columns = normalizeColumns(
          settings.get('columns').composite
        );
        const interval = settings.get('refreshInterval').composite;
        model.refreshInterval =
          typeof interval === 'number' ? interval : DEFAULT_REFRESH_INTERVAL;
        actions.confirmDelete =
          settings.get('confirmDelete').composite !== false;
      };
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          apply(settings);
          settings.changed.connect(apply);
        })
        .catch(reason => {
          console.error(`Failed to load the settings of ${PLUGIN_ID}.`, reason);
        });
    }
  }
};
