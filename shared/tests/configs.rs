//! Every example configuration in `testdata/configs/` parses, and survives a serialise/parse round trip.

use std::path::Path;

use trueip::Config;

#[test]
fn every_example_config_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("testdata/configs") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        let config = Config::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let again = Config::from_json(&config.to_json_pretty())
            .unwrap_or_else(|e| panic!("{} round trip: {e}", path.display()));
        assert_eq!(again, config, "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 10, "only {seen} example configs");
}

#[test]
fn default_json_is_the_embedded_default() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/configs/default.json");
    let text = std::fs::read_to_string(dir).expect("default.json");
    assert_eq!(text, trueip::config::DEFAULT_JSON);
}
