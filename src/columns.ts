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
