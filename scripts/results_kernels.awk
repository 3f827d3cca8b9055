# Pivots Google Benchmark CSV from build/bench/lowbit_bench_qgemm into a table: one row per
# (m, n, k) shape, one column per path/ISA variant, GOPS = 2 m n k / CPU time.
# Benchmark names: <path>/<isa>/m:<m>/n:<n>/k:<k>[/g:<group>]/real_time.
BEGIN { FS = "," }
$1 ~ /^"?(sgemm_f32|W4A8|W8A8|W4A16)/ {
  name = $1; gsub(/"/, "", name)
  np = split(name, part, "/")
  col = part[1] " " part[2]
  m = part[3]; n = part[4]; k = part[5]
  sub(/m:/, "", m); sub(/n:/, "", n); sub(/k:/, "", k)
  if (part[6] ~ /^g:/) { g = part[6]; sub(/g:/, "", g); col = col " g" g }
  cpu = $4; unit = $5; gsub(/"/, "", unit)
  us = unit == "ms" ? cpu * 1000 : (unit == "ns" ? cpu / 1000 : cpu)
  shape = m ", " n ", " k
  if (!(shape in seen_shape)) { seen_shape[shape] = 1; shapes[++ns] = shape }
  if (!(col in seen_col)) { seen_col[col] = 1; cols[++nc] = col }
  gops[shape, col] = 2 * m * n * k / us / 1000
}
END {
  printf "| m, n, k |"
  for (c = 1; c <= nc; ++c) printf " %s |", cols[c]
  printf "\n| --- |"
  for (c = 1; c <= nc; ++c) printf " --- |"
  printf "\n"
  for (s = 1; s <= ns; ++s) {
    printf "| %s |", shapes[s]
    for (c = 1; c <= nc; ++c) {
      v = gops[shapes[s], cols[c]]
      if (v == "") printf " — |"; else printf " %.0f |", v
    }
    printf "\n"
  }
}
