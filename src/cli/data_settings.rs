//! `server.*` keys of the log files, the images saved beside them and 5xx bodies:
//! `log_max_bytes`, `log_backups`, `log_image_max_bytes`, `log_images_max_total_bytes`,
//! `expose_errors`. Range-checked at start-up with messages naming the key.

use crate::config::{ConfigError, ProjectConfig};
use crate::engine::ImageCaps;
use crate::telemetry::Rotation;

/// `server.*` keys of the log files, the images saved beside them and 5xx bodies.
pub(super) struct DataSettings {
    pub(super) rotation: Rotation,
    pub(super) images: ImageCaps,
    pub(super) expose_errors: bool,
}

impl DataSettings {
    const DEFAULT_IMAGE_MAX_BYTES: u64 = 10 * 1024 * 1024;
    const DEFAULT_IMAGES_MAX_TOTAL_BYTES: u64 = 1024 * 1024 * 1024;
    const MIN_LOG_MAX_BYTES: u64 = 4096;
    const MAX_LOG_BACKUPS: u64 = 1000;
    /// 1 TiB: anything larger is a typo, not a size.
    const MAX_BYTES: u64 = 1 << 40;

    pub(super) fn from_config(config: &ProjectConfig) -> Result<Self, ConfigError> {
        let invalid = |msg: String| ConfigError::Invalid(format!("Invalid configuration: {msg}"));
        let max_bytes = config
            .server
            .log_max_bytes
            .within(0..=Self::MAX_BYTES)?
            .unwrap_or(Rotation::DEFAULT_MAX_BYTES);
        if max_bytes != 0 && max_bytes < Self::MIN_LOG_MAX_BYTES {
            return Err(invalid(format!(
                "'server.log_max_bytes' must be 0 (never rotate) or at least {}, got {max_bytes}",
                Self::MIN_LOG_MAX_BYTES
            )));
        }
        let backups = config
            .server
            .log_backups
            .within(0..=Self::MAX_LOG_BACKUPS)?
            .map_or(Rotation::DEFAULT_BACKUPS, |n| {
                u32::try_from(n).expect("at most MAX_LOG_BACKUPS")
            });
        Ok(Self {
            rotation: Rotation { max_bytes, backups },
            images: ImageCaps {
                max_bytes: config
                    .server
                    .log_image_max_bytes
                    .within(0..=Self::MAX_BYTES)?
                    .unwrap_or(Self::DEFAULT_IMAGE_MAX_BYTES),
                max_total_bytes: config
                    .server
                    .log_images_max_total_bytes
                    .within(0..=Self::MAX_BYTES)?
                    .unwrap_or(Self::DEFAULT_IMAGES_MAX_TOTAL_BYTES),
            },
            expose_errors: config.server.expose_errors.flag()?.unwrap_or(true),
        })
    }

    pub(super) fn print(&self) {
        match self.rotation.max_bytes {
            0 => println!("  log rotation: off"),
            max => println!("  log rotation: at {max} bytes, {} backups kept", self.rotation.backups),
        }
        println!(
            "  logged images: up to {} bytes each, {} bytes in total",
            self.images.max_bytes, self.images.max_total_bytes
        );
        println!("  expose errors: {}", self.expose_errors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(server: &str) -> Result<DataSettings, String> {
        let text = format!("models:\n  default: a\n  registry:\n    a: {{model: openai/x}}\nserver:\n{server}");
        let config = ProjectConfig::from_yaml(&text, &|_| None).map_err(|e| e.to_string())?;
        DataSettings::from_config(&config).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_bounded() {
        let data = settings("  other: 1\n").unwrap();
        assert_eq!(data.rotation.max_bytes, Rotation::DEFAULT_MAX_BYTES);
        assert_eq!(data.rotation.backups, Rotation::DEFAULT_BACKUPS);
        assert_eq!(data.images.max_bytes, DataSettings::DEFAULT_IMAGE_MAX_BYTES);
        assert!(data.expose_errors);
    }

    #[test]
    fn out_of_range_values_name_their_key() {
        let cases = [
            (
                "  log_max_bytes: 10\n",
                "'server.log_max_bytes' must be 0 (never rotate) or at least 4096",
            ),
            ("  log_max_bytes: -1\n", "'server.log_max_bytes' must be a whole number"),
            (
                "  log_backups: 5000\n",
                "'server.log_backups' must be a whole number from 0 to 1000",
            ),
            (
                "  log_image_max_bytes: big\n",
                "'server.log_image_max_bytes' must be a whole number",
            ),
            (
                "  expose_errors: maybe\n",
                "'server.expose_errors' must be true or false",
            ),
        ];
        for (server, expected) in cases {
            let err = settings(server).err().unwrap_or_default();
            assert!(err.contains(expected), "{server:?}: {err}");
        }
        assert_eq!(
            settings("  log_max_bytes: 0\n  log_backups: 0\n")
                .unwrap()
                .rotation
                .max_bytes,
            0
        );
    }
}
