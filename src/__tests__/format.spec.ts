import {
  formatBytes,
  formatCount,
  formatDate,
  formatMonthlyCost,
  formatRelativeTime,
  formatTimeLeft,
  formatUsd
} from '../format';
import figures from './figures.json';

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [-5, '0 B'],
    [Number.NaN, '0 B'],
    [1, '1 B'],
    [999, '999 B'],
    [1000, '1.0 kB'],
    [1234, '1.2 kB'],
    [340_000_000, '340 MB'],
    [1_200_000_000, '1.2 GB'],
    [12_345_678_901, '12.3 GB'],
    [999_960_000, '1.0 GB'],
    [2.5e15, '2.5 PB']
  ])('formats %p bytes as %p', (bytes, expected) => {
    expect(formatBytes(bytes)).toBe(expected);
  });
});

describe('the figures the CLI prints too (pennlayer_ext/tests/test_units.py)', () => {
  it.each(figures.bytes)('formats %p bytes as %p', (bytes, expected) => {
    expect(formatBytes(bytes as number)).toBe(expected);
  });

  it.each(figures.usd)('formats %p USD as %p', (usd, expected) => {
    expect(formatUsd(usd as number)).toBe(expected);
  });

  it.each(figures.seconds_left)(
    'formats %p seconds left as %p',
    (seconds, expected) => {
      expect(formatTimeLeft(seconds as number)).toBe(expected);
    }
  );
});

describe('formatMonthlyCost', () => {
  it.each([
    [0.36, '$0.36/mo'],
    [0, '$0.00/mo'],
    [0.004, '<$0.01/mo'],
    [1234.5, '$1,234.50/mo'],
    [0.305, '$0.31/mo']
  ])('formats %p USD as %p', (usd, expected) => {
    expect(formatMonthlyCost(usd)).toBe(expected);
  });
});

describe('formatCount', () => {
  it('groups thousands', () => {
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(formatCount(0)).toBe('0');
  });
});

describe('formatRelativeTime', () => {
  const now = Date.parse('2025-06-15T12:00:00Z');
  const ago = (ms: number) => new Date(now - ms).toISOString();
  const minute = 60 * 1000;
  const hour = 60 * minute;
  const day = 24 * hour;

  it('says never for a missing or broken time', () => {
    expect(formatRelativeTime(null, { now })).toBe('never');
    expect(formatRelativeTime(undefined, { now })).toBe('never');
    expect(formatRelativeTime('not a date', { now })).toBe('never');
    expect(formatRelativeTime(null, { now, never: 'jamais' })).toBe('jamais');
  });

  it.each([
    [10 * 1000, 'now'],
    [-20 * 1000, 'now'],
    [5 * minute, '5 minutes ago'],
    [90 * minute, '2 hours ago'],
    [30 * hour, 'yesterday'],
    [3 * day, '3 days ago'],
    [60 * day, '2 months ago'],
    [800 * day, '2 years ago'],
    [-3 * hour, 'in 3 hours']
  ])('formats %p ms ago as %p', (elapsed, expected) => {
    expect(formatRelativeTime(ago(elapsed), { now })).toBe(expected);
  });
});

describe('formatDate', () => {
  it('shows the local calendar date', () => {
    const local = new Date(2025, 0, 9, 15, 30);
    expect(formatDate(local.toISOString())).toBe('2025-01-09');
  });

  it('shows nothing for a missing or broken time', () => {
    expect(formatDate(null)).toBe('');
    expect(formatDate('nope')).toBe('');
  });
});
