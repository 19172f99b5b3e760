import schema from '../../schema/settings/sidebar.json';
import {
  LAYER_COLUMNS,
  layoutFor,
  normalizeColumns,
  tableWidth
} from '../columns';

describe('normalizeColumns', () => {
  it('shows every column when the setting is not a list', () => {
    expect(normalizeColumns(undefined)).toEqual([...LAYER_COLUMNS]);
  });

  it('keeps the given order and drops unknown keys and duplicates', () => {
    expect(normalizeColumns(['size', 'bogus', 'name', 'size'])).toEqual([
      'size',
      'name'
    ]);
  });

  it('falls back to the name when nothing is left', () => {
    expect(normalizeColumns([])).toEqual(['name']);
  });

  it('matches the settings schema', () => {
    const columns = schema.properties.columns;
    expect(
      columns.items.oneOf.map((option: { const: string }) => option.const)
    ).toEqual([...LAYER_COLUMNS]);
    expect(columns.default).toEqual([...LAYER_COLUMNS]);
  });
});

describe('layoutFor', () => {
  it('uses compact rows at the default sidebar width and down to 220 px', () => {
    for (const width of [220, 250, 300, 400]) {
      expect(layoutFor(width, LAYER_COLUMNS)).toBe('compact');
    }
  });

  it('shows the table once every chosen column fits', () => {
    const width = tableWidth(LAYER_COLUMNS);
    expect(layoutFor(width, LAYER_COLUMNS)).toBe('table');
    expect(layoutFor(width - 1, LAYER_COLUMNS)).toBe('compact');
    // Fewer columns fit a narrower sidebar.
    expect(layoutFor(400, ['name', 'status', 'monthly_cost'])).toBe('table');
  });

  it('stays compact while the width is unknown', () => {
    expect(layoutFor(0, ['name'])).toBe('compact');
  });
});
