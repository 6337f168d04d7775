//! A browser-role WebRTC peer in Rust, for integration tests and the load benchmark.
//!
//! [`ClientPeer`] does what the `persona.js` widget does: an audio transceiver (sendrecv when it has
//! a "microphone", recvonly otherwise), a recvonly video transceiver, and the `events` data channel
//! created before a non-trickle offer. It then counts and keeps what the agent sends — VP8 frames
//! reassembled from RTP, Opus packets decoded to 48 kHz mono, and the JSON events — in bounded
//! buffers, and can speak (Opus from samples) and type (`{"type":"text"}`) back.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use audiopus::coder::Encoder as OpusEncoder;
use audiopus::{Application, Channels, SampleRate};
use axum::body::Bytes;
use rtc::rtp_transceiver::RTCRtpTransceiverInit;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tracing::debug;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::RTCSessionDescription;
use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RtpSender};

use super::peer::{
    EVENTS_CHANNEL, Link, LinkState, OpusIn, PeerError, PeerSettings, Role, RtpOut, TaskSet, drain_track,
    random_u32,
};

/// Received VP8 frames kept for [`ClientPeer::take_video_frames`].
const KEPT_VIDEO_FRAMES: usize = 50;
/// Decoded audio kept for [`ClientPeer::take_audio`]: 10 s at 48 kHz.
const KEPT_AUDIO_SAMPLES: usize = 10 * 48_000;
/// Data-channel JSON messages waiting for [`ClientPeer::next_event`].
const EVENT_QUEUE: usize = 256;
/// 20 ms at 48 kHz.
const PACKET_SAMPLES: usize = 960;
/// libopus's recommended output buffer for one packet.
const MAX_OPUS_PACKET: usize = 4000;

/// What the pretend browser does.
#[derive(Clone, Debug)]
pub struct ClientSettings {
    /// Offer audio sendrecv (a microphone) rather than recvonly.
    pub send_audio: bool,
    /// ICE settings; defaults to loopback only (`127.0.0.1`), which is what tests want.
    pub peer: PeerSettings,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            send_audio: true,
            peer: PeerSettings {
                bind_ip: std::net::Ipv4Addr::LOCALHOST.into(),
                ..PeerSettings::default()
            },
        }
    }
}

/// Counts of what arrived from the agent.
#[derive(Clone, Debug, Default)]
pub struct ClientStats {
    /// VP8 frames ended (RTP marker bits seen).
    pub video_frames: u64,
    /// Complete frames (no packet missing) that are keyframes.
    pub video_keyframes: u64,
    /// Frames that ended with a packet missing or damaged (not kept).
    pub video_broken_frames: u64,
    pub audio_packets: u64,
    /// RTP payload bytes received, video and audio.
    pub bytes: u64,
    /// Data-channel messages received.
    pub events: u64,
    /// Data-channel messages dropped because nobody called [`ClientPeer::next_event`].
    pub events_dropped: u64,
    /// Since the last [`ClientPeer::reset_firsts`] (or the start).
    pub first_video_at: Option<Instant>,
    pub first_audio_at: Option<Instant>,
}

/// One reassembled VP8 frame.
#[derive(Clone, Debug)]
pub struct ReceivedFrame {
    pub data: Vec<u8>,
    pub keyframe: bool,
    pub rtp_timestamp: u32,
    pub received_at: Instant,
}

#[derive(Default)]
struct Received {
    stats: ClientStats,
    frames: VecDeque<ReceivedFrame>,
    audio: VecDeque<f32>,
}

struct ClientRole {
    received: StdMutex<Received>,
    /// Bumped on every change to `received`, for [`ClientPeer::wait_stats`].
    changed: watch::Sender<u64>,
    channel_open: watch::Sender<bool>,
    events: StdMutex<Option<mpsc::Sender<Value>>>,
    /// The agent's video track, once it arrived (for keyframe requests).
    video: StdMutex<Option<Arc<dyn TrackRemote>>>,
}

impl ClientRole {
    fn update(&self, f: impl FnOnce(&mut Received)) {
        f(&mut self.received.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl Role for ClientRole {
    fn state_changed(&self, state: LinkState) {
        debug!(?state, "client connection state");
    }

    fn channel_open(&self) {
        self.channel_open.send_replace(true);
    }

    fn text(&self, text: String) {
        let value = serde_json::from_str::<Value>(&text).unwrap_or_else(|e| {
            debug!(error = %e, "server sent a data channel message that is not JSON");
            Value::String(text)
        });
        let sent = {
            let guard = self.events.lock().unwrap_or_else(|e| e.into_inner());
            guard
                .as_ref()
                .is_some_and(|events| events.try_send(value).is_ok())
        };
        self.update(|r| {
            r.stats.events += 1;
            if !sent {
                r.stats.events_dropped += 1;
            }
        });
    }

    fn track(self: Arc<Self>, kind: RtpCodecKind, track: Arc<dyn TrackRemote>, tasks: &TaskSet) {
        match kind {
            RtpCodecKind::Video => {
                *self.video.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&track));
                tasks.spawn(receive_video(track, self))
            }
            RtpCodecKind::Audio => tasks.spawn(receive_audio(track, self)),
            _ => tasks.spawn(drain_track(track)),
        }
    }
}

/// Where a VP8 RTP payload's frame data starts (RFC 7741 §4.2), and whether it begins a frame.
fn vp8_descriptor(payload: &[u8]) -> Option<(usize, bool)> {
    let first = *payload.first()?;
    let mut len = 1;
    if first & 0x80 != 0 {
        let ext = *payload.get(1)?;
        len += 1;
        if ext & 0x80 != 0 {
            // PictureID: 7 or 15 bits (M flag).
            len += if *payload.get(len)? & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            len += 1; // TL0PICIDX
        }
        if ext & 0x30 != 0 {
            len += 1; // TID/Y/KEYIDX
        }
    }
    // S set and partition index 0: the first packet of a frame.
    let starts_frame = first & 0x10 != 0 && first & 0x07 == 0;
    (len <= payload.len()).then_some((len, starts_frame))
}

/// Reassembles VP8 frames; a frame with a sequence gap is counted broken and not kept.
async fn receive_video(track: Arc<dyn TrackRemote>, role: Arc<ClientRole>) {
    let mut frame: Vec<u8> = Vec::new();
    let mut frame_ok = false;
    let mut frame_timestamp = 0u32;
    let mut last_sequence: Option<u16> = None;
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        let header = &packet.header;
        let in_order = last_sequence.is_none_or(|last| header.sequence_number == last.wrapping_add(1));
        last_sequence = Some(header.sequence_number);
        match vp8_descriptor(&packet.payload) {
            Some((skip, true)) => {
                frame.clear();
                frame.extend_from_slice(&packet.payload[skip..]);
                frame_ok = true;
                frame_timestamp = header.timestamp;
            }
            Some((skip, false)) if frame_ok && in_order && header.timestamp == frame_timestamp => {
                frame.extend_from_slice(&packet.payload[skip..]);
            }
            _ => frame_ok = false,
        }
        let now = Instant::now();
        let payload_len = packet.payload.len() as u64;
        let complete = header.marker.then(|| {
            let ok = frame_ok && !frame.is_empty();
            frame_ok = false;
            ok.then(|| ReceivedFrame {
                // Bit 0 of the VP8 frame tag is 0 for a keyframe (RFC 6386 §9.1).
                keyframe: frame[0] & 0x01 == 0,
                data: std::mem::take(&mut frame),
                rtp_timestamp: frame_timestamp,
                received_at: now,
            })
        });
        role.update(|r| {
            r.stats.bytes += payload_len;
            r.stats.first_video_at.get_or_insert(now);
            match complete {
                None => {}
                Some(None) => {
                    r.stats.video_frames += 1;
                    r.stats.video_broken_frames += 1;
                }
                Some(Some(received)) => {
                    r.stats.video_frames += 1;
                    r.stats.video_keyframes += u64::from(received.keyframe);
                    if r.frames.len() == KEPT_VIDEO_FRAMES {
                        r.frames.pop_front();
                    }
                    r.frames.push_back(received);
                }
            }
        });
    }
}

/// Counts and decodes the agent's Opus packets.
async fn receive_audio(track: Arc<dyn TrackRemote>, role: Arc<ClientRole>) {
    let mut opus = match OpusIn::new() {
        Ok(opus) => Some(opus),
        Err(e) => {
            debug!(error = %e, "client audio is counted but not decoded");
            None
        }
    };
    let mut decoded = Vec::new();
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        decoded.clear();
        if let Some(opus) = opus.as_mut() {
            opus.push(&packet, |samples, _| decoded.extend_from_slice(&samples));
        }
        let now = Instant::now();
        let payload_len = packet.payload.len() as u64;
        role.update(|r| {
            r.stats.audio_packets += 1;
            r.stats.bytes += payload_len;
            r.stats.first_audio_at.get_or_insert(now);
            let overflow = (r.audio.len() + decoded.len()).saturating_sub(KEPT_AUDIO_SAMPLES);
            r.audio.drain(..overflow.min(r.audio.len()));
            let start = decoded.len().saturating_sub(KEPT_AUDIO_SAMPLES);
            r.audio.extend(&decoded[start..]);
        });
    }
}

/// The microphone: 20 ms Opus packets from 48 kHz mono samples.
struct Microphone {
    out: Arc<RtpOut>,
    sender: Arc<dyn RtpSender>,
    encoder: OpusEncoder,
    pending: Vec<f32>,
    next_timestamp: u32,
    scratch: Vec<u8>,
}

/// The browser role of one call. See the module documentation.
pub struct ClientPeer {
    link: Link,
    role: Arc<ClientRole>,
    microphone: Option<tokio::sync::Mutex<Microphone>>,
    events: tokio::sync::Mutex<mpsc::Receiver<Value>>,
}

impl ClientPeer {
    /// Builds the offer the widget would send, after ICE gathering completed (or
    /// `settings.peer.gather_timeout` passed).
    pub async fn offer(settings: &ClientSettings) -> Result<(ClientPeer, String), PeerError> {
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        let role = Arc::new(ClientRole {
            received: StdMutex::new(Received::default()),
            changed: watch::Sender::new(0),
            channel_open: watch::Sender::new(false),
            events: StdMutex::new(Some(events_tx)),
            video: StdMutex::new(None),
        });
        let (link, handler) = Link::new(&settings.peer, Arc::clone(&role)).await?;
        let fail =
            |step: &'static str| move |e: webrtc::error::Error| PeerError::Webrtc(format!("{step}: {e}"));
        let built = async {
            let microphone = if settings.send_audio {
                let out = RtpOut::audio("client-microphone");
                let sender = link
                    .pc
                    .add_track(out.track())
                    .await
                    .map_err(fail("adding the microphone"))?;
                let encoder = OpusEncoder::new(SampleRate::Hz48000, Channels::Mono, Application::Voip)
                    .map_err(|e| PeerError::Webrtc(format!("creating the Opus encoder: {e}")))?;
                Some(Microphone {
                    out,
                    sender,
                    encoder,
                    pending: Vec::with_capacity(PACKET_SAMPLES),
                    next_timestamp: random_u32(),
                    scratch: vec![0; MAX_OPUS_PACKET],
                })
            } else {
                link.pc
                    .add_transceiver_from_kind(RtpCodecKind::Audio, Some(recvonly()))
                    .await
                    .map_err(fail("adding the audio transceiver"))?;
                None
            };
            link.pc
                .add_transceiver_from_kind(RtpCodecKind::Video, Some(recvonly()))
                .await
                .map_err(fail("adding the video transceiver"))?;
            let channel = link
                .pc
                .create_data_channel(EVENTS_CHANNEL, None)
                .await
                .map_err(fail("creating the events data channel"))?;
            handler.attach_channel(channel);
            let offer = link
                .pc
                .create_offer(None)
                .await
                .map_err(fail("creating the offer"))?;
            link.pc
                .set_local_description(offer)
                .await
                .map_err(fail("setting the local description"))?;
            let sdp = link.gathered_local_sdp(settings.peer.gather_timeout).await?;
            Ok::<_, PeerError>((microphone, sdp))
        }
        .await;
        match built {
            Ok((microphone, sdp)) => Ok((
                ClientPeer {
                    link,
                    role,
                    microphone: microphone.map(tokio::sync::Mutex::new),
                    events: tokio::sync::Mutex::new(events_rx),
                },
                sdp,
            )),
            Err(e) => {
                link.close().await;
                Err(e)
            }
        }
    }

    /// Applies the server's answer; the connection then comes up on its own.
    pub async fn accept_answer(&self, answer_sdp: &str) -> Result<(), PeerError> {
        let answer = RTCSessionDescription::answer(answer_sdp.to_owned())
            .map_err(|e| PeerError::BadAnswer(format!("the answer is not valid SDP: {e}")))?;
        self.link
            .pc
            .set_remote_description(answer)
            .await
            .map_err(|e| PeerError::BadAnswer(format!("the answer could not be applied: {e}")))?;
        if let Some(microphone) = &self.microphone {
            let microphone = microphone.lock().await;
            microphone.out.negotiated(&microphone.sender).await?;
        }
        Ok(())
    }

    /// Waits until DTLS is up (true) or the connection is gone (false).
    pub async fn wait_connected(&self) -> bool {
        let mut state = self.link.state.clone();
        matches!(
            state.wait_for(|s| *s != LinkState::New).await.map(|s| *s),
            Ok(LinkState::Connected)
        )
    }

    /// Waits until the `events` data channel is open (true) or the peer is closed (false).
    pub async fn wait_channel_open(&self) -> bool {
        let mut open = self.role.channel_open.subscribe();
        open.wait_for(|o| *o).await.is_ok()
    }

    pub fn is_connected(&self) -> bool {
        self.link.is_connected()
    }

    /// Encodes `samples_48k_mono` into 20 ms Opus packets and sends them at once, keeping a partial
    /// packet for the next call. Pacing is the caller's job (see [`Self::send_audio_paced`]).
    /// Returns the packets sent; none while not connected (the samples are discarded).
    pub async fn send_audio(&self, samples_48k_mono: &[f32]) -> Result<usize, PeerError> {
        let Some(microphone) = &self.microphone else {
            return Err(PeerError::Webrtc(
                "this client offered no microphone (ClientSettings::send_audio is false)".into(),
            ));
        };
        let mut mic = microphone.lock().await;
        let mic = &mut *mic;
        if !self.link.is_connected() {
            mic.pending.clear();
            return Ok(0);
        }
        let mut sent = 0;
        let mut rest = samples_48k_mono;
        while !rest.is_empty() {
            let take = (PACKET_SAMPLES - mic.pending.len()).min(rest.len());
            mic.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if mic.pending.len() < PACKET_SAMPLES {
                break;
            }
            let len = mic
                .encoder
                .encode_float(&mic.pending, &mut mic.scratch)
                .map_err(|e| PeerError::Webrtc(format!("Opus encoding: {e}")))?;
            mic.pending.clear();
            let packet = Bytes::copy_from_slice(&mic.scratch[..len]);
            if mic.out.write(packet, mic.next_timestamp).await? {
                sent += 1;
            }
            mic.next_timestamp = mic.next_timestamp.wrapping_add(PACKET_SAMPLES as u32);
        }
        Ok(sent)
    }

    /// Sends `samples` in real time: one 20 ms packet per 20 ms tick. Returns the packets sent.
    pub async fn send_audio_paced(&self, samples_48k_mono: &[f32]) -> Result<usize, PeerError> {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut sent = 0;
        for chunk in samples_48k_mono.chunks(PACKET_SAMPLES) {
            tick.tick().await;
            sent += self.send_audio(chunk).await?;
        }
        Ok(sent)
    }

    /// Types `text` into the widget: `{"type":"text","text":...}` on the data channel. Never waits;
    /// queued until the channel opens (bounded, like the server's events).
    pub fn send_text(&self, text: &str) {
        let message = serde_json::json!({ "type": "text", "text": text });
        self.link.queue_text(message.to_string());
    }

    /// Sends an arbitrary text message on the data channel (for tests of bad input).
    pub fn send_raw(&self, message: String) {
        self.link.queue_text(message);
    }

    /// Asks the agent for a keyframe, as a browser does after losing video (RTCP PLI). Fails
    /// when no video has arrived yet.
    pub async fn request_keyframe(&self) -> Result<(), PeerError> {
        use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
        let track = self.role.video.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let track = track.ok_or_else(|| PeerError::Webrtc("no video track has arrived yet".into()))?;
        let media_ssrc = *track
            .ssrcs()
            .await
            .first()
            .ok_or_else(|| PeerError::Webrtc("the video track has no SSRC".into()))?;
        track
            .write_rtcp(vec![Box::new(PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc,
            })])
            .await
            .map_err(|e| PeerError::Webrtc(format!("sending a keyframe request: {e}")))
    }

    pub fn stats(&self) -> ClientStats {
        self.role
            .received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stats
            .clone()
    }

    /// Forgets `first_video_at` / `first_audio_at`, to time the next reply.
    pub fn reset_firsts(&self) {
        self.role.update(|r| {
            r.stats.first_video_at = None;
            r.stats.first_audio_at = None;
        });
    }

    /// Waits until `ready` holds for the stats (true) or the peer closed (false).
    pub async fn wait_stats(&self, ready: impl Fn(&ClientStats) -> bool) -> bool {
        let mut changed = self.role.changed.subscribe();
        loop {
            if ready(&self.stats()) {
                return true;
            }
            if changed.changed().await.is_err() {
                return ready(&self.stats());
            }
        }
    }

    /// The next JSON message from the server's `events` channel (non-JSON text comes as a JSON
    /// string); `None` once the peer is closed and the queue drained.
    pub async fn next_event(&self) -> Option<Value> {
        self.events.lock().await.recv().await
    }

    /// The last (up to 50) complete VP8 frames, oldest first; clears them.
    pub fn take_video_frames(&self) -> Vec<ReceivedFrame> {
        let mut received = self.role.received.lock().unwrap_or_else(|e| e.into_inner());
        received.frames.drain(..).collect()
    }

    /// The decoded agent audio (48 kHz mono, the last 10 s at most); clears it.
    pub fn take_audio(&self) -> Vec<f32> {
        let mut received = self.role.received.lock().unwrap_or_else(|e| e.into_inner());
        received.audio.drain(..).collect()
    }

    /// Closes the connection and ends its tasks; [`Self::next_event`] then returns `None` after
    /// the queued events.
    pub async fn close(&self) {
        self.role.events.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.link.close().await;
    }
}

fn recvonly() -> RTCRtpTransceiverInit {
    RTCRtpTransceiverInit {
        direction: RTCRtpTransceiverDirection::Recvonly,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{Vp8Config, Vp8Encoder, i420_len};
    use crate::serve::peer::{PeerEvent, answer};

    const LIMIT: Duration = Duration::from_secs(30);

    async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
        tokio::time::timeout(LIMIT, future)
            .await
            .unwrap_or_else(|_| panic!("timed out after {LIMIT:?} waiting for {what}"))
    }

    fn sine(samples: usize, hz: f32) -> Vec<f32> {
        (0..samples)
            .map(|i| 0.3 * (i as f32 * hz * std::f32::consts::TAU / 48_000.0).sin())
            .collect()
    }

    /// 50 VP8 frames of a moving gradient, 64x64, with pts on the 48 kHz media clock at 30 fps.
    fn vp8_frames() -> Vec<(Vec<u8>, u64, bool)> {
        let (width, height) = (64u32, 64u32);
        let mut encoder = Vp8Encoder::new(Vp8Config {
            width,
            height,
            fps: 30,
            bitrate_kbps: 300,
            realtime: true,
            timebase_hz: 48_000,
            keyframe_interval_ms: 1_000,
        })
        .expect("VP8 encoder");
        let mut out = Vec::new();
        for n in 0..50u64 {
            let mut i420 = vec![128u8; i420_len(width, height)];
            for (i, y) in i420[..(width * height) as usize].iter_mut().enumerate() {
                *y = ((i as u64 + n * 3) % 256) as u8;
            }
            let pts = n * 1_600;
            let mut packets = Vec::new();
            encoder
                .encode(&i420, pts as i64, false, &mut packets)
                .expect("encode");
            out.extend(packets.into_iter().map(|p| (p.data, p.pts as u64, p.keyframe)));
        }
        out
    }

    fn opus_packets(count: usize) -> Vec<Vec<u8>> {
        let encoder =
            OpusEncoder::new(SampleRate::Hz48000, Channels::Mono, Application::Audio).expect("encoder");
        let signal = sine(count * PACKET_SAMPLES, 440.0);
        let mut scratch = vec![0u8; MAX_OPUS_PACKET];
        signal
            .chunks(PACKET_SAMPLES)
            .map(|chunk| {
                let n = encoder.encode_float(chunk, &mut scratch).expect("encode");
                scratch[..n].to_vec()
            })
            .collect()
    }

    /// Reads server events until `want` matches one, tallying audio and text on the way.
    async fn until(
        events: &mut crate::serve::peer::PeerEvents,
        tally: &mut Tally,
        want: impl Fn(&PeerEvent) -> bool,
    ) {
        within("a server event", async {
            while let Some(event) = events.recv().await {
                let hit = want(&event);
                tally.add(event);
                if hit {
                    return;
                }
            }
            panic!("the server's event stream ended early");
        })
        .await
    }

    #[derive(Default, Debug)]
    struct Tally {
        audio_packets: usize,
        audio_samples: usize,
        audio_peak: f32,
        texts: Vec<String>,
        connected: bool,
        channel_open: bool,
    }

    impl Tally {
        fn add(&mut self, event: PeerEvent) {
            match event {
                PeerEvent::Audio { samples, .. } => {
                    self.audio_packets += 1;
                    self.audio_samples += samples.len();
                    self.audio_peak = samples.iter().fold(self.audio_peak, |m, s| m.max(s.abs()));
                }
                PeerEvent::Text(text) => self.texts.push(text),
                PeerEvent::Connected => self.connected = true,
                PeerEvent::ChannelOpen => self.channel_open = true,
                PeerEvent::Disconnected => {}
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn browser_role_client_and_server_exchange_media_and_events() {
        let client_settings = ClientSettings::default();
        let server_settings = client_settings.peer.clone();

        let (client, offer) = within("the client offer", ClientPeer::offer(&client_settings))
            .await
            .expect("client offer");
        assert!(
            offer.contains("a=candidate:"),
            "non-trickle offer carries candidates"
        );
        assert!(offer.contains("m=application"), "offer has the data channel");

        let (server, mut events, answer_sdp) = within("the server answer", answer(&server_settings, &offer))
            .await
            .expect("server answer");
        assert!(
            answer_sdp.contains("a=candidate:"),
            "non-trickle answer carries candidates"
        );
        assert!(answer_sdp.contains("VP8/90000") && answer_sdp.contains("opus/48000/2"));
        // Queued before the channel exists: must arrive once it opens.
        server.send_event(r#"{"type":"state","state":"connecting"}"#.to_owned());

        client.accept_answer(&answer_sdp).await.expect("accept answer");
        let mut tally = Tally::default();
        until(&mut events, &mut tally, |e| *e == PeerEvent::Connected).await;
        assert!(within("client connected", client.wait_connected()).await);
        if !tally.channel_open {
            until(&mut events, &mut tally, |e| *e == PeerEvent::ChannelOpen).await;
        }
        assert!(within("client channel open", client.wait_channel_open()).await);
        assert!(server.is_connected());

        // Agent -> browser: 50 VP8 frames and 50 Opus packets, stamped from the media clock.
        let frames = vp8_frames();
        assert_eq!(frames.len(), 50);
        let keyframes_sent = frames.iter().filter(|f| f.2).count() as u64;
        let opus = opus_packets(50);
        for ((frame, pts, _), (i, packet)) in frames.into_iter().zip(opus.into_iter().enumerate()) {
            server
                .write_video(Bytes::from(frame), pts)
                .await
                .expect("write video");
            server
                .write_audio(Bytes::from(packet), (i * PACKET_SAMPLES) as u64)
                .await
                .expect("write audio");
        }
        let got_media = within(
            "the client to receive 50 frames and 50 audio packets",
            client.wait_stats(|s| s.video_frames >= 50 && s.audio_packets >= 50),
        )
        .await;
        let stats = client.stats();
        assert!(got_media, "client stats: {stats:?}");
        assert_eq!(stats.video_broken_frames, 0, "loopback loses nothing: {stats:?}");
        assert_eq!(stats.video_keyframes, keyframes_sent);
        assert!(stats.first_video_at.is_some() && stats.first_audio_at.is_some());
        let kept = client.take_video_frames();
        assert_eq!(kept.len(), 50);
        assert!(kept[0].keyframe, "the first frame is a keyframe");
        // 30 fps on the 90 kHz clock: 3000 ticks apart.
        assert_eq!(kept[1].rtp_timestamp.wrapping_sub(kept[0].rtp_timestamp), 3_000);
        let audio = client.take_audio();
        assert!(
            audio.len() >= 49 * PACKET_SAMPLES,
            "decoded {} samples",
            audio.len()
        );
        assert!(
            audio.iter().any(|s| s.abs() > 0.05),
            "decoded audio is not silence"
        );
        let server_stats = server.stats();
        assert_eq!(server_stats.video_frames_sent, 50);
        assert_eq!(server_stats.audio_packets_sent, 50);

        // The queued event and a later one reach the browser, in order.
        server.send_event(r#"{"type":"state","state":"listening"}"#.to_owned());
        let first = within("first event", client.next_event()).await.expect("event");
        assert_eq!(first["state"], "connecting");
        let second = within("second event", client.next_event()).await.expect("event");
        assert_eq!(second["state"], "listening");

        // Browser -> agent: typed text and one second of microphone audio.
        client.send_text("hello agent");
        let sent = within("paced audio", client.send_audio_paced(&sine(48_000, 300.0)))
            .await
            .expect("send audio");
        assert_eq!(sent, 50);
        until(&mut events, &mut tally, |e| matches!(e, PeerEvent::Text(_))).await;
        let text: Value = serde_json::from_str(&tally.texts[0]).expect("JSON text");
        assert_eq!(text, serde_json::json!({"type": "text", "text": "hello agent"}));
        while tally.audio_packets < 45 {
            until(&mut events, &mut tally, |e| matches!(e, PeerEvent::Audio { .. })).await;
        }
        assert!(tally.audio_samples >= 45 * PACKET_SAMPLES);
        assert!(
            tally.audio_peak > 0.05,
            "decoded microphone audio is not silence: {tally:?}"
        );

        // The browser going away is noticed (DTLS close_notify, or ICE consent failing).
        let closed_at = Instant::now();
        client.close().await;
        within("the client event stream to end", async {
            while client.next_event().await.is_some() {}
        })
        .await;
        until(&mut events, &mut tally, |e| *e == PeerEvent::Disconnected).await;
        eprintln!("server saw the client leave after {:?}", closed_at.elapsed());
        // Closing ends the server's event stream.
        server.close().await;
        within("the server event stream to end", async {
            while let Some(event) = events.recv().await {
                tally.add(event);
            }
        })
        .await;
        // Writing after close is harmless.
        server
            .write_video(Bytes::from_static(&[0, 1, 2]), 0)
            .await
            .expect("write after close");
        server.send_event("{}".to_owned());
    }

    #[test]
    fn vp8_descriptor_lengths() {
        assert_eq!(vp8_descriptor(&[0x10, 0xaa]), Some((1, true)));
        assert_eq!(vp8_descriptor(&[0x00, 0xaa]), Some((1, false)));
        // X, I with a 15-bit picture id.
        assert_eq!(vp8_descriptor(&[0x90, 0x80, 0x81, 0x02, 0xaa]), Some((4, true)));
        // X, I (7-bit), L, T.
        assert_eq!(
            vp8_descriptor(&[0x90, 0xe0, 0x05, 0x01, 0x40, 0xaa]),
            Some((5, true))
        );
        // Partition 1 does not start a frame.
        assert_eq!(vp8_descriptor(&[0x11, 0xaa]), Some((1, false)));
        assert_eq!(vp8_descriptor(&[0x90, 0x80]), None);
        assert_eq!(vp8_descriptor(&[]), None);
    }
}
