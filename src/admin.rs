//! `switchboard users|roles|api-keys ...`: managing who may call, straight on the
//! store. Beside a running server on SQLite they work too (see `Store::open_for_admin`);
//! a running server sees changes within `security::CACHE_TTL`.

use std::{io::BufRead, path::PathBuf, process::ExitCode};

use clap::Subcommand;
use serde_json::{Value, json};
use switchboard::{
    security::{ApiKeyRequest, ManagementError, Security, parse_expiration, random_secret},
    settings::Settings,
    store::Store,
};

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Add a user. Without --password-stdin a random password is made and printed.
    Add {
        username: String,
        /// Role names, comma-separated (e.g. superuser, or roles made with `roles put`).
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (from standard input with --password-stdin, else random).
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Replace a user's roles.
    Roles {
        username: String,
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
    },
    /// Delete a user.
    Delete { username: String },
    /// List users and their roles.
    List,
}

#[derive(Subcommand)]
pub enum RolesCommand {
    /// Create or replace a role, in the shape of Kibana's role API:
    /// {"elasticsearch":{"indices":[...]},"kibana":[{"feature":{"actions":["all"]},"spaces":["ops"]}]}
    Put {
        name: String,
        /// The role as JSON.
        #[arg(long, conflicts_with = "file")]
        json: Option<String>,
        /// A file holding the role as JSON.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Delete a role.
    Delete { name: String },
    /// List roles with their bodies.
    List,
}

#[derive(Subcommand)]
pub enum ApiKeysCommand {
    /// Create an API key owned by a user; prints Elasticsearch's create answer
    /// (use "encoded" in `Authorization: ApiKey <encoded>`).
    Create {
        /// The user the key acts for; it never gets more than this user has now.
        #[arg(long)]
        owner: String,
        #[arg(long)]
        name: String,
        /// How long the key works, e.g. 30d, 12h (none: until invalidated).
        #[arg(long)]
        expiration: Option<String>,
        /// Elasticsearch role descriptors as JSON, to narrow the key further.
        #[arg(long)]
        role_descriptors: Option<String>,
    },
    /// List API keys (never their secrets).
    List,
    /// Invalidate API keys by id.
    Invalidate {
        /// Ids may start with `-`: they are Elasticsearch's URL-safe base64.
        #[arg(required = true, allow_hyphen_values = true)]
        ids: Vec<String>,
    },
}

pub enum Command {
    Users(UsersCommand),
    Roles(RolesCommand),
    ApiKeys(ApiKeysCommand),
}

/// Runs one administration command and says what happened.
pub async fn run(settings: Settings, command: Command) -> ExitCode {
    if let Err(error) = std::fs::create_dir_all(&settings.data_dir) {
        return super::fail(&error);
    }
    let store = match Store::open_for_admin(&settings.database, &settings.data_dir).await {
        Ok(store) => store,
        Err(error) => return super::fail(&error),
    };
    let security = Security::new(store, true);
    let outcome = match command {
        Command::Users(command) => users(&security, command).await,
        Command::Roles(command) => roles(&security, command).await,
        Command::ApiKeys(command) => api_keys(&security, command).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("switchboard: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A password from standard input's first line, or a random one that is printed.
fn password(from_stdin: bool) -> Result<(String, bool), ManagementError> {
    if !from_stdin {
        return Ok((random_secret(24), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|error| {
            ManagementError::Invalid(format!("cannot read standard input: {error}"))
        })?;
    Ok((line.trim_end_matches(['\r', '\n']).to_owned(), false))
}

async fn users(security: &Security, command: UsersCommand) -> Result<(), ManagementError> {
    match command {
        UsersCommand::Add {
            username,
            roles,
            password_stdin,
        } => {
            let (password, generated) = password(password_stdin)?;
            security.add_user(&username, &password, &roles).await?;
            println!("Added user [{username}] with roles [{}].", roles.join(","));
            if generated {
                println!("Password (shown only now): {password}");
            }
        }
        UsersCommand::Passwd {
            username,
            password_stdin,
        } => {
            let (password, generated) = password(password_stdin)?;
            security.set_password(&username, &password).await?;
            println!("Changed the password of [{username}].");
            if generated {
                println!("Password (shown only now): {password}");
            }
        }
        UsersCommand::Roles { username, roles } => {
            security.set_roles(&username, &roles).await?;
            println!("User [{username}] now has roles [{}].", roles.join(","));
        }
        UsersCommand::Delete { username } => {
            security.delete_user(&username).await?;
            println!("Deleted user [{username}].");
        }
        UsersCommand::List => {
            for user in security.users().await? {
                let roles: Vec<String> = serde_json::from_str(&user.roles).unwrap_or_default();
                let state = if user.enabled { "" } else { " (disabled)" };
                println!("{}\t{}{state}", user.username, roles.join(","));
            }
        }
    }
    Ok(())
}

async fn roles(security: &Security, command: RolesCommand) -> Result<(), ManagementError> {
    match command {
        RolesCommand::Put { name, json, file } => {
            let text = match (json, file) {
                (Some(json), _) => json,
                (None, Some(file)) => std::fs::read_to_string(&file).map_err(|error| {
                    ManagementError::Invalid(format!("cannot read {}: {error}", file.display()))
                })?,
                (None, None) => {
                    return Err(ManagementError::Invalid(
                        "give the role with --json or --file".to_owned(),
                    ));
                }
            };
            let body: Value = serde_json::from_str(&text).map_err(|error| {
                ManagementError::Invalid(format!("the role is not valid JSON: {error}"))
            })?;
            security.put_role(&name, &body).await?;
            println!("Saved role [{name}].");
        }
        RolesCommand::Delete { name } => {
            security.delete_role(&name).await?;
            println!("Deleted role [{name}].");
        }
        RolesCommand::List => {
            println!("superuser\t(built in: everything)");
            for role in security.roles().await? {
                println!("{}\t{}", role.name, role.body);
            }
        }
    }
    Ok(())
}

async fn api_keys(security: &Security, command: ApiKeysCommand) -> Result<(), ManagementError> {
    match command {
        ApiKeysCommand::Create {
            owner,
            name,
            expiration,
            role_descriptors,
        } => {
            let expiration = expiration
                .map(|text| {
                    parse_expiration(&text).ok_or_else(|| {
                        ManagementError::Invalid(format!(
                            "--expiration {text}: use a number and a unit (ms, s, m, h, d)"
                        ))
                    })
                })
                .transpose()?;
            let role_descriptors = match role_descriptors {
                None => json!({}),
                Some(text) => serde_json::from_str::<Value>(&text)
                    .ok()
                    .filter(Value::is_object)
                    .ok_or_else(|| {
                        ManagementError::Invalid(
                            "--role-descriptors must be a JSON object of role descriptors"
                                .to_owned(),
                        )
                    })?,
            };
            let created = security
                .create_api_key_for(
                    &owner,
                    ApiKeyRequest {
                        name,
                        expiration,
                        role_descriptors,
                        metadata: json!({}),
                    },
                )
                .await?;
            let mut answer = json!({ "id": created.id, "name": created.name });
            if let Some(expiration) = created.expiration {
                answer["expiration"] = json!(expiration);
            }
            answer["api_key"] = json!(created.api_key);
            answer["encoded"] = json!(created.encoded);
            println!("{answer}");
        }
        ApiKeysCommand::List => {
            let now = switchboard::timestamp::epoch_millis(std::time::SystemTime::now());
            for key in security.api_keys().await? {
                let state = match (key.invalidated_at, key.expires_at) {
                    (Some(_), _) => "invalidated",
                    (None, Some(at)) if at <= now => "expired",
                    _ => "active",
                };
                println!("{}\t{}\t{}\t{state}", key.id, key.name, key.username);
            }
        }
        ApiKeysCommand::Invalidate { ids } => {
            let keys: Vec<_> = security
                .api_keys()
                .await?
                .into_iter()
                .filter(|key| ids.contains(&key.id))
                .collect();
            if let Some(missing) = ids.iter().find(|id| !keys.iter().any(|key| &key.id == *id)) {
                return Err(ManagementError::NotFound(format!(
                    "API key [{missing}] does not exist"
                )));
            }
            let (now, before) = security.invalidate_api_keys(&keys).await?;
            for id in now {
                println!("Invalidated API key [{id}].");
            }
            for id in before {
                println!("API key [{id}] was already invalid.");
            }
        }
    }
    Ok(())
}
