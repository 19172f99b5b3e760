/**
 * Human-readable figures for sizes, costs and times.
 *
 * Sizes use decimal units (1 kB = 1000 B, 1 MB = 1000 kB, 1 GB = 1000 MB), as
 * storage prices do, everywhere: the CLI and job messages print the same text
 * (pennlayer_ext/core/units.py).
 */

const BYTE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];

/**
 * Format a byte count, e.g. `0 B`, `512 B`, `1.2 GB`, `340 MB`.
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes <= 0) {
    return '0 B';
  }
  let unit = 0;
  let value = bytes;
  while (value >= 1000 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  if (unit === 0) {
    return `${Math.round(value)} B`;
  }
  // One decimal below 100, none from 100 on; what rounds up to 1000 moves to
  // the next unit (999.96 MB is 1.0 GB). pennlayer_ext/core/units.py agrees.
  const tenths = value.toFixed(1);
  if (Number(tenths) < 100) {
    return `${tenths} ${BYTE_UNITS[unit]}`;
  }
  const whole = value.toFixed(0);
  if (Number(whole) >= 1000 && unit < BYTE_UNITS.length - 1) {
    return `${(value / 1000).toFixed(1)} ${BYTE_UNITS[unit + 1]}`;
  }
  return `${whole} ${BYTE_UNITS[unit]}`;
}

/**
 * Format an amount in US dollars, e.g. `$0.36`, `$1,234.50`, `<$0.01`.
 */
export function formatUsd(usd: number): string {
  if (!Number.isFinite(usd) || usd <= 0) {
    return '$0.00';
  }
  if (usd < 0.01) {
    return '<$0.01';
  }
  return `$${usd.toLocaleString('en-US', {
    minimumFractionDigits: 2,
    maximumFractionDigits: 2
  })}`;
}

/**
 * Format a monthly cost in US dollars, e.g. `$0.36/mo`.
 */
export function formatMonthlyCost(usd: number): string {
  return `${formatUsd(usd)}/mo`;
}

/**
 * Format a count with thousands separators, e.g. `12,345`.
 */
export function formatCount(count: number): string {
  if (!Number.isFinite(count)) {
    return '0';
  }
  return Math.round(count).toLocaleString('en-US');
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const MONTH = 30 * DAY;
const YEAR = 365 * DAY;

/**
 * Options of `formatRelativeTime`.
 */
export interface IRelativeTimeOptions {
  /** The reference time in ms since the epoch; defaults to now. */
  now?: number;
  /** The text for a missing time; defaults to `never`. */
  never?: string;
  /** The locale of the wording; defaults to `en`. */
  locale?: string;
}

/**
 * Format an ISO 8601 time relative to now, e.g. `now`, `5 minutes ago`,
 * `yesterday`, `3 months ago`; `never` for `null`.
 */
export function formatRelativeTime(
  iso: string | null | undefined,
  options: IRelativeTimeOptions = {}
): string {
  const never = options.never ?? 'never';
  if (!iso) {
    return never;
  }
  const time = Date.parse(iso);
  if (Number.isNaN(time)) {
    return never;
  }
  const now = options.now ?? Date.now();
  const elapsed = now - time;
  const format = new Intl.RelativeTimeFormat(options.locale ?? 'en', {
    numeric: 'auto'
  });
  const magnitude = Math.abs(elapsed);
  if (magnitude < 45 * SECOND) {
    // Also covers small clock differences between browser and server.
    return format.format(0, 'second');
  }
  const sign = elapsed > 0 ? -1 : 1;
  const steps: [number, number, Intl.RelativeTimeFormatUnit][] = [
    [45 * MINUTE, MINUTE, 'minute'],
    [22 * HOUR, HOUR, 'hour'],
    [26 * DAY, DAY, 'day'],
    [320 * DAY, MONTH, 'month']
  ];
  for (const [below, size, unit] of steps) {
    if (magnitude < below) {
      return format.format(
        sign * Math.max(1, Math.round(magnitude / size)),
        unit
      );
    }
  }
  return format.format(
    sign * Math.max(1, Math.round(magnitude / YEAR)),
    'year'
  );
}

/**
 * Format an ISO 8601 time as a local calendar date, `YYYY-MM-DD`.
 */
export function formatDate(iso: string | null | undefined): string {
  if (!iso) {
    return '';
  }
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return '';
  }
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/**
 * Format an ISO 8601 time as a full local date and time, for tooltips.
 */
export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) {
    return '';
  }
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return '';
  }
  return date.toLocaleString();
}

/**
 * Format the seconds a job's step has left, as the CLI does
 * (`human_time_left` in pennlayer_ext/core/units.py): `about 40 s left` (to
 * 5 s under a minute), `about 4 min left`, `about 1 h 5 min left`.
 */
export function formatTimeLeft(seconds: number): string {
  const whole = Math.max(0, Math.trunc(seconds));
  const fives = Math.max(5, 5 * Math.floor(whole / 5 + 0.5));
  if (fives < 60) {
    return `about ${fives} s left`;
  }
  const total = Math.max(1, Math.floor(whole / 60 + 0.5));
  if (total < 60) {
    return `about ${total} min left`;
  }
  const hours = Math.floor(total / 60);
  const minutes = total % 60;
  return minutes
    ? `about ${hours} h ${minutes} min left`
    : `about ${hours} h left`;
}
