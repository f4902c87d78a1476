//! What `--auth` and CORS add to the router: the login routes, then the auth and CORS
//! layers (CORS outermost, so preflights are answered before authentication).

use axum::Router;
use axum::extract::Request;
use axum::routing::{get, post};

use super::AppState;
use super::auth::{self, Auth, Guard};
use super::cors::{self, Cors};
use super::login;

#[derive(Clone, Default)]
pub(crate) struct Security {
    pub(crate) auth: Option<Auth>,
    pub(crate) cors: Option<Cors>,
}

impl Security {
    /// `/login`, `/logout` and `/health` exist only with `--auth` (as upstream).
    pub(crate) fn add_routes(&self, router: Router<AppState>) -> Router<AppState> {
        let Some(auth) = &self.auth else {
            return router;
        };
        let (page_auth, submit_auth) = (auth.clone(), auth.clone());
        router
            .route(
                "/login",
                get(move |request: Request| std::future::ready(login::page(&page_auth, &request)))
                    .post(move |request: Request| login::submit(submit_auth.clone(), request)),
            )
            .route("/logout", post(login::logout))
            .route("/health", get(auth::health))
    }

    /// Wrap every route (the fallback included) in auth, then CORS.
    pub(crate) fn add_layers(&self, router: Router<AppState>, state: &AppState) -> Router<AppState> {
        let mut router = router;
        if let Some(auth) = &self.auth {
            let guard = Guard {
                auth: auth.clone(),
                state: state.clone(),
            };
            router = router.layer(axum::middleware::from_fn_with_state(guard, auth::require));
        }
        if let Some(cors) = &self.cors {
            router = router.layer(axum::middleware::from_fn_with_state(cors.clone(), cors::apply));
        }
        router
    }
}
