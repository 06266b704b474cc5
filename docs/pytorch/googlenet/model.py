"""googlenet as a PyTorch nn.Module, written by convlab.

Made by `convlab export googlenet --format pytorch -o googlenet`. Module and parameter names are convlab's, which are
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
AUX_LOSS_WEIGHTS = (0.3, 0.3)


class BasicConv2d(nn.Module):
    """BasicConv2d: 59 in the model (conv1, conv2, conv3, ...)."""

    def __init__(self, in_channels, out_channels, conv_kernel_size, conv_stride, conv_padding):
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size=conv_kernel_size,
            stride=conv_stride,
            padding=conv_padding,
            bias=False,
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        x = self.conv(x)
        x = self.bn(x)
        return F.relu(x)


class Inception(nn.Module):
    """Inception: 9 in the model (inception3a, inception3b, inception4a, ...)."""

    def __init__(self, in_channels, branch1_out_channels, branch2_0_out_channels, branch2_1_out_channels, branch3_0_out_channels, branch3_1_out_channels, branch4_1_out_channels):
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, branch1_out_channels, 1, 1, 0)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, branch2_0_out_channels, 1, 1, 0),
            BasicConv2d(branch2_0_out_channels, branch2_1_out_channels, 3, 1, 1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, branch3_0_out_channels, 1, 1, 0),
            BasicConv2d(branch3_0_out_channels, branch3_1_out_channels, 3, 1, 1),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, branch4_1_out_channels, 1, 1, 0),
        )

    def forward(self, x):
        branch1 = self.branch1(x)
        branch2 = self.branch2(x)
        branch3 = self.branch3(x)
        branch4 = self.branch4(x)
        return torch.cat([branch1, branch2, branch3, branch4], 1)


class InceptionAux(nn.Module):
    """InceptionAux: 2 in the model (aux1, aux2)."""

    def __init__(self, in_channels):
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, 1, 1, 0)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, 1000)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(x, 4)
        x = self.conv(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = F.dropout(x, p=0.7, training=self.training)
        return self.fc2(x)


class Googlenet(nn.Module):
    """googlenet: GoogLeNet / Inception v1 (Szegedy et al. 2014), torchvision's build: BN after every conv and a 3x3 kernel in the '5x5' branch"""

    def __init__(self):
        super().__init__()
        self.conv1 = BasicConv2d(3, 64, 7, 2, 3)
        self.conv2 = BasicConv2d(64, 64, 1, 1, 0)
        self.conv3 = BasicConv2d(64, 192, 3, 1, 1)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        self.aux1 = InceptionAux(512)
        self.aux2 = InceptionAux(528)
        self.fc = nn.Linear(1024, 1000)

    def forward(self, x):
        x = self.conv1(x)
        x = F.max_pool2d(x, 3, stride=2, ceil_mode=True)
        x = self.conv2(x)
        x = self.conv3(x)
        x = F.max_pool2d(x, 3, stride=2, ceil_mode=True)
        x = self.inception3a(x)
        x = self.inception3b(x)
        x = F.max_pool2d(x, 3, stride=2, ceil_mode=True)
        x = self.inception4a(x)
        if self.training:
            aux1 = self.aux1(x)
        x = self.inception4b(x)
        x = self.inception4c(x)
        x = self.inception4d(x)
        if self.training:
            aux2 = self.aux2(x)
        x = self.inception4e(x)
        x = F.max_pool2d(x, 2, ceil_mode=True)
        x = self.inception5a(x)
        x = self.inception5b(x)
        x = F.adaptive_avg_pool2d(x, 1)
        x = torch.flatten(x, 1)
        x = F.dropout(x, p=0.2, training=self.training)
        x = self.fc(x)
        if self.training:
            return x, aux1, aux2
        return x


def build(weights=None):
    """The model as exported; `weights`: a safetensors file with convlab's (torchvision's) names."""
    model = Googlenet()
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
