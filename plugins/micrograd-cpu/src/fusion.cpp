// Fused elementwise kernels without a compiler at run time (contract 1.3, compile_elementwise).
//
// micrograd_cpu/fusion.py lowers an expression into a register program; this file runs it over
// tiles of TILE elements, so every input element is read once and every output element written
// once, whatever the number of ops: a tile's intermediates stay in L1-sized scratch registers.
// float32/float64 arithmetic and the vectorised transcendentals call the SIMD kernels on the
// tile buffers directly, a run of them as one CHAIN instruction whose intermediates stay in a
// 2 KB block that never leaves L1 (one pass over the tile's memory for the run: GELU's 9 ops
// are 2 passes, Adam's 13 are 4); every other op and dtype goes through the backend's own primitives
// (unary, binary, where, astype) on views of the tiles, so each op is still defined once.
// Tiles are fixed by position, not by thread, so results never depend on the thread count.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>

#include "kernels.hpp"
#include "ops.hpp"
#include "parallel.hpp"
#include "simd/simd.hpp"
#include "strided.hpp"

namespace py = pybind11;

namespace mgcpu {

namespace {

// 2048 elements: four float32 registers of a tile fill 32 KB, an L1 data cache; a call into a
// SIMD kernel costs a few ns, a few percent of a float32 add over a tile.
constexpr int64_t TILE = 2048;
constexpr int64_t REGISTER_BYTES = TILE * 8;
// Register r's tile starts at r * REGISTER_STRIDE + 128: the 3 cache lines of padding per
// register give every tile buffer, and the tiles of arrays (which start on a page or at the
// allocator's alignment), different addresses modulo 4 KB, so a kernel storing into one while
// loading another is not stalled by 4K aliasing (a load that looks like a later store's address
// waits for it).
constexpr int64_t REGISTER_STRIDE = REGISTER_BYTES + 192;

char* tile_of(const Array& scratch, int r) { return scratch.ptr() + 128 + int64_t(r) * REGISTER_STRIDE; }

// Instruction kinds; the numbering is shared with micrograd_cpu/fusion.py.
// CHAIN: register a, then up to simd::CHAIN_STEPS steps (simd::ChainStep), float32/float64
// only: several instructions in one pass over the tile, intermediates in an L1 block.
enum Kind : int { LOAD = 0, UNARY = 1, BINARY = 2, WHERE = 3, CAST = 4, CHAIN = 5, NKINDS };

struct Step {
    int code;   // simd::ChainStep::code
    int reg;    // the operand's register (-1: none)
};

struct Instruction {
    int kind;
    int op;        // unary/binary op code, cast target dtype, or LOAD's operand index
    int dst;       // register written
    int a, b, c;   // registers read (where: c ? a : b, with c in `c`; chain: starts from a)
    int output;    // output this instruction may write straight into (-1: none)
    std::vector<Step> steps = {};   // CHAIN

    // The registers read, in order.
    std::vector<int> reads() const {
        switch (kind) {
            case LOAD: return {};
            case UNARY: case CAST: return {a};
            case BINARY: return {a, b};
            case WHERE: return {a, b, c};
            default: {
                std::vector<int> r{a};
                for (const Step& s : steps)
                    if (s.reg >= 0) r.push_back(s.reg);
                return r;
            }
        }
    }
};

bool simd_binary(int op, DType d) { return (d == F32 || d == F64) && binary_has_vector_kernel(op); }

bool simd_unary(int op, DType d) { return (d == F32 || d == F64) && unary_has_vector_kernel(op); }

// A register's contents in one tile: TILE elements (or one, when uniform: the same value for
// every element), in scratch, an input or an output, whose storage `owner` keeps alive.
struct Reg {
    char* ptr = nullptr;
    const std::shared_ptr<Storage>* owner = nullptr;
    DType dtype = F32;
    bool uniform = false;
};

// An Array viewing `count` elements of a register (for the generic, primitive-backed path).
Array view(const Reg& r, int64_t count) {
    Array v;
    v.storage = *r.owner;
    v.dtype = r.dtype;
    v.shape = {count};
    v.strides = {1};
    v.offset = (r.ptr - static_cast<char*>((*r.owner)->data)) / DTYPE_SIZES[r.dtype];
    return v;
}

class FusedKernel {
public:
    // Operands are the `inputs` arrays of each call, then `constants` (kept here), then the
    // call's scalars (0-d arrays); inputs < 0: every operand is passed as an input.
    FusedKernel(std::vector<Instruction> code, int registers, std::vector<DType> operand_dtypes,
                std::vector<Shape> operand_shapes, std::vector<int> output_registers,
                std::vector<DType> output_dtypes, Shape shape, int inputs,
                std::vector<Array> constants)
        : code_(std::move(code)), registers_(registers), operand_dtypes_(std::move(operand_dtypes)),
          operand_shapes_(std::move(operand_shapes)), output_registers_(std::move(output_registers)),
          output_dtypes_(std::move(output_dtypes)), shape_(std::move(shape)),
          inputs_(inputs < 0 ? int(operand_dtypes_.size()) : inputs), constants_(std::move(constants)) {
        if (inputs_ + constants_.size() > operand_dtypes_.size())
            throw value_error("invalid fused program: " + std::to_string(inputs_) + " inputs and " +
                              std::to_string(constants_.size()) + " constants, but " +
                              std::to_string(operand_dtypes_.size()) + " operands");
        validate();
        check_operands(constants_, inputs_);
    }

    // A call's operands (every count and layout checked: a bad direct call is an error, never
    // an out-of-bounds read), then run().
    std::vector<Array> call(std::vector<Array> inputs, std::vector<Array> scalars,
                            std::vector<Array> out) const {
        const size_t scalar_count = operand_dtypes_.size() - inputs_ - constants_.size();
        if (inputs.size() != size_t(inputs_) || scalars.size() != scalar_count)
            throw value_error("this kernel takes " + std::to_string(inputs_) + " inputs and " +
                              std::to_string(scalar_count) + " scalars, got " +
                              std::to_string(inputs.size()) + " and " +
                              std::to_string(scalars.size()));
        inputs.insert(inputs.end(), constants_.begin(), constants_.end());
        inputs.insert(inputs.end(), scalars.begin(), scalars.end());
        return run(std::move(inputs), std::move(out));
    }

    // The outputs (fresh, or `out` written in place), from operands laid out as declared.
    std::vector<Array> run(std::vector<Array> operands, std::vector<Array> out) const {
        check_operands(operands);
        const int64_t numel = checked_numel(shape_, 8);
        const size_t nout = output_registers_.size();
        if (out.empty()) {
            for (size_t k = 0; k < nout; ++k) out.push_back(empty(shape_, output_dtypes_[k]));
        } else {
            check_outputs(out);
        }
        // An output that is an operand (same memory, same layout) is updated tile by tile, every
        // tile read before it is written: its instruction writes it directly only if no later
        // instruction reads that operand (Adam's m and v), else it is stored at the tile's end.
        // One overlapping an operand any other way (a shifted or transposed view) is a copy
        // first, or tiles would read what others already wrote.
        std::vector<int> direct_from(nout, 0);   // first instruction that may write out[k]
        std::vector<char> is_output(operands.size(), 0);
        // Fresh outputs beyond 16 MB are written around the cache, as binary() does.
        std::vector<char> streamed(nout, numel * 8 >= (int64_t(16) << 20));
        for (size_t i = 0; i < operands.size(); ++i) {
            Array& x = operands[i];
            for (size_t k = 0; k < nout; ++k) {
                if (x.storage != out[k].storage) continue;
                if (same_view(broadcast_to(x, shape_), out[k])) {
                    direct_from[k] = std::max(direct_from[k], last_read_[i]);
                    is_output[i] = 1;
                    streamed[k] = 0;   // its lines were just read: keep them cached
                } else {
                    x = astype(x, x.dtype);
                }
            }
        }
        if (numel == 0) return out;

        // Instructions on uniform values only (constants, scalars, their products: Adam's
        // 1 - beta1) run once per call, not once per tile; their registers hold one element
        // each, written by no other instruction (validate), so every tile reads them as set here.
        Array uniform_values = empty({int64_t(registers_) * 8}, U8);
        std::vector<Reg> prologue(static_cast<size_t>(registers_));
        for (size_t i = 0; i < code_.size(); ++i) {
            if (!uniform_[i]) continue;
            const Instruction& in = code_[i];
            Reg& d = prologue[size_t(in.dst)];
            if (in.kind == LOAD) {
                const Array& x = operands[size_t(in.op)];
                d = Reg{x.ptr(), &x.storage, x.dtype, true};
                continue;
            }
            Reg target{uniform_values.ptr() + int64_t(in.dst) * 8, &uniform_values.storage};
            compute(in, prologue, target, 1, false);
            d = target;
        }

        std::vector<Array> seen;   // each operand as the expression's shape
        std::vector<char> direct(operands.size());
        std::vector<Walk<1>> walks;
        for (size_t i = 0; i < operands.size(); ++i) {
            seen.push_back(broadcast_to(operands[i], shape_));
            direct[i] = seen[i].is_contiguous();
            walks.emplace_back(shape_, std::array<Shape, 1>{seen[i].byte_strides()},
                               std::array<char*, 1>{seen[i].ptr()});
        }
        Tiles tiles{operands, seen, direct, walks, out, direct_from, is_output, streamed};
        const int64_t count = (numel + TILE - 1) / TILE;
        // Several ops per element: threads pay off from a few tiles (64k elements).
        parallel_for(count, 16, [&](int64_t t0, int64_t t1) {
            Array scratch = empty({128 + int64_t(registers_) * REGISTER_STRIDE}, U8);
            std::vector<Reg> regs = prologue;
            for (int64_t t = t0; t < t1; ++t) {
                const int64_t begin = t * TILE, n = std::min(TILE, numel - begin);
                run_tile(regs, scratch, tiles, begin, n);
            }
        });
        return out;
    }

private:
    // What every tile of one call reads.
    struct Tiles {
        const std::vector<Array>& operands;
        const std::vector<Array>& seen;     // operands broadcast to the expression's shape
        const std::vector<char>& direct;    // read in place (contiguous in that shape)
        const std::vector<Walk<1>>& walks;  // how to gather the others
        const std::vector<Array>& out;
        const std::vector<int>& direct_from;  // per output: its writes go straight to memory
                                              // from this instruction on (see run)
        const std::vector<char>& is_output;   // per operand: it is also an output
        const std::vector<char>& streamed;    // per output: stored around the cache
    };

    void run_tile(std::vector<Reg>& regs, const Array& scratch, const Tiles& tiles,
                  int64_t begin, int64_t n) const {
        for (size_t i = 0; i < code_.size(); ++i) {
            if (uniform_[i]) continue;
            const Instruction& in = code_[i];
            // Where this instruction's result goes: straight into its output when nothing reads
            // that memory later in the tile, else the destination register's scratch.
            Reg target;
            const bool into_output =
                in.output >= 0 && int(i) >= tiles.direct_from[size_t(in.output)];
            if (into_output) {
                const Array& o = tiles.out[size_t(in.output)];
                target = Reg{o.ptr() + begin * o.itemsize(), &o.storage};
            } else {
                target = Reg{tile_of(scratch, in.dst), &scratch.storage};
            }
            Reg& d = regs[size_t(in.dst)];
            if (in.kind == LOAD) {
                const size_t k = size_t(in.op);
                const Array& x = tiles.seen[k];
                if (tiles.direct[k]) {
                    d = Reg{x.ptr() + begin * x.itemsize(), &x.storage, x.dtype, false};
                } else {
                    gather(tiles.walks[k], x.itemsize(), begin, n, target.ptr);
                    d = Reg{target.ptr, target.owner, x.dtype, false};
                }
                continue;
            }
            compute(in, regs, target, n, into_output && tiles.streamed[size_t(in.output)]);
            d = target;
        }
        // An output that is an unchanged operand which is also an output (y = x with out
        // x = ...) is copied aside first: storing the other outputs may overwrite it.
        for (size_t o = 0; o < tiles.out.size(); ++o) {
            const int j = output_operands_[o];
            if (j < 0 || !tiles.is_output[size_t(j)]) continue;
            Reg& r = regs[size_t(output_registers_[o])];
            char* aside = tile_of(scratch, output_registers_[o]);
            if (r.ptr != aside)
                std::memcpy(aside, r.ptr, size_t((r.uniform ? 1 : n) * DTYPE_SIZES[r.dtype]));
            r.ptr = aside;
        }
        for (size_t o = 0; o < tiles.out.size(); ++o) {
            const Reg& r = regs[size_t(output_registers_[o])];
            const int64_t size = tiles.out[o].itemsize();
            char* dst = tiles.out[o].ptr() + begin * size;
            if (r.ptr == dst) continue;   // written in place by its instruction
            if (!r.uniform) {
                std::memmove(dst, r.ptr, size_t(n * size));
            } else {
                for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * size, r.ptr, size_t(size));
            }
        }
    }

    // One instruction over `count` elements into target (its dtype and uniformity set here):
    // the SIMD kernels where they apply, else the backend's primitive.
    static void compute(const Instruction& in, const std::vector<Reg>& regs, Reg& target,
                        int64_t count, bool stream) {
        const simd::Kernels& k = simd::kernels();
        const Reg& a = regs[size_t(in.a)];
        if (in.kind == CHAIN) {   // float32/float64 (validate)
            simd::ChainStep steps[simd::CHAIN_STEPS];
            target.uniform = a.uniform;
            for (size_t s = 0; s < in.steps.size(); ++s)
                if (in.steps[s].reg >= 0) target.uniform = target.uniform && regs[size_t(in.steps[s].reg)].uniform;
            for (size_t s = 0; s < in.steps.size(); ++s) {
                const Step& st = in.steps[s];
                const Reg* x = st.reg >= 0 ? &regs[size_t(st.reg)] : nullptr;
                steps[s] = {st.code, x ? x->ptr : nullptr, x && x->uniform && !target.uniform};
            }
            const bool su = a.uniform && !target.uniform;
            const int count_steps = int(in.steps.size());
            if (a.dtype == F32)
                k.chain_f32(reinterpret_cast<const float*>(a.ptr), su, steps, count_steps,
                            reinterpret_cast<float*>(target.ptr), count, stream);
            else
                k.chain_f64(reinterpret_cast<const double*>(a.ptr), su, steps, count_steps,
                            reinterpret_cast<double*>(target.ptr), count, stream);
            target.dtype = a.dtype;
            return;
        }
        const bool two = in.kind == BINARY || in.kind == WHERE;
        const Reg& b = two ? regs[size_t(in.b)] : a;
        const Reg& c = in.kind == WHERE ? regs[size_t(in.c)] : a;
        target.uniform = a.uniform && b.uniform && c.uniform;
        if (in.kind == UNARY && simd_unary(in.op, a.dtype)) {
            if (a.dtype == F32)
                k.unary_f32(in.op, reinterpret_cast<const float*>(a.ptr),
                            reinterpret_cast<float*>(target.ptr), count);
            else
                k.unary_f64(in.op, reinterpret_cast<const double*>(a.ptr),
                            reinterpret_cast<double*>(target.ptr), count);
            target.dtype = a.dtype;
        } else if (in.kind == BINARY && simd_binary(in.op, a.dtype)) {
            const bool as = a.uniform && !target.uniform, bs = b.uniform && !target.uniform;
            if (a.dtype == F32)
                k.binary_f32(in.op, reinterpret_cast<const float*>(a.ptr), as,
                             reinterpret_cast<const float*>(b.ptr), bs,
                             reinterpret_cast<float*>(target.ptr), count, stream);
            else
                k.binary_f64(in.op, reinterpret_cast<const double*>(a.ptr), as,
                             reinterpret_cast<const double*>(b.ptr), bs,
                             reinterpret_cast<double*>(target.ptr), count, stream);
            target.dtype = a.dtype;
        } else {
            const Array result = generic(in, a, b, c, count);
            std::memcpy(target.ptr, result.ptr(), size_t(count) * size_t(result.itemsize()));
            target.dtype = result.dtype;
        }
    }

    // The backend's primitive for an op the SIMD kernels do not cover, on `count` elements.
    static Array generic(const Instruction& in, const Reg& a, const Reg& b, const Reg& c,
                         int64_t count) {
        const Array x = view(a, a.uniform ? 1 : count);
        switch (in.kind) {
            case UNARY: return unary(in.op, x);
            case CAST: return astype(x, DType(in.op));
            case WHERE: return where(view(c, c.uniform ? 1 : count), x, view(b, b.uniform ? 1 : count));
            default: {
                const Array y = view(b, b.uniform ? 1 : count);
                if (is_int(y.dtype) && (in.op == FLOORDIV || in.op == MOD)) check_divisor(y);
                return binary(in.op, x, y);
            }
        }
    }

    // An integer zero divisor traps the CPU (SIGFPE); the core's unfused path never passes
    // one, but a fused expression's divisor is data, so it is checked here.
    static void check_divisor(const Array& y) {
        const int64_t size = y.itemsize(), n = y.numel();
        static const char zeros[8] = {};
        for (int64_t i = 0; i < n; ++i)
            if (std::memcmp(y.ptr() + i * size, zeros, size_t(size)) == 0)
                throw value_error(std::string("fused kernel: integer floordiv/mod by zero (") +
                                  DTYPE_NAMES[y.dtype] + "); give nonzero divisors, or compute "
                                  "in a floating dtype");
    }

    // Copies elements [begin, begin + n) of a strided operand into a tile buffer.
    static void gather(const Walk<1>& walk, int64_t size, int64_t begin, int64_t n, char* dst) {
        switch (size) {
            case 1: return gather_as<uint8_t>(walk, begin, n, dst);
            case 2: return gather_as<uint16_t>(walk, begin, n, dst);
            case 4: return gather_as<uint32_t>(walk, begin, n, dst);
            default: return gather_as<uint64_t>(walk, begin, n, dst);
        }
    }

    template <class U>
    static void gather_as(const Walk<1>& walk, int64_t begin, int64_t n, char* dst) {
        U* to = reinterpret_cast<U*>(dst);
        walk.range(begin, begin + n, [&](const std::array<char*, 1>& p,
                                         const std::array<int64_t, 1>& step, int64_t len) {
            const char* src = p[0];
            if (step[0] == int64_t(sizeof(U))) {
                std::memcpy(to, src, size_t(len) * sizeof(U));
            } else {
                for (int64_t i = 0; i < len; ++i) std::memcpy(to + i, src + i * step[0], sizeof(U));
            }
            to += len;
        });
    }

    // operands[i] is operand first + i.
    void check_operands(const std::vector<Array>& operands, size_t first = 0) const {
        if (first == 0 && operands.size() != operand_dtypes_.size())
            throw value_error("fused kernel takes " + std::to_string(operand_dtypes_.size()) +
                              " operands, got " + std::to_string(operands.size()));
        for (size_t j = 0; j < operands.size(); ++j) {
            const size_t i = first + j;
            if (operands[j].dtype != operand_dtypes_[i] || operands[j].shape != operand_shapes_[i])
                throw type_error("fused kernel operand " + std::to_string(i) + " must be " +
                                 DTYPE_NAMES[operand_dtypes_[i]] + " " +
                                 shape_str(operand_shapes_[i]) + ", got " +
                                 DTYPE_NAMES[operands[j].dtype] + " " +
                                 shape_str(operands[j].shape));
        }
    }

    void check_outputs(const std::vector<Array>& out) const {
        if (out.size() != output_dtypes_.size())
            throw value_error("fused kernel writes " + std::to_string(output_dtypes_.size()) +
                              " outputs, got out with " + std::to_string(out.size()));
        for (size_t k = 0; k < out.size(); ++k)
            if (out[k].dtype != output_dtypes_[k] || out[k].shape != shape_ ||
                !out[k].is_contiguous())
                throw type_error("fused kernel out[" + std::to_string(k) + "] must be a "
                                 "contiguous " + DTYPE_NAMES[output_dtypes_[k]] + " array of "
                                 "shape " + shape_str(shape_) + ", got " +
                                 DTYPE_NAMES[out[k].dtype] + " " + shape_str(out[k].shape) +
                                 (out[k].is_contiguous() ? "" : " (not contiguous)"));
    }

    // A chain's value from its registers' (symbolically, as validate does), checking that it
    // has 1 to CHAIN_STEPS steps of VECTOR ops on one float dtype.
    template <class Reg_, class Bad>
    static Array validate_chain(const Instruction& in, Reg_& reg, Bad bad) {
        using simd::ChainStep;
        if (in.steps.empty() || in.steps.size() > size_t(simd::CHAIN_STEPS))
            bad("a chain has 1 to " + std::to_string(simd::CHAIN_STEPS) + " steps, not " +
                std::to_string(in.steps.size()));
        Array r = reg(in.a);
        if (r.dtype != F32 && r.dtype != F64) bad("a chain on float32/float64 registers only");
        for (const Step& st : in.steps) {
            if (st.code == ChainStep::SQUARE || st.code == ChainStep::CUBE) {
                if (st.reg >= 0) bad("a chain's square or cube reads no register");
                r = binary(MUL, r, r);
            } else if (st.code == ChainStep::GELU_DERIVATIVE) {   // same dtype and shape
                if (st.reg >= 0) bad("a chain's gelu_derivative reads no register");
            } else if (st.code >= ChainStep::UNARY) {
                const int op = st.code - ChainStep::UNARY;
                if (st.reg >= 0 || !unary_has_vector_kernel(op)) bad("chain step code " + std::to_string(st.code));
                r = unary(op, r);
            } else {
                const int op = st.code >> 1;
                if (st.reg < 0 || !binary_has_vector_kernel(op)) bad("chain step code " + std::to_string(st.code));
                const Array& x = reg(st.reg);
                if (x.dtype != r.dtype) bad("a chain's operands share its dtype");
                r = (st.code & 1) ? binary(op, x, r) : binary(op, r, x);
            }
        }
        return r;
    }

    // Checks the program once, by running it symbolically on one-element arrays of ones: every
    // register read was written, every op is defined on its operands' dtypes (the primitives
    // throw type_error otherwise), and each output gets the declared dtype. A malformed program
    // is a value_error here, never an out-of-bounds access in run().
    void validate() {
        auto bad = [](const std::string& why) { throw value_error("invalid fused program: " + why); };
        if (registers_ < 0 || registers_ > 4096) bad("register count " + std::to_string(registers_));
        if (operand_dtypes_.size() != operand_shapes_.size()) bad("operand dtypes/shapes differ in length");
        if (output_registers_.size() != output_dtypes_.size()) bad("output registers/dtypes differ in length");
        checked_numel(shape_, 8);
        for (auto& s : operand_shapes_) broadcast_to(empty(s, U8), shape_);   // value_error if not
        std::vector<Array> value(static_cast<size_t>(registers_));
        std::vector<int> last_writer(static_cast<size_t>(registers_), -1);
        auto reg = [&](int r) -> Array& {
            if (r < 0 || r >= registers_ || !value[size_t(r)].storage)
                bad("register " + std::to_string(r) + " read before it is written");
            return value[size_t(r)];
        };
        for (size_t i = 0; i < code_.size(); ++i) {
            const Instruction& in = code_[i];
            if (in.dst < 0 || in.dst >= registers_) bad("destination register " + std::to_string(in.dst));
            if (in.kind < 0 || in.kind >= NKINDS) bad("instruction kind " + std::to_string(in.kind));
            Array r;
            if (in.kind == LOAD) {
                if (in.op < 0 || size_t(in.op) >= operand_dtypes_.size())
                    bad("operand " + std::to_string(in.op));
                r = full_int({1}, 1, false, operand_dtypes_[size_t(in.op)]);
            } else if (in.kind == CAST) {
                if (in.op < 0 || in.op >= NDTYPES) bad("cast to dtype code " + std::to_string(in.op));
                r = astype(reg(in.a), DType(in.op));
            } else if (in.kind == UNARY) {   // op codes come from unary_op_code: in range
                r = unary(in.op, reg(in.a));
            } else if (in.kind == BINARY) {
                r = binary(in.op, reg(in.a), reg(in.b));
            } else if (in.kind == CHAIN) {
                r = validate_chain(in, reg, [&](const std::string& why) {
                    bad("instruction " + std::to_string(i) + ": " + why);
                });
            } else {
                r = where(reg(in.c), reg(in.a), reg(in.b));
            }
            value[size_t(in.dst)] = r;
            last_writer[size_t(in.dst)] = int(i);
        }
        // Which instructions compute uniform values (one element for all: constants, scalars,
        // inputs of one element, ops on nothing else); a register holding one is written once.
        const int64_t numel = checked_numel(shape_, 8);
        std::vector<char> reg_uniform(static_cast<size_t>(registers_), 0);
        std::vector<int> writes(static_cast<size_t>(registers_), 0);
        for (const Instruction& in : code_) {
            bool u;
            if (in.kind == LOAD) {
                u = numel <= 1 || checked_numel(operand_shapes_[size_t(in.op)], 8) == 1;
            } else {
                u = true;
                for (int r : in.reads()) u = u && reg_uniform[size_t(r)];
            }
            uniform_.push_back(u);
            ++writes[size_t(in.dst)];
            if (u && writes[size_t(in.dst)] > 1) bad("uniform register " + std::to_string(in.dst) + " is written twice");
            if (!u && reg_uniform[size_t(in.dst)]) bad("register " + std::to_string(in.dst) + " holds a uniform and a tile value");
            reg_uniform[size_t(in.dst)] = u;
        }
        // The last instruction reading each operand in place (a register LOADed from it, until
        // the register is written again): an output that is that operand may be written
        // directly from then on. An operand only read before all tiles (uniform) counts -1.
        last_read_.assign(operand_dtypes_.size(), -1);
        std::vector<int> holds(static_cast<size_t>(registers_), -1);
        for (size_t i = 0; i < code_.size(); ++i) {
            const Instruction& in = code_[i];
            if (in.kind != LOAD) {
                for (int r : in.reads())
                    if (holds[size_t(r)] >= 0 && !uniform_[i]) last_read_[size_t(holds[size_t(r)])] = int(i);
            }
            holds[size_t(in.dst)] = in.kind == LOAD ? in.op : -1;
        }
        for (int r : output_registers_) {   // an output that is an operand is read when stored
            const bool held = r >= 0 && r < registers_ && holds[size_t(r)] >= 0;
            output_operands_.push_back(held ? holds[size_t(r)] : -1);
            if (held) last_read_[size_t(holds[size_t(r)])] = int(code_.size());
        }
        for (size_t o = 0; o < output_registers_.size(); ++o) {
            const Array& r = reg(output_registers_[o]);
            if (r.dtype != output_dtypes_[o])
                bad("output " + std::to_string(o) + " is declared " + DTYPE_NAMES[output_dtypes_[o]] +
                    " but computes " + DTYPE_NAMES[r.dtype]);
        }
        // An instruction writing an output directly must be the last writer of the register that
        // output is stored from, or the memory would hold an intermediate.
        for (size_t i = 0; i < code_.size(); ++i) {
            const int o = code_[i].output;
            if (o < 0) continue;
            if (size_t(o) >= output_registers_.size() || code_[i].kind == LOAD ||
                last_writer[size_t(output_registers_[size_t(o)])] != int(i))
                bad("instruction " + std::to_string(i) + " cannot write output " + std::to_string(o));
        }
    }

private:
    std::vector<Instruction> code_;
    std::vector<char> uniform_;   // per instruction: computes a uniform value (see validate)
    std::vector<int> last_read_;  // per operand (see validate)
    std::vector<int> output_operands_;   // per output: the operand it is, unchanged (or -1)
    int registers_;
    std::vector<DType> operand_dtypes_;
    std::vector<Shape> operand_shapes_;
    std::vector<int> output_registers_;
    std::vector<DType> output_dtypes_;
    Shape shape_;
    int inputs_;
    std::vector<Array> constants_;
};

// A chain's steps from Python: (name, register, swapped) each, name a unary op (register -1),
// "square", "cube" or "gelu_derivative" (register -1), or a binary op (acc op register; register op acc when
// swapped).
std::vector<Step> chain_steps(const py::tuple& w) {
    using simd::ChainStep;
    std::vector<Step> steps;
    for (const py::handle& item : w[7].cast<py::list>()) {
        const auto t = item.cast<py::tuple>();
        if (t.size() != 3) throw value_error("a chain step is (name, register, swapped)");
        const std::string name = t[0].cast<std::string>();
        const int reg = t[1].cast<int>();
        const bool swapped = t[2].cast<bool>();
        int code;
        if (name == "square") code = ChainStep::SQUARE;
        else if (name == "gelu_derivative") code = ChainStep::GELU_DERIVATIVE;
        else if (name == "cube") code = ChainStep::CUBE;
        else if (reg < 0) code = ChainStep::UNARY + unary_op_code(name);
        else code = 2 * binary_op_code(name) + (swapped ? 1 : 0);
        steps.push_back({code, reg});
    }
    return steps;
}

}  // namespace

void init_fusion(py::module_& m) {
    py::class_<FusedKernel>(m, "FusedKernel",
                            "A fused elementwise program (built by micrograd_cpu.fusion).")
        .def(py::init([](const std::vector<py::tuple>& code, int registers,
                         const std::vector<int>& operand_dtypes,
                         const std::vector<Shape>& operand_shapes,
                         const std::vector<int>& output_registers,
                         const std::vector<int>& output_dtypes, const Shape& shape, int inputs,
                         std::vector<Array> constants) {
                 auto dtype = [](int code) {
                     if (code < 0 || code >= NDTYPES)
                         throw value_error("unknown dtype code " + std::to_string(code));
                     return DType(code);
                 };
                 std::vector<Instruction> program;
                 for (auto& w : code) {
                     if (w.size() != 7 && w.size() != 8)
                         throw value_error("a fused instruction has 7 fields (a chain 8)");
                     int f[7];
                     for (int i = 0; i < 7; ++i)
                         f[i] = i == 1 ? 0 : w[size_t(i)].cast<int>();
                     if ((f[0] == CHAIN) != (w.size() == 8))
                         throw value_error("a chain (kind 5), and only a chain, has an 8th field: its steps");
                     // unary and binary ops by name (an unknown one is a value_error)
                     Instruction in{f[0], 0, f[2], f[3], f[4], f[5], f[6]};
                     if (f[0] == UNARY) {
                         in.op = unary_op_code(w[1].cast<std::string>());
                     } else if (f[0] == BINARY) {
                         in.op = binary_op_code(w[1].cast<std::string>());
                     } else if (f[0] != CHAIN) {
                         in.op = w[1].cast<int>();
                     }
                     if (f[0] == CHAIN) in.steps = chain_steps(w);
                     program.push_back(in);
                 }
                 std::vector<DType> ins, outs;
                 for (int c : operand_dtypes) ins.push_back(dtype(c));
                 for (int c : output_dtypes) outs.push_back(dtype(c));
                 return FusedKernel(std::move(program), registers, std::move(ins), operand_shapes,
                                    output_registers, std::move(outs), shape, inputs,
                                    std::move(constants));
             }),
             py::arg("code"), py::arg("registers"), py::arg("operand_dtypes"),
             py::arg("operand_shapes"), py::arg("output_registers"), py::arg("output_dtypes"),
             py::arg("shape"), py::arg("inputs") = -1, py::arg("constants") = std::vector<Array>{},
             "code: (kind, op, dst, a, b, c, output) instructions (op: a unary/binary op name, "
             "a pair's 'op1 op2[~]', a cast's dtype code or a load's operand index); operands: "
             "`inputs` per call, `constants`, then the call's scalars; checked here once.")
        .def("run", [](const FusedKernel& k, std::vector<Array> inputs, std::vector<Array> scalars,
                       std::vector<Array> out) {
                 int64_t n = 1;
                 for (auto& o : out) n = std::max<int64_t>(n, o.numel());
                 for (auto& x : inputs) n = std::max<int64_t>(n, x.numel());
                 if (n >= (1 << 15)) {
                     py::gil_scoped_release release;
                     return k.call(std::move(inputs), std::move(scalars), std::move(out));
                 }
                 return k.call(std::move(inputs), std::move(scalars), std::move(out));
             },
             py::arg("inputs"), py::arg("scalars"), py::arg("out"),
             "The outputs (written into `out` when it is not empty) from the inputs and the "
             "scalars (0-d arrays of their dtypes).");
}

}  // namespace mgcpu
