#!/usr/bin/env python3
"""Writes the tiny ONNX models the Rust tests load (tests/fixtures/onnx/).

They exercise persona's real model-loading code without any downloaded weights. Each model
has the input/output signature of the real model it stands in for; the arithmetic inside is
trivial and documented per model. Needs `pip install onnx numpy`. The output is committed, so
tests and CI never run this script; rerun it after changing it.
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "onnx")
OPSET = [helper.make_opsetid("", 17)]


def save(model, name):
    onnx.checker.check_model(model)
    path = os.path.join(OUT, name)
    onnx.save(model, path)
    print(f"wrote {os.path.normpath(path)} ({os.path.getsize(path)} bytes)")


def add_one():
    """y = x + 1 over float32 [N]: the smallest real model, for the runtime plumbing."""
    one = numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "one"], ["y"])],
        "add_one",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])],
        [one],
    )
    save(helper.make_model(graph, opset_imports=OPSET, producer_name="persona"), "add_one.onnx")


def main():
    os.makedirs(OUT, exist_ok=True)
    add_one()
    return 0


if __name__ == "__main__":
    sys.exit(main())
