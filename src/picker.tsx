import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { LayerPickerFields } from './components/Forms';
import {
  ILayerSelection,
  initialSelection,
  mountableReferences,
  runnableEnvironments
} from './notebookLayers';
import { listEnvironments } from './service';
import { IEnvironment, ILayer, ILayersModel } from './tokens';

/**
 * The most reference layers the picker offers (the server's largest page).
 */
const MAX_PICKER_REFERENCES = 1000;
import { errorText, FormBody } from './widgets/FormDialog';

/**
 * Ask which environment and reference layers a notebook should mount.
 *
 * @returns the selection, or `null` when cancelled or nothing can be picked
 */
export async function pickLayers(options: {
  model: ILayersModel;
  serverSettings: ServerConnection.ISettings;
  trans: TranslationBundle;
  title: string;
  acceptLabel: string;
  language?: string;
  initial?: Partial<ILayerSelection> | null;
}): Promise<ILayerSelection | null> {
  const { trans } = options;
  let environments: IEnvironment[];
  let references: ILayer[];
  try {
    const [listed, referenceList] = await Promise.all([
      listEnvironments(options.language, options.serverSettings),
      // The server sorts and filters; a node with more reference layers than
      // one request takes offers the first ones by name.
      options.model.listLayers({
        kind: 'reference',
        sort: 'name',
        limit: MAX_PICKER_REFERENCES
      })
    ]);
    environments = runnableEnvironments(listed);
    references = mountableReferences(referenceList.layers);
  } catch (reason) {
    await showErrorMessage(options.title, errorText(reason));
    return null;
  }
  const body = new FormBody<ILayerSelection>({
    initial: initialSelection(environments, references, options.initial),
    render: (value, update) => (
      <LayerPickerFields
        value={value}
        update={update}
        environments={environments}
        references={references}
        trans={trans}
      />
    ),
    validate: value =>
      value.environment ? null : trans.__('Pick an environment.')
  });
  const result = await showDialog<ILayerSelection>({
    title: options.title,
    body,
    focusNodeSelector: 'select, input',
    buttons: [
      Dialog.cancelButton(),
      Dialog.okButton({ label: options.acceptLabel })
    ]
  });
  if (!result.button.accept || !result.value?.environment) {
    return null;
  }
  return result.value;
}
