/** Every zoo family, registered on import. A new family is one new file and one line here. */
import '../ops/index.js';
import './densenet.js';
import './mobilenet_v2.js';
import './resnet.js';
import './vgg.js';

export * from './registry.js';
