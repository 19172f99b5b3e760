import * as React from 'react';

import { IJob } from '../tokens';

/**
 * How often the running jobs are asked for while a busy layer is in view, in
 * milliseconds (as often as a followed job's notification).
 */
export const ACTIVE_JOBS_EVERY_MS = 1000;

const NONE: ReadonlyMap<string, IJob> = new Map();

/**
 * The running build or load of each layer in `busy` (the rows in view that
 * are BUILDING or POPULATING), asked for with `fetchJobs` now and every
 * `everyMs` while there are any; nothing is asked for otherwise, so a list of
 * idle layers costs no request.
 */
export function useActiveJobs(
  fetchJobs: (() => Promise<IJob[]>) | undefined,
  busy: readonly string[],
  everyMs: number = ACTIVE_JOBS_EVERY_MS
): ReadonlyMap<string, IJob> {
  const [jobs, setJobs] = React.useState<ReadonlyMap<string, IJob>>(NONE);
  const key = [...busy].sort().join('\n');
  React.useEffect(() => {
    if (!fetchJobs || key === '') {
      setJobs(NONE);
      return;
    }
    const wanted = new Set(key.split('\n'));
    let stopped = false;
    let asking = false;
    const ask = async () => {
      if (asking) {
        return; // a slow answer: the next tick asks again
      }
      asking = true;
      try {
        const found = new Map<string, IJob>();
        for (const job of await fetchJobs()) {
          if (
            (job.kind === 'build' || job.kind === 'populate') &&
            wanted.has(job.layer)
          ) {
            found.set(job.layer, job);
          }
        }
        if (!stopped) {
          setJobs(found);
        }
      } catch {
        // The rows keep what they showed; the next tick tries again.
      } finally {
        asking = false;
      }
    };
    void ask();
    const timer = setInterval(() => void ask(), everyMs);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [fetchJobs, key, everyMs]);
  return jobs;
}
