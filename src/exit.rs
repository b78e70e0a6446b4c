//! Exit codes and one-line error messages: 0 done, 2 bad input or configuration, 1 anything else;
//! 130 (143) for a run stopped by Ctrl-C (SIGTERM), see `interrupt.rs`.

/// An error the user must fix (bad input, bad configuration): exit code 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// The exit code for an error: 2 when it is the user's to fix — the binary's own [`BadInput`], or
/// what [`finefail_runner::fault::user_fault`] says of the library errors in its chain (a missing
/// or unreadable file among them) — clap's own code for argument errors, else 1.
pub fn code(err: &anyhow::Error) -> i32 {
    if crate::interrupt::interruption(err).is_some()
        || crate::interrupt::standalone_stop(err).is_some()
    {
        return crate::interrupt::exit_code();
    }
    for cause in err.chain() {
        if cause.is::<BadInput>() {
            return 2;
        }
        if let Some(e) = cause.downcast_ref::<clap::Error>() {
            return e.exit_code();
        }
    }
    match finefail_runner::fault::user_fault(err.as_ref()) {
        Some(true) => 2,
        _ => 1,
    }
}

/// The whole error chain on one line (`context: cause: root cause`), newlines flattened.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string().replace('\n', " ");
        // Library errors often repeat their source's text; keep each piece once.
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}
