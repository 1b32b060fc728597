//! `fleetgate keygen`, `build --sign --serial` and `verify`: key files, signed artifacts, and every
//! reason `verify` refuses one (exit 1, in words) or cannot read its input (exit 2). Never a crash.

use std::path::{Path, PathBuf};

use crate::{flat, fleetgate, message, path_str, scratch, status, stderr, stdout};

/// A key pair `DIR/NAME.key`, `DIR/NAME.pub`.
fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let prefix = dir.join(name);
    let run = fleetgate(&["keygen", "--out", path_str(&prefix)]);
    assert_eq!(status(&run), 0, "{}", stderr(&run));
    (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    )
}

/// `policies/smart-meter` built into `DIR/NAME`, signed by `key` with `serial`.
fn signed(dir: &Path, name: &str, key: &Path, serial: u64) -> PathBuf {
    let out = dir.join(name);
    let serial = serial.to_string();
    let run = fleetgate(&[
        "build",
        "policies/smart-meter",
        "-o",
        path_str(&out),
        "--sign",
        path_str(key),
        "--serial",
        &serial,
    ]);
    assert_eq!(status(&run), 0, "{}", stderr(&run));
    out
}

fn verify(file: &Path, key: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["verify", path_str(file), "--key", path_str(key)];
    args.extend_from_slice(extra);
    let run = fleetgate(&args);
    (status(&run), stdout(&run), flat(&stderr(&run)))
}

/// An error as `main` renders it: one `×` line, lowercase, no final period, and a `help`.
fn assert_error_style(err: &str) {
    let first = err.lines().next().unwrap_or_default();
    let message = first.trim_start().trim_start_matches('×').trim();
    assert!(message.starts_with(|c: char| !c.is_uppercase()), "{err}");
    assert!(!message.ends_with('.'), "{err}");
    assert!(err.contains("help:"), "{err}");
}

#[test]
fn keygen_writes_a_private_and_a_public_key_file() {
    let dir = scratch("keygen");
    let run = fleetgate(&["keygen", "--out", path_str(&dir.join("release"))]);
    assert_eq!(status(&run), 0, "{}", stderr(&run));
    let private = std::fs::read_to_string(dir.join("release.key")).unwrap();
    let public = std::fs::read_to_string(dir.join("release.pub")).unwrap();
    let private_lines: Vec<&str> = private.lines().collect();
    let public_lines: Vec<&str> = public.lines().collect();
    assert_eq!(private_lines[0], "fleetgate private key ed25519 v1");
    assert_eq!(public_lines[0], "fleetgate public key ed25519 v1");
    // Both name the same key id, which keygen prints; the private key itself is printed nowhere.
    assert_eq!(private_lines[1], public_lines[1]);
    let id = public_lines[1].strip_prefix("key-id ").unwrap();
    assert_eq!(id.len(), 16);
    assert!(stdout(&run).contains(id), "{}", stdout(&run));
    assert_eq!(private_lines[2].len(), 64);
    assert!(!stdout(&run).contains(private_lines[2]) && !message(&run).contains(private_lines[2]));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("release.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    // Two runs make two different keys.
    let (_, other) = keygen(&dir, "other");
    assert_ne!(std::fs::read_to_string(other).unwrap(), public);
}

#[test]
fn keygen_never_overwrites() {
    let dir = scratch("keygen-exists");
    keygen(&dir, "k");
    let before = std::fs::read(dir.join("k.key")).unwrap();
    let run = fleetgate(&["keygen", "--out", path_str(&dir.join("k"))]);
    assert_eq!(status(&run), 2);
    assert!(message(&run).contains("already exists"), "{}", stderr(&run));
    assert_error_style(&stderr(&run));
    assert_eq!(std::fs::read(dir.join("k.key")).unwrap(), before);
    // Only the public half there: still refused, and no private key is left behind.
    std::fs::write(dir.join("p.pub"), "x").unwrap();
    let run = fleetgate(&["keygen", "--out", path_str(&dir.join("p"))]);
    assert_eq!(status(&run), 2);
    assert!(!dir.join("p.key").exists());
}

#[test]
fn a_signed_artifact_verifies_with_its_key() {
    let dir = scratch("sign-ok");
    let (key, public) = keygen(&dir, "k");
    let file = signed(&dir, "a.fga", &key, 7);
    let (code, out, err) = verify(&file, &public, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ok: ") && out.contains("serial 7"), "{out}");
    for min in ["0", "7"] {
        let (code, _, err) = verify(&file, &public, &["--min-serial", min]);
        assert_eq!(code, 0, "{err}");
    }
    // The signed artifact is the unsigned one with the serial and signature set: same sidecar, and
    // the runtime's verifier accepts it.
    let bytes = std::fs::read(&file).unwrap();
    let policy = fleetgate_runtime::verify(&bytes).unwrap();
    assert_eq!(policy.artifact().serial, 7);
    assert!(policy.artifact().signature.is_some());
    assert!(dir.join("a.fga.sidecar.json").exists());
}

#[test]
fn verify_refuses_with_the_reason() {
    let dir = scratch("sign-refused");
    let (key, public) = keygen(&dir, "k");
    let (other_key, other_public) = keygen(&dir, "other");
    let file = signed(&dir, "a.fga", &key, 7);
    let bytes = std::fs::read(&file).unwrap();
    let write = |name: &str, b: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, b).unwrap();
        p
    };

    let unsigned = dir.join("u.fga");
    let run = fleetgate(&["build", "policies/smart-meter", "-o", path_str(&unsigned)]);
    assert_eq!(status(&run), 0);
    // Byte 20 is the serial: the layout still decodes, the signature no longer matches.
    let mut raised = bytes.clone();
    raised[20] ^= 0x08;
    let mut code_byte = bytes.clone();
    let at = bytes.len() - 100;
    code_byte[at] ^= 0x01;
    let cases: Vec<(&str, PathBuf, PathBuf, Vec<&str>, &str)> = vec![
        (
            "older serial",
            file.clone(),
            public.clone(),
            vec!["--min-serial", "8"],
            "older than the minimum 8",
        ),
        (
            "unsigned",
            unsigned,
            public.clone(),
            vec![],
            "is not signed",
        ),
        (
            "another key",
            signed(&dir, "b.fga", &other_key, 9),
            public.clone(),
            vec![],
            "signed by another key",
        ),
        (
            "another key, the other way",
            file.clone(),
            other_public,
            vec![],
            "signed by another key",
        ),
        (
            "serial changed",
            write("raised.fga", &raised),
            public.clone(),
            vec![],
            "bad signature",
        ),
        (
            "truncated",
            write("cut.fga", &bytes[..bytes.len() / 2]),
            public.clone(),
            vec![],
            "not a valid artifact",
        ),
        (
            "empty",
            write("empty.fga", b""),
            public.clone(),
            vec![],
            "not a valid artifact: artifact cut short",
        ),
        (
            "not an artifact",
            write("text.fga", b"hello, world"),
            public.clone(),
            vec![],
            "bad magic",
        ),
        (
            "too large",
            write(
                "big.fga",
                &vec![0u8; fleetgate_runtime::artifact::MAX_ARTIFACT_LEN + 1],
            ),
            public.clone(),
            vec![],
            "more than the 1048576 bytes a device accepts",
        ),
    ];
    for (name, file, key, extra, expected) in cases {
        let (code, out, err) = verify(&file, &key, &extra);
        assert_eq!(code, 1, "{name}: {err}");
        assert!(out.is_empty(), "{name}: {out}");
        assert!(err.contains(expected), "{name}: {err}");
        assert!(
            err.contains(&format!("`{}`", file.display())),
            "{name}: {err}"
        );
        assert_error_style(&err);
    }
    let (code, _, err) = verify(&write("code.fga", &code_byte), &public, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("bad signature") || err.contains("not a valid artifact"),
        "{err}"
    );
}

#[test]
fn unreadable_inputs_exit_2() {
    let dir = scratch("sign-unreadable");
    let (key, public) = keygen(&dir, "k");
    let file = signed(&dir, "a.fga", &key, 1);
    let garbage = dir.join("garbage.pub");
    std::fs::write(&garbage, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5").unwrap();
    let huge = dir.join("huge.pub");
    std::fs::write(&huge, vec![b'a'; 100_000]).unwrap();
    let cases: Vec<(&str, PathBuf, PathBuf, &str)> = vec![
        (
            "missing artifact",
            dir.join("nope.fga"),
            public.clone(),
            "cannot read",
        ),
        (
            "missing key",
            file.clone(),
            dir.join("nope.pub"),
            "cannot read",
        ),
        ("a directory", dir.clone(), public.clone(), "cannot read"),
        (
            "private key given",
            file.clone(),
            key.clone(),
            "a public key file was expected",
        ),
        ("not a key file", file.clone(), garbage, "not a key file"),
        (
            "a huge key file",
            file.clone(),
            huge,
            "larger than a key file",
        ),
    ];
    for (name, file, key, expected) in cases {
        let (code, _, err) = verify(&file, &key, &[]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains(expected), "{name}: {err}");
    }
}

#[test]
fn build_sign_needs_a_serial_and_a_private_key() {
    let dir = scratch("sign-build");
    let (key, public) = keygen(&dir, "k");
    let out = dir.join("a.fga");
    let run = fleetgate(&[
        "build",
        "policies/smart-meter",
        "-o",
        path_str(&out),
        "--sign",
        path_str(&key),
    ]);
    assert_eq!(status(&run), 2);
    assert!(message(&run).contains("--serial"), "{}", stderr(&run));
    let run = fleetgate(&[
        "build",
        "policies/smart-meter",
        "-o",
        path_str(&out),
        "--sign",
        path_str(&public),
        "--serial",
        "1",
    ]);
    assert_eq!(status(&run), 2);
    assert!(
        flat(&stderr(&run)).contains("a private key file was expected"),
        "{}",
        stderr(&run)
    );
    assert!(!out.exists(), "nothing written");
    let run = fleetgate(&[
        "build",
        "policies/smart-meter",
        "-o",
        path_str(&out),
        "--sign",
        path_str(&key),
        "--serial",
        "12",
    ]);
    assert_eq!(status(&run), 0, "{}", stderr(&run));
    assert!(stdout(&run).contains("serial 12"), "{}", stdout(&run));
}

#[test]
fn mutated_artifacts_never_crash_verify() {
    let dir = scratch("sign-mutated");
    let (key, public) = keygen(&dir, "k");
    let bytes = std::fs::read(signed(&dir, "a.fga", &key, 3)).unwrap();
    // A fixed spread of single-byte changes over the whole file, signature section included.
    let mut accepted = 0;
    for i in (0..bytes.len()).step_by(bytes.len() / 40 + 1) {
        let mut bad = bytes.clone();
        bad[i] = bad[i].wrapping_add(0x5b);
        let p = dir.join(format!("m{i}.fga"));
        std::fs::write(&p, &bad).unwrap();
        let (code, _, err) = verify(&p, &public, &[]);
        assert!(code == 1, "byte {i}: exit {code}: {err}");
        accepted += usize::from(code == 0);
    }
    assert_eq!(accepted, 0);
}

#[test]
fn a_package_too_large_for_a_device_does_not_compile() {
    // 2,600 rails over 100 fields, in two files under the 4 MiB limit: about 2 MB of bytecode, over
    // the 1 MiB a device accepts. A clear diagnostic, not "a bug in fleetgate".
    let dir = scratch("too-large");
    let fields: String = (0..100).map(|k| format!("  f{k}: int\n")).collect();
    std::fs::write(
        dir.join("schema.policy"),
        format!("device {{\n{fields}}}\nplane firmware\n"),
    )
    .unwrap();
    let ops = [">", "<", ">=", "<="];
    for part in 0..2 {
        let mut text = format!("rail r{part} {{\n");
        for c in 0..1300 {
            let terms: Vec<String> = (0..100)
                .map(|k| format!("device.f{k} {} {}", ops[(c + k + part) % 4], c % 50 + k))
                .collect();
            text.push_str(&format!("  deny \"x{c}\" when {}\n", terms.join(" and ")));
        }
        text.push_str("}\n");
        std::fs::write(dir.join(format!("rails{part}.policy")), text).unwrap();
    }
    let out = dir.join("big.fga");
    let run = fleetgate(&["build", path_str(&dir), "-o", path_str(&out)]);
    assert_eq!(status(&run), 1, "{}", stderr(&run));
    let err = flat(&stderr(&run));
    assert!(
        err.contains("fleetgate::compile::artifact_too_large"),
        "{err}"
    );
    assert!(
        err.contains("more than the 1048576 bytes a device accepts"),
        "{err}"
    );
    assert!(!err.contains("bug"), "{err}");
    assert!(!out.exists());
}
