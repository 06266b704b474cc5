/** Every zoo family, registered on import. A new family is one new file and one line here. */
import '../ops/index.js';
import './densenet.js';
import './googlenet.js';
import './inception_v3.js';
import './mobilenet_v2.js';
import './resnet.js';
import './resnet_cifar.js';
import './senet.js';
import './shufflenet_v1.js';
import './shufflenet_v2.js';
import './vgg.js';
import './wide_resnet.js';
import './xception.js';

export * from './registry.js';
