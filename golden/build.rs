//! Build script of `fleetgate-golden`: lists every `vectors/*.fgv` for the test to `include_bytes!`
//! (so a new package's file is picked up without editing the test), and on targets without an OS puts
//! `memory.x` on the link search path for riscv-rt's `link.x` (`.cargo/config.toml` passes
//! `-Tmemory.x -Tlink.x`).

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

fn main() {
    let manifest =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));

    let vectors = manifest.join("vectors");
    println!("cargo:rerun-if-changed={}", vectors.display());
    let mut files: Vec<PathBuf> = fs::read_dir(&vectors)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "fgv"));
    files.sort();
    let mut list = String::from("&[\n");
    for f in &files {
        let name = f
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("golden file names are UTF-8");
        writeln!(
            list,
            "    ({name:?}, include_bytes!({:?})),",
            f.display().to_string()
        )
        .expect("write to a String");
    }
    list.push(']');
    fs::write(out.join("vectors.rs"), list).expect("write vectors.rs to OUT_DIR");

    println!("cargo:rerun-if-changed=memory.x");
    if env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "none") {
        fs::copy(manifest.join("memory.x"), out.join("memory.x"))
            .expect("copy memory.x to OUT_DIR");
        println!("cargo:rustc-link-search={}", out.display());
    }
}
