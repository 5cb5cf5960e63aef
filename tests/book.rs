//! The book is whole: the course is listed, every include and image resolves, every written
//! chapter has its crate and notebook, and the math will survive markdown and KaTeX.

mod common;

use common::*;

#[test]
fn summary_lists_the_whole_course_in_order() {
    let chapters = summary_chapters();
    let want = [
        "What diffusion models are",
        "Notation and noise schedules",
        "The forward process",
        "The reverse process and the variational bound",
        "From L_t to L_simple",
        "Algorithms 1 and 2",
        "The UNet",
        "Training and sampling on MNIST",
        "Recent developments",
    ];
    assert_eq!(
        chapters.len(),
        want.len(),
        "SUMMARY.md should list the nine chapters"
    );
    for (c, w) in chapters.iter().zip(want) {
        assert!(
            c.title.starts_with(w),
            "expected '{w}…', found '{}'",
            c.title
        );
    }
    for c in &chapters {
        if let Some(f) = &c.file {
            assert!(
                book_src().join(f).is_file(),
                "SUMMARY.md links to a missing {f}"
            );
        } else {
            assert!(
                c.title.contains("coming next"),
                "draft chapter '{}' should say coming next",
                c.title
            );
        }
    }
}

/// Every `{{#include path:anchor}}` (and `rustdoc_include`) names an existing file, and the
/// anchor is opened and closed in it.
#[test]
fn every_include_resolves_to_a_file_and_anchor() {
    let mut count = 0;
    for md in markdown_files() {
        let text = read(&md);
        for piece in text.split("{{#").skip(1) {
            let directive = &piece[..piece.find("}}").expect("unclosed {{#")];
            let Some(arg) = directive
                .strip_prefix("include ")
                .or_else(|| directive.strip_prefix("rustdoc_include "))
            else {
                continue;
            };
            count += 1;
            let (path, anchor) = match arg.trim().split_once(':') {
                Some((p, a)) => (p, Some(a)),
                None => (arg.trim(), None),
            };
            let target = md.parent().unwrap().join(path);
            assert!(
                target.is_file(),
                "{}: include of missing file {path}",
                md.display()
            );
            if let Some(anchor) = anchor.filter(|a| a.parse::<usize>().is_err()) {
                let src = read(&target);
                assert!(
                    src.contains(&format!("ANCHOR: {anchor}\n"))
                        && src.contains(&format!("ANCHOR_END: {anchor}\n")),
                    "{}: anchor '{anchor}' is not opened and closed in {path}",
                    md.display()
                );
            }
        }
    }
    assert!(
        count >= 10,
        "expected the chapters to include their code, found {count} includes"
    );
}

/// Every image the book shows exists, and none is loaded from the network.
#[test]
fn every_image_exists_locally() {
    let mut count = 0;
    for md in markdown_files() {
        let text = without_code_fences(&read(&md));
        for piece in text.split("](").skip(1) {
            let link = &piece[..piece.find(')').unwrap_or(piece.len())];
            if !link.ends_with(".png") && !link.ends_with(".svg") && !link.ends_with(".gif") {
                continue;
            }
            count += 1;
            assert!(
                !link.starts_with("http"),
                "{}: remote image {link}",
                md.display()
            );
            assert!(
                md.parent().unwrap().join(link).is_file(),
                "{}: missing image {link}",
                md.display()
            );
        }
    }
    assert!(
        count >= 4,
        "expected the chapters' figures, found {count} images"
    );
}

/// A written chapter names its crate and notebook on its first lines, and both exist; its
/// number matches the notebook's.
#[test]
fn written_chapters_have_their_crate_and_notebook() {
    let written: Vec<String> = summary_chapters()
        .into_iter()
        .filter_map(|c| c.file)
        .collect();
    assert!(written.len() >= 2);
    for file in written.iter().filter(|f| f.starts_with("ch")) {
        let text = read(&book_src().join(file));
        let header: String = text.lines().take(6).collect::<Vec<_>>().join(" ");
        let grab = |key: &str| -> String {
            let after = header
                .split(&format!("**{key}** `"))
                .nth(1)
                .unwrap_or_else(|| panic!("{file}: no **{key}** `…` in its header"));
            after[..after.find('`').unwrap()].to_string()
        };
        let krate = grab("Crate");
        let notebook = grab("Notebook");
        assert!(
            root().join(&krate).join("Cargo.toml").is_file(),
            "{file}: crate {krate} missing"
        );
        assert!(
            root().join(&notebook).is_file(),
            "{file}: notebook {notebook} missing"
        );
        let number = &file[2..4];
        assert!(
            notebook.starts_with(&format!("notebooks/{number}-")),
            "{file}: notebook {notebook} should be numbered {number}"
        );
    }
}

/// The failure modes that make mdbook + KaTeX exit 0 with a broken page: dollar signs that
/// pair up wrongly (money read as math), an odd number of `$` in a paragraph, `$` in a heading, `\(`/`\[`
/// delimiters (not math in `$` mode).
#[test]
fn math_delimiters_are_well_formed() {
    for md in markdown_files() {
        let text = without_code_fences(&read(&md));
        let name = md.file_name().unwrap().to_string_lossy().to_string();
        for paragraph in text.split("\n\n") {
            let prose: String = paragraph
                .lines()
                .map(without_inline_code)
                .collect::<Vec<_>>()
                .join("\n");
            let dollars = prose.matches('$').count() - prose.matches("\\$").count();
            assert!(
                dollars.is_multiple_of(2),
                "{name}: odd number of $ in paragraph:\n{paragraph}"
            );
            // Money ("$5 and $10") or a lone `$` pairs the wrong dollars into garbage math. A
            // span that reads like prose — a plain word of three or more letters, not a TeX
            // command or a \text{} argument — means the pairing went wrong.
            for (k, span) in prose.replace("$$", "$").split('$').enumerate() {
                if k % 2 == 1 {
                    if let Some(word) = prose_word(span) {
                        panic!("{name}: math span reads like prose ('{word}'): ${span}$ — write \\$ for a dollar sign");
                    }
                }
            }
            assert!(
                !prose.contains("\\(") && !prose.contains("\\["),
                "{name}: \\( or \\[ delimiters in:\n{paragraph}"
            );
            for line in prose.lines().filter(|l| l.starts_with('#')) {
                assert!(!line.contains('$'), "{name}: math in a heading: {line}");
            }
        }
    }
}

/// The first plain lower-case word of three or more letters in a math span, if any: letters not
/// preceded by `\\` (a command) or `{` (an argument), outside `\\text{…}` and its kin.
fn prose_word(span: &str) -> Option<String> {
    // Text set on purpose (`\\text{a sum of …}`) is prose by design: drop it first.
    let mut span = span.to_string();
    for cmd in [
        "\\text{",
        "\\textrm{",
        "\\mathrm{",
        "\\operatorname{",
        "\\mbox{",
    ] {
        while let Some(start) = span.find(cmd) {
            let end = span[start..]
                .find('}')
                .map_or(span.len(), |e| start + e + 1);
            span.replace_range(start..end, " ");
        }
    }
    let chars: Vec<char> = span.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_lowercase() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                i += 1;
            }
            let prev = start.checked_sub(1).map(|j| chars[j]);
            if i - start >= 3 && !matches!(prev, Some('\\') | Some('{')) {
                return Some(chars[start..i].iter().collect());
            }
        } else {
            i += 1;
        }
    }
    None
}

#[test]
fn prose_in_math_is_detected() {
    assert_eq!(prose_word("5 and "), Some("and".into()));
    assert_eq!(prose_word("x_0 + t_{max}"), None);
    assert_eq!(
        prose_word("\\underbrace{x}_{\\text{a sum of two}} + y"),
        None
    );

    assert_eq!(
        prose_word("\\operatorname{round}(x) + \\bar\\alpha_t"),
        None
    );
}
