//! The facade rule: only `src/sync.rs` and `src/reclaim.rs` (with the model
//! reclaimer beside it, `src/reclaim/model.rs`) may name the
//! atomics, loom, shuttle or kovan. This is what makes "the code loom and
//! shuttle run is the code that ships" true.

use std::fs;
use std::path::Path;

const FORBIDDEN: [&str; 5] = [
    "core::sync::atomic",
    "std::sync::atomic",
    "loom::",
    "shuttle::",
    "kovan::",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_facades_name_atomics_loom_shuttle_or_kovan() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 3, "found no sources under {}", src.display());
    let mut offences = Vec::new();
    for file in files {
        let name = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if name == "sync.rs" || name == "reclaim.rs" || name.starts_with("reclaim/") {
            continue;
        }
        for (n, line) in fs::read_to_string(&file).unwrap().lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for word in FORBIDDEN {
                // A doc link such as [kovan] in prose is not a path.
                if code.contains(word) {
                    offences.push(format!("src/{name}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "facade rule broken:\n{}",
        offences.join("\n")
    );
}
