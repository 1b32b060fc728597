//! Loading an example package from `policies/` for benches and tests at the root.

use std::path::{Path, PathBuf};

use fleetgate_compiler::Compiled;
use fleetgate_lang::Sources;
use fleetgate_lang::typed::Package;

// Each bench or test that includes this module uses a different subset of the fields.
#[allow(dead_code)]
pub struct Loaded {
    pub sources: Sources,
    pub package: Package,
    pub compiled: Compiled,
}

#[allow(dead_code)]
impl Loaded {
    /// The reason of each clause, from the sidecar (what the simulator names an abort by).
    pub fn reasons(&self) -> Vec<String> {
        self.compiled
            .sidecar
            .clauses
            .iter()
            .map(|c| c.reason.clone())
            .collect()
    }
}

fn policy_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("readable package")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            policy_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "policy") {
            out.push(p);
        }
    }
}

/// Loads, checks and compiles `policies/<name>`.
pub fn load(name: &str) -> Loaded {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("policies")
        .join(name);
    let mut files = Vec::new();
    policy_files(&dir, &mut files);
    let mut sources = Sources::new();
    for f in files {
        sources.add(
            f.display().to_string(),
            std::fs::read_to_string(&f).expect("readable policy"),
        );
    }
    let checked = fleetgate_lang::check(&sources);
    let package = checked
        .package
        .unwrap_or_else(|| panic!("{name} has errors: {:?}", checked.diagnostics));
    let compiled = fleetgate_compiler::compile(&package, &sources)
        .unwrap_or_else(|e| panic!("{name} does not compile: {e:?}"));
    Loaded {
        sources,
        package,
        compiled,
    }
}
