import { Notification } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';

import { getJob } from './service';
import { IJob, IJobEvent, ILayersModel, JobState } from './tokens';

/**
 * The states a job ends in.
 */
const ENDED: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

/**
 * What to say about one followed job.
 */
export interface IJobTexts {
  /** Shown while the job runs, e.g. `Building environment x…`. */
  running: string;
  /** Shown when it succeeded, e.g. `Environment x is ready…`. */
  succeeded: string;
  /** Leads the error when it failed, e.g. `Building x failed`. */
  failed: string;
  /** Shown when it was cancelled. */
  cancelled: string;
}

/**
 * What a person can do about a failed job, from its notification.
 */
export interface IFailureActions {
  /** Show the layer's details (and the job's log). */
  showLayer?: (name: string) => void;
  /** Start the job again, e.g. the build form with the failed requirements. */
  retry?: { label: string; run: (job: IJob) => void };
}

interface IFollowed {
  job: IJob;
  notification: string;
  texts: IJobTexts;
  actions: IFailureActions;
  checking: boolean;
  again: boolean;
}

/**
 * One notification per job the person started: "in progress" while it runs,
 * turned into "ready" or "failed, because …" when it ends.
 *
 * The end is taken from the server's job events; when an event is missed, the
 * next listing that shows the layer no longer busy asks for the job itself.
 */
export class JobNotifier implements IDisposable {
  constructor(options: JobNotifier.IOptions) {
    this._model = options.model;
    this._settings = options.serverSettings;
    this._trans = options.trans;
    this._model.jobChanged.connect(this._onJobChanged, this);
    this._model.changed.connect(this._onModelChanged, this);
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Show a notification for `job` that follows it to its end.
   *
   * @returns the id of the notification
   */
  follow(job: IJob, texts: IJobTexts, actions: IFailureActions = {}): string {
    const notification = Notification.emit(texts.running, 'in-progress', {
      autoClose: false
    });
    const followed: IFollowed = {
      job,
      notification,
      texts,
      actions,
      checking: false,
      again: false
    };
    this._followed.set(job.id, followed);
    if (ENDED.includes(job.state)) {
      this._end(followed, job);
    } else {
      // The job may have ended between the answer and now, without an event.
      void this._check(followed);
    }
    return notification;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._model.jobChanged.disconnect(this._onJobChanged, this);
    this._model.changed.disconnect(this._onModelChanged, this);
    this._followed.clear();
  }

  private _onJobChanged(_: unknown, event: IJobEvent): void {
    const followed = this._followed.get(event.id);
    if (followed && ENDED.includes(event.state)) {
      this._end(followed, {
        ...followed.job,
        state: event.state,
        error: event.error ?? null
      });
    }
  }

  private _onModelChanged(): void {
    for (const followed of this._followed.values()) {
      const layer = this._model.layers.find(
        item => item.name === followed.job.layer
      );
      const busy =
        layer?.status === 'BUILDING' || layer?.status === 'POPULATING';
      if (!busy) {
        void this._check(followed);
      }
    }
  }

  /**
   * Ask the server for the job; a request made while one is out asks again
   * once it is answered, as the answer may predate what caused the request.
   */
  private async _check(followed: IFollowed): Promise<void> {
    if (followed.checking) {
      followed.again = true;
      return;
    }
    followed.checking = true;
    try {
      do {
        followed.again = false;
        const job = await getJob(followed.job.id, this._settings);
        if (ENDED.includes(job.state)) {
          this._end(followed, job);
          return;
        }
      } while (followed.again && !this._isDisposed);
    } catch {
      // The next listing or event tries again.
    } finally {
      followed.checking = false;
    }
  }

  private _end(followed: IFollowed, job: IJob): void {
    if (this._followed.get(job.id) !== followed) {
      return;
    }
    this._followed.delete(job.id);
    const { texts, actions, notification } = followed;
    const trans = this._trans;
    if (job.state === 'succeeded') {
      Notification.update({
        id: notification,
        message: texts.succeeded,
        type: 'success',
        autoClose: 8000
      });
      return;
    }
    if (job.state === 'cancelled') {
      Notification.update({
        id: notification,
        message: texts.cancelled,
        type: 'info',
        autoClose: 5000
      });
      return;
    }
    const buttons: Notification.IAction[] = [];
    if (actions.showLayer) {
      const show = actions.showLayer;
      buttons.push({
        label: trans.__('Show log'),
        caption: trans.__('Show the details and the log of %1', job.layer),
        callback: () => show(job.layer)
      });
    }
    if (actions.retry) {
      const retry = actions.retry;
      buttons.push({
        label: retry.label,
        displayType: 'accent',
        callback: () => retry.run(job)
      });
    }
    Notification.update({
      id: notification,
      message: job.error ? `${texts.failed}: ${job.error}` : texts.failed,
      type: 'error',
      autoClose: false,
      actions: buttons
    });
  }

  private _followed = new Map<string, IFollowed>();
  private _isDisposed = false;
  private _model: ILayersModel;
  private _settings?: ServerConnection.ISettings;
  private _trans: TranslationBundle;
}

/**
 * A namespace for `JobNotifier` statics.
 */
export namespace JobNotifier {
  export interface IOptions {
    model: ILayersModel;
    serverSettings?: ServerConnection.ISettings;
    trans: TranslationBundle;
  }
}
