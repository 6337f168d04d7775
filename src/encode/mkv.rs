//! A minimal WebM (Matroska) muxer: one VP8 track, one Opus track, written in timestamp order.
//!
//! The `webm` crate (libwebm) was the first choice, but its API can set only `CodecPrivate`: not
//! `CodecDelay`, `SeekPreRoll` or a block's `DiscardPadding`, which Opus needs for audio to start and
//! end on the right sample. Writing those few EBML elements ourselves is smaller than patching
//! libwebm's output.
//!
//! Layout: EBML header, then a Segment holding SeekHead, Info, Tracks, Clusters and finally Cues.
//! A cluster is built in memory and written whole, so its size is known; a new one starts at every
//! video keyframe (so cues point at decodable pictures) or after [`MAX_CLUSTER_MS`]. The Segment
//! size, Duration and the Cues entry of the SeekHead are patched in [`MkvMuxer::finalize`]; until
//! then they read "unknown", so an unfinished file is still a playable live-style stream.
//!
//! This muxer does not reorder: blocks are written as they come (the caller interleaves), and a
//! block older than its cluster gets a negative offset, which Matroska allows.

use std::io::{self, Seek, SeekFrom, Write};

use tracing::warn;

/// Timestamps are stored in milliseconds (the WebM norm; players handle it best).
const TIMESTAMP_SCALE_NS: u64 = 1_000_000;
/// A cluster spans at most this long, so block offsets (16-bit, in ms) never overflow.
const MAX_CLUSTER_MS: u64 = 5_000;
/// And at most this many bytes, so a cluster built in memory stays small.
const MAX_CLUSTER_BYTES: usize = 4 << 20;

/// Track numbers; both below 127, so a block header spells them in one byte.
pub(crate) const VIDEO_TRACK: u64 = 1;
pub(crate) const AUDIO_TRACK: u64 = 2;

mod id {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const EBML_VERSION: u32 = 0x4286;
    pub const EBML_READ_VERSION: u32 = 0x42F7;
    pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const DOC_TYPE_VERSION: u32 = 0x4287;
    pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;
    pub const SEGMENT: u32 = 0x1853_8067;
    pub const SEEK_HEAD: u32 = 0x114D_9B74;
    pub const SEEK: u32 = 0x4DBB;
    pub const SEEK_ID: u32 = 0x53AB;
    pub const SEEK_POSITION: u32 = 0x53AC;
    pub const INFO: u32 = 0x1549_A966;
    pub const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
    pub const MUXING_APP: u32 = 0x4D80;
    pub const WRITING_APP: u32 = 0x5741;
    pub const DURATION: u32 = 0x4489;
    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_UID: u32 = 0x73C5;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const FLAG_LACING: u32 = 0x9C;
    pub const LANGUAGE: u32 = 0x22_B59C;
    pub const CODEC_ID: u32 = 0x86;
    pub const CODEC_PRIVATE: u32 = 0x63A2;
    pub const CODEC_DELAY: u32 = 0x56AA;
    pub const SEEK_PRE_ROLL: u32 = 0x56BB;
    pub const DEFAULT_DURATION: u32 = 0x23_E383;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;
    pub const COLOUR: u32 = 0x55B0;
    pub const MATRIX_COEFFICIENTS: u32 = 0x55B1;
    pub const RANGE: u32 = 0x55B9;
    pub const AUDIO: u32 = 0xE1;
    pub const SAMPLING_FREQUENCY: u32 = 0xB5;
    pub const CHANNELS: u32 = 0x9F;
    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const TIMESTAMP: u32 = 0xE7;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
    pub const BLOCK_GROUP: u32 = 0xA0;
    pub const BLOCK: u32 = 0xA1;
    pub const DISCARD_PADDING: u32 = 0x75A2;
    pub const CUES: u32 = 0x1C53_BB6B;
    pub const CUE_POINT: u32 = 0xBB;
    pub const CUE_TIME: u32 = 0xB3;
    pub const CUE_TRACK_POSITIONS: u32 = 0xB7;
    pub const CUE_TRACK: u32 = 0xF7;
    pub const CUE_CLUSTER_POSITION: u32 = 0xF1;
    pub const VOID: u32 = 0xEC;
}

/// The two tracks' parameters, fixed when the file is created.
pub(crate) struct TrackSpec {
    pub width: u32,
    pub height: u32,
    pub frame_duration_ns: u64,
    pub opus_head: [u8; 19],
    pub codec_delay_ns: u64,
    pub seek_pre_roll_ns: u64,
    pub sample_rate_hz: u32,
}

/// One block to write.
pub(crate) struct Block<'a> {
    pub track: u64,
    pub timestamp_ns: u64,
    pub keyframe: bool,
    pub data: &'a [u8],
    /// Nanoseconds of decoded audio at the end of this block to throw away.
    pub discard_padding_ns: u64,
}

struct Cluster {
    timestamp_ms: u64,
    /// Everything after the cluster's size field.
    body: Vec<u8>,
}

/// Writes a WebM file to `out`, which must be seekable so the header can be completed at the end.
pub(crate) struct MkvMuxer<W: Write + Seek> {
    out: W,
    /// File offset where the Segment's payload starts: all positions in SeekHead and Cues count
    /// from here.
    segment_start: u64,
    /// File offset of the Segment's 8-byte size field.
    segment_size_at: u64,
    /// File offset of the Void reserved for the Duration element.
    duration_at: u64,
    /// File offset of the Void reserved for the Cues entry of the SeekHead.
    cues_seek_at: u64,
    cluster: Option<Cluster>,
    /// (time in ms, track, cluster position relative to `segment_start`)
    cues: Vec<(u64, u64, u64)>,
    /// Timestamp of the latest cluster opened.
    last_cluster_ms: u64,
    video_blocks: u64,
    late_blocks: u64,
}

/// A Seek entry with an 8-byte position: 2 (ID) + 1 (size) + 7 (SeekID) + 11 (SeekPosition).
const SEEK_ENTRY_LEN: usize = 21;
/// A Duration element: 2 (ID) + 1 (size) + 8 (float).
const DURATION_LEN: usize = 11;

impl<W: Write + Seek> MkvMuxer<W> {
    /// Writes the EBML header, the start of the Segment, its SeekHead, Info and Tracks.
    pub fn new(mut out: W, spec: &TrackSpec) -> io::Result<Self> {
        let mut head = Vec::with_capacity(512);
        master(&mut head, id::EBML, |b| {
            uint(b, id::EBML_VERSION, 1);
            uint(b, id::EBML_READ_VERSION, 1);
            uint(b, id::EBML_MAX_ID_LENGTH, 4);
            uint(b, id::EBML_MAX_SIZE_LENGTH, 8);
            bytes(b, id::DOC_TYPE, b"webm");
            // Version 4 for CodecDelay, SeekPreRoll and DiscardPadding; readable as version 2.
            uint(b, id::DOC_TYPE_VERSION, 4);
            uint(b, id::DOC_TYPE_READ_VERSION, 2);
        });
        put_id(&mut head, id::SEGMENT);
        let segment_size_at = head.len() as u64;
        head.extend_from_slice(&UNKNOWN_SIZE_8);
        let segment_start = head.len() as u64;

        let info = element(id::INFO, |b| {
            uint(b, id::TIMESTAMP_SCALE, TIMESTAMP_SCALE_NS);
            bytes(b, id::MUXING_APP, b"persona");
            bytes(b, id::WRITING_APP, b"persona");
            void(b, DURATION_LEN);
        });
        let tracks = element(id::TRACKS, |b| {
            master(b, id::TRACK_ENTRY, |b| {
                uint(b, id::TRACK_NUMBER, VIDEO_TRACK);
                uint(b, id::TRACK_UID, VIDEO_TRACK);
                uint(b, id::TRACK_TYPE, 1);
                uint(b, id::FLAG_LACING, 0);
                bytes(b, id::LANGUAGE, b"und");
                bytes(b, id::CODEC_ID, b"V_VP8");
                uint(b, id::DEFAULT_DURATION, spec.frame_duration_ns);
                master(b, id::VIDEO, |b| {
                    uint(b, id::PIXEL_WIDTH, u64::from(spec.width));
                    uint(b, id::PIXEL_HEIGHT, u64::from(spec.height));
                    // What rgba_to_i420 produces: BT.601 matrix, limited ("broadcast") range.
                    master(b, id::COLOUR, |b| {
                        uint(b, id::MATRIX_COEFFICIENTS, 6);
                        uint(b, id::RANGE, 1);
                    });
                });
            });
            master(b, id::TRACK_ENTRY, |b| {
                uint(b, id::TRACK_NUMBER, AUDIO_TRACK);
                uint(b, id::TRACK_UID, AUDIO_TRACK);
                uint(b, id::TRACK_TYPE, 2);
                uint(b, id::FLAG_LACING, 0);
                bytes(b, id::LANGUAGE, b"und");
                bytes(b, id::CODEC_ID, b"A_OPUS");
                bytes(b, id::CODEC_PRIVATE, &spec.opus_head);
                uint(b, id::CODEC_DELAY, spec.codec_delay_ns);
                uint(b, id::SEEK_PRE_ROLL, spec.seek_pre_roll_ns);
                master(b, id::AUDIO, |b| {
                    float(b, id::SAMPLING_FREQUENCY, f64::from(spec.sample_rate_hz));
                    uint(b, id::CHANNELS, 1);
                });
            });
        });

        // SeekHead first, with Info and Tracks right behind it; room for the Cues entry is kept
        // as a Void of the same size and filled in at the end.
        // Positions are fixed-width, so the SeekHead's length does not depend on them.
        let seek_head = |info_pos, tracks_pos| {
            element(id::SEEK_HEAD, |b| {
                seek_entry(b, id::INFO, info_pos);
                seek_entry(b, id::TRACKS, tracks_pos);
                void(b, SEEK_ENTRY_LEN);
            })
        };
        let info_pos = seek_head(0, 0).len() as u64;
        let tracks_pos = info_pos + info.len() as u64;
        let mut seek_head = seek_head(info_pos, tracks_pos);
        let cues_seek_at = segment_start + (seek_head.len() - SEEK_ENTRY_LEN) as u64;
        let duration_at = segment_start + info_pos + (info.len() - DURATION_LEN) as u64;

        head.append(&mut seek_head);
        head.extend_from_slice(&info);
        head.extend_from_slice(&tracks);
        out.write_all(&head)?;
        Ok(MkvMuxer {
            out,
            segment_start,
            segment_size_at,
            duration_at,
            cues_seek_at,
            cluster: None,
            cues: Vec::new(),
            last_cluster_ms: 0,
            video_blocks: 0,
            late_blocks: 0,
        })
    }

    /// Blocks written with a timestamp older than their cluster's start (the caller fell behind).
    pub fn late_blocks(&self) -> u64 {
        self.late_blocks
    }

    pub fn write_block(&mut self, block: &Block<'_>) -> io::Result<()> {
        let timestamp_ms = ns_to_ms(block.timestamp_ns);
        let starts_cluster = match &self.cluster {
            None => true,
            Some(c) => {
                (block.track == VIDEO_TRACK && block.keyframe)
                    || timestamp_ms > c.timestamp_ms + MAX_CLUSTER_MS
                    || c.body.len() > MAX_CLUSTER_BYTES
            }
        };
        if starts_cluster {
            self.close_cluster()?;
            // Cues point at clusters that start with a video keyframe, or with audio while there
            // is no video yet (an audio-only stretch must stay seekable too).
            let cue_track = if block.track == VIDEO_TRACK && block.keyframe {
                Some(VIDEO_TRACK)
            } else if block.track == AUDIO_TRACK && self.video_blocks == 0 {
                Some(AUDIO_TRACK)
            } else {
                None
            };
            // Cluster times never go back, even when a late block opens one.
            let cluster_ms = timestamp_ms.max(self.last_cluster_ms);
            self.last_cluster_ms = cluster_ms;
            if let Some(track) = cue_track {
                let position = self.out.stream_position()? - self.segment_start;
                self.cues.push((cluster_ms, track, position));
            }
            let mut body = Vec::with_capacity(64 * 1024);
            uint(&mut body, id::TIMESTAMP, cluster_ms);
            self.cluster = Some(Cluster {
                timestamp_ms: cluster_ms,
                body,
            });
        }
        let cluster = self
            .cluster
            .as_mut()
            .expect("a cluster is open: one was opened above if there was none");

        let offset_ms = timestamp_ms as i64 - cluster.timestamp_ms as i64;
        let offset_ms = if offset_ms < i64::from(i16::MIN) {
            warn!(
                track = block.track,
                timestamp_ms, "block too far behind its cluster; clamping"
            );
            i16::MIN
        } else {
            offset_ms as i16
        };
        if offset_ms < 0 {
            self.late_blocks += 1;
        }
        // Block header: track number as a 1-byte vint (tracks are 1 and 2), the 16-bit offset
        // from the cluster's time, then flags (0x80: keyframe, SimpleBlock only).
        let [offset_hi, offset_lo] = offset_ms.to_be_bytes();
        let mut header = [0x80 | block.track as u8, offset_hi, offset_lo, 0];
        let body = &mut cluster.body;
        if block.discard_padding_ns == 0 {
            // Every Opus packet is decodable on its own, so counts as a keyframe.
            if block.keyframe || block.track == AUDIO_TRACK {
                header[3] = 0x80;
            }
            put_id(body, id::SIMPLE_BLOCK);
            put_size(body, (header.len() + block.data.len()) as u64);
            body.extend_from_slice(&header);
            body.extend_from_slice(block.data);
        } else {
            // DiscardPadding needs a BlockGroup; a Block without ReferenceBlock is a keyframe.
            let block_len = header.len() + block.data.len();
            let mut padding = Vec::with_capacity(16);
            sint(&mut padding, id::DISCARD_PADDING, block.discard_padding_ns as i64);
            let block_element_len = 1 + size_len(block_len as u64) + block_len;
            put_id(body, id::BLOCK_GROUP);
            put_size(body, (block_element_len + padding.len()) as u64);
            put_id(body, id::BLOCK);
            put_size(body, block_len as u64);
            body.extend_from_slice(&header);
            body.extend_from_slice(block.data);
            body.append(&mut padding);
        }
        if block.track == VIDEO_TRACK {
            self.video_blocks += 1;
        }
        Ok(())
    }

    /// Writes the last cluster and the Cues, fills in Duration, the Segment size and the SeekHead,
    /// and returns the writer and the file's length in bytes.
    pub fn finalize(mut self, duration_ns: u64) -> io::Result<(W, u64)> {
        self.close_cluster()?;
        let cues_pos = self.out.stream_position()? - self.segment_start;
        if !self.cues.is_empty() {
            let cues = element(id::CUES, |b| {
                for &(time_ms, track, position) in &self.cues {
                    master(b, id::CUE_POINT, |b| {
                        uint(b, id::CUE_TIME, time_ms);
                        master(b, id::CUE_TRACK_POSITIONS, |b| {
                            uint(b, id::CUE_TRACK, track);
                            uint(b, id::CUE_CLUSTER_POSITION, position);
                        });
                    });
                }
            });
            self.out.write_all(&cues)?;
        }
        let end = self.out.stream_position()?;

        let mut size = UNKNOWN_SIZE_8;
        size[1..].copy_from_slice(&(end - self.segment_start).to_be_bytes()[1..]);
        self.patch(self.segment_size_at, &size)?;
        let mut duration = Vec::with_capacity(DURATION_LEN);
        float(
            &mut duration,
            id::DURATION,
            duration_ns as f64 / TIMESTAMP_SCALE_NS as f64,
        );
        self.patch(self.duration_at, &duration)?;
        if !self.cues.is_empty() {
            let mut entry = Vec::with_capacity(SEEK_ENTRY_LEN);
            seek_entry(&mut entry, id::CUES, cues_pos);
            self.patch(self.cues_seek_at, &entry)?;
        }
        self.out.seek(SeekFrom::Start(end))?;
        self.out.flush()?;
        Ok((self.out, end))
    }

    fn close_cluster(&mut self) -> io::Result<()> {
        if let Some(cluster) = self.cluster.take() {
            let mut head = Vec::with_capacity(12);
            put_id(&mut head, id::CLUSTER);
            put_size(&mut head, cluster.body.len() as u64);
            self.out.write_all(&head)?;
            self.out.write_all(&cluster.body)?;
        }
        Ok(())
    }

    fn patch(&mut self, at: u64, data: &[u8]) -> io::Result<()> {
        self.out.seek(SeekFrom::Start(at))?;
        self.out.write_all(data)
    }
}

/// An 8-byte EBML size meaning "unknown"; also the template for a patched 8-byte size.
const UNKNOWN_SIZE_8: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

fn ns_to_ms(ns: u64) -> u64 {
    (ns + TIMESTAMP_SCALE_NS / 2) / TIMESTAMP_SCALE_NS
}

fn put_id(b: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = (id.leading_zeros() / 8) as usize;
    b.extend_from_slice(&bytes[skip..]);
}

/// Bytes of the shortest EBML variable-size integer holding `size` (all-ones is reserved).
fn size_len(size: u64) -> usize {
    (1..=8).find(|&n| size < (1u64 << (7 * n)) - 1).unwrap_or(8)
}

fn put_size(b: &mut Vec<u8>, size: u64) {
    let n = size_len(size);
    let marked = size | (1u64 << (7 * n));
    b.extend_from_slice(&marked.to_be_bytes()[8 - n..]);
}

fn element(id: u32, children: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    master(&mut out, id, children);
    out
}

fn master(b: &mut Vec<u8>, id: u32, children: impl FnOnce(&mut Vec<u8>)) {
    let mut payload = Vec::new();
    children(&mut payload);
    bytes(b, id, &payload);
}

fn bytes(b: &mut Vec<u8>, id: u32, payload: &[u8]) {
    put_id(b, id);
    put_size(b, payload.len() as u64);
    b.extend_from_slice(payload);
}

fn uint(b: &mut Vec<u8>, id: u32, value: u64) {
    let n = (8 - (value.leading_zeros() / 8) as usize).max(1);
    bytes(b, id, &value.to_be_bytes()[8 - n..]);
}

fn sint(b: &mut Vec<u8>, id: u32, value: i64) {
    let n = (1..=8).find(|&n| n == 8 || (-(1i64 << (8 * n - 1))..(1i64 << (8 * n - 1))).contains(&value));
    let n = n.unwrap_or(8);
    bytes(b, id, &value.to_be_bytes()[8 - n..]);
}

fn float(b: &mut Vec<u8>, id: u32, value: f64) {
    bytes(b, id, &value.to_be_bytes());
}

/// A Seek entry whose position always takes 8 bytes, so it can be patched in place.
fn seek_entry(b: &mut Vec<u8>, target: u32, position: u64) {
    master(b, id::SEEK, |b| {
        let mut target_id = Vec::with_capacity(4);
        put_id(&mut target_id, target);
        bytes(b, id::SEEK_ID, &target_id);
        bytes(b, id::SEEK_POSITION, &position.to_be_bytes());
    });
}

/// A Void element of exactly `len` bytes (2 to 127), reserving room to patch later.
fn void(b: &mut Vec<u8>, len: usize) {
    debug_assert!((2..=127).contains(&len));
    put_id(b, id::VOID);
    put_size(b, (len - 2) as u64);
    b.resize(b.len() + len - 2, 0);
}

#[cfg(test)]
pub(crate) mod read {
    //! Just enough of an EBML reader to check what the muxer wrote.

    use super::id;

    /// (track, absolute timestamp in ms, discard padding in ns) of every block, in file order.
    pub fn blocks(file: &[u8]) -> Vec<(u64, i64, i64)> {
        let mut out = Vec::new();
        walk(file, 0, &mut |id, payload, cluster_ms| match id {
            id::SIMPLE_BLOCK | id::BLOCK => {
                let (track, n) = vint(payload);
                let offset = i16::from_be_bytes([payload[n], payload[n + 1]]);
                out.push((track, cluster_ms + i64::from(offset), 0));
            }
            id::DISCARD_PADDING => {
                let mut v = if payload[0] & 0x80 != 0 { -1i64 } else { 0 };
                for &byte in payload {
                    v = (v << 8) | i64::from(byte);
                }
                if let Some(last) = out.last_mut() {
                    last.2 = v;
                }
            }
            _ => {}
        });
        out
    }

    /// Payload of the first element with this ID anywhere in the file.
    pub fn find(file: &[u8], wanted: u32) -> Option<Vec<u8>> {
        all(file, wanted).into_iter().next()
    }

    /// Payloads of every element with this ID, in file order.
    pub fn all(file: &[u8], wanted: u32) -> Vec<Vec<u8>> {
        let mut found = Vec::new();
        walk(file, 0, &mut |id, payload, _| {
            if id == wanted {
                found.push(payload.to_vec());
            }
        });
        found
    }

    const MASTERS: [u32; 14] = [
        id::SEGMENT,
        id::SEEK,
        id::VIDEO,
        id::AUDIO,
        id::COLOUR,
        id::CLUSTER,
        id::BLOCK_GROUP,
        id::TRACKS,
        id::TRACK_ENTRY,
        id::INFO,
        id::SEEK_HEAD,
        id::CUES,
        id::CUE_POINT,
        id::CUE_TRACK_POSITIONS,
    ];

    fn walk(mut data: &[u8], cluster_ms: i64, visit: &mut dyn FnMut(u32, &[u8], i64)) {
        let mut cluster_ms = cluster_ms;
        while !data.is_empty() {
            let id_len = (data[0].leading_zeros() + 1) as usize;
            let id = data[..id_len].iter().fold(0u32, |a, &b| (a << 8) | u32::from(b));
            let (size, size_len) = vint(&data[id_len..]);
            let start = id_len + size_len;
            let end = if size == (1u64 << (7 * size_len)) - 1 {
                data.len()
            } else {
                start + size as usize
            };
            let payload = &data[start..end];
            if id == id::TIMESTAMP {
                cluster_ms = payload.iter().fold(0i64, |a, &b| (a << 8) | i64::from(b));
            }
            visit(id, payload, cluster_ms);
            if MASTERS.contains(&id) {
                walk(payload, cluster_ms, visit);
            }
            data = &data[end..];
        }
    }

    fn vint(data: &[u8]) -> (u64, usize) {
        let len = (data[0].leading_zeros() + 1) as usize;
        let mut v = u64::from(data[0]) & ((1u64 << (8 - len)) - 1);
        for &b in &data[1..len] {
            v = (v << 8) | u64::from(b);
        }
        (v, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn sizes_use_the_shortest_vint_and_avoid_the_reserved_value() {
        let encode = |n: u64| {
            let mut b = Vec::new();
            put_size(&mut b, n);
            b
        };
        assert_eq!(encode(0), [0x80]);
        assert_eq!(encode(126), [0xFE]);
        assert_eq!(encode(127), [0x40, 0x7F]); // 0xFF would mean "unknown"
        assert_eq!(encode(300), [0x41, 0x2C]);
        let mut b = Vec::new();
        sint(&mut b, id::DISCARD_PADDING, 13_500_000);
        assert_eq!(b, [0x75, 0xA2, 0x84, 0x00, 0xCD, 0xFE, 0x60]); // 0xCDFE60 needs a sign byte
        let mut b = Vec::new();
        uint(&mut b, id::TRACK_NUMBER, 0);
        assert_eq!(b, [0xD7, 0x81, 0x00]);
    }

    #[test]
    fn opus_track_carries_codec_delay_and_seek_pre_roll_and_blocks_read_back() {
        let spec = TrackSpec {
            width: 64,
            height: 48,
            frame_duration_ns: 40_000_000,
            opus_head: *b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00",
            codec_delay_ns: 6_500_000,
            seek_pre_roll_ns: 80_000_000,
            sample_rate_hz: 48_000,
        };
        let mut muxer = MkvMuxer::new(Cursor::new(Vec::new()), &spec).unwrap();
        let block = |track, ms: u64, keyframe, discard_padding_ns| Block {
            track,
            timestamp_ns: ms * 1_000_000,
            keyframe,
            data: &[1, 2, 3],
            discard_padding_ns,
        };
        muxer.write_block(&block(VIDEO_TRACK, 0, true, 0)).unwrap();
        muxer.write_block(&block(AUDIO_TRACK, 0, true, 0)).unwrap();
        muxer.write_block(&block(AUDIO_TRACK, 20, true, 0)).unwrap();
        muxer.write_block(&block(VIDEO_TRACK, 40, false, 0)).unwrap();
        muxer.write_block(&block(VIDEO_TRACK, 2000, true, 0)).unwrap();
        muxer
            .write_block(&block(AUDIO_TRACK, 1990, true, 13_500_000))
            .unwrap();
        let (out, len) = muxer.finalize(2_040_000_000).unwrap();
        let file = out.into_inner();
        assert_eq!(len as usize, file.len());

        assert_eq!(
            read::find(&file, id::CODEC_DELAY).unwrap(),
            6_500_000u32.to_be_bytes()[1..]
        );
        assert_eq!(
            read::find(&file, id::SEEK_PRE_ROLL).unwrap(),
            80_000_000u32.to_be_bytes()
        );
        assert_eq!(read::find(&file, id::CODEC_PRIVATE).unwrap(), spec.opus_head);
        let duration = read::find(&file, id::DURATION).unwrap();
        assert_eq!(f64::from_be_bytes(duration.try_into().unwrap()), 2040.0);
        assert_eq!(
            read::blocks(&file),
            [
                (1, 0, 0),
                (2, 0, 0),
                (2, 20, 0),
                (1, 40, 0),
                (1, 2000, 0),
                (2, 1990, 13_500_000)
            ]
        );
        // Two clusters (two keyframes), so two cue points; the SeekHead points at the Cues.
        let cue_times = read::all(&file, id::CUE_TIME);
        assert_eq!(cue_times, [vec![0], 2000u16.to_be_bytes().to_vec()]);
        assert_eq!(
            read::find(&file, id::SEEK_ID).unwrap(),
            0x1549_A966u32.to_be_bytes()
        );
    }

    #[test]
    fn late_blocks_keep_their_time_and_clusters_never_go_back() {
        let spec = TrackSpec {
            width: 64,
            height: 48,
            frame_duration_ns: 40_000_000,
            opus_head: [0; 19],
            codec_delay_ns: 6_500_000,
            seek_pre_roll_ns: 80_000_000,
            sample_rate_hz: 48_000,
        };
        let mut muxer = MkvMuxer::new(Cursor::new(Vec::new()), &spec).unwrap();
        let ms = |track, ms: u64, keyframe| Block {
            track,
            timestamp_ns: ms * 1_000_000,
            keyframe,
            data: &[9],
            discard_padding_ns: 0,
        };
        muxer.write_block(&ms(VIDEO_TRACK, 1000, true)).unwrap();
        muxer.write_block(&ms(AUDIO_TRACK, 500, true)).unwrap();
        muxer.write_block(&ms(VIDEO_TRACK, 800, true)).unwrap(); // a late keyframe opens a cluster
        assert_eq!(muxer.late_blocks(), 2);
        let (out, _) = muxer.finalize(1_040_000_000).unwrap();
        let file = out.into_inner();
        assert_eq!(read::blocks(&file), [(1, 1000, 0), (2, 500, 0), (1, 800, 0)]);
        let cluster_times = read::all(&file, id::TIMESTAMP);
        assert_eq!(cluster_times, [1000u16.to_be_bytes(), 1000u16.to_be_bytes()]);
    }
}
