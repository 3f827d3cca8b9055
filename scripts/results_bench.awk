# Formats lowbit_bench CSV output (Google Benchmark, one file per family) as the Markdown tables of docs/results.md.
# Columns: name,iterations,real_time,cpu_time,time_unit,bytes_per_second,items_per_second,label,
# error_occurred,error_message, then user counters in header order.
FNR == 1 {  # every input file (one benchmark family) has its own header
  delete col
  for (i = 1; i <= NF; i++) col[$i] = i
  next
}
{
  name = $1; gsub(/"/, "", name)
  split(name, part, "/")
  if (part[1] == "BM_Prefill") prefill[part[2]] = $col["\"tokens/s\""]
  else if (part[1] == "BM_Decode") { decode[part[2]] = $col["\"tokens/s\""]; dec_gbs[part[2]] = $col["\"weight GB/s\""] }
  else if (part[1] == "BM_SgemmLowbit") { shape = part[2] "x" part[3] "x" part[4]; ours[shape] = $col["\"GFLOP/s\""]; order[++n] = shape }
  else if (part[1] == "BM_SgemmOpenBLAS") { shape = part[2] "x" part[3] "x" part[4]; blas[shape] = $col["\"GFLOP/s\""] }
  else if (part[1] == "BM_MemoryReadBandwidth") { bw[part[2]] = $col["\"GB/s\""]; bw_mb[part[2]] = $col["\"MB\""] }
}
END {
  print "| measurement | value |"
  print "| --- | --- |"
  printf "| prefill, 512-token window | %.0f tokens/s |\n", prefill["512"]
  printf "| prefill, 128-token window | %.0f tokens/s |\n", prefill["128"]
  printf "| decode at position 16 | %.1f tokens/s |\n", decode["16"]
  printf "| decode at position 256 | %.1f tokens/s |\n", decode["256"]
  printf "| read bandwidth over the fp32 weights' %.1f MB (all threads) | %.1f GB/s |\n", bw_mb["0"], bw["0"]
  printf "| read bandwidth over %.0f MB (all threads) | %.1f GB/s |\n", bw_mb["2048"], bw["2048"]
  printf "| decode weight traffic at position 16 | %.1f GB/s (%.0f%% of reading the weights' bytes) |\n", dec_gbs["16"], 100 * dec_gbs["16"] / bw["0"]
  # OpenBLAS time for the linear layers of one 512-token window (8 layers of ref-llama-s):
  # q, o: 512x384x384; k, v: 512x128x384; gate, up: 512x1024x384; down: 512x384x1024.
  split("512x384x384 512x384x384 512x128x384 512x128x384 512x1024x384 512x1024x384 512x384x1024", g, " ")
  blas_ms = 0
  for (i = 1; i <= 7; i++) { split(g[i], d, "x"); blas_ms += 8 * 2 * d[1] * d[2] * d[3] / (blas[g[i]] * 1e9) * 1e3 }
  prefill_ms = 512 / prefill["512"] * 1e3
  printf "| OpenBLAS time for the window's layer GEMMs alone | %.1f ms |\n", blas_ms
  printf "| lowbit's whole 512-token prefill (GEMMs, attention, norms, head) | %.1f ms (%.0f%% of OpenBLAS GEMM speed) |\n", prefill_ms, 100 * blas_ms / prefill_ms
  print ""
  print "fp32 GEMM on the model's shapes (m tokens x n outputs x k inputs): lowbit's sgemm (OpenBLAS"
  print "single-threaded kernels, sliced over lowbit's thread pool) against OpenBLAS's own threading."
  print ""
  print "| m x n x k | lowbit GFLOP/s | OpenBLAS GFLOP/s | ratio |"
  print "| --- | --- | --- | --- |"
  for (i = 1; i <= n; i++) {
    s = order[i]
    printf "| %s | %.1f | %.1f | %.2f |\n", s, ours[s], blas[s], ours[s] / blas[s]
  }
}
