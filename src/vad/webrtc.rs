//! WebRTC's GMM voice activity detector (libfvad through `webrtc-vad`): the embedded default.
//! Cheap (microseconds per frame) and hard-decision; it cannot tell speech from a cough, which
//! the turn detector's minimum speech duration has to absorb.

use webrtc_vad::{SampleRate, Vad, VadMode};

use super::{VadError, VoiceDetector};
use crate::audio::LISTEN_FRAME_SAMPLES;

/// Owns one libfvad instance.
pub struct WebRtcVad {
    vad: SendVad,
    aggressiveness: u8,
    scratch: [i16; LISTEN_FRAME_SAMPLES],
}

/// libfvad state is plain memory with no thread affinity; the wrapper only lacks `Send` because
/// it holds a raw pointer. It is owned by exactly one stage and never shared.
struct SendVad(Vad);

// SAFETY: see `SendVad`: exclusive ownership, no thread-local or shared state in libfvad.
unsafe impl Send for SendVad {}

fn mode(aggressiveness: u8) -> VadMode {
    match aggressiveness {
        0 => VadMode::Quality,
        1 => VadMode::LowBitrate,
        2 => VadMode::Aggressive,
        _ => VadMode::VeryAggressive,
    }
}

impl WebRtcVad {
    /// `aggressiveness`: 0 (flags the most speech) ..= 3 (the strictest).
    pub fn new(aggressiveness: u8) -> Self {
        WebRtcVad {
            vad: SendVad(Vad::new_with_rate_and_mode(
                SampleRate::Rate16kHz,
                mode(aggressiveness),
            )),
            aggressiveness,
            scratch: [0; LISTEN_FRAME_SAMPLES],
        }
    }
}

impl VoiceDetector for WebRtcVad {
    fn speech_probability(&mut self, frame: &[f32]) -> Result<f32, VadError> {
        if frame.len() != LISTEN_FRAME_SAMPLES {
            return Err(VadError::FrameSize {
                expected: LISTEN_FRAME_SAMPLES,
                rate_hz: 16_000,
                got: frame.len(),
            });
        }
        for (out, sample) in self.scratch.iter_mut().zip(frame) {
            *out = (sample.clamp(-1.0, 1.0) * i16::MAX as f32) as i16;
        }
        match self.vad.0.is_voice_segment(&self.scratch) {
            Ok(true) => Ok(1.0),
            Ok(false) => Ok(0.0),
            Err(()) => Err(VadError::Backend(
                "libfvad refused a 20 ms frame at 16 kHz".into(),
            )),
        }
    }

    fn reset(&mut self) {
        self.vad.0.reset();
        // reset() restores libfvad's defaults; put our mode and rate back.
        self.vad.0.set_sample_rate(SampleRate::Rate16kHz);
        self.vad.0.set_mode(mode(self.aggressiveness));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voiced_frame(offset: usize) -> Vec<f32> {
        // A buzzy 140 Hz source through a crude formant: speech-like enough for the GMM.
        (0..LISTEN_FRAME_SAMPLES)
            .map(|i| {
                let t = (i + offset) as f32 / 16_000.0;
                let f0 = (2.0 * std::f32::consts::PI * 140.0 * t).sin();
                let f1 = (2.0 * std::f32::consts::PI * 700.0 * t).sin();
                let f2 = (2.0 * std::f32::consts::PI * 1200.0 * t).sin();
                0.3 * f0 + 0.2 * f1 * f0.abs() + 0.1 * f2 * f0.abs()
            })
            .collect()
    }

    #[test]
    fn silence_is_not_speech_and_a_voiced_sound_is() {
        let mut vad = WebRtcVad::new(2);
        let silence = vec![0.0; LISTEN_FRAME_SAMPLES];
        assert_eq!(vad.speech_probability(&silence).unwrap(), 0.0);
        let voiced: Vec<f32> = (0..25)
            .map(|k| vad.speech_probability(&voiced_frame(k * 320)).unwrap())
            .collect();
        assert!(voiced.iter().filter(|p| **p > 0.5).count() > 15, "{voiced:?}");
        vad.reset();
        assert_eq!(vad.speech_probability(&silence).unwrap(), 0.0);
    }

    #[test]
    fn a_wrong_frame_size_is_an_error() {
        let mut vad = WebRtcVad::new(2);
        assert!(matches!(
            vad.speech_probability(&[0.0; 100]),
            Err(VadError::FrameSize { got: 100, .. })
        ));
    }
}
