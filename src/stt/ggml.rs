//! whisper.cpp's legacy GGML model file layout, and a pre-flight check of a file's structure.
//!
//! whisper.cpp trusts its model file: it reads lengths from it without bounds checks, so a
//! truncated or corrupt file can make it allocate gigabytes or abort the process inside C++,
//! where no `Result` can reach us. [`check_model_file`] walks the same structure with bounded
//! reads first and turns every such defect into a message, so only files whose framing is sound
//! ever reach whisper.cpp. The synthetic model writer shares the constants so both sides agree.
//!
//! This module does not check tensor names or shapes (whisper.cpp reports those cleanly) and does
//! not read tensor data. It knows nothing of GGUF, which whisper.cpp 1.8 does not load either.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// "ggml" as a little-endian u32: the first four bytes of every legacy whisper.cpp model.
pub(crate) const GGML_MAGIC: u32 = 0x6767_6d6c;
/// "GGUF" as a little-endian u32, recognised only to give a better message.
const GGUF_MAGIC: u32 = 0x4655_4747;
/// Frequency bins of one 400-sample FFT frame (bin 0 to Nyquist): the mel filter width
/// whisper.cpp's feature extractor assumes.
pub(crate) const N_FFT_BINS: usize = 1 + 400 / 2;
/// ggml type ids this crate writes.
pub(crate) const GGML_TYPE_F32: i32 = 0;
pub(crate) const GGML_TYPE_F16: i32 = 1;
/// One past the largest ggml type id in the bundled whisper.cpp (1.8); larger ids in a file are
/// corruption, and whisper.cpp would index its type table out of bounds with them.
const GGML_TYPE_COUNT: i32 = 40;

// Bounds far above any released whisper model, there only so corrupt values fail here rather
// than as a huge allocation in C++.
const MAX_VOCAB: i32 = 1 << 20;
const MAX_CTX: i32 = 1 << 16;
const MAX_STATE: i32 = 1 << 14;
const MAX_HEADS: i32 = 1 << 10;
const MAX_LAYERS: i32 = 1 << 10;
const MAX_MELS: i32 = 1 << 10;
const MAX_TOKEN_BYTES: u32 = 1 << 12;
const MAX_TENSOR_NAME_BYTES: i32 = 1 << 10;

/// The eleven hyperparameters that follow the magic, in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hparams {
    pub n_vocab: i32,
    pub n_audio_ctx: i32,
    pub n_audio_state: i32,
    pub n_audio_head: i32,
    pub n_audio_layer: i32,
    pub n_text_ctx: i32,
    pub n_text_state: i32,
    pub n_text_head: i32,
    pub n_text_layer: i32,
    pub n_mels: i32,
    /// 0 = all f32, 1 = f16 matrices; quantised types add a version times 1000.
    pub ftype: i32,
}

impl Hparams {
    pub(crate) fn to_array(self) -> [i32; 11] {
        [
            self.n_vocab,
            self.n_audio_ctx,
            self.n_audio_state,
            self.n_audio_head,
            self.n_audio_layer,
            self.n_text_ctx,
            self.n_text_state,
            self.n_text_head,
            self.n_text_layer,
            self.n_mels,
            self.ftype,
        ]
    }

    fn from_array(v: [i32; 11]) -> Self {
        Self {
            n_vocab: v[0],
            n_audio_ctx: v[1],
            n_audio_state: v[2],
            n_audio_head: v[3],
            n_audio_layer: v[4],
            n_text_ctx: v[5],
            n_text_state: v[6],
            n_text_head: v[7],
            n_text_layer: v[8],
            n_mels: v[9],
            ftype: v[10],
        }
    }

    fn validate(&self) -> Result<(), String> {
        let bounded = [
            ("n_vocab", self.n_vocab, MAX_VOCAB),
            ("n_audio_ctx", self.n_audio_ctx, MAX_CTX),
            ("n_audio_state", self.n_audio_state, MAX_STATE),
            ("n_audio_head", self.n_audio_head, MAX_HEADS),
            ("n_audio_layer", self.n_audio_layer, MAX_LAYERS),
            ("n_text_ctx", self.n_text_ctx, MAX_CTX),
            ("n_text_state", self.n_text_state, MAX_STATE),
            ("n_text_head", self.n_text_head, MAX_HEADS),
            ("n_text_layer", self.n_text_layer, MAX_LAYERS),
            ("n_mels", self.n_mels, MAX_MELS),
        ];
        for (name, value, max) in bounded {
            if !(1..=max).contains(&value) {
                return Err(format!("hyperparameter {name} = {value} is outside 1..={max}"));
            }
        }
        if self.ftype < 0 {
            return Err(format!("hyperparameter ftype = {} is negative", self.ftype));
        }
        // whisper.cpp asserts this (an abort, not an error) and divides by the head counts.
        if self.n_audio_state != self.n_text_state {
            return Err(format!(
                "n_audio_state ({}) differs from n_text_state ({})",
                self.n_audio_state, self.n_text_state
            ));
        }
        if self.n_audio_state % self.n_audio_head != 0 || self.n_text_state % self.n_text_head != 0 {
            return Err("the state width is not a multiple of the head count".to_string());
        }
        Ok(())
    }
}

/// What the pre-flight check learned about a model file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ModelFileInfo {
    pub hparams: Hparams,
    pub n_tensors: usize,
}

/// Walks the framing of a legacy GGML whisper file: magic, hyperparameters, mel filters,
/// vocabulary and every tensor header, checking each length against bounds and the file size.
/// The error is a sentence fragment naming what is wrong, for the caller to wrap with the path.
pub(crate) fn check_model_file(path: &Path) -> Result<ModelFileInfo, String> {
    let file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => "the file does not exist".to_string(),
        _ => format!("the file cannot be opened ({e})"),
    })?;
    let meta = file
        .metadata()
        .map_err(|e| format!("the file cannot be read ({e})"))?;
    if !meta.is_file() {
        return Err("it is not a regular file".to_string());
    }
    let mut r = Framed {
        inner: BufReader::new(file),
        len: meta.len(),
        pos: 0,
    };

    if r.len < 4 {
        return Err(format!(
            "it is {} bytes long, too short to be a whisper model",
            r.len
        ));
    }
    let magic = r.u32("the magic number")?;
    if magic == GGUF_MAGIC {
        return Err("it is a GGUF file; whisper.cpp loads only the legacy ggml `.bin` format".to_string());
    }
    if magic != GGML_MAGIC {
        return Err(format!(
            "it does not start with the ggml magic number (found {magic:#010x}); it is not a whisper.cpp model"
        ));
    }

    let mut raw = [0_i32; 11];
    for v in &mut raw {
        *v = r.i32("the hyperparameters")?;
    }
    let hparams = Hparams::from_array(raw);
    hparams.validate()?;

    let n_mel = r.i32("the mel filter header")?;
    let n_fft = r.i32("the mel filter header")?;
    if n_mel != hparams.n_mels || n_fft as usize != N_FFT_BINS {
        return Err(format!(
            "the mel filter bank is {n_mel}x{n_fft}, expected {}x{N_FFT_BINS}",
            hparams.n_mels
        ));
    }
    r.skip(n_mel as u64 * n_fft as u64 * 4, "the mel filter bank")?;

    let n_words = r.i32("the vocabulary size")?;
    if !(0..=hparams.n_vocab).contains(&n_words) {
        return Err(format!(
            "the vocabulary lists {n_words} tokens, outside 0..={}",
            hparams.n_vocab
        ));
    }
    for i in 0..n_words {
        let len = r.u32("the vocabulary")?;
        if len > MAX_TOKEN_BYTES {
            return Err(format!("token {i} claims to be {len} bytes long"));
        }
        r.skip(u64::from(len), "the vocabulary")?;
    }

    let mut n_tensors = 0;
    while r.pos < r.len {
        let what = format!("the header of tensor {n_tensors}");
        let n_dims = r.i32(&what)?;
        let name_len = r.i32(&what)?;
        let ttype = r.i32(&what)?;
        if !(1..=4).contains(&n_dims) || !(1..=MAX_TENSOR_NAME_BYTES).contains(&name_len) {
            return Err(format!(
                "{what} is corrupt ({n_dims} dimensions, {name_len}-byte name)"
            ));
        }
        if !(0..GGML_TYPE_COUNT).contains(&ttype) {
            return Err(format!("{what} has an unknown element type {ttype}"));
        }
        let mut elements: u64 = 1;
        for _ in 0..n_dims {
            let ne = r.i32(&what)?;
            if ne < 1 {
                return Err(format!("{what} has a dimension of {ne}"));
            }
            elements = elements.saturating_mul(ne as u64);
        }
        let mut name = vec![0_u8; name_len as usize];
        r.read(&mut name, &what)?;
        let name = String::from_utf8_lossy(&name).into_owned();
        let Some(data_bytes) = tensor_bytes(ttype, elements) else {
            // A type we cannot size (an exotic quantisation): the framing after this point is
            // unknown to us, so hand the rest to whisper.cpp, which knows every type it supports.
            tracing::debug!(tensor = %name, ttype, "stopping the model pre-flight check at an unsized type");
            return Ok(ModelFileInfo {
                hparams,
                n_tensors: n_tensors + 1,
            });
        };
        r.skip(data_bytes, &format!("the data of tensor '{name}'"))?;
        n_tensors += 1;
    }
    if n_tensors == 0 {
        return Err("it contains no tensors".to_string());
    }
    Ok(ModelFileInfo { hparams, n_tensors })
}

/// Bytes of data for `elements` values of ggml type `ttype`, for the types whisper models use.
fn tensor_bytes(ttype: i32, elements: u64) -> Option<u64> {
    // (bytes per block, values per block), from ggml-common.h's block layouts.
    let (block_bytes, block_values) = match ttype {
        GGML_TYPE_F32 => (4, 1),
        GGML_TYPE_F16 | 30 => (2, 1), // 30: bf16
        2 => (18, 32),                // q4_0
        3 => (20, 32),                // q4_1
        6 => (22, 32),                // q5_0
        7 => (24, 32),                // q5_1
        8 => (34, 32),                // q8_0
        10 => (84, 256),              // q2_K
        11 => (110, 256),             // q3_K
        12 => (144, 256),             // q4_K
        13 => (176, 256),             // q5_K
        14 => (210, 256),             // q6_K
        _ => return None,
    };
    Some(elements.div_ceil(block_values).saturating_mul(block_bytes))
}

/// A reader that knows the file length, so every read and skip is checked before it happens.
struct Framed<R> {
    inner: R,
    len: u64,
    pos: u64,
}

impl<R: Read + Seek> Framed<R> {
    fn truncated(&self, what: &str, need: u64) -> String {
        format!(
            "the file is truncated: {what} needs {need} bytes at offset {} but the file is {} bytes long",
            self.pos, self.len
        )
    }

    fn read(&mut self, buf: &mut [u8], what: &str) -> Result<(), String> {
        let need = buf.len() as u64;
        if self.len - self.pos < need {
            return Err(self.truncated(what, need));
        }
        self.inner
            .read_exact(buf)
            .map_err(|e| format!("reading {what} failed ({e})"))?;
        self.pos += need;
        Ok(())
    }

    fn skip(&mut self, bytes: u64, what: &str) -> Result<(), String> {
        if self.len - self.pos < bytes {
            return Err(self.truncated(what, bytes));
        }
        // Seek relative to the reader's logical position; BufReader discards its buffer.
        self.inner
            .seek(SeekFrom::Current(bytes as i64))
            .map_err(|e| format!("seeking past {what} failed ({e})"))?;
        self.pos += bytes;
        Ok(())
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let mut b = [0_u8; 4];
        self.read(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    fn i32(&mut self, what: &str) -> Result<i32, String> {
        let mut b = [0_u8; 4];
        self.read(&mut b, what)?;
        Ok(i32::from_le_bytes(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantised_sizes_round_up_to_whole_blocks() {
        assert_eq!(tensor_bytes(GGML_TYPE_F32, 10), Some(40));
        assert_eq!(tensor_bytes(GGML_TYPE_F16, 10), Some(20));
        assert_eq!(tensor_bytes(8, 64), Some(68));
        assert_eq!(tensor_bytes(14, 256), Some(210));
        assert_eq!(tensor_bytes(16, 256), None);
    }

    #[test]
    fn hparams_reject_mismatched_state_widths() {
        let mut h = Hparams::from_array([51864, 1500, 64, 2, 1, 448, 64, 2, 1, 80, 1]);
        assert!(h.validate().is_ok());
        h.n_text_state = 32;
        assert!(h.validate().unwrap_err().contains("n_text_state"));
        h.n_text_state = 64;
        h.n_audio_head = 0;
        assert!(h.validate().unwrap_err().contains("n_audio_head"));
    }
}
