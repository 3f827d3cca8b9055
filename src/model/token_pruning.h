#pragma once
// Agile-Quant's activation-guided token pruning (Shen et al., AAAI 2024, arXiv 2312.05693), for
// prefill: from a start layer L on, a prompt's least important tokens stop being computed, until
// a ratio beta of them is gone before the last layer.
//
// Importance. A token's importance is the attention probability it gives the first (start)
// token, averaged over the heads of the layer before the pruning point; the least important
// tokens go. The paper rejects accumulated attention (the attention a token receives, summed over
// queries) because under the causal mask early tokens collect it from more queries; a row's
// probability to the first token needs no stored score matrix (the fused attention kernel returns
// it, kernels/attention.h).
//
// Schedule. Progressive and linear: before layer l >= L a fraction
//   r_l = beta * (l - L + 1) / (layers - L)
// of the prefill's tokens is gone (r = beta before the last layer), so each pruning layer drops
// an equal share of the original tokens; layers before L see every token.
//
// Causality. Perplexity measured with pruning must not see the future, so whether token t goes
// may depend only on tokens <= t: it goes before layer l when its importance is below a fixed
// per-layer threshold tau_l. The thresholds are calibrated offline on calibration text
// (calibrate_token_pruning): the windows run with exact per-window counts (the r_l schedule,
// lowest importances first), the importances of the tokens that could go are pooled per layer,
// and tau_l is the value below which the pooled share that went lies. On other text the share
// pruned is near beta, not exactly beta; every command that prunes reports the share it removed.
//
// Tokens never pruned: position 0 (the start token every importance refers to) and the last row
// of a forward pass (its logits predict the next token in generation; in perplexity it predicts
// nothing, and nothing attends to it, so keeping it changes no other row). Decode steps (one
// token) are never pruned. A pruned token keeps its keys and values in the layers it passed, so
// later tokens and decode steps attend to it there (model/kv_cache.h).
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace lowbit {

struct TokenPruning {
  double ratio = 0;                      // beta in [0, 1); 0 = off
  int start_layer = 0;                   // L in 1..layers-1: the first layer whose input is pruned
  std::vector<float> thresholds;         // [layers]: tau_l for l >= L (0 before L)
  int calib_windows = 0, calib_len = 0;  // how the thresholds were calibrated (0: not yet)

  bool enabled() const { return ratio > 0; }
  bool calibrated() const { return !thresholds.empty(); }
  // Fails (naming `where`) on beta outside [0, 1), a start layer outside 1..layers-1 or a
  // threshold table of the wrong length.
  void validate(int n_layers, std::string_view where) const;
};

// r_l: the fraction of a prefill's tokens gone before layer `layer` runs.
double pruned_fraction_before(double ratio, int start_layer, int n_layers, int layer);

// The fraction of token-layer work (tokens x layers) the schedule removes from an n-token
// prefill with exact counts: sum_l r_l / layers.
double pruned_work_fraction(double ratio, int start_layer, int n_layers);

// Per-layer importances gathered during calibration: the importance of every row that could go
// (not protected) and how many went, for layers L..layers-1.
struct PruningCalibration {
  std::vector<std::vector<float>> eligible;  // [layers]
  std::vector<int64_t> dropped;              // [layers]
  explicit PruningCalibration(int n_layers)
      : eligible(static_cast<size_t>(n_layers)), dropped(static_cast<size_t>(n_layers), 0) {}
};

// The rows of one layer's input that go on: indices (increasing) into the n current rows, given
// their importances and positions. With `calibration`, the count follows the r_l schedule exactly
// (original_rows tokens in the prefill; lowest importances go, earlier rows first among equals)
// and the importances are recorded; otherwise a row goes when its importance is below the
// layer's threshold. Position 0 and the last row always stay.
void select_kept_rows(const TokenPruning& p, int layer, int n_layers, size_t original_rows,
                      std::span<const float> importance, std::span<const int32_t> positions,
                      PruningCalibration* calibration, std::vector<uint32_t>& kept);

// The thresholds from a calibration run: per layer l >= L, the midpoint between the largest
// importance that went and the smallest pooled importance above it.
std::vector<float> thresholds_from(const PruningCalibration& c, int start_layer);

}  // namespace lowbit
