import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import {
  formatDateTime,
  formatMonthlyCost,
  formatRelativeTime,
  formatBytes,
  formatTimeLeft
} from '../format';
import { progressShort, progressTitle } from '../jobProgress';
import { costTitle, sizeTitle } from '../sizes';
import { IJob, ILayer } from '../tokens';
import { DetailsToggle, detailsId, ILayerRowsProps } from './LayerRows';
import { JobBar } from './JobBar';
import { DriftMark, StatusChip } from './StatusChip';
import { useReportedHeight } from './useRowWindow';

/**
 * The height of a compact row without details, in pixels: two lines and the
 * border below them. Every row has it, so the list can be windowed.
 */
export const LIST_ROW_HEIGHT = 49;

/**
 * The props of `LayerList`.
 */
export type ILayerListProps = ILayerRowsProps;

/**
 * The layers as compact rows that fit a narrow sidebar: the name with its
 * status, then size, monthly cost, kind and last access on one line; the
 * figures that do not fit the width are left out, never cut, so every row
 * has the same height. A layer being built or loaded says how far its job
 * has come first (`31 of 38 packages`, `81.0 MB of 300 MB`, about 15 s left)
 * with a thin bar along the row, and drops size and cost while it has no
 * version yet (nothing is on disk).
 */
export function LayerList(props: ILayerListProps): JSX.Element {
  const { layers, trans, onToggle, renderDetails } = props;
  const expanded = props.expanded ?? new Set<string>();
  const now = props.now ?? Date.now();
  const first = props.first ?? 0;
  const count = props.count ?? layers.length;
  return (
    <ul
      className="pennlayer-LayerList"
      aria-label={trans.__('Layers')}
      style={{
        paddingTop: props.before || undefined,
        paddingBottom: props.after || undefined
      }}
    >
      {layers.map((layer, offset) => {
        const position = first + offset;
        if (!layer) {
          return (
            <li
              key={`placeholder-${position}`}
              className="pennlayer-LayerList-item pennlayer-mod-placeholder"
              aria-posinset={position + 1}
              aria-setsize={count}
              aria-busy="true"
            >
              <div
                className="pennlayer-LayerList-row"
                style={{ height: LIST_ROW_HEIGHT - 1 }}
              >
                <span className="pennlayer-LayerList-loading">
                  {trans.__('Loading…')}
                </span>
              </div>
            </li>
          );
        }
        const open = expanded.has(layer.name);
        const name = (
          <>
            {layer.drift ? <DriftMark drift={layer.drift} /> : null}
            {layer.name}
          </>
        );
        const access = accessText(layer.last_accessed_at, now, trans);
        const job = props.jobs?.get(layer.name);
        return (
          <li
            key={layer.name}
            className={
              'pennlayer-LayerList-item' +
              (open ? ' pennlayer-mod-expanded' : '')
            }
            data-layer-name={layer.name}
            aria-posinset={position + 1}
            aria-setsize={count}
          >
            <div
              className="pennlayer-LayerList-row"
              style={{ height: LIST_ROW_HEIGHT - 1 }}
            >
              <div className="pennlayer-LayerList-head">
                <span
                  className="pennlayer-LayerList-name"
                  title={
                    layer.description
                      ? `${layer.name}: ${layer.description}`
                      : layer.name
                  }
                >
                  <DetailsToggle
                    name={layer.name}
                    open={open}
                    onToggle={onToggle}
                    className="pennlayer-LayerList-toggle"
                  >
                    {name}
                  </DetailsToggle>
                </span>
                <StatusChip
                  status={layer.status}
                  title={layer.error ?? undefined}
                />
              </div>
              <div className="pennlayer-Facts-clip">
                <ul
                  className="pennlayer-Facts pennlayer-LayerList-facts"
                  aria-label={trans.__('Figures of %1', layer.name)}
                >
                  {job && <JobFacts job={job} trans={trans} />}
                  {(!job || layer.version !== null) && (
                    <SizeFacts layer={layer} trans={trans} />
                  )}
                  <li
                    className="pennlayer-LayerList-kind"
                    title={
                      layer.language
                        ? `${layer.kind} (${layer.language})`
                        : undefined
                    }
                  >
                    {layer.kind}
                  </li>
                  {layer.storage_class === 'IA' && (
                    <li
                      className="pennlayer-LayerList-tier"
                      title={trans.__(
                        'Infrequent Access: restored on the next mount'
                      )}
                    >
                      {trans.__('IA')}
                    </li>
                  )}
                  {layer.pinned && (
                    <li
                      className="pennlayer-LayerList-tier"
                      title={trans.__(
                        'Pinned to STANDARD by an operator: never archived by the policy'
                      )}
                    >
                      {trans.__('pinned')}
                    </li>
                  )}
                  <li
                    className="pennlayer-LayerList-access"
                    title={formatDateTime(layer.last_accessed_at) || undefined}
                  >
                    {access}
                  </li>
                </ul>
              </div>
              {job && (
                <JobBar
                  job={job}
                  name={layer.name}
                  trans={trans}
                  className="pennlayer-LayerList-bar"
                />
              )}
            </div>
            {open && renderDetails && (
              <Measured
                className="pennlayer-LayerList-details"
                id={detailsId(layer.name)}
                name={layer.name}
                onHeight={props.onDetailsHeight}
              >
                {renderDetails(layer)}
              </Measured>
            )}
          </li>
        );
      })}
    </ul>
  );
}

/**
 * A layer's size and monthly cost, among the figures of its row.
 */
function SizeFacts(props: {
  layer: ILayer;
  trans: TranslationBundle;
}): JSX.Element {
  const { layer, trans } = props;
  return (
    <>
      <li className="pennlayer-LayerList-size" title={sizeTitle(layer, trans)}>
        {formatBytes(layer.size_bytes)}
      </li>
      <li className="pennlayer-LayerList-cost" title={costTitle(layer, trans)}>
        {formatMonthlyCost(layer.monthly_cost_usd)}
      </li>
    </>
  );
}

/**
 * How far a layer's running job has come, and its time left when known.
 */
function JobFacts(props: {
  job: IJob;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { job, trans } = props;
  const short = progressShort(job, trans);
  const left = job.progress?.seconds_left;
  return (
    <>
      {short && (
        <li
          className="pennlayer-LayerList-job"
          title={progressTitle(job, trans) ?? undefined}
        >
          {short}
        </li>
      )}
      {typeof left === 'number' && (
        <li className="pennlayer-LayerList-left">{formatTimeLeft(left)}</li>
      )}
    </>
  );
}

/**
 * A box that tells its height as it changes.
 */
function Measured(props: {
  className: string;
  id: string;
  name: string;
  onHeight?: (name: string, height: number) => void;
  children: React.ReactNode;
}): JSX.Element {
  const { name, onHeight } = props;
  const report = React.useMemo(
    () => (onHeight ? (height: number) => onHeight(name, height) : undefined),
    [name, onHeight]
  );
  const ref = useReportedHeight<HTMLDivElement>(report);
  return (
    <div className={props.className} id={props.id} ref={ref}>
      {props.children}
    </div>
  );
}

/**
 * When a layer was last mounted, e.g. `used 5 minutes ago`, `never used`.
 */
function accessText(
  iso: string | null,
  now: number,
  trans: TranslationBundle
): string {
  if (!iso || Number.isNaN(Date.parse(iso))) {
    return trans.__('never used');
  }
  if (Math.abs(now - Date.parse(iso)) < 45 * 1000) {
    return trans.__('used just now');
  }
  return trans.__('used %1', formatRelativeTime(iso, { now }));
}
