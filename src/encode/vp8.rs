//! VP8 encoding with libvpx, driven through `vpx_sys` (the `env-libvpx-sys` crate) directly.
//!
//! The `vpx-encode` crate was the obvious wrapper, but it cannot set a keyframe interval, force a
//! keyframe, or pick the encode deadline (it always runs realtime with 8 threads), and it asserts on
//! short input. This wrapper is small: one libvpx context, one frame in, its packet out (no lag, so a
//! packet's timestamp is known when `encode` returns).
//!
//! It does not convert colours ([`rgba_to_i420`](super::rgba_to_i420) does) and knows nothing of
//! containers or transports.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::raw::{c_int, c_uint, c_ulong};

use tracing::debug;
use vpx_sys::vp8e_enc_control_id::{VP8E_SET_CPUUSED, VP8E_SET_NOISE_SENSITIVITY};
use vpx_sys::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT;
use vpx_sys::{
    VPX_DL_GOOD_QUALITY, VPX_DL_REALTIME, VPX_EFLAG_FORCE_KF, VPX_ENCODER_ABI_VERSION, VPX_FRAME_IS_KEY,
    vpx_codec_ctx_t, vpx_codec_enc_cfg_t, vpx_codec_err_t, vpx_image_t, vpx_img_fmt, vpx_kf_mode,
    vpx_rc_mode,
};

use super::{EncodeError, i420_len};

/// libvpx speed for `realtime`: the fastest (16 is VP8's maximum). Measured on a busy 512x512
/// frame: 16 takes about half the time of 10 and a third less than 6 (WebRTC uses 6–12), at a
/// small cost in quality for the same bitrate.
const CPU_USED_REALTIME: c_int = 16;
/// libvpx speed for offline quality: a middle setting; 0 is several times slower for little gain.
const CPU_USED_GOOD: c_int = 2;
/// Largest VP8 picture side (14-bit size fields in the frame header).
const MAX_SIDE_PX: u32 = 16_383;

/// What the encoder produces and how fast.
#[derive(Clone, Debug)]
pub struct Vp8Config {
    pub width: u32,
    pub height: u32,
    /// Nominal frame rate: rate control budgets bits per frame from it.
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// Realtime deadline and fastest settings (true), or good-quality deadline (false).
    pub realtime: bool,
    /// Ticks per second of the `pts` passed to [`Vp8Encoder::encode`] (e.g. the audio clock's 48 000).
    pub timebase_hz: u32,
    /// The longest stretch without a keyframe, in milliseconds of `pts`.
    pub keyframe_interval_ms: u32,
}

/// One compressed frame.
#[derive(Clone, Debug)]
pub struct Vp8Packet {
    /// The `pts` the frame was submitted with.
    pub pts: i64,
    pub keyframe: bool,
    pub data: Vec<u8>,
}

/// A libvpx VP8 encoder for one stream of I420 frames of a fixed size.
pub struct Vp8Encoder {
    /// Boxed so the context never moves after libvpx initialised it.
    ctx: Box<vpx_codec_ctx_t>,
    config: Vp8Config,
    deadline: c_ulong,
    frame_duration_ticks: c_ulong,
    keyframe_interval_ticks: i64,
    last_keyframe_pts: Option<i64>,
}

// SAFETY: a libvpx encoder context has no thread affinity; it only must not be used from two
// threads at once, which `&mut self` on every call guarantees.
unsafe impl Send for Vp8Encoder {}

impl Vp8Encoder {
    pub fn new(config: Vp8Config) -> Result<Self, EncodeError> {
        validate(&config)?;
        let params = format!(
            "{}x{} at {} fps, {} kbit/s, {}",
            config.width,
            config.height,
            config.fps,
            config.bitrate_kbps,
            if config.realtime {
                "realtime"
            } else {
                "good quality"
            }
        );
        let init_error = |reason: String| EncodeError::EncoderInit {
            codec: "VP8 (libvpx)",
            params: params.clone(),
            reason,
        };

        // SAFETY: plain C calls; `cfg` is a POD struct that libvpx fills in before we read it.
        let iface = unsafe { vpx_sys::vpx_codec_vp8_cx() };
        if iface.is_null() {
            return Err(init_error("libvpx was built without a VP8 encoder".into()));
        }
        let mut cfg: vpx_codec_enc_cfg_t = unsafe { MaybeUninit::zeroed().assume_init() };
        let err = unsafe { vpx_sys::vpx_codec_enc_config_default(iface, &mut cfg, 0) };
        if err != vpx_codec_err_t::VPX_CODEC_OK {
            return Err(init_error(err_string(err, None)));
        }

        cfg.g_w = config.width;
        cfg.g_h = config.height;
        cfg.g_timebase.num = 1;
        cfg.g_timebase.den = config.timebase_hz as c_int;
        cfg.rc_target_bitrate = config.bitrate_kbps;
        // One thread: the pipeline runs many stages on few cores, and one 512x512 frame is cheap.
        cfg.g_threads = 1;
        // No lookahead: every frame comes out of the call that put it in.
        cfg.g_lag_in_frames = 0;
        // Never drop frames: the muxer and the caller's frame count rely on one packet per frame.
        cfg.rc_dropframe_thresh = 0;
        cfg.g_error_resilient = 0;
        cfg.rc_end_usage = if config.realtime {
            vpx_rc_mode::VPX_CBR
        } else {
            vpx_rc_mode::VPX_VBR
        };
        cfg.kf_mode = vpx_kf_mode::VPX_KF_AUTO;
        cfg.kf_min_dist = 0;
        let interval_frames = (u64::from(config.keyframe_interval_ms) * u64::from(config.fps) / 1000).max(1);
        cfg.kf_max_dist = interval_frames.min(u64::from(c_uint::MAX)) as c_uint;

        let mut ctx: Box<vpx_codec_ctx_t> = Box::new(unsafe { MaybeUninit::zeroed().assume_init() });
        // SAFETY: `ctx` is zeroed storage that outlives the encoder (it is owned by `Self` and freed
        // in Drop); `cfg` is copied by libvpx. On failure libvpx destroys what it allocated.
        let err = unsafe {
            vpx_sys::vpx_codec_enc_init_ver(&mut *ctx, iface, &cfg, 0, VPX_ENCODER_ABI_VERSION as c_int)
        };
        if err != vpx_codec_err_t::VPX_CODEC_OK {
            // No detail string: after a failed init it may point into memory libvpx already freed.
            return Err(init_error(err_string(err, None)));
        }

        let timebase = u64::from(config.timebase_hz);
        let mut encoder = Vp8Encoder {
            ctx,
            deadline: (if config.realtime {
                VPX_DL_REALTIME
            } else {
                VPX_DL_GOOD_QUALITY
            }) as c_ulong,
            frame_duration_ticks: (timebase / u64::from(config.fps)).max(1) as c_ulong,
            keyframe_interval_ticks: (u64::from(config.keyframe_interval_ms) * timebase / 1000) as i64,
            last_keyframe_pts: None,
            config,
        };
        let cpu_used = if encoder.config.realtime {
            CPU_USED_REALTIME
        } else {
            CPU_USED_GOOD
        };
        encoder
            .control(VP8E_SET_CPUUSED as c_int, cpu_used)
            .map_err(init_error)?;
        // Rendered faces have no sensor noise to remove; denoising would only cost time.
        encoder
            .control(VP8E_SET_NOISE_SENSITIVITY as c_int, 0)
            .map_err(init_error)?;
        debug!(params = %params, cpu_used, "VP8 encoder ready");
        Ok(encoder)
    }

    pub fn config(&self) -> &Vp8Config {
        &self.config
    }

    /// Encodes one I420 frame (see [`i420_len`]) shown at `pts` (in `timebase_hz` ticks) and appends
    /// its packet to `out`. A keyframe is made when `force_keyframe` is set, for the first frame, and
    /// whenever `keyframe_interval_ms` has passed since the last one.
    pub fn encode(
        &mut self,
        i420: &[u8],
        pts: i64,
        force_keyframe: bool,
        out: &mut Vec<Vp8Packet>,
    ) -> Result<(), EncodeError> {
        let (width, height) = (self.config.width, self.config.height);
        if i420.len() != i420_len(width, height) {
            return Err(EncodeError::BufferLength {
                buffer: "I420",
                width,
                height,
                expected_bytes: i420_len(width, height),
                got_bytes: i420.len(),
            });
        }
        let due = self
            .last_keyframe_pts
            .is_none_or(|last| pts.saturating_sub(last) >= self.keyframe_interval_ticks);
        let flags = if force_keyframe || due {
            VPX_EFLAG_FORCE_KF as _
        } else {
            0
        };

        let mut image: vpx_image_t = unsafe { MaybeUninit::zeroed().assume_init() };
        // SAFETY: `image` only borrows `i420`, whose length was checked above, for the duration of
        // `vpx_codec_encode`; libvpx reads but never writes through the wrapped planes.
        let wrapped = unsafe {
            vpx_sys::vpx_img_wrap(
                &mut image,
                vpx_img_fmt::VPX_IMG_FMT_I420,
                width,
                height,
                1,
                i420.as_ptr().cast_mut(),
            )
        };
        if wrapped.is_null() {
            return Err(self.encode_error("could not wrap the I420 buffer", None));
        }
        let err = unsafe {
            vpx_sys::vpx_codec_encode(
                &mut *self.ctx,
                &image,
                pts,
                self.frame_duration_ticks,
                flags,
                self.deadline,
            )
        };
        if err != vpx_codec_err_t::VPX_CODEC_OK {
            return Err(self.encode_error("encoding a frame", Some(err)));
        }
        self.drain(out);
        Ok(())
    }

    /// Tells libvpx the stream ended and appends any packets it still held.
    pub fn flush(&mut self, out: &mut Vec<Vp8Packet>) -> Result<(), EncodeError> {
        loop {
            // SAFETY: a null image is libvpx's documented end-of-stream signal.
            let err = unsafe {
                vpx_sys::vpx_codec_encode(&mut *self.ctx, std::ptr::null(), -1, 1, 0, self.deadline)
            };
            if err != vpx_codec_err_t::VPX_CODEC_OK {
                return Err(self.encode_error("flushing", Some(err)));
            }
            let before = out.len();
            self.drain(out);
            if out.len() == before {
                return Ok(());
            }
        }
    }

    fn drain(&mut self, out: &mut Vec<Vp8Packet>) {
        let mut iter: vpx_sys::vpx_codec_iter_t = std::ptr::null();
        loop {
            // SAFETY: the packet and its buffer stay valid until the next encode call; we copy the
            // bytes out before returning.
            let pkt = unsafe { vpx_sys::vpx_codec_get_cx_data(&mut *self.ctx, &mut iter) };
            let Some(pkt) = (unsafe { pkt.as_ref() }) else {
                return;
            };
            if pkt.kind != VPX_CODEC_CX_FRAME_PKT {
                continue;
            }
            let frame = unsafe { pkt.data.frame };
            let data = if frame.buf.is_null() || frame.sz == 0 {
                &[][..]
            } else {
                unsafe { std::slice::from_raw_parts(frame.buf.cast::<u8>(), frame.sz as usize) }
            };
            let keyframe = frame.flags & VPX_FRAME_IS_KEY != 0;
            if keyframe {
                self.last_keyframe_pts = Some(frame.pts);
            }
            out.push(Vp8Packet {
                pts: frame.pts,
                keyframe,
                data: data.to_vec(),
            });
        }
    }

    fn control(&mut self, id: c_int, value: c_int) -> Result<(), String> {
        // SAFETY: both controls used here take an `int` argument.
        let err = unsafe { vpx_sys::vpx_codec_control_(&mut *self.ctx, id, value) };
        if err == vpx_codec_err_t::VPX_CODEC_OK {
            Ok(())
        } else {
            Err(format!(
                "control {id} = {value}: {}",
                err_string(err, Some(&mut *self.ctx))
            ))
        }
    }

    fn encode_error(&mut self, what: &str, err: Option<vpx_codec_err_t>) -> EncodeError {
        let reason = match err {
            Some(err) => format!("{what}: {}", err_string(err, Some(&mut *self.ctx))),
            None => what.to_string(),
        };
        EncodeError::Encode {
            codec: "VP8 (libvpx)",
            reason,
        }
    }
}

impl Drop for Vp8Encoder {
    fn drop(&mut self) {
        // SAFETY: the context was initialised in `new` and is destroyed exactly once, here.
        let err = unsafe { vpx_sys::vpx_codec_destroy(&mut *self.ctx) };
        if err != vpx_codec_err_t::VPX_CODEC_OK {
            debug!(error = ?err, "libvpx failed to destroy a VP8 encoder");
        }
    }
}

fn validate(config: &Vp8Config) -> Result<(), EncodeError> {
    let (width, height) = (config.width, config.height);
    if !width.is_multiple_of(2) || !height.is_multiple_of(2) {
        return Err(EncodeError::OddDimensions { width, height });
    }
    let checks: [(&'static str, u32, bool, &'static str); 5] = [
        (
            "width",
            width,
            (2..=MAX_SIDE_PX).contains(&width),
            "an even number of pixels from 2 to 16383",
        ),
        (
            "height",
            height,
            (2..=MAX_SIDE_PX).contains(&height),
            "an even number of pixels from 2 to 16383",
        ),
        (
            "fps",
            config.fps,
            (1..=240).contains(&config.fps),
            "frames per second from 1 to 240",
        ),
        (
            "video_bitrate_kbps",
            config.bitrate_kbps,
            (1..=100_000).contains(&config.bitrate_kbps),
            "kbit/s from 1 to 100000 (300 to 1500 suits a 512x512 face)",
        ),
        (
            "timebase_hz",
            config.timebase_hz,
            (1..=1_000_000_000).contains(&config.timebase_hz) && config.timebase_hz >= config.fps,
            "ticks per second, at least the frame rate",
        ),
    ];
    for (setting, value, ok, expected) in checks {
        if !ok {
            return Err(EncodeError::OutOfRange {
                setting,
                value: value.to_string(),
                expected,
            });
        }
    }
    Ok(())
}

fn err_string(err: vpx_codec_err_t, ctx: Option<&mut vpx_codec_ctx_t>) -> String {
    // SAFETY: libvpx returns static or context-owned NUL-terminated strings (or null for detail).
    let text = unsafe { CStr::from_ptr(vpx_sys::vpx_codec_err_to_string(err)) }
        .to_string_lossy()
        .into_owned();
    let detail = ctx
        .map(|ctx| unsafe { vpx_sys::vpx_codec_error_detail(ctx) })
        .filter(|p| !p.is_null())
        .map(|p| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned());
    match detail {
        Some(detail) => format!("{text} ({detail})"),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(width: u32, height: u32) -> Vp8Config {
        Vp8Config {
            width,
            height,
            fps: 25,
            bitrate_kbps: 300,
            realtime: true,
            timebase_hz: 48_000,
            keyframe_interval_ms: 2000,
        }
    }

    #[test]
    fn keyframes_come_at_start_and_at_least_every_interval() {
        let mut encoder = Vp8Encoder::new(config(64, 48)).unwrap();
        let mut frame = vec![128u8; i420_len(64, 48)];
        let mut packets = Vec::new();
        for i in 0..120i64 {
            frame[(i as usize * 7) % (64 * 48)] = (i * 3) as u8;
            encoder.encode(&frame, i * 1920, false, &mut packets).unwrap();
        }
        encoder.flush(&mut packets).unwrap();
        assert_eq!(packets.len(), 120);
        assert!(packets[0].keyframe);
        let keys: Vec<i64> = packets.iter().filter(|p| p.keyframe).map(|p| p.pts).collect();
        for pair in keys.windows(2) {
            assert!(pair[1] - pair[0] <= 2 * 48_000, "keyframes at {keys:?}");
        }
        assert!(keys.last().unwrap() + 2 * 48_000 >= packets.last().unwrap().pts);
    }

    #[test]
    fn bad_settings_are_named() {
        assert!(matches!(
            Vp8Encoder::new(config(63, 48)),
            Err(EncodeError::OddDimensions { .. })
        ));
        let mut zero_fps = config(64, 48);
        zero_fps.fps = 0;
        let err = Vp8Encoder::new(zero_fps).err().unwrap();
        assert!(err.to_string().contains("fps"), "{err}");
    }
}
