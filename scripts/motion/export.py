#!/usr/bin/env python3
"""Export a trained audio-to-motion model to ONNX, with the metadata persona checks at load time.

train.py calls `export` when it finishes; run this to export a saved checkpoint again:

    python3 scripts/motion/export.py --checkpoint data/motion/motion-fm-checkpoint.pt \\
        --data data/motion --out models/motion-fm.onnx

The graph is the whole sampler (model.Sampler): raw log-mel, previous motion and the noise in,
the sampled chunk out, with the normalisation and all sampling steps inside, so the runtime makes
one call per chunk and draws the noise itself (seeded per session). The batch and the chunk
length are dynamic. The export is checked against PyTorch with ONNX Runtime before the metadata is
written, and the metadata carries the ONNX file's SHA-256 so a model and its metadata cannot be
mixed up.
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

FORMAT = "persona-motion-model"
FORMAT_VERSION = 1
# The chunk the runtime streams by default: 200 ms.
STREAM_CHUNK_FRAMES = 5
IDLE_CHANNELS = ["eyeBlinkLeft", "eyeBlinkRight", "headYaw", "headPitch", "headRoll", "eyeLookX", "eyeLookY"]
NOT_GENERATED = ["eyeBlinkLeft", "eyeBlinkRight", "eyeLookX", "eyeLookY"]


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def export(net, cfg, meta, mel_norm, motion_norm, channels, info, out):
    import onnx
    import onnxruntime as ort
    import torch
    import model as M

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    net = net.eval()
    sampler = M.Sampler(net, mel_norm[0], mel_norm[1], motion_norm[0], motion_norm[1]).eval()
    c, r = cfg.context_frames, cfg.lookahead_features

    def inputs(batch, frames, seed):
        g = torch.Generator().manual_seed(seed)
        mel = torch.randn(batch, 4 * (c + frames) + 2 * r, M.MEL_BINS, generator=g) * 2.0 - 8.0
        prev = torch.rand(batch, c, M.CHANNELS, generator=g) * 0.5
        noise = torch.randn(batch, frames, M.CHANNELS, generator=g)
        return mel, prev, noise

    with torch.no_grad():
        torch.onnx.export(
            sampler,
            inputs(2, STREAM_CHUNK_FRAMES, 0),
            str(out),
            input_names=["mel", "prev_motion", "noise"],
            output_names=["motion"],
            dynamic_axes={
                "mel": {0: "batch", 1: "mel_frames"},
                "prev_motion": {0: "batch"},
                "noise": {0: "batch", 1: "frames"},
                "motion": {0: "batch", 1: "frames"},
            },
            opset_version=17,
            dynamo=False,
        )
    onnx.checker.check_model(onnx.load(str(out)))

    # The exported graph must agree with PyTorch for other batch sizes and chunk lengths too.
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(out), options, providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch, frames, seed in [(1, STREAM_CHUNK_FRAMES, 1), (3, 1, 2), (2, 37, 3)]:
        mel, prev, noise = inputs(batch, frames, seed)
        with torch.no_grad():
            expected = sampler(mel, prev, noise).numpy()
        got = session.run(["motion"], {"mel": mel.numpy(), "prev_motion": prev.numpy(), "noise": noise.numpy()})[0]
        if got.shape != expected.shape:
            sys.exit(f"export check failed: shape {got.shape} != {expected.shape}")
        worst = max(worst, float(np.abs(got - expected).max()))
    if worst > 1e-3:
        sys.exit(f"export check failed: ONNX Runtime and PyTorch differ by {worst}")

    features = meta["features"]
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_file": out.name,
        "model_sha256": sha256(out),
        "description": "persona's audio-to-motion model: conditional flow matching over motion chunks, "
                       "conditioned on causal log-mel audio (with lookahead) and the previous motion frames",
        "sample_rate_hz": features["sample_rate_hz"],
        "window_samples": features["window_samples"],
        "hop_samples": features["hop_samples"],
        "n_fft": features["n_fft"],
        "n_mels": features["n_mels"],
        "log_floor": features["log_floor"],
        "features": "persona::motion::features::LogMelStream (causal framing; see scripts/motion/README.md)",
        "fps": meta["video"]["fps"],
        "features_per_frame": meta["video"]["feature_frames_per_video_frame"],
        "context_frames": c,
        "lookahead_features": r,
        "lookahead_ms": r * features["hop_samples"] * 1000 // features["sample_rate_hz"],
        "stream_chunk_frames": STREAM_CHUNK_FRAMES,
        "steps": cfg.steps,
        "sampler": "rectified flow, Euler steps at t = i/steps, x1-prediction; no guidance",
        "inputs": {
            "mel": "[batch, 4 * (context_frames + frames) + 2 * lookahead_features, n_mels] raw log-mel",
            "prev_motion": "[batch, context_frames, channels] the frames before the chunk, channel units",
            "noise": "[batch, frames, channels] standard normal",
        },
        "outputs": {"motion": "[batch, frames, channels] channel units, not clamped"},
        "channels": channels,
        "generated_channels": [n for n in channels if n not in NOT_GENERATED],
        "idle_channels": IDLE_CHANNELS,
        "targets": "dataset motion minus its idle part (idle.npy): mouth, brows, nods and posture; "
                   "the playout's IdleMotion adds blinks, gaze, breathing and head drift",
        "normalisation": {
            "applied_in_graph": True,
            "mel_mean": [float(v) for v in mel_norm[0]],
            "mel_std": [float(v) for v in mel_norm[1]],
            "motion_mean": [float(v) for v in motion_norm[0]],
            "motion_std": [float(v) for v in motion_norm[1]],
        },
        "training_data_hash": meta["training_data_hash"],
        "dataset": {"generator_version": meta["generator_version"], "spec": meta["spec"],
                    "splits": {k: {"utterances": v["utterances"], "items": v["items"]}
                               for k, v in meta["splits"].items()}},
        "model_config": cfg.to_dict(),
        "parameters": M.parameter_count(net),
        "training": info,
        "export_check_max_abs_diff": worst,
    }
    meta_path = out.with_suffix(".json")
    meta_path.write_text(json.dumps(metadata, indent=1) + "\n")
    print(f"exported {out} ({out.stat().st_size / 1e6:.2f} MB, ONNX Runtime vs PyTorch max diff {worst:.2e}) "
          f"and {meta_path}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True, help="the dataset it was trained on (for meta.json)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    import torch
    import model as M

    state = torch.load(args.checkpoint, weights_only=False)
    cfg = M.Config(**state["config"])
    net = M.Denoiser(cfg)
    net.load_state_dict(state["ema"])
    meta = json.loads((args.data / "meta.json").read_text())
    channels = [c["name"] for c in meta["channels"]]
    info = {"command": "python3 scripts/motion/export.py " + " ".join(sys.argv[1:]),
            "steps_trained": state["step"], "history": state.get("history", [])}
    export(net, cfg, meta, state["mel_norm"], state["motion_norm"], channels, info, args.out)


if __name__ == "__main__":
    main()
