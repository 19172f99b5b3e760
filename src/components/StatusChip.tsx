import * as React from 'react';

import { LayerStatus } from '../tokens';

/**
 * The props of `StatusChip`.
 */
export interface IStatusChipProps {
  status: LayerStatus;
  /** A longer explanation shown on hover, e.g. the error of a failed build. */
  title?: string;
}

/**
 * A small colored label for a layer status.
 */
export function StatusChip(props: IStatusChipProps): JSX.Element {
  const modifier = String(props.status).toLowerCase();
  return (
    <span
      className={`pennlayer-StatusChip pennlayer-StatusChip-${modifier}`}
      title={props.title}
    >
      {props.status}
    </span>
  );
}

function driftTitle(drift: string): string {
  return `Integrity check failed: ${drift}. This layer is not mounted until it is rebuilt or re-populated.`;
}

/**
 * A red mark for a layer whose current version failed its integrity check: its files
 * no longer match its digest, so pennlayer refuses to mount it.
 */
export function DriftChip(props: { drift: string }): JSX.Element {
  return (
    <span
      className="pennlayer-StatusChip pennlayer-StatusChip-failed pennlayer-DriftChip"
      title={driftTitle(props.drift)}
      role="img"
      aria-label="Integrity check failed"
    >
      DRIFTED
    </span>
  );
}

/**
 * The same finding as a compact warning sign beside a layer's name.
 */
export function DriftMark(props: { drift: string }): JSX.Element {
  return (
    <span
      className="pennlayer-DriftMark"
      title={driftTitle(props.drift)}
      role="img"
      aria-label="Integrity check failed"
    >
      {'\u26a0'}
    </span>
  );
}
