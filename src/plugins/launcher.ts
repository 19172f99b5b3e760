import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, showErrorMessage } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { UUID } from '@lumino/coreutils';

import { layersIcon } from '../icons';
import { CommandIDs, ILayersModel } from '../tokens';
import { errorText } from '../widgets/FormDialog';

/**
 * "New notebook with layers…": pick an environment and reference layers,
 * then create, save and open a notebook that mounts them.
 */
export const launcherPlugin: JupyterFrontEndPlugin<void> = {
  id: 'pennlayer:launcher',
  description:
    'Creates notebooks that run in an environment layer and mount reference layers.',
  autoStart: true,
  requires: [ILayersModel],
  optional: [ILauncher, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    model: ILayersModel,
    launcher: ILauncher | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('pennlayer');
    const { commands, serviceManager } = app;

    commands.addCommand(CommandIDs.newNotebookWithLayers, {
      label: args =>
        args['isLauncher']
          ? trans.__('Notebook with layers…')
          : trans.__('New notebook with layers…'),
      caption: trans.__(
        'Create a notebook in an environment layer with reference layers mounted'
      ),
      icon: args => (args['isPalette'] ? undefined : layersIcon),
      describedBy: {
        args: {
          type: 'object',
          properties: {
            cwd: {
              type: 'string',
              description: 'The folder to create the notebook in'
            },
            isLauncher: { type: 'boolean' },
            isPalette: { type: 'boolean' }
          }
        }
      },
      execute: async args => {
        const title = trans.__('New notebook with layers');
        const { pickLayers } = await import('../picker');
        const { kernelNameOf, newNotebookContent } =
          await import('../notebookLayers');
        const selection = await pickLayers({
          model,
          serverSettings: serviceManager.serverSettings,
          trans,
          title,
          acceptLabel: trans.__('Create and open'),
          language: 'python'
        });
        if (!selection) {
          return;
        }
        const kernelName = kernelNameOf(selection.environment);
        try {
          // The environment may be newer than the page's list of kernels.
          await serviceManager.kernelspecs.refreshSpecs();
          const displayName =
            serviceManager.kernelspecs.specs?.kernelspecs[kernelName]
              ?.display_name ?? selection.environment;
          const cwd = typeof args['cwd'] === 'string' ? args['cwd'] : '';
          const untitled = await serviceManager.contents.newUntitled({
            path: cwd,
            type: 'notebook'
          });
          // The layers must be in the file before the kernel starts: the
          // provisioner reads them from disk.
          await serviceManager.contents.save(untitled.path, {
            type: 'notebook',
            format: 'json',
            content: newNotebookContent(selection, displayName, UUID.uuid4())
          });
          return await commands.execute('docmanager:open', {
            path: untitled.path,
            factory: 'Notebook',
            kernel: { name: kernelName }
          });
        } catch (reason) {
          await showErrorMessage(title, errorText(reason));
        }
      }
    });

    // An environment's kernel appears or goes with its first build or its
    // deletion: list the kernelspecs again at once, so the Launcher and the
    // kernel selector follow without waiting for their own refresh. The server
    // writes the kernelspec before it ends the build, so the job's event is
    // enough.
    const refreshSpecs = () =>
      void serviceManager.kernelspecs.refreshSpecs().catch(() => undefined);
    model.jobChanged.connect((_, job) => {
      if (job.kind === 'build' && job.state === 'succeeded') {
        refreshSpecs();
      }
    });
    // A deleted environment takes its kernel with it (a layer gone whose kind
    // is unknown here may have been one), and a new version may bring its
    // first kernel: each layer event names one layer, fetched again.
    const versions = new Map<string, number | null>();
    model.layerChanged.connect((_, change) => {
      const { name, layer } = change;
      if (layer === null) {
        versions.delete(name);
        refreshSpecs();
      } else if (
        layer.kind === 'environment' &&
        versions.get(name) !== layer.version
      ) {
        versions.set(name, layer.version);
        refreshSpecs();
      }
    });

    launcher?.add({
      command: CommandIDs.newNotebookWithLayers,
      category: trans.__('Notebook'),
      rank: 0,
      args: { isLauncher: true }
    });
    palette?.addItem({
      command: CommandIDs.newNotebookWithLayers,
      category: trans.__('Layers'),
      args: { isPalette: true }
    });
  }
};
