/**
 * The columns the layers table can show, in their default order.
 *
 * Keep in sync with the `columns` choices of `schema/settings/sidebar.json`.
 */
export const LAYER_COLUMNS = [
  'name',
  'kind',
  'status',
  'size',
  'files',
  'tier',
  'monthly_cost',
  'last_access',
  'created'
] as const;

/**
 * The key of one column of the layers table.
 */
export type LayerColumn = (typeof LAYER_COLUMNS)[number];

/**
 * Whether a value is the key of a known column.
 */
export function isLayerColumn(value: unknown): value is LayerColumn {
  return (
    typeof value === 'string' &&
    (LAYER_COLUMNS as readonly string[]).includes(value)
  );
}

/**
 * The columns to show for a `columns` setting: known keys in the order given,
 * without duplicates; every column when the setting is not a list, and the
 * name alone when no known column is left.
 */
export function normalizeColumns(value: unknown): LayerColumn[] {
  if (!Array.isArray(value)) {
    return [...LAYER_COLUMNS];
  }
  const columns: LayerColumn[] = [];
  for (const item of value) {
    if (isLayerColumn(item) && !columns.includes(item)) {
      columns.push(item);
    }
  }
  return columns.length > 0 ? columns : ['name'];
}

/**
 * The width in pixels of each column of the layers table.
 */
export const COLUMN_WIDTHS: { readonly [key in LayerColumn]: number } = {
  name: 150,
  kind: 100,
  status: 100,
  size: 80,
  files: 72,
  tier: 92,
  monthly_cost: 120,
  last_access: 120,
  created: 100
};

/**
 * The room the table needs beside its columns: the padding of the view.
 */
const TABLE_MARGIN = 8;

/**
 * The width in pixels a table of `columns` needs without scrolling sideways.
 */
export function tableWidth(columns: readonly LayerColumn[]): number {
  return (
    columns.reduce((sum, column) => sum + COLUMN_WIDTHS[column], 0) +
    TABLE_MARGIN
  );
}

/**
 * How a list of layers is laid out: one line per layer with the chosen
 * columns, or compact rows (name and status, then size, cost and last access)
 * that fit any sidebar.
 */
export type LayersLayout = 'table' | 'compact';

/**
 * The layout for a view `width` pixels wide: the table when every chosen
 * column fits, compact rows otherwise (also while the width is unknown).
 */
export function layoutFor(
  width: number,
  columns: readonly LayerColumn[]
): LayersLayout {
  return width > 0 && width >= tableWidth(columns) ? 'table' : 'compact';
}
