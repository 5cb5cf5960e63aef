//! Where a checkpoint's bits/dim come from: chapter 4's bound on held-out test digits, summed
//! over ranges of steps t. `cargo run --release -p ddpm-train --example where_the_bits_go --
//! CHECKPOINT [IMAGES]` (default 8 images; the same held-out digits as `ddpm eval`).

use std::path::PathBuf;

use ddpm_data::{Dataset, Split};
use ddpm_sampling::Diffusion;
use ddpm_train::checkpoint::read_config;
use ddpm_train::eval::{bound_terms, split_test};
use ddpm_train::{load_checkpoint, with_preset, Checkpoint};
use dfdx::prelude::*;
use rand::SeedableRng;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: where_the_bits_go CHECKPOINT [IMAGES]"))?,
    );
    let count: usize = args.next().map_or(Ok(8), |a| a.parse())?;
    let config = read_config(&path)?;
    let s = config.noise_schedule();
    let test = Dataset::load("data/mnist", Split::Test)?;
    let (_, held_out) = split_test(&test, 5000, count);
    let dev = Cpu::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let terms = with_preset!(config.preset, Cpu, Net => {
        let ckpt: Checkpoint<Net> = load_checkpoint(&dev, &path)?;
        let d = Diffusion { objective: config.objective, ..Diffusion::new(&s) };
        bound_terms(&dev, &ckpt.ema, &d, &held_out, &mut rng, None)
    });
    // Entry 0 is L_0 (t = 1), entry t − 1 is L_{t−1}, the last is L_T.
    let by_term = terms.mean_bits_per_dim_by_term();
    let t_max = s.t_max();
    let sum = |a: usize, b: usize| by_term[a..b].iter().sum::<f64>();
    println!(
        "{} ({}, {} schedule): bits/dim on {count} test digits, σ² = β unless learned",
        path.display(),
        config.preset,
        config.schedule
    );
    // Ranges of steps (capped at T: beyond a small T they are empty), then the prior.
    for (label, a, b) in [
        ("L_0, the decoder (t = 1)", 0, 1),
        ("t = 2..10", 1, 10),
        ("t = 11..100", 10, 100),
        ("t = 101..900", 100, 900),
        ("t = 901..T", 900, t_max),
    ] {
        let (a, b) = (a.min(t_max), b.min(t_max));
        println!("  {label:<26} {:.3}", sum(a, b.max(a)));
    }
    println!("  {:<26} {:.3}", "L_T, the prior", sum(t_max, t_max + 1));
    println!("  {:<26} {:.3}", "all", sum(0, t_max + 1));
    Ok(())
}
