/** Every op's PyTorch form registers itself on import. */
import './activation.js';
import './arithmetic.js';
import './batchnorm.js';
import './conv.js';
import './dropout.js';
import './l2norm.js';
import './layernorm.js';
import './linear.js';
import './pooling.js';
import './resample.js';
import './tensor.js';
