# Formats the per-cell TSV of scripts/results_quant.sh (row, config, ppl, calib_s, quant_s,
# peak_mib) as Markdown. Row and config labels come from the environment (ROWS_STR, CONFIGS_STR),
# the FP32 perplexity from FP.
function label(s) { split(s, parts, "|"); return parts[1] }
function rel(a, b) { return 100 * (a - b) / b }
BEGIN {
  nr = split(ENVIRON["ROWS_STR"], rows, "\n")
  nc = split(ENVIRON["CONFIGS_STR"], configs, "\n")
  fp = ENVIRON["FP"] + 0
}
{
  key = $1 SUBSEP $2
  ppl[key] = $3; calib[key] = $4; quant[key] = $5; peak[key] = $6
  have_row[$1] = 1
  commit = NF >= 7 ? $7 : "unrecorded"
  if (!(commit in cells_at)) commits[++ncommits] = commit
  cells_at[commit]++
}
END {
  printf "## Quantization: WikiText-2 perplexity (ref-llama-s, L=512, %s windows)\n\n", windows
  printf "FP32: **%.3f**. Calibration: %d sequences x 512 tokens of `corpus/calib.txt` (seed 0). ", fp, samples
  printf "Weights symmetric with MSE clipping; activations symmetric per token (dynamic); KV cache "
  printf "asymmetric per token and head; output head and embeddings in full precision. "
  printf "Each cell is `lowbit quantize` then `lowbit perplexity --simulate` on the saved file.\n\n"
  head = "| method |"; rule = "| --- |"
  for (c = 1; c <= nc; c++) { head = head " " label(configs[c]) " |"; rule = rule " --- |" }
  print head; print rule
  # Every row, measured or not: a row whose cells were dropped as stale shows as dashes.
  for (r = 1; r <= nr; r++) {
    line = "| " label(rows[r]) " |"
    for (c = 1; c <= nc; c++) {
      key = (r - 1) SUBSEP (c - 1)
      if (!(key in ppl) && !(label(rows[r]) == "AWQ" && c > 1)) missing++
      line = line ((key in ppl) ? sprintf(" %.3f |", ppl[key]) : " — |")
    }
    print line
  }
  print ""
  print "AWQ is weight-only (its scales are searched for weight error), so it has W4A16 only."
  if (missing > 0)
    printf "%d other cell(s) marked — have not been measured with this protocol yet.\n", missing
  line = "Cells are cached between runs; measured at commit"
  for (i = 1; i <= ncommits; i++)
    line = line (i > 1 ? ", " : " ") commits[i] " (" cells_at[commits[i]] " cells)"
  print line "."
  print ""

  # The outlier-handling claim, for both outlier-channel rules, computed from the table above.
  w4a4 = -1
  for (c = 1; c <= nc; c++) if (label(configs[c]) == "W4A4") w4a4 = c - 1
  for (r = 1; r <= nr; r++) {
    l = label(rows[r])
    if (l == "RTN") rtn = (r - 1) SUBSEP w4a4
    if (l == "SmoothQuant") sq = (r - 1) SUBSEP w4a4
    if (l == "Hadamard") had = (r - 1) SUBSEP w4a4
  }
  print "### W4A4: DuQuant against the baselines"
  print ""
  print "| method | W4A4 ppl | vs RTN | vs SmoothQuant | vs Hadamard |"
  print "| --- | --- | --- | --- | --- |"
  for (r = 1; r <= nr; r++) {
    key = (r - 1) SUBSEP w4a4
    if (!(key in ppl)) continue
    printf "| %s | %.3f | %+.1f%% | %+.1f%% | %+.1f%% |\n", label(rows[r]), ppl[key],
      rel(ppl[key], ppl[rtn]), rel(ppl[key], ppl[sq]), rel(ppl[key], ppl[had])
  }
  print ""

  printf "### Cost of each quantize run (calibration s + quantization s, peak resident MiB)\n\n"
  printf "%d cell(s) ran at a time with %d threads each, so times are those of a %d-thread run.\n\n", jobs, threads, threads
  print head; print rule
  for (r = 1; r <= nr; r++) {
    if (!((r - 1) in have_row)) continue
    line = "| " label(rows[r]) " |"
    for (c = 1; c <= nc; c++) {
      key = (r - 1) SUBSEP (c - 1)
      line = line ((key in ppl) ? sprintf(" %.1f + %.1f s, %d MiB |", calib[key], quant[key], peak[key]) : " — |")
    }
    print line
  }
}
