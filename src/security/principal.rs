//! An authenticated caller and what it may do.

use serde_json::Value;

use super::privileges::{INDEX_WRITE_PRIVILEGES, Level, Operation, Privileges};
use crate::connector_types::CallerRights;

/// Who is calling. A user has one layer of privileges (its roles); an API key has two,
/// both of which must allow: its owner's roles when it was made, and its own role
/// descriptors (when it was given any), as Elasticsearch limits keys.
#[derive(Debug)]
pub struct Principal {
    pub username: String,
    /// Role names, sorted, as Elasticsearch names them in refusals.
    pub roles: Vec<String>,
    pub api_key_id: Option<String>,
    layers: Vec<Privileges>,
    /// For API keys: when the key stops working, epoch milliseconds.
    pub(super) expires_at: Option<i64>,
}

impl Principal {
    pub(super) fn new(
        username: String,
        mut roles: Vec<String>,
        api_key_id: Option<String>,
        layers: Vec<Privileges>,
        expires_at: Option<i64>,
    ) -> Self {
        roles.sort();
        Self {
            username,
            roles,
            api_key_id,
            layers,
            expires_at,
        }
    }

    /// The caller when security is off: every request may do everything.
    pub fn unrestricted() -> Self {
        Self::new(
            "elastic".to_owned(),
            vec!["superuser".to_owned()],
            None,
            vec![Privileges::superuser()],
            None,
        )
    }

    pub fn is_superuser(&self) -> bool {
        self.layers.iter().all(Privileges::is_superuser)
    }

    /// The feature level in a space: the lowest any layer grants.
    pub fn level_in(&self, space: &str) -> Option<Level> {
        self.layers
            .iter()
            .map(|layer| layer.level_in(space))
            .min()
            .flatten()
    }

    pub fn may(&self, space: &str, operation: Operation) -> bool {
        self.level_in(space)
            .is_some_and(|level| level >= operation.needs())
    }

    /// Creating, updating and deleting spaces: Kibana's global base `all`.
    pub fn manages_spaces(&self) -> bool {
        self.layers.iter().all(Privileges::manages_spaces)
    }

    /// Who Elasticsearch says was refused: the user and roles, or the API key.
    fn refused_subject(&self) -> String {
        match &self.api_key_id {
            Some(id) => format!("API key id [{id}] of user [{}]", self.username),
            None => format!(
                "user [{}] with effective roles [{}]",
                self.username,
                self.roles.join(",")
            ),
        }
    }

    /// Elasticsearch's refusal of a cluster action, e.g. managing API keys.
    pub fn cluster_refusal(&self, action: &str, granted_by: &str) -> String {
        format!(
            "action [{action}] is unauthorized for {}, this action is granted by the cluster privileges [{granted_by}]",
            self.refused_subject()
        )
    }
}

impl CallerRights for Principal {
    fn is_superuser(&self) -> bool {
        Principal::is_superuser(self)
    }

    fn may_write_index(&self, index: &str) -> Result<(), String> {
        if self.layers.iter().all(|layer| layer.may_write_index(index)) {
            return Ok(());
        }
        Err(format!(
            "action [indices:data/write/index:op_type/create] is unauthorized for {} on indices [{index}], this action is granted by the index privileges [{}]",
            self.refused_subject(),
            INDEX_WRITE_PRIVILEGES.join(",")
        ))
    }
}

/// The JSON an API key keeps of its owner's roles: names and bodies.
pub(super) fn limited_by_snapshot(roles: &[String], bodies: &[(String, Value)]) -> Value {
    serde_json::json!({
        "roles": roles,
        "descriptors": bodies.iter().cloned().collect::<serde_json::Map<_, _>>(),
    })
}
