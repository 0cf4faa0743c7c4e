//! Rendering a report as text or JSON.

use crate::error::CliError;
use serde::Serialize;

/// A command's result: serializable for `--json`, and with a human rendering.
pub trait Report: Serialize {
    fn text(&self) -> String;
}

pub fn render<R: Report>(report: &R, json: bool) -> Result<String, CliError> {
    if json {
        Ok(format!("{}\n", serde_json::to_string_pretty(report)?))
    } else {
        Ok(report.text())
    }
}
