//! The mouth: lips shaped by the jaw and mouth channels, and the interior (dark cavity, a hint of
//! upper teeth, tongue) that shows only while they are apart.
//!
//! Lips sealed by `MouthPress`/`MouthClose` near 1 leave no interior at all, whatever the jaw
//! does: the lips stretch to meet instead. [`MouthShape`] is also what the renderer measures its
//! neutral mouth region from. Nothing here knows the frame size.

use tiny_skia::Shader;

use super::head::{Head, Pose};
use super::nose::NOSE_Y;
use super::pen::{Canvas, Cubic, Pen, Space, linear, radial, rgb, rgba};

pub(super) const MOUTH_Y: f32 = 0.275;
const MOUTH_HALF_WIDTH: f32 = 0.105;
const UPPER_LIP_THICKNESS: f32 = 0.030;
const LOWER_LIP_THICKNESS: f32 = 0.034;
/// Lower-lip travel at full `JawOpen`.
const JAW_DROP: f32 = 0.085;
/// `MouthPress`/`MouthClose` from which the lips are fully sealed, so "near 1" reads as closed.
const SEALED_FROM: f32 = 0.9;
/// An opening thinner than this (pixels) is drawn as a closed lip line.
const MIN_OPENING_PX: f32 = 0.75;

/// The lips for one pose, in mouth-local coordinates (origin at the rest lip line's centre).
pub(super) struct MouthShape {
    pub half_width: f32,
    inner_half_width: f32,
    corner_y: f32,
    /// y of the upper lip's outer edge at the Cupid's-bow peaks (negative: above the line).
    pub upper_outer: f32,
    peak_x: f32,
    philtrum_dip: f32,
    /// Mid y of the upper lip's inner edge and of the lower lip's inner and outer edges.
    upper_inner: f32,
    lower_inner: f32,
    pub lower_outer: f32,
    /// 0 wide lens-shaped opening .. 1 round ("oo").
    roundness: f32,
}

impl MouthShape {
    pub fn new(pose: &Pose) -> MouthShape {
        let seal = pose.press.max(pose.close);
        let t = ((SEALED_FROM - seal) / SEALED_FROM).clamp(0.0, 1.0);
        let open_scale = t * t * (3.0 - 2.0 * t);
        let roundness = (pose.funnel + pose.pucker).min(1.0);
        let half_width = MOUTH_HALF_WIDTH
            * (1.0 + 0.22 * pose.stretch + 0.14 * pose.smile)
            * (1.0 - 0.30 * pose.pucker - 0.20 * pose.funnel).max(0.45)
            * (1.0 - 0.06 * pose.jaw_open);
        let jaw_drop = JAW_DROP * pose.jaw_open;
        // Pucker purses the lips shut; funnel pushes them out into an open ring.
        let open_upper = (0.006 * pose.jaw_open + 0.020 * pose.upper_up + 0.008 * pose.funnel) * open_scale;
        let open_lower = (jaw_drop + 0.024 * pose.lower_down + 0.014 * pose.funnel) * open_scale;
        // With sealed lips the jaw still opens behind them: the lips stretch to meet.
        let sealed_drop = jaw_drop * (1.0 - open_scale);
        let line_y = 0.45 * sealed_drop;
        let thin = (1.0 - 0.45 * pose.press)
            * (1.0 - 0.12 * pose.smile)
            * (1.0 - 0.15 * pose.stretch)
            * (1.0 + 0.35 * roundness);
        let upper_inner = line_y - open_upper;
        let lower_inner = line_y + open_lower;
        let corner_y = -0.004 - 0.04 * pose.smile
            + 0.006 * pose.stretch
            + upper_inner
            + 0.32 * (lower_inner - upper_inner);
        MouthShape {
            half_width,
            inner_half_width: half_width * (1.0 - 0.28 * roundness),
            corner_y,
            upper_outer: -UPPER_LIP_THICKNESS * thin - 0.6 * open_upper,
            peak_x: 0.26 * half_width,
            philtrum_dip: 0.006 * (1.0 - roundness),
            upper_inner,
            lower_inner,
            lower_outer: line_y + open_lower + LOWER_LIP_THICKNESS * thin + 0.55 * sealed_drop,
            roundness,
        }
    }

    fn opening_px(&self, head: &Head) -> f32 {
        head.len_px(self.lower_inner - self.upper_inner)
    }

    /// y of a cubic's control points so that its midpoint lands on `mid` from ends at `corner_y`.
    fn control_y(&self, mid: f32) -> f32 {
        (4.0 * mid - self.corner_y) / 3.0
    }

    fn upper_inner_edge(&self) -> Cubic {
        let (w, a) = (self.inner_half_width, 0.55 + 0.4 * self.roundness);
        let k = self.control_y(self.upper_inner);
        Cubic([(-w, self.corner_y), (-a * w, k), (a * w, k), (w, self.corner_y)])
    }

    fn lower_inner_edge(&self) -> Cubic {
        let (w, a) = (self.inner_half_width, 0.55 + 0.4 * self.roundness);
        let k = self.control_y(self.lower_inner);
        Cubic([(-w, self.corner_y), (-a * w, k), (a * w, k), (w, self.corner_y)])
    }

    fn upper_lip(&self, pen: &mut Pen) {
        let (w, cy, uo, px) = (self.half_width, self.corner_y, self.upper_outer, self.peak_x);
        let rise = |from: f32, f: f32| from + (uo - cy) * f;
        pen.move_to(-w, cy);
        pen.cubic_to(
            -w + 0.35 * (w - px),
            rise(cy, 0.3),
            -px - 0.2 * (w - px),
            uo,
            -px,
            uo,
        );
        pen.quad_to(-0.45 * px, uo, 0.0, uo + self.philtrum_dip);
        pen.quad_to(0.45 * px, uo, px, uo);
        pen.cubic_to(px + 0.2 * (w - px), uo, w - 0.35 * (w - px), rise(cy, 0.3), w, cy);
        pen.line_to(self.inner_half_width, cy);
        pen.curve(&self.upper_inner_edge().reversed());
        pen.close();
    }

    fn lower_lip(&self, pen: &mut Pen) {
        let (w, cy) = (self.half_width, self.corner_y);
        let b = 0.6 + 0.25 * self.roundness;
        let k = self.control_y(self.lower_outer);
        pen.move_to(-w, cy);
        pen.line_to(-self.inner_half_width, cy);
        pen.curve(&self.lower_inner_edge());
        pen.line_to(w, cy);
        pen.cubic_to(b * w, k, -b * w, k, -w, cy);
        pen.close();
    }
}

pub(super) fn draw_mouth(canvas: &mut Canvas, head: &Head, pose: &Pose) {
    let mouth = MouthShape::new(pose);
    let dz = 0.025 + 0.03 * mouth.roundness;
    let pen = || Pen::new(head, Space::Surface { dz }, 0.0, MOUTH_Y);
    let w = mouth.half_width;

    // Shadow under the lower lip, above the chin.
    let mut hollow = pen();
    hollow.ellipse(0.0, mouth.lower_outer + 0.022, 0.07, 0.022);
    canvas.fill(
        hollow.finish().as_ref(),
        radial(
            pen().at(0.0, mouth.lower_outer + 0.022),
            head.len_px(0.07),
            head.len_px(0.022),
            &[(0.0, rgba(175, 110, 90, 70)), (1.0, rgba(175, 110, 90, 0))],
        ),
    );
    // Smile lines from the nose wings down past the mouth corners.
    let folds = (pose.smile + 0.3 * pose.stretch).min(1.0);
    if folds > 0.02 {
        for flip in [-1.0f32, 1.0] {
            let mut fold = pen().flipped(flip);
            let top = NOSE_Y - MOUTH_Y + 0.005;
            fold.ribbon(
                &Cubic([
                    (0.068, top),
                    (w + 0.02, top + 0.03),
                    (w + 0.035, mouth.corner_y - 0.03),
                    (w + 0.025, mouth.corner_y + 0.01),
                ]),
                [0.002, 0.006, 0.001],
            );
            let alpha = (folds * 40.0) as u8;
            canvas.fill(
                fold.finish().as_ref(),
                Shader::SolidColor(rgba(180, 112, 92, alpha)),
            );
        }
    }

    if mouth.opening_px(head) > MIN_OPENING_PX {
        let mut opening = pen();
        opening.move_to(-mouth.inner_half_width, mouth.corner_y);
        opening.curve(&mouth.upper_inner_edge());
        opening.curve(&mouth.lower_inner_edge().reversed());
        opening.close();
        let opening = opening.finish();
        canvas.fill(
            opening.as_ref(),
            radial(
                pen().at(0.0, 0.5 * (mouth.upper_inner + mouth.lower_inner)),
                head.len_px(w),
                head.len_px(0.5 * (mouth.lower_inner - mouth.upper_inner).max(0.01)),
                &[(0.0, rgb(34, 10, 14)), (1.0, rgb(70, 24, 30))],
            ),
        );
        if canvas.set_clip(opening.as_ref()) {
            // Upper teeth hang from the skull: they stay put while the lower lip drops.
            let mut teeth = pen();
            let tw = 0.074;
            teeth.move_to(-tw, -0.03);
            teeth.line_to(tw, -0.03);
            teeth.line_to(tw, 0.0);
            teeth.cubic_to(0.5 * tw, 0.016, -0.5 * tw, 0.016, -tw, 0.0);
            teeth.close();
            canvas.fill_clipped(
                teeth.finish().as_ref(),
                linear(
                    pen().at(-tw, 0.0),
                    pen().at(tw, 0.0),
                    &[
                        (0.0, rgb(170, 150, 140)),
                        (0.5, rgb(240, 236, 226)),
                        (1.0, rgb(170, 150, 140)),
                    ],
                ),
            );
            for x in [-0.024f32, 0.0, 0.024] {
                let mut gap = pen();
                gap.ribbon(
                    &Cubic([(x, -0.01), (x, 0.0), (x, 0.006), (x * 1.04, 0.011)]),
                    [0.002, 0.002, 0.001],
                );
                canvas.fill_clipped(gap.finish().as_ref(), Shader::SolidColor(rgba(150, 130, 120, 90)));
            }
            let mut tongue = pen();
            let tongue_y = mouth.lower_inner + 0.014;
            tongue.ellipse(0.0, tongue_y, 0.62 * mouth.inner_half_width, 0.034);
            canvas.fill_clipped(
                tongue.finish().as_ref(),
                radial(
                    pen().at(0.0, tongue_y - 0.01),
                    head.len_px(0.62 * mouth.inner_half_width),
                    head.len_px(0.034),
                    &[(0.0, rgb(196, 96, 104)), (1.0, rgb(140, 58, 66))],
                ),
            );
        }
    }

    let mut upper = pen();
    mouth.upper_lip(&mut upper);
    canvas.fill(
        upper.finish().as_ref(),
        linear(
            pen().at(0.0, mouth.upper_outer),
            pen().at(0.0, mouth.upper_inner),
            &[(0.0, rgb(176, 92, 92)), (1.0, rgb(160, 80, 82))],
        ),
    );
    let mut lower = pen();
    mouth.lower_lip(&mut lower);
    canvas.fill(
        lower.finish().as_ref(),
        linear(
            pen().at(0.0, mouth.lower_inner),
            pen().at(0.0, mouth.lower_outer),
            &[
                (0.0, rgb(178, 92, 94)),
                (0.4, rgb(208, 122, 120)),
                (1.0, rgb(180, 98, 96)),
            ],
        ),
    );
    // The line where the lips meet (or the shadow under the upper lip when open); kept well
    // above the "dark interior" luminance so a closed mouth never reads as open.
    let mut line = pen();
    let edge = mouth.upper_inner_edge();
    line.ribbon(&edge, [0.003, 0.006, 0.003]);
    canvas.fill(line.finish().as_ref(), Shader::SolidColor(rgb(134, 62, 64)));
}
