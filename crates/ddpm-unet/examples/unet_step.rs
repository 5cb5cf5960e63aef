//! Times one training step (forward + backward + Adam) and one forward pass of the default
//! MNIST UNet at batch 64 and 128 — the figures the chapter's benchmark compares with PyTorch.
//! `cargo run --release -p ddpm-unet --example unet_step`
use std::time::Instant;

use ddpm_unet::dfdx::optim::{Adam, AdamConfig};
use ddpm_unet::dfdx::prelude::*;
use ddpm_unet::MnistUNet;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let dev: Cpu = Cpu::seed_from_u64(0);
    let mut model = dev.build_module::<MnistUNet, f32>();
    println!("MnistUNet: {} parameters", model.num_trainable_params());
    let mut opt = Adam::new(
        &model,
        AdamConfig {
            lr: 2e-4,
            ..Default::default()
        },
    );
    let mut grads = model.alloc_grads();
    for batch in [64, 128] {
        let x: Tensor<(usize, usize, usize, usize), f32, Cpu> =
            dev.sample_normal_like(&(batch, 1, 28, 28));
        let target: Tensor<(usize, usize, usize, usize), f32, Cpu> =
            dev.sample_normal_like(&(batch, 1, 28, 28));
        let ts: Vec<usize> = (0..batch).map(|i| 1 + (i * 997) % 1000).collect();
        let (mut train, mut fwd) = (Vec::new(), Vec::new());
        for _ in 0..6 {
            let t = Instant::now();
            let y = model.forward(x.clone().traced(grads), &ts);
            let loss = (y - target.clone()).square().mean();
            grads = loss.backward();
            opt.update(&mut model, &grads).unwrap();
            model.zero_grads(&mut grads);
            train.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let _ = model.forward(x.clone(), &ts);
            fwd.push(t.elapsed().as_secs_f64());
        }
        println!(
            "batch {batch}: train step {:.3} s, forward {:.3} s (medians of 6)",
            median(train),
            median(fwd)
        );
    }
}
