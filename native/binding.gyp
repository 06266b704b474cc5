{
  "targets": [
    {
      "target_name": "convlab_dnnl",
      "sources": ["dnnl_binding.cc"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fexceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++14", "-std=gnu++17"],
      "libraries": ["-ldnnl", "-lgomp"]
    }
  ]
}
