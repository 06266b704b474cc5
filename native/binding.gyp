{
  "targets": [
    {
      "target_name": "convlab_dnnl",
      "sources": ["dnnl_binding.cc", "batch_norm.cc"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fexceptions", "-ffp-contract=off"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++14", "-std=gnu++17"],
      "libraries": ["-ldnnl", "-lgomp"]
    }
  ]
}
