"""Reaching a framework's ``nn``/``optim`` and building models from shared numpy weights.

micrograd's ``nn`` and ``optim`` follow PyTorch's names, so one model definition serves both;
until they are importable the workloads using them are skipped with the import error.
"""

from __future__ import annotations

import importlib

from . import Unsupported


def submodule(fw, name: str, *needs: str):
    """``fw.lib.<name>`` (``nn``, ``nn.functional``, ``optim``) having every attribute in
    ``needs``, or :class:`Unsupported` saying what is missing."""
    qualified = f"{fw.lib.__name__}.{name}"
    try:
        module = importlib.import_module(qualified)
    except ImportError as exc:
        raise Unsupported(f"{qualified} is not importable: {exc}") from exc
    missing = [attr for attr in needs if not hasattr(module, attr)]
    if missing:
        raise Unsupported(f"{qualified} has no {', '.join(missing)} yet")
    return module


def load_weights(fw, model, weights: dict) -> None:
    """Give ``model`` the numpy ``weights`` (a state dict) on ``fw``'s device."""
    state = {key: fw.tensor(value) for key, value in weights.items()}
    model.load_state_dict(state)


def placed(fw, model):
    """``model`` moved to ``fw``'s device (micrograd names the backend as its device)."""
    return model.to(fw.device) if fw.kind == "micrograd" else model
