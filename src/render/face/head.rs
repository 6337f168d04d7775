//! The pose and the head it puts in the frame: where the face sits for a frame size, and how a
//! face-space point moves with yaw, pitch and roll.
//!
//! Face space is the plane the face is designed in: units of face size (hair top to chin is
//! about 1.07), origin at the head's centre, x to the image right, y down. Features sit on an
//! ellipsoid, so they slide further than the silhouette when the head turns (parallax); roll
//! turns everything about the top of the neck. This module knows nothing about paths or pixels'
//! colours.

use tiny_skia::{Point, Transform};

use crate::motion::{Channel, MotionVector};

/// Image x direction of the avatar's own right: channel names (`EyeBlinkLeft`, `HeadYaw` right)
/// are the avatar's, as in ARKit, and the avatar faces the viewer, so its right is image left.
pub(super) const IMAGE_X_PER_AVATAR_RIGHT: f32 = -1.0;

const MAX_YAW_RAD: f32 = 20.0 * std::f32::consts::PI / 180.0;
const MAX_PITCH_RAD: f32 = 15.0 * std::f32::consts::PI / 180.0;
const MAX_ROLL_RAD: f32 = 10.0 * std::f32::consts::PI / 180.0;

/// Semi-axes of the ellipsoid the features sit on (face units): its depth is what makes the
/// features slide further than the outline when the head turns.
pub(super) const HEAD_RADIUS_X: f32 = 0.34;
const HEAD_RADIUS_Y: f32 = 0.52;
const HEAD_RADIUS_Z: f32 = 0.40;

/// Point the head rolls about: the top of the neck, so the chin stays on the shoulders.
const NECK_PIVOT_Y: f32 = 0.42;

/// How far the whole head (outline included) slides at full yaw/pitch: it turns about the neck,
/// which sits behind its centre.
const OUTLINE_SHIFT_PER_YAW: f32 = 0.025;
const OUTLINE_SHIFT_PER_PITCH: f32 = 0.015;

/// Hair top (face units) and chin at rest: the span that fills [`FACE_HEIGHT_SHARE`] of the frame.
const HEAD_TOP_Y: f32 = -0.60;
pub(super) const CHIN_Y: f32 = 0.47;
const FACE_HEIGHT_SHARE: f32 = 0.70;
/// Widest part (ears, hair) is about 0.9 face units; narrow frames shrink the face to fit it.
const FACE_WIDTH_SPAN: f32 = 0.95;
/// Where the head's middle sits, as a share of the frame height (a little above centre, so the
/// shoulders show).
const HEAD_MIDDLE_SHARE: f32 = 0.46;

/// A pose with every channel finite and in range: what the drawing code reads.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Pose {
    pub jaw_open: f32,
    pub funnel: f32,
    pub pucker: f32,
    pub stretch: f32,
    pub press: f32,
    pub close: f32,
    pub upper_up: f32,
    pub lower_down: f32,
    pub smile: f32,
    /// Indexed by image side: `[image-left eye, image-right eye]`.
    pub blink: [f32; 2],
    pub brow_up: f32,
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
    /// Gaze in image terms: +x image right, +y up.
    pub look_x_img: f32,
    pub look_y: f32,
}

impl Pose {
    /// Non-finite channels read as neutral (0) and out-of-range ones are clamped, so a broken
    /// motion backend gives a plausible face rather than garbage or a panic.
    pub fn from_vector(vector: &MotionVector) -> Pose {
        let get = |channel: Channel| {
            let (lo, hi) = channel.range();
            let value = vector.get(channel);
            if value.is_finite() {
                value.clamp(lo, hi)
            } else {
                0.0
            }
        };
        Pose {
            jaw_open: get(Channel::JawOpen),
            funnel: get(Channel::MouthFunnel),
            pucker: get(Channel::MouthPucker),
            stretch: get(Channel::MouthStretch),
            press: get(Channel::MouthPress),
            close: get(Channel::MouthClose),
            upper_up: get(Channel::MouthUpperUp),
            lower_down: get(Channel::MouthLowerDown),
            smile: get(Channel::MouthSmile),
            // The avatar's right eye is the one on the image left.
            blink: [get(Channel::EyeBlinkRight), get(Channel::EyeBlinkLeft)],
            brow_up: get(Channel::BrowInnerUp),
            yaw: get(Channel::HeadYaw),
            pitch: get(Channel::HeadPitch),
            roll: get(Channel::HeadRoll),
            look_x_img: get(Channel::EyeLookX) * IMAGE_X_PER_AVATAR_RIGHT,
            look_y: get(Channel::EyeLookY),
        }
    }
}

/// Where the face sits in a frame of a given size.
#[derive(Clone, Copy, Debug)]
pub(super) struct Layout {
    pub scale_px: f32,
    pub centre_x_px: f32,
    pub centre_y_px: f32,
}

impl Layout {
    pub fn new(width: u32, height: u32) -> Layout {
        let (width, height) = (width as f32, height as f32);
        let scale_px = (FACE_HEIGHT_SHARE * height / (CHIN_Y - HEAD_TOP_Y)).min(width / FACE_WIDTH_SPAN);
        let head_middle_y = 0.5 * (HEAD_TOP_Y + CHIN_Y);
        Layout {
            scale_px,
            centre_x_px: 0.5 * width,
            centre_y_px: HEAD_MIDDLE_SHARE * height - head_middle_y * scale_px,
        }
    }
}

/// The head for one pose: maps face-space points to pixels.
#[derive(Clone, Copy, Debug)]
pub(super) struct Head {
    /// Face plane → pixels, including the roll about the neck.
    to_px: Transform,
    pub scale_px: f32,
    yaw_sin: f32,
    yaw_cos: f32,
    pitch_sin: f32,
    pitch_cos: f32,
    shift_x: f32,
    shift_y: f32,
}

impl Head {
    pub fn new(layout: &Layout, pose: &Pose) -> Head {
        let yaw_img_rad = pose.yaw * MAX_YAW_RAD * IMAGE_X_PER_AVATAR_RIGHT;
        let pitch_rad = pose.pitch * MAX_PITCH_RAD;
        // Positive roll tilts the crown towards the avatar's right shoulder; a positive angle
        // in `to_px` moves the crown towards image +x.
        let roll_img_rad = pose.roll * MAX_ROLL_RAD * IMAGE_X_PER_AVATAR_RIGHT;
        let (sin, cos) = roll_img_rad.sin_cos();
        let s = layout.scale_px;
        // p_px = centre + s * (R (p - pivot) + pivot), pivot = (0, NECK_PIVOT_Y).
        let to_px = Transform::from_row(
            s * cos,
            s * sin,
            -s * sin,
            s * cos,
            layout.centre_x_px + s * sin * NECK_PIVOT_Y,
            layout.centre_y_px + s * (NECK_PIVOT_Y - cos * NECK_PIVOT_Y),
        );
        Head {
            to_px,
            scale_px: s,
            yaw_sin: yaw_img_rad.sin(),
            yaw_cos: yaw_img_rad.cos(),
            pitch_sin: pitch_rad.sin(),
            pitch_cos: pitch_rad.cos(),
            shift_x: pose.yaw * IMAGE_X_PER_AVATAR_RIGHT * OUTLINE_SHIFT_PER_YAW,
            shift_y: -pose.pitch * OUTLINE_SHIFT_PER_PITCH,
        }
    }

    pub fn neutral(layout: &Layout) -> Head {
        Head::new(layout, &Pose::default())
    }

    fn px(&self, x: f32, y: f32) -> Point {
        let mut p = Point::from_xy(x, y);
        self.to_px.map_point(&mut p);
        p
    }

    /// A point of the head's silhouette (hair, outline): it only slides with the head.
    pub fn outline(&self, x: f32, y: f32) -> Point {
        self.px(x + self.shift_x, y + self.shift_y)
    }

    /// A point at depth `z` (towards the viewer) rotated with the head, in the face plane.
    fn rotate(&self, x: f32, y: f32, z: f32) -> (f32, f32) {
        let x1 = x * self.yaw_cos + z * self.yaw_sin;
        let z1 = -x * self.yaw_sin + z * self.yaw_cos;
        let y1 = y * self.pitch_cos - z1 * self.pitch_sin;
        (x1 + self.shift_x, y1 + self.shift_y)
    }

    /// A point on the face's surface, `dz` in front of it (nose tip, lips), in pixels.
    pub fn surface(&self, x: f32, y: f32, dz: f32) -> Point {
        let nx = x / HEAD_RADIUS_X;
        let ny = y / HEAD_RADIUS_Y;
        let z = HEAD_RADIUS_Z * (1.0 - nx * nx - ny * ny).max(0.0).sqrt() + dz;
        let (fx, fy) = self.rotate(x, y, z);
        self.px(fx, fy)
    }

    /// A point at an explicit depth (ears, which sit behind the silhouette), in pixels.
    pub fn at_depth(&self, x: f32, y: f32, z: f32) -> Point {
        let (fx, fy) = self.rotate(x, y, z);
        self.px(fx, fy)
    }

    /// A length in face units, in pixels.
    pub fn len_px(&self, units: f32) -> f32 {
        units * self.scale_px
    }
}
