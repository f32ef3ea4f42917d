//! Renders the sample report in headless Chromium through `check-html.sh`.
//! Ignored by default because it needs a browser:
//! `cargo test -p m2mspec-reports -- --ignored` (after `apt-get install chromium`).

use std::path::Path;
use std::process::Command;

fn check(html: &Path) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("check-html.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(html)
        .output()
        .expect("run check-html.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
#[ignore = "needs chromium"]
fn sample_report_renders_in_chromium_and_broken_js_is_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = m2mspec_reports::write_all(&m2mspec_reports::sample::sample_report(), dir.path())
        .expect("write reports");
    let (ok, text) = check(&files.html);
    assert!(ok, "{text}");
    assert!(text.contains("7 cases"), "{text}");

    let html = std::fs::read_to_string(&files.html).expect("read html");
    let broken = html.replacen(
        "root.classList.add(\"js\");",
        "root.classList.add(\"js\"); noSuchFn();",
        1,
    );
    assert_ne!(broken, html, "injection point exists");
    let bad = dir.path().join("broken.html");
    std::fs::write(&bad, broken).expect("write broken");
    let (ok, text) = check(&bad);
    assert!(!ok, "broken JS must fail the check");
    assert!(text.contains("uncaught JavaScript error"), "{text}");
}
