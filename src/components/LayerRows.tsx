import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { IJob, ILayer } from '../tokens';

/**
 * What the sidebar's list and the main area's table share: a window of the
 * node's layers, with details that open below a row.
 */
export interface ILayerRowsProps {
  /**
   * The rows to render, from row `first` on; `undefined` for a row whose
   * page has not arrived yet (a placeholder of the same height).
   */
  layers: readonly (ILayer | undefined)[];
  trans: TranslationBundle;
  /** The index of the first row given, in the whole list. */
  first?: number;
  /** How many rows the whole list has; `layers.length` by default. */
  count?: number;
  /** The room above and below the rows given, in pixels. */
  before?: number;
  after?: number;
  /** The reference time of relative times, in ms; defaults to now. */
  now?: number;
  /** The names of the layers whose details are shown. */
  expanded?: ReadonlySet<string>;
  /** Show or hide a layer's details; names become toggles when given. */
  onToggle?: (name: string) => void;
  /** The details of an expanded layer. */
  renderDetails?: (layer: ILayer) => React.ReactNode;
  /** Told the height of a layer's open details. */
  onDetailsHeight?: (name: string, height: number) => void;
  /** The running build or load of busy layers, by layer name. */
  jobs?: ReadonlyMap<string, IJob>;
}

/**
 * The id of the element that holds a layer's open details.
 */
export function detailsId(name: string): string {
  return `pennlayer-details-${name}`;
}

/**
 * A layer's name as the button that opens and closes its details, when the
 * rows have `onToggle`; the name alone otherwise.
 */
export function DetailsToggle(props: {
  name: string;
  open: boolean;
  onToggle?: (name: string) => void;
  className: string;
  children: React.ReactNode;
}): JSX.Element {
  const { name, open, onToggle } = props;
  if (!onToggle) {
    return <>{props.children}</>;
  }
  return (
    <button
      type="button"
      className={props.className}
      aria-expanded={open}
      aria-controls={open ? detailsId(name) : undefined}
      onClick={() => onToggle(name)}
    >
      {props.children}
    </button>
  );
}
