//! H.264 encoding with OpenH264 (the `openh264` crate builds Cisco's library from source), for MP4
//! files.
//!
//! One I420 picture in, its NAL units out, split into what an MP4 needs: parameter sets (kept
//! aside for the `avcC` box) and the picture's slices. Constrained baseline profile (no B-frames,
//! so presentation order is decode order and no composition offsets are needed), BT.601
//! limited-range colour like the I420 conversion, a keyframe at least every
//! [`KEYFRAME_INTERVAL_FRAMES`], and frame skipping off: every frame given is encoded. Rate
//! control is OpenH264's buffer-based mode (quality follows the buffer, the bitrate is a target):
//! its strict bitrate modes need frame skipping, which would drop frames of a file.

use openh264::OpenH264API;
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, RateControlMode, VuiConfig,
};
use openh264::formats::YUVSlices;

use super::EncodeError;

/// A keyframe at least every 2 s at 25 fps.
pub const KEYFRAME_INTERVAL_FRAMES: u32 = 50;

/// One encoded picture.
#[derive(Clone, Debug, Default)]
pub struct H264Picture {
    /// Slice NAL units without start codes.
    pub nals: Vec<Vec<u8>>,
    pub keyframe: bool,
}

/// An OpenH264 encoder for one stream of I420 frames of a fixed size.
pub struct H264Encoder {
    encoder: Encoder,
    width: u32,
    height: u32,
    /// Latest sequence and picture parameter sets (without start codes).
    pub sps: Option<Vec<u8>>,
    pub pps: Option<Vec<u8>>,
}

impl H264Encoder {
    pub fn new(width: u32, height: u32, fps: u32, bitrate_kbps: u32) -> Result<Self, EncodeError> {
        if !width.is_multiple_of(2) || !height.is_multiple_of(2) {
            return Err(EncodeError::OddDimensions { width, height });
        }
        let config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(bitrate_kbps.saturating_mul(1000)))
            .max_frame_rate(FrameRate::from_hz(fps as f32))
            .rate_control_mode(RateControlMode::Bufferbased)
            .skip_frames(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(KEYFRAME_INTERVAL_FRAMES))
            .vui(VuiConfig::bt601());
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config).map_err(|e| {
            EncodeError::EncoderInit {
                codec: "H.264 (OpenH264)",
                params: format!("{width}x{height} at {fps} fps, {bitrate_kbps} kbit/s"),
                reason: e.to_string(),
            }
        })?;
        Ok(H264Encoder {
            encoder,
            width,
            height,
            sps: None,
            pps: None,
        })
    }

    /// Encodes one I420 picture (planes packed as [`super::rgba_to_i420`] writes them).
    pub fn encode(&mut self, i420: &[u8], force_keyframe: bool) -> Result<H264Picture, EncodeError> {
        let (w, h) = (self.width as usize, self.height as usize);
        let luma = w * h;
        let (y, chroma) = i420.split_at(luma);
        let (u, v) = chroma.split_at(luma / 4);
        let source = YUVSlices::new((y, u, v), (w, h), (w, w / 2, w / 2));
        if force_keyframe {
            self.encoder.force_intra_frame();
        }
        let stream = self.encoder.encode(&source).map_err(|e| EncodeError::Encode {
            codec: "H.264 (OpenH264)",
            reason: e.to_string(),
        })?;
        let mut picture = H264Picture {
            nals: Vec::new(),
            keyframe: matches!(stream.frame_type(), FrameType::IDR | FrameType::I),
        };
        for l in 0..stream.num_layers() {
            let layer = stream.layer(l).expect("index below num_layers");
            for n in 0..layer.nal_count() {
                let nal = strip_start_code(layer.nal_unit(n).expect("index below nal_count"));
                match nal.first().map(|b| b & 0x1f) {
                    Some(7) => self.sps = Some(nal.to_vec()),
                    Some(8) => self.pps = Some(nal.to_vec()),
                    Some(_) => picture.nals.push(nal.to_vec()),
                    None => {}
                }
            }
        }
        Ok(picture)
    }
}

/// A NAL unit without its Annex B start code (`00 00 01` or `00 00 00 01`).
fn strip_start_code(nal: &[u8]) -> &[u8] {
    if let Some(rest) = nal.strip_prefix(&[0, 0, 0, 1]) {
        rest
    } else if let Some(rest) = nal.strip_prefix(&[0, 0, 1]) {
        rest
    } else {
        nal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_codes_are_stripped_and_parameter_sets_kept_aside() {
        assert_eq!(strip_start_code(&[0, 0, 0, 1, 0x67, 1]), &[0x67, 1]);
        assert_eq!(strip_start_code(&[0, 0, 1, 0x68]), &[0x68]);
        let (w, h) = (64, 48);
        let mut encoder = H264Encoder::new(w, h, 25, 300).unwrap();
        let mut i420 = vec![128u8; super::super::i420_len(w, h)];
        let first = encoder.encode(&i420, false).unwrap();
        assert!(first.keyframe, "the first picture is a keyframe");
        assert!(!first.nals.is_empty());
        assert_eq!(encoder.sps.as_ref().map(|s| s[0] & 0x1f), Some(7));
        assert_eq!(encoder.pps.as_ref().map(|s| s[0] & 0x1f), Some(8));
        i420[100] = 20;
        let second = encoder.encode(&i420, false).unwrap();
        assert!(!second.keyframe);
        assert!(encoder.encode(&i420, true).unwrap().keyframe, "forced keyframe");
    }
}
