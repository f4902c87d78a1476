//! `${{ env.NAME }}` in any string value of the config, as dspy-cli's docs promise.

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub(crate) enum InterpolationError {
    #[error(
        "Environment variable '{name}' is not set (used as ${{{{ env.{name} }}}} in '{path}'). Set it in your shell or in .env next to dspy.config.yaml."
    )]
    Unset { name: String, path: String },
    /// The value is not printed: it may hold a secret next to the broken placeholder.
    #[error("Malformed placeholder in the value of '{path}'. Write it as ${{{{ env.NAME }}}}.")]
    Malformed { path: String },
}

pub(super) fn interpolate_env(
    value: &mut Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), InterpolationError> {
    walk(value, "", env)
}

fn walk(value: &mut Value, path: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<(), InterpolationError> {
    match value {
        Value::String(s) if s.contains("${{") => *s = expand(s, path, env)?,
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, &format!("{path}[{i}]"), env)?;
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(item, &child, env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn expand(text: &str, path: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let malformed = || InterpolationError::Malformed { path: path.to_owned() };
        let end = after.find("}}").ok_or_else(malformed)?;
        let name = after[..end]
            .trim()
            .strip_prefix("env.")
            .map(str::trim)
            .ok_or_else(malformed)?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(malformed());
        }
        let resolved = env(name).ok_or_else(|| InterpolationError::Unset {
            name: name.to_owned(),
            path: path.to_owned(),
        })?;
        out.push_str(&resolved);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "HOME_URL").then(|| "http://h".to_owned())
    }

    #[test]
    fn expands_nested_strings() {
        let mut v = serde_json::json!({"a": {"b": "${{ env.HOME_URL }}/v1", "n": 3}, "l": ["x${{env.HOME_URL}}"]});
        interpolate_env(&mut v, &env).unwrap();
        assert_eq!(v["a"]["b"], "http://h/v1");
        assert_eq!(v["l"][0], "xhttp://h");
    }

    #[test]
    fn unset_variable_names_it_and_where() {
        let mut v = serde_json::json!({"models": {"k": "${{ env.NOPE }}"}});
        let msg = interpolate_env(&mut v, &env).unwrap_err().to_string();
        assert!(msg.contains("'NOPE' is not set"), "{msg}");
        assert!(msg.contains("models.k"), "{msg}");
        assert!(msg.contains("${{ env.NOPE }}"), "{msg}");
    }

    #[test]
    fn malformed_placeholder_names_the_key_but_never_the_value() {
        let mut v = serde_json::json!({"models": {"k": "sk-secret-123 ${{ NOPE }}"}});
        let err = interpolate_env(&mut v, &env).unwrap_err();
        assert!(matches!(err, InterpolationError::Malformed { .. }));
        let msg = err.to_string();
        assert!(msg.contains("'models.k'") && !msg.contains("sk-secret"), "{msg}");
    }
}
