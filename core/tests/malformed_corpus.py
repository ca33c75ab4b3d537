"""A corpus of malformed calls: each must raise a typed exception whose message names the problem.

Every case is a statement run against fresh fixtures (``x`` a (2, 3) float32 tensor, ``xi`` an
int64 one, ``img`` a (1, 1, 4, 4) image, ...) on one backend, with the exception class it must
raise and a regular expression its message must match. ``torch=True`` cases are also run against
PyTorch 2.13 (the same statement with ``mg`` bound to ``torch``) and must raise the same class
there: PyTorch is the oracle for *whether* a call is malformed and for the exception type.

Run as a script (``python malformed_corpus.py --backend cpu``), it executes every case on that
backend and prints one JSON line per case (``START`` lines first, so a crash names its case);
``test_malformed_corpus.py`` runs it in a subprocess per installed backend, so a segfault is a
reported failure, not a dead test session.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    family: str
    code: str
    error: type
    message: str          # regular expression, searched case-insensitively
    torch: bool = True    # PyTorch raises the same exception class for the same statement


CASES: list[Case] = []


def case(family, code, error, message, torch=True):
    CASES.append(Case(family, code, error, message, torch))


# ------------------------------------------------------------------ shapes: creation
CREATORS = ["zeros", "ones", "empty", "rand", "randn"]
for fn in CREATORS:
    case("shapes", f"mg.{fn}(-1)", RuntimeError, r"negative dimension -1")
    case("shapes", f"mg.{fn}(2, -3)", RuntimeError, r"negative dimension -3.*\[2, -3\]")
    case("shapes", f"mg.{fn}(2.5)", TypeError, r"'size'.*float 2\.5")
    case("shapes", f"mg.{fn}((2, 1.5))", TypeError, r"'size'.*float 1\.5")
    case("shapes", f"mg.{fn}('3')", TypeError, r"'size'.*str", torch=True)
    case("shapes", f"mg.{fn}(None)", TypeError, r"'size'.*NoneType")
    case("shapes", f"mg.{fn}(2**62, 4)", RuntimeError, r"Storage size calculation overflowed")
    case("shapes", f"mg.{fn}(2**31, 2**31, 4)", RuntimeError, r"overflowed.*2147483648")
    case("shapes", f"mg.{fn}(2**64)", RuntimeError, r"overflowed", torch=False)  # torch: TypeError
    case("shapes", f"mg.{fn}((3, -1))", RuntimeError, r"negative dimension -1")
for dtype in ["float32", "float64", "int64", "int32", "int16", "float16"]:
    case("shapes", f"mg.zeros(2**61, 4, dtype=mg.{dtype})", RuntimeError,
         rf"overflowed.*{dtype}")
    case("shapes", f"mg.full((2**63 - 1,), 1, dtype=mg.{dtype})", RuntimeError, r"overflowed")
case("shapes", "mg.full((-2,), 1.0)", RuntimeError, r"negative dimension -2")
case("shapes", "mg.full((2, 2.0), 1.0)", TypeError, r"'size'.*float 2\.0")
case("shapes", "mg.full((2**63 - 1,), 1.0)", RuntimeError, r"overflowed.*9223372036854775807")
case("shapes", "mg.zeros(True)", TypeError, r"bool", torch=False)   # torch reads True as 1
case("shapes", "mg.randint(0, 5, (-1,))", RuntimeError, r"negative dimension -1")
case("shapes", "mg.randint(0, 5, (2**62, 4))", RuntimeError, r"overflowed")
case("shapes", "mg.randint(0, 5, (2.5,))", TypeError, r"'size'.*float")
case("shapes", "mg.randint(5, 0, (2,))", RuntimeError, r"from=5 >= to=0")
case("shapes", "mg.randperm(-1)", RuntimeError, r"negative dimension -1")
case("shapes", "mg.randperm(2.5)", TypeError, r"float 2\.5")
case("shapes", "mg.randperm(2**62)", RuntimeError, r"overflowed")
case("shapes", "mg.eye(-1)", RuntimeError, r"n must be non-negative, got -1")
case("shapes", "mg.eye(3, -2)", RuntimeError, r"m must be non-negative, got -2")
case("shapes", "mg.eye(2.5)", TypeError, r"'n'.*float", torch=True)
case("shapes", "mg.eye(2**40, 2**40)", RuntimeError, r"overflowed")
case("shapes", "mg.linspace(0, 1, -1)", RuntimeError, r"steps must be non-negative")
case("shapes", "mg.linspace(0, 1, 2.5)", TypeError, r"'steps'.*float")
case("shapes", "mg.linspace(0, 1, 2**62)", RuntimeError, r"overflowed")
case("shapes", "mg.logspace(0, 1, -3)", RuntimeError, r"steps must be non-negative")
case("shapes", "x.new_zeros((-1, 2))", RuntimeError, r"negative dimension -1")
case("shapes", "x.new_ones(2**62, 4)", RuntimeError, r"overflowed")
case("shapes", "x.new_full((2.5,), 1.0)", TypeError, r"'size'.*float")
case("shapes", "mg.zeros_like(x).new_empty((2, -5))", RuntimeError, r"negative dimension -5")

# ------------------------------------------------------------------ shapes: arange
case("arange", "mg.arange(0, 2**61)", RuntimeError, r"overflowed.*2305843009213693952")
case("arange", "mg.arange(0, 1e30, 1e-10)", RuntimeError, r"invalid size, possible overflow")
case("arange", "mg.arange(0, 5, 0.5, dtype=mg.int64)", ValueError, r"step must be nonzero")
case("arange", "mg.arange(0, 5, 0.5, dtype=mg.int32)", ValueError, r"step must be nonzero",
     torch=False)    # torch returns ten zeros here: a silent wrong result we refuse
case("arange", "mg.arange(0, 5, 0)", RuntimeError, r"step must be nonzero")
case("arange", "mg.arange(0, 5, -1)", RuntimeError, r"inconsistent with step sign")
case("arange", "mg.arange(5, 0, 1)", RuntimeError, r"inconsistent with step sign")
case("arange", "mg.arange(0, float('inf'))", RuntimeError, r"must be finite")
case("arange", "mg.arange(0, float('nan'))", RuntimeError, r"must be finite")
case("arange", "mg.arange(0, 10, dtype=mg.bool)", NotImplementedError, r"bool")
case("arange", "mg.arange('a')", TypeError, r"'end'.*str")
case("arange", "mg.arange(0, 3, None)", TypeError, r"'step'.*NoneType")

# ------------------------------------------------------------------ shapes: movement
case("movement", "x.reshape(-2)", RuntimeError, r"invalid shape dimension -2")
case("movement", "x.reshape(4, -1)", RuntimeError, r"invalid for input of size 6")
case("movement", "x.reshape(-1, -1)", RuntimeError, r"only one dimension can be inferred")
case("movement", "x.reshape(7)", RuntimeError, r"invalid for input of size 6")
case("movement", "x.reshape(2.0, 3)", TypeError, r"float 2\.0")
case("movement", "x.reshape(0, -1)", RuntimeError, r"invalid for input of size 6")
case("movement", "x.view(-1, 4)", RuntimeError, r"invalid for input of size 6")
case("movement", "x.view(-3, 2)", RuntimeError, r"invalid shape dimension -3")
case("movement", "x.t().view(6)", RuntimeError, r"not compatible.*reshape")
case("movement", "x.t().view(-1)", RuntimeError, r"not compatible.*reshape")
case("movement", "x.permute(1, 0).view(3, 2).view(6)", RuntimeError, r"Use \.reshape")
case("movement", "x.unsqueeze(0).expand(2, 2, 3).view(12)", RuntimeError, r"not compatible")
case("movement", "mg.randn(4, 4)[:, :2].view(8)", RuntimeError, r"not compatible")
case("movement", "mg.randn(4, 4)[::2].view(8)", RuntimeError, r"not compatible")
case("movement", "mg.randn(2, 3, 4).transpose(0, 2).view(24)", RuntimeError, r"not compatible")
  # x is contiguous: our check must not fire -> see the positive tests
case("movement", "x.t().view_as(mg.zeros(6))", RuntimeError, r"not compatible")
case("movement", "x.view(mg.float64)", NotImplementedError, r"reinterpret", torch=False)
case("movement", "x.expand(-2)", RuntimeError, r"number of sizes provided \(1\)")
case("movement", "x.expand(-2, 3)", RuntimeError, r"expanded size")
case("movement", "x.expand(3, 3)", RuntimeError, r"expanded size of the tensor \(3\) must match")
case("movement", "x.expand(3)", RuntimeError, r"number of sizes provided \(1\)")
case("movement", "mg.ones(1, 3).expand(-2, 3)", RuntimeError, r"expanded size", torch=False)
case("movement", "mg.ones(1).expand(2**62, 4)", RuntimeError, r"overflowed", torch=False)
case("movement", "x.expand(-1, 3, 3)", RuntimeError, r"-1.*isn't allowed in a leading")
case("movement", "x.expand(2.5, 3)", TypeError, r"float")
case("movement", "x.repeat(-1, 1)", RuntimeError, r"non-negative|negative")
case("movement", "x.repeat(-1)", RuntimeError, r"negative")
case("movement", "x.repeat(2)", RuntimeError, r"can not be smaller")
case("movement", "x.repeat(2**62, 4)", RuntimeError, r"overflowed")
case("movement", "x.repeat(1.5, 1)", TypeError, r"float")
case("movement", "x.tile((-1,))", RuntimeError, r"negative")
case("movement", "x.tile((2**62, 4))", RuntimeError, r"overflowed")
case("movement", "x.repeat_interleave(-1)", RuntimeError, r"non-negative", torch=True)
case("movement", "x.permute(0, 0)", RuntimeError, r"duplicate dims")
case("movement", "x.permute(0)", RuntimeError, r"number of dim")
case("movement", "x.permute(0, 2)", IndexError, r"Dimension out of range")
case("movement", "x.permute(0, 1.0)", TypeError, r"float")
case("movement", "x.movedim((0, 0), (0, 1))", RuntimeError, r"repeated dim in `source`")
case("movement", "x.movedim((0, 1), (1, 1))", RuntimeError, r"repeated dim in `destination`")
case("movement", "x.movedim((0, 1), (1,))", RuntimeError, r"same number of dims")
case("movement", "x.movedim(3, 0)", IndexError, r"Dimension out of range")
case("movement", "x.transpose(0, 2)", IndexError, r"Dimension out of range")
case("movement", "x.transpose(-3, 0)", IndexError, r"Dimension out of range")
case("movement", "mg.randn(2, 3, 4).t()", RuntimeError, r"<= 2 dimensions")
case("movement", "x.squeeze(2)", IndexError, r"Dimension out of range")
case("movement", "x.unsqueeze(3)", IndexError, r"Dimension out of range")
case("movement", "x.unsqueeze(-4)", IndexError, r"Dimension out of range")
case("movement", "x.flatten(1, 0)", RuntimeError, r"start_dim cannot come after end_dim")
case("movement", "x.flatten(0, 5)", IndexError, r"Dimension out of range")
case("movement", "x.unflatten(1, (2, 2))", RuntimeError, r"invalid for input of size 3")
case("movement", "x.narrow(1, 2, 2)", IndexError, r"exceeds dimension size", torch=False)
case("movement", "x.narrow(1, 0, -1)", IndexError, r"length \(-1\)", torch=False)
case("movement", "x.select(0, 2)", IndexError, r"out of bounds|out of range")
case("movement", "x.select(2, 0)", IndexError, r"Dimension out of range")
case("movement", "x.split(0)", RuntimeError, r"split_size must be positive", torch=False)
case("movement", "x.split([1, 1], 1)", RuntimeError, r"sum exactly to 3")
case("movement", "x.chunk(0)", RuntimeError, r"chunks.*greater than 0")
case("movement", "x.flip(2)", IndexError, r"Dimension out of range")
case("movement", "mg.cat([])", ValueError, r"non-empty")
case("movement", "mg.cat([x, mg.randn(3, 2)])", RuntimeError, r"Sizes of tensors must match")
case("movement", "mg.cat([x, mg.randn(2, 3)], 2)", IndexError, r"Dimension out of range")
case("movement", "mg.cat([x, mg.randn(2)], 0)", RuntimeError, r"must match|same number of dim")
case("movement", "mg.stack([x, mg.randn(3, 2)])", RuntimeError, r"equal size")
case("movement", "mg.stack([])", RuntimeError, r"non-empty")
case("movement", "mg.stack([x, x], 3)", IndexError, r"Dimension out of range")
case("movement", "F.pad(x, (1,))", RuntimeError, r"divisible by 2")
case("movement", "F.pad(x, (1, 1, 1, 1, 1, 1))", RuntimeError, r"at most twice|Padding length")
case("movement", "F.pad(x, (1, 1), mode='bogus')", NotImplementedError, r"bogus",
     torch=False)
case("movement", "mg.broadcast_to(x, (3, 3))", RuntimeError, r"expanded size")
case("movement", "mg.broadcast_tensors(x, mg.randn(3, 2))", RuntimeError,
     r"cannot be broadcast|must match")

# ------------------------------------------------------------------ dtypes and conversion
case("dtypes", "mg.tensor([2**64])", OverflowError, r"18446744073709551616.*overflow",
     torch=False)   # torch: ValueError "Overflow when unpacking long long"
case("dtypes", "mg.tensor([[1, 2], [2**70, 3]])", OverflowError, r"1180591620717411303424",
     torch=False)
case("dtypes", "mg.tensor([-2**63 - 1])", OverflowError, r"-9223372036854775809", torch=False)
case("dtypes", "mg.tensor([300], dtype=mg.uint8)", OverflowError, r"300.*uint8", torch=False)
case("dtypes", "mg.tensor([-1], dtype=mg.uint8)", OverflowError, r"-1.*uint8", torch=False)
case("dtypes", "mg.tensor([2**31], dtype=mg.int32)", OverflowError, r"2147483648.*int32",
     torch=False)
case("dtypes", "mg.tensor([[1, 2], [3]])", ValueError, r"rectangular")
case("dtypes", "mg.tensor([1, [2]])", ValueError, r"rectangular", torch=False)
case("dtypes", "mg.tensor([None])", TypeError, r"could not infer a dtype|hold numbers",
     torch=False)    # torch: RuntimeError
case("dtypes", "mg.tensor('abc')", TypeError, r"str|<U3")
case("dtypes", "mg.tensor([1.0], dtype=mg.float32).to('float33')", (ValueError, RuntimeError,
                                                                        TypeError),
     r"float33", torch=False)
case("dtypes", "mg.tensor([1+2j])", TypeError, r"complex", torch=False)
case("dtypes", "mg.from_numpy([1, 2])", TypeError, r"expected np\.ndarray \(got list\)")
case("dtypes", "mg.from_numpy(np.array(['a']))", TypeError, r"<U1", torch=True)
case("dtypes", "mg.from_numpy(np.array([object()]))", TypeError, r"object", torch=True)
case("dtypes", "mg.zeros(2, dtype=np.complex64)", TypeError, r"complex", torch=False)
case("dtypes", "mg.zeros(2, dtype='nonsense')", TypeError, r"nonsense", torch=True)
case("dtypes", "xi.requires_grad_()", RuntimeError, r"only Tensors of floating point dtype")
case("dtypes", "mg.zeros(2, dtype=mg.int64, requires_grad=True)", RuntimeError,
     r"floating point")
case("dtypes", "mg.tensor([1, 2], requires_grad=True)", RuntimeError, r"floating point")
case("dtypes", "x.item()", RuntimeError, r"6 elements cannot be converted to Scalar")
case("dtypes", "float(x)", ValueError, r"only one element tensors.*\(2, 3\)")
case("dtypes", "int(mg.zeros(0))", ValueError, r"only one element tensors.*\(0,\)")
case("dtypes", "bool(x)", RuntimeError, r"ambiguous")
case("dtypes", "len(mg.tensor(1.0))", TypeError, r"0-d tensor")
case("dtypes", "iter(mg.tensor(1.0))", TypeError, r"0-d tensor")
case("dtypes", "[0, 1, 2][mg.tensor(1.5)]", TypeError, r"integer tensors|index")
case("dtypes", "p.numpy()", RuntimeError, r"requires grad.*detach")
case("dtypes", "mg.tensor([1.0], dtype=mg.bfloat16).numpy()", TypeError, r"BFloat16")
case("dtypes", "x.bitwise_and(x)", TypeError, r"bitwise_and.*integer and bool", torch=False)
case("dtypes", "~x", TypeError, r"bitwise_not.*integer and bool", torch=False)
case("dtypes", "x ^ x", TypeError, r"bitwise_xor.*integer and bool", torch=False)
case("dtypes", "xi // 0", ZeroDivisionError, r"division by zero", torch=False)
case("dtypes", "xi % mg.zeros(2, 3, dtype=mg.int64)", ZeroDivisionError, r"modulo by zero",
     torch=False)    # torch: RuntimeError "ZeroDivisionError"
case("dtypes", "x.to(mg.int64).requires_grad_(True)", RuntimeError, r"floating point")
case("dtypes", "xi.mean()", RuntimeError, r"mean.*(floating|dtype)|Long")
case("dtypes", "xi.std()", RuntimeError, r"floating|dtype|Long")
case("dtypes", "xi.var()", RuntimeError, r"floating|dtype|Long")
case("dtypes", "mg.set_default_dtype(mg.int64)", TypeError, r"floating dtype")

# ------------------------------------------------------------------ elementwise and broadcasting
for op in ["+", "-", "*", "/", "**", "==", "<", ">=", "%", "//"]:
    case("broadcast", f"x {op} mg.randn(3, 2)", RuntimeError,
         r"cannot be broadcast|must match the size")
for fn in ["maximum", "minimum", "atan2", "logical_and", "eq", "lerp"]:
    args = "x, mg.randn(4), 0.5" if fn == "lerp" else "x, mg.randn(4)"
    case("broadcast", f"mg.{fn}({args})", RuntimeError, r"cannot be broadcast|must match")
case("broadcast", "mg.where(xb, x, mg.randn(4))", RuntimeError, r"cannot be broadcast|must match")
case("broadcast", "x.add_(mg.randn(2, 2, 3))", RuntimeError, r"broadcast|shape")
case("broadcast", "x.mul_(mg.randn(3, 3))", RuntimeError, r"broadcast|must match")
case("broadcast", "xi.add_(1.5)", RuntimeError, r"can't be cast|cast|Long")
case("broadcast", "xi.mul_(x[0])", RuntimeError, r"can't be cast|cast")
case("broadcast", "xb.add_(1)", RuntimeError, r"can't be cast|cast|Bool")
case("broadcast", "x.clamp()", (RuntimeError, ValueError, TypeError), r"min.*max|At least one")
case("broadcast", "x.lerp(x, x[:, :1].t())", RuntimeError, r"cannot be broadcast|must match")

# ------------------------------------------------------------------ reductions
for fn in ["sum", "mean", "prod", "amax", "amin", "argmax", "argmin", "std", "var",
           "logsumexp", "softmax", "log_softmax", "cumsum", "all", "any", "count_nonzero"]:
    base = "xb" if fn in ("all", "any") else "x"
    case("reduction", f"{base}.{fn}(dim=2)", IndexError, r"Dimension out of range")
    if fn in ("sum", "mean", "amax", "amin", "std", "var", "logsumexp"):
        case("reduction", f"x.{fn}(dim=(0, 0))", RuntimeError, r"appears multiple times")
        case("reduction", f"x.{fn}(dim=-3)", IndexError, r"Dimension out of range")
for fn in ["max", "min", "amax", "amin", "argmax", "argmin"]:
    case("reduction", f"mg.zeros(0).{fn}()", (RuntimeError, IndexError),
         r"empty|zero|numel|non-empty|Expected reduction dim")
case("reduction", "mg.zeros(2, 0).max(1)", (RuntimeError, IndexError), r"empty|zero|reduction dim")
case("reduction", "x.norm(p='nuc')", NotImplementedError, r"nuc.*singular values", torch=False)
case("reduction", "x.sum(dim=1.5)", TypeError, r"float|int", torch=True)

# ------------------------------------------------------------------ linear algebra
case("linalg", "x @ x", RuntimeError, r"cannot be multiplied|2x3 and 2x3")
case("linalg", "mg.matmul(x, mg.randn(4))", RuntimeError, r"mismatch|cannot be multiplied|size")
case("linalg", "mg.mm(x, mg.randn(3))", RuntimeError, r"2D|2-D|matrix|matrices")
case("linalg", "mg.mm(x, x)", RuntimeError, r"cannot be multiplied|2x3 and 2x3")
case("linalg", "mg.bmm(x, x)", RuntimeError, r"3D|3-D|batch")
case("linalg", "mg.bmm(mg.randn(2, 2, 3), mg.randn(3, 3, 2))", RuntimeError,
     r"Expected size for first two dimensions of batch2")
case("linalg", "mg.dot(v, mg.randn(4))", RuntimeError, r"same number of elements")
case("linalg", "mg.dot(x, x)", RuntimeError, r"1D|1-D")
case("linalg", "mg.matmul(mg.tensor(1.0), v)", RuntimeError, r"at least 1|0-d|dimension")
case("linalg", "mg.outer(x, v)", RuntimeError, r"1D|1-D|vector")
case("linalg", "F.linear(x, mg.randn(2, 4))", RuntimeError,
     r"3 features but weight of shape \(2, 4\) expects 4", torch=True)
case("linalg", "F.linear(x, mg.randn(2, 3), mg.randn(3))", RuntimeError,
     r"broadcast|must match|bias")
case("linalg", "mg.addmm(mg.randn(2, 2), x, x)", RuntimeError, r"cannot be multiplied|2x3")

# ------------------------------------------------------------------ indexing
case("indexing", "x[2]", IndexError, r"index 2 is out of bounds for dimension 0 with size 2")
case("indexing", "x[-3]", IndexError, r"out of bounds")
case("indexing", "x[0, 3]", IndexError, r"out of bounds for dimension 1 with size 3")
case("indexing", "x[0, 0, 0]", IndexError, r"too many indices")
case("indexing", "x[1.5]", IndexError, r"only integers|float|index", torch=False)
case("indexing", "x['a']", (IndexError, TypeError), r"only integers|str|index", torch=False)
case("indexing", "x[mg.tensor([0, 2])]", IndexError, r"index 2 is out of bounds|out of bounds")
case("indexing", "x[mg.tensor([-3])]", IndexError, r"out of bounds")
case("indexing", "x[mg.tensor([0.0])]", IndexError, r"long|int|bool|tensors used as indices")
case("indexing", "x[mg.tensor([True, False, True])]", IndexError,
     r"shape of the mask|does not match")
case("indexing", "x[xb[:, :2]]", IndexError, r"shape of the mask|does not match")
case("indexing", "x[0] = mg.ones(5)", RuntimeError, r"expand|shape|broadcast|size")
case("indexing", "x[:, 0] = mg.ones(3)", RuntimeError, r"expand|shape|broadcast|size")
case("indexing", "x[5] = 1.0", IndexError, r"out of bounds")
case("indexing", "x[mg.tensor([4])] = 1.0", IndexError, r"out of bounds")
case("indexing", "x.gather(1, mg.tensor([[0], [3]]))", (RuntimeError, IndexError),
     r"index 3 is out of bounds|out of bounds")
case("indexing", "x.gather(1, mg.tensor([[0.0]]))", (TypeError, RuntimeError),
     r"int64|Long|index")
case("indexing", "x.gather(1, mg.tensor([0, 1]))", RuntimeError, r"same number of dimensions")
case("indexing", "x.gather(2, xi)", IndexError, r"Dimension out of range")
case("indexing", "x.gather(0, mg.zeros(3, 4, dtype=mg.int64))", RuntimeError,
     r"Size does not match at dimension 1")
case("indexing", "x.scatter(1, mg.tensor([[3]]), 1.0)", (RuntimeError, IndexError),
     r"out of bounds")
case("indexing", "x.scatter_add(1, mg.tensor([[-4]]), x)", (RuntimeError, IndexError),
     r"out of bounds")
case("indexing", "x.scatter(1, mg.tensor([[0.5]]), 1.0)", (TypeError, RuntimeError),
     r"int64|Long|index")
case("indexing", "x.index_select(0, mg.tensor([2]))", (IndexError, RuntimeError),
     r"out of (bounds|range)")
case("indexing", "x.index_select(0, mg.tensor([[0]]))", IndexError, r"vector")
case("indexing", "x.index_select(0, mg.tensor([0.0]))", (TypeError, RuntimeError),
     r"int64|Long|IntTensor")
case("indexing", "x.index_select(2, mg.tensor([0]))", IndexError, r"Dimension out of range")
case("indexing", "x.masked_fill(xi, 0.0)", RuntimeError, r"bool|mask")
case("indexing", "x.masked_fill(mg.tensor([True, False]), 0.0)", RuntimeError,
     r"broadcast|must match")
case("indexing", "x.masked_select(mg.tensor([True, False]))", RuntimeError,
     r"broadcast|must match")
case("indexing", "mg.take_along_dim(x, mg.tensor([[5]]), 1)", (IndexError, RuntimeError),
     r"out of bounds", torch=False)     # torch 2.13 on CPU reads out of bounds here
case("indexing", "x.narrow(0, -5, 1)", IndexError, r"start|out of range|exceeds", torch=False)
case("indexing", "x.index_select(1, mg.tensor([-4]))", (IndexError, RuntimeError),
     r"out of (bounds|range)")

# ------------------------------------------------------------------ devices (index tensors too)
for other in ["other0", "other1"]:       # the two installed backends that are not under test
    for name, code in [
            ("getitem", "x[mg.tensor([0, 1], device=OTHER)]"),
            ("index_select", "x.index_select(1, mg.tensor([0, 1], device=OTHER))"),
            ("gather", "x.gather(1, mg.tensor([[0], [1]], device=OTHER))"),
            ("scatter", "x.scatter(1, mg.tensor([[0], [1]], device=OTHER), 1.0)"),
            ("scatter_add", "x.scatter_add(1, mg.tensor([[0], [1]], device=OTHER), x[:, :1])"),
            ("embedding", "F.embedding(mg.tensor([0, 1], device=OTHER), x)"),
            ("cross_entropy", "F.cross_entropy(x, mg.tensor([0, 1], device=OTHER))"),
            ("add", "x + mg.ones(2, 3, device=OTHER)"),
            ("matmul", "x @ mg.ones(3, 2, device=OTHER)"),
            ("where", "mg.where(xb, x, mg.ones(2, 3, device=OTHER))")]:
        case("devices", code.replace("OTHER", other), RuntimeError,
             r"same device.*(numpy|cpu|metal).*(numpy|cpu|metal)", torch=False)

# ------------------------------------------------------------------ autograd
case("autograd", "y = (p * 2).sum(); y.backward(); y.backward()", RuntimeError,
     r"backward through the graph a second time|retain_graph")
case("autograd", "(p * 2).backward()", RuntimeError, r"implicitly created.*scalar")
case("autograd", "(p * 2).backward(mg.ones(4))", RuntimeError, r"shape|size|Mismatch")
case("autograd", "x.sum().backward()", RuntimeError, r"does not require grad|grad_fn")
case("autograd", "p.detach().sum().backward()", RuntimeError, r"does not require grad")
case("autograd", "p.add_(1)", RuntimeError, r"leaf Variable that requires grad")
case("autograd", "p[0] = 1.0", RuntimeError, r"leaf Variable that requires grad|view of a leaf")
case("autograd", "p.zero_()", RuntimeError, r"leaf Variable")
case("autograd", "x.register_hook(lambda g: g)", RuntimeError,
     r"doesn't require gradient")
case("autograd", "x.retain_grad()", RuntimeError, r"requires_grad=False")
case("autograd", "(p * 1).requires_grad_(False)", RuntimeError, r"leaf variables")
case("autograd", "p.grad = mg.ones(4)", RuntimeError, r"different size")
case("autograd", "p.grad = mg.ones(3, dtype=mg.float64)", RuntimeError, r"different type")
case("autograd", "p.grad = [1.0]", TypeError, r"Tensor or None")
case("autograd", "mg.autograd.grad((p * 2).sum(), [x])", RuntimeError,
     r"does not require grad|not have been used|unused")
case("autograd", "q = p * 2; y = q.sin(); q.mul_(2); y.sum().backward()", RuntimeError,
     r"modified by an inplace operation|version")
case("autograd", "mg.autograd.grad((p * 2).sum(), p, grad_outputs=mg.ones(2))", RuntimeError,
     r"shape|size|Mismatch")
case("autograd", "p.data = [1]", TypeError, r"Tensor")
case("autograd", "mg.autograd.grad(p.sum(), [])", RuntimeError, r"empty|inputs|grad requires")

# ------------------------------------------------------------------ nn: losses
case("nn", "F.cross_entropy(xi, mg.tensor([0, 1]))", NotImplementedError, r"Long|int64")
case("nn", "F.cross_entropy(x.long(), mg.tensor([0, 1]), reduction='sum')", NotImplementedError,
     r"Long|int64")
case("nn", "F.nll_loss(xi, mg.tensor([0, 1]))", (NotImplementedError, RuntimeError),
     r"Long|int64")
case("nn", "F.cross_entropy(x, mg.tensor([0, 1]), weight=mg.ones(2))", RuntimeError,
     r"weight tensor should be defined either for all 3 classes.*\[2\]")
case("nn", "F.cross_entropy(x, mg.tensor([0, 1]), weight=mg.ones(4))", RuntimeError,
     r"all 3 classes")
case("nn", "F.cross_entropy(x, mg.tensor([0, 1]), weight=mg.ones(3, 1))", RuntimeError,
     r"all 3 classes")
case("nn", "F.nll_loss(x, mg.tensor([0, 1]), weight=mg.ones(5))", RuntimeError,
     r"all 3 classes")
case("nn", "F.cross_entropy(x, mg.tensor([0, 3]))", IndexError, r"Target 3 is out of bounds")
case("nn", "F.cross_entropy(x, mg.tensor([-1, 0]))", IndexError, r"Target -1 is out of bounds")
case("nn", "F.cross_entropy(x, mg.tensor([0, 1, 2]))", ValueError,
     r"expects class-index targets of shape \(2,\)|batch_size")
case("nn", "F.cross_entropy(x, mg.tensor([0.0, 1.0]))", (ValueError, RuntimeError),
     r"shape|probability")
case("nn", "F.cross_entropy(x, mg.tensor([0, 1]), reduction='avg')", ValueError,
     r"not a valid value for reduction")
case("nn", "F.cross_entropy(x, mg.tensor([0, 1]), label_smoothing=2.0)", RuntimeError,
     r"label_smoothing")
case("nn", "F.nll_loss(x, mg.tensor([0, 5]))", IndexError, r"Target 5 is out of bounds")
case("nn", "F.mse_loss(x, mg.randn(3, 2))", (RuntimeError, ValueError),
     r"broadcast|size|shape", torch=False)   # torch warns and broadcasts-fails at runtime
case("nn", "F.l1_loss(x, mg.randn(4))", (RuntimeError, ValueError), r"broadcast|size|shape",
     torch=False)
case("nn", "F.binary_cross_entropy(mg.rand(2), mg.rand(3))", ValueError, r"size|shape")
case("nn", "F.binary_cross_entropy_with_logits(mg.rand(2), mg.rand(3))", ValueError,
     r"size|shape")
case("nn", "F.one_hot(mg.tensor([-1]), 3)", RuntimeError, r"Class values must be non-negative")
case("nn", "F.one_hot(mg.tensor([3]), 3)", RuntimeError,
     r"Class values must be smaller than num_classes")
case("nn", "F.one_hot(mg.tensor([1.0]), 3)", RuntimeError, r"LongTensor")
case("nn", "F.one_hot(mg.tensor([True]), 3)", RuntimeError, r"LongTensor")
case("nn", "F.one_hot(mg.zeros(0, dtype=mg.int64))", RuntimeError, r"empty tensor")
case("nn", "F.one_hot(mg.tensor([0, 5, 1]), 2)", RuntimeError, r"smaller than num_classes")

# ------------------------------------------------------------------ nn: layers and functions
case("nn", "nn.Linear(3, 2)(mg.randn(2, 4))", RuntimeError, r"4 features.*expects 3")
case("nn", "nn.Linear(-1, 2)", RuntimeError, r"negative dimension")
case("nn", "nn.Linear(3, 2.5)", TypeError, r"float")
case("nn", "nn.Conv2d(1, 2, 3)(mg.randn(1, 3, 5, 5))", RuntimeError,
     r"3 channels|expected.*1 channels|channels")
case("nn", "nn.Conv2d(1, 2, 3)(mg.randn(5, 5))", RuntimeError, r"3-D|4-D|(3|4)D")
case("nn", "nn.Conv2d(3, 2, 3, groups=2)", ValueError, r"divisible by groups")
case("nn", "nn.Embedding(3, 2)(mg.tensor([3]))", IndexError, r"out of range|index 3")
case("nn", "nn.Embedding(3, 2)(mg.tensor([0.0]))", RuntimeError, r"integer|Long|Int")
case("nn", "F.embedding(mg.tensor([-1]), x)", IndexError, r"out of range|index -1")
case("nn", "nn.BatchNorm2d(3)(mg.randn(2, 4, 2, 2))", ValueError, r"4 channels",
     torch=False)    # torch: RuntimeError "running_mean should contain 4 elements not 3"
case("nn", "nn.BatchNorm1d(3)(mg.randn(2, 3, 2, 2))", (ValueError, RuntimeError),
     r"2D or 3D|2-D or 3-D|expected")
case("nn", "nn.BatchNorm2d(3).train()(mg.randn(1, 3, 1, 1))", ValueError,
     r"more than 1 value per channel")
case("nn", "nn.LayerNorm(4)(x)", RuntimeError, r"normalized_shape|trailing shape")
case("nn", "F.layer_norm(x, (2, 4))", RuntimeError, r"normalized_shape|trailing shape")
case("nn", "F.dropout(x, 1.5)", ValueError, r"dropout probability has to be between 0 and 1")
case("nn", "F.dropout(x, -0.1)", ValueError, r"between 0 and 1")
case("nn", "nn.Dropout(2.0)", ValueError, r"between 0 and 1")
case("nn", "F.softmax(x, 2)", IndexError, r"Dimension out of range")
case("nn", "F.log_softmax(x, -3)", IndexError, r"Dimension out of range")
case("nn", "F.gelu(x, approximate='fast')", (ValueError, RuntimeError), r"approximate")
case("nn", "nn.Sequential(nn.Linear(3, 2), nn.Linear(3, 2))(x)", RuntimeError,
     r"2 features.*expects 3")
case("nn", "nn.Linear(3, 2).load_state_dict({'weight': mg.zeros(2, 3)})", RuntimeError,
     r"Missing key|bias")
case("nn", "nn.Linear(3, 2).load_state_dict({'weight': mg.zeros(3, 3), 'bias': mg.zeros(2)})",
     RuntimeError, r"size mismatch|shape")
case("nn", "nn.Linear(3, 2).load_state_dict({'weight': mg.zeros(2, 3), 'bias': mg.zeros(2), "
           "'extra': mg.zeros(1)})", RuntimeError, r"Unexpected key|extra")
case("nn", "nn.Module().register_buffer('a.b', mg.zeros(1))", KeyError, r"\.|dot")
case("nn", "nn.Module().register_parameter('w', mg.zeros(1))", TypeError,
     r"Parameter|cannot assign")
case("nn", "nn.Parameter([1.0])", TypeError, r"Tensor", torch=False)  # torch: AttributeError
case("nn", "nn.init.kaiming_uniform_(mg.zeros(3))", ValueError,
     r"fewer than 2 dimensions|2 dimensions")
case("nn", "nn.init.xavier_uniform_(mg.zeros(3))", ValueError, r"fewer than 2 dimensions")

# ------------------------------------------------------------------ kernels: conv and pooling
case("kernels", "F.conv2d(img, w3, stride=0)", RuntimeError, r"stride.*positive|non-positive")
case("kernels", "F.conv2d(img, w3, padding=-1)", RuntimeError, r"padding.*non-negative|negative")
case("kernels", "F.conv2d(img, w3, dilation=0)", RuntimeError, r"dilation.*positive|dilation")
case("kernels", "F.conv2d(img, w3, groups=0)", RuntimeError, r"groups")
case("kernels", "F.conv2d(img, w3, stride=1.5)", TypeError, r"float|stride")
case("kernels", "F.conv2d(img, w3, stride=(1, 1, 1))", RuntimeError, r"stride|tuple of two")
case("kernels", "F.conv2d(img, mg.randn(1, 1, 5, 5))", RuntimeError,
     r"smaller than|larger than|too small|Kernel size can't be greater")
case("kernels", "F.conv2d(img, mg.randn(1, 2, 3, 3))", RuntimeError, r"channels")
case("kernels", "F.conv2d(img, mg.randn(3, 3))", RuntimeError, r"4-D|4D|weight")
case("kernels", "F.conv2d(mg.randn(4, 4), w3)", RuntimeError, r"4-D|3D|4D|input")
case("kernels", "F.conv2d(img, w3, mg.zeros(2))", RuntimeError, r"bias")
case("kernels", "F.conv2d(img, w3.double())", RuntimeError, r"same dtype|type")
case("kernels", "F.conv2d(img, w3, padding='full')", RuntimeError, r"Invalid padding string")
case("kernels", "F.conv2d(img, w3, padding='same', stride=2)", RuntimeError, r"strided")
case("kernels", "F.conv1d(mg.randn(1, 1, 5), mg.randn(1, 1, 3, 3))", RuntimeError,
     r"3-D weight|weight")
case("kernels", "F.conv1d(mg.randn(1, 1, 5), mg.randn(1, 1, 7))", RuntimeError,
     r"smaller than|too small|Kernel size")
case("kernels", "F.max_pool2d(img, 2, dilation=0)", RuntimeError,
     r"dilation should be greater than zero")
case("kernels", "F.max_pool2d(img, 2, dilation=-1)", RuntimeError,
     r"dilation should be greater than zero")
case("kernels", "F.max_pool2d(img, 0)", RuntimeError, r"positive|stride should not be zero")
case("kernels", "F.max_pool2d(img, 2, stride=0)", RuntimeError, r"positive|stride")
case("kernels", "F.max_pool2d(img, 2, padding=-1)", RuntimeError, r"pad must be non-negative")
case("kernels", "F.max_pool2d(img, 2, padding=2)", RuntimeError, r"at most half|half")
case("kernels", "F.max_pool2d(img, 2.5)", TypeError, r"kernel_size.*float")
case("kernels", "F.max_pool2d(img, (2, 2, 2))", RuntimeError, r"kernel_size must either")
case("kernels", "F.max_pool2d(img, 5)", RuntimeError, r"too small|Output size is too small")
case("kernels", "F.max_pool2d(mg.randn(4, 4), 2)", RuntimeError, r"4-D|3D|4D")
case("kernels", "F.max_pool2d(img.long(), 2)", RuntimeError, r"floating|Long", torch=False)
case("kernels", "F.avg_pool2d(img, 2, padding=-1)", RuntimeError, r"pad must be non-negative")
case("kernels", "F.avg_pool2d(img, 0)", RuntimeError, r"positive|stride should not be zero")
case("kernels", "F.avg_pool2d(img, 2, stride=0)", RuntimeError, r"positive|stride")
case("kernels", "F.avg_pool2d(img, 2, padding=3)", RuntimeError, r"half")
case("kernels", "F.avg_pool2d(img, 5)", RuntimeError, r"too small")
case("kernels", "F.avg_pool2d(img, (2, 1.5))", TypeError, r"float")
case("kernels", "F.adaptive_avg_pool2d(img, -1)", RuntimeError, r"output_size")
case("kernels", "F.adaptive_avg_pool2d(img, (2, 2, 2))", RuntimeError,
     r"output_size must be an int or a pair")
case("kernels", "nn.MaxPool2d(2, dilation=0)(img)", RuntimeError, r"dilation")
case("kernels", "nn.AvgPool2d(2, padding=-1)(img)", RuntimeError, r"pad")
case("kernels", "F.batch_norm(img, mg.zeros(2), mg.ones(2))", RuntimeError,
     r"running_mean|channels|shape|size")

# ------------------------------------------------------------------ optim
case("optim", "mg.optim.SGD(x, lr=0.1)", TypeError,
     r"params argument given to the optimizer should be an iterable of Tensors or dicts")
case("optim", "mg.optim.Adam(p, lr=0.1)", TypeError, r"iterable of Tensors or dicts")
case("optim", "mg.optim.SGD(3, lr=0.1)", TypeError, r"iterable|int")
case("optim", "mg.optim.SGD([], lr=0.1)", ValueError, r"empty parameter list")
case("optim", "mg.optim.SGD([p, 3], lr=0.1)", TypeError, r"optimize Tensors|int")
case("optim", "mg.optim.SGD([p * 2], lr=0.1)", ValueError, r"non-leaf")
case("optim", "mg.optim.SGD([{'params': [p]}, {'params': [p]}], lr=0.1)", ValueError,
     r"more than one parameter group")
case("optim", "mg.optim.SGD([p], lr=-1)", ValueError, r"Invalid learning rate: -1")
case("optim", "mg.optim.SGD([p], lr=0.1, momentum=-1)", ValueError, r"momentum")
case("optim", "mg.optim.SGD([p], lr=0.1, nesterov=True)", ValueError, r"Nesterov")
case("optim", "mg.optim.SGD([p], lr=0.1, weight_decay=-1)", ValueError, r"weight_decay")
case("optim", "mg.optim.Adam([p], lr=-1)", ValueError, r"Invalid (lr|learning rate)")
case("optim", "mg.optim.Adam([p], betas=(1.5, 0.9))", ValueError, r"beta")
case("optim", "mg.optim.Adam([p], betas=(0.9, -0.1))", ValueError, r"beta")
case("optim", "mg.optim.Adam([p], eps=-1)", ValueError, r"eps|epsilon")
case("optim", "mg.optim.Adam([p], weight_decay=-1)", ValueError, r"weight_decay")
case("optim", "mg.optim.AdamW([p], lr=-1)", ValueError, r"lr|learning rate")
case("optim", "mg.optim.RMSprop([p], alpha=-1)", ValueError, r"alpha")
case("optim", "mg.optim.RMSprop([p], lr=-1)", ValueError, r"lr|learning rate")
case("optim", "mg.optim.SGD([{'lr': 0.1}], lr=0.1)", KeyError, r"params")
case("optim", "mg.optim.SGD([p], lr=0.1).load_state_dict({'state': {}, 'param_groups': []})",
     ValueError, r"0 parameter groups.*has 1")
case("optim", "mg.optim.lr_scheduler.StepLR(3, step_size=1)", TypeError, r"Optimizer")


# ------------------------------------------------------------------ random numbers
case("random", "mg.randint(0.5, 3, (2,))", TypeError, r"float 0\.5")
case("random", "mg.randint(0, 2**64, (2,))", RuntimeError, r"does not fit int64", torch=False)
case("random", "mg.bernoulli(mg.tensor([2.0]))", RuntimeError, r"p_in >= 0 && p_in <= 1")
case("random", "mg.bernoulli(mg.tensor([-0.5, 0.5]))", RuntimeError, r"p_in >= 0")
case("random", "mg.normal(0.0, -1.0, (2,))", RuntimeError, r"std >= 0\.0.*-1")
case("random", "x.uniform_(1, 0)", RuntimeError, r"from=1 > to=0")
case("random", "x.normal_(0, -2)", RuntimeError, r"std >= 0\.0")
case("random", "mg.rand(2, dtype=mg.int64)", (TypeError, RuntimeError), r"floating|Long",
     torch=False)

# ------------------------------------------------------------------ more movement and nn checks
case("movement", "F.pad(x, (-5, 0))", RuntimeError, r"negative")
case("movement", "x.flip((0, 0))", RuntimeError, r"appears multiple times")
case("movement", "x.split([-1, 4], 1)", RuntimeError, r"only non-negative entries")
case("movement", "x.split([1.5, 1.5], 1)", TypeError, r"float", torch=True)
case("movement", "x.repeat_interleave(mg.tensor([1, 2]))", RuntimeError,
     r"one count per element", torch=True)   # 2 counts for the 6 elements of flattened x
case("nn", "F.embedding(mg.tensor([[0]]), mg.zeros(2))", RuntimeError, r"'weight' must be 2-D")


def fixtures(lib, nn) -> dict:
    """Fresh operands for one case; the same names for micrograd and for PyTorch."""
    lib.manual_seed(0)
    x = lib.randn(2, 3)
    return {
        "x": x, "xi": lib.arange(6).reshape(2, 3), "xb": x > 0, "v": lib.randn(3),
        "img": lib.randn(1, 1, 4, 4), "w3": lib.randn(1, 1, 3, 3),
        "p": lib.randn(3, requires_grad=True),
    }


def run_case(c: Case, namespace: dict) -> tuple[str, str]:
    """("ok" | "wrong-type" | "wrong-message" | "no-error", detail) for one case."""
    try:
        exec(c.code, namespace)
    except BaseException as exc:  # noqa: BLE001 - judged below
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            return "fatal", f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, c.error):
            return "wrong-type", f"{type(exc).__name__}: {exc}"
        if not re.search(c.message, str(exc), re.IGNORECASE | re.DOTALL):
            return "wrong-message", f"{type(exc).__name__}: {exc}"
        return "ok", f"{type(exc).__name__}: {str(exc)[:200]}"
    return "no-error", "the call raised nothing (a silent result)"


HOST_BACKENDS = ("numpy", "cpu", "metal")


def other_backends(backend: str) -> dict:
    """``other0``/``other1``: installed backends other than ``backend`` (device cases need
    them; a case whose backend is missing is skipped)."""
    from micrograd.registry import BackendError, registry
    found = []
    for name in HOST_BACKENDS:
        if name == backend:
            continue
        try:
            registry.backend(name)
            found.append(name)
        except BackendError:
            pass
    return {f"other{i}": name for i, name in enumerate(found)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", required=True)
    args = parser.parse_args(argv)
    import numpy as np
    import micrograd as mg
    import micrograd.nn as nn
    import micrograd.nn.functional as F
    mg.set_default_device(args.backend)
    others = other_backends(args.backend)
    for i, c in enumerate(CASES):
        print(json.dumps({"start": i}), flush=True)
        if c.family == "devices" and not all(name in others for name in re.findall(
                r"other\d", c.code)):
            print(json.dumps({"case": i, "status": "skipped", "detail": "backend not installed"}))
            continue
        namespace = {"mg": mg, "nn": nn, "F": F, "np": np, **others, **fixtures(mg, nn)}
        status, detail = run_case(c, namespace)
        print(json.dumps({"case": i, "status": status, "detail": detail}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
