//! Times the fast CPU convolution (forward, and forward + backward) on one UNet-sized layer.
//! `cargo run --release -p ddpm-unet --example conv_speed`
use std::time::Instant;

use ddpm_unet::conv2d;
use ddpm_unet::dfdx::prelude::*;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let dev: Cpu = Default::default();
    let (b, c, o, h) = (64, 64, 64, 28);
    let x: Tensor<(usize, usize, usize, usize), f32, Cpu> = dev.sample_normal_like(&(b, c, h, h));
    let w: Tensor<Rank4<64, 64, 3, 3>, f32, Cpu> = dev.sample_normal();
    let bias: Tensor<Rank1<64>, f32, Cpu> = dev.zeros();
    let flops = 2.0 * (b * o * c * 9 * h * h) as f64;
    let mut fwd = Vec::new();
    let mut both = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let y = conv2d(x.clone(), &w, &bias, 1, 1);
        fwd.push(t.elapsed().as_secs_f64());
        drop(y);
        let t = Instant::now();
        let g = conv2d(x.leaky_trace(), &w, &bias, 1, 1).sum().backward();
        both.push(t.elapsed().as_secs_f64());
        drop(g);
    }
    let (f, fb) = (median(fwd), median(both));
    println!("conv 3x3, {b}x{c}x{h}x{h} -> {o} channels: forward {:.1} ms ({:.1} GFLOP/s), forward+backward {:.1} ms", f * 1e3, flops / f / 1e9, fb * 1e3);
}
