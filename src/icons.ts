import { LabIcon } from '@jupyterlab/ui-components';

import layersSvgstr from '../style/icons/layers.svg';

/**
 * The icon of the Layers sidebar and its settings.
 */
export const layersIcon = new LabIcon({
  name: 'pennlayer:layers',
  svgstr: layersSvgstr
});
