"""Linear layers through oneDNN: portable numerics' route to the same bytes on every x86-64 CPU with AVX2.

MKL's SGEMM takes another code path on Intel than on AMD CPUs, and its one vendor-independent mode
(MKL_CBWR=COMPATIBLE) is SSE2 code: 1.9x slower on SmolLM2, where the large layers dominate. oneDNN
dispatches on the instruction set only, so capped at AVX2 (ONEDNN_MAX_CPU_ISA, numerics.PORTABLE_ENV) its
inner product gives the same bits on Intel and AMD, AVX2 and AVX-512 CPUs (tests/base/test_numerics.py runs it
under qemu as another CPU).
"""

from __future__ import annotations

import torch


class OneDnnLinear(torch.nn.Module):
    """nn.Linear's forward (fp32, inference) through oneDNN's inner product. The original parameters stay
    (tied embeddings and state_dict still see them); a oneDNN-layout copy of each is what computes."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight, self.bias = linear.weight, linear.bias
        self._weight = linear.weight.detach().to_mkldnn()
        self._bias = None if linear.bias is None else linear.bias.detach().to_mkldnn()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features).contiguous().to_mkldnn()
        out = torch._C._nn.mkldnn_linear(flat, self._weight, self._bias).to_dense()
        return out.reshape(*x.shape[:-1], self.out_features)


# Below `min_weights` (numerics.ONEDNN_MIN_WEIGHTS) a layer stays on MKL's COMPATIBLE SGEMM, the same bytes on
# every CPU: for small layers oneDNN's per-call reorders cost more than they save (one AVX2 forward of 48
# tokens: 576x576 took 1.45x MKL COMPATIBLE's time, 576x1536 0.84x, 576x49152 0.55x; the demo model's
# 128-wide layers, all small, 2.4x as long through oneDNN). The choice depends on the layer's shape only,
# never on the machine, so every CPU routes the same layers the same way.


def route_linears(model: torch.nn.Module, min_weights: int) -> int:
    """Replace every fp32 nn.Linear of at least `min_weights` weights inside `model` by a OneDnnLinear;
    returns how many."""
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if (
                type(child) is torch.nn.Linear
                and child.weight.dtype == torch.float32
                and child.weight.numel() >= min_weights
            ):
                setattr(parent, name, OneDnnLinear(child))
                count += 1
    return count
