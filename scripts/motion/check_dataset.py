#!/usr/bin/env python3
"""Check a motion dataset written by `persona motion dataset` and print its statistics.

    python3 scripts/motion/check_dataset.py data/motion [--verify-hash]

Needs python3 and numpy only. Checks shapes, offsets, the 4:1 feature/video alignment, value
ranges, split hygiene (no held-out voice or sentence leaks into train), and that every /p b m/
closes the lips in the targets; prints per-split and per-channel statistics, augmentation
counts, blink rate and the audio-jaw lag. Exits 1 when a check fails. The format is described
in scripts/motion/README.md.
"""

import argparse
import hashlib
import json
import math
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

FEATURES_PER_VIDEO_FRAME = 4
SAMPLES_PER_VIDEO_FRAME = 640
CLOSURE_PHONEMES = {"p", "b", "m"}


class Checks:
    def __init__(self):
        self.failures = []

    def expect(self, ok, message):
        if not ok:
            self.failures.append(message)
        return ok


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def normalise(text):
    return " ".join(text.lower().split())


def closure_symbol(symbol):
    return symbol.lstrip("'\",%=") in CLOSURE_PHONEMES


def slaney_hz_to_mel(hz):
    hz = np.asarray(hz, dtype=np.float64)
    log_step = math.log(6.4) / 27.0
    return np.where(hz < 1000.0, hz * 3.0 / 200.0, 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / log_step)


def slaney_mel_to_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    log_step = math.log(6.4) / 27.0
    return np.where(mel < 15.0, mel * 200.0 / 3.0, 1000.0 * np.exp(log_step * (mel - 15.0)))


def reference_log_mel(audio, features):
    """The features as meta.json describes them, in numpy: a reference for other tools."""
    rate, window, hop = features["sample_rate_hz"], features["window_samples"], features["hop_samples"]
    n_fft, n_mels = features["n_fft"], features["n_mels"]
    edges = slaney_mel_to_hz(np.linspace(0.0, float(slaney_hz_to_mel(rate / 2)), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * rate / n_fft
    lo, centre, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    bank = np.maximum(0.0, np.minimum((freqs - lo) / (centre - lo), (hi - freqs) / (hi - centre))) * 2.0 / (hi - lo)
    n_frames = -(-len(audio) // hop)
    lookback = window - hop
    padded = np.concatenate([np.zeros(lookback), audio, np.zeros(n_frames * hop - len(audio))])
    hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(window) / window)
    frames = np.stack([padded[j * hop: j * hop + window] for j in range(n_frames)]) * hann
    power = np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2
    return np.log(np.maximum(power @ bank.T, features["log_floor"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--verify-hash", action="store_true", help="recompute the SHA-256 of every file")
    parser.add_argument("--features-check", action="store_true",
                        help="recompute the features of the items in wav/ with numpy and compare")
    args = parser.parse_args()
    root = args.dataset
    checks = Checks()

    meta = json.loads((root / "meta.json").read_text())
    items = json.loads((root / "index.json").read_text())["items"]
    mels = np.load(root / meta["arrays"]["mels"]["file"], mmap_mode="r")
    motion = np.load(root / meta["arrays"]["motion"]["file"], mmap_mode="r")
    channels = [c["name"] for c in meta["channels"]]
    lo = np.array([c["min"] for c in meta["channels"]], dtype=np.float32)
    hi = np.array([c["max"] for c in meta["channels"]], dtype=np.float32)
    n_mels = meta["features"]["n_mels"]
    col = {name: i for i, name in enumerate(channels)}

    # Shapes and dtypes.
    checks.expect(mels.dtype == np.float32 and motion.dtype == np.float32, "arrays must be float32")
    checks.expect(list(mels.shape) == meta["arrays"]["mels"]["shape"], f"mels shape {mels.shape} != meta")
    checks.expect(list(motion.shape) == meta["arrays"]["motion"]["shape"], f"motion shape {motion.shape} != meta")
    checks.expect(mels.shape[1] == n_mels, f"{mels.shape[1]} mel bins, meta says {n_mels}")
    checks.expect(motion.shape[1] == len(channels), f"{motion.shape[1]} channels, meta names {len(channels)}")
    if "idle" in meta["arrays"]:
        idle = np.load(root / meta["arrays"]["idle"]["file"], mmap_mode="r")
        checks.expect(idle.shape == motion.shape, f"idle shape {idle.shape} != motion shape {motion.shape}")
        idle_owned = {"eyeBlinkLeft", "eyeBlinkRight", "headYaw", "headPitch", "headRoll", "eyeLookX", "eyeLookY"}
        others = [i for i, name in enumerate(channels) if name not in idle_owned]
        checks.expect(not np.any(np.asarray(idle[:, others])), "idle.npy drives channels the idle overlay does not")
    checks.expect(meta["video"]["feature_frames_per_video_frame"] == FEATURES_PER_VIDEO_FRAME, "not 4 hops per frame")

    if args.verify_hash:
        manifest = ""
        # Generator version 2 added idle.npy to the hash, between motion and index.
        keys = ("mels", "motion", "idle", "index") if "idle" in meta["arrays"] else ("mels", "motion", "index")
        for key in keys:
            entry = meta["arrays"][key]
            actual = sha256(root / entry["file"])
            checks.expect(actual == entry["sha256"], f"{entry['file']}: sha256 {actual} != meta {entry['sha256']}")
            manifest += f"{entry['file']} {actual}\n"
        combined = hashlib.sha256(manifest.encode()).hexdigest()
        checks.expect(combined == meta["training_data_hash"], "training_data_hash does not match the files")
        print(f"hashes verified; training data hash {combined}")

    if args.features_check:
        import wave
        diffs = []
        for path in sorted((root / "wav").glob("*.wav")):
            item = items[int(path.stem)]
            with wave.open(str(path)) as w:
                audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2") / 32767.0
            ours = np.asarray(mels[item["mel_offset"]: item["mel_offset"] + item["mel_frames"]])
            theirs = reference_log_mel(audio, meta["features"])
            if checks.expect(theirs.shape == ours.shape, f"{path.name}: reference shape {theirs.shape} != {ours.shape}"):
                # The WAVs are 16-bit and clipped at full scale: compare well above quantisation
                # noise, and by median and 99th percentile (a clipped peak may differ).
                loud = ours > -8.0
                diffs.append(np.abs(theirs - ours)[loud])
        if diffs:
            d = np.concatenate(diffs)
            median, p99 = float(np.median(d)), float(np.percentile(d, 99))
            checks.expect(median < 1e-3 and p99 < 0.02, f"numpy reference features differ: median {median:.4f}, p99 {p99:.4f}")
            print(f"features check: {len(diffs)} WAVs; numpy reference vs stored mels (where > -8): "
                  f"median {median:.5f}, p99 {p99:.4f}, max {float(d.max()):.4f}")

    # Offsets, alignment, phoneme marks.
    mel_next = motion_next = 0
    for i, item in enumerate(items):
        where = f"item {i} ({item['text']!r})"
        checks.expect(item["id"] == i, f"{where}: id {item['id']}")
        checks.expect(item["mel_offset"] == mel_next, f"{where}: mel_offset {item['mel_offset']} != {mel_next}")
        checks.expect(item["motion_offset"] == motion_next, f"{where}: motion_offset {item['motion_offset']}")
        n_video, n_mel = item["motion_frames"], item["mel_frames"]
        checks.expect(n_mel == FEATURES_PER_VIDEO_FRAME * n_video, f"{where}: {n_mel} mel frames for {n_video} video")
        padded = n_video * SAMPLES_PER_VIDEO_FRAME
        checks.expect(item["speech_samples"] <= padded < item["speech_samples"] + SAMPLES_PER_VIDEO_FRAME,
                      f"{where}: {item['speech_samples']} samples padded to {padded}")
        starts = [s for _, s in item["phonemes"]]
        checks.expect(starts == sorted(starts) and (not starts or starts[-1] <= padded), f"{where}: phoneme marks out of order or range")
        mel_next += n_mel
        motion_next += n_video
    checks.expect(mel_next == mels.shape[0], f"index covers {mel_next} mel frames of {mels.shape[0]}")
    checks.expect(motion_next == motion.shape[0], f"index covers {motion_next} video frames of {motion.shape[0]}")

    # Values.
    checks.expect(bool(np.isfinite(mels).all()), "mels hold NaN or infinity")
    checks.expect(bool(np.isfinite(motion).all()), "motion holds NaN or infinity")
    checks.expect(bool(((motion >= lo - 1e-6) & (motion <= hi + 1e-6)).all()), "motion leaves a channel's range")

    # Split hygiene.
    holdout_bases = set(meta["voices"]["holdout_bases"])
    holdout_variants = set(meta["voices"]["holdout_variants"])
    sentences = defaultdict(set)
    for item in items:
        held_voice = item["base_voice"] in holdout_bases or item["variant"] in holdout_variants
        checks.expect(held_voice == (item["split"] == "holdout_voice"), f"item {item['id']}: voice {item['voice']} in {item['split']}")
        sentences[item["split"]].add(normalise(item["text"]))
    leaked = sentences["holdout_sentence"] & (sentences["train"] | sentences["holdout_voice"])
    checks.expect(not leaked, f"held-out sentences also outside holdout_sentence: {sorted(leaked)[:3]}")

    # Closures at /p b m/: a frame near the phoneme has the lips pressed and the jaw shut.
    closures = closed = 0
    for item in items:
        marks = item["phonemes"]
        base, frames = item["motion_offset"], item["motion_frames"]
        for j, (symbol, start) in enumerate(marks):
            if not closure_symbol(symbol):
                continue
            end = marks[j + 1][1] if j + 1 < len(marks) else start + 1
            first = max(start // SAMPLES_PER_VIDEO_FRAME - 1, 0)
            last = min(end // SAMPLES_PER_VIDEO_FRAME + 1, frames - 1)
            window = motion[base + first: base + last + 1]
            closures += 1
            closed += bool(((window[:, col["mouthPress"]] == 1.0) & (window[:, col["jawOpen"]] == 0.0)).any())
    if closures:
        checks.expect(closed == closures, f"only {closed} of {closures} /p b m/ close the lips")

    # Report.
    print(f"{root}: {len(items)} items, {mels.shape[0]} feature frames x {mels.shape[1]}, "
          f"{motion.shape[0]} video frames x {motion.shape[1]} at {meta['video']['fps']} fps")
    print(f"/p b m/ closures shown: {closed}/{closures}")
    by_split = defaultdict(list)
    for item in items:
        by_split[item["split"]].append(item)
    fps = meta["video"]["fps"]
    floor = math.log(meta["features"]["log_floor"])
    for split in ("train", "holdout_voice", "holdout_sentence"):
        members = by_split.get(split, [])
        if not members:
            print(f"\n== {split}: empty")
            continue
        rows_motion = np.concatenate([np.arange(it["motion_offset"], it["motion_offset"] + it["motion_frames"]) for it in members])
        rows_mel = np.concatenate([np.arange(it["mel_offset"], it["mel_offset"] + it["mel_frames"]) for it in members])
        m = np.asarray(motion[rows_motion])
        x = np.asarray(mels[rows_mel])
        hours = len(rows_motion) / fps / 3600
        clean = sum(it["clean"] for it in members)
        print(f"\n== {split}: {len({it['utterance'] for it in members})} utterances, {len(members)} items "
              f"({clean} clean), {hours:.2f} h, {len({it['voice'] for it in members})} voices")
        print(f"   mels: mean {x.mean():.2f} std {x.std():.2f} min {x.min():.2f} max {x.max():.2f}, "
              f"{(x <= floor + 1e-6).mean() * 100:.1f} % at the floor")
        print(f"   {'channel':<15} {'mean':>7} {'std':>7} {'min':>7} {'max':>7} {'active%':>8}")
        for c, name in enumerate(channels):
            v = m[:, c]
            print(f"   {name:<15} {v.mean():7.3f} {v.std():7.3f} {v.min():7.3f} {v.max():7.3f} {(np.abs(v) > 1e-3).mean() * 100:8.1f}")

    augmented = [it for it in items if not it["clean"]]
    if augmented:
        noise = Counter(it["augmentation"]["noise"]["kind"] if it["augmentation"]["noise"] else "none" for it in augmented)
        reverb = sum(it["augmentation"]["reverb"] is not None for it in augmented)
        speed = sum(it["augmentation"]["speed"] != 1.0 for it in augmented)
        print(f"\naugmented items: {len(augmented)}; noise {dict(noise)}; reverb {reverb}; speed changed {speed}")

    # Blinks per minute and the audio-jaw lag, on clean items.
    blink = col["eyeBlinkLeft"]
    minutes = blinks = 0.0
    lag_scores = defaultdict(list)
    for item in items:
        if not item["clean"]:
            continue
        m = np.asarray(motion[item["motion_offset"]: item["motion_offset"] + item["motion_frames"]])
        closed_eye = m[:, blink] > 0.5
        blinks += int((closed_eye[1:] & ~closed_eye[:-1]).sum() + closed_eye[0])
        minutes += len(m) / fps / 60
        x = np.asarray(mels[item["mel_offset"]: item["mel_offset"] + item["mel_frames"]])
        energy = np.log(np.exp(x).sum(axis=1)).reshape(-1, FEATURES_PER_VIDEO_FRAME).mean(axis=1)
        jaw = m[:, col["jawOpen"]]
        for lag in range(-3, 4):
            a = energy[max(lag, 0): len(energy) + min(lag, 0)]
            b = jaw[max(-lag, 0): len(jaw) + min(-lag, 0)]
            if len(a) > 5 and a.std() > 0 and b.std() > 0:
                lag_scores[lag].append(float(np.corrcoef(a, b)[0, 1]))
    if minutes:
        print(f"blinks: {blinks / minutes:.1f} per minute over {minutes:.1f} min of clean items")
    if lag_scores:
        mean_corr = {lag: float(np.mean(v)) for lag, v in sorted(lag_scores.items())}
        best = max(mean_corr, key=mean_corr.get)
        print("audio-jaw correlation by lag (frames, + = jaw leads audio): "
              + " ".join(f"{lag:+d}:{c:.3f}" for lag, c in mean_corr.items()) + f" -> best {best:+d}")

    if checks.failures:
        print(f"\nFAILED {len(checks.failures)} check(s):", file=sys.stderr)
        for failure in checks.failures[:20]:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
