#!/usr/bin/env python3
"""Writes models with the real architecture and size, and random weights, for benchmarks.

The committed test fixtures (make_test_models.py) have the right signatures but almost no
arithmetic, so they cannot say what inference costs. A model with the same layers and
parameter count as the real one costs the same to run whatever its weights, so the benchmarks
time these instead (benches/listening.rs). Nothing here is committed or used by tests:

    python3 scripts/onnx/make_bench_models.py        # writes target/bench-models/

Silero VAD v5 (16 kHz branch, ~309 k parameters): reflect-pad the 576 input samples by 64 on
the right, an STFT as a 258-filter convolution (window 256, hop 128), magnitude, four 1-D
convolutions with ReLU (129→128, 128→64 stride 2, 64→64 stride 2, 64→128), one LSTM cell of
128 carried in `state` [2, 1, 128], then ReLU, a 1x1 convolution to one channel and a sigmoid.
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "target", "bench-models")
OPSET = [helper.make_opsetid("", 17)]
RNG = np.random.default_rng(7)


def weight(name, shape, scale=0.05):
    return numpy_helper.from_array((RNG.standard_normal(shape) * scale).astype(np.float32), name)


def silero_vad_v5_shaped():
    inits = [
        numpy_helper.from_array(np.array([0, 0, 0, 64], dtype=np.int64), "pads"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array([129, 129], dtype=np.int64), "split_ri"),
        numpy_helper.from_array(np.array([1, 1], dtype=np.int64), "split_state"),
        numpy_helper.from_array(np.array([1, 128, 1], dtype=np.int64), "shape_dec"),
        numpy_helper.from_array(np.array([-1, 1], dtype=np.int64), "shape_out"),
        weight("stft", (258, 1, 256)),
        weight("w1", (128, 129, 3)), weight("b1", (128,)),
        weight("w2", (64, 128, 3)), weight("b2", (64,)),
        weight("w3", (64, 64, 3)), weight("b3", (64,)),
        weight("w4", (128, 64, 3)), weight("b4", (128,)),
        weight("lstm_w", (1, 512, 128)), weight("lstm_r", (1, 512, 128)), weight("lstm_b", (1, 1024)),
        weight("w_dec", (1, 128, 1)), weight("b_dec", (1,)),
    ]
    conv = lambda x, w, b, y, stride: helper.make_node(  # noqa: E731
        "Conv", [x, w, b], [y], kernel_shape=[3], pads=[1, 1], strides=[stride])
    nodes = [
        helper.make_node("Pad", ["input", "pads"], ["padded"], mode="reflect"),
        helper.make_node("Unsqueeze", ["padded", "axis1"], ["x1"]),
        helper.make_node("Conv", ["x1", "stft"], ["spec"], kernel_shape=[256], strides=[128]),
        helper.make_node("Split", ["spec", "split_ri"], ["re", "im"], axis=1),
        helper.make_node("Mul", ["re", "re"], ["re2"]),
        helper.make_node("Mul", ["im", "im"], ["im2"]),
        helper.make_node("Add", ["re2", "im2"], ["pow"]),
        helper.make_node("Sqrt", ["pow"], ["mag"]),
        conv("mag", "w1", "b1", "c1", 1), helper.make_node("Relu", ["c1"], ["r1"]),
        conv("r1", "w2", "b2", "c2", 2), helper.make_node("Relu", ["c2"], ["r2"]),
        conv("r2", "w3", "b3", "c3", 2), helper.make_node("Relu", ["c3"], ["r3"]),
        conv("r3", "w4", "b4", "c4", 1), helper.make_node("Relu", ["c4"], ["r4"]),
        helper.make_node("Transpose", ["r4"], ["seq"], perm=[2, 0, 1]),
        helper.make_node("Split", ["state", "split_state"], ["h0", "c0"], axis=0),
        helper.make_node(
            "LSTM", ["seq", "lstm_w", "lstm_r", "lstm_b", "", "h0", "c0"], ["y", "h1", "c1_state"],
            hidden_size=128),
        helper.make_node("Concat", ["h1", "c1_state"], ["stateN"], axis=0),
        helper.make_node("Relu", ["h1"], ["dec_in"]),
        helper.make_node("Reshape", ["dec_in", "shape_dec"], ["dec"]),
        helper.make_node("Conv", ["dec", "w_dec", "b_dec"], ["logit"], kernel_shape=[1]),
        helper.make_node("Sigmoid", ["logit"], ["prob"]),
        helper.make_node("Reshape", ["prob", "shape_out"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "silero_vad_v5_shaped",
        [
            helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 576]),
            helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, 1, 128]),
            helper.make_tensor_value_info("sr", TensorProto.INT64, []),
        ],
        [
            helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1]),
            helper.make_tensor_value_info("stateN", TensorProto.FLOAT, [2, 1, 128]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=OPSET, producer_name="persona-bench")
    onnx.checker.check_model(model)
    params = sum(int(np.prod(i.dims)) for i in inits if i.data_type == TensorProto.FLOAT)
    path = os.path.join(OUT, "silero_vad_v5_shaped.onnx")
    onnx.save(model, path)
    print(f"wrote {os.path.normpath(path)} ({params} parameters)")


def main():
    os.makedirs(OUT, exist_ok=True)
    silero_vad_v5_shaped()
    return 0


if __name__ == "__main__":
    sys.exit(main())
