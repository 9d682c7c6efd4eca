//! The exact command that replays one run. Printed by the runner and shown in the HTML report,
//! so a failure is always one copy-paste away from a local reproduction.

use std::path::Path;

/// `cargo xtask sim --scenario X --seed S [--plan PATH]`; the plan path is given only when the
/// plan came from a file (otherwise the seed regenerates it).
pub fn replay_command(scenario: &str, seed: u64, plan_file: Option<&Path>) -> String {
    let mut cmd = format!("cargo xtask sim --scenario {} --seed {seed}", shell_quote(scenario));
    if let Some(p) = plan_file {
        cmd.push_str(" --plan ");
        cmd.push_str(&shell_quote(&p.display().to_string()));
    }
    cmd
}

/// Quotes a word for a POSIX shell when it needs it.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(replay_command("queue", 3, None), "cargo xtask sim --scenario queue --seed 3");
        assert_eq!(
            replay_command("queue", 3, Some(Path::new("/tmp/my plan.json"))),
            "cargo xtask sim --scenario queue --seed 3 --plan '/tmp/my plan.json'"
        );
    }
}
