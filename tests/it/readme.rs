//! The README's curl examples, run as written against the server, so they stay true.

use reqwest::Method;

use crate::support::{SUPERUSER_PASSWORD, TestApp};

const README: &str = include_str!("../../README.md");
const DOCUMENTED_BASE: &str = "http://127.0.0.1:5601";

/// One `curl` command: method, URL, headers and body.
#[derive(Debug)]
struct Curl {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    /// `-u user:password`.
    user: Option<String>,
    body: Option<String>,
}

/// Splits a command line as a POSIX shell would for the quoting the README uses:
/// single quotes, and double quotes with no escapes inside.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(character) = chars.next() {
        match character {
            quote @ ('\'' | '"') => {
                in_word = true;
                for quoted in chars.by_ref() {
                    if quoted == quote {
                        break;
                    }
                    word.push(quoted);
                }
            }
            ' ' if in_word => {
                words.push(std::mem::take(&mut word));
                in_word = false;
            }
            ' ' => {}
            other => {
                in_word = true;
                word.push(other);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

fn curl_commands() -> Vec<Curl> {
    let mut commands = Vec::new();
    let mut in_shell = false;
    let mut pending = String::new();
    for line in README.lines() {
        if line.starts_with("```") {
            in_shell = line == "```sh";
            continue;
        }
        if !in_shell {
            continue;
        }
        pending.push_str(line.trim_end_matches('\\'));
        if line.ends_with('\\') {
            continue;
        }
        let command = std::mem::take(&mut pending);
        let words = shell_words(&command);
        if words.first().map(String::as_str) != Some("curl") {
            continue;
        }
        let mut curl = Curl {
            method: Method::GET,
            url: String::new(),
            headers: Vec::new(),
            user: None,
            body: None,
        };
        let mut words = words.into_iter().skip(1);
        while let Some(word) = words.next() {
            match word.as_str() {
                "-s" => {}
                "-X" => curl.method = words.next().unwrap().parse().unwrap(),
                "-H" => {
                    let header = words.next().unwrap();
                    let (name, value) = header.split_once(": ").unwrap();
                    curl.headers.push((name.to_owned(), value.to_owned()));
                }
                "-d" => curl.body = words.next(),
                "-u" => curl.user = words.next(),
                url if url.starts_with(DOCUMENTED_BASE) => curl.url = url.to_owned(),
                other => panic!("the README uses a curl option the test does not know: {other}"),
            }
        }
        commands.push(curl);
    }
    commands
}

#[tokio::test]
async fn every_curl_example_in_the_readme_works() {
    let app = TestApp::start().await;
    // The README's webhook URL, answered here by a fake instead of whatever may listen.
    let sink = crate::support::FakeServer::start(|_| crate::support::Reply::status(200, "")).await;
    let commands = curl_commands();
    assert!(commands.len() >= 9, "found {commands:#?}");

    // The shell variables the README uses: the superuser's password, and the API key
    // the README makes.
    let mut api_key = String::new();
    for curl in commands {
        let expand = |text: &str| {
            text.replace("$ELASTIC_PASSWORD", SUPERUSER_PASSWORD)
                .replace("$API_KEY", &api_key)
        };
        let url = curl.url.replacen(DOCUMENTED_BASE, &app.base_url, 1);
        let path = url.trim_start_matches(&app.base_url).to_owned();
        // Only the README's own credentials are sent.
        let mut request = app.anonymous(curl.method.clone(), &path);
        for (name, value) in &curl.headers {
            request = request.header(name, expand(value));
        }
        if let Some(user) = &curl.user {
            let (user, password) = user.split_once(':').unwrap();
            request = request.basic_auth(user, Some(expand(password)));
        }
        if let Some(body) = &curl.body {
            request = request.body(body.replace("http://127.0.0.1:8080", &sink.url("")));
        }
        let response = app.send(request).await;
        // `_enqueue` answers 202; everything else 200.
        let expected = if path.ends_with("/_enqueue") {
            202
        } else {
            200
        };
        assert_eq!(response.status, expected, "{curl:?}: {}", response.text);
        let body = response.json();
        if let Some(encoded) = body["encoded"].as_str() {
            api_key = encoded.to_owned();
        }
        if path.ends_with("/_execute") {
            // Nothing listens on the documented webhook URL here; the run still answers
            // with Kibana's result object.
            assert!(
                body["status"] == "ok" || body["status"] == "error",
                "{body}"
            );
            assert!(body["connector_id"].is_string());
        }
    }
    let log = app.get("/s/ops/api/actions/connector/my-log").await.json();
    assert_eq!(log["name"], "my_server_log_connector");
    let hook = app.get("/api/actions/connector/my-webhook").await.json();
    assert_eq!(hook["name"], "updated-webhook");
    assert_eq!(hook["config"]["method"], "put");
    let delivered = sink.only_request();
    assert_eq!(delivered.method, Method::PUT);
    assert_eq!(delivered.body, "{\"text\":\"Hello from Switchboard\"}");
}
