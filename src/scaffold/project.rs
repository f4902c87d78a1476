//! Writing files to disk: a whole project for `new`, single files for `generate`.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::model::ModelChoice;
use super::names::{ModuleKind, signature_class_name, to_class_name};
use super::signature::{Field, SignatureFields};
use super::templates::{self, SignatureSource};

/// A file or directory that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("could not write {}: {source}", path.display())]
pub(crate) struct WriteError {
    path: PathBuf,
    source: io::Error,
}

/// Write `content` to `path`, naming the path in the error.
pub(crate) fn write_file(path: &Path, content: &str) -> Result<(), WriteError> {
    std::fs::write(path, content).map_err(|source| WriteError {
        path: path.to_path_buf(),
        source,
    })
}

/// Create `path` and its parents (existing directories are fine).
pub(crate) fn create_dir(path: &Path) -> Result<(), WriteError> {
    std::fs::create_dir_all(path).map_err(|source| WriteError {
        path: path.to_path_buf(),
        source,
    })
}

/// `<Pascal><suffix>`, the module class and so the endpoint name (`MainPredict`).
pub(crate) fn module_class_name(program: &str, kind: &ModuleKind) -> String {
    format!("{}{}", to_class_name(program), kind.class_suffix)
}

/// `<program>_<suffix>`, the module's file stem (`main_predict`).
pub(crate) fn module_file_stem(program: &str, kind: &ModuleKind) -> String {
    format!("{}_{}", program.to_lowercase(), kind.file_suffix)
}

/// Everything `new` decided before writing; nothing here is validated again.
#[derive(Debug)]
pub(crate) struct NewProject {
    pub(crate) project_name: String,
    pub(crate) package_name: String,
    pub(crate) program_name: String,
    pub(crate) module: &'static ModuleKind,
    /// `None` writes upstream's default signature template (question -> answer).
    pub(crate) signature: Option<SignatureFields>,
    pub(crate) model: ModelChoice,
    pub(crate) api_key: Option<String>,
}

impl NewProject {
    /// Write the project into `root` (which must not exist yet), calling `report` with each
    /// `Created: ...` label in upstream's order and wording.
    pub(crate) fn write(&self, root: &Path, report: &mut dyn FnMut(&str)) -> Result<(), WriteError> {
        let package = root.join("src").join(&self.package_name);
        for sub in ["", "modules", "signatures", "optimizers", "metrics", "utils"] {
            let dir = if sub.is_empty() {
                package.clone()
            } else {
                package.join(sub)
            };
            create_dir(&dir)?;
            report(&format!(
                "{}/src/{}{}",
                self.project_name,
                self.package_name,
                slash(sub)
            ));
        }
        for dir in ["data", "logs", "tests"] {
            create_dir(&root.join(dir))?;
            report(&format!("{}/{dir}", self.project_name));
        }
        self.write_config_files(root, report)?;
        self.write_code_files(root, &package, report)
    }

    fn write_config_files(&self, root: &Path, report: &mut dyn FnMut(&str)) -> Result<(), WriteError> {
        let module_class = module_class_name(&self.program_name, self.module);
        let inputs = self.inputs();
        let files = [
            ("pyproject.toml", templates::pyproject(&self.project_name)),
            (
                "dspy.config.yaml",
                templates::config_yaml(&self.project_name, &self.model),
            ),
            ("Dockerfile", templates::DOCKERFILE.to_owned()),
            (".dockerignore", templates::DOCKERIGNORE.to_owned()),
            (".env", templates::env_file(&self.model, self.api_key.as_deref())),
            (
                "README.md",
                templates::readme(&self.project_name, &self.package_name, &module_class, &inputs),
            ),
            (".gitignore", templates::GITIGNORE.to_owned()),
        ];
        for (name, content) in files {
            write_file(&root.join(name), &content)?;
            report(&format!("{}/{name}", self.project_name));
        }
        Ok(())
    }

    fn write_code_files(&self, root: &Path, package: &Path, report: &mut dyn FnMut(&str)) -> Result<(), WriteError> {
        let init = format!("\"\"\"DSPy project: {}.\"\"\"\n", self.package_name);
        write_file(&package.join("__init__.py"), &init)?;
        for sub in ["modules", "signatures", "optimizers", "metrics", "utils"] {
            write_file(&package.join(sub).join("__init__.py"), "")?;
        }
        let stem = self.program_name.to_lowercase();
        let signature_class = signature_class_name(&self.program_name);
        let signature = templates::signature_file(&stem, &signature_class, self.signature.as_ref());
        write_file(&package.join("signatures").join(format!("{stem}.py")), &signature)?;

        let module_class = module_class_name(&self.program_name, self.module);
        let module_stem = module_file_stem(&self.program_name, self.module);
        let source = SignatureSource::Class {
            package: &self.package_name,
            module: &stem,
            class_name: &signature_class,
        };
        let module = templates::module_file(self.module, &module_class, source, &self.inputs());
        write_file(&package.join("modules").join(format!("{module_stem}.py")), &module)?;
        let tests = templates::test_modules(&self.package_name, &module_stem, &module_class);
        write_file(&root.join("tests").join("test_modules.py"), &tests)?;

        // Upstream labels these with the package name, not the project path.
        report(&format!("{}/modules/{module_stem}.py", self.package_name));
        report(&format!("{}/signatures/{stem}.py", self.package_name));
        report("tests/test_modules.py");
        Ok(())
    }

    /// `forward()`'s parameters: the signature's inputs, or `question: str` by default.
    fn inputs(&self) -> Vec<Field> {
        match &self.signature {
            Some(fields) => fields.inputs.clone(),
            None => SignatureFields::question_answer().inputs,
        }
    }
}

fn slash(sub: &str) -> String {
    if sub.is_empty() {
        String::new()
    } else {
        format!("/{sub}")
    }
}

/// How `git init` went; failures are only warnings.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum GitInit {
    Initialized,
    /// Text of the failure, worded like Python's `CalledProcessError`.
    Failed(String),
    NotFound,
}

pub(crate) fn init_git(dir: &Path) -> GitInit {
    match Command::new("git").arg("init").current_dir(dir).output() {
        Ok(output) if output.status.success() => GitInit::Initialized,
        Ok(output) => GitInit::Failed(format!(
            "Command '['git', 'init']' returned non-zero exit status {}.",
            output.status.code().unwrap_or(-1)
        )),
        Err(err) if err.kind() == io::ErrorKind::NotFound => GitInit::NotFound,
        Err(err) => GitInit::Failed(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scaffold::names::module_kind;

    fn project(signature: Option<&str>) -> NewProject {
        NewProject {
            project_name: "My-App".into(),
            package_name: "my_app".into(),
            program_name: "Main".into(),
            module: module_kind("CoT").unwrap(),
            signature: signature.map(|s| SignatureFields::parse(s).unwrap()),
            model: ModelChoice::parse("ollama/llama2"),
            api_key: None,
        }
    }

    #[test]
    fn writes_the_upstream_tree_and_reports_in_order() {
        let tmp = std::env::temp_dir().join(format!("dspy-cli-rs-project-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let root = tmp.join("My-App");
        let mut created = Vec::new();
        project(Some("q: int -> a"))
            .write(&root, &mut |l| created.push(l.to_owned()))
            .unwrap();
        assert_eq!(created[0], "My-App/src/my_app");
        assert_eq!(created[8], "My-App/tests");
        assert_eq!(created[9], "My-App/pyproject.toml");
        assert_eq!(
            &created[16..],
            [
                "my_app/modules/main_cot.py",
                "my_app/signatures/main.py",
                "tests/test_modules.py"
            ]
        );
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        assert_eq!(read("src/my_app/__init__.py"), "\"\"\"DSPy project: my_app.\"\"\"\n");
        assert_eq!(read("src/my_app/utils/__init__.py"), "");
        assert!(read("src/my_app/modules/main_cot.py").contains("class MainCoT(dspy.Module):"));
        assert!(read("src/my_app/signatures/main.py").contains("class MainSignature(dspy.Signature):"));
        assert!(read(".env").ends_with("# No API key required for local models\n"));
        assert!(read("dspy.config.yaml").contains("app_id: My-App\n"));
        assert!(root.join("data").is_dir() && root.join("logs").is_dir());
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn names_of_module_files_and_classes() {
        let kind = module_kind("MultiChainComparison").unwrap();
        assert_eq!(module_class_name("my_mod", kind), "MyModMCC");
        assert_eq!(module_file_stem("My_Mod", kind), "my_mod_mcc");
    }
}
