import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { formatBytes, formatCount, formatUsd } from '../format';
import {
  formatSaving,
  iaSavings,
  iaSavingsTitle,
  sharedSavings,
  totalCostTitle,
  totalSizeTitle
} from '../sizes';
import { ILayerTotals } from '../tokens';

/**
 * The props of `NodeTotals`.
 */
export interface INodeTotalsProps {
  totals: ILayerTotals;
  trans: TranslationBundle;
}

/**
 * The node-wide figures on one line that wraps:
 * `N layers · X on disk (shared between layers: −Y) · $Z/month`, and when
 * layers are archived, `IA saves $W/month`.
 */
export function NodeTotals(props: INodeTotalsProps): JSX.Element {
  const { totals, trans } = props;
  const saved = sharedSavings(totals);
  const ia = iaSavings(totals);
  const count =
    totals.layer_count === 1
      ? trans.__('1 layer')
      : trans.__('%1 layers', formatCount(totals.layer_count));
  return (
    <section
      className="pennlayer-NodeTotals"
      aria-label={trans.__('Node totals')}
    >
      <div className="pennlayer-Facts-clip">
        <ul className="pennlayer-Facts pennlayer-NodeTotals-list">
          <li className="pennlayer-NodeTotals-count">{count}</li>
          <li className="pennlayer-NodeTotals-disk">
            <span
              className="pennlayer-NodeTotals-size"
              title={totalSizeTitle(totals, trans)}
            >
              {trans.__('%1 on disk', formatBytes(totals.size_bytes))}
            </span>
            {saved !== null && (
              <>
                {' '}
                <span
                  className="pennlayer-NodeTotals-shared"
                  title={totalSizeTitle(totals, trans)}
                >
                  {trans.__(
                    '(shared between layers: %1)',
                    formatSaving(saved).replace(' ', '\u00a0')
                  )}
                </span>
              </>
            )}
          </li>
          <li
            className="pennlayer-NodeTotals-cost"
            title={totalCostTitle(totals, trans)}
          >
            {trans.__('%1/month', formatUsd(totals.monthly_cost_usd))}
          </li>
          {ia !== null && (
            <li
              className="pennlayer-NodeTotals-ia"
              title={iaSavingsTitle(ia, trans)}
            >
              {trans.__('IA saves %1/month', formatUsd(ia.monthlyUsd))}
            </li>
          )}
        </ul>
      </div>
    </section>
  );
}
