import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

import { LayersModel } from '../model';
import { getLayer, listLayers } from '../service';
import { ILayersModel } from '../tokens';

/**
 * Provides the layers model shared by every pennlayer view.
 */
export const modelPlugin: JupyterFrontEndPlugin<ILayersModel> = {
  id: 'pennlayer:model',
  description: 'Keeps the list of layers up to date for every pennlayer view.',
  autoStart: true,
  provides: ILayersModel,
  activate: (app: JupyterFrontEnd): ILayersModel => {
    const { serverSettings } = app.serviceManager;
    // Older or custom service managers may have no events manager.
    const events =
      (app.serviceManager as Partial<typeof app.serviceManager>).events ?? null;
    return new LayersModel({
      fetchLayers: filters => listLayers(filters, serverSettings),
      fetchLayer: name => getLayer(name, serverSettings),
      events
    });
  }
};
