//! The dspy-cli project layout: `dspy.config.yaml` and `src/<package>/modules/`.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ProjectError {
    #[error(
        "Error: Not a valid DSPy project directory\n\nMake sure you're in a directory created with 'dspy-cli new'\nRequired files: dspy.config.yaml, src/"
    )]
    NotAProject,
    #[error("Error: Could not find package in src/")]
    NoPackage,
    #[error("Error: modules directory not found: {}", .0.display())]
    NoModulesDir(PathBuf),
}

/// A located project: root, package name and the directories the server reads.
#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub(crate) root: PathBuf,
    pub(crate) package_name: String,
    pub(crate) src_dir: PathBuf,
    pub(crate) modules_dir: PathBuf,
}

impl Project {
    pub(crate) fn config_path(&self) -> PathBuf {
        self.root.join("dspy.config.yaml")
    }

    /// Check the layout of `root` in upstream's order and with its messages.
    pub(crate) fn locate(root: &Path) -> Result<Self, ProjectError> {
        if !is_project_dir(root) {
            return Err(ProjectError::NotAProject);
        }
        let (package_dir, package_name) = locate_package(root)?;
        let modules_dir = package_dir.join("modules");
        if !modules_dir.is_dir() {
            return Err(ProjectError::NoModulesDir(modules_dir));
        }
        Ok(Self {
            root: root.to_path_buf(),
            package_name,
            src_dir: root.join("src"),
            modules_dir,
        })
    }
}

pub(crate) fn is_project_dir(root: &Path) -> bool {
    root.join("dspy.config.yaml").exists() && root.join("src").exists()
}

/// The project's package directory and its name (`src/<name>/`). `generate` calls this on its
/// own, because it checks its arguments between the project check and this one.
pub(crate) fn locate_package(root: &Path) -> Result<(PathBuf, String), ProjectError> {
    let package_dir = find_package_dir(root).ok_or(ProjectError::NoPackage)?;
    let package_name = package_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((package_dir, package_name))
}

/// The single directory under `src/` holding an `__init__.py` (0 or 2+ → None).
pub(crate) fn find_package_dir(root: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(root.join("src")).ok()?;
    let mut candidates = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.join("__init__.py").exists());
    let first = candidates.next()?;
    candidates.next().is_none().then_some(first)
}
