// Registers every native op entry (one file per op family).
import './adaptive_pooling.js';
import './batchnorm2d.js';
import './binary.js';
import './conv2d.js';
import './dropout.js';
import './eltwise.js';
import './l2norm.js';
import './linear.js';
import './pooling.js';
import './shape_ops.js';
import './shuffle.js';
