#pragma once
// Every quantization method lowbit knows, one table row each (method_registry.cpp), in the spirit
// of ggml's type traits: the row says what the method is (its kind), what it needs from the
// pipeline (activation statistics, Gram matrices, training data, gradients), whether it is
// weight-only, which tuning parameters it reads, and the functions that validate a run and make
// the pass. Parsing and naming of `--method`, `needs_calibration`, the `--method` help, the
// tuning flags, validation and eval's weight-only skip all read the table: adding a method is its
// own file, one row here, its tests and its docs (docs/architecture.md, "Adding a method").
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/config.h"

namespace lowbit {

struct QuantizeOptions;
class QuantPass;

// What a pass does to a layer, which is also the order passes run in within a layer.
enum class MethodKind {
  kTransform,        // an invertible change of a layer's inputs and weights (SmoothQuant, ...)
  kWeightQuantizer,  // puts the weights on the integer grid (RTN, GPTQ, AWQ); exactly one runs
  kCorrection,       // adjusts quantized weights afterwards (e.g. low-rank compensation)
  kLearned,          // trains quantization parameters (learnable clipping, distillation QAT)
  kTokenPruning,     // removes tokens at run time (Agile-Quant)
};
std::string_view kind_name(MethodKind kind);

// What a pass needs the pipeline to provide before it runs on a layer.
struct MethodNeeds {
  bool activation_stats = false;  // per-site max |x| and sampled input rows (calibration data)
  bool gram = false;              // X^T X of every site's inputs (implies activation_stats)
  bool training_data = false;     // token sequences to train on
  bool gradients = false;         // backpropagation through the model
};

// A tuning parameter, exposed as the flag `--<name>` of `lowbit quantize` and `lowbit eval`.
struct MethodParam {
  enum class Type { kReal, kInteger, kSwitch };
  std::string_view name;  // "alpha", "duquant-block"
  Type type;
  double default_value;
  double min, max;  // inclusive range checked by validation
  std::string_view help;
};

struct MethodInfo {
  std::string_view name;  // as written in --method
  MethodKind kind;
  std::string_view summary;  // what it is and whose (help text)
  MethodNeeds needs;
  bool weight_only;  // the method assumes full-precision activations (not combined with a
                     // transform; eval skips it for quantized activations)
  std::span<const std::string_view> params;  // names of the MethodParam rows it reads
  // Method-specific checks against the model before any work (may be null).
  void (*validate)(const QuantizeOptions& options, const ModelConfig& config);
  std::unique_ptr<QuantPass> (*make)(const QuantizeOptions& options);
  // A rotation method: when the K cache is quantized, q and k also get a per-head Hadamard after
  // RoPE (QuaRot's rotation before K is quantized; DuQuant's authors do the same).
  bool rotates_qk = false;
};

// Every method, transforms first, in the order the help lists them.
std::span<const MethodInfo> method_registry();
// nullptr when no method has this name.
const MethodInfo* find_method(std::string_view name);
// Every tuning parameter of every method.
std::span<const MethodParam> method_params();
// Throws lowbit::Error for an unknown name.
const MethodParam& method_param(std::string_view name);
// "a transform (smoothquant, hadamard, duquant) and a weight quantizer (rtn, gptq, awq)".
std::string describe_method_kinds();

// A named run as a paper's authors made it: a method with the quantizer settings of their
// reference code, written as the `lowbit quantize` flags that set them ("--w-asym",
// "--group=128"). `--preset NAME` applies them; a flag given on the command line wins. Where
// lowbit cannot follow the reference, `differences` says how.
struct MethodPreset {
  std::string_view name;
  std::string_view source;  // the reference code the settings come from
  std::span<const std::string_view> flags;
  std::string_view differences;
};

std::span<const MethodPreset> method_presets();
// Throws lowbit::Error listing the known presets for an unknown name.
const MethodPreset& find_preset(std::string_view name);

// The values of the tuning parameters of one run; a parameter not set has its table default.
class MethodParams {
 public:
  void set(std::string_view name, double value);  // throws for an unknown name
  double real(std::string_view name) const;
  long long integer(std::string_view name) const;
  bool enabled(std::string_view name) const;  // a switch
  // Throws lowbit::Error naming the flag for a value out of range or not an integer.
  void validate(std::string_view name) const;

 private:
  std::map<std::string, double, std::less<>> values_;
};

// The passes of one run, parsed from "duquant+gptq": at most one pass of each kind, in kind order;
// a run without a weight quantizer gets RTN.
struct MethodSpec {
  std::vector<const MethodInfo*> passes;

  static MethodSpec parse(const std::string& text);
  std::string name() const;  // canonical: "smoothquant+rtn"
  bool weight_only() const;  // some pass is weight-only
  bool needs_calibration() const;
  const MethodInfo* pass_of_kind(MethodKind kind) const;  // nullptr if none
  bool rotates_qk() const;  // some pass asks for the q/k Hadamard under a quantized K cache
};

}  // namespace lowbit
