#!/usr/bin/env bash
# Debian packages convlab's tests use, installed only when missing (run as root):
# PyTorch/torchvision/onnx (fixtures, onnx.checker, parity peers), Chromium (the lab's end-to-end
# tests), Fashion-MNIST (training); libdnnl-dev, g++ and make build the native oneDNN training
# backend (native/build.mjs). The product itself never needs them.
set -euo pipefail
need=()
/usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null || need+=(python3-torch python3-torchvision)
/usr/bin/python3 -c 'import onnx' 2>/dev/null || need+=(python3-onnx)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
[ -f /usr/include/oneapi/dnnl/dnnl.hpp ] || need+=(libdnnl-dev)
command -v g++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
