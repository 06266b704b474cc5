export * from './builder.js';
export * from './errors.js';
export * from './graph.js';
export * from './op.js';
export * from './registry.js';
export * from './resolve.js';
export * from './schema.js';
export * from './shape.js';
