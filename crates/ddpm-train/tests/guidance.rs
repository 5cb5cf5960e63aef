//! Chapter 9's class-conditional UNet and classifier-free guidance, on a tiny UNet: the label
//! embedding learns only the rows it is shown, training refuses a conditional model without
//! labels, and the guided mix is ε(∅) + s·(ε(c) − ε(∅)) — at s = 0 exactly the unconditional
//! model, at s = 1 exactly the conditional one.

use std::path::PathBuf;

use ddpm_data::{Dataset, Split};
use ddpm_sampling::{Denoiser, SampleOptions, SamplerKind};
use ddpm_schedule::BetaSchedule;
use ddpm_train::checkpoint::named_tensors;
use ddpm_train::sample::{sample_in_batches, Guided, SampleJob};
use ddpm_train::{fresh, train, train_labelled, DiffusionNet, Preset, RunOptions, TrainConfig};
use ddpm_unet::blocks::{Attention, Identity};
use ddpm_unet::UNet;
use dfdx::prelude::*;
use rand::SeedableRng;

/// The tiny UNet with the ten digits and "no label" embedded in its 8-wide time embedding.
type TinyClassNet = UNet<
    4,
    8,
    12,
    16,
    8,
    2,
    2,
    0,
    4,
    8,
    Attention<8, 2, 2>,
    Identity,
    dfdx::nn::builders::Embedding<11, 8>,
>;
type TinyClass = <TinyClassNet as BuildOnDevice<Cpu, f32>>::Built;

fn mnist(n: usize) -> Dataset {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    let train = Dataset::load(root, Split::Train).unwrap();
    let keep: Vec<usize> = (0..n).collect();
    Dataset {
        images: train.images.select(&keep),
        labels: train.labels[..n].to_vec(),
    }
}

fn config(label_dropout: f64) -> TrainConfig {
    TrainConfig {
        preset: Preset::Tiny, // the type says the UNet here; the preset only names it
        schedule: BetaSchedule::Linear,
        t_max: 50,
        steps: 1,
        batch: 8,
        warmup: 1,
        label_dropout,
        ..Default::default()
    }
}

/// The embedding's rows (11 × 8) as vectors.
fn label_rows(m: &TinyClass) -> Vec<Vec<f32>> {
    let (_, _, w) = named_tensors(m, "")
        .into_iter()
        .find(|(name, _, _)| name == "labels.weight")
        .expect("a conditional UNet has labels.weight");
    w.chunks(8).map(<[f32]>::to_vec).collect()
}

/// One Adam step moves only the rows whose gradient is not zero: with every label a 3 and no
/// dropout, row 3 alone; with every label dropped, the "no label" row 10 alone.
#[test]
fn the_label_embedding_learns_the_rows_it_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = mnist(16);
    data.labels = vec![3; 16];
    for (dropout, moved) in [(0.0, 3), (1.0, 10)] {
        let dev = Cpu::seed_from_u64(0);
        let run = fresh::<Cpu, TinyClass>(&dev, config(dropout));
        let before = label_rows(&run.model);
        let opts = RunOptions::new(dir.path().join(format!("d{dropout}")));
        let (after, _, _) =
            train_labelled(&dev, &data.images, Some(&data.labels), run, &opts).unwrap();
        let after = label_rows(&after.model);
        let changed: Vec<usize> = (0..11).filter(|&r| before[r] != after[r]).collect();
        assert_eq!(changed, [moved], "label dropout {dropout}");
    }
    // Without labels, or with a label outside 0..10, a conditional UNet does not train.
    let dev = Cpu::seed_from_u64(0);
    let run = fresh::<Cpu, TinyClass>(&dev, config(0.1));
    let opts = RunOptions::new(dir.path().join("none"));
    let err = train(&dev, &data.images, run.clone(), &opts).unwrap_err();
    assert!(err.to_string().contains("needs one label"), "{err}");
    data.labels[0] = 10;
    let err = train_labelled(&dev, &data.images, Some(&data.labels), run, &opts).unwrap_err();
    assert!(err.to_string().contains("0..10"), "{err}");
}

/// The guided denoiser is the mix of the two outputs it names, and the label matters.
#[test]
fn guidance_mixes_the_conditional_and_unconditional_outputs() {
    let dev = Cpu::seed_from_u64(1);
    let model = fresh::<Cpu, TinyClass>(&dev, config(0.1)).model;
    // Give the label rows some size, so a label changes the output noticeably.
    let mut model = model;
    model.labels.weight = dev.sample_normal();
    let n = 6;
    let x: Tensor<(usize, usize), f32, Cpu> = dev.sample_normal_like(&(n, 784));
    let ts = [5, 10, 20, 30, 40, 50];
    let asked: Vec<usize> = (0..n).map(|r| r % 2 + 7).collect();
    let raw = |labels: &[usize]| {
        model
            .predict_labelled(x.clone().reshape_like(&(n, 1, 28, 28)), &ts, Some(labels))
            .reshape_like(&(n, 784))
            .as_vec()
    };
    let (cond, none) = (raw(&asked), raw(&[10; 6]));
    assert!(cond.iter().zip(&none).any(|(a, b)| (a - b).abs() > 1e-3));
    // None (an unlabelled call) is "no label".
    assert_eq!(model.denoise(x.clone(), &ts).as_vec(), none);
    let guided = |scale: f32| {
        Guided {
            model: &model,
            classes: vec![7, 8],
            scale,
        }
        .denoise(x.clone(), &ts)
        .as_vec()
    };
    assert_eq!(guided(0.0), none);
    assert_eq!(guided(1.0), cond);
    for (g, (c, u)) in guided(3.0).iter().zip(cond.iter().zip(&none)) {
        assert!((g - (u + 3.0 * (c - u))).abs() < 1e-5);
    }
}

/// A whole sampling job: guidance scale 0 draws exactly what the model draws without labels.
#[test]
fn guided_sampling_at_scale_zero_is_unconditional_sampling() {
    let dev = Cpu::seed_from_u64(2);
    let run = fresh::<Cpu, TinyClass>(&dev, config(0.1));
    let s = run.config.noise_schedule();
    let job = SampleJob {
        count: 5,
        batch: 3,
        sampler: SamplerKind::Ddim(ddpm_sampling::Ddim {
            steps: 10,
            eta: 1.0,
        }),
        opts: SampleOptions::default(),
    };
    let draw = |model: &dyn Fn(&mut Vec<u8>, &mut rand::rngs::StdRng)| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let mut pixels = Vec::new();
        model(&mut pixels, &mut rng);
        pixels
    };
    let plain = draw(&|px, rng| {
        sample_in_batches(&dev, &run.ema, &s, &job, rng, |b| {
            px.extend_from_slice(&b.pixels);
            Ok::<_, ()>(())
        })
        .unwrap();
    });
    let guided = Guided {
        model: &run.ema,
        classes: (0..10).collect(),
        scale: 0.0,
    };
    let zero = draw(&|px, rng| {
        sample_in_batches(&dev, &guided, &s, &job, rng, |b| {
            px.extend_from_slice(&b.pixels);
            Ok::<_, ()>(())
        })
        .unwrap();
    });
    assert_eq!(plain, zero);
    assert_eq!(plain.len(), 5 * 784);
}

/// Classifier guidance (Dhariwal & Nichol's ε form): at s = 0 it is the network asked for "no
/// label"; at s it moves ε̂ by −s √(1 − ᾱ_t) ∇ log p_φ(c | x_t), row by row, with each row's
/// asked class and step. For the ancestral step that is Algorithm 1's mean shift: the mean
/// (x − β_t/√(1 − ᾱ_t) ε̃)/√α_t moves by s β_t ∇ log p / √α_t — s Σ ∇ log p with Σ = β_t, up to
/// 1/√α_t (at most 1/√0.98 ≈ 1.0102 on the linear schedule).
#[test]
fn classifier_guidance_shifts_epsilon_by_the_classifiers_gradient() {
    use ddpm_train::noisy_classifier::{noise_levels, ClassifierGuided, DeviceNoisyClassifier};
    let dev = Cpu::seed_from_u64(3);
    let run = fresh::<Cpu, TinyClass>(&dev, config(0.1));
    let s = ddpm_schedule::Schedule::new(BetaSchedule::Linear, 50).unwrap();
    let judge = DeviceNoisyClassifier::<f32, Cpu>::build(&dev);
    let n = 4;
    let x: Tensor<(usize, usize), f32, Cpu> = dev.sample_normal_like(&(n, 784));
    let ts = [1, 10, 30, 50];
    let none = run.ema.denoise(x.clone(), &ts).as_vec();
    let guided = |scale: f32| {
        ClassifierGuided {
            model: &run.ema,
            classifier: &judge,
            schedule: &s,
            classes: vec![3, 8],
            scale,
        }
        .denoise(x.clone(), &ts)
        .as_vec()
    };
    assert_eq!(guided(0.0), none);
    let levels = noise_levels(&s, &ts);
    let grad = judge
        .log_prob_grad(
            x.clone().reshape_like(&(n, 1, 28, 28)),
            &levels,
            &[3, 8, 3, 8],
        )
        .as_vec();
    assert!(
        grad.iter().any(|g| g.abs() > 1e-4),
        "the gradient is not zero"
    );
    let shifted = guided(2.5);
    for r in 0..n {
        let (t, level) = (ts[r], levels[r]);
        assert!((level as f64 - (1.0 - s.alpha_bar(t)).sqrt()).abs() < 1e-6);
        for i in r * 784..(r + 1) * 784 {
            let want = none[i] - 2.5 * level * grad[i];
            assert!(
                (shifted[i] - want).abs() < 1e-5,
                "row {r}: {} vs {want}",
                shifted[i]
            );
            // The ancestral mean's shift, from ε̃ − ε̂, against s β_t ∇ / √α_t.
            let mean_shift = -(s.beta(t) / (1.0 - s.alpha_bar(t)).sqrt() / s.alpha(t).sqrt())
                as f32
                * (shifted[i] - none[i]);
            let algorithm_1 = 2.5 * s.beta(t) as f32 * grad[i] / s.alpha(t).sqrt() as f32;
            assert!((mean_shift - algorithm_1).abs() < 1e-5 + 1e-4 * algorithm_1.abs());
        }
    }
}
