//! The head in 3-D: features sit on an ellipsoid, so when the head turns they slide further than
//! its silhouette (parallax). Turning is baked into displacement targets (`headYaw±`,
//! `headPitch±`) for every vertex from its depth; roll is the renderer's (about the pivot).

use persona::motion::{Channel, MotionVector};

use crate::paint::{SCALE, to_canvas, to_face};

const MAX_YAW_RAD: f32 = 20.0 * std::f32::consts::PI / 180.0;
const MAX_PITCH_RAD: f32 = 15.0 * std::f32::consts::PI / 180.0;
/// Semi-axes of the ellipsoid the features sit on (face units).
pub const HEAD_RADIUS_X: f32 = 0.34;
const HEAD_RADIUS_Y: f32 = 0.52;
const HEAD_RADIUS_Z: f32 = 0.40;
/// The whole head slides a little as it turns about the neck behind its centre.
const OUTLINE_SHIFT_PER_YAW: f32 = 0.025;
const OUTLINE_SHIFT_PER_PITCH: f32 = 0.015;
/// The top of the neck: where the head rolls about (face units).
pub const NECK_PIVOT_Y: f32 = 0.42;
/// Image x of the avatar's right (it faces the viewer).
pub const IMAGE_X_PER_AVATAR_RIGHT: f32 = -1.0;

/// How deep a painted point is.
#[derive(Clone, Copy, Debug)]
pub enum Depth {
    /// On the silhouette (hair outline, face outline): slides with the head only.
    Outline,
    /// On the face's surface, `dz` in front of it.
    Surface(f32),
    /// At a fixed depth relative to the head's centre (ears).
    Fixed(f32),
    /// Hairline: on the surface in the middle of the forehead, easing onto the silhouette at the
    /// temples so the hair never parts from the outline.
    Hairline(f32),
}

fn surface_z(x: f32, y: f32) -> f32 {
    let nx = x / HEAD_RADIUS_X;
    let ny = y / HEAD_RADIUS_Y;
    HEAD_RADIUS_Z * (1.0 - nx * nx - ny * ny).max(0.0).sqrt()
}

/// Where face point (x, y) at `depth` goes for head `yaw` and `pitch` (channel values).
pub fn turned(depth: Depth, x: f32, y: f32, yaw: f32, pitch: f32) -> (f32, f32) {
    let yaw_rad = yaw * MAX_YAW_RAD * IMAGE_X_PER_AVATAR_RIGHT;
    let pitch_rad = pitch * MAX_PITCH_RAD;
    let shift = (
        yaw * IMAGE_X_PER_AVATAR_RIGHT * OUTLINE_SHIFT_PER_YAW,
        -pitch * OUTLINE_SHIFT_PER_PITCH,
    );
    let rotate = |z: f32| {
        let (ys, yc) = yaw_rad.sin_cos();
        let (ps, pc) = pitch_rad.sin_cos();
        let x1 = x * yc + z * ys;
        let z1 = -x * ys + z * yc;
        let y1 = y * pc - z1 * ps;
        (x1 + shift.0, y1 + shift.1)
    };
    match depth {
        Depth::Outline => (x + shift.0, y + shift.1),
        Depth::Surface(dz) => rotate(surface_z(x, y) + dz),
        Depth::Fixed(z) => rotate(z),
        Depth::Hairline(dz) => {
            let on_surface = (1.0 - (x / HEAD_RADIUS_X).powi(2)).clamp(0.0, 1.0);
            let a = (x + shift.0, y + shift.1);
            let b = rotate(surface_z(x, y) + dz);
            (a.0 + (b.0 - a.0) * on_surface, a.1 + (b.1 - a.1) * on_surface)
        }
    }
}

/// The head-turn targets: key and its displacement of a canvas point at `depth`.
pub fn turn_targets() -> [(&'static str, f32, f32); 4] {
    [
        ("headYaw+", 1.0, 0.0),
        ("headYaw-", -1.0, 0.0),
        ("headPitch+", 0.0, 1.0),
        ("headPitch-", 0.0, -1.0),
    ]
}

/// Displacement (canvas pixels) of canvas point `p` at `depth` for a head turn.
pub fn turn_offset(depth: Depth, p: [f32; 2], yaw: f32, pitch: f32) -> [f32; 2] {
    let (x, y) = to_face(p[0], p[1]);
    let (tx, ty) = turned(depth, x, y, yaw, pitch);
    [(tx - x) * SCALE, (ty - y) * SCALE]
}

/// The head pivot on the canvas.
pub fn pivot() -> [f32; 2] {
    let (x, y) = to_canvas(0.0, NECK_PIVOT_Y);
    [x, y]
}

/// A pose with the given channels set.
pub fn pose(channels: &[(Channel, f32)]) -> MotionVector {
    let mut v = MotionVector::NEUTRAL;
    for &(c, value) in channels {
        v.set(c, value);
    }
    v
}
