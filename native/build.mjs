// Builds the native oneDNN binding (native/build/Release/convlab_dnnl.node) with node-gyp, where
// Debian's libdnnl-dev is installed; elsewhere says so in one line and succeeds, so that `npm ci`
// works on any machine (training then runs on onnxruntime). Run by package.json's "install".
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const header = '/usr/include/oneapi/dnnl/dnnl.hpp';
if (process.env.CONVLAB_SKIP_NATIVE) {
  console.log('convlab: CONVLAB_SKIP_NATIVE is set; not building the native oneDNN backend');
  process.exit(0);
}
if (!existsSync(header)) {
  console.log(
    `convlab: ${header} not found; the native oneDNN backend is not built (training uses onnxruntime; apt-get install libdnnl-dev g++ make, then npm run build:native)`,
  );
  process.exit(0);
}
// node-gyp ships with npm; Node's own headers (/usr/include/node) spare it a download.
const npmDir = dirname(dirname(process.execPath));
const candidates = [
  process.env.npm_config_node_gyp,
  join(npmDir, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
  '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
].filter((p) => p && existsSync(p));
if (!candidates.length) {
  console.log(
    'convlab: node-gyp not found; the native oneDNN backend is not built (training uses onnxruntime)',
  );
  process.exit(0);
}
const nodedir = existsSync('/usr/include/node/node_api.h') ? ['--nodedir=/usr'] : [];
const result = spawnSync(process.execPath, [candidates[0], 'rebuild', ...nodedir], {
  cwd: here,
  stdio: ['ignore', 'pipe', 'pipe'],
  encoding: 'utf8',
});
if (result.status !== 0) {
  process.stderr.write(result.stdout + result.stderr);
  console.log('convlab: building the native oneDNN backend failed (above); training uses onnxruntime');
  process.exit(0);
}
console.log('convlab: built the native oneDNN backend (native/build/Release/convlab_dnnl.node)');
