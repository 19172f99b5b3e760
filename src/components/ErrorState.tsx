import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

/**
 * The props of `ErrorState`.
 */
export interface IErrorStateProps {
  /** The server's explanation of what went wrong. */
  message: string;
  trans: TranslationBundle;
  /** Called when the person asks to try again; no button without it. */
  onRetry?: () => void;
  /** Show a one-line banner above older data instead of a full state. */
  compact?: boolean;
}

/**
 * Tells why the layers could not be listed, in the server's own words.
 */
export function ErrorState(props: IErrorStateProps): JSX.Element {
  const { message, trans, onRetry, compact } = props;
  const className = compact
    ? 'pennlayer-ErrorState pennlayer-mod-compact'
    : 'pennlayer-ErrorState';
  return (
    <div className={className} role="alert">
      <p className="pennlayer-ErrorState-title">
        {compact
          ? trans.__('Could not refresh the layers:')
          : trans.__('Could not list the layers:')}
      </p>
      <p className="pennlayer-ErrorState-message">{message}</p>
      {onRetry && (
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-reject pennlayer-ErrorState-retry"
          onClick={onRetry}
        >
          {trans.__('Retry')}
        </button>
      )}
    </div>
  );
}
