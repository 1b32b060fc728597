//! Spreading a run: `--shard K/N`, `fleetgate merge`, the recipes in `deploy/`, and `--until-decided`.

use std::process::Command;

use crate::{fleetgate, message, path_str, scratch, status, stderr, stdout};

const TINY: &str = "tests/data/tiny";
const BIN: &str = env!("CARGO_BIN_EXE_fleetgate");

fn single(dir: &std::path::Path, trials: &str) -> Vec<u8> {
    let out = dir.join("single.json");
    let run = fleetgate(&[
        "simulate",
        TINY,
        "--trials",
        trials,
        "--json",
        path_str(&out),
    ]);
    assert!(matches!(status(&run), 0 | 3), "{}", stderr(&run));
    std::fs::read(out).expect("single report")
}

#[test]
fn three_shards_as_processes_merge_into_the_single_run() {
    let dir = scratch("shards");
    let parts = dir.join("parts");
    let children: Vec<_> = (0..3)
        .map(|k| {
            Command::new(BIN)
                .args([
                    "simulate",
                    TINY,
                    "--trials",
                    "7",
                    "--shard",
                    &format!("{k}/3"),
                    "--out",
                    path_str(&parts),
                ])
                .env("NO_COLOR", "1")
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("a shard starts")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("a shard ends").success());
    }
    let merged = dir.join("merged.json");
    let mut args = vec!["merge".to_string()];
    for k in [2, 0, 1] {
        args.push(path_str(&parts.join(format!("part-{k}-of-3.json"))).to_string());
    }
    args.extend(["--json".to_string(), path_str(&merged).to_string()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = fleetgate(&refs);
    assert!(matches!(status(&run), 0 | 3), "{}", stderr(&run));
    assert!(
        std::fs::read(&merged).expect("merged") == single(&dir, "7"),
        "the merged report differs from the single run's"
    );
}

#[test]
fn merge_refuses_parts_of_different_runs_and_missing_shards() {
    let dir = scratch("shards-bad");
    let shard = |k: u32, seed: &str, out: &str| {
        let run = fleetgate(&[
            "simulate",
            TINY,
            "--trials",
            "4",
            "--seed",
            seed,
            "--shard",
            &format!("{k}/2"),
            "--out",
            out,
        ]);
        assert_eq!(status(&run), 0, "{}", stderr(&run));
    };
    let (a, b) = (dir.join("a"), dir.join("b"));
    shard(0, "1", path_str(&a));
    shard(1, "2", path_str(&b));
    let p0 = path_str(&a.join("part-0-of-2.json")).to_string();
    let p1 = path_str(&b.join("part-1-of-2.json")).to_string();
    let run = fleetgate(&["merge", &p0, &p1]);
    assert_eq!(status(&run), 2);
    assert!(
        message(&run).contains("different run") && message(&run).contains("seeds"),
        "{}",
        stderr(&run)
    );
    let run = fleetgate(&["merge", &p0]);
    assert_eq!(status(&run), 2);
    assert!(
        message(&run).contains("shard 1/2 is missing"),
        "{}",
        stderr(&run)
    );
    let run = fleetgate(&["merge", &p0, &p0]);
    assert_eq!(status(&run), 2);
    assert!(message(&run).contains("given twice"), "{}", stderr(&run));
    let run = fleetgate(&["merge", TINY]);
    assert_eq!(status(&run), 2);
}

#[test]
fn the_local_recipe_gives_the_single_run() {
    let dir = scratch("local-recipe");
    let merged = dir.join("local.json");
    let run = Command::new("bash")
        .args(["deploy/local.sh", "2", TINY, "--trials", "5"])
        .env("FLEETGATE", BIN)
        .env("MERGE_ARGS", format!("--json {}", path_str(&merged)))
        .output()
        .expect("bash runs");
    assert!(
        matches!(run.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(std::fs::read(&merged).expect("merged") == single(&dir, "5"));
}

#[test]
fn the_entry_script_takes_its_index_from_each_engine() {
    let dir = scratch("entry");
    for (var, index) in [
        ("JOB_COMPLETION_INDEX", "1"),
        ("SLURM_ARRAY_TASK_ID", "2"),
        ("FLEETGATE_SHARD_INDEX", "0"),
    ] {
        let out = dir.join(var);
        let run = Command::new("bash")
            .args([
                "deploy/shard.sh",
                "3",
                path_str(&out),
                TINY,
                "--trials",
                "3",
            ])
            .env("FLEETGATE", BIN)
            .env(var, index)
            .output()
            .expect("bash runs");
        assert!(
            run.status.success(),
            "{var}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(
            out.join(format!("part-{index}-of-3.json")).is_file(),
            "{var} made no part {index}"
        );
    }
    let run = Command::new("bash")
        .args(["deploy/shard.sh", "3", path_str(&dir), TINY])
        .env_remove("JOB_COMPLETION_INDEX")
        .output()
        .expect("bash");
    assert_eq!(run.status.code(), Some(2));
}

/// The manifests cannot run here (no cluster): check that their shard counts agree with their
/// parallelism, and that they call the entry script with a valid simulate invocation.
#[test]
fn the_recipes_are_consistent() {
    let k8s = std::fs::read_to_string("deploy/k8s-indexed-job.yaml").expect("k8s recipe");
    assert!(
        k8s.contains("completionMode: Indexed")
            && k8s.contains("completions: 8")
            && k8s.contains("args: [\"8\","),
        "{k8s}"
    );
    let slurm = std::fs::read_to_string("deploy/slurm-array.sh").expect("slurm recipe");
    assert!(
        slurm.contains("--array=0-15") && slurm.contains("shard.sh\" 16 "),
        "{slurm}"
    );
    let gha = std::fs::read_to_string("deploy/github-actions.yml").expect("actions recipe");
    assert!(
        gha.contains("shard: [0, 1, 2, 3]")
            && gha.contains("deploy/shard.sh 4 ")
            && gha.contains("fleetgate merge"),
        "{gha}"
    );
    // The shard options they pass are accepted.
    let dir = scratch("recipes");
    let run = fleetgate(&[
        "simulate",
        TINY,
        "--trials",
        "3",
        "--seed",
        "7",
        "--threads",
        "2",
        "--shard",
        "15/16",
        "--out",
        path_str(&dir),
    ]);
    assert_eq!(status(&run), 0, "{}", stderr(&run));
}

#[test]
fn until_decided_runs_batches_until_every_expectation_is_decided() {
    let dir = scratch("until-decided");
    // 80% needs at least 14 trials without a failure to be shown; batches of 5 stop at 15.
    let release = std::fs::read_to_string(format!("{TINY}/release.toml"))
        .expect("release")
        .replace(">= 50%", ">= 80%");
    let rel = dir.join("release.toml");
    std::fs::write(&rel, release).expect("write");
    let out = dir.join("r.json");
    let run = fleetgate(&[
        "simulate",
        TINY,
        "--release",
        path_str(&rel),
        "--trials",
        "5",
        "--until-decided",
        "--json",
        path_str(&out),
    ]);
    assert_eq!(status(&run), 0, "{}", stdout(&run));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("report")).expect("JSON");
    assert_eq!(
        doc["early_stop"]["trials_used"], 15,
        "{}",
        doc["early_stop"]
    );
    assert_eq!(doc["trials"], 15);
    assert_eq!(doc["early_stop"]["decided"], true);
}
