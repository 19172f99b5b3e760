import schema from '../../schema/settings/sidebar.json';
import { LAYER_COLUMNS, normalizeColumns } from '../columns';

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
