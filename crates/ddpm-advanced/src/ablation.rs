//! The ablation and guidance runs (`plans/ch09-ablation.plan`, `plans/ch09-guidance.plan`)
//! read back: each training run's folder holds `timing.json` and `loss.csv`, its evaluation's
//! folder `eval.json`.

use std::path::{Path, PathBuf};

use ddpm_train::eval::EvalReport;
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
        run: "small-seed2",
        change: "`small` again, seed 2",
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
    Variant {
        run: "v-seed2",
        change: "v-prediction again, seed 2",
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
fn evals_in(dir: &Path) -> Result<Vec<(PathBuf, EvalReport)>, ResultsError> {
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
        let EvalReport {
            measured: eval,
            judged,
        } = read_json(&eval_path)?;
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
            samples: judged.samples.into(),
        });
    }
    if out.is_empty() {
        return Err(ResultsError::Empty(dir));
    }
    Ok(out)
}

// ANCHOR: ablation_table
/// The ablation as a markdown table. "Δ / sampling s.e." is each variant's confident fraction minus the
/// reference's, in standard errors of that difference: beyond about ±2 it is more than the
/// sampling noise of 400 digits.
pub fn ablation_table(results: &[VariantResult]) -> String {
    let mut s = String::from(
        "| variant | parameters | time per step (× small) | final loss | bits/dim ± s.e. | \
         confident ± s.e. | Δ / sampling s.e. | class entropy | Fréchet distance |\n\
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

/// A variant trained with several seeds: runs `X`, `X-seed1`, `X-seed2`, … (counting stops at
/// the first number missing). `small` is the reference. The three lists have one entry per seed
/// ([`seed_runs`] builds them so).
#[derive(Clone, Debug, PartialEq)]
pub struct SeedRuns {
    /// The seed-0 run's folder name.
    pub run: String,
    /// What the variant changes, as the ablation table says it.
    pub change: String,
    /// Fraction of confident digits, one per seed, seed 0 first.
    pub confident: Vec<f64>,
    /// Fréchet distance to held-out digits, one per seed.
    pub frechet: Vec<f64>,
    /// Bits/dim on held-out digits, one per seed.
    pub bits_per_dim: Vec<f64>,
}

impl SeedRuns {
    /// How many seeds the variant was trained with.
    pub fn seeds(&self) -> usize {
        self.confident.len()
    }
    /// The confident fraction averaged over `seeds`, a non-empty range of seed numbers within
    /// [`Self::seeds`] (NaN for an empty one; a panic past the end).
    pub fn mean_confident(&self, seeds: std::ops::Range<usize>) -> f64 {
        let n = seeds.len() as f64;
        self.confident[seeds].iter().sum::<f64>() / n
    }
}

/// Every variant of `results` with more than one seed, the reference (`small`) first.
pub fn seed_runs(results: &[VariantResult]) -> Vec<SeedRuns> {
    let find = |run: &str| results.iter().find(|r| r.run == run);
    let mut out: Vec<SeedRuns> = results
        .iter()
        .filter(|first| find(&format!("{}-seed1", first.run)).is_some())
        .map(|first| {
            let runs: Vec<&VariantResult> = std::iter::once(first)
                .chain((1..).map_while(|k| find(&format!("{}-seed{k}", first.run))))
                .collect();
            let each = |f: fn(&VariantResult) -> f64| runs.iter().map(|r| f(r)).collect();
            SeedRuns {
                run: first.run.clone(),
                change: first.change.clone(),
                confident: each(|r| r.samples.confident),
                frechet: each(|r| r.samples.frechet),
                bits_per_dim: each(|r| r.bits_per_dim.0),
            }
        })
        .collect();
    out.sort_by_key(|v| v.run != "small");
    out
}

/// A pooled standard deviation and its degrees of freedom.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pooled {
    pub sd: f64,
    pub degrees_of_freedom: usize,
}

// ANCHOR: run_to_run
/// The standard deviation σ of one run's confident fraction from run to run — training seed and
/// sampling noise together — pooled over the variants (`None` without a second seed anywhere;
/// a variant with one seed adds nothing):
/// each variant's runs scatter about their own mean, so σ̂² = Σ (x − x̄)² / Σ (n − 1), with
/// Σ (n − 1) degrees of freedom. The difference of two variants' means over n and m seeds then
/// has standard error σ √(1/n + 1/m).
pub fn confident_run_to_run_sd(variants: &[SeedRuns]) -> Option<Pooled> {
    let (mut squares, mut dof) = (0.0, 0);
    for v in variants {
        let mean = v.mean_confident(0..v.seeds());
        squares += v.confident.iter().map(|x| (x - mean).powi(2)).sum::<f64>();
        dof += v.seeds().saturating_sub(1);
    }
    (dof > 0).then(|| Pooled {
        sd: (squares / dof as f64).sqrt(),
        degrees_of_freedom: dof,
    })
}
// ANCHOR_END: run_to_run

/// The variants trained with several seeds as a markdown table: each seed's confident fraction;
/// the mean's difference from the reference's mean, in points and in its standard error from
/// σ̂ ([`confident_run_to_run_sd`], which the line after the table gives); the seeds after the
/// first against the reference's same seeds, in their standard error (a replication free of the
/// seed-0 result that led to training more seeds; "—" where the reference lacks those seeds);
/// and each seed's Fréchet distance and bits/dim.
pub fn seeds_table(results: &[VariantResult]) -> String {
    let variants = seed_runs(results);
    let pooled = confident_run_to_run_sd(&variants);
    let reference = variants.iter().find(|v| v.run == "small");
    let per_seed = |xs: &[f64], f: &dyn Fn(f64) -> String| {
        xs.iter().map(|&x| f(x)).collect::<Vec<_>>().join(" / ")
    };
    let mut s = String::from(
        "| variant | confident, per seed | mean | Δ from the reference's mean | Δ / run-to-run s.e. | \
         seeds after 0 against the reference's same seeds, Δ / run-to-run s.e. | Fréchet distance, per seed | \
         bits/dim, per seed |\n|---|---|---|---|---|---|---|---|\n",
    );
    let dash = || "—".to_string();
    for v in &variants {
        let (n, mean) = (v.seeds(), v.mean_confident(0..v.seeds()));
        let (delta, in_se, later) = match (reference, pooled) {
            (Some(base), Some(Pooled { sd, .. })) if base.run != v.run => {
                let m = base.seeds();
                let d = mean - base.mean_confident(0..m);
                let se = sd * (1.0 / n as f64 + 1.0 / m as f64).sqrt();
                let later = if m >= n {
                    let d1 = v.mean_confident(1..n) - base.mean_confident(1..n);
                    format!("{:+.1}", d1 / (sd * (2.0 / (n - 1) as f64).sqrt()))
                } else {
                    dash()
                };
                (
                    format!("{:+.1} points", 100.0 * d),
                    format!("{:+.1}", d / se),
                    later,
                )
            }
            _ => (dash(), dash(), dash()),
        };
        s += &format!(
            "| {} | {} | {:.1}% | {} | {} | {} | {} | {} |\n",
            v.change,
            per_seed(&v.confident, &|x| format!("{:.1}%", 100.0 * x)),
            100.0 * mean,
            delta,
            in_se,
            later,
            per_seed(&v.frechet, &|x| format!("{x:.1}")),
            per_seed(&v.bits_per_dim, &|x| format!("{x:.3}")),
        );
    }
    s + &match pooled {
        Some(p) => format!(
            "\nσ̂, the run-to-run standard deviation of one run's confident fraction, pooled over \
             the {} variants' runs ({} degrees of freedom): {:.1} points.\n",
            variants.len(),
            p.degrees_of_freedom,
            100.0 * p.sd
        ),
        None => "\nNo variant has two seeds yet.\n".to_string(),
    }
}

/// One guidance scale's evaluation, with one sampler.
#[derive(Clone, Debug, PartialEq)]
pub struct GuidanceResult {
    /// "classifier-free" or "classifier" (by a noisy classifier's gradient).
    pub method: String,
    /// The sampler as `ddpm` names it, with ", x̂₀ clipped" where it clipped.
    pub sampler: String,
    pub scale: f64,
    /// Fraction drawn as the digit asked for.
    pub class_accuracy: f64,
    /// Spread of the samples asked for a class (misses included), real digits = 1.
    pub within_class_spread: f64,
    /// Spread of the samples asked for and classified as a class, real digits = 1.
    pub within_class_spread_classified: Option<f64>,
    pub samples: Judgement,
}

/// Every `guidance/*/eval.json` with a guidance scale, by sampler, then scale.
pub fn load_guidance(root: &Path) -> Result<Vec<GuidanceResult>, ResultsError> {
    let mut out = Vec::new();
    for (
        path,
        EvalReport {
            measured: eval,
            judged,
        },
    ) in evals_in(&guidance_dir(root))?
    {
        let (Some(scale), Some(g)) = (eval.guidance, eval.guided) else {
            return Err(ResultsError::File {
                path,
                problem: "not a guided evaluation (no guidance or guided fields)".into(),
            });
        };
        let sampler = eval.sampler.unwrap_or_else(|| "?".into());
        out.push(GuidanceResult {
            method: match eval.classifier_guidance {
                Some(_) => "classifier",
                None => "classifier-free",
            }
            .into(),
            sampler: if eval.clip_x0 {
                format!("{sampler}, x̂₀ clipped")
            } else {
                sampler
            },
            scale: scale as f64,
            class_accuracy: g.class_accuracy,
            within_class_spread: g.within_class_spread,
            within_class_spread_classified: g.within_class_spread_classified,
            samples: judged.samples.into(),
        });
    }
    out.sort_by(|a, b| {
        (b.method.cmp(&a.method))
            .then(a.sampler.cmp(&b.sampler))
            .then(a.scale.total_cmp(&b.scale))
    });
    Ok(out)
}

impl GuidanceResult {
    /// The method and sampler, as the figure's legend names a series.
    pub fn series(&self) -> String {
        format!("{}: {}", self.method, self.sampler)
    }
}

/// The (method, sampler) series of the guidance runs, in the table's order.
pub fn guidance_samplers(results: &[GuidanceResult]) -> Vec<String> {
    let mut names: Vec<String> = results.iter().map(GuidanceResult::series).collect();
    names.dedup();
    names
}

/// The guidance measurements as a markdown table.
pub fn guidance_table(results: &[GuidanceResult]) -> String {
    let mut s = String::from(
        "| guidance | sampler | scale s | digits | drawn as the asked digit ± s.e. | \
         within-class spread, asked (real = 1) | within-class spread, asked and classified | \
         confident ± s.e. | class entropy | Fréchet distance ± s.e. |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        let q = &r.samples;
        let n = q.count as f64;
        let acc_se = (r.class_accuracy * (1.0 - r.class_accuracy) / n).sqrt();
        let or_dash = |x: Option<String>| x.unwrap_or_else(|| "—".into());
        s +=
            &format!(
            "| {} | {} | {} | {} | {:.1}% ± {:.1} | {:.3} | {} | {:.1}% ± {:.1} | {:.3} | {:.1}{} |\n",
            r.method,
            r.sampler,
            r.scale,
            q.count,
            100.0 * r.class_accuracy,
            100.0 * acc_se,
            r.within_class_spread,
            or_dash(r.within_class_spread_classified.map(|x| format!("{x:.3}"))),
            100.0 * q.confident,
            100.0 * q.confident_se(),
            q.class_entropy,
            q.frechet,
            q.frechet_se.map(|se| format!(" ± {se:.1}")).unwrap_or_default(),
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
    for (
        path,
        EvalReport {
            measured: eval,
            judged,
        },
    ) in evals_in(&fewsteps_dir(root))?
    {
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
            samples: judged.samples.into(),
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
    for (
        path,
        EvalReport {
            measured: eval,
            judged,
        },
    ) in evals
    {
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
            samples: judged.samples.into(),
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
                frechet_se: None,
            },
        }
    }

    #[test]
    fn seed_runs_put_the_reference_first_and_pool_the_run_to_run_spread() {
        let results = [
            variant("v", 0.46),
            variant("small", 0.40),
            variant("deep", 0.38),
            variant("small-seed1", 0.36),
            variant("v-seed1", 0.44),
            variant("small-seed2", 0.38),
            variant("small-seed4", 0.10),
        ];
        let variants = seed_runs(&results);
        // `deep` has one seed only; `small` counts seeds 0, 1, 2 (no 3, so not 4), first.
        let runs: Vec<&str> = variants.iter().map(|v| v.run.as_str()).collect();
        assert_eq!(runs, ["small", "v"]);
        assert_eq!(variants[0].confident, [0.40, 0.36, 0.38]);
        assert_eq!(variants[1].confident, [0.46, 0.44]);
        // Squares about the means: small 0.02² + 0.02² + 0, v 0.01² + 0.01² = 0.001, over
        // 2 + 1 degrees of freedom.
        let pooled = confident_run_to_run_sd(&variants).unwrap();
        assert_eq!(pooled.degrees_of_freedom, 3);
        assert!((pooled.sd - (0.001f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(confident_run_to_run_sd(&[]), None);
        // v's mean 0.45 against 0.38: +7 points, s.e. 0.018257 · √(1/2 + 1/3) = 0.016667, 4.2;
        // seed 1 alone: 0.44 − 0.36 over 0.018257 · √2, 3.1.
        let table = seeds_table(&results);
        assert!(
            table.contains("| change v | 46.0% / 44.0% | 45.0% | +7.0 points | +4.2 | +3.1 |"),
            "{table}"
        );
        assert!(
            table.contains("| change small | 40.0% / 36.0% / 38.0% | 38.0% | — | — | — |"),
            "{table}"
        );
        assert!(
            table.contains("over the 2 variants' runs (3 degrees of freedom): 1.8 points"),
            "{table}"
        );
        assert!(seeds_table(&results[2..3]).contains("No variant has two seeds"));
        // Where the reference has fewer seeds than a variant, its later seeds have no partners.
        let table = seeds_table(&[
            variant("small", 0.40),
            variant("small-seed1", 0.36),
            variant("v", 0.46),
            variant("v-seed1", 0.44),
            variant("v-seed2", 0.45),
        ]);
        assert!(table.contains("| 45.0% | +7.0 points |"), "{table}");
        assert!(table.contains("| — | 100.0 / 100.0 / 100.0 |"), "{table}");
    }

    /// σ̂ against simulation: variants whose runs' confident fractions scatter with a known σ
    /// (each about its own mean) give back that σ, and two variants' means over n and m seeds
    /// with the same true mean differ with standard deviation σ √(1/n + 1/m).
    #[test]
    fn the_pooled_run_to_run_spread_recovers_a_simulated_one() {
        use rand::{rngs::StdRng, SeedableRng};
        use rand_distr::{Distribution, Normal};
        let sigma = 0.03;
        let noise = Normal::new(0.0, sigma).unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        // Variants 2j (3 seeds) and 2j + 1 (2 seeds) share a true mean.
        let variants: Vec<SeedRuns> = (0..20_000)
            .map(|i| {
                let mean = 0.3 + 0.2 * (i / 2 % 5) as f64 / 5.0;
                let n = if i % 2 == 0 { 3 } else { 2 };
                SeedRuns {
                    run: format!("v{i}"),
                    change: String::new(),
                    confident: (0..n).map(|_| mean + noise.sample(&mut rng)).collect(),
                    frechet: vec![0.0; n],
                    bits_per_dim: vec![0.0; n],
                }
            })
            .collect();
        // 30,000 degrees of freedom: σ̂ is within 1% of σ (its relative s.e. is 0.4%).
        let pooled = confident_run_to_run_sd(&variants).unwrap();
        assert_eq!(pooled.degrees_of_freedom, 30_000);
        assert!((pooled.sd / sigma - 1.0).abs() < 0.01, "{pooled:?}");
        // 10,000 differences of means: their s.d. within 2% (about 3 s.e. of an s.d.).
        let diffs: Vec<f64> = variants
            .chunks(2)
            .map(|c| c[0].mean_confident(0..3) - c[1].mean_confident(0..2))
            .collect();
        let sd = (diffs.iter().map(|d| d * d).sum::<f64>() / diffs.len() as f64).sqrt();
        let expected = sigma * (1.0f64 / 3.0 + 1.0 / 2.0).sqrt();
        assert!(
            (sd / expected - 1.0).abs() < 0.02,
            "{sd} against {expected}"
        );
    }
}
