//! Rendered files compared with what dspy-cli 0.1.13 writes, where we do not change them.

use super::*;
use crate::scaffold::names::module_kind;

fn kind(key: &str) -> &'static ModuleKind {
    module_kind(key).unwrap()
}

fn qa() -> SignatureFields {
    SignatureFields::question_answer()
}

#[test]
fn render_fills_placeholders_and_unescapes_braces() {
    assert_eq!(render("a {x} {{b}} {y}", &[("x", "1"), ("y", "{2}")]), "a 1 {b} {2}");
}

#[test]
fn predict_module_matches_upstream() {
    let source = SignatureSource::Class {
        package: "demo",
        module: "main",
        class_name: "MainSignature",
    };
    let expected = "import dspy\nfrom demo.signatures.main import MainSignature\n\n\nclass MainPredict(dspy.Module):\n\n    def __init__(self):\n        super().__init__()\n        self.predictor = dspy.Predict(MainSignature)\n\n    def forward(self, question: str) -> dspy.Prediction:\n        return self.predictor(question=question)\n";
    assert_eq!(
        module_file(kind("Predict"), "MainPredict", source, &qa().inputs),
        expected
    );
}

#[test]
fn inline_module_matches_upstream_g_module() {
    let expected = "import dspy\n\n\nclass MyModCoT(dspy.Module):\n\n    def __init__(self):\n        super().__init__()\n        self.predictor = dspy.ChainOfThought(\"question: str -> answer: str\")\n\n    def forward(self, question: str) -> dspy.Prediction:\n        return self.predictor(question=question)\n";
    let text = module_file(kind("CoT"), "MyModCoT", SignatureSource::Inline, &qa().inputs);
    assert_eq!(text, expected);
}

#[test]
fn runnable_react_refine_and_mcc_modules() {
    let inputs = qa().inputs;
    let react = module_file(kind("ReAct"), "AReAct", SignatureSource::Inline, &inputs);
    assert!(react.contains("dspy.ReAct(\"question: str -> answer: str\", tools=tools or [])"));
    let refine = module_file(kind("Refine"), "ARefine", SignatureSource::Inline, &inputs);
    assert!(refine.contains("def reward(args: dict, prediction: dspy.Prediction) -> float:"));
    assert!(refine.contains("module=dspy.Predict(\"question: str -> answer: str\"),\n            N=3,\n            reward_fn=reward,\n            threshold=1.0,"));
    let mcc = module_file(kind("MultiChainComparison"), "AMCC", SignatureSource::Inline, &[]);
    assert!(mcc.contains("inputs = dict()\n"));
    assert!(mcc.contains("config={\"rollout_id\": i, \"temperature\": 1.0}"));
    assert!(mcc.contains("def forward(self, ) -> dspy.Prediction:"));
}

#[test]
fn signature_files_match_upstream_and_import_typing_names() {
    let fields = SignatureFields::parse("post -> tags: list[str]").unwrap();
    assert_eq!(
        signature_file("tags", "TagsSignature", Some(&fields)),
        "\"\"\"Signature definitions for tags.\"\"\"\n\nimport dspy\n\nclass TagsSignature(dspy.Signature):\n    \"\"\"\n    \"\"\"\n\n    post: str = dspy.InputField(desc=\"\")\n    tags: list[str] = dspy.OutputField(desc=\"\")\n"
    );
    assert_eq!(
        signature_file("main", "MainSignature", None),
        "import dspy\n\nclass MainSignature(dspy.Signature):\n    \"\"\"\n    \"\"\"\n\n    question: str = dspy.InputField(desc=\"\")\n    answer: str = dspy.OutputField(desc=\"\")\n"
    );
    let typed = SignatureFields::parse("x: Optional[int], m: dict[str, Any] -> y: Literal['a']").unwrap();
    let text = signature_file("t", "TSignature", Some(&typed));
    assert!(text.starts_with("\"\"\"Signature definitions for t.\"\"\"\n\nfrom typing import Any, Literal, Optional\n\nimport dspy\n\nclass"), "{text}");
    let module = module_file(
        kind("Predict"),
        "TPredict",
        SignatureSource::Class {
            package: "p",
            module: "t",
            class_name: "TSignature",
        },
        &typed.inputs,
    );
    assert!(
        module.starts_with("from typing import Any, Optional\n\nimport dspy\nfrom p.signatures.t import TSignature\n"),
        "{module}"
    );
    assert!(module.contains("def forward(self, x: Optional[int], m: dict[str, Any]) -> dspy.Prediction:"));
    assert!(module.contains("return self.predictor(x=x, m=m)"));
    let empty = SignatureFields::parse("->").unwrap();
    assert!(signature_file("e", "ESignature", Some(&empty)).ends_with("    \"\"\"\n\n"));
}

#[test]
fn config_env_and_project_files() {
    let model = ModelChoice::parse("openai/gpt-4o-mini");
    assert_eq!(
        config_yaml("demo", &model),
        "# DSPy Configuration\n# Define your language models and their settings here\n\napp_id: demo\nmodels:\n  # The default model to use if no per-program override is specified\n  default: openai:gpt-4o-mini\n\n  # Model registry - define all available models here\n  registry:\n    openai:gpt-4o-mini:\n      model: openai/gpt-4o-mini\n      model_type: chat\n      max_tokens: 8192\n      temperature: 1.0\n      env: OPENAI_API_KEY\n\n# Optional: Override the model for specific programs\n# program_models:\n#   MySpecialProgram: openai:gpt-4o-mini\n"
    );
    assert_eq!(
        env_file(&model, None),
        "# API Keys and Secrets\n# Add your API keys here - this file is automatically added to .gitignore\n\n# OPENAI_API_KEY for your LLM provider\n# Add your API key here\nOPENAI_API_KEY=\n"
    );
    let pyproject = pyproject("My-App");
    assert!(pyproject.contains("name = \"My-App\""));
    assert!(pyproject.contains("    \"dspy>=3.0.3\",\n    \"dspy-cli-rs\"\n"));
    assert!(pyproject.contains("# dspy-cli-rs = { path = \"../dspy-cli-rs\", editable = true }"));
    assert!(!pyproject.contains("dspy-ai"));
    // Users install the wheel from wheels/ until dspy-cli-rs is on the package index.
    assert!(pyproject.contains("[tool.uv]\nfind-links = [\"wheels\"]\n"));
    // Upstream's command line, --auth included.
    assert!(DOCKERFILE.contains(
        "CMD [\"uv\", \"run\", \"dspy-cli\", \"serve\", \"--host\", \"0.0.0.0\", \"--port\", \"8000\", \"--auth\", \"--no-reload\"]"
    ));
    assert!(DOCKERIGNORE.ends_with("logs/"));
}

#[test]
fn readme_uses_the_real_endpoint_and_explains_async_and_production() {
    let fields = SignatureFields::parse("text, n: int, tags: list[str] -> summary").unwrap();
    let text = readme("demo", "demo", "MainPredict", &fields.inputs);
    assert!(text.contains("curl -X POST http://localhost:8000/MainPredict \\\n"));
    assert!(text.contains("-d '{\"text\": \"your text here\", \"n\": 1, \"tags\": []}'"));
    assert!(text.contains("### Async Modules"));
    assert!(text.contains("async def aforward(self, text: str, n: int, tags: list[str]) -> dspy.Prediction:"));
    assert!(text.contains("return await self.predictor.acall(text=text, n=n, tags=tags)"));
    assert!(text.contains("## Production"));
    assert!(text.contains("dspy-cli serve --auth --no-reload --host 0.0.0.0"));
    assert!(text.contains("docker run -p 8000:8000 --env-file .env demo"));
    assert!(text.contains("- `src/demo/modules/` - DSPy program implementations"));
}

#[test]
fn gateway_files() {
    let api = gateway_file(GatewayKind::Api, "Slack", "/webhooks/slack", "0 * * * *", false);
    assert!(api.contains("class SlackGateway(APIGateway):"));
    assert!(api.contains("    path = \"/webhooks/slack\"\n    method = \"POST\"\n    requires_auth = False\n"));
    assert!(api.contains("return dict(request) if request else {}"));
    let cron = gateway_file(GatewayKind::Cron, "Mod", "/Mod", "*/5 * * * *", true);
    assert!(cron.contains("from dspy_cli.gateway import CronGateway"));
    assert!(cron.contains("    schedule = \"*/5 * * * *\"  # Cron expression"));
    assert!(cron.contains("async def get_pipeline_inputs(self) -> List[Dict[str, Any]]:"));
}

#[test]
fn test_modules_file() {
    let text = test_modules("demo", "main_predict", "MainPredict");
    assert!(text.contains("from demo.modules.main_predict import MainPredict\n"));
    assert!(text.contains("    return MainPredict()\n"));
}

#[test]
fn yaml_values_read_back_as_the_same_string() {
    for text in [
        "openai:gpt-4o-mini",
        "My-App",
        "on",
        "null",
        "true",
        "123",
        "a: b",
        "x#y",
        "'q'",
        "ünï",
    ] {
        let scalar = yaml_scalar(text);
        let back: String = serde_yaml_ng::from_str(&format!("key: {scalar}"))
            .map(|m: std::collections::BTreeMap<String, String>| m["key"].clone())
            .unwrap();
        assert_eq!(back, text, "{text} -> {scalar}");
    }
    assert_eq!(yaml_scalar("openai:gpt-4o-mini"), "openai:gpt-4o-mini");
    assert_eq!(yaml_scalar("on"), "'on'");
}
