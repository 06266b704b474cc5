// convlab's native binding: a thin, typed N-API surface over oneDNN's C++ API (libdnnl 2.6).
//
// It makes memory descriptors, primitive descriptors, primitives and memory objects over buffers
// JavaScript owns, and executes primitives. Every decision (which primitives, which layouts, where
// each buffer lives, in what order things run) is TypeScript's (src/native/). Besides oneDNN, a few
// small kernels live here because oneDNN has none fit for them: the optimisers' updates,
// BatchNorm's running statistics (PyTorch's rules, see src/autodiff/optimizer.ts), dropout's
// masks, and training-mode batch normalisation with double sums (batch_norm.h says why).
//
// Handles are N-API externals tagged with their C++ type, so passing the wrong kind of handle is a
// TypeError, never a crash. oneDNN errors become JavaScript errors carrying oneDNN's message.

#include <node_api.h>
#include <sys/mman.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "batch_norm.h"

extern "C" void omp_set_num_threads(int);

using dnnl::memory;

namespace {

struct Context {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};
Context &context() {
  static Context c;
  return c;
}

struct JsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- handles -------------------------------------------------------------------------------

struct Md {
  memory::desc desc;
};
struct Pd {
  dnnl::primitive_desc_base pd;
};
struct Prim {
  dnnl::primitive prim;
};
struct Mem {
  memory mem;
  napi_ref owner = nullptr;  // keeps the JS buffer alive while oneDNN points into it
};
struct Args {
  std::unordered_map<int, memory> args;
};

template <class T> constexpr napi_type_tag tagOf();
template <> constexpr napi_type_tag tagOf<Md>() { return {0x636f6e766c61620aULL, 1}; }
template <> constexpr napi_type_tag tagOf<Pd>() { return {0x636f6e766c61620aULL, 2}; }
template <> constexpr napi_type_tag tagOf<Prim>() { return {0x636f6e766c61620aULL, 3}; }
template <> constexpr napi_type_tag tagOf<Mem>() { return {0x636f6e766c61620aULL, 4}; }
template <> constexpr napi_type_tag tagOf<Args>() { return {0x636f6e766c61620aULL, 5}; }
template <class T> const char *nameOf();
template <> const char *nameOf<Md>() { return "a memory descriptor"; }
template <> const char *nameOf<Pd>() { return "a primitive descriptor"; }
template <> const char *nameOf<Prim>() { return "a primitive"; }
template <> const char *nameOf<Mem>() { return "a memory object"; }
template <> const char *nameOf<Args>() { return "an argument list"; }

void check(napi_status s, const char *what) {
  if (s != napi_ok) throw JsError(std::string("N-API call failed: ") + what);
}

template <class T> napi_value wrap(napi_env env, T *object) {
  napi_value out;
  check(napi_create_external(
            env, object,
            [](napi_env e, void *data, void *) {
              auto *o = static_cast<T *>(data);
              if constexpr (std::is_same_v<T, Mem>) {
                if (o->owner) napi_delete_reference(e, o->owner);
              }
              delete o;
            },
            nullptr, &out),
        "create external");
  const napi_type_tag tag = tagOf<T>();
  check(napi_type_tag_object(env, out, &tag), "tag external");
  return out;
}

template <class T> T &unwrap(napi_env env, napi_value v, const char *arg) {
  const napi_type_tag tag = tagOf<T>();
  bool ok = false;
  napi_valuetype type;
  check(napi_typeof(env, v, &type), "typeof");
  if (type == napi_external) check(napi_check_object_type_tag(env, v, &tag, &ok), "check tag");
  if (!ok) throw JsError(std::string(arg) + " must be " + nameOf<T>());
  void *data;
  check(napi_get_value_external(env, v, &data), "external value");
  return *static_cast<T *>(data);
}

// ---- arguments -------------------------------------------------------------------------------

struct Call {
  napi_env env;
  std::vector<napi_value> argv;
  Call(napi_env e, napi_callback_info info) : env(e) {
    size_t argc = 16;
    argv.resize(argc);
    check(napi_get_cb_info(e, info, &argc, argv.data(), nullptr, nullptr), "arguments");
    argv.resize(argc);
  }
  napi_value at(size_t i) const {
    if (i >= argv.size()) throw JsError("missing argument " + std::to_string(i + 1));
    return argv[i];
  }
  bool isNull(size_t i) const {
    if (i >= argv.size()) return true;
    napi_valuetype t;
    check(napi_typeof(env, argv[i], &t), "typeof");
    return t == napi_null || t == napi_undefined;
  }
  double number(size_t i) const {
    double v;
    if (napi_get_value_double(env, at(i), &v) != napi_ok)
      throw JsError("argument " + std::to_string(i + 1) + " must be a number");
    return v;
  }
  bool boolean(size_t i) const {
    bool v;
    if (napi_get_value_bool(env, at(i), &v) != napi_ok)
      throw JsError("argument " + std::to_string(i + 1) + " must be a boolean");
    return v;
  }
  std::string string(size_t i) const {
    char buf[64];
    size_t len;
    if (napi_get_value_string_utf8(env, at(i), buf, sizeof buf, &len) != napi_ok)
      throw JsError("argument " + std::to_string(i + 1) + " must be a string");
    return std::string(buf, len);
  }
  std::vector<napi_value> array(size_t i) const {
    bool is;
    check(napi_is_array(env, at(i), &is), "is array");
    if (!is) throw JsError("argument " + std::to_string(i + 1) + " must be an array");
    uint32_t n;
    check(napi_get_array_length(env, at(i), &n), "array length");
    std::vector<napi_value> out(n);
    for (uint32_t k = 0; k < n; k++) check(napi_get_element(env, at(i), k, &out[k]), "element");
    return out;
  }
  memory::dims dims(size_t i) const {
    memory::dims out;
    for (napi_value v : array(i)) {
      int64_t d;
      if (napi_get_value_int64(env, v, &d) != napi_ok)
        throw JsError("argument " + std::to_string(i + 1) + " must be an array of integers");
      out.push_back(d);
    }
    return out;
  }
  template <class T> T &handle(size_t i) const {
    return unwrap<T>(env, at(i), ("argument " + std::to_string(i + 1)).c_str());
  }
  const memory::desc &md(size_t i) const { return handle<Md>(i).desc; }
  // An optional memory descriptor: null gives the empty (zero) descriptor.
  memory::desc optionalMd(size_t i) const { return isNull(i) ? memory::desc() : md(i); }
  const dnnl_primitive_desc *hint(size_t i) const {
    return isNull(i) ? nullptr : handle<Pd>(i).pd.get();
  }
  // Bytes of a typed array or ArrayBuffer, from `offset`.
  std::pair<void *, size_t> bytes(size_t i, size_t offset = 0) const {
    napi_value v = at(i);
    bool is;
    void *data = nullptr;
    size_t length = 0;
    check(napi_is_arraybuffer(env, v, &is), "is arraybuffer");
    if (is) {
      check(napi_get_arraybuffer_info(env, v, &data, &length), "arraybuffer info");
    } else {
      check(napi_is_typedarray(env, v, &is), "is typedarray");
      if (!is) throw JsError("argument " + std::to_string(i + 1) + " must be an ArrayBuffer or typed array");
      napi_typedarray_type type;
      size_t count, byteOffset;
      napi_value buffer;
      check(napi_get_typedarray_info(env, v, &type, &count, &data, &buffer, &byteOffset), "typedarray info");
      size_t element = type == napi_float32_array || type == napi_int32_array || type == napi_uint32_array ? 4
                       : type == napi_float64_array || type == napi_bigint64_array ? 8
                       : type == napi_int16_array || type == napi_uint16_array ? 2
                                                                               : 1;
      length = count * element;
    }
    if (offset > length) throw JsError("byte offset past the end of the buffer");
    return {static_cast<char *>(data) + offset, length - offset};
  }
  float *floats(size_t i, size_t n) const {
    auto [p, len] = bytes(i);
    if (len < n * sizeof(float)) throw JsError("argument " + std::to_string(i + 1) + " is too short");
    return static_cast<float *>(p);
  }
};

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value numberValue(napi_env env, double v) {
  napi_value out;
  check(napi_create_double(env, v, &out), "number");
  return out;
}

// Runs `body`, turning C++ and oneDNN errors into JavaScript ones.
template <class F> napi_value guarded(napi_env env, napi_callback_info info, F body) {
  try {
    Call call(env, info);
    return body(call);
  } catch (const dnnl::error &e) {
    napi_throw_error(env, "ONEDNN", (std::string("oneDNN: ") + e.what()).c_str());
  } catch (const JsError &e) {
    napi_throw_type_error(env, nullptr, e.what());
  } catch (const std::exception &e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

#define EXPORT(name) napi_value name(napi_env env, napi_callback_info info)

// ---- memory descriptors ----------------------------------------------------------------------

const std::unordered_map<std::string, memory::format_tag> &tags() {
  using t = memory::format_tag;
  static const std::unordered_map<std::string, memory::format_tag> m = {
      {"any", t::any},         {"x", t::x},           {"nc", t::nc},          {"cn", t::cn},
      {"nchw", t::nchw},       {"nhwc", t::nhwc},     {"chwn", t::chwn},      {"nChw8c", t::nChw8c},
      {"nChw16c", t::nChw16c}, {"oi", t::oi},         {"io", t::io},          {"oihw", t::oihw},
      {"goihw", t::goihw},     {"ab", t::ab},           {"abc", t::abc},         {"abcd", t::abcd},      {"abcde", t::abcde},
  };
  return m;
}

memory::data_type dataType(const std::string &name) {
  if (name == "f32") return memory::data_type::f32;
  if (name == "s32") return memory::data_type::s32;
  if (name == "u8") return memory::data_type::u8;
  if (name == "s8") return memory::data_type::s8;
  throw JsError("unknown data type '" + name + "' (f32, s32, u8, s8)");
}

// md(dims, dataType, formatTag)
EXPORT(Md_) {
  return guarded(env, info, [](Call &c) {
    auto tag = tags().find(c.string(2));
    if (tag == tags().end()) throw JsError("unknown format tag '" + c.string(2) + "'");
    return wrap(c.env, new Md{memory::desc(c.dims(0), dataType(c.string(1)), tag->second)});
  });
}

// mdStrides(dims, dataType, strides): a plain descriptor with explicit strides (views, reshapes).
EXPORT(MdStrides) {
  return guarded(env, info, [](Call &c) {
    return wrap(c.env, new Md{memory::desc(c.dims(0), dataType(c.string(1)), c.dims(2))});
  });
}

// mdReshape(md, dims): the same bytes seen with other dimensions, where oneDNN can.
EXPORT(MdReshape) {
  return guarded(env, info, [](Call &c) { return wrap(c.env, new Md{c.md(0).reshape(c.dims(1))}); });
}

// mdSub(md, dims, offsets): a window of md (a channel slice), over the same bytes.
EXPORT(MdSub) {
  return guarded(env, info,
                 [](Call &c) { return wrap(c.env, new Md{c.md(0).submemory_desc(c.dims(1), c.dims(2))}); });
}

EXPORT(MdBytes) {
  return guarded(env, info, [](Call &c) { return numberValue(c.env, double(c.md(0).get_size())); });
}

EXPORT(MdEqual) {
  return guarded(env, info, [](Call &c) {
    napi_value out;
    check(napi_get_boolean(c.env, c.md(0) == c.md(1), &out), "boolean");
    return out;
  });
}

// mdDescribe(md): "f32 [2,16,8,8] nChw16c"-like text for errors and tests.
EXPORT(MdDescribe) {
  return guarded(env, info, [](Call &c) {
    const dnnl_memory_desc_t &d = c.md(0).data;
    std::string s = "[";
    for (int i = 0; i < d.ndims; i++) s += (i ? "," : "") + std::to_string(d.dims[i]);
    s += "] strides [";
    if (d.format_kind == dnnl_blocked) {
      for (int i = 0; i < d.ndims; i++) s += (i ? "," : "") + std::to_string(d.format_desc.blocking.strides[i]);
      s += "] blocks [";
      for (int i = 0; i < d.format_desc.blocking.inner_nblks; i++)
        s += (i ? "," : "") + std::to_string(d.format_desc.blocking.inner_idxs[i]) + ":" +
             std::to_string(d.format_desc.blocking.inner_blks[i]);
    }
    s += "] offset " + std::to_string(d.offset0);
    napi_value out;
    check(napi_create_string_utf8(c.env, s.c_str(), s.size(), &out), "string");
    return out;
  });
}

// ---- primitive descriptors -------------------------------------------------------------------

dnnl::prop_kind forward(bool training) {
  return training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
}

napi_value pd(napi_env env, const void *opDesc, const dnnl_primitive_desc *hint) {
  return wrap(env, new Pd{dnnl::primitive_desc(static_cast<const_dnnl_op_desc_t>(opDesc), nullptr,
                                               context().engine, hint)});
}

// A oneDNN algorithm by the name TypeScript gives it (defined with the table below).
dnnl::algorithm algorithm(const std::string &name);

// convFwd(algorithm, src, weights, bias|null, dst, strides, dilates, padL, padR, training)
EXPORT(ConvFwd) {
  return guarded(env, info, [](Call &c) {
    using d = dnnl::convolution_forward::desc;
    auto alg = algorithm(c.string(0));
    d desc = c.isNull(3) ? d(forward(c.boolean(9)), alg, c.md(1), c.md(2), c.md(4), c.dims(5), c.dims(6),
                             c.dims(7), c.dims(8))
                         : d(forward(c.boolean(9)), alg, c.md(1), c.md(2), c.md(3), c.md(4), c.dims(5),
                             c.dims(6), c.dims(7), c.dims(8));
    return pd(c.env, &desc.data, nullptr);
  });
}

// convBwdData(algorithm, diffSrc, weights, diffDst, strides, dilates, padL, padR, hint)
EXPORT(ConvBwdData) {
  return guarded(env, info, [](Call &c) {
    dnnl::convolution_backward_data::desc desc(algorithm(c.string(0)), c.md(1), c.md(2), c.md(3), c.dims(4),
                                               c.dims(5), c.dims(6), c.dims(7));
    return pd(c.env, &desc.data, c.hint(8));
  });
}

// convBwdWeights(algorithm, src, diffWeights, diffBias|null, diffDst, strides, dilates, padL, padR, hint)
EXPORT(ConvBwdWeights) {
  return guarded(env, info, [](Call &c) {
    using d = dnnl::convolution_backward_weights::desc;
    auto alg = algorithm(c.string(0));
    d desc = c.isNull(3)
                 ? d(alg, c.md(1), c.md(2), c.md(4), c.dims(5), c.dims(6), c.dims(7), c.dims(8))
                 : d(alg, c.md(1), c.md(2), c.md(3), c.md(4), c.dims(5), c.dims(6), c.dims(7), c.dims(8));
    return pd(c.env, &desc.data, c.hint(9));
  });
}

dnnl::algorithm algorithm(const std::string &name) {
  using a = dnnl::algorithm;
  static const std::unordered_map<std::string, a> m = {
      {"convolution_direct", a::convolution_direct},
      {"convolution_winograd", a::convolution_winograd},
      {"relu", a::eltwise_relu},
      {"relu_use_dst", a::eltwise_relu_use_dst_for_bwd},
      {"clip", a::eltwise_clip},
      {"clip_v2", a::eltwise_clip_v2},
      {"clip_v2_use_dst", a::eltwise_clip_v2_use_dst_for_bwd},
      {"logistic", a::eltwise_logistic},
      {"logistic_use_dst", a::eltwise_logistic_use_dst_for_bwd},
      {"hardswish", a::eltwise_hardswish},
      {"linear", a::eltwise_linear},
      {"pooling_max", a::pooling_max},
      {"pooling_avg_include_padding", a::pooling_avg_include_padding},
      {"pooling_avg_exclude_padding", a::pooling_avg_exclude_padding},
      {"binary_add", a::binary_add},
      {"binary_mul", a::binary_mul},
      {"binary_sub", a::binary_sub},
      {"binary_div", a::binary_div},
      {"reduction_sum", a::reduction_sum},
      {"reduction_norm_lp_sum", a::reduction_norm_lp_sum},
  };
  auto it = m.find(name);
  if (it == m.end()) throw JsError("unknown oneDNN algorithm '" + name + "'");
  return it->second;
}

// eltwiseFwd(algorithm, data, alpha, beta, training)
EXPORT(EltwiseFwd) {
  return guarded(env, info, [](Call &c) {
    dnnl::eltwise_forward::desc desc(forward(c.boolean(4)), algorithm(c.string(0)), c.md(1),
                                     float(c.number(2)), float(c.number(3)));
    return pd(c.env, &desc.data, nullptr);
  });
}

// eltwiseBwd(algorithm, diffData, data, alpha, beta, hint)
EXPORT(EltwiseBwd) {
  return guarded(env, info, [](Call &c) {
    dnnl::eltwise_backward::desc desc(algorithm(c.string(0)), c.md(1), c.md(2), float(c.number(3)),
                                      float(c.number(4)));
    return pd(c.env, &desc.data, c.hint(5));
  });
}

// poolFwd(algorithm, src, dst, strides, kernel, padL, padR, training)
EXPORT(PoolFwd) {
  return guarded(env, info, [](Call &c) {
    dnnl::pooling_forward::desc desc(forward(c.boolean(7)), algorithm(c.string(0)), c.md(1), c.md(2),
                                     c.dims(3), c.dims(4), c.dims(5), c.dims(6));
    return pd(c.env, &desc.data, nullptr);
  });
}

// poolBwd(algorithm, diffSrc, diffDst, strides, kernel, padL, padR, hint)
EXPORT(PoolBwd) {
  return guarded(env, info, [](Call &c) {
    dnnl::pooling_backward::desc desc(algorithm(c.string(0)), c.md(1), c.md(2), c.dims(3), c.dims(4),
                                      c.dims(5), c.dims(6));
    return pd(c.env, &desc.data, c.hint(7));
  });
}

// ipFwd(src, weights, bias|null, dst, training)
EXPORT(IpFwd) {
  return guarded(env, info, [](Call &c) {
    using d = dnnl::inner_product_forward::desc;
    d desc = c.isNull(2) ? d(forward(c.boolean(4)), c.md(0), c.md(1), c.md(3))
                         : d(forward(c.boolean(4)), c.md(0), c.md(1), c.md(2), c.md(3));
    return pd(c.env, &desc.data, nullptr);
  });
}

// ipBwdData(diffSrc, weights, diffDst, hint)
EXPORT(IpBwdData) {
  return guarded(env, info, [](Call &c) {
    dnnl::inner_product_backward_data::desc desc(c.md(0), c.md(1), c.md(2));
    return pd(c.env, &desc.data, c.hint(3));
  });
}

// ipBwdWeights(src, diffWeights, diffBias|null, diffDst, hint)
EXPORT(IpBwdWeights) {
  return guarded(env, info, [](Call &c) {
    using d = dnnl::inner_product_backward_weights::desc;
    d desc = c.isNull(2) ? d(c.md(0), c.md(1), c.md(3)) : d(c.md(0), c.md(1), c.md(2), c.md(3));
    return pd(c.env, &desc.data, c.hint(4));
  });
}

// binary(algorithm, src0, src1, dst, postEltwise|null): src1 may broadcast (dimensions of 1); an
// element-wise post-op (relu after a residual add) runs on the result in the same pass.
EXPORT(Binary) {
  return guarded(env, info, [](Call &c) {
    dnnl::binary::desc desc(algorithm(c.string(0)), c.md(1), c.md(2), c.md(3));
    if (c.isNull(4)) return pd(c.env, &desc.data, nullptr);
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, algorithm(c.string(4)), 0.f, 0.f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    return wrap(c.env, new Pd{dnnl::primitive_desc(&desc.data, &attr, context().engine, nullptr)});
  });
}

// reduction(algorithm, src, dst, p, eps): dst's dimensions of 1 are the reduced axes.
EXPORT(Reduction) {
  return guarded(env, info, [](Call &c) {
    dnnl::reduction::desc desc(algorithm(c.string(0)), c.md(1), c.md(2), float(c.number(3)),
                               float(c.number(4)));
    return pd(c.env, &desc.data, nullptr);
  });
}

std::vector<memory::desc> mds(Call &c, size_t i) {
  std::vector<memory::desc> out;
  for (napi_value v : c.array(i)) out.push_back(unwrap<Md>(c.env, v, "every source").desc);
  return out;
}

// concat(dst|null, axis, sources)
EXPORT(Concat) {
  return guarded(env, info, [](Call &c) {
    auto srcs = mds(c, 2);
    int axis = int(c.number(1));
    auto &e = context().engine;
    auto p = c.isNull(0) ? dnnl::concat::primitive_desc(axis, srcs, e)
                         : dnnl::concat::primitive_desc(c.md(0), axis, srcs, e);
    return wrap(c.env, new Pd{std::move(p)});
  });
}

// sum(dst|null, scales, sources)
EXPORT(Sum) {
  return guarded(env, info, [](Call &c) {
    auto srcs = mds(c, 2);
    std::vector<float> scales;
    for (napi_value v : c.array(1)) {
      double s;
      check(napi_get_value_double(c.env, v, &s), "scale");
      scales.push_back(float(s));
    }
    auto &e = context().engine;
    auto p = c.isNull(0) ? dnnl::sum::primitive_desc(scales, srcs, e)
                         : dnnl::sum::primitive_desc(c.md(0), scales, srcs, e);
    return wrap(c.env, new Pd{std::move(p)});
  });
}

// reorder(src, dst)
EXPORT(Reorder) {
  return guarded(env, info, [](Call &c) {
    auto &e = context().engine;
    return wrap(c.env, new Pd{dnnl::reorder::primitive_desc(e, c.md(0), e, c.md(1))});
  });
}

dnnl::query query(const std::string &name) {
  using q = dnnl::query;
  static const std::unordered_map<std::string, q> m = {
      {"src", q::src_md},         {"diff_src", q::diff_src_md}, {"weights", q::weights_md},
      {"diff_weights", q::diff_weights_md}, {"dst", q::dst_md}, {"diff_dst", q::diff_dst_md},
      {"workspace", q::workspace_md}, {"scratchpad", q::scratchpad_md},
  };
  auto it = m.find(name);
  if (it == m.end()) throw JsError("unknown descriptor query '" + name + "'");
  return it->second;
}

// pdMd(pd, what, index): the descriptor the primitive chose for one of its tensors.
EXPORT(PdMd) {
  return guarded(env, info, [](Call &c) {
    return wrap(c.env, new Md{c.handle<Pd>(0).pd.query_md(query(c.string(1)), int(c.number(2)))});
  });
}

// pdImpl(pd): the implementation oneDNN picked ("jit:avx512_core", "ref:any").
EXPORT(PdImpl) {
  return guarded(env, info, [](Call &c) {
    const char *s = c.handle<Pd>(0).pd.impl_info_str();
    napi_value out;
    check(napi_create_string_utf8(c.env, s, NAPI_AUTO_LENGTH, &out), "string");
    return out;
  });
}

EXPORT(Primitive) {
  return guarded(env, info,
                 [](Call &c) { return wrap(c.env, new Prim{dnnl::primitive(c.handle<Pd>(0).pd.get())}); });
}

// ---- memory and execution --------------------------------------------------------------------

// memory(md, buffer, byteOffset): oneDNN memory over JavaScript's bytes (no copy, no allocation).
EXPORT(Memory) {
  return guarded(env, info, [](Call &c) {
    const memory::desc &d = c.md(0);
    auto [data, length] = c.bytes(1, size_t(c.number(2)));
    if (length < d.get_size()) throw JsError("the buffer is smaller than the memory descriptor needs");
    auto *m = new Mem{memory(d, context().engine, data)};
    check(napi_create_reference(c.env, c.at(1), 1, &m->owner), "reference");
    return wrap(c.env, m);
  });
}

// setData(memory, buffer, byteOffset): point a memory object at other bytes (a new batch).
EXPORT(SetData) {
  return guarded(env, info, [](Call &c) {
    Mem &m = c.handle<Mem>(0);
    auto [data, length] = c.bytes(1, size_t(c.number(2)));
    if (length < m.mem.get_desc().get_size()) throw JsError("the buffer is smaller than the memory needs");
    m.mem.set_data_handle(data);
    if (m.owner) napi_delete_reference(c.env, m.owner);
    check(napi_create_reference(c.env, c.at(1), 1, &m.owner), "reference");
    return undefined(c.env);
  });
}

// args(ids, memories): one primitive's arguments (DNNL_ARG_* ids), built once and reused.
EXPORT(Args_) {
  return guarded(env, info, [](Call &c) {
    auto ids = c.array(0);
    auto mems = c.array(1);
    if (ids.size() != mems.size()) throw JsError("args: as many ids as memories");
    auto *a = new Args;
    for (size_t i = 0; i < ids.size(); i++) {
      int32_t id;
      check(napi_get_value_int32(c.env, ids[i], &id), "arg id");
      a->args[id] = unwrap<Mem>(c.env, mems[i], "every memory").mem;
    }
    return wrap(c.env, a);
  });
}

// execute(primitive, args)
EXPORT(Execute) {
  return guarded(env, info, [](Call &c) {
    c.handle<Prim>(0).prim.execute(context().stream, c.handle<Args>(1).args);
    return undefined(c.env);
  });
}

// run(primitives, argLists, from, to): a stretch of a planned program in one call.
EXPORT(Run) {
  return guarded(env, info, [](Call &c) {
    auto prims = c.array(0);
    auto argLists = c.array(1);
    size_t from = size_t(c.number(2)), to = size_t(c.number(3));
    if (to > prims.size() || to > argLists.size() || from > to) throw JsError("run: bad range");
    for (size_t i = from; i < to; i++) {
      unwrap<Prim>(c.env, prims[i], "a primitive")
          .prim.execute(context().stream, unwrap<Args>(c.env, argLists[i], "an argument list").args);
    }
    context().stream.wait();
    return undefined(c.env);
  });
}

EXPORT(Wait) {
  return guarded(env, info, [](Call &c) {
    context().stream.wait();
    return undefined(c.env);
  });
}

EXPORT(SetThreads) {
  return guarded(env, info, [](Call &c) {
    int n = int(c.number(0));
    if (n < 1) throw JsError("threads must be >= 1");
    omp_set_num_threads(n);
    return undefined(c.env);
  });
}

// ---- element-wise kernels oneDNN has no primitive for ----------------------------------------

// sgd(weights, grads, velocity|null, count, lr, momentum, weightDecay, nesterov): torch.optim.SGD.
EXPORT(Sgd) {
  return guarded(env, info, [](Call &c) {
    size_t n = size_t(c.number(3));
    float *w = c.floats(0, n), *g = c.floats(1, n);
    float *v = c.isNull(2) ? nullptr : c.floats(2, n);
    const float lr = float(c.number(4)), mu = float(c.number(5)), wd = float(c.number(6));
    const bool nesterov = c.boolean(7);
    if (!v) {
#pragma omp parallel for simd
      for (size_t i = 0; i < n; i++) w[i] -= lr * (g[i] + wd * w[i]);
    } else {
#pragma omp parallel for simd
      for (size_t i = 0; i < n; i++) {
        const float gi = g[i] + wd * w[i];
        const float vi = mu * v[i] + gi;
        v[i] = vi;
        w[i] -= lr * (nesterov ? gi + mu * vi : vi);
      }
    }
    return undefined(c.env);
  });
}

// adamw(weights, grads, expAvg, expAvgSq, count, lr, beta1, beta2, eps, weightDecay, step): torch.optim.AdamW.
EXPORT(AdamW) {
  return guarded(env, info, [](Call &c) {
    size_t n = size_t(c.number(4));
    float *w = c.floats(0, n), *g = c.floats(1, n), *m = c.floats(2, n), *v = c.floats(3, n);
    const float lr = float(c.number(5)), b1 = float(c.number(6)), b2 = float(c.number(7));
    const float eps = float(c.number(8)), wd = float(c.number(9));
    const double t = c.number(10);
    const float c1 = float(1 - std::pow(double(b1), t)), c2 = float(std::sqrt(1 - std::pow(double(b2), t)));
    const float stepSize = lr / c1, decay = 1 - lr * wd;
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) {
      const float mi = b1 * m[i] + (1 - b1) * g[i];
      const float vi = b2 * v[i] + (1 - b2) * g[i] * g[i];
      m[i] = mi;
      v[i] = vi;
      w[i] = w[i] * decay - stepSize * (mi / (std::sqrt(vi) / c2 + eps));
    }
    return undefined(c.env);
  });
}

// hugeArena(bytes): zeroed memory on 2 MiB boundaries that the kernel is asked to back with huge
// pages (transparent huge pages in `madvise` mode, Debian's default): a step streams tensors of
// megabytes through it, and 4 KiB pages cost a TLB miss every 4 KiB and a fault each on first touch.
// Anonymous pages, so nothing is resident before the step first touches it (memory measurements
// see the arena fill as the step runs, as they did with an ArrayBuffer).
EXPORT(HugeArena) {
  return guarded(env, info, [](Call &c) {
    constexpr size_t kHuge = size_t(2) << 20;
    const size_t bytes = (size_t(c.number(0)) + kHuge - 1) / kHuge * kHuge;
    if (bytes == 0) throw JsError("an arena needs at least one byte");
    void *mapped = mmap(nullptr, bytes + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED) throw JsError("cannot map the step's arena of " + std::to_string(bytes) + " bytes");
    // Keep the 2 MiB-aligned part of the mapping and give back the rest on either side.
    char *start = static_cast<char *>(mapped);
    char *aligned = reinterpret_cast<char *>((reinterpret_cast<uintptr_t>(start) + kHuge - 1) / kHuge * kHuge);
    if (aligned > start) munmap(start, size_t(aligned - start));
    const size_t tail = size_t(start + kHuge - aligned);
    if (tail > 0) munmap(aligned + bytes, tail);
    madvise(aligned, bytes, MADV_HUGEPAGE);
    napi_value out;
    const napi_status status = napi_create_external_arraybuffer(
        c.env, aligned, bytes, [](napi_env, void *p, void *hint) { munmap(p, reinterpret_cast<size_t>(hint)); },
        reinterpret_cast<void *>(bytes), &out);
    if (status != napi_ok) {
      munmap(aligned, bytes);
      throw JsError("cannot wrap the step's arena");
    }
    return out;
  });
}

// moments(x, count, out): out[0] = the mean of x's first `count` values, out[1] their population
// variance (about the mean, a second pass), out[2] their sum of squares; all in double, which
// keeps the squares of a badly initialised deep net's 1e-20 signals from underflowing.
EXPORT(Moments) {
  return guarded(env, info, [](Call &c) {
    const size_t n = size_t(c.number(1));
    const float *x = c.floats(0, n);
    auto [outBytes, outLength] = c.bytes(2);
    if (outLength < 3 * sizeof(double)) throw JsError("argument 3 must hold 3 doubles");
    double *out = static_cast<double *>(outBytes);
    double sum = 0, squares = 0;
#pragma omp parallel for reduction(+ : sum, squares)
    for (size_t i = 0; i < n; i++) {
      sum += x[i];
      squares += double(x[i]) * x[i];
    }
    const double mean = n ? sum / double(n) : 0;
    double centred = 0;
#pragma omp parallel for reduction(+ : centred)
    for (size_t i = 0; i < n; i++) centred += (x[i] - mean) * (x[i] - mean);
    out[0] = mean;
    out[1] = n ? centred / double(n) : 0;
    out[2] = squares;
    return undefined(c.env);
  });
}

// The counter-based hash of src/ops/random.ts (arithmetic modulo the prime 2^31 - 1, in int64).
constexpr int64_t kModulus = 2147483647;
inline int64_t square(int64_t h, int64_t c) { return (h * h + c) % kModulus; }
inline int64_t rotate(int64_t h, int64_t a) { return ((h % 65536) * 32768 + h / 65536) * a % kModulus; }
inline int64_t mix(int64_t h) { return rotate(square(rotate(square(h, 12345), 69621), 98765), 48271); }

// dropoutMask(mask, count, step, salt, threshold, scale): mask[i] = scale where element i is kept
// (its draw is at least `threshold`), else 0: the masks of the onnxruntime step, bit for bit.
EXPORT(DropoutMask) {
  return guarded(env, info, [](Call &c) {
    size_t n = size_t(c.number(1));
    float *mask = c.floats(0, n);
    const int64_t step = int64_t(c.number(2)), salt = int64_t(c.number(3)), threshold = int64_t(c.number(4));
    const float scale = float(c.number(5));
    const int64_t key = mix((step * 48271 + salt) % kModulus);
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) mask[i] = mix((int64_t(i) * 48271 + key) % kModulus) < threshold ? 0.f : scale;
    return undefined(c.env);
  });
}

// bnForward(x, y, gamma, beta, mean, variance, n, channels, pixels, eps, relu): batch_norm.h.
EXPORT(BnForward) {
  return guarded(env, info, [](Call &c) {
    const convlab::BatchNormShape s{size_t(c.number(6)), size_t(c.number(7)), size_t(c.number(8))};
    const size_t e = s.elements(), k = s.channels;
    convlab::batchNormForward(s, c.floats(0, e), c.floats(1, e), c.floats(2, k), c.floats(3, k), c.floats(4, k),
                              c.floats(5, k), c.number(9), c.boolean(10));
    return undefined(c.env);
  });
}

// bnBackward(x, dy, dx, gamma, beta, mean, variance, dgamma, dbeta, n, channels, pixels, eps, relu).
EXPORT(BnBackward) {
  return guarded(env, info, [](Call &c) {
    const convlab::BatchNormShape s{size_t(c.number(9)), size_t(c.number(10)), size_t(c.number(11))};
    const size_t e = s.elements(), k = s.channels;
    convlab::batchNormBackward(s, c.floats(0, e), c.floats(1, e), c.floats(2, e), c.floats(3, k), c.floats(4, k),
                               c.floats(5, k), c.floats(6, k), c.floats(7, k), c.floats(8, k), c.number(12),
                               c.boolean(13));
    return undefined(c.env);
  });
}

// runningStats(runMean, runVar, mean, variance, channels, momentum, unbias): BatchNorm2d's buffers.
EXPORT(RunningStats) {
  return guarded(env, info, [](Call &c) {
    size_t n = size_t(c.number(4));
    float *rm = c.floats(0, n), *rv = c.floats(1, n), *m = c.floats(2, n), *v = c.floats(3, n);
    const float mom = float(c.number(5)), unbias = float(c.number(6));
    for (size_t i = 0; i < n; i++) {
      rm[i] = rm[i] * (1 - mom) + m[i] * mom;
      rv[i] = rv[i] * (1 - mom) + v[i] * unbias * mom;
    }
    return undefined(c.env);
  });
}

// ---- module ----------------------------------------------------------------------------------

void setInt(napi_env env, napi_value object, const char *name, int value) {
  napi_value v;
  napi_create_int32(env, value, &v);
  napi_set_named_property(env, object, name, v);
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor fns[] = {
#define FN(js, c) {js, nullptr, c, nullptr, nullptr, nullptr, napi_enumerable, nullptr}
      FN("md", Md_),
      FN("mdStrides", MdStrides),
      FN("mdReshape", MdReshape),
      FN("mdSub", MdSub),
      FN("mdBytes", MdBytes),
      FN("mdEqual", MdEqual),
      FN("mdDescribe", MdDescribe),
      FN("convFwd", ConvFwd),
      FN("convBwdData", ConvBwdData),
      FN("convBwdWeights", ConvBwdWeights),
      FN("eltwiseFwd", EltwiseFwd),
      FN("eltwiseBwd", EltwiseBwd),
      FN("poolFwd", PoolFwd),
      FN("poolBwd", PoolBwd),
      FN("ipFwd", IpFwd),
      FN("ipBwdData", IpBwdData),
      FN("ipBwdWeights", IpBwdWeights),
      FN("binary", Binary),
      FN("concat", Concat),
      FN("reduction", Reduction),
      FN("dropoutMask", DropoutMask),
      FN("moments", Moments),
      FN("hugeArena", HugeArena),
      FN("sum", Sum),
      FN("reorder", Reorder),
      FN("pdMd", PdMd),
      FN("pdImpl", PdImpl),
      FN("primitive", Primitive),
      FN("memory", Memory),
      FN("setData", SetData),
      FN("args", Args_),
      FN("execute", Execute),
      FN("run", Run),
      FN("wait", Wait),
      FN("setThreads", SetThreads),
      FN("sgd", Sgd),
      FN("adamw", AdamW),
      FN("bnForward", BnForward),
      FN("bnBackward", BnBackward),
      FN("runningStats", RunningStats),
#undef FN
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  napi_value arg;
  napi_create_object(env, &arg);
  setInt(env, arg, "SRC", DNNL_ARG_SRC);
  setInt(env, arg, "SRC_1", DNNL_ARG_SRC_1);
  setInt(env, arg, "DST", DNNL_ARG_DST);
  setInt(env, arg, "WEIGHTS", DNNL_ARG_WEIGHTS);
  setInt(env, arg, "BIAS", DNNL_ARG_BIAS);
  setInt(env, arg, "MEAN", DNNL_ARG_MEAN);
  setInt(env, arg, "VARIANCE", DNNL_ARG_VARIANCE);
  setInt(env, arg, "SCALE", DNNL_ARG_SCALE);
  setInt(env, arg, "SHIFT", DNNL_ARG_SHIFT);
  setInt(env, arg, "WORKSPACE", DNNL_ARG_WORKSPACE);
  setInt(env, arg, "DIFF_SRC", DNNL_ARG_DIFF_SRC);
  setInt(env, arg, "DIFF_DST", DNNL_ARG_DIFF_DST);
  setInt(env, arg, "DIFF_WEIGHTS", DNNL_ARG_DIFF_WEIGHTS);
  setInt(env, arg, "DIFF_BIAS", DNNL_ARG_DIFF_BIAS);
  setInt(env, arg, "DIFF_SCALE", DNNL_ARG_DIFF_SCALE);
  setInt(env, arg, "DIFF_SHIFT", DNNL_ARG_DIFF_SHIFT);
  setInt(env, arg, "MULTIPLE_SRC", DNNL_ARG_MULTIPLE_SRC);
  setInt(env, arg, "FROM", DNNL_ARG_FROM);
  setInt(env, arg, "TO", DNNL_ARG_TO);
  napi_set_named_property(env, exports, "ARG", arg);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
