//! The `switchboard` binary run as a process, the way an operator runs it: for what
//! only a process shows (its log lines, its exit code, files it creates).

use std::{
    path::Path,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::watch,
};

const BINARY: &str = env!("CARGO_BIN_EXE_switchboard");
/// The longest a test waits for a line; a bound, not a pace.
const PATIENCE: Duration = Duration::from_secs(20);

pub struct ServerProcess {
    child: Child,
    pub base_url: String,
    lines: Arc<Mutex<Vec<String>>>,
    line_count: watch::Receiver<usize>,
}

fn command(dir: &Path, args: &[&str], environment: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("SWITCHBOARD_SECURITY_ELASTICPASSWORD")
        .envs(environment.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

impl ServerProcess {
    /// Runs `switchboard serve` in `dir` with the test superuser's password and waits
    /// until it says where it listens.
    pub async fn serve(dir: &Path, args: &[&str], environment: &[(&str, &str)]) -> Self {
        let mut with_password = vec![(
            "SWITCHBOARD_SECURITY_ELASTICPASSWORD",
            super::SUPERUSER_PASSWORD,
        )];
        with_password.extend_from_slice(environment);
        Self::serve_as_given(dir, args, &with_password).await
    }

    /// Runs `switchboard serve` with exactly the environment given.
    pub async fn serve_as_given(dir: &Path, args: &[&str], environment: &[(&str, &str)]) -> Self {
        let mut all_args = vec!["serve"];
        all_args.extend_from_slice(args);
        let mut child = command(dir, &all_args, environment)
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        // Drained so the child never blocks on a full pipe; kept for failure messages.
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr_lines = lines.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                stderr_lines.lock().unwrap().push(format!("stderr: {line}"));
            }
        });
        let (count_sender, line_count) = watch::channel(0);
        let collected = lines.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let mut lines = collected.lock().unwrap();
                lines.push(line);
                let _ = count_sender.send(lines.len());
            }
        });
        let mut process = Self {
            child,
            base_url: String::new(),
            lines,
            line_count,
        };
        let line = process.wait_for_line("http server running at ").await;
        // The address ends the text line, or the message in a JSON line.
        process.base_url = line
            .split("http server running at ")
            .nth(1)
            .unwrap()
            .split(|it: char| it == '"' || it.is_whitespace())
            .next()
            .unwrap()
            .to_owned();
        process
    }

    /// Waits (boundedly) for a line of output containing `needle` and returns it.
    pub async fn wait_for_line(&mut self, needle: &str) -> String {
        let search = async {
            loop {
                if let Some(line) = self
                    .lines
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|line| line.contains(needle))
                {
                    return line.clone();
                }
                if self.line_count.changed().await.is_err() {
                    panic!("the process ended without printing {needle:?}");
                }
            }
        };
        match tokio::time::timeout(PATIENCE, search).await {
            Ok(line) => line,
            Err(_) => panic!(
                "no line containing {needle:?} within {PATIENCE:?}; output so far:\n{}",
                self.output()
            ),
        }
    }

    /// Everything printed on stdout so far.
    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Kills the process at once (SIGKILL, as `kill -9`).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    /// Sends SIGTERM and waits for the process to exit; returns its output.
    pub async fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().expect("the process is running");
        let sent = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .expect("kill runs");
        assert!(sent.success());
        let status = tokio::time::timeout(std::time::Duration::from_secs(30), self.child.wait())
            .await
            .expect("the process exits in time")
            .expect("the process can be waited for");
        (status, self.output())
    }

    /// Sends a request (with `kbn-xsrf`) and returns the status and the JSON body
    /// (`null` when empty).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        call(&self.base_url, method, path, body).await
    }
}

/// [`ServerProcess::call`] by base URL, for requests sent from spawned tasks.
pub async fn call(
    base_url: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = super::superuser_client()
        .request(method, format!("{base_url}{path}"))
        .header("kbn-xsrf", "true");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, body)
}

/// Runs the binary to completion with `input` on its standard input.
pub async fn run_with_input(
    dir: &Path,
    args: &[&str],
    environment: &[(&str, &str)],
    input: &str,
) -> (Option<i32>, String, String) {
    use tokio::io::AsyncWriteExt;
    let mut child = command(dir, args, environment)
        .stdin(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("the process ends")
        .expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs the binary to completion (for start-up failures): exit code, stdout, stderr.
pub async fn run_to_exit(
    dir: &Path,
    args: &[&str],
    environment: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    let output = tokio::time::timeout(PATIENCE, command(dir, args, environment).output())
        .await
        .expect("the process ends")
        .expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
