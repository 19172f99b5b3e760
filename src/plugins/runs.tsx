import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  Notification,
  showDialog,
  showErrorMessage
} from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import {
  CommandToolbarButton,
  runIcon,
  SidePanel
} from '@jupyterlab/ui-components';
import { find } from '@lumino/algorithm';
import { Widget } from '@lumino/widgets';

// eslint-disable-next-line jupyter/prefer-lazy-imports -- a tiny helper the command needs at once
import { environmentOfKernel } from '../notebookLayers';
import { NOTEBOOK_METADATA_KEY } from '../provenance';
import { PennLayerRequestError } from '../request';
import { cancelJob, getJobLog } from '../service';
// eslint-disable-next-line jupyter/prefer-lazy-imports -- the runs model starts with the plugin
import {
  IRun,
  isActive,
  listRuns,
  parseParameters,
  rerun,
  RunCommandIDs,
  RunsModel,
  startRun
} from '../runs';
import { errorText } from '../widgets/FormDialog';
// eslint-disable-next-line jupyter/prefer-lazy-imports -- the section joins the sidebar at start
import { LAYERS_SIDEBAR_ID } from '../widgets/LayersSidebar';
// eslint-disable-next-line jupyter/prefer-lazy-imports -- the section joins the sidebar at start
import { RunsPanel } from '../widgets/RunsPanel';

/**
 * The name of the run button in every notebook toolbar.
 */
const TOOLBAR_ITEM = 'pennlayerRun';

/**
 * What a notebook asks to run in: its environment (metadata or kernel), its
 * reference layers, and the parameters of the run that wrote it, if any.
 */
function notebookRunSelection(panel: NotebookPanel): {
  environment: string | null;
  layers: string[];
  parameters: { [name: string]: unknown };
} {
  const recorded = panel.model?.getMetadata(NOTEBOOK_METADATA_KEY) as
    | {
        environment?: unknown;
        layers?: unknown;
        run?: { parameters?: unknown };
      }
    | undefined;
  const kernel =
    panel.sessionContext.session?.kernel?.name ??
    panel.sessionContext.kernelPreference.name;
  const environment =
    typeof recorded?.environment === 'string'
      ? recorded.environment
      : environmentOfKernel(kernel);
  const layers = Array.isArray(recorded?.layers)
    ? recorded.layers.filter((name): name is string => typeof name === 'string')
    : [];
  const parameters = recorded?.run?.parameters;
  return {
    environment,
    layers,
    parameters:
      typeof parameters === 'object' && parameters !== null
        ? (parameters as { [name: string]: unknown })
        : {}
  };
}

/**
 * The body of the "Run with layers" dialog: what will be mounted, and the
 * parameters as `NAME = VALUE` lines.
 */
class RunDialogBody extends Widget implements Dialog.IBodyWidget<string> {
  constructor(
    summary: string,
    label: string,
    placeholder: string,
    parameters: string
  ) {
    super();
    this.addClass('pennlayer-RunDialog');
    const text = document.createElement('p');
    text.textContent = summary;
    const caption = document.createElement('label');
    caption.textContent = label;
    this._parameters = document.createElement('textarea');
    this._parameters.className = 'jp-mod-styled pennlayer-RunDialog-parameters';
    this._parameters.rows = 4;
    this._parameters.placeholder = placeholder;
    this._parameters.value = parameters;
    caption.appendChild(this._parameters);
    this.node.append(text, caption);
  }

  getValue(): string {
    return this._parameters.value;
  }

  private _parameters: HTMLTextAreaElement;
}

/**
 * Headless runs in JupyterLab: "Run with layers…" on notebooks (toolbar and
 * palette) and the Runs section of the Layers sidebar.
 */
export const runsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'pennlayer:runs',
  description:
    'Runs notebooks headlessly with their layers and lists the runs in the Layers sidebar.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('pennlayer');
    const { commands, serviceManager, shell } = app;
    const settings = serviceManager.serverSettings;
    const events =
      (serviceManager as Partial<typeof serviceManager>).events ?? null;
    const model = new RunsModel({
      fetchRuns: () => listRuns(settings),
      events
    });

    const showRuns = (): void => {
      shell.activateById(LAYERS_SIDEBAR_ID);
    };
    const openOutput = (run: IRun): void => {
      if (run.output_path) {
        void commands.execute('docmanager:open', { path: run.output_path });
      }
    };

    // Tell the person how a run they started ended.
    const watched = new Set<string>();
    const watch = (id: string): void => {
      watched.add(id);
    };
    model.changed.connect(() => {
      for (const run of model.runs) {
        if (!watched.has(run.id) || isActive(run)) {
          continue;
        }
        watched.delete(run.id);
        const name = (run.output_path ?? run.output).split('/').pop();
        const actions = run.output_path
          ? [
              {
                label: trans.__('Open output'),
                callback: () => openOutput(run)
              }
            ]
          : [];
        if (run.state === 'succeeded') {
          Notification.success(trans.__('Run succeeded: %1', name), {
            actions,
            autoClose: 8000
          });
        } else if (run.state === 'failed') {
          Notification.error(trans.__('Run failed: %1', run.error ?? ''), {
            actions: [
              ...actions,
              { label: trans.__('Show runs'), callback: showRuns }
            ]
          });
        }
      }
    });

    const start = async (
      title: string,
      begin: () => Promise<{ id: string }>
    ): Promise<void> => {
      try {
        const job = await begin();
        watch(job.id);
        Notification.info(title, {
          actions: [{ label: trans.__('Show runs'), callback: showRuns }],
          autoClose: 5000
        });
        await model.refresh();
      } catch (reason) {
        await showErrorMessage(
          trans.__('The run did not start'),
          errorText(reason)
        );
      }
    };

    const runWithLayers = async (panel: NotebookPanel): Promise<void> => {
      const selection = notebookRunSelection(panel);
      if (selection.environment === null) {
        await showErrorMessage(
          trans.__('Run with layers'),
          trans.__(
            'This notebook names no pennlayer environment. Pick one first (Change Notebook Layers…).'
          )
        );
        return;
      }
      const layers = selection.layers.length
        ? selection.layers.join(', ')
        : trans.__('no reference layer');
      const body = new RunDialogBody(
        trans.__(
          'Runs the saved notebook headlessly in %1 with %2 mounted read-only. The output notebook records the run, its parameters and the exact layer versions.',
          selection.environment,
          layers
        ),
        trans.__(
          'Parameters (NAME = VALUE per line; a value is read as JSON when it can be):'
        ),
        trans.__('alpha = 0.5\nlabel = "first try"'),
        Object.entries(selection.parameters)
          .map(([name, value]) => `${name} = ${JSON.stringify(value)}`)
          .join('\n')
      );
      const answer = await showDialog({
        title: trans.__('Run %1 with layers', panel.context.path),
        body,
        buttons: [
          Dialog.cancelButton(),
          Dialog.okButton({ label: trans.__('Run') })
        ]
      });
      if (!answer.button.accept || panel.isDisposed) {
        return;
      }
      let parameters: { [name: string]: unknown };
      try {
        parameters = parseParameters(answer.value ?? '');
      } catch (reason) {
        await showErrorMessage(trans.__('Run with layers'), errorText(reason));
        return;
      }
      if (panel.context.model.dirty) {
        // The run reads the notebook from disk.
        await panel.context.save();
      }
      await start(trans.__('Run started: %1', panel.context.path), () =>
        startRun({ notebook: panel.context.path, parameters }, settings)
      );
    };

    const rerunWithConfiguration = async (run: IRun): Promise<void> => {
      const title = trans.__(
        'Rerun started: %1',
        run.notebook_path ?? run.notebook
      );
      try {
        const job = await rerun(run.id, {}, settings);
        watch(job.id);
        Notification.info(title, { autoClose: 5000 });
        await model.refresh();
        return;
      } catch (reason) {
        if (
          !(reason instanceof PennLayerRequestError) ||
          reason.response.status !== 409
        ) {
          await showErrorMessage(
            trans.__('The rerun did not start'),
            errorText(reason)
          );
          return;
        }
        // A recorded version is gone: say which, and offer the newer one.
        const answer = await showDialog({
          title: trans.__('A recorded layer version is gone'),
          body: reason.message,
          buttons: [
            Dialog.cancelButton(),
            Dialog.warnButton({ label: trans.__('Run with newer versions') })
          ]
        });
        if (answer.button.accept) {
          await start(title, () =>
            rerun(run.id, { accept_newer: true }, settings)
          );
        }
      }
    };

    const cancel = async (run: IRun): Promise<void> => {
      try {
        await cancelJob(run.id, settings); // a run's id is its job's
      } catch (reason) {
        await showErrorMessage(
          trans.__('The run was not cancelled'),
          errorText(reason)
        );
      }
      await model.refresh();
    };

    commands.addCommand(RunCommandIDs.runWithLayers, {
      label: args =>
        args['isPalette']
          ? trans.__('Run Notebook with Layers…')
          : trans.__('Run with layers…'),
      caption: trans.__(
        'Run this notebook headlessly (papermill) with its environment and layers; the output records what produced it'
      ),
      icon: args => (args['isPalette'] ? undefined : runIcon),
      describedBy: {
        args: {
          type: 'object',
          properties: { isPalette: { type: 'boolean' } }
        }
      },
      isEnabled: () => tracker.currentWidget !== null,
      execute: async () => {
        if (tracker.currentWidget) {
          await runWithLayers(tracker.currentWidget);
        }
      }
    });
    commands.addCommand(RunCommandIDs.showRuns, {
      label: trans.__('Show Runs'),
      caption: trans.__('Show the headless runs in the Layers sidebar'),
      describedBy: { args: { type: 'object', properties: {} } },
      execute: showRuns
    });
    if (palette) {
      const category = trans.__('Layers');
      palette.addItem({
        command: RunCommandIDs.runWithLayers,
        category,
        args: { isPalette: true }
      });
      palette.addItem({ command: RunCommandIDs.showRuns, category });
    }

    tracker.widgetAdded.connect((_, panel) => {
      panel.toolbar.addItem(
        TOOLBAR_ITEM,
        new CommandToolbarButton({
          commands,
          id: RunCommandIDs.runWithLayers,
          label: trans.__('Run with layers')
        })
      );
    });

    // The one place where the Runs section joins the Layers sidebar.
    const section = new RunsPanel({
      model,
      trans,
      onCancel: run => void cancel(run),
      onRerun: run => void rerunWithConfiguration(run),
      onOpenOutput: openOutput,
      fetchLog: (id, offset) => getJobLog(id, offset, settings)
    });
    void app.restored.then(() => {
      const sidebar = find(
        shell.widgets('left'),
        widget => widget.id === LAYERS_SIDEBAR_ID
      );
      if (sidebar instanceof SidePanel) {
        sidebar.addWidget(section);
      }
    });
  }
};
