//! Hot reload's file watcher: `*.py`, `*.yaml`/`*.yml` and `.env` under the project root,
//! debounced, with virtualenvs, VCS data, caches and the logs directory left out.

use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};

/// Changes closer together than this are one reload (an editor's save is often several events).
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Directory names never watched, wherever they are.
const IGNORED_DIRS: &[&str] = &[
    ".venv",
    "venv",
    ".git",
    "__pycache__",
    "node_modules",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
];

/// What the watcher reports: files changed, as paths relative to the project root.
pub(crate) type Changes = Vec<PathBuf>;

/// What is watched, for the start-up banner and the filter.
#[derive(Debug, Clone)]
pub(crate) struct WatchScope {
    pub(crate) root: PathBuf,
    /// Directories under the root whose files never trigger a reload (logs, data).
    pub(crate) excluded: Vec<PathBuf>,
}

impl WatchScope {
    /// Does a change to `path` call for a reload?
    pub(crate) fn matters(&self, path: &Path) -> bool {
        let Ok(relative) = path.strip_prefix(&self.root) else {
            return false;
        };
        if self.excluded.iter().any(|dir| path.starts_with(dir)) {
            return false;
        }
        let ignored_dir = relative.components().any(|c| match c {
            Component::Normal(name) => IGNORED_DIRS.iter().any(|d| name == *d),
            _ => false,
        });
        if ignored_dir {
            return false;
        }
        let name = relative.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name == ".env"
            || Path::new(name)
                .extension()
                .is_some_and(|e| e == "py" || e == "yaml" || e == "yml")
    }
}

/// A running watcher; dropping it stops watching.
pub(crate) struct FileWatcher {
    _watcher: notify::RecommendedWatcher,
}

/// Watch `scope` and send each debounced batch of relevant changes with `send`. The top-level
/// directories (except ignored ones) are watched recursively and the root itself flatly, so a
/// large `.venv` is never walked; a top-level directory created later is not watched (restart).
pub(crate) fn watch(scope: &WatchScope, send: impl Fn(Changes) + Send + 'static) -> notify::Result<FileWatcher> {
    let (raw_tx, raw_rx) = mpsc::channel::<PathBuf>();
    let filter = scope.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, EventKind::Access(_) | EventKind::Other) {
            return;
        }
        for path in event.paths {
            if filter.matters(&path) {
                raw_tx.send(path).ok();
            }
        }
    })?;
    watcher.watch(&scope.root, RecursiveMode::NonRecursive)?;
    for entry in std::fs::read_dir(&scope.root)?.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let skip = IGNORED_DIRS.iter().any(|d| name == *d) || scope.excluded.iter().any(|x| path.starts_with(x));
        if path.is_dir() && !skip {
            watcher.watch(&path, RecursiveMode::Recursive)?;
        }
    }
    let root = scope.root.clone();
    std::thread::Builder::new()
        .name("dspy-reload-watch".into())
        .spawn(move || debounce(&raw_rx, &root, &send))
        .map_err(notify::Error::io)?;
    Ok(FileWatcher { _watcher: watcher })
}

/// Collect paths until none arrived for [`DEBOUNCE`], then hand the batch on (sorted, unique).
fn debounce(raw: &mpsc::Receiver<PathBuf>, root: &Path, send: &impl Fn(Changes)) {
    while let Ok(first) = raw.recv() {
        let mut batch = vec![first];
        while let Ok(more) = raw.recv_timeout(DEBOUNCE) {
            batch.push(more);
        }
        let mut relative: Vec<PathBuf> = batch
            .iter()
            .map(|p| p.strip_prefix(root).unwrap_or(p).to_path_buf())
            .collect();
        relative.sort();
        relative.dedup();
        send(relative);
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::WatchScope;

    #[test]
    fn only_code_config_and_dotenv_outside_ignored_dirs_matter() {
        let scope = WatchScope {
            root: PathBuf::from("/p"),
            excluded: vec![PathBuf::from("/p/logs"), PathBuf::from("/data")],
        };
        for yes in [
            "/p/src/pkg/modules/a.py",
            "/p/dspy.config.yaml",
            "/p/.env",
            "/p/conf/x.yml",
        ] {
            assert!(scope.matters(Path::new(yes)), "{yes}");
        }
        for no in [
            "/p/src/pkg/__pycache__/a.py",
            "/p/.venv/lib/x.py",
            "/p/venv/x.py",
            "/p/.git/x.yaml",
            "/p/logs/a.py",
            "/p/README.md",
            "/p/src/a.pyc",
            "/other/a.py",
            "/p/.env.example",
        ] {
            assert!(!scope.matters(Path::new(no)), "{no}");
        }
    }
}
