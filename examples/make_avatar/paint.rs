//! Painting layers: a work canvas per layer (the avatar canvas plus a wide border, so shoulders
//! can reach past the canvas edges), pens that take face units, gradients, and cropping.

use tiny_skia::{
    Color, FillRule, GradientStop, LinearGradient, Mask, Paint, Path, PathBuilder, Pixmap, Point,
    RadialGradient, Shader, SpreadMode, Transform,
};

/// Avatar canvas size (pixels).
pub const CANVAS: u32 = 1024;
/// Canvas pixels per face unit (face units: hair top to chin is about 1.07).
pub const SCALE: f32 = 670.0;
/// Canvas position of the face-space origin (the head's centre).
pub const CENTRE: (f32, f32) = (512.0, 515.0);
/// Border around the canvas on the work pixmaps.
const PAD: u32 = 640;

/// Face units → canvas pixels.
pub fn to_canvas(x: f32, y: f32) -> (f32, f32) {
    (CENTRE.0 + SCALE * x, CENTRE.1 + SCALE * y)
}

/// Canvas pixels → face units.
pub fn to_face(px: f32, py: f32) -> (f32, f32) {
    ((px - CENTRE.0) / SCALE, (py - CENTRE.1) / SCALE)
}

pub fn rgb(r: u8, g: u8, b: u8) -> Color {
    Color::from_rgba8(r, g, b, 255)
}

pub fn rgba(r: u8, g: u8, b: u8, a: u8) -> Color {
    Color::from_rgba8(r, g, b, a)
}

/// A layer being painted, in canvas pixels (with the border).
pub struct Sheet {
    pub pixmap: Pixmap,
    /// Downscale factor of the stored texture (2: half resolution, for smooth layers).
    pub texture_shrink: u32,
}

impl Sheet {
    pub fn new() -> Sheet {
        Sheet {
            pixmap: Pixmap::new(CANVAS + 2 * PAD, CANVAS + 2 * PAD).expect("non-zero size"),
            texture_shrink: 1,
        }
    }

    pub fn fill(&mut self, path: Option<Path>, shader: Shader) {
        if let Some(path) = path {
            self.pixmap
                .fill_path(&path, &paint(shader), FillRule::Winding, work_transform(), None);
        }
    }

    pub fn fill_masked(&mut self, path: Option<Path>, shader: Shader, mask: &Mask) {
        if let Some(path) = path {
            self.pixmap.fill_path(
                &path,
                &paint(shader),
                FillRule::Winding,
                work_transform(),
                Some(mask),
            );
        }
    }

    /// A mask of `path` (for painting inside a shape).
    pub fn mask_of(&self, path: &Option<Path>) -> Mask {
        let mut mask = Mask::new(self.pixmap.width(), self.pixmap.height()).expect("non-zero size");
        if let Some(path) = path {
            mask.fill_path(path, FillRule::Winding, true, work_transform());
        }
        mask
    }

    /// The painted area: (x0, y0, x1, y1) in canvas pixels, exclusive end, with `margin` pixels of
    /// transparent border, or `None` if empty.
    pub fn content_box(&self, margin: i32) -> Option<(i32, i32, i32, i32)> {
        let (w, h) = (self.pixmap.width() as i32, self.pixmap.height() as i32);
        let data = self.pixmap.data();
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        for y in 0..h {
            for x in 0..w {
                if data[((y * w + x) * 4 + 3) as usize] > 0 {
                    x0 = x0.min(x);
                    y0 = y0.min(y);
                    x1 = x1.max(x + 1);
                    y1 = y1.max(y + 1);
                }
            }
        }
        if x1 <= x0 {
            return None;
        }
        let pad = PAD as i32;
        Some((
            (x0 - margin).max(0) - pad,
            (y0 - margin).max(0) - pad,
            (x1 + margin).min(w) - pad,
            (y1 + margin).min(h) - pad,
        ))
    }

    /// The pixels of canvas box (x0, y0, x1, y1), shrunk by `texture_shrink`.
    pub fn crop(&self, (x0, y0, x1, y1): (i32, i32, i32, i32)) -> Pixmap {
        let pad = PAD as i32;
        let (w, h) = ((x1 - x0) as u32, (y1 - y0) as u32);
        let mut out = Pixmap::new(w, h).expect("non-empty box");
        out.draw_pixmap(
            -(x0 + pad),
            -(y0 + pad),
            self.pixmap.as_ref(),
            &tiny_skia::PixmapPaint::default(),
            Transform::identity(),
            None,
        );
        if self.texture_shrink == 1 {
            return out;
        }
        let s = self.texture_shrink;
        let mut small = Pixmap::new(w.div_ceil(s), h.div_ceil(s)).expect("non-empty box");
        let paint = tiny_skia::PixmapPaint {
            quality: tiny_skia::FilterQuality::Bicubic,
            ..Default::default()
        };
        small.draw_pixmap(
            0,
            0,
            out.as_ref(),
            &paint,
            Transform::from_scale(1.0 / s as f32, 1.0 / s as f32),
            None,
        );
        small
    }
}

fn work_transform() -> Transform {
    Transform::from_translate(PAD as f32, PAD as f32)
}

fn paint(shader: Shader) -> Paint {
    Paint {
        shader,
        anti_alias: true,
        ..Paint::default()
    }
}

/// Builds a path in face units inside a local frame (origin, optional mirroring), in canvas
/// pixels.
pub struct Pen {
    origin: (f32, f32),
    flip_x: f32,
    builder: PathBuilder,
}

impl Pen {
    pub fn new(origin_x: f32, origin_y: f32) -> Pen {
        Pen {
            origin: (origin_x, origin_y),
            flip_x: 1.0,
            builder: PathBuilder::new(),
        }
    }

    pub fn flipped(mut self, flip_x: f32) -> Pen {
        self.flip_x = flip_x;
        self
    }

    pub fn at(&self, x: f32, y: f32) -> Point {
        let (px, py) = to_canvas(self.origin.0 + x * self.flip_x, self.origin.1 + y);
        Point::from_xy(px, py)
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

    pub fn close(&mut self) {
        self.builder.close();
    }

    pub fn ellipse(&mut self, cx: f32, cy: f32, rx: f32, ry: f32) {
        const KAPPA: f32 = 0.552_284_8;
        let (kx, ky) = (rx * KAPPA, ry * KAPPA);
        self.move_to(cx + rx, cy);
        self.cubic_to(cx + rx, cy + ky, cx + kx, cy + ry, cx, cy + ry);
        self.cubic_to(cx - kx, cy + ry, cx - rx, cy + ky, cx - rx, cy);
        self.cubic_to(cx - rx, cy - ky, cx - kx, cy - ry, cx, cy - ry);
        self.cubic_to(cx + kx, cy - ry, cx + rx, cy - ky, cx + rx, cy);
        self.close();
    }

    /// A closed polygon through `points` (face units, local frame).
    pub fn polygon(&mut self, points: &[(f32, f32)]) {
        for (i, &(x, y)) in points.iter().enumerate() {
            if i == 0 {
                self.move_to(x, y);
            } else {
                self.line_to(x, y);
            }
        }
        self.close();
    }

    /// A closed band along `spine` whose width goes `widths[0]` → `widths[1]` (middle) →
    /// `widths[2]`: tapered strokes (brows, lashes, strands).
    pub fn ribbon(&mut self, spine: &Cubic, widths: [f32; 3]) {
        const STEPS: usize = 24;
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

/// A cubic Bézier in face units: `[start, c1, c2, end]`.
#[derive(Clone, Copy, Debug)]
pub struct Cubic(pub [(f32, f32); 4]);

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

    pub fn offset(&self, dx: f32, dy: f32) -> Cubic {
        Cubic(self.0.map(|(x, y)| (x + dx, y + dy)))
    }

    pub fn lerp(&self, other: &Cubic, t: f32) -> Cubic {
        let mut out = self.0;
        for (o, b) in out.iter_mut().zip(other.0.iter()) {
            o.0 += (b.0 - o.0) * t;
            o.1 += (b.1 - o.1) * t;
        }
        Cubic(out)
    }
}

fn stops(colors: &[(f32, Color)]) -> Vec<GradientStop> {
    colors.iter().map(|&(t, c)| GradientStop::new(t, c)).collect()
}

/// A linear gradient between two canvas points.
pub fn linear(from: Point, to: Point, colors: &[(f32, Color)]) -> Shader<'static> {
    LinearGradient::new(from, to, stops(colors), SpreadMode::Pad, Transform::identity())
        .unwrap_or(Shader::SolidColor(colors[0].1))
}

/// A radial gradient around a canvas point, squashed to `ry/rx` vertically.
pub fn radial(centre: Point, rx_px: f32, ry_px: f32, colors: &[(f32, Color)]) -> Shader<'static> {
    let squash = Transform::from_row(
        1.0,
        0.0,
        0.0,
        ry_px / rx_px,
        0.0,
        centre.y * (1.0 - ry_px / rx_px),
    );
    RadialGradient::new(centre, 0.0, centre, rx_px, stops(colors), SpreadMode::Pad, squash)
        .unwrap_or(Shader::SolidColor(colors[0].1))
}

/// Face units → canvas pixels for lengths.
pub fn px(units: f32) -> f32 {
    units * SCALE
}
