#pragma once
// The output head in low precision. It gets RTN: it has no activation outliers worth a transform.
#include "layers/quantizer.h"
#include "model/llama.h"

namespace lowbit {

// A tied model drops its fp32 embedding table and reads embeddings from the quantized head's
// rows; an untied one (a rotation folded the final norm into the head) stores its table with the
// head's weight spec, so both kinds of model hold their embeddings at the same precision. Does
// nothing when both specs are full precision.
void quantize_output_head(LlamaModel& model, const QuantSpec& weight, const QuantSpec& act);

}  // namespace lowbit
