import { bottleneck } from '../blocks/residual.js';
import { registerModel } from './registry.js';
import { buildResNet, type ResNetConfig } from './resnet.js';

/**
 * SENet (Hu et al. 2018): ResNet-50 / ResNeXt-50 with a squeeze-and-excitation block (r = 16,
 * FCs with bias) on each bottleneck's residual branch before the add, under torchvision's names.
 * Each model strides where the original SENet release (as Cadene's PyTorch port has it) does, as
 * its published GFLOPs reflect: SE-ResNet in the first 1x1 of a bottleneck (3.86 G conv+FC MACs;
 * torchvision's V1.5 would cost 4.09 G at the same parameters), SE-ResNeXt in the grouped 3x3,
 * as ResNeXt itself does (4.23 G; striding its wide 1x1 instead would cost only 3.77 G).
 */
const senets: Record<string, ResNetConfig & { description: string }> = {
  se_resnet50: {
    block: bottleneck,
    layers: [3, 4, 6, 3],
    strideIn: '1x1',
    seReduction: 16,
    description: 'SE-ResNet-50 (Hu et al. 2018): ResNet-50 + squeeze-and-excitation, r=16',
  },
  se_resnext50_32x4d: {
    block: bottleneck,
    layers: [3, 4, 6, 3],
    groups: 32,
    baseWidth: 4,
    seReduction: 16,
    description: 'SE-ResNeXt-50 32x4d (Hu et al. 2018): ResNeXt-50 + squeeze-and-excitation, r=16',
  },
};

for (const [name, { description, ...cfg }] of Object.entries(senets)) {
  registerModel({
    name,
    family: 'senet',
    description,
    input: [3, 224, 224],
    classes: 1000,
    build: (o) => buildResNet(name, 'senet', cfg, o),
  });
}
