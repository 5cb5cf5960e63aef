//! The ablation and guidance runs (`plans/ch09-ablation.plan`, `plans/ch09-guidance.plan`)
//! read back: each training run's folder holds `timing.json` and `loss.csv`, its evaluation's
//! folder `eval.json`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use ddpm_plot::thousands;

use crate::results::{Judgement, ResultsError};

/// One variant of the ablation: its run folder (under `results/ch09/ablation/`), what it changes
/// against `small`, the timing run (under `results/ch09/timing/`) that measured its speed
/// (`small`'s own for a change that leaves the network as it is), and the `small` timing run of
/// the same sitting that its speed is a ratio to (machines and days differ).
#[derive(Clone, Copy, Debug)]
pub struct Variant {
    pub run: &'static str,
    pub change: &'static str,
    pub timing: &'static str,
    pub timed_against: &'static str,
}

// ANCHOR: variants
/// The chapter's variants, in the table's order.
pub const VARIANTS: &[Variant] = &[
    Variant {
        run: "small",
        change: "`small` (the reference)",
        timing: "small",
        timed_against: "small",
    },
    Variant {
        run: "small-seed1",
        change: "`small` again, seed 1",
        timing: "small",
        timed_against: "small",
    },
    Variant {
        run: "deep",
        change: "deeper, narrower: 2 ResBlocks per level, 16/24 channels",
        timing: "deep",
        timed_against: "small",
    },
    Variant {
        run: "attn14",
        change: "more attention: at 14×14 as well",
        timing: "attn14",
        timed_against: "small",
    },
    Variant {
        run: "heads8",
        change: "more heads: 8 of 4 channels (not 4 of 8)",
        timing: "heads8",
        timed_against: "small",
    },
    Variant {
        run: "heads1",
        change: "fewer heads: 1 of 32 channels",
        timing: "heads1",
        timed_against: "small-heads",
    },
    Variant {
        run: "heads2",
        change: "fewer heads: 2 of 16 channels",
        timing: "heads2",
        timed_against: "small-heads",
    },
    Variant {
        run: "heads2x8",
        change: "heads of 8 channels, as `small`'s: 2 (attention 16 wide)",
        timing: "heads2x8",
        timed_against: "small-heads",
    },
    Variant {
        run: "heads2x8-seed1",
        change: "heads of 8 channels: 2, again, seed 1",
        timing: "heads2x8",
        timed_against: "small-heads",
    },
    Variant {
        run: "heads8x8",
        change: "heads of 8 channels, as `small`'s: 8 (attention 64 wide)",
        timing: "heads8x8",
        timed_against: "small-heads",
    },
    Variant {
        run: "adagn",
        change: "adaptive group norm (time as scale and shift)",
        timing: "adagn",
        timed_against: "small",
    },
    Variant {
        run: "cosine",
        change: "cosine schedule (Improved DDPM)",
        timing: "small",
        timed_against: "small",
    },
    Variant {
        run: "cosine-seed1",
        change: "cosine schedule again, seed 1",
        timing: "small",
        timed_against: "small",
    },
    Variant {
        run: "learned",
        change: "learned variances, L_hybrid (Improved DDPM)",
        timing: "learned",
        timed_against: "small-again",
    },
    Variant {
        run: "x0",
        change: "x₀-prediction",
        timing: "small",
        timed_against: "small",
    },
    Variant {
        run: "x0-seed1",
        change: "x₀-prediction again, seed 1",
        timing: "small",
        timed_against: "small",
    },
    Variant {
        run: "v",
        change: "v-prediction",
        timing: "small",
        timed_against: "small",
    },
    Variant {
        run: "v-seed1",
        change: "v-prediction again, seed 1",
        timing: "small",
        timed_against: "small",
    },
];
// ANCHOR_END: variants

/// What one variant's runs measured.
#[derive(Clone, Debug, PartialEq)]
pub struct VariantResult {
    pub run: String,
    pub change: String,
    pub parameters: usize,
    /// Its timing run's seconds per step over the `small` timing run's.
    pub time_ratio: Option<f64>,
    /// Mean training loss over the last 100 steps (on the run's own objective).
    pub final_loss: f64,
    pub steps: usize,
    /// Bits per dimension on held-out test digits, with its standard error.
    pub bits_per_dim: (f64, f64),
    pub samples: Judgement,
}

/// Where the plans put their runs.
pub fn ablation_dir(root: &Path) -> PathBuf {
    root.join("results").join("ch09").join("ablation")
}
pub fn timing_dir(root: &Path) -> PathBuf {
    root.join("results").join("ch09").join("timing")
}
pub fn guidance_dir(root: &Path) -> PathBuf {
    root.join("results").join("ch09").join("guidance")
}
pub fn fewsteps_dir(root: &Path) -> PathBuf {
    root.join("results").join("ch09").join("fewsteps")
}
pub fn defaults_dir(root: &Path) -> PathBuf {
    root.join("results").join("ch09").join("defaults")
}

#[derive(Deserialize)]
struct TimingJson {
    parameters: usize,
    seconds_per_step: f64,
}

#[derive(Deserialize)]
struct EvalJson {
    step: Option<usize>,
    #[serde(default)]
    clip_x0: bool,
    sampler: Option<String>,
    variance: Option<String>,
    bits_per_dim: Option<BpdJson>,
    guidance: Option<f64>,
    guided: Option<GuidedJson>,
    samples: crate::results::QualityJson,
}

#[derive(Deserialize)]
struct BpdJson {
    mean: f64,
    standard_error: f64,
}

#[derive(Deserialize)]
struct GuidedJson {
    class_accuracy: f64,
    within_class_spread: f64,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, ResultsError> {
    let bad = |problem: String| ResultsError::File {
        path: path.to_path_buf(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| bad(format!("unexpected contents: {e}")))
}

/// The `eval.json` of each run folder under `dir` (folders without one are skipped); none at
/// all is [`ResultsError::Empty`], a broken one an error naming it.
fn evals_in(dir: &Path) -> Result<Vec<(PathBuf, EvalJson)>, ResultsError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ResultsError::File {
        path: dir.to_path_buf(),
        problem: e.to_string(),
    })?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path().join("eval.json");
        if path.is_file() {
            let eval = read_json(&path)?;
            out.push((path, eval));
        }
    }
    if out.is_empty() {
        return Err(ResultsError::Empty(dir.to_path_buf()));
    }
    Ok(out)
}

/// The mean loss of the last `last` rows of a `loss.csv` (`step,loss,lr`), and its last step.
fn final_loss(path: &Path, last: usize) -> Result<(f64, usize), ResultsError> {
    let bad = |problem: String| ResultsError::File {
        path: path.to_path_buf(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let rows: Vec<(usize, f64)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            match (f.first().map(|s| s.parse()), f.get(1).map(|s| s.parse())) {
                (Some(Ok(step)), Some(Ok(loss))) => Ok((step, loss)),
                _ => Err(bad(format!("not a step,loss,lr row: '{l}'"))),
            }
        })
        .collect::<Result<_, _>>()?;
    let tail = &rows[rows.len().saturating_sub(last)..];
    if tail.is_empty() {
        return Err(bad("no rows".into()));
    }
    let mean = tail.iter().map(|r| r.1).sum::<f64>() / tail.len() as f64;
    Ok((mean, tail[tail.len() - 1].0))
}

/// Every variant whose runs are all there (a missing run is skipped; a broken file is an error
/// naming it).
pub fn load_ablation(root: &Path) -> Result<Vec<VariantResult>, ResultsError> {
    let (dir, timing) = (ablation_dir(root), timing_dir(root));
    let seconds = |run: &str| {
        read_json::<TimingJson>(&timing.join(run).join("timing.json")).map(|t| t.seconds_per_step)
    };
    let mut out = Vec::new();
    for v in VARIANTS {
        let run = dir.join(v.run);
        let eval_path = run.join("eval").join("eval.json");
        if !eval_path.is_file() {
            continue;
        }
        let eval: EvalJson = read_json(&eval_path)?;
        let trained: TimingJson = read_json(&run.join("timing.json"))?;
        let time_ratio = match (seconds(v.timing), seconds(v.timed_against)) {
            (Ok(t), Ok(s)) => Some(t / s),
            _ => None,
        };
        let (final_loss, steps) = final_loss(&run.join("loss.csv"), 100)?;
        let bpd = eval.bits_per_dim.ok_or_else(|| ResultsError::File {
            path: eval_path.clone(),
            problem: "no bits_per_dim (the plan evaluates with --bpd-images 32)".into(),
        })?;
        out.push(VariantResult {
            run: v.run.to_string(),
            change: v.change.to_string(),
            parameters: trained.parameters,
            time_ratio,
            final_loss,
            steps,
            bits_per_dim: (bpd.mean, bpd.standard_error),
            samples: eval.samples.into(),
        });
    }
    if out.is_empty() {
        return Err(ResultsError::Empty(dir));
    }
    Ok(out)
}

// ANCHOR: ablation_table
/// The ablation as a markdown table. "Δ/s.e." is each variant's confident fraction minus the
/// reference's, in standard errors of that difference: beyond about ±2 it is more than the
/// sampling noise of 400 digits.
pub fn ablation_table(results: &[VariantResult]) -> String {
    let mut s = String::from(
        "| variant | parameters | time per step (× small) | final loss | bits/dim ± s.e. | \
         confident ± s.e. | Δ/s.e. | class entropy | Fréchet distance |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    let reference = results.iter().find(|r| r.run == "small");
    for r in results {
        let q = &r.samples;
        let delta = match reference {
            Some(base) if base.run != r.run => {
                let se = (q.confident_se().powi(2) + base.samples.confident_se().powi(2)).sqrt();
                format!("{:+.1}", (q.confident - base.samples.confident) / se)
            }
            _ => "—".to_string(),
        };
        s += &format!(
            "| {} | {} | {} | {:.4} | {:.3} ± {:.3} | {:.1}% ± {:.1} | {} | {:.3} | {:.1} |\n",
            r.change,
            thousands(r.parameters),
            r.time_ratio.map_or("—".to_string(), |t| format!("{t:.2}")),
            r.final_loss,
            r.bits_per_dim.0,
            r.bits_per_dim.1,
            100.0 * q.confident,
            100.0 * q.confident_se(),
            delta,
            q.class_entropy,
            q.frechet
        );
    }
    s
}
// ANCHOR_END: ablation_table

/// A variant trained with seeds 0 and 1: runs `X` and `X-seed1` (only `-seed1` is looked for; a
/// third seed would need a third field). `small` is the reference.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedPair {
    /// The seed-0 run's folder name.
    pub run: String,
    /// What the variant changes, as the ablation table says it.
    pub change: String,
    /// Fraction of confident digits, seed 0 then seed 1.
    pub confident: [f64; 2],
    /// Fréchet distance to held-out digits, seed 0 then seed 1.
    pub frechet: [f64; 2],
    /// Bits/dim on held-out digits, seed 0 then seed 1.
    pub bits_per_dim: [f64; 2],
}

impl SeedPair {
    /// The confident fraction averaged over the two seeds.
    pub fn mean_confident(&self) -> f64 {
        (self.confident[0] + self.confident[1]) / 2.0
    }
}

/// Every variant of `results` that has both seeds, the reference (`small`) first.
pub fn seed_pairs(results: &[VariantResult]) -> Vec<SeedPair> {
    let mut pairs: Vec<SeedPair> = results
        .iter()
        .filter_map(|first| {
            let second = results
                .iter()
                .find(|r| r.run == format!("{}-seed1", first.run))?;
            let both = |f: fn(&VariantResult) -> f64| [f(first), f(second)];
            Some(SeedPair {
                run: first.run.clone(),
                change: first.change.clone(),
                confident: both(|r| r.samples.confident),
                frechet: both(|r| r.samples.frechet),
                bits_per_dim: both(|r| r.bits_per_dim.0),
            })
        })
        .collect();
    pairs.sort_by_key(|p| p.run != "small");
    pairs
}

// ANCHOR: run_to_run
/// The standard deviation σ of one run's confident fraction from run to run — training seed and
/// sampling noise together — pooled over the pairs (`None` without any): two runs of one
/// variant differ by `d` with variance 2σ², so σ̂² = Σ d² / 2k over k pairs (k degrees of
/// freedom). A difference of two variants' two-seed means then has standard error
/// √(σ²/2 + σ²/2) = σ, and a difference of two single runs √2 σ.
pub fn confident_run_to_run_sd(pairs: &[SeedPair]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let sum: f64 = pairs
        .iter()
        .map(|p| (p.confident[0] - p.confident[1]).powi(2))
        .sum();
    Some((sum / (2 * pairs.len()) as f64).sqrt())
}
// ANCHOR_END: run_to_run

/// The variants trained with two seeds as a markdown table: each seed's confident fraction, the
/// two-seed mean's difference from the reference's mean (in points, and in σ̂ of
/// [`confident_run_to_run_sd`], which the line after the table gives), seed 1 alone against the
/// reference's seed 1 (in √2 σ̂: a replication free of the choice of seed 0's result that led to
/// the second seed), and each seed's Fréchet distance and bits/dim.
pub fn seeds_table(results: &[VariantResult]) -> String {
    let pairs = seed_pairs(results);
    let sd = confident_run_to_run_sd(&pairs);
    let reference = pairs.iter().find(|p| p.run == "small");
    let mut s = String::from(
        "| variant | confident, seed 0 / seed 1 | mean | Δ from the reference's mean | \
         Δ / σ̂ | seed 1 against the reference's seed 1, / √2 σ̂ | \
         Fréchet distance, seed 0 / seed 1 | bits/dim, seed 0 / seed 1 |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for p in &pairs {
        let (delta, in_sd, replication) = match (reference, sd) {
            (Some(base), Some(sd)) if base.run != p.run => {
                let d = p.mean_confident() - base.mean_confident();
                let d1 = p.confident[1] - base.confident[1];
                (
                    format!("{:+.1} points", 100.0 * d),
                    format!("{:+.1}", d / sd),
                    format!("{:+.1}", d1 / (std::f64::consts::SQRT_2 * sd)),
                )
            }
            _ => ("—".to_string(), "—".to_string(), "—".to_string()),
        };
        s += &format!(
            "| {} | {:.1}% / {:.1}% | {:.1}% | {} | {} | {} | {:.1} / {:.1} | {:.3} / {:.3} |\n",
            p.change,
            100.0 * p.confident[0],
            100.0 * p.confident[1],
            100.0 * p.mean_confident(),
            delta,
            in_sd,
            replication,
            p.frechet[0],
            p.frechet[1],
            p.bits_per_dim[0],
            p.bits_per_dim[1],
        );
    }
    s + &match sd {
        Some(sd) => format!(
            "\nσ̂, the run-to-run standard deviation of one run's confident fraction, pooled over \
             the {} pairs: {:.1} points.\n",
            pairs.len(),
            100.0 * sd
        ),
        None => "\nNo variant has two seeds yet.\n".to_string(),
    }
}

/// One guidance scale's evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct GuidanceResult {
    pub scale: f64,
    /// Fraction drawn as the digit asked for.
    pub class_accuracy: f64,
    pub within_class_spread: f64,
    pub samples: Judgement,
}

/// Every `guidance/*/eval.json` with a guidance scale, by scale.
pub fn load_guidance(root: &Path) -> Result<Vec<GuidanceResult>, ResultsError> {
    let mut out = Vec::new();
    for (path, eval) in evals_in(&guidance_dir(root))? {
        let (Some(scale), Some(g)) = (eval.guidance, eval.guided) else {
            return Err(ResultsError::File {
                path,
                problem: "not a guided evaluation (no guidance or guided fields)".into(),
            });
        };
        out.push(GuidanceResult {
            scale,
            class_accuracy: g.class_accuracy,
            within_class_spread: g.within_class_spread,
            samples: eval.samples.into(),
        });
    }
    out.sort_by(|a, b| a.scale.total_cmp(&b.scale));
    Ok(out)
}

/// The guidance measurements as a markdown table.
pub fn guidance_table(results: &[GuidanceResult]) -> String {
    let mut s = String::from(
        "| guidance scale s | drawn as the asked digit ± s.e. | within-class spread (real = 1) | \
         confident ± s.e. | class entropy | Fréchet distance |\n\
         |---|---|---|---|---|---|\n",
    );
    for r in results {
        let q = &r.samples;
        let n = q.count as f64;
        let acc_se = (r.class_accuracy * (1.0 - r.class_accuracy) / n).sqrt();
        s += &format!(
            "| {} | {:.1}% ± {:.1} | {:.3} | {:.1}% ± {:.1} | {:.3} | {:.1} |\n",
            r.scale,
            100.0 * r.class_accuracy,
            100.0 * acc_se,
            r.within_class_spread,
            100.0 * q.confident,
            100.0 * q.confident_se(),
            q.class_entropy,
            q.frechet
        );
    }
    s
}

// ANCHOR: fewsteps
/// The few-step runs (`results/ch09/fewsteps/`): a model's samples with one reverse variance.
#[derive(Clone, Debug, PartialEq)]
pub struct FewStepsResult {
    /// "learned" or the reference's fixed choice ("beta", "posterior").
    pub variance: String,
    /// Network calls per sample.
    pub steps: usize,
    pub samples: Judgement,
    /// The bound, when the run measured it.
    pub bits_per_dim: Option<(f64, f64)>,
}

/// Every few-step evaluation, ordered by steps, then fixed β, fixed β̃, learned.
pub fn load_fewsteps(root: &Path) -> Result<Vec<FewStepsResult>, ResultsError> {
    let mut out = Vec::new();
    for (path, eval) in evals_in(&fewsteps_dir(root))? {
        let steps = eval
            .sampler
            .as_deref()
            .and_then(|n| n.strip_prefix("strided:"))
            .and_then(|n| n.parse().ok());
        let (Some(steps), Some(variance)) = (steps, eval.variance) else {
            return Err(ResultsError::File {
                path,
                problem: "not a strided evaluation with a recorded variance".into(),
            });
        };
        out.push(FewStepsResult {
            variance,
            steps,
            samples: eval.samples.into(),
            bits_per_dim: eval.bits_per_dim.map(|b| (b.mean, b.standard_error)),
        });
    }
    let order = |v: &str| {
        ["beta", "posterior", "learned"]
            .iter()
            .position(|&o| o == v)
    };
    out.sort_by_key(|r| (r.steps, order(&r.variance)));
    Ok(out)
}

/// The few-step comparison as a markdown table.
pub fn fewsteps_table(results: &[FewStepsResult]) -> String {
    let mut s = String::from(
        "| network calls | reverse variance σ² | confident ± s.e. | class entropy | Fréchet distance | \
         bits/dim ± s.e. |\n\
         |---|---|---|---|---|---|\n",
    );
    for r in results {
        let variance = match r.variance.as_str() {
            "beta" => "fixed, β_t (`small`)",
            "posterior" => "fixed, β̃_t (`small`)",
            "learned" => "learned (`small-learned`)",
            other => other,
        };
        let q = &r.samples;
        s += &format!(
            "| {} | {} | {:.1}% ± {:.1} | {:.3} | {:.1} | {} |\n",
            r.steps,
            variance,
            100.0 * q.confident,
            100.0 * q.confident_se(),
            q.class_entropy,
            q.frechet,
            r.bits_per_dim
                .map_or("—".to_string(), |(m, se)| format!("{m:.3} ± {se:.3}"))
        );
    }
    s
}
// ANCHOR_END: fewsteps

// ANCHOR: defaults
/// One candidate for the commands' default sampler, on one model (`results/ch09/defaults/`, and
/// the chapter-8 model's unclipped runs from `results/ch09/samplers/`).
#[derive(Clone, Debug, PartialEq)]
pub struct DefaultsResult {
    /// The model's training steps (8,000: the committed model; 1,202: the quickstart's budget).
    pub model_steps: usize,
    /// The sampler as `--sampler` names it, and its network calls per digit.
    pub sampler: String,
    pub calls: usize,
    pub clip_x0: bool,
    pub samples: Judgement,
}

/// The chapter-8 model's unclipped runs that the defaults are weighed against.
const UNCLIPPED: [&str; 4] = ["ancestral-1000", "ddim1-20", "ddim1-50", "ddim1-100"];

/// Every candidate, ordered by model (the committed one first), sampler calls, then unclipped
/// before clipped.
pub fn load_defaults(root: &Path, t_max: usize) -> Result<Vec<DefaultsResult>, ResultsError> {
    let samplers = root.join("results").join("ch09").join("samplers");
    let mut evals = evals_in(&defaults_dir(root))?;
    for run in UNCLIPPED {
        let path = samplers.join(run).join("eval.json");
        evals.push((path.clone(), read_json(&path)?));
    }
    let mut out = Vec::new();
    for (path, eval) in evals {
        let parsed = eval
            .sampler
            .as_deref()
            .and_then(|n| crate::results::parse_sampler(n, t_max));
        let (Some(sampler), Some((_, calls)), Some(model_steps)) =
            (eval.sampler.clone(), parsed, eval.step)
        else {
            return Err(ResultsError::File {
                path,
                problem: "not a checkpoint's evaluation with a sampler".into(),
            });
        };
        out.push(DefaultsResult {
            model_steps,
            sampler,
            calls,
            clip_x0: eval.clip_x0,
            samples: eval.samples.into(),
        });
    }
    out.sort_by(|a, b| {
        let key = |r: &DefaultsResult| (std::cmp::Reverse(r.model_steps), r.calls, r.clip_x0);
        key(a).cmp(&key(b)).then_with(|| a.sampler.cmp(&b.sampler))
    });
    Ok(out)
}

/// The candidates as a markdown table.
pub fn defaults_table(results: &[DefaultsResult]) -> String {
    let mut s = String::from(
        "| model | sampler | network calls | x̂₀ clipped | confident ± s.e. | class entropy | \
         Fréchet distance |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for r in results {
        let q = &r.samples;
        s += &format!(
            "| {} steps | `{}` | {} | {} | {:.1}% ± {:.1} | {:.3} | {:.1} |\n",
            thousands(r.model_steps),
            r.sampler,
            thousands(r.calls),
            if r.clip_x0 { "yes" } else { "no" },
            100.0 * q.confident,
            100.0 * q.confident_se(),
            q.class_entropy,
            q.frechet
        );
    }
    s
}
// ANCHOR_END: defaults

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_final_loss_is_the_mean_of_the_last_rows_and_bad_rows_are_named() {
        let dir = std::env::temp_dir().join(format!("ddpm-ablation-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("loss.csv");
        let mut csv = String::from("step,loss,lr\n");
        for step in 1..=10 {
            csv += &format!("{step},{},0.001\n", step as f64);
        }
        std::fs::write(&path, &csv).unwrap();
        assert_eq!(final_loss(&path, 4).unwrap(), (8.5, 10));
        std::fs::write(&path, csv + "11,oops,0.1\n").unwrap();
        let err = final_loss(&path, 4).unwrap_err().to_string();
        assert!(err.contains("loss.csv") && err.contains("11,oops"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn variant(run: &str, confident: f64) -> VariantResult {
        VariantResult {
            run: run.to_string(),
            change: format!("change {run}"),
            parameters: 1,
            time_ratio: None,
            final_loss: 0.0,
            steps: 600,
            bits_per_dim: (2.5, 0.1),
            samples: Judgement {
                count: 400,
                confident,
                class_entropy: 2.0,
                frechet: 100.0,
            },
        }
    }

    #[test]
    fn seed_pairs_put_the_reference_first_and_pool_the_run_to_run_spread() {
        let results = [
            variant("v", 0.46),
            variant("small", 0.40),
            variant("deep", 0.38),
            variant("small-seed1", 0.36),
            variant("v-seed1", 0.44),
        ];
        let pairs = seed_pairs(&results);
        // `deep` has one seed only; the reference comes first whatever the order.
        let runs: Vec<&str> = pairs.iter().map(|p| p.run.as_str()).collect();
        assert_eq!(runs, ["small", "v"]);
        assert_eq!(pairs[1].confident, [0.46, 0.44]);
        // Differences 0.04 and 0.02: σ̂² = (0.04² + 0.02²) / 4 = 0.0005.
        assert!((confident_run_to_run_sd(&pairs).unwrap() - 0.0005f64.sqrt()).abs() < 1e-12);
        assert_eq!(confident_run_to_run_sd(&[]), None);
        // v's mean 0.45 against the reference's 0.38: +7 points, 0.07 / 0.02236 = 3.1 s.d.
        let table = seeds_table(&results);
        assert!(
            table.contains("| change v | 46.0% / 44.0% | 45.0% | +7.0 points | +3.1 |"),
            "{table}"
        );
        assert!(
            table.contains("pooled over the 2 pairs: 2.2 points"),
            "{table}"
        );
    }

    /// σ̂ against simulation: pairs of runs whose confident fractions scatter with a known σ
    /// (each variant about its own mean) give back that σ, and two variants' two-seed means with
    /// the same true mean differ with standard deviation σ.
    #[test]
    fn the_pooled_run_to_run_spread_recovers_a_simulated_one() {
        use rand::{rngs::StdRng, SeedableRng};
        use rand_distr::{Distribution, Normal};
        let sigma = 0.03;
        let noise = Normal::new(0.0, sigma).unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let pairs: Vec<SeedPair> = (0..20_000)
            .map(|i| {
                let mean = 0.3 + 0.2 * (i / 2 % 5) as f64 / 5.0;
                SeedPair {
                    run: format!("v{i}"),
                    change: String::new(),
                    confident: [mean + noise.sample(&mut rng), mean + noise.sample(&mut rng)],
                    frechet: [0.0; 2],
                    bits_per_dim: [0.0; 2],
                }
            })
            .collect();
        // 20,000 degrees of freedom: σ̂ is within 1% of σ (its relative s.e. is 1/√(2k) = 0.5%).
        let estimate = confident_run_to_run_sd(&pairs).unwrap();
        assert!((estimate / sigma - 1.0).abs() < 0.01, "{estimate}");
        // Pairs 2j and 2j + 1 share a true mean: their means' differences scatter with σ
        // (10,000 of them: within 2%, about 3 s.e. of an s.d.).
        let diffs: Vec<f64> = pairs
            .chunks(2)
            .map(|c| c[0].mean_confident() - c[1].mean_confident())
            .collect();
        let sd = (diffs.iter().map(|d| d * d).sum::<f64>() / diffs.len() as f64).sqrt();
        assert!((sd / sigma - 1.0).abs() < 0.02, "{sd}");
    }
}
