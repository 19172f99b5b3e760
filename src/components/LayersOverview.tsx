import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { LayerColumn, LayersLayout } from '../columns';
import {
  DEFAULT_SORT,
  filterLayers,
  ISortState,
  nextSort,
  sortLayers
} from '../tableState';
import { ILayer, ILayerTotals } from '../tokens';
import { EmptyState } from './EmptyState';
import { ErrorState } from './ErrorState';
import { LayerList } from './LayerList';
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
  /** Compact rows or a table of `columns`; defaults to the table. */
  layout?: LayersLayout;
  trans: TranslationBundle;
  onRetry?: () => void;
  /** The reference time of relative times, in ms; defaults to now. */
  now?: number;
  /** The details of an expanded layer; rows expand only when given. */
  renderDetails?: (layer: ILayer) => React.ReactNode;
  /** A layer to show with its details; a new `nonce` asks again. */
  reveal?: { name: string; nonce: number } | null;
}

/**
 * The node totals, a filter box and the layers table, or the state that
 * replaces them: loading, no layer yet, or an error.
 */
export function LayersOverview(props: ILayersOverviewProps): JSX.Element {
  const { layers, totals, error, loaded, columns, trans, onRetry, now } = props;
  const [sort, setSort] = React.useState<ISortState>(DEFAULT_SORT);
  const [query, setQuery] = React.useState('');
  const [expanded, setExpanded] = React.useState<ReadonlySet<string>>(
    new Set()
  );
  const shown = React.useMemo(
    () => sortLayers(filterLayers(layers, query), sort),
    [layers, query, sort]
  );
  const root = React.useRef<HTMLDivElement>(null);
  const reveal = props.reveal ?? null;
  const scrollTo = React.useRef<string | null>(null);

  React.useEffect(() => {
    if (!reveal) {
      return;
    }
    setQuery('');
    setExpanded(previous => new Set(previous).add(reveal.name));
    scrollTo.current = reveal.name;
  }, [reveal?.name, reveal?.nonce]);

  React.useEffect(() => {
    const name = scrollTo.current;
    const row = name
      ? root.current?.querySelector(`[data-layer-name="${name}"]`)
      : null;
    if (row) {
      scrollTo.current = null;
      row.scrollIntoView?.({ block: 'start' });
    }
  });

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

  const toggle = (name: string) =>
    setExpanded(previous => {
      const next = new Set(previous);
      if (!next.delete(name)) {
        next.add(name);
      }
      return next;
    });

  return (
    <div className="pennlayer-LayersOverview" ref={root}>
      {error !== null && (
        <ErrorState message={error} trans={trans} onRetry={onRetry} compact />
      )}
      {totals !== null && <NodeTotals totals={totals} trans={trans} />}
      {layers.length === 0 ? (
        <EmptyState trans={trans} />
      ) : (
        <>
          <div className="pennlayer-LayersOverview-filter">
            <input
              type="search"
              className="jp-mod-styled pennlayer-LayersOverview-filterInput"
              placeholder={trans.__('Filter layers')}
              title={trans.__(
                'Filter by name, kind or status; kind: and status: match that field only'
              )}
              aria-label={trans.__('Filter layers')}
              value={query}
              onChange={event => setQuery(event.target.value)}
            />
          </div>
          {props.layout === 'compact' ? (
            <LayerList
              layers={shown}
              trans={trans}
              now={now}
              expanded={expanded}
              onToggle={props.renderDetails ? toggle : undefined}
              renderDetails={props.renderDetails}
            />
          ) : (
            <LayersTable
              layers={shown}
              columns={columns}
              trans={trans}
              now={now}
              sort={sort}
              onSort={column => setSort(current => nextSort(current, column))}
              expanded={expanded}
              onToggle={props.renderDetails ? toggle : undefined}
              renderDetails={props.renderDetails}
            />
          )}
          {shown.length === 0 && (
            <p className="pennlayer-EmptyState" role="status">
              {trans.__('No layer matches “%1”.', query)}
            </p>
          )}
        </>
      )}
    </div>
  );
}
