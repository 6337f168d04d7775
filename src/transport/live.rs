//! Live transports: a remote microphone played in as capture, and the avatar's audio and video
//! encoded for a network peer (the web agent's WebRTC connection).
//!
//! **In.** The network delivers decoded audio in bursts, late, or not at all (a muted or denied
//! microphone, a typed-only visitor). The capture stage must still tick like a microphone: one
//! 20 ms frame every 20 ms of the session clock, because the turn detector, typed text and the
//! latency marks all run on the input clock. So received audio goes into a bounded single-
//! producer ring and the capture stage takes a frame per tick through [`JitterBuffer`], a sans-IO
//! policy: wait until a little audio is buffered before playing (absorbs jitter), pad with
//! silence on an underrun, and throw away the excess when the buffer grows past its ceiling
//! (a stalled then flooding network must not add latency for the rest of the session).
//!
//! **Out.** The sink encodes VP8 and Opus as files do, but hands packets to the network task
//! through a small bounded queue, each stamped with its place on the output media clock (48 kHz
//! samples; for audio minus the Opus encoder's lookahead, so decoded audio lines up); the peer
//! turns that into RTP timestamps (audio 48 kHz, video 90 kHz). No other clock enters: lip sync
//! holds because both derive from the one playout clock. A full queue drops the
//! packet (counted): the media path never waits on the network. A dropped video frame would break
//! every frame after it, so the next one is forced to be a keyframe.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::audio::AudioFrame;
use crate::encode::opus::OpusPacket;
use crate::encode::vp8::Vp8Packet;
use crate::encode::{EncodeError, OpusPacketizer, Vp8Config, Vp8Encoder, i420_len, rgba_to_i420};
use crate::render::VideoFrame;
use crate::runtime::{Sender, StageCtx, StageError};

/// The only output rate a live session runs at (Opus over RTP is 48 kHz).
pub const LIVE_RATE_HZ: u32 = 48_000;
/// Samples per capture tick (20 ms at 48 kHz).
pub const TICK_SAMPLES: usize = LIVE_RATE_HZ as usize / 50;
/// Received audio the ring holds at most (1 s); more is dropped at the producer.
const RING_SAMPLES: usize = LIVE_RATE_HZ as usize;

/// How the capture plays received audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JitterSettings {
    /// Buffered audio needed before playing starts (or restarts after running dry).
    pub prefill_samples: usize,
    /// Buffered audio above which the excess is discarded, down to `prefill_samples`.
    pub ceiling_samples: usize,
}

impl Default for JitterSettings {
    fn default() -> Self {
        // 40 ms absorbs ordinary network jitter; 160 ms is the most we let it add.
        JitterSettings {
            prefill_samples: 2 * TICK_SAMPLES,
            ceiling_samples: 8 * TICK_SAMPLES,
        }
    }
}

/// What to do at one capture tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickPlan {
    /// Buffered samples to discard first (the buffer was over its ceiling).
    pub discard: usize,
    /// Buffered samples to play.
    pub take: usize,
    /// Silence after them, to complete the tick.
    pub pad: usize,
}

/// The sans-IO play-out policy for received audio: given how much is buffered at a tick, how
/// much to drop, play and pad.
#[derive(Debug)]
pub struct JitterBuffer {
    settings: JitterSettings,
    playing: bool,
}

impl JitterBuffer {
    pub fn new(settings: JitterSettings) -> Self {
        JitterBuffer {
            settings,
            playing: false,
        }
    }

    /// The plan for the next `TICK_SAMPLES`-sample frame when `buffered` samples are waiting.
    pub fn tick(&mut self, buffered: usize) -> TickPlan {
        let discard = if buffered > self.settings.ceiling_samples {
            buffered - self.settings.prefill_samples
        } else {
            0
        };
        let buffered = buffered - discard;
        if !self.playing && buffered >= self.settings.prefill_samples {
            self.playing = true;
        }
        if !self.playing {
            return TickPlan {
                discard,
                take: 0,
                pad: TICK_SAMPLES,
            };
        }
        let take = buffered.min(TICK_SAMPLES);
        if take < TICK_SAMPLES {
            // Ran dry: refill before playing again, so one late packet costs one gap, not many.
            self.playing = false;
        }
        TickPlan {
            discard,
            take,
            pad: TICK_SAMPLES - take,
        }
    }
}

/// Counters shared between the network side and the stages.
#[derive(Debug, Default)]
pub struct LiveCounters {
    /// Received samples dropped because the ring was full.
    pub overflow_samples: AtomicU64,
    /// Silence the capture inserted because nothing had arrived.
    pub padded_samples: AtomicU64,
    /// Received samples discarded to keep input latency under the ceiling.
    pub discarded_samples: AtomicU64,
    /// Output packets dropped because the network task was behind.
    pub dropped_video_packets: AtomicU64,
    pub dropped_audio_packets: AtomicU64,
    /// Received audio or typed text, as session-clock milliseconds (for the idle timeout).
    pub last_activity_ms: AtomicU64,
}

/// The network side's end of the live microphone: push decoded 48 kHz mono audio.
pub struct LiveAudioIn {
    producer: HeapProd<f32>,
    counters: Arc<LiveCounters>,
}

impl LiveAudioIn {
    /// Queues received audio; what does not fit is dropped and counted. Never blocks.
    pub fn push(&mut self, samples: &[f32]) {
        let pushed = self.producer.push_slice(samples);
        if pushed < samples.len() {
            self.counters
                .overflow_samples
                .fetch_add((samples.len() - pushed) as u64, Ordering::Relaxed);
        }
    }
}

/// The capture stage's end of the live microphone.
pub struct LiveCapture {
    consumer: HeapCons<f32>,
    jitter: JitterBuffer,
    counters: Arc<LiveCounters>,
}

/// A live microphone: the network pushes into one end, the capture stage plays the other.
pub fn live_audio(jitter: JitterSettings, counters: Arc<LiveCounters>) -> (LiveAudioIn, LiveCapture) {
    let (producer, consumer) = HeapRb::<f32>::new(RING_SAMPLES).split();
    (
        LiveAudioIn {
            producer,
            counters: counters.clone(),
        },
        LiveCapture {
            consumer,
            jitter: JitterBuffer::new(jitter),
            counters,
        },
    )
}

impl LiveCapture {
    /// Fills `frame` (exactly [`TICK_SAMPLES`] long) for one tick.
    fn fill(&mut self, frame: &mut [f32]) {
        let plan = self.jitter.tick(self.consumer.occupied_len());
        if plan.discard > 0 {
            self.consumer.skip(plan.discard);
            self.counters
                .discarded_samples
                .fetch_add(plan.discard as u64, Ordering::Relaxed);
        }
        let got = self.consumer.pop_slice(&mut frame[..plan.take]);
        frame[got..].fill(0.0);
        let padded = frame.len() - got;
        if padded > 0 {
            self.counters
                .padded_samples
                .fetch_add(padded as u64, Ordering::Relaxed);
        }
    }
}

/// The live capture stage: one 20 ms frame per 20 ms of the session clock, received audio or
/// silence, until shutdown.
pub async fn run_capture_stage(
    mut ctx: StageCtx,
    mut capture: LiveCapture,
    mut output: Sender<AudioFrame>,
) -> Result<(), StageError> {
    let start = Instant::now();
    let mut samples = [0.0f32; TICK_SAMPLES];
    let mut next_sample = 0u64;
    loop {
        let end_sample = next_sample + TICK_SAMPLES as u64;
        let due = start + std::time::Duration::from_nanos(end_sample * 1_000_000_000 / LIVE_RATE_HZ as u64);
        if !ctx.sleep_until(due).await {
            return Ok(());
        }
        capture.fill(&mut samples);
        ctx.set_cause(Instant::now());
        let frame = AudioFrame::new(LIVE_RATE_HZ, next_sample, &samples);
        ctx.emit(&mut output, frame).await?;
        next_sample = end_sample;
    }
}

/// One encoded packet for the network, stamped with where it sits on the output clock (48 kHz
/// samples).
#[derive(Clone, Debug)]
pub enum LivePacket {
    /// A VP8 frame shown at `media_sample`.
    Video {
        data: Vec<u8>,
        media_sample: u64,
        keyframe: bool,
    },
    /// A 20 ms Opus packet whose audio starts at `media_sample`.
    Audio { data: Vec<u8>, media_sample: u64 },
}

/// Where a live sink sends its packets, and how it encodes them.
pub struct LiveOutput {
    pub packets: mpsc::Sender<LivePacket>,
    /// Set by the network side when the receiver asks for a keyframe (a picture loss).
    pub keyframe_wanted: Arc<AtomicBool>,
    pub counters: Arc<LiveCounters>,
    pub video_bitrate_kbps: u32,
}

/// The live sink's encoders.
pub struct LiveEncoder {
    output: LiveOutput,
    video: Vp8Encoder,
    audio: OpusPacketizer,
    i420: Vec<u8>,
    vp8_packets: Vec<Vp8Packet>,
    width: u32,
    height: u32,
    force_keyframe: bool,
}

impl LiveEncoder {
    pub fn new(output: LiveOutput, width: u32, height: u32, fps: u32) -> Result<Self, EncodeError> {
        let video = Vp8Encoder::new(Vp8Config {
            width,
            height,
            fps,
            bitrate_kbps: output.video_bitrate_kbps,
            realtime: true,
            timebase_hz: LIVE_RATE_HZ,
            // A viewer joining or recovering from loss waits at most this long for a picture.
            keyframe_interval_ms: 2_000,
        })?;
        Ok(LiveEncoder {
            output,
            video,
            audio: OpusPacketizer::new()?,
            i420: vec![0; i420_len(width, height)],
            vp8_packets: Vec::new(),
            width,
            height,
            force_keyframe: false,
        })
    }

    /// Encodes a frame and queues it for the network; returns whether it was queued.
    pub fn push_video(&mut self, frame: &VideoFrame) -> Result<bool, EncodeError> {
        rgba_to_i420(&frame.rgba, self.width, self.height, &mut self.i420)?;
        let force = self.force_keyframe || self.output.keyframe_wanted.swap(false, Ordering::Relaxed);
        self.vp8_packets.clear();
        self.video
            .encode(&self.i420, frame.sample as i64, force, &mut self.vp8_packets)?;
        let mut queued = true;
        for packet in self.vp8_packets.drain(..) {
            let sent = self.output.packets.try_send(LivePacket::Video {
                data: packet.data,
                media_sample: packet.pts as u64,
                keyframe: packet.keyframe,
            });
            if sent.is_err() {
                self.output
                    .counters
                    .dropped_video_packets
                    .fetch_add(1, Ordering::Relaxed);
                queued = false;
            }
        }
        // After a loss the receiver cannot decode deltas: start again from a keyframe.
        self.force_keyframe = !queued;
        Ok(queued)
    }

    /// Encodes output audio (48 kHz, at output sample `start_sample`) into 20 ms packets.
    pub fn push_audio(&mut self, start_sample: u64, samples: &[f32]) -> Result<(), EncodeError> {
        let pre_skip = u64::from(self.audio.pre_skip_samples());
        let packets = &self.output.packets;
        let counters = &self.output.counters;
        self.audio.push(start_sample, samples, |packet: OpusPacket| {
            // Packet `index` decodes to decoder samples from index × 960, which play `pre_skip`
            // samples earlier on the output clock.
            let media_sample = (packet.index * TICK_SAMPLES as u64).wrapping_sub(pre_skip);
            let sent = packets.try_send(LivePacket::Audio {
                data: packet.data,
                media_sample,
            });
            if sent.is_err() {
                counters.dropped_audio_packets.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> JitterSettings {
        JitterSettings {
            prefill_samples: 2 * TICK_SAMPLES,
            ceiling_samples: 6 * TICK_SAMPLES,
        }
    }

    #[test]
    fn waits_for_the_prefill_then_plays_whole_ticks() {
        let mut jitter = JitterBuffer::new(settings());
        let silent = TickPlan {
            discard: 0,
            take: 0,
            pad: TICK_SAMPLES,
        };
        assert_eq!(jitter.tick(0), silent);
        assert_eq!(
            jitter.tick(TICK_SAMPLES),
            silent,
            "one tick buffered is below the prefill"
        );
        let full = TickPlan {
            discard: 0,
            take: TICK_SAMPLES,
            pad: 0,
        };
        assert_eq!(jitter.tick(2 * TICK_SAMPLES), full);
        assert_eq!(
            jitter.tick(TICK_SAMPLES),
            full,
            "once playing, one tick is enough"
        );
    }

    #[test]
    fn an_underrun_pads_with_silence_and_refills_before_playing_again() {
        let mut jitter = JitterBuffer::new(settings());
        jitter.tick(2 * TICK_SAMPLES);
        let short = jitter.tick(300);
        assert_eq!(
            short,
            TickPlan {
                discard: 0,
                take: 300,
                pad: TICK_SAMPLES - 300
            }
        );
        assert_eq!(jitter.tick(TICK_SAMPLES).take, 0, "refilling after running dry");
        assert_eq!(jitter.tick(2 * TICK_SAMPLES).take, TICK_SAMPLES);
    }

    #[test]
    fn a_flood_after_a_stall_is_cut_back_to_the_prefill() {
        let mut jitter = JitterBuffer::new(settings());
        let plan = jitter.tick(20 * TICK_SAMPLES);
        assert_eq!(plan.discard, 18 * TICK_SAMPLES);
        assert_eq!(plan.take, TICK_SAMPLES);
        assert_eq!(
            jitter.tick(6 * TICK_SAMPLES).discard,
            0,
            "at the ceiling nothing is discarded"
        );
    }

    #[test]
    fn the_capture_plays_what_arrived_and_counts_the_rest() {
        let counters = Arc::new(LiveCounters::default());
        let (mut input, mut capture) = live_audio(settings(), counters.clone());
        let mut frame = [0.0f32; TICK_SAMPLES];
        capture.fill(&mut frame);
        assert!(frame.iter().all(|&s| s == 0.0));
        input.push(&vec![0.5; 3 * TICK_SAMPLES]);
        capture.fill(&mut frame);
        assert!(frame.iter().all(|&s| s == 0.5));
        input.push(&vec![0.25; RING_SAMPLES]);
        assert_eq!(
            counters.overflow_samples.load(Ordering::Relaxed),
            2 * TICK_SAMPLES as u64,
            "the ring holds one second"
        );
        capture.fill(&mut frame);
        assert!(
            counters.discarded_samples.load(Ordering::Relaxed) > 0,
            "a full ring is cut back"
        );
        assert_eq!(
            counters.padded_samples.load(Ordering::Relaxed),
            TICK_SAMPLES as u64
        );
    }
}
