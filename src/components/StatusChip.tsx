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
