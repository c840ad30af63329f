//! The krew plugin manifest (`plugins/krew/witboost.yaml`) against krew's manifest rules, as
//! krew's own validator (`internal/index/validation`) and the krew-index guidelines state them:
//! apiVersion and kind, a safe name matching the file, a one-line short description of at most
//! 50 characters, a `v`-prefixed semantic version, and per platform an https `uri`, a sha256 of
//! 64 lowercase hex digits, a `bin`, `files` with `from` and `to`, and a selector on `os` and
//! `arch` only, no two platforms alike. Each rule is also shown to catch a broken manifest.

use serde_json::{Value, json};

const MANIFEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/plugins/krew/witboost.yaml");

fn manifest() -> Value {
    let text = std::fs::read_to_string(MANIFEST).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// `v` MAJOR.MINOR.PATCH, with an optional pre-release and build (semver.org), as krew parses it.
fn is_krew_semver(version: &str) -> bool {
    let Some(rest) = version.strip_prefix('v') else {
        return false;
    };
    let (rest, build) = rest
        .split_once('+')
        .map_or((rest, None), |(r, b)| (r, Some(b)));
    let (core, pre) = rest
        .split_once('-')
        .map_or((rest, None), |(c, p)| (c, Some(p)));
    let numeric = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    };
    let identifiers = |s: &str| {
        s.split('.')
            .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| numeric(p))
        && pre.is_none_or(identifiers)
        && build.is_none_or(identifiers)
}

/// Every rule `manifest`, the file of plugin `name`, breaks.
fn violations(name: &str, manifest: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut rule = |ok: bool, what: &str| {
        if !ok {
            found.push(what.to_owned());
        }
    };
    let str_at = |pointer: &str| manifest.pointer(pointer).and_then(Value::as_str);
    rule(
        str_at("/apiVersion") == Some("krew.googlecontainertools.github.com/v1alpha2"),
        "apiVersion",
    );
    rule(str_at("/kind") == Some("Plugin"), "kind");
    let safe = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && !["CON", "PRN", "AUX", "NUL"]
            .iter()
            .any(|f| f.eq_ignore_ascii_case(name));
    rule(safe, "name safe");
    rule(str_at("/metadata/name") == Some(name), "name matches file");
    let short = str_at("/spec/shortDescription").unwrap_or_default();
    rule(!short.is_empty(), "shortDescription set");
    rule(!short.contains(['\r', '\n']), "shortDescription one line");
    rule(short.chars().count() <= 50, "shortDescription at most 50");
    rule(
        is_krew_semver(str_at("/spec/version").unwrap_or_default()),
        "version semver with v",
    );
    if let Some(homepage) = str_at("/spec/homepage") {
        rule(homepage.starts_with("https://"), "homepage https");
    }
    let platforms = manifest
        .pointer("/spec/platforms")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    rule(!platforms.is_empty(), "platforms set");
    let mut selectors = Vec::new();
    for platform in &platforms {
        let field = |f: &str| platform.get(f).and_then(Value::as_str).unwrap_or_default();
        rule(field("uri").starts_with("https://"), "uri https");
        let sha = field("sha256");
        rule(
            sha.len() == 64 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "sha256 64 hex",
        );
        rule(!field("bin").is_empty(), "bin set");
        if let Some(files) = platform.get("files") {
            let files = files.as_array().cloned().unwrap_or_default();
            rule(!files.is_empty(), "files non-empty");
            rule(
                files.iter().all(|f| {
                    ["from", "to"].iter().all(|k| {
                        f.get(k)
                            .and_then(Value::as_str)
                            .is_some_and(|v| !v.is_empty())
                    })
                }),
                "files from and to",
            );
        }
        let selector = platform.get("selector").cloned().unwrap_or(Value::Null);
        let labels = selector.get("matchLabels").and_then(Value::as_object);
        let expressions = selector.get("matchExpressions").and_then(Value::as_array);
        rule(
            labels.is_some_and(|l| !l.is_empty()) || expressions.is_some_and(|e| !e.is_empty()),
            "selector set",
        );
        let keys = labels.into_iter().flat_map(|l| l.keys().cloned()).chain(
            expressions
                .into_iter()
                .flatten()
                .filter_map(|e| e.get("key").and_then(Value::as_str).map(str::to_owned)),
        );
        rule(
            keys.into_iter().all(|k| k == "os" || k == "arch"),
            "selector keys os and arch",
        );
        if let Some(os) = labels.and_then(|l| l.get("os")).and_then(Value::as_str) {
            rule(
                ["linux", "darwin", "windows"].contains(&os),
                "selector os known",
            );
            if os == "windows" {
                rule(field("bin").ends_with(".exe"), "windows bin .exe");
            }
        }
        rule(!selectors.contains(&selector), "platforms differ");
        selectors.push(selector);
    }
    found
}

#[test]
fn the_krew_manifest_follows_krews_rules() {
    let manifest = manifest();
    let name = std::path::Path::new(MANIFEST)
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(violations(name, &manifest), Vec::<String>::new());
    // The binary krew installs is the one kubectl finds: kubectl-<name>.
    assert_eq!(
        manifest["spec"]["platforms"][0]["bin"],
        witboost_token_operator::plugin::PLUGIN_BINARY
    );
}

#[test]
fn the_krew_manifest_names_the_crates_version_in_its_version_and_uri() {
    let manifest = manifest();
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["spec"]["version"], version.as_str());
    for platform in manifest["spec"]["platforms"].as_array().unwrap() {
        let uri = platform["uri"].as_str().unwrap();
        assert!(uri.contains(&format!("/{version}/")), "{uri}");
    }
}

#[test]
fn each_krew_rule_catches_a_manifest_that_breaks_it() {
    let good = manifest();
    let broken = |pointer: &str, value: Value| {
        let mut m = good.clone();
        *m.pointer_mut(pointer).unwrap() = value;
        violations("witboost", &m)
    };
    let cases = [
        (
            "/apiVersion",
            json!("krew.googlecontainertools.github.com/v1alpha1"),
            "apiVersion",
        ),
        ("/kind", json!("Plugins"), "kind"),
        ("/metadata/name", json!("witboost2"), "name matches file"),
        ("/spec/shortDescription", json!(""), "shortDescription set"),
        (
            "/spec/shortDescription",
            json!("two\nlines"),
            "shortDescription one line",
        ),
        (
            "/spec/shortDescription",
            json!("x".repeat(51)),
            "shortDescription at most 50",
        ),
        ("/spec/version", json!("0.1.0"), "version semver with v"),
        ("/spec/version", json!("v0.1"), "version semver with v"),
        ("/spec/version", json!("v01.0.0"), "version semver with v"),
        (
            "/spec/homepage",
            json!("http://example.com"),
            "homepage https",
        ),
        ("/spec/platforms", json!([]), "platforms set"),
        (
            "/spec/platforms/0/uri",
            json!("http://example.com/a.tar.gz"),
            "uri https",
        ),
        ("/spec/platforms/0/sha256", json!("ABC"), "sha256 64 hex"),
        (
            "/spec/platforms/0/sha256",
            json!("A".repeat(64)),
            "sha256 64 hex",
        ),
        ("/spec/platforms/0/bin", json!(""), "bin set"),
        ("/spec/platforms/0/files", json!([]), "files non-empty"),
        (
            "/spec/platforms/0/files",
            json!([{ "from": "a" }]),
            "files from and to",
        ),
        ("/spec/platforms/0/selector", json!({}), "selector set"),
        (
            "/spec/platforms/0/selector",
            json!({ "matchLabels": { "distro": "debian" } }),
            "selector keys os and arch",
        ),
        (
            "/spec/platforms/0/selector",
            json!({ "matchLabels": { "os": "plan9" } }),
            "selector os known",
        ),
        (
            "/spec/platforms/0/selector",
            json!({ "matchLabels": { "os": "windows" } }),
            "windows bin .exe",
        ),
    ];
    for (pointer, value, rule) in cases {
        let found = broken(pointer, value.clone());
        assert!(
            found.contains(&rule.to_owned()),
            "{pointer} = {value}: {found:?}"
        );
    }
    assert!(violations("CON", &good).contains(&"name safe".to_owned()));
    let mut twice = good.clone();
    let platform = twice["spec"]["platforms"][0].clone();
    twice["spec"]["platforms"]
        .as_array_mut()
        .unwrap()
        .push(platform);
    assert!(violations("witboost", &twice).contains(&"platforms differ".to_owned()));
}
