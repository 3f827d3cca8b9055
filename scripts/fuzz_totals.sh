#!/usr/bin/env bash
# Sums the committed fuzzing logs (fuzz/logs/<target>/*.log, one per scripts/fuzz.sh round) into
# the table docs/fuzzing.md shows: rounds, executions in all, the coverage the last round ended
# at (libFuzzer's "cov": instrumented edges reached; "ft": features), the merged corpus, the
# commits fuzzed and any finding. Usage: scripts/fuzz_totals.sh > table.md, or
# scripts/fuzz_totals.sh --update-docs to rewrite the table in docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --update-docs ]; then
  table=$(mktemp)
  { echo "Summed from the committed logs at commit $(git rev-parse --short=12 HEAD), $(date -u +%Y-%m-%d):"
    echo
    bash "$0"; } > "$table"
  python3 - "$table" docs/fuzzing.md <<'PY'
import re, sys
table = open(sys.argv[1]).read().rstrip("\n")
doc = open(sys.argv[2]).read()
start = "<!-- fuzz totals: scripts/fuzz_totals.sh --update-docs -->"
end = "<!-- end fuzz totals -->"
i, j = doc.index(start) + len(start), doc.index(end)
open(sys.argv[2], "w").write(doc[:i] + "\n" + table + "\n" + doc[j:])
PY
  rm -f "$table"
  exit 0
fi
echo "| target | rounds | executions | seconds | edges (cov) | features (ft) | corpus files | commits fuzzed | findings |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
for t in $(ls fuzz/targets | sed 's/\.cpp$//'); do
  logs=(fuzz/logs/"$t"/*.log)
  [ -e "${logs[0]}" ] || { echo "| \`$t\` | 0 | 0 | 0 | | | $(ls fuzz/corpus/"$t" 2> /dev/null | wc -l) | | |"; continue; }
  execs=$(cat "${logs[@]}" | awk '/^stat::number_of_executed_units/ { n += $2 } END { printf "%d", n }')
  secs=$(cat "${logs[@]}" | awk '/^stat::number_of_executed_units/ { r++ } /^lowbit fuzz target/ { for (i = 1; i <= NF; i++) if ($(i+1) == "s,") s += $i } END { printf "%d", s }')
  # Coverage where the latest round that ran to its end stopped (an interrupted one prints none).
  done_line=$( (grep -hE '#[0-9]+[[:space:]]+DONE' $(ls "${logs[@]}") || true) | tail -1)
  cov=$(echo "$done_line" | grep -oE 'cov: [0-9]+' | awk '{print $2}' || true)
  ft=$(echo "$done_line" | grep -oE 'ft: [0-9]+' | awk '{print $2}' || true)
  commits=$( (grep -h '^lowbit fuzz target' "${logs[@]}" || true) | sed -E 's/.*commit ([^,]*[^ ,]) *,.*/\1/' | sort -u | tr '\n' ' ' | sed 's/ $//')
  findings=$( (grep -lE 'ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|SUMMARY' "${logs[@]}" 2> /dev/null || true) | wc -l)
  printf '| `%s` | %d | %s | %s | %s | %s | %d | %s | %s |\n' "$t" "${#logs[@]}" "$execs" "$secs" \
    "${cov:-?}" "${ft:-?}" "$(ls fuzz/corpus/"$t" | wc -l)" "${commits:-before logs named commits}" \
    "$([ "$findings" = 0 ] && echo none || echo "$findings rounds")"
done
