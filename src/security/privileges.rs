//! What a caller may do: Kibana's "Actions and Connectors" feature privileges per
//! space, the global `all` that manages spaces, and Elasticsearch-style index
//! privileges for the `.index` connector.
//!
//! Roles come in two shapes, both parsed here into [`Privileges`]: Kibana's role API
//! (`elasticsearch` + `kibana` sections, used by `switchboard roles`) and
//! Elasticsearch's role descriptors (API keys' `role_descriptors`, with Kibana's
//! application privileges under `kibana-.kibana`).

use serde_json::Value;

/// How much of the feature a grant gives: `read` gets, lists and runs; `all` also
/// creates, updates and deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Read,
    All,
}

/// The operations Kibana's actions client authorizes, with the level each needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Get,
    Execute,
}

impl Operation {
    pub fn needs(self) -> Level {
        match self {
            Self::Create | Self::Update | Self::Delete => Level::All,
            Self::Get | Self::Execute => Level::Read,
        }
    }

    /// Kibana's refusal: `Unauthorized to create a ".index" action` when the type is
    /// known at the check, `Unauthorized to get actions` otherwise.
    pub fn refusal(self, type_id: Option<&str>) -> String {
        let verb = match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Get => "get",
            Self::Execute => "execute",
        };
        match type_id {
            Some(type_id) => format!("Unauthorized to {verb} a \"{type_id}\" action"),
            None => format!("Unauthorized to {verb} actions"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Spaces {
    Every,
    Listed(Vec<String>),
}

impl Spaces {
    fn contains(&self, space: &str) -> bool {
        match self {
            Self::Every => true,
            Self::Listed(ids) => ids.iter().any(|it| it == space),
        }
    }
}

#[derive(Debug, Clone)]
struct SpaceGrant {
    spaces: Spaces,
    level: Level,
}

#[derive(Debug, Clone)]
struct IndexGrant {
    patterns: Vec<String>,
    privileges: Vec<String>,
}

/// The index privileges that let a bulk request create documents (the `.index`
/// connector sends `op_type: create`), in Elasticsearch's order for its message.
pub const INDEX_WRITE_PRIVILEGES: [&str; 5] = ["create_doc", "create", "index", "write", "all"];

/// What one set of roles grants, all together.
#[derive(Debug, Clone, Default)]
pub struct Privileges {
    superuser: bool,
    /// Kibana's global base `all`: the only grant that manages spaces.
    global_all: bool,
    spaces: Vec<SpaceGrant>,
    indices: Vec<IndexGrant>,
}

impl Privileges {
    /// Everything: the built-in `superuser` role, or security turned off.
    pub fn superuser() -> Self {
        Self {
            superuser: true,
            global_all: true,
            ..Self::default()
        }
    }

    pub fn is_superuser(&self) -> bool {
        self.superuser
    }

    /// The feature level granted in a space, if any.
    pub fn level_in(&self, space: &str) -> Option<Level> {
        if self.superuser {
            return Some(Level::All);
        }
        self.spaces
            .iter()
            .filter(|grant| grant.spaces.contains(space))
            .map(|grant| grant.level)
            .max()
    }

    pub fn manages_spaces(&self) -> bool {
        self.superuser || self.global_all
    }

    pub fn may_write_index(&self, index: &str) -> bool {
        self.superuser
            || self.indices.iter().any(|grant| {
                grant.patterns.iter().any(|pattern| glob(pattern, index))
                    && grant
                        .privileges
                        .iter()
                        .any(|it| INDEX_WRITE_PRIVILEGES.contains(&it.as_str()))
            })
    }

    /// Adds what another role grants.
    pub fn merge(&mut self, other: Self) {
        self.superuser |= other.superuser;
        self.global_all |= other.global_all;
        self.spaces.extend(other.spaces);
        self.indices.extend(other.indices);
    }

    /// A role in Kibana's role API shape, already checked against its schema.
    pub fn from_kibana_role(body: &Value) -> Self {
        let mut privileges = Self {
            indices: index_grants(&body["elasticsearch"]["indices"]),
            ..Self::default()
        };
        for entry in body["kibana"].as_array().into_iter().flatten() {
            // An empty list (refused when a role is saved) grants no space, never all.
            let spaces = match strings(&entry["spaces"]) {
                ids if ids.iter().any(|it| it == "*") => Spaces::Every,
                ids => Spaces::Listed(ids),
            };
            let base = strings(&entry["base"]);
            let feature = strings(&entry["feature"]["actions"]);
            let level = level_of(base.iter().chain(&feature).map(String::as_str));
            if spaces == Spaces::Every && base.iter().any(|it| it == "all") {
                privileges.global_all = true;
            }
            if let Some(level) = level {
                privileges.spaces.push(SpaceGrant { spaces, level });
            }
        }
        privileges
    }

    /// One of Elasticsearch's role descriptors. Kibana's privileges are application
    /// privileges of `kibana-.kibana`: `all`/`read` (base, on `*`), `space_all` and
    /// `space_read`, or `feature_actions.<privilege>`, on `*` or `space:<id>`.
    pub fn from_role_descriptor(descriptor: &Value) -> Self {
        // Elasticsearch's cluster `all` grants neither Kibana's nor index privileges, so
        // it is no shortcut here: a key is only ever what its descriptors list.
        let mut privileges = Self {
            indices: index_grants(&descriptor["indices"]),
            ..Self::default()
        };
        for entry in descriptor["applications"].as_array().into_iter().flatten() {
            if entry["application"].as_str() != Some("kibana-.kibana") {
                continue;
            }
            let resources = strings(&entry["resources"]);
            let spaces = if resources.iter().any(|it| it == "*") {
                Spaces::Every
            } else {
                Spaces::Listed(
                    resources
                        .iter()
                        .filter_map(|it| it.strip_prefix("space:").map(str::to_owned))
                        .collect(),
                )
            };
            let names = strings(&entry["privileges"]);
            let level = level_of(names.iter().map(|name| {
                let name = name.strip_prefix("feature_actions.").unwrap_or(name);
                name.strip_prefix("space_").unwrap_or(name)
            }));
            if spaces == Spaces::Every && names.iter().any(|it| it == "all") {
                privileges.global_all = true;
            }
            if let Some(level) = level {
                privileges.spaces.push(SpaceGrant { spaces, level });
            }
        }
        privileges
    }
}

/// The highest feature level among privilege names (`all`, `read`, and Kibana's
/// `minimal_` forms); other names grant nothing here.
fn level_of<'a>(names: impl Iterator<Item = &'a str>) -> Option<Level> {
    names
        .filter_map(|name| match name {
            "all" | "minimal_all" => Some(Level::All),
            "read" | "minimal_read" => Some(Level::Read),
            _ => None,
        })
        .max()
}

fn index_grants(entries: &Value) -> Vec<IndexGrant> {
    entries
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| IndexGrant {
            patterns: strings(&entry["names"]),
            privileges: strings(&entry["privileges"]),
        })
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .filter_map(|it| it.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Elasticsearch's index name patterns: `*` is any run of characters, `?` any one.
fn glob(pattern: &str, name: &str) -> bool {
    let (pattern, name): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), name.chars().collect());
    let (mut p, mut n) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                backtrack = Some((p, n));
                p += 1;
            }
            Some(&c) if c == '?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match backtrack {
                Some((star, matched)) => {
                    p = star + 1;
                    n = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|it| *it == '*')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn index_patterns_match_like_elasticsearch() {
        assert!(glob("logs-*", "logs-2026"));
        assert!(glob("*", "anything"));
        assert!(glob("a*c*e", "abcde"));
        assert!(glob("lo?s", "logs"));
        assert!(!glob("logs-*", "metrics-1"));
        assert!(!glob("logs", "logs-1"));
    }

    #[test]
    fn kibana_roles_grant_per_space() {
        let role = Privileges::from_kibana_role(&json!({
            "elasticsearch": { "indices": [{ "names": ["alerts-*"], "privileges": ["read"] },
                                           { "names": ["events"], "privileges": ["index"] }] },
            "kibana": [
                { "feature": { "actions": ["read"] }, "spaces": ["space1"] },
                { "base": ["all"], "spaces": ["space2"] },
            ],
        }));
        assert_eq!(role.level_in("space1"), Some(Level::Read));
        assert_eq!(role.level_in("space2"), Some(Level::All));
        assert_eq!(role.level_in("default"), None);
        assert!(!role.manages_spaces());
        assert!(role.may_write_index("events"));
        assert!(
            !role.may_write_index("alerts-1"),
            "read is not a write privilege"
        );
    }

    #[test]
    fn role_descriptors_use_kibana_application_privileges() {
        let key = Privileges::from_role_descriptor(&json!({
            "applications": [{ "application": "kibana-.kibana",
                               "privileges": ["feature_actions.all"], "resources": ["space:ops"] },
                             { "application": "other", "privileges": ["all"], "resources": ["*"] }],
        }));
        assert_eq!(key.level_in("ops"), Some(Level::All));
        assert_eq!(key.level_in("default"), None);
        let global = Privileges::from_role_descriptor(&json!({
            "applications": [{ "application": "kibana-.kibana", "privileges": ["all"], "resources": ["*"] }],
        }));
        assert!(global.manages_spaces());
        assert_eq!(global.level_in("any"), Some(Level::All));
    }

    #[test]
    fn refusals_are_kibanas_texts() {
        assert_eq!(
            Operation::Create.refusal(Some(".index")),
            "Unauthorized to create a \".index\" action"
        );
        assert_eq!(Operation::Get.refusal(None), "Unauthorized to get actions");
    }
}
