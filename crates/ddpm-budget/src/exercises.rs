//! Chapter 10's coding exercises. `cargo xtask exercises start 10` copies this file with the
//! bodies between the SOLUTION markers taken out into `exercises/ch10/`, where `cargo test`
//! grades an attempt with the tests below — the same tests that check these reference
//! solutions here.

/// Exercise 10.1: how much each objective's squared error weighs the x₀ error, at a step whose
/// signal-to-noise ratio is `snr` = ᾱ_t/(1 − ᾱ_t): `objective` is "eps", "x0" or "v".
pub fn x0_weight(objective: &str, snr: f64) -> f64 {
    // SOLUTION START
    // WRONG (ε's weight upside down): `"eps" => snr,` -> `"eps" => 1.0 / snr,`
    // WRONG (v weighed like ε): `"v" => 1.0 + snr,` -> `"v" => snr,`
    // WRONG (x₀ weighed like v): `"x0" => 1.0,` -> `"x0" => 1.0 + snr,`
    // WRONG (v's weight from the noise's side): `"v" => 1.0 + snr,` -> `"v" => 1.0 + 1.0 / snr,`
    match objective {
        "eps" => snr,
        "x0" => 1.0,
        "v" => 1.0 + snr,
        other => panic!("no objective {other}"),
    }
    // SOLUTION END
}

/// Exercise 10.2: the min-SNR-γ weight (Hang et al. 2023) that multiplies an objective's
/// squared error so that the x₀ error counts min(SNR_t, γ). Use your [`x0_weight`].
pub fn min_snr_weight(objective: &str, snr: f64, gamma: f64) -> f64 {
    // SOLUTION START
    // WRONG (the larger of the two): `snr.min(gamma)` -> `snr.max(gamma)`
    // WRONG (the objective's own weight not divided out): `snr.min(gamma) / x0_weight(objective, snr)` -> `snr.min(gamma)`
    // WRONG (γ/SNR, the ε form, for every objective): `snr.min(gamma) / x0_weight(objective, snr)` -> `gamma.min(snr) / snr`
    snr.min(gamma) / x0_weight(objective, snr)
    // SOLUTION END
}

/// Exercise 10.3: the quickstart's plan. Of `budget` seconds, `spent` are gone (loading and
/// measuring), `reserve` are kept back, and sampling takes `sample_calls` network calls of
/// `call_secs` each; a training step takes `step_secs`. Return the training steps that fit
/// (whole steps, rounded down), but never fewer than `min_steps`.
pub fn steps_in_budget(
    budget: f64,
    spent: f64,
    reserve: f64,
    sample_calls: usize,
    call_secs: f64,
    step_secs: f64,
    min_steps: usize,
) -> usize {
    // SOLUTION START
    // WRONG (rounded up: the last step overruns): `.floor()` -> `.ceil()`
    // WRONG (the sampling's time forgotten): `- sample_calls as f64 * call_secs` -> `- 0.0`
    // WRONG (the reserve spent on training): `- reserve` -> `- 0.0`
    // WRONG (no floor of min_steps): `.max(min_steps)` -> `.max(0)`
    let left = budget - spent - reserve - sample_calls as f64 * call_secs;
    ((left / step_secs).floor().max(0.0) as usize).max(min_steps)
    // SOLUTION END
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_budget::weighting::Weighting;
    use ddpm_loss::Objective;
    use ddpm_schedule::{BetaSchedule, Schedule};
    use ddpm_train::quickstart::{Plan, MIN_STEPS};

    fn objectives() -> [(&'static str, Objective); 3] {
        [
            ("eps", Objective::Eps),
            ("x0", Objective::X0),
            ("v", Objective::V),
        ]
    }

    /// Your weight against the crate's, at steps from almost clean to almost pure noise.
    #[test]
    fn exercise_10_1_x0_weight() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        for t in [1, 50, 300, 600, 1000] {
            for (name, o) in objectives() {
                let want = o.x0_loss_factor(&s, t);
                let got = x0_weight(name, s.snr(t));
                assert!(
                    (got - want).abs() <= 1e-9 * want,
                    "{name} at t = {t}: {got} vs {want}"
                );
            }
        }
    }

    /// Your weight times the objective's own factor must give min(SNR, γ), for every objective,
    /// on both sides of γ; and it must match the crate's.
    #[test]
    fn exercise_10_2_min_snr_weight() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        for t in [1, 50, 300, 600, 1000] {
            for (name, o) in objectives() {
                let got = min_snr_weight(name, s.snr(t), 5.0);
                let want = Weighting {
                    objective: o,
                    min_snr: 5.0,
                }
                .x0_weight(&s, t)
                    / o.x0_loss_factor(&s, t);
                assert!(
                    (got - want).abs() <= 1e-9 * want,
                    "{name} at t = {t}: {got} vs {want}"
                );
            }
        }
    }

    /// Your plan against the quickstart's own, on a fast machine, a slow one and one too slow
    /// for the budget.
    #[test]
    fn exercise_10_3_steps_in_budget() {
        for (step_secs, call_secs) in [(0.3, 0.1), (0.394, 0.122), (2.5, 2.0), (9.0, 0.5)] {
            let plan = Plan {
                train_step: step_secs,
                sample_call: call_secs,
                sample_calls: 50,
                spent: 5.0,
                reserve: 40.0,
                budget: 600.0,
                steps: 0,
                warmup: 0,
            }
            .choose();
            let got = steps_in_budget(600.0, 5.0, 40.0, 50, call_secs, step_secs, MIN_STEPS);
            assert_eq!(
                got, plan.steps,
                "{step_secs} s per step, {call_secs} s per call"
            );
        }
    }
}
