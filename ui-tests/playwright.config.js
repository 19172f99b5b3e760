/**
 * Playwright configuration: Galata's defaults, Debian's Chromium, a real
 * JupyterLab server with the pennlayer extension and a throwaway layer store.
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

// The server's port: 8888, or PENNLAYER_GALATA_PORT when that one is taken.
const port = process.env.PENNLAYER_GALATA_PORT || '8888';
process.env.TARGET_URL = process.env.TARGET_URL || `http://localhost:${port}`;
// A second server holds 10,000 layers for many-layers.spec.ts, ten ports up
// (or PENNLAYER_GALATA_MANY_PORT), so the other tests keep a small store.
const manyPort =
  process.env.PENNLAYER_GALATA_MANY_PORT || String(Number(port) + 10);
process.env.PENNLAYER_GALATA_MANY_URL = `http://localhost:${manyPort}`;

module.exports = {
  ...baseConfig,
  reporter: [['list']],
  // Every test talks to the one server and its layers: one at a time.
  workers: 1,
  use: {
    ...baseConfig.use,
    video: 'off',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic'
      ]
    }
  },
  webServer: [
    {
      command: `jupyter lab --no-browser --allow-root --port ${port} --config jupyter_server_test_config.py`,
      url: `http://localhost:${port}/lab`,
      timeout: 120 * 1000,
      reuseExistingServer: !process.env.CI
    },
    {
      command: `jupyter lab --no-browser --allow-root --port ${manyPort} --config jupyter_server_many_layers_config.py`,
      url: `http://localhost:${manyPort}/lab`,
      timeout: 180 * 1000,
      reuseExistingServer: !process.env.CI
    }
  ]
};
