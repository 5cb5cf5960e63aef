//! The book is whole: the course is listed, every include and image resolves, every written
//! chapter has its crate and notebook, and the math will survive markdown and KaTeX.

mod common;

use common::*;
use std::path::Path;

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
        "Training on a budget",
    ];
    assert_eq!(
        chapters.len(),
        want.len(),
        "SUMMARY.md should list the ten chapters"
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
        // A whole run of letters at a time, so the tail of `\\Sigma` is not read as "igma".
        if chars[i].is_ascii_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                i += 1;
            }
            let prev = start.checked_sub(1).map(|j| chars[j]);
            if chars[start].is_ascii_lowercase()
                && i - start >= 3
                && !matches!(prev, Some('\\') | Some('{'))
            {
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
    // Upper-case commands are commands too; a word after one is still prose.
    assert_eq!(prose_word("\\Sigma_\\theta + \\Delta t"), None);
    assert_eq!(prose_word("\\Sigma then"), Some("then".into()));
}

// ---------------------------------------------------------------------------------------------
// Every test the book names exists.
//
// The book cites tests in two ways. In each chapter's equation → test table ("checked by"), every
// name in backticks in the second column is a test: of the crate the header names
// (`cargo test -p X`) unless a `` `ddpm-x`'s `` in front of it names another, and, after a name
// with a module path (`process::tests::chain_matches_the_closed_form`), of that module until the
// next qualified name in the same cell. In prose, a name with a `tests::` path is a test of that
// module; any other lower-case name of three or more words (`training_is_reproducible`,
// `discretized_gaussian_log_likelihood`) is a function. Shorter names (`q_sample`, `x_t`) are
// left alone: they are code symbols and variables, not citations.
// ---------------------------------------------------------------------------------------------

/// A name the book cites: where, and what it must resolve to.
#[derive(Clone, Debug, PartialEq)]
struct Citation {
    line: usize,
    /// As written in the book.
    text: String,
    name: String,
    /// The crate directory it must be in (`ddpm-vlb`), when the book says.
    krate: Option<String>,
    /// The module (a file `m.rs`, or a folder `m/`) it must be in, when the book says.
    module: Option<String>,
    /// Whether it must be a `#[test]`, not just a `fn`.
    test: bool,
    /// A module of tests (`idx::tests`) rather than a function.
    is_mod: bool,
}

/// One `fn` (or `mod`) in the workspace's sources.
#[derive(Clone, Debug)]
struct FnDef {
    /// Relative to the repository root, with `/`.
    path: String,
    name: String,
    test: bool,
    is_mod: bool,
}

fn is_ident_path(s: &str) -> bool {
    !s.is_empty()
        && s.split("::").all(|seg| {
            seg.starts_with(|c: char| c.is_ascii_lowercase())
                && seg
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// The crate directory a name like `ddpm-vlb` or `ddpm_vlb` stands for, if there is one.
fn crate_dir(name: &str, crates: &[String]) -> Option<String> {
    let dashed = name.replace('_', "-");
    crates.iter().find(|c| **c == dashed).cloned()
}

/// Every citation in one page of the book (`crates`: the crate directories under `crates/`).
fn citations(markdown: &str, crates: &[String]) -> Vec<Citation> {
    let text = without_code_fences(markdown);
    let lines: Vec<&str> = text.lines().collect();
    // For each line of an equation → test table: the crate its header names.
    let mut table_crate: Vec<Option<Option<String>>> = vec![None; lines.len()];
    let mut i = 0;
    while i < lines.len() {
        if lines[i].starts_with('|') {
            let start = i;
            while i < lines.len() && lines[i].starts_with('|') {
                i += 1;
            }
            if lines[start].contains("checked by") {
                let default = lines[start].split("cargo test -p ").nth(1).map(|rest| {
                    rest.split(|c: char| c == '`' || c.is_whitespace())
                        .next()
                        .unwrap()
                        .to_string()
                });
                for entry in &mut table_crate[start + 1..i] {
                    *entry = Some(default.clone());
                }
            }
        } else {
            i += 1;
        }
    }
    // Code spans, over the whole text (a span may wrap onto the next line).
    let mut spans = Vec::new(); // (line, cell, preceding text, content)
    let mut rest = text.as_str();
    let mut offset = 0;
    while let Some(open) = rest.find('`') {
        let Some(len) = rest[open + 1..].find('`') else {
            break;
        };
        let start = offset + open;
        let line = text[..start].matches('\n').count();
        let line_start = text[..start].rfind('\n').map_or(0, |p| p + 1);
        let cell = text[line_start..start]
            .replace("\\|", "")
            .matches('|')
            .count();
        spans.push((
            line,
            cell,
            rest[..open].to_string(),
            rest[open + 1..open + 1 + len].to_string(),
        ));
        offset += open + 1 + len + 1;
        rest = &rest[open + 1 + len + 1..];
    }
    let mut out = Vec::new();
    // Within a table cell: the crate and module the last qualified name set.
    let mut context: ((usize, usize), Option<String>, Option<String>) =
        ((usize::MAX, 0), None, None);
    for (k, (line, cell, before, span)) in spans.iter().enumerate() {
        if !is_ident_path(span) {
            continue;
        }
        let segments: Vec<&str> = span.split("::").collect();
        let name = segments.last().unwrap().to_string();
        let mut krate = None;
        let mut module = None;
        for seg in &segments[..segments.len() - 1] {
            if let Some(c) = crate_dir(seg, crates) {
                krate = Some(c);
            } else if *seg != "tests" {
                module = Some(seg.to_string());
            }
        }
        if name == "tests" && module.is_none() {
            continue; // the word itself, not a module path
        }
        // `ddpm-x`'s `name`
        if k > 0 && (before == "'s " || before == "’s ") {
            if let Some(c) = crate_dir(&spans[k - 1].3, crates) {
                krate = Some(c);
            }
        }
        let qualified = segments.len() > 1 || krate.is_some();
        match table_crate.get(*line).cloned().flatten() {
            Some(default) if *cell >= 2 => {
                if context.0 != (*line, *cell) {
                    context = ((*line, *cell), default.clone(), None);
                }
                // A qualified name sets the crate (the table's unless it names one) and the
                // module for the names after it in the cell.
                if qualified {
                    context.1 = krate.clone().or(default);
                    context.2 = module.clone();
                }
                out.push(Citation {
                    line: line + 1,
                    text: span.clone(),
                    is_mod: name == "tests",
                    name,
                    krate: context.1.clone(),
                    module: context.2.clone(),
                    test: true,
                });
            }
            Some(_) => {} // the equation column
            None => {
                let test = segments.contains(&"tests");
                if test || name.split('_').count() >= 3 {
                    out.push(Citation {
                        line: line + 1,
                        text: span.clone(),
                        is_mod: name == "tests",
                        name,
                        krate,
                        module,
                        test,
                    });
                }
            }
        }
    }
    out
}

/// Every `fn` in `sources` (path, text), and whether a `#[test]` attribute precedes it.
fn fn_index(sources: &[(String, String)]) -> Vec<FnDef> {
    let mut out = Vec::new();
    for (path, src) in sources {
        let lines: Vec<&str> = src.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let mut t = line.trim_start();
            let inline_test = t.starts_with("#[test]");
            if inline_test {
                t = t["#[test]".len()..].trim_start();
            }
            for q in [
                "pub(crate) ",
                "pub(super) ",
                "pub ",
                "const ",
                "async ",
                "unsafe ",
            ] {
                t = t.strip_prefix(q).unwrap_or(t);
            }
            if let Some(after) = t.strip_prefix("mod ") {
                out.push(FnDef {
                    path: path.clone(),
                    name: after.trim_end_matches([' ', '{', ';']).to_string(),
                    test: false,
                    is_mod: true,
                });
                continue;
            }
            let Some(after) = t.strip_prefix("fn ") else {
                continue;
            };
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let mut test = inline_test;
            for prev in lines[..i].iter().rev().map(|l| l.trim()) {
                if prev.starts_with("//") {
                    continue;
                }
                if prev.is_empty() || prev.ends_with(['}', ';', '{']) {
                    break;
                }
                test |= prev.starts_with("#[test]");
            }
            out.push(FnDef {
                path: path.clone(),
                name,
                test,
                is_mod: false,
            });
        }
    }
    out
}

/// Why `c` does not resolve in `index`, if it does not.
fn unresolved(c: &Citation, index: &[FnDef]) -> Option<String> {
    let kind = if c.is_mod { "mod" } else { "fn" };
    let named: Vec<&FnDef> = index
        .iter()
        .filter(|f| f.name == c.name && f.is_mod == c.is_mod)
        .collect();
    if named.is_empty() {
        return Some(format!("no `{kind} {}` in crates/ or tests/", c.name));
    }
    let placed: Vec<&&FnDef> = named
        .iter()
        .filter(|f| {
            c.krate
                .as_ref()
                .is_none_or(|k| f.path.starts_with(&format!("crates/{k}/")))
                && c.module.as_ref().is_none_or(|m| {
                    let mut parts = f.path.rsplit('/');
                    let file = parts.next().unwrap();
                    file == format!("{m}.rs") || parts.any(|dir| dir == m)
                })
        })
        .collect();
    let found = || {
        named
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if placed.is_empty() {
        return Some(format!(
            "`{kind} {}` is not in {}{} (found in {})",
            c.name,
            c.krate
                .as_deref()
                .map_or(String::new(), |k| format!("crate {k} ")),
            c.module
                .as_deref()
                .map_or(String::new(), |m| format!("module {m}")),
            found()
        ));
    }
    if c.test && !c.is_mod && !placed.iter().any(|f| f.test) {
        return Some(format!("`fn {}` is not a #[test] ({})", c.name, found()));
    }
    None
}

fn crate_dirs() -> Vec<String> {
    std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect()
}

/// The Rust sources under crates/ and tests/ (not build output), as (path, text).
fn workspace_sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    walk(&path, root, out);
                }
            } else if path.extension().is_some_and(|x| x == "rs") {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, read(&path)));
            }
        }
    }
    let mut out = Vec::new();
    for top in ["crates", "tests"] {
        walk(&root().join(top), &root(), &mut out);
    }
    out
}

/// The citations of the whole book that do not resolve in `index`, as messages.
fn unresolved_in_book(index: &[FnDef]) -> (usize, Vec<String>) {
    let crates = crate_dirs();
    let mut count = 0;
    let mut problems = Vec::new();
    for md in markdown_files() {
        let page = md.file_name().unwrap().to_string_lossy().to_string();
        for c in citations(&read(&md), &crates) {
            count += 1;
            if let Some(why) = unresolved(&c, index) {
                problems.push(format!("{page}:{}: `{}`: {why}", c.line, c.text));
            }
        }
    }
    (count, problems)
}

/// Every test the book names exists, where the book says it is; a renamed, moved or deleted test
/// fails here, naming the page and line that cite it.
#[test]
fn every_test_the_book_names_exists() {
    let index = fn_index(&workspace_sources());
    let (count, problems) = unresolved_in_book(&index);
    assert!(
        problems.is_empty(),
        "the book names tests or functions that do not exist:\n{}",
        problems.join("\n")
    );
    assert!(
        count >= 100,
        "expected the book to cite its tests, found {count} citations"
    );
}

/// The check itself: on the real book, renaming one cited test (here chapter 3's
/// `chain_matches_the_closed_form`) is reported; on a small page, a renamed test, a test in the
/// wrong module or crate, and a plain function cited as a test are reported, and the rest pass.
#[test]
fn a_renamed_test_is_reported() {
    let mut index = fn_index(&workspace_sources());
    for f in &mut index {
        if f.name == "chain_matches_the_closed_form" {
            f.name = "chain_agrees_with_the_closed_form".into();
        }
    }
    let (_, problems) = unresolved_in_book(&index);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("ch03-forward-process.md:")
                && p.contains("chain_matches_the_closed_form")),
        "{problems:?}"
    );

    let walk = "\
pub fn helper_that_walks_far() {}
#[cfg(test)]
mod tests {
    /// Doc.
    #[test]
    fn walks_in_a_straight_line() {}

    #[test]
    #[should_panic]
    fn walks_back_again_now() {}
}
";
    let sources = vec![
        ("crates/ddpm-a/src/walk.rs".to_string(), walk.to_string()),
        (
            "crates/ddpm-b/src/run.rs".to_string(),
            "#[test]\nfn runs_in_a_circle() {}\n".to_string(),
        ),
    ];
    let index = fn_index(&sources);
    assert_eq!(index.iter().filter(|f| f.test).count(), 3);
    let crates = vec!["ddpm-a".to_string(), "ddpm-b".to_string()];
    let page = "\
Prose: `walk::tests::walks_in_a_straight_line` and `helper_that_walks_far`, `x_t` is no citation.
Cases in `walk::tests`; `run::tests` has none; `tests` alone is a word.

| equation | checked by (`cargo test -p ddpm-a` unless named) |
|---|---|
| (1.1) `not_a_citation_here` | `walk::tests::walks_in_a_straight_line`, `walks_back_again_now`; `ddpm-b`'s `runs_in_a_circle`; `walk::tests::walks_back_again_now` |
| (1.2) | `walks_in_a_curve`, `helper_that_walks_far`, `run::tests::walks_back_again_now` |

```rust
fn code_is_not_prose_at_all() {}
```
And `ddpm_a::walk::helper_that_walks_far` and `ddpm_b::helper_that_walks_far`.
";
    let cites = citations(page, &crates);
    let names: Vec<&str> = cites.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        names,
        [
            "walk::tests::walks_in_a_straight_line",
            "helper_that_walks_far",
            "walk::tests",
            "run::tests",
            "walk::tests::walks_in_a_straight_line",
            "walks_back_again_now",
            "runs_in_a_circle",
            "walk::tests::walks_back_again_now",
            "walks_in_a_curve",
            "helper_that_walks_far",
            "run::tests::walks_back_again_now",
            "ddpm_a::walk::helper_that_walks_far",
            "ddpm_b::helper_that_walks_far",
        ]
    );
    let bad: Vec<&str> = cites
        .iter()
        .filter(|c| unresolved(c, &index).is_some())
        .map(|c| c.text.as_str())
        .collect();
    assert_eq!(
        bad,
        [
            "run::tests",                       // no tests module in run.rs
            "walks_in_a_curve",                 // renamed: no such fn
            "helper_that_walks_far",            // in a table, so a test: a plain fn is not
            "run::tests::walks_back_again_now", // in module walk, not run
            "ddpm_b::helper_that_walks_far",    // in crate ddpm-a, not ddpm-b
        ]
    );
    let circle = cites.iter().find(|c| c.name == "runs_in_a_circle").unwrap();
    assert_eq!(circle.krate.as_deref(), Some("ddpm-b"));
    assert_eq!(circle.module, None);
    // After `ddpm-b`'s name, a module path is the table's crate again.
    assert_eq!(cites[7].krate.as_deref(), Some("ddpm-a"));
    assert_eq!(cites[5].module.as_deref(), Some("walk"));
    assert_eq!(cites[5].line, 6);
}

/// "Start here" opens the book and the README, and its chapter table stays true: it links every
/// chapter in order, its reading time is the chapter's prose at about 100 words a minute (within
/// 5 minutes), and its "problems + exercises" are the chapter's own counts.
#[test]
fn start_here_opens_the_book_and_its_table_is_true() {
    let summary = read(&book_src().join("SUMMARY.md"));
    let first_link = summary
        .split("](")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap();
    assert_eq!(first_link, "start-here.md", "the book's first page");
    let readme = read(&root().join("README.md"));
    let first_book_link = readme.find("book/src/").expect("README links the book");
    assert!(
        readme[first_book_link..].starts_with("book/src/start-here.md"),
        "the README's first link into the book should be Start here"
    );
    let page = read(&book_src().join("start-here.md"));
    let rows: Vec<&str> = page
        .lines()
        .filter(|l| l.starts_with("| [") && l.contains("](ch"))
        .collect();
    let chapters = summary_chapters();
    assert_eq!(rows.len(), chapters.len(), "one row per chapter");
    for (row, chapter) in rows.iter().zip(&chapters) {
        let file = chapter.file.as_deref().unwrap();
        assert!(
            row.contains(&format!("]({file})")),
            "{row}: expected {file}"
        );
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let minutes: f64 = cells[3]
            .split(" min")
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or_else(|| panic!("{file}: reading time '{}'", cells[3]));
        let text = read(&book_src().join(file));
        let words = without_code_fences(&text).split_whitespace().count() as f64;
        assert!(
            (minutes - words / 100.0).abs() <= 5.0,
            "{file}: {words} words of prose read in about {:.0} min, the page says {minutes}",
            words / 100.0
        );
        let count = |prefix: &str| text.lines().filter(|l| l.starts_with(prefix)).count();
        let want = format!("{} + {}", count("**Problem"), count("**Exercise"));
        assert_eq!(cells[4], want, "{file}: problems + exercises");
    }
}
