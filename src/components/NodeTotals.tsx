import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { formatBytes, formatCount, formatMonthlyCost } from '../format';
import { ILayerTotals } from '../tokens';

/**
 * The props of `NodeTotals`.
 */
export interface INodeTotalsProps {
  totals: ILayerTotals;
  trans: TranslationBundle;
}

/**
 * The node-wide figures: how many layers, how much disk, what it costs.
 */
export function NodeTotals(props: INodeTotalsProps): JSX.Element {
  const { totals, trans } = props;
  // Each figure is a group named by its label, read together with its value.
  const idPrefix = `pennlayer-NodeTotals${React.useId().replace(/:/g, '')}`;
  const items: [string, string, string][] = [
    ['count', trans.__('Layers'), formatCount(totals.layer_count)],
    ['size', trans.__('Total size'), formatBytes(totals.size_bytes)],
    [
      'cost',
      trans.__('Monthly cost'),
      formatMonthlyCost(totals.monthly_cost_usd)
    ]
  ];
  return (
    <section
      className="pennlayer-NodeTotals"
      aria-label={trans.__('Node totals')}
    >
      <dl className="pennlayer-NodeTotals-list">
        {items.map(([key, label, value]) => (
          <div
            key={key}
            role="group"
            aria-labelledby={`${idPrefix}-${key}`}
            className={`pennlayer-NodeTotals-item pennlayer-NodeTotals-${key}`}
          >
            <dt
              id={`${idPrefix}-${key}`}
              className="pennlayer-NodeTotals-label"
            >
              {label}
            </dt>
            <dd className="pennlayer-NodeTotals-value">{value}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}
