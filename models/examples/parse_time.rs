//! Times reading a history file (not a test).
//!
//! `cargo run --release -p kovan-map-models --example parse_time -- FILE.jsonl`
fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: parse_time FILE.jsonl");
        std::process::exit(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}:0: cannot read: {e}");
            std::process::exit(2);
        }
    };
    for _ in 0..3 {
        let t = std::time::Instant::now();
        match kovan_map_models::jsonl::parse(&text) {
            Ok(r) => println!(
                "{} operations and {} scans parsed in {:.4} s",
                r.operations.len(),
                r.scans.len(),
                t.elapsed().as_secs_f64()
            ),
            Err(e) => {
                eprintln!("{path}:{e}");
                std::process::exit(2);
            }
        }
    }
}
