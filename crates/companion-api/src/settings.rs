//! The app's settings: a small JSON file in the data directory (no secrets), written
//! atomically. A missing or unreadable file means the defaults.

use companion_store::Paths;

use crate::types::{ApiError, Settings};

fn path(paths: &Paths) -> std::path::PathBuf {
    paths.data_dir().join("settings.json")
}

pub(crate) fn load(paths: &Paths) -> Settings {
    std::fs::read(path(paths))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

pub(crate) fn save(paths: &Paths, s: &Settings) -> Result<(), ApiError> {
    let p = path(paths);
    let bytes = serde_json::to_vec_pretty(s).map_err(|e| ApiError::failed(e.to_string()))?;
    companion_store::atomic::create_private_dir(paths.data_dir())
        .and_then(|()| companion_store::atomic::write_atomic(&p, &bytes))
        .map_err(|e| ApiError::failed(format!("cannot save the settings to {}: {e}", p.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_then_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::at(dir.path().join("c"), dir.path().join("d"));
        assert_eq!(load(&paths), Settings::default());
        let s = Settings {
            autostart: false,
            notifications: true,
        };
        save(&paths, &s).unwrap();
        assert_eq!(load(&paths), s);
        std::fs::write(path(&paths), "{broken").unwrap();
        assert_eq!(load(&paths), Settings::default());
    }
}
