//! Requests for the FastAPI app of gateways that register their own routes: called as an ASGI
//! application on the loop thread (`_runtime.asgi.start`).

use std::net::SocketAddr;

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::sync::oneshot;

use super::once_reply::OnceReply;

/// One HTTP request for the app, as plain Rust data.
#[derive(Debug)]
pub(crate) struct AsgiRequest {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) body: Bytes,
    pub(crate) client: Option<SocketAddr>,
    pub(crate) server: Option<(String, u16)>,
}

/// The app's response, complete once its last body chunk was sent.
#[derive(Debug)]
pub(crate) struct AsgiResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) body: Vec<u8>,
}

impl AsgiResponse {
    pub(crate) fn error(message: &str) -> Self {
        tracing::error!("{message}");
        Self {
            status: 500,
            headers: vec![(b"content-type".to_vec(), b"application/json".to_vec())],
            body: serde_json::json!({ "detail": message }).to_string().into_bytes(),
        }
    }
}

/// Called once by `_runtime.asgi` with the response.
#[pyclass(frozen, module = "dspy_cli._native")]
pub(crate) struct AsgiDone(OnceReply<AsgiResponse>);

impl AsgiDone {
    pub(crate) fn new(reply: oneshot::Sender<AsgiResponse>) -> Self {
        Self(OnceReply::new(reply))
    }

    pub(crate) fn send(&self, value: AsgiResponse) {
        self.0.send(value);
    }
}

#[pymethods]
impl AsgiDone {
    fn __call__(&self, status: u16, headers: Vec<(Vec<u8>, Vec<u8>)>, body: &Bound<'_, PyBytes>) {
        self.send(AsgiResponse {
            status,
            headers,
            body: body.as_bytes().to_vec(),
        });
    }
}

/// The arguments of `_runtime.asgi.start` (except `done`).
pub(crate) fn start_args<'py>(py: Python<'py>, request: &AsgiRequest) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let headers: Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> = request
        .headers
        .iter()
        .map(|(k, v)| (PyBytes::new(py, k), PyBytes::new(py, v)))
        .collect();
    let client = request.client.map(|c| (c.ip().to_string(), c.port()));
    Ok(vec![
        request.method.clone().into_pyobject(py)?.into_any(),
        request.path.clone().into_pyobject(py)?.into_any(),
        PyBytes::new(py, request.query.as_bytes()).into_any(),
        headers.into_pyobject(py)?.into_any(),
        PyBytes::new(py, &request.body).into_any(),
        client.into_pyobject(py)?.into_any(),
        request.server.clone().into_pyobject(py)?.into_any(),
    ])
}
