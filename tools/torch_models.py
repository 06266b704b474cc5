"""PyTorch references for convlab zoo models that torchvision lacks, under convlab's names.

Imported by tools/torch_to_safetensors.py and tools/parity_fixtures.py (Debian's /usr/bin/python3,
torch 1.13, torchvision 0.14). Each model's state_dict keys equal convlab's parameter names, in
convlab's order, so weights move between the two by name alone.
"""

import torch.nn as nn
from torchvision.models.resnet import ResNet, conv1x1, conv3x3
from torchvision.ops import SqueezeExcitation


class SEBottleneck(nn.Module):
    """torchvision's Bottleneck with squeeze-and-excitation (r = 16) on the residual branch before
    the add (Hu et al. 2018). `stride_in` says where the block strides: the first 1x1 in the
    original SENet release's SE-ResNet, the grouped 3x3 in its SE-ResNeXt (as ResNeXt does)."""

    expansion = 4
    stride_in = "1x1"

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1,
                 norm_layer=None):
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        out = planes * self.expansion
        s1, s3 = (stride, 1) if self.stride_in == "1x1" else (1, stride)
        self.conv1 = conv1x1(inplanes, width, s1)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, s3, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, out)
        self.bn3 = norm_layer(out)
        self.se = SqueezeExcitation(out, out // 16)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.se(self.bn3(self.conv3(y)))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(y + identity)


class SEBottleneck3x3(SEBottleneck):
    stride_in = "3x3"


def se_resnet50(num_classes=1000):
    return ResNet(SEBottleneck, [3, 4, 6, 3], num_classes=num_classes)


def se_resnext50_32x4d(num_classes=1000):
    return ResNet(SEBottleneck3x3, [3, 4, 6, 3], num_classes=num_classes, groups=32, width_per_group=4)


def _bn(channels):
    # Keras's BatchNormalization defaults (epsilon 1e-3, moving-average momentum 0.99).
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class SeparableConv2d(nn.Module):
    """Depthwise k x k then pointwise 1x1, no bias, nothing between them."""

    def __init__(self, cin, cout, kernel=3, padding=1):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, kernel, padding=padding, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class Projection(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
        self.bn = _bn(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class XceptionBlock(nn.Module):
    """Figure 5's residual unit: [ReLU -> SeparableConv -> BN] per width, a 3x3/2 max pool when
    striding, plus the shortcut (projected when the shape changes). ReLUs are not in place: the
    shortcut reads the block's un-rectified input."""

    def __init__(self, cin, widths, stride, start_with_relu):
        super().__init__()
        out = widths[-1]
        self.shortcut = Projection(cin, out, stride) if stride != 1 or cin != out else None
        self.start_with_relu = start_with_relu
        self.widths = len(widths)
        c = cin
        for i, w in enumerate(widths):
            setattr(self, f"sepconv{i + 1}", SeparableConv2d(c, w))
            setattr(self, f"bn{i + 1}", _bn(w))
            c = w
        self.pool = nn.MaxPool2d(3, stride=2, padding=1) if stride == 2 else None

    def forward(self, x):
        y = x
        for i in range(self.widths):
            if i > 0 or self.start_with_relu:
                y = nn.functional.relu(y)
            y = getattr(self, f"bn{i + 1}")(getattr(self, f"sepconv{i + 1}")(y))
        if self.pool is not None:
            y = self.pool(y)
        return y + (x if self.shortcut is None else self.shortcut(x))


class EntryFlow(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, stride=2, bias=False)
        self.bn1 = _bn(32)
        self.conv2 = nn.Conv2d(32, 64, 3, bias=False)
        self.bn2 = _bn(64)
        self.block1 = XceptionBlock(64, [128, 128], 2, start_with_relu=False)
        self.block2 = XceptionBlock(128, [256, 256], 2, start_with_relu=True)
        self.block3 = XceptionBlock(256, [728, 728], 2, start_with_relu=True)

    def forward(self, x):
        x = nn.functional.relu(self.bn1(self.conv1(x)))
        x = nn.functional.relu(self.bn2(self.conv2(x)))
        return self.block3(self.block2(self.block1(x)))


class ExitFlow(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = XceptionBlock(728, [728, 1024], 2, start_with_relu=True)
        self.sepconv1 = SeparableConv2d(1024, 1536)
        self.bn1 = _bn(1536)
        self.sepconv2 = SeparableConv2d(1536, 2048)
        self.bn2 = _bn(2048)

    def forward(self, x):
        x = self.block1(x)
        x = nn.functional.relu(self.bn1(self.sepconv1(x)))
        return nn.functional.relu(self.bn2(self.sepconv2(x)))


class Xception(nn.Module):
    """Xception (Chollet 2017) in the Keras Applications layout that convlab's zoo builds: valid 3x3
    stem convs, BN after every separable conv, eight middle-flow blocks, no dropout; Glorot-uniform
    init as Keras."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.entry_flow = EntryFlow()
        self.middle_flow = nn.Sequential()
        for i in range(1, 9):
            self.middle_flow.add_module(f"block{i}", XceptionBlock(728, [728] * 3, 1, start_with_relu=True))
        self.exit_flow = ExitFlow()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        x = self.exit_flow(self.middle_flow(self.entry_flow(x)))
        return self.fc(self.avgpool(x).flatten(1))


def xception(num_classes=1000):
    return Xception(num_classes)


MODELS = {
    "se_resnet50": se_resnet50,
    "se_resnext50_32x4d": se_resnext50_32x4d,
    "xception": xception,
}
