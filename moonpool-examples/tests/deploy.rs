//! The files that run sweeps on engines users already run are checked
//! like code: `.github/workflows/simulation.yml` (a matrix of shards per
//! example) and `deploy/k8s/sweep-job.yaml` (an Indexed Job and a merge
//! Job) parse as YAML, have the shape they need (the shard count agrees
//! everywhere it is written, every example is swept, reports are merged),
//! and every example command in them uses subcommands and flags the
//! example binaries have. The `Dockerfile` builds the binaries they run.

use std::path::PathBuf;

use clap::Command;
use yaml_rust2::{Yaml, YamlLoader};

const EXAMPLES: [&str; 5] = ["pingpong", "wal", "kv", "election", "bank"];

fn repo_file(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&repo_file(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every example's clap command.
fn commands() -> Vec<Command> {
    use moonpool_examples::*;
    vec![
        harness::command(&pingpong::EXAMPLE),
        harness::command(&wal::EXAMPLE),
        harness::command(&kv::EXAMPLE),
        harness::command(&election::EXAMPLE),
        harness::command(&bank::EXAMPLE),
    ]
}

/// Shell lines of a script, with `\` continuations joined.
fn shell_lines(script: &str) -> Vec<String> {
    script
        .replace("\\\n", " ")
        .replace("${{ matrix.example }}", "$EXAMPLE")
        .replace("${{ matrix.shard }}", "$SHARD")
        .lines()
        .map(str::to_string)
        .collect()
}

/// Every `sim` or `merge` invocation of an example in `script` (a word
/// naming an example binary, or `"$EXAMPLE"`, followed by the
/// subcommand): the subcommand and its `--flags`. Returns how many it
/// checked.
fn check_commands(script: &str, context: &str) -> usize {
    let commands = commands();
    let mut checked = 0;
    for line in shell_lines(script) {
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, word) in words.iter().enumerate() {
            let binary = word.trim_matches('"');
            let is_example = binary.ends_with("$EXAMPLE")
                || binary.ends_with("$example")
                || EXAMPLES
                    .iter()
                    .any(|e| binary.ends_with(&format!("/{e}")) || binary == *e);
            let Some(sub) = words.get(i + 1) else {
                continue;
            };
            if !is_example || !["sim", "merge"].contains(sub) {
                continue;
            }
            for command in &commands {
                let sub_command = command
                    .find_subcommand(sub)
                    .unwrap_or_else(|| panic!("{context}: no `{sub}` subcommand"));
                for flag in words[i + 2..]
                    .iter()
                    .take_while(|w| !["|", "||", "&&", ">", ";"].contains(w))
                    .filter_map(|w| w.strip_prefix("--"))
                {
                    let name = flag.split('=').next().unwrap_or(flag);
                    assert!(
                        sub_command
                            .get_arguments()
                            .any(|a| a.get_long() == Some(name)),
                        "{context}: `{} {sub}` has no flag --{name} (in: {line})",
                        command.get_name()
                    );
                }
            }
            checked += 1;
        }
    }
    checked
}

fn str_list(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .unwrap_or_else(|| panic!("not a list: {y:?}"))
        .iter()
        .map(|v| match v {
            Yaml::String(s) => s.clone(),
            Yaml::Integer(i) => i.to_string(),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn the_workflow_shards_every_example_merges_the_reports_and_uses_real_flags() {
    let docs = yaml(".github/workflows/simulation.yml");
    let workflow = &docs[0];
    let jobs = &workflow["jobs"];
    let shards: usize = workflow["env"]["SHARDS"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("env.SHARDS is a count");
    let matrix = &jobs["sweep"]["strategy"]["matrix"];
    assert_eq!(str_list(&matrix["example"]), EXAMPLES);
    let expected: Vec<String> = (1..=shards).map(|k| k.to_string()).collect();
    assert_eq!(
        str_list(&matrix["shard"]),
        expected,
        "one matrix entry per shard"
    );
    assert_eq!(
        str_list(&jobs["merge"]["strategy"]["matrix"]["example"]),
        EXAMPLES
    );
    assert_eq!(jobs["merge"]["needs"].as_str(), Some("sweep"));
    let mut scripts = Vec::new();
    for (name, job) in jobs.as_hash().expect("jobs") {
        for step in job["steps"].as_vec().expect("steps") {
            if let Some(run) = step["run"].as_str() {
                scripts.push((
                    format!("job {}", name.as_str().unwrap_or("?")),
                    run.to_string(),
                ));
            }
        }
    }
    let sweep = scripts
        .iter()
        .find(|(job, run)| job == "job sweep" && run.contains(" sim "))
        .expect("the sweep step");
    for needed in [
        "--shard \"${{ matrix.shard }}/$SHARDS\"",
        "--jobs",
        "--json",
        "--first-seed",
    ] {
        assert!(
            sweep.1.contains(needed),
            "the sweep step lacks {needed}: {}",
            sweep.1
        );
    }
    let checked: usize = scripts
        .iter()
        .map(|(job, run)| check_commands(run, job))
        .sum();
    assert!(checked >= 4, "sweep, regressions and two merges: {checked}");
}

#[test]
fn the_kubernetes_job_is_indexed_over_the_shards_and_merged() {
    let docs = yaml("deploy/k8s/sweep-job.yaml");
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(kinds, ["ConfigMap", "PersistentVolumeClaim", "Job", "Job"]);
    let example = docs[0]["data"]["EXAMPLE"].as_str().expect("EXAMPLE");
    assert!(EXAMPLES.contains(&example), "{example}");
    let sweep = &docs[2];
    assert_eq!(sweep["spec"]["completionMode"].as_str(), Some("Indexed"));
    let n = sweep["spec"]["completions"].as_i64().expect("completions");
    assert_eq!(sweep["spec"]["parallelism"].as_i64(), Some(n));
    let script = |job: &Yaml, containers: &str| -> String {
        job["spec"]["template"]["spec"][containers]
            .as_vec()
            .expect("containers")
            .iter()
            .flat_map(|c| str_list(&c["args"]))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let sweep_script = script(sweep, "containers");
    assert!(
        sweep_script.contains(&format!("--shard auto/{n} ")),
        "{sweep_script}"
    );
    assert!(sweep_script.contains("--json"), "{sweep_script}");
    let merge = &docs[3];
    let wait = script(merge, "initContainers");
    assert!(
        wait.contains(&format!("-ge {n} ]")),
        "the merge waits for {n} reports: {wait}"
    );
    let merge_script = script(merge, "containers");
    assert_eq!(check_commands(&sweep_script, "sweep job"), 1);
    assert_eq!(check_commands(&merge_script, "merge job"), 2);
    // The pods get their configuration from the ConfigMap, and the first
    // seed is fixed there so every shard splits the same plan.
    assert!(docs[0]["data"]["MOONPOOL_FIRST_SEED"].as_str().is_some());
}

#[test]
fn the_dockerfile_builds_every_example_binary() {
    let dockerfile = repo_file("Dockerfile");
    assert!(dockerfile.contains("cargo build --release --locked -p moonpool-examples --bins"));
    for example in EXAMPLES {
        assert!(
            dockerfile.contains(&format!("target/release/{example} ")),
            "{example} is not copied into the image"
        );
    }
}
