import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import { ServerConnection } from '@jupyterlab/services';

import type { LayerActions } from '../actions';
import {
  LAYER_COLUMNS,
  LayerColumn,
  LayersLayout,
  layoutFor
} from '../columns';
import { LayerDetails } from '../components/LayerDetails';
import { LayersOverview } from '../components/LayersOverview';
import { getNode, listJobs } from '../service';
import { IJob, ILayerPages, ILayersModel } from '../tokens';

/**
 * The totals, the search box and the layers, in the sidebar or the main area.
 *
 * With the `auto` layout (the sidebar's) it shows the table when every chosen
 * column fits its width and compact rows otherwise, so nothing ever needs
 * scrolling sideways. It tells the model when it is on screen, so that
 * polling only runs while someone can see the result.
 */
export class LayersView extends ReactWidget {
  constructor(options: LayersView.IOptions) {
    super();
    this._model = options.model;
    this._trans = (options.translator ?? nullTranslator).load('pennlayer');
    this._columns = [...(options.columns ?? LAYER_COLUMNS)];
    this._actions = options.actions ?? null;
    this._serverSettings = options.serverSettings;
    this._arrangement = options.layout ?? 'auto';
    // Each view has its own search, order and scroll position.
    this._pages = this._model.openPages();
    this._fetchJobs = () =>
      listJobs({ state: 'running' }, this._serverSettings);
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
   * The list this view shows, fetched page by page.
   */
  get pages(): ILayerPages {
    return this._pages;
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

  /**
   * How the layers are laid out now.
   */
  get shownLayout(): LayersLayout {
    return this._arrangement === 'auto'
      ? layoutFor(this._width, this._columns)
      : this._arrangement;
  }

  /**
   * Show a layer with its details open, scrolled into view.
   */
  reveal(name: string): void {
    this._reveal = { name, nonce: (this._reveal?.nonce ?? 0) + 1 };
    this.update();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    void this._checkSandbox();
    this._setShown(this.isVisible);
    if (typeof ResizeObserver !== 'undefined' && this._arrangement === 'auto') {
      this._observer = new ResizeObserver(() => this._measure());
      this._observer.observe(this.node);
    }
    this._measure();
  }

  protected onBeforeDetach(msg: Message): void {
    this._setShown(false);
    this._observer?.disconnect();
    this._observer = null;
    super.onBeforeDetach(msg);
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    this._measure();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._setShown(true);
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._setShown(false);
  }

  dispose(): void {
    if (!this.isDisposed) {
      this._setShown(false);
      this._pages.dispose();
    }
    super.dispose();
  }

  /**
   * The model polls while any of its views is on screen: the sidebar, the
   * main-area table, or both.
   */
  private _setShown(shown: boolean): void {
    let views = Private.shownViews.get(this._model);
    if (!views) {
      views = new Set();
      Private.shownViews.set(this._model, views);
    }
    if (shown) {
      views.add(this);
    } else {
      views.delete(this);
    }
    this._model.visible = views.size > 0;
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this._model.changed}>
        {() => (
          <LayersOverview
            pages={this._pages}
            totals={this._model.totals}
            error={this._model.error}
            loaded={this._model.loaded}
            columns={this._columns}
            layout={this.shownLayout}
            trans={this._trans}
            onRetry={() => void this._model.refresh()}
            reveal={this._reveal}
            fetchJobs={this._fetchJobs}
            notReadOnly={this._notReadOnly}
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

  /**
   * Ask once whether the node's kernels get layers read-only (the node report's
   * read_only_enforced for the backend they get); when not, the view says so
   * under the totals.
   */
  private async _checkSandbox(): Promise<void> {
    if (this._sandboxChecked) {
      return;
    }
    this._sandboxChecked = true;
    try {
      const sandbox = (await getNode(this._serverSettings)).sandbox ?? {};
      if (sandbox['backend'] && sandbox['read_only_enforced'] === false) {
        const warning = sandbox['warning'];
        this._notReadOnly =
          typeof warning === 'string' && warning
            ? warning
            : this._trans.__('The sandbox backend is none.');
        this.update();
      }
    } catch {
      this._sandboxChecked = false; // asked again at the next attach
    }
  }

  /**
   * Re-render when the width crosses the point where the table fits.
   */
  private _measure(): void {
    const width = this.node.clientWidth;
    if (width === this._width) {
      return;
    }
    const before = this.shownLayout;
    this._width = width;
    if (this.shownLayout !== before) {
      this.update();
    }
  }

  private _actions: LayerActions | null;
  private _fetchJobs: () => Promise<IJob[]>;
  private _notReadOnly: string | null = null;
  private _sandboxChecked = false;
  private _arrangement: LayersLayout | 'auto';
  private _observer: ResizeObserver | null = null;
  private _reveal: { name: string; nonce: number } | null = null;
  private _width = 0;
  private _columns: LayerColumn[];
  private _serverSettings?: ServerConnection.ISettings;
  private _model: ILayersModel;
  private _pages: ILayerPages;
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
    /**
     * Compact rows, the table, or `auto` (the default): the table when every
     * column fits the width, compact rows otherwise.
     */
    layout?: LayersLayout | 'auto';
    serverSettings?: ServerConnection.ISettings;
  }
}

namespace Private {
  /**
   * The views of each model that are on screen now.
   */
  export const shownViews = new WeakMap<ILayersModel, Set<LayersView>>();
}
