import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { ServerConnection } from '@jupyterlab/services';

import type { LayerActions } from '../actions';
import { LAYER_COLUMNS, LayerColumn } from '../columns';
import { LayerDetails } from '../components/LayerDetails';
import { LayersOverview } from '../components/LayersOverview';
import { ILayersModel } from '../tokens';

/**
 * The section of the Layers sidebar that shows the totals and the table.
 *
 * It tells the model when it is on screen, so that polling only runs while
 * someone can see the result.
 */
export class LayersView extends ReactWidget {
  constructor(options: LayersView.IOptions) {
    super();
    this._model = options.model;
    this._trans = (options.translator ?? nullTranslator).load('pennlayer');
    this._columns = [...(options.columns ?? LAYER_COLUMNS)];
    this._actions = options.actions ?? null;
    this._serverSettings = options.serverSettings;
    this.addClass('pennlayer-LayersView');
    this.title.label = this._trans.__('Layers');
  }

  /**
   * The model shown.
   */
  get model(): ILayersModel {
    return this._model;
  }

  /**
   * The table columns, in display order.
   */
  get columns(): readonly LayerColumn[] {
    return this._columns;
  }

  set columns(columns: readonly LayerColumn[]) {
    this._columns = [...columns];
    this.update();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._model.visible = this.isVisible;
  }

  protected onBeforeDetach(msg: Message): void {
    this._model.visible = false;
    super.onBeforeDetach(msg);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._model.visible = true;
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._model.visible = false;
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this._model.changed}>
        {() => (
          <LayersOverview
            layers={this._model.layers}
            totals={this._model.totals}
            error={this._model.error}
            loaded={this._model.loaded}
            columns={this._columns}
            trans={this._trans}
            onRetry={() => void this._model.refresh()}
            renderDetails={layer => (
              <LayerDetails
                layer={layer}
                actions={this._actions}
                serverSettings={this._serverSettings}
                trans={this._trans}
              />
            )}
          />
        )}
      </UseSignal>
    );
  }

  private _actions: LayerActions | null;
  private _columns: LayerColumn[];
  private _serverSettings?: ServerConnection.ISettings;
  private _model: ILayersModel;
  private _trans: TranslationBundle;
}

/**
 * A namespace for `LayersView` statics.
 */
export namespace LayersView {
  /**
   * The options of a layers view.
   */
  export interface IOptions {
    model: ILayersModel;
    translator?: ITranslator;
    columns?: readonly LayerColumn[];
    /** The actions offered in the details of a layer. */
    actions?: LayerActions | null;
    serverSettings?: ServerConnection.ISettings;
  }
}
