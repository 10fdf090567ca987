//! `seglog completions <shell>`: the shell's completion script, generated
//! from the tool's own definition so that it names every subcommand and
//! option.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::CliError;

/// The example in `completions --help`.
pub const EXAMPLE: &str = "Examples:\n  \
    seglog completions bash > ~/.local/share/bash-completion/completions/seglog\n  \
    seglog completions zsh > ~/.zfunc/_seglog\n  \
    seglog completions fish > ~/.config/fish/completions/seglog.fish";

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// Runs `completions`: writes the script to standard output.
pub fn run(args: CompletionsArgs) -> Result<(), CliError> {
    let mut command = crate::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "seglog", &mut script);
    let mut out = crate::store::Out::new();
    out.write_bytes(&script)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use clap_complete::Shell;

    /// Every shell's script names the subcommands, nested ones included.
    #[test]
    fn scripts_name_the_subcommands() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let mut command = <crate::Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "seglog", &mut script);
            let script = String::from_utf8(script).unwrap();
            for word in ["topics", "describe", "produce", "consume", "completions"] {
                assert!(script.contains(word), "{shell}: no {word}");
            }
        }
    }
}
