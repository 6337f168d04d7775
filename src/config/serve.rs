//! `[serve]`: how `persona serve` exposes a pipeline to browsers — who may call it, how many at
//! once, for how long, and how WebRTC reaches the visitor. Everything has a safe default, so a
//! pipeline file without the section serves on a laptop as is.

use std::time::Duration;

use super::ConfigError;
use super::reader::Section;
use crate::runtime::priority::PriorityRequest;

/// The web agent's limits and network settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ServeConfig {
    /// Origins (`https://shop.example`) whose pages may call the API; `"*"` allows any. The
    /// server's own origin (the demo page) is always allowed.
    pub allowed_origins: Vec<String>,
    /// Live sessions at once (including ones waiting for their offer); more get 429.
    pub max_sessions: usize,
    /// How long a session token is valid.
    pub token_ttl: Duration,
    /// How long a created session waits for its offer before its slot is freed.
    pub offer_timeout: Duration,
    /// A session with no user turn (speech or text) for this long ends.
    pub idle_timeout: Duration,
    /// No session lasts longer.
    pub max_duration: Duration,
    /// Largest request body (an SDP offer is a few KiB).
    pub max_body_bytes: usize,
    /// STUN/TURN server URLs handed to both peers; empty: host candidates only (same network).
    pub ice_urls: Vec<String>,
    pub ice_username: Option<String>,
    pub ice_credential: Option<String>,
    /// The address ICE binds: `None` for every non-loopback interface; `127.0.0.1` keeps media on
    /// this machine (tests, a kiosk's local browser).
    pub ice_bind: Option<std::net::IpAddr>,
    /// UDP ports ICE may use (inclusive), for firewalls; `None`: any ephemeral port.
    pub udp_ports: Option<(u16, u16)>,
    /// Write user transcripts and replies into the server log (off: logs carry lengths only).
    pub log_transcripts: bool,
    /// The priority of the threads running sessions' short, time-keeping stages (capture,
    /// resample, VAD, turn-taking, motion glue, playout): see `runtime::priority`.
    pub priority: PriorityRequest,
    /// How many such threads (0: one per two cores, at least one).
    pub priority_threads: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            allowed_origins: Vec::new(),
            max_sessions: 8,
            token_ttl: Duration::from_secs(15 * 60),
            offer_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            max_duration: Duration::from_secs(15 * 60),
            max_body_bytes: 64 * 1024,
            ice_urls: Vec::new(),
            ice_username: None,
            ice_credential: None,
            ice_bind: None,
            udp_ports: None,
            log_transcripts: false,
            priority: PriorityRequest::Realtime,
            priority_threads: 0,
        }
    }
}

/// Reads `[serve]` (every key optional).
pub fn serve(s: &mut Section<'_>) -> Result<ServeConfig, ConfigError> {
    let d = ServeConfig::default();
    let secs = |s: &mut Section<'_>, key: &'static str, default: Duration, max: u64| {
        s.integer(key, default.as_secs() as i64, 1, max as i64)
            .map(|v| Duration::from_secs(v as u64))
    };
    let allowed_origins = s.strings("allowed_origins", &[])?;
    for origin in &allowed_origins {
        let well_formed = origin == "*"
            || ((origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.trim_end_matches('/').contains(['?', '#'])
                && origin.matches('/').count() == 2);
        if !well_formed {
            return Err(s.error(
                "allowed_origins",
                format!("{origin:?} is not an origin: write scheme and host only, e.g. \"https://shop.example\" (or \"*\")"),
            ));
        }
    }
    let udp_min = s.integer("udp_port_min", 0, 0, 65_535)? as u16;
    let udp_max = s.integer("udp_port_max", 0, 0, 65_535)? as u16;
    let udp_ports = match (udp_min, udp_max) {
        (0, 0) => None,
        (min, max) if min > 0 && max >= min => Some((min, max)),
        _ => {
            return Err(s.error(
                "udp_port_max",
                format!("the UDP port range {udp_min}..={udp_max} is empty: set both udp_port_min and udp_port_max, min ≤ max"),
            ));
        }
    };
    let ice_urls = s.strings("ice_urls", &[])?;
    for url in &ice_urls {
        if !(url.starts_with("stun:") || url.starts_with("turn:") || url.starts_with("turns:")) {
            return Err(s.error(
                "ice_urls",
                format!("{url:?} is not a STUN or TURN URL: write e.g. \"stun:stun.example.org:3478\" or \"turn:turn.example.org:3478\""),
            ));
        }
    }
    let ice_bind = match s.optional_string("ice_bind")? {
        None => None,
        Some(ip) => Some(ip.parse().map_err(|_| {
            s.error(
                "ice_bind",
                format!("{ip:?} is not an IP address: write e.g. \"127.0.0.1\", or leave the key out for every interface"),
            )
        })?),
    };
    Ok(ServeConfig {
        allowed_origins,
        max_sessions: s.integer("max_sessions", d.max_sessions as i64, 1, 10_000)? as usize,
        token_ttl: secs(s, "token_ttl_s", d.token_ttl, 24 * 3600)?,
        offer_timeout: secs(s, "offer_timeout_s", d.offer_timeout, 3600)?,
        idle_timeout: secs(s, "idle_timeout_s", d.idle_timeout, 24 * 3600)?,
        max_duration: secs(s, "max_duration_s", d.max_duration, 24 * 3600)?,
        max_body_bytes: s.integer("max_body_kib", (d.max_body_bytes / 1024) as i64, 1, 1024)? as usize * 1024,
        ice_urls,
        ice_username: s.optional_string("ice_username")?,
        ice_credential: s.optional_string("ice_credential")?,
        ice_bind,
        udp_ports,
        log_transcripts: s.boolean("log_transcripts", d.log_transcripts)?,
        priority: match s
            .choice("priority", "realtime", &["realtime", "high", "normal"])?
            .as_str()
        {
            "realtime" => PriorityRequest::Realtime,
            "high" => PriorityRequest::High,
            _ => PriorityRequest::Normal,
        },
        priority_threads: s.integer("priority_threads", 0, 0, 64)? as usize,
    })
}
