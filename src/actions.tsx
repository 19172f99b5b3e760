import {
  Dialog,
  Notification,
  showDialog,
  showErrorMessage
} from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import {
  BuildFormFields,
  DescriptionFormFields,
  EnvironmentFormFields,
  newNameProblem,
  PopulateFormFields,
  ReferenceFormFields
} from './components/Forms';
import {
  buildBody,
  environmentCreateBody,
  IBuildForm,
  IEnvironmentForm,
  IPopulateForm,
  IReferenceForm,
  populateBody,
  populateFormFromRecipe,
  populateProblem,
  referenceCreateBody
} from './requestBodies';
import { formatBytes, formatUsd } from './format';
import {
  archiveLayer,
  buildLayer,
  cancelJob,
  createLayer,
  deleteLayer,
  getNode,
  populateLayer,
  restoreLayer,
  updateLayer
} from './service';
import { IJobTexts, JobNotifier, restoreTexts } from './jobNotifier';
import { ILayer, ILayersModel, IJob } from './tokens';
import { errorText, showForm } from './widgets/FormDialog';

/**
 * The actions a person can take on layers from the sidebar: each shows its
 * form, sends the request and reports the server's answer.
 */
export class LayerActions {
  constructor(options: LayerActions.IOptions) {
    this._model = options.model;
    this._settings = options.serverSettings;
    this._trans = options.trans;
    this._notifier = options.notifier ?? null;
    this._showLayer = options.showLayer;
  }

  /**
   * Whether deleting asks for a confirmation first.
   */
  confirmDelete = true;

  /**
   * Ask for a new environment and start its build.
   */
  async newEnvironment(): Promise<boolean> {
    const trans = this._trans;
    // The names in the pages fetched so far: a quick hint; the server
    // refuses any other name that is taken.
    const existing = this._model.knownNames();
    const initial: IEnvironmentForm = {
      name: '',
      description: '',
      requirements: '',
      python: ''
    };
    return showForm<IEnvironmentForm>({
      title: trans.__('New environment'),
      acceptLabel: trans.__('Create'),
      initial,
      render: (value, update) => (
        <EnvironmentFormFields
          value={value}
          update={update}
          existing={existing}
          trans={trans}
        />
      ),
      validate: value => newNameProblem(value.name, existing),
      submit: async value => {
        const name = value.name.trim();
        const created = await createLayer(
          environmentCreateBody(value),
          this._settings
        );
        if (isJob(created)) {
          this._follow(created, this._buildTexts(name, true));
        } else {
          Notification.info(trans.__('Created environment %1.', name), {
            autoClose: 4000
          });
        }
        await this._model.refresh();
      }
    });
  }

  /**
   * Ask for a new, empty reference layer.
   */
  async newReference(): Promise<boolean> {
    const trans = this._trans;
    // The names in the pages fetched so far: a quick hint; the server
    // refuses any other name that is taken.
    const existing = this._model.knownNames();
    return showForm<IReferenceForm>({
      title: trans.__('New reference layer'),
      acceptLabel: trans.__('Create'),
      initial: { name: '', description: '' },
      render: (value, update) => (
        <ReferenceFormFields
          value={value}
          update={update}
          existing={existing}
          trans={trans}
        />
      ),
      validate: value => newNameProblem(value.name, existing),
      submit: async value => {
        await createLayer(referenceCreateBody(value), this._settings);
        await this._model.refresh();
      }
    });
  }

  /**
   * Build a new version of an environment, prefilled with `requirements`
   * (e.g. those of a failed build) or else with the layer's own.
   */
  async build(layer: ILayer, requirements?: string | null): Promise<boolean> {
    const trans = this._trans;
    return showForm<IBuildForm>({
      title:
        layer.version === null
          ? trans.__('Build %1', layer.name)
          : trans.__('Rebuild %1', layer.name),
      acceptLabel: trans.__('Build'),
      initial: {
        requirements: requirements ?? layer.requirements ?? '',
        python: '',
        refresh: false
      },
      render: (value, update) => (
        <BuildFormFields value={value} update={update} trans={trans} />
      ),
      validate: value =>
        value.requirements.trim()
          ? null
          : trans.__('Give at least one requirement.'),
      submit: async value => {
        const job = await buildLayer(
          layer.name,
          buildBody(value),
          this._settings
        );
        this._follow(job, this._buildTexts(layer.name, layer.version === null));
        await this._model.refresh();
      }
    });
  }

  /**
   * Run a loader into a reference layer, prefilled with its stored recipe.
   */
  async populate(layer: ILayer): Promise<boolean> {
    const trans = this._trans;
    // The folders the node allows, to say where a local source may be.
    const allowedRoots = await getNode(this._settings)
      .then(node => node.allowed_source_roots ?? null)
      .catch(() => null);
    return showForm<IPopulateForm>({
      title: trans.__('Populate %1', layer.name),
      acceptLabel: trans.__('Run loader'),
      initial: populateFormFromRecipe(layer.recipe),
      render: (value, update) => (
        <PopulateFormFields
          value={value}
          update={update}
          trans={trans}
          allowedRoots={allowedRoots}
        />
      ),
      validate: populateProblem,
      submit: async value => {
        const job = await populateLayer(
          layer.name,
          populateBody(value),
          this._settings
        );
        this._follow(job, this._populateTexts(layer.name));
        await this._model.refresh();
      }
    });
  }

  /**
   * Run the stored recipe of a reference layer again.
   */
  async rerunLoader(layer: ILayer): Promise<boolean> {
    return this._run(
      trans => trans.__('Re-run loader of %1', layer.name),
      async () => {
        const job = await populateLayer(layer.name, {}, this._settings);
        this._follow(job, this._populateTexts(layer.name));
      }
    );
  }

  /**
   * Change the description of a layer.
   */
  async editDescription(layer: ILayer): Promise<boolean> {
    const trans = this._trans;
    return showForm<{ description: string }>({
      title: trans.__('Description of %1', layer.name),
      acceptLabel: trans.__('Save'),
      initial: { description: layer.description ?? '' },
      render: (value, update) => (
        <DescriptionFormFields value={value} update={update} trans={trans} />
      ),
      submit: async value => {
        await updateLayer(
          layer.name,
          { description: value.description.trim() },
          this._settings
        );
        await this._model.refresh();
      }
    });
  }

  /**
   * Delete a layer, after a confirmation unless the setting turns it off.
   */
  async remove(layer: ILayer): Promise<boolean> {
    const trans = this._trans;
    if (this.confirmDelete) {
      const result = await showDialog({
        title: trans.__('Delete %1?', layer.name),
        body: trans.__(
          'The %1 layer %2 and all its versions are removed from this node for good.',
          layer.kind,
          layer.name
        ),
        buttons: [
          Dialog.cancelButton(),
          Dialog.warnButton({ label: trans.__('Delete') })
        ],
        defaultButton: 0
      });
      if (!result.button.accept) {
        return false;
      }
    }
    return this._run(
      trans => trans.__('Delete %1', layer.name),
      () => deleteLayer(layer.name, this._settings)
    );
  }

  /**
   * Archive a layer to the cold store (it becomes IA), after a confirmation.
   */
  async archive(layer: ILayer): Promise<boolean> {
    const trans = this._trans;
    // Whether a kernel or run that mounts an archived layer restores it first (the
    // node's restore_wait_seconds): the dialog says what archiving means here.
    let restoresOnMount = true;
    try {
      restoresOnMount =
        ((await getNode(this._settings)).restore_wait_seconds ?? 1) > 0;
    } catch {
      // The node's default: mounts restore.
    }
    const size = formatBytes(layer.size_bytes);
    const result = await showDialog({
      title: trans.__('Archive %1?', layer.name),
      body: restoresOnMount
        ? trans.__(
            'Its %1 of files are packed, checked and moved to the cold store; the layer then costs the infrequent-access price. A kernel or run that mounts it restores it first and waits for it (restoring has a retrieval cost).',
            size
          )
        : trans.__(
            'Its %1 of files are packed, checked and moved to the cold store; the layer then costs the infrequent-access price. Kernels cannot mount it until it is restored.',
            size
          ),
      buttons: [
        Dialog.cancelButton(),
        Dialog.okButton({ label: trans.__('Archive') })
      ]
    });
    if (!result.button.accept) {
      return false;
    }
    return this._run(
      trans => trans.__('Archive %1', layer.name),
      async () => {
        const job = await archiveLayer(layer.name, this._settings);
        this._follow(job, {
          running: trans.__('Archiving %1…', layer.name),
          succeeded: trans.__('%1 is archived (IA).', layer.name),
          failed: trans.__('Archiving %1 failed', layer.name),
          cancelled: trans.__('Archiving %1 was cancelled.', layer.name)
        });
      }
    );
  }

  /**
   * Restore an archived layer, after showing what reading it back costs.
   */
  async restore(layer: ILayer): Promise<boolean> {
    const trans = this._trans;
    const result = await showDialog({
      title: trans.__('Restore %1?', layer.name),
      body: trans.__(
        'Its archive (%1) is read back from the cold store, checked and put in place; the estimated retrieval cost is %2.',
        formatBytes(layer.archive_bytes ?? 0),
        formatUsd(layer.retrieval_cost_usd ?? 0)
      ),
      buttons: [
        Dialog.cancelButton(),
        Dialog.okButton({ label: trans.__('Restore') })
      ]
    });
    if (!result.button.accept) {
      return false;
    }
    return this._run(
      trans => trans.__('Restore %1', layer.name),
      async () => {
        const job = await restoreLayer(layer.name, this._settings);
        this._follow(job, restoreTexts(layer.name, trans));
      }
    );
  }

  /**
   * Cancel a running or queued job.
   */
  async cancel(job: IJob): Promise<boolean> {
    return this._run(
      trans => trans.__('Cancel the %1 of %2', job.kind, job.layer),
      () => cancelJob(job.id, this._settings)
    );
  }

  /**
   * Follow a job with a notification that ends as "ready" or "failed".
   */
  private _follow(job: IJob, texts: IJobTexts): void {
    if (!this._notifier) {
      Notification.info(texts.running, { autoClose: 4000 });
      return;
    }
    this._notifier.follow(job, texts, {
      showLayer: this._showLayer,
      retry:
        job.kind === 'build'
          ? {
              label: this._trans.__('Build again'),
              run: async failed => {
                const layer = await this._model
                  .getLayer(failed.layer)
                  .catch(() => null);
                if (layer) {
                  void this.build(layer, failed.requirements);
                }
              }
            }
          : job.kind === 'populate'
            ? {
                label: this._trans.__('Change the loader'),
                run: async failed => {
                  const layer = await this._model
                    .getLayer(failed.layer)
                    .catch(() => null);
                  if (layer) {
                    void this.populate(layer);
                  }
                }
              }
            : undefined
    });
  }

  private _buildTexts(name: string, first: boolean): IJobTexts {
    const trans = this._trans;
    return {
      running: first
        ? trans.__('Building environment %1…', name)
        : trans.__('Rebuilding environment %1…', name),
      succeeded: trans.__(
        'Environment %1 is ready: pick it in the Launcher or the kernel menu.',
        name
      ),
      failed: trans.__('Building %1 failed', name),
      cancelled: trans.__('The build of %1 was cancelled.', name)
    };
  }

  private _populateTexts(name: string): IJobTexts {
    const trans = this._trans;
    return {
      running: trans.__('Loading reference layer %1…', name),
      succeeded: trans.__(
        'Reference layer %1 is ready: mount it from "New notebook with layers…".',
        name
      ),
      failed: trans.__('Loading %1 failed', name),
      cancelled: trans.__('The loader of %1 was cancelled.', name)
    };
  }

  private async _run(
    title: (trans: TranslationBundle) => string,
    request: () => Promise<unknown>
  ): Promise<boolean> {
    try {
      await request();
    } catch (reason) {
      await this._model.refresh();
      await showErrorMessage(title(this._trans), errorText(reason));
      return false;
    }
    await this._model.refresh();
    return true;
  }

  private _model: ILayersModel;
  private _notifier: JobNotifier | null;
  private _showLayer?: (name: string) => void;
  private _settings: ServerConnection.ISettings;
  private _trans: TranslationBundle;
}

/**
 * A namespace for `LayerActions` statics.
 */
export namespace LayerActions {
  export interface IOptions {
    model: ILayersModel;
    serverSettings: ServerConnection.ISettings;
    trans: TranslationBundle;
    /** Follows the jobs started here with notifications. */
    notifier?: JobNotifier | null;
    /** Shows a layer's details, for the notification of a failed job. */
    showLayer?: (name: string) => void;
  }
}

/**
 * Whether an answer of `createLayer` is the build job it started.
 */
function isJob(value: ILayer | IJob): value is IJob {
  return 'state' in value && 'id' in value;
}
