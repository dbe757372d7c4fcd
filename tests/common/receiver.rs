//! Webhook receivers on loopback (plain HTTP, or HTTPS under a CA made by
//! the test), recording what they got; and the integration admin calls
//! the event tests share.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

/// One POST a receiver answered with a 2xx.
#[derive(Debug, Clone)]
pub struct Got {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Got {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
}

/// What a receiver got, and how it answers.
#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Arc<Mutex<Vec<Got>>>,
    /// Answers 500 to everything while set.
    pub failing: Arc<AtomicBool>,
    /// Requests answered 500, counted.
    pub refused: Arc<AtomicUsize>,
}

impl Receiver {
    pub fn events(&self) -> Vec<Value> {
        self.got.lock().unwrap().iter().map(Got::json).collect()
    }

    /// Waits (up to `within`) until `pred` holds for what it got.
    pub async fn wait_for(&self, within: Duration, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let events = self.events();
            if pred(&events) {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver did not get what was expected; it got {events:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if r.failing.load(Ordering::SeqCst) {
        r.refused.fetch_add(1, Ordering::SeqCst);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    r.got.lock().unwrap().push(Got { headers, body });
    StatusCode::OK
}

fn app(r: &Receiver) -> axum::Router {
    axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(r.clone())
}

/// A plain HTTP receiver on `port` (0: any); its URL.
pub async fn http_receiver(r: &Receiver, port: u16) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app(r);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/hook")
}

/// A CA made for the test and an HTTPS receiver with a certificate it
/// signed (for `127.0.0.1` and `localhost`): the CA's PEM and the URL.
pub async fn https_receiver(r: &Receiver) -> (String, String) {
    use tokio_rustls::rustls;
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Switchboard test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()]).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app(r);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        app.clone().oneshot(req.map(axum::body::Body::new))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (ca.pem(), format!("https://127.0.0.1:{}/hook", addr.port()))
}

/// Creates the integration `name` scoped to `groups` with webhooks to
/// `urls` as admin (`token` at `base`): its key and webhook secret.
pub async fn create_integration(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
    groups: &[&str],
    urls: &[&str],
) -> (String, String) {
    let r = http
        .post(format!("{base}/api/admin/integrations"))
        .bearer_auth(token)
        .json(&json!({ "name": name, "groups": groups, "webhook_urls": urls }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    (
        v["key"].as_str().unwrap().to_string(),
        v["webhook_secret"].as_str().unwrap_or_default().to_string(),
    )
}

/// Creates a ticket in `group` with the integration key `key`: its id.
pub async fn create_ticket(http: &reqwest::Client, base: &str, key: &str, group: &str) -> u64 {
    let r = http
        .post(format!("{base}/api/work"))
        .header("x-api-key", key)
        .json(&json!({ "group": group, "channel": "ticket", "title": "t", "priority": 0 }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "create: {}", r.status());
    r.json::<Value>().await.unwrap()["item"]["id"]
        .as_u64()
        .unwrap()
}
