#include "quant/method_registry.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "core/error.h"
#include "quant/awq.h"
#include "quant/duquant.h"
#include "quant/gptq.h"
#include "quant/hadamard_rotation.h"
#include "quant/hqq.h"
#include "quant/llm_int8.h"
#include "quant/lorc.h"
#include "quant/lwc.h"
#include "quant/nf4.h"
#include "quant/rtn.h"
#include "quant/smoothquant.h"
#include "quant/squeezellm.h"

namespace lowbit {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
using Type = MethodParam::Type;

// ---- The tuning parameters (flags) -----------------------------------------------------------
constexpr MethodParam kParams[] = {
    {"alpha", Type::kReal, 0.5, 0.0, 1.0, "smoothing strength of SmoothQuant and DuQuant"},
    {"duquant-block", Type::kInteger, 128, 1, kInf, "DuQuant rotation block size"},
    {"duquant-steps", Type::kInteger, 256, 0, kInf, "DuQuant greedy rotation steps per block"},
    {"duquant-code-compat", Type::kSwitch, 0, 0, 1,
     "DuQuant as the authors' code does it (row-index outlier rule, one rotation shared by all "
     "blocks, max - min peak, their R~ and QR) instead of the paper's algorithm"},
    {"duquant-mean-seq", Type::kSwitch, 0, 0, 1,
     "DuQuant: fit the rotations on the mean calibration sequence propagated through the "
     "already-quantized layers, as the authors' code does (default: rows sampled from every "
     "calibration window, full-precision propagation)"},
    {"act-order", Type::kSwitch, 0, 0, 1, "GPTQ: quantize columns by decreasing Hessian diagonal"},
    {"damp", Type::kReal, 0.01, 0.0, kInf, "GPTQ damping, fraction of the mean Hessian diagonal"},
    {"lwc-epochs", Type::kInteger, 20, 0, kInf,
     "LWC: passes over the calibration windows per layer (OmniQuant's --epochs)"},
    {"lwc-lr", Type::kReal, 1e-2, 0.0, kInf,
     "LWC: AdamW learning rate of the clipping logits (OmniQuant's --lwc_lr)"},
    {"hqq-lp", Type::kReal, 0.7, 0.01, 1.0, "HQQ: p of the l_p error (the reference's lp_norm)"},
    {"hqq-beta", Type::kReal, 10.0, 1e-6, kInf, "HQQ: initial half-quadratic penalty (beta)"},
    {"hqq-kappa", Type::kReal, 1.01, 1.0, kInf, "HQQ: growth of the penalty per step (kappa)"},
    {"hqq-iters", Type::kInteger, 20, 0, 10000, "HQQ: solver steps at most (iters)"},
    {"nf4-double-quant", Type::kSwitch, 0, 0, 1,
     "NF4: quantize the block scales too (QLoRA's double quantization)"},
    {"int8-threshold", Type::kReal, 6.0, 0.0, kInf,
     "LLM.int8(): an input feature whose calibration max |x| exceeds this stays in fp16"},
    {"lorc-rank", Type::kInteger, 8, 1, 4096, "LoRC: rank of the error compensation"},
    {"sparse-fraction", Type::kReal, 0.0045, 0.0, 0.1,
     "SqueezeLLM: fraction of weights kept in fp16 in the sparse part (outliers and sensitive "
     "values; the paper's 0.45%); 0 is dense-only"},
    {"sensitive-fraction", Type::kReal, 0.0005, 0.0, 0.1,
     "SqueezeLLM: the part of --sparse-fraction chosen by Fisher information (the paper's 0.05%)"},
    {"squeezellm-iters", Type::kInteger, 50, 1, 10000,
     "SqueezeLLM: Lloyd iterations of the weighted k-means"},
};

constexpr std::string_view kSmoothQuantParams[] = {"alpha"};
constexpr std::string_view kDuQuantParams[] = {"alpha", "duquant-block", "duquant-steps",
                                               "duquant-code-compat", "duquant-mean-seq"};
constexpr std::string_view kGptqParams[] = {"damp", "act-order"};
constexpr std::string_view kLwcParams[] = {"lwc-epochs", "lwc-lr"};
constexpr std::string_view kHqqParams[] = {"hqq-lp", "hqq-beta", "hqq-kappa", "hqq-iters"};
constexpr std::string_view kNf4Params[] = {"nf4-double-quant"};
constexpr std::string_view kLlmInt8Params[] = {"int8-threshold"};
constexpr std::string_view kLorcParams[] = {"lorc-rank"};
constexpr std::string_view kSqueezeLlmParams[] = {"sparse-fraction", "sensitive-fraction",
                                                  "squeezellm-iters"};

// ---- The methods -------------------------------------------------------------------------------
// {name, kind, summary, needs {stats, gram, training data, gradients}, weight-only, params,
//  validate, make}
const MethodInfo kMethods[] = {
    {"smoothquant",
     MethodKind::kTransform,
     "SmoothQuant (Xiao et al. 2023): per-channel smoothing folded into the preceding ops",
     {.activation_stats = true},
     false,
     kSmoothQuantParams,
     nullptr,
     make_smoothquant_pass},
    {"hadamard",
     MethodKind::kTransform,
     "QuaRot-style Hadamard rotation (Ashkboos et al. 2024) of the residual stream, online "
     "Hadamard on o_proj/down_proj inputs",
     {},
     false,
     {},
     validate_hadamard_rotation,
     make_hadamard_rotation_pass,
     /*rotates_qk=*/true},
    {"duquant",
     MethodKind::kTransform,
     "DuQuant (Lin et al. 2024): smoothing, block rotation, zigzag permutation, block rotation",
     {.activation_stats = true},
     false,
     kDuQuantParams,
     validate_duquant,
     make_duquant_pass,
     /*rotates_qk=*/true},
    {"rtn",
     MethodKind::kWeightQuantizer,
     "round to nearest (no calibration)",
     {},
     false,
     {},
     nullptr,
     make_rtn_pass},
    {"gptq",
     MethodKind::kWeightQuantizer,
     "GPTQ (Frantar et al. 2022): column-wise quantization with Hessian error feedback",
     {.activation_stats = true, .gram = true},
     false,
     kGptqParams,
     nullptr,
     make_gptq_pass},
    {"awq",
     MethodKind::kWeightQuantizer,
     "AWQ (Lin et al. 2024): activation-aware weight scales searched on calibration rows",
     {.activation_stats = true},
     true,
     {},
     nullptr,
     make_awq_pass},
    {"hqq",
     MethodKind::kWeightQuantizer,
     "HQQ (Badri and Shaji 2023): data-free half-quadratic optimisation of each group's zero "
     "point against an l_p error (asymmetric, fractional zero points)",
     {},
     false,
     kHqqParams,
     nullptr,
     make_hqq_pass},
    {"nf4",
     MethodKind::kWeightQuantizer,
     "NF4 (Dettmers et al. 2023, QLoRA): 4-bit NormalFloat codebook with a per-block absmax, "
     "optional double quantization of the scales",
     {},
     true,
     kNf4Params,
     validate_nf4,
     make_nf4_pass},
    {"squeezellm",
     MethodKind::kWeightQuantizer,
     "SqueezeLLM (Kim et al. 2024): per-channel k-means codebooks weighted by the Fisher "
     "information (from the training engine's gradients), dense-and-sparse fp16 outliers",
     {.training_data = true, .gradients = true},
     true,
     kSqueezeLlmParams,
     validate_squeezellm,
     make_squeezellm_pass},
    {"llm-int8",
     MethodKind::kWeightQuantizer,
     "LLM.int8() (Dettmers et al. 2022): vector-wise int8 with the outlier input features "
     "(calibration max |x| > --int8-threshold) in fp16",
     {.activation_stats = true},
     false,
     kLlmInt8Params,
     validate_llm_int8,
     make_llm_int8_pass},
    {"lorc",
     MethodKind::kCorrection,
     "LoRC (Yao et al. 2023, ZeroQuant-V2): rank-r compensation of each projection's "
     "quantization error from its SVD, a small fp16 side product",
     {},
     false,
     kLorcParams,
     nullptr,
     make_lorc_pass},
    {"lwc",
     MethodKind::kLearned,
     "OmniQuant's learnable weight clipping (Shao et al. 2024), trained layer by layer to match "
     "the full-precision layer's output (after rtn)",
     {.training_data = true},
     false,
     kLwcParams,
     validate_lwc,
     make_lwc_pass},
};

// ---- Presets: the authors' settings -------------------------------------------------------------
// GPTQ, IST-DASLab/gptq llama.py: Quantizer.configure(wbits, perchannel=True, sym=args.sym (off by
// default), mse=False); --percdamp .01; --nsamples 128 of model.seqlen (2048) tokens.
constexpr std::string_view kGptqPresetFlags[] = {
    "--method=gptq",       "--w-asym",         "--group=0", "--no-mse-clip", "--damp=0.01",
    "--calib-samples=128", "--calib-len=2048", "--abits=16"};
// AWQ, mit-han-lab/llm-awq entry.py: w_bit 4, q_group_size 128, zero_point on; run_awq with
// n_samples=128, seqlen=512.
constexpr std::string_view kAwqPresetFlags[] = {
    "--method=awq",        "--wbits=4",       "--w-asym",  "--group=128",
    "--calib-samples=128", "--calib-len=512", "--abits=16"};

// DuQuant, Hsu1023/DuQuant run.sh and main.py: W4A4, --block_size 128, --max_rotation_step 256,
// --alpha 0.6 --smooth, --lac 0.9 (activations), --swc 0.8 (weights; it takes precedence over
// --lwc in their quantizer), weights per channel and activations per token, both asymmetric
// (symmetric False); K and V at the activation bits, asymmetric; 128 samples of 2048 tokens,
// --seed 2; the head in full precision.
constexpr std::string_view kDuQuantPresetFlags[] = {"--method=duquant",
                                                    "--wbits=4",
                                                    "--abits=4",
                                                    "--kvbits=4",
                                                    "--w-asym",
                                                    "--w-clip=0.8",
                                                    "--a-asym",
                                                    "--a-clip=0.9",
                                                    "--alpha=0.6",
                                                    "--duquant-block=128",
                                                    "--duquant-steps=256",
                                                    "--duquant-mean-seq",
                                                    "--calib-samples=128",
                                                    "--calib-len=2048",
                                                    "--seed=2",
                                                    "--qbits=4",
                                                    "--head-bits=16",
                                                    "--head-abits=16"};
// QuaRot, spcl/QuaRot fake_quant (README's W4A4KV4 command: --rotate --a_bits 4 --v_bits 4
// --k_bits 4 --w_bits 4 --w_clip; utils.py defaults): GPTQ weights (symmetric, per channel, the
// clip searched), --percdamp .01, 128 samples of model.seqlen; activations and K/V symmetric,
// clip ratio 1.0; the head in full precision.
constexpr std::string_view kQuaRotPresetFlags[] = {"--method=hadamard+gptq",
                                                   "--wbits=4",
                                                   "--abits=4",
                                                   "--kvbits=4",
                                                   "--kv-sym",
                                                   "--group=0",
                                                   "--damp=0.01",
                                                   "--calib-samples=128",
                                                   "--calib-len=2048",
                                                   "--head-bits=16",
                                                   "--head-abits=16"};

// HQQ, mobiusml/hqq BaseQuantizeConfig defaults: nbits 4, group_size 64, optimize with
// lp_norm 0.7, beta 10, kappa 1.01, 20 iterations (optimize_weights_proximal_legacy).
constexpr std::string_view kHqqPresetFlags[] = {
    "--method=hqq",  "--wbits=4",        "--group=64",     "--hqq-lp=0.7",
    "--hqq-beta=10", "--hqq-kappa=1.01", "--hqq-iters=20", "--abits=16"};
// NF4, QLoRA / bitsandbytes (BitsAndBytesConfig bnb_4bit_quant_type="nf4", blocksize 64,
// bnb_4bit_use_double_quant=True as in the QLoRA paper).
constexpr std::string_view kNf4PresetFlags[] = {"--method=nf4", "--wbits=4", "--group=64",
                                                "--nf4-double-quant", "--abits=16"};
// LLM.int8(), bitsandbytes Linear8bitLt: threshold 6.0, int8 row-wise weights and per-token
// activations.
constexpr std::string_view kLlmInt8PresetFlags[] = {"--method=llm-int8", "--wbits=8", "--group=0",
                                                    "--abits=8", "--int8-threshold=6"};

const MethodPreset kPresets[] = {
    {"duquant", "Hsu1023/DuQuant (run.sh, main.py)", kDuQuantPresetFlags,
     "the mean sequence runs through lowbit's quantized earlier layers with the KV cache in full "
     "precision, and a layer's own sites are observed before it is quantized (theirs: during "
     "its quantized forward); calibration text is --calib (theirs: WikiText-2 train)"},
    {"quarot", "spcl/QuaRot fake_quant (README, utils.py)", kQuaRotPresetFlags,
     "lowbit's KV quantizer is per token and head; calibration text is --calib (theirs: "
     "WikiText-2 train); sequences are capped by the model's positions"},
    {"gptq", "IST-DASLab/gptq (llama.py)", kGptqPresetFlags,
     "calibration text is --calib (the reference samples C4 or WikiText-2 train); --wbits is the "
     "caller's"},
    {"awq", "mit-han-lab/llm-awq (entry.py, pre_quant.py)", kAwqPresetFlags,
     "the reference searches a per-group weight clip (auto_clip) after the scales; lowbit's MSE "
     "clip search stands in for it; calibration text is --calib (the reference uses Pile val)"},
    {"hqq", "mobiusml/hqq (BaseQuantizeConfig, optimize_weights_proximal_legacy)", kHqqPresetFlags,
     "scales and zero points stay fp32 (the reference casts them to fp16; its optional "
     "quant_scale/quant_zero 8-bit meta-quantization is not implemented)"},
    {"nf4", "bitsandbytes (functional.quantize_4bit, QLoRA)", kNf4PresetFlags,
     "double quantization uses the symmetric int8 grid for the centred scales (bitsandbytes: its "
     "dynamic 8-bit float map); the .lowbit file keeps the dequantized scales in fp32 for the "
     "kernels"},
    {"llm-int8", "bitsandbytes (Linear8bitLt, threshold=6.0)", kLlmInt8PresetFlags,
     "outlier features are fixed per layer input from calibration (bitsandbytes: found per batch "
     "at run time) and their weight columns are kept in fp16"},
};

// What a run without a weight quantizer gets.
constexpr std::string_view kDefaultWeightQuantizer = "rtn";

// Names joined by `sep` (appended piecewise: gcc 12 warns falsely on `"" + std::string` here).
template <class Range, class Name>
std::string join(const Range& items, std::string_view sep, Name&& name) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += name(item);
  }
  return out;
}

std::string names_of_kind(MethodKind kind) {
  std::vector<std::string_view> names;
  for (const auto& m : kMethods)
    if (m.kind == kind) names.push_back(m.name);
  return join(names, ", ", [](std::string_view n) { return n; });
}

}  // namespace

std::string_view kind_name(MethodKind kind) {
  switch (kind) {
    case MethodKind::kTransform:
      return "transform";
    case MethodKind::kWeightQuantizer:
      return "weight quantizer";
    case MethodKind::kCorrection:
      return "correction";
    case MethodKind::kLearned:
      return "learned pass";
    case MethodKind::kTokenPruning:
      return "token pruning";
  }
  return "?";
}

std::span<const MethodInfo> method_registry() {
  return kMethods;
}

const MethodInfo* find_method(std::string_view name) {
  for (const auto& m : kMethods)
    if (m.name == name) return &m;
  return nullptr;
}

std::span<const MethodParam> method_params() {
  return kParams;
}

const MethodParam& method_param(std::string_view name) {
  for (const auto& p : kParams)
    if (p.name == name) return p;
  fail("unknown method parameter '{}'", name);
}

std::span<const MethodPreset> method_presets() {
  return kPresets;
}

const MethodPreset& find_preset(std::string_view name) {
  for (const auto& p : kPresets)
    if (p.name == name) return p;
  fail("--preset '{}': unknown preset (known: {})", name,
       join(kPresets, ", ", [](const MethodPreset& p) { return p.name; }));
}

std::string describe_method_kinds() {
  std::vector<std::string> parts;
  for (MethodKind kind :
       {MethodKind::kTransform, MethodKind::kWeightQuantizer, MethodKind::kCorrection,
        MethodKind::kLearned, MethodKind::kTokenPruning}) {
    const std::string names = names_of_kind(kind);
    if (!names.empty()) parts.push_back(fmt::format("a {} ({})", kind_name(kind), names));
  }
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += i + 1 == parts.size() ? " and " : ", ";
    out += parts[i];
  }
  return out;
}

// ---- MethodParams ------------------------------------------------------------------------------
void MethodParams::set(std::string_view name, double value) {
  values_[std::string(method_param(name).name)] = value;
}

double MethodParams::real(std::string_view name) const {
  const auto it = values_.find(name);
  return it != values_.end() ? it->second : method_param(name).default_value;
}

long long MethodParams::integer(std::string_view name) const {
  return static_cast<long long>(real(name));
}

bool MethodParams::enabled(std::string_view name) const {
  return real(name) != 0.0;
}

void MethodParams::validate(std::string_view name) const {
  const MethodParam& p = method_param(name);
  const double v = real(name);
  if (p.type == Type::kInteger && !(std::isfinite(v) && v == std::floor(v)))
    fail("--{} must be an integer, got {}", p.name, v);
  if (!(v >= p.min && v <= p.max)) {
    if (p.max == kInf) fail("--{} must be >= {}, got {}", p.name, p.min, v);
    fail("--{} must be in [{}, {}], got {}", p.name, p.min, p.max, v);
  }
}

// ---- MethodSpec --------------------------------------------------------------------------------
MethodSpec MethodSpec::parse(const std::string& text) {
  if (text.empty()) fail("--method is empty");
  MethodSpec m;
  std::stringstream ss(text);
  for (std::string part; std::getline(ss, part, '+');) {
    const MethodInfo* info = find_method(part);
    if (info == nullptr) {
      fail("--method '{}': unknown method '{}' (known: {})", text, part,
           join(kMethods, ", ", [](const MethodInfo& k) { return k.name; }));
    }
    if (m.pass_of_kind(info->kind) != nullptr)
      fail("--method '{}': combine at most one of {}", text, names_of_kind(info->kind));
    m.passes.push_back(info);
  }
  if (m.pass_of_kind(MethodKind::kWeightQuantizer) == nullptr)
    m.passes.push_back(find_method(kDefaultWeightQuantizer));
  std::stable_sort(m.passes.begin(), m.passes.end(),
                   [](const MethodInfo* a, const MethodInfo* b) { return a->kind < b->kind; });
  for (const MethodInfo* p : m.passes)
    if (p->weight_only && m.pass_of_kind(MethodKind::kTransform) != nullptr)
      fail("--method '{}': {} is a weight-only method and is not combined with a transform", text,
           p->name);
  return m;
}

std::string MethodSpec::name() const {
  return join(passes, "+", [](const MethodInfo* p) { return p->name; });
}

bool MethodSpec::weight_only() const {
  return std::any_of(passes.begin(), passes.end(),
                     [](const MethodInfo* p) { return p->weight_only; });
}

bool MethodSpec::needs_calibration() const {
  return std::any_of(passes.begin(), passes.end(), [](const MethodInfo* p) {
    return p->needs.activation_stats || p->needs.gram || p->needs.training_data;
  });
}

bool MethodSpec::rotates_qk() const {
  return std::any_of(passes.begin(), passes.end(),
                     [](const MethodInfo* p) { return p->rotates_qk; });
}

const MethodInfo* MethodSpec::pass_of_kind(MethodKind kind) const {
  for (const MethodInfo* p : passes)
    if (p->kind == kind) return p;
  return nullptr;
}

}  // namespace lowbit
