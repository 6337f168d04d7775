//! The GPU renderer (wgpu, headless): the same rig as the CPU renderer, drawn by the GPU and read
//! back for encoding.
//!
//! Geometry is deformed on the CPU by the shared [`Deformer`] (a few thousand vertices: cheap) and
//! uploaded each frame; everything else lives on the GPU: the layer textures (at the same mip level
//! the CPU renderer picks), static texture coordinates and indices, one coverage texture per mask
//! layer. A frame is: each mask layer drawn into its coverage texture, then the background and
//! every layer composited "over" into an RGBA8 target (clipped layers read their mask's coverage at
//! the pixel), copied into a buffer and mapped. The shaders mirror `cpu::raster` so the two agree
//! to within rounding (tested on Mesa's lavapipe in `tests/gpu_parity.rs`).
//!
//! Vulkan only (real GPUs and lavapipe, the software Vulkan CI uses); [`GpuRenderer::new`] fails
//! with a clear error when no adapter exists. Blocking: run it on a dedicated thread.

use std::sync::{Arc, Mutex};

use bytemuck::{Pod, Zeroable};
use wgpu::util::DeviceExt;

use super::avatar::Avatar;
use super::cpu::{check_size, mask_slots, mip_texture, visible_triangles};
use super::rig::{Deformer, Placement};
use super::{RenderError, Renderer, VideoFrame};
use crate::motion::MotionVector;

const TARGET_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct FrameUniform {
    size: [f32; 2],
    _pad: [f32; 2],
    top: [f32; 4],
    bottom: [f32; 4],
}

/// A layer's GPU resources.
struct GpuLayer {
    bind_group: wgpu::BindGroup,
    /// Range in the shared index buffer.
    indices: std::ops::Range<u32>,
    /// Offset of its vertices in the shared vertex buffers.
    base_vertex: i32,
    /// The mask slot clipping it.
    clip_slot: Option<usize>,
    /// Its own slot, if it clips others.
    mask_slot: Option<usize>,
}

/// Which adapter the renderer runs on, for logs and benchmarks.
#[derive(Clone, Debug)]
pub struct AdapterInfo {
    pub name: String,
    pub backend: String,
    /// A CPU implementation (lavapipe) rather than a real GPU.
    pub software: bool,
}

/// Draws an [`Avatar`] with wgpu.
pub struct GpuRenderer {
    avatar: Arc<Avatar>,
    deformer: Deformer,
    width: u32,
    height: u32,
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter: AdapterInfo,
    layers: Vec<GpuLayer>,
    layer_pipeline: wgpu::RenderPipeline,
    masked_pipeline: wgpu::RenderPipeline,
    background_pipeline: wgpu::RenderPipeline,
    frame_bind_group: wgpu::BindGroup,
    /// One per mask slot: its coverage texture's view and the bind group that reads it.
    masks: Vec<(wgpu::TextureView, wgpu::BindGroup)>,
    target: wgpu::Texture,
    target_view: wgpu::TextureView,
    positions: wgpu::Buffer,
    uvs: wgpu::Buffer,
    index_buffer: wgpu::Buffer,
    readback: wgpu::Buffer,
    padded_row_bytes: u32,
    /// Deformed positions of all layers, concatenated, before upload.
    staging: Vec<[f32; 2]>,
    /// The first device error reported by wgpu's error callback.
    device_error: Arc<Mutex<Option<String>>>,
}

/// The first adapter wgpu finds on Vulkan, or why there is none.
pub fn find_adapter() -> Result<(wgpu::Instance, wgpu::Adapter), RenderError> {
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
    descriptor.backends = wgpu::Backends::VULKAN;
    let instance = wgpu::Instance::new(descriptor);
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        ..Default::default()
    }))
    .map_err(|e| {
        RenderError::Gpu(format!(
            "no Vulkan adapter found ({e}). Install a GPU driver, or Mesa's software Vulkan \
             (`apt-get install mesa-vulkan-drivers libvulkan1`; ./setup.sh does), or use `backend = \"cpu\"` \
             under [stages.render]"
        ))
    })?;
    Ok((instance, adapter))
}

impl GpuRenderer {
    /// A renderer for `width`×`height` frames on the first Vulkan adapter.
    pub fn new(avatar: Arc<Avatar>, width: u32, height: u32) -> Result<Self, RenderError> {
        check_size(width, height)?;
        let (_instance, adapter) = find_adapter()?;
        let info = adapter.get_info();
        let adapter_info = AdapterInfo {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            software: info.device_type == wgpu::DeviceType::Cpu,
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("persona renderer"),
            required_limits: wgpu::Limits::default().using_resolution(adapter.limits()),
            ..Default::default()
        }))
        .map_err(|e| RenderError::Gpu(format!("could not open the adapter {}: {e}", info.name)))?;
        let device_error = Arc::new(Mutex::new(None));
        let slot = device_error.clone();
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            tracing::error!(%error, "GPU error");
            slot.lock()
                .expect("never poisoned: only set here")
                .get_or_insert(error.to_string());
        }));
        tracing::info!(adapter = %info.name, backend = ?info.backend, "GPU renderer ready");

        let placement = Placement::fit(&avatar, width, height);
        let mip = placement.mip_level();
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("layers.wgsl"),
            source: wgpu::ShaderSource::Wgsl(include_str!("layers.wgsl").into()),
        });

        let frame_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("frame"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            }],
        });
        let texture_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("layer texture"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
            ],
        });
        let mask_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("mask"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Texture {
                    sample_type: wgpu::TextureSampleType::Float { filterable: false },
                    view_dimension: wgpu::TextureViewDimension::D2,
                    multisampled: false,
                },
                count: None,
            }],
        });

        let uniform = FrameUniform {
            size: [width as f32, height as f32],
            _pad: [0.0; 2],
            top: colour(avatar.background.top),
            bottom: colour(avatar.background.bottom),
        };
        let uniform_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("frame uniform"),
            contents: bytemuck::bytes_of(&uniform),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let frame_bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("frame"),
            layout: &frame_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: uniform_buffer.as_entire_binding(),
            }],
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("bilinear clamp"),
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });

        let pipeline_layout = |groups: &[Option<&wgpu::BindGroupLayout>]| {
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: None,
                bind_group_layouts: groups,
                immediate_size: 0,
            })
        };
        let plain_layout = pipeline_layout(&[Some(&frame_layout), Some(&texture_layout)]);
        let masked_layout =
            pipeline_layout(&[Some(&frame_layout), Some(&texture_layout), Some(&mask_layout)]);
        let background_layout = pipeline_layout(&[Some(&frame_layout)]);
        let buffers = [
            Some(wgpu::VertexBufferLayout {
                array_stride: 8,
                step_mode: wgpu::VertexStepMode::Vertex,
                attributes: &wgpu::vertex_attr_array![0 => Float32x2],
            }),
            Some(wgpu::VertexBufferLayout {
                array_stride: 8,
                step_mode: wgpu::VertexStepMode::Vertex,
                attributes: &wgpu::vertex_attr_array![1 => Float32x2],
            }),
        ];
        let over = wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING;
        let pipeline = |label: &str,
                        layout: &wgpu::PipelineLayout,
                        vertex: &str,
                        fragment: &str,
                        buffers: &[Option<wgpu::VertexBufferLayout>],
                        blend: Option<wgpu::BlendState>| {
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some(label),
                layout: Some(layout),
                vertex: wgpu::VertexState {
                    module: &shader,
                    entry_point: Some(vertex),
                    compilation_options: Default::default(),
                    buffers,
                },
                primitive: wgpu::PrimitiveState::default(),
                depth_stencil: None,
                multisample: wgpu::MultisampleState::default(),
                fragment: Some(wgpu::FragmentState {
                    module: &shader,
                    entry_point: Some(fragment),
                    compilation_options: Default::default(),
                    targets: &[Some(wgpu::ColorTargetState {
                        format: TARGET_FORMAT,
                        blend,
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            })
        };
        let layer_pipeline = pipeline(
            "layer",
            &plain_layout,
            "vs_layer",
            "fs_layer",
            &buffers,
            Some(over),
        );
        let masked_pipeline = pipeline(
            "masked layer",
            &masked_layout,
            "vs_layer",
            "fs_layer_masked",
            &buffers,
            Some(over),
        );
        let background_pipeline = pipeline(
            "background",
            &background_layout,
            "vs_background",
            "fs_background",
            &[],
            None,
        );

        // Textures, indices and texture coordinates: uploaded once.
        let slots = mask_slots(&avatar);
        let mut indices: Vec<u32> = Vec::new();
        let mut uvs: Vec<[f32; 2]> = Vec::new();
        let mut layers = Vec::with_capacity(avatar.layers.len());
        for (i, layer) in avatar.layers.iter().enumerate() {
            let texture = mip_texture(&layer.texture, mip);
            let gpu_texture = device.create_texture_with_data(
                &queue,
                &wgpu::TextureDescriptor {
                    label: Some(&layer.name),
                    size: wgpu::Extent3d {
                        width: texture.width,
                        height: texture.height,
                        depth_or_array_layers: 1,
                    },
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format: wgpu::TextureFormat::Rgba8Unorm,
                    usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                    view_formats: &[],
                },
                wgpu::util::TextureDataOrder::LayerMajor,
                &texture.rgba,
            );
            let view = gpu_texture.create_view(&Default::default());
            let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(&layer.name),
                layout: &texture_layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: wgpu::BindingResource::TextureView(&view),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: wgpu::BindingResource::Sampler(&sampler),
                    },
                ],
            });
            let start = indices.len() as u32;
            for tri in visible_triangles(&layer.mesh.triangles, &layer.mesh.uv, &texture) {
                indices.extend_from_slice(&tri);
            }
            layers.push(GpuLayer {
                bind_group,
                indices: start..indices.len() as u32,
                base_vertex: uvs.len() as i32,
                clip_slot: layer.mask.and_then(|m| slots[m]),
                mask_slot: slots[i],
            });
            uvs.extend_from_slice(&layer.mesh.uv);
        }
        let masks = slots
            .iter()
            .flatten()
            .map(|_| {
                let texture = device.create_texture(&wgpu::TextureDescriptor {
                    label: Some("mask coverage"),
                    size: wgpu::Extent3d {
                        width,
                        height,
                        depth_or_array_layers: 1,
                    },
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format: TARGET_FORMAT,
                    usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
                    view_formats: &[],
                });
                let view = texture.create_view(&Default::default());
                let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("mask"),
                    layout: &mask_layout,
                    entries: &[wgpu::BindGroupEntry {
                        binding: 0,
                        resource: wgpu::BindingResource::TextureView(&view),
                    }],
                });
                (view, bind_group)
            })
            .collect();
        // An empty index buffer is not allowed; one unused index keeps the code uniform.
        if indices.is_empty() {
            indices.push(0);
        }
        let index_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("indices"),
            contents: bytemuck::cast_slice(&indices),
            usage: wgpu::BufferUsages::INDEX,
        });
        let uv_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("uvs"),
            contents: bytemuck::cast_slice(&uvs),
            usage: wgpu::BufferUsages::VERTEX,
        });
        let positions = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("positions"),
            size: (uvs.len() * 8) as u64,
            usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let target = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("frame"),
            size: wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: TARGET_FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let target_view = target.create_view(&Default::default());
        let padded_row_bytes = (width * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: padded_row_bytes as u64 * height as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let staging = vec![[0.0; 2]; uvs.len()];
        let deformer = Deformer::new(&avatar, placement);
        let renderer = GpuRenderer {
            avatar,
            deformer,
            width,
            height,
            device,
            queue,
            adapter: adapter_info,
            layers,
            layer_pipeline,
            masked_pipeline,
            background_pipeline,
            frame_bind_group,
            masks,
            target,
            target_view,
            positions,
            uvs: uv_buffer,
            index_buffer,
            readback,
            padded_row_bytes,
            staging,
            device_error,
        };
        renderer.check_device()?;
        Ok(renderer)
    }

    /// The adapter this renderer draws on.
    pub fn adapter(&self) -> &AdapterInfo {
        &self.adapter
    }

    pub fn placement(&self) -> &Placement {
        self.deformer.placement()
    }

    fn check_device(&self) -> Result<(), RenderError> {
        match self.device_error.lock().expect("never poisoned").clone() {
            Some(error) => Err(RenderError::Gpu(format!("the GPU reported an error: {error}"))),
            None => Ok(()),
        }
    }

    fn draw_layer(&self, pass: &mut wgpu::RenderPass, index: usize) {
        let layer = &self.layers[index];
        if layer.indices.is_empty() {
            return;
        }
        match layer.clip_slot {
            Some(slot) => {
                pass.set_pipeline(&self.masked_pipeline);
                pass.set_bind_group(2, &self.masks[slot].1, &[]);
            }
            None => pass.set_pipeline(&self.layer_pipeline),
        }
        pass.set_bind_group(1, &layer.bind_group, &[]);
        pass.draw_indexed(layer.indices.clone(), layer.base_vertex, 0..1);
    }
}

fn colour(c: [u8; 3]) -> [f32; 4] {
    [c[0] as f32 / 255.0, c[1] as f32 / 255.0, c[2] as f32 / 255.0, 1.0]
}

impl Renderer for GpuRenderer {
    fn width(&self) -> u32 {
        self.width
    }

    fn height(&self) -> u32 {
        self.height
    }

    fn backend(&self) -> &'static str {
        "gpu"
    }

    fn render(&mut self, pose: &MotionVector, out: &mut VideoFrame) -> Result<(), RenderError> {
        self.check_device()?;
        out.resize(self.width, self.height);
        self.deformer.deform(&self.avatar, pose);
        let mut offset = 0;
        for i in 0..self.avatar.layers.len() {
            let layer = self.deformer.layer(i);
            self.staging[offset..offset + layer.len()].copy_from_slice(layer);
            offset += layer.len();
        }
        self.queue
            .write_buffer(&self.positions, 0, bytemuck::cast_slice(&self.staging));

        let mut encoder = self.device.create_command_encoder(&Default::default());
        let clear = |view| wgpu::RenderPassColorAttachment {
            view,
            depth_slice: None,
            resolve_target: None,
            ops: wgpu::Operations {
                load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                store: wgpu::StoreOp::Store,
            },
        };
        let begin = |encoder: &mut wgpu::CommandEncoder, view| {
            let mut pass = encoder
                .begin_render_pass(&wgpu::RenderPassDescriptor {
                    label: None,
                    color_attachments: &[Some(clear(view))],
                    depth_stencil_attachment: None,
                    timestamp_writes: None,
                    occlusion_query_set: None,
                    multiview_mask: None,
                })
                .forget_lifetime();
            pass.set_bind_group(0, &self.frame_bind_group, &[]);
            pass.set_vertex_buffer(0, self.positions.slice(..));
            pass.set_vertex_buffer(1, self.uvs.slice(..));
            pass.set_index_buffer(self.index_buffer.slice(..), wgpu::IndexFormat::Uint32);
            pass
        };
        // Coverage of each mask layer, then the frame.
        for (i, layer) in self.layers.iter().enumerate() {
            if let Some(slot) = layer.mask_slot {
                let mut pass = begin(&mut encoder, &self.masks[slot].0);
                self.draw_layer(&mut pass, i);
            }
        }
        {
            let mut pass = begin(&mut encoder, &self.target_view);
            pass.set_pipeline(&self.background_pipeline);
            pass.draw(0..3, 0..1);
            for i in 0..self.layers.len() {
                self.draw_layer(&mut pass, i);
            }
        }
        encoder.copy_texture_to_buffer(
            self.target.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &self.readback,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(self.padded_row_bytes),
                    rows_per_image: Some(self.height),
                },
            },
            wgpu::Extent3d {
                width: self.width,
                height: self.height,
                depth_or_array_layers: 1,
            },
        );
        self.queue.submit([encoder.finish()]);

        let (tx, rx) = std::sync::mpsc::channel();
        self.readback.map_async(wgpu::MapMode::Read, .., move |result| {
            let _ = tx.send(result);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| RenderError::Gpu(format!("waiting for the frame failed: {e}")))?;
        rx.recv()
            .map_err(|_| RenderError::Gpu("the frame's readback was dropped".into()))?
            .map_err(|e| RenderError::Gpu(format!("could not read the frame back: {e}")))?;
        {
            let mapped = self
                .readback
                .get_mapped_range(..)
                .map_err(|e| RenderError::Gpu(format!("could not read the frame back: {e}")))?;
            let row = self.width as usize * 4;
            for (y, out_row) in out.rgba.chunks_exact_mut(row).enumerate() {
                let start = y * self.padded_row_bytes as usize;
                out_row.copy_from_slice(&mapped[start..start + row]);
            }
        }
        self.readback.unmap();
        self.check_device()
    }

    fn mouth_region(&self) -> (u32, u32, u32, u32) {
        self.placement().rect_px(&self.avatar.regions.mouth)
    }
}
