import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { LayerColumn, LayersLayout } from '../columns';
import { formatCount } from '../format';
import {
  DEFAULT_SORT,
  ISortState,
  nextSort,
  parseFilter,
  sortQuery
} from '../tableState';
import { IJob, ILayer, ILayerPages, ILayerTotals } from '../tokens';
import { rowTop } from '../windowing';
import { EmptyState } from './EmptyState';
import { ErrorState } from './ErrorState';
import { LayerList, LIST_ROW_HEIGHT } from './LayerList';
import { LayersTable, TABLE_ROW_HEIGHT } from './LayersTable';
import { NodeTotals } from './NodeTotals';
import { useActiveJobs } from './useActiveJobs';
import { useRowWindow } from './useRowWindow';

/**
 * How long typing pauses before the server is asked, in ms.
 */
export const SEARCH_DELAY_MS = 250;

/**
 * The height given to open details until they are measured, in pixels.
 */
const DETAILS_ESTIMATE = 240;

/**
 * The props of `LayersOverview`.
 */
export interface ILayersOverviewProps {
  /** The list shown, fetched page by page. */
  pages: ILayerPages;
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
  /** How long typing pauses before the server is asked, in ms. */
  searchDelay?: number;
  /**
   * The node's running jobs, asked for every second while a row in view is
   * being built or loaded (its row then says how far the job has come).
   */
  fetchJobs?: () => Promise<IJob[]>;
  /**
   * Why the layers are not read-only on this node (its kernels run without a
   * sandbox), shown under the totals; null or absent when they are.
   */
  notReadOnly?: string | null;
}

/**
 * Re-render whenever the list's rows or count change.
 */
function usePages(pages: ILayerPages): void {
  const [, setVersion] = React.useState(0);
  React.useEffect(() => {
    const update = () => setVersion(version => version + 1);
    pages.changed.connect(update);
    return () => {
      pages.changed.disconnect(update);
    };
  }, [pages]);
}

/**
 * The node totals, a search box and the layers, or the state that replaces
 * them: loading, no layer yet, or an error.
 *
 * The server searches, sorts and pages; only the rows in view (and a few
 * around them) are in the DOM, each of the same height, in a scroll
 * container of their own below the totals and the search box.
 */
export function LayersOverview(props: ILayersOverviewProps): JSX.Element {
  const { pages, totals, error, loaded, columns, trans, onRetry, now } = props;
  usePages(pages);
  const [sort, setSort] = React.useState<ISortState>(DEFAULT_SORT);
  const [text, setText] = React.useState('');
  const [search, setSearch] = React.useState('');
  const [expanded, setExpanded] = React.useState<ReadonlySet<string>>(
    new Set()
  );
  const [heights, setHeights] = React.useState<ReadonlyMap<string, number>>(
    new Map()
  );
  const scroller = React.useRef<HTMLDivElement>(null);
  const reveal = props.reveal ?? null;
  const scrollTo = React.useRef<string | null>(null);
  const table = props.layout !== 'compact';
  const rowHeight = table ? TABLE_ROW_HEIGHT : LIST_ROW_HEIGHT;
  const delay = props.searchDelay ?? SEARCH_DELAY_MS;

  // Ask the server once typing pauses.
  React.useEffect(() => {
    if (text === search) {
      return;
    }
    const timer = setTimeout(() => setSearch(text), delay);
    return () => clearTimeout(timer);
  }, [text, search, delay]);

  const filter = React.useMemo(() => parseFilter(search), [search]);
  React.useEffect(() => {
    const { none, ...rest } = filter;
    if (none) {
      return;
    }
    const query = { ...rest, ...sortQuery(sort) };
    pages.query = query;
  }, [pages, filter, sort]);
  React.useEffect(() => {
    // A new search or order starts at its first row.
    if (scroller.current) {
      scroller.current.scrollTop = 0;
    }
  }, [filter, sort]);

  const count = filter.none ? 0 : (pages.count ?? 0);
  const extras = new Map<number, number>();
  for (const name of expanded) {
    const index = pages.indexOf(name);
    if (index >= 0) {
      extras.set(index, heights.get(name) ?? DETAILS_ESTIMATE);
    }
  }
  const headerHeight = table ? TABLE_ROW_HEIGHT : 0;
  const win = useRowWindow(scroller, {
    count,
    rowHeight,
    extras,
    offsetTop: headerHeight
  });

  React.useEffect(() => {
    if (!filter.none) {
      pages.show(win.start, win.end);
    }
  }, [pages, win.start, win.end, count, filter.none]);

  React.useEffect(() => {
    if (!reveal) {
      return;
    }
    setExpanded(previous => new Set(previous).add(reveal.name));
    scrollTo.current = reveal.name;
    if (pages.indexOf(reveal.name) < 0) {
      // Not among the rows fetched: search for it.
      setText(reveal.name);
      setSearch(reveal.name);
    }
  }, [reveal?.name, reveal?.nonce]);

  React.useEffect(() => {
    const name = scrollTo.current;
    const index = name && !pages.stale ? pages.indexOf(name) : -1;
    if (index >= 0 && scroller.current) {
      scrollTo.current = null;
      scroller.current.scrollTop = rowTop(index, rowHeight, extras);
    }
  });

  const onDetailsHeight = React.useCallback((name: string, height: number) => {
    setHeights(previous =>
      previous.get(name) === height
        ? previous
        : new Map(previous).set(name, height)
    );
  }, []);

  const rows: (ILayer | undefined)[] = [];
  for (let index = win.start; index < win.end; index++) {
    rows.push(pages.row(index));
  }
  const busy = rows
    .filter(
      layer => layer?.status === 'BUILDING' || layer?.status === 'POPULATING'
    )
    .map(layer => layer!.name);
  const jobs = useActiveJobs(props.fetchJobs, busy);

  if (!loaded) {
    return (
      <div className="pennlayer-LayersOverview">
        <p className="pennlayer-LoadingState" role="status">
          {trans.__('Loading layers…')}
        </p>
      </div>
    );
  }

  // Without any earlier answer, the error is all there is to show.
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

  const searching = search !== '' || text !== '';
  const empty = totals?.layer_count === 0 && !searching;
  const listProps = {
    layers: rows,
    first: win.start,
    count,
    before: win.before,
    after: win.after,
    trans,
    now,
    expanded,
    onToggle: props.renderDetails ? toggle : undefined,
    renderDetails: props.renderDetails,
    onDetailsHeight,
    jobs
  };
  const ready = filter.none || (pages.count !== null && !pages.stale);

  return (
    <div className="pennlayer-LayersOverview">
      {error !== null && (
        <ErrorState message={error} trans={trans} onRetry={onRetry} compact />
      )}
      {totals !== null && <NodeTotals totals={totals} trans={trans} />}
      {props.notReadOnly && (
        <p
          className="pennlayer-LayersOverview-notReadOnly"
          role="note"
          title={props.notReadOnly}
        >
          {trans.__(
            'Not read-only here: kernels on this node run without a sandbox, so they can change the layers they mount.'
          )}
        </p>
      )}
      {empty ? (
        <EmptyState trans={trans} />
      ) : (
        <>
          <div className="pennlayer-LayersOverview-filter">
            <input
              type="search"
              className="jp-mod-styled pennlayer-LayersOverview-filterInput"
              placeholder={trans.__('Search layers')}
              title={trans.__(
                'Search names and descriptions; kind:env, kind:ref, status:ready… pick a kind or status'
              )}
              aria-label={trans.__('Search layers')}
              value={text}
              onChange={event => setText(event.target.value)}
            />
          </div>
          {search !== '' && ready && (
            <p className="pennlayer-LayersOverview-count" role="status">
              {count === 0
                ? trans.__('No layer matches “%1”.', search)
                : trans.__(
                    '%1 of %2 layers match',
                    formatCount(count),
                    formatCount(totals?.layer_count ?? count)
                  )}
            </p>
          )}
          <div
            className={
              'pennlayer-LayersOverview-rows' +
              (pages.stale ? ' pennlayer-mod-stale' : '')
            }
            ref={scroller}
          >
            {table ? (
              <LayersTable
                {...listProps}
                columns={columns}
                sort={sort}
                onSort={column => setSort(current => nextSort(current, column))}
              />
            ) : (
              <LayerList {...listProps} />
            )}
          </div>
        </>
      )}
    </div>
  );
}
