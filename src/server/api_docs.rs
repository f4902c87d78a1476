//! `/docs` (Swagger UI) and `/redoc` (Redoc) over our `/openapi.json`, with the vendored
//! bundles from `ui/vendor/` (served under `/static/vendor/`), so they work offline.

use axum::response::Response;

use super::ui::page;

// Swagger UI and Redoc inject inline styles and run web workers from blob: URLs. Images stay
// local: Redoc's "powered by" badge would otherwise fetch its logo from a CDN.
const DOCS_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                           script-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'";

pub(crate) async fn swagger() -> Response {
    page(
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/docs.html")),
        Some(DOCS_POLICY),
    )
}

pub(crate) async fn redoc() -> Response {
    page(
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/redoc.html")),
        Some(DOCS_POLICY),
    )
}
