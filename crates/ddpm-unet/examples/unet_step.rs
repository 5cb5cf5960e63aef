//! Times one training step (forward + MSE + backward + Adam) and one tape-free forward pass of
//! a preset UNet at batch 64 and 128 — the figures `bench/compare.py` compares with PyTorch —
//! and reports the CPU it ran on and the process's peak memory.
//!
//! `cargo run --release -p ddpm-unet --example unet_step -- [small|base] [BATCH …]`
use std::time::Instant;

use ddpm_unet::dfdx::optim::{Adam, AdamConfig};
use ddpm_unet::dfdx::prelude::*;
use ddpm_unet::{ConvDevice, DeviceUNet, MnistUNet, SmallUNet};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The CPU's model name and its widest vector extension, from /proc/cpuinfo.
fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "unknown".into())
    };
    let flags = field("flags");
    let has = |f: &str| flags.split(' ').any(|x| x == f);
    let vector = if has("avx512f") {
        "AVX-512"
    } else if has("avx2") {
        "AVX2"
    } else {
        "no AVX2"
    };
    let threads = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{} ({vector}, {threads} threads)", field("model name"))
}

/// The process's peak resident memory in MB, from /proc/self/status.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn bench<
    const C1: usize,
    const C2: usize,
    const C12: usize,
    const C22: usize,
    const TE: usize,
    const H: usize,
    const G: usize,
>(
    mut model: DeviceUNet<C1, C2, C12, C22, TE, H, G, f32, Cpu>,
    batches: &[usize],
) where
    DeviceUNet<C1, C2, C12, C22, TE, H, G, f32, Cpu>: TensorCollection<f32, Cpu>,
    Cpu: ConvDevice,
{
    let dev = model.conv_in.weight.device().clone();
    println!("{} parameters", model.num_trainable_params());
    let mut opt = Adam::new(
        &model,
        AdamConfig {
            lr: 2e-4,
            ..Default::default()
        },
    );
    let mut grads = model.alloc_grads();
    for &batch in batches {
        let x: Tensor<(usize, usize, usize, usize), f32, Cpu> =
            dev.sample_normal_like(&(batch, 1, 28, 28));
        let target: Tensor<(usize, usize, usize, usize), f32, Cpu> =
            dev.sample_normal_like(&(batch, 1, 28, 28));
        let ts: Vec<usize> = (0..batch).map(|i| 1 + (i * 997) % 1000).collect();
        let (mut train, mut fwd) = (Vec::new(), Vec::new());
        for i in 0..7 {
            let t = Instant::now();
            let y = model.forward(x.clone().traced(grads), &ts);
            let loss = (y - target.clone()).square().mean();
            grads = loss.backward();
            opt.update(&mut model, &grads).unwrap();
            model.zero_grads(&mut grads);
            let t_train = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let _ = model.forward(x.clone(), &ts);
            // The first step warms up allocators and caches, as in bench/unet.py.
            if i > 0 {
                train.push(t_train);
                fwd.push(t.elapsed().as_secs_f64());
            }
        }
        println!(
            "batch {batch}: train step {:.3} s, forward {:.3} s (medians of 6)",
            median(train),
            median(fwd)
        );
    }
    println!("peak memory {:.0} MB", peak_rss_mb());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset = args.first().map_or("base", String::as_str);
    let batches: Vec<usize> = if args.len() > 1 {
        args[1..]
            .iter()
            .map(|b| b.parse().expect("a batch size"))
            .collect()
    } else {
        vec![64, 128]
    };
    ddpm_unet::keep_freed_memory();
    println!("cpu: {}", cpu());
    let dev: Cpu = Cpu::seed_from_u64(0);
    print!("preset {preset}: ");
    match preset {
        "small" => bench(dev.build_module::<SmallUNet, f32>(), &batches),
        "base" => bench(dev.build_module::<MnistUNet, f32>(), &batches),
        other => panic!("unknown preset {other}: small or base"),
    }
}
