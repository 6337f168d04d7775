//! Textured triangles into a band of frame rows: the inner loop of the CPU renderer.
//!
//! Follows the rules a GPU follows, so the CPU and GPU renderers agree pixel for pixel up to
//! rounding: vertices snapped to 1/256 pixel, a pixel is covered when its centre is inside the
//! triangle (exact integer edge functions, top-left rule on ties), texture coordinates are affine
//! across the triangle, textures are sampled bilinearly with clamp-to-edge at texel centres, and
//! premultiplied colour is composited "over" in 8 bits. Optionally the source is scaled by a mask
//! (another layer's coverage) and/or its coverage is accumulated into a mask.
//!
//! Pixels are packed RGBA8 in a `u32` (little endian: red in the low byte) and the arithmetic
//! works on two channels at once (`0x00ff00ff` lanes).

use crate::render::avatar::Texture;

/// A texture as packed premultiplied pixels, ready to sample.
pub struct Texels {
    pub width: u32,
    pub height: u32,
    pub texels: Vec<u32>,
}

impl Texels {
    pub fn new(texture: &Texture) -> Texels {
        Texels {
            width: texture.width,
            height: texture.height,
            texels: texture
                .rgba
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        }
    }
}

/// Sub-pixel precision of snapped vertices, in bits (what Vulkan implementations use).
const SUBPIXEL_BITS: u32 = 8;
const SUBPIXEL: i64 = 1 << SUBPIXEL_BITS;
const LANES: u32 = 0x00ff_00ff;

/// Rows `y0..y0 + rows` of the frame: its pixels and, for each mask, its coverage there.
pub struct Band<'a> {
    pub y0: u32,
    pub rows: u32,
    pub width: u32,
    /// `rows * width` packed pixels.
    pub pixels: &'a mut [u32],
}

/// A triangle in frame pixels with its texture coordinates (normalised).
pub struct Triangle {
    pub positions: [[f32; 2]; 3],
    pub uvs: [[f32; 2]; 3],
}

/// How the triangle's coverage interacts with masks.
pub struct MaskUse<'a> {
    /// Scale the source by this coverage (`rows * width`, same layout as the band).
    pub clip: Option<&'a [u8]>,
    /// Accumulate the source's alpha into this coverage.
    pub record: Option<&'a mut [u8]>,
}

/// Draws `triangle` sampled from `texture` over the band's pixels.
pub fn draw_triangle(band: &mut Band, triangle: &Triangle, texture: &Texels, mut masks: MaskUse) {
    let snap = |v: f32| (v * SUBPIXEL as f32).round() as i64;
    let mut p = triangle.positions.map(|[x, y]| [snap(x), snap(y)]);
    let mut uv = triangle.uvs;
    let area = edge(p[0], p[1], p[2]);
    if area == 0 {
        return;
    }
    if area < 0 {
        p.swap(1, 2);
        uv.swap(1, 2);
    }
    // Pixel rows and columns whose centres may be inside: centre of pixel k is k + 1/2.
    let (min_x, max_x) = (
        p.iter().map(|v| v[0]).min().unwrap(),
        p.iter().map(|v| v[0]).max().unwrap(),
    );
    let (min_y, max_y) = (
        p.iter().map(|v| v[1]).min().unwrap(),
        p.iter().map(|v| v[1]).max().unwrap(),
    );
    let first_px = |lo: i64| (lo - SUBPIXEL / 2 + SUBPIXEL - 1).div_euclid(SUBPIXEL);
    let last_px = |hi: i64| (hi - SUBPIXEL / 2).div_euclid(SUBPIXEL);
    let x_start = first_px(min_x).max(0);
    let x_end = last_px(max_x).min(band.width as i64 - 1);
    let y_start = first_px(min_y).max(band.y0 as i64);
    let y_end = last_px(max_y).min((band.y0 + band.rows) as i64 - 1);
    if x_start > x_end || y_start > y_end {
        return;
    }

    // Edge i runs from vertex i to vertex i+1; inside means E >= 0 on a top or left edge and
    // E > 0 otherwise (the bias), so a pixel on an edge shared by two triangles is drawn once.
    let edges: [(i64, i64, i64); 3] = [0, 1, 2].map(|i| {
        let (a, b) = (p[i], p[(i + 1) % 3]);
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let top_left = (dy == 0 && dx > 0) || dy < 0;
        (dx, dy, if top_left { 0 } else { -1 })
    });
    let centre = |px: i64| px * SUBPIXEL + SUBPIXEL / 2;
    let edge_at = |i: usize, x: i64, y: i64| {
        let a = p[i];
        let (dx, dy, bias) = edges[i];
        dx * (y - a[1]) - dy * (x - a[0]) + bias
    };

    // Texel coordinates (texel centres at integers) as planes over the frame, from the snapped
    // vertices.
    let (tw, th) = (texture.width as f64, texture.height as f64);
    let fp = p.map(|[x, y]| [x as f64 / SUBPIXEL as f64, y as f64 / SUBPIXEL as f64]);
    let det = (fp[1][0] - fp[0][0]) * (fp[2][1] - fp[0][1]) - (fp[2][0] - fp[0][0]) * (fp[1][1] - fp[0][1]);
    let plane = |f: [f64; 3]| {
        let dfdx = ((f[1] - f[0]) * (fp[2][1] - fp[0][1]) - (f[2] - f[0]) * (fp[1][1] - fp[0][1])) / det;
        let dfdy = ((f[2] - f[0]) * (fp[1][0] - fp[0][0]) - (f[1] - f[0]) * (fp[2][0] - fp[0][0])) / det;
        (f[0], dfdx, dfdy)
    };
    let tu = plane(uv.map(|t| t[0] as f64 * tw - 0.5));
    let tv = plane(uv.map(|t| t[1] as f64 * th - 0.5));

    let texels = &texture.texels[..];
    let (max_tx, max_ty) = (texture.width as i32 - 1, texture.height as i32 - 1);
    let width = band.width as usize;
    let step = edges.map(|(_, dy, _)| -dy * SUBPIXEL);
    let (du, dv) = (tu.1 as f32, tv.1 as f32);
    for y in y_start..=y_end {
        let cy = centre(y);
        // The covered span of this row, solved exactly from the three edge functions (linear in
        // x), so no pixel outside the triangle is visited.
        let (mut lo, mut hi) = (x_start, x_end);
        for (i, &s) in step.iter().enumerate() {
            let e0 = edge_at(i, centre(x_start), cy);
            if s == 0 {
                if e0 < 0 {
                    hi = lo - 1;
                }
            } else if s > 0 {
                // e0 + s * k >= 0  ⇔  k >= ceil(-e0 / s)
                if e0 < 0 {
                    lo = lo.max(x_start + (-e0 + s - 1) / s);
                }
            } else {
                // e0 + s * k >= 0  ⇔  k <= floor(e0 / -s)
                if e0 < 0 {
                    hi = lo - 1;
                } else {
                    hi = hi.min(x_start + e0 / -s);
                }
            }
        }
        if lo > hi {
            continue;
        }
        let row = (y - band.y0 as i64) as usize * width;
        let py = y as f64 + 0.5 - fp[0][1];
        let px0 = lo as f64 + 0.5 - fp[0][0];
        let mut u = (tu.0 + tu.1 * px0 + tu.2 * py) as f32;
        let mut v = (tv.0 + tv.1 * px0 + tv.2 * py) as f32;
        for x in lo..=hi {
            let mut src = sample(texels, texture.width as usize, max_tx, max_ty, u, v);
            u += du;
            v += dv;
            let i = row + x as usize;
            if let Some(clip) = masks.clip {
                src = scale(src, clip[i] as u32);
            }
            if src == 0 {
                continue;
            }
            let alpha = src >> 24;
            if let Some(record) = masks.record.as_deref_mut() {
                let m = record[i] as u32;
                record[i] = (alpha + div255(m * (255 - alpha))) as u8;
            }
            let dst = &mut band.pixels[i];
            *dst = if alpha == 255 {
                src
            } else {
                src + scale(*dst, 255 - alpha)
            };
        }
    }
}

/// Twice the signed area of (a, b, c), in sub-pixel units squared.
fn edge(a: [i64; 2], b: [i64; 2], c: [i64; 2]) -> i64 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

/// Bilinear sample at texel coordinates (u, v) (texel centres at integers), clamp to edge.
#[inline]
fn sample(texels: &[u32], stride: usize, max_x: i32, max_y: i32, u: f32, v: f32) -> u32 {
    // floor() without a libm call (x86-64's baseline has no rounding instruction): coordinates
    // are never below -1 texel, so an offset makes the truncation a floor.
    const OFFSET: f32 = 1024.0;
    let (su, sv) = (u + OFFSET, v + OFFSET);
    let (iu, iv) = (su as i32, sv as i32);
    let wx = ((su - iu as f32) * 256.0 + 0.5) as u32;
    let wy = ((sv - iv as f32) * 256.0 + 0.5) as u32;
    let (x0, y0) = (iu - OFFSET as i32, iv - OFFSET as i32);
    let clamp_x = |x: i32| x.clamp(0, max_x) as usize;
    let clamp_y = |y: i32| y.clamp(0, max_y) as usize * stride;
    let (xa, xb) = (clamp_x(x0), clamp_x(x0 + 1));
    let (ya, yb) = (clamp_y(y0), clamp_y(y0 + 1));
    let (t00, t10, t01, t11) = (texels[ya + xa], texels[ya + xb], texels[yb + xa], texels[yb + xb]);
    if (t00 | t10 | t01 | t11) == 0 {
        return 0;
    }
    let top = lerp(t00, t10, wx);
    let bottom = lerp(t01, t11, wx);
    lerp(top, bottom, wy)
}

/// `a + (b - a) * w / 256` on all four channels, rounded.
#[inline]
fn lerp(a: u32, b: u32, w: u32) -> u32 {
    let iw = 256 - w;
    let rb = ((a & LANES) * iw + (b & LANES) * w + 0x0080_0080) >> 8;
    let ga = (((a >> 8) & LANES) * iw + ((b >> 8) & LANES) * w + 0x0080_0080) >> 8;
    (rb & LANES) | ((ga & LANES) << 8)
}

/// All four channels × `m / 255`, rounded.
#[inline]
fn scale(c: u32, m: u32) -> u32 {
    let rb = (c & LANES) * m + 0x0080_0080;
    let rb = ((rb + ((rb >> 8) & LANES)) >> 8) & LANES;
    let ga = ((c >> 8) & LANES) * m + 0x0080_0080;
    let ga = ((ga + ((ga >> 8) & LANES)) >> 8) & LANES;
    rb | (ga << 8)
}

/// `x / 255` rounded, for `x` up to 255 * 255.
#[inline]
fn div255(x: u32) -> u32 {
    let x = x + 128;
    (x + (x >> 8)) >> 8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texture(w: u32, h: u32, texel: [u8; 4]) -> Texels {
        Texels::new(&Texture {
            width: w,
            height: h,
            rgba: texel.iter().copied().cycle().take((w * h * 4) as usize).collect(),
        })
    }

    fn band(width: u32, rows: u32, pixels: &mut [u32]) -> Band<'_> {
        Band {
            y0: 0,
            rows,
            width,
            pixels,
        }
    }

    fn no_masks() -> MaskUse<'static> {
        MaskUse {
            clip: None,
            record: None,
        }
    }

    #[test]
    fn two_triangles_sharing_an_edge_cover_every_pixel_once() {
        // A quad split along its diagonal, drawn with half-transparent white: a pixel drawn twice
        // would come out brighter than one drawn once.
        let (w, h) = (16, 16);
        let mut pixels = vec![0u32; (w * h) as usize];
        let tex = texture(2, 2, [128, 128, 128, 128]);
        let quad = [[1.3, 2.7], [13.1, 1.9], [14.6, 12.2], [2.2, 14.4]];
        for tri in [[0, 1, 2], [0, 2, 3]] {
            let t = Triangle {
                positions: tri.map(|i| quad[i]),
                uvs: [[0.5, 0.5]; 3],
            };
            draw_triangle(&mut band(w, h, &mut pixels), &t, &tex, no_masks());
        }
        let values: std::collections::BTreeSet<u32> = pixels.iter().copied().collect();
        assert_eq!(values.len(), 2, "only empty and once-drawn pixels: {values:x?}");
        assert!(pixels.iter().filter(|&&p| p != 0).count() > 120);
    }

    #[test]
    fn over_compositing_and_masks_follow_premultiplied_alpha() {
        let mut pixels = vec![0xff00_00ffu32; 4]; // opaque red
        let tex = texture(1, 1, [0, 100, 0, 100]); // green at alpha 100, premultiplied
        let t = Triangle {
            positions: [[-1.0, -1.0], [5.0, -1.0], [-1.0, 5.0]],
            uvs: [[0.5, 0.5]; 3],
        };
        let clip = [255u8, 0, 128, 255];
        let mut record = [0u8; 4];
        draw_triangle(
            &mut band(2, 2, &mut pixels),
            &t,
            &tex,
            MaskUse {
                clip: Some(&clip),
                record: Some(&mut record),
            },
        );
        // Full mask: red * (155/255) + green 100.
        assert_eq!(pixels[0].to_le_bytes(), [155, 100, 0, 255]);
        // Zero mask: untouched.
        assert_eq!(pixels[1].to_le_bytes(), [255, 0, 0, 255]);
        assert_eq!(record, [100, 0, 50, 100]);
    }

    #[test]
    fn bilinear_sampling_blends_neighbouring_texels_at_their_centres() {
        // Two texels, black and white (opaque); sampling across them gives a ramp.
        let tex = Texels::new(&Texture {
            width: 2,
            height: 1,
            rgba: vec![0, 0, 0, 255, 255, 255, 255, 255],
        });
        let at = |u: f32| sample(&tex.texels, 2, 1, 0, u, 0.0).to_le_bytes()[0];
        assert_eq!(at(0.0), 0);
        assert_eq!(at(1.0), 255);
        assert_eq!(at(-3.0), 0, "clamped to the edge");
        assert!((126..=129).contains(&at(0.5)), "{}", at(0.5));
    }
}
