import { ServerConnection } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { LayerActions } from '../actions';
import {
  formatBytes,
  formatCount,
  formatDate,
  formatDateTime,
  formatMonthlyCost,
  formatRelativeTime,
  formatUsd
} from '../format';
import { costTitle, sizeTitle, uniqueBytes } from '../sizes';
import { progressCount } from '../jobProgress';
import {
  getJob,
  getJobLog,
  getLayer,
  listActiveSessions,
  listJobs
} from '../service';
import { getLayerUsage } from '../runs';
import { archiveBlockedReason, deleteBlockedReason } from '../tableState';
import { IJob, ILayer, ILayerDetail, ISession } from '../tokens';
import { LayerUsage } from './LayerUsage';

/**
 * How often the log of a running job is asked for more text.
 */
const LOG_POLL_MS = 1000;

/**
 * The props of `LayerDetails`.
 */
export interface ILayerDetailsProps {
  layer: ILayer;
  actions: LayerActions | null;
  serverSettings?: ServerConnection.ISettings;
  trans: TranslationBundle;
}

interface IDetailsState {
  detail: ILayerDetail | null;
  sessions: ISession[];
  jobs: IJob[];
  error: string | null;
}

/**
 * Everything about one layer below its row: actions, description, packages
 * or recipe, versions, the sessions using it and the log of its last job.
 */
export function LayerDetails(props: ILayerDetailsProps): JSX.Element {
  const { layer, actions, serverSettings, trans } = props;
  const [state, setState] = React.useState<IDetailsState>({
    detail: null,
    sessions: [],
    jobs: [],
    error: null
  });
  const inUse = (layer.in_use ?? []).join(',');

  React.useEffect(() => {
    let current = true;
    Promise.all([
      getLayer(layer.name, serverSettings),
      listActiveSessions(serverSettings).catch(() => [] as ISession[]),
      listJobs({ layer: layer.name }, serverSettings).catch(() => [] as IJob[])
    ])
      .then(([detail, sessions, jobs]) => {
        if (current) {
          setState({ detail, sessions, jobs, error: null });
        }
      })
      .catch(reason => {
        if (current) {
          setState(previous => ({
            ...previous,
            error: reason instanceof Error ? reason.message : String(reason)
          }));
        }
      });
    return () => {
      current = false;
    };
  }, [layer.name, layer.status, layer.version, layer.description, inUse]);

  const detail: ILayerDetail = state.detail
    ? { ...state.detail, ...layer, versions: state.detail.versions }
    : layer;
  const activeJob =
    state.jobs.find(job => job.state === 'queued' || job.state === 'running') ??
    null;
  const lastJob = activeJob ?? state.jobs[0] ?? null;
  // "Build" after a failed build offers what that build was given.
  const failedBuild =
    lastJob && lastJob.kind === 'build' && lastJob.state === 'failed'
      ? lastJob
      : null;
  // The error of the last job is shown once, with its log.
  const errorShownWithLog =
    lastJob !== null &&
    lastJob === state.jobs[0] &&
    !!lastJob.error &&
    lastJob.error === layer.error;
  const blocked = deleteBlockedReason(layer, state.jobs);
  const archiveBlocked = archiveBlockedReason(layer, state.jobs);
  const archived = layer.storage_class === 'IA';
  const sessions = state.sessions.filter(
    session =>
      session.environment === layer.name ||
      session.mounts.some(mount => mount.layer === layer.name) ||
      (layer.in_use ?? []).includes(session.id)
  );

  return (
    <div
      className="pennlayer-LayerDetails"
      role="region"
      aria-label={trans.__('Details of %1', layer.name)}
    >
      {actions && (
        <div
          className="pennlayer-LayerDetails-actions"
          role="toolbar"
          aria-label={trans.__('Actions on %1', layer.name)}
        >
          {layer.kind === 'environment' ? (
            <Button
              small
              disabled={activeJob !== null || archived}
              title={
                archived
                  ? trans.__('Restore the layer first')
                  : activeJob
                    ? trans.__('A build of %1 is running.', layer.name)
                    : failedBuild?.requirements
                      ? trans.__(
                          'Build again, starting from the requirements of the failed build'
                        )
                      : trans.__('Build a new version from requirements')
              }
              onClick={() =>
                void actions.build(layer, failedBuild?.requirements)
              }
            >
              {layer.version === null ? trans.__('Build') : trans.__('Rebuild')}
            </Button>
          ) : (
            <>
              <Button
                small
                disabled={activeJob !== null || archived}
                title={
                  archived
                    ? trans.__('Restore the layer first')
                    : trans.__('Fill the layer from a source')
                }
                onClick={() => void actions.populate(detail)}
              >
                {trans.__('Populate')}
              </Button>
              {detail.recipe && (
                <Button
                  small
                  disabled={activeJob !== null || archived}
                  title={
                    archived
                      ? trans.__('Restore the layer first')
                      : trans.__(
                          'Run the stored recipe again: %1',
                          detail.recipe.source
                        )
                  }
                  onClick={() => void actions.rerunLoader(layer)}
                >
                  {trans.__('Re-run loader')}
                </Button>
              )}
            </>
          )}
          <Button
            small
            title={trans.__('Change the description')}
            onClick={() => void actions.editDescription(layer)}
          >
            {trans.__('Edit description')}
          </Button>
          {layer.storage_class === 'IA' ? (
            <Button
              small
              disabled={activeJob !== null}
              title={
                activeJob
                  ? trans.__('A job of %1 is running.', layer.name)
                  : trans.__('Bring the layer back from the cold store')
              }
              onClick={() => void actions.restore(layer)}
            >
              {trans.__('Restore')}
            </Button>
          ) : (
            <Button
              small
              disabled={archiveBlocked !== null}
              title={
                archiveBlocked ??
                trans.__('Move the layer to the cheaper infrequent-access tier')
              }
              aria-description={archiveBlocked ?? undefined}
              onClick={() => void actions.archive(layer)}
            >
              {trans.__('Archive')}
            </Button>
          )}
          <Button
            small
            className="pennlayer-LayerDetails-delete"
            disabled={blocked !== null}
            title={blocked ?? trans.__('Delete %1 for good', layer.name)}
            aria-description={blocked ?? undefined}
            onClick={() => void actions.remove(layer)}
          >
            {trans.__('Delete')}
          </Button>
          {blocked && (
            <span className="pennlayer-LayerDetails-reason">{blocked}</span>
          )}
          {archiveBlocked &&
            !blocked &&
            layer.storage_class !== 'IA' &&
            layer.status === 'READY' && (
              <span className="pennlayer-LayerDetails-reason">
                {archiveBlocked}
              </span>
            )}
        </div>
      )}
      {state.error && (
        <p className="pennlayer-LayerDetails-error" role="alert">
          {state.error}
        </p>
      )}
      <Section title={trans.__('Description')}>
        <p className="pennlayer-LayerDetails-description">
          {layer.description || trans.__('No description.')}
        </p>
        {layer.error && !errorShownWithLog && (
          <p className="pennlayer-LayerDetails-error">{layer.error}</p>
        )}
        {layer.drift && (
          <p className="pennlayer-LayerDetails-error" role="alert">
            {trans.__(
              'Integrity check failed: %1. This layer is not mounted until it is rebuilt or re-populated.',
              layer.drift
            )}
          </p>
        )}
      </Section>
      {layer.kind === 'environment' ? (
        <>
          <Requirements layer={detail} trans={trans} />
          <Packages layer={detail} trans={trans} />
        </>
      ) : (
        <Recipe layer={detail} trans={trans} />
      )}
      <Storage layer={layer} trans={trans} />
      <Versions layer={detail} trans={trans} />
      <Section title={trans.__('Sessions using it')}>
        {sessions.length === 0 ? (
          <p className="pennlayer-LayerDetails-empty">
            {trans.__('No running kernel uses this layer.')}
          </p>
        ) : (
          <ul className="pennlayer-LayerDetails-list">
            {sessions.map(session => (
              <li key={session.id}>
                {session.notebook_path || session.kernel_id}
                {session.user ? ` — ${session.user}` : ''}
                {session.started_at
                  ? ` — ${trans.__('since %1', formatDateTime(session.started_at))}`
                  : ''}
              </li>
            ))}
          </ul>
        )}
      </Section>
      <LayerUsage
        name={layer.name}
        fetchUsage={name => getLayerUsage(name, serverSettings)}
        trans={trans}
        refreshKey={`${layer.version}:${inUse}`}
      />
      {lastJob && (
        <JobLog
          key={lastJob.id}
          job={lastJob}
          active={activeJob !== null}
          actions={actions}
          serverSettings={serverSettings}
          trans={trans}
        />
      )}
    </div>
  );
}

function Section(props: {
  title: string;
  children: React.ReactNode;
}): JSX.Element {
  return (
    <section className="pennlayer-LayerDetails-section">
      <h3 className="pennlayer-LayerDetails-title">{props.title}</h3>
      {props.children}
    </section>
  );
}

/**
 * An environment's requirements as they were given (comments included): what
 * its packages were resolved from.
 */
function Requirements(props: {
  layer: ILayerDetail;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { layer, trans } = props;
  const requirements = layer.requirements?.trim();
  if (!requirements) {
    return null;
  }
  return (
    <Section title={trans.__('Requirements')}>
      <pre
        className="pennlayer-LayerDetails-requirements"
        aria-label={trans.__('Requirements of %1', layer.name)}
      >
        {requirements}
      </pre>
    </Section>
  );
}

function Packages(props: {
  layer: ILayerDetail;
  trans: TranslationBundle;
}): JSX.Element {
  const { layer, trans } = props;
  const [query, setQuery] = React.useState('');
  const packages = layer.packages ?? [];
  const shown = packages.filter(pkg =>
    pkg.name.toLowerCase().includes(query.trim().toLowerCase())
  );
  return (
    <Section title={trans.__('Packages (%1)', packages.length)}>
      {layer.interpreter && (
        <p className="pennlayer-LayerDetails-meta">
          {trans.__('Interpreter: %1', layer.interpreter)}
        </p>
      )}
      {packages.length === 0 ? (
        <p className="pennlayer-LayerDetails-empty">
          {trans.__('Not built yet.')}
        </p>
      ) : (
        <>
          <input
            type="search"
            className="jp-mod-styled pennlayer-LayerDetails-search"
            placeholder={trans.__('Search packages')}
            aria-label={trans.__('Search the packages of %1', layer.name)}
            value={query}
            onChange={event => setQuery(event.target.value)}
          />
          <ul
            className="pennlayer-LayerDetails-packages"
            aria-label={trans.__('Packages of %1', layer.name)}
          >
            {shown.map(pkg => (
              <li key={pkg.name}>
                <span className="pennlayer-LayerDetails-package">
                  {pkg.name}
                </span>{' '}
                <span className="pennlayer-LayerDetails-packageVersion">
                  {pkg.version}
                </span>
              </li>
            ))}
          </ul>
        </>
      )}
    </Section>
  );
}

function Recipe(props: {
  layer: ILayerDetail;
  trans: TranslationBundle;
}): JSX.Element {
  const { layer, trans } = props;
  const recipe = layer.recipe;
  // The server's defaults, for recipes stored without them.
  const processorType = recipe?.processor?.type ?? 'copy';
  const mode = recipe?.mode ?? 'replace';
  return (
    <Section title={trans.__('Loader recipe')}>
      {recipe ? (
        <dl className="pennlayer-LayerDetails-recipe">
          <dt>{trans.__('Source')}</dt>
          <dd>{recipe.source}</dd>
          <dt>{trans.__('Processor')}</dt>
          <dd>
            {processorType}
            {recipe.processor?.format ? ` (${recipe.processor.format})` : ''}
            {recipe.processor?.image ? ` ${recipe.processor.image}` : ''}
            {recipe.processor?.command ? `: ${recipe.processor.command}` : ''}
          </dd>
          <dt>{trans.__('Mode')}</dt>
          <dd>{mode}</dd>
        </dl>
      ) : (
        <p className="pennlayer-LayerDetails-empty">
          {trans.__('No loader has run yet.')}
        </p>
      )}
    </Section>
  );
}

/**
 * Size, unique bytes, tier, cost and dates: every figure of the row and the
 * ones a compact row leaves out.
 */
function Storage(props: {
  layer: ILayer;
  trans: TranslationBundle;
}): JSX.Element {
  const { layer, trans } = props;
  const unique = uniqueBytes(layer);
  return (
    <Section title={trans.__('Size and cost')}>
      <dl className="pennlayer-LayerDetails-recipe pennlayer-LayerDetails-storage">
        <dt>{trans.__('Size')}</dt>
        <dd title={sizeTitle(layer, trans)}>
          {layer.file_count === 1
            ? trans.__('%1 in 1 file', formatBytes(layer.size_bytes))
            : trans.__(
                '%1 in %2 files',
                formatBytes(layer.size_bytes),
                formatCount(layer.file_count)
              )}
          {unique !== null && (
            <span className="pennlayer-LayerDetails-unique">
              {' · '}
              {trans.__('unique: %1', formatBytes(unique))}
            </span>
          )}
        </dd>
        <dt>{trans.__('Cost')}</dt>
        <dd title={costTitle(layer, trans)}>
          {trans.__(
            '%1 (%2)',
            formatMonthlyCost(layer.monthly_cost_usd),
            layer.storage_class
          )}
          {layer.pinned && (
            <span className="pennlayer-LayerDetails-pinned">
              {' · '}
              {trans.__('pinned to STANDARD')}
            </span>
          )}
        </dd>
        {layer.storage_class === 'IA' && (
          <>
            <dt>{trans.__('Archive')}</dt>
            <dd>
              {trans.__(
                '%1 in the cold store; a restore costs about %2',
                formatBytes(layer.archive_bytes ?? 0),
                formatUsd(layer.retrieval_cost_usd ?? 0)
              )}
            </dd>
          </>
        )}
        <dt>{trans.__('Last access')}</dt>
        <dd title={formatDateTime(layer.last_accessed_at) || undefined}>
          {formatRelativeTime(layer.last_accessed_at, {
            never: trans.__('never')
          })}
        </dd>
        <dt>{trans.__('Created')}</dt>
        <dd title={formatDateTime(layer.created_at) || undefined}>
          {formatDate(layer.created_at)}
        </dd>
      </dl>
    </Section>
  );
}

function Versions(props: {
  layer: ILayerDetail;
  trans: TranslationBundle;
}): JSX.Element {
  const { layer, trans } = props;
  const versions =
    layer.versions && layer.versions.length > 0
      ? [...layer.versions].sort((a, b) => b.version - a.version)
      : layer.version !== null && layer.digest
        ? [
            {
              version: layer.version,
              digest: layer.digest,
              size_bytes: layer.size_bytes,
              file_count: layer.file_count,
              created_at: null,
              in_use: undefined
            }
          ]
        : [];
  return (
    <Section title={trans.__('Versions')}>
      {versions.length === 0 ? (
        <p className="pennlayer-LayerDetails-empty">
          {trans.__('No version yet.')}
        </p>
      ) : (
        <ul className="pennlayer-LayerDetails-list">
          {versions.map(version => (
            <li key={version.version}>
              <span className="pennlayer-LayerDetails-version">
                {trans.__('v%1', version.version)}
                {version.version === layer.version
                  ? ` (${trans.__('current')})`
                  : ''}
              </span>{' '}
              <code
                className="pennlayer-LayerDetails-digest"
                title={version.digest}
              >
                {version.digest.slice(0, 19)}
              </code>
              {version.size_bytes !== undefined &&
                ` ${formatBytes(version.size_bytes)}`}
              {version.file_count !== undefined &&
                `, ${trans.__('%1 files', formatCount(version.file_count))}`}
              {version.in_use && version.in_use.length > 0
                ? `, ${trans.__('in use')}`
                : ''}
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}

/**
 * The log without its last line when that line only repeats the job's error,
 * which is shown above the log already.
 */
function withoutEnding(text: string, error: string | null | undefined): string {
  if (!error) {
    return text;
  }
  const ending = `==> failed: ${error}\n`;
  return text.endsWith(ending) ? text.slice(0, -ending.length) : text;
}

/**
 * The log of a job, tailed while it runs, with a Cancel button.
 */
function JobLog(props: {
  job: IJob;
  active: boolean;
  actions: LayerActions | null;
  serverSettings?: ServerConnection.ISettings;
  trans: TranslationBundle;
}): JSX.Element {
  const { job, active, actions, serverSettings, trans } = props;
  // The job as it is now: its step and count are asked for with the log.
  const [live, setLive] = React.useState<IJob>(job);
  const [text, setText] = React.useState('');
  const [complete, setComplete] = React.useState(false);
  const preRef = React.useRef<HTMLPreElement>(null);

  React.useEffect(() => {
    let stopped = false;
    let offset = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const tick = async () => {
      try {
        const [piece, now] = await Promise.all([
          getJobLog(job.id, offset, serverSettings),
          active ? getJob(job.id, serverSettings).catch(() => null) : null
        ]);
        if (stopped) {
          return;
        }
        if (now) {
          setLive(now);
        }
        offset = piece.next_offset;
        if (piece.text) {
          setText(previous => previous + piece.text);
        }
        if (piece.complete) {
          setComplete(true);
          return;
        }
      } catch {
        // The next tick tries again; a job that is gone ends with the row.
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
  }, [job.id]);

  React.useEffect(() => {
    const pre = preRef.current;
    if (pre) {
      pre.scrollTop = pre.scrollHeight;
    }
  }, [text]);

  const progress = live.progress;
  const count = progressCount(live, trans);
  return (
    <Section
      title={
        active
          ? trans.__('Running %1', job.kind)
          : trans.__('Last %1: %2', job.kind, job.state)
      }
    >
      {active && progress && (
        <p className="pennlayer-LayerDetails-meta" role="status">
          {progress.steps ? `[${progress.step ?? 0}/${progress.steps}] ` : ''}
          {progress.message ?? progress.phase ?? ''}
          {count ? ` — ${count}` : ''}
        </p>
      )}
      {!active && job.error && (
        <p className="pennlayer-LayerDetails-error" role="alert">
          {job.error}
        </p>
      )}
      <pre
        ref={preRef}
        className="pennlayer-LayerDetails-log"
        aria-label={trans.__('Log of the %1 of %2', job.kind, job.layer)}
        tabIndex={0}
      >
        {withoutEnding(text, active ? null : job.error) ||
          (complete
            ? trans.__('(empty log)')
            : trans.__('Waiting for the log…'))}
      </pre>
      {active && actions && (
        <Button
          small
          title={trans.__('Stop the %1; the layer stays as it was', job.kind)}
          onClick={() => void actions.cancel(job)}
        >
          {trans.__('Cancel %1', job.kind)}
        </Button>
      )}
    </Section>
  );
}
