// Training-mode batch normalisation on oneDNN's nChw16c layout, accumulating in double.
//
// oneDNN 2.6's batch normalisation sums in float32, where PyTorch's CPU kernels accumulate in
// double: on a cancelling sum over a large batch (a DenseNet stem's 32768 terms per channel) the
// float32 sums put a 1e-5 scale gradient 3e-6 off, and a batch mean a few ulps off flips a fused
// ReLU's mask at a near-tie. These kernels give the exact sums at the same memory traffic.
//
// Layout: [n][channels / 16, rounded up][pixels][16]; lanes past `channels` are padding, written 0.

#pragma once

#include <cstddef>

namespace convlab {

struct BatchNormShape {
  size_t n, channels, pixels;
  size_t blocks() const { return (channels + 15) / 16; }
  size_t elements() const { return n * blocks() * pixels * 16; }
};

// y = gamma (x - mean) / sqrt(variance + eps) + beta over the batch's statistics, then ReLU when
// `relu`; writes the batch mean and biased variance (`channels` each).
void batchNormForward(const BatchNormShape &s, const float *x, float *y, const float *gamma, const float *beta,
                      float *mean, float *variance, double eps, bool relu);

// dx, dgamma, dbeta from dy and the forward's x, mean and variance (the ReLU's mask is recomputed
// from them, bit for bit the forward's).
void batchNormBackward(const BatchNormShape &s, const float *x, const float *dy, float *dx, const float *gamma,
                       const float *beta, const float *mean, const float *variance, float *dgamma, float *dbeta,
                       double eps, bool relu);

}  // namespace convlab
