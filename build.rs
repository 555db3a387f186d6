use std::process::Command;

/// What `git` answers, trimmed, or `None` where there is no git or no repository (a tarball).
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn main() {
    // The migrations are embedded at compile time; a new or changed one must rebuild the binary.
    println!("cargo:rerun-if-changed=migrations");
    // The user guide is served at /help; a change to it must rebuild the binary.
    println!("cargo:rerun-if-changed=docs/user-guide.md");

    // The commit the binary is built from, for `--version`, /healthz and the footer; a new
    // commit (HEAD moving, or the branch it names) builds it again.
    let commit = std::env::var("TOKENDESK_COMMIT")
        .ok()
        .or_else(|| git(&["rev-parse", "--short=10", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rerun-if-env-changed=TOKENDESK_COMMIT");
    for path in [
        Some("HEAD".to_owned()),
        git(&["symbolic-ref", "-q", "HEAD"]),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(file) = git(&["rev-parse", "--git-path", &path])
            && std::path::Path::new(&file).exists()
        {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    println!("cargo:rustc-env=TOKENDESK_COMMIT={commit}");
}
