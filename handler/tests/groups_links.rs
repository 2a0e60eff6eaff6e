//! Behaviour of `/groups` and `/groups/{id}/links`, checked against HSDS 1.0.2 responses.

mod common;

use common::*;
use hsds_handler::store::json::get_json;
use hsds_handler::store::{MemoryStore, Store};
use hsds_handler::Service;
use serde_json::{json, Value};
use std::sync::Arc;

const DOM: &str = "/home/test_user1/a.h5";

async fn setup() -> (Service, Arc<MemoryStore>, String) {
    let (svc, store) = service();
    let v = user_domain(&svc, DOM).await;
    (svc, store, v["root"].as_str().unwrap().to_string())
}

fn key_of(id: &str) -> String {
    hsds_handler::model::ObjId::parse(id).unwrap().s3_key()
}

async fn stored(store: &MemoryStore, id: &str) -> Value {
    get_json(store, "hsdstest", &key_of(id)).await.unwrap().0
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

/// A child id of `root` with the given last 16 hex digits.
fn child(prefix: char, root: &str, tail: &str) -> String {
    format!("{prefix}-{}-{tail}", &root[2..19])
}

async fn post_group(svc: &Service, body: Value) -> (u16, Value) {
    call_json(svc, req("POST", "/groups", Some("test_user1"), Some(DOM)), &body).await
}

#[tokio::test]
async fn create_linked_group() {
    let (svc, store, root) = setup().await;
    let (s, v) = post_group(&svc, json!({"link": {"id": root, "name": "g1"}})).await;
    assert_eq!(s, 201);
    assert_eq!(keys(&v), hsds_keys("POST /groups response"));
    let id = v["id"].as_str().unwrap();
    let g = stored(&store, id).await;
    assert_eq!(keys(&g), hsds_keys("stored group"));
    let r = stored(&store, &root).await;
    assert_eq!(keys(&r["links"]["g1"]), hsds_keys("stored hard link (POST /groups)"));
    assert_eq!(r["links"]["g1"]["id"], id);
    // the same title again is a conflict and creates nothing
    let n = store.len();
    assert_eq!(post_group(&svc, json!({"link": {"id": root, "name": "g1"}})).await.0, 409);
    assert_eq!(store.len(), n);
}

#[tokio::test]
async fn create_by_h5path_and_implicit() {
    let (svc, _store, root) = setup().await;
    assert_eq!(post_group(&svc, json!({"h5path": "/a"})).await.0, 201);
    assert_eq!(post_group(&svc, json!({"h5path": "/a/b"})).await.0, 201);
    assert_eq!(post_group(&svc, json!({"h5path": "/x/y"})).await.0, 404, "intermediate group missing");
    let r = req("POST", "/groups", Some("test_user1"), Some(DOM)).param("implicit", "1");
    assert_eq!(call_json(&svc, r, &json!({"h5path": "/x/y"})).await.0, 201);
    let (s, v) = call(&svc, req("GET", "/groups/", Some("test_user1"), Some(DOM)).param("h5path", "/x/y")).await;
    assert_eq!(s, 200, "{v}");
    let (_, x) = call(&svc, req("GET", "/groups/", Some("test_user1"), Some(DOM)).param("h5path", "/x")).await;
    let (_, xy) = call(
        &svc,
        req("GET", &format!("/groups/{}/links/y", x["id"].as_str().unwrap()), Some("test_user1"), Some(DOM)),
    )
    .await;
    assert_eq!(v["id"], xy["link"]["id"], "/x/y is the group linked as y in /x");
    let (_, a) = call(&svc, req("GET", "/groups/", Some("test_user1"), Some(DOM)).param("h5path", "/a")).await;
    let (_, ab) = call(&svc, req("GET", "/groups/", Some("test_user1"), Some(DOM)).param("h5path", "/a/b")).await;
    // HSDS's GET_Group: a relative h5path starts at the group in the path (its content is /a/b, not /a nor a
    // `b` at the root); without a group in the path it is 400 (parent_id is not read there)
    let a_id = a["id"].as_str().unwrap();
    let r = req("GET", &format!("/groups/{a_id}"), Some("test_user1"), Some(DOM)).param("h5path", "b");
    let (s, b) = call(&svc, r).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["id"], ab["id"], "{b}");
    assert_ne!(b["id"], a["id"]);
    let r = req("GET", &format!("/groups/{root}"), Some("test_user1"), Some(DOM)).param("h5path", "b");
    assert_eq!(call(&svc, r).await.0, 404, "no b under the root group");
    let r = req("GET", "/groups/", Some("test_user1"), Some(DOM)).param("h5path", "b").param("parent_id", a_id);
    assert_eq!(call(&svc, r).await.0, 400);
    let (_, list) = call(&svc, req("GET", "/groups", Some("test_user1"), Some(DOM))).await;
    assert_eq!(list["groups"].as_array().unwrap().len(), 4);
    assert!(!list["groups"].as_array().unwrap().contains(&json!(root)));
}

#[tokio::test]
async fn list_body_with_client_ids() {
    let (svc, store, root) = setup().await;
    let a = child('g', &root, "1111-111111-111111");
    let b = child('g', &root, "2222-111111-111111");
    let body = json!([
        {"id": a, "creationProperties": {"CreateOrder": 1}, "created": 5.0, "lastModified": 6.0},
        {"id": b, "link": {"id": root, "name": "lg"}}
    ]);
    // h5pyd sends no Content-Type
    let r = req("POST", "/groups", Some("test_user1"), Some(DOM)).body(body.to_string());
    let (s, v) = call(&svc, r).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["objects"].as_array().unwrap().len(), 2);
    assert_eq!(v["objects"][0]["id"], a.as_str());
    assert_eq!(stored(&store, &a).await["creationProperties"], json!({"CreateOrder": 1}));
    assert_eq!(stored(&store, &root).await["links"]["lg"]["id"], b.as_str());
    // a one-item list gets a bare object
    let c = child('g', &root, "3333-111111-111111");
    let (s, v) = post_group(&svc, json!([{"id": c}])).await;
    assert_eq!(s, 201);
    assert_eq!(v["id"], c.as_str());
    // re-creating an id is refused, nothing else of that request is written
    let d = child('g', &root, "4444-111111-111111");
    let n = store.len();
    assert_eq!(post_group(&svc, json!([{"id": d}, {"id": c}])).await.0, 400, "HSDS answers 400 for an existing id");
    assert_eq!(store.len(), n);
}

#[tokio::test]
async fn bad_create_items_write_nothing() {
    let (svc, store, root) = setup().await;
    let (svc2, _, other_root) = setup().await;
    drop(svc2);
    let n = store.len();
    let foreign = child('g', &other_root, "1111-111111-111111");
    let cases = [
        json!([{"id": foreign}]),
        json!([{"id": child('d', &root, "1111-111111-111111")}]),
        json!([{"id": "g-nothex"}]),
        json!([{"id": root}]),
        json!([5]),
        json!({"link": {"id": root, "name": "a/b"}}),
        json!({"type": "H5T_STD_I32LE"}),
    ];
    for body in cases {
        let (s, v) = post_group(&svc, body.clone()).await;
        assert_eq!(s, 400, "{body} → {v}");
    }
    // a body neither an object nor a list: HSDS 1.0.2 fails on it (500), said to be bad input
    let (s, v) = post_group(&svc, json!("text")).await;
    assert_eq!((s, &v["error"]["bad_input"]), (500, &json!(true)), "{v}");
    // a parent id of another domain naming nothing: 404, as HSDS
    let (s, v) = post_group(&svc, json!({"link": {"id": foreign, "name": "x"}})).await;
    assert_eq!(s, 404, "{v}");
    let malformed = req("POST", "/groups", Some("test_user1"), Some(DOM)).body("[{");
    assert_eq!(call(&svc, malformed).await.0, 400);
    assert_eq!(call(&svc, req("POST", "/groups", None, Some(DOM))).await.0, 401);
    assert_eq!(call(&svc, req("POST", "/groups", Some("test_user2"), Some(DOM))).await.0, 403);
    assert_eq!(store.len(), n);
}

#[tokio::test]
async fn get_group_with_links_and_attrs_dicts() {
    let (svc, _store, root) = setup().await;
    let (_, g1) = post_group(&svc, json!({"link": {"id": root, "name": "g1"}})).await;
    let r = req("GET", &format!("/groups/{root}"), Some("test_user1"), Some(DOM));
    let (s, v) = call(&svc, r.clone()).await;
    assert_eq!(s, 200);
    assert_eq!(
        keys(&v),
        ["id", "root", "created", "lastModified", "linkCount", "attributeCount", "domain", "bucket", "hrefs"]
    );
    assert_eq!(v["linkCount"], 1);
    let (_, v) = call(&svc, r.param("include_links", "1").param("include_attrs", "1")).await;
    assert_eq!(v["links"]["g1"]["id"], g1["id"]);
    assert!(v["links"]["g1"]["created"].is_f64());
    assert_eq!(v["attributes"], json!({}));
    let rels: Vec<&str> = v["hrefs"].as_array().unwrap().iter().map(|h| h["rel"].as_str().unwrap()).collect();
    assert_eq!(rels, ["self", "links", "root", "home", "attributes"]);
    let g1id = g1["id"].as_str().unwrap();
    let (_, v) =
        call(&svc, req("GET", &format!("/groups/{g1id}"), Some("test_user1"), Some(DOM)).param("getalias", "1")).await;
    assert_eq!(v["alias"], json!(["/g1"]));
    assert_eq!(v["creationProperties"], json!({}));
}

#[tokio::test]
async fn group_errors() {
    let (svc, _store, root) = setup().await;
    let missing = child('g', &root, "9999-999999-999999");
    assert_eq!(call(&svc, req("GET", &format!("/groups/{missing}"), Some("test_user1"), Some(DOM))).await.0, 404);
    assert_eq!(call(&svc, req("GET", "/groups/g-bad", Some("test_user1"), Some(DOM))).await.0, 400);
    // as HSDS (which reads the object before comparing roots): an id of another domain naming nothing is
    // 404, one naming an object there 400
    let foreign = "g-f9aaa28e-d42e10e5-7122-2a065c-a6986d";
    assert_eq!(call(&svc, req("GET", &format!("/groups/{foreign}"), Some("test_user1"), Some(DOM))).await.0, 404);
    let other = call(&svc, req("PUT", "/", Some("test_user1"), Some("/home/test_user1/other.h5"))).await.1;
    let other_root = other["root"].as_str().unwrap();
    let (s, v) = call(&svc, req("GET", &format!("/groups/{other_root}"), Some("test_user1"), Some(DOM))).await;
    assert_eq!(s, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("not a member"));
    assert_eq!(call(&svc, req("GET", &format!("/groups/{root}"), Some("test_user2"), Some(DOM))).await.0, 403);
    assert_eq!(call(&svc, req("DELETE", &format!("/groups/{root}"), Some("test_user1"), Some(DOM))).await.0, 403);
}

#[tokio::test]
async fn delete_group() {
    let (svc, store, root) = setup().await;
    let (_, g) = post_group(&svc, json!({})).await;
    let id = g["id"].as_str().unwrap();
    assert_eq!(call(&svc, req("DELETE", &format!("/groups/{id}"), Some("test_user2"), Some(DOM))).await.0, 403);
    let (s, v) = call(&svc, req("DELETE", &format!("/groups/{id}"), Some("test_user1"), Some(DOM))).await;
    assert_eq!((s, v), (200, json!({})));
    assert!(store.get("hsdstest", &key_of(id)).await.is_err());
    // as HSDS: a deleted object is 410 Gone (a never-created one stays 404), also on a second delete
    assert_eq!(call(&svc, req("GET", &format!("/groups/{id}"), Some("test_user1"), Some(DOM))).await.0, 410);
    assert_eq!(call(&svc, req("DELETE", &format!("/groups/{id}"), Some("test_user1"), Some(DOM))).await.0, 410);
    let never = child('g', &root, "9999-999999-999999");
    assert_eq!(call(&svc, req("GET", &format!("/groups/{never}"), Some("test_user1"), Some(DOM))).await.0, 404);
}

/// A second function instance after a cold start: a new service (empty caches) on the same store.
fn cold_start(store: &Arc<MemoryStore>) -> Service {
    let mut svc = Service::new(store.clone(), hsds_handler::Config::default()).expect("service");
    svc.users.load_passwd(PASSWD).expect("passwd");
    svc
}

#[tokio::test]
async fn deleted_objects_links_and_domains_are_gone_for_every_instance() {
    let (svc, store, root) = setup().await;
    let (_, g) = post_group(&svc, json!({"link": {"id": root, "name": "g"}})).await;
    let gid = g["id"].as_str().unwrap();
    let user = Some("test_user1");
    assert_eq!(call(&svc, req("DELETE", &format!("/groups/{root}/links/g"), user, Some(DOM))).await.0, 200);
    assert_eq!(call(&svc, req("DELETE", &format!("/groups/{gid}"), user, Some(DOM))).await.0, 200);
    let other = cold_start(&store);
    assert_eq!(call(&other, req("GET", &format!("/groups/{gid}"), user, Some(DOM))).await.0, 410);
    assert_eq!(call(&other, req("GET", &format!("/groups/{root}/links/g"), user, Some(DOM))).await.0, 410);
    assert_eq!(call(&other, req("GET", &format!("/groups/{root}/links/never"), user, Some(DOM))).await.0, 404);
    // a re-created link is served again
    assert_eq!(put_link(&other, &root, "g", json!({"h5path": "/x"})).await.0, 201);
    assert_eq!(call(&svc, req("GET", &format!("/groups/{root}/links/g"), user, Some(DOM))).await.0, 200);
    // the tombstones are keys HSDS's key parser rejects (so its scans skip them)
    let keys: Vec<String> = store.list_all("hsdstest", "db/").await.unwrap().into_iter().map(|e| e.key).collect();
    let gone: Vec<&String> = keys.iter().filter(|k| k.contains("/.gone/")).collect();
    assert_eq!(gone.len(), 2, "{keys:?}");
    // a deleted domain is 410 for every instance too, until it is created again
    assert_eq!(call(&svc, req("DELETE", "/", user, Some(DOM))).await.0, 200);
    assert_eq!(call(&cold_start(&store), req("GET", "/", user, Some(DOM))).await.0, 410);
    assert_eq!(call(&svc, req("GET", "/", user, Some("/home/test_user1/never.h5"))).await.0, 404);
    assert_eq!(call(&svc, req("PUT", "/", user, Some(DOM))).await.0, 201);
    assert_eq!(call(&cold_start(&store), req("GET", "/", user, Some(DOM))).await.0, 200);
}

async fn put_link(svc: &Service, gid: &str, title: &str, body: Value) -> (u16, Value) {
    call_json(svc, req("PUT", &format!("/groups/{gid}/links/{title}"), Some("test_user1"), Some(DOM)), &body).await
}

#[tokio::test]
async fn single_link_lifecycle() {
    let (svc, store, root) = setup().await;
    let (_, g) = post_group(&svc, json!({})).await;
    let gid = g["id"].as_str().unwrap();
    assert_eq!(put_link(&svc, &root, "hard", json!({"id": gid})).await, (201, json!({"hrefs": []})));
    assert_eq!(put_link(&svc, &root, "hard", json!({"id": gid})).await.0, 200, "identical re-PUT");
    assert_eq!(put_link(&svc, &root, "hard", json!({"h5path": "/x"})).await.0, 409);
    assert_eq!(put_link(&svc, &root, "soft", json!({"h5path": "/hard"})).await.0, 201);
    assert_eq!(put_link(&svc, &root, "ext", json!({"h5path": "/x", "h5domain": "/home/test_user1/b.h5"})).await.0, 201);
    let r = stored(&store, &root).await;
    assert_eq!(keys(&r["links"]["ext"]), hsds_keys("stored external link (PUT link)"), "HSDS 1.0.2 stores 'file'");
    assert_eq!(keys(&r["links"]["soft"]), hsds_keys("stored soft link (PUT link)"));
    assert_eq!(keys(&r["links"]["hard"]), hsds_keys("stored hard link (PUT link)"));
    let (s, v) = call(&svc, req("GET", &format!("/groups/{root}/links/hard"), Some("test_user1"), Some(DOM))).await;
    assert_eq!(s, 200);
    assert_eq!(v["link"], json!({"title": "hard", "class": "H5L_TYPE_HARD", "id": gid, "collection": "groups"}));
    assert_eq!(v["created"], v["lastModified"]);
    let (_, v) = call(&svc, req("GET", &format!("/groups/{root}/links/ext"), Some("test_user1"), Some(DOM))).await;
    assert_eq!(v["link"]["file"], "/home/test_user1/b.h5");
    assert!(v["link"].get("h5domain").is_none(), "HSDS 1.0.2 names the file `file` only");
    // soft link resolution through h5path
    let r = req("GET", "/groups/", Some("test_user1"), Some(DOM)).param("h5path", "/soft");
    assert_eq!(call(&svc, r.clone()).await.0, 400);
    let (s, v) = call(&svc, r.param("follow_soft_links", "1")).await;
    assert_eq!((s, v["id"].clone()), (200, json!(gid)));
    // delete
    let (s, _) = call(&svc, req("DELETE", &format!("/groups/{root}/links/hard"), Some("test_user1"), Some(DOM))).await;
    assert_eq!(s, 200);
    assert_eq!(
        call(&svc, req("GET", &format!("/groups/{root}/links/hard"), Some("test_user1"), Some(DOM))).await.0,
        410
    );
}

#[tokio::test]
async fn bad_links_write_nothing() {
    let (svc, store, root) = setup().await;
    let before = stored(&store, &root).await;
    let foreign = "g-f9aaa28e-d42e10e5-7122-2a065c-a6986d";
    for body in [json!({}), json!({"id": "nope"}), json!({"id": root, "h5path": "/x"}), json!([1])] {
        let (s, v) = put_link(&svc, &root, "l", body.clone()).await;
        assert_eq!(s, 400, "{body} → {v}");
    }
    // a target of another domain naming nothing: 404, as HSDS
    assert_eq!(put_link(&svc, &root, "l", json!({"id": foreign})).await.0, 404);
    let r = req("PUT", &format!("/groups/{root}/links/l"), Some("test_user2"), Some(DOM));
    assert_eq!(call_json(&svc, r, &json!({"h5path": "/x"})).await.0, 403);
    let r = req("PUT", &format!("/groups/{root}/links/l"), None, Some(DOM));
    assert_eq!(call_json(&svc, r, &json!({"h5path": "/x"})).await.0, 401);
    assert_eq!(stored(&store, &root).await, before);
}

#[tokio::test]
async fn multi_link_put_post_delete() {
    let (svc, store, root) = setup().await;
    let a = child('g', &root, "1111-111111-111111");
    let b = child('g', &root, "2222-111111-111111");
    assert_eq!(post_group(&svc, json!([{"id": a}, {"id": b}])).await.0, 201);
    let created = hsds_handler::service::now() - 1.0;
    let body = json!({"grp_ids": {
        root.clone(): {"links": {"a": {"class": "H5L_TYPE_HARD", "id": a, "created": created}, "b": {"id": b}}},
        a.clone(): {"links": {"s": {"class": "H5L_TYPE_SOFT", "h5path": "/b"}, "e": {"class": "H5L_TYPE_EXTERNAL", "h5path": "/x", "h5domain": "/d.h5"}}}
    }});
    let put = || req("PUT", &format!("/groups/{root}/links"), Some("test_user1"), Some(DOM));
    assert_eq!(call_json(&svc, put(), &body).await.0, 201);
    assert_eq!(stored(&store, &root).await["links"]["a"]["created"], created, "client created kept");
    assert_eq!(call_json(&svc, put(), &body).await.0, 200, "identical re-PUT (h5pyd re-flush)");
    // a conflict anywhere writes nothing anywhere
    let before = (stored(&store, &root).await, stored(&store, &a).await);
    let bad = json!({"grp_ids": {root.clone(): {"links": {"new": {"id": a}}}, a.clone(): {"links": {"s": {"h5path": "/other"}}}}});
    assert_eq!(call_json(&svc, put(), &bad).await.0, 409);
    assert_eq!((stored(&store, &root).await, stored(&store, &a).await), before);
    // list form: the same links into several groups
    let multicast = json!({"links": {"w": {"id": root}}, "grp_ids": [a, b]});
    assert_eq!(call_json(&svc, put(), &multicast).await.0, 201);
    assert_eq!(stored(&store, &b).await["links"]["w"]["id"], root.as_str());
    // POST: titles and grp_ids
    let post = || req("POST", &format!("/groups/{root}/links"), Some("test_user1"), Some(DOM));
    let (s, v) = call_json(&svc, post(), &json!({"titles": ["a", "b"]})).await;
    assert_eq!(s, 200);
    assert_eq!(
        v["links"].as_array().unwrap().iter().map(|l| l["title"].clone()).collect::<Vec<_>>(),
        [json!("a"), json!("b")]
    );
    assert_eq!(call_json(&svc, post(), &json!({"titles": ["a", "zz"]})).await.0, 404);
    let (_, v) = call_json(&svc, post(), &json!({"grp_ids": [a, b]})).await;
    assert_eq!(v["links"][&a].as_array().unwrap().len(), 3);
    assert_eq!(v["links"][&a][0]["file"], "/d.h5");
    let (_, v) = call_json(&svc, post(), &json!({"grp_ids": {a.clone(): ["s"]}})).await;
    let mut want = stored(&store, &a).await["links"]["s"].clone();
    want["title"] = json!("s");
    assert_eq!(v["links"][&a], json!([want]));
    // DELETE with separator
    let r = req("DELETE", &format!("/groups/{a}/links"), Some("test_user1"), Some(DOM))
        .param("titles", "s|e")
        .param("separator", "|");
    assert_eq!(call(&svc, r).await.0, 200);
    assert_eq!(keys(&stored(&store, &a).await["links"]), ["w"]);
}

#[tokio::test]
async fn get_links_sorting_paging_follow() {
    let (svc, _store, root) = setup().await;
    let a = child('g', &root, "1111-111111-111111");
    assert_eq!(post_group(&svc, json!([{"id": a, "link": {"id": root, "name": "zeta"}}])).await.0, 201);
    for t in ["beta", "alpha", "gamma"] {
        assert_eq!(put_link(&svc, &root, t, json!({"h5path": "/x"})).await.0, 201);
    }
    assert_eq!(put_link(&svc, &a, "inner", json!({"h5path": "/x"})).await.0, 201);
    let get = || req("GET", &format!("/groups/{root}/links"), Some("test_user1"), Some(DOM));
    let titles = |v: &Value| {
        v["links"].as_array().unwrap().iter().map(|l| l["title"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let (s, v) = call(&svc, get()).await;
    assert_eq!(s, 200);
    assert_eq!(titles(&v), ["alpha", "beta", "gamma", "zeta"]);
    let z = &v["links"][3];
    assert_eq!(z["collection"], "groups");
    assert!(z["target"].as_str().unwrap().contains(&a));
    assert!(z["href"].as_str().unwrap().ends_with("/links/zeta?domain=/home/test_user1/a.h5"));
    let (_, v) = call(&svc, get().param("CreateOrder", "1")).await;
    assert_eq!(titles(&v), ["zeta", "beta", "alpha", "gamma"]);
    let (_, v) = call(&svc, get().param("Limit", "2").param("Marker", "alpha")).await;
    assert_eq!(titles(&v), ["beta", "gamma"]);
    let (_, v) = call(&svc, get().param("pattern", "*a")).await;
    assert_eq!(titles(&v), ["alpha", "beta", "gamma", "zeta"]);
    let (_, v) = call(&svc, get().param("pattern", "g*")).await;
    assert_eq!(titles(&v), ["gamma"]);
    let (_, v) = call(&svc, get().param("follow_links", "1")).await;
    let m = v["links"].as_object().unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m[&a][0]["title"], "inner");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_link_puts_are_not_lost() {
    let (svc, store, root) = setup().await;
    let svc = Arc::new(svc);
    let mut tasks = Vec::new();
    for i in 0..24 {
        let (svc, root) = (svc.clone(), root.clone());
        tasks.push(tokio::spawn(
            async move { put_link(&svc, &root, &format!("l{i}"), json!({"h5path": "/x"})).await.0 },
        ));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    assert_eq!(stored(&store, &root).await["links"].as_object().unwrap().len(), 24);
}
