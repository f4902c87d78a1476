//! LiteLLM model strings and provider tables (cli.md §4.3): env-var names, display names,
//! local providers, and the `dspy.config.yaml` registry entry `new` writes.

use super::names::capitalize;

const LOCAL_PROVIDERS: [&str; 5] = ["ollama", "vllm", "lmstudio", "text-generation-inference", "tgi"];

const ENV_VARS: [(&str, &str); 15] = [
    ("anthropic", "ANTHROPIC_API_KEY"),
    ("openai", "OPENAI_API_KEY"),
    ("cohere", "COHERE_API_KEY"),
    ("together", "TOGETHER_API_KEY"),
    ("together_ai", "TOGETHER_API_KEY"),
    ("togetherai", "TOGETHER_API_KEY"),
    ("google", "GOOGLE_API_KEY"),
    ("gemini", "GOOGLE_API_KEY"),
    ("groq", "GROQ_API_KEY"),
    ("mistral", "MISTRAL_API_KEY"),
    ("huggingface", "HUGGINGFACE_API_KEY"),
    ("replicate", "REPLICATE_API_KEY"),
    ("ai21", "AI21_API_KEY"),
    ("bedrock", "AWS_ACCESS_KEY_ID"),
    ("vertex_ai", "GOOGLE_APPLICATION_CREDENTIALS"),
];

const DISPLAY_NAMES: [(&str, &str); 16] = [
    ("anthropic", "Anthropic"),
    ("openai", "OpenAI"),
    ("cohere", "Cohere"),
    ("together", "Together AI"),
    ("together_ai", "Together AI"),
    ("togetherai", "Together AI"),
    ("google", "Google"),
    ("gemini", "Google Gemini"),
    ("groq", "Groq"),
    ("mistral", "Mistral"),
    ("huggingface", "Hugging Face"),
    ("replicate", "Replicate"),
    ("ai21", "AI21 Labs"),
    ("ollama", "Ollama (local)"),
    ("vllm", "vLLM (local)"),
    ("lmstudio", "LM Studio (local)"),
];

fn lookup(table: &[(&str, &'static str)], provider: &str) -> Option<&'static str> {
    let lower = provider.to_lowercase();
    table.iter().find(|(p, _)| *p == lower).map(|(_, v)| *v)
}

/// A model string as typed (`anthropic/claude-sonnet-4-5`, or `gpt-4o` meaning OpenAI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelChoice {
    /// The string as given; written to the config unchanged.
    pub(crate) full: String,
    pub(crate) provider: String,
    /// The part after the first `/`.
    pub(crate) name: String,
}

impl ModelChoice {
    pub(crate) fn parse(model: &str) -> Self {
        let (provider, name) = model.split_once('/').unwrap_or(("openai", model));
        Self {
            full: model.to_owned(),
            provider: provider.to_owned(),
            name: name.to_owned(),
        }
    }

    pub(crate) fn is_local(&self) -> bool {
        LOCAL_PROVIDERS.contains(&self.provider.to_lowercase().as_str())
    }

    /// The variable holding the provider's key; unknown providers get `<PROVIDER>_API_KEY`.
    pub(crate) fn env_var(&self) -> String {
        lookup(&ENV_VARS, &self.provider)
            .map_or_else(|| format!("{}_API_KEY", self.provider.to_uppercase()), str::to_owned)
    }

    pub(crate) fn provider_display(&self) -> String {
        lookup(&DISPLAY_NAMES, &self.provider).map_or_else(|| capitalize(&self.provider), str::to_owned)
    }

    /// The registry alias: every `/` becomes `:`.
    pub(crate) fn alias(&self) -> String {
        self.full.replace('/', ":")
    }

    /// OpenAI reasoning models (o1-*, o3-*, gpt-5, gpt-5-*, gpt-5.*) need a larger budget.
    pub(crate) fn max_tokens(&self) -> u32 {
        let n = self.name.as_str();
        let reasoning = self.provider.to_lowercase() == "openai"
            && (n.starts_with("o1-")
                || n.starts_with("o3-")
                || n == "gpt-5"
                || n.starts_with("gpt-5-")
                || n.starts_with("gpt-5."));
        if reasoning { 16000 } else { 8192 }
    }

    /// The registry entry lines (6-space indent), as upstream formats them.
    pub(crate) fn registry_entry(&self) -> String {
        let mut lines = vec![
            format!("      model: {}", super::templates::yaml_scalar(&self.full)),
            "      model_type: chat".to_owned(),
            format!("      max_tokens: {}", self.max_tokens()),
            "      temperature: 1.0".to_owned(),
        ];
        if !self.is_local() {
            lines.push(format!("      env: {}", super::templates::yaml_scalar(&self.env_var())));
        }
        lines.join("\n")
    }

    /// The `{api_key_config}` block of `.env`; an empty key counts as no key.
    pub(crate) fn env_file_block(&self, api_key: Option<&str>) -> String {
        if self.is_local() {
            return "# No API key required for local models".to_owned();
        }
        let var = self.env_var();
        match api_key.filter(|k| !k.is_empty()) {
            Some(key) => format!("# {var} for your LLM provider\n{var}={key}"),
            None => format!("# {var} for your LLM provider\n# Add your API key here\n{var}="),
        }
    }
}

/// Shows the start and end of a key found in the environment, never the whole of it.
pub(crate) fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() > 8 {
        let head: String = chars[..8].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}...{tail}")
    } else {
        "***".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_tables() {
        let m = ModelChoice::parse("anthropic/claude-sonnet-4-5");
        assert_eq!(
            (m.provider.as_str(), m.name.as_str()),
            ("anthropic", "claude-sonnet-4-5")
        );
        assert_eq!(m.env_var(), "ANTHROPIC_API_KEY");
        assert_eq!(m.provider_display(), "Anthropic");
        assert_eq!(ModelChoice::parse("Together_AI/x").env_var(), "TOGETHER_API_KEY");
        assert_eq!(ModelChoice::parse("bedrock/x").env_var(), "AWS_ACCESS_KEY_ID");
        assert_eq!(ModelChoice::parse("deepseek/x").env_var(), "DEEPSEEK_API_KEY");
        assert_eq!(ModelChoice::parse("deepSEEK/x").provider_display(), "Deepseek");
        assert_eq!(ModelChoice::parse("ollama/llama2").provider_display(), "Ollama (local)");
        assert!(ModelChoice::parse("TGI/x").is_local());
        assert!(!ModelChoice::parse("openai/x").is_local());
    }

    #[test]
    fn bare_model_means_openai_and_keeps_the_string() {
        let m = ModelChoice::parse("gpt-4o");
        assert_eq!(m.provider, "openai");
        assert_eq!(m.alias(), "gpt-4o");
        assert_eq!(m.registry_entry().lines().next(), Some("      model: gpt-4o"));
        assert_eq!(ModelChoice::parse("a/b/c").alias(), "a:b:c");
    }

    #[test]
    fn reasoning_models_get_16000_tokens() {
        for model in ["o1-preview", "o1-mini", "o3-mini", "gpt-5", "gpt-5-mini", "gpt-5.1"] {
            assert_eq!(
                ModelChoice::parse(&format!("openai/{model}")).max_tokens(),
                16000,
                "{model}"
            );
        }
        for model in [
            "openai/gpt-4o",
            "openai/o1",
            "openai/o4-mini",
            "anthropic/gpt-5",
            "gpt-5",
        ] {
            let expected = if model == "gpt-5" { 16000 } else { 8192 };
            assert_eq!(ModelChoice::parse(model).max_tokens(), expected, "{model}");
        }
    }

    #[test]
    fn registry_entry_and_env_block() {
        let m = ModelChoice::parse("openai/gpt-4o-mini");
        assert_eq!(
            m.registry_entry(),
            "      model: openai/gpt-4o-mini\n      model_type: chat\n      max_tokens: 8192\n      temperature: 1.0\n      env: OPENAI_API_KEY"
        );
        assert_eq!(
            m.env_file_block(Some("sk-1")),
            "# OPENAI_API_KEY for your LLM provider\nOPENAI_API_KEY=sk-1"
        );
        assert_eq!(
            m.env_file_block(Some("")),
            "# OPENAI_API_KEY for your LLM provider\n# Add your API key here\nOPENAI_API_KEY="
        );
        let local = ModelChoice::parse("ollama/llama2");
        assert!(!local.registry_entry().contains("env:"));
        assert_eq!(
            local.env_file_block(Some("ignored")),
            "# No API key required for local models"
        );
    }

    #[test]
    fn masks_keys() {
        assert_eq!(mask_key("sk-1234567890abcd"), "sk-12345...abcd");
        assert_eq!(mask_key("12345678"), "***");
    }
}
