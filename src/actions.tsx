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
import {
  buildLayer,
  cancelJob,
  createLayer,
  deleteLayer,
  populateLayer,
  updateLayer
} from './service';
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
    const existing = this._model.layers.map(layer => layer.name);
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
        await createLayer(environmentCreateBody(value), this._settings);
        Notification.info(
          value.requirements.trim()
            ? trans.__('Building environment %1…', value.name.trim())
            : trans.__('Created environment %1.', value.name.trim()),
          { autoClose: 4000 }
        );
        await this._model.refresh();
      }
    });
  }

  /**
   * Ask for a new, empty reference layer.
   */
  async newReference(): Promise<boolean> {
    const trans = this._trans;
    const existing = this._model.layers.map(layer => layer.name);
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
   * Build a new version of an environment, prefilled with its requirements.
   */
  async build(layer: ILayer): Promise<boolean> {
    const trans = this._trans;
    return showForm<IBuildForm>({
      title:
        layer.version === null
          ? trans.__('Build %1', layer.name)
          : trans.__('Rebuild %1', layer.name),
      acceptLabel: trans.__('Build'),
      initial: {
        requirements: layer.requirements ?? '',
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
        await buildLayer(layer.name, buildBody(value), this._settings);
        await this._model.refresh();
      }
    });
  }

  /**
   * Run a loader into a reference layer, prefilled with its stored recipe.
   */
  async populate(layer: ILayer): Promise<boolean> {
    const trans = this._trans;
    return showForm<IPopulateForm>({
      title: trans.__('Populate %1', layer.name),
      acceptLabel: trans.__('Run loader'),
      initial: populateFormFromRecipe(layer.recipe),
      render: (value, update) => (
        <PopulateFormFields value={value} update={update} trans={trans} />
      ),
      validate: populateProblem,
      submit: async value => {
        await populateLayer(layer.name, populateBody(value), this._settings);
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
      () => populateLayer(layer.name, {}, this._settings)
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
   * Cancel a running or queued job.
   */
  async cancel(job: IJob): Promise<boolean> {
    return this._run(
      trans => trans.__('Cancel the %1 of %2', job.kind, job.layer),
      () => cancelJob(job.id, this._settings)
    );
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
  }
}
