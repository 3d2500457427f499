//! The book (`docs/`) is checked like code: a chapter that shows code
//! shows a file the test suite compiles and runs, and no link is broken.
//!
//! - Every page under `docs/src` is in `SUMMARY.md`, and every page
//!   `SUMMARY.md` lists exists.
//! - A fenced `rust` block holds nothing but `{{#include FILE:ANCHOR}}`
//!   lines, so the book never shows Rust the compiler has not seen. Each
//!   included file exists, is one the test suite builds (an example of
//!   `moonpool-examples` declared with `test = true`, the first-simulation
//!   crate that `tests/first_simulation.rs` builds, or a crate's own
//!   sources, tests and examples), and has the anchor the page names.
//! - Every relative link and image resolves to a file inside `docs/src`,
//!   and every `#fragment` to a heading of the page it points at.
//!
//! `.ci/run` also builds the book with a pinned `mdbook` and fails on any
//! warning it prints.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("moonpool-examples sits in the workspace root")
        .to_path_buf()
}

fn book_src() -> PathBuf {
    repo_root().join("docs/src")
}

/// Every `.md` page under `docs/src`, relative to it.
fn pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("readable docs/src") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path.strip_prefix(base).expect("under base").to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(&book_src(), &book_src(), &mut out);
    out.sort();
    out
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The targets of markdown links and images on a page, outside code.
/// Each is `(is_image, target)`.
fn links(text: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    for line in prose_lines(text) {
        let bytes = line.as_bytes();
        let mut i = 0;
        while let Some(off) = line[i..].find("](") {
            let close = i + off;
            let start = close + 2;
            let Some(len) = line[start..].find(')') else {
                break;
            };
            let target = line[start..start + len].trim();
            // `![alt](x)` is an image when the matching `[` follows a `!`.
            let is_image = line[..close]
                .rfind('[')
                .is_some_and(|open| open > 0 && bytes[open - 1] == b'!');
            let target = target.split_whitespace().next().unwrap_or("").to_string();
            out.push((is_image, target));
            i = start + len;
        }
    }
    out
}

/// The lines of a page that are not inside fenced code blocks, with inline
/// code spans removed.
fn prose_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let mut kept = String::new();
        for (k, piece) in line.split('`').enumerate() {
            if k % 2 == 0 {
                kept.push_str(piece);
            }
        }
        out.push(kept);
    }
    out
}

/// The fenced code blocks of a page: `(info string, body lines)`.
fn fences(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            match current.take() {
                None => current = Some((info.trim().to_string(), Vec::new())),
                Some(block) => out.push(block),
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push(line.to_string());
        }
    }
    out
}

/// mdBook's id for a heading: lower case, spaces to `-`, letters, digits,
/// `-` and `_` kept, everything else dropped.
fn heading_id(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                Some(c.to_lowercase().next().unwrap_or(c))
            } else if c.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// The ids of a page's headings, numbered as mdBook numbers repeats.
fn heading_ids(text: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut in_fence = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        if trimmed.starts_with('#') {
            let heading = trimmed.trim_start_matches('#');
            if heading.starts_with(' ') {
                let base = heading_id(heading);
                let mut id = base.clone();
                let mut n = 1;
                while ids.contains(&id) {
                    id = format!("{base}-{n}");
                    n += 1;
                }
                ids.insert(id);
            }
        }
    }
    ids
}

/// The include directives of a block: `(file relative to the page, anchor)`.
fn includes(body: &[String]) -> Vec<(String, Option<String>)> {
    body.iter()
        .filter_map(|line| {
            let line = line.trim();
            let inner = line.strip_prefix("{{#include ")?.strip_suffix("}}")?;
            let inner = inner.trim();
            // `path:anchor`; a Windows drive letter never appears here.
            match inner.split_once(':') {
                Some((path, anchor)) => Some((path.to_string(), Some(anchor.to_string()))),
                None => Some((inner.to_string(), None)),
            }
        })
        .collect()
}

/// Files the book may show as Rust: ones the test suite compiles.
fn compiled_by_the_suite(file: &Path, manifest: &str) -> Result<(), String> {
    let rel = file
        .strip_prefix(repo_root())
        .map_err(|_| format!("{} is outside the repository", file.display()))?;
    let rel_str = rel.to_string_lossy().replace('\\', "/");
    if let Some(name) = rel_str
        .strip_prefix("moonpool-examples/examples/")
        .and_then(|n| n.strip_suffix(".rs"))
    {
        // Declared with `test = true`, so `cargo test` builds and runs it.
        let declared = manifest.split("[[example]]").skip(1).any(|section| {
            section.contains(&format!("name = \"{name}\"")) && section.contains("test = true")
        });
        return if declared {
            Ok(())
        } else {
            Err(format!(
                "{rel_str} is shown in the book but not declared in moonpool-examples/Cargo.toml \
                 as an [[example]] with `test = true`"
            ))
        };
    }
    let crates = [
        "moonpool-core/",
        "moonpool-sim/",
        "moonpool-transport/",
        "moonpool-examples/",
    ];
    let compiled_dirs = ["src/", "tests/", "examples/"];
    let in_crate = crates.iter().any(|c| {
        rel_str
            .strip_prefix(c)
            .is_some_and(|rest| compiled_dirs.iter().any(|d| rest.starts_with(d)))
    });
    if in_crate || rel_str.starts_with("docs/first-simulation/src/") {
        Ok(())
    } else {
        Err(format!("{rel_str} is shown as Rust but no test builds it"))
    }
}

fn anchor_present(text: &str, anchor: &str) -> bool {
    let opens = text
        .lines()
        .any(|l| l.trim_end().ends_with(&format!("ANCHOR: {anchor}")));
    let closes = text
        .lines()
        .any(|l| l.trim_end().ends_with(&format!("ANCHOR_END: {anchor}")));
    opens && closes
}

#[test]
fn summary_lists_every_page_and_every_listed_page_exists() {
    let summary = fs::read_to_string(book_src().join("SUMMARY.md")).expect("docs/src/SUMMARY.md");
    let listed: BTreeSet<PathBuf> = links(&summary)
        .into_iter()
        .map(|(_, target)| PathBuf::from(target))
        .collect();
    let mut problems = Vec::new();
    for page in &listed {
        if !book_src().join(page).is_file() {
            problems.push(format!(
                "SUMMARY.md lists {} which does not exist",
                page.display()
            ));
        }
    }
    for page in pages() {
        if page != Path::new("SUMMARY.md") && !listed.contains(&page) {
            problems.push(format!("{} is not in SUMMARY.md", page.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_rust_snippet_is_included_from_a_file_the_suite_compiles() {
    let manifest = fs::read_to_string(repo_root().join("moonpool-examples/Cargo.toml"))
        .expect("moonpool-examples/Cargo.toml");
    let mut problems = Vec::new();
    let mut shown = 0;
    for page in pages() {
        let path = book_src().join(&page);
        let text = fs::read_to_string(&path).expect("a readable page");
        for (info, body) in fences(&text) {
            let directives = includes(&body);
            let is_rust = info.split(',').next().is_some_and(|lang| lang == "rust");
            if is_rust {
                let stray = body
                    .iter()
                    .filter(|l| !l.trim().is_empty() && !l.trim().starts_with("{{#include "))
                    .count();
                if stray > 0 || directives.is_empty() {
                    problems.push(format!(
                        "{}: a rust block written inline ({} lines); include it from a compiled file",
                        page.display(),
                        body.len()
                    ));
                    continue;
                }
            }
            for (file, anchor) in directives {
                let target = normalize(&path.parent().expect("a page has a folder").join(&file));
                let Ok(content) = fs::read_to_string(&target) else {
                    problems.push(format!(
                        "{}: includes {file}, which does not exist",
                        page.display()
                    ));
                    continue;
                };
                if is_rust {
                    shown += 1;
                    if let Err(e) = compiled_by_the_suite(&target, &manifest) {
                        problems.push(format!("{}: {e}", page.display()));
                    }
                }
                if let Some(anchor) = anchor
                    && !anchor_present(&content, &anchor)
                {
                    problems.push(format!(
                        "{}: {file} has no ANCHOR/ANCHOR_END pair named {anchor}",
                        page.display()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        shown > 0,
        "the book shows no Rust at all: the check would be vacuous"
    );
}

#[test]
fn every_relative_link_and_image_resolves_inside_the_book() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let path = book_src().join(&page);
        let text = fs::read_to_string(&path).expect("a readable page");
        for (is_image, target) in links(&text) {
            if target.is_empty()
                || target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            checked += 1;
            let (file, fragment) = match target.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment)),
                None => (target.as_str(), None),
            };
            let resolved = if file.is_empty() {
                path.clone()
            } else {
                normalize(&path.parent().expect("a page has a folder").join(file))
            };
            if !resolved.starts_with(book_src()) {
                problems.push(format!(
                    "{}: {target} leaves the book (the built site would not have it)",
                    page.display()
                ));
                continue;
            }
            if !resolved.is_file() {
                problems.push(format!("{}: {target} does not exist", page.display()));
                continue;
            }
            if is_image {
                continue;
            }
            if let Some(fragment) = fragment {
                let target_text = fs::read_to_string(&resolved).expect("a readable page");
                if !heading_ids(&target_text).contains(fragment) {
                    problems.push(format!(
                        "{}: {target}: no heading with id {fragment}",
                        page.display()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        checked > 0,
        "no relative link found: the check would be vacuous"
    );
}

#[test]
fn the_link_checker_sees_headings_as_mdbook_names_them() {
    let ids = heading_ids("# Why simulate?\n## The `sim` command line\n## Repeat\n## Repeat\n");
    assert!(ids.contains("why-simulate"), "{ids:?}");
    assert!(ids.contains("the-sim-command-line"), "{ids:?}");
    assert!(
        ids.contains("repeat") && ids.contains("repeat-1"),
        "{ids:?}"
    );
}

/// Every `.rs` file under `dir`, relative to it.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("a readable source folder") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path.strip_prefix(base).expect("under base").to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Whether ARCHITECTURE.md names a source file of a crate: by its path
/// (`cli/args.rs`), its folder (`kernel/executor/`), its file name inside
/// a folder it describes (`args.rs`), or its module name in backticks
/// (`` `time` ``, `` `server` ``).
fn code_map_names(map: &str, file: &Path) -> bool {
    let rel = file.to_string_lossy().replace('\\', "/");
    if rel == "lib.rs" || rel == "main.rs" {
        return true;
    }
    let module = rel
        .strip_suffix("/mod.rs")
        .or_else(|| rel.strip_suffix(".rs"))
        .unwrap_or(&rel);
    let leaf = module.rsplit('/').next().unwrap_or(module);
    map.contains(&rel)
        || map.contains(&format!("{module}/"))
        || map.contains(&format!("{module}.rs"))
        || (rel.ends_with("/mod.rs") && map.contains(&format!("`{module}`")))
        || map.contains(&format!("`{leaf}.rs`"))
        || map.contains(&format!("`{leaf}`"))
}

#[test]
fn architecture_code_map_names_every_module_of_every_crate() {
    let root = repo_root();
    let map = fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut missing = Vec::new();
    let mut seen = 0;
    for krate in [
        "moonpool-core",
        "moonpool-sim",
        "moonpool-transport",
        "moonpool-examples",
    ] {
        for file in rust_files(&root.join(krate).join("src")) {
            seen += 1;
            if !code_map_names(&map, &file) {
                missing.push(format!("{krate}/src/{}", file.display()));
            }
        }
    }
    assert!(
        seen > 50,
        "only {seen} source files found: the walk is broken"
    );
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map does not name these modules:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_code_map_check_refuses_a_module_it_does_not_name() {
    let map = "| `kernel/executor/` | ... `waker.rs` |\n| `time` | ... |";
    assert!(code_map_names(map, Path::new("time.rs")));
    assert!(code_map_names(map, Path::new("kernel/executor/mod.rs")));
    assert!(code_map_names(map, Path::new("kernel/executor/waker.rs")));
    assert!(!code_map_names(map, Path::new("kernel/watchdog.rs")));
    assert!(!code_map_names(map, Path::new("report/json.rs")));
}

/// The text between `ANCHOR: name` and `ANCHOR_END: name` of a file, as
/// mdBook includes it.
fn anchored(text: &str, anchor: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.trim_end().ends_with(&format!("ANCHOR: {anchor}")) {
            inside = true;
        } else if line.trim_end().ends_with(&format!("ANCHOR_END: {anchor}")) {
            inside = false;
        } else if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn the_readme_taste_is_the_compiled_example_verbatim() {
    let root = repo_root();
    let readme = fs::read_to_string(root.join("README.md")).expect("README.md");
    let example = fs::read_to_string(root.join("moonpool-examples/examples/taste.rs"))
        .expect("moonpool-examples/examples/taste.rs");
    let shown: Vec<String> = fences(&readme)
        .into_iter()
        .filter(|(info, _)| info == "rust")
        .map(|(_, body)| body.join("\n") + "\n")
        .collect();
    let compiled = anchored(&example, "taste");
    assert!(!compiled.trim().is_empty(), "taste.rs lost its anchors");
    assert_eq!(
        shown,
        vec![compiled],
        "README.md's rust block differs from taste.rs"
    );
}

#[test]
fn the_readme_links_resolve() {
    let root = repo_root();
    let readme = fs::read_to_string(root.join("README.md")).expect("README.md");
    let mut checked = 0;
    for (_, target) in links(&readme) {
        if target.starts_with("http") {
            continue;
        }
        checked += 1;
        let file = target.split('#').next().unwrap_or("");
        assert!(
            root.join(file).exists(),
            "README.md links to {target}, which does not exist"
        );
    }
    assert!(checked > 0);
}
