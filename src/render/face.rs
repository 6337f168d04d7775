//! The walking-skeleton face renderer: a parametric 2-D face drawn on the CPU with tiny-skia.
//!
//! [`FaceRenderer`] turns one [`MotionVector`] into one opaque RGBA frame: a head with hair,
//! ears, neck and shoulders on a soft background; eyes that look and blink; brows; a mouth whose
//! lips open, stretch, round and press from the mouth channels; head yaw/pitch with parallax and
//! roll about the neck. Everything scales with the frame size.
//!
//! It does not animate on its own (no idle blinks or breathing: the motion stage owns every
//! movement), does not know about time or the frame's `sample`, and is not the final look: a
//! layered mesh rig replaces it. The parts that never move (background, neck, shoulders) are
//! drawn once at construction and copied into each frame.

mod backdrop;
mod eyes;
mod hair;
mod head;
mod mouth;
mod nose;
mod pen;

use tiny_skia::{Mask, Pixmap, PixmapMut, Shader};

use self::eyes::{EYE_X, EYE_Y, EyeShape, side_sign};
use self::head::{CHIN_Y, Head, Layout, Pose};
use self::mouth::{MOUTH_Y, MouthShape};
use self::pen::{Canvas, Cubic, Pen, Space, linear, radial, radial_plateau, rgb, rgba};
use super::{MAX_FRAME_SIDE_PX, RenderError, VideoFrame};
use crate::motion::MotionVector;

/// How far the chin follows the jaw at full `JawOpen` (face units).
const CHIN_DROP: f32 = 0.06;
/// How far the chin rises at full `HeadPitch` up: the features climb the face's surface, and
/// the jaw line has to follow or the lower face grows long.
const CHIN_PITCH_LIFT: f32 = 0.06;
/// Ears sit a little behind the head's centre, so they slide the other way to the features.
const EAR_X: f32 = 0.335;
const EAR_Y: f32 = 0.03;
const EAR_DEPTH: f32 = -0.10;

/// Draws the face for one pose into a [`VideoFrame`]. Holds the reusable canvas state.
pub struct FaceRenderer {
    width: u32,
    height: u32,
    layout: Layout,
    /// Background, neck and shoulders: no channel moves them, so they are drawn once.
    backdrop: Pixmap,
    /// Clip for what must stay inside another shape (iris in the eye, teeth in the mouth).
    clip: Mask,
    mouth_region: (u32, u32, u32, u32),
    eye_regions: [(u32, u32, u32, u32); 2],
}

impl FaceRenderer {
    /// A renderer for `width`×`height` frames; both must be 1..=[`MAX_FRAME_SIDE_PX`].
    pub fn new(width: u32, height: u32) -> Result<Self, RenderError> {
        let bad_size = || RenderError::FrameSize {
            width,
            height,
            max: MAX_FRAME_SIDE_PX,
        };
        if !(1..=MAX_FRAME_SIDE_PX).contains(&width) || !(1..=MAX_FRAME_SIDE_PX).contains(&height) {
            return Err(bad_size());
        }
        let mut backdrop = Pixmap::new(width, height).ok_or_else(bad_size)?;
        let mut clip = Mask::new(width, height).ok_or_else(bad_size)?;
        let layout = Layout::new(width, height);
        backdrop::draw_backdrop(
            &mut Canvas::new(backdrop.as_mut(), &mut clip),
            &layout,
            width,
            height,
        );
        let head = Head::neutral(&layout);
        let frame = (width, height);
        Ok(FaceRenderer {
            width,
            height,
            layout,
            backdrop,
            clip,
            mouth_region: neutral_mouth_region(&head, frame),
            eye_regions: [0, 1].map(|side| neutral_eye_region(&head, side, frame)),
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Pixel rectangle (x, y, w, h) that contains the mouth at the neutral pose, for tests and
    /// tools.
    pub fn mouth_region(&self) -> (u32, u32, u32, u32) {
        self.mouth_region
    }

    /// Pixel rectangles (x, y, w, h) of the eye openings at the neutral pose, image-left eye
    /// first (that is the avatar's right eye, driven by `EyeBlinkRight`).
    pub fn eye_regions(&self) -> [(u32, u32, u32, u32); 2] {
        self.eye_regions
    }

    /// Draws `pose` into `out.rgba` (opaque RGBA8), resizing `out` if its size differs.
    /// Leaves `out.sample` alone. Non-finite channels read as neutral, others are clamped.
    pub fn render(&mut self, pose: &MotionVector, out: &mut VideoFrame) {
        let len = self.backdrop.data().len();
        if out.width != self.width || out.height != self.height || out.rgba.len() != len {
            out.width = self.width;
            out.height = self.height;
            out.rgba.resize(len, 0);
        }
        // The backdrop is opaque and every later draw is source-over, so the frame stays
        // opaque and tiny-skia's premultiplied bytes equal plain RGBA.
        out.rgba.copy_from_slice(self.backdrop.data());
        let pixmap = PixmapMut::from_bytes(&mut out.rgba, self.width, self.height)
            .expect("rgba was sized to width * height * 4 above");
        let mut canvas = Canvas::new(pixmap, &mut self.clip);
        let pose = Pose::from_vector(pose);
        let head = Head::new(&self.layout, &pose);
        draw_head(&mut canvas, &head, &pose);
    }
}

fn draw_head(canvas: &mut Canvas, head: &Head, pose: &Pose) {
    hair::draw_back_hair(canvas, head);
    draw_ears(canvas, head);

    let lift = CHIN_PITCH_LIFT * pose.pitch;
    let chin = CHIN_Y + CHIN_DROP * pose.jaw_open - lift;
    let (jaw_y, jaw_curve_y) = (0.23 - 0.5 * lift, 0.36 + 0.5 * (chin - CHIN_Y));
    let mut face = Pen::outline(head);
    face.move_to(0.0, -0.50);
    face.cubic_to(0.20, -0.50, 0.33, -0.37, 0.335, -0.12);
    face.cubic_to(0.34, 0.03, 0.322, 0.14, 0.285, jaw_y);
    face.cubic_to(0.235, jaw_curve_y, 0.11, chin, 0.0, chin);
    face.cubic_to(-0.11, chin, -0.235, jaw_curve_y, -0.285, jaw_y);
    face.cubic_to(-0.322, 0.14, -0.34, 0.03, -0.335, -0.12);
    face.cubic_to(-0.33, -0.37, -0.20, -0.50, 0.0, -0.50);
    face.close();
    let face = face.finish();
    // Lit from the upper left; the gradient rides with the features so the shading turns too.
    let light = Pen::new(head, Space::Surface { dz: 0.0 }, 0.0, 0.0).at(-0.08, -0.1);
    canvas.fill(
        face.as_ref(),
        radial_plateau(
            light,
            head.len_px(0.60),
            head.len_px(0.68),
            0.3,
            rgb(249, 214, 188),
            rgb(204, 150, 122),
        ),
    );

    for flip in [-1.0f32, 1.0] {
        // Smiling lifts the cheeks.
        let pen = || {
            Pen::new(
                head,
                Space::Surface { dz: 0.0 },
                flip * 0.19,
                0.12 - 0.02 * pose.smile,
            )
        };
        let mut cheek = pen();
        cheek.ellipse(0.0, 0.0, 0.09, 0.07);
        canvas.fill(
            cheek.finish().as_ref(),
            radial(
                pen().at(0.0, 0.0),
                head.len_px(0.09),
                head.len_px(0.07),
                &[(0.0, rgba(236, 128, 120, 60)), (1.0, rgba(236, 128, 120, 0))],
            ),
        );
    }

    nose::draw_nose(canvas, head);
    mouth::draw_mouth(canvas, head, pose);
    for side in [0, 1] {
        eyes::draw_eye(canvas, head, pose, side);
        eyes::draw_brow(canvas, head, pose, side);
    }
    hair::draw_fringe(canvas, head, face.as_ref());
}

fn draw_ears(canvas: &mut Canvas, head: &Head) {
    for flip in [-1.0f32, 1.0] {
        let pen = || Pen::new(head, Space::Depth { z: EAR_DEPTH }, flip * EAR_X, EAR_Y).flipped(flip);
        let mut ear = pen();
        ear.move_to(-0.02, -0.075);
        ear.cubic_to(0.03, -0.10, 0.065, -0.06, 0.055, 0.0);
        ear.cubic_to(0.05, 0.05, 0.03, 0.085, 0.0, 0.09);
        ear.line_to(-0.03, 0.0);
        ear.close();
        canvas.fill(
            ear.finish().as_ref(),
            linear(
                pen().at(-0.02, 0.0),
                pen().at(0.06, 0.0),
                &[(0.0, rgb(205, 148, 120)), (1.0, rgb(232, 180, 150))],
            ),
        );
        let mut fold = pen();
        fold.ribbon(
            &Cubic([(0.005, -0.055), (0.045, -0.06), (0.045, 0.02), (0.01, 0.05)]),
            [0.003, 0.008, 0.003],
        );
        canvas.fill(
            fold.finish().as_ref(),
            Shader::SolidColor(rgba(170, 108, 88, 150)),
        );
    }
}

/// Pixel rectangle covering face-space `x` ∈ [x0, x1], `y` ∈ [y0, y1] at the neutral pose
/// (where the head's mapping is a plain scale and offset), clamped to the frame.
fn region_px(
    head: &Head,
    (x0, y0, x1, y1): (f32, f32, f32, f32),
    (w, h): (u32, u32),
) -> (u32, u32, u32, u32) {
    let a = head.outline(x0, y0);
    let b = head.outline(x1, y1);
    let clamp = |v: f32, max: u32| (v.max(0.0) as u32).min(max);
    let (left, top) = (clamp(a.x.min(b.x).floor(), w), clamp(a.y.min(b.y).floor(), h));
    let (right, bottom) = (clamp(a.x.max(b.x).ceil(), w), clamp(a.y.max(b.y).ceil(), h));
    (left, top, right - left, bottom - top)
}

fn neutral_mouth_region(head: &Head, frame: (u32, u32)) -> (u32, u32, u32, u32) {
    let mouth = MouthShape::new(&Pose::default());
    let w = mouth.half_width;
    region_px(
        head,
        (-w, MOUTH_Y + mouth.upper_outer, w, MOUTH_Y + mouth.lower_outer),
        frame,
    )
}

fn neutral_eye_region(head: &Head, side: usize, frame: (u32, u32)) -> (u32, u32, u32, u32) {
    let eye = EyeShape::new(&Pose::default(), side);
    let flip = side_sign(side);
    let (top, _) = eye.upper.y_extent();
    let (_, bottom) = eye.lower.y_extent();
    let (inner, outer) = (eye.upper.0[0].0, eye.upper.0[3].0);
    let (xa, xb) = (flip * EYE_X + flip * inner, flip * EYE_X + flip * outer);
    region_px(head, (xa.min(xb), EYE_Y + top, xa.max(xb), EYE_Y + bottom), frame)
}

#[cfg(test)]
mod tests;
