//! `--config FILE`: the TOML file whose keys are the serve flags' names, layered under the
//! flags and environment variables (flag > variable > file > default).

use std::path::Path;

use clap::{CommandFactory, Parser};

use super::config::{ServerConfig, Standalone};

impl ServerConfig {
    /// Parses flags (first element is the program name) with environment fallbacks and, when
    /// `--config` names one, the file's settings below both.
    pub fn try_parse_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        let first = Standalone::try_parse_from(&args)?.config;
        let Some(path) = first.config.clone() else {
            return Ok(first);
        };
        let cmd = Self::with_config_file(Standalone::command(), &path)
            .map_err(|e| Standalone::command().error(clap::error::ErrorKind::InvalidValue, e))?;
        let m = cmd.try_get_matches_from(&args)?;
        <Standalone as clap::FromArgMatches>::from_arg_matches(&m).map(|s| s.config)
    }

    /// `cmd` (a command holding these flags) with the settings of the TOML file at `path` as
    /// its defaults, so that a flag, then an environment variable, wins over the file. Every
    /// value is checked by its flag's parser; an unknown key, a value of the wrong kind and
    /// a file that does not parse are errors naming the file (and the key).
    pub fn with_config_file(cmd: clap::Command, path: &Path) -> Result<clap::Command, String> {
        let shown = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the config file {shown}: {e}"))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e| format!("config file {shown} is not valid TOML: {e}"))?;
        let mut cmd = cmd;
        for (key, value) in table {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_long() == Some(key.as_str()) && key != "config")
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "config file {shown}: unknown key '{key}' (the keys are the flags of \
                         `sutra-cache serve --help` without their dashes, e.g. maxmemory, port)"
                    )
                })?;
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(format!(
                        "config file {shown}: key '{key}' must be a string, number or boolean; \
                         got {}",
                        other.type_str()
                    ))
                }
            };
            // The flag's own parser judges the value, as on the command line.
            let check = clap::Command::new("config-file")
                .no_binary_name(true)
                .arg(arg.clone().env(None::<&str>).default_value(None::<&str>));
            if let Err(e) = check.try_get_matches_from([format!("--{key}"), value.clone()]) {
                let why = e.to_string();
                let why = why
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("error: ");
                return Err(format!("config file {shown}: key '{key}': {why}"));
            }
            let id = arg.get_id().clone();
            cmd = cmd.mut_arg(id, |a| a.default_value(value));
        }
        Ok(cmd)
    }
}
