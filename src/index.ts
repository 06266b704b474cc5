export * from './analysis/summary.js';
export * from './ir/index.js';
export * from './ops/index.js';
export * from './zoo/index.js';
