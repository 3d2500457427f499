//! The layers of `moonpool-sim` only look down: a module never names a
//! module of a layer above its own.
//!
//! The check reads every `src/**/*.rs` (the crate root `lib.rs`, which only
//! declares modules and the public surface, and `src/bin/`, which is a
//! separate crate, excepted), blanks comments and string literals, and
//! resolves every `crate::…` and `super::…` path (in `use` declarations
//! and inline alike, brace groups included) to the top-level module it
//! starts from. [`LAYERS`] gives each top-level module its layer. A path
//! into a higher layer is a violation; so is a `crate::` path that starts
//! with no layer module (a root re-export such as `crate::SimControl`),
//! because its layer cannot be read from the path.

use std::fmt;
use std::path::{Path, PathBuf};

/// Top-level modules of `src/` and their layer, bottom up.
const LAYERS: &[(&str, u8)] = &[
    ("kernel", 1),
    ("model", 2),
    ("nemesis", 3),
    ("runner", 4),
    ("trace", 4),
    ("cli", 5),
    ("report", 5),
];

fn layer_name(layer: u8) -> &'static str {
    match layer {
        1 => "kernel (1)",
        2 => "model (2)",
        3 => "nemesis (3)",
        4 => "runner (4)",
        _ => "front end (5)",
    }
}

fn layer_of(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// A path that breaks the layering.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    path: String,
    problem: Problem,
}

#[derive(Debug, PartialEq, Eq)]
enum Problem {
    /// The file's layer imports from a higher one.
    Upward { from: u8, to: u8 },
    /// A `crate::` path that starts with no layer module.
    NotALayerPath,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problem {
            Problem::Upward { from, to } => write!(
                f,
                "{}:{}: `{}` is in layer {}, but `{}` names layer {} above it",
                self.file,
                self.line,
                self.file,
                layer_name(from),
                self.path,
                layer_name(to)
            ),
            Problem::NotALayerPath => write!(
                f,
                "{}:{}: `{}` does not start with a layer module ({}); name the module the item lives in",
                self.file,
                self.line,
                self.path,
                LAYERS
                    .iter()
                    .map(|(m, _)| *m)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// `text` with comments and the contents of string and char literals
/// replaced by spaces (newlines kept, so line numbers stay right).
fn blank(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let keep_newlines = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(keep_newlines(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !ident_char(b.get(i.wrapping_sub(1)).copied())
        {
            // Raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.extend(std::iter::repeat_n(' ', j + 1 - i));
            i = j + 1;
            while i < b.len() {
                if b[i] == '"' && (0..hashes).all(|h| b.get(i + 1 + h) == Some(&'#')) {
                    out.extend(std::iter::repeat_n(' ', 1 + hashes));
                    i += 1 + hashes;
                    break;
                }
                out.push(keep_newlines(b[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(keep_newlines(b[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && is_char_literal(&b, i) {
            // 'x' or '\n' (a lifetime has no closing quote).
            let end = b[i + 1..]
                .iter()
                .position(|&c| c == '\'')
                .map_or(b.len(), |p| i + 1 + p);
            out.extend(std::iter::repeat_n(' ', end + 1 - i));
            i = end + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

fn is_char_literal(b: &[char], i: usize) -> bool {
    matches!(
        (b.get(i + 1), b.get(i + 2)),
        (Some('\\'), _) | (Some(_), Some('\''))
    )
}

/// The module path of a source file relative to `src/`
/// (`kernel/executor/mod.rs` is `["kernel", "executor"]`).
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if stem != "mod" {
            parts.push(stem.to_string());
        }
    }
    parts
}

/// The top-level modules named by the paths in one path expression
/// starting at byte `start` of `text` (after `crate::`), brace groups
/// included: `{kernel::a, model::{b, c}}` names `kernel` and `model`.
fn first_segments(text: &[u8], mut i: usize) -> Vec<(usize, String)> {
    while i < text.len() && text[i].is_ascii_whitespace() {
        i += 1;
    }
    if text.get(i) == Some(&b'{') {
        let mut out = Vec::new();
        let mut depth = 0;
        let mut expect_segment = true;
        while i < text.len() {
            match text[i] {
                b'{' => {
                    depth += 1;
                    if depth == 1 {
                        expect_segment = true;
                    }
                }
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                b',' if depth == 1 => expect_segment = true,
                c if expect_segment && depth == 1 && (c.is_ascii_alphabetic() || c == b'_') => {
                    let end = ident_end(text, i);
                    out.push((i, String::from_utf8_lossy(&text[i..end]).into_owned()));
                    expect_segment = false;
                    i = end;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        out
    } else {
        let end = ident_end(text, i);
        if end == i {
            return Vec::new();
        }
        vec![(i, String::from_utf8_lossy(&text[i..end]).into_owned())]
    }
}

fn ident_end(text: &[u8], mut i: usize) -> usize {
    while i < text.len() && (text[i].is_ascii_alphanumeric() || text[i] == b'_') {
        i += 1;
    }
    i
}

/// Every layering violation in one file, whose path relative to `src/` is
/// `relative`.
fn check_file(relative: &Path, source: &str) -> Vec<Violation> {
    let file_module = module_of(relative);
    let Some(own) = file_module.first().and_then(|m| layer_of(m)) else {
        return vec![Violation {
            file: relative.display().to_string(),
            line: 1,
            path: file_module.join("::"),
            problem: Problem::NotALayerPath,
        }];
    };
    let text = blank(source);
    let bytes = text.as_bytes();
    let line_of = |at: usize| text[..at].bytes().filter(|&b| b == b'\n').count() + 1;
    // Inline `mod name {` blocks extend the module path for `super`.
    let mut inline: Vec<(usize, String)> = Vec::new(); // (brace depth, name)
    let mut depth = 0usize;
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'{' {
            depth += 1;
            i += 1;
            continue;
        }
        if c == b'}' {
            depth = depth.saturating_sub(1);
            while inline.last().is_some_and(|(d, _)| *d > depth) {
                inline.pop();
            }
            i += 1;
            continue;
        }
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if !boundary {
            i += 1;
            continue;
        }
        if text[i..].starts_with("mod ") {
            let name_start = i + 4;
            let name_end = ident_end(bytes, name_start);
            let rest = text[name_end..].trim_start();
            if rest.starts_with('{') {
                inline.push((depth + 1, text[name_start..name_end].to_string()));
            }
            i = name_end;
            continue;
        }
        let mut targets: Vec<(usize, String)> = Vec::new();
        let mut expr_end = i + 1;
        if text[i..].starts_with("crate::") && (i == 0 || bytes[i - 1] != b'$') {
            expr_end = i + "crate::".len();
            targets = first_segments(bytes, expr_end);
        } else if text[i..].starts_with("super::") {
            // Resolve `super::super::...` against the module we are in.
            let mut module: Vec<String> = file_module.clone();
            module.extend(inline.iter().map(|(_, n)| n.clone()));
            let mut j = i;
            while text[j..].starts_with("super::") {
                module.pop();
                j += "super::".len();
            }
            expr_end = j;
            targets = match module.first() {
                Some(top) => vec![(j, top.clone())],
                None => first_segments(bytes, j),
            };
        }
        for (at, top) in targets {
            let path = text[i..ident_end(bytes, at).max(expr_end)].to_string();
            let problem = match layer_of(&top) {
                Some(layer) if layer > own => Some(Problem::Upward {
                    from: own,
                    to: layer,
                }),
                Some(_) => None,
                None if top == "self" => None,
                None => Some(Problem::NotALayerPath),
            };
            if let Some(problem) = problem {
                found.push(Violation {
                    file: relative.display().to_string(),
                    line: line_of(at),
                    path: if path.ends_with(&top) {
                        path
                    } else {
                        format!("{path}{top}")
                    },
                    problem,
                });
            }
        }
        i = expr_end.max(i + 1);
    }
    found
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read src/")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut violations = Vec::new();
    let mut checked_per_layer = [0usize; 6];
    for path in &files {
        let relative = path.strip_prefix(&src).expect("under src/");
        if relative == Path::new("lib.rs") || relative.starts_with("bin") {
            continue;
        }
        let source = std::fs::read_to_string(path).expect("read source");
        if let Some(layer) = module_of(relative).first().and_then(|m| layer_of(m)) {
            checked_per_layer[layer as usize] += 1;
        }
        violations.extend(check_file(relative, &source));
    }
    // Not vacuous: every layer has files that were read.
    for (layer, checked) in checked_per_layer.iter().enumerate().skip(1) {
        assert!(
            *checked > 0,
            "no file of layer {} was checked",
            layer_name(layer as u8)
        );
    }
    let report: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert!(
        report.is_empty(),
        "layering violations:\n{}",
        report.join("\n")
    );
}

#[test]
fn a_planted_upward_use_is_reported_with_file_line_and_both_layers() {
    let source =
        "//! A kernel module.\n\nuse std::rc::Rc;\nuse crate::runner::builder::Simulation;\n";
    let found = check_file(Path::new("kernel/run.rs"), source);
    assert_eq!(
        found,
        vec![Violation {
            file: "kernel/run.rs".to_string(),
            line: 4,
            path: "crate::runner".to_string(),
            problem: Problem::Upward { from: 1, to: 4 },
        }]
    );
    let message = found[0].to_string();
    assert!(message.starts_with("kernel/run.rs:4:"), "{message}");
    assert!(
        message.contains("kernel (1)") && message.contains("runner (4)"),
        "{message}"
    );
}

#[test]
fn inline_paths_and_brace_groups_are_resolved() {
    let inline = "fn f() {\n    let w = crate::model::world::World::new();\n}\n";
    let found = check_file(Path::new("kernel/mod.rs"), inline);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].problem, Problem::Upward { from: 1, to: 2 });
    assert_eq!(found[0].line, 2);

    let group = "use crate::{\n    kernel::draw,\n    nemesis::attrition::Attrition,\n};\n";
    let found = check_file(Path::new("model/control.rs"), group);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].problem, Problem::Upward { from: 2, to: 3 });
    assert_eq!(found[0].line, 3);
}

#[test]
fn super_paths_that_climb_out_of_a_layer_are_resolved() {
    // From a layer root, `super::` is the crate root.
    let found = check_file(
        Path::new("nemesis/mod.rs"),
        "use super::runner::workload::Workload;\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].problem, Problem::Upward { from: 3, to: 4 });
    // Two levels down, two `super`s reach the crate root too.
    let found = check_file(
        Path::new("model/network/stream.rs"),
        "use super::super::super::cli::CliError;\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].problem, Problem::Upward { from: 2, to: 5 });
    // Within the layer, `super` is fine, also from an inline test module.
    let fine = "use super::connection::Conn;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::world::World;\n}\n";
    assert_eq!(
        check_file(Path::new("model/network/stream.rs"), fine),
        vec![]
    );
}

#[test]
fn downward_paths_comments_strings_and_macro_crate_paths_pass() {
    let source = r##"
use crate::kernel::Kernel;
use crate::model::world::World;
// use crate::cli::CliError;
/// See [`crate::report`].
/* crate::runner::Simulation */
const NAME: &str = "crate::runner::builder";
const RAW: &str = r#"crate::cli"#;
macro_rules! m { () => { $crate::__core::buggify!() }; }
fn f<'a>(c: char) -> bool { c == '"' }
"##;
    assert_eq!(check_file(Path::new("nemesis/network.rs"), source), vec![]);
}

#[test]
fn a_root_reexport_path_is_refused_because_its_layer_is_unknown() {
    let found = check_file(
        Path::new("model/control.rs"),
        "fn f(p: &crate::SimProviders) {}\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].problem, Problem::NotALayerPath);
    assert_eq!(found[0].path, "crate::SimProviders");
}
