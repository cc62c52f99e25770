"""embed/onnx_wire.py writes ONNX protobuf by hand: the ``onnx`` package (a dev dependency,
never imported by the product) reads it back here, field by field, and checks the models."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import onnxruntime
from onnx import numpy_helper
from safetensors.numpy import load_file

from personae.embed import onnx_wire as wire
from personae.embed.graph import encoder_model
from personae.embed.minilm import model_dir


def test_every_message_reads_back_as_written() -> None:
    weight = np.arange(-6, 6, dtype=np.float32).reshape(3, 4) / 7
    shape = np.array([0, -1, 2], dtype=np.int64)
    nodes = [
        wire.node("MatMul", ["x", "w"], ["y"]),
        wire.node("Reshape", ["y", "shape"], ["z"]),
        wire.node("Transpose", ["z"], ["t"], perm=[0, 2, 1]),
        wire.node("LayerNormalization", ["t", "g"], ["out"], axis=-1, epsilon=1e-5),
    ]
    bytes_ = wire.model(
        "tiny",
        nodes,
        [wire.tensor("w", weight), wire.tensor("shape", shape),
         wire.tensor("g", np.ones(4, dtype=np.float32))],
        [wire.value_info("x", wire.FLOAT, ["batch", 2, 3])],
        [wire.value_info("out", wire.FLOAT, ["batch", 2, 4])],
        opset=17,
        ir_version=8,
    )  # fmt: skip
    model = onnx.load_from_string(bytes_)
    onnx.checker.check_model(model, full_check=True)
    assert (model.ir_version, model.opset_import[0].domain, model.opset_import[0].version) == (
        8,
        "",
        17,
    )
    graph = model.graph
    assert graph.name == "tiny"
    assert [(n.op_type, list(n.input), list(n.output)) for n in graph.node][1] == (
        "Reshape",
        ["y", "shape"],
        ["z"],
    )
    perm, norm = graph.node[2].attribute[0], graph.node[3].attribute
    assert (perm.name, perm.type, list(perm.ints)) == ("perm", onnx.AttributeProto.INTS, [0, 2, 1])
    assert (norm[0].name, norm[0].type, norm[0].i) == ("axis", onnx.AttributeProto.INT, -1)
    assert (norm[1].name, norm[1].type) == ("epsilon", onnx.AttributeProto.FLOAT)
    assert abs(norm[1].f - 1e-5) < 1e-12
    tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    np.testing.assert_array_equal(tensors["w"], weight)
    np.testing.assert_array_equal(tensors["shape"], shape)  # a negative int64 survives
    assert tensors["shape"].dtype == np.int64
    dims = graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 2, 3]
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_the_encoder_graph_is_a_valid_onnx_model() -> None:
    weights = load_file(str(model_dir() / "model.safetensors"))
    model = onnx.load_from_string(encoder_model(weights))
    onnx.checker.check_model(model, full_check=True)  # types and shapes infer through it
    names = {t.name for t in model.graph.initializer}
    assert "encoder.layer.5.output.dense.weight" in names
    assert "embeddings.word_embeddings.weight" not in names  # the lookup stays outside
    [output] = model.graph.output
    assert output.name == "embeddings"
    session = onnxruntime.InferenceSession(model.SerializeToString())
    assert [i.name for i in session.get_inputs()] == ["tokens", "mask"]


def test_the_int8_encoder_graph_is_valid_and_holds_int8_weights() -> None:
    weights = load_file(str(model_dir() / "model.safetensors"))
    model = onnx.load_from_string(encoder_model(weights, int8=True))
    onnx.checker.check_model(model, full_check=True)
    tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    layer = tensors["encoder.layer.0.intermediate.dense.weight"]
    assert layer.dtype == np.int8 and layer.shape == (384, 1536)
    steps = tensors["encoder.layer.0.intermediate.dense.weight_step"]
    exact = weights["encoder.layer.0.intermediate.dense.weight"].T
    assert np.abs(layer * steps - exact).max() <= steps.max() / 2 + 1e-7, "within half a step"
    assert "MatMulInteger" in {n.op_type for n in model.graph.node}


def test_embedding_does_not_import_the_onnx_package() -> None:
    probe = (
        "import sys; from personae.embed.minilm import load_minilm; "
        "load_minilm().embed(['hello']); print('onnx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
