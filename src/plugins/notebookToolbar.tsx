import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { showErrorMessage } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { ReactWidget, ToolbarButtonComponent } from '@jupyterlab/ui-components';
import * as React from 'react';

import { layersIcon } from '../icons';
// eslint-disable-next-line jupyter/prefer-lazy-imports -- tiny helpers the toolbar item needs at once
import {
  environmentOfKernel,
  kernelNameOf,
  selectionLabel,
  selectionMetadata
} from '../notebookLayers';
import { NOTEBOOK_METADATA_KEY } from '../provenance';
import { CommandIDs, ILayersModel } from '../tokens';
import { errorText } from '../widgets/FormDialog';

/**
 * The name of the toolbar item in every notebook toolbar.
 */
const TOOLBAR_ITEM = 'pennlayerLayers';

/**
 * What a notebook runs in and mounts, read from its metadata and kernel.
 */
function notebookSelection(panel: NotebookPanel): {
  environment: string | null;
  layers: string[];
} {
  const recorded = panel.model?.getMetadata(NOTEBOOK_METADATA_KEY) as
    { environment?: unknown; layers?: unknown } | undefined;
  const kernel =
    panel.sessionContext.session?.kernel?.name ??
    panel.sessionContext.kernelPreference.name;
  const environment =
    environmentOfKernel(kernel) ??
    (typeof recorded?.environment === 'string' ? recorded.environment : null);
  const layers = Array.isArray(recorded?.layers)
    ? recorded.layers.filter((name): name is string => typeof name === 'string')
    : [];
  return { environment, layers };
}

/**
 * A toolbar item in notebooks on pennlayer kernels: shows the environment
 * and the mounted layers, and changes them (save, then restart).
 */
export const notebookToolbarPlugin: JupyterFrontEndPlugin<void> = {
  id: 'pennlayer:notebook-toolbar',
  description:
    'Shows and changes the environment and layers of notebooks on pennlayer kernels.',
  autoStart: true,
  requires: [INotebookTracker, ILayersModel],
  optional: [ITranslator],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    model: ILayersModel,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('pennlayer');
    const { commands, serviceManager } = app;

    const change = async (panel: NotebookPanel): Promise<void> => {
      const title = trans.__('Layers of %1', panel.context.path);
      const current = notebookSelection(panel);
      const { pickLayers } = await import('../picker');
      const selection = await pickLayers({
        model,
        serverSettings: serviceManager.serverSettings,
        trans,
        title,
        acceptLabel: trans.__('Save and restart'),
        language: 'python',
        initial: {
          environment: current.environment ?? undefined,
          layers: current.layers
        }
      });
      if (!selection || panel.isDisposed) {
        return;
      }
      try {
        panel.model?.setMetadata(
          NOTEBOOK_METADATA_KEY,
          selectionMetadata(
            panel.model.getMetadata(NOTEBOOK_METADATA_KEY),
            selection
          )
        );
        // The kernel reads its layers from the saved file when it starts.
        await panel.context.save();
        const { sessionContext } = panel;
        const kernelName = kernelNameOf(selection.environment);
        if (sessionContext.session?.kernel?.name !== kernelName) {
          await serviceManager.kernelspecs.refreshSpecs();
          await sessionContext.changeKernel({ name: kernelName });
        } else {
          await sessionContext.restartKernel();
        }
      } catch (reason) {
        await showErrorMessage(title, errorText(reason));
      }
    };

    commands.addCommand(CommandIDs.changeNotebookLayers, {
      label: trans.__('Change Notebook Layers…'),
      caption: trans.__(
        'Pick the environment and reference layers of this notebook, save it and restart its kernel'
      ),
      describedBy: { args: { type: 'object', properties: {} } },
      isEnabled: () =>
        tracker.currentWidget !== null &&
        notebookSelection(tracker.currentWidget).environment !== null,
      execute: async () => {
        if (tracker.currentWidget) {
          await change(tracker.currentWidget);
        }
      }
    });

    const attach = (panel: NotebookPanel): void => {
      const item = new NotebookLayersItem(
        trans.__('Environment and layers (click to change): '),
        () => change(panel)
      );
      const update = (): void => {
        const { environment, layers } = notebookSelection(panel);
        item.setHidden(environment === null);
        item.label =
          environment === null ? '' : selectionLabel(environment, layers);
      };
      panel.toolbar.addItem(TOOLBAR_ITEM, item);
      panel.sessionContext.kernelChanged.connect(update);
      panel.sessionContext.ready.then(update).catch(() => undefined);
      panel.context.ready
        .then(() => {
          update();
          panel.model?.metadataChanged.connect(update);
        })
        .catch(() => undefined);
      update();
    };
    tracker.forEach(attach);
    tracker.widgetAdded.connect((_, panel) => attach(panel));
  }
};

/**
 * The toolbar item: the environment and layers, a click changes them.
 */
class NotebookLayersItem extends ReactWidget {
  constructor(
    private readonly _tooltipPrefix: string,
    private readonly _onClick: () => Promise<void>
  ) {
    super();
    this.addClass('pennlayer-NotebookLayers');
  }

  get label(): string {
    return this._label;
  }

  set label(label: string) {
    if (label !== this._label) {
      this._label = label;
      this.update();
    }
  }

  render(): JSX.Element {
    return (
      <ToolbarButtonComponent
        icon={layersIcon}
        label={this._label}
        tooltip={`${this._tooltipPrefix}${this._label}`}
        onClick={() => void this._onClick()}
      />
    );
  }

  private _label = '';
}
