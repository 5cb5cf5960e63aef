//! What the `ddpm` subcommands do, as library functions: the binary parses its flags into these
//! types, calls them and prints; the work, and its tests, are here.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use ddpm_data::formats::{Format, SampleWriter};
use ddpm_data::{Dataset, Images};
use ddpm_loss::Objective;
use ddpm_plot::Progress;
use ddpm_sampling::{Diffusion, SampleOptions, SamplerKind};
use ddpm_vlb::ModelVariance;

use crate::classifier::DeviceClassifier;
use crate::eval::{judge_samples, BitsPerDim, EvalReport, Measured};
use crate::sample::{
    animation_steps_for, denoising_gif, grid_png, sample_in_batches, Guided, SampleJob, Samples,
};
use crate::{with_preset, Preset};

/// The device the commands run on: the CPU, or the GPU with the `cuda` feature.
#[cfg(not(feature = "cuda"))]
pub type Dev = dfdx::tensor::Cpu;
#[cfg(feature = "cuda")]
pub type Dev = dfdx::tensor::Cuda;

/// How a checkpoint is sampled, every choice made: the sampler, σ² when the network does not
/// learn it, the digit and guidance scale of a class-conditional checkpoint, x̂₀ clipping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    pub sampler: SamplerKind,
    pub variance: ModelVariance,
    pub class: Option<u8>,
    pub guidance: f32,
    pub clip_x0: bool,
}

impl Sampling {
    /// The classes the rows of a batch ask for.
    pub fn classes(&self) -> Vec<usize> {
        match self.class {
            Some(c) => vec![c as usize],
            None => (0..10).collect(),
        }
    }

    /// What a sampler whose noise is its own (DDIM, Heun) leaves unused, said rather than
    /// dropped in silence: `--variance`, or a checkpoint's learned variance.
    pub fn ignored(&self, preset: Preset, t_max: usize) -> Option<String> {
        let sampler = self.sampler.info();
        if sampler.uses_variance() {
            return None;
        }
        if preset.learns_variance() {
            Some(format!(
                "{} ignores this checkpoint's learned variance; --sampler strided:{} samples \
                 with it",
                sampler.name(),
                sampler.timesteps(t_max).len()
            ))
        } else if self.variance != ModelVariance::Beta {
            Some(format!(
                "--variance does nothing with {} ({})",
                sampler.name(),
                sampler.noise("")
            ))
        } else {
            None
        }
    }

    /// The reverse steps' noise, as the sampling message names it.
    pub fn noise(&self, preset: Preset) -> String {
        self.sampler
            .info()
            .noise(&variance_name(preset, self.variance))
    }
}

/// The reverse variance a run samples with, as reports name it.
pub fn variance_name(preset: Preset, fixed: ModelVariance) -> String {
    match preset.learns_variance() {
        true => "learned".to_string(),
        false => fixed.to_string(),
    }
}

/// What to draw from a checkpoint: `count` digits in batches of `batch`, the sampling noise
/// from `seed`, drawn `how`, with the moving average of the weights unless `no_ema`.
#[derive(Clone, Copy, Debug)]
pub struct Draw<'a> {
    pub checkpoint: &'a Path,
    pub count: usize,
    pub batch: usize,
    pub seed: u64,
    pub how: Sampling,
    pub no_ema: bool,
    /// Guide with this noise-aware classifier's weights (classifier guidance, scale
    /// `how.guidance`) instead of classifier-free guidance.
    pub classifier: Option<&'a Path>,
}

// ANCHOR: sample_checkpoint
/// Samples a checkpoint of any preset in batches, handing each batch to `write` as it is done;
/// returns the first batch's frames at the steps in `keep` (for an animation). A
/// class-conditional checkpoint is sampled with guidance.
pub fn sample_checkpoint(
    draw: &Draw,
    keep: &[usize],
    write: &mut dyn FnMut(&Images) -> Result<()>,
) -> Result<Vec<(usize, Images)>> {
    let Draw {
        checkpoint,
        count,
        batch,
        seed,
        how,
        no_ema,
        classifier,
    } = *draw;
    let config = crate::checkpoint::read_config(checkpoint)?;
    let dev = Dev::seed_from_u64(seed);
    let s = config.noise_schedule();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let job = SampleJob {
        count,
        batch,
        sampler: how.sampler,
        opts: SampleOptions {
            variance: how.variance,
            objective: config.objective,
            clip_x0: how.clip_x0,
            keep,
            progress: None,
        },
    };
    let progress = Progress::new(job.steps(&s) as u64, "sampling", "steps", true);
    let job = SampleJob {
        opts: SampleOptions {
            progress: Some(&progress),
            ..job.opts
        },
        ..job
    };
    let frames = with_preset!(config.preset, Dev, Net => {
        let ckpt: crate::Checkpoint<Net> = crate::load_checkpoint(&dev, checkpoint)?;
        let model = if no_ema { &ckpt.model } else { &ckpt.ema };
        eprintln!(
            "sampling {count} digits from {} (step {}, {} weights, {} sampler, {}, batches of {})",
            checkpoint.display(), ckpt.step, if no_ema { "raw" } else { "EMA" },
            how.sampler, how.noise(config.preset), batch.min(count)
        );
        if how.clip_x0 {
            eprintln!("x̂₀ clipped to [−1, 1] at every step (--clip-x0 false to turn it off)");
        }
        if let Some(note) = how.ignored(config.preset, config.t_max) {
            eprintln!("note: {note}");
        }
        if let Some(path) = classifier {
            if config.objective != Objective::Eps || config.preset.learns_variance() {
                bail!(
                    "{}: classifier guidance shifts ε̂, so it needs an ε-predicting checkpoint with a fixed variance (this one: {} objective{})",
                    checkpoint.display(), config.objective,
                    if config.preset.learns_variance() { ", learned variance" } else { "" }
                );
            }
            let judge = crate::noisy_classifier::load_noisy_classifier(&dev, path)?;
            eprintln!("digits {}, classifier guidance by {} at scale {}", how.class.map_or("0–9 in turn".to_string(), |c| c.to_string()), path.display(), how.guidance);
            let guided = crate::noisy_classifier::ClassifierGuided { model, classifier: &judge, schedule: &s, classes: how.classes(), scale: how.guidance };
            sample_in_batches(&dev, &guided, &s, &job, &mut rng, write)?
        } else if config.preset.is_conditional() {
            eprintln!("digits {}, guidance scale {}", how.class.map_or("0–9 in turn".to_string(), |c| c.to_string()), how.guidance);
            let guided = Guided { model, classes: how.classes(), scale: how.guidance };
            sample_in_batches(&dev, &guided, &s, &job, &mut rng, write)?
        } else {
            if how.class.is_some() {
                bail!(
                    "{} is unconditional (preset {}): --class needs a class-conditional model, trained with --preset small-class",
                    checkpoint.display(), config.preset
                );
            }
            sample_in_batches(&dev, model, &s, &job, &mut rng, write)?
        }
    });
    progress.finish();
    Ok(frames)
}
// ANCHOR_END: sample_checkpoint

/// The most digits one grid image holds (a 64 × 64 grid).
pub const GRID_MAX: usize = 4096;
/// The most digits the animation shows.
pub const GIF_MAX: usize = 64;

/// `ddpm sample`: draws as `draw` says and streams the digits into `out` in each of `formats`
/// as batches finish; with `grid`, also a grid image of them all (`samples.png`, at most
/// [`GRID_MAX`] digits) and the first batch's denoising as an animation (`denoising.gif`, at
/// most [`GIF_MAX`] digits). Returns the files written.
pub fn sample_to_files(
    draw: &Draw,
    out: &Path,
    formats: &[Format],
    grid: bool,
) -> Result<Vec<PathBuf>> {
    if grid && draw.count > GRID_MAX {
        bail!(
            "--count {} is too many digits for one grid image (at most {GRID_MAX}); write them \
             with --format png, npz or idx, which stream to disk",
            draw.count
        );
    }
    // Check the checkpoint before creating any output.
    let t_max = crate::checkpoint::read_config(draw.checkpoint)?.t_max;
    let mut writers = Vec::new();
    for &format in formats {
        writers.push(SampleWriter::create(
            out, format, draw.count, 28, 28, false,
        )?);
    }
    let keep = match grid {
        true => animation_steps_for(draw.how.sampler, t_max, 40),
        false => Vec::new(),
    };
    let mut kept = Images {
        count: 0,
        rows: 28,
        cols: 28,
        pixels: Vec::new(),
    };
    let mut write = |batch: &Images| -> Result<()> {
        for w in writers.iter_mut() {
            w.write(batch, None)?;
        }
        if grid {
            kept.count += batch.count;
            kept.pixels.extend_from_slice(&batch.pixels);
        }
        Ok(())
    };
    let frames = sample_checkpoint(draw, &keep, &mut write)?;
    let mut written = Vec::new();
    for w in writers {
        written.push(w.finish()?);
    }
    if grid {
        let cols = (draw.count as f64).sqrt().ceil() as usize;
        let scale = if draw.count <= 256 { 3 } else { 1 };
        let path = out.join("samples.png");
        grid_png(&kept, cols, scale)?.save(&path)?;
        // The animation shows the first batch (at most GIF_MAX digits).
        let shown = frames.first().map_or(0, |(_, f)| f.count.min(GIF_MAX));
        let first: Vec<usize> = (0..shown).collect();
        let animated = Samples {
            images: kept.select(&first),
            frames: frames.iter().map(|(t, f)| (*t, f.select(&first))).collect(),
        };
        let gif = out.join("denoising.gif");
        let gif_cols = (shown as f64).sqrt().ceil() as usize;
        denoising_gif(&animated, gif_cols.max(1), 2)?.save(&gif)?;
        written.extend([path, gif]);
    }
    Ok(written)
}

/// What `ddpm eval --checkpoint` measures: `samples` digits drawn `how` (in batches of
/// `batch`), judged against `reference` test digits, and the bound on `bpd_images` held-out
/// test digits (0: none).
#[derive(Clone, Copy, Debug)]
pub struct EvalCheckpoint<'a> {
    pub checkpoint: &'a Path,
    pub samples: usize,
    pub batch: usize,
    pub bpd_images: usize,
    pub reference: usize,
    pub seed: u64,
    pub how: Sampling,
    /// Classifier guidance by these noisy-classifier weights (see [`Draw::classifier`]).
    pub classifier: Option<&'a Path>,
}

/// Samples, judges and bounds a checkpoint (see [`EvalCheckpoint`]).
pub fn eval_checkpoint(
    e: &EvalCheckpoint,
    test: &Dataset,
    judge: &DeviceClassifier<f32, Dev>,
) -> Result<EvalReport> {
    if e.samples < 2 || e.batch == 0 {
        bail!("--samples must be at least 2 and --batch at least 1");
    }
    if e.reference + e.samples.max(e.bpd_images) > test.len() {
        bail!(
            "--reference {} plus --samples {} needs more than the {} test images",
            e.reference,
            e.samples.max(e.bpd_images),
            test.len()
        );
    }
    let config = crate::checkpoint::read_config(e.checkpoint)?;
    let mut images = Images {
        count: 0,
        rows: 28,
        cols: 28,
        pixels: Vec::new(),
    };
    let draw = Draw {
        checkpoint: e.checkpoint,
        count: e.samples,
        batch: e.batch,
        seed: e.seed,
        how: e.how,
        no_ema: false,
        classifier: e.classifier,
    };
    sample_checkpoint(&draw, &[], &mut |b| {
        images.count += b.count;
        images.pixels.extend_from_slice(&b.pixels);
        Ok(())
    })?;
    let mut measured = Measured {
        checkpoint: Some(e.checkpoint.display().to_string()),
        sampler: Some(e.how.sampler.to_string()),
        variance: Some(variance_name(config.preset, e.how.variance)),
        seed: e.seed,
        clip_x0: e.how.clip_x0,
        ..Measured::default()
    };
    // The bound on held-out test digits (the same shuffle the judge uses).
    let step = if e.bpd_images > 0 {
        let (_, held_out) = crate::eval::split_test(test, e.reference, e.bpd_images);
        let s = config.noise_schedule();
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(e.seed);
        let progress = Progress::new(s.t_max() as u64 + 1, "bits/dim", "steps", true);
        let dev = Dev::seed_from_u64(e.seed);
        let (bpd, step) = with_preset!(config.preset, Dev, Net => {
            let ckpt: crate::Checkpoint<Net> = crate::load_checkpoint(&dev, e.checkpoint)?;
            let d = Diffusion { objective: config.objective, variance: e.how.variance, ..Diffusion::new(&s) };
            let bpd = crate::eval::bits_per_dim(&dev, &ckpt.ema, &d, &held_out, &mut rng, Some(&progress));
            (bpd, ckpt.step)
        });
        progress.finish();
        let (mean, standard_error) = crate::eval::mean_sem(&bpd);
        measured.bits_per_dim = Some(BitsPerDim {
            images: bpd.len(),
            mean,
            standard_error,
        });
        step
    } else {
        crate::checkpoint::read_step(e.checkpoint)?
    };
    measured.step = Some(step);
    if config.preset.is_conditional() || e.classifier.is_some() {
        // Row r of each batch asked for digit r mod 10 (or the one --class digit).
        let classes = e.how.classes();
        let asked: Vec<usize> = (0..images.count)
            .map(|g| classes[(g % e.batch) % classes.len()])
            .collect();
        let q = crate::eval::guided_quality(judge, &images, &asked, test, 200);
        eprintln!(
            "guidance {}: {:.1}% drawn as the asked digit, within-class spread {:.3} of real digits'",
            e.how.guidance,
            100.0 * q.class_accuracy,
            q.within_class_spread
        );
        measured.guidance = Some(e.how.guidance);
        measured.guided = Some(q);
        measured.classifier_guidance = e.classifier.map(|p| p.display().to_string());
    }
    judged(measured, judge, test, &images, e.reference, e.seed)
}

/// Judges digits read from a file or folder (any model's samples): no bound, no sampler.
pub fn eval_samples(
    path: &Path,
    test: &Dataset,
    judge: &DeviceClassifier<f32, Dev>,
    reference: usize,
    seed: u64,
) -> Result<EvalReport> {
    let (images, _) = ddpm_data::formats::read_images(path)?;
    eprintln!("judging {} digits from {}", images.count, path.display());
    let measured = Measured {
        samples_from: Some(path.display().to_string()),
        seed,
        ..Measured::default()
    };
    judged(measured, judge, test, &images, reference, seed)
}

fn judged(
    measured: Measured,
    judge: &DeviceClassifier<f32, Dev>,
    test: &Dataset,
    images: &Images,
    reference: usize,
    seed: u64,
) -> Result<EvalReport> {
    let judged = judge_samples(judge, test, images, reference, seed).map_err(|e| {
        anyhow::anyhow!("{e} (--reference sets how many test digits are the reference)")
    })?;
    Ok(EvalReport { measured, judged })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampling(sampler: &str, variance: ModelVariance) -> Sampling {
        Sampling {
            sampler: sampler.parse().unwrap(),
            variance,
            class: None,
            guidance: 3.0,
            clip_x0: false,
        }
    }

    /// What a sampler leaves unused is said, by the sampler's own account: DDIM and Heun take
    /// their noise from η (or have none), so they ignore `--variance` and a learned variance;
    /// Algorithm 2 and the strided sampler use both. The message names the noise each uses.
    #[test]
    fn what_a_sampler_ignores_is_said() {
        use ModelVariance::{Beta, PosteriorBeta};
        for name in ["ancestral", "strided:50"] {
            for v in [Beta, PosteriorBeta] {
                let how = sampling(name, v);
                assert_eq!(how.ignored(Preset::Small, 1000), None);
                assert_eq!(how.ignored(Preset::SmallLearned, 1000), None);
            }
            assert_eq!(
                sampling(name, PosteriorBeta).noise(Preset::Small),
                "σ² = posterior"
            );
            assert_eq!(
                sampling(name, Beta).noise(Preset::SmallLearned),
                "σ² = learned"
            );
        }
        for (name, noise) in [
            ("ddim:20:1", "noise from η = 1"),
            ("heun:10", "no noise after x_T"),
        ] {
            assert_eq!(sampling(name, Beta).ignored(Preset::Small, 1000), None);
            let learned = sampling(name, Beta)
                .ignored(Preset::SmallLearned, 1000)
                .unwrap();
            assert!(
                learned.contains(name) && learned.contains("--sampler strided:"),
                "{learned}"
            );
            let variance = sampling(name, PosteriorBeta)
                .ignored(Preset::Small, 1000)
                .unwrap();
            assert!(
                variance.contains("--variance") && variance.contains(noise),
                "{variance}"
            );
            assert_eq!(sampling(name, Beta).noise(Preset::Small), noise);
        }
        assert_eq!(
            sampling("ancestral", Beta).classes(),
            (0..10).collect::<Vec<_>>()
        );
        let seven = Sampling {
            class: Some(7),
            ..sampling("ancestral", Beta)
        };
        assert_eq!(seven.classes(), vec![7]);
    }
}
