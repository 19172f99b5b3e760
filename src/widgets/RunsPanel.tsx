import type { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { RunsSection } from '../components/RunsSection';
import { IRun, RunsModel } from '../runs';
import { IJobLog } from '../tokens';

/**
 * The Runs section as a widget of the Layers sidebar; it tells the runs model
 * when it is on screen, so that polling only runs while someone looks.
 */
export class RunsPanel extends ReactWidget {
  constructor(options: RunsPanel.IOptions) {
    super();
    this._options = options;
    this.addClass('pennlayer-RunsPanel');
    this.title.label = options.trans.__('Runs');
  }

  get model(): RunsModel {
    return this._options.model;
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this.model.visible = this.isVisible;
  }

  protected onBeforeDetach(msg: Message): void {
    this.model.visible = false;
    super.onBeforeDetach(msg);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.model.visible = true;
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.model.visible = false;
  }

  render(): JSX.Element {
    const { model, trans, onCancel, onRerun, onOpenOutput, fetchLog } =
      this._options;
    return (
      <UseSignal signal={model.changed}>
        {() => (
          <RunsSection
            runs={model.runs}
            error={model.error}
            loaded={model.loaded}
            trans={trans}
            onCancel={onCancel}
            onRerun={onRerun}
            onOpenOutput={onOpenOutput}
            fetchLog={fetchLog}
          />
        )}
      </UseSignal>
    );
  }

  private _options: RunsPanel.IOptions;
}

/**
 * A namespace for `RunsPanel` statics.
 */
export namespace RunsPanel {
  export interface IOptions {
    model: RunsModel;
    trans: TranslationBundle;
    onCancel: (run: IRun) => void;
    onRerun: (run: IRun) => void;
    onOpenOutput?: (run: IRun) => void;
    fetchLog: (id: string, offset: number) => Promise<IJobLog>;
  }
}
