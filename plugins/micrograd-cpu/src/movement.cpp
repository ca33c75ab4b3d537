// Views (reshape, permute, expand, slice, flip), broadcasting, concatenation and the indexing
// primitives.
//
// Views share storage and only rewrite shape/strides/offset. The indexing loops move elements
// by size (1, 2, 4 or 8 bytes), so one loop serves every dtype; only scatter's accumulation
// needs the element type.
#include <algorithm>
#include <numeric>

#include "binding.hpp"
#include "dtype_dispatch.hpp"
#include "kernels.hpp"
#include "parallel.hpp"
#include "strided.hpp"

namespace mgcpu {

namespace {

void check_axis(int axis, int ndim, const char* what) {
    if (axis < 0 || axis >= ndim)
        throw value_error(std::string(what) + ": axis " + std::to_string(axis) +
                          " is out of range for " + std::to_string(ndim) + " dimensions");
}

// numpy's no-copy reshape: succeeds when every group of old axes that folds into new axes is
// itself laid out contiguously.
bool reshape_strides(const Array& x, const Shape& shape, Shape& out) {
    Shape od, os;
    for (int d = 0; d < x.ndim(); ++d)
        if (x.shape[d] != 1) { od.push_back(x.shape[d]); os.push_back(x.strides[d]); }
    const int nn = int(shape.size()), on = int(od.size());
    out.assign(nn, 1);
    int oi = 0, oj = 1, ni = 0, nj = 1;
    while (ni < nn && oi < on) {
        int64_t np = shape[ni], op = od[oi];
        while (np != op) {
            if (np < op) {
                if (nj >= nn) return false;
                np *= shape[nj++];
            } else {
                if (oj >= on) return false;
                op *= od[oj++];
            }
        }
        for (int ok = oi; ok < oj - 1; ++ok)
            if (os[ok] != od[ok + 1] * os[ok + 1]) return false;
        out[nj - 1] = os[oj - 1];
        for (int nk = nj - 1; nk > ni; --nk) out[nk - 1] = out[nk] * shape[nk];
        ni = nj++;
        oi = oj++;
    }
    return true;
}

template <int SIZE>
void gather_loop(const Array& out, const Array& index_view, const Array& x, int axis) {
    // x is walked with stride 0 along `axis`; the index picks the position on it.
    Shape xs = x.byte_strides();
    const int64_t axis_step = xs[axis];
    xs[axis] = 0;
    Walk<3> walk(out.shape, {out.byte_strides(), index_view.byte_strides(), xs},
                 {out.ptr(), index_view.ptr(), x.ptr()});
    walk.run([axis_step](const std::array<char*, 3>& p, const std::array<int64_t, 3>& s, int64_t n) {
        char* o = p[0];
        const char *i = p[1], *b = p[2];
        for (int64_t k = 0; k < n; ++k, o += s[0], i += s[1], b += s[2])
            std::memcpy(o, b + *reinterpret_cast<const int64_t*>(i) * axis_step, SIZE);
    });
}

void check_index(const Array& index, int64_t size, const char* what) {
    if (index.dtype != I64)
        throw type_error(std::string(what) + ": indices must be int64, got " +
                         DTYPE_NAMES[index.dtype]);
    Array c = contiguous(index);
    const int64_t* p = reinterpret_cast<const int64_t*>(c.ptr());
    for (int64_t i = 0, n = c.numel(); i < n; ++i)
        if (p[i] < 0 || p[i] >= size)
            throw index_error(std::string(what) + ": index " + std::to_string(p[i]) +
                              " is out of bounds for an axis of size " + std::to_string(size));
}

void run_gather(const Array& out, const Array& index_view, const Array& x, int axis) {
    switch (x.itemsize()) {
        case 1: return gather_loop<1>(out, index_view, x, axis);
        case 2: return gather_loop<2>(out, index_view, x, axis);
        case 4: return gather_loop<4>(out, index_view, x, axis);
        default: return gather_loop<8>(out, index_view, x, axis);
    }
}

// A slice key (a tuple of slice objects) as (start, stop, step) triples, absent bounds filled in.
std::vector<std::array<int64_t, 3>> to_key(const Array& x, const py::tuple& key) {
    std::vector<std::array<int64_t, 3>> out;
    size_t d = 0;
    for (auto item : key) {
        if (!py::isinstance<py::slice>(item))
            throw type_error("slice key entries must be slice objects, got " +
                             py::repr(item).cast<std::string>());
        auto get = [&](const char* attr, int64_t dflt) {
            py::object v = item.attr(attr);
            return v.is_none() ? dflt : v.cast<int64_t>();
        };
        int64_t size = d < x.shape.size() ? x.shape[d] : 0;
        out.push_back({get("start", 0), get("stop", size), get("step", 1)});
        ++d;
    }
    return out;
}

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b) {
    size_t nd = std::max(a.size(), b.size());
    Shape out(nd);
    for (size_t i = 0; i < nd; ++i) {
        int64_t x = i < nd - a.size() ? 1 : a[i - (nd - a.size())];
        int64_t y = i < nd - b.size() ? 1 : b[i - (nd - b.size())];
        if (x != y && x != 1 && y != 1)
            throw value_error("shapes " + shape_str(a) + " and " + shape_str(b) +
                              " do not broadcast: dimension " + std::to_string(i) + " is " +
                              std::to_string(x) + " vs " + std::to_string(y));
        out[i] = x == 1 ? y : x;
    }
    return out;
}

Array broadcast_to(const Array& x, const Shape& shape) {
    if (shape.size() < x.shape.size())
        throw value_error("cannot expand shape " + shape_str(x.shape) + " to fewer dimensions " +
                          shape_str(shape));
    Shape strides(shape.size(), 0);
    size_t lead = shape.size() - x.shape.size();
    for (size_t d = 0; d < x.shape.size(); ++d) {
        if (x.shape[d] == shape[lead + d]) strides[lead + d] = x.strides[d];
        else if (x.shape[d] != 1)
            throw value_error("cannot expand shape " + shape_str(x.shape) + " to " +
                              shape_str(shape) + ": dimension " + std::to_string(d) + " is " +
                              std::to_string(x.shape[d]) + ", not 1 or " +
                              std::to_string(shape[lead + d]));
    }
    return make_view(x, shape, strides, x.offset);
}

Array reshape(const Array& x, const Shape& shape) {
    const int64_t n = checked_numel(shape, x.itemsize());
    if (n != x.numel())
        throw value_error("cannot reshape an array of shape " + shape_str(x.shape) + " (" +
                          std::to_string(x.numel()) + " elements) to " + shape_str(shape) +
                          " (" + std::to_string(n) + " elements)");
    Shape strides;
    if (x.is_contiguous() || n == 0) return make_view(x, shape, contiguous_strides(shape), x.offset);
    if (reshape_strides(x, shape, strides)) return make_view(x, shape, strides, x.offset);
    Array c = contiguous(x);
    return make_view(c, shape, contiguous_strides(shape), c.offset);
}

Array permute(const Array& x, const std::vector<int>& axes) {
    const int nd = x.ndim();
    std::vector<bool> seen(nd, false);
    bool ok = int(axes.size()) == nd;
    for (int a : axes) {
        if (!ok || a < 0 || a >= nd || seen[a]) { ok = false; break; }
        seen[a] = true;
    }
    if (!ok) {
        std::string s;
        for (int a : axes) s += std::to_string(a) + " ";
        throw value_error("permute: axes [ " + s + "] are not a permutation of " +
                          std::to_string(nd) + " dimensions");
    }
    Shape shape(nd), strides(nd);
    for (int d = 0; d < nd; ++d) {
        shape[d] = x.shape[axes[d]];
        strides[d] = x.strides[axes[d]];
    }
    return make_view(x, shape, strides, x.offset);
}

Array slice(const Array& x, const std::vector<std::array<int64_t, 3>>& key) {
    if (int(key.size()) > x.ndim())
        throw index_error("slice: " + std::to_string(key.size()) + " slices for an array of " +
                          std::to_string(x.ndim()) + " dimensions");
    Shape shape = x.shape, strides = x.strides;
    int64_t offset = x.offset;
    for (size_t d = 0; d < key.size(); ++d) {
        auto [start, stop, step] = key[d];
        if (step < 1 || start < 0 || stop < start || stop > x.shape[d])
            throw index_error("slice: dimension " + std::to_string(d) + " of size " +
                              std::to_string(x.shape[d]) + " cannot take start=" +
                              std::to_string(start) + " stop=" + std::to_string(stop) +
                              " step=" + std::to_string(step) +
                              " (need 0 <= start <= stop <= size, step >= 1)");
        shape[d] = stop == start ? 0 : (stop - start - 1) / step + 1;   // no overflow for any step
        if (shape[d] > 0) offset += start * x.strides[d];
        // a stride only matters along a dim of 2+ elements, where it stays inside the storage
        if (shape[d] > 1) strides[d] = x.strides[d] * step;
    }
    return make_view(x, shape, strides, offset);
}

Array flip(const Array& x, const std::vector<int>& axes) {
    Shape strides = x.strides;
    int64_t offset = x.offset;
    for (int a : axes) {
        check_axis(a, x.ndim(), "flip");
        if (x.shape[a] > 0) offset += (x.shape[a] - 1) * x.strides[a];
        strides[a] = -strides[a];
    }
    return make_view(x, x.shape, strides, offset);
}

Array cat(const std::vector<Array>& xs, int axis) {
    if (xs.empty()) throw value_error("cat: needs at least one array");
    const Array& first = xs[0];
    check_axis(axis, first.ndim(), "cat");
    Shape shape = first.shape;
    shape[axis] = 0;
    for (const Array& x : xs) {
        bool same = x.ndim() == first.ndim() && x.dtype == first.dtype;
        for (int d = 0; same && d < x.ndim(); ++d) same = d == axis || x.shape[d] == first.shape[d];
        if (!same)
            throw value_error("cat: cannot join " + std::string(DTYPE_NAMES[x.dtype]) + " " +
                              shape_str(x.shape) + " to " + DTYPE_NAMES[first.dtype] + " " +
                              shape_str(first.shape) + " along axis " + std::to_string(axis));
        shape[axis] = checked_add(shape[axis], x.shape[axis], "cat: the joined axis");
    }
    Array out = empty(shape, first.dtype);
    if (std::all_of(xs.begin(), xs.end(), [](const Array& x) { return x.is_contiguous(); })) {
        // dense pieces: each is `outer` runs of its axis's bytes, copied straight into their
        // place (an RNN's 35 steps were 35 strided walks, each with its set-up)
        int64_t outer = 1, inner = first.itemsize();
        for (int d = 0; d < axis; ++d) outer *= shape[d];
        for (int d = axis + 1; d < first.ndim(); ++d) inner *= shape[d];
        const int64_t out_run = shape[axis] * inner;
        char* to = out.ptr();
        for (const Array& x : xs) {
            const int64_t run = x.shape[axis] * inner;
            const char* from = x.ptr();
            for (int64_t o = 0; o < outer; ++o)
                std::memcpy(to + o * out_run, from + o * run, size_t(run));
            to += run;
        }
        return out;
    }
    int64_t at = 0;
    for (const Array& x : xs) {
        std::vector<std::array<int64_t, 3>> key(out.ndim());
        for (int d = 0; d < out.ndim(); ++d) key[d] = {0, shape[d], 1};
        key[axis] = {at, at + x.shape[axis], 1};
        copy_into(slice(out, key), x);
        at += x.shape[axis];
    }
    return out;
}

Array take(const Array& x, const Array& indices, int axis) {
    check_axis(axis, x.ndim(), "take");
    if (indices.ndim() != 1)
        throw value_error("take: indices must be 1-D, got shape " + shape_str(indices.shape));
    check_index(indices, x.shape[axis], "take");
    Shape shape = x.shape;
    shape[axis] = indices.shape[0];
    Array out = empty(shape, x.dtype);
    int64_t inner = x.itemsize(), outer = 1;
    for (int d = axis + 1; d < x.ndim(); ++d) inner *= x.shape[d];
    for (int d = 0; d < axis; ++d) outer *= x.shape[d];
    if (x.is_contiguous() && inner >= 64) {
        // whole slices (an embedding's rows, index_select's): one copy each, where the walk
        // below copies element by element (2 MB of 2 KB rows: 230 us against 45)
        const Array idx = contiguous(indices);
        const int64_t* pick = reinterpret_cast<const int64_t*>(idx.ptr());
        const int64_t n = x.shape[axis], k = indices.shape[0];
        const char* from = x.ptr();
        char* to = out.ptr();
        parallel_for(outer * k, std::max<int64_t>(1, (int64_t(1) << 16) / inner),
                     [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r)
                std::memcpy(to + r * inner, from + ((r / k) * n + pick[r % k]) * inner,
                            size_t(inner));
        });
        return out;
    }
    // the indices, seen as an array of the output's shape varying only along `axis`
    Shape istrides(shape.size(), 0);
    istrides[axis] = indices.strides[0];
    Array index_view = make_view(indices, shape, istrides, indices.offset);
    run_gather(out, index_view, x, axis);
    return out;
}

Array gather(const Array& x, int axis, const Array& index) {
    check_axis(axis, x.ndim(), "gather");
    if (index.ndim() != x.ndim())
        throw value_error("gather: index " + shape_str(index.shape) + " needs as many dims as x " +
                          shape_str(x.shape));
    for (int d = 0; d < x.ndim(); ++d)
        if (d != axis && index.shape[d] > x.shape[d])
            throw index_error("gather: index shape " + shape_str(index.shape) +
                              " exceeds x shape " + shape_str(x.shape) + " in dimension " +
                              std::to_string(d));
    check_index(index, x.shape[axis], "gather");
    Array out = empty(index.shape, x.dtype);
    run_gather(out, index, x, axis);
    return out;
}

Array scatter(const Array& x, int axis, const Array& index, const Array& src, bool accumulate) {
    check_axis(axis, x.ndim(), "scatter");
    if (index.shape != src.shape || index.ndim() != x.ndim() || src.dtype != x.dtype)
        throw value_error("scatter: index " + shape_str(index.shape) + " and src " +
                          std::string(DTYPE_NAMES[src.dtype]) + " " + shape_str(src.shape) +
                          " must share a shape with x's rank and x's dtype " +
                          DTYPE_NAMES[x.dtype]);
    for (int d = 0; d < x.ndim(); ++d)
        if (d != axis && index.shape[d] > x.shape[d])
            throw index_error("scatter: index shape " + shape_str(index.shape) +
                              " exceeds x shape " + shape_str(x.shape) + " in dimension " +
                              std::to_string(d));
    check_index(index, x.shape[axis], "scatter");
    Array out = astype(x, x.dtype);   // a fresh contiguous copy
    Shape os = out.byte_strides();
    const int64_t axis_step = os[axis];
    os[axis] = 0;
    Walk<3> walk(index.shape, {index.byte_strides(), src.byte_strides(), os},
                 {index.ptr(), src.ptr(), out.ptr()});
    // Sequential: duplicate indices must accumulate (or overwrite) in order.
    visit_dtype(x.dtype, [&](auto t) {
        using T = decltype(t);
        walk.range(0, walk.numel(), [&](const std::array<char*, 3>& p,
                                        const std::array<int64_t, 3>& s, int64_t n) {
            const char *i = p[0], *v = p[1];
            char* b = p[2];
            for (int64_t k = 0; k < n; ++k, i += s[0], v += s[1], b += s[2]) {
                char* target = b + *reinterpret_cast<const int64_t*>(i) * axis_step;
                if (accumulate) {
                    using C = compute_t<T>;
                    C sum;
                    if constexpr (std::is_same_v<C, bool>) sum = load<T>(target) || load<T>(v);
                    else if constexpr (std::is_floating_point_v<C>) sum = load<T>(target) + load<T>(v);
                    else sum = C(uint64_t(load<T>(target)) + uint64_t(load<T>(v)));
                    store<T>(target, sum);
                } else {
                    std::memcpy(target, v, sizeof(T));
                }
            }
        });
    });
    return out;
}

Array nonzero(const Array& x) {
    // astype(x, Bool) of a bool array copies its bytes as they are, so the mask is read through
    // one predicate (any nonzero byte), the same when counting rows and when writing them.
    Array mask = contiguous(astype(x, Bool));
    const char* m = mask.ptr();
    auto is_set = [m](int64_t i) { return load<bool>(m + i); };
    const int64_t n = mask.numel(), nd = x.ndim();
    int64_t count = 0;
    for (int64_t i = 0; i < n; ++i) count += is_set(i);
    Array out = empty({count, nd}, I64);
    int64_t* o = reinterpret_cast<int64_t*>(out.ptr());
    Shape idx(nd, 0);
    for (int64_t i = 0; i < n; ++i) {
        if (is_set(i)) o = std::copy(idx.begin(), idx.end(), o);
        for (int64_t d = nd - 1; d >= 0; --d) {
            if (++idx[d] < x.shape[d]) break;
            idx[d] = 0;
        }
    }
    return out;
}

// --------------------------------------------------------------------------- bindings

void init_movement(py::module_& m) {
    m.def("reshape", [](const Array& x, py::object shape) { return reshape(x, to_shape(shape)); },
          py::arg("x"), py::arg("shape"), "A view of x with `shape` when strides allow, else a copy.");
    m.def("permute", [](const Array& x, std::vector<int> axes) { return permute(x, axes); },
          py::arg("x"), py::arg("axes"), "A view of x with its axes in the order `axes`.");
    m.def("expand", [](const Array& x, py::object shape) { return broadcast_to(x, to_shape(shape)); },
          py::arg("x"), py::arg("shape"), "A broadcast view of x with `shape` (size-1 dims stretched).");
    m.def("slice", [](const Array& x, py::tuple key) { return slice(x, to_key(x, key)); },
          py::arg("x"), py::arg("key"), "A view of x[key] for a tuple of slice objects.");
    m.def("flip", [](const Array& x, std::vector<int> axes) { return flip(x, axes); },
          py::arg("x"), py::arg("axes"), "A view of x reversed along `axes`.");
    m.def("cat", [](std::vector<Array> xs, int axis) { return cat(xs, axis); },
          py::arg("xs"), py::arg("axis"), "The arrays joined along `axis`.");
    m.def("take", [](const Array& x, const Array& indices, int axis) { return take(x, indices, axis); },
          py::arg("x"), py::arg("indices"), py::arg("axis"),
          "x indexed by an integer array along `axis` (numpy.take).");
    m.def("gather", [](const Array& x, int axis, const Array& index) { return gather(x, axis, index); },
          py::arg("x"), py::arg("axis"), py::arg("index"), "torch.gather: the values of x at `index` along `axis`.");
    m.def("scatter", [](const Array& x, int axis, const Array& index, const Array& src, bool accumulate) {
        return scatter(x, axis, index, src, accumulate);
    }, py::arg("x"), py::arg("axis"), py::arg("index"), py::arg("src"), py::arg("accumulate"),
       "A copy of x with src written (or, accumulating, added) at index along `axis`.");
    m.def("setitem_", [](const Array& x, py::tuple key, const Array& value) {
        copy_into(slice(x, to_key(x, key)), value);
    }, py::arg("x"), py::arg("key"), py::arg("value"), "x[key] = value in place (value broadcast).");
    m.def("nonzero", &nonzero, py::arg("x"), "The (count, ndim) int64 indices of x's nonzero elements.");
}

}  // namespace mgcpu
