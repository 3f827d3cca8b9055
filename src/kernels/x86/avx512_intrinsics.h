#pragma once
// <immintrin.h> for the AVX-512 (and AMX) kernel files.
//
// GCC 12 reports the _mm512_undefined_* placeholders inside its own AVX-512 intrinsics as
// (maybe-)uninitialized wherever they are inlined (GCC PR 105593, fixed in 13); the diagnostic is
// attributed to the header, so it is silenced for the header alone. Include only from files
// compiled with AVX-512 flags (see CMakeLists.txt).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>  // clang has no such false positive (nor the warning group)
#endif
