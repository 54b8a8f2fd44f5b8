//! Times reading a history file (not a test).
fn main() {
    let path = std::env::args().nth(1).expect("FILE");
    let bytes = std::fs::read(&path).unwrap();
    let text = std::str::from_utf8(&bytes).unwrap();
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let ops = kovan_map_models::jsonl::parse(text).unwrap();
        println!(
            "{} operations parsed in {:.4} s",
            ops.len(),
            t.elapsed().as_secs_f64()
        );
    }
}
