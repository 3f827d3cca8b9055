# Formats the per-cell TSV of scripts/results_quant.sh (row, config, ppl, calib_s, quant_s,
# peak_mib, commit, cpu; ppl "n/a" for a column outside the row's set) as Markdown. Row and config
# labels come from the environment (ROWS_STR, CONFIGS_STR), the FP32 perplexity from FP; the
# columns shown are those matching `shown`.
function label(s) { split(s, parts, "|"); return parts[1] }
function flags(s) { split(s, parts, "|"); return parts[3] }
function rel(a, b) { return 100 * (a - b) / b }
# The cell `key` against the cell `base`, or a dash when either is not measured.
function vs(key, base) {
  return (key in ppl) && (base in ppl) ? sprintf("%+.1f%%", rel(ppl[key], ppl[base])) : "—"
}
BEGIN {
  nr = split(ENVIRON["ROWS_STR"], rows, "\n")
  nc = split(ENVIRON["CONFIGS_STR"], configs, "\n")
  fp = ENVIRON["FP"] + 0
}
$3 == "n/a" { na[$1 SUBSEP $2] = 1; next }
{
  key = $1 SUBSEP $2
  ppl[key] = $3; calib[key] = $4; quant[key] = $5; peak[key] = $6
  have_row[$1] = 1
  if (!($7 in cells_at)) commits[++ncommits] = $7
  cells_at[$7]++
  if (!($8 in on_cpu)) cpus[++ncpus] = $8
  on_cpu[$8]++
}
END {
  printf "## Quantization: WikiText-2 perplexity (ref-llama-s, L=512, %s windows)\n\n", windows
  printf "FP32: **%.3f**. Calibration: %d sequences x 512 tokens of `corpus/calib.txt` (seed 0). ", fp, samples
  printf "Weights symmetric with MSE clipping; activations symmetric per token (dynamic); KV cache "
  printf "asymmetric per token and head; output head and embeddings in full precision. "
  printf "The `--preset` rows are the authors' settings instead (docs/quantization.md: asymmetric "
  printf "and clipped for DuQuant, 2048-token calibration sequences capped by the model's positions, "
  printf "the query at 4 bits under KV4). "
  printf "Each cell is `lowbit quantize` then `lowbit perplexity --simulate` on the saved file.\n\n"
  head = "| method |"; rule = "| --- |"
  for (c = 1; c <= nc; c++) {
    if (label(configs[c]) !~ shown) continue
    head = head " " label(configs[c]) " |"; rule = rule " --- |"
  }
  print head; print rule
  # Every row, measured or not: a row whose cells were dropped as stale shows as dashes.
  for (r = 1; r <= nr; r++) {
    line = "| " label(rows[r]) " |"
    shown_cells = 0
    for (c = 1; c <= nc; c++) {
      if (label(configs[c]) !~ shown) continue
      key = (r - 1) SUBSEP (c - 1)
      if (key in na) { line = line " |"; continue }
      shown_cells++
      if (!(key in ppl)) missing++
      line = line ((key in ppl) ? sprintf(" %.3f |", ppl[key]) : " — |")
    }
    if (shown_cells > 0) print line
  }
  print ""
  print "AWQ is weight-only (its scales are searched for weight error), so it has W4A16 only; the"
  print "mean-sequence and preset rows are W4A4 runs. \"DuQuant, mean sequence\" fits the rotations"
  print "on the mean calibration sequence propagated through the quantized earlier layers, as the"
  print "authors' code does (`--duquant-mean-seq`, also part of `--preset duquant`)."
  if (missing > 0)
    printf "%d cell(s) marked — have not been measured at this source tree yet.\n", missing
  line = "Cells are cached between runs, keyed on the source tree the binary was built from (" source "), the flags and the protocol; measured at commit"
  for (i = 1; i <= ncommits; i++)
    line = line (i > 1 ? ", " : " ") commits[i] " (" cells_at[commits[i]] " cells)"
  line = line " on"
  for (i = 1; i <= ncpus; i++)
    line = line (i > 1 ? "; " : " ") cpus[i] (ncpus > 1 ? " (" on_cpu[cpus[i]] " cells)" : "")
  print line "."
  print ""

  # The outlier-handling claim, computed from the table above.
  w4a4 = -1
  for (c = 1; c <= nc; c++) if (label(configs[c]) == "W4A4") w4a4 = c - 1
  if (w4a4 >= 0 && "W4A4" ~ shown) {
    for (r = 1; r <= nr; r++) {
      l = label(rows[r])
      if (l == "RTN") rtn = (r - 1) SUBSEP w4a4
      if (l == "Hadamard") had = (r - 1) SUBSEP w4a4
      if (l == "Hadamard + GPTQ") hadg = (r - 1) SUBSEP w4a4
    }
    print "### W4A4: DuQuant against the baselines"
    print ""
    print "| method | W4A4 ppl | vs FP32 | vs RTN | vs Hadamard | vs Hadamard + GPTQ |"
    print "| --- | --- | --- | --- | --- | --- |"
    for (r = 1; r <= nr; r++) {
      key = (r - 1) SUBSEP w4a4
      if (!(key in ppl)) continue
      printf "| %s | %.3f | %+.1f%% | %s | %s | %s |\n", label(rows[r]), ppl[key],
        rel(ppl[key], fp), vs(key, rtn), vs(key, had), vs(key, hadg)
    }
    print ""
  }

  printf "### Cost of each quantize run (calibration s + quantization s, peak resident MiB)\n\n"
  printf "%d cell(s) ran at a time with %d threads each, so times are those of a %d-thread run.\n\n", jobs, threads, threads
  print head; print rule
  for (r = 1; r <= nr; r++) {
    if (!((r - 1) in have_row)) continue
    line = "| " label(rows[r]) " |"
    for (c = 1; c <= nc; c++) {
      if (label(configs[c]) !~ shown) continue
      key = (r - 1) SUBSEP (c - 1)
      if (key in na) { line = line " |"; continue }
      line = line ((key in ppl) ? sprintf(" %.1f + %.1f s, %d MiB |", calib[key], quant[key], peak[key]) : " — |")
    }
    print line
  }
}
