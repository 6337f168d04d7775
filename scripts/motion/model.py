"""The audio-to-motion network: a conditional flow-matching denoiser over a chunk of motion frames.

Shared by train.py and export.py. Shapes (B = batch, C = context frames, F = chunk frames,
R = lookahead in feature frames, all at 25 video frames per second and 4 feature frames each):

    mel          [B, 4 (C + F) + 2 R, 80]  raw log-mel (persona's LogMelStream), oldest first:
                 R frames before the context, the context's 4 C, the chunk's 4 F, R lookahead
    prev_motion  [B, C, 17]   the frames just before the chunk (model space, channel units)
    noise        [B, F, 17]   standard normal, drawn by the caller (Rust: seeded per session)
    motion       [B, F, 17]   the sampled chunk (model space, channel units, not clamped)

The audio encoder is a stack of unpadded ("valid") 1-D convolutions over the feature frames with a
receptive field of 2 R + 1 frames, so feature frame i of the context or chunk sees frames i - R ..
i + R and nothing else: no zero padding ever reaches a chunk frame, the lookahead is exactly R
frames (R = 8: 80 ms past the end of the chunk), and a frame's audio features are the same
whatever chunk it falls in. The four feature frames of each video frame are then folded into one
token. The denoiser is a stack of residual, time-conditioned (FiLM), causal 1-D convolutions over
the C + F tokens; each token carries its audio features, its motion (clean context or the noisy
chunk) and a flag saying which. Causal: frame k's output depends on the tokens up to k, so every
frame has the same 80 ms of lookahead wherever it falls in a chunk, and streaming in chunks
differs from one pass over the whole utterance only in what the earlier frames were (clean and
final, or being denoised alongside).

Flow matching (rectified flow): x_t = (1 - t) noise + t x1, t in [0, 1]; the network predicts the
clean chunk x1 from (x_t, t, audio, context). Sampling takes STEPS Euler steps from t = 0 with
v = (x1_hat - x_t) / (1 - t); the last step lands exactly on x1_hat. No classifier-free
guidance, so one network evaluation per step.
"""

import math

import torch
from torch import nn
import torch.nn.functional as F

MEL_BINS = 80
CHANNELS = 17
FEATURES_PER_FRAME = 4


class Config:
    """Hyper-parameters; stored in the checkpoint and the exported metadata."""

    def __init__(self, **overrides):
        self.context_frames = 8  # C: 320 ms of clean previous motion
        self.lookahead_features = 8  # R: 80 ms past the chunk (<= 100 ms)
        self.audio_width = 96
        self.audio_dilations = [1, 2, 4, 1]  # kernel 3 each: receptive field 1 + 2 * sum = 17 = 2 R + 1
        self.width = 192
        self.blocks = 6
        self.kernel = 3
        self.block_dilations = [1, 2, 4, 1, 2, 4]
        self.steps = 3
        for key, value in overrides.items():
            if not hasattr(self, key):
                raise ValueError(f"unknown model setting {key}")
            setattr(self, key, value)
        reach = sum(self.audio_dilations)
        if reach != self.lookahead_features:
            raise ValueError(f"audio receptive field reaches {reach} frames, lookahead is {self.lookahead_features}")

    def to_dict(self):
        return dict(vars(self))


def time_embedding(t, dim):
    """Sinusoidal embedding of flow time t in [0, 1], [B] -> [B, dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = (100.0 * t)[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class ChannelNorm(nn.Module):
    """Layer norm over channels at each time step of a [B, channels, T] tensor: statistics never
    mix time steps, so a frame's result does not depend on which window it was computed in."""

    def __init__(self, width):
        super().__init__()
        self.norm = nn.LayerNorm(width)

    def forward(self, x):
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class AudioEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        w = cfg.audio_width
        self.inp = nn.Conv1d(MEL_BINS, w, 1)
        self.convs = nn.ModuleList(nn.Conv1d(w, w, 3, dilation=d) for d in cfg.audio_dilations)
        self.norms = nn.ModuleList(ChannelNorm(w) for _ in cfg.audio_dilations)
        self.dilations = list(cfg.audio_dilations)
        self.fold = nn.Linear(FEATURES_PER_FRAME * w, cfg.width)

    def forward(self, mel):
        # mel: [B, M, 80] normalised -> tokens [B, (M - 2R) / 4, width]
        x = self.inp(mel.transpose(1, 2))
        for conv, norm, d in zip(self.convs, self.norms, self.dilations):
            y = conv(F.gelu(norm(x)))
            x = x[:, :, d:-d] + y  # valid convolution: crop the residual to match
        b, w, m = x.shape
        x = x.transpose(1, 2).reshape(b, -1, FEATURES_PER_FRAME * w)
        return self.fold(x)


class Block(nn.Module):
    """Residual causal temporal convolution with FiLM from the flow time: a frame sees itself and
    earlier frames only, so it gets exactly the audio lookahead of its own token wherever it
    falls in a chunk, and a chunk's output does not depend on how far the chunk extends."""

    def __init__(self, width, kernel, dilation):
        super().__init__()
        self.norm = ChannelNorm(width)
        self.film = nn.Linear(width, 2 * width)
        self.left = dilation * (kernel - 1)
        self.conv = nn.Conv1d(width, width, kernel, dilation=dilation)
        self.mix = nn.Conv1d(width, width, 1)
        nn.init.zeros_(self.mix.weight)
        nn.init.zeros_(self.mix.bias)

    def forward(self, x, temb):
        scale, shift = self.film(temb).unsqueeze(2).chunk(2, dim=1)
        h = self.norm(x) * (1.0 + scale) + shift
        h = self.conv(F.pad(F.gelu(h), (self.left, 0)))
        return x + self.mix(F.gelu(h))


class Denoiser(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.audio = AudioEncoder(cfg)
        self.motion_in = nn.Linear(CHANNELS + 1, w)
        self.time = nn.Sequential(nn.Linear(w, w), nn.GELU(), nn.Linear(w, w))
        self.blocks = nn.ModuleList(Block(w, cfg.kernel, d) for d in cfg.block_dilations)
        self.out_norm = ChannelNorm(w)
        self.out = nn.Conv1d(w, CHANNELS, 1)

    def encode_audio(self, mel):
        return self.audio(mel)

    def denoise(self, audio_tokens, context, x_t, t):
        """Predicts the clean chunk. audio_tokens [B, C+F, w], context [B, C, 17] and x_t [B, F, 17]
        normalised, t [B]."""
        b = x_t.shape[0]
        motion = torch.cat([context, x_t], dim=1)
        flag = torch.cat(
            [torch.ones_like(context[:, :, :1]), torch.zeros_like(x_t[:, :, :1])], dim=1
        )
        h = audio_tokens + self.motion_in(torch.cat([motion, flag], dim=2))
        temb = self.time(time_embedding(t, self.cfg.width))
        h = h.transpose(1, 2)
        for block in self.blocks:
            h = block(h, temb)
        out = self.out(F.gelu(self.out_norm(h))).transpose(1, 2)
        c = context.shape[1]
        return out[:, c:, :].reshape(b, -1, CHANNELS)


def sample(net, audio_tokens, context, noise, steps):
    """Euler sampling in x1-prediction form; everything normalised. Returns the clean chunk."""
    x = noise
    for i in range(steps):
        t = i / steps
        tt = torch.full((x.shape[0],), t, dtype=torch.float32)
        x1 = net.denoise(audio_tokens, context, x, tt)
        if i == steps - 1:
            return x1
        x = x + (x1 - x) / (1.0 - t) * (1.0 / steps)
    return x


class Sampler(nn.Module):
    """The exported graph: raw features and channel units in, the sampled chunk out."""

    def __init__(self, net, mel_mean, mel_std, motion_mean, motion_std):
        super().__init__()
        self.net = net
        self.register_buffer("mel_mean", torch.as_tensor(mel_mean, dtype=torch.float32))
        self.register_buffer("mel_std", torch.as_tensor(mel_std, dtype=torch.float32))
        self.register_buffer("motion_mean", torch.as_tensor(motion_mean, dtype=torch.float32))
        self.register_buffer("motion_std", torch.as_tensor(motion_std, dtype=torch.float32))

    def forward(self, mel, prev_motion, noise):
        mel_n = (mel - self.mel_mean) / self.mel_std
        context = (prev_motion - self.motion_mean) / self.motion_std
        tokens = self.net.encode_audio(mel_n)
        x1 = sample(self.net, tokens, context, noise, self.net.cfg.steps)
        return x1 * self.motion_std + self.motion_mean


def parameter_count(module):
    return sum(p.numel() for p in module.parameters())
