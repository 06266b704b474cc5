/** Every experiment registers itself on import; one file each. */
import './degradation.js';
import './init_statistics.js';
import './maxpool_l2norm.js';
import './spp.js';
import './densenet_memory.js';
import './aux_loss.js';
import './se_gradients.js';
