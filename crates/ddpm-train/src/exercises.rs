//! Chapter 8's coding exercises. `cargo xtask exercises start 08` copies this file with the
//! bodies between the SOLUTION markers taken out into `exercises/ch08/`, where `cargo test`
//! grades an attempt with the tests below — the same tests that check these reference
//! solutions here.

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

#[cfg(test)]
mod tests {
    use super::*;
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
}
