import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import {
  formatDateTime,
  formatMonthlyCost,
  formatRelativeTime,
  formatBytes
} from '../format';
import { costTitle, sizeTitle } from '../sizes';
import { ILayer } from '../tokens';
import { DriftMark, StatusChip } from './StatusChip';

/**
 * The props of `LayerList`.
 */
export interface ILayerListProps {
  layers: readonly ILayer[];
  trans: TranslationBundle;
  /** The reference time of relative times, in ms; defaults to now. */
  now?: number;
  /** The names of the layers whose details are shown. */
  expanded?: ReadonlySet<string>;
  /** Show or hide a layer's details; names become toggles when given. */
  onToggle?: (name: string) => void;
  /** The details of an expanded layer. */
  renderDetails?: (layer: ILayer) => React.ReactNode;
}

/**
 * The layers as compact rows that fit a narrow sidebar: the name with its
 * status, then kind, size, monthly cost and last access, which wrap to a
 * new line rather than leave the panel.
 */
export function LayerList(props: ILayerListProps): JSX.Element {
  const { layers, trans, onToggle, renderDetails } = props;
  const expanded = props.expanded ?? new Set<string>();
  const now = props.now ?? Date.now();
  return (
    <ul className="pennlayer-LayerList" aria-label={trans.__('Layers')}>
      {layers.map(layer => {
        const open = expanded.has(layer.name);
        const detailsId = `pennlayer-details-${layer.name}`;
        const name = (
          <>
            {layer.drift ? <DriftMark drift={layer.drift} /> : null}
            {layer.name}
          </>
        );
        const access = accessText(layer.last_accessed_at, now, trans);
        return (
          <li
            key={layer.name}
            className={
              'pennlayer-LayerList-item' +
              (open ? ' pennlayer-mod-expanded' : '')
            }
            data-layer-name={layer.name}
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
                {onToggle ? (
                  <button
                    type="button"
                    className="pennlayer-LayerList-toggle"
                    aria-expanded={open}
                    aria-controls={open ? detailsId : undefined}
                    onClick={() => onToggle(layer.name)}
                  >
                    {name}
                  </button>
                ) : (
                  name
                )}
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
                <li
                  className="pennlayer-LayerList-size"
                  title={sizeTitle(layer, trans)}
                >
                  {formatBytes(layer.size_bytes)}
                </li>
                <li
                  className="pennlayer-LayerList-cost"
                  title={costTitle(layer, trans)}
                >
                  {formatMonthlyCost(layer.monthly_cost_usd)}
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
            {open && renderDetails && (
              <div className="pennlayer-LayerList-details" id={detailsId}>
                {renderDetails(layer)}
              </div>
            )}
          </li>
        );
      })}
    </ul>
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
