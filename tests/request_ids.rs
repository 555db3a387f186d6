//! Every answer names its request in `X-Request-Id`, so that a person can quote it and an
//! operator can find its log lines (the log itself is checked in tests/cli.rs).

use crate::common::{Backend, spawn_app};
use reqwest::Method;
use std::collections::HashSet;

fn request_id(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn every_answer_names_its_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (_, key) = app.token(&user, "Automation").create();
    let responses = [
        app.get("/healthz").await,
        app.get("/integrations/tokens").await,
        app.get("/integrations/tokens/SU-000-000-000").await,
        app.post_raw("/integrations/tokens/new/cancel", &[]).await,
        app.api(Method::GET, "/auth/context", &key)
            .send()
            .await
            .unwrap(),
        app.client
            .get(app.url("/public/v1/agreements"))
            .send()
            .await
            .unwrap(),
    ];
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [200, 200, 404, 403, 200, 401]);
    let ids: HashSet<String> = responses.iter().map(request_id).collect();
    assert_eq!(ids.len(), responses.len(), "one id per request: {ids:?}");
    assert!(
        ids.iter()
            .all(|id| uuid::Uuid::parse_str(id).is_ok_and(|u| !u.is_nil())),
        "{ids:?}"
    );
}

crate::on_both_databases!(every_answer_names_its_request);
