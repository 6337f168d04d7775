//! A tiny random-weight whisper model, written in whisper.cpp's legacy GGML format.
//!
//! Tests and `persona models synth` need a model that drives the real whisper.cpp load and
//! inference path without a download or a model hub. [`write_tiny_whisper`] writes one in well
//! under a second: one encoder and one decoder layer of width 64, the English-only vocabulary
//! size (so every special token id has an embedding), real mel filters (so the features
//! whisper.cpp computes from audio are the ones a trained model would see) and seeded random
//! weights. The same seed gives the same bytes on every machine: the generator uses only integer
//! arithmetic and additions, no platform maths library.
//!
//! It does not write a useful model: transcripts are garbage tokens. Nor does it write GGUF or
//! quantised tensors.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use half::f16;

use crate::audio::mel::slaney_mel_filterbank;

use super::ggml::{GGML_MAGIC, GGML_TYPE_F16, GGML_TYPE_F32, Hparams, N_FFT_BINS};

/// File name the model manifest gives the synthetic model under `models/`.
pub const TINY_WHISPER_FILE: &str = "tiny-random-whisper.bin";

/// Sample rate whisper's features are defined at.
const SAMPLE_RATE_HZ: u32 = 16_000;
/// FFT frame of whisper's feature extractor: 25 ms at 16 kHz.
const N_FFT_SAMPLES: usize = 400;
/// Byte-level vocabulary: enough for whisper.cpp, which names the remaining ids itself.
const N_BYTE_TOKENS: usize = 256;
/// Standard deviation of the random weights: small enough that activations stay finite
/// through the untrained layers.
const WEIGHT_STD: f32 = 0.02;

const TINY: Hparams = Hparams {
    // English-only size: whisper.cpp treats >= 51865 as multilingual and would then expect
    // language tokens.
    n_vocab: 51_864,
    n_audio_ctx: 1500,
    n_audio_state: 64,
    n_audio_head: 2,
    n_audio_layer: 1,
    n_text_ctx: 448,
    n_text_state: 64,
    n_text_head: 2,
    n_text_layer: 1,
    n_mels: 80,
    // f16 matrices and convolution kernels: whisper.cpp's CPU convolution aborts on f32 kernels.
    ftype: 1,
};

/// Writes the tiny random-weight whisper model to `path`, deterministically from `seed`.
///
/// The file (about 7.4 MB) appears atomically: it is written next to `path` and renamed, so an
/// interrupted write never leaves a half model under the real name.
pub fn write_tiny_whisper(path: &Path, seed: u64) -> io::Result<()> {
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    let part = Path::new(&part);
    let result = File::create(part).and_then(|file| {
        let mut out = BufWriter::new(file);
        write_model(&mut out, seed)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()
    });
    match result.and_then(|()| fs::rename(part, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            // Best effort: the write already failed, and a leftover part file is harmless.
            let _ = fs::remove_file(part);
            Err(e)
        }
    }
}

fn write_model(out: &mut impl Write, seed: u64) -> io::Result<()> {
    out.write_all(&GGML_MAGIC.to_le_bytes())?;
    for v in TINY.to_array() {
        out.write_all(&v.to_le_bytes())?;
    }

    let n_mels = TINY.n_mels as usize;
    out.write_all(&(n_mels as i32).to_le_bytes())?;
    out.write_all(&(N_FFT_BINS as i32).to_le_bytes())?;
    for w in slaney_mel_filterbank(n_mels, N_FFT_SAMPLES, SAMPLE_RATE_HZ) {
        out.write_all(&w.to_le_bytes())?;
    }

    out.write_all(&(N_BYTE_TOKENS as i32).to_le_bytes())?;
    for byte in 0..N_BYTE_TOKENS {
        out.write_all(&1_u32.to_le_bytes())?;
        out.write_all(&[byte as u8])?;
    }

    let mut rng = SplitMix64(seed);
    for tensor in tensor_specs(&TINY) {
        tensor.write(out, &mut rng)?;
    }
    out.flush()
}

/// How a tensor's values are made.
#[derive(Clone, Copy, Debug)]
enum Fill {
    /// Random, stored as f16: weight matrices, convolution kernels, token embedding.
    RandomF16,
    /// Random, stored as f32: positional embeddings, which whisper.cpp reads as f32.
    RandomF32,
    /// Layer-norm gains.
    Ones,
    /// Biases and layer-norm shifts.
    Zeros,
}

struct TensorSpec {
    name: String,
    /// Dimensions fastest-varying first, as ggml writes them.
    dims: Vec<usize>,
    fill: Fill,
}

impl TensorSpec {
    fn new(name: impl Into<String>, dims: &[usize], fill: Fill) -> Self {
        Self {
            name: name.into(),
            dims: dims.to_vec(),
            fill,
        }
    }

    fn write(&self, out: &mut impl Write, rng: &mut SplitMix64) -> io::Result<()> {
        let ttype = match self.fill {
            Fill::RandomF16 => GGML_TYPE_F16,
            _ => GGML_TYPE_F32,
        };
        out.write_all(&(self.dims.len() as i32).to_le_bytes())?;
        out.write_all(&(self.name.len() as i32).to_le_bytes())?;
        out.write_all(&ttype.to_le_bytes())?;
        for &d in &self.dims {
            out.write_all(&(d as i32).to_le_bytes())?;
        }
        out.write_all(self.name.as_bytes())?;

        let n: usize = self.dims.iter().product();
        let mut data = Vec::with_capacity(n * 4);
        for _ in 0..n {
            match self.fill {
                Fill::RandomF16 => {
                    data.extend_from_slice(&f16::from_f32(rng.normal() * WEIGHT_STD).to_le_bytes())
                }
                Fill::RandomF32 => data.extend_from_slice(&(rng.normal() * WEIGHT_STD).to_le_bytes()),
                Fill::Ones => data.extend_from_slice(&1.0_f32.to_le_bytes()),
                Fill::Zeros => data.extend_from_slice(&0.0_f32.to_le_bytes()),
            }
        }
        out.write_all(&data)
    }
}

/// Every tensor whisper.cpp's loader creates for `h`, named and shaped as it expects
/// (see `whisper_model_load` and `ASR_TENSOR_NAMES` in whisper.cpp).
fn tensor_specs(h: &Hparams) -> Vec<TensorSpec> {
    use Fill::*;
    let (mels, audio_ctx, text_ctx, vocab) = (
        h.n_mels as usize,
        h.n_audio_ctx as usize,
        h.n_text_ctx as usize,
        h.n_vocab as usize,
    );
    let s = h.n_audio_state as usize;
    let mut t = vec![
        TensorSpec::new("encoder.positional_embedding", &[s, audio_ctx], RandomF32),
        TensorSpec::new("encoder.conv1.weight", &[3, mels, s], RandomF16),
        TensorSpec::new("encoder.conv1.bias", &[1, s], Zeros),
        TensorSpec::new("encoder.conv2.weight", &[3, s, s], RandomF16),
        TensorSpec::new("encoder.conv2.bias", &[1, s], Zeros),
        TensorSpec::new("encoder.ln_post.weight", &[s], Ones),
        TensorSpec::new("encoder.ln_post.bias", &[s], Zeros),
    ];
    for i in 0..h.n_audio_layer {
        t.extend(block_specs(&format!("encoder.blocks.{i}"), s, false));
    }
    t.extend([
        TensorSpec::new("decoder.positional_embedding", &[s, text_ctx], RandomF32),
        TensorSpec::new("decoder.token_embedding.weight", &[s, vocab], RandomF16),
        TensorSpec::new("decoder.ln.weight", &[s], Ones),
        TensorSpec::new("decoder.ln.bias", &[s], Zeros),
    ]);
    for i in 0..h.n_text_layer {
        t.extend(block_specs(&format!("decoder.blocks.{i}"), s, true));
    }
    t
}

/// One transformer block: self-attention, an MLP of width 4·`s` and, in the decoder,
/// cross-attention. Attention keys have no bias in whisper.
fn block_specs(prefix: &str, s: usize, cross: bool) -> Vec<TensorSpec> {
    use Fill::*;
    let attention = |attn: &str, ln: &str| {
        vec![
            TensorSpec::new(format!("{prefix}.{ln}.weight"), &[s], Ones),
            TensorSpec::new(format!("{prefix}.{ln}.bias"), &[s], Zeros),
            TensorSpec::new(format!("{prefix}.{attn}.query.weight"), &[s, s], RandomF16),
            TensorSpec::new(format!("{prefix}.{attn}.query.bias"), &[s], Zeros),
            TensorSpec::new(format!("{prefix}.{attn}.key.weight"), &[s, s], RandomF16),
            TensorSpec::new(format!("{prefix}.{attn}.value.weight"), &[s, s], RandomF16),
            TensorSpec::new(format!("{prefix}.{attn}.value.bias"), &[s], Zeros),
            TensorSpec::new(format!("{prefix}.{attn}.out.weight"), &[s, s], RandomF16),
            TensorSpec::new(format!("{prefix}.{attn}.out.bias"), &[s], Zeros),
        ]
    };
    let mut t = attention("attn", "attn_ln");
    if cross {
        t.extend(attention("cross_attn", "cross_attn_ln"));
    }
    t.extend([
        TensorSpec::new(format!("{prefix}.mlp_ln.weight"), &[s], Ones),
        TensorSpec::new(format!("{prefix}.mlp_ln.bias"), &[s], Zeros),
        TensorSpec::new(format!("{prefix}.mlp.0.weight"), &[s, 4 * s], RandomF16),
        TensorSpec::new(format!("{prefix}.mlp.0.bias"), &[4 * s], Zeros),
        TensorSpec::new(format!("{prefix}.mlp.2.weight"), &[4 * s, s], RandomF16),
        TensorSpec::new(format!("{prefix}.mlp.2.bias"), &[s], Zeros),
    ]);
    t
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, well-mixed generator, exact on every platform.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 bits, exactly representable in f32.
    fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1_u32 << 24) as f32
    }

    /// Approximately standard normal: the sum of four uniforms (Irwin–Hall), centred and scaled
    /// to unit variance. Additions only, so bit-exact everywhere; bounded to ±2√3, which keeps
    /// an untrained network's activations tame.
    fn normal(&mut self) -> f32 {
        let sum: f32 = (0..4).map(|_| self.uniform()).sum();
        (sum - 2.0) * 3.0_f32.sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stt::ggml::check_model_file;

    #[test]
    fn same_seed_same_bytes_different_seed_different_bytes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = ["a", "b", "c"].map(|n| dir.path().join(n));
        write_tiny_whisper(&paths[0], 7).expect("write a");
        write_tiny_whisper(&paths[1], 7).expect("write b");
        write_tiny_whisper(&paths[2], 8).expect("write c");
        let [a, b, c] = paths.map(|p| fs::read(p).expect("read back"));
        assert!(a == b, "same seed must give identical files");
        assert!(a != c, "different seeds must give different files");
        assert_eq!(a.len(), c.len(), "the seed changes values, never the layout");
    }

    #[test]
    fn file_is_a_few_megabytes_and_well_framed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(TINY_WHISPER_FILE);
        write_tiny_whisper(&path, 1).expect("write");
        let len_bytes = fs::metadata(&path).expect("metadata").len();
        // Dominated by the f16 token embedding: 51 864 x 64 x 2 bytes = 6.6 MB.
        assert!(
            (7_000_000..8_000_000).contains(&len_bytes),
            "unexpected size {len_bytes}"
        );
        let info = check_model_file(&path).expect("the pre-flight check accepts the synthetic model");
        assert_eq!(info.hparams, TINY);
        // 7 encoder-level + 15 per encoder block + 4 decoder-level + 24 per decoder block,
        // the count whisper.cpp's loader insists on.
        assert_eq!(info.n_tensors, 7 + 15 + 4 + 24);
        assert!(!dir.path().join("tiny-random-whisper.bin.part").exists());
    }

    #[test]
    fn generator_is_seeded_and_roughly_normal() {
        let mut a = SplitMix64(42);
        let mut b = SplitMix64(42);
        let xs: Vec<f32> = (0..20_000).map(|_| a.normal()).collect();
        assert!(xs.iter().zip((0..).map(|_| b.normal())).all(|(x, y)| *x == y));
        let mean = xs.iter().sum::<f32>() / xs.len() as f32;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / xs.len() as f32;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
    }
}
