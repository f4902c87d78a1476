//! The web UI: `/` (a card per program), `/ui/{program}` (a form per program) and `/static/*`
//! (the UI's own files and the vendored API-docs bundles), all embedded in the binary.
//!
//! The pages are static HTML: every value shown comes from the JSON API and is inserted by the
//! browser as text (`textContent`), so nothing user-controlled is ever spliced into markup here.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;

/// One embedded file: its bytes, MIME type and how long browsers may cache it.
pub(crate) struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    cache: &'static str,
}

// The UI's own files change with each release, so caches revalidate them; the vendored
// bundles are pinned versions and may be cached for a day.
const OWN: &str = "public, max-age=300";
const VENDORED: &str = "public, max-age=86400";
const PAGE: &str = "no-cache";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

macro_rules! asset {
    ($path:literal, $content_type:expr, $cache:expr) => {
        Asset {
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/", $path)),
            content_type: $content_type,
            cache: $cache,
        }
    };
}

/// Files under `/static/`, by the path after it.
fn static_file(path: &str) -> Option<Asset> {
    Some(match path {
        "style.css" => asset!("style.css", CSS, OWN),
        "common.js" => asset!("common.js", JS, OWN),
        "index.js" => asset!("index.js", JS, OWN),
        "program.js" => asset!("program.js", JS, OWN),
        "docs.js" => asset!("docs.js", JS, OWN),
        "redoc-init.js" => asset!("redoc-init.js", JS, OWN),
        "vendor/swagger-ui-bundle.js" => asset!("vendor/swagger-ui-bundle.js", JS, VENDORED),
        "vendor/swagger-ui.css" => asset!("vendor/swagger-ui.css", CSS, VENDORED),
        "vendor/redoc.standalone.js" => asset!("vendor/redoc.standalone.js", JS, VENDORED),
        "vendor/LICENSE-swagger-ui.txt" => asset!("vendor/LICENSE-swagger-ui.txt", TEXT, VENDORED),
        "vendor/LICENSE-redoc.txt" => asset!("vendor/LICENSE-redoc.txt", TEXT, VENDORED),
        "vendor/README.md" => asset!("vendor/README.md", TEXT, VENDORED),
        _ => return None,
    })
}

/// Our pages only load our own scripts; images may be any URL or a data URI (image inputs).
const UI_POLICY: &str = "default-src 'self'; img-src * data: blob:; style-src 'self'; script-src 'self'; \
                         object-src 'none'; base-uri 'none'; frame-ancestors 'self'";

pub(crate) fn respond(asset: &Asset, policy: Option<&'static str>) -> Response {
    let mut response = (StatusCode::OK, asset.body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(asset.cache));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(policy) = policy {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    }
    response
}

pub(crate) fn page(body: &'static [u8], policy: Option<&'static str>) -> Response {
    respond(
        &Asset {
            body,
            content_type: "text/html; charset=utf-8",
            cache: PAGE,
        },
        policy,
    )
}

pub(crate) async fn index() -> Response {
    page(
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/index.html")),
        Some(UI_POLICY),
    )
}

/// An unknown program answers upstream's JSON 404, so API clients and the UI agree.
pub(crate) async fn program_page(State(state): State<AppState>, Path(program): Path<String>) -> Response {
    if let Some(served) = state.served()
        && !served.has_program(&program)
    {
        return ApiError::ProgramNotFound(program).into_response();
    }
    // While loading, the page itself shows the 503 the API answers.
    page(
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/program.html")),
        Some(UI_POLICY),
    )
}

pub(crate) async fn static_asset(Path(path): Path<String>) -> Response {
    match static_file(&path) {
        Some(asset) => respond(&asset, None),
        None => ApiError::NotFound.into_response(),
    }
}
