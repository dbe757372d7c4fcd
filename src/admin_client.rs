//! `switchboard export-directory` and `import-directory`: small clients of
//! a running server's administration API, so that the directory file is an
//! import and export of the live directory rather than its only home.

use std::io::BufRead;

use serde_json::{Value, json};

use crate::cli::{AdminClientArgs, ExportArgs, ImportArgs};

/// Why a directory command failed, in words for the terminal.
#[derive(Debug, thiserror::Error)]
pub enum AdminClientError {
    /// No password given.
    #[error("no password: set SWITCHBOARD_PASSWORD or give it on standard input")]
    NoPassword,
    /// The server could not be reached.
    #[error("cannot reach {0}: {1}")]
    Unreachable(String, reqwest::Error),
    /// The server refused.
    #[error("the server answered {0}: {1}")]
    Refused(u16, String),
    /// A local file could not be read or written.
    #[error("{0}: {1}")]
    File(String, std::io::Error),
}

fn password() -> Result<String, AdminClientError> {
    if let Ok(p) = std::env::var("SWITCHBOARD_PASSWORD")
        && !p.is_empty()
    {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| AdminClientError::File("standard input".into(), e))?;
    let p = line.trim_end_matches(['\r', '\n']).to_string();
    if p.is_empty() {
        return Err(AdminClientError::NoPassword);
    }
    Ok(p)
}

async fn refused(r: reqwest::Response) -> AdminClientError {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or("no message")
        .to_string();
    AdminClientError::Refused(status, message)
}

/// Logs in and returns the client and the token.
async fn login(args: &AdminClientArgs) -> Result<(reqwest::Client, String), AdminClientError> {
    let http = reqwest::Client::new();
    let r = http
        .post(url(args, "/api/login"))
        .json(&json!({ "username": args.user, "password": password()? }))
        .send()
        .await
        .map_err(|e| AdminClientError::Unreachable(args.server.clone(), e))?;
    if !r.status().is_success() {
        return Err(refused(r).await);
    }
    let body: Value = r
        .json()
        .await
        .map_err(|e| AdminClientError::Unreachable(args.server.clone(), e))?;
    Ok((http, body["token"].as_str().unwrap_or_default().to_string()))
}

/// Sends an admin's request; a refusal becomes the server's message.
async fn send(
    args: &AdminClientArgs,
    req: reqwest::RequestBuilder,
    token: &str,
) -> Result<reqwest::Response, AdminClientError> {
    let r = req
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| AdminClientError::Unreachable(args.server.clone(), e))?;
    if !r.status().is_success() {
        return Err(refused(r).await);
    }
    Ok(r)
}

fn url(args: &AdminClientArgs, path: &str) -> String {
    format!("{}{path}", args.server.trim_end_matches('/'))
}

/// `export-directory`.
pub async fn export(args: ExportArgs) -> Result<(), AdminClientError> {
    let (http, token) = login(&args.client).await?;
    let path = format!(
        "/api/admin/directory?password_hashes={}",
        args.password_hashes
    );
    let r = send(&args.client, http.get(url(&args.client, &path)), &token).await?;
    let text = r
        .text()
        .await
        .map_err(|e| AdminClientError::Unreachable(args.client.server.clone(), e))?;
    match args.out {
        Some(path) => std::fs::write(&path, text)
            .map_err(|e| AdminClientError::File(path.display().to_string(), e)),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// `import-directory`: prints one line per change.
pub async fn import(args: ImportArgs) -> Result<(), AdminClientError> {
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| AdminClientError::File(args.file.display().to_string(), e))?;
    let (http, token) = login(&args.client).await?;
    let path = format!("/api/admin/directory/import?apply={}", args.apply);
    let r = send(
        &args.client,
        http.post(url(&args.client, &path)).body(text),
        &token,
    )
    .await?;
    let body: Value = r
        .json()
        .await
        .map_err(|e| AdminClientError::Unreachable(args.client.server.clone(), e))?;
    let changes = body["changes"].as_array().cloned().unwrap_or_default();
    for c in &changes {
        let what = c["op"].as_str().unwrap_or("?");
        let agent = c["agent"].as_str().unwrap_or("");
        let group = c["group"].as_str().unwrap_or("");
        println!("{what} {agent} {group}");
    }
    match (
        changes.is_empty(),
        body["applied"].as_bool().unwrap_or(false),
    ) {
        (true, _) => println!("no change: the live directory is the file's"),
        (false, true) => println!("applied {} change(s) as one", changes.len()),
        (false, false) => println!(
            "{} change(s); run again with --apply to make them",
            changes.len()
        ),
    }
    Ok(())
}
