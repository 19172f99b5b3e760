import type { TranslationBundle } from '@jupyterlab/translation';

import { formatBytes, formatTimeLeft } from './format';
import { IJob } from './tokens';

/**
 * What a running job's progress counts: a build's packages unpacked of those
 * it fetches (`31 of 38 packages`), or the bytes moved of the total (`81.0 MB
 * of 300 MB`) with their percent; null when it counts nothing.
 */
function counted(
  job: IJob,
  trans: TranslationBundle
): { text: string; percent: number; packages: boolean } | null {
  const progress = job.progress ?? {};
  const packages = progress.packages_total ?? 0;
  if (packages > 0) {
    const done = Math.min(Math.max(progress.packages_done ?? 0, 0), packages);
    return {
      text: trans._n('%2 of %1 package', '%2 of %1 packages', packages, done),
      percent: Math.floor((done / packages) * 100),
      packages: true
    };
  }
  const total = progress.bytes_total ?? 0;
  if (total > 0) {
    const done = Math.min(Math.max(progress.bytes_done ?? 0, 0), total);
    return {
      text: trans.__('%1 of %2', formatBytes(done), formatBytes(total)),
      percent: Math.floor((done / total) * 100),
      packages: false
    };
  }
  return null;
}

/**
 * How far a running job has come, counted: the packages of a build's download
 * (`31 of 38 packages, downloading scipy 35.3 MB, numpy 16.9 MB and 1 more`)
 * or the bytes moved (`120 MB of 1.0 GB (12%), about 4 min left`); null when
 * it counts nothing.
 */
export function progressCount(
  job: IJob,
  trans: TranslationBundle
): string | null {
  const count = counted(job, trans);
  if (!count) {
    return null;
  }
  const progress = job.progress ?? {};
  if (count.packages) {
    const coming = downloadingText(progress.downloading ?? [], trans);
    return coming
      ? trans.__('%1, downloading %2', count.text, coming)
      : count.text;
  }
  const moved = trans.__('%1 (%2%)', count.text, count.percent);
  const left = progress.seconds_left;
  return typeof left === 'number'
    ? trans.__('%1, %2', moved, formatTimeLeft(left))
    : moved;
}

/**
 * The two biggest packages still downloading with their sizes, then how many
 * more, as the CLI says it (`downloading_text` in pennlayer_ext/core/units.py).
 */
function downloadingText(
  coming: { name: string; bytes: number }[],
  trans: TranslationBundle
): string {
  const named = coming
    .slice(0, 2)
    .map(item => `${item.name} ${formatBytes(item.bytes)}`);
  if (coming.length > named.length) {
    return trans.__(
      '%1 and %2 more',
      named.join(', '),
      coming.length - named.length
    );
  }
  return named.length === 2
    ? trans.__('%1 and %2', named[0], named[1])
    : (named[0] ?? '');
}

/**
 * How far the running step has come, from 0 to 1; null when it counts nothing.
 * A build's download fills by the bytes uv announced (the big packages: the
 * count races ahead on the small ones), as the CLI's bar does.
 */
export function progressFraction(job: IJob): number | null {
  const progress = job.progress ?? {};
  let done = 0;
  let total = 0;
  if ((progress.packages_total ?? 0) > 0) {
    [done, total] =
      (progress.download_bytes_total ?? 0) > 0
        ? [
            progress.download_bytes_done ?? 0,
            progress.download_bytes_total ?? 0
          ]
        : [progress.packages_done ?? 0, progress.packages_total ?? 0];
  } else if ((progress.bytes_total ?? 0) > 0) {
    [done, total] = [progress.bytes_done ?? 0, progress.bytes_total ?? 0];
  } else {
    return null;
  }
  return Math.min(Math.max(done / total, 0), 1);
}

/**
 * How far a running job has come in a few words, for a row of the layers
 * list: `31 of 38 packages`, `81.0 MB of 300 MB`, or its step
 * (`step 3 of 5`); null when the job has said nothing yet.
 */
export function progressShort(
  job: IJob,
  trans: TranslationBundle
): string | null {
  const count = counted(job, trans);
  if (count) {
    return count.text;
  }
  const progress = job.progress ?? {};
  if (progress.step && progress.steps) {
    return trans.__('step %1 of %2', progress.step, progress.steps);
  }
  return null;
}

/**
 * Everything a running job says of itself, for a title on hover: its step's
 * message and how far it has come (`Resolving and installing packages: 31 of
 * 38 packages, downloading scipy 35.3 MB`).
 */
export function progressTitle(
  job: IJob,
  trans: TranslationBundle
): string | null {
  const message = job.progress?.message ?? null;
  const count = progressCount(job, trans);
  if (message && count) {
    return trans.__('%1: %2', message, count);
  }
  return message ?? count;
}
