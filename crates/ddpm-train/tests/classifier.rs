//! The judge of sample quality: the committed classifier is accurate, and training it works.

use std::path::PathBuf;

use ddpm_data::{Dataset, Split};
use ddpm_train::classifier::{accuracy, load_classifier, train_classifier, Classifier};
use dfdx::prelude::*;

fn mnist(split: Split) -> Dataset {
    Dataset::load(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist"),
        split,
    )
    .unwrap()
}

/// `checkpoints/mnist-classifier.safetensors` (made by `ddpm classifier`, 3 epochs) classifies
/// the 10,000 MNIST test digits with at least 98% accuracy (measured 98.43%).
#[test]
fn committed_classifier_is_at_least_98_percent_accurate() {
    let dev: Cpu = Default::default();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../checkpoints/mnist-classifier.safetensors");
    let model = load_classifier(&dev, &path).unwrap();
    let test = mnist(Split::Test);
    let p = model.predict(&test.images);
    let acc = accuracy(&p, &test.labels);
    assert!(acc >= 0.98, "test accuracy {acc}");
    // Probabilities are probabilities.
    for row in p.probs.chunks(10).take(100) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }
}

/// Two passes over 3,000 training digits already separate the classes: the second epoch's
/// loss is well below the first's and below chance (ln 10 ≈ 2.30), and accuracy on 1,000 test
/// digits is above 75% (measured 82%), where chance is 10%.
#[test]
fn a_short_training_run_learns_to_classify() {
    let dev = Cpu::seed_from_u64(0);
    let train = mnist(Split::Train);
    let small = Dataset {
        images: train.images.select(&(0..3000).collect::<Vec<_>>()),
        labels: train.labels[..3000].to_vec(),
    };
    let mut model = dev.build_module::<Classifier, f32>();
    let losses = train_classifier(&mut model, &small, 2, 0, false);
    eprintln!("epoch losses {losses:?}");
    assert!(
        losses[1] < 0.6 * losses[0] && losses[1] < 1.0,
        "mean losses {losses:?}"
    );
    let test = mnist(Split::Test);
    let head = test.images.select(&(0..1000).collect::<Vec<_>>());
    let acc = accuracy(&model.predict(&head), &test.labels[..1000]);
    eprintln!("accuracy {acc}");
    assert!(acc > 0.75, "accuracy {acc}");
}

/// Guidance's judge on real digits: asked for their true classes, the class accuracy is the
/// classifier's accuracy and the within-class spread is that of real digits (≈ 1, other real
/// digits than the reference ones); asked for the wrong class, the accuracy collapses; a
/// class made of one repeated digit has no spread.
#[test]
fn guided_quality_of_real_digits_is_the_classifiers_view() {
    use ddpm_train::eval::guided_quality;
    let dev: Cpu = Default::default();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../checkpoints/mnist-classifier.safetensors");
    let model = load_classifier(&dev, &path).unwrap();
    let test = mnist(Split::Test);
    let picked: Vec<usize> = (5000..5600).collect();
    let digits = test.images.select(&picked);
    let truth: Vec<usize> = picked.iter().map(|&i| test.labels[i] as usize).collect();
    let q = guided_quality(&model, &digits, &truth, &test, 200);
    assert!(q.class_accuracy > 0.97, "{q:?}");
    assert!((0.85..1.15).contains(&q.within_class_spread), "{q:?}");
    let wrong: Vec<usize> = truth.iter().map(|c| (c + 1) % 10).collect();
    assert!(guided_quality(&model, &digits, &wrong, &test, 200).class_accuracy < 0.03);
    // Every digit asked as a 3 is the same digit: the 3s have no spread, the others keep theirs.
    let same: Vec<usize> = picked
        .iter()
        .map(|&i| if test.labels[i] == 3 { 5000 } else { i })
        .collect();
    let q3 = guided_quality(&model, &test.images.select(&same), &truth, &test, 200);
    assert!(
        q3.within_class_spread < q.within_class_spread * 0.95,
        "{q3:?} vs {q:?}"
    );
}

/// Chapter 9's noisy classifier (`checkpoints/noisy-classifier.safetensors`, made by `ddpm
/// classifier --noisy`): its accuracy on the first 1,000 test digits noised to t = 1, 100, …,
/// 1000 is the row the book prints (to 0.3 points: a digit or two may flip on another CPU), and
/// it falls from above 95% on nearly clean digits to chance once the digit is drowned.
#[test]
fn the_noisy_classifiers_accuracy_by_step_is_the_books() {
    use ddpm_train::noisy_classifier::load_noisy_classifier;
    let dev: Cpu = Default::default();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model = load_noisy_classifier(&dev, &root.join("checkpoints/noisy-classifier.safetensors"))
        .unwrap();
    let s = ddpm_schedule::Schedule::new(ddpm_schedule::BetaSchedule::Linear, 1000).unwrap();
    let ts: Vec<usize> = std::iter::once(1)
        .chain((1..=10).map(|k| 100 * k))
        .collect();
    let acc = model.accuracy_by_step(&s, &mnist(Split::Test), &ts, 1000, 0);
    let measured: Vec<String> = acc.iter().map(|a| format!("{:.1}%", 100.0 * a)).collect();
    let row = format!("| accuracy | {} |", measured.join(" | "));
    let book = std::fs::read_to_string(root.join("book/src/ch09-recent-developments.md")).unwrap();
    let line = book
        .lines()
        .find(|l| l.starts_with("| accuracy | "))
        .unwrap_or_else(|| panic!("the book has no accuracy row; measured:\n{row}"));
    let printed: Vec<f64> = line
        .trim_matches('|')
        .split('|')
        .skip(1)
        .map(|c| c.trim().trim_end_matches('%').parse().unwrap())
        .collect();
    assert_eq!(printed.len(), acc.len(), "measured:\n{row}");
    for (p, a) in printed.iter().zip(&acc) {
        assert!((p - 100.0 * a).abs() <= 0.3, "book {line}\nmeasured {row}");
    }
    assert!(acc[0] > 0.95 && acc[10] < 0.2, "{row}");
}
