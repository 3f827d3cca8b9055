#pragma once
// Token embedding lookup and its gradient (a scatter-add into the table's rows).
#include <cstdint>
#include <span>

namespace lowbit::train {

// out[t] = table[ids[t]] for each token (rows of `dim`). Ids must be in range (checked by callers).
template <class T>
void embedding_forward(std::span<const int32_t> ids, const T* table, size_t dim, T* out);

// dtable[ids[t]] += dout[t]. Threads split the columns, so every row sums its tokens in token
// order whatever the thread count.
template <class T>
void embedding_backward(std::span<const int32_t> ids, const T* dout, size_t dim, T* dtable);

}  // namespace lowbit::train
