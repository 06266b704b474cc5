// Training-mode batch normalisation on nChw16c with double accumulators (see batch_norm.h).
//
// Each pass walks the tensor once in memory order; OpenMP splits it by (sample, channel block),
// and per-thread partial sums are added in a fixed order, so results do not depend on timing.
// The inner loops are compiled for AVX-512, AVX2 and baseline x86-64 and chosen at load time.
// This file is built with -ffp-contract=off: the backward recomputes the forward's (x - mean) a + beta to
// find the ReLU's mask, and a fused multiply-add in one of the two would move a tie.

#include "batch_norm.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

extern "C" int omp_get_thread_num();
extern "C" int omp_get_max_threads();

namespace convlab {
namespace {

constexpr size_t kLanes = 16;

// Half a channel block: 8 floats, or the same 8 lanes widened to double.
typedef float f8 __attribute__((vector_size(32)));
typedef double d8 __attribute__((vector_size(64)));

#define INLINE static inline __attribute__((always_inline))
#define CLONED __attribute__((target_clones("avx512f", "avx2", "default")))

INLINE f8 load(const float *p) {
  f8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
INLINE void store(float *p, f8 v) { std::memcpy(p, &v, sizeof v); }
INLINE d8 widen(f8 v) { return __builtin_convertvector(v, d8); }
INLINE void accumulate(double *to, d8 v) {
  for (int l = 0; l < 8; l++) to[l] += v[l];
}
// The forward's output before the ReLU: the one expression both directions evaluate. The mean is
// subtracted first, as in oneDNN: x a + (beta - mean a) would cancel where the mean is large.
INLINE f8 normalised(f8 x, f8 mean, f8 a, f8 beta) { return (x - mean) * a + beta; }

// Sums of (x - shift) and of its square over one block's pixels, added into s1 and s2 per lane.
CLONED void moments(const float *x, size_t pixels, const float *shift, double *s1, double *s2) {
  const d8 k0 = widen(load(shift)), k1 = widen(load(shift + 8));
  d8 a0 = {}, a1 = {}, b0 = {}, b1 = {};
  for (size_t i = 0; i < pixels; i++, x += kLanes) {
    const d8 d0 = widen(load(x)) - k0, d1 = widen(load(x + 8)) - k1;
    a0 += d0;
    a1 += d1;
    b0 += d0 * d0;
    b1 += d1 * d1;
  }
  accumulate(s1, a0);
  accumulate(s1 + 8, a1);
  accumulate(s2, b0);
  accumulate(s2 + 8, b1);
}

// y = (x - mean) a + beta per lane, then max(y, 0) when relu.
CLONED void normalise(const float *x, float *y, size_t pixels, const float *mean, const float *a, const float *b,
                      bool relu) {
  const f8 m0 = load(mean), m1 = load(mean + 8), a0 = load(a), a1 = load(a + 8), b0 = load(b), b1 = load(b + 8);
  const f8 zero = {};
  for (size_t i = 0; i < pixels; i++, x += kLanes, y += kLanes) {
    f8 y0 = normalised(load(x), m0, a0, b0), y1 = normalised(load(x + 8), m1, a1, b1);
    if (relu) {
      y0 = y0 > zero ? y0 : zero;
      y1 = y1 > zero ? y1 : zero;
    }
    store(y, y0);
    store(y + 8, y1);
  }
}

// Sums of g and g (x - mean) per lane, g being dy where the ReLU passed it (all of dy without one).
CLONED void gradientSums(const float *x, const float *dy, size_t pixels, const float *mean, const float *a,
                         const float *b, bool relu, double *sumDy, double *sumDyX) {
  const f8 a0 = load(a), a1 = load(a + 8), b0 = load(b), b1 = load(b + 8), zero = {};
  const f8 m0 = load(mean), m1 = load(mean + 8);
  const d8 w0 = widen(m0), w1 = widen(m1);
  d8 s0 = {}, s1 = {}, t0 = {}, t1 = {};
  for (size_t i = 0; i < pixels; i++, x += kLanes, dy += kLanes) {
    const f8 x0 = load(x), x1 = load(x + 8);
    f8 g0 = load(dy), g1 = load(dy + 8);
    if (relu) {
      g0 = normalised(x0, m0, a0, b0) > zero ? g0 : zero;
      g1 = normalised(x1, m1, a1, b1) > zero ? g1 : zero;
    }
    const d8 h0 = widen(g0), h1 = widen(g1);
    s0 += h0;
    s1 += h1;
    t0 += h0 * (widen(x0) - w0);
    t1 += h1 * (widen(x1) - w1);
  }
  accumulate(sumDy, s0);
  accumulate(sumDy + 8, s1);
  accumulate(sumDyX, t0);
  accumulate(sumDyX + 8, t1);
}

// dx = (g - mean(g) - (x - mean) k) scale, PyTorch's expression and order.
CLONED void inputGradient(const float *x, const float *dy, float *dx, size_t pixels, const float *mean,
                          const float *a, const float *b, bool relu, const float *meanDy, const float *k,
                          const float *scale) {
  const f8 a0 = load(a), a1 = load(a + 8), b0 = load(b), b1 = load(b + 8), zero = {};
  const f8 m0 = load(mean), m1 = load(mean + 8), d0 = load(meanDy), d1 = load(meanDy + 8);
  const f8 k0 = load(k), k1 = load(k + 8), c0 = load(scale), c1 = load(scale + 8);
  for (size_t i = 0; i < pixels; i++, x += kLanes, dy += kLanes, dx += kLanes) {
    const f8 x0 = load(x), x1 = load(x + 8);
    f8 g0 = load(dy), g1 = load(dy + 8);
    if (relu) {
      g0 = normalised(x0, m0, a0, b0) > zero ? g0 : zero;
      g1 = normalised(x1, m1, a1, b1) > zero ? g1 : zero;
    }
    store(dx, (g0 - (x0 - m0) * k0 - d0) * c0);
    store(dx + 8, (g1 - (x1 - m1) * k1 - d1) * c1);
  }
}

// Per-channel arrays padded to whole blocks (padding lanes 0), and per-thread partial sums;
// grown once and reused, as every step asks for the same sizes.
struct Scratch {
  std::vector<float> shift, mean, a, b, meanDy, k, scale;
  std::vector<double> partial, first, second;
};
Scratch &scratch(size_t padded, size_t threads) {
  static Scratch s;
  for (auto *v : {&s.shift, &s.mean, &s.a, &s.b, &s.meanDy, &s.k, &s.scale}) v->assign(padded, 0.f);
  s.partial.assign(threads * 2 * padded, 0.0);
  s.first.assign(padded, 0.0);
  s.second.assign(padded, 0.0);
  return s;
}

// Runs body(thread, block, offset) over every (sample, channel block) of the tensor, in parallel.
template <class F> void eachBlock(const BatchNormShape &s, F body) {
  const long units = long(s.n * s.blocks());
  const size_t blocks = s.blocks(), stride = s.pixels * kLanes;
#pragma omp parallel for schedule(static)
  for (long u = 0; u < units; u++) body(size_t(omp_get_thread_num()), size_t(u) % blocks, size_t(u) * stride);
}

// Adds the threads' partial sums (two arrays of `padded` each) in thread order into first, second.
void reduce(Scratch &t, size_t threads, size_t padded) {
  for (size_t th = 0; th < threads; th++)
    for (size_t c = 0; c < padded; c++) {
      t.first[c] += t.partial[(th * 2) * padded + c];
      t.second[c] += t.partial[(th * 2 + 1) * padded + c];
    }
}

// The forward's per-channel a and beta (y = (x - mean) a + beta), from the float mean and variance it saved.
void affine(const BatchNormShape &s, const float *gamma, const float *beta, const float *mean,
            const float *variance, double eps, Scratch &t) {
  for (size_t c = 0; c < s.channels; c++) {
    const double inv = 1.0 / std::sqrt(double(variance[c]) + eps);
    t.a[c] = float(double(gamma[c]) * inv);
    t.b[c] = beta[c];
    t.mean[c] = mean[c];
  }
}

}  // namespace

void batchNormForward(const BatchNormShape &s, const float *x, float *y, const float *gamma, const float *beta,
                      float *mean, float *variance, double eps, bool relu) {
  const size_t padded = s.blocks() * kLanes, threads = size_t(omp_get_max_threads());
  Scratch &t = scratch(padded, threads);
  // Sums around the first sample's first pixel, so the squares do not cancel against the mean.
  for (size_t c = 0; c < s.channels; c++) t.shift[c] = x[(c / kLanes) * s.pixels * kLanes + c % kLanes];
  eachBlock(s, [&](size_t th, size_t block, size_t at) {
    double *mine = t.partial.data() + th * 2 * padded + block * kLanes;
    moments(x + at, s.pixels, t.shift.data() + block * kLanes, mine, mine + padded);
  });
  reduce(t, threads, padded);
  const double count = double(s.n * s.pixels);
  for (size_t c = 0; c < s.channels; c++) {
    const double m = t.first[c] / count;
    mean[c] = float(t.shift[c] + m);
    variance[c] = float(std::max(0.0, t.second[c] / count - m * m));
  }
  affine(s, gamma, beta, mean, variance, eps, t);
  eachBlock(s, [&](size_t, size_t block, size_t at) {
    const size_t lane = block * kLanes;
    normalise(x + at, y + at, s.pixels, t.mean.data() + lane, t.a.data() + lane, t.b.data() + lane, relu);
  });
}

void batchNormBackward(const BatchNormShape &s, const float *x, const float *dy, float *dx, const float *gamma,
                       const float *beta, const float *mean, const float *variance, float *dgamma, float *dbeta,
                       double eps, bool relu) {
  const size_t padded = s.blocks() * kLanes, threads = size_t(omp_get_max_threads());
  Scratch &t = scratch(padded, threads);
  affine(s, gamma, beta, mean, variance, eps, t);
  eachBlock(s, [&](size_t th, size_t block, size_t at) {
    double *mine = t.partial.data() + th * 2 * padded + block * kLanes;
    const size_t lane = block * kLanes;
    gradientSums(x + at, dy + at, s.pixels, t.mean.data() + lane, t.a.data() + lane, t.b.data() + lane, relu,
                 mine, mine + padded);
  });
  reduce(t, threads, padded);
  const double count = double(s.n * s.pixels);
  for (size_t c = 0; c < s.channels; c++) {
    const double inv = 1.0 / std::sqrt(double(variance[c]) + eps);
    dgamma[c] = float(t.second[c] * inv);
    dbeta[c] = float(t.first[c]);
    t.meanDy[c] = float(t.first[c] / count);
    t.k[c] = float(t.second[c] * inv * inv / count);
    t.scale[c] = float(double(gamma[c]) * inv);
  }
  eachBlock(s, [&](size_t, size_t block, size_t at) {
    const size_t lane = block * kLanes;
    inputGradient(x + at, dy + at, dx + at, s.pixels, t.mean.data() + lane, t.a.data() + lane, t.b.data() + lane,
                  relu, t.meanDy.data() + lane, t.k.data() + lane, t.scale.data() + lane);
  });
}

}  // namespace convlab
