"""resnet50 as a PyTorch nn.Module, written by convlab.

Made by `convlab export resnet50 --format pytorch -o resnet50`. Module and parameter names are convlab's, which are
torchvision's state_dict keys: a convlab safetensors file loads with model.load_state_dict.
In training mode a model with auxiliary heads returns (logits, *aux_logits); in eval mode, the logits.
"""

import json
import os
import struct

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SHAPE = (3, 224, 224)
NUM_CLASSES = 1000
# The auxiliary heads' loss weights, in the order forward returns their logits in training.
AUX_LOSS_WEIGHTS = ()


class BottleneckWithDownsample(nn.Module):
    """Bottleneck (variant): 4 in the model (layer1.0, layer2.0, layer3.0, ...)."""

    def __init__(self, in_channels, conv1_out_channels, conv2_stride, out_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, conv1_out_channels, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(conv1_out_channels)
        self.conv2 = nn.Conv2d(
            conv1_out_channels,
            conv1_out_channels,
            kernel_size=3,
            stride=conv2_stride,
            padding=1,
            bias=False,
        )
        self.bn2 = nn.BatchNorm2d(conv1_out_channels)
        self.conv3 = nn.Conv2d(conv1_out_channels, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=conv2_stride, bias=False),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x):
        out = self.conv1(x)
        out = self.bn1(out)
        out = F.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out = F.relu(out)
        out = self.conv3(out)
        out = self.bn3(out)
        downsample = self.downsample(x)
        out = out + downsample
        return F.relu(out)


class Bottleneck(nn.Module):
    """Bottleneck: 12 in the model (layer1.1, layer1.2, layer2.1, ...)."""

    def __init__(self, in_channels, conv1_out_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, conv1_out_channels, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(conv1_out_channels)
        self.conv2 = nn.Conv2d(
            conv1_out_channels,
            conv1_out_channels,
            kernel_size=3,
            padding=1,
            bias=False,
        )
        self.bn2 = nn.BatchNorm2d(conv1_out_channels)
        self.conv3 = nn.Conv2d(conv1_out_channels, in_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(in_channels)

    def forward(self, x):
        out = self.conv1(x)
        out = self.bn1(out)
        out = F.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out = F.relu(out)
        out = self.conv3(out)
        out = self.bn3(out)
        out = out + x
        return F.relu(out)


class Resnet50(nn.Module):
    """resnet50: ResNet-50, bottleneck blocks (torchvision V1.5)"""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = nn.Sequential(
            BottleneckWithDownsample(64, 64, 1, 256),
            *[Bottleneck(256, 64) for _ in range(2)],
        )
        self.layer2 = nn.Sequential(
            BottleneckWithDownsample(256, 128, 2, 512),
            *[Bottleneck(512, 128) for _ in range(3)],
        )
        self.layer3 = nn.Sequential(
            BottleneckWithDownsample(512, 256, 2, 1024),
            *[Bottleneck(1024, 256) for _ in range(5)],
        )
        self.layer4 = nn.Sequential(
            BottleneckWithDownsample(1024, 512, 2, 2048),
            *[Bottleneck(2048, 512) for _ in range(2)],
        )
        self.fc = nn.Linear(2048, 1000)

    def forward(self, x):
        x = self.conv1(x)
        x = self.bn1(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 3, stride=2, padding=1)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = F.adaptive_avg_pool2d(x, 1)
        x = torch.flatten(x, 1)
        return self.fc(x)


def build(weights=None):
    """The model as exported; `weights`: a safetensors file with convlab's (torchvision's) names."""
    model = Resnet50()
    if weights is not None:
        model.load_state_dict(load_safetensors(weights))
    return model


_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
           "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8}
_NAMES = {v: k for k, v in _DTYPES.items()}


def load_safetensors(path):
    """The tensors of a safetensors file, by name (its metadata: read_safetensors_metadata)."""
    with open(path, "rb") as f:
        data = f.read()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    body = memoryview(data)[8 + size:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        flat = torch.frombuffer(bytearray(body[start:end]), dtype=dtype) if end > start else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(info["shape"])
    return tensors


def read_safetensors_metadata(path):
    """The file's __metadata__ (string to string), or {}."""
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(size)).get("__metadata__", {})


def save_safetensors(tensors, path, metadata=None):
    """Write tensors (name -> tensor) as safetensors, atomically (a temporary file, then a rename)."""
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().cpu().contiguous().numpy().tobytes()
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in chunks:
            f.write(b)
    os.replace(tmp, path)
