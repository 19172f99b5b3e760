import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

/**
 * The command line that creates a first reference layer.
 */
export const CREATE_LAYER_COMMAND =
  'jupyter pennlayer create NAME --kind reference';

/**
 * The props of `EmptyState`.
 */
export interface IEmptyStateProps {
  trans: TranslationBundle;
}

/**
 * What the sidebar shows while the node has no layer.
 */
export function EmptyState(props: IEmptyStateProps): JSX.Element {
  const { trans } = props;
  return (
    <div className="pennlayer-EmptyState">
      <p>
        {trans.__('No layers yet. Create one with')}{' '}
        <code className="pennlayer-EmptyState-command">
          {CREATE_LAYER_COMMAND}
        </code>
      </p>
    </div>
  );
}
