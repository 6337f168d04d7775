//! The MP4 file writer: H.264 video and Opus audio from the output clock.
//!
//! Both tracks use the output clock (48 kHz) as their timescale, so a frame stamped with output
//! sample `s` gets decode time `s` exactly, and audio packets line up to the sample. Opus's
//! encoder delay is declared the way the Opus-in-ISOBMFF mapping asks: `pre_skip` in the `dOps`
//! box and an edit list that starts the audio track `pre_skip` samples in and ends it at the last
//! real sample, so players drop the lookahead and the end padding. A video track that starts
//! after sample 0 gets an empty edit for the gap.
//!
//! Layout: `ftyp`, then one `mdat` written as samples arrive (its 64-bit size patched at the end),
//! then `moov` with the sample tables (kept in memory: a few bytes per sample). The boxes are
//! encoded with the `mp4-atom` crate. Blocking file I/O on the caller's thread.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use mp4_atom::{
    Avc1, Avcc, Co64, Codec, Dinf, Dops, Dref, Edts, Elst, ElstEntry, Encode, Ftyp, Hdlr, Mdhd, Mdia, Minf,
    Moov, Mvhd, Smhd, Stbl, Stsc, StscEntry, Stsd, Stss, Stsz, StszSamples, Stts, SttsEntry, Tkhd, Trak, Url,
    Visual, Vmhd,
};
use tracing::info;

use super::h264::H264Encoder;
use super::opus::{OPUS_RATE_HZ, OpusPacket, OpusPacketizer, PACKET_SAMPLES};
use super::{EncodeError, check_frame_size, i420_len, rgba_to_i420};
use crate::render::VideoFrame;

const VIDEO_TRACK_ID: u32 = 1;
const AUDIO_TRACK_ID: u32 = 2;

/// What to write.
#[derive(Clone, Debug)]
pub struct Mp4Config {
    /// Even.
    pub width: u32,
    /// Even.
    pub height: u32,
    pub fps: u32,
    /// Must be 48 000 (Opus's rate): the tracks' timescale.
    pub sample_rate_hz: u32,
    pub video_bitrate_kbps: u32,
}

/// What was written, reported by [`Mp4Writer::finish`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mp4Stats {
    pub video_frames: u64,
    pub audio_packets: u64,
    /// Frames whose `sample` was not after the previous frame's.
    pub dropped_video_frames: u64,
    pub duration_ms: u64,
    pub bytes: u64,
}

/// One sample in `mdat`.
struct SampleEntry {
    offset: u64,
    size: u32,
    /// Decode time in track timescale units.
    time: u64,
    sync: bool,
}

/// Writes one MP4 file. Create, push audio and video in any interleaving, then [`Mp4Writer::finish`].
pub struct Mp4Writer {
    config: Mp4Config,
    path: PathBuf,
    file: BufWriter<File>,
    /// Bytes written so far (the next sample's offset).
    position: u64,
    mdat_start: u64,
    video: H264Encoder,
    audio: OpusPacketizer,
    /// The Opus encoder's lookahead, for the edit list and `dOps`.
    pre_skip_samples: u32,
    i420: Vec<u8>,
    video_samples: Vec<SampleEntry>,
    audio_samples: Vec<SampleEntry>,
    last_video_sample: Option<u64>,
    dropped_video_frames: u64,
    /// Scratch for a length-prefixed picture.
    picture: Vec<u8>,
}

impl Mp4Writer {
    pub fn create(path: &Path, config: Mp4Config) -> Result<Self, EncodeError> {
        if config.sample_rate_hz != OPUS_RATE_HZ {
            return Err(EncodeError::OutOfRange {
                setting: "sample_rate_hz",
                value: config.sample_rate_hz.to_string(),
                expected: "48000: Opus runs at 48 kHz; resample the output clock first",
            });
        }
        let video = H264Encoder::new(config.width, config.height, config.fps, config.video_bitrate_kbps)?;
        let audio = OpusPacketizer::new()?;
        let file = File::create(path).map_err(|source| EncodeError::CreateFile {
            path: path.to_path_buf(),
            source,
        })?;
        let mut writer = Mp4Writer {
            i420: vec![0; i420_len(config.width, config.height)],
            config,
            path: path.to_path_buf(),
            file: BufWriter::new(file),
            position: 0,
            mdat_start: 0,
            video,
            pre_skip_samples: audio.pre_skip_samples(),
            audio,
            video_samples: Vec::new(),
            audio_samples: Vec::new(),
            last_video_sample: None,
            dropped_video_frames: 0,
            picture: Vec::new(),
        };
        let mut head = Vec::new();
        Ftyp {
            major_brand: b"isom".into(),
            minor_version: 512,
            compatible_brands: vec![
                b"isom".into(),
                b"iso2".into(),
                b"avc1".into(),
                b"mp41".into(),
                b"Opus".into(),
            ],
        }
        .encode(&mut head)
        .map_err(|e| writer.format_error(e))?;
        writer.mdat_start = head.len() as u64;
        // mdat with a 64-bit size, patched by `finish`.
        head.extend_from_slice(&1u32.to_be_bytes());
        head.extend_from_slice(b"mdat");
        head.extend_from_slice(&0u64.to_be_bytes());
        writer.write(&head)?;
        info!(path = %path.display(), width = writer.config.width, height = writer.config.height, "writing MP4");
        Ok(writer)
    }

    /// Mono f32 audio at 48 kHz; `start_sample` is the output-clock position of `samples[0]`.
    /// Gaps are filled with silence; overlap is trimmed.
    pub fn push_audio(&mut self, start_sample: u64, samples: &[f32]) -> Result<(), EncodeError> {
        let mut packets = Vec::new();
        self.audio.push(start_sample, samples, |packet| {
            packets.push(packet);
            Ok(())
        })?;
        for packet in packets {
            self.write_audio(packet)?;
        }
        Ok(())
    }

    /// Encodes a frame shown at `frame.sample`. Frames must come in increasing `sample` order; one
    /// that does not is dropped and counted.
    pub fn push_video(&mut self, frame: &VideoFrame) -> Result<(), EncodeError> {
        let (width, height) = (self.config.width, self.config.height);
        check_frame_size(frame, width, height)?;
        if self.last_video_sample.is_some_and(|last| frame.sample <= last) {
            self.dropped_video_frames += 1;
            return Ok(());
        }
        rgba_to_i420(&frame.rgba, width, height, &mut self.i420)?;
        let picture = self.video.encode(&self.i420, false)?;
        if picture.nals.is_empty() {
            // The encoder skipped it; the previous frame stays up longer.
            return Ok(());
        }
        self.last_video_sample = Some(frame.sample);
        self.picture.clear();
        for nal in &picture.nals {
            self.picture.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            self.picture.extend_from_slice(nal);
        }
        let entry = SampleEntry {
            offset: self.position,
            size: self.picture.len() as u32,
            time: frame.sample,
            sync: picture.keyframe,
        };
        let data = std::mem::take(&mut self.picture);
        let written = self.write(&data);
        self.picture = data;
        written?;
        self.video_samples.push(entry);
        Ok(())
    }

    fn write_audio(&mut self, packet: OpusPacket) -> Result<(), EncodeError> {
        let entry = SampleEntry {
            offset: self.position,
            size: packet.data.len() as u32,
            time: packet.index * PACKET_SAMPLES as u64,
            sync: true,
        };
        self.write(&packet.data)?;
        self.audio_samples.push(entry);
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        self.file.write_all(bytes).map_err(|source| EncodeError::Write {
            path: self.path.clone(),
            source,
        })?;
        self.position += bytes.len() as u64;
        Ok(())
    }

    fn format_error(&self, e: mp4_atom::Error) -> EncodeError {
        EncodeError::Write {
            path: self.path.clone(),
            source: std::io::Error::other(format!("encoding an MP4 box failed: {e}")),
        }
    }

    /// Flushes the audio encoder, writes `moov` and completes `mdat`.
    pub fn finish(mut self) -> Result<Mp4Stats, EncodeError> {
        let audio_end = self.audio.end_sample();
        let mut packets = Vec::new();
        let audio = std::mem::replace(&mut self.audio, OpusPacketizer::new()?);
        audio.finish(|packet| {
            packets.push(packet);
            Ok(())
        })?;
        for packet in packets {
            self.write_audio(packet)?;
        }
        let mdat_size = self.position - self.mdat_start;
        let frame_ticks = u64::from(self.config.sample_rate_hz / self.config.fps.max(1));
        let video_end = self.video_samples.last().map_or(0, |s| s.time + frame_ticks);
        let moov = self.moov(video_end, audio_end)?;
        let mut bytes = Vec::new();
        moov.encode(&mut bytes).map_err(|e| self.format_error(e))?;
        self.write(&bytes)?;
        let io = |source| EncodeError::Write {
            path: self.path.clone(),
            source,
        };
        self.file.seek(SeekFrom::Start(self.mdat_start + 8)).map_err(io)?;
        self.file.write_all(&mdat_size.to_be_bytes()).map_err(io)?;
        self.file.flush().map_err(io)?;
        let duration_samples = video_end.max(audio_end);
        let stats = Mp4Stats {
            video_frames: self.video_samples.len() as u64,
            audio_packets: self.audio_samples.len() as u64,
            dropped_video_frames: self.dropped_video_frames,
            duration_ms: duration_samples * 1000 / u64::from(OPUS_RATE_HZ),
            bytes: self.position,
        };
        info!(path = %self.path.display(), ?stats, "MP4 finished");
        Ok(stats)
    }

    fn moov(&self, video_end: u64, audio_end: u64) -> Result<Moov, EncodeError> {
        let rate = self.config.sample_rate_hz;
        let (Some(sps), Some(pps)) = (&self.video.sps, &self.video.pps) else {
            return Err(EncodeError::Encode {
                codec: "H.264 (OpenH264)",
                reason: "no sequence/picture parameter sets were produced (no video frames were written?)"
                    .into(),
            });
        };
        let first_video = self.video_samples.first().map_or(0, |s| s.time);
        let mut video_edits = Vec::new();
        if first_video > 0 {
            video_edits.push(ElstEntry {
                segment_duration: first_video,
                media_time: None,
                media_rate: 1.into(),
            });
        }
        video_edits.push(ElstEntry {
            segment_duration: video_end - first_video,
            media_time: Some(first_video),
            media_rate: 1.into(),
        });
        let video = Trak {
            tkhd: Tkhd {
                track_id: VIDEO_TRACK_ID,
                duration: video_end,
                enabled: true,
                in_movie: true,
                width: (self.config.width as u16).into(),
                height: (self.config.height as u16).into(),
                ..Default::default()
            },
            edts: Some(Edts {
                elst: Some(Elst { entries: video_edits }),
            }),
            mdia: Mdia {
                mdhd: Mdhd {
                    timescale: rate,
                    duration: video_end - first_video,
                    language: "und".into(),
                    ..Default::default()
                },
                hdlr: Hdlr {
                    handler: b"vide".into(),
                    name: "persona video".into(),
                },
                minf: Minf {
                    vmhd: Some(Vmhd::default()),
                    dinf: data_info(),
                    stbl: Stbl {
                        stsd: Stsd {
                            codecs: vec![Codec::Avc1(Avc1 {
                                visual: Visual {
                                    data_reference_index: 1,
                                    width: self.config.width as u16,
                                    height: self.config.height as u16,
                                    horizresolution: 72.into(),
                                    vertresolution: 72.into(),
                                    frame_count: 1,
                                    compressor: "persona H.264".into(),
                                    depth: 24,
                                },
                                avcc: Avcc {
                                    configuration_version: 1,
                                    avc_profile_indication: sps[1],
                                    profile_compatibility: sps[2],
                                    avc_level_indication: sps[3],
                                    length_size: 4,
                                    sequence_parameter_sets: vec![sps.clone()],
                                    picture_parameter_sets: vec![pps.clone()],
                                    ext: None,
                                },
                                ..Default::default()
                            })],
                        },
                        stts: durations(&self.video_samples, video_end),
                        stss: Some(Stss {
                            entries: (1..=self.video_samples.len() as u32)
                                .filter(|&i| self.video_samples[i as usize - 1].sync)
                                .collect(),
                        }),
                        stsc: one_sample_per_chunk(),
                        stsz: sizes(&self.video_samples),
                        co64: Some(offsets(&self.video_samples)),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            },
            ..Default::default()
        };
        let pre_skip = self.pre_skip_samples;
        let audio_media_end = self
            .audio_samples
            .last()
            .map_or(0, |s| s.time + PACKET_SAMPLES as u64);
        let audio = Trak {
            tkhd: Tkhd {
                track_id: AUDIO_TRACK_ID,
                duration: audio_end,
                enabled: true,
                in_movie: true,
                alternate_group: 1,
                volume: 1.into(),
                ..Default::default()
            },
            edts: Some(Edts {
                elst: Some(Elst {
                    entries: vec![ElstEntry {
                        segment_duration: audio_end,
                        media_time: Some(u64::from(pre_skip)),
                        media_rate: 1.into(),
                    }],
                }),
            }),
            mdia: Mdia {
                mdhd: Mdhd {
                    timescale: rate,
                    duration: audio_media_end,
                    language: "und".into(),
                    ..Default::default()
                },
                hdlr: Hdlr {
                    handler: b"soun".into(),
                    name: "persona audio".into(),
                },
                minf: Minf {
                    smhd: Some(Smhd::default()),
                    dinf: data_info(),
                    stbl: Stbl {
                        stsd: Stsd {
                            codecs: vec![Codec::Opus(mp4_atom::Opus {
                                audio: mp4_atom::Audio {
                                    data_reference_index: 1,
                                    channel_count: 1,
                                    sample_size: 16,
                                    sample_rate: (OPUS_RATE_HZ as u16).into(),
                                },
                                dops: Dops {
                                    output_channel_count: 1,
                                    pre_skip: pre_skip as u16,
                                    input_sample_rate: OPUS_RATE_HZ,
                                    output_gain: 0,
                                    channel_mapping: None,
                                },
                                btrt: None,
                            })],
                        },
                        stts: durations(&self.audio_samples, audio_media_end),
                        stsc: one_sample_per_chunk(),
                        stsz: sizes(&self.audio_samples),
                        co64: Some(offsets(&self.audio_samples)),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            },
            ..Default::default()
        };
        Ok(Moov {
            mvhd: Mvhd {
                timescale: rate,
                duration: video_end.max(audio_end),
                rate: 1.into(),
                volume: 1.into(),
                next_track_id: AUDIO_TRACK_ID + 1,
                ..Default::default()
            },
            trak: vec![video, audio],
            ..Default::default()
        })
    }
}

fn data_info() -> Dinf {
    Dinf {
        dref: Dref {
            entries: vec![Url::default().into()],
        },
    }
}

fn one_sample_per_chunk() -> Stsc {
    Stsc {
        entries: vec![StscEntry {
            first_chunk: 1,
            samples_per_chunk: 1,
            sample_description_index: 1,
        }],
    }
}

fn sizes(samples: &[SampleEntry]) -> Stsz {
    Stsz {
        samples: StszSamples::Different {
            sizes: samples.iter().map(|s| s.size).collect(),
        },
    }
}

fn offsets(samples: &[SampleEntry]) -> Co64 {
    Co64 {
        entries: samples.iter().map(|s| s.offset).collect(),
    }
}

/// Run-length sample durations from decode times; the last sample lasts until `end`.
fn durations(samples: &[SampleEntry], end: u64) -> Stts {
    let mut entries: Vec<SttsEntry> = Vec::new();
    for (i, sample) in samples.iter().enumerate() {
        let next = samples.get(i + 1).map_or(end, |s| s.time);
        let delta = next.saturating_sub(sample.time).max(1) as u32;
        match entries.last_mut() {
            Some(last) if last.sample_delta == delta => last.sample_count += 1,
            _ => entries.push(SttsEntry {
                sample_count: 1,
                sample_delta: delta,
            }),
        }
    }
    Stts { entries }
}
