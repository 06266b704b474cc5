#!/usr/bin/env bash
# convlab as a user installs it from its package, in an empty folder with nothing beside it:
#   npm pack; npm install ./convlab-*.tgz
# then `npx convlab summary resnet50` works, a TypeScript file importing { build, summarize } from
# 'convlab' type-checks against the shipped declarations (no @types/node needed), and the install
# pulls none of the lab's browser packages (the lab ships prebuilt in dist/web).
#
# Packs dist/ as built (npm ci and npm test build it). The consumer denies onnxruntime-node's
# install script as this repository does: on linux-x64 it downloads CUDA providers from NuGet.
# About a minute and a half on a busy 2-core machine, so CI runs it (.ci/run), not vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
test -f dist/index.d.ts -a -f dist/web/index.html || { echo "pack-check: build first (npm run build)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

npm pack --ignore-scripts --pack-destination "$work" --silent >/dev/null
cd "$work"
mkdir consumer && cd consumer
npm init -y >/dev/null
npm pkg set allowScripts.onnxruntime-node=false --json
npm install --prefer-offline --no-audit --no-fund --loglevel=error "$work"/convlab-*.tgz

npx --no-install convlab summary resnet50 --json >summary.json
node -e "const s = require('./summary.json'); if (s.totals.params !== 25557032) throw new Error('resnet50 params ' + s.totals.params)"

cat >use.ts <<'TS'
import { build, type Summary, summarize } from 'convlab';

const summary: Summary = summarize(build('resnet50'), { batch: 2 });
export const params: number = summary.totals.params;
TS
cat >tsconfig.json <<'JSON'
{
  "compilerOptions": {
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "target": "ES2022",
    "strict": true,
    "noEmit": true,
    "types": []
  },
  "files": ["use.ts"]
}
JSON
"$repo/node_modules/.bin/tsc" -p tsconfig.json

for browser in react react-dom chart.js elkjs; do
  if [ -e "node_modules/$browser" ]; then
    echo "pack-check: installing convlab pulled $browser" >&2
    exit 1
  fi
done
echo "pack-check: npx convlab summary works, the types resolve, no browser packages installed"
