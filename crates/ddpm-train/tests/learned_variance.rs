//! Chapter 9's learned variances on a tiny UNet with a second output channel: training takes
//! L_hybrid and teaches the v channel, only ε-prediction is accepted, and the bound and the
//! samplers read the network's own σ² (with v ≡ 0 exactly the fixed-small variance's numbers).

use std::path::PathBuf;

use ddpm_data::{Dataset, Images, Split};
use ddpm_loss::Objective;
use ddpm_sampling::{Denoiser, Diffusion, SampleOptions};
use ddpm_schedule::BetaSchedule;
use ddpm_train::checkpoint::named_tensors;
use ddpm_train::sample::SampleJob;
use ddpm_train::{fresh, train, Preset, RunOptions, TrainConfig, TrainError};
use ddpm_unet::blocks::{Attention, Identity};
use ddpm_unet::UNet;
use ddpm_vlb::ModelVariance;
use dfdx::prelude::*;
use rand::SeedableRng;

/// The tiny UNet, with ε̂ and v as its two output channels.
type TinyLearnedNet =
    UNet<4, 8, 12, 16, 8, 2, 2, 0, 4, 8, Attention<8, 2, 2>, Identity, Identity, 2>;
type TinyLearned = <TinyLearnedNet as BuildOnDevice<Cpu, f32>>::Built;

fn digits(n: usize) -> Images {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    let train = Dataset::load(root, Split::Train).unwrap();
    train.images.select(&(0..n).collect::<Vec<_>>())
}

fn config(objective: Objective) -> TrainConfig {
    TrainConfig {
        preset: Preset::Tiny,
        schedule: BetaSchedule::Linear,
        t_max: 50,
        steps: 4,
        batch: 8,
        lr: 2e-3,
        warmup: 1,
        objective,
        ..Default::default()
    }
}

/// The output layer's weights for one channel (0: ε̂, 1: v).
fn head(m: &TinyLearned, channel: usize) -> Vec<f32> {
    let w = m.conv_out.weight.as_vec();
    let per = w.len() / 2;
    let mut v = w[channel * per..(channel + 1) * per].to_vec();
    v.push(m.conv_out.bias.as_vec()[channel]);
    v
}

#[test]
fn a_learned_variance_unet_trains_with_l_hybrid_on_eps_only() {
    let dev = Cpu::seed_from_u64(0);
    let data = digits(32);
    let dir = tempfile::tempdir().unwrap();
    let run = fresh::<Cpu, TinyLearned>(&dev, config(Objective::Eps));
    assert!(run.model.learns_variance());
    let before = (head(&run.model, 0), head(&run.model, 1));
    let (run, _, losses) = train(&dev, &data, run, &RunOptions::new(dir.path())).unwrap();
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert_ne!(head(&run.model, 0), before.0, "the ε̂ head trains");
    assert_ne!(head(&run.model, 1), before.1, "the v head trains");
    assert!(named_tensors(&run.model, "")
        .iter()
        .any(|(name, _, _)| name == "conv_out.weight"));

    let run = fresh::<Cpu, TinyLearned>(&dev, config(Objective::X0));
    let err = train(&dev, &data, run, &RunOptions::new(dir.path())).unwrap_err();
    assert!(
        matches!(err, TrainError::LearnedVarianceNeedsEps { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--objective eps"), "{err}");
}

/// The ε̂ half of a learned-variance network, as a fixed-variance model.
struct EpsHalf<'a>(&'a TinyLearned);

impl Denoiser<Cpu> for EpsHalf<'_> {
    fn denoise(
        &self,
        x_t: Tensor<(usize, usize), f32, Cpu>,
        ts: &[usize],
    ) -> Tensor<(usize, usize), f32, Cpu> {
        let out = self.0.denoise(x_t, ts);
        out.slice((.., 0..784))
    }
}

/// With its v output pinned to 0 (the v head's weights and bias zeroed), the network's own σ² is
/// β̃_t: its bound is the fixed-small bound of its ε̂ half to 1e-9, and its ancestral samples are
/// that model's (within f32 rounding). With v ≠ 0 the bound changes.
#[test]
fn the_bound_and_the_sampler_use_the_networks_own_variance() {
    let dev = Cpu::seed_from_u64(1);
    let mut model = fresh::<Cpu, TinyLearned>(&dev, config(Objective::Eps)).model;
    let s = config(Objective::Eps).noise_schedule();
    let images = digits(3);
    let bpd = |m: &dyn Fn(&mut rand::rngs::StdRng) -> Vec<f64>| {
        m(&mut rand::rngs::StdRng::seed_from_u64(2))
    };
    let own = |m: &TinyLearned| {
        bpd(&|rng| ddpm_train::eval::bits_per_dim(&dev, m, &Diffusion::new(&s), &images, rng, None))
    };
    let unpinned = own(&model);

    let mut w = model.conv_out.weight.as_vec();
    let half = w.len() / 2;
    w[half..].iter_mut().for_each(|x| *x = 0.0);
    model.conv_out.weight.copy_from(&w);
    let mut b = model.conv_out.bias.as_vec();
    b[1] = 0.0;
    model.conv_out.bias.copy_from(&b);

    let pinned = own(&model);
    let fixed = bpd(&|rng| {
        let d = Diffusion {
            variance: ModelVariance::PosteriorBeta,
            ..Diffusion::new(&s)
        };
        ddpm_train::eval::bits_per_dim(&dev, &EpsHalf(&model), &d, &images, rng, None)
    });
    for (a, b) in pinned.iter().zip(&fixed) {
        assert!((a - b).abs() < 1e-9 * b.abs(), "{a} vs {b}");
    }
    assert!(pinned
        .iter()
        .zip(&unpinned)
        .any(|(a, b)| (a - b).abs() > 1e-3));

    let opts = |variance| SampleOptions {
        variance,
        ..Default::default()
    };
    let job = SampleJob::one_batch(2, opts(ModelVariance::Beta));
    let learned = ddpm_train::sample::sample(
        &dev,
        &model,
        &s,
        &job,
        &mut rand::rngs::StdRng::seed_from_u64(3),
    );
    let job = SampleJob::one_batch(2, opts(ModelVariance::PosteriorBeta));
    let fixed = ddpm_train::sample::sample(
        &dev,
        &EpsHalf(&model),
        &s,
        &job,
        &mut rand::rngs::StdRng::seed_from_u64(3),
    );
    let worst = learned
        .images
        .pixels
        .iter()
        .zip(&fixed.images.pixels)
        .map(|(&a, &b)| (a as i32 - b as i32).abs())
        .max()
        .unwrap();
    assert!(worst <= 1, "pixels differ by {worst} levels");
}
