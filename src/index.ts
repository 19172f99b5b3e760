import { JupyterFrontEndPlugin } from '@jupyterlab/application';

import { modelPlugin } from './plugins/model';
import { notebookMetadataPlugin } from './plugins/notebookMetadata';
import { sidebarPlugin } from './plugins/sidebar';

const plugins: JupyterFrontEndPlugin<any>[] = [
  modelPlugin,
  sidebarPlugin,
  notebookMetadataPlugin
];

export default plugins;
