import type { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

import { formatDateTime } from '../format';
import { formatDuration, IRun, isActive, runProgress } from '../runs';
import { IJobLog } from '../tokens';

/**
 * How often the log of an active run is asked for more text.
 */
const LOG_POLL_MS = 1000;

/**
 * The most runs the section lists (newest first).
 */
export const MAX_RUNS_SHOWN = 50;

/**
 * The props of `RunsSection`.
 */
export interface IRunsSectionProps {
  runs: readonly IRun[];
  error: string | null;
  loaded: boolean;
  trans: TranslationBundle;
  /** Stop a queued or running run. */
  onCancel: (run: IRun) => void;
  /** Start the same notebook again with the same parameters and versions. */
  onRerun: (run: IRun) => void;
  /** Open the output notebook; absent when it cannot be opened here. */
  onOpenOutput?: (run: IRun) => void;
  /** A piece of a run's log from `offset` on. */
  fetchLog: (id: string, offset: number) => Promise<IJobLog>;
}

function baseName(path: string): string {
  return path.split('/').pop() ?? path;
}

/**
 * The Runs section of the Layers sidebar: headless runs with their status,
 * duration and progress; a run opens to its layers, parameters, error, log
 * and actions (cancel, open output, rerun).
 */
export function RunsSection(props: IRunsSectionProps): JSX.Element {
  const { runs, error, loaded, trans } = props;
  const [open, setOpen] = React.useState(true);
  const [expanded, setExpanded] = React.useState<string | null>(null);
  const shown = runs.slice(0, MAX_RUNS_SHOWN);
  const active = runs.filter(isActive).length;
  return (
    <section className="pennlayer-Runs" aria-label={trans.__('Runs')}>
      <h3 className="pennlayer-Runs-heading">
        <button
          className="pennlayer-Runs-toggle"
          aria-expanded={open}
          onClick={() => setOpen(!open)}
        >
          {open ? '▾' : '▸'} {trans.__('Runs')}{' '}
          <span className="pennlayer-Runs-count">
            {active
              ? trans.__('(%1, %2 active)', runs.length, active)
              : `(${runs.length})`}
          </span>
        </button>
      </h3>
      {open && (
        <>
          {error && (
            <p className="pennlayer-Runs-error" role="alert">
              {error}
            </p>
          )}
          {loaded && runs.length === 0 && !error && (
            <p className="pennlayer-Runs-empty">
              {trans.__(
                'No runs yet. Run a notebook headlessly with its layers: "Run with layers…" in the notebook toolbar, or jupyter pennlayer run NOTEBOOK.'
              )}
            </p>
          )}
          <ul className="pennlayer-Runs-list" aria-label={trans.__('Runs')}>
            {shown.map(run => (
              <RunRow
                key={run.id}
                {...props}
                run={run}
                expanded={expanded === run.id}
                onToggle={() =>
                  setExpanded(expanded === run.id ? null : run.id)
                }
              />
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

function RunRow(
  props: IRunsSectionProps & {
    run: IRun;
    expanded: boolean;
    onToggle: () => void;
  }
): JSX.Element {
  const { run, expanded, onToggle } = props;
  const name = baseName(run.notebook_path ?? run.notebook);
  const active = isActive(run);
  return (
    <li className={`pennlayer-Run pennlayer-Run-${run.state}`}>
      <button
        className="pennlayer-Run-summary"
        aria-expanded={expanded}
        title={run.notebook}
        onClick={onToggle}
      >
        <span
          className={`pennlayer-Run-state pennlayer-Run-state-${run.state}`}
        >
          {active ? runProgress(run) : run.state}
        </span>{' '}
        <span className="pennlayer-Run-name">{name}</span>{' '}
        <span className="pennlayer-Run-duration">
          {formatDuration(run.duration_s)}
        </span>
      </button>
      {expanded && <RunDetails {...props} />}
    </li>
  );
}

function RunDetails(props: IRunsSectionProps & { run: IRun }): JSX.Element {
  const { run, trans, onCancel, onRerun, onOpenOutput } = props;
  const active = isActive(run);
  const parameters = Object.entries(run.parameters ?? {});
  return (
    <div
      className="pennlayer-Run-details"
      role="region"
      aria-label={trans.__('Run %1', run.id)}
    >
      <div className="pennlayer-Run-actions" role="toolbar">
        {active && (
          <Button
            small
            title={trans.__(
              'Stop the run: its kernel stops, its layers are freed'
            )}
            onClick={() => onCancel(run)}
          >
            {trans.__('Cancel')}
          </Button>
        )}
        {onOpenOutput && run.output_path && (
          <Button
            small
            title={trans.__('Open %1', run.output_path)}
            onClick={() => onOpenOutput(run)}
          >
            {trans.__('Open output')}
          </Button>
        )}
        {!active && (
          <Button
            small
            title={trans.__(
              'Run the notebook again with the same parameters and layer versions'
            )}
            onClick={() => onRerun(run)}
          >
            {trans.__('Rerun')}
          </Button>
        )}
      </div>
      <dl className="pennlayer-Run-facts">
        <dt>{trans.__('Started')}</dt>
        <dd>{formatDateTime(run.started_at ?? run.created_at)}</dd>
        {run.user && (
          <>
            <dt>{trans.__('User')}</dt>
            <dd>{run.user}</dd>
          </>
        )}
        <dt>{trans.__('Output')}</dt>
        <dd title={run.output}>{run.output_path ?? run.output}</dd>
        {run.rerun_of && (
          <>
            <dt>{trans.__('Rerun of')}</dt>
            <dd>{run.rerun_of.slice(0, 8)}</dd>
          </>
        )}
      </dl>
      <ul
        className="pennlayer-Run-mounts"
        aria-label={trans.__('Layers of run %1', run.id)}
      >
        {run.mounts.map(mount => (
          <li key={mount.layer}>
            {mount.layer} {trans.__('v%1', mount.version)}{' '}
            <code title={mount.digest ?? ''}>
              {(mount.digest ?? '').slice(0, 19)}
            </code>
            {mount.layer === run.environment
              ? ` (${trans.__('environment')})`
              : ''}
          </li>
        ))}
      </ul>
      {parameters.length > 0 && (
        <ul
          className="pennlayer-Run-parameters"
          aria-label={trans.__('Parameters of run %1', run.id)}
        >
          {parameters.map(([name, value]) => (
            <li key={name}>
              <code>
                {name} = {JSON.stringify(value)}
              </code>
            </li>
          ))}
        </ul>
      )}
      {run.notices.map(notice => (
        <p key={notice} className="pennlayer-Run-notice">
          {notice}
        </p>
      ))}
      {run.error && (
        <p className="pennlayer-Run-error" role="alert">
          {run.error}
        </p>
      )}
      {run.failure?.source && (
        <pre
          className="pennlayer-Run-cell"
          aria-label={trans.__('Failing cell')}
        >
          {run.failure.source}
        </pre>
      )}
      <RunLog {...props} />
    </div>
  );
}

/**
 * The run's log, followed while the run is active.
 */
function RunLog(props: IRunsSectionProps & { run: IRun }): JSX.Element {
  const { run, fetchLog, trans } = props;
  const [text, setText] = React.useState('');
  const active = isActive(run);
  const preRef = React.useRef<HTMLPreElement>(null);

  React.useEffect(() => {
    let stopped = false;
    let offset = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;
    setText('');
    const tick = async (): Promise<void> => {
      try {
        const piece = await fetchLog(run.id, offset);
        if (stopped) {
          return;
        }
        offset = piece.next_offset;
        if (piece.text) {
          setText(previous => previous + piece.text);
        }
        if (piece.complete) {
          return;
        }
      } catch {
        // The next tick tries again.
      }
      if (!stopped) {
        timer = setTimeout(() => void tick(), LOG_POLL_MS);
      }
    };
    void tick();
    return () => {
      stopped = true;
      if (timer !== null) {
        clearTimeout(timer);
      }
    };
  }, [run.id, active]);

  React.useEffect(() => {
    const pre = preRef.current;
    if (pre) {
      pre.scrollTop = pre.scrollHeight;
    }
  }, [text]);

  return (
    <pre
      ref={preRef}
      className="pennlayer-Run-log"
      aria-label={trans.__('Log of run %1', run.id)}
      tabIndex={0}
    >
      {text || trans.__('Waiting for the log…')}
    </pre>
  );
}
