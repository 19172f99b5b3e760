import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { formatDateTime } from '../format';
import { ILayerUsage } from '../runs';

/**
 * The props of `LayerUsage`.
 */
export interface ILayerUsageProps {
  name: string;
  /** `GET /pennlayer/layers/{name}/usage`, usually `getLayerUsage`. */
  fetchUsage: (name: string) => Promise<ILayerUsage>;
  trans: TranslationBundle;
  /** A value that changes when the usage may have changed (e.g. in-use ids). */
  refreshKey?: string;
}

/**
 * "Used by": the runs and sessions that mounted each version of a layer,
 * with the version and digest they got, newest version first.
 */
export function LayerUsage(props: ILayerUsageProps): JSX.Element {
  const { name, fetchUsage, trans, refreshKey } = props;
  const [usage, setUsage] = React.useState<ILayerUsage | null>(null);
  const [error, setError] = React.useState<string | null>(null);

  React.useEffect(() => {
    let current = true;
    fetchUsage(name)
      .then(answer => {
        if (current) {
          setUsage(answer);
          setError(null);
        }
      })
      .catch(reason => {
        if (current) {
          setError(reason instanceof Error ? reason.message : String(reason));
        }
      });
    return () => {
      current = false;
    };
  }, [name, refreshKey]);

  const used = (usage?.versions ?? []).filter(
    version => version.runs.length > 0 || version.sessions.length > 0
  );
  return (
    <section
      className="pennlayer-LayerDetails-section pennlayer-LayerUsage"
      aria-label={trans.__('Runs and sessions that used %1', name)}
    >
      <h3 className="pennlayer-LayerDetails-title">
        {trans.__('Runs and sessions that used it')}
      </h3>
      {error && (
        <p className="pennlayer-LayerDetails-error" role="alert">
          {error}
        </p>
      )}
      {usage && used.length === 0 && (
        <p className="pennlayer-LayerDetails-empty">
          {trans.__('No run or kernel has mounted this layer yet.')}
        </p>
      )}
      {used.map(version => (
        <div key={`${version.version}-${version.digest}`}>
          <p className="pennlayer-LayerUsage-version">
            {trans.__('v%1', version.version ?? '?')}{' '}
            <code title={version.digest ?? ''}>
              {(version.digest ?? '').slice(0, 19)}
            </code>
            {version.current ? ` (${trans.__('current')})` : ''}
            {version.on_node ? '' : ` — ${trans.__('no longer on this node')}`}
          </p>
          <ul className="pennlayer-LayerDetails-list">
            {version.runs.map(run => (
              <li key={run.id}>
                {trans.__('run %1', run.id.slice(0, 8))} — {run.state}
                {run.notebook ? ` — ${run.notebook.split('/').pop()}` : ''}
                {run.user ? ` — ${run.user}` : ''}
                {` — ${formatDateTime(run.started_at)}`}
              </li>
            ))}
            {version.sessions.map(session => (
              <li key={session.id}>
                {session.notebook_path
                  ? session.notebook_path.split('/').pop()
                  : session.kernel_id}
                {session.user ? ` — ${session.user}` : ''}
                {` — ${
                  session.active
                    ? trans.__(
                        'running since %1',
                        formatDateTime(session.started_at)
                      )
                    : formatDateTime(session.started_at)
                }`}
              </li>
            ))}
          </ul>
        </div>
      ))}
    </section>
  );
}
