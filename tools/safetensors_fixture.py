#!/usr/bin/python3
"""Write test/fixtures/python.safetensors: a small file from the Python side, one tensor per dtype
convlab reads, with values test/runtime/safetensors.test.ts knows. Run with Debian's /usr/bin/python3:

    /usr/bin/python3 tools/safetensors_fixture.py test/fixtures/python.safetensors
"""

import sys

import torch

sys.dont_write_bytecode = True  # no __pycache__ left in tools/
from torch_to_safetensors import write_safetensors  # noqa: E402

TENSORS = {
    "conv.weight": torch.arange(24, dtype=torch.float32).reshape(2, 3, 2, 2) / 8 - 1,
    "half": torch.tensor([0.0, 1.0, -2.0, 0.5, 65504.0, 2.0**-24, float("inf"), float("-inf")],
                         dtype=torch.float16),
    "bfloat": torch.tensor([1.0, -3.5, 2.0**100], dtype=torch.bfloat16),
    "double": torch.tensor([[0.1, -0.25]], dtype=torch.float64),
    "bn.num_batches_tracked": torch.tensor(42, dtype=torch.int64),
    "long": torch.tensor([-(2**62), 0, 7], dtype=torch.int64),
    "int": torch.tensor([-5, 5], dtype=torch.int32),
    "byte": torch.tensor([0, 255], dtype=torch.uint8),
    "empty": torch.zeros(0, 3),
}

if __name__ == "__main__":
    write_safetensors(sys.argv[1], TENSORS, {"format": "pt", "written_by": "tools/safetensors_fixture.py"})
