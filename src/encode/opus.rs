//! Opus encoding of the output audio clock into 20 ms packets.
//!
//! [`OpusPacketizer`] accepts mono 48 kHz audio in chunks of any size, each stamped with the
//! output-clock position of its first sample; it fills gaps with silence and trims overlaps, so
//! packet `n` always holds output-clock samples `960 n - pre_skip .. 960 (n + 1) - pre_skip`.
//! It also knows the numbers a container needs to line the audio up with video: the encoder's
//! pre-skip (its lookahead), the `OpusHead` that carries it, and the trailing padding of the last
//! packet.
//!
//! It does not resample or mix, and does not know about any container.

use audiopus::coder::Encoder;
use audiopus::{Application, Bitrate, Channels, SampleRate};
use tracing::debug;

use super::EncodeError;

/// Opus always decodes at 48 kHz; the output clock runs at the same rate.
pub const OPUS_RATE_HZ: u32 = 48_000;
/// 20 ms at 48 kHz: the packet size.
pub const PACKET_SAMPLES: usize = 960;
/// Nanoseconds of one packet (exact: 960 / 48 000 s).
pub const PACKET_DURATION_NS: u64 = 20_000_000;
/// Audio to decode and throw away before a seek target, so the decoder has converged (RFC 7845
/// recommends 80 ms). Goes into the WebM `SeekPreRoll` element.
pub const SEEK_PRE_ROLL_NS: u64 = 80_000_000;
/// Mono speech at 40 kbit/s is near-transparent in Opus's fullband modes.
pub const BITRATE_BPS: i32 = 40_000;
/// The longest gap filled with silence (60 s); a longer one is a clock error, and filling it
/// would encode minutes of silence on the caller's thread.
pub const MAX_GAP_SAMPLES: u64 = 60 * OPUS_RATE_HZ as u64;
/// libopus's recommended output buffer size for one packet.
const MAX_PACKET_BYTES: usize = 4000;

/// Zeros to feed for gaps and end padding without allocating.
static SILENCE: [f32; PACKET_SAMPLES] = [0.0; PACKET_SAMPLES];

/// One 20 ms Opus packet.
#[derive(Clone, Debug)]
pub struct OpusPacket {
    /// Packet number from 0. Its decoded samples start at `index * 960` on the decoder's timeline,
    /// which is `pre_skip` samples ahead of the output clock.
    pub index: u64,
    pub data: Vec<u8>,
    /// Decoded samples at the end of this packet that are padding and must not be played (only the
    /// last packet has any).
    pub discard_padding_samples: u32,
}

impl OpusPacket {
    /// Where the packet sits on the decoder's timeline, in nanoseconds: what a container stores as
    /// its timestamp (containers subtract the codec delay on playback).
    pub fn decoder_time_ns(&self) -> u64 {
        self.index * PACKET_DURATION_NS
    }
}

/// Turns timestamped chunks of 48 kHz mono audio into 20 ms Opus packets.
pub struct OpusPacketizer {
    encoder: Encoder,
    pre_skip_samples: u32,
    /// Output-clock position of the next sample to accept. Invariant:
    /// `next_sample == packets * 960 + pending.len()`.
    next_sample: u64,
    /// Samples of the packet being filled; never holds a full packet between calls.
    pending: Vec<f32>,
    packets: u64,
    scratch: Vec<u8>,
}

impl OpusPacketizer {
    /// A 48 kHz mono encoder using the `AUDIO` application at [`BITRATE_BPS`].
    ///
    /// `AUDIO` rather than `VOIP`: the file is a recording of clean synthetic speech, so fidelity
    /// matters more than VOIP's intelligibility tuning (its high-pass filter and speech emphasis are
    /// for microphones), and packet-loss robustness buys nothing in a file. Both have the same
    /// lookahead.
    pub fn new() -> Result<Self, EncodeError> {
        let params = format!("48000 Hz mono, AUDIO application, {BITRATE_BPS} bit/s, 20 ms packets");
        let init_error = |e: audiopus::Error| EncodeError::EncoderInit {
            codec: "Opus (libopus)",
            params: params.clone(),
            reason: e.to_string(),
        };
        let mut encoder =
            Encoder::new(SampleRate::Hz48000, Channels::Mono, Application::Audio).map_err(init_error)?;
        encoder
            .set_bitrate(Bitrate::BitsPerSecond(BITRATE_BPS))
            .map_err(init_error)?;
        // Asked after configuring: the lookahead depends on the application.
        let lookahead = encoder.lookahead().map_err(init_error)?;
        let pre_skip_samples =
            u16::try_from(lookahead)
                .map(u32::from)
                .map_err(|_| EncodeError::EncoderInit {
                    codec: "Opus (libopus)",
                    params: params.clone(),
                    reason: format!("lookahead {lookahead} samples does not fit OpusHead's 16-bit pre-skip"),
                })?;
        debug!(pre_skip_samples, "Opus encoder ready");
        Ok(OpusPacketizer {
            encoder,
            pre_skip_samples,
            next_sample: 0,
            pending: Vec::with_capacity(PACKET_SAMPLES),
            packets: 0,
            scratch: vec![0; MAX_PACKET_BYTES],
        })
    }

    /// Decoded samples to drop at the start (the encoder's lookahead), at 48 kHz.
    pub fn pre_skip_samples(&self) -> u32 {
        self.pre_skip_samples
    }

    /// The pre-skip as a duration: the WebM `CodecDelay`.
    pub fn codec_delay_ns(&self) -> u64 {
        samples_to_ns(u64::from(self.pre_skip_samples))
    }

    /// Output-clock samples accepted so far, gaps included: one past the last sample.
    pub fn end_sample(&self) -> u64 {
        self.next_sample
    }

    /// The identification header of RFC 7845 §5.1, which WebM stores as the track's `CodecPrivate`.
    pub fn opus_head(&self) -> [u8; 19] {
        let mut head = [0u8; 19];
        head[..8].copy_from_slice(b"OpusHead");
        head[8] = 1; // version
        head[9] = 1; // channels
        head[10..12].copy_from_slice(&(self.pre_skip_samples as u16).to_le_bytes());
        head[12..16].copy_from_slice(&OPUS_RATE_HZ.to_le_bytes());
        // Output gain 0 dB (bytes 16..18) and channel mapping family 0 (mono/stereo) stay zero.
        head
    }

    /// Accepts `samples` whose first sample is at output-clock position `start_sample`, and hands
    /// each completed packet to `emit`. A gap since the last accepted sample is filled with
    /// silence (up to [`MAX_GAP_SAMPLES`]; a longer gap is an error); samples before it (an overlap)
    /// are dropped. Non-finite samples become silence.
    pub fn push<F>(&mut self, start_sample: u64, samples: &[f32], mut emit: F) -> Result<(), EncodeError>
    where
        F: FnMut(OpusPacket) -> Result<(), EncodeError>,
    {
        let samples = if start_sample < self.next_sample {
            let overlap = self.next_sample - start_sample;
            let skip = usize::try_from(overlap).unwrap_or(usize::MAX).min(samples.len());
            if skip > 0 {
                debug!(
                    start_sample,
                    overlap_samples = skip,
                    "trimming audio that overlaps what was written"
                );
            }
            &samples[skip..]
        } else {
            let mut gap = start_sample - self.next_sample;
            if gap > MAX_GAP_SAMPLES {
                return Err(EncodeError::AudioGap {
                    start_sample,
                    end_sample: self.next_sample,
                    gap_samples: gap,
                    max_gap_s: MAX_GAP_SAMPLES / u64::from(OPUS_RATE_HZ),
                });
            }
            if gap > 0 {
                debug!(
                    start_sample,
                    gap_samples = gap,
                    "filling an audio gap with silence"
                );
            }
            while gap > 0 {
                let n = gap.min(PACKET_SAMPLES as u64) as usize;
                self.feed(&SILENCE[..n], &mut emit)?;
                gap -= n as u64;
            }
            samples
        };
        self.feed(samples, &mut emit)
    }

    /// Pads with silence until the decoder has produced every accepted sample (the lookahead
    /// delays them by `pre_skip`), emits the last packet with its padding marked, and returns the
    /// number of packets made. Writes nothing if no audio was ever accepted.
    pub fn finish<F>(mut self, mut emit: F) -> Result<u64, EncodeError>
    where
        F: FnMut(OpusPacket) -> Result<(), EncodeError>,
    {
        if self.next_sample == 0 {
            return Ok(0);
        }
        let decoded_needed = self.next_sample + u64::from(self.pre_skip_samples);
        let packets_needed = decoded_needed.div_ceil(PACKET_SAMPLES as u64);
        while self.packets < packets_needed {
            self.pending.resize(PACKET_SAMPLES, 0.0);
            let discard = if self.packets + 1 == packets_needed {
                (packets_needed * PACKET_SAMPLES as u64 - decoded_needed) as u32
            } else {
                0
            };
            self.encode_pending(discard, &mut emit)?;
        }
        Ok(self.packets)
    }

    fn feed<F>(&mut self, mut samples: &[f32], emit: &mut F) -> Result<(), EncodeError>
    where
        F: FnMut(OpusPacket) -> Result<(), EncodeError>,
    {
        while !samples.is_empty() {
            let take = (PACKET_SAMPLES - self.pending.len()).min(samples.len());
            let (now, rest) = samples.split_at(take);
            self.pending
                .extend(now.iter().map(|&s| if s.is_finite() { s } else { 0.0 }));
            self.next_sample += take as u64;
            samples = rest;
            if self.pending.len() == PACKET_SAMPLES {
                self.encode_pending(0, emit)?;
            }
        }
        Ok(())
    }

    fn encode_pending<F>(&mut self, discard_padding_samples: u32, emit: &mut F) -> Result<(), EncodeError>
    where
        F: FnMut(OpusPacket) -> Result<(), EncodeError>,
    {
        let len = self
            .encoder
            .encode_float(&self.pending, &mut self.scratch)
            .map_err(|e| EncodeError::Encode {
                codec: "Opus (libopus)",
                reason: format!("packet {}: {e}", self.packets),
            })?;
        self.pending.clear();
        let packet = OpusPacket {
            index: self.packets,
            data: self.scratch[..len].to_vec(),
            discard_padding_samples,
        };
        self.packets += 1;
        emit(packet)
    }
}

/// 48 kHz samples to nanoseconds, rounded to the nearest (exact for multiples of 3 samples).
pub fn samples_to_ns(samples: u64) -> u64 {
    ((u128::from(samples) * 1_000_000_000 + u128::from(OPUS_RATE_HZ) / 2) / u128::from(OPUS_RATE_HZ)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use audiopus::coder::Decoder;

    fn collect(packetizer: &mut OpusPacketizer, start: u64, samples: &[f32], out: &mut Vec<OpusPacket>) {
        packetizer
            .push(start, samples, |p| {
                out.push(p);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn opus_head_carries_the_encoders_pre_skip() {
        let packetizer = OpusPacketizer::new().unwrap();
        let head = packetizer.opus_head();
        assert_eq!(&head[..8], b"OpusHead");
        assert_eq!(head[8..10], [1, 1]);
        let pre_skip = u16::from_le_bytes([head[10], head[11]]);
        assert_eq!(u32::from(pre_skip), packetizer.pre_skip_samples());
        // libopus at 48 kHz looks ahead 6.5 ms (312 samples) in the AUDIO application.
        assert_eq!(pre_skip, 312);
        assert_eq!(packetizer.codec_delay_ns(), 6_500_000);
        assert_eq!(u32::from_le_bytes(head[12..16].try_into().unwrap()), 48_000);
    }

    #[test]
    fn gaps_are_filled_and_overlaps_trimmed() {
        let mut packetizer = OpusPacketizer::new().unwrap();
        let mut packets = Vec::new();
        let tone = vec![0.25f32; 1000];
        collect(&mut packetizer, 500, &tone, &mut packets); // 500 samples of leading silence
        assert_eq!(packetizer.end_sample(), 1500);
        collect(&mut packetizer, 1200, &tone, &mut packets); // overlaps by 300
        assert_eq!(packetizer.end_sample(), 2200);
        collect(&mut packetizer, 0, &tone, &mut packets); // entirely in the past
        assert_eq!(packetizer.end_sample(), 2200);
        collect(&mut packetizer, 4000, &tone[..10], &mut packets);
        assert_eq!(packetizer.end_sample(), 4010);
        assert_eq!(packets.len(), 4);
        let err = packetizer
            .push(4010 + MAX_GAP_SAMPLES + 1, &tone, |_| Ok(()))
            .err()
            .unwrap();
        assert!(
            matches!(err, EncodeError::AudioGap { end_sample: 4010, .. }),
            "{err}"
        );
        assert_eq!(packetizer.end_sample(), 4010, "a refused chunk changes nothing");
        let total = packetizer
            .finish(|p| {
                packets.push(p);
                Ok(())
            })
            .unwrap();
        // 4010 samples + 312 lookahead = 4322 decoded samples: 5 packets, 478 padded at the end.
        assert_eq!(total, 5);
        assert_eq!(packets.len(), 5);
        assert!(packets.iter().enumerate().all(|(i, p)| p.index == i as u64));
        assert_eq!(packets[4].discard_padding_samples, 5 * 960 - 4322);
        assert!(packets[..4].iter().all(|p| p.discard_padding_samples == 0));
    }

    #[test]
    fn decoded_audio_lines_up_with_the_output_clock_after_pre_skip() {
        // Silence, then a loud burst starting exactly at output sample 4800 (100 ms).
        let onset = 4800usize;
        let input: Vec<f32> = (0..9600)
            .map(|i| {
                if i >= onset {
                    0.8 * (i as f32 * 0.13).sin()
                } else {
                    0.0
                }
            })
            .collect();
        let mut packetizer = OpusPacketizer::new().unwrap();
        let pre_skip = packetizer.pre_skip_samples() as usize;
        let mut packets = Vec::new();
        for (i, chunk) in input.chunks(777).enumerate() {
            collect(&mut packetizer, (i * 777) as u64, chunk, &mut packets);
        }
        packetizer
            .finish(|p| {
                packets.push(p);
                Ok(())
            })
            .unwrap();

        let mut decoder = Decoder::new(SampleRate::Hz48000, Channels::Mono).unwrap();
        let mut decoded = Vec::new();
        let mut buf = vec![0f32; PACKET_SAMPLES];
        for p in &packets {
            let n = decoder
                .decode_float(Some(&p.data[..]), &mut buf[..], false)
                .unwrap();
            decoded.extend_from_slice(&buf[..n - p.discard_padding_samples as usize]);
        }
        let played = &decoded[pre_skip..];
        assert_eq!(
            played.len(),
            input.len(),
            "trimmed decode must be as long as the input"
        );
        let first_loud = played.iter().position(|s| s.abs() > 0.2).unwrap();
        assert!(
            first_loud.abs_diff(onset) <= 48,
            "burst decoded at sample {first_loud}, sent at {onset}"
        );
    }
}
