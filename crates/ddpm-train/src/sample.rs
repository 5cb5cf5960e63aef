//! Algorithm 2 on images: from x_T ~ N(0, I) to digits, keeping frames for the animation.

use ddpm_data::{image_grid, unit_to_pixels, Images};
use ddpm_plot::{animated_gif, encode_png, Gif, PlotError, Png};
use ddpm_schedule::{randn, Schedule};
use ddpm_unet::ConvDevice;
use ddpm_vlb::ModelVariance;
use dfdx::prelude::*;
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;

use crate::net::EpsNet;

/// The samples, and the whole batch at each kept step (from t = T down; t = 0 is the result).
#[derive(Clone, Debug)]
pub struct Samples {
    pub images: Images,
    pub frames: Vec<(usize, Images)>,
}

fn to_images(values: &[f32], n: usize) -> Images {
    Images {
        count: n,
        rows: 28,
        cols: 28,
        pixels: values.iter().map(|&x| unit_to_pixels(x)).collect(),
    }
}

// ANCHOR: algorithm2
/// Algorithm 2: x_T ~ N(0, I); for t = T, …, 1: x_{t−1} = (1/√α_t)(x_t − β_t/√(1 − ᾱ_t) ·
/// ε_θ(x_t, t)) + σ_t z with z ~ N(0, I) (z = 0 at t = 1). `n` images in one batch. (Chapter
/// 6's arguments, plus a progress-bar switch.)
#[allow(clippy::too_many_arguments)]
pub fn sample<D: ConvDevice, M: EpsNet<D>>(
    dev: &D,
    model: &M,
    s: &Schedule,
    n: usize,
    variance: ModelVariance,
    keep: &[usize],
    rng: &mut impl Rng,
    show_progress: bool,
) -> Samples {
    let shape = (n, 1, 28, 28);
    let mut x = randn(dev, (n, 784), rng).reshape_like(&shape);
    let mut frames = Vec::new();
    let bar = if show_progress {
        let b = ProgressBar::new(s.t_max() as u64);
        b.set_style(
            ProgressStyle::with_template(
                "sampling {bar:30} step {pos}/{len}  {per_sec}  eta {eta}",
            )
            .expect("valid template"),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    for t in (1..=s.t_max()).rev() {
        if keep.contains(&t) {
            frames.push((t, to_images(&x.as_vec(), n)));
        }
        let eps = model.eps(x.clone(), &vec![t; n]);
        let mean = (x - eps * (s.beta(t) / s.sqrt_one_minus_alpha_bar(t)) as f32)
            * (1.0 / s.alpha(t).sqrt()) as f32;
        x = if t > 1 {
            let z = randn(dev, (n, 784), rng).reshape_like(&shape);
            mean + z * variance.variance(s, t).sqrt() as f32
        } else {
            mean
        };
        bar.inc(1);
    }
    bar.finish_and_clear();
    let images = to_images(&x.as_vec(), n);
    if keep.contains(&0) {
        frames.push((0, images.clone()));
    }
    Samples { images, frames }
}
// ANCHOR_END: algorithm2

/// The steps an animation shows: denser near t = 0, where the digit takes shape.
pub fn animation_steps(t_max: usize, frames: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..frames)
        .map(|i| {
            let u = 1.0 - i as f64 / (frames - 1) as f64;
            (t_max as f64 * u * u).round() as usize
        })
        .collect();
    v.dedup();
    v
}

/// A grid of images as PNG (`cols` per row, each pixel drawn `scale`×`scale`).
pub fn grid_png(images: &Images, cols: usize, scale: u32) -> Result<Png, PlotError> {
    encode_png(image_grid(images, cols, 2, scale))
}

/// The denoising as an animated GIF: one grid per kept step (the last held 2 s).
pub fn denoising_gif(samples: &Samples, cols: usize, scale: u32) -> Result<Gif, PlotError> {
    let frames: Vec<RgbImage> = samples
        .frames
        .iter()
        .map(|(_, imgs)| image::DynamicImage::from(image_grid(imgs, cols, 2, scale)).to_rgb8())
        .collect();
    animated_gif(&frames, 80)
}
