import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ISessionContext,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import {
  INotebookTracker,
  NotebookActions,
  NotebookPanel
} from '@jupyterlab/notebook';
import { Kernel, ServerConnection } from '@jupyterlab/services';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { Signal } from '@lumino/signaling';

import {
  isPennLayerKernel,
  layersToRecord,
  NOTEBOOK_METADATA_KEY
} from '../provenance';
import { getKernelSession } from '../service';
import { ISession } from '../tokens';

/**
 * How often to ask for a kernel's session before giving up, and how long to
 * wait in between: the server records the session while the kernel starts,
 * which can finish a moment after the kernel answers.
 */
const SESSION_ATTEMPTS = 10;
const SESSION_RETRY_MS = 500;

/**
 * Code that may change what the session installed live.
 */
const LIVE_INSTALL_CODE = /\bpip\b|%layer|\buv\b/;

/**
 * Records in each notebook the exact layers its kernel mounted.
 */
export const notebookMetadataPlugin: JupyterFrontEndPlugin<void> = {
  id: 'pennlayer:notebook-metadata',
  description:
    'Records in each notebook the exact layer versions its pennlayer kernel mounted.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ITranslator],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('pennlayer');
    // Ids of the sessions whose notices were shown: a kernel shared by two
    // notebooks, or a notebook opened twice, tells its news only once.
    const noticesShown = new Set<string>();
    const options: NotebookLayersRecorder.IOptions = {
      serverSettings: app.serviceManager.serverSettings,
      trans,
      showNotices: session => {
        if (noticesShown.has(session.id)) {
          return;
        }
        noticesShown.add(session.id);
        for (const notice of session.notices) {
          Notification.warning(notice, {
            autoClose: false,
            // Toasts cut messages after 140 characters, and the end of a
            // notice says which version the kernel got instead.
            actions: [
              {
                label: trans.__('Details'),
                caption: trans.__('Show the whole message'),
                callback: event => {
                  event.preventDefault();
                  void showDialog({
                    title: trans.__('Mounted layers'),
                    body: notice,
                    buttons: [Dialog.okButton()]
                  });
                }
              }
            ]
          });
        }
      }
    };

    tracker.forEach(panel => new NotebookLayersRecorder(panel, options));
    tracker.widgetAdded.connect((_, panel) => {
      new NotebookLayersRecorder(panel, options);
    });
  }
};

/**
 * Watches the kernel of one notebook and writes what it mounted into the
 * notebook's `metadata.pennlayer`, after every kernel change or restart.
 *
 * The kernel counts as started once its connection is (re)established or it
 * reports idle or busy: the status alone is not enough, because after a
 * restart JupyterLab may keep showing "restarting" until the next message.
 */
class NotebookLayersRecorder {
  constructor(
    private readonly _panel: NotebookPanel,
    private readonly _options: NotebookLayersRecorder.IOptions
  ) {
    const { sessionContext } = _panel;
    sessionContext.kernelChanged.connect(this._onKernelChanged, this);
    sessionContext.statusChanged.connect(this._onStatusChanged, this);
    sessionContext.connectionStatusChanged.connect(
      this._onConnectionStatusChanged,
      this
    );
    // `%pip install` changes the session's live installs: record them once the
    // cell that may have made them has run.
    NotebookActions.executed.connect(this._onExecuted, this);
    _panel.disposed.connect(() => {
      this._generation++;
      Signal.clearData(this);
    });
    this._recordIfStarted();
  }

  private _onExecuted(
    _: unknown,
    args: {
      notebook: unknown;
      cell: { model: { sharedModel: { getSource(): string } } };
    }
  ): void {
    const kernel = this._panel.sessionContext.session?.kernel;
    if (
      args.notebook !== this._panel.content ||
      !kernel ||
      !this._recordedSession ||
      !LIVE_INSTALL_CODE.test(args.cell.model.sharedModel.getSource())
    ) {
      return;
    }
    void this._record(kernel, this._generation, null);
  }

  private _onKernelChanged(): void {
    this._recordedSession = null;
    this._expectNewSession();
    this._recordIfStarted();
  }

  private _onStatusChanged(_: ISessionContext, status: Kernel.Status): void {
    if (status === 'restarting' || status === 'autorestarting') {
      // A restart opens a new session, possibly with other versions.
      this._expectNewSession();
    } else if (status === 'idle' || status === 'busy') {
      this._recordIfStarted();
    }
  }

  private _onConnectionStatusChanged(
    _: ISessionContext,
    status: Kernel.ConnectionStatus
  ): void {
    if (status === 'connected') {
      this._recordIfStarted();
    }
  }

  private _expectNewSession(): void {
    this._pending = true;
    this._generation++;
  }

  /**
   * Record the layers of the kernel if a start is pending and it is connected.
   */
  private _recordIfStarted(): void {
    const kernel = this._panel.sessionContext.session?.kernel;
    if (!this._pending || !kernel || kernel.connectionStatus !== 'connected') {
      return;
    }
    this._pending = false;
    if (isPennLayerKernel(kernel.name)) {
      void this._record(kernel, this._generation, this._recordedSession);
    }
  }

  /**
   * Fetch the kernel's session and record its layers in the notebook.
   *
   * @param replaced - the id of the session a restart ended, which the
   * server may still answer with for a moment
   */
  private async _record(
    kernel: Kernel.IKernelConnection,
    generation: number,
    replaced: string | null
  ): Promise<void> {
    // A result that arrives after another kernel change or restart is out of date.
    const outdated = () =>
      generation !== this._generation ||
      this._panel.isDisposed ||
      kernel.isDisposed;
    const { context } = this._panel;
    let session: ISession;
    try {
      await context.ready;
      session = await Private.findActiveSession(
        kernel.id,
        replaced,
        this._options.serverSettings
      );
    } catch (reason) {
      if (!outdated()) {
        const { trans } = this._options;
        Notification.warning(
          trans.__(
            'The layers mounted by the kernel of %1 could not be recorded in the notebook: %2',
            context.path,
            reason instanceof Error ? reason.message : String(reason)
          )
        );
      }
      return;
    }
    if (outdated()) {
      return;
    }
    this._recordedSession = session.id;
    this._options.showNotices(session);
    const model = context.model;
    const next = layersToRecord(
      model.getMetadata(NOTEBOOK_METADATA_KEY),
      session.notebook_metadata
    );
    if (next) {
      model.setMetadata(NOTEBOOK_METADATA_KEY, next);
    }
  }

  private _pending = true;
  private _generation = 0;
  private _recordedSession: string | null = null;
}

namespace NotebookLayersRecorder {
  export interface IOptions {
    serverSettings: ServerConnection.ISettings;
    trans: TranslationBundle;
    /**
     * Tell the person about the notices of a session (each session once).
     */
    showNotices: (session: ISession) => void;
  }
}

namespace Private {
  /**
   * The running session of a kernel, asked for until the server has it.
   *
   * Right after a start or restart the server may still answer with no
   * session, or with the session of the previous start (`replaced`).
   */
  export async function findActiveSession(
    kernelId: string,
    replaced: string | null,
    settings: ServerConnection.ISettings
  ): Promise<ISession> {
    for (let attempt = 1; ; attempt++) {
      let problem: unknown;
      try {
        const session = await getKernelSession(kernelId, settings);
        if (session.active && session.id !== replaced) {
          return session;
        }
        problem = new Error(
          `the server has no new session for kernel ${kernelId}`
        );
      } catch (reason) {
        problem = reason;
      }
      if (attempt >= SESSION_ATTEMPTS) {
        throw problem;
      }
      await new Promise(resolve => setTimeout(resolve, SESSION_RETRY_MS));
    }
  }
}
