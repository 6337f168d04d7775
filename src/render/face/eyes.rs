//! Eyes and brows: almond openings whose upper lids close onto the lower lids, irises that
//! follow the gaze inside them, and tapered brows that rise at the inner ends.
//!
//! Designed once for the image-right eye in a local frame (x away from the nose) and mirrored.
//! [`EyeShape`] is also what the renderer measures its neutral eye regions from, so the regions
//! and the drawing cannot drift apart. Nothing here knows the frame size.

use tiny_skia::Shader;

use super::head::{Head, Pose};
use super::pen::{Canvas, Cubic, Pen, Space, linear, radial, rgb, rgba};

/// Eye centres (face units): the right one; the left is mirrored.
pub(super) const EYE_X: f32 = 0.13;
pub(super) const EYE_Y: f32 = -0.015;
/// Eyes sit slightly inside the surface, in their sockets.
const EYE_DZ: f32 = -0.01;
/// Corners of the eye opening in eye-local coordinates (x away from the nose).
const EYE_INNER: (f32, f32) = (-0.066, 0.004);
const EYE_OUTER: (f32, f32) = (0.070, -0.006);
/// How far the lid skin reaches above the open lid line.
const LID_FOLD: f32 = 0.013;
const IRIS_RADIUS: f32 = 0.032;
const PUPIL_RADIUS: f32 = 0.013;
/// Iris travel at full gaze (face units).
const GAZE_X: f32 = 0.030;
const GAZE_Y: f32 = 0.014;
/// Closure beyond which the opening is too thin to draw: the lid alone covers it.
const EYE_SHUT_DRAW_LIMIT: f32 = 0.97;

const BROW_Y: f32 = -0.105;
const BROW_RAISE_INNER: f32 = 0.040;
const BROW_RAISE_OUTER: f32 = 0.012;

/// The eye outline for the image-right eye; `shut` 0 open .. 1 closed.
pub(super) struct EyeShape {
    pub upper_rest: Cubic,
    pub upper: Cubic,
    pub lower: Cubic,
    pub shut: f32,
}

impl EyeShape {
    pub fn new(pose: &Pose, side: usize) -> EyeShape {
        let blink = pose.blink[side];
        // Lids follow the gaze a little and open with raised brows; a full blink stays full.
        // A smile squints a little.
        let drift = 0.25 * (-pose.look_y).max(0.0) - 0.10 * pose.look_y.max(0.0) - 0.08 * pose.brow_up
            + 0.12 * pose.smile;
        let shut = (blink + (1.0 - blink) * drift).clamp(-0.15, 1.0);
        let upper_rest = Cubic([EYE_INNER, (-0.036, -0.046), (0.036, -0.050), EYE_OUTER]);
        let lower = Cubic([EYE_INNER, (-0.028, 0.026), (0.034, 0.022), EYE_OUTER]);
        EyeShape {
            upper: upper_rest.lerp(&lower, shut),
            upper_rest,
            lower,
            shut,
        }
    }
}

/// Image side of eye `side` (0: image left, 1: image right) as an x sign.
pub(super) fn side_sign(side: usize) -> f32 {
    if side == 0 { -1.0 } else { 1.0 }
}

pub(super) fn draw_eye(canvas: &mut Canvas, head: &Head, pose: &Pose, side: usize) {
    let flip = side_sign(side);
    let eye = EyeShape::new(pose, side);
    let pen = || Pen::new(head, Space::Surface { dz: EYE_DZ }, flip * EYE_X, EYE_Y).flipped(flip);
    let centre = pen().at(0.0, 0.0);

    // Socket shading: a soft darker skin halo that gives the eye some depth.
    let mut socket = pen();
    socket.ellipse(0.0, -0.012, 0.105, 0.07);
    canvas.fill(
        socket.finish().as_ref(),
        radial(
            pen().at(0.0, -0.012),
            head.len_px(0.105),
            head.len_px(0.07),
            &[(0.0, rgba(170, 105, 90, 70)), (1.0, rgba(170, 105, 90, 0))],
        ),
    );

    if eye.shut < EYE_SHUT_DRAW_LIMIT {
        let mut opening = pen();
        opening.move_to(EYE_INNER.0, EYE_INNER.1);
        opening.curve(&eye.upper);
        opening.curve(&eye.lower.reversed());
        opening.close();
        let opening = opening.finish();
        canvas.fill(
            opening.as_ref(),
            radial(
                centre,
                head.len_px(0.075),
                head.len_px(0.05),
                &[
                    (0.0, rgb(250, 248, 246)),
                    (0.6, rgb(240, 236, 234)),
                    (1.0, rgb(226, 208, 204)),
                ],
            ),
        );
        if canvas.set_clip(opening.as_ref()) {
            let gaze_x = flip * EYE_X + pose.look_x_img * GAZE_X;
            let gaze_y = EYE_Y - 0.004 - pose.look_y * GAZE_Y;
            let iris_pen = || Pen::new(head, Space::Surface { dz: EYE_DZ + 0.006 }, gaze_x, gaze_y);
            let iris_centre = iris_pen().at(0.0, 0.0);
            let mut iris = iris_pen();
            iris.ellipse(0.0, 0.0, IRIS_RADIUS, IRIS_RADIUS);
            canvas.fill_clipped(
                iris.finish().as_ref(),
                radial(
                    iris_centre,
                    head.len_px(IRIS_RADIUS),
                    head.len_px(IRIS_RADIUS),
                    &[
                        (0.0, rgb(60, 75, 70)),
                        (0.35, rgb(98, 128, 120)),
                        (0.8, rgb(70, 98, 100)),
                        (1.0, rgb(38, 52, 58)),
                    ],
                ),
            );
            let mut pupil = iris_pen();
            pupil.ellipse(0.0, 0.0, PUPIL_RADIUS, PUPIL_RADIUS);
            canvas.fill_clipped(pupil.finish().as_ref(), Shader::SolidColor(rgb(14, 14, 18)));
            let mut glint = iris_pen();
            glint.ellipse(-0.010, -0.011, 0.0065, 0.0065);
            canvas.fill_clipped(
                glint.finish().as_ref(),
                Shader::SolidColor(rgba(255, 255, 255, 225)),
            );
            // The upper lid's shadow on the eyeball.
            let (_, top) = eye.upper.at(0.5);
            let mut shade = pen();
            shade.move_to(EYE_INNER.0, EYE_INNER.1);
            shade.curve(&eye.upper);
            shade.curve(&eye.lower.reversed());
            shade.close();
            canvas.fill_clipped(
                shade.finish().as_ref(),
                linear(
                    pen().at(0.0, top),
                    pen().at(0.0, top + 0.028),
                    &[(0.0, rgba(90, 60, 55, 120)), (1.0, rgba(90, 60, 55, 0))],
                ),
            );
        }
    }

    // Lid skin from the fold down to the current lid line: at a full blink it covers the
    // whole opening, so no eye white is left.
    let fold = eye.upper_rest.offset(0.0, -LID_FOLD);
    let mut lid = pen();
    lid.move_to(EYE_INNER.0, EYE_INNER.1);
    lid.curve(&fold);
    lid.curve(&eye.upper.reversed());
    lid.close();
    let (_, fold_top) = fold.at(0.5);
    let (_, lid_bottom) = eye.upper.at(0.5);
    canvas.fill(
        lid.finish().as_ref(),
        linear(
            pen().at(0.0, fold_top),
            pen().at(0.0, lid_bottom.max(fold_top + 0.01)),
            &[(0.0, rgb(226, 172, 146)), (1.0, rgb(214, 156, 132))],
        ),
    );
    // Crease above the lid.
    let mut crease = pen();
    crease.ribbon(&fold.offset(0.004, -0.006), [0.001, 0.005, 0.002]);
    canvas.fill(
        crease.finish().as_ref(),
        Shader::SolidColor(rgba(150, 92, 78, 120)),
    );
    // Lash line along the lid edge, heavier towards the outer corner.
    let mut lash = pen();
    lash.ribbon(&eye.upper, [0.004, 0.010, 0.012]);
    canvas.fill(lash.finish().as_ref(), Shader::SolidColor(rgb(40, 26, 24)));
    let mut flick = pen();
    flick.move_to(EYE_OUTER.0 - 0.012, EYE_OUTER.1 - 0.006);
    flick.quad_to(
        EYE_OUTER.0 + 0.006,
        EYE_OUTER.1 - 0.004,
        EYE_OUTER.0 + 0.014,
        EYE_OUTER.1 - 0.014,
    );
    flick.quad_to(
        EYE_OUTER.0 + 0.004,
        EYE_OUTER.1 + 0.002,
        EYE_OUTER.0 - 0.008,
        EYE_OUTER.1 + 0.003,
    );
    flick.close();
    canvas.fill(flick.finish().as_ref(), Shader::SolidColor(rgb(40, 26, 24)));
    // Lower lid rim.
    let mut rim = pen();
    rim.ribbon(&eye.lower.offset(0.0, 0.003), [0.002, 0.005, 0.003]);
    canvas.fill(rim.finish().as_ref(), Shader::SolidColor(rgba(150, 90, 80, 110)));
}

pub(super) fn draw_brow(canvas: &mut Canvas, head: &Head, pose: &Pose, side: usize) {
    let flip = side_sign(side);
    let inner = -BROW_RAISE_INNER * pose.brow_up;
    let outer = -BROW_RAISE_OUTER * pose.brow_up;
    let mid = 0.5 * (inner + outer);
    // Raised inner ends tilt the brow into the "worried" shape of ARKit's browInnerUp.
    let spine = Cubic([
        (-0.075, 0.012 + inner),
        (-0.03, -0.020 + inner),
        (0.040, -0.026 + mid),
        (0.095, 0.010 + outer),
    ]);
    let mut brow = Pen::new(head, Space::Surface { dz: 0.01 }, flip * EYE_X, BROW_Y).flipped(flip);
    brow.ribbon(&spine, [0.024, 0.022, 0.006]);
    canvas.fill(brow.finish().as_ref(), Shader::SolidColor(rgb(58, 38, 30)));
}
