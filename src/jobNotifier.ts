import { Notification } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';

import { progressCount } from './jobProgress';
import { getJob } from './service';
import { IJob, IJobEvent, ILayersModel, JobState } from './tokens';

/**
 * The states a job ends in.
 */
const ENDED: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

/**
 * How often a followed job is asked for its progress (bytes moved, packages
 * downloaded), in milliseconds.
 */
const PROGRESS_EVERY_MS = 1000;

/**
 * What to say about one followed job.
 */
export interface IJobTexts {
  /** Shown while the job runs, e.g. `Building environment x…`. */
  running: string;
  /** Said after the running text and its progress, e.g. who waits for it. */
  detail?: string;
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
  /** The message shown last, so an unchanged progress is not shown again. */
  shown: string;
  /** The timer asking for the job's progress. */
  ticker: ReturnType<typeof setInterval> | null;
}

/**
 * What to say about restoring `layer` from the archive (IA): whoever starts
 * it, a person from the panel or a kernel launch that mounts the layer.
 */
export function restoreTexts(
  layer: string,
  trans: TranslationBundle
): IJobTexts {
  return {
    running: trans.__('Restoring %1 from the archive (IA)…', layer),
    detail: trans.__('Kernels that mount it start when it is back.'),
    succeeded: trans.__('%1 is restored: kernels can mount it.', layer),
    failed: trans.__('Restoring %1 failed', layer),
    cancelled: trans.__('Restoring %1 was cancelled.', layer)
  };
}

/**
 * The running text with how far the job has come and the detail, e.g.
 * `Restoring x from the archive (IA): 120 MB of 1.0 GB (12%). Kernels that…`.
 */
export function progressMessage(
  texts: IJobTexts,
  job: IJob,
  trans: TranslationBundle
): string {
  const count = progressCount(job, trans);
  const message = count
    ? trans.__('%1: %2.', texts.running.replace(/…$/, ''), count)
    : texts.running;
  return texts.detail ? `${message} ${texts.detail}` : message;
}

/**
 * One notification per job the person started: "in progress" while it runs,
 * turned into "ready" or "failed, because …" when it ends.
 *
 * The end is taken from the server's job events; when an event is missed, the
 * next listing that shows the layer no longer busy asks for the job itself.
 * Its progress (bytes moved, packages downloaded) is asked for every second.
 * A restore that this person did not start (a kernel launch that mounts an
 * archived layer waits for it) is followed as soon as its event arrives, so
 * whoever waits for the kernel sees why and how far it is.
 */
export class JobNotifier implements IDisposable {
  constructor(options: JobNotifier.IOptions) {
    this._model = options.model;
    this._settings = options.serverSettings;
    this._trans = options.trans;
    this._restoreActions = options.restoreActions ?? {};
    this._progressEveryMs = options.progressEveryMs ?? PROGRESS_EVERY_MS;
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
    const known = this._followed.get(job.id);
    if (known) {
      // Followed already (its event came before the answer that started it).
      known.texts = texts;
      known.actions = actions;
      this._show(known, progressMessage(texts, job, this._trans));
      return known.notification;
    }
    const shown = progressMessage(texts, job, this._trans);
    const notification = Notification.emit(shown, 'in-progress', {
      autoClose: false
    });
    const followed: IFollowed = {
      job,
      notification,
      texts,
      actions,
      checking: false,
      again: false,
      shown,
      ticker: null
    };
    this._followed.set(job.id, followed);
    if (job.kind !== 'run') {
      followed.ticker = setInterval(
        () => void this._check(followed),
        this._progressEveryMs
      );
    }
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
    for (const followed of this._followed.values()) {
      this._stopTicker(followed);
    }
    this._followed.clear();
  }

  private _onJobChanged(_: unknown, event: IJobEvent): void {
    if (
      event.kind === 'restore' &&
      !this._followed.has(event.id) &&
      !this._ended.has(event.id)
    ) {
      // Running, or ended before a look of the server saw it run: told either way.
      this.follow(
        {
          id: event.id,
          layer: event.layer,
          kind: 'restore',
          state: event.state,
          error: event.error ?? null
        },
        restoreTexts(event.layer, this._trans),
        this._restoreActions
      );
      return;
    }
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
      // A layer in no fetched page is unknown here: ask for the job then.
      const layer = this._model.layer(followed.job.layer);
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
        if (this._followed.get(job.id) === followed) {
          this._show(
            followed,
            progressMessage(followed.texts, job, this._trans)
          );
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
    this._ended.add(job.id);
    this._stopTicker(followed);
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

  /**
   * Show `message` on a running job's notification, unless it is shown.
   */
  private _show(followed: IFollowed, message: string): void {
    if (message === followed.shown) {
      return;
    }
    followed.shown = message;
    Notification.update({
      id: followed.notification,
      message,
      type: 'in-progress',
      autoClose: false
    });
  }

  private _stopTicker(followed: IFollowed): void {
    if (followed.ticker !== null) {
      clearInterval(followed.ticker);
      followed.ticker = null;
    }
  }

  private _followed = new Map<string, IFollowed>();
  /** The jobs whose end was shown: a late event does not show it again. */
  private _ended = new Set<string>();
  private _isDisposed = false;
  private _model: ILayersModel;
  private _restoreActions: IFailureActions;
  private _progressEveryMs: number;
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
    /** What a failed restore that a kernel launch started offers. */
    restoreActions?: IFailureActions;
    /** How often the progress of an archive or restore is asked for (ms). */
    progressEveryMs?: number;
  }
}
