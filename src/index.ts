export * from './analysis/memory.js';
export * from './analysis/receptive_field.js';
export * from './analysis/receptive_field_check.js';
export * from './analysis/summary.js';
export * from './ir/index.js';
export * from './ops/index.js';
export * from './zoo/index.js';
