import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { COLUMN_WIDTHS, LayerColumn } from '../columns';
import {
  formatBytes,
  formatCount,
  formatDate,
  formatDateTime,
  formatMonthlyCost,
  formatRelativeTime
} from '../format';
import { costTitle, sizeTitle } from '../sizes';
import { ISortState } from '../tableState';
import { progressTitle } from '../jobProgress';
import { IJob, ILayer } from '../tokens';
import { JobBar } from './JobBar';
import { DetailsToggle, detailsId, ILayerRowsProps } from './LayerRows';
import { DriftChip, DriftMark, StatusChip } from './StatusChip';
import { useReportedHeight } from './useRowWindow';

/**
 * The height of a table row without details, in pixels (the cell and the
 * border below it). Every row has it, so the table can be windowed.
 */
export const TABLE_ROW_HEIGHT = 29;

/**
 * The props of `LayersTable`.
 */
export interface ILayersTableProps extends ILayerRowsProps {
  columns: readonly LayerColumn[];
  /** The current order; headers are sort buttons when `onSort` is given. */
  sort?: ISortState;
  onSort?: (column: LayerColumn) => void;
}

interface IColumnSpec {
  label: (trans: TranslationBundle) => string;
  numeric: boolean;
  cell: (
    layer: ILayer,
    trans: TranslationBundle,
    now: number,
    job: IJob | undefined
  ) => { content: React.ReactNode; title?: string };
}

const COLUMN_SPECS: { [key in LayerColumn]: IColumnSpec } = {
  name: {
    label: trans => trans.__('Name'),
    numeric: false,
    cell: layer => ({
      // The drift mark leads the name: the one column every sidebar width shows in full.
      content: layer.drift ? (
        <>
          <DriftMark drift={layer.drift} />
          {layer.name}
        </>
      ) : (
        layer.name
      ),
      title: layer.description
        ? `${layer.name}: ${layer.description}`
        : layer.name
    })
  },
  kind: {
    label: trans => trans.__('Kind'),
    numeric: false,
    cell: layer => ({
      content: layer.kind,
      title: layer.language ? `${layer.kind} (${layer.language})` : undefined
    })
  },
  status: {
    label: trans => trans.__('Status'),
    numeric: false,
    cell: (layer, trans, _now, job) => ({
      content: (
        <>
          <StatusChip status={layer.status} title={layer.error ?? undefined} />
          {layer.drift ? <DriftChip drift={layer.drift} /> : null}
          {job && (
            <JobBar
              job={job}
              name={layer.name}
              trans={trans}
              className="pennlayer-LayersTable-bar"
            />
          )}
        </>
      ),
      // A running build or load: everything it says of itself on hover.
      title: job ? (progressTitle(job, trans) ?? undefined) : undefined
    })
  },
  size: {
    label: trans => trans.__('Size'),
    numeric: true,
    cell: (layer, trans) => ({
      content: formatBytes(layer.size_bytes),
      title: sizeTitle(layer, trans)
    })
  },
  files: {
    label: trans => trans.__('Files'),
    numeric: true,
    cell: layer => ({ content: formatCount(layer.file_count) })
  },
  tier: {
    label: trans => trans.__('Tier'),
    numeric: false,
    cell: (layer, trans) => ({
      content: layer.storage_class,
      title:
        layer.storage_class === 'IA'
          ? trans.__('Infrequent Access: restored on the next mount')
          : trans.__('Standard: ready to mount')
    })
  },
  monthly_cost: {
    label: trans => trans.__('Monthly cost'),
    numeric: true,
    cell: (layer, trans) => ({
      content: formatMonthlyCost(layer.monthly_cost_usd),
      title: costTitle(layer, trans)
    })
  },
  last_access: {
    label: trans => trans.__('Last access'),
    numeric: false,
    cell: (layer, trans, now) => ({
      content: formatRelativeTime(layer.last_accessed_at, {
        now,
        never: trans.__('never')
      }),
      title: formatDateTime(layer.last_accessed_at) || undefined
    })
  },
  created: {
    label: trans => trans.__('Created'),
    numeric: false,
    cell: layer => ({
      content: formatDate(layer.created_at),
      title: formatDateTime(layer.created_at) || undefined
    })
  }
};

/**
 * The column headers of the layers table, for callers that need them.
 */
export function columnLabel(
  column: LayerColumn,
  trans: TranslationBundle
): string {
  return COLUMN_SPECS[column].label(trans);
}

/**
 * A table of layers with one row per layer and the chosen columns.
 */
export function LayersTable(props: ILayersTableProps): JSX.Element {
  const { layers, columns, trans, sort, onSort, onToggle, renderDetails } =
    props;
  const expanded = props.expanded ?? new Set<string>();
  const now = props.now ?? Date.now();
  const first = props.first ?? 0;
  const count = props.count ?? layers.length;
  const spacer = (height: number | undefined, key: string) =>
    height ? (
      <tr key={key} className="pennlayer-LayersTable-spacer" aria-hidden="true">
        <td colSpan={columns.length} style={{ height }} />
      </tr>
    ) : null;
  return (
    <div className="pennlayer-LayersTable-scroller">
      <table
        className="pennlayer-LayersTable"
        aria-label={trans.__('Layers')}
        aria-rowcount={count + 1}
      >
        <colgroup>
          {columns.map(column => (
            <col
              key={column}
              className={`pennlayer-LayersTable-col-${column}`}
              style={{ width: `${COLUMN_WIDTHS[column]}px` }}
            />
          ))}
        </colgroup>
        <thead>
          <tr aria-rowindex={1}>
            {columns.map(column => {
              const label = COLUMN_SPECS[column].label(trans);
              const sorted = sort?.column === column ? sort.direction : null;
              return (
                <th
                  key={column}
                  scope="col"
                  className={cellClass(column)}
                  aria-sort={onSort ? (sorted ?? 'none') : undefined}
                >
                  {onSort ? (
                    <button
                      type="button"
                      className={
                        'pennlayer-LayersTable-sort' +
                        (sorted ? ` pennlayer-mod-${sorted}` : '')
                      }
                      title={trans.__('Sort by %1', label)}
                      onClick={() => onSort(column)}
                    >
                      {label}
                    </button>
                  ) : (
                    label
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {spacer(props.before, 'before')}
          {layers.map((layer, offset) => {
            const position = first + offset;
            if (!layer) {
              return (
                <tr
                  key={`placeholder-${position}`}
                  className="pennlayer-LayersTable-placeholder"
                  aria-rowindex={position + 2}
                  aria-busy="true"
                >
                  <td
                    colSpan={columns.length}
                    className="pennlayer-LayersTable-cell pennlayer-LayersTable-loading"
                  >
                    {trans.__('Loading…')}
                  </td>
                </tr>
              );
            }
            const open = expanded.has(layer.name);
            const row = (
              <tr
                data-layer-name={layer.name}
                className={open ? 'pennlayer-mod-expanded' : undefined}
                aria-rowindex={position + 2}
              >
                {columns.map(column => {
                  const { content, title } = COLUMN_SPECS[column].cell(
                    layer,
                    trans,
                    now,
                    props.jobs?.get(layer.name)
                  );
                  return column === 'name' ? (
                    <th
                      key={column}
                      scope="row"
                      className={cellClass(column)}
                      title={title}
                    >
                      <DetailsToggle
                        name={layer.name}
                        open={open}
                        onToggle={onToggle}
                        className="pennlayer-LayersTable-toggle"
                      >
                        {content}
                      </DetailsToggle>
                    </th>
                  ) : (
                    <td
                      key={column}
                      className={cellClass(column)}
                      title={title}
                    >
                      {content}
                    </td>
                  );
                })}
              </tr>
            );
            // Always a fragment: the row keeps its DOM (and focus) on toggle.
            return (
              <React.Fragment key={layer.name}>
                {row}
                {open && renderDetails && (
                  <DetailsRow
                    id={detailsId(layer.name)}
                    name={layer.name}
                    span={columns.length}
                    onHeight={props.onDetailsHeight}
                  >
                    {renderDetails(layer)}
                  </DetailsRow>
                )}
              </React.Fragment>
            );
          })}
          {spacer(props.after, 'after')}
        </tbody>
      </table>
    </div>
  );
}

/**
 * The row below an expanded layer that holds its details; it tells its
 * height, which the table needs to place the rows below.
 */
function DetailsRow(props: {
  id: string;
  name: string;
  span: number;
  onHeight?: (name: string, height: number) => void;
  children: React.ReactNode;
}): JSX.Element {
  const { name, onHeight } = props;
  const report = React.useMemo(
    () => (onHeight ? (height: number) => onHeight(name, height) : undefined),
    [name, onHeight]
  );
  const ref = useReportedHeight<HTMLTableRowElement>(report);
  return (
    <tr className="pennlayer-LayersTable-detailsRow" id={props.id} ref={ref}>
      <td colSpan={props.span}>{props.children}</td>
    </tr>
  );
}

function cellClass(column: LayerColumn): string {
  const classes = [
    'pennlayer-LayersTable-cell',
    `pennlayer-LayersTable-${column}`
  ];
  if (COLUMN_SPECS[column].numeric) {
    classes.push('pennlayer-mod-numeric');
  }
  return classes.join(' ');
}
