"""Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d and ConvTranspose3d, and their lazy
forms (LazyConv1d...)."""

from __future__ import annotations

import math

from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import UninitializedParameter
from ._factory import new_parameter
from .lazy import LazyModuleMixin


def _tuple(value, n: int) -> tuple:
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(f"expected an int or {n} values, got {tuple(value)}")
        return tuple(int(v) for v in value)
    return (int(value),) * n


PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    _dims = 2
    _transposed = False   # weight (in, out/groups, ...) instead of (out, in/groups, ...)

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None, output_padding=0):
        super().__init__()
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) "
                             f"must be divisible by groups ({groups})")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {list(PADDING_MODES)}, but got "
                             f"padding_mode={padding_mode!r}")
        if padding_mode != "zeros" and self._transposed:
            raise ValueError(f"Only 'zeros' padding mode is supported for "
                             f"{type(self).__name__}, got {padding_mode!r}")
        n = self._dims
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _tuple(kernel_size, n)
        self.stride, self.dilation = _tuple(stride, n), _tuple(dilation, n)
        self.padding = padding if isinstance(padding, str) else _tuple(padding, n)
        self.padding_mode = padding_mode
        self.output_padding = _tuple(output_padding, n)
        weight_shape = ((in_channels, out_channels // groups) if self._transposed
                        else (out_channels, in_channels // groups))
        self.weight = new_parameter(*weight_shape, *self.kernel_size, device=device, dtype=dtype)
        if bias:
            self.bias = new_parameter(out_channels, device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # PyTorch's default: kaiming_uniform_(a=sqrt(5)) and bias U(±1/sqrt(fan_in)).
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def _pad_input(self, x: Tensor):
        """``x`` padded by ``padding_mode`` and the padding left for the convolution: the
        convolution's own (zeros), or none once a reflect/replicate/circular pad is done."""
        if self.padding_mode == "zeros":
            return x, self.padding
        widths = []
        for i in reversed(range(self._dims)):     # F.pad lists the last dim first
            if self.padding == "valid":
                left = right = 0
            elif self.padding == "same":   # the odd unit on the right, as PyTorch
                total = self.dilation[i] * (self.kernel_size[i] - 1)
                left, right = total // 2, total - total // 2
            else:
                left = right = self.padding[i]
            widths += [left, right]
        return F.pad(x, widths, mode=self.padding_mode), (0,) * self._dims

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        # PyTorch's order and rules (a string padding is always shown)
        if self.padding != (0,) * self._dims:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._dims:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W) input.

    >>> micrograd.nn.Conv2d(1, 8, 3, padding=1)(micrograd.ones(2, 1, 8, 8)).shape
    micrograd.Size([2, 8, 8, 8])
    """

    _dims = 2

    def forward(self, x: Tensor) -> Tensor:
        x, padding = self._pad_input(x)
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                        self.groups)


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L) input."""

    _dims = 1

    def forward(self, x: Tensor) -> Tensor:
        x, padding = self._pad_input(x)
        padding = padding if isinstance(padding, str) else padding[0]
        return F.conv1d(x, self.weight, self.bias, self.stride[0], padding, self.dilation[0],
                        self.groups)


class Conv3d(_ConvNd):
    """3-D convolution over (N, C, D, H, W) input.

    >>> micrograd.nn.Conv3d(1, 4, 3, padding=1)(micrograd.ones(2, 1, 4, 6, 6)).shape
    micrograd.Size([2, 4, 4, 6, 6])
    """

    _dims = 3

    def forward(self, x: Tensor) -> Tensor:
        x, padding = self._pad_input(x)
        return F.conv3d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                        self.groups)


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution over (N, C, H, W) input (the upsampling layer of DCGAN-style
    generators), with PyTorch's parameter shapes: weight (in, out/groups, KH, KW).

    >>> micrograd.nn.ConvTranspose2d(8, 3, 4, stride=2, padding=1)(micrograd.ones(2, 8, 5, 5)).shape
    micrograd.Size([2, 3, 10, 10])
    """

    _dims = 2
    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None):
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple, "
                             f"got {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype, output_padding)

    def forward(self, x: Tensor, output_size=None) -> Tensor:
        output_padding = self.output_padding if output_size is None \
            else self._output_padding_for(x, output_size)
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  output_padding, self.groups, self.dilation)

    def _output_padding_for(self, x: Tensor, output_size) -> tuple:
        """The output_padding that makes the output ``output_size`` (its last spatial
        entries)."""
        n = self._dims
        wanted = tuple(output_size)[-n:]
        smallest = [(x.shape[-n + i] - 1) * self.stride[i] - 2 * self.padding[i]
                    + self.dilation[i] * (self.kernel_size[i] - 1) + 1 for i in range(n)]
        extra = tuple(int(w) - s for w, s in zip(wanted, smallest))
        largest = tuple(s + max(st, d) - 1
                        for s, st, d in zip(smallest, self.stride, self.dilation))
        if any(not 0 <= e < max(self.stride[i], self.dilation[i]) for i, e in enumerate(extra)):
            raise ValueError(f"requested an output size of {wanted}, but valid sizes range from "
                             f"{tuple(smallest)} to "
                             f"{largest} "
                             f"(for an input of {tuple(x.shape[-n:])})")
        return extra


class ConvTranspose1d(ConvTranspose2d):
    """1-D transposed convolution over (N, C, L) input: weight (in, out/groups, K)."""

    _dims = 1

    def forward(self, x: Tensor, output_size=None) -> Tensor:
        output_padding = self.output_padding if output_size is None \
            else self._output_padding_for(x, output_size)
        return F.conv_transpose1d(x, self.weight, self.bias, self.stride[0], self.padding[0],
                                  output_padding[0], self.groups, self.dilation[0])


class ConvTranspose3d(ConvTranspose2d):
    """3-D transposed convolution over (N, C, D, H, W) input: weight
    (in, out/groups, KD, KH, KW)."""

    _dims = 3

    def forward(self, x: Tensor, output_size=None) -> Tensor:
        output_padding = self.output_padding if output_size is None \
            else self._output_padding_for(x, output_size)
        return F.conv_transpose3d(x, self.weight, self.bias, self.stride, self.padding,
                                  output_padding, self.groups, self.dilation)


# ------------------------------------------------------------------ lazy forms

class _LazyConvMixin(LazyModuleMixin):
    """``in_channels`` from the first input: its dim 1 (dim 0 for an unbatched input)."""

    def _make_lazy(self, out_channels: int, bias: bool, device, dtype) -> None:
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_channels = out_channels
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def initialize_parameters(self, input: Tensor, *args, **kwargs) -> None:
        if not self.has_uninitialized_params():
            return
        unbatched = self._dims + 1
        if input.ndim not in (unbatched, unbatched + 1):
            raise RuntimeError(f"Expected {unbatched}D (unbatched) or {unbatched + 1}D (batched) "
                               f"input to {type(self).__name__}, but got input of size: "
                               f"{tuple(input.shape)}")
        self.in_channels = input.shape[1] if input.ndim == unbatched + 1 else input.shape[0]
        if self.in_channels % self.groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        per_group = ((self.in_channels, self.out_channels // self.groups) if self._transposed
                     else (self.out_channels, self.in_channels // self.groups))
        self.weight.materialize((*per_group, *self.kernel_size))
        if self.bias is not None:
            self.bias.materialize((self.out_channels,))
        self.reset_parameters()


class _LazyConv(_LazyConvMixin):
    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None,
                 dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False,
                         padding_mode, device, dtype)
        self._make_lazy(out_channels, bias, device, dtype)


class _LazyConvTranspose(_LazyConvMixin):
    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros",
                 device=None, dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, output_padding, groups, False,
                         dilation, padding_mode, device, dtype)
        self._make_lazy(out_channels, bias, device, dtype)


class LazyConv1d(_LazyConv, Conv1d):
    """A :class:`Conv1d` whose ``in_channels`` is read from its first input."""

    cls_to_become = Conv1d


class LazyConv2d(_LazyConv, Conv2d):
    """A :class:`Conv2d` whose ``in_channels`` is read from its first input.

    >>> micrograd.nn.LazyConv2d(8, 3)(micrograd.ones(1, 3, 5, 5)).shape
    micrograd.Size([1, 8, 3, 3])
    """

    cls_to_become = Conv2d


class LazyConv3d(_LazyConv, Conv3d):
    """A :class:`Conv3d` whose ``in_channels`` is read from its first input."""

    cls_to_become = Conv3d


class LazyConvTranspose1d(_LazyConvTranspose, ConvTranspose1d):
    """A :class:`ConvTranspose1d` whose ``in_channels`` is read from its first input."""

    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyConvTranspose, ConvTranspose2d):
    """A :class:`ConvTranspose2d` whose ``in_channels`` is read from its first input."""

    cls_to_become = ConvTranspose2d


class LazyConvTranspose3d(_LazyConvTranspose, ConvTranspose3d):
    """A :class:`ConvTranspose3d` whose ``in_channels`` is read from its first input."""

    cls_to_become = ConvTranspose3d
