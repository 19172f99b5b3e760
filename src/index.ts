import { JupyterFrontEndPlugin } from '@jupyterlab/application';

import { modelPlugin } from './plugins/model';
import { sidebarPlugin } from './plugins/sidebar';

const plugins: JupyterFrontEndPlugin<any>[] = [modelPlugin, sidebarPlugin];

export default plugins;
