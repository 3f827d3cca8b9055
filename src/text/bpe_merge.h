#pragma once
// Byte-pair merging in O(n log n): repeatedly merge the best adjacent pair of symbols until no
// pair merges. "Best" is the lowest priority, and among equal priorities the leftmost pair, which
// is exactly what rescanning the whole sequence after every merge picks (the textbook loop, and
// what llama2.c's run.c and Hugging Face's reference do) — in O(n^2) instead. Hugging Face's
// tokenizers library uses the same heap of (rank, position) candidates.
//
// Hand-written: the rule is ten lines over a heap; no Debian library exposes it on its own.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <queue>
#include <utility>
#include <vector>

namespace lowbit {

template <class Symbol>
struct MergeCandidate {
  double priority;  // lower merges first
  Symbol merged;
};

// `candidate(a, b)` returns the merge of adjacent symbols a and b, or nullopt if they do not
// merge. Returns the symbols left when no adjacent pair merges.
template <class Symbol, class Candidate>
std::vector<Symbol> bpe_merge(std::vector<Symbol> symbols, Candidate&& candidate) {
  const size_t n = symbols.size();
  if (n < 2) return symbols;
  constexpr size_t kNone = static_cast<size_t>(-1);
  std::vector<size_t> prev(n), next(n);
  std::vector<uint32_t> version(n, 0);
  std::vector<bool> alive(n, true);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = i == 0 ? kNone : i - 1;
    next[i] = i + 1 == n ? kNone : i + 1;
  }
  struct Entry {
    double priority;
    size_t left, right;
    uint32_t left_version, right_version;
    Symbol merged;
  };
  // std::priority_queue pops the largest: "larger" = worse priority, or same and further right.
  auto worse = [](const Entry& a, const Entry& b) {
    return a.priority != b.priority ? a.priority > b.priority : a.left > b.left;
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(worse)> heap(worse);
  auto push = [&](size_t l, size_t r) {
    if (l == kNone || r == kNone) return;
    std::optional<MergeCandidate<Symbol>> c = candidate(symbols[l], symbols[r]);
    if (c) heap.push({c->priority, l, r, version[l], version[r], std::move(c->merged)});
  };
  for (size_t i = 0; i + 1 < n; ++i) push(i, i + 1);
  while (!heap.empty()) {
    Entry e = heap.top();
    heap.pop();
    // Stale: a side was merged away or changed since the candidate was made.
    if (!alive[e.left] || !alive[e.right] || next[e.left] != e.right ||
        version[e.left] != e.left_version || version[e.right] != e.right_version)
      continue;
    symbols[e.left] = std::move(e.merged);
    ++version[e.left];
    alive[e.right] = false;
    next[e.left] = next[e.right];
    if (next[e.right] != kNone) prev[next[e.right]] = e.left;
    push(prev[e.left], e.left);
    push(e.left, next[e.left]);
  }
  std::vector<Symbol> out;
  for (size_t i = 0; i != kNone; i = next[i]) out.push_back(std::move(symbols[i]));
  return out;
}

}  // namespace lowbit
