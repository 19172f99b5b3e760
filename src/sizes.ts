import type { TranslationBundle } from '@jupyterlab/translation';

import { formatBytes, formatCount, formatUsd } from './format';
import { ILayer, ILayerTotals } from './tokens';

/**
 * How sizes, shared files and costs are counted, in words a person can
 * check against the figures (see "What a layer shows" in the design).
 */

/**
 * The bytes deleting a layer frees, or `null` when the server does not say.
 */
export function uniqueBytes(layer: ILayer): number | null {
  const unique = layer.unique_bytes;
  return typeof unique === 'number' && Number.isFinite(unique) ? unique : null;
}

/**
 * The tooltip of a layer's size.
 */
export function sizeTitle(layer: ILayer, trans: TranslationBundle): string {
  const lines = [
    trans.__(
      "Size: %1 (%2 bytes), the files of this layer's current version. It does not change when other layers come or go.",
      formatBytes(layer.size_bytes),
      formatCount(layer.size_bytes)
    )
  ];
  const unique = uniqueBytes(layer);
  if (unique !== null) {
    lines.push(
      trans.__(
        'Unique: %1, what deleting it frees (files no other layer shares).',
        formatBytes(unique)
      )
    );
  }
  lines.push(unitsNote(trans));
  return lines.join('\n');
}

/**
 * The tooltip of a layer's monthly cost.
 */
export function costTitle(layer: ILayer, trans: TranslationBundle): string {
  const storageClass = layer.storage_class ?? 'STANDARD';
  return [
    trans.__(
      'Estimated monthly cost: %1, the size (%2) at the %3 price per GB-month.',
      formatUsd(layer.monthly_cost_usd),
      formatBytes(layer.size_bytes),
      storageClass
    ),
    trans.__(
      'Files shared with other layers are in every sharer’s cost; the node total counts them once.'
    ),
    unitsNote(trans)
  ].join('\n');
}

/**
 * The bytes sharing saves on the node, or `null` when the server does not
 * say (older servers) or nothing is shared.
 */
export function sharedSavings(totals: ILayerTotals): number | null {
  const saved = totals.shared_savings_bytes;
  return typeof saved === 'number' && Number.isFinite(saved) && saved > 0
    ? saved
    : null;
}

/**
 * A saving as a negative size, e.g. `−3.1 MB` (with a real minus sign).
 */
export function formatSaving(bytes: number): string {
  return `\u2212${formatBytes(bytes)}`;
}

/**
 * The tooltip of the node's disk use.
 */
export function totalSizeTitle(
  totals: ILayerTotals,
  trans: TranslationBundle
): string {
  const lines = [
    trans.__(
      'On disk: %1 (%2 bytes) for all layers; a file shared between layers (hard links from the build cache) is counted once.',
      formatBytes(totals.size_bytes),
      formatCount(totals.size_bytes)
    )
  ];
  const layersBytes = totals.layers_bytes;
  const saved = sharedSavings(totals);
  if (typeof layersBytes === 'number' && saved !== null) {
    lines.push(
      trans.__(
        "The layers' sizes add up to %1; sharing saves %2.",
        formatBytes(layersBytes),
        formatBytes(saved)
      )
    );
  }
  lines.push(unitsNote(trans));
  return lines.join('\n');
}

/**
 * The tooltip of the node's monthly cost.
 */
export function totalCostTitle(
  totals: ILayerTotals,
  trans: TranslationBundle
): string {
  const lines = [
    trans.__(
      'Estimated monthly cost of what the layers use: %1. Shared files are paid for once.',
      formatUsd(totals.monthly_cost_usd)
    )
  ];
  const bytes = totals.size_bytes_by_storage_class;
  const costs = totals.monthly_cost_usd_by_storage_class;
  if (bytes && costs && (bytes.IA ?? 0) > 0) {
    lines.push(
      trans.__(
        'STANDARD: %1 on disk, %2/month.',
        formatBytes(bytes.STANDARD ?? 0),
        formatUsd(costs.STANDARD ?? 0)
      ),
      trans.__(
        'IA: %1 of archives, %2/month.',
        formatBytes(bytes.IA ?? 0),
        formatUsd(costs.IA ?? 0)
      )
    );
  }
  lines.push(unitsNote(trans));
  return lines.join('\n');
}

/**
 * What IA holds and saves, or `null` when nothing is archived (or the server
 * does not say).
 */
export function iaSavings(
  totals: ILayerTotals
): { archiveBytes: number; filesBytes: number; monthlyUsd: number } | null {
  const archiveBytes = totals.size_bytes_by_storage_class?.IA;
  const monthlyUsd = totals.ia_savings_monthly_usd;
  if (
    typeof archiveBytes !== 'number' ||
    !(archiveBytes > 0) ||
    typeof monthlyUsd !== 'number' ||
    !Number.isFinite(monthlyUsd)
  ) {
    return null;
  }
  return {
    archiveBytes,
    filesBytes: totals.ia_files_bytes ?? 0,
    monthlyUsd
  };
}

/**
 * The tooltip of what IA saves on the node (`ia` from `iaSavings`).
 */
export function iaSavingsTitle(
  ia: NonNullable<ReturnType<typeof iaSavings>>,
  trans: TranslationBundle
): string {
  return [
    trans.__(
      'Archived (IA) layers: %1 of files kept as %2 of archives in the cold store.',
      formatBytes(ia.filesBytes),
      formatBytes(ia.archiveBytes)
    ),
    trans.__(
      'IA saves %1 per month: those files at the STANDARD price less their archives at the IA price. Restoring a layer costs a retrieval fee (shown before you restore).',
      formatUsd(ia.monthlyUsd)
    ),
    unitsNote(trans)
  ].join('\n');
}

/**
 * The one unit system, said once in every size tooltip.
 */
function unitsNote(trans: TranslationBundle): string {
  return trans.__('1 kB = 1,000 bytes, 1 MB = 1,000 kB, 1 GB = 1,000 MB.');
}
