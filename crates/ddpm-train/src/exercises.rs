//! Chapter 8's coding exercises. `cargo xtask exercises start 08` copies this file with the
//! bodies between the SOLUTION markers taken out into `exercises/ch08/`, where `cargo test`
//! grades an attempt with the tests below — the same tests that check these reference
//! solutions here.

use ddpm_forward::Rows;
use ddpm_sampling::Denoiser;
use ddpm_schedule::rand::rngs::StdRng;
use ddpm_schedule::{randn, Schedule};
use ddpm_train::dfdx::prelude::*;
use ddpm_train::DiffusionNet;

/// Exercise 8.1: the course's learning rate at `step` (counted from 0) of a run of `steps`
/// steps: a linear warm-up to `peak` over the first `warmup` steps (step k gets
/// peak · (k + 1)/warmup), then a cosine from `peak` down to a tenth of it at the last step:
/// peak · (0.1 + 0.9 · ½(1 + cos(π p))) with p = (step − warmup)/(steps − warmup).
pub fn learning_rate_at(step: usize, steps: usize, warmup: usize, peak: f64) -> f64 {
    // SOLUTION START
    // WRONG (the warm-up starting at 0 (step k gets k/warmup)): `(step + 1) as f64` -> `step as f64`
    // WRONG (decaying to 0, not a tenth): `0.1 + 0.9 * 0.5` -> `0.5`
    // WRONG (one warm-up step too many): `if step < warmup` -> `if step <= warmup`
    // WRONG (the cosine's progress counted from step 0): `(step - warmup) as f64` -> `step as f64`
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let p = ((step - warmup) as f64 / (steps - warmup).max(1) as f64).min(1.0);
    peak * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * p).cos()))
    // SOLUTION END
}

/// Exercise 8.2: one update of the moving average of the weights after step `step` (counted
/// from 0): θ̄ ← d θ̄ + (1 − d) θ, element by element, with the course's decay
/// d = min(`max_decay`, (1 + step)/(10 + step)).
pub fn ema_step(average: &mut [f32], weights: &[f32], step: usize, max_decay: f64) {
    // SOLUTION START
    // WRONG (no warm-up of the decay): `max_decay.min((1 + step) as f64 / (10 + step) as f64)` -> `max_decay`
    // WRONG (the weights swapped): `d * *a as f64 + (1.0 - d) * w as f64` -> `(1.0 - d) * *a as f64 + d * w as f64`
    // WRONG (the larger decay, not the smaller): `max_decay.min(` -> `max_decay.max(`
    // WRONG (the step counted from 1): `(1 + step) as f64 / (10 + step)` -> `step as f64 / (9 + step)`
    let d = max_decay.min((1 + step) as f64 / (10 + step) as f64);
    for (a, &w) in average.iter_mut().zip(weights) {
        *a = (d * *a as f64 + (1.0 - d) * w as f64) as f32;
    }
    // SOLUTION END
}

/// Exercise 8.3: the loss and gradients of one step of Algorithm 1 on a UNet. Given a batch of
/// images `x0` (rows `[B, 784]` in [−1, 1]), each image's step in `ts` and its noise in `eps`
/// (`[B, 784]`): form x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (each row with its own t), run the network
/// on x_t as `[B, 1, 28, 28]` images carrying a fresh gradient tape (`model.alloc_grads()`,
/// `traced`) at steps `ts` (`model.predict`), and return L_simple — the mean of (ε̂ − ε)² over
/// every number — with the gradients `backward` gives.
pub fn algorithm1_loss<M: DiffusionNet<Cpu>>(
    model: &M,
    s: &Schedule,
    x0: &Rows<Cpu>,
    ts: &[usize],
    eps: &Rows<Cpu>,
) -> (f32, Gradients<f32, Cpu>) {
    // SOLUTION START
    // WRONG (ᾱ_t for √ᾱ_t on x_0): `s.alpha_bar(t).sqrt() as f32` -> `s.alpha_bar(t) as f32`
    // WRONG (the variance for the standard deviation on ε): `(1.0 - s.alpha_bar(t)).sqrt() as f32` -> `(1.0 - s.alpha_bar(t)) as f32`
    // WRONG (x_0 regressed, not ε): `(out - eps.clone())` -> `(out - x0.clone())`
    // WRONG (the network told step t − 1): `.traced(grads), ts)` -> `.traced(grads), &ts.iter().map(|t| t - 1).collect::<Vec<_>>())`
    // WRONG (a sum, not a mean): `.square().mean()` -> `.square().sum()`
    // WRONG (every image at the first image's step): `ts.iter().map(|&t|` -> `ts.iter().map(|_| ts[0]).map(|t|`
    let (b, n) = *x0.shape();
    let dev = x0.device().clone();
    let per_row = |v: Vec<f32>| {
        dev.tensor_from_vec(v, (b,))
            .broadcast_like::<_, Axis<1>>(&(b, n))
    };
    let signal = per_row(ts.iter().map(|&t| s.alpha_bar(t).sqrt() as f32).collect());
    let noise = per_row(
        ts.iter()
            .map(|&t| (1.0 - s.alpha_bar(t)).sqrt() as f32)
            .collect(),
    );
    let x_t = x0.clone() * signal + eps.clone() * noise;
    let grads = model.alloc_grads();
    let out = model
        .predict(x_t.reshape_like(&(b, 1, 28, 28)).traced(grads), ts)
        .reshape_like(&(b, n));
    let loss = (out - eps.clone()).square().mean();
    (loss.array(), loss.backward())
    // SOLUTION END
}

/// Exercise 8.4: Algorithm 2 on images. Draw x_T ~ N(0, I) of `shape` (`randn(&dev, shape,
/// rng)`), then for t = T, …, 1: ε̂ = ε_θ(x_t, t) (`model.denoise`, every row at step t),
/// x_{t−1} = (x_t − β_t/√(1 − ᾱ_t) · ε̂)/√α_t + σ_t z with σ_t² = β_t and z drawn the same way
/// (only for t > 1: the last step adds no noise). Return x_0. Draw in exactly that order, so
/// the same seed gives the crate's sampler's digits.
pub fn algorithm2(
    model: &dyn Denoiser<Cpu>,
    s: &Schedule,
    shape: (usize, usize),
    rng: &mut StdRng,
) -> Rows<Cpu> {
    // SOLUTION START
    // WRONG (noise added at t = 1 too): `if t > 1` -> `if t > 0`
    // WRONG (β_t for σ_t = √β_t on the noise): `let sigma = s.beta(t).sqrt() as f32;` -> `let sigma = s.beta(t) as f32;`
    // WRONG (the network told step t − 1): `&vec![t; shape.0]` -> `&vec![t - 1; shape.0]`
    // WRONG (√ᾱ_t for √α_t): `/ s.alpha(t).sqrt() as f32` -> `/ s.alpha_bar(t).sqrt() as f32`
    // WRONG (the steps run upward, 1 to T): `(1..=s.t_max()).rev()` -> `(1..=s.t_max())`
    let dev = Cpu::default();
    let mut x: Rows<Cpu> = randn(&dev, shape, rng);
    for t in (1..=s.t_max()).rev() {
        let eps = model.denoise(x.clone(), &vec![t; shape.0]);
        let coef = (s.beta(t) / (1.0 - s.alpha_bar(t)).sqrt()) as f32;
        let mean = (x - eps * coef) / s.alpha(t).sqrt() as f32;
        x = if t > 1 {
            let sigma = s.beta(t).sqrt() as f32;
            let z: Rows<Cpu> = randn(&dev, shape, rng);
            mean + z * sigma
        } else {
            mean
        };
    }
    x
    // SOLUTION END
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_sampling::{Ancestral, SampleOptions, Sampler};
    use ddpm_schedule::rand::SeedableRng;
    use ddpm_schedule::BetaSchedule;
    use ddpm_train::net::TinyNet;
    use ddpm_train::TrainConfig;

    /// Against the run's own schedule (`TrainConfig::learning_rate`) at every step of two runs.
    #[test]
    fn exercise_8_1_learning_rate_at() {
        for (steps, warmup, lr) in [(1000, 100, 2e-3), (1202, 171, 2e-3), (50, 1, 1.0)] {
            let c = TrainConfig {
                steps,
                warmup,
                lr,
                ..Default::default()
            };
            for step in 0..steps {
                let (got, want) = (
                    learning_rate_at(step, steps, warmup, lr),
                    c.learning_rate(step),
                );
                assert!(
                    (got - want).abs() < 1e-12 * lr,
                    "step {step}: {got} vs {want}"
                );
            }
        }
    }

    /// The decay against `TrainConfig::ema_decay_at`, and problem 8.2's closed form: averaging
    /// zeros into a start of ones leaves 9!/((n+1)(n+2)⋯(n+9)) after n steps.
    #[test]
    fn exercise_8_2_ema_step() {
        let c = TrainConfig::default();
        for step in [0, 1, 5, 100, 8989, 8990, 20_000] {
            let mut avg = [1.0f32];
            ema_step(&mut avg, &[0.0], step, c.ema_decay);
            let d = c.ema_decay_at(step);
            assert!((avg[0] as f64 - d).abs() < 1e-6, "step {step}: decay {d}");
        }
        let mut avg = vec![1.0f32; 3];
        let n = 50;
        for step in 0..n {
            ema_step(&mut avg, &[0.0, 0.0, 0.0], step, 0.999);
        }
        let want = (1..=9).map(|i| i as f64 / (n + i) as f64).product::<f64>();
        for a in avg {
            assert!((a as f64 / want - 1.0).abs() < 1e-4, "{a} vs {want}");
        }
    }

    /// Against the training loop's own path (chapter 3's `q_sample`, the UNet's `predict`,
    /// chapter 5's `l_simple`) on an untrained tiny UNet: the loss, and the gradients of the
    /// first convolution and of the time embedding's first layer, for three images at steps 1,
    /// 500 and 1000.
    #[test]
    fn exercise_8_3_algorithm1_loss() {
        let dev: Cpu = Cpu::seed_from_u64(83);
        let model = dev.build_module::<TinyNet, f32>();
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let mut rng = StdRng::seed_from_u64(83);
        let x0: Rows<Cpu> = randn(&dev, (3, 784), &mut rng).clamp(-1.0, 1.0);
        let eps: Rows<Cpu> = randn(&dev, (3, 784), &mut rng);
        let ts = [1, 500, 1000];
        let x_t = ddpm_forward::q_sample(&s, &x0, &ts, &eps);
        let out = model
            .predict(
                x_t.reshape_like(&(3, 1, 28, 28))
                    .traced(model.alloc_grads()),
                &ts,
            )
            .reshape_like(&(3, 784));
        let want = ddpm_loss::l_simple(out, &eps);
        let want_loss = want.array();
        let want_grads = want.backward();
        let (loss, grads) = algorithm1_loss(&model, &s, &x0, &ts, &eps);
        assert!(
            (loss - want_loss).abs() < 1e-5 * want_loss.abs().max(1.0),
            "loss {loss} vs {want_loss}"
        );
        let close = |name: &str, a: Vec<f32>, b: Vec<f32>| {
            let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let d = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .map(|d| if d.is_nan() { f32::INFINITY } else { d })
                .fold(0.0, f32::max);
            assert!(
                d <= 1e-4 * scale.max(1e-6),
                "{name}: largest difference {d} of {scale}"
            );
        };
        close(
            "conv_in",
            grads.get(&model.conv_in.weight).as_vec(),
            want_grads.get(&model.conv_in.weight).as_vec(),
        );
        close(
            "time1",
            grads.get(&model.time1.weight).as_vec(),
            want_grads.get(&model.time1.weight).as_vec(),
        );
    }

    /// Against the crate's Algorithm 2 (`Ancestral`, σ_t² = β_t) with the same seed, on an
    /// untrained tiny UNet and a 50-step schedule: two 28×28 images, within 10⁻³ (50 network
    /// calls of `f32` sums in other orders).
    #[test]
    fn exercise_8_4_algorithm2() {
        let dev: Cpu = Cpu::seed_from_u64(84);
        let model = dev.build_module::<TinyNet, f32>();
        let s = Schedule::new(BetaSchedule::Linear, 50).unwrap();
        let want = Ancestral
            .sample(
                &dev,
                &model,
                &s,
                (2, 784),
                &mut StdRng::seed_from_u64(84),
                &SampleOptions::default(),
            )
            .x0;
        let got = algorithm2(&model, &s, (2, 784), &mut StdRng::seed_from_u64(84)).as_vec();
        let d = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .map(|d| if d.is_nan() { f32::INFINITY } else { d })
            .fold(0.0f32, f32::max);
        assert!(d < 1e-3, "largest difference {d}");
    }
}
