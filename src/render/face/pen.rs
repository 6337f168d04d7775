//! Drawing toolkit: pens that turn face-space outlines into tiny-skia paths through a [`Head`],
//! gradient and colour helpers, and the canvas (frame plus reusable clip mask) they fill.
//!
//! Knows nothing about eyes or lips. Allocates only what tiny-skia asks for (paths, gradient
//! stops); gradients prefer two stops, tiny-skia's fast path.

use tiny_skia::{
    Color, FillRule, GradientStop, LinearGradient, Mask, Paint, Path, PathBuilder, PixmapMut, Point,
    RadialGradient, Shader, SpreadMode, Stroke, Transform,
};

use super::head::{HEAD_RADIUS_X, Head};

/// How a [`Pen`] places its points.
#[derive(Clone, Copy, Debug)]
pub(super) enum Space {
    /// On the silhouette: slides with the head only.
    Outline,
    /// On the face's surface, `dz` in front of it: slides with parallax.
    Surface { dz: f32 },
    /// At a fixed depth relative to the head centre.
    Depth { z: f32 },
    /// The hairline: on the surface in the middle of the forehead, easing onto the silhouette
    /// at the temples so the hair never parts from the head's outline when it turns.
    Hairline { dz: f32 },
}

/// Builds a path in a local frame (origin, optional mirroring) of face space.
pub(super) struct Pen<'h> {
    head: &'h Head,
    origin_x: f32,
    origin_y: f32,
    /// -1 mirrors local x: features are designed once for the image-right side.
    flip_x: f32,
    space: Space,
    builder: PathBuilder,
}

impl<'h> Pen<'h> {
    pub fn new(head: &'h Head, space: Space, origin_x: f32, origin_y: f32) -> Pen<'h> {
        Pen {
            head,
            origin_x,
            origin_y,
            flip_x: 1.0,
            space,
            builder: PathBuilder::new(),
        }
    }

    pub fn outline(head: &'h Head) -> Pen<'h> {
        Pen::new(head, Space::Outline, 0.0, 0.0)
    }

    pub fn flipped(mut self, flip_x: f32) -> Pen<'h> {
        self.flip_x = flip_x;
        self
    }

    /// Switches space mid-path (the hair's silhouette and its hairline on the forehead).
    pub fn set_space(&mut self, space: Space) {
        self.space = space;
    }

    /// A local point in pixels.
    pub fn at(&self, x: f32, y: f32) -> Point {
        let fx = self.origin_x + x * self.flip_x;
        let fy = self.origin_y + y;
        match self.space {
            Space::Outline => self.head.outline(fx, fy),
            Space::Surface { dz } => self.head.surface(fx, fy, dz),
            Space::Depth { z } => self.head.at_depth(fx, fy, z),
            Space::Hairline { dz } => {
                let on_surface = (1.0 - (fx / HEAD_RADIUS_X).powi(2)).clamp(0.0, 1.0);
                let (a, b) = (self.head.outline(fx, fy), self.head.surface(fx, fy, dz));
                Point::from_xy(a.x + (b.x - a.x) * on_surface, a.y + (b.y - a.y) * on_surface)
            }
        }
    }

    pub fn move_to(&mut self, x: f32, y: f32) {
        let p = self.at(x, y);
        self.builder.move_to(p.x, p.y);
    }

    pub fn line_to(&mut self, x: f32, y: f32) {
        let p = self.at(x, y);
        self.builder.line_to(p.x, p.y);
    }

    pub fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        let (c, p) = (self.at(x1, y1), self.at(x, y));
        self.builder.quad_to(c.x, c.y, p.x, p.y);
    }

    pub fn cubic_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let (c1, c2, p) = (self.at(x1, y1), self.at(x2, y2), self.at(x, y));
        self.builder.cubic_to(c1.x, c1.y, c2.x, c2.y, p.x, p.y);
    }

    /// Follows a cubic given as `[start, c1, c2, end]`, assuming the pen is at `start`.
    pub fn curve(&mut self, c: &Cubic) {
        self.cubic_to(c.0[1].0, c.0[1].1, c.0[2].0, c.0[2].1, c.0[3].0, c.0[3].1);
    }

    pub fn close(&mut self) {
        self.builder.close();
    }

    pub fn ellipse(&mut self, cx: f32, cy: f32, rx: f32, ry: f32) {
        // Control-point distance of a quarter circle drawn as one cubic.
        const KAPPA: f32 = 0.552_284_8;
        let (kx, ky) = (rx * KAPPA, ry * KAPPA);
        self.move_to(cx + rx, cy);
        self.cubic_to(cx + rx, cy + ky, cx + kx, cy + ry, cx, cy + ry);
        self.cubic_to(cx - kx, cy + ry, cx - rx, cy + ky, cx - rx, cy);
        self.cubic_to(cx - rx, cy - ky, cx - kx, cy - ry, cx, cy - ry);
        self.cubic_to(cx + kx, cy - ry, cx + rx, cy - ky, cx + rx, cy);
        self.close();
    }

    /// A closed band along `spine` whose width goes `widths[0]` → `widths[1]` (middle) →
    /// `widths[2]`: tapered strokes (brows, lashes) that a constant-width stroke can't draw.
    pub fn ribbon(&mut self, spine: &Cubic, widths: [f32; 3]) {
        const STEPS: usize = 16;
        let mut far_side = [(0.0f32, 0.0f32); STEPS + 1];
        for (i, far) in far_side.iter_mut().enumerate() {
            let t = i as f32 / STEPS as f32;
            let (x, y) = spine.at(t);
            let (dx, dy) = spine.tangent(t);
            let len = (dx * dx + dy * dy).sqrt();
            let (nx, ny) = if len > 1e-9 {
                (-dy / len, dx / len)
            } else {
                (0.0, 0.0)
            };
            let u = 1.0 - t;
            let half = 0.5 * (widths[0] * u * u + 2.0 * widths[1] * u * t + widths[2] * t * t);
            if i == 0 {
                self.move_to(x + nx * half, y + ny * half);
            } else {
                self.line_to(x + nx * half, y + ny * half);
            }
            *far = (x - nx * half, y - ny * half);
        }
        for &(x, y) in far_side.iter().rev() {
            self.line_to(x, y);
        }
        self.close();
    }

    pub fn finish(self) -> Option<Path> {
        self.builder.finish()
    }
}

/// A cubic Bézier in some local face-space frame: `[start, c1, c2, end]`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Cubic(pub [(f32, f32); 4]);

impl Cubic {
    pub fn at(&self, t: f32) -> (f32, f32) {
        let u = 1.0 - t;
        let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
        let p = &self.0;
        (
            a * p[0].0 + b * p[1].0 + c * p[2].0 + d * p[3].0,
            a * p[0].1 + b * p[1].1 + c * p[2].1 + d * p[3].1,
        )
    }

    pub fn tangent(&self, t: f32) -> (f32, f32) {
        let u = 1.0 - t;
        let p = &self.0;
        let (a, b, c) = (3.0 * u * u, 6.0 * u * t, 3.0 * t * t);
        (
            a * (p[1].0 - p[0].0) + b * (p[2].0 - p[1].0) + c * (p[3].0 - p[2].0),
            a * (p[1].1 - p[0].1) + b * (p[2].1 - p[1].1) + c * (p[3].1 - p[2].1),
        )
    }

    /// The same curve run backwards.
    pub fn reversed(&self) -> Cubic {
        let p = self.0;
        Cubic([p[3], p[2], p[1], p[0]])
    }

    /// Shifted by (dx, dy).
    pub fn offset(&self, dx: f32, dy: f32) -> Cubic {
        Cubic(self.0.map(|(x, y)| (x + dx, y + dy)))
    }

    /// Pointwise blend towards `other` (an eyelid closing onto the lower lid).
    pub fn lerp(&self, other: &Cubic, t: f32) -> Cubic {
        let mut out = self.0;
        for (o, b) in out.iter_mut().zip(other.0.iter()) {
            o.0 += (b.0 - o.0) * t;
            o.1 += (b.1 - o.1) * t;
        }
        Cubic(out)
    }

    /// Smallest and largest y along the curve (sampled; for test regions, not for drawing).
    pub fn y_extent(&self) -> (f32, f32) {
        (0..=64).fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), i| {
            let (_, y) = self.at(i as f32 / 64.0);
            (lo.min(y), hi.max(y))
        })
    }
}

pub(super) fn rgb(r: u8, g: u8, b: u8) -> Color {
    Color::from_rgba8(r, g, b, 255)
}

pub(super) fn rgba(r: u8, g: u8, b: u8, a: u8) -> Color {
    Color::from_rgba8(r, g, b, a)
}

fn stops(colors: &[(f32, Color)]) -> Vec<GradientStop> {
    colors.iter().map(|&(t, c)| GradientStop::new(t, c)).collect()
}

fn fallback(colors: &[(f32, Color)]) -> Shader<'static> {
    Shader::SolidColor(colors.last().map_or(Color::BLACK, |&(_, c)| c))
}

/// A linear gradient between two pixel points; a solid colour if they coincide (tiny frames).
pub(super) fn linear(from: Point, to: Point, colors: &[(f32, Color)]) -> Shader<'static> {
    LinearGradient::new(from, to, stops(colors), SpreadMode::Pad, Transform::identity())
        .unwrap_or_else(|| fallback(colors))
}

/// A radial gradient around a pixel point, squashed to `ry/rx` vertically.
pub(super) fn radial(centre: Point, rx_px: f32, ry_px: f32, colors: &[(f32, Color)]) -> Shader<'static> {
    if !(rx_px > 1e-3 && ry_px > 1e-3) {
        return fallback(colors);
    }
    let squash = Transform::from_row(
        1.0,
        0.0,
        0.0,
        ry_px / rx_px,
        0.0,
        centre.y * (1.0 - ry_px / rx_px),
    );
    RadialGradient::new(centre, 0.0, centre, rx_px, stops(colors), SpreadMode::Pad, squash)
        .unwrap_or_else(|| fallback(colors))
}

/// Two colours around a pixel point: flat `inner` out to `plateau` × radius, then a blend to
/// `outer` at the radius. Two stops keep tiny-skia on its fast gradient path (about half the
/// cost of a multi-stop radial), which matters for the big face fill.
pub(super) fn radial_plateau(
    centre: Point,
    rx_px: f32,
    ry_px: f32,
    plateau: f32,
    inner: Color,
    outer: Color,
) -> Shader<'static> {
    let colors = [(0.0, inner), (1.0, outer)];
    if !(rx_px > 1e-3 && ry_px > 1e-3) {
        return fallback(&colors);
    }
    let squash = Transform::from_row(
        1.0,
        0.0,
        0.0,
        ry_px / rx_px,
        0.0,
        centre.y * (1.0 - ry_px / rx_px),
    );
    let inner_px = (plateau * rx_px).clamp(0.0, 0.99 * rx_px);
    RadialGradient::new(
        centre,
        inner_px,
        centre,
        rx_px,
        stops(&colors),
        SpreadMode::Pad,
        squash,
    )
    .unwrap_or_else(|| fallback(&colors))
}

/// The frame being drawn and the reusable clip mask.
pub(super) struct Canvas<'a> {
    pub pixmap: PixmapMut<'a>,
    clip: &'a mut Mask,
}

impl<'a> Canvas<'a> {
    pub fn new(pixmap: PixmapMut<'a>, clip: &'a mut Mask) -> Canvas<'a> {
        Canvas { pixmap, clip }
    }

    pub fn fill(&mut self, path: Option<&Path>, shader: Shader) {
        if let Some(path) = path {
            let paint = paint(shader);
            self.pixmap
                .fill_path(path, &paint, FillRule::Winding, Transform::identity(), None);
        }
    }

    /// Fills inside the current clip only (iris in the eye, teeth in the mouth).
    pub fn fill_clipped(&mut self, path: Option<&Path>, shader: Shader) {
        if let Some(path) = path {
            let paint = paint(shader);
            self.pixmap.fill_path(
                path,
                &paint,
                FillRule::Winding,
                Transform::identity(),
                Some(self.clip),
            );
        }
    }

    /// Fills a path moved by (dx, dy) pixels inside the current clip (cast shadows).
    pub fn fill_clipped_offset(&mut self, path: Option<&Path>, shader: Shader, dx: f32, dy: f32) {
        if let Some(path) = path {
            let paint = paint(shader);
            self.pixmap.fill_path(
                path,
                &paint,
                FillRule::Winding,
                Transform::from_translate(dx, dy),
                Some(self.clip),
            );
        }
    }

    pub fn stroke(&mut self, path: Option<&Path>, shader: Shader, width_px: f32) {
        if let Some(path) = path {
            let paint = paint(shader);
            let stroke = Stroke {
                width: width_px,
                line_cap: tiny_skia::LineCap::Round,
                line_join: tiny_skia::LineJoin::Round,
                ..Stroke::default()
            };
            self.pixmap
                .stroke_path(path, &paint, &stroke, Transform::identity(), None);
        }
    }

    /// Makes `path` the clip for the following `fill_clipped` calls. Returns false (and leaves
    /// nothing drawable) when there is no path.
    pub fn set_clip(&mut self, path: Option<&Path>) -> bool {
        self.clip.clear();
        match path {
            Some(path) => {
                self.clip
                    .fill_path(path, FillRule::Winding, true, Transform::identity());
                true
            }
            None => false,
        }
    }
}

fn paint(shader: Shader) -> Paint {
    Paint {
        shader,
        anti_alias: true,
        ..Paint::default()
    }
}
