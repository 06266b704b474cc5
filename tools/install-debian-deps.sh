#!/usr/bin/env bash
# Debian packages convlab's tests use, installed only when missing (run as root):
# PyTorch/torchvision/onnx (fixtures, onnx.checker, parity peers), Chromium (the lab's end-to-end
# tests), Fashion-MNIST (training), ONNX's backend node tests (the importer's op tests), and oneDNN
# with a C++ toolchain (the optional native training backend, built by npm ci where they exist).
# The product itself never needs Python.
set -euo pipefail
need=()
/usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null || need+=(python3-torch python3-torchvision)
/usr/bin/python3 -c 'import onnx' 2>/dev/null || need+=(python3-onnx)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
dpkg -s libonnx-testdata >/dev/null 2>&1 || need+=(libonnx-testdata)
[ -f /usr/include/dnnl.hpp ] || need+=(libdnnl-dev)
command -v g++ >/dev/null && command -v make >/dev/null || need+=(g++ make)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
