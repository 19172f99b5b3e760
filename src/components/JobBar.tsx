import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { progressFraction, progressTitle } from '../jobProgress';
import { IJob } from '../tokens';

/**
 * A thin bar filled as far as a running job's step has come, with everything
 * the job says on hover; none when the step counts nothing.
 */
export function JobBar(props: {
  job: IJob;
  name: string;
  trans: TranslationBundle;
  /** Where it sits: along a list row's foot, or under a table's status. */
  className: string;
}): JSX.Element | null {
  const { job, name, trans } = props;
  const fraction = progressFraction(job);
  if (fraction === null) {
    return null;
  }
  const percent = Math.floor(fraction * 100);
  return (
    <div
      className={`pennlayer-JobBar ${props.className}`}
      role="progressbar"
      aria-label={trans.__('Progress of %1', name)}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={percent}
      title={progressTitle(job, trans) ?? undefined}
    >
      <div
        className="pennlayer-JobBar-fill"
        style={{ width: `${fraction * 100}%` }}
      />
    </div>
  );
}
