/** Every experiment registers itself on import; one file each. */
import './degradation.js';
