//! The WebRTC side of `persona serve`: one browser peer per session.
//!
//! [`answer`] takes the browser's SDP offer (non-trickle: its candidates are inside), checks that it
//! carries what the agent needs — Opus audio, VP8 video the browser can receive, and the `events`
//! data channel — and returns a [`Peer`] plus the answer SDP with this side's candidates already
//! gathered. The [`Peer`] sends the agent's VP8 frames and Opus packets, stamped from the media
//! clock, and JSON events on the data channel; [`PeerEvents`] delivers the browser's microphone
//! (decoded to 48 kHz mono), typed text, and connection changes.
//!
//! Everything is bounded: events the consumer does not take in time, and data-channel messages
//! the browser does not drain, are dropped and counted, never queued without limit. Closing a
//! [`Peer`] ends every task it started. The same machinery (`Link`) backs the browser-role peer in
//! [`super::client`], used by tests and benchmarks.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, OnceLock};
use std::time::Duration;

use audiopus::coder::Decoder as OpusDecoder;
use audiopus::{Channels, SampleRate};
use axum::body::Bytes;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp;
use rtc::rtp::codec::vp8::Vp8Payloader;
use rtc::rtp::packetizer::Payloader;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, trace, warn};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceGatheringState, RTCIceServer, RTCPeerConnectionState, RTCSessionDescription, Registry,
    SettingEngineBuilder, register_default_interceptors,
};
use webrtc::rtp_transceiver::RtpSender;

/// Label of the one data channel the widget opens before its offer.
pub const EVENTS_CHANNEL: &str = "events";
/// Media stream id of the agent's audio and video tracks (what the browser sees in `ontrack`).
pub const STREAM_ID: &str = "persona";
/// Payload types offered or answered when this side picks them (a browser's offer picks its own).
const OPUS_PAYLOAD_TYPE: u8 = 111;
const VP8_PAYLOAD_TYPE: u8 = 96;
/// RTP packet payload budget: leaves room for SRTP, IP/UDP and header extensions under a 1280+ MTU.
const RTP_MTU: usize = 1200;
/// Outgoing data-channel messages waiting for the channel to open or drain.
pub(crate) const OUTBOX_CAPACITY: usize = 64;
/// Bytes the SCTP layer may hold unacknowledged per channel before sends wait (and the outbox
/// fills, and [`Peer::send_event`] starts dropping).
const DATA_CHANNEL_SEND_LIMIT: usize = 1 << 20;
/// Control events (connection, channel, text) waiting for the consumer.
const CONTROL_QUEUE: usize = 64;
/// Decoded 20 ms audio packets waiting for the consumer: one second.
const AUDIO_QUEUE: usize = 50;
/// Missing packets concealed at most per gap (100 ms); a longer gap is left as a timestamp jump.
const MAX_CONCEALED_PACKETS: u16 = 5;
/// UDP ports tried from a configured range before giving up.
const MAX_PORT_ATTEMPTS: u32 = 32;
/// Opus decodes at 48 kHz; 120 ms is the longest packet it can produce.
const OPUS_MAX_SAMPLES: usize = 5760;
/// Samples in one 20 ms Opus packet at 48 kHz.
const OPUS_PACKET_SAMPLES: usize = 960;

/// A STUN or TURN server handed to ICE (and to the browser, in the session response).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// How peers gather candidates.
#[derive(Clone, Debug)]
pub struct PeerSettings {
    /// STUN/TURN servers; empty means host candidates only (fine on a LAN or a public host).
    pub ice_servers: Vec<IceServer>,
    /// Address the ICE socket binds. The unspecified address (the default) means one socket per
    /// non-loopback interface; a concrete address (e.g. `127.0.0.1` in tests) binds exactly that.
    pub bind_ip: IpAddr,
    /// Inclusive UDP port range for ICE sockets, or `None` for an ephemeral port. Up to 32 ports of
    /// the range are tried, starting at a random one.
    pub udp_ports: Option<(u16, u16)>,
    /// Non-trickle: how long to wait for ICE gathering to complete before answering with the
    /// candidates found so far.
    pub gather_timeout: Duration,
}

impl Default for PeerSettings {
    fn default() -> Self {
        PeerSettings {
            ice_servers: Vec::new(),
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            udp_ports: None,
            gather_timeout: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The offer cannot be used; the message says what is wrong and what to send instead.
    #[error("bad SDP offer: {0}")]
    BadOffer(String),
    /// The answer (browser-role client only) cannot be used.
    #[error("bad SDP answer: {0}")]
    BadAnswer(String),
    /// The WebRTC stack failed at a step that does not depend on the offer.
    #[error("WebRTC error: {0}")]
    Webrtc(String),
    /// No UDP port of the configured range could be bound.
    #[error(
        "could not bind an ICE socket on {ip} in UDP ports {first}-{last}: {reason}; widen the \
         configured port range or free ports in it"
    )]
    NoUdpPort {
        ip: IpAddr,
        first: u16,
        last: u16,
        reason: String,
    },
    /// Gathering ended (or timed out) without a single local candidate.
    #[error(
        "ICE gathering found no local candidate within {waited:?}; check that the bind address \
         names an interface that is up and that the STUN/TURN servers are reachable"
    )]
    Gather { waited: Duration },
}

fn webrtc_err(step: &str) -> impl FnOnce(webrtc::error::Error) -> PeerError + '_ {
    move |e| PeerError::Webrtc(format!("{step}: {e}"))
}

/// What the browser did, in the order it happened (audio may overtake control events: they travel
/// on separate bounded queues so a flood of one cannot starve the other).
#[derive(Clone, Debug, PartialEq)]
pub enum PeerEvent {
    /// DTLS is up: media and the data channel can flow. May repeat after a `Disconnected` if ICE
    /// recovers.
    Connected,
    /// ICE/DTLS went disconnected, failed, or closed: the client vanished (disconnected can
    /// still recover; failed and closed cannot).
    Disconnected,
    /// One decoded microphone packet: 48 kHz mono. `rtp_timestamp` is the browser's 48 kHz RTP
    /// clock (random start; differences are what count; concealed gaps carry their own stamps).
    Audio { samples: Vec<f32>, rtp_timestamp: u32 },
    /// A text message on the `events` channel, unparsed.
    Text(String),
    /// The `events` data channel is open (queued [`Peer::send_event`] messages flush now).
    ChannelOpen,
}

/// Counters for `/metrics` and tests: everything dropped on purpose is counted here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    pub video_frames_sent: u64,
    pub audio_packets_sent: u64,
    pub rtp_bytes_sent: u64,
    /// Media written before the connection was up (or after it went down), not sent.
    pub media_dropped_unconnected: u64,
    /// `send_event` messages dropped because the outbox was full.
    pub events_dropped: u64,
    /// Decoded audio packets dropped because the consumer of [`PeerEvents`] fell behind.
    pub audio_dropped: u64,
    /// Text/control events dropped because the consumer fell behind.
    pub control_dropped: u64,
    /// Incoming audio packets that could not be decoded, or arrived too late to use.
    pub audio_bad_packets: u64,
    /// 20 ms frames of missing incoming audio filled in by packet-loss concealment.
    pub audio_concealed: u64,
    /// 20 ms frames of missing incoming audio rebuilt from the next packet's in-band FEC copy
    /// (browsers add one to voice packets when the answer says `useinbandfec=1`).
    pub audio_recovered: u64,
}

// ---------------------------------------------------------------------------------------------
// Shared machinery: task set, event handler, data channel, RTP out, Opus in.
// ---------------------------------------------------------------------------------------------

/// A random number, for SSRCs, sequence starts and timestamp offsets (not for secrets).
pub(crate) fn random_u32() -> u32 {
    RandomState::new().hash_one(std::time::Instant::now()) as u32
}

/// The tasks a peer started. Once [`TaskSet::shutdown`] ran, nothing more is spawned, and every
/// task spawned before has ended.
#[derive(Default)]
pub(crate) struct TaskSet {
    handles: StdMutex<Option<Vec<JoinHandle<()>>>>,
}

impl TaskSet {
    pub(crate) fn new() -> Self {
        TaskSet {
            handles: StdMutex::new(Some(Vec::new())),
        }
    }

    /// Spawns `task` unless the set was shut down (then it is dropped unstarted).
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut guard = self.handles.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(handles) = guard.as_mut() {
            handles.retain(|h| !h.is_finished());
            handles.push(tokio::spawn(task));
        }
    }

    /// Aborts every task and waits until each has ended.
    pub(crate) async fn shutdown(&self) {
        let handles = self.handles.lock().unwrap_or_else(|e| e.into_inner()).take();
        for handle in handles.into_iter().flatten() {
            handle.abort();
            let _ = handle.await;
        }
    }
}

/// Where the connection stands, as the application cares about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkState {
    New,
    Connected,
    Gone,
}

/// What differs between the server peer and the browser-role client: what to do with incoming
/// tracks, text and state changes. Called on the WebRTC driver task: must not block.
pub(crate) trait Role: Send + Sync + 'static {
    fn state_changed(&self, state: LinkState);
    fn channel_open(&self);
    fn text(&self, text: String);
    fn track(self: Arc<Self>, kind: RtpCodecKind, track: Arc<dyn TrackRemote>, tasks: &TaskSet);
}

pub(crate) struct Handler<R: Role> {
    role: Arc<R>,
    tasks: Arc<TaskSet>,
    gathered: watch::Sender<bool>,
    state: watch::Sender<LinkState>,
    /// The outbox's receiving end, until the `events` channel shows up and takes it.
    outbox: StdMutex<Option<mpsc::Receiver<String>>>,
}

impl<R: Role> Handler<R> {
    /// Starts the reader and writer tasks of the `events` channel (first one only).
    pub(crate) fn attach_channel(&self, dc: Arc<dyn DataChannel>) {
        let Some(outbox) = self.outbox.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            debug!("a second data channel was opened; closing it");
            self.tasks.spawn(async move {
                let _ = dc.close().await;
            });
            return;
        };
        let (open_tx, open_rx) = watch::channel(false);
        let role = Arc::clone(&self.role);
        let reader_dc = Arc::clone(&dc);
        self.tasks.spawn(read_channel(reader_dc, role, open_tx));
        self.tasks.spawn(write_channel(dc, outbox, open_rx));
    }
}

async fn read_channel<R: Role>(dc: Arc<dyn DataChannel>, role: Arc<R>, open_tx: watch::Sender<bool>) {
    while let Some(event) = dc.poll().await {
        match event {
            DataChannelEvent::OnOpen if !open_tx.send_replace(true) => {
                debug!("events data channel open");
                role.channel_open();
            }
            DataChannelEvent::OnMessage(msg) if msg.is_string => match String::from_utf8(msg.data.to_vec()) {
                Ok(text) => {
                    trace!(%text, "data channel text");
                    role.text(text);
                }
                Err(_) => debug!("dropping a data channel text message that is not UTF-8"),
            },
            DataChannelEvent::OnMessage(msg) => {
                debug!(bytes = msg.data.len(), "ignoring a binary data channel message");
            }
            DataChannelEvent::OnClose => break,
            _ => {}
        }
    }
    debug!("events data channel closed");
    open_tx.send_replace(false);
}

async fn write_channel(
    dc: Arc<dyn DataChannel>,
    mut outbox: mpsc::Receiver<String>,
    mut open: watch::Receiver<bool>,
) {
    // Ends (sender dropped) if the channel closes before it ever opened.
    if open.wait_for(|is_open| *is_open).await.is_err() {
        return;
    }
    while let Some(text) = outbox.recv().await {
        // Waits while the browser has not acknowledged DATA_CHANNEL_SEND_LIMIT bytes: the outbox
        // then fills and `send_event` drops, so nothing grows without bound.
        if let Err(e) = dc.send_text(&text).await {
            debug!(error = %e, "data channel send failed; the event writer stops");
            break;
        }
    }
}

#[async_trait::async_trait]
impl<R: Role> PeerConnectionEventHandler for Handler<R> {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        debug!(%state, "peer connection state");
        let next = match state {
            RTCPeerConnectionState::Connected => LinkState::Connected,
            RTCPeerConnectionState::Disconnected
            | RTCPeerConnectionState::Failed
            | RTCPeerConnectionState::Closed => LinkState::Gone,
            _ => return,
        };
        let previous = self.state.send_replace(next);
        if previous != next {
            self.role.state_changed(next);
        }
    }

    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        match dc.label().await {
            Ok(label) if label == EVENTS_CHANNEL => self.attach_channel(dc),
            Ok(label) => {
                debug!(%label, "closing an unexpected data channel");
                self.tasks.spawn(async move {
                    let _ = dc.close().await;
                });
            }
            Err(e) => debug!(error = %e, "data channel vanished before it could be read"),
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let kind = track.kind().await;
        Arc::clone(&self.role).track(kind, track, &self.tasks);
    }
}

/// Reads and discards a remote track nobody wants, so the driver's queue for it never fills.
pub(crate) async fn drain_track(track: Arc<dyn TrackRemote>) {
    while track.poll().await.is_some() {}
}

/// A built peer connection with its tasks, connection state and data-channel outbox.
pub(crate) struct Link {
    pub(crate) pc: Arc<dyn PeerConnection>,
    pub(crate) tasks: Arc<TaskSet>,
    gathered: watch::Receiver<bool>,
    pub(crate) state: watch::Receiver<LinkState>,
    outbox: mpsc::Sender<String>,
    events_dropped: AtomicU64,
    closed: AtomicBool,
}

impl Link {
    pub(crate) async fn new<R: Role>(
        settings: &PeerSettings,
        role: Arc<R>,
    ) -> Result<(Link, Arc<Handler<R>>), PeerError> {
        let tasks = Arc::new(TaskSet::new());
        let (gathered_tx, gathered) = watch::channel(false);
        let (state_tx, state) = watch::channel(LinkState::New);
        let (outbox, outbox_rx) = mpsc::channel(OUTBOX_CAPACITY);
        let handler = Arc::new(Handler {
            role,
            tasks: Arc::clone(&tasks),
            gathered: gathered_tx,
            state: state_tx,
            outbox: StdMutex::new(Some(outbox_rx)),
        });
        let pc = build_connection(
            settings,
            Arc::clone(&handler) as Arc<dyn PeerConnectionEventHandler>,
        )
        .await?;
        let link = Link {
            pc,
            tasks,
            gathered,
            state,
            outbox,
            events_dropped: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        };
        Ok((link, handler))
    }

    /// Waits (at most `timeout`) for ICE gathering to complete and returns the local description,
    /// candidates included.
    pub(crate) async fn gathered_local_sdp(&self, timeout: Duration) -> Result<String, PeerError> {
        let mut gathered = self.gathered.clone();
        // Only whether it completed: the watch guard must not live across the awaits below.
        let completed = tokio::time::timeout(timeout, gathered.wait_for(|done| *done))
            .await
            .is_ok_and(|r| r.is_ok());
        if !completed {
            warn!(
                ?timeout,
                "ICE gathering did not complete in time; answering with the candidates found so far"
            );
        }
        let local = self
            .pc
            .local_description()
            .await
            .ok_or_else(|| PeerError::Webrtc("no local description after setting it".into()))?;
        let candidates = local
            .sdp
            .lines()
            .filter(|l| l.starts_with("a=candidate:"))
            .count();
        if candidates == 0 {
            return Err(PeerError::Gather { waited: timeout });
        }
        debug!(candidates, "local description ready");
        trace!(sdp = %local.sdp, "local SDP");
        Ok(local.sdp)
    }

    /// Connected and not closed by us.
    pub(crate) fn is_connected(&self) -> bool {
        !self.closed.load(Ordering::Acquire) && *self.state.borrow() == LinkState::Connected
    }

    /// Queues a text message for the `events` channel; never waits. False if dropped.
    pub(crate) fn queue_text(&self, text: String) -> bool {
        match self.outbox.try_send(text) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                let dropped = self.events_dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    debug!(dropped, "data channel outbox full; dropping messages");
                }
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    pub(crate) fn events_dropped(&self) -> u64 {
        self.events_dropped.load(Ordering::Relaxed)
    }

    /// Closes the connection and ends every task. Idempotent.
    pub(crate) async fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            // Someone else is closing; still wait until the tasks are gone.
            self.tasks.shutdown().await;
            return;
        }
        if let Err(e) = self.pc.close().await {
            debug!(error = %e, "closing the peer connection");
        }
        self.tasks.shutdown().await;
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        // Dropped without close(): the driver would otherwise run on; close it in the background.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let pc = Arc::clone(&self.pc);
            let tasks = Arc::clone(&self.tasks);
            runtime.spawn(async move {
                let _ = pc.close().await;
                tasks.shutdown().await;
            });
        }
    }
}

/// Opus (48 kHz, stereo in SDP as RFC 7587 requires, FEC on) and VP8 only, with NACK/PLI/FIR
/// feedback on video; the default interceptors add NACK, RTCP reports and TWCC.
fn media_engine() -> Result<(MediaEngine, Registry), PeerError> {
    let mut engine = MediaEngine::default();
    let opus = RTCRtpCodecParameters {
        rtp_codec: opus_codec(),
        payload_type: OPUS_PAYLOAD_TYPE,
    };
    engine
        .register_codec(opus, RtpCodecKind::Audio)
        .map_err(webrtc_err("registering Opus"))?;
    let vp8 = RTCRtpCodecParameters {
        rtp_codec: vp8_codec(),
        payload_type: VP8_PAYLOAD_TYPE,
    };
    engine
        .register_codec(vp8, RtpCodecKind::Video)
        .map_err(webrtc_err("registering VP8"))?;
    let registry = register_default_interceptors(Registry::new(), &mut engine)
        .map_err(webrtc_err("registering interceptors"))?
        // Last, after every interceptor that reads RTCP has seen all of it.
        .with(rtc::interceptor::Slot::from(14_000), KeyframeRequests::default());
    Ok((engine, registry))
}

/// Lets the browser's keyframe requests (PLI, FIR) through to the application.
///
/// Inbound RTCP ends at the end of the interceptor chain unless an interceptor marks a packet for
/// the application; only a keyframe request is something the application must answer (the
/// encoder makes a keyframe), so this marks those and swallows the rest, which the default
/// interceptors (reports, NACK) have already used.
#[derive(Default)]
struct KeyframeRequests {
    read: std::collections::VecDeque<rtc::interceptor::TaggedPacket>,
    write: std::collections::VecDeque<rtc::interceptor::TaggedPacket>,
}

fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
    use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
    packet.as_any().is::<PictureLossIndication>() || packet.as_any().is::<FullIntraRequest>()
}

impl rtc::sansio::Protocol<rtc::interceptor::TaggedPacket, rtc::interceptor::TaggedPacket, ()>
    for KeyframeRequests
{
    type Rout = rtc::interceptor::TaggedPacket;
    type Wout = rtc::interceptor::TaggedPacket;
    type Eout = ();
    type Error = webrtc::error::Error;
    type Time = std::time::Instant;

    fn handle_read(&mut self, mut message: rtc::interceptor::TaggedPacket) -> Result<(), Self::Error> {
        if let rtc::interceptor::Packet::Rtcp(packets) = &message.message.packet {
            let requests: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| is_keyframe_request(p.as_ref()))
                .map(|p| p.cloned())
                .collect();
            if requests.is_empty() {
                return Ok(());
            }
            message.message.packet = rtc::interceptor::Packet::Rtcp(requests);
            message
                .message
                .add(rtc::interceptor::Attribute::DeliverToApplication);
        }
        self.read.push_back(message);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, message: rtc::interceptor::TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(message);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write.pop_front()
    }
}

impl rtc::interceptor::Interceptor for KeyframeRequests {
    fn bind_local_stream(&mut self, _info: &rtc::interceptor::StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &rtc::interceptor::StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &rtc::interceptor::StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &rtc::interceptor::StreamInfo) {}
}

fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

fn vp8_codec() -> RTCRtpCodec {
    let feedback = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    };
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![
            feedback("nack", ""),
            feedback("nack", "pli"),
            feedback("ccm", "fir"),
        ],
    }
}

/// Builds the connection, trying ports of the configured range until one binds.
async fn build_connection(
    settings: &PeerSettings,
    handler: Arc<dyn PeerConnectionEventHandler>,
) -> Result<Arc<dyn PeerConnection>, PeerError> {
    let ports: Vec<u16> = match settings.udp_ports {
        None => vec![0],
        Some((a, b)) => {
            let (first, last) = (a.min(b), a.max(b));
            let span = u32::from(last - first) + 1;
            let start = random_u32() % span;
            (0..span.min(MAX_PORT_ATTEMPTS))
                .map(|i| first + ((start + i) % span) as u16)
                .collect()
        }
    };
    let mut last_error = String::new();
    for port in ports {
        let (engine, registry) = media_engine()?;
        let ice_servers = settings
            .ice_servers
            .iter()
            .map(|s| RTCIceServer {
                urls: s.urls.clone(),
                username: s.username.clone().unwrap_or_default(),
                credential: s.credential.clone().unwrap_or_default(),
            })
            .collect();
        let config = RTCConfigurationBuilder::new()
            .with_ice_servers(ice_servers)
            .build();
        // mDNS off: the browser's `.local` host candidates only resolve on its own LAN, and the
        // browser's connectivity checks reach us anyway (as peer-reflexive candidates). Leaving it
        // on would bind port 5353 once per peer.
        let setting_engine = SettingEngineBuilder::new()
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .build();
        let built = PeerConnectionBuilder::new()
            .with_configuration(config)
            .with_media_engine(engine)
            .with_interceptor_registry(registry)
            .with_setting_engine(setting_engine)
            .with_handler(Arc::clone(&handler))
            .with_udp_addrs(vec![SocketAddr::new(settings.bind_ip, port)])
            .with_data_channel_send_buffer_limit(DATA_CHANNEL_SEND_LIMIT)
            .build()
            .await;
        match built {
            Ok(pc) => return Ok(Arc::new(pc)),
            Err(e) if settings.udp_ports.is_some() => {
                debug!(port, error = %e, "ICE port unavailable; trying the next");
                last_error = e.to_string();
            }
            Err(e) => return Err(PeerError::Webrtc(format!("creating the peer connection: {e}"))),
        }
    }
    let (first, last) = settings.udp_ports.unwrap_or((0, 0));
    Err(PeerError::NoUdpPort {
        ip: settings.bind_ip,
        first: first.min(last),
        last: first.max(last),
        reason: last_error,
    })
}

/// One outgoing RTP stream with our own SSRC, sequence numbers and (for VP8) packetizer, so the
/// caller's timestamps go on the wire unchanged (plus a per-stream random offset).
pub(crate) struct RtpOut {
    kind: RtpCodecKind,
    mime: &'static str,
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    ts_offset: u32,
    payload_type: OnceLock<u8>,
    state: tokio::sync::Mutex<OutState>,
    pub(crate) frames: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

struct OutState {
    sequence: u16,
    vp8: Option<Vp8Payloader>,
    first: bool,
}

impl RtpOut {
    pub(crate) fn audio(track_id: &str) -> Arc<RtpOut> {
        Self::new(RtpCodecKind::Audio, track_id, opus_codec(), MIME_TYPE_OPUS, None)
    }

    pub(crate) fn video(track_id: &str) -> Arc<RtpOut> {
        let mut payloader = Vp8Payloader::default();
        payloader.enable_picture_id = true;
        Self::new(
            RtpCodecKind::Video,
            track_id,
            vp8_codec(),
            MIME_TYPE_VP8,
            Some(payloader),
        )
    }

    fn new(
        kind: RtpCodecKind,
        track_id: &str,
        codec: RTCRtpCodec,
        mime: &'static str,
        vp8: Option<Vp8Payloader>,
    ) -> Arc<RtpOut> {
        let ssrc = random_u32();
        let track = MediaStreamTrack::new(
            STREAM_ID.to_owned(),
            track_id.to_owned(),
            track_id.to_owned(),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                active: true,
                codec,
                ..Default::default()
            }],
        );
        Arc::new(RtpOut {
            kind,
            mime,
            track: Arc::new(TrackLocalStaticRTP::new(track)),
            ssrc,
            ts_offset: random_u32(),
            payload_type: OnceLock::new(),
            state: tokio::sync::Mutex::new(OutState {
                sequence: random_u32() as u16,
                vp8,
                first: true,
            }),
            frames: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        })
    }

    pub(crate) fn track(&self) -> Arc<dyn TrackLocal> {
        Arc::clone(&self.track) as Arc<dyn TrackLocal>
    }

    /// Learns the payload type the remote side agreed to for this codec.
    pub(crate) async fn negotiated(&self, sender: &Arc<dyn RtpSender>) -> Result<(), PeerError> {
        let params = sender
            .get_parameters()
            .await
            .map_err(webrtc_err("reading the negotiated codecs"))?;
        let codec = params
            .rtp_parameters
            .codecs
            .iter()
            .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(self.mime))
            .ok_or_else(|| {
                PeerError::Webrtc(format!(
                    "{} was not negotiated for the {} track",
                    self.mime, self.kind
                ))
            })?;
        let _ = self.payload_type.set(codec.payload_type);
        Ok(())
    }

    /// Packetizes and sends one frame stamped `rtp_timestamp` (in this codec's clock). Returns
    /// false, counting it as dropped, when the payload type is not negotiated yet.
    pub(crate) async fn write(&self, frame: Bytes, rtp_timestamp: u32) -> Result<bool, PeerError> {
        let Some(&payload_type) = self.payload_type.get() else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(false);
        };
        if frame.is_empty() {
            return Ok(false);
        }
        // Held across the writes so concurrent callers cannot interleave sequence numbers.
        let mut state = self.state.lock().await;
        let payloads = match state.vp8.as_mut() {
            Some(payloader) => payloader
                .payload(RTP_MTU, &frame)
                .map_err(|e| PeerError::Webrtc(format!("packetizing a VP8 frame: {e}")))?,
            None => vec![frame],
        };
        let count = payloads.len();
        let is_video = state.vp8.is_some();
        for (i, payload) in payloads.into_iter().enumerate() {
            // Video: the marker ends a frame. Audio: it starts a talk spurt (the first packet).
            let marker = if is_video { i + 1 == count } else { state.first };
            state.first = false;
            let sequence_number = state.sequence;
            state.sequence = state.sequence.wrapping_add(1);
            let size = payload.len() as u64;
            let packet = rtp::Packet {
                header: rtp::Header {
                    version: 2,
                    marker,
                    payload_type,
                    sequence_number,
                    timestamp: rtp_timestamp.wrapping_add(self.ts_offset),
                    ssrc: self.ssrc,
                    ..Default::default()
                },
                payload,
            };
            self.track
                .write_rtp(packet)
                .await
                .map_err(webrtc_err("writing RTP"))?;
            self.bytes.fetch_add(size, Ordering::Relaxed);
        }
        self.frames.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }
}

/// Decodes one incoming Opus stream to 48 kHz mono, filling short sequence gaps: the packet
/// just before the one that arrived is rebuilt from that packet's in-band FEC copy (a coarser
/// encoding of the previous 20 ms that voice packets carry), earlier ones are concealed.
pub(crate) struct OpusIn {
    decoder: OpusDecoder,
    last_sequence: Option<u16>,
    scratch: Vec<f32>,
    pub(crate) bad_packets: u64,
    pub(crate) concealed: u64,
    pub(crate) recovered: u64,
}

impl OpusIn {
    pub(crate) fn new() -> Result<Self, PeerError> {
        let decoder = OpusDecoder::new(SampleRate::Hz48000, Channels::Mono)
            .map_err(|e| PeerError::Webrtc(format!("creating the Opus decoder (48 kHz mono): {e}")))?;
        Ok(OpusIn {
            decoder,
            last_sequence: None,
            scratch: vec![0.0; OPUS_MAX_SAMPLES],
            bad_packets: 0,
            concealed: 0,
            recovered: 0,
        })
    }

    /// Decodes `packet`, first handing `emit` what stands in for up to 100 ms of packets lost
    /// just before it (concealment, and the FEC copy for the last of them). Late and duplicate
    /// packets are dropped (counted as bad).
    pub(crate) fn push(&mut self, packet: &rtp::Packet, mut emit: impl FnMut(Vec<f32>, u32)) {
        let sequence = packet.header.sequence_number;
        let timestamp = packet.header.timestamp;
        if let Some(last) = self.last_sequence {
            let ahead = sequence.wrapping_sub(last);
            if ahead == 0 || ahead > u16::MAX / 2 {
                self.bad_packets += 1;
                return;
            }
            let missing = (ahead - 1).min(MAX_CONCEALED_PACKETS);
            for i in (1..=missing).rev() {
                let stamp = timestamp.wrapping_sub(u32::from(i) * OPUS_PACKET_SAMPLES as u32);
                let out = &mut self.scratch[..OPUS_PACKET_SAMPLES];
                // For the packet right before this one, libopus decodes this packet's FEC copy
                // when it has one and conceals otherwise; the output size names the lost span.
                let fec = i == 1 && packet_has_fec(&packet.payload);
                let input = fec.then_some(&packet.payload[..]);
                match self.decoder.decode_float(input, out, fec) {
                    Ok(n) => {
                        if fec {
                            self.recovered += 1;
                        } else {
                            self.concealed += 1;
                        }
                        emit(self.scratch[..n].to_vec(), stamp);
                    }
                    Err(_) => break,
                }
            }
        }
        self.last_sequence = Some(sequence);
        if packet.payload.is_empty() {
            return;
        }
        match self
            .decoder
            .decode_float(Some(&packet.payload[..]), &mut self.scratch[..], false)
        {
            Ok(n) => emit(self.scratch[..n].to_vec(), timestamp),
            Err(e) => {
                self.bad_packets += 1;
                trace!(error = %e, "undecodable Opus packet");
            }
        }
    }
}

/// Whether an Opus packet carries an in-band FEC copy of the previous frame: a SILK or hybrid
/// packet holding one frame (or two of equal size) whose first SILK header has its LBRR flag
/// set. RFC 6716 §4.2.3: the header flags are coded with uniform probability, so they are the
/// first bits of the frame — one voice-activity bit per 20 ms SILK frame, then the LBRR flag.
/// Other layouts (CELT-only, code 2/3 packing) report false: they are concealed instead.
fn packet_has_fec(packet: &[u8]) -> bool {
    let (Some(&toc), Some(&first)) = (packet.first(), packet.get(1)) else {
        return false;
    };
    let config = toc >> 3;
    let packing = toc & 0b11;
    if config >= 16 || packing > 1 {
        return false;
    }
    // SILK-only configurations 0–11 cycle through 10/20/40/60 ms; hybrid (12–15) are 10/20 ms.
    let silk_frames = match config {
        0..=11 => [1u8, 1, 2, 3][usize::from(config % 4)],
        _ => 1,
    };
    (first >> (7 - silk_frames)) & 1 == 1
}

// ---------------------------------------------------------------------------------------------
// The server peer.
// ---------------------------------------------------------------------------------------------

/// Both queues of [`PeerEvents`], held until the peer closes.
struct EventSenders {
    control: mpsc::Sender<PeerEvent>,
    audio: mpsc::Sender<PeerEvent>,
}

struct ServerRole {
    senders: StdMutex<Option<EventSenders>>,
    control_dropped: AtomicU64,
    audio_dropped: Arc<AtomicU64>,
    audio_bad: Arc<AtomicU64>,
    audio_concealed: Arc<AtomicU64>,
    audio_recovered: Arc<AtomicU64>,
}

impl ServerRole {
    fn control(&self, event: PeerEvent) {
        let guard = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(senders) = guard.as_ref()
            && let Err(mpsc::error::TrySendError::Full(_)) = senders.control.try_send(event)
        {
            self.control_dropped.fetch_add(1, Ordering::Relaxed);
            debug!("peer event queue full; dropping an event");
        }
    }
}

impl Role for ServerRole {
    fn state_changed(&self, state: LinkState) {
        match state {
            LinkState::Connected => {
                info!("browser connected");
                self.control(PeerEvent::Connected);
            }
            LinkState::Gone => {
                info!("browser disconnected");
                self.control(PeerEvent::Disconnected);
            }
            LinkState::New => {}
        }
    }

    fn channel_open(&self) {
        self.control(PeerEvent::ChannelOpen);
    }

    fn text(&self, text: String) {
        self.control(PeerEvent::Text(text));
    }

    fn track(self: Arc<Self>, kind: RtpCodecKind, track: Arc<dyn TrackRemote>, tasks: &TaskSet) {
        let audio = if kind == RtpCodecKind::Audio {
            let guard = self.senders.lock().unwrap_or_else(|e| e.into_inner());
            guard.as_ref().map(|s| s.audio.clone())
        } else {
            None
        };
        let Some(audio) = audio else {
            // The browser sends no video; whatever arrives is read and thrown away.
            tasks.spawn(drain_track(track));
            return;
        };
        let dropped = Arc::clone(&self.audio_dropped);
        let bad = Arc::clone(&self.audio_bad);
        let concealed = Arc::clone(&self.audio_concealed);
        let recovered = Arc::clone(&self.audio_recovered);
        tasks.spawn(async move {
            let mut opus = match OpusIn::new() {
                Ok(opus) => opus,
                Err(e) => {
                    warn!(error = %e, "incoming audio is ignored");
                    return drain_track(track).await;
                }
            };
            debug!("receiving microphone audio");
            while let Some(event) = track.poll().await {
                let TrackRemoteEvent::OnRtpPacket(packet) = event else {
                    continue;
                };
                let (bad_before, concealed_before, recovered_before) =
                    (opus.bad_packets, opus.concealed, opus.recovered);
                opus.push(&packet, |samples, rtp_timestamp| {
                    if audio
                        .try_send(PeerEvent::Audio {
                            samples,
                            rtp_timestamp,
                        })
                        .is_err()
                    {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                });
                bad.fetch_add(opus.bad_packets - bad_before, Ordering::Relaxed);
                concealed.fetch_add(opus.concealed - concealed_before, Ordering::Relaxed);
                recovered.fetch_add(opus.recovered - recovered_before, Ordering::Relaxed);
            }
        });
    }
}

/// The browser's side of the conversation: connection changes, microphone audio, typed text.
/// Ends (`recv` returns `None`) once the peer is closed.
pub struct PeerEvents {
    control: mpsc::Receiver<PeerEvent>,
    audio: mpsc::Receiver<PeerEvent>,
}

impl PeerEvents {
    /// The next event; control events (connection, channel, text) before queued audio.
    pub async fn recv(&mut self) -> Option<PeerEvent> {
        tokio::select! {
            biased;
            Some(event) = self.control.recv() => Some(event),
            Some(event) = self.audio.recv() => Some(event),
            else => None,
        }
    }
}

/// One browser's peer connection, as the session sees it. Cheap to clone; all clones share it.
#[derive(Clone)]
pub struct Peer {
    inner: Arc<PeerInner>,
}

struct PeerInner {
    link: Link,
    role: Arc<ServerRole>,
    video: Arc<RtpOut>,
    audio: Arc<RtpOut>,
    /// Set when the browser asks for a keyframe (PLI or FIR); the encoder takes and clears it.
    keyframe_wanted: Arc<AtomicBool>,
}

/// Reads the feedback the browser sends about our video (the track's event queue must be drained
/// either way) and raises `wanted` on a picture-loss or full-intra request.
async fn watch_keyframe_requests(track: Arc<dyn TrackLocal>, wanted: Arc<AtomicBool>) {
    use webrtc::media_stream::track_local::TrackLocalEvent;
    while let Some(event) = track.poll().await {
        let TrackLocalEvent::OnRtcpPacket(packets) = event else {
            continue;
        };
        if packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
            debug!("the browser asked for a keyframe");
            wanted.store(true, Ordering::Relaxed);
        }
    }
}

/// Answers a browser's offer: checks it, sets up Opus + VP8 out and the `events` channel, and
/// returns once this side's ICE candidates are gathered (or `gather_timeout` passed) with the
/// answer SDP, candidates included.
pub async fn answer(
    settings: &PeerSettings,
    offer_sdp: &str,
) -> Result<(Peer, PeerEvents, String), PeerError> {
    let offer = RTCSessionDescription::offer(offer_sdp.to_owned()).map_err(|e| {
        PeerError::BadOffer(format!(
            "the offer is not valid SDP ({e}); send RTCPeerConnection.localDescription.sdp unchanged"
        ))
    })?;
    let parsed = offer
        .unmarshal()
        .map_err(|e| PeerError::BadOffer(format!("the offer is not valid SDP ({e})")))?;
    check_offer(&parsed)?;

    let (control_tx, control) = mpsc::channel(CONTROL_QUEUE);
    let (audio_tx, audio_rx) = mpsc::channel(AUDIO_QUEUE);
    let role = Arc::new(ServerRole {
        senders: StdMutex::new(Some(EventSenders {
            control: control_tx,
            audio: audio_tx,
        })),
        control_dropped: AtomicU64::new(0),
        audio_dropped: Arc::new(AtomicU64::new(0)),
        audio_bad: Arc::new(AtomicU64::new(0)),
        audio_concealed: Arc::new(AtomicU64::new(0)),
        audio_recovered: Arc::new(AtomicU64::new(0)),
    });
    let (link, _handler) = Link::new(settings, Arc::clone(&role)).await?;
    let video = RtpOut::video("persona-video");
    let audio = RtpOut::audio("persona-audio");

    let negotiated = async {
        link.pc
            .set_remote_description(offer)
            .await
            .map_err(|e| PeerError::BadOffer(format!("the offer could not be applied: {e}")))?;
        // Added after the offer so they attach to the browser's transceivers (W3C answerer order).
        let video_sender = link
            .pc
            .add_track(video.track())
            .await
            .map_err(webrtc_err("adding the video track"))?;
        let audio_sender = link
            .pc
            .add_track(audio.track())
            .await
            .map_err(webrtc_err("adding the audio track"))?;
        let answer = link.pc.create_answer(None).await.map_err(|e| {
            PeerError::BadOffer(format!(
                "no answer could be made to the offer ({e}); offer Opus audio and VP8 video"
            ))
        })?;
        link.pc
            .set_local_description(answer)
            .await
            .map_err(webrtc_err("setting the local description"))?;
        video.negotiated(&video_sender).await?;
        audio.negotiated(&audio_sender).await?;
        let sdp = link.gathered_local_sdp(settings.gather_timeout).await?;
        check_answer(&sdp)?;
        Ok::<_, PeerError>(sdp)
    }
    .await;
    let sdp = match negotiated {
        Ok(sdp) => sdp,
        Err(e) => {
            link.close().await;
            return Err(e);
        }
    };
    let keyframe_wanted = Arc::new(AtomicBool::new(false));
    link.tasks.spawn(watch_keyframe_requests(
        video.track(),
        Arc::clone(&keyframe_wanted),
    ));
    let peer = Peer {
        inner: Arc::new(PeerInner {
            link,
            role,
            video,
            audio,
            keyframe_wanted,
        }),
    };
    Ok((
        peer,
        PeerEvents {
            control,
            audio: audio_rx,
        },
        sdp,
    ))
}

impl Peer {
    /// Sends one VP8 frame shown at output-clock sample `media_sample` (48 kHz). The RTP timestamp
    /// is `media_sample * 90000 / 48000` (mod 2^32) plus a per-stream random offset. Frames written
    /// while not connected are dropped and counted; an error means the connection is gone.
    pub async fn write_video(&self, vp8_frame: Bytes, media_sample: u64) -> Result<(), PeerError> {
        self.write(&self.inner.video, vp8_frame, video_rtp_timestamp(media_sample))
            .await
    }

    /// Sends one 20 ms Opus packet whose first sample is output-clock sample `media_sample`
    /// (48 kHz). The RTP timestamp is `media_sample` (mod 2^32) plus a per-stream random offset.
    pub async fn write_audio(&self, opus_packet: Bytes, media_sample: u64) -> Result<(), PeerError> {
        self.write(&self.inner.audio, opus_packet, audio_rtp_timestamp(media_sample))
            .await
    }

    async fn write(&self, out: &RtpOut, payload: Bytes, rtp_timestamp: u32) -> Result<(), PeerError> {
        if !self.inner.link.is_connected() {
            out.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        out.write(payload, rtp_timestamp).await.map(|_| ())
    }

    /// Queues a JSON text message for the `events` channel; never waits. Up to 64 wait for the
    /// channel to open or drain; beyond that, messages are dropped (counted in
    /// [`PeerStats::events_dropped`]).
    pub fn send_event(&self, json: String) {
        self.inner.link.queue_text(json);
    }

    /// The flag the browser's keyframe requests raise (for [`crate::transport::live::LiveOutput`]).
    pub fn keyframe_requests(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.inner.keyframe_wanted)
    }

    /// Whether DTLS is up and media is being sent.
    pub fn is_connected(&self) -> bool {
        self.inner.link.is_connected()
    }

    pub fn stats(&self) -> PeerStats {
        let inner = &self.inner;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PeerStats {
            video_frames_sent: load(&inner.video.frames),
            audio_packets_sent: load(&inner.audio.frames),
            rtp_bytes_sent: load(&inner.video.bytes) + load(&inner.audio.bytes),
            media_dropped_unconnected: load(&inner.video.dropped) + load(&inner.audio.dropped),
            events_dropped: inner.link.events_dropped(),
            audio_dropped: load(&inner.role.audio_dropped),
            control_dropped: load(&inner.role.control_dropped),
            audio_bad_packets: load(&inner.role.audio_bad),
            audio_concealed: load(&inner.role.audio_concealed),
            audio_recovered: load(&inner.role.audio_recovered),
        }
    }

    /// Closes the connection and ends every task it started; [`PeerEvents`] then ends after the
    /// events already queued. Idempotent.
    pub async fn close(&self) {
        // Stop producing events first, so the stream ends once the tasks are gone.
        self.inner
            .role
            .senders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.inner.link.close().await;
    }
}

/// Video RTP clock (90 kHz) from the 48 kHz output clock: `sample * 15 / 8`, wrapping.
pub fn video_rtp_timestamp(media_sample: u64) -> u32 {
    (u128::from(media_sample) * 90_000 / 48_000) as u32
}

/// Opus RTP clock (48 kHz) from the 48 kHz output clock: the sample itself, wrapping.
pub fn audio_rtp_timestamp(media_sample: u64) -> u32 {
    media_sample as u32
}

/// The media sections of an SDP as (kind, port, direction, rtpmap encodings), for validation.
struct Section {
    kind: String,
    port: isize,
    direction: &'static str,
    encodings: Vec<String>,
}

fn sections(sdp: &rtc::sdp::SessionDescription) -> Vec<Section> {
    let session_direction = ["sendrecv", "sendonly", "recvonly", "inactive"]
        .into_iter()
        .find(|d| sdp.attributes.iter().any(|a| a.key == *d))
        .unwrap_or("sendrecv");
    sdp.media_descriptions
        .iter()
        .map(|m| Section {
            kind: m.media_name.media.clone(),
            port: m.media_name.port.value,
            direction: ["sendrecv", "sendonly", "recvonly", "inactive"]
                .into_iter()
                .find(|d| m.has_attribute(d))
                .unwrap_or(session_direction),
            encodings: m
                .attributes
                .iter()
                .filter(|a| a.key == "rtpmap")
                .filter_map(|a| a.value.as_deref())
                .filter_map(|v| v.split_whitespace().nth(1))
                .filter_map(|enc| enc.split('/').next())
                .map(|name| name.to_ascii_lowercase())
                .collect(),
        })
        .collect()
}

/// The offer must let the browser send and receive Opus, receive VP8, and carry a data channel.
fn check_offer(sdp: &rtc::sdp::SessionDescription) -> Result<(), PeerError> {
    let sections = sections(sdp);
    let live = |kind: &'static str| sections.iter().filter(move |s| s.kind == kind && s.port != 0);
    let Some(audio) = live("audio").next() else {
        return Err(PeerError::BadOffer(
            "the offer has no audio m-line; add an audio transceiver (sendrecv, or recvonly without a \
             microphone) before createOffer"
                .into(),
        ));
    };
    if !audio.encodings.iter().any(|e| e == "opus") {
        return Err(PeerError::BadOffer(
            "the offer's audio m-line does not offer Opus; the agent speaks Opus only".into(),
        ));
    }
    if !matches!(audio.direction, "sendrecv" | "recvonly") {
        return Err(PeerError::BadOffer(format!(
            "the offer's audio m-line is {}, so the browser would not play the agent's voice; make the \
             audio transceiver sendrecv (or recvonly)",
            audio.direction
        )));
    }
    let Some(video) = live("video").find(|s| matches!(s.direction, "sendrecv" | "recvonly")) else {
        return Err(PeerError::BadOffer(
            "the offer has no video m-line that can receive; add a recvonly video transceiver before \
             createOffer"
                .into(),
        ));
    };
    if !video.encodings.iter().any(|e| e == "vp8") {
        return Err(PeerError::BadOffer(
            "the offer's video m-line does not offer VP8; the agent's video is VP8 only".into(),
        ));
    }
    if live("application").next().is_none() {
        return Err(PeerError::BadOffer(format!(
            "the offer has no data channel (m=application); create the '{EVENTS_CHANNEL}' data channel \
             before createOffer"
        )));
    }
    Ok(())
}

/// Our answer must actually send video and audio (a sanity check on transceiver matching).
fn check_answer(sdp: &str) -> Result<(), PeerError> {
    let parsed = RTCSessionDescription::answer(sdp.to_owned())
        .and_then(|d| d.unmarshal())
        .map_err(|e| PeerError::Webrtc(format!("the generated answer does not parse: {e}")))?;
    let sections = sections(&parsed);
    for kind in ["audio", "video"] {
        let sends = sections
            .iter()
            .any(|s| s.kind == kind && s.port != 0 && matches!(s.direction, "sendrecv" | "sendonly"));
        if !sends {
            return Err(PeerError::Webrtc(format!(
                "the answer does not send {kind}; the offer's {kind} section could not take the agent's track"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20 ms Opus packets of silence until packet `onset`, then a voice-like buzz (180 Hz with
    /// harmonics, swelling every 200 ms), encoded as a browser encodes a microphone: VOIP,
    /// 32 kbit/s, with in-band FEC when `fec`.
    fn voice_packets(count: usize, onset: usize, fec: bool) -> (Vec<f32>, Vec<Vec<u8>>) {
        use audiopus::coder::Encoder;
        let mut encoder =
            Encoder::new(SampleRate::Hz48000, Channels::Mono, audiopus::Application::Voip).unwrap();
        encoder
            .set_bitrate(audiopus::Bitrate::BitsPerSecond(32_000))
            .unwrap();
        encoder.set_inband_fec(fec).unwrap();
        encoder.set_packet_loss_perc(if fec { 20 } else { 0 }).unwrap();
        let signal: Vec<f32> = (0..count * OPUS_PACKET_SAMPLES)
            .map(|n| {
                if n < onset * OPUS_PACKET_SAMPLES {
                    return 0.0;
                }
                let t = n as f32 / 48_000.0;
                let envelope = 0.75 - 0.25 * (2.0 * std::f32::consts::PI * 5.0 * t).cos();
                let buzz: f32 = (1..=6)
                    .map(|h| (2.0 * std::f32::consts::PI * 180.0 * h as f32 * t).sin() / h as f32)
                    .sum();
                0.2 * envelope * buzz
            })
            .collect();
        let packets = signal
            .chunks(OPUS_PACKET_SAMPLES)
            .map(|frame| {
                let mut out = vec![0u8; 1500];
                let n = encoder.encode_float(frame, &mut out[..]).unwrap();
                out.truncate(n);
                out
            })
            .collect();
        (signal, packets)
    }

    fn rtp_packet(sequence: u16, payload: &[u8]) -> rtp::Packet {
        rtp::Packet {
            header: rtp::Header {
                version: 2,
                sequence_number: sequence,
                timestamp: u32::from(sequence) * OPUS_PACKET_SAMPLES as u32,
                ..Default::default()
            },
            payload: Bytes::copy_from_slice(payload),
        }
    }

    fn energy(samples: &[f32]) -> f32 {
        samples.iter().map(|x| x * x).sum()
    }

    #[test]
    fn the_fec_flag_is_read_from_voice_packets() {
        let (_, with) = voice_packets(20, 0, true);
        let (_, without) = voice_packets(20, 0, false);
        assert!(
            without.iter().all(|p| !packet_has_fec(p)),
            "no FEC asked, none found"
        );
        // The encoder adds a copy once it has a previous voiced frame to copy.
        let flagged = with.iter().filter(|p| packet_has_fec(p)).count();
        assert!(flagged >= 15, "{flagged} of 20 voice packets carry FEC");
        assert!(
            !packet_has_fec(&[]) && !packet_has_fec(&[0xfc]),
            "too short to say"
        );
    }

    /// The packet where the user starts speaking is lost: concealment can only extend the
    /// silence before it, while the next packet's FEC copy brings the speech back — the start
    /// of a word the recogniser would otherwise miss.
    #[test]
    fn a_lost_packet_is_rebuilt_from_the_next_packets_fec_copy() {
        let (onset, count) = (10, 20);
        let (signal, packets) = voice_packets(count, onset, true);
        assert!(
            packet_has_fec(&packets[onset + 1]),
            "the packet after the onset carries FEC"
        );
        let mut opus = OpusIn::new().unwrap();
        let mut out: Vec<(u32, Vec<f32>)> = Vec::new();
        for (k, payload) in packets.iter().enumerate() {
            if k != onset {
                opus.push(&rtp_packet(k as u16, payload), |samples, stamp| {
                    out.push((stamp, samples))
                });
            }
        }
        assert_eq!((opus.recovered, opus.concealed, opus.bad_packets), (1, 0, 0));
        let stamp = (onset * OPUS_PACKET_SAMPLES) as u32;
        let rebuilt = &out
            .iter()
            .find(|(s, _)| *s == stamp)
            .expect("the lost span is filled")
            .1;
        assert_eq!(rebuilt.len(), OPUS_PACKET_SAMPLES);

        // Concealment of the same gap, for comparison: a decoder that never sees the FEC copy.
        let mut plc = OpusDecoder::new(SampleRate::Hz48000, Channels::Mono).unwrap();
        let mut scratch = vec![0.0f32; OPUS_MAX_SAMPLES];
        for payload in &packets[..onset] {
            plc.decode_float(Some(&payload[..]), &mut scratch[..], false)
                .unwrap();
        }
        let n = plc
            .decode_float(None::<&[u8]>, &mut scratch[..OPUS_PACKET_SAMPLES], false)
            .unwrap();
        let concealed = energy(&scratch[..n]);
        // What was sent in that span, as the decoder presents it: delayed by the encoder's
        // lookahead (6.5 ms for VOIP), so it starts with a little of the silence before.
        let delay = 312;
        let sent = energy(&signal[stamp as usize - delay..stamp as usize + OPUS_PACKET_SAMPLES - delay]);
        let recovered = energy(rebuilt);
        assert!(
            recovered > 0.3 * sent && recovered < 3.0 * sent,
            "rebuilt energy {recovered:.3} against {sent:.3} sent"
        );
        assert!(
            concealed < 0.1 * sent,
            "concealment {concealed:.3} against {sent:.3} sent"
        );
    }

    #[test]
    fn media_clock_to_rtp_clocks() {
        assert_eq!(video_rtp_timestamp(0), 0);
        assert_eq!(video_rtp_timestamp(48_000), 90_000);
        assert_eq!(video_rtp_timestamp(1_600), 3_000); // one 30 fps frame
        assert_eq!(audio_rtp_timestamp(960), 960);
        // Wraps rather than saturates.
        assert_eq!(audio_rtp_timestamp(u64::from(u32::MAX) + 2), 1);
        let big = 48_000 * 100_000u64;
        assert_eq!(video_rtp_timestamp(big), (90_000 * 100_000u64) as u32);
    }

    async fn bad_offer(sdp: &str) -> String {
        match answer(&PeerSettings::default(), sdp).await {
            Err(PeerError::BadOffer(msg)) => msg,
            Err(other) => panic!("expected BadOffer, got {other}"),
            Ok(_) => panic!("expected BadOffer, got an answer"),
        }
    }

    #[tokio::test]
    async fn rejects_offers_that_cannot_work() {
        let err = bad_offer;
        assert!(err("hello").await.contains("not valid SDP"));
        let head = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
        let audio = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\na=sendrecv\r\n";
        let video =
            "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 VP8/90000\r\na=recvonly\r\n";
        let app = "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n";
        assert!(
            err(&format!("{head}{video}{app}"))
                .await
                .contains("no audio m-line")
        );
        assert!(
            err(&format!("{head}{audio}{app}"))
                .await
                .contains("no video m-line")
        );
        assert!(
            err(&format!("{head}{audio}{video}"))
                .await
                .contains("no data channel")
        );
        let h264 = video.replace("VP8", "H264");
        assert!(err(&format!("{head}{audio}{h264}{app}")).await.contains("VP8"));
        let sendonly = video.replace("recvonly", "sendonly");
        assert!(
            err(&format!("{head}{audio}{sendonly}{app}"))
                .await
                .contains("can receive")
        );
    }
}
