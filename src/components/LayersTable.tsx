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
import { ILayer } from '../tokens';
import { DriftChip, DriftMark, StatusChip } from './StatusChip';

/**
 * The props of `LayersTable`.
 */
export interface ILayersTableProps {
  layers: readonly ILayer[];
  columns: readonly LayerColumn[];
  trans: TranslationBundle;
  /** The reference time of relative times, in ms; defaults to now. */
  now?: number;
  /** The current order; headers are sort buttons when `onSort` is given. */
  sort?: ISortState;
  onSort?: (column: LayerColumn) => void;
  /** The names of the layers whose details are shown. */
  expanded?: ReadonlySet<string>;
  /** Show or hide a layer's details; names become toggles when given. */
  onToggle?: (name: string) => void;
  /** The details of an expanded layer. */
  renderDetails?: (layer: ILayer) => React.ReactNode;
}

interface IColumnSpec {
  label: (trans: TranslationBundle) => string;
  numeric: boolean;
  cell: (
    layer: ILayer,
    trans: TranslationBundle,
    now: number
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
    cell: layer => ({
      content: (
        <>
          <StatusChip status={layer.status} title={layer.error ?? undefined} />
          {layer.drift ? <DriftChip drift={layer.drift} /> : null}
        </>
      )
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
  return (
    <div className="pennlayer-LayersTable-scroller">
      <table className="pennlayer-LayersTable" aria-label={trans.__('Layers')}>
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
          <tr>
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
          {layers.map(layer => {
            const open = expanded.has(layer.name);
            const detailsId = `pennlayer-details-${layer.name}`;
            const row = (
              <tr
                data-layer-name={layer.name}
                className={open ? 'pennlayer-mod-expanded' : undefined}
              >
                {columns.map(column => {
                  const { content, title } = COLUMN_SPECS[column].cell(
                    layer,
                    trans,
                    now
                  );
                  return column === 'name' ? (
                    <th
                      key={column}
                      scope="row"
                      className={cellClass(column)}
                      title={title}
                    >
                      {onToggle ? (
                        <button
                          type="button"
                          className="pennlayer-LayersTable-toggle"
                          aria-expanded={open}
                          aria-controls={open ? detailsId : undefined}
                          onClick={() => onToggle(layer.name)}
                        >
                          {content}
                        </button>
                      ) : (
                        content
                      )}
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
                  <tr
                    className="pennlayer-LayersTable-detailsRow"
                    id={detailsId}
                  >
                    <td colSpan={columns.length}>{renderDetails(layer)}</td>
                  </tr>
                )}
              </React.Fragment>
            );
          })}
        </tbody>
      </table>
    </div>
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
