//! Building a plausible DSPy answer from the prompt.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

/// One output field as the adapter's system prompt lists it: "1. `answer` (str): ...".
#[derive(Debug, PartialEq)]
pub(super) struct OutputField {
    pub(super) name: String,
    pub(super) type_text: String,
}

fn message_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

pub(super) fn output_fields(system: &str) -> Vec<OutputField> {
    let mut fields = Vec::new();
    let Some(start) = system.find("Your output fields are:") else {
        return fields;
    };
    for line in system[start..].lines().skip(1) {
        let Some(rest) = line.trim_start().split_once(". `").map(|(_, r)| r) else {
            break;
        };
        let Some((name, after)) = rest.split_once('`') else {
            break;
        };
        let type_text = after
            .trim_start()
            .strip_prefix('(')
            .and_then(|t| t.rsplit_once(')'))
            .map_or("str", |(t, _)| t);
        fields.push(OutputField {
            name: name.to_owned(),
            type_text: type_text.trim().to_owned(),
        });
    }
    fields
}

/// A value of the declared type (DSPy's display form: `int`, `list[str]`, `Literal['a', 'b']`...).
pub(super) fn value_for(type_text: &str, model: &str) -> Value {
    let t = type_text.trim();
    if let Some(inner) = t
        .strip_prefix("Optional[")
        .or_else(|| t.strip_prefix("Union["))
        .and_then(|s| s.strip_suffix(']'))
    {
        let first = split_top_level(inner)
            .into_iter()
            .find(|p| p.trim() != "NoneType" && p.trim() != "None");
        return value_for(first.unwrap_or("str"), model);
    }
    if let Some(inner) = t.strip_prefix("Literal[").and_then(|s| s.strip_suffix(']')) {
        let first = split_top_level(inner).into_iter().next().unwrap_or("''").trim();
        return serde_json::from_str(first)
            .unwrap_or_else(|_| Value::String(first.trim_matches(['\'', '"']).to_owned()));
    }
    let base = t.split('[').next().unwrap_or(t).to_ascii_lowercase();
    match base.as_str() {
        "int" => json!(42),
        "float" => json!(0.5),
        "bool" => json!(true),
        "list" | "tuple" | "set" => {
            let item = t.find('[').map_or("str", |i| &t[i + 1..t.len() - 1]);
            json!([value_for(item, model)])
        }
        "dict" => json!({}),
        _ => Value::String(format!("model={model}")),
    }
}

fn split_top_level(text: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0i32, 0usize, Vec::new());
    for (i, ch) in text.char_indices() {
        match ch {
            '[' | '(' => depth += 1,
            ']' | ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Render a value the way ChatAdapter expects it between `[[ ## field ## ]]` markers.
fn chat_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
        other => other.to_string(),
    }
}

fn answer_text(messages: &[Value], model: &str) -> String {
    if model.contains("malformed") {
        // A model named "*malformed*" answers text no DSPy adapter can parse (fault tests).
        return "I am not following the output format.".to_owned();
    }
    let system = messages
        .iter()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("system"))
        .map(message_text)
        .unwrap_or_default();
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(message_text)
        .unwrap_or_default();
    let fields = output_fields(&system);
    if fields.is_empty() {
        return format!("model={model}");
    }
    let values: Vec<(String, Value)> = fields
        .iter()
        .map(|f| (f.name.clone(), value_for(&f.type_text, model)))
        .collect();
    if last_user.contains("Respond with a JSON object") {
        let object: Map<String, Value> = values.into_iter().collect();
        return Value::Object(object).to_string();
    }
    let mut text = String::new();
    for (name, value) in &values {
        write!(text, "[[ ## {name} ## ]]\n{}\n\n", chat_value(value)).expect("writing to a String cannot fail");
    }
    text.push_str("[[ ## completed ## ]]");
    text
}

/// The whole `chat.completion` response for an OpenAI-style request.
pub(super) fn completion(request: &Value) -> Value {
    let model = request.get("model").and_then(Value::as_str).unwrap_or("mock");
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let content = answer_text(messages, model);
    let prompt_chars: usize = messages.iter().map(|m| message_text(m).len()).sum();
    let prompt_tokens = (prompt_chars / 4).max(1);
    let completion_tokens = (content.len() / 4).max(1);
    json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": chrono::Utc::now().timestamp(),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSTEM: &str = "Your input fields are:\n1. `question` (str): \nYour output fields are:\n1. `answer` (str): \n2. `count` (int): \n3. `tags` (list[str]): \n4. `label` (Literal['pos', 'neg']): \n5. `maybe` (Union[int, NoneType]):\nAll interactions will be structured";

    #[test]
    fn reads_output_fields_from_system_prompt() {
        let names: Vec<_> = output_fields(SYSTEM)
            .into_iter()
            .map(|f| (f.name, f.type_text))
            .collect();
        assert_eq!(names[0], ("answer".into(), "str".into()));
        assert_eq!(names[3], ("label".into(), "Literal['pos', 'neg']".into()));
        assert_eq!(names.len(), 5);
    }

    #[test]
    fn values_match_declared_types() {
        assert_eq!(value_for("str", "m"), json!("model=m"));
        assert_eq!(value_for("int", "m"), json!(42));
        assert_eq!(value_for("list[str]", "m"), json!(["model=m"]));
        assert_eq!(value_for("Literal['pos', 'neg']", "m"), json!("pos"));
        assert_eq!(value_for("Union[int, NoneType]", "m"), json!(42));
        assert_eq!(value_for("dict[str, Any]", "m"), json!({}));
        assert_eq!(value_for("Optional[list[int]]", "m"), json!([42]));
    }

    #[test]
    fn chat_adapter_answer_has_every_field_and_usage() {
        let request = json!({"model": "gpt-x", "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "q"}]});
        let response = completion(&request);
        let content = response["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(content.starts_with("[[ ## answer ## ]]\nmodel=gpt-x\n"), "{content}");
        assert!(content.contains("[[ ## label ## ]]\npos\n"));
        assert!(content.ends_with("[[ ## completed ## ]]"));
        assert!(response["usage"]["total_tokens"].as_u64().unwrap() > 0);
    }
}
