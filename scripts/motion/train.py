#!/usr/bin/env python3
"""Train persona's audio-to-motion model (conditional flow matching) and export it to ONNX.

    python3 scripts/motion/train.py --data data/motion --out models/motion-fm.onnx \\
        --steps 2500 --batch 48 --threads 2 --seed 1

Reads a dataset written by `cargo run --release --example motion_dataset` (format:
scripts/motion/README.md), trains the network of model.py on the `train` split, reports the
loss on the clean held-out items as it goes, and exports the EMA weights with export.py (the
ONNX graph, and beside it the metadata JSON that the Rust runtime checks). Deterministic for a
given dataset, seed and thread count. Needs torch, numpy, onnx and onnxruntime (see the README
for the leanest way to get them); CI never runs it: the exported model is committed.

What the model learns: the dataset's targets minus the idle part (idle.npy), i.e. the mouth (the
rule backend's teacher output), brows, nods and posture shifts. Blinks, gaze, breathing and head
drift stay with persona's IdleMotion, which the playout overlays on every backend's poses.
"""

import argparse
import copy
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MOUTH = ["jawOpen", "mouthFunnel", "mouthPucker", "mouthStretch", "mouthPress", "mouthClose",
         "mouthUpperUp", "mouthLowerDown", "mouthSmile"]
IDLE_ONLY = ["eyeBlinkLeft", "eyeBlinkRight", "eyeLookX", "eyeLookY"]
LOSS_WEIGHT = {"mouthPress": 2.0, "mouthClose": 2.0, "jawOpen": 1.5}
GESTURE_WEIGHT = 0.5
IDLE_WEIGHT = 0.1
CONTEXT_NOISE = 0.1  # normalised units, so the model tolerates its own slightly-off past


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="dataset folder (meta.json, mels.npy, ...)")
    p.add_argument("--out", type=Path, required=True, help="ONNX file to write; the metadata goes beside it (.json)")
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--batch", type=int, default=48)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-chunk", type=int, default=4, help="shortest chunk (video frames) trained on")
    p.add_argument("--max-chunk", type=int, default=20, help="longest chunk trained on")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads; keep 1 on a shared machine (spinning OpenMP threads stall when oversubscribed)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="where to keep the training state (default: beside the dataset)")
    return p.parse_args()


class Data:
    """Items of one split, padded so every window is a contiguous slice."""

    def __init__(self, meta, items, mels, target, cfg, max_chunk, mel_norm, motion_norm):
        c, r = cfg.context_frames, cfg.lookahead_features
        floor = (math.log(meta["features"]["log_floor"]) - mel_norm[0]) / mel_norm[1]
        rest = (0.0 - motion_norm[0]) / motion_norm[1]
        pre_mel, post_mel = 4 * c + r, r + 4 * max_chunk
        mel_parts, motion_parts = [], []
        self.mel_base, self.motion_base, self.frames = [], [], []
        mel_rows = motion_rows = 0
        for item in items:
            n = item["motion_frames"]
            m = np.asarray(mels[item["mel_offset"]: item["mel_offset"] + item["mel_frames"]], dtype=np.float32)
            m = (m - mel_norm[0]) / mel_norm[1]
            mel_parts += [np.broadcast_to(floor, (pre_mel, m.shape[1])), m,
                          np.broadcast_to(floor, (post_mel, m.shape[1]))]
            t = (np.asarray(target[item["motion_offset"]: item["motion_offset"] + n]) - motion_norm[0]) / motion_norm[1]
            motion_parts += [np.broadcast_to(rest, (c, t.shape[1])), t,
                             np.broadcast_to(rest, (max_chunk, t.shape[1]))]
            # Window for chunk start j: mel rows mel_base + 4 j .. (it starts 4 C + R before j).
            self.mel_base.append(mel_rows)
            self.motion_base.append(motion_rows)
            self.frames.append(n)
            mel_rows += pre_mel + m.shape[0] + post_mel
            motion_rows += c + n + max_chunk
        self.mels = np.ascontiguousarray(np.concatenate(mel_parts), dtype=np.float32)
        self.motion = np.ascontiguousarray(np.concatenate(motion_parts), dtype=np.float32)
        self.mel_base = np.array(self.mel_base)
        self.motion_base = np.array(self.motion_base)
        self.frames = np.array(self.frames)
        self.c, self.r = c, r

    def batch(self, rng, size, chunk):
        """A batch of windows: mel [B, M, 80], context [B, C, 17], chunk [B, F, 17], mask [B, F]."""
        item = rng.integers(0, len(self.frames), size)
        start = (rng.random(size) * self.frames[item]).astype(np.int64)
        return self.windows(item, start, chunk)

    def windows(self, item, start, chunk):
        m = 4 * (self.c + chunk) + 2 * self.r
        mel_idx = (self.mel_base[item] + 4 * start)[:, None] + np.arange(m)[None, :]
        mot_idx = (self.motion_base[item] + start)[:, None] + np.arange(self.c + chunk)[None, :]
        motion = self.motion[mot_idx]
        frame = start[:, None] + np.arange(chunk)[None, :]
        mask = (frame < self.frames[item][:, None]).astype(np.float32)
        return self.mels[mel_idx], motion[:, : self.c], motion[:, self.c:], mask


def main():
    args = parse_args()
    import torch
    import model as M
    from export import export

    torch.set_num_threads(args.threads)
    # Tiny activations must not become denormal floats: they make CPU arithmetic crawl.
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(args.seed)
    started = time.time()

    meta = json.loads((args.data / "meta.json").read_text())
    items = json.loads((args.data / "index.json").read_text())["items"]
    arrays = meta["arrays"]
    if "idle" not in arrays:
        sys.exit(f"{args.data} has no idle.npy: it was written by an older generator; generate it again")
    mels = np.load(args.data / arrays["mels"]["file"], mmap_mode="r")
    motion = np.load(args.data / arrays["motion"]["file"], mmap_mode="r")
    idle = np.load(args.data / arrays["idle"]["file"], mmap_mode="r")
    target = np.asarray(motion, dtype=np.float32) - np.asarray(idle, dtype=np.float32)
    channels = [c["name"] for c in meta["channels"]]
    if channels[:len(MOUTH)] != MOUTH or len(channels) != M.CHANNELS:
        sys.exit(f"unexpected channel list in {args.data}/meta.json: {channels}")

    train_items = [i for i in items if i["split"] == "train"]
    held_out = [i for i in items if i["split"] != "train" and i["clean"]]
    mel_norm = (np.array(meta["normalisation"]["mel_mean"], dtype=np.float32),
                np.array(meta["normalisation"]["mel_std"], dtype=np.float32))
    rows = np.concatenate([target[i["motion_offset"]: i["motion_offset"] + i["motion_frames"]] for i in train_items])
    motion_mean = rows.mean(axis=0)
    motion_std = rows.std(axis=0)
    # Channels the model never drives (the idle overlay's blinks and gaze) are all zero: keep
    # them at unit scale rather than divide by zero.
    still = motion_std < 1e-6
    motion_mean[still] = 0.0
    motion_std = np.where(still, 1.0, np.maximum(motion_std, 0.02)).astype(np.float32)
    motion_norm = (motion_mean.astype(np.float32), motion_std)

    cfg = M.Config()
    train = Data(meta, train_items, mels, target, cfg, args.max_chunk, mel_norm, motion_norm)
    valid = Data(meta, held_out, mels, target, cfg, args.max_chunk, mel_norm, motion_norm)
    print(f"train: {len(train_items)} items, {int(train.frames.sum())} frames; "
          f"held out (clean): {len(held_out)} items, {int(valid.frames.sum())} frames; "
          f"prepared in {time.time() - started:.0f} s", flush=True)

    weights = np.ones(M.CHANNELS, dtype=np.float32)
    for i, name in enumerate(channels):
        if name in LOSS_WEIGHT:
            weights[i] = LOSS_WEIGHT[name]
        elif name in IDLE_ONLY:
            weights[i] = IDLE_WEIGHT
        elif name not in MOUTH:
            weights[i] = GESTURE_WEIGHT
    weights_t = torch.from_numpy(weights)
    mouth_idx = [channels.index(n) for n in MOUTH]

    net = M.Denoiser(cfg)
    ema = copy.deepcopy(net)
    for p in ema.parameters():
        p.requires_grad_(False)
    params = M.parameter_count(net)
    print(f"model: {params} parameters, {cfg.steps} sampling steps", flush=True)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.99))
    warmup = min(200, args.steps // 10)

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, args.steps - warmup)
        return args.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress)))

    # A fixed held-out batch: loss at t = 0 (the conditional mean) and the sampled mouth error.
    vrng = np.random.default_rng(12345)
    vbatch = [torch.from_numpy(np.ascontiguousarray(a)) for a in valid.batch(vrng, 256, 5)]
    vnoise = torch.from_numpy(vrng.standard_normal((256, 5, M.CHANNELS)).astype(np.float32))

    def evaluate(network):
        network.eval()
        with torch.no_grad():
            mel, ctx, x1, mask = vbatch
            tokens = network.encode_audio(mel)
            sampled = M.sample(network, tokens, ctx, vnoise, cfg.steps)
            err = (sampled - x1) * torch.from_numpy(motion_std)  # channel units
            m = mask[:, :, None]
            mouth_mae = float((err[:, :, mouth_idx].abs() * m).sum() / (m.sum() * len(mouth_idx)))
            per = (err.abs() * m).sum(dim=(0, 1)) / m.sum()
        network.train()
        return mouth_mae, per.numpy()

    ckpt_path = args.checkpoint or (args.data / "motion-fm-checkpoint.pt")
    ckpt_path.parent.mkdir(parents=True, exist_ok=True)
    history = []
    step = 0
    loss_avg = None
    while step < args.steps:
        chunk = int(rng.integers(args.min_chunk, args.max_chunk + 1))
        mel, ctx, x1, mask = (torch.from_numpy(np.ascontiguousarray(a)) for a in train.batch(rng, args.batch, chunk))
        ctx = ctx + CONTEXT_NOISE * torch.randn_like(ctx)
        noise = torch.randn_like(x1)
        grid = torch.tensor([0.0, 1.0 / 3.0, 2.0 / 3.0])[torch.randint(0, 3, (args.batch,))]
        t = torch.where(torch.rand(args.batch) < 0.5, torch.rand(args.batch), grid)
        x_t = (1.0 - t[:, None, None]) * noise + t[:, None, None] * x1
        tokens = net.encode_audio(mel)
        pred = net.denoise(tokens, ctx, x_t, t)
        sq = (pred - x1) ** 2 * weights_t * mask[:, :, None]
        loss = sq.sum() / (mask.sum() * weights_t.sum())
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(0.999, (1 + step) / (10 + step))
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.mul_(decay).add_(p, alpha=1.0 - decay)
        loss_value = loss.item()
        loss_avg = loss_value if loss_avg is None else 0.98 * loss_avg + 0.02 * loss_value
        step += 1
        if step % 50 == 0:
            print(f"step {step}/{args.steps}  loss {loss_avg:.4f}  lr {lr_at(step):.2e}  "
                  f"{time.time() - started:.0f} s", flush=True)
        if step % args.eval_every == 0 or step == args.steps:
            mouth_mae, per = evaluate(ema)
            history.append({"step": step, "train_loss": loss_avg, "held_out_mouth_mae": mouth_mae,
                            "seconds": round(time.time() - started, 1)})
            print(f"  held out: mouth MAE {mouth_mae:.4f}; per channel "
                  + " ".join(f"{n}={v:.3f}" for n, v in zip(channels, per) if n not in IDLE_ONLY), flush=True)
            torch.save({"config": cfg.to_dict(), "ema": ema.state_dict(), "step": step,
                        "mel_norm": mel_norm, "motion_norm": motion_norm, "history": history}, ckpt_path)

    seconds = time.time() - started
    info = {
        "command": "python3 scripts/motion/train.py " + " ".join(sys.argv[1:]),
        "seed": args.seed,
        "steps": args.steps,
        "batch": args.batch,
        "chunk_frames": [args.min_chunk, args.max_chunk],
        "threads": args.threads,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(time.process_time(), 1),
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs ({platform.processor() or 'unknown CPU'}), {platform.system()}",
        "history": history,
        "parameters": params,
        "train_items": len(train_items),
        "train_frames": int(train.frames.sum()),
    }
    export(ema, cfg, meta, mel_norm, motion_norm, channels, info, args.out)
    print(f"trained in {seconds / 60:.1f} min; wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
