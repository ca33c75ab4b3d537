"""``micrograd.nn.utils``, PyTorch's layout: gradient clipping, parameters as one vector,
``rnn`` (padded and packed batches of sequences), ``parametrize`` (tensors computed from other
tensors) with ``parametrizations`` (weight and spectral norm, orthogonal), and the older
hook-based weight and spectral normalisation."""

from . import parametrizations, parametrize, rnn
from .clip_grad import clip_grad_norm_, clip_grad_value_
from .convert_parameters import parameters_to_vector, vector_to_parameters
from .spectral_norm import remove_spectral_norm, spectral_norm
from .weight_norm import remove_weight_norm, weight_norm

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "parametrizations",
           "parametrize", "remove_spectral_norm",
           "remove_weight_norm", "rnn", "spectral_norm", "vector_to_parameters", "weight_norm"]
