// Host (g++) definitions of what CuPy's generated ElementwiseKernel code uses, so that exact
// code compiles and runs on the CPU (tests/cuda/host_kernels.py). Written for this project
// from the interface of CuPy 14's cupy/carray.cuh: CArray indexes by byte strides, in
// 32-bit arithmetic when CuPy says the array allows it; CIndexer turns the thread index into
// a C-order multi-index. The "threads" of a launch run one after another, in forward or
// reverse order (a correct elementwise kernel gives the same result either way).
#pragma once

#include <math.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict

static int xpnet_reverse_order = 0;  // set by the entry point of each launch

// The k-th thread to run of n.
static inline ptrdiff_t xpnet_thread(ptrdiff_t k, ptrdiff_t n) { return xpnet_reverse_order ? n - 1 - k : k; }

#define CUPY_FOR(i, n) \
    for (ptrdiff_t xpnet_k = 0, i = xpnet_thread(0, (n)); xpnet_k < (n); ++xpnet_k, i = xpnet_thread(xpnet_k, (n)))

// An array argument: data, shape and byte strides as CuPy passes them.
template <typename T, int ndim, bool c_contiguous = false, bool use_32bit_indexing = false>
class CArray {
  public:
    typedef typename std::conditional<use_32bit_indexing, int, ptrdiff_t>::type index_t;

    CArray(T* data, const long long* shape, const long long* strides) : data_(data), size_(1) {
        for (int d = 0; d < ndim; ++d) {
            shape_[d] = shape[d];
            strides_[d] = strides[d];
            size_ *= shape[d];
        }
    }

    ptrdiff_t size() const { return size_; }
    const ptrdiff_t* shape() const { return shape_; }
    const ptrdiff_t* strides() const { return strides_; }

    // Element at a multi-index: the sum of index times byte stride, in index_t arithmetic.
    template <typename Int>
    const T& operator[](const Int (&idx)[ndim]) const {
        index_t offset = 0;
        for (int d = 0; d < ndim; ++d) offset += static_cast<index_t>(strides_[d]) * static_cast<index_t>(idx[d]);
        return *reinterpret_cast<const T*>(reinterpret_cast<const char*>(data_) + offset);
    }
    template <typename Int>
    T& operator[](const Int (&idx)[ndim]) {
        return const_cast<T&>(static_cast<const CArray&>(*this)[idx]);
    }

    // Element at a flat C-order index: direct for C-contiguous arrays, else decoded through the shape.
    const T& operator[](ptrdiff_t i) const {
        if (c_contiguous) return data_[i];
        index_t rest = static_cast<index_t>(i), offset = 0;
        for (int d = ndim - 1; d > 0; --d) {
            const index_t n = static_cast<index_t>(shape_[d]);
            offset += static_cast<index_t>(strides_[d]) * (rest % n);
            rest /= n;
        }
        offset += static_cast<index_t>(strides_[0]) * rest;
        return *reinterpret_cast<const T*>(reinterpret_cast<const char*>(data_) + offset);
    }
    T& operator[](ptrdiff_t i) { return const_cast<T&>(static_cast<const CArray&>(*this)[i]); }

  private:
    T* data_;
    ptrdiff_t size_;
    ptrdiff_t shape_[ndim];
    ptrdiff_t strides_[ndim];
};

// A 0-d array: one element, whatever the index.
template <typename T, bool use_32bit_indexing>
class CArray<T, 0, true, use_32bit_indexing> {
  public:
    CArray(T* data, const long long*, const long long*) : data_(data) {}
    ptrdiff_t size() const { return 1; }
    template <typename U>
    T& operator[](const U&) { return *data_; }
    template <typename U>
    T operator[](const U&) const { return *data_; }

  private:
    T* data_;
};

// The loop's index space: set(i) makes get() the C-order multi-index of thread i.
template <int ndim, bool use_32bit_indexing = false>
class CIndexer {
  public:
    explicit CIndexer(const long long* shape) : size_(1) {
        for (int d = 0; d < ndim; ++d) {
            shape_[d] = shape[d];
            index_[d] = 0;
            size_ *= shape[d];
        }
    }
    ptrdiff_t size() const { return size_; }
    void set(ptrdiff_t i) {
        for (int d = ndim - 1; d > 0; --d) {
            index_[d] = i % shape_[d];
            i /= shape_[d];
        }
        index_[0] = i;
    }
    const ptrdiff_t (&get() const)[ndim] { return index_; }

  private:
    ptrdiff_t size_;
    ptrdiff_t shape_[ndim];
    ptrdiff_t index_[ndim];
};

template <bool use_32bit_indexing>
class CIndexer<0, use_32bit_indexing> {
  public:
    explicit CIndexer(const long long*) {}
    ptrdiff_t size() const { return 1; }
    void set(ptrdiff_t) {}
    const ptrdiff_t* get() const { return nullptr; }
};

// CUDA built-ins a kernel body may use, with their sequential meaning.
template <typename A, typename B>
inline auto min(A a, B b) -> decltype(a < b ? a : b) { return b < a ? b : a; }
template <typename A, typename B>
inline auto max(A a, B b) -> decltype(a < b ? a : b) { return a < b ? b : a; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
template <typename T>
inline T atomicAdd(T* address, T value) {
    const T old = *address;
    *address = old + value;
    return old;
}
template <typename T>
inline T __ldg(const T* p) { return *p; }
void __syncthreads() = delete;  // a block-wide barrier has no meaning when threads run one at a time
