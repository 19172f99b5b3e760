import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { LayerColumn } from '../columns';
import { ILayer, ILayerTotals } from '../tokens';
import { EmptyState } from './EmptyState';
import { ErrorState } from './ErrorState';
import { LayersTable } from './LayersTable';
import { NodeTotals } from './NodeTotals';

/**
 * The props of `LayersOverview`.
 */
export interface ILayersOverviewProps {
  layers: readonly ILayer[];
  totals: ILayerTotals | null;
  error: string | null;
  loaded: boolean;
  columns: readonly LayerColumn[];
  trans: TranslationBundle;
  onRetry?: () => void;
  /** The reference time of relative times, in ms; defaults to now. */
  now?: number;
}

/**
 * The node totals and the layers table, or the state that replaces them:
 * loading, no layer yet, or an error.
 */
export function LayersOverview(props: ILayersOverviewProps): JSX.Element {
  const { layers, totals, error, loaded, columns, trans, onRetry, now } = props;

  if (!loaded) {
    return (
      <div className="pennlayer-LayersOverview">
        <p className="pennlayer-LoadingState" role="status">
          {trans.__('Loading layers…')}
        </p>
      </div>
    );
  }

  // Without any earlier listing, the error is all there is to show.
  if (error !== null && totals === null) {
    return (
      <div className="pennlayer-LayersOverview">
        <ErrorState message={error} trans={trans} onRetry={onRetry} />
      </div>
    );
  }

  return (
    <div className="pennlayer-LayersOverview">
      {error !== null && (
        <ErrorState message={error} trans={trans} onRetry={onRetry} compact />
      )}
      {totals !== null && <NodeTotals totals={totals} trans={trans} />}
      {layers.length === 0 ? (
        <EmptyState trans={trans} />
      ) : (
        <LayersTable
          layers={layers}
          columns={columns}
          trans={trans}
          now={now}
        />
      )}
    </div>
  );
}
