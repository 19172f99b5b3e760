import { JupyterFrontEndPlugin } from '@jupyterlab/application';

import { launcherPlugin } from './plugins/launcher';
import { modelPlugin } from './plugins/model';
import { notebookMetadataPlugin } from './plugins/notebookMetadata';
import { notebookToolbarPlugin } from './plugins/notebookToolbar';
import { runsPlugin } from './plugins/runs';
import { sidebarPlugin } from './plugins/sidebar';

const plugins: JupyterFrontEndPlugin<any>[] = [
  modelPlugin,
  sidebarPlugin,
  notebookMetadataPlugin,
  launcherPlugin,
  notebookToolbarPlugin,
  runsPlugin
];

export default plugins;
