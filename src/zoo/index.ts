/** Every zoo family, registered on import. A new family is one new file and one line here. */
import '../ops/index.js';
import './resnet.js';

export * from './registry.js';
