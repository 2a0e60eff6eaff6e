//! Near the invocation deadline the handler refuses to start store work and answers 504 itself.

mod common;

use std::time::{Duration, Instant};

use common::{call, call_json, req, service};
use hsds_handler::deadline::with_deadline;
use serde_json::json;

#[tokio::test]
async fn a_write_started_too_close_to_the_deadline_is_refused_with_504_and_writes_nothing() {
    let (svc, store) = service();
    let dom = "/home/test_user1/d.h5";
    for (d, owner) in [("/home", None), ("/home/test_user1", Some("test_user1"))] {
        let body = owner.map_or(json!({"folder": true}), |o| json!({"folder": true, "owner": o}));
        assert_eq!(call_json(&svc, req("PUT", "/", Some("admin"), Some(d)), &body).await.0, 201);
    }
    let (s, v) = call_json(&svc, req("PUT", "/", Some("test_user1"), Some(dom)), &json!({})).await;
    assert_eq!(s, 201);
    let root = v["root"].as_str().unwrap().to_string();
    let before = store.keys("hsdstest");
    let link =
        req("PUT", &format!("/groups/{root}/links/late"), Some("test_user1"), Some(dom)).json(&json!({"h5path": "/x"}));
    let rsp = with_deadline(Some(Instant::now() + Duration::from_millis(50)), svc.handle(link.clone())).await;
    assert_eq!(rsp.status, 504);
    assert!(rsp.json_body().unwrap()["error"]["message"].as_str().unwrap().contains("time limit"));
    assert_eq!(store.keys("hsdstest"), before);
    let (s, v) = call(&svc, req("GET", &format!("/groups/{root}/links"), Some("test_user1"), Some(dom))).await;
    assert_eq!((s, v["links"].as_array().unwrap().len()), (200, 0), "nothing was written");
    // with time to spare the same request succeeds
    let rsp = with_deadline(Some(Instant::now() + Duration::from_secs(30)), svc.handle(link)).await;
    assert_eq!(rsp.status, 201);
}
