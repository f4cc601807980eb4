//! Stamp the binary with the commit it was built from (`switchboard_build_info`, the start-up
//! log line): `SWITCHBOARD_COMMIT` if set (a build without `.git`, e.g. a container), else
//! `git rev-parse`, else `unknown`.

fn main() {
    println!("cargo:rerun-if-env-changed=SWITCHBOARD_COMMIT");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let commit = std::env::var("SWITCHBOARD_COMMIT").ok().filter(|c| !c.is_empty()).or_else(git_commit);
    println!("cargo:rustc-env=SWITCHBOARD_COMMIT={}", commit.as_deref().unwrap_or("unknown"));
}

fn git_commit() -> Option<String> {
    let output = std::process::Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}
