//! A minimal MLflow REST 2.0 client: the five calls finefail needs (experiment by name or new, run
//! create, log-batch, update) and artifact upload through the server's `mlflow-artifacts` proxy.
//! Every call is bounded by a connect and a whole-call timeout; any failure is one `String` that
//! the tracker turns into its single warning.

use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// MLflow's per-request limits of `runs/log-batch` (params, tags, metrics; all items together).
const MAX_PARAMS: usize = 100;
const MAX_TAGS: usize = 100;
const MAX_ITEMS: usize = 1000;
/// Param values longer than this are cut (older servers accept 500 characters).
const MAX_PARAM_LEN: usize = 500;

/// One metric point: key, value and the training step it belongs to (0 for a single value).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The metric's key (`train_loss`, `token_f1`, `pubmedqa/m/retrieved/token_f1/n50/diff`).
    pub key: String,
    /// Its value; a non-finite one is not sent (JSON has no NaN).
    pub value: f64,
    /// The step on MLflow's x axis.
    pub step: u64,
}

/// What one MLflow run receives: params, metric points and tags.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// `key = value` settings (logged once; MLflow refuses to change a param).
    pub params: Vec<(String, String)>,
    /// Metric points.
    pub metrics: Vec<Point>,
    /// Free-form `key = value` labels (the verdicts).
    pub tags: Vec<(String, String)>,
}

/// A created run: its id and where its artifacts go.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// MLflow's run id.
    pub run_id: String,
    /// The run's `artifact_uri` (`mlflow-artifacts:/1/<run>/artifacts` when the server serves
    /// artifacts).
    pub artifact_uri: String,
}

/// An MLflow tracking server at one base URL.
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the server at `uri` (`http(s)://host:port[/prefix]`); other schemes (`file:`,
    /// `databricks`) are an error: only the REST API is spoken.
    pub fn new(uri: &str, connect: Duration, total: Duration) -> Result<Self, String> {
        let base = uri.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "MLflow tracking URI `{uri}` is not an http(s) URL (only a tracking server's REST API is supported)"
            ));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(connect))
            .timeout_global(Some(total))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Self { base, agent })
    }

    /// The id of the experiment `name`, created when it does not exist yet.
    pub fn experiment(&self, name: &str) -> Result<String, String> {
        if let Some(id) = self.experiment_by_name(name)? {
            return Ok(id);
        }
        match self.post("experiments/create", &json!({ "name": name })) {
            Ok(v) => str_field(&v, &["experiment_id"]),
            // Created by someone else since we looked.
            Err(e) if e.contains("RESOURCE_ALREADY_EXISTS") => self
                .experiment_by_name(name)?
                .ok_or_else(|| format!("experiment `{name}` exists but cannot be read")),
            Err(e) => Err(e),
        }
    }

    /// `experiments/get-by-name`: `None` on RESOURCE_DOES_NOT_EXIST.
    fn experiment_by_name(&self, name: &str) -> Result<Option<String>, String> {
        let url = self.url("experiments/get-by-name");
        let resp = self
            .agent
            .get(&url)
            .query("experiment_name", name)
            .call()
            .map_err(|e| transport(&url, &e))?;
        let (status, body) = read(&url, resp)?;
        if status == 404 || body.contains("RESOURCE_DOES_NOT_EXIST") {
            return Ok(None);
        }
        let v = ok_json(&url, status, &body)?;
        str_field(&v, &["experiment", "experiment_id"]).map(Some)
    }

    /// `runs/create` in `experiment_id`, named `name`, with `tags`.
    pub fn create_run(
        &self,
        experiment_id: &str,
        name: &str,
        tags: &[(String, String)],
    ) -> Result<RunInfo, String> {
        let mut tags = tags.to_vec();
        tags.push(("mlflow.runName".into(), name.into()));
        let v = self.post(
            "runs/create",
            &json!({
                "experiment_id": experiment_id,
                "run_name": name,
                "start_time": now_ms(),
                "tags": pairs(&tags),
            }),
        )?;
        Ok(RunInfo {
            run_id: str_field(&v, &["run", "info", "run_id"])?,
            artifact_uri: str_field(&v, &["run", "info", "artifact_uri"]).unwrap_or_default(),
        })
    }

    /// `runs/log-batch`, split into requests within MLflow's limits.
    pub fn log_batch(&self, run_id: &str, batch: &Batch) -> Result<(), String> {
        let ts = now_ms();
        let params: Vec<(String, String)> = batch
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.chars().take(MAX_PARAM_LEN).collect()))
            .collect();
        let metrics: Vec<Value> = batch
            .metrics
            .iter()
            .filter(|p| p.value.is_finite())
            .map(|p| json!({"key": p.key, "value": p.value, "timestamp": ts, "step": p.step}))
            .collect();
        for chunk in params.chunks(MAX_PARAMS) {
            self.post(
                "runs/log-batch",
                &json!({"run_id": run_id, "params": pairs(chunk)}),
            )?;
        }
        for chunk in batch.tags.chunks(MAX_TAGS) {
            self.post(
                "runs/log-batch",
                &json!({"run_id": run_id, "tags": pairs(chunk)}),
            )?;
        }
        for chunk in metrics.chunks(MAX_ITEMS) {
            self.post(
                "runs/log-batch",
                &json!({"run_id": run_id, "metrics": chunk}),
            )?;
        }
        Ok(())
    }

    /// `runs/update`: the run is `FINISHED` now.
    pub fn finish(&self, run_id: &str) -> Result<(), String> {
        self.post(
            "runs/update",
            &json!({"run_id": run_id, "status": "FINISHED", "end_time": now_ms()}),
        )
        .map(|_| ())
    }

    /// Uploads `bytes` as the artifact `path` of `run` through the server's artifact proxy
    /// (`PUT /api/2.0/mlflow-artifacts/artifacts/...`). `Ok(false)` when the run's artifact URI
    /// is not proxied (the server stores artifacts elsewhere, e.g. a local path or S3): nothing is
    /// sent.
    pub fn upload(&self, run: &RunInfo, path: &str, bytes: &[u8]) -> Result<bool, String> {
        let Some(root) = proxied_root(&run.artifact_uri) else {
            return Ok(false);
        };
        let url = format!(
            "{}/api/2.0/mlflow-artifacts/artifacts/{root}/{}",
            self.base,
            path.trim_start_matches('/')
        );
        let resp = self
            .agent
            .put(&url)
            .header("content-type", "application/octet-stream")
            .send(bytes)
            .map_err(|e| transport(&url, &e))?;
        let (status, body) = read(&url, resp)?;
        ok_json(&url, status, &body).map(|_| true)
    }

    /// `POST /api/2.0/mlflow/{api}` with a JSON body; the reply's JSON.
    fn post(&self, api: &str, body: &Value) -> Result<Value, String> {
        let url = self.url(api);
        let resp = self
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .send(body.to_string().as_str())
            .map_err(|e| transport(&url, &e))?;
        let (status, text) = read(&url, resp)?;
        ok_json(&url, status, &text)
    }

    fn url(&self, api: &str) -> String {
        format!("{}/api/2.0/mlflow/{api}", self.base)
    }
}

/// The path under the artifact proxy of a `mlflow-artifacts:` URI
/// (`mlflow-artifacts:/1/abc/artifacts`, or with an authority `mlflow-artifacts://host:5000/1/…`);
/// `None` for any other scheme.
pub fn proxied_root(artifact_uri: &str) -> Option<String> {
    let rest = artifact_uri.strip_prefix("mlflow-artifacts:")?;
    let rest = match rest.strip_prefix("//") {
        Some(with_host) => with_host.split_once('/').map_or("", |(_, p)| p),
        None => rest,
    };
    let rest = rest.trim_matches('/');
    (!rest.is_empty()).then(|| rest.to_string())
}

/// `[{"key": k, "value": v}, …]`.
fn pairs(kv: &[(String, String)]) -> Vec<Value> {
    kv.iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect()
}

/// The status and body of a reply.
fn read(url: &str, resp: ureq::http::Response<ureq::Body>) -> Result<(u16, String), String> {
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .read_to_string()
        .map_err(|e| transport(url, &e))?;
    Ok((status, body))
}

/// A 2xx reply's JSON (an empty body is `{}`); any other status is an error with MLflow's message.
fn ok_json(url: &str, status: u16, body: &str) -> Result<Value, String> {
    if !(200..300).contains(&status) {
        let short: String = body.chars().take(200).collect();
        return Err(format!("{url}: HTTP {status}: {}", short.trim()));
    }
    if body.trim().is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_str(body).map_err(|e| format!("{url}: reply is not JSON: {e}"))
}

/// The string at `path` in `v`.
fn str_field(v: &Value, path: &[&str]) -> Result<String, String> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("MLflow reply without {}", path.join(".")))
}

/// A transport failure in one line.
fn transport(url: &str, e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => format!("{url}: timed out"),
        ureq::Error::Io(io) => format!("{url}: {io}"),
        other => format!("{url}: {other}"),
    }
}

/// Milliseconds since the epoch (MLflow's timestamps).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxied_roots_are_read_from_the_artifact_uri() {
        assert_eq!(
            proxied_root("mlflow-artifacts:/1/abc/artifacts").as_deref(),
            Some("1/abc/artifacts")
        );
        assert_eq!(
            proxied_root("mlflow-artifacts://h:5000/2/r/artifacts").as_deref(),
            Some("2/r/artifacts")
        );
        assert_eq!(proxied_root("/tmp/mlruns/1/abc/artifacts"), None);
        assert_eq!(proxied_root("s3://b/1/abc/artifacts"), None);
    }

    #[test]
    fn only_http_uris_are_spoken() {
        let d = Duration::from_secs(1);
        assert!(Client::new("file:///tmp/mlruns", d, d).is_err());
        assert!(Client::new("http://127.0.0.1:5000/", d, d).is_ok());
    }
}
