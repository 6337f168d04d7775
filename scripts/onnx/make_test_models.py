#!/usr/bin/env python3
"""Writes the tiny ONNX models the Rust tests load (tests/fixtures/onnx/).

They exercise persona's real model-loading code without any downloaded weights. Each model
has the input/output signature of the real model it stands in for; the arithmetic inside is
trivial and documented per model. Needs `pip install onnx numpy`. The output is committed, so
tests and CI never run this script; rerun it after changing it.
"""

import json
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


def silero_vad_v5_signature():
    """The Silero VAD v5 signature with trivial arithmetic.

    Inputs: input float32 [batch, 576] (64 samples of context + a 512-sample window at 16 kHz),
    state float32 [2, batch, 128], sr int64 scalar. Outputs: output float32 [batch, 1],
    stateN float32 [2, batch, 128] -- the names, types and shapes of the real model.

    output = sigmoid(50 * mean(input^2) - 3 + mean(state)) * (sr == 16000)
    stateN = 0.5 * state + 1
    so a test can check that the context is prepended, the state is carried and reset, and the
    rate is passed.
    """
    nodes = [
        helper.make_node("Mul", ["input", "input"], ["sq"]),
        helper.make_node("ReduceMean", ["sq"], ["energy"], axes=[1], keepdims=1),
        helper.make_node("ReduceMean", ["state"], ["state_mean"], keepdims=0),
        helper.make_node("Mul", ["energy", "fifty"], ["scaled"]),
        helper.make_node("Add", ["scaled", "minus_three"], ["biased"]),
        helper.make_node("Add", ["biased", "state_mean"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["prob"]),
        helper.make_node("Equal", ["sr", "rate_16k"], ["is_16k"]),
        helper.make_node("Cast", ["is_16k"], ["gate"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["prob", "gate"], ["output"]),
        helper.make_node("Mul", ["state", "half"], ["state_half"]),
        helper.make_node("Add", ["state_half", "one"], ["stateN"]),
    ]
    consts = [
        numpy_helper.from_array(np.array(50.0, dtype=np.float32), "fifty"),
        numpy_helper.from_array(np.array(-3.0, dtype=np.float32), "minus_three"),
        numpy_helper.from_array(np.array(0.5, dtype=np.float32), "half"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
        numpy_helper.from_array(np.array(16000, dtype=np.int64), "rate_16k"),
    ]
    graph = helper.make_graph(
        nodes,
        "silero_vad_v5_signature",
        [
            helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", "samples"]),
            helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "batch", 128]),
            helper.make_tensor_value_info("sr", TensorProto.INT64, []),
        ],
        [
            helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1]),
            helper.make_tensor_value_info("stateN", TensorProto.FLOAT, [2, "batch", 128]),
        ],
        consts,
    )
    save(
        helper.make_model(graph, opset_imports=OPSET, producer_name="persona"),
        "silero_vad_v5_signature.onnx",
    )


def smart_turn_v3_signature():
    """The Smart Turn v3 signature with trivial arithmetic.

    Input: input_features float32 [batch, 80, 800] (whisper-style log-mel of 8 s at 16 kHz).
    Output: logits float32 [batch, 1], already a probability, like the real model's.

    logits = sigmoid(4 * mean(input_features))
    """
    nodes = [
        helper.make_node("ReduceMean", ["input_features"], ["mean"], axes=[1, 2], keepdims=1),
        helper.make_node("Mul", ["mean", "four"], ["scaled"]),
        helper.make_node("Sigmoid", ["scaled"], ["prob"]),
        helper.make_node("Reshape", ["prob", "shape_b1"], ["logits"]),
    ]
    consts = [
        numpy_helper.from_array(np.array(4.0, dtype=np.float32), "four"),
        numpy_helper.from_array(np.array([-1, 1], dtype=np.int64), "shape_b1"),
    ]
    graph = helper.make_graph(
        nodes,
        "smart_turn_v3_signature",
        [helper.make_tensor_value_info("input_features", TensorProto.FLOAT, ["batch", 80, 800])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1])],
        consts,
    )
    save(
        helper.make_model(graph, opset_imports=OPSET, producer_name="persona"),
        "smart_turn_v3_signature.onnx",
    )


# Samples of audio per phoneme id at length_scale 1 in the tiny Piper voice.
PIPER_HOP = 64

# The symbol table of the tiny Piper voice: Piper's framing symbols, punctuation, and the IPA
# characters espeak-ng uses for English. Real voices map ~130 symbols the same way.
PIPER_SYMBOLS = (
    ["_", "^", "$", " "]
    + list("!'(),-.:;?")
    + list("abcdefghijklmnopqrstuvwxyz")
    + list("æçðøħŋœǀǁǂǃɐɑɒɓɔɕɖɗɘəɚɛɜɞɟɠɡɢɣɤɥɦɧɨɪɫɬɭɮɯɰɱɲɳɴɵɶɸɹɺɻɽɾʀʁʂʃʄʈʉʊʋʌʍʎʏʐʑʒʔʕʘʙʛʜʝʟʡʢʲˈˌːˑ˞βθχᵻⱱ")
)


def piper_voice(name, speakers):
    """A Piper voice's exact signature with trivial arithmetic.

    Inputs `input` (int64 [1, n] phoneme ids), `input_lengths` (int64 [1]), `scales` (float32
    [3]: noise, length, noise width) and, when `speakers` > 1, `sid` (int64 [1]); output
    `output` (float32 [1, 1, samples]). The audio is a sine: its length is
    floor(input_lengths * PIPER_HOP * length_scale) samples, its frequency depends on the mean
    phoneme id (and on the speaker), its amplitude is 0.3. Writes the `.onnx.json` beside it.
    """
    f = TensorProto.FLOAT
    i64 = TensorProto.INT64
    consts = [
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one_i"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "two_i"),
        numpy_helper.from_array(np.array(float(PIPER_HOP), dtype=np.float32), "hop"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero_f"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one_f"),
        numpy_helper.from_array(np.array(0.02, dtype=np.float32), "base_freq"),
        numpy_helper.from_array(np.array(0.0005, dtype=np.float32), "freq_per_id"),
        numpy_helper.from_array(np.array(0.01, dtype=np.float32), "freq_per_speaker"),
        numpy_helper.from_array(np.array(0.3, dtype=np.float32), "amplitude"),
        numpy_helper.from_array(np.array([1, 1, -1], dtype=np.int64), "out_shape"),
    ]
    nodes = [
        helper.make_node("Cast", ["input_lengths"], ["len_f"], to=f),
        helper.make_node("Slice", ["scales", "one_i", "two_i"], ["length_scale"]),
        helper.make_node("Mul", ["len_f", "length_scale"], ["len_scaled"]),
        helper.make_node("Mul", ["len_scaled", "hop"], ["samples_f1"]),
        helper.make_node("Floor", ["samples_f1"], ["samples_f"]),
        helper.make_node("Squeeze", ["samples_f"], ["limit"]),
        helper.make_node("Range", ["zero_f", "limit", "one_f"], ["t"]),
        helper.make_node("Cast", ["input"], ["ids_f"], to=f),
        helper.make_node("ReduceMean", ["ids_f"], ["mean_id"], keepdims=0),
        helper.make_node("Mul", ["mean_id", "freq_per_id"], ["id_freq"]),
        helper.make_node("Add", ["id_freq", "base_freq"], ["freq0"]),
    ]
    inputs = [
        helper.make_tensor_value_info("input", i64, [1, "phonemes"]),
        helper.make_tensor_value_info("input_lengths", i64, [1]),
        helper.make_tensor_value_info("scales", f, [3]),
    ]
    if speakers > 1:
        inputs.append(helper.make_tensor_value_info("sid", i64, [1]))
        nodes += [
            helper.make_node("Cast", ["sid"], ["sid_f1"], to=f),
            helper.make_node("Squeeze", ["sid_f1"], ["sid_f"]),
            helper.make_node("Mul", ["sid_f", "freq_per_speaker"], ["sid_freq"]),
            helper.make_node("Add", ["freq0", "sid_freq"], ["freq"]),
        ]
    else:
        nodes.append(helper.make_node("Identity", ["freq0"], ["freq"]))
    nodes += [
        helper.make_node("Mul", ["t", "freq"], ["phase"]),
        helper.make_node("Sin", ["phase"], ["wave"]),
        helper.make_node("Mul", ["wave", "amplitude"], ["audio"]),
        helper.make_node("Reshape", ["audio", "out_shape"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_piper",
        inputs,
        [helper.make_tensor_value_info("output", f, [1, 1, "samples"])],
        consts,
    )
    save(helper.make_model(graph, opset_imports=OPSET, producer_name="persona"), f"{name}.onnx")
    config = {
        "audio": {"sample_rate": 22050, "quality": "x_low"},
        "espeak": {"voice": "en-us"},
        "inference": {"noise_scale": 0.667, "length_scale": 1, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "phoneme_map": {},
        "phoneme_id_map": {symbol: [i] for i, symbol in enumerate(PIPER_SYMBOLS)},
        "num_symbols": len(PIPER_SYMBOLS),
        "num_speakers": speakers,
        "speaker_id_map": {"ava": 0, "ben": 1} if speakers > 1 else {},
        "piper_version": "1.0.0",
        "dataset": "persona-test-fixture",
    }
    path = os.path.join(OUT, f"{name}.onnx.json")
    with open(path, "w", encoding="utf-8") as out:
        json.dump(config, out, ensure_ascii=False, indent=1)
        out.write("\n")
    print(f"wrote {os.path.normpath(path)}")


def main():
    os.makedirs(OUT, exist_ok=True)
    add_one()
    silero_vad_v5_signature()
    smart_turn_v3_signature()
    piper_voice("tiny-piper", speakers=1)
    piper_voice("tiny-piper-multi", speakers=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
