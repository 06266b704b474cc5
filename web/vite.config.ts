import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

/**
 * The lab: React without a plugin (esbuild compiles JSX with the automatic runtime), the analysis
 * code imported straight from ../src. Built into dist/web, which `convlab lab` serves.
 */
export default defineConfig({
  root: here('.'),
  base: '/',
  publicDir: here('public'),
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: here('../dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
    sourcemap: false,
  },
  server: { host: '127.0.0.1', fs: { allow: [here('..')] } },
  preview: { host: '127.0.0.1' },
});
