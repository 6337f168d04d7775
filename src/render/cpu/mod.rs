//! The CPU renderer: deforms the rig's meshes for a pose and rasterises textured triangles,
//! split into horizontal bands that threads draw independently.
//!
//! Per frame: every vertex is moved ([`Deformer`]); every visible triangle of the moving layers is
//! put in the bins of the bands it touches, in draw order; then each band copies its rows of the
//! backdrop (the background and the leading layers that never move, drawn once at construction),
//! and draws its triangles bottom layer first, keeping the coverage of mask layers for the layers
//! they clip. Bands share nothing mutable, so they run in parallel on rayon without locks.
//!
//! Not here: time, idle motion, encoding. The renderer draws the pose it is given.

pub(crate) mod raster;

use std::sync::Arc;

use rayon::prelude::*;

use self::raster::{Band, MaskUse, Texels, Triangle, draw_triangle};
use super::avatar::{Avatar, Texture};
use super::rig::{Deformer, Placement};
use super::{MAX_FRAME_SIDE_PX, RenderError, Renderer, VideoFrame};
use crate::motion::MotionVector;

/// Rows per band: small enough that a 512-row frame splits into enough bands to keep several
/// threads busy, large enough that per-band set-up is noise.
const BAND_ROWS: u32 = 16;

/// Which threads draw the bands.
enum Threads {
    /// Only the calling thread.
    Serial,
    /// rayon's global pool (shared with other sessions: work stealing balances them).
    Global,
    /// A pool of its own.
    Pool(rayon::ThreadPool),
}

/// A layer as the CPU draws it: its texture at the chosen mip level and the triangles that show
/// anything.
struct CpuLayer {
    texels: Texels,
    triangles: Vec<[u32; 3]>,
    /// Index into a band's mask buffers if later layers are clipped by this one.
    mask_slot: Option<usize>,
    /// The slot of the layer clipping this one.
    clip_slot: Option<usize>,
}

/// Per-band scratch: one coverage buffer per mask layer.
struct BandScratch {
    masks: Vec<Vec<u8>>,
    /// (layer, triangle) pairs touching this band, in draw order.
    bin: Vec<(u32, u32)>,
}

/// Draws an [`Avatar`] on the CPU.
pub struct CpuRenderer {
    avatar: Arc<Avatar>,
    deformer: Deformer,
    layers: Vec<CpuLayer>,
    /// Layers before this index are in the backdrop.
    first_moving: usize,
    /// Background and static layers, packed pixels.
    backdrop: Vec<u32>,
    width: u32,
    height: u32,
    bands: Vec<BandScratch>,
    threads: Threads,
    /// Used when the output buffer is not 4-byte aligned (never seen in practice).
    unaligned_scratch: Vec<u32>,
}

impl CpuRenderer {
    /// A renderer for `width`×`height` frames. `threads`: 1 draws on the caller's thread, 0 uses
    /// rayon's global pool (all cores, shared), n > 1 a pool of n threads of its own.
    pub fn new(avatar: Arc<Avatar>, width: u32, height: u32, threads: usize) -> Result<Self, RenderError> {
        check_size(width, height)?;
        let placement = Placement::fit(&avatar, width, height);
        let mip = placement.mip_level();
        let mask_slots = mask_slots(&avatar);
        let layers: Vec<CpuLayer> = avatar
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                let texture = mip_texture(&layer.texture, mip);
                CpuLayer {
                    triangles: visible_triangles(&layer.mesh.triangles, &layer.mesh.uv, &texture),
                    texels: Texels::new(&texture),
                    mask_slot: mask_slots[i],
                    clip_slot: layer.mask.and_then(|m| mask_slots[m]),
                }
            })
            .collect();
        let threads = match threads {
            1 => Threads::Serial,
            0 => Threads::Global,
            n => Threads::Pool(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .thread_name(|i| format!("persona-render-{i}"))
                    .build()
                    .map_err(|e| RenderError::Threads(e.to_string()))?,
            ),
        };
        let mask_count = mask_slots.iter().flatten().count();
        let band_count = height.div_ceil(BAND_ROWS) as usize;
        let bands = (0..band_count)
            .map(|_| BandScratch {
                masks: vec![vec![0; (BAND_ROWS * width) as usize]; mask_count],
                bin: Vec::new(),
            })
            .collect();
        let mut renderer = CpuRenderer {
            deformer: Deformer::new(&avatar, placement),
            first_moving: avatar.static_prefix(),
            avatar,
            layers,
            backdrop: Vec::new(),
            width,
            height,
            bands,
            threads,
            unaligned_scratch: Vec::new(),
        };
        renderer.backdrop = renderer.draw_backdrop();
        Ok(renderer)
    }

    pub fn avatar(&self) -> &Avatar {
        &self.avatar
    }

    pub fn placement(&self) -> &Placement {
        self.deformer.placement()
    }

    /// Background gradient plus the static layers at rest.
    fn draw_backdrop(&mut self) -> Vec<u32> {
        let mut pixels = background(&self.avatar, self.width, self.height);
        let statics = self.first_moving;
        self.bin(0..statics);
        let width = self.width;
        for (index, band) in self.bands.iter_mut().enumerate() {
            let start = index * (BAND_ROWS * width) as usize;
            let end = (start + (BAND_ROWS * width) as usize).min(pixels.len());
            draw_band(
                index as u32,
                width,
                &mut pixels[start..end],
                band,
                &self.layers,
                &self.deformer,
                &self.avatar,
                None,
            );
        }
        pixels
    }

    /// Fills every band's bin with the triangles of `layers` that touch it.
    fn bin(&mut self, layers: std::ops::Range<usize>) {
        for band in &mut self.bands {
            band.bin.clear();
        }
        let (w, h) = (self.width as f32, self.height as f32);
        for index in layers {
            let positions = self.deformer.layer(index);
            for (t, tri) in self.layers[index].triangles.iter().enumerate() {
                let [a, b, c] = tri.map(|v| positions[v as usize]);
                let (min_x, max_x) = (a[0].min(b[0]).min(c[0]), a[0].max(b[0]).max(c[0]));
                let (min_y, max_y) = (a[1].min(b[1]).min(c[1]), a[1].max(b[1]).max(c[1]));
                if max_x < 0.0 || min_x > w || max_y < 0.0 || min_y > h {
                    continue;
                }
                let first = (min_y.max(0.0) as u32 / BAND_ROWS) as usize;
                let last = ((max_y.min(h - 1.0)) as u32 / BAND_ROWS) as usize;
                let last = last.min(self.bands.len() - 1);
                for band in &mut self.bands[first..=last] {
                    band.bin.push((index as u32, t as u32));
                }
            }
        }
    }

    /// Pixel rectangle (x, y, w, h) of the closed mouth at the rest pose.
    pub fn mouth_region(&self) -> (u32, u32, u32, u32) {
        self.placement().rect_px(&self.avatar.regions.mouth)
    }

    /// Pixel rectangles of the eye openings at rest, image-left eye first (the avatar's right).
    pub fn eye_regions(&self) -> [(u32, u32, u32, u32); 2] {
        self.avatar.regions.eyes.map(|r| self.placement().rect_px(&r))
    }
}

impl Renderer for CpuRenderer {
    fn width(&self) -> u32 {
        self.width
    }

    fn height(&self) -> u32 {
        self.height
    }

    fn backend(&self) -> &'static str {
        "cpu"
    }

    fn render(&mut self, pose: &MotionVector, out: &mut VideoFrame) -> Result<(), RenderError> {
        out.resize(self.width, self.height);
        self.deformer.deform(&self.avatar, pose);
        self.bin(self.first_moving..self.avatar.layers.len());
        let width = self.width;
        let CpuRenderer {
            layers,
            deformer,
            avatar,
            backdrop,
            bands,
            threads,
            unaligned_scratch,
            ..
        } = self;
        let aligned = bytemuck::try_cast_slice_mut::<u8, u32>(&mut out.rgba).is_ok();
        let pixels: &mut [u32] = if aligned {
            bytemuck::cast_slice_mut(&mut out.rgba)
        } else {
            unaligned_scratch.resize(backdrop.len(), 0);
            unaligned_scratch
        };
        let band_len = (BAND_ROWS * width) as usize;
        let draw = |(index, (pixels, band)): (usize, (&mut [u32], &mut BandScratch))| {
            draw_band(
                index as u32,
                width,
                pixels,
                band,
                layers,
                deformer,
                avatar,
                Some(backdrop),
            );
        };
        match threads {
            Threads::Serial => pixels
                .chunks_mut(band_len)
                .zip(bands.iter_mut())
                .enumerate()
                .for_each(draw),
            Threads::Global => pixels
                .par_chunks_mut(band_len)
                .zip(bands.par_iter_mut())
                .enumerate()
                .for_each(draw),
            Threads::Pool(pool) => pool.install(|| {
                pixels
                    .par_chunks_mut(band_len)
                    .zip(bands.par_iter_mut())
                    .enumerate()
                    .for_each(draw)
            }),
        }
        if !aligned {
            out.rgba.copy_from_slice(bytemuck::cast_slice(unaligned_scratch));
        }
        Ok(())
    }

    fn mouth_region(&self) -> (u32, u32, u32, u32) {
        CpuRenderer::mouth_region(self)
    }
}

/// Draws band `index`'s bin into its pixels, starting from the backdrop's rows when given.
#[allow(clippy::too_many_arguments)]
fn draw_band(
    index: u32,
    width: u32,
    pixels: &mut [u32],
    band: &mut BandScratch,
    layers: &[CpuLayer],
    deformer: &Deformer,
    avatar: &Avatar,
    backdrop: Option<&[u32]>,
) {
    let start = (index * BAND_ROWS * width) as usize;
    if let Some(backdrop) = backdrop {
        pixels.copy_from_slice(&backdrop[start..start + pixels.len()]);
    }
    for mask in &mut band.masks {
        mask.fill(0);
    }
    let rows = pixels.len() as u32 / width;
    let mut target = Band {
        y0: index * BAND_ROWS,
        rows,
        width,
        pixels,
    };
    for &(layer_index, t) in &band.bin {
        let layer = &layers[layer_index as usize];
        let mesh = &avatar.layers[layer_index as usize].mesh;
        let positions = deformer.layer(layer_index as usize);
        let tri = layer.triangles[t as usize];
        let triangle = Triangle {
            positions: tri.map(|v| positions[v as usize]),
            uvs: tri.map(|v| mesh.uv[v as usize]),
        };
        let masks = match (layer.clip_slot, layer.mask_slot) {
            (Some(clip), _) => MaskUse {
                clip: Some(&band.masks[clip]),
                record: None,
            },
            (None, Some(record)) => MaskUse {
                clip: None,
                record: Some(&mut band.masks[record]),
            },
            (None, None) => MaskUse {
                clip: None,
                record: None,
            },
        };
        draw_triangle(&mut target, &triangle, &layer.texels, masks);
    }
}

pub(crate) fn check_size(width: u32, height: u32) -> Result<(), RenderError> {
    if !(1..=MAX_FRAME_SIDE_PX).contains(&width) || !(1..=MAX_FRAME_SIDE_PX).contains(&height) {
        return Err(RenderError::FrameSize {
            width,
            height,
            max: MAX_FRAME_SIDE_PX,
        });
    }
    Ok(())
}

/// For each layer, its slot among the layers that clip others.
pub(crate) fn mask_slots(avatar: &Avatar) -> Vec<Option<usize>> {
    let mut next = 0;
    avatar
        .layers
        .iter()
        .map(|l| {
            l.is_mask_source.then(|| {
                next += 1;
                next - 1
            })
        })
        .collect()
}

/// `texture` halved `level` times.
pub(crate) fn mip_texture(texture: &Texture, level: u32) -> Texture {
    let mut out = texture.clone();
    for _ in 0..level {
        out = out.halved();
    }
    out
}

/// The vertical background gradient, packed pixels: row y is `top + (bottom - top) * t` with
/// `t = (y + 1/2) / height`, rounded (the GPU renderer computes the same).
pub(crate) fn background(avatar: &Avatar, width: u32, height: u32) -> Vec<u32> {
    let (top, bottom) = (avatar.background.top, avatar.background.bottom);
    let mut pixels = Vec::with_capacity(width as usize * height as usize);
    for y in 0..height {
        let t = (y as f32 + 0.5) / height as f32;
        let c = |i: usize| (top[i] as f32 + (bottom[i] as f32 - top[i] as f32) * t).round() as u8;
        let pixel = u32::from_le_bytes([c(0), c(1), c(2), 255]);
        pixels.extend(std::iter::repeat_n(pixel, width as usize));
    }
    pixels
}

/// Triangles whose texture area holds any non-transparent texel (the rest draw nothing). The
/// check is conservative: the texel box around the triangle's texture coordinates, one texel wider.
pub(crate) fn visible_triangles(
    triangles: &[[u32; 3]],
    uvs: &[[f32; 2]],
    texture: &Texture,
) -> Vec<[u32; 3]> {
    let (w, h) = (texture.width as usize, texture.height as usize);
    // Summed-area table of "alpha > 0", (w + 1) x (h + 1).
    let mut sat = vec![0u32; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0;
        for x in 0..w {
            row += (texture.rgba[(y * w + x) * 4 + 3] > 0) as u32;
            sat[(y + 1) * (w + 1) + x + 1] = sat[y * (w + 1) + x + 1] + row;
        }
    }
    let any = |x0: usize, y0: usize, x1: usize, y1: usize| {
        let s = |x: usize, y: usize| sat[y * (w + 1) + x] as i64;
        s(x1, y1) - s(x0, y1) - s(x1, y0) + s(x0, y0) > 0
    };
    triangles
        .iter()
        .copied()
        .filter(|tri| {
            let us = tri.map(|v| uvs[v as usize][0] * w as f32);
            let vs = tri.map(|v| uvs[v as usize][1] * h as f32);
            let lo = |c: [f32; 3], max: usize| {
                ((c[0].min(c[1]).min(c[2]) - 1.5).floor().max(0.0) as usize).min(max)
            };
            let hi = |c: [f32; 3], max: usize| {
                ((c[0].max(c[1]).max(c[2]) + 1.5).ceil().max(0.0) as usize).min(max)
            };
            let (x0, x1) = (lo(us, w), hi(us, w));
            let (y0, y1) = (lo(vs, h), hi(vs, h));
            x1 > x0 && y1 > y0 && any(x0, y0, x1, y1)
        })
        .collect()
}

#[cfg(test)]
mod tests;
